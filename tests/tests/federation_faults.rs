//! Federation faults, three providers on loopback with real mutual TLS
//! (a.example is the hub of the room, b.example and c.example follow):
//!
//! - `follower_stopped_and_restarted`: c is shut down while the hub keeps accepting messages and
//!   commits (from a's and b's clients), then started again on the same data directory and port;
//!   c's clients then get everything, in order, exactly once, and c's mirror holds no entry twice.
//! - `hub_killed_during_fanout`: the hub runs as a child process (this test binary re-executed
//!   with `--exact federation_child_hub`, like `restart.rs`) and is SIGKILLed while its clients
//!   and a follower's client submit and the outbox fans out; restarted on the same data
//!   directory and port, followers' clients end with every acknowledged message exactly once,
//!   nothing duplicated, mirrors without repeated entries.
//!
//! A follower answering 503 with `Retry-After` is covered against a scripted follower in
//! `delivery-service/tests/outbox.rs` (no end-to-end variant here: a real follower never answers
//! 503 on its own).

use std::net::SocketAddr;
use std::path::Path;
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _};
use mimi_appsync::presets::{self, administered_roles::GROUP_ADMIN};
use mimi_client_sim::{Client, ClientError, Connection, LocalProvider, User};
use mimi_tests::{
    check_converged_across_providers, check_no_duplicate_entries, child, contains, federation_config, free_ports,
    read_log, settle, sync_until, transcript_keys,
};

const DOMAINS: [&str; 3] = ["a.example", "b.example", "c.example"];
const STEP_TIMEOUT: Duration = Duration::from_secs(30);
const DIR_VAR: &str = "MIMI_TEST_FED_CHILD_DIR";
const PORTS_VAR: &str = "MIMI_TEST_FED_CHILD_PORTS";

/// Checks that `tokens` appear in `client`'s transcript exactly once each, in this order.
fn check_exactly_once_in_order(client: &Client, room: &str, tokens: &[String]) -> anyhow::Result<()> {
    let t = transcript_keys(client, room)?;
    let mut last = None;
    for token in tokens {
        let hits: Vec<usize> = t.iter().enumerate().filter(|(_, (_, m))| contains(m, token)).map(|(i, _)| i).collect();
        ensure!(hits.len() == 1, "{}: {token} delivered {} times", client.uri(), hits.len());
        ensure!(last.is_none_or(|l| l < hits[0]), "{}: {token} out of order", client.uri());
        last = Some(hits[0]);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn follower_stopped_and_restarted() -> anyhow::Result<()> {
    let t0 = Instant::now();
    let dir = tempfile::tempdir()?;
    let pki = dir.path().join("pki");
    mimi_ds::pki::generate(&pki, &DOMAINS.map(str::to_owned))?;
    let ports = free_ports(3)?;
    let configs =
        (0..3).map(|i| federation_config(dir.path(), &pki, &DOMAINS, &ports, i)).collect::<Result<Vec<_>, _>>()?;
    let mut providers = Vec::new();
    for c in &configs {
        providers.push(LocalProvider::start_with(c.clone()).await?);
    }
    let conns: Vec<Connection> = providers.iter().map(|p| p.connect()).collect::<Result<_, _>>()?;
    let mut alice = User::register(&conns[0], "alice", &["phone", "laptop"], 2).await?;
    let mut bob = User::register(&conns[1], "bob", &["phone"], 2).await?;
    let mut cathy = User::register(&conns[2], "cathy", &["phone", "laptop"], 2).await?;

    let room = alice.create_room("faults", &presets::cooperative(), GROUP_ADMIN).await?;
    alice.invite(&room, &bob.uri().clone(), GROUP_ADMIN).await?;
    let r = alice.invite(&room, &cathy.uri().clone(), GROUP_ADMIN).await?;
    let mut epoch = r.epoch + 1;
    settle(STEP_TIMEOUT, &mut [&mut alice, &mut bob, &mut cathy], &room, epoch, None).await?;
    cathy.client_mut(0).context("cathy")?.send_text(&room, "<before>").await?;
    let mut acked = vec!["<before>".to_owned()];
    settle(STEP_TIMEOUT, &mut [&mut alice, &mut bob, &mut cathy], &room, epoch, Some("<before>")).await?;
    let mirror_before = read_log(cathy.client_mut(0).context("cathy")?, &room).await?.len();

    // c goes down; the hub keeps accepting messages and commits from a's and b's clients.
    let c_provider = providers.pop().context("c")?;
    c_provider.stop().await?;
    let t_down = Instant::now();
    for k in 0..24 {
        let c = if k % 2 == 0 { alice.client_mut(k / 2 % 2) } else { bob.client_mut(0) }.context("client")?;
        if k % 6 == 5 {
            let r = c.key_update(&room).await.with_context(|| format!("key update {k}"))?;
            epoch = epoch.max(r.epoch + 1);
        } else {
            let token = format!("<down-{k}>");
            c.send_text(&room, &token).await.with_context(|| format!("send {k}"))?;
            acked.push(token);
        }
        if k % 6 == 5 {
            // Let the hub's outbox fail and back off a few times.
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    // A membership change while c is down: Alice removes Bob.
    let r = alice.remove(&room, &bob.uri().clone()).await.context("removal")?;
    epoch = epoch.max(r.epoch + 1);
    alice.client_mut(1).context("laptop")?.send_text(&room, "<down-last>").await.context("last")?;
    acked.push("<down-last>".to_owned());
    // c's clients cannot reach their provider meanwhile.
    let cathy_phone = cathy.client_mut(0).context("cathy")?;
    ensure!(matches!(cathy_phone.sync(&room, Duration::ZERO).await, Err(ClientError::Transport { .. })));
    let downtime = t_down.elapsed();

    // c starts again on the same data directory and port.
    providers.push(LocalProvider::start_with(configs[2].clone()).await?);
    let t_up = Instant::now();
    settle(STEP_TIMEOUT, &mut [&mut cathy], &room, epoch, Some("<down-last>")).await?;
    let catch_up = t_up.elapsed();
    settle(STEP_TIMEOUT, &mut [&mut alice], &room, epoch, Some("<down-last>")).await?;
    let mut clients: Vec<&Client> = alice.clients().chain(cathy.clients()).collect();
    check_converged_across_providers(&room, &clients)?;
    for c in &clients {
        check_exactly_once_in_order(c, &room, &acked)?;
        ensure!(transcript_keys(c, &room)?.len() == acked.len(), "{}: unexpected messages", c.uri());
    }
    let alice_keys = transcript_keys(clients[0], &room)?;
    for c in cathy.clients() {
        ensure!(transcript_keys(c, &room)? == alice_keys, "{}: transcript differs from the hub's", c.uri());
    }
    let mirror = read_log(clients[2], &room).await?;
    check_no_duplicate_entries(&mirror)?;
    let taken_while_down = (acked.len() - 1) + (epoch - 3) as usize;
    ensure!(mirror.len() == mirror_before + taken_while_down, "c's mirror: {} entries", mirror.len());
    clients.clear();
    // Bob learns of his removal at b as usual.
    sync_until(bob.client_mut(0).context("bob")?, &room, "removal", STEP_TIMEOUT, |c| !c.is_member(&room)).await?;

    println!(
        "follower_stopped_and_restarted: c down {downtime:?} while the hub took {} messages and {} commits; \
         c's clients caught up {catch_up:?} after its restart; c's mirror {} entries ({} before, {} taken in \
         while down, each once); total {:?}",
        acked.len() - 1,
        epoch - 3,
        mirror.len(),
        mirror_before,
        taken_while_down,
        t0.elapsed()
    );
    for p in providers {
        p.stop().await?;
    }
    Ok(())
}

/// The hub child process: provider 0 of `DOMAINS` with `[peers]`, serving until SIGTERM or
/// killed. Returns at once unless started by [`spawn_hub`].
#[test]
fn federation_child_hub() {
    let (Ok(dir), Ok(ports)) = (std::env::var(DIR_VAR), std::env::var(PORTS_VAR)) else { return };
    let ports: Vec<u16> = ports.split(',').map(|p| p.parse().expect("port")).collect();
    let dir = Path::new(&dir);
    let config = federation_config(dir, &dir.join("pki"), &DOMAINS, &ports, 0).expect("config");
    mimi_tests::init_test_log();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async {
        let provider = LocalProvider::start_with(config).await.expect("start hub");
        child::serve(provider, &dir.join("hub-addr")).await.expect("serve");
    });
}

/// Starts the hub child on `dir` and waits until it listens.
fn spawn_hub(dir: &Path, ports: &[u16]) -> anyhow::Result<(Child, SocketAddr)> {
    let ports = ports.iter().map(u16::to_string).collect::<Vec<_>>().join(",");
    let envs = [(DIR_VAR, dir.display().to_string()), (PORTS_VAR, ports)];
    child::spawn("federation_child_hub", &envs, &dir.join("hub-addr"))
}

/// What a workload task got acknowledged.
#[derive(Default, Debug)]
struct Acked {
    /// Tokens of acknowledged messages, in acknowledgement order.
    messages: Vec<String>,
    /// Tokens of messages whose answer was lost (at most once in the end).
    in_doubt: Vec<String>,
    /// Acknowledged commits.
    commits: usize,
}

/// Messages with a key update every fifth step from `client` until `stop`; a failure without an
/// answer (or a 5xx while the hub is down) leaves the operation in doubt and is retried later.
async fn workload(
    name: &'static str,
    mut client: Client,
    room: String,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<(Client, Acked)> {
    let mut acked = Acked::default();
    let mut k = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let token = format!("<{name}-{k}>");
        let result = if k % 5 == 4 {
            client.key_update(&room).await.map(|_| acked.commits += 1)
        } else {
            client.send_text(&room, &token).await.map(|()| acked.messages.push(token.clone()))
        };
        match result {
            Ok(()) => {}
            Err(ClientError::Transport { .. } | ClientError::Http { status: 500..=599, .. }) => {
                if k % 5 != 4 {
                    acked.in_doubt.push(token);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(e).with_context(|| format!("{name} step {k}")),
        }
        k += 1;
    }
    Ok((client, acked))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hub_killed_during_fanout() -> anyhow::Result<()> {
    mimi_tests::init_test_log();
    let t0 = Instant::now();
    let dir = tempfile::tempdir()?;
    let pki = dir.path().join("pki");
    mimi_ds::pki::generate(&pki, &DOMAINS.map(str::to_owned))?;
    let ports = free_ports(3)?;
    let (mut hub, hub_addr) = spawn_hub(dir.path(), &ports)?;
    let mut followers = Vec::new();
    for i in 1..3 {
        followers.push(LocalProvider::start_with(federation_config(dir.path(), &pki, &DOMAINS, &ports, i)?).await?);
    }
    let a = Connection::new("a.example", hub_addr, &pki.join("ca.pem"))?;
    let (b, c) = (followers[0].connect()?, followers[1].connect()?);
    let mut alice = User::register(&a, "alice", &["phone", "laptop"], 2).await?;
    let mut bob = User::register(&b, "bob", &["phone", "laptop"], 2).await?;
    let mut cathy = User::register(&c, "cathy", &["phone", "laptop"], 2).await?;
    let room = alice.create_room("kill", &presets::cooperative(), GROUP_ADMIN).await?;
    alice.invite(&room, &bob.uri().clone(), GROUP_ADMIN).await?;
    let r = alice.invite(&room, &cathy.uri().clone(), GROUP_ADMIN).await?;
    settle(STEP_TIMEOUT, &mut [&mut alice, &mut bob, &mut cathy], &room, r.epoch + 1, None).await?;

    // Alice's laptop (at the hub) and Bob's laptop (relayed by b) submit while the hub fans out
    // to b and c; the hub is SIGKILLed in the middle and restarted on the same directory/port.
    let stop = Arc::new(AtomicBool::new(false));
    let wa = tokio::spawn(workload("alice", alice.take_client().context("laptop")?, room.clone(), stop.clone()));
    let wb = tokio::spawn(workload("bob", bob.take_client().context("laptop")?, room.clone(), stop.clone()));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    hub.kill()?; // SIGKILL
    hub.wait()?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (h, addr) = spawn_hub(dir.path(), &ports)?;
    ensure!(addr == hub_addr, "hub restarted on another address");
    hub = h;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    let (laptop_a, acked_a) = wa.await??;
    let (laptop_b, acked_b) = wb.await??;
    alice.add_device(laptop_a);
    bob.add_device(laptop_b);

    // A last acknowledged message marks the end; everyone waits for it at the final epoch.
    let last = alice.client_mut(0).context("phone")?;
    last.catch_up(&room).await?;
    last.send_text(&room, "<end>").await?;
    let epoch = last.epoch(&room)?;
    settle(STEP_TIMEOUT, &mut [&mut alice, &mut bob, &mut cathy], &room, epoch, Some("<end>")).await?;

    let mut messages: Vec<String> = acked_a.messages.iter().chain(&acked_b.messages).cloned().collect();
    messages.push("<end>".to_owned());
    let in_doubt: Vec<&String> = acked_a.in_doubt.iter().chain(&acked_b.in_doubt).collect();
    let clients: Vec<&Client> = alice.clients().chain(bob.clients()).chain(cathy.clients()).collect();
    check_converged_across_providers(&room, &clients)?;
    let reference = transcript_keys(clients[0], &room)?;
    for c in &clients {
        let t = transcript_keys(c, &room)?;
        ensure!(t == reference, "{}: transcript differs from the hub client's", c.uri());
        for m in &messages {
            let n = t.iter().filter(|(_, d)| contains(d, m)).count();
            ensure!(n == 1, "{}: acknowledged message {m} delivered {n} times", c.uri());
        }
        for m in &in_doubt {
            let n = t.iter().filter(|(_, d)| contains(d, m)).count();
            ensure!(n <= 1, "{}: message {m} (in doubt) delivered {n} times", c.uri());
        }
    }
    // Sequential senders: each one's acknowledged messages in its order.
    check_exactly_once_in_order(clients[0], &room, &acked_a.messages)?;
    check_exactly_once_in_order(clients[0], &room, &acked_b.messages)?;
    let mut mirrors = Vec::new();
    for c in [bob.clients().next(), cathy.clients().next()] {
        let log = read_log(c.context("client")?, &room).await?;
        check_no_duplicate_entries(&log)?;
        mirrors.push(log.len());
    }
    let hub_log = read_log(clients[0], &room).await?;
    check_no_duplicate_entries(&hub_log)?;

    // SAFETY: kill(2) on the pid of our own child process.
    unsafe { libc::kill(hub.id() as libc::pid_t, libc::SIGTERM) };
    hub.wait()?;
    println!(
        "hub_killed_during_fanout: {} messages acknowledged ({} in doubt, {} of them delivered), {} commits \
         acknowledged, final epoch {epoch}; hub log {} entries as Alice reads it, mirrors at b and c {:?} entries; \
         no loss, no duplicate; total {:?}",
        messages.len(),
        in_doubt.len(),
        in_doubt.iter().filter(|m| reference.iter().any(|(_, d)| contains(d, m))).count(),
        acked_a.commits + acked_b.commits,
        hub_log.len(),
        mirrors,
        t0.elapsed()
    );
    for f in followers {
        f.stop().await?;
    }
    Ok(())
}
