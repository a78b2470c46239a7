//! What `mimi-ds init` writes federates as it is: three providers written by `mimi_ds::init` (the
//! code behind the command) into a directory, each loaded from its `provider.toml` the way `mimi-ds
//! serve --config` loads it and started in-process (`serve_provider`). Alice of a.example creates
//! a room (a.example is its hub) and invites Bob of b.example and Cathy of c.example; her message
//! reaches both, and all three clients agree on the room.

use std::time::Duration;

use mimi_appsync::presets::{self, administered_roles::GROUP_ADMIN};
use mimi_client_sim::{Client, Connection, LocalProvider};
use mimi_ds::config::Config;
use mimi_ds::init::{self, Provider};
use mimi_tests::{check_converged_across_providers, free_ports, join_room, sync_until};

const DOMAINS: [&str; 3] = ["a.example", "b.example", "c.example"];
const STEP_TIMEOUT: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn init_output_starts_three_federated_providers() -> anyhow::Result<()> {
    mimi_tests::init_test_log();
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("three-providers");
    let ports = free_ports(DOMAINS.len())?;
    let set: Vec<Provider> = DOMAINS
        .iter()
        .zip(&ports)
        .map(|(domain, port)| Provider { domain: (*domain).to_owned(), port: *port })
        .collect();
    let written = init::write(&out, &set, false)?;

    let mut providers = Vec::new();
    for (_, file) in &written.providers {
        let config = Config::load_with_env(Some(file), std::iter::empty())?;
        providers.push(LocalProvider::start_with(config).await?);
    }
    let conns: Vec<Connection> = providers.iter().map(|p| p.connect()).collect::<Result<_, _>>()?;

    let (mut alice, mut bob, mut cathy) = mimi_tests::alice_bob_cathy(&conns, 2).await?;

    let room = alice.create_room("from-init", &presets::cooperative(), GROUP_ADMIN).await?;
    assert!(room.starts_with("mimi://a.example/r/"), "{room}");
    alice.invite_user(&room, &bob.uri().user(), GROUP_ADMIN).await?;
    sync_until(&mut alice, &room, "epoch 1", STEP_TIMEOUT, |c| c.epoch(&room).is_ok_and(|e| e == 1)).await?;
    alice.invite_user(&room, &cathy.uri().user(), GROUP_ADMIN).await?;
    let at_epoch_2 = |c: &Client| c.epoch(&room).is_ok_and(|e| e == 2);
    sync_until(&mut alice, &room, "epoch 2", STEP_TIMEOUT, at_epoch_2).await?;
    for c in [&mut bob, &mut cathy] {
        join_room(c, &room, STEP_TIMEOUT).await?;
        sync_until(c, &room, "epoch 2", STEP_TIMEOUT, at_epoch_2).await?;
    }
    assert_eq!(alice.members(&room)?.len(), 3);

    alice.send_text(&room, "hello b and c").await?;
    for c in [&mut alice, &mut bob, &mut cathy] {
        sync_until(c, &room, "Alice's message", STEP_TIMEOUT, |c| c.transcript(&room).is_ok_and(|t| t.len() == 1))
            .await?;
    }
    for c in [&bob, &cathy] {
        let transcript = c.transcript(&room)?;
        assert_eq!(transcript[0].sender, *alice.uri(), "{}", c.uri());
    }
    check_converged_across_providers(&room, &[&alice, &bob, &cathy])?;

    for p in providers {
        p.stop().await?;
    }
    Ok(())
}
