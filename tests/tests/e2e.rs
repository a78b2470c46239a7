//! A room's whole life end to end: real openmls clients over real HTTPS against a running `mimi-ds`:
//! create a room, invite two users with two clients each, exchange messages, remove a user,
//! an external join of a new device, key updates; every client ends with the same epoch
//! authenticator and the same transcript.

use std::time::Instant;

use mimi_appsync::presets::{self, administered_roles::GROUP_ADMIN, administered_roles::ORDINARY_USER};
use mimi_client_sim::{Client, LocalProvider, User};
use mimi_tests::check_converged;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e2e_room_lifecycle_over_https() -> anyhow::Result<()> {
    let t0 = Instant::now();
    let dir = tempfile::tempdir()?;
    let provider = LocalProvider::start(dir.path(), "a.example", "127.0.0.1:0".parse()?).await?;
    let conn = provider.connect()?;
    let mut alice = User::register(&conn, "alice", &["phone", "laptop"], 2).await?;
    let mut bob = User::register(&conn, "bob", &["phone", "laptop"], 2).await?;
    let mut carol = User::register(&conn, "carol", &["phone", "laptop"], 2).await?;

    // Alice creates the room (her laptop is added with her) and invites bob and carol.
    let room = alice.create_room("e2e", &presets::cooperative(), GROUP_ADMIN).await?;
    alice.invite(&room, &bob.uri().clone(), ORDINARY_USER).await?;
    alice.invite(&room, &carol.uri().clone(), ORDINARY_USER).await?;
    for u in [&mut alice, &mut bob, &mut carol] {
        u.sync(&room).await?;
    }

    // Everyone talks, two rounds.
    let mut sent = 0;
    for round in 0..2 {
        for u in [&mut alice, &mut bob, &mut carol] {
            for c in u.clients_mut() {
                c.send_text(&room, &format!("round {round} from {}", c.uri())).await?;
                sent += 1;
            }
        }
    }
    // Key updates from two members, then carol is removed.
    bob.client_mut(1).unwrap().key_update(&room).await?;
    carol.client_mut(0).unwrap().key_update(&room).await?;
    alice.remove(&room, &carol.uri().clone()).await?;

    // Bob adds a tablet by external commit (groupInfo), then more talk and key updates.
    let mut tablet = Client::register(&conn, "bob", "tablet").await?;
    tablet.join_external(&room).await?;
    bob.add_device(tablet);
    for u in [&mut alice, &mut bob] {
        for c in u.clients_mut() {
            c.send_text(&room, &format!("after removal from {}", c.uri())).await?;
            sent += 1;
        }
    }
    alice.client_mut(1).unwrap().key_update(&room).await?;
    bob.client_mut(2).unwrap().key_update(&room).await?;
    for u in [&mut alice, &mut bob, &mut carol] {
        u.sync(&room).await?;
    }

    // Carol's clients are out; the five others agree on everything.
    assert!(carol.clients().all(|c| !c.is_member(&room)));
    let members: Vec<&Client> = alice.clients().chain(bob.clients()).collect();
    check_converged(&room, &members)?;
    let a = members[0];
    assert_eq!(a.members(&room)?.len(), 5);
    assert_eq!(a.participants(&room)?.len(), 2);
    let transcript = a.transcript(&room)?;
    assert_eq!(transcript.len(), sent, "every message, once");
    // The four original members have the whole transcript; the tablet has what came after it.
    for c in &members[..4] {
        assert_eq!(c.transcript(&room)?, transcript, "{}", c.uri());
    }
    let tablet = members[4];
    assert_eq!(tablet.transcript(&room)?.len(), 5);
    // Carol saw everything up to her removal, identically.
    for c in carol.clients() {
        let t = c.transcript(&room)?;
        assert_eq!(t, &transcript[..t.len()], "{}", c.uri());
        assert_eq!(t.len(), 12);
    }
    println!(
        "e2e: {} clients, {} messages, final epoch {}, {:?}",
        members.len() + 2,
        sent,
        a.epoch(&room)?,
        t0.elapsed()
    );
    provider.stop().await?;
    Ok(())
}
