//! Durability across restarts: stop the server in the middle of a workload — first a hard kill
//! (SIGKILL), then a graceful stop (SIGTERM) — restart it on the same data directory and port,
//! and show that every acknowledged message and commit is in the log and delivered exactly once
//! to every member, log positions have no gaps or duplicates, and no epoch has two commits.
//!
//! The server runs in a child process so it can be killed: this test binary re-executes itself
//! with `--exact restart_child_server` and `MIMI_TEST_CHILD_DIR`/`MIMI_TEST_CHILD_LISTEN` set;
//! without them that test returns at once.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use mimi_appsync::presets::{self, administered_roles::GROUP_ADMIN, administered_roles::ORDINARY_USER};
use mimi_client_sim::{Client, ClientError, Connection, LocalProvider, User};
use mimi_tests::{check_converged, child, is_commit, read_log};

const DIR_VAR: &str = "MIMI_TEST_CHILD_DIR";
const LISTEN_VAR: &str = "MIMI_TEST_CHILD_LISTEN";

/// The server process: serves until SIGTERM (graceful) or until killed.
#[test]
fn restart_child_server() {
    let (Ok(dir), Ok(listen)) = (std::env::var(DIR_VAR), std::env::var(LISTEN_VAR)) else { return };
    let listen: SocketAddr = listen.parse().expect("listen address");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async {
        let provider = LocalProvider::start(Path::new(&dir), "a.example", listen).await.expect("start provider");
        child::serve(provider, &Path::new(&dir).join("addr")).await.expect("serve");
    });
}

/// Starts the server child on `dir` and waits until it listens.
fn spawn_server(dir: &Path, listen: SocketAddr) -> anyhow::Result<(Child, SocketAddr)> {
    let envs = [(DIR_VAR, dir.display().to_string()), (LISTEN_VAR, listen.to_string())];
    child::spawn("restart_child_server", &envs, &dir.join("addr"))
}

/// What one workload task got acknowledged.
#[derive(Default, Debug)]
struct Acked {
    /// Unique tokens of acknowledged messages.
    messages: Vec<String>,
    /// Epochs of acknowledged commits (the epoch each was built on).
    commits: Vec<u64>,
    /// Operations that failed without an answer (or with 503) and were retried later.
    in_doubt: usize,
}

/// Alternates messages and key updates over `clients` until `stop`; failures without an answer
/// are expected while the server is down and are retried (the next operation resolves them).
async fn workload(
    name: &'static str,
    mut clients: Vec<Client>,
    room: String,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<(Vec<Client>, Acked)> {
    let mut acked = Acked::default();
    let mut k = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let i = k % clients.len();
        let c = &mut clients[i];
        let result = if k % 5 == 4 {
            c.key_update(&room).await.map(|r| acked.commits.push(r.epoch))
        } else {
            let token = format!("<{name}-{k}>");
            c.send_text(&room, &token).await.map(|()| acked.messages.push(token))
        };
        match result {
            Ok(()) => {}
            Err(e @ (ClientError::Transport { .. } | ClientError::Http { status: 503, .. })) => {
                let _ = e;
                acked.in_doubt += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(e).with_context(|| format!("{name} step {k}")),
        }
        k += 1;
    }
    Ok((clients, acked))
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_and_restart_mid_workload() -> anyhow::Result<()> {
    let t0 = Instant::now();
    let tmp = tempfile::tempdir()?;
    let dir: PathBuf = tmp.path().to_owned();
    let (mut server, addr) = spawn_server(&dir, "127.0.0.1:0".parse()?)?;
    let conn = Connection::new("a.example", addr, &dir.join("pki").join("ca.pem"))?;

    let mut alice = User::register(&conn, "alice", &["phone", "laptop"], 1).await?;
    let mut bob = User::register(&conn, "bob", &["phone", "laptop"], 1).await?;
    let mut observer = User::register(&conn, "observer", &["phone"], 1).await?;
    let room = alice.create_room("restart", &presets::cooperative(), GROUP_ADMIN).await?;
    alice.invite(&room, &bob.uri().clone(), ORDINARY_USER).await?;
    alice.invite(&room, &observer.uri().clone(), ORDINARY_USER).await?;
    for u in [&mut alice, &mut bob, &mut observer] {
        u.sync(&room).await?;
    }
    let start_epoch = alice.client_mut(0).unwrap().epoch(&room)?;

    let stop = Arc::new(AtomicBool::new(false));
    let take = |mut u: User| std::iter::from_fn(move || u.take_client()).collect::<Vec<_>>();
    let a = tokio::spawn(workload("alice", take(alice), room.clone(), stop.clone()));
    let b = tokio::spawn(workload("bob", take(bob), room.clone(), stop.clone()));

    // Hard kill in the middle of the workload, restart on the same directory and port.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill()?; // SIGKILL
    server.wait()?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t_restart = Instant::now();
    let (s, _) = spawn_server(&dir, addr)?;
    let restart_kill = t_restart.elapsed();
    server = s;

    // Graceful stop (SIGTERM) in the middle of the workload, restart again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // SAFETY: kill(2) on the pid of our own child process.
    let rc = unsafe { libc::kill(server.id() as libc::pid_t, libc::SIGTERM) };
    anyhow::ensure!(rc == 0, "SIGTERM failed");
    let status = server.wait()?;
    anyhow::ensure!(status.success(), "graceful stop exited with {status}");
    let (s, _) = spawn_server(&dir, addr)?;
    server = s;

    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::Relaxed);
    let (mut clients, acked_a) = a.await??;
    let (bob_clients, acked_b) = b.await??;
    clients.extend(bob_clients);
    let mut obs = observer.take_client().context("observer")?;
    for c in clients.iter_mut().chain([&mut obs]) {
        c.catch_up(&room).await?;
    }

    // The log: positions 1..=N without gaps or duplicates, one commit per epoch.
    let log = read_log(&obs, &room).await?;
    assert!(log.iter().enumerate().all(|(i, e)| e.seq == i as u64 + 1), "log positions have gaps or duplicates");
    let mut commits: BTreeMap<u64, usize> = BTreeMap::new();
    for e in log.iter().filter(|e| is_commit(e)) {
        *commits.entry(e.epoch).or_default() += 1;
    }
    assert!(commits.values().all(|&k| k == 1), "an epoch with two commits: {commits:?}");
    let final_epoch = obs.epoch(&room)?;
    assert_eq!(commits.len() as u64, final_epoch, "one commit per epoch transition");

    // Every acknowledged commit is there; every acknowledged message is delivered exactly once
    // to every member (its sender included, at its log position).
    let mut acked_commits: Vec<u64> = acked_a.commits.iter().chain(&acked_b.commits).copied().collect();
    acked_commits.sort();
    assert!(acked_commits.windows(2).all(|w| w[0] < w[1]), "two acknowledged commits for one epoch");
    assert!(acked_commits.iter().all(|e| commits.contains_key(e)), "an acknowledged commit is missing");
    let messages: Vec<&String> = acked_a.messages.iter().chain(&acked_b.messages).collect();
    let all: Vec<&Client> = clients.iter().chain([&obs]).collect();
    check_converged(&room, &all)?;
    for c in &all {
        let t = c.transcript(&room)?;
        for m in &messages {
            let n = t.iter().filter(|d| contains(&d.content, m)).count();
            assert_eq!(n, 1, "{}: acknowledged message {m} delivered {n} times", c.uri());
        }
    }
    let delivered = all[0].transcript(&room)?.len();
    let app_entries = log.iter().filter(|e| !is_commit(e)).count();
    assert_eq!(delivered, app_entries, "every message in the log delivered");

    // Graceful stop of the last server.
    // SAFETY: kill(2) on the pid of our own child process.
    unsafe { libc::kill(server.id() as libc::pid_t, libc::SIGTERM) };
    server.wait()?;
    println!(
        "restart: log {} entries ({} messages, {} commits, epochs {}..{}); acknowledged {} messages and {} commits, \
         {} operations in doubt retried; SIGKILL and SIGTERM mid-workload, restart took {:?}; {:?} total",
        log.len(),
        app_entries,
        commits.len(),
        start_epoch,
        final_epoch,
        messages.len(),
        acked_commits.len(),
        acked_a.in_doubt + acked_b.in_doubt,
        restart_kill,
        t0.elapsed()
    );
    Ok(())
}
