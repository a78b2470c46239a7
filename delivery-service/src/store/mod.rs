//! Persistence: the only module that knows table layouts.
//!
//! What is stored: each room's latest checkpoint and its append-only log (which is also the
//! fanout outbox: readers keep cursors into it), each client's small queue (Welcomes: each
//! Welcome's bytes are stored once, however many local clients it adds, and each client's queue
//! record refers to them, and goes with the last of them), our devices (each with its
//! lifecycle, [`ClientRecord`]), the hashes of their bearer tokens with their expiry, the hashes of
//! unspent enrollment codes, and the KeyPackage directory. As a follower (rooms whose hub is another
//! provider): each such room's mirror log (what `/notify` delivered, in arrival order), the hashes
//! of FanoutMessages already taken in (deduplication), which local client relayed which MLS
//! message (echo suppression) and which local clients may read a mirror. As a hub: each
//! KeyPackage claim it served or relayed for one of its rooms ([`KeyPackageClaim`]: which provider
//! the KeyPackageRef came from, for Welcome routing; for which room and requesting provider it
//! was claimed, and whether an Add used it, for the Add check). Consent (protocol-06
//! §5.7): per (requester user, target user, optional room), the last decision or open request.
//! Abuse reports (protocol-06 §5.9) the hub accepted, per room, once per distinct report body.
//!
//! Retention ([`Write::Trim`], run by the provider's retention task): queue items a client read
//! past or older than a TTL, Welcomes no queue item refers to, deduplication and echo records
//! older than a window, and log and mirror entries older than the retention that nothing needs
//! any more ([`rules::log_entry_compactable`]) are deleted. A reader whose cursor is older than
//! what is kept is told so ([`rules::skips_compacted`]) and rejoins.
//!
//! [`Store`] is the narrow interface the provider uses. Back ends:
//! - [`redb::RedbStore`]: one embedded redb file (the provider's store);
//! - [`memory::MemoryStore`]: in memory, for tests and as the plain statement of the semantics.
//!
//! A PostgreSQL back end for multi-node providers would implement the same trait. The rules
//! that are not about tables (fences, which KeyPackage a claim serves, how consent and abuse
//! reports are keyed) are in [`rules`], shared by every back end; `contract` (with `cfg(test)`
//! or the `contract-tests` feature) checks that a back end keeps the trait's semantics.
//!
//! Writes go through [`Store::write`], which returns at once with a [`WriteTicket`]; the write is
//! durable (fsync'd) when the ticket resolves to `Ok`. Concurrent writes are committed together
//! in one transaction (group commit), so the durable cost is per batch, not per message. An
//! append names the sequence number it expects to follow (`entries[0].seq - 1`): a second
//! writer for the same position fails instead of forking the log. Each write is applied whole
//! or not at all.

#[cfg(any(test, feature = "contract-tests"))]
pub mod contract;
pub mod memory;
pub mod redb;
pub mod rules;

use std::future::Future;

use crate::hub::{Checkpoint, LogEntry, QueueItem};
use mimi_protocol::consent::ConsentOperation;

/// Failures of the store.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened, read or written.
    #[error("storage failure: {0}")]
    Io(String),
    /// An append did not follow the room's last entry (someone else appended first).
    #[error("log of {room} is at {last}, append expected {expected}")]
    Conflict {
        /// The room URI.
        room: String,
        /// The room's last sequence number.
        last: u64,
        /// The sequence number the append expected to follow.
        expected: u64,
    },
    /// The room does not exist (or already exists, for a create).
    #[error("room {room}: {why}")]
    Room {
        /// The room URI.
        room: String,
        /// What is wrong.
        why: &'static str,
    },
    /// A stored value could not be decoded.
    #[error("corrupt record in {table}: {why}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// Decoder message.
        why: String,
    },
    /// The writer is gone (shutting down).
    #[error("the store is shut down")]
    Closed,
    /// The store cannot write for now (a write failed: full disk, I/O error) and is recovering
    /// by itself; nothing was written.
    #[error("the store is not taking writes: {0}")]
    Unavailable(String),
    /// A write a quota refused (see [`crate::hub::admission::quota`]); nothing was written.
    #[error("refused: {0}")]
    Quota(#[from] QuotaRefusal),
    /// A registration, token or operator's change of a device that the device's records do not
    /// admit (see [`crate::auth::clients`]); nothing was written.
    #[error("refused: {0}")]
    Auth(#[from] AuthRefusal),
    /// The file was written in another on-disk format than this build reads (see
    /// [`redb::FORMAT_VERSION`]); nothing was changed in it. There is no migration.
    #[error(
        "store format {found}, this build reads {expected}; {path} was written by {} mimi-ds and is not \
         migrated: run the mimi-ds that wrote it, or move the file away to start with an empty store",
        if found < expected { "an older" } else { "a newer" }
    )]
    Format {
        /// The database file.
        path: String,
        /// The format the file records (1 for files from before the format record existed).
        found: u64,
        /// The format this build reads and writes.
        expected: u64,
    },
}

// What the hub's admission rules read back (claims, consent) is declared once, in their terms;
// the store keeps it and adds the stored byte of a consent state below.
pub use crate::hub::admission::{ClaimScope, ConsentState, KeyPackageClaim};
// So are the quotas a write is held to.
pub use crate::hub::admission::QuotaRefusal;
// So are our devices' records: the store keeps them as authentication decides on them.
use crate::auth::AuthRefusal;
pub use crate::auth::{ClientRecord, ClientStatus, CodeRecord, Ending, StoredToken, TokenRecord, Voucher};

/// A KeyPackage in the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKeyPackage {
    /// Its KeyPackageRef (the hash the Welcome names).
    pub reference: Vec<u8>,
    /// The owning client URI.
    pub client: String,
    /// The owning client's user URI.
    pub user: String,
    /// The KeyPackage (an MLSMessage).
    pub key_package: Vec<u8>,
    /// A last-resort KeyPackage is served again when nothing else is left, and never deleted.
    pub last_resort: bool,
    /// Expiry (the KeyPackage's `not_after`), seconds since the UNIX epoch.
    pub not_after: u64,
}

/// One durable change; several are committed together.
#[derive(Debug, Clone)]
pub enum Write {
    /// A new room with its initial checkpoint. With a `creator`, the rooms its user created are
    /// counted, and the room is refused ([`StoreError::Quota`], nothing written) if the user
    /// created `creator.max_rooms` already ([`crate::hub::admission::quota::rooms`]).
    CreateRoom {
        /// The initial checkpoint.
        checkpoint: Box<Checkpoint>,
        /// Whose room it is, counted against its cap (`None`: not counted).
        creator: Option<RoomCreator>,
    },
    /// Log entries of one room, with the per-client queue items they produce.
    Append {
        /// The room URI.
        room: String,
        /// Entries in order; the first must follow the room's last entry.
        entries: Vec<LogEntry>,
        /// Welcomes for local clients (each stored once, queued for each of its clients).
        queue: Vec<WelcomeDelivery>,
        /// KeyPackageRefs whose claims for this room the entries use (Adds): marked used in the
        /// same transaction, so an accepted Add and the spent claim are durable together.
        claims_used: Vec<Vec<u8>>,
    },
    /// A newer checkpoint of an existing room.
    Checkpoint(Box<Checkpoint>),
    /// A device registration at `now_ms`, presenting `voucher`; decided by
    /// [`crate::auth::admit_registration`] on the device's record and the voucher's (the code, or
    /// the other device's token). Admitted: the device is recorded active, a code is spent, the
    /// token (if any) stored, all in this write; a login for an active device writes nothing.
    RegisterClient {
        /// The client URI.
        client: String,
        /// Its user's URI.
        user: String,
        /// What the registration presented.
        voucher: Voucher,
        /// Its first bearer token; none for a login's first use (the login is the device's
        /// credential, and finding the device registered already is no refusal then).
        token: Option<StoredToken>,
        /// Current time, milliseconds since the UNIX epoch.
        now_ms: u64,
    },
    /// A new bearer token for an active device, replacing (deleting) `replaces` if given, which
    /// must be a live token of the same device ([`crate::auth::admit_token`]). The device's expired
    /// tokens are deleted with it.
    IssueToken {
        /// The client URI.
        client: String,
        /// The new token.
        token: StoredToken,
        /// The hash of the token it replaces (a renewal).
        replaces: Option<Vec<u8>>,
        /// Current time, milliseconds since the UNIX epoch.
        now_ms: u64,
    },
    /// An enrollment code (by its hash) for a device of `code.user`; expired codes are forgotten.
    AddEnrollmentCode {
        /// SHA-256 of the normalised code.
        hash: Vec<u8>,
        /// For whom, until when.
        code: CodeRecord,
        /// Current time, milliseconds since the UNIX epoch.
        now_ms: u64,
    },
    /// Revokes or removes a registered device ([`crate::auth::admit_ending`]): its tokens and
    /// unclaimed KeyPackages are deleted, claims no longer serve it; a removed device also leaves
    /// its user's clients (its name is free again).
    EndClient {
        /// The client URI.
        client: String,
        /// Revocation or removal.
        ending: Ending,
        /// Current time, milliseconds since the UNIX epoch.
        now_ms: u64,
    },
    /// KeyPackages uploaded by one client: the client's expired KeyPackages are deleted, then
    /// the upload is refused whole ([`StoreError::Quota`]) if the client would keep more than
    /// `max_per_client` ([`crate::hub::admission::quota::key_packages`]).
    PutKeyPackages {
        /// The KeyPackages, all of one client.
        key_packages: Vec<StoredKeyPackage>,
        /// The most the client may keep (`usize::MAX`: no cap).
        max_per_client: usize,
        /// Current time, seconds since the UNIX epoch (what has expired).
        now_secs: u64,
    },
    /// A follower provider acknowledged (201) a room's log up to `seq`: its outbox cursor moves
    /// there (never backwards).
    AdvanceOutbox {
        /// The follower's domain.
        peer: String,
        /// The room URI.
        room: String,
        /// The last log position delivered.
        seq: u64,
    },
    /// Follower intake of one `/notify` body for `room`: mirror entries (the first must follow
    /// the mirror's last), Welcome queue items, the hashes of the FanoutMessages taken in, and
    /// local clients welcomed (now allowed to read the mirror). All or nothing.
    Mirror {
        /// The room URI.
        room: String,
        /// Mirror entries, numbered from the mirror's last position + 1.
        entries: Vec<LogEntry>,
        /// Welcomes for local clients (each stored once, queued for each of its clients).
        queue: Vec<WelcomeDelivery>,
        /// SHA-256 of each FanoutMessage taken in.
        seen: Vec<Vec<u8>>,
    },
    /// A local client relayed an MLS message (hash) to a room's hub: its echo is its own (who may
    /// read a mirror is the follower's copy of the room's to say, not the store's).
    Relayed {
        /// SHA-256 of the MLSMessage.
        hash: Vec<u8>,
        /// The client URI.
        client: String,
    },
    /// KeyPackageRefs claimed from another provider through this hub for one of its rooms:
    /// recorded as unused claims of `scope` (replacing older records of the same refs). A Welcome
    /// naming them goes to `scope.provider`.
    KeyPackageClaims {
        /// The KeyPackageRefs.
        references: Vec<Vec<u8>>,
        /// For what they were claimed.
        scope: ClaimScope,
    },
    /// A consent operation for one scope: `request` records an open request unless a decision
    /// exists, `cancel` withdraws an open request (a decision stays), `grant` and `revoke` record
    /// the decision (replacing whatever was there).
    Consent {
        /// The requester's user URI.
        requester: String,
        /// The target's user URI.
        target: String,
        /// The room URI, for consent to one room only.
        room: Option<String>,
        /// What happened.
        operation: ConsentOperation,
    },
    /// Claims one KeyPackage per client of `user` (single use; a last-resort one is kept):
    /// expired ones are skipped and deleted.
    ClaimKeyPackages {
        /// The user URI whose clients are claimed.
        user: String,
        /// Current time, seconds since the UNIX epoch.
        now_secs: u64,
        /// If the claim is for a room of this hub: the claimed refs are recorded as claims of this
        /// scope in the same transaction (see [`Write::KeyPackageClaims`]).
        scope: Option<ClaimScope>,
    },
    /// Keeps an abuse report whose franks verified. A byte-identical report for the same room
    /// is kept once (the first reception's time and reporter stay) and not counted again; a new
    /// one is counted for (`counted_as`, its room) and refused ([`StoreError::Quota`], nothing
    /// kept) if that reporter has `max_per_reporter` kept about the room already
    /// ([`crate::hub::admission::quota::abuse_reports`]).
    AbuseReport {
        /// The report.
        report: StoredAbuseReport,
        /// Whose count it goes to: the reporting user.
        counted_as: String,
        /// The most reports kept per (reporter, room) (`usize::MAX`: no cap).
        max_per_reporter: usize,
    },
    /// One pass of retention: deletes what is no longer needed ([`Trim`]), at most `budget`
    /// records; [`WriteResult::Trimmed`] says what went and whether more is due.
    Trim(Trim),
}

/// How long what is trimmed by age is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// A queue item (a Welcome for one of our clients) nobody read past.
    pub queue_ttl_ms: u64,
    /// The hashes of FanoutMessages taken in (deduplication) and of relayed messages (echo
    /// suppression).
    pub dedup_window_ms: u64,
    /// Room log and mirror entries, counted from their acceptance by the hub.
    pub log_retention_ms: u64,
}

/// One retention pass (see [`Write::Trim`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trim {
    /// Current time, milliseconds since the UNIX epoch: windows end here.
    pub now_ms: u64,
    /// Queue positions clients read past (client URI, position): their items up to it go.
    pub read_past: Vec<(String, u64)>,
    /// The windows.
    pub retention: Retention,
    /// The most records one pass deletes (a pass is one transaction, which holds up every other
    /// write while it runs).
    pub budget: usize,
}

impl Trim {
    /// The end of a window of `window_ms`: what was stored at or before it is past the window.
    pub fn cutoff(&self, window_ms: u64) -> u64 {
        self.now_ms.saturating_sub(window_ms)
    }
}

/// What a retention pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Trimmed {
    /// Queue items.
    pub queue_items: u64,
    /// Stored Welcomes (no queue item referred to them any more).
    pub welcomes: u64,
    /// Deduplication records of FanoutMessages taken in.
    pub seen: u64,
    /// Echo-suppression records of relayed messages.
    pub relayed: u64,
    /// Room log entries.
    pub log_entries: u64,
    /// Mirror entries.
    pub mirror_entries: u64,
    /// The budget ran out: another pass is due at once.
    pub more: bool,
}

impl Trimmed {
    /// Records deleted, for the budget.
    pub fn total(&self) -> u64 {
        self.queue_items + self.welcomes + self.seen + self.relayed + self.log_entries + self.mirror_entries
    }
}

/// A read of a room log (or mirror) whose cursor is older than what retention kept: the reader
/// cannot catch up from the log and must rejoin the room by external commit (410 Gone).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the log of {room} is kept from position {first}; a cursor at {after} is older than that: rejoin the room \
     by external commit"
)]
pub struct Compacted {
    /// The room URI.
    pub room: String,
    /// The reader's cursor.
    pub after: u64,
    /// The first position kept.
    pub first: u64,
}

impl Compacted {
    /// `entries`, read after `after`, if they follow it without a gap (retention compacts only a
    /// log's beginning, so a gap means the cursor is older than what is kept).
    pub fn check(room: &str, after: u64, entries: Vec<LogEntry>) -> Result<Vec<LogEntry>, Compacted> {
        let first = entries.first().map(|e| e.seq);
        if rules::skips_compacted(after, first) {
            return Err(Compacted { room: room.to_owned(), after, first: first.unwrap_or_default() });
        }
        Ok(entries)
    }
}

/// The user a new room is counted for (see [`Write::CreateRoom`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomCreator {
    /// The user URI of the creating client.
    pub user: String,
    /// The most rooms the user's clients may have created here.
    pub max_rooms: usize,
}

impl Write {
    /// An abuse report kept without a cap (tests, seeding a store), counted for its `reporter`.
    pub fn abuse_report(report: StoredAbuseReport) -> Write {
        let counted_as = report.reporter.clone();
        Write::AbuseReport { report, counted_as, max_per_reporter: usize::MAX }
    }

    /// A room created without counting it for anyone (tests, benches, seeding a store).
    pub fn create_room(checkpoint: Checkpoint) -> Write {
        Write::CreateRoom { checkpoint: Box::new(checkpoint), creator: None }
    }

    /// KeyPackages put without a cap, none expired (tests, benches, seeding a store).
    pub fn put_key_packages(key_packages: Vec<StoredKeyPackage>) -> Write {
        Write::PutKeyPackages { key_packages, max_per_client: usize::MAX, now_secs: 0 }
    }
}

/// One Welcome for local clients: what each of their queue items carries, held once however
/// many clients it adds (a commit adding a thousand clients to a large room would otherwise
/// copy a Welcome of a megabyte or more a thousand times, in memory and on disk).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WelcomeDelivery {
    /// The room URI.
    pub room: String,
    /// The log (or mirror) position of the commit that added the clients: they read after it.
    pub after_seq: u64,
    /// The Welcome (an MLSMessage).
    pub welcome: Vec<u8>,
    /// The room's ratchet tree after that commit (RFC 9420 encoding), for joiners whose Welcome
    /// does not carry it; empty if it does.
    pub ratchet_tree: Vec<u8>,
    /// The local clients it is for (client URIs), each of which gets one queue item.
    pub clients: Vec<String>,
}

impl WelcomeDelivery {
    /// The queue item `client` reads for this Welcome, at position `seq` of its queue.
    pub fn item(&self, seq: u64) -> QueueItem {
        QueueItem {
            seq,
            room: self.room.as_bytes().to_vec().into(),
            after_seq: self.after_seq,
            welcome: self.welcome.clone().into(),
            ratchet_tree: self.ratchet_tree.clone().into(),
        }
    }
}

/// An accepted abuse report as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAbuseReport {
    /// The room URI reported to.
    pub room: String,
    /// Who filed it: `provider <domain>` or `client <URI>`.
    pub reporter: String,
    /// When it was accepted, milliseconds since the UNIX epoch.
    pub received_ms: u64,
    /// The `AbuseReport` as received.
    pub report: Vec<u8>,
}

impl ConsentState {
    /// The stored byte.
    pub fn to_byte(self) -> u8 {
        match self {
            ConsentState::Requested => 1,
            ConsentState::Granted => 2,
            ConsentState::Revoked => 3,
        }
    }

    /// From the stored byte.
    pub fn from_byte(b: u8) -> Option<Self> {
        match b {
            1 => Some(ConsentState::Requested),
            2 => Some(ConsentState::Granted),
            3 => Some(ConsentState::Revoked),
            _ => None,
        }
    }

    /// The state after `operation`, from `current` (`None`: no record left).
    pub fn after(current: Option<ConsentState>, operation: ConsentOperation) -> Option<ConsentState> {
        match operation {
            ConsentOperation::Request => current.or(Some(ConsentState::Requested)),
            ConsentOperation::Cancel => current.filter(|s| *s != ConsentState::Requested),
            ConsentOperation::Grant => Some(ConsentState::Granted),
            ConsentOperation::Revoke => Some(ConsentState::Revoked),
        }
    }
}

/// What a write produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteResult {
    /// Nothing to report.
    Done,
    /// The KeyPackages claimed, one per client that had one, and the user's clients that had
    /// none.
    Claimed {
        /// Claimed KeyPackages.
        claimed: Vec<StoredKeyPackage>,
        /// Client URIs of the user with nothing left.
        exhausted: Vec<String>,
    },
    /// What a retention pass deleted.
    Trimmed(Trimmed),
}

/// Resolves when a write is durable (or failed).
pub type WriteTicket = tokio::sync::oneshot::Receiver<Result<WriteResult, StoreError>>;

/// A room as read back at startup: its checkpoint, the entries of the checkpoint's pending
/// proposals, and the log after the checkpoint.
#[derive(Debug, Clone)]
pub struct StoredRoom {
    /// The latest checkpoint.
    pub checkpoint: Checkpoint,
    /// Entries named by `checkpoint.pending_seqs`.
    pub pending: Vec<LogEntry>,
    /// Entries after `checkpoint.seq`.
    pub tail: Vec<LogEntry>,
}

/// The provider's storage.
///
/// Reads return futures (a back end on a network database sends a query and awaits the
/// answer; the in-process back ends answer at once) and writes return a [`WriteTicket`], so
/// that a back end may wait on a database server without blocking the runtime. The trait is
/// only used generically (never as `dyn Store`).
///
/// **No store read while a room's decision lock is held** (the lock `Provider::lock` takes, which
/// serialises the room's decisions): a slow read would stall every request of the room. Reads
/// happen before the lock is taken or after it is released (log entries, once written, never
/// change, so positions taken under the lock can be read after it). There are two exceptions:
/// the admission rules' point lookups through [`crate::hub::admission::HubFacts`] (a handshake's
/// claims and Welcome routing are decided under the lock, so that the claims seen are the claims
/// spent), and [`Store::room`] when a room is reloaded after a failed write (nothing may decide
/// on the room until it is back).
pub trait Store: Send + Sync + 'static {
    /// Queues a write; the ticket resolves once it is durable.
    fn write(&self, write: Write) -> WriteTicket;
    /// Why the store takes no writes now (a failed write it is recovering from), `None` while it
    /// takes them: what `/readyz` reports.
    fn unwritable(&self) -> Option<String> {
        None
    }
    /// Every room, for restart.
    fn rooms(&self) -> impl Future<Output = Result<Vec<StoredRoom>, StoreError>> + Send;
    /// One room, as [`Store::rooms`] reads it (`None` if there is no such room): for reloading a
    /// room after a failed write.
    fn room(&self, room: &str) -> impl Future<Output = Result<Option<StoredRoom>, StoreError>> + Send;
    /// Up to `limit` log entries of `room` after `after`.
    fn log_after(
        &self,
        room: &str,
        after: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<LogEntry>, StoreError>> + Send;
    /// Up to `limit` queue items of `client` after `after`.
    fn queue_after(
        &self,
        client: &str,
        after: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<QueueItem>, StoreError>> + Send;
    /// The token with this hash (its device and expiry), if it was issued and its device was not
    /// revoked or removed since.
    fn token(&self, token_hash: &[u8]) -> impl Future<Output = Result<Option<TokenRecord>, StoreError>> + Send;
    /// The record of a device of ours (a client URI), in whatever state it is.
    fn client(&self, client: &str) -> impl Future<Output = Result<Option<ClientRecord>, StoreError>> + Send;
    /// The registered (active or revoked, not removed) devices of a local user, in URI order.
    fn clients_of(&self, user: &str) -> impl Future<Output = Result<Vec<(String, ClientRecord)>, StoreError>> + Send;
    /// The client a KeyPackageRef was uploaded by (kept after the claim, for Welcome routing).
    fn key_package_owner(&self, reference: &[u8]) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
    /// The last log position of `room` that `peer` acknowledged (0 if none).
    fn outbox_cursor(&self, peer: &str, room: &str) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Up to `limit` mirror entries of `room` (a follower's copy) after `after`.
    fn mirror_after(
        &self,
        room: &str,
        after: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<LogEntry>, StoreError>> + Send;
    /// The mirror's last position (0 if empty).
    fn mirror_last(&self, room: &str) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Whether a FanoutMessage with this hash was taken in already.
    fn seen(&self, hash: &[u8]) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// The local client that relayed the MLS message with this hash.
    fn relayed_by(&self, hash: &[u8]) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
    /// The claim recorded for a KeyPackageRef claimed through this hub (the latest one).
    fn key_package_claim(
        &self,
        reference: &[u8],
    ) -> impl Future<Output = Result<Option<KeyPackageClaim>, StoreError>> + Send;
    /// The consent recorded for `requester` → `target` in `room` (`None`: for any room).
    fn consent(
        &self,
        requester: &str,
        target: &str,
        room: Option<&str>,
    ) -> impl Future<Output = Result<Option<ConsentState>, StoreError>> + Send;
    /// Whether the local user (a user URI) has at least one registered (active or revoked) client.
    fn user_exists(&self, user: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// The abuse reports kept for `room`, in the order of their bodies' SHA-256.
    fn abuse_reports(&self, room: &str) -> impl Future<Output = Result<Vec<StoredAbuseReport>, StoreError>> + Send;
    /// Every registered (active or revoked, not removed) device of every local user, as (user URI,
    /// client URI, record), in (user, client) order: the operator's user listing.
    fn devices(&self) -> impl Future<Output = Result<Vec<(String, String, ClientRecord)>, StoreError>> + Send;
    /// Every room this provider keeps a mirror of (as a follower), with the mirror's last
    /// position, in room order.
    fn mirrored_rooms(&self) -> impl Future<Output = Result<Vec<(String, u64)>, StoreError>> + Send;
}

/// Awaits a ticket.
pub async fn settle(ticket: WriteTicket) -> Result<WriteResult, StoreError> {
    ticket.await.unwrap_or(Err(StoreError::Closed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consent_operations_change_the_state() {
        use ConsentOperation::*;
        use ConsentState::*;
        assert_eq!(ConsentState::after(None, Request), Some(Requested));
        assert_eq!(ConsentState::after(Some(Granted), Request), Some(Granted), "a request keeps a decision");
        assert_eq!(ConsentState::after(Some(Requested), Cancel), None);
        assert_eq!(ConsentState::after(Some(Revoked), Cancel), Some(Revoked), "a cancel keeps a decision");
        assert_eq!(ConsentState::after(None, Cancel), None);
        assert_eq!(ConsentState::after(Some(Revoked), Grant), Some(Granted));
        assert_eq!(ConsentState::after(Some(Granted), Revoke), Some(Revoked));
        for s in [Requested, Granted, Revoked] {
            assert_eq!(ConsentState::from_byte(s.to_byte()), Some(s));
        }
        assert_eq!(ConsentState::from_byte(0), None);
    }
}
