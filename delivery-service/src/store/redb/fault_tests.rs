//! The redb store under injected faults ([`super::fault`]): a full disk, a short write, a failed
//! sync, a killed process and a power cut, each at every mutating operation of a small workload.
//! Whatever happens, every write that was acknowledged is in the file afterwards, nothing is
//! there half (each entry reads back as written, the log has no gap), and the store takes writes
//! again by itself once the fault is gone.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::fault::{Fault, FaultPlan, FaultyBacking};
use super::*;
use crate::store::contract::{append, checkpoint, create, entry, welcome};
use crate::store::settle;

const ROOM: &str = "mimi://a.example/r/faults";
const BOB_PHONE: &str = "mimi://a.example/d/bob/phone";
/// Entries the workload appends.
const ENTRIES: u64 = 6;

fn faulty(dir: &Path, plan: &Arc<FaultPlan>) -> RedbStore {
    let backing = FaultyBacking { path: dir.join("store.redb"), plan: plan.clone() };
    RedbStore::open_with(backing, 64).expect("open on the faulty back end")
}

fn plain(dir: &Path) -> RedbStore {
    RedbStore::open(&dir.join("store.redb"), 64).expect("reopen on the plain file")
}

/// Waits (at most 10 s) until the store takes writes again.
async fn writable(s: &RedbStore) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Some(why) = s.unwritable() {
        assert!(Instant::now() < deadline, "the store did not recover: {why}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The sequence numbers in `ROOM`'s log, checking each entry reads back as it was written.
async fn log(s: &RedbStore) -> Vec<u64> {
    let entries = s.log_after(ROOM, 0, 1000).await.expect("read the log");
    for e in &entries {
        assert_eq!(e, &entry(e.seq), "entry {} reads back as written", e.seq);
    }
    entries.iter().map(|e| e.seq).collect()
}

/// The workload: the room, its entries one write at a time (one with a Welcome for a local
/// client), and a checkpoint. `Err(i)`: the i-th entry's append failed (the room was created).
fn workload() -> Vec<(u64, Write)> {
    let mut writes = vec![(0, create(ROOM))];
    for seq in 1..=ENTRIES {
        let write = if seq == 3 {
            Write::Append {
                room: ROOM.into(),
                entries: vec![entry(seq)],
                queue: vec![welcome(ROOM, seq, 7, &[BOB_PHONE])],
                claims_used: vec![],
            }
        } else {
            append(ROOM, seq..=seq)
        };
        writes.push((seq, write));
    }
    writes.push((ENTRIES, Write::Checkpoint(Box::new(checkpoint(ROOM, 4)))));
    writes
}

/// Runs the workload on `s` as a client would: a failed write is retried once the store takes
/// writes again (unless it landed after all). Returns the last entry acknowledged.
async fn run_with_retries(s: &RedbStore) -> u64 {
    let mut acked = 0;
    for (seq, write) in workload() {
        loop {
            match settle(s.write(write.clone())).await {
                Ok(_) => break,
                Err(StoreError::Io(_) | StoreError::Unavailable(_)) => {
                    writable(s).await;
                    // A write whose sync failed may be on the disk anyway (in doubt).
                    if seq > 0 && matches!(write, Write::Append { .. }) && log(s).await.contains(&seq) {
                        break;
                    }
                    if seq == 0 && s.room(ROOM).await.expect("read the room").is_some() {
                        break;
                    }
                }
                Err(e) => panic!("write {seq}: {e}"),
            }
        }
        acked = seq;
    }
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_at_once_and_the_store_recovers_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let plan = FaultPlan::new();
    let s = faulty(dir.path(), &plan);
    settle(s.write(create(ROOM))).await.unwrap();
    settle(s.write(append(ROOM, 1..=3))).await.unwrap();
    assert_eq!(s.unwritable(), None);

    plan.set_disk_full(true);
    let failed = settle(s.write(append(ROOM, 4..=4))).await;
    assert!(matches!(failed, Err(StoreError::Io(_))), "the write meeting the full disk fails: {failed:?}");
    let why = s.unwritable().expect("unwritable after a failed write");
    assert!(why.contains("No space left on device"), "{why}");
    let refused = settle(s.write(append(ROOM, 4..=4))).await;
    assert!(matches!(refused, Err(StoreError::Unavailable(_))), "later writes are refused at once: {refused:?}");
    // Still full after a few recovery attempts: still refused, nothing written.
    tokio::time::sleep(RECOVERY_INTERVAL * 3).await;
    assert!(s.unwritable().is_some(), "no recovery while the disk is full");
    assert_eq!(log(&s).await, [1, 2, 3], "reads go on while the disk is full");
    assert!(matches!(settle(s.write(append(ROOM, 4..=4))).await, Err(StoreError::Unavailable(_))));

    plan.set_disk_full(false);
    writable(&s).await;
    assert_eq!(log(&s).await, [1, 2, 3], "acknowledged entries kept, the failed one absent");
    settle(s.write(append(ROOM, 4..=4))).await.expect("writes are taken again");
    assert_eq!(s.faults().0, 1, "one write lost");
    assert!(s.faults().1 >= 1, "recovered");
    drop(s);
    assert_eq!(log(&plain(dir.path())).await, [1, 2, 3, 4]);
}

/// Mutating operations of the workload after the store is opened, without faults.
async fn workload_operations() -> (u64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let plan = FaultPlan::new();
    let s = faulty(dir.path(), &plan);
    let opened = plan.operations();
    assert_eq!(run_with_retries(&s).await, ENTRIES);
    (opened, plan.operations())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_at_any_operation_loses_nothing_acknowledged_and_writes_nothing_half() {
    let (opened, end) = workload_operations().await;
    assert!(end - opened > 20, "the workload has {} fault points", end - opened);

    for fault in [Fault::NoSpace, Fault::ShortWrite, Fault::SyncFails] {
        for at in opened + 1..=end {
            let dir = tempfile::tempdir().unwrap();
            let plan = FaultPlan::new();
            let s = faulty(dir.path(), &plan);
            plan.inject_at(at, fault);
            assert_eq!(run_with_retries(&s).await, ENTRIES, "{fault:?} at {at}");
            assert_eq!(log(&s).await, (1..=ENTRIES).collect::<Vec<_>>(), "{fault:?} at {at}");
            assert_eq!(s.queue_after(BOB_PHONE, 0, 10).await.unwrap().len(), 1, "{fault:?} at {at}: the Welcome");
            drop(s);
            let reopened = plain(dir.path());
            assert_eq!(log(&reopened).await, (1..=ENTRIES).collect::<Vec<_>>(), "{fault:?} at {at}, reopened");
            let room = reopened.room(ROOM).await.unwrap().expect("the room");
            assert_eq!(room.checkpoint.seq, 4, "{fault:?} at {at}: the checkpoint");
        }
    }
}

/// Runs the workload without retries until the first failure; returns the last entry
/// acknowledged (`None`: not even the room).
async fn run_until_failure(s: &RedbStore, mut acked: impl FnMut(u64)) -> Option<u64> {
    let mut last = None;
    for (seq, write) in workload() {
        if settle(s.write(write)).await.is_err() {
            break;
        }
        last = Some(seq);
        acked(seq);
    }
    last
}

/// After a crash: the store opens, and its log is what was acknowledged, plus perhaps the one
/// write in flight, in full.
async fn check_after_crash(dir: &Path, acked: Option<u64>, what: &str) {
    let s = plain(dir);
    let present = log(&s).await;
    let acked_entries: Vec<u64> = (1..=acked.unwrap_or(0).min(ENTRIES)).collect();
    assert!(present.starts_with(&acked_entries), "{what}: acknowledged {acked:?}, present {present:?}");
    assert!(present.len() <= acked_entries.len() + 1, "{what}: acknowledged {acked:?}, present {present:?}");
    if acked.is_some() {
        assert!(s.room(ROOM).await.unwrap().is_some(), "{what}: the room");
    }
    if present.contains(&3) || acked.is_some_and(|a| a >= 3) {
        assert_eq!(s.queue_after(BOB_PHONE, 0, 10).await.unwrap().len(), 1, "{what}: the Welcome with its entry");
    }
    // And it takes writes.
    let next = present.last().copied().unwrap_or(0) + 1;
    if s.room(ROOM).await.unwrap().is_some() {
        settle(s.write(append(ROOM, next..=next))).await.unwrap_or_else(|e| panic!("{what}: write after: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_power_cut_at_any_operation_keeps_everything_acknowledged() {
    let (opened, end) = workload_operations().await;
    let mut stages = std::collections::BTreeSet::new();
    for at in opened + 1..=end {
        let dir = tempfile::tempdir().unwrap();
        let plan = FaultPlan::new();
        let s = faulty(dir.path(), &plan);
        plan.inject_at(at, Fault::PowerCut);
        let acked = run_until_failure(&s, |_| {}).await;
        drop(s);
        check_after_crash(dir.path(), acked, &format!("power cut at {at}")).await;
        stages.insert(acked);
    }
    // The cuts fell in every write of the workload, from before the room to the last entry.
    assert!(stages.contains(&None) && stages.contains(&Some(ENTRIES)), "{stages:?}");
    assert!(stages.len() as u64 > ENTRIES, "{stages:?}");
}

const KILL_DIR: &str = "MIMI_TEST_KILL_DIR";
const KILL_AT: &str = "MIMI_TEST_KILL_AT";

/// The child of [`a_killed_process_at_any_operation_keeps_everything_acknowledged`]: runs the
/// workload on the faulty back end, which kills the process at operation `KILL_AT`, writing each
/// acknowledged entry to `acked` (a no-op without its environment).
#[test]
fn kill_child() {
    let (Ok(dir), Ok(at)) = (std::env::var(KILL_DIR), std::env::var(KILL_AT)) else { return };
    let dir = std::path::PathBuf::from(dir);
    let plan = FaultPlan::new();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let s = faulty(&dir, &plan);
        plan.inject_at(at.parse().unwrap(), Fault::Kill);
        run_until_failure(&s, |seq| std::fs::write(dir.join("acked"), seq.to_string()).unwrap()).await;
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_process_at_any_operation_keeps_everything_acknowledged() {
    let (opened, end) = workload_operations().await;
    let mut killed = 0;
    let mut stages = std::collections::BTreeSet::new();
    for at in opened + 1..=end {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "store::redb::fault_tests::kill_child", "--nocapture", "--test-threads=1"])
            .env(KILL_DIR, dir.path())
            .env(KILL_AT, at.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(137), "the child was killed at operation {at}");
        killed += 1;
        let acked = std::fs::read_to_string(dir.path().join("acked")).ok().map(|s| s.parse().unwrap());
        check_after_crash(dir.path(), acked, &format!("killed at {at}")).await;
        stages.insert(acked);
    }
    assert_eq!(killed, end - opened);
    assert!(stages.contains(&None) && stages.contains(&Some(ENTRIES)), "{stages:?}");
    assert!(stages.len() as u64 > ENTRIES, "{stages:?}");
}
