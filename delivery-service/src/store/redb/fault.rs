//! A redb storage back end that fails on purpose: the file back end with faults injected where a
//! test chooses, to show what the store does when the disk fills, a write is cut short, the
//! process dies mid-transaction, or the power goes.
//!
//! [`FaultyBacking`] opens the store's file through [`FaultyFile`], which passes every call to
//! redb's own `FileBackend` unless the shared [`FaultPlan`] says otherwise:
//!
//! - **disk full** ([`FaultPlan::set_disk_full`]): every write and every growth of the file fails
//!   with `ENOSPC` until it is turned off;
//! - **one fault at a chosen operation** ([`FaultPlan::inject_at`]): the mutating operations
//!   (write, resize, sync) are counted from the plan's creation, and the chosen one fails with
//!   `ENOSPC` ([`Fault::NoSpace`]), lands only its first half and then fails
//!   ([`Fault::ShortWrite`]), fails to sync ([`Fault::SyncFails`]), kills the process on the
//!   spot ([`Fault::Kill`], what the operating system has is kept, as after `SIGKILL`), or cuts
//!   the power ([`Fault::PowerCut`]);
//! - **a slow disk** ([`FaultPlan::set_sync_delay`]): every sync takes longer;
//! - **power cut** ([`FaultPlan::power_cut`]): every write since the last successful sync is
//!   undone in the file (it was only in the page cache) and every later operation fails, as if
//!   the machine were off; the file is then what the disk held.
//!
//! It is used by the store's tests and by integration tests that run a provider on it; it is
//! not meant for production (it reads back what each write replaces, for the power cut).

use std::fs::File;
use std::io;
use std::ops::Bound;
use std::os::unix::fs::FileExt as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use redb::backends::FileBackend;
use redb::{BackendError, Database, DatabaseError, StorageBackend};

use super::Backing;

/// What happens at an injected fault point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The write or growth fails with `ENOSPC`; nothing of it lands.
    NoSpace,
    /// The first half of the write lands, then it fails with `ENOSPC`.
    ShortWrite,
    /// The sync fails with `EIO` (what was written may or may not be on the disk).
    SyncFails,
    /// The process ends on the spot (`exit(137)`, without unwinding: no destructor runs, as
    /// after `SIGKILL`); what was written before stays in the operating system's cache.
    Kill,
    /// The power goes ([`FaultPlan::power_cut`]) instead of this operation.
    PowerCut,
}

/// The faults a [`FaultyFile`] injects, shared between the test and the back end (and every
/// back end opened on it again, so the count of operations runs on across reopens).
#[derive(Debug, Default)]
pub struct FaultPlan {
    state: Mutex<PlanState>,
    /// Syncs waiting out their delay now.
    syncing: std::sync::atomic::AtomicUsize,
}

#[derive(Debug, Default)]
struct PlanState {
    /// Mutating operations so far (write, resize, sync), counted from 1.
    operations: u64,
    /// Every write and growth fails with `ENOSPC`.
    full: bool,
    /// The one fault to inject, at this operation.
    at: Option<(u64, Fault)>,
    /// A duplicate of the open file, to undo unsynced writes on a power cut.
    file: Option<File>,
    /// What each write since the last sync replaced (offset, old bytes), in order.
    undo: Vec<(u64, Vec<u8>)>,
    /// The file's length at the last sync, if it changed since.
    length_at_sync: Option<u64>,
    /// The power is off: every operation fails.
    off: bool,
    /// How long each sync takes on top of the real one (a slow disk).
    sync_delay: std::time::Duration,
}

/// `ENOSPC` (28 on Linux), as the kernel reports a full disk.
fn no_space() -> io::Error {
    const ENOSPC: i32 = 28;
    io::Error::from_raw_os_error(ENOSPC)
}

/// `EIO`, as the kernel reports a failed write-back.
fn io_error(what: &str) -> io::Error {
    io::Error::other(format!("injected I/O error: {what}"))
}

impl FaultPlan {
    /// A plan that injects nothing (yet).
    pub fn new() -> Arc<FaultPlan> {
        Arc::new(FaultPlan::default())
    }

    fn state(&self) -> MutexGuard<'_, PlanState> {
        // A panic while it was held leaves counts at worst one off: use it as it is.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Fills the disk (every write and growth fails with `ENOSPC`) or frees it.
    pub fn set_disk_full(&self, full: bool) {
        self.state().full = full;
    }

    /// Makes every sync take `delay` longer (a slow disk), or, with zero, no longer.
    pub fn set_sync_delay(&self, delay: std::time::Duration) {
        self.state().sync_delay = delay;
    }

    /// How many syncs are waiting out their delay ([`FaultPlan::set_sync_delay`]) now.
    pub fn syncs_waiting(&self) -> usize {
        self.syncing.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Injects `fault` at the `operation`-th mutating operation (counted from 1 since the plan
    /// was made; see [`FaultPlan::operations`]). Replaces a fault not yet injected.
    pub fn inject_at(&self, operation: u64, fault: Fault) {
        self.state().at = Some((operation, fault));
    }

    /// Mutating operations (writes, resizes, syncs) so far.
    pub fn operations(&self) -> u64 {
        self.state().operations
    }

    /// Cuts the power: the writes since the last successful sync are undone in the file (the
    /// disk never had them) and every later operation of the back end fails. The file can then
    /// be opened again (with another back end) to see what survived.
    pub fn power_cut(&self) -> io::Result<()> {
        cut(&mut self.state())
    }
}

/// Undoes the writes since the last sync and turns the power off.
fn cut(s: &mut PlanState) -> io::Result<()> {
    s.off = true;
    let undo = std::mem::take(&mut s.undo);
    let length = s.length_at_sync.take();
    if let Some(file) = s.file.as_ref() {
        for (offset, old) in undo.iter().rev() {
            file.write_all_at(old, *offset)?;
        }
        if let Some(length) = length {
            file.set_len(length)?;
        }
        file.sync_all()?;
    }
    Ok(())
}

/// redb's file back end with the faults of a [`FaultPlan`].
#[derive(Debug)]
pub struct FaultyFile {
    inner: FileBackend,
    plan: Arc<FaultPlan>,
}

impl FaultyFile {
    /// The back end on `file`, injecting what `plan` says.
    pub fn new(file: File, plan: Arc<FaultPlan>) -> Result<FaultyFile, DatabaseError> {
        let duplicate = file.try_clone().map_err(|e| DatabaseError::Storage(e.into()))?;
        {
            let mut s = plan.state();
            s.file = Some(duplicate);
            s.undo.clear();
            s.length_at_sync = None;
        }
        Ok(FaultyFile { inner: FileBackend::new(file)?, plan })
    }

    /// Counts a mutating operation and returns the fault to inject in it, if any.
    fn next(s: &mut PlanState) -> io::Result<Option<Fault>> {
        if s.off {
            return Err(io_error("the power is off"));
        }
        s.operations += 1;
        match s.at {
            Some((at, fault)) if at == s.operations => {
                s.at = None;
                match fault {
                    Fault::Kill => std::process::exit(137),
                    Fault::PowerCut => {
                        cut(s)?;
                        Err(io_error("the power went"))
                    }
                    _ => Ok(Some(fault)),
                }
            }
            _ => Ok(None),
        }
    }

    /// Remembers what writing `len` bytes at `offset` replaces, for a power cut.
    fn remember(&self, s: &mut PlanState, offset: u64, len: usize) -> io::Result<()> {
        let current = self.inner.len()?;
        if offset < current {
            let end = current.min(offset + len as u64);
            let mut old = vec![0; (end - offset) as usize];
            if let Some(file) = s.file.as_ref() {
                file.read_exact_at(&mut old, offset)?;
            }
            s.undo.push((offset, old));
        }
        if s.length_at_sync.is_none() {
            s.length_at_sync = Some(current);
        }
        Ok(())
    }
}

impl StorageBackend for FaultyFile {
    fn len(&self) -> Result<u64, io::Error> {
        if self.plan.state().off {
            return Err(io_error("the power is off"));
        }
        self.inner.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        if self.plan.state().off {
            return Err(io_error("the power is off"));
        }
        self.inner.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        let mut s = self.plan.state();
        let fault = Self::next(&mut s)?;
        let current = self.inner.len()?;
        if len > current && (s.full || matches!(fault, Some(Fault::NoSpace | Fault::ShortWrite))) {
            return Err(no_space());
        }
        if s.length_at_sync.is_none() {
            s.length_at_sync = Some(current);
        }
        if len < current {
            // What a shrink cuts off comes back on a power cut.
            let mut old = vec![0; (current - len) as usize];
            if let Some(file) = s.file.as_ref() {
                file.read_exact_at(&mut old, len)?;
            }
            s.undo.push((len, old));
        }
        self.inner.set_len(len)
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        let delay = {
            let mut s = self.plan.state();
            if Self::next(&mut s)? == Some(Fault::SyncFails) {
                return Err(io_error("sync failed"));
            }
            s.sync_delay
        };
        // A slow disk: only this sync waits (reads go on).
        self.plan.syncing.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        std::thread::sleep(delay);
        self.plan.syncing.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        let mut s = self.plan.state();
        self.inner.sync_data()?;
        s.undo.clear();
        s.length_at_sync = None;
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        let mut s = self.plan.state();
        let fault = Self::next(&mut s)?;
        if s.full || fault == Some(Fault::NoSpace) {
            return Err(no_space());
        }
        if fault == Some(Fault::ShortWrite) {
            let half = &data[..data.len() / 2];
            self.remember(&mut s, offset, half.len())?;
            self.inner.write(offset, half)?;
            return Err(no_space());
        }
        self.remember(&mut s, offset, data.len())?;
        self.inner.write(offset, data)
    }

    fn close(&self) -> Result<(), io::Error> {
        self.inner.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_range(start, end)
    }

    fn try_lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.query_lock_range(start, end)
    }
}

/// A store file opened through [`FaultyFile`] with a shared [`FaultPlan`] (every reopen after a
/// failed write too).
#[derive(Debug, Clone)]
pub struct FaultyBacking {
    /// The database file.
    pub path: PathBuf,
    /// The faults to inject.
    pub plan: Arc<FaultPlan>,
}

impl Backing for FaultyBacking {
    fn open(&self) -> Result<Database, DatabaseError> {
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.path)
            .map_err(|e| DatabaseError::Storage(e.into()))?;
        redb::Builder::new().create_with_backend(FaultyFile::new(file, self.plan.clone())?)
    }

    fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn probe(&self) -> io::Result<()> {
        let s = self.plan.state();
        if s.off {
            return Err(io_error("the power is off"));
        }
        if s.full {
            return Err(no_space());
        }
        Ok(())
    }
}
