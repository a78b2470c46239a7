//! The database handle of [`super::RedbStore`] and how the store comes back after a failed write.
//!
//! redb latches the first I/O error of a transaction (a full disk, a failed sync): from then on
//! every write of that `Database` fails with "previous I/O error" until it is closed and opened
//! again. So a failed write must not leave the store broken for good. The writer thread
//! ([`super::writer`]) reports it here ([`Handle::lost_write`]): the store is then
//! **unwritable**, every write is refused at once with [`StoreError::Unavailable`] (503 with
//! `Retry-After`, nothing written), `/readyz` says why, and reads go on from the last committed
//! state. Every [`RECOVERY_INTERVAL`] the writer tries to recover ([`Handle::try_recover`]): it
//! closes the database (once no read holds it), opens the file again through its [`Backing`]
//! (redb repairs what the failed transaction left: the last committed transaction is what
//! survives, so nothing acknowledged is lost and nothing is half-written) and commits a small
//! durable probe. Once the probe is on the disk, the store takes writes again. Before it closes
//! anything, it checks that the disk takes a write at all ([`Backing::probe`]): while it does
//! not, the old database stays open and serves reads.
//!
//! If the file still cannot be opened (the repair needs more space than the probe showed),
//! reads are refused too until a later attempt opens it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use redb::{Database, DatabaseError, Durability, ReadableTable as _};

use super::metrics::{Committed, Counts, StoreMetrics};
use super::schema::{io, META};
use crate::metrics::{MetricsError, Registry};
use crate::store::StoreError;

/// How often an unwritable store tries to open its file again.
pub const RECOVERY_INTERVAL: Duration = Duration::from_millis(500);

/// How long a recovery waits for reads in flight to let go of the old database.
const READERS_WAIT: Duration = Duration::from_secs(2);

/// The `meta` key of the durable probe a recovery commits.
const PROBE_KEY: &str = "write-probe";

/// Where a store's database lives: how to open it, at start and again after a failed write.
pub trait Backing: Send + Sync + 'static {
    /// Opens (or creates) the database; redb repairs it first if it was not closed cleanly.
    fn open(&self) -> Result<Database, DatabaseError>;
    /// The database file, for messages.
    fn path(&self) -> &Path;
    /// Whether the medium takes a durable write now: [`PROBE_BYTES`] written to a file beside
    /// the database and synced, then removed. A recovery tries this first, and keeps the old
    /// database (which still serves reads) while it fails.
    fn probe(&self) -> std::io::Result<()> {
        use std::io::Write as _;
        let path = self.path().with_extension("probe");
        let result = (|| {
            let mut file = std::fs::File::create(&path)?;
            file.write_all(&[0; PROBE_BYTES])?;
            file.sync_all()
        })();
        let _ = std::fs::remove_file(&path);
        result
    }
}

/// The size of the write a recovery probes the medium with first ([`Backing::probe`]).
pub const PROBE_BYTES: usize = 256 * 1024;

/// A database in a file on the local file system (the production backing).
#[derive(Debug, Clone)]
pub struct FileBacking(pub PathBuf);

impl Backing for FileBacking {
    fn open(&self) -> Result<Database, DatabaseError> {
        Database::create(&self.0)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

/// The open database (if any), whether it takes writes, and how to open it again.
pub(super) struct Handle {
    backing: Box<dyn Backing>,
    db: RwLock<Option<Arc<Database>>>,
    writable: AtomicBool,
    /// Why the store does not take writes (while it does not).
    fault: Mutex<Option<String>>,
    /// Writes lost to a storage failure, and recoveries, since the store was opened.
    failures: AtomicU64,
    recoveries: AtomicU64,
    /// The store's metrics (these among them), once registered ([`Handle::register_metrics`]).
    metrics: Mutex<Option<StoreMetrics>>,
}

impl Handle {
    pub(super) fn new(backing: Box<dyn Backing>, db: Database) -> Handle {
        Handle {
            backing,
            db: RwLock::new(Some(Arc::new(db))),
            writable: AtomicBool::new(true),
            fault: Mutex::new(None),
            failures: AtomicU64::new(0),
            recoveries: AtomicU64::new(0),
            metrics: Mutex::new(None),
        }
    }

    /// Registers the store's metrics ([`super::metrics`]) in `registry`: failures and
    /// recoveries counting from the store's opening, the rooms and devices it holds now.
    pub(super) fn register_metrics(&self, registry: &Registry) -> Result<(), MetricsError> {
        let metrics = StoreMetrics::register(registry)?;
        let (failures, recoveries) = self.counts();
        metrics.failures.increment(failures);
        metrics.recoveries.increment(recoveries);
        metrics.writable.set(f64::from(u8::from(self.writable())));
        match self.db().and_then(|db| Counts::read_committed(&db)) {
            Ok(counts) => metrics.set_counts(counts),
            // The next batch creating a room or registering a device sets them.
            Err(e) => tracing::warn!(error = %e, "store counts unreadable for the metrics"),
        }
        *self.metrics.lock().unwrap_or_else(PoisonError::into_inner) = Some(metrics);
        Ok(())
    }

    /// Records a batch the writer committed in the metrics.
    pub(super) fn committed(&self, batch: &Committed) {
        self.observe(|m| m.committed(batch));
    }

    fn observe(&self, what: impl FnOnce(&StoreMetrics)) {
        if let Some(m) = self.metrics.lock().unwrap_or_else(PoisonError::into_inner).as_ref() {
            what(m);
        }
    }

    /// The open database, for one read or one batch; refused while the file cannot be opened.
    pub(super) fn db(&self) -> Result<Arc<Database>, StoreError> {
        let db = self.db.read().unwrap_or_else(PoisonError::into_inner);
        db.clone().ok_or_else(|| StoreError::Unavailable(self.why().unwrap_or_else(|| "the store is reopening".into())))
    }

    /// Whether writes are taken.
    pub(super) fn writable(&self) -> bool {
        self.writable.load(Ordering::Acquire)
    }

    /// Why writes are not taken (`None` while they are).
    pub(super) fn why(&self) -> Option<String> {
        self.fault.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The error for a write refused while the store is unwritable.
    pub(super) fn refusal(&self) -> StoreError {
        StoreError::Unavailable(self.why().unwrap_or_else(|| "the store is recovering".into()))
    }

    /// A batch failed in storage (`error`): no write of it is on the disk, and redb refuses
    /// every later one until the file is opened again.
    pub(super) fn lost_write(&self, error: &StoreError) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let why = format!("a write failed ({error}); the store is recovering");
        *self.fault.lock().unwrap_or_else(PoisonError::into_inner) = Some(why);
        self.writable.store(false, Ordering::Release);
        self.observe(|m| {
            m.failures.increment(1);
            m.writable.set(0.0);
        });
        tracing::error!(path = %self.backing.path().display(), %error, "store write failed: refusing writes until the file is opened again");
    }

    /// Tries once to make the store writable again: closes the database, opens the file again
    /// and commits a durable probe. On failure the store stays unwritable (with the reason).
    pub(super) fn try_recover(&self) -> Result<(), StoreError> {
        let result = self.reopen();
        match &result {
            Ok(()) => {
                *self.fault.lock().unwrap_or_else(PoisonError::into_inner) = None;
                self.recoveries.fetch_add(1, Ordering::Relaxed);
                self.writable.store(true, Ordering::Release);
                self.observe(|m| {
                    m.recoveries.increment(1);
                    m.writable.set(1.0);
                });
                tracing::warn!(path = %self.backing.path().display(), "store recovered: taking writes again");
            }
            Err(e) => {
                let why = format!("a write failed and the store cannot recover yet ({e})");
                *self.fault.lock().unwrap_or_else(PoisonError::into_inner) = Some(why);
                tracing::debug!(path = %self.backing.path().display(), error = %e, "store recovery failed; will retry");
            }
        }
        result
    }

    fn reopen(&self) -> Result<(), StoreError> {
        self.backing.probe().map_err(|e| StoreError::Unavailable(format!("the disk takes no writes yet: {e}")))?;
        let old = self.db.write().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(old) = old {
            // Reads in flight hold the old database; the file can be opened again only once it
            // is closed (redb locks it).
            let deadline = Instant::now() + READERS_WAIT;
            while Arc::strong_count(&old) > 1 {
                if Instant::now() >= deadline {
                    *self.db.write().unwrap_or_else(PoisonError::into_inner) = Some(old);
                    return Err(StoreError::Unavailable("reads still hold the database".into()));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            drop(old);
        }
        let db = self.backing.open().map_err(io)?;
        let probe = (|| {
            let mut tx = db.begin_write().map_err(io)?;
            tx.set_durability(Durability::Immediate).map_err(io)?;
            {
                let mut meta = tx.open_table(META).map_err(io)?;
                let n = meta.get(PROBE_KEY).map_err(io)?.map(|v| v.value()).unwrap_or(0);
                meta.insert(PROBE_KEY, n + 1).map_err(io)?;
            }
            tx.commit().map_err(io)
        })();
        // Even if the probe failed, the reopened file serves reads.
        *self.db.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(db));
        probe
    }

    /// Writes lost to storage failures and recoveries since the store was opened.
    pub(super) fn counts(&self) -> (u64, u64) {
        (self.failures.load(Ordering::Relaxed), self.recoveries.load(Ordering::Relaxed))
    }
}
