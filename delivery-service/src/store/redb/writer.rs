//! The writer thread of [`super::RedbStore`] (group commit): it waits for one write, takes
//! whatever else is queued (up to `max_batch`), applies all in one transaction, commits it
//! durably, and answers each write. The durable cost (one fsync) is per batch, not per write;
//! writes are applied in the order they were queued.
//!
//! A batch that fails in storage is answered with the failure (none of it is on the disk) and
//! makes the store unwritable ([`Handle::lost_write`]): from then on writes are refused at once
//! and the thread tries to open the file again ([`Handle::try_recover`]) at once, then every
//! [`RECOVERY_INTERVAL`]; see [`super::recovery`]. A write's own storage failure inside a batch
//! fails the whole batch: the transaction is dropped, never committed with half a write.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Instant;

use redb::{Database, Durability};

use super::apply::{append_entries, apply, LastSeqs};
use super::metrics::{changes_counts, Committed, Counts};
use super::recovery::{Handle, RECOVERY_INTERVAL};
use super::schema::{io, LOG};
use crate::store::{StoreError, Write, WriteResult};

/// A queued write and where its outcome goes.
pub(super) type Job = (Write, tokio::sync::oneshot::Sender<Result<WriteResult, StoreError>>);

/// The writer loop; returns when every sender of `rx` is gone and the queue is drained.
/// `commits` counts the batches committed.
pub(super) fn run(db: Arc<Handle>, rx: mpsc::Receiver<Job>, max_batch: usize, commits: Arc<AtomicU64>) {
    let mut last_seqs = LastSeqs::new();
    let mut next_attempt = Instant::now();
    loop {
        if !db.writable() {
            // Refuse what arrives at once; try to recover at each interval.
            match rx.recv_timeout(next_attempt.saturating_duration_since(Instant::now())) {
                Ok((_, reply)) => {
                    let _ = reply.send(Err(db.refusal()));
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
            // The positions cached before the failure may describe appends that did not land.
            last_seqs.clear();
            let _ = db.try_recover();
            next_attempt = Instant::now() + RECOVERY_INTERVAL;
            continue;
        }
        let Ok(first) = rx.recv() else { return };
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let outcome = db.db().and_then(|d| commit_batch(&d, &batch, &mut last_seqs));
        match outcome {
            Ok((results, committed)) => {
                commits.fetch_add(1, Ordering::Relaxed);
                db.committed(&committed);
                for ((_, reply), result) in batch.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
            }
            Err(e) => {
                // The cached positions may describe appends that did not land.
                last_seqs.clear();
                tracing::error!(error = %e, size = batch.len(), "store batch failed");
                db.lost_write(&e);
                // A passing fault recovers at once; a lasting one at each interval.
                next_attempt = Instant::now();
                for (_, reply) in batch {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// Applies `batch` in one durable transaction: each write's own outcome and what the metrics
/// record of the batch, or the failure of the transaction as a whole.
fn commit_batch(
    db: &Database,
    batch: &[Job],
    last_seqs: &mut LastSeqs,
) -> Result<(Vec<Result<WriteResult, StoreError>>, Committed), StoreError> {
    let mut tx = db.begin_write().map_err(io)?;
    tx.set_durability(Durability::Immediate).map_err(io)?;
    let now_ms = crate::provider::now_ms();
    let mut results = Vec::with_capacity(batch.len());
    // Runs of plain appends to rooms already seen share one open log table (opening it per
    // write was a sixth of the writer's time); anything else goes through `apply`.
    let mut log: Option<redb::Table<(&str, u64), &[u8]>> = None;
    for (w, _) in batch {
        match w {
            Write::Append { room, entries, queue, claims_used }
                if queue.is_empty() && claims_used.is_empty() && last_seqs.contains_key(room) =>
            {
                let table = match log.as_mut() {
                    Some(t) => t,
                    None => log.insert(tx.open_table(LOG).map_err(io)?),
                };
                let last = last_seqs.get(room).copied().unwrap_or(0);
                results.push(append_entries(table, room, entries, last, last_seqs));
            }
            other => {
                log = None;
                results.push(apply(&tx, other, last_seqs, now_ms));
            }
        }
        // A storage failure inside a write may have left part of it in the transaction: the
        // whole batch fails, the transaction is dropped (aborted).
        if let Some(Err(e @ StoreError::Io(_))) = results.last() {
            return Err(e.clone());
        }
    }
    drop(log);
    // Only for the metrics: a count that cannot be read is left as it was.
    let counts = if batch.iter().any(|(w, _)| changes_counts(w)) { Counts::read(&tx).ok() } else { None };
    let started = Instant::now();
    tx.commit().map_err(io)?;
    let committed = Committed { writes: batch.len(), commit: started.elapsed(), counts };
    Ok((results, committed))
}
