//! The client library against a real provider over HTTPS on loopback: room creation with a
//! preset, invitation of a two-device user through Welcomes, messages in hub order (own ones at
//! their log positions), a lost commit race recovered, an external join and a removal.

use std::time::Duration;

use mimi_appsync::presets::{self, administered_roles::GROUP_ADMIN, administered_roles::ORDINARY_USER};
use mimi_client_sim::{Client, LocalProvider, User};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_library_end_to_end() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let provider = LocalProvider::start(dir.path(), "a.example", "127.0.0.1:0".parse()?).await?;
    let conn = provider.connect()?;

    let mut alice = User::register(&conn, "alice", &["phone"], 2).await?;
    let mut bob = User::register(&conn, "bob", &["phone", "laptop"], 2).await?;
    let room = alice.create_room("club", &presets::cooperative(), GROUP_ADMIN).await?;
    assert_eq!(room, "mimi://a.example/r/club");
    let report = alice.invite(&room, bob.uri(), ORDINARY_USER).await?;
    assert_eq!((report.epoch, report.lost.len()), (0, 0));
    for c in bob.clients_mut() {
        assert_eq!(c.accept_welcomes(Duration::from_secs(1)).await?, vec![room.clone()]);
    }

    let a = alice.client_mut(0).unwrap();
    a.send_text(&room, "hi bob").await?;
    let b0 = bob.client_mut(0).unwrap();
    b0.send_text(&room, "hi alice").await?;
    // A race: bob's laptop commits at the same epoch as alice, after her; it loses and recovers.
    let a = alice.client_mut(0).unwrap();
    a.key_update(&room).await?;
    let b1 = bob.client_mut(1).unwrap();
    let report = b1.key_update(&room).await?;
    assert_eq!(report.epoch, 2);
    assert!(report.lost.is_empty(), "catching up first avoids the race: {report:?}");

    // A new device of bob joins by external commit.
    let mut tablet = Client::register(&conn, "bob", "tablet").await?;
    let joined = tablet.join_external(&room).await?;
    assert_eq!(joined, 4);
    tablet.send_text(&room, "tablet here").await?;
    bob.add_device(tablet);

    alice.sync(&room).await?;
    bob.sync(&room).await?;
    let a = alice.client_mut(0).unwrap();
    assert_eq!(a.members(&room)?.len(), 4);
    let participants: Vec<String> = a.participants(&room)?.iter().map(|(u, _)| u.as_str().to_owned()).collect();
    assert_eq!(participants, ["mimi://a.example/u/alice", "mimi://a.example/u/bob"]);
    let want = a.transcript(&room)?.to_vec();
    assert_eq!(want.len(), 3);
    let auth = a.epoch_authenticator(&room)?;
    for c in bob.clients() {
        assert_eq!(c.epoch_authenticator(&room)?, auth, "{}", c.uri());
        // The tablet joined after the first two messages.
        let skip = if c.uri().device() == "tablet" { 2 } else { 0 };
        assert_eq!(c.transcript(&room)?, &want[skip..], "{}", c.uri());
    }

    // Removing bob removes all three of his clients.
    alice.remove(&room, &bob.uri().clone()).await?;
    bob.sync(&room).await?;
    assert!(bob.clients().all(|c| !c.is_member(&room)));
    assert_eq!(alice.client_mut(0).unwrap().members(&room)?.len(), 1);
    provider.stop().await?;
    Ok(())
}
