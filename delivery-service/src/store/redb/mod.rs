//! [`Store`] on one redb file, with a writer thread that commits concurrent writes in one
//! durable transaction (group commit).
//!
//! The file records the on-disk format it was written in ([`FORMAT_VERSION`], in the `meta`
//! table, written when the file is created). Opening a file of another format fails with
//! [`StoreError::Format`] before anything is read or written, instead of a decode error deep
//! in a restore; a file from before the record existed counts as format 1. A file of the format
//! before this one is migrated as it is opened ([`migrate`]).
//!
//! A failed write (a full disk, an I/O error) does not leave the store broken: it refuses writes
//! with [`StoreError::Unavailable`] until it has opened its file again, by itself
//! ([`recovery`]).
//!
//! - `schema`: the tables and how their records are encoded;
//! - `writer`: the writer thread and its batches;
//! - `apply`: one write inside a batch's transaction;
//! - `reads`: the read methods, each in its own read transaction;
//! - `trim`: one retention pass;
//! - `migrate`: a file of the previous format, brought up to this one;
//! - [`recovery`]: the database handle, opened again after a failed write;
//! - [`fault`]: a back end that injects faults, for tests.

mod apply;
pub mod fault;
mod metrics;
mod migrate;
mod reads;
pub mod recovery;
mod schema;
mod trim;
mod writer;

use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::{mpsc, Arc};

use redb::ReadableTable;

use recovery::Handle;
pub use recovery::{Backing, FileBacking, RECOVERY_INTERVAL};

pub use schema::FORMAT_VERSION;
use schema::{io, FORMAT_KEY, META, UNRECORDED_FORMAT};

use super::{
    ClientRecord, ConsentState, KeyPackageClaim, Store, StoreError, StoredAbuseReport, StoredRoom, TokenRecord, Write,
    WriteTicket,
};
use crate::hub::{LogEntry, QueueItem};

/// The redb-backed store. Cloning shares the database and the writer; when the last clone is
/// dropped, the writer finishes what is queued and the file is closed.
#[derive(Clone)]
pub struct RedbStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: Arc<Handle>,
    /// Sends writes to the writer thread; `None` once closing.
    jobs: std::sync::Mutex<Option<mpsc::Sender<writer::Job>>>,
    writer: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Batches the writer committed.
    commits: Arc<AtomicU64>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.take();
        }
        if let Some(handle) = self.writer.lock().ok().and_then(|mut w| w.take()) {
            let _ = handle.join();
        }
    }
}

impl RedbStore {
    /// Opens (or creates) the database file and starts the writer thread. `max_batch` bounds
    /// how many writes share one transaction (1 disables group commit).
    pub fn open(path: &Path, max_batch: usize) -> Result<RedbStore, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        Self::open_with(FileBacking(path.to_owned()), max_batch)
    }

    /// [`RedbStore::open`] on the database `backing` opens (a file of the local file system, or
    /// one with faults injected, [`fault::FaultyBacking`]).
    pub fn open_with(backing: impl Backing, max_batch: usize) -> Result<RedbStore, StoreError> {
        let db = backing.open().map_err(io)?;
        {
            let tx = db.begin_write().map_err(io)?;
            let found = recorded_format(&tx)?;
            if found == migrate::MIGRATES_FROM {
                migrate::migrate(&tx, crate::provider::now_ms())?;
                tracing::info!(path = %backing.path().display(), from = found, to = FORMAT_VERSION, "store migrated");
            } else if found != FORMAT_VERSION {
                tx.abort().map_err(io)?;
                let path = backing.path().display().to_string();
                return Err(StoreError::Format { path, found, expected: FORMAT_VERSION });
            }
            schema::create_tables(&tx)?;
            tx.commit().map_err(io)?;
        }
        let db = Arc::new(Handle::new(Box::new(backing), db));
        let (jobs, rx) = mpsc::channel::<writer::Job>();
        let commits = Arc::new(AtomicU64::new(0));
        let (writer_db, writer_commits) = (db.clone(), commits.clone());
        let handle = std::thread::Builder::new()
            .name("mimi-ds-store-writer".into())
            .spawn(move || writer::run(writer_db, rx, max_batch.max(1), writer_commits))
            .map_err(io)?;
        Ok(RedbStore {
            inner: Arc::new(Inner {
                db,
                jobs: std::sync::Mutex::new(Some(jobs)),
                writer: std::sync::Mutex::new(Some(handle)),
                commits,
            }),
        })
    }

    /// Writes lost to a storage failure, and recoveries from one, since the file was opened.
    pub fn faults(&self) -> (u64, u64) {
        self.inner.db.counts()
    }

    /// Registers the store's metrics in `registry`: `mimi_store_batch_size`,
    /// `mimi_store_commit_seconds`, `mimi_rooms`, `mimi_clients`,
    /// `mimi_store_write_failures_total`, `mimi_store_recoveries_total` and
    /// `mimi_store_writable` ([`recovery`]).
    pub fn register_metrics(&self, registry: &crate::metrics::Registry) -> Result<(), crate::metrics::MetricsError> {
        self.inner.db.register_metrics(registry)
    }

    /// How many batches (durable transactions) the writer committed since the file was opened.
    pub fn commits(&self) -> u64 {
        self.inner.commits.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The format `tx`'s file is in: the `meta` record if there is one; for a new (empty) file,
/// [`FORMAT_VERSION`], recorded now (committed with the tables); otherwise a file from before the
/// record existed.
fn recorded_format(tx: &redb::WriteTransaction) -> Result<u64, StoreError> {
    let names: Vec<String> = tx.list_tables().map_err(io)?.map(|t| redb::TableHandle::name(&t).to_owned()).collect();
    if names.iter().any(|n| n == redb::TableHandle::name(&META)) {
        let meta = tx.open_table(META).map_err(io)?;
        let format = meta.get(FORMAT_KEY).map_err(io)?.map(|v| v.value());
        return format.ok_or(StoreError::Corrupt { table: "meta", why: "no format record".into() });
    }
    if !names.is_empty() {
        return Ok(UNRECORDED_FORMAT);
    }
    tx.open_table(META).map_err(io)?.insert(FORMAT_KEY, FORMAT_VERSION).map_err(io)?;
    Ok(FORMAT_VERSION)
}

impl Store for RedbStore {
    fn write(&self, write: Write) -> WriteTicket {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let sender = self.inner.jobs.lock().ok().and_then(|j| j.clone());
        match sender {
            Some(jobs) => {
                if let Err(mpsc::SendError((_, reply))) = jobs.send((write, tx)) {
                    let _ = reply.send(Err(StoreError::Closed));
                }
            }
            None => {
                let _ = tx.send(Err(StoreError::Closed));
            }
        }
        rx
    }

    async fn rooms(&self) -> Result<Vec<StoredRoom>, StoreError> {
        reads::rooms(&*self.inner.db.db()?)
    }

    async fn room(&self, room: &str) -> Result<Option<StoredRoom>, StoreError> {
        reads::room(&*self.inner.db.db()?, room)
    }

    async fn log_after(&self, room: &str, after: u64, limit: usize) -> Result<Vec<LogEntry>, StoreError> {
        reads::log_after(&*self.inner.db.db()?, room, after, limit)
    }

    async fn queue_after(&self, client: &str, after: u64, limit: usize) -> Result<Vec<QueueItem>, StoreError> {
        reads::queue_after(&*self.inner.db.db()?, client, after, limit)
    }

    async fn token(&self, token_hash: &[u8]) -> Result<Option<TokenRecord>, StoreError> {
        reads::token(&*self.inner.db.db()?, token_hash)
    }

    async fn client(&self, client: &str) -> Result<Option<ClientRecord>, StoreError> {
        reads::client(&*self.inner.db.db()?, client)
    }

    async fn clients_of(&self, user: &str) -> Result<Vec<(String, ClientRecord)>, StoreError> {
        reads::clients_of(&*self.inner.db.db()?, user)
    }

    async fn key_package_owner(&self, reference: &[u8]) -> Result<Option<String>, StoreError> {
        reads::key_package_owner(&*self.inner.db.db()?, reference)
    }

    async fn outbox_cursor(&self, peer: &str, room: &str) -> Result<u64, StoreError> {
        reads::outbox_cursor(&*self.inner.db.db()?, peer, room)
    }

    async fn mirror_after(&self, room: &str, after: u64, limit: usize) -> Result<Vec<LogEntry>, StoreError> {
        reads::mirror_after(&*self.inner.db.db()?, room, after, limit)
    }

    async fn mirror_last(&self, room: &str) -> Result<u64, StoreError> {
        reads::mirror_last(&*self.inner.db.db()?, room)
    }

    async fn seen(&self, hash: &[u8]) -> Result<bool, StoreError> {
        reads::seen(&*self.inner.db.db()?, hash)
    }

    async fn relayed_by(&self, hash: &[u8]) -> Result<Option<String>, StoreError> {
        reads::relayed_by(&*self.inner.db.db()?, hash)
    }

    async fn key_package_claim(&self, reference: &[u8]) -> Result<Option<KeyPackageClaim>, StoreError> {
        reads::key_package_claim(&*self.inner.db.db()?, reference)
    }

    async fn consent(
        &self,
        requester: &str,
        target: &str,
        room: Option<&str>,
    ) -> Result<Option<ConsentState>, StoreError> {
        reads::consent(&*self.inner.db.db()?, requester, target, room)
    }

    async fn user_exists(&self, user: &str) -> Result<bool, StoreError> {
        reads::user_exists(&*self.inner.db.db()?, user)
    }

    fn unwritable(&self) -> Option<String> {
        self.inner.db.why()
    }

    async fn abuse_reports(&self, room: &str) -> Result<Vec<StoredAbuseReport>, StoreError> {
        reads::abuse_reports(&*self.inner.db.db()?, room)
    }

    async fn devices(&self) -> Result<Vec<(String, String, ClientRecord)>, StoreError> {
        reads::devices(&*self.inner.db.db()?)
    }

    async fn mirrored_rooms(&self) -> Result<Vec<(String, u64)>, StoreError> {
        reads::mirrored_rooms(&*self.inner.db.db()?)
    }
}

#[cfg(test)]
mod fault_tests;
#[cfg(test)]
mod tests;
