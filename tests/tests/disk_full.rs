//! A provider whose disk fills while its clients talk: real openmls clients over real HTTPS
//! against a `mimi-ds` whose store runs on the fault-injecting back end
//! (`mimi_ds::store::redb::fault`). While the disk is full, every write (a message, a commit)
//! is answered 503 with `Retry-After` and changes nothing, `/readyz` says why (503) while
//! `/healthz` stays 200, and members still read the room. When space returns, the provider takes
//! writes again by itself (no restart): the room goes on from where it was, every acknowledged
//! message is delivered exactly once, and the store opened again after a stop holds them all.
//!
//! On a slow disk, a member reading the room's log is answered while a commit of that room waits
//! for its durable write: readers do not take the room's decision lock.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _};
use mimi_appsync::presets::{self, administered_roles::GROUP_ADMIN};
use mimi_client_sim::{Client, ClientError, LocalProvider, User};
use mimi_ds::config::Config;
use mimi_ds::store::redb::fault::{FaultPlan, FaultyBacking};
use mimi_ds::store::redb::RedbStore;
use mimi_tests::{check_converged, contains, read_log, settle};

const STEP: Duration = Duration::from_secs(30);

/// An HTTPS client for the provider's plain GET routes.
fn https(provider: &LocalProvider) -> anyhow::Result<reqwest::Client> {
    let roots = mimi_ds::tls::load_roots(provider.ca())?;
    let tls = rustls::ClientConfig::builder_with_provider(mimi_ds::tls::crypto_provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(reqwest::Client::builder().tls_backend_preconfigured(tls).resolve("a.example", provider.addr()).build()?)
}

/// `GET path`: status, `Retry-After` and body.
async fn get(
    http: &reqwest::Client,
    provider: &LocalProvider,
    path: &str,
) -> anyhow::Result<(u16, Option<String>, String)> {
    let r = http.get(format!("https://a.example:{}{path}", provider.addr().port())).send().await?;
    let retry = r.headers().get("retry-after").map(|v| v.to_str().unwrap_or_default().to_owned());
    Ok((r.status().as_u16(), retry, r.text().await?))
}

/// That `client`'s transcript holds each of `tokens` exactly once and none of `absent`.
fn check_transcript(client: &Client, room: &str, tokens: &[&str], absent: &[&str]) -> anyhow::Result<()> {
    let transcript = client.transcript(room)?;
    for t in tokens {
        let n = transcript.iter().filter(|d| contains(&d.content, t)).count();
        ensure!(n == 1, "{}: {t} delivered {n} times", client.uri());
    }
    for t in absent {
        ensure!(!transcript.iter().any(|d| contains(&d.content, t)), "{}: refused {t} was delivered", client.uri());
    }
    Ok(())
}

/// That `result` is the 503 with a reason a full disk gets.
fn is_unavailable<T>(result: Result<T, ClientError>, what: &str) -> anyhow::Result<()> {
    match result {
        Err(ClientError::Http { status: 503, .. }) => Ok(()),
        Err(e) => anyhow::bail!("{what}: expected 503, got {e}"),
        Ok(_) => anyhow::bail!("{what}: accepted while the disk is full"),
    }
}

/// A provider for a.example under `dir` on a fixed port (so that clients reach it again after a
/// restart), its store on the faulty back end with `plan`.
async fn start_faulty(dir: &Path, plan: &Arc<FaultPlan>) -> anyhow::Result<(LocalProvider, Config)> {
    let port = mimi_client_sim::local::free_ports(1)?[0];
    let config = mimi_client_sim::local::config(dir, "a.example", ([127, 0, 0, 1], port).into())?;
    std::fs::create_dir_all(&config.data_dir)?;
    let store = RedbStore::open_with(FaultyBacking { path: config.store_path(), plan: plan.clone() }, 64)?;
    Ok((LocalProvider::start_on(config.clone(), store).await?, config))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_disk_is_answered_503_and_the_provider_recovers_by_itself() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let plan = FaultPlan::new();
    let (provider, config) = start_faulty(dir.path(), &plan).await?;
    let http = https(&provider)?;
    let conn = provider.connect()?;
    let mut alice = User::register(&conn, "alice", &["phone", "laptop"], 2).await?;
    let mut bob = User::register(&conn, "bob", &["phone"], 2).await?;
    let room = alice.create_room("disk", &presets::cooperative(), GROUP_ADMIN).await?;
    alice.invite(&room, &bob.uri().clone(), GROUP_ADMIN).await?;
    let sender = alice.client_mut(0).context("phone")?;
    sender.send_text(&room, "<before-1>").await?;
    sender.key_update(&room).await?;
    sender.send_text(&room, "<before-2>").await?;
    let epoch = sender.epoch(&room)?;
    settle(STEP, &mut [&mut alice, &mut bob], &room, epoch, Some("<before-2>")).await?;
    assert_eq!(get(&http, &provider, "/readyz").await?.0, 200);
    let log_before = read_log(bob.clients().next().context("bob")?, &room).await?.len();

    plan.set_disk_full(true);
    let sender = alice.client_mut(0).context("phone")?;
    is_unavailable(sender.send_text(&room, "<during-1>").await, "a message meeting the full disk")?;
    let (status, retry, why) = get(&http, &provider, "/readyz").await?;
    ensure!(status == 503 && retry.as_deref() == Some("1"), "/readyz while full: {status} {retry:?} {why}");
    ensure!(why.contains("No space left on device"), "/readyz says why: {why}");
    ensure!(get(&http, &provider, "/healthz").await?.0 == 200, "/healthz stays 200");
    let metrics = mimi_tests::scrape(&provider).await?;
    for line in ["mimi_store_writable 0", "mimi_store_write_failures_total 1", "mimi_store_recoveries_total 0"] {
        ensure!(metrics.lines().any(|l| l == line), "/metrics while full lacks {line:?}:\n{metrics}");
    }
    is_unavailable(sender.send_text(&room, "<during-2>").await, "a later message")?;
    let laptop = alice.client_mut(1).context("laptop")?;
    laptop.catch_up(&room).await?;
    is_unavailable(laptop.key_update(&room).await, "a commit")?;
    // Still full after a few recovery attempts; members still read the room, unchanged.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    ensure!(get(&http, &provider, "/readyz").await?.0 == 503, "not ready while the disk is full");
    let bob_phone = bob.client_mut(0).context("bob")?;
    ensure!(read_log(bob_phone, &room).await?.len() == log_before, "nothing was written while the disk was full");

    plan.set_disk_full(false);
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(&http, &provider, "/readyz").await?.0 != 200 {
        ensure!(Instant::now() < deadline, "the provider did not recover");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let metrics = mimi_tests::scrape(&provider).await?;
    for line in ["mimi_store_writable 1", "mimi_store_recoveries_total 1"] {
        ensure!(metrics.lines().any(|l| l == line), "/metrics after recovery lacks {line:?}:\n{metrics}");
    }
    // The room goes on: a commit (the laptop's state was not advanced by its refused one) and
    // messages from both of Alice's devices.
    let laptop = alice.client_mut(1).context("laptop")?;
    laptop.key_update(&room).await?;
    laptop.send_text(&room, "<after-1>").await?;
    let sender = alice.client_mut(0).context("phone")?;
    sender.catch_up(&room).await?;
    sender.send_text(&room, "<after-2>").await?;
    let epoch = sender.epoch(&room)?;
    settle(STEP, &mut [&mut alice, &mut bob], &room, epoch, Some("<after-2>")).await?;

    let acked = ["<before-1>", "<before-2>", "<after-1>", "<after-2>"];
    let refused = ["<during-1>", "<during-2>"];
    for c in alice.clients().chain(bob.clients()) {
        check_transcript(c, &room, &acked, &refused)?;
    }
    let clients: Vec<&Client> = alice.clients().chain(bob.clients()).collect();
    check_converged(&room, &clients)?;
    let n_clients = clients.len();
    let log_after = read_log(bob.clients().next().context("bob")?, &room).await?.len();
    provider.stop().await?;

    // The file as the plain back end opens it after a stop: everything acknowledged is there.
    let provider = LocalProvider::start_with(config).await?;
    let log = read_log(bob.clients().next().context("bob")?, &room).await?;
    ensure!(log.len() == log_after, "after a restart the log has {} entries, before {log_after}", log.len());
    provider.stop().await?;
    println!(
        "disk full: 2 writes refused with 503 and 1 commit, /readyz 503 while full, recovered without restart; \
         {} log entries, {} acknowledged messages delivered once to each of {} clients",
        log.len(),
        acked.len(),
        n_clients
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reader_is_answered_while_a_commit_waits_for_a_slow_disk() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let plan = FaultPlan::new();
    let (provider, _) = start_faulty(dir.path(), &plan).await?;
    let conn = provider.connect()?;
    let mut alice = User::register(&conn, "alice", &["phone", "laptop"], 2).await?;
    let mut bob = User::register(&conn, "bob", &["phone"], 2).await?;
    let room = alice.create_room("slow", &presets::cooperative(), GROUP_ADMIN).await?;
    alice.invite(&room, &bob.uri().clone(), GROUP_ADMIN).await?;
    alice.client_mut(0).context("phone")?.send_text(&room, "<m1>").await?;
    let epoch = alice.client_mut(0).context("phone")?.epoch(&room)?;
    settle(STEP, &mut [&mut alice, &mut bob], &room, epoch, Some("<m1>")).await?;
    let entries = read_log(bob.clients().next().context("bob")?, &room).await?.len();

    // The disk turns slow; the laptop commits, and the hub holds the room's decision lock until
    // the commit is durable.
    plan.set_sync_delay(Duration::from_secs(3));
    let mut laptop = alice.take_client().context("laptop")?;
    let r = room.clone();
    let commit = tokio::spawn(async move {
        let outcome = laptop.key_update(&r).await;
        (laptop, outcome)
    });
    let deadline = Instant::now() + STEP;
    while plan.syncs_waiting() == 0 {
        ensure!(Instant::now() < deadline, "the commit never reached the disk");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Bob reads the log meanwhile: answered before the commit is.
    let read = read_log(bob.clients().next().context("bob")?, &room).await?;
    ensure!(!commit.is_finished(), "the read was answered only after the commit: it waited behind it");
    ensure!(read.len() == entries, "the read sees the durable log ({} entries, {entries} before)", read.len());
    plan.set_sync_delay(Duration::ZERO);
    let (laptop, outcome) = commit.await?;
    outcome?;
    alice.add_device(laptop);
    ensure!(read_log(bob.clients().next().context("bob")?, &room).await?.len() == entries + 1, "then the commit");
    provider.stop().await?;
    Ok(())
}
