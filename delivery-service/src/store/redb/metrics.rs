//! The metrics of [`super::RedbStore`]: what its writer commits (batch sizes, the time of each
//! durable commit, which is where the fsync is), whether it takes writes (failed batches,
//! recoveries, [`super::recovery`]), and how many rooms and registered devices it holds.
//!
//! The writer thread reports each committed batch ([`Committed`]); the counts of rooms and
//! devices are the lengths of their tables (kept by redb, no scan), read when the metrics are
//! registered and again in each batch that may change them.

use std::time::Duration;

use redb::{ReadableDatabase as _, ReadableTableMetadata as _, WriteTransaction};

use super::schema::{io, ROOMS, USER_CLIENTS};
use crate::metrics::{Counter, Gauge, Histogram, MetricsError, Registry};
use crate::store::{StoreError, Write};

/// The store's metrics, once registered.
#[derive(Debug, Clone)]
pub(super) struct StoreMetrics {
    /// `mimi_store_write_failures_total`.
    pub failures: Counter,
    /// `mimi_store_recoveries_total`.
    pub recoveries: Counter,
    /// `mimi_store_writable`.
    pub writable: Gauge,
    /// `mimi_store_batch_size`: writes per durable commit.
    pub batch_size: Histogram,
    /// `mimi_store_commit_seconds`: the durable commit (fsync) of one batch.
    pub commit_seconds: Histogram,
    /// `mimi_rooms`: rooms this provider is the hub of.
    pub rooms: Gauge,
    /// `mimi_clients`: registered devices of our users (active or revoked, not removed).
    pub clients: Gauge,
}

impl StoreMetrics {
    /// Registers (or finds) them in `registry`.
    pub(super) fn register(registry: &Registry) -> Result<StoreMetrics, MetricsError> {
        Ok(StoreMetrics {
            failures: registry.counter(
                "mimi_store_write_failures_total",
                "Store batches that failed in storage (full disk, I/O error); none of them was written.",
            )?,
            recoveries: registry.counter(
                "mimi_store_recoveries_total",
                "Times the store opened its file again after a failed write and took writes again.",
            )?,
            writable: registry.gauge("mimi_store_writable", "1 while the store takes writes, 0 while it recovers.")?,
            batch_size: registry
                .histogram("mimi_store_batch_size", "Writes committed together in one durable transaction.")?,
            commit_seconds: registry
                .histogram("mimi_store_commit_seconds", "Time of one batch's durable commit (the fsync), seconds.")?,
            rooms: registry.gauge("mimi_rooms", "Rooms this provider is the hub of.")?,
            clients: registry.gauge(
                "mimi_clients",
                "Registered devices of this provider's users (active or revoked, not removed).",
            )?,
        })
    }

    /// Records a committed batch.
    pub(super) fn committed(&self, batch: &Committed) {
        self.batch_size.record(batch.writes as f64);
        self.commit_seconds.record(batch.commit.as_secs_f64());
        if let Some(counts) = batch.counts {
            self.set_counts(counts);
        }
    }

    /// Sets the gauges of rooms and devices.
    pub(super) fn set_counts(&self, counts: Counts) {
        self.rooms.set(counts.rooms as f64);
        self.clients.set(counts.clients as f64);
    }
}

/// What the writer reports of a committed batch.
#[derive(Debug, Clone, Copy)]
pub(super) struct Committed {
    /// Writes in it.
    pub writes: usize,
    /// How long its durable commit took.
    pub commit: Duration,
    /// The counts after it, if a write of it may have changed them.
    pub counts: Option<Counts>,
}

/// How many rooms and registered devices the store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Counts {
    /// Rows of `ROOMS`.
    pub rooms: u64,
    /// Rows of `USER_CLIENTS`.
    pub clients: u64,
}

impl Counts {
    /// The counts as `tx` sees them.
    pub(super) fn read(tx: &WriteTransaction) -> Result<Counts, StoreError> {
        Ok(Counts {
            rooms: tx.open_table(ROOMS).map_err(io)?.len().map_err(io)?,
            clients: tx.open_table(USER_CLIENTS).map_err(io)?.len().map_err(io)?,
        })
    }

    /// The counts in the committed state of `db`.
    pub(super) fn read_committed(db: &redb::Database) -> Result<Counts, StoreError> {
        let tx = db.begin_read().map_err(io)?;
        Ok(Counts {
            rooms: tx.open_table(ROOMS).map_err(io)?.len().map_err(io)?,
            clients: tx.open_table(USER_CLIENTS).map_err(io)?.len().map_err(io)?,
        })
    }
}

/// Whether `write` may change the counts of rooms or devices.
pub(super) fn changes_counts(write: &Write) -> bool {
    matches!(write, Write::CreateRoom { .. } | Write::RegisterClient { .. } | Write::EndClient { .. })
}
