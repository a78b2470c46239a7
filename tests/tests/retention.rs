//! Retention on a running provider: real openmls clients over real HTTPS against a `mimi-ds` on a
//! real redb file, with retention passes every second and a log retention of a few seconds.
//!
//! A steady workload (rounds of messages that every member reads) keeps the store file flat once
//! retention has caught up: what each round adds, compacted behind the room's checkpoints, is what
//! the next rounds reuse. A Welcome goes once its client read past it; a reader whose cursor is
//! older than what is kept is answered 410 telling it to rejoin; `/metrics` counts what went.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _};
use mimi_appsync::presets::{self, administered_roles::GROUP_ADMIN};
use mimi_client_sim::{ClientError, LocalProvider, User};
use mimi_tests::settle;

const STEP: Duration = Duration::from_secs(60);
/// How long log entries are kept behind a checkpoint.
const LOG_RETENTION_SECS: u64 = 8;
/// Messages sent between two reads by the members.
const READ_EVERY: usize = 5;
/// Messages per round, and each one's text size: a round is ~2 MB of log, several checkpoints.
const PER_ROUND: usize = 40;
const TEXT_BYTES: usize = 48 * 1024;
const ROUNDS: usize = 6;

/// The value of the series `series` (e.g. `name{label="v"}`) at the provider's metrics listener.
async fn metric(provider: &LocalProvider, series: &str) -> anyhow::Result<u64> {
    let text = mimi_tests::scrape(provider).await?;
    let value = mimi_tests::series(&text, series).with_context(|| format!("no {series} in the metrics"))?;
    Ok(value as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn trimming_keeps_the_store_flat_under_a_steady_workload_and_old_cursors_are_told_to_rejoin() -> anyhow::Result<()>
{
    mimi_tests::init_test_log();
    let dir = tempfile::tempdir()?;
    let port = mimi_client_sim::local::free_ports(1)?[0];
    let mut config = mimi_client_sim::local::config(dir.path(), "a.example", ([127, 0, 0, 1], port).into())?;
    config.retention.interval = Duration::from_secs(1);
    config.retention.retention.log_retention_ms = LOG_RETENTION_SECS * 1000;
    let store = config.store_path();
    let provider = LocalProvider::start_with(config).await?;
    let conn = provider.connect()?;
    let mut alice = User::register(&conn, "alice", &["phone"], 2).await?;
    let mut bob = User::register(&conn, "bob", &["phone"], 2).await?;
    let room = alice.create_room("retention", &presets::cooperative(), GROUP_ADMIN).await?;
    alice.invite(&room, &bob.uri().clone(), GROUP_ADMIN).await?;
    let epoch = alice.client_mut(0).context("alice")?.epoch(&room)?;
    settle(STEP, &mut [&mut alice, &mut bob], &room, epoch, None).await?;

    // Bob's Welcome: in his queue until he reads past it, then gone with its last queue item.
    let bob_phone = bob.client_mut(0).context("bob")?;
    let queued = bob_phone.session().read_queue(0, Duration::ZERO).await?;
    ensure!(queued.items.len() == 1, "Bob's queue holds his Welcome: {} items", queued.items.len());
    let read_past = queued.items[0].seq;
    bob_phone.session().read_queue(read_past, Duration::ZERO).await?;

    let text = "x".repeat(TEXT_BYTES);
    let mut sizes = Vec::new();
    for round in 0..ROUNDS {
        // The members read every `READ_EVERY` messages, well within the log retention even on a
        // loaded machine: a reader that fell behind what is kept would rightly be told to rejoin.
        for first in (0..PER_ROUND).step_by(READ_EVERY) {
            let sender = alice.client_mut(0).context("alice")?;
            let end = (first + READ_EVERY).min(PER_ROUND);
            for i in first..end {
                sender.send_text(&room, &format!("<r{round}m{i}>{text}")).await?;
            }
            let epoch = sender.epoch(&room)?;
            let last = format!("<r{round}m{}>", end - 1);
            settle(STEP, &mut [&mut alice, &mut bob], &room, epoch, Some(&last)).await?;
        }
        // Past the retention, with passes in between: this round is compacted behind the
        // checkpoints it made (the last checkpoint's interval stays).
        tokio::time::sleep(Duration::from_secs(LOG_RETENTION_SECS + 2)).await;
        let size = std::fs::metadata(&store)?.len();
        let compacted = metric(&provider, "mimi_retention_trimmed_total{what=\"log_entries\"}").await?;
        println!("round {round}: store {size} bytes, {compacted} log entries compacted so far");
        sizes.push(size);
    }
    let round_bytes = (PER_ROUND * TEXT_BYTES) as u64;
    let (settled, end) = (sizes[2], sizes[ROUNDS - 1]);
    let grew = end.saturating_sub(settled);
    ensure!(
        grew < round_bytes / 2,
        "the store grew by {grew} bytes over {} rounds of {round_bytes} bytes each: {sizes:?}",
        ROUNDS - 3
    );

    let compacted = metric(&provider, "mimi_retention_trimmed_total{what=\"log_entries\"}").await?;
    ensure!(compacted >= (PER_ROUND * (ROUNDS - 2)) as u64, "only {compacted} log entries compacted");
    ensure!(metric(&provider, "mimi_retention_trimmed_total{what=\"queue_items\"}").await? >= 1, "queue items");
    ensure!(metric(&provider, "mimi_retention_trimmed_total{what=\"welcomes\"}").await? >= 1, "welcomes");
    let bob_phone = bob.client_mut(0).context("bob")?;
    let queue = bob_phone.session().read_queue(0, Duration::ZERO).await?;
    ensure!(queue.items.is_empty(), "the Welcome Bob read past is gone: {} items", queue.items.len());

    // A cursor older than what is kept: 410, telling the client to rejoin; a current one reads.
    match bob_phone.session().read_log(&room, 1, Duration::ZERO).await {
        Err(ClientError::Http { status: 410, reason, .. }) => {
            ensure!(reason.contains("rejoin the room by external commit"), "410 says what to do: {reason}")
        }
        other => anyhow::bail!("a compacted cursor read {:?}", other.map(|p| p.entries.len())),
    }
    let deadline = Instant::now() + STEP;
    let sender = alice.client_mut(0).context("alice")?;
    sender.send_text(&room, "<after>").await?;
    let epoch = sender.epoch(&room)?;
    settle(deadline - Instant::now(), &mut [&mut alice, &mut bob], &room, epoch, Some("<after>")).await?;
    provider.stop().await?;
    Ok(())
}
