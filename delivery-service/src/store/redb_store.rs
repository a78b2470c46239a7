//! [`Store`] on one redb file, with a writer thread that commits concurrent writes in one
//! durable transaction (group commit).
//!
//! The file records the on-disk format it was written in ([`FORMAT_VERSION`], in the `meta`
//! table, written when the file is created). Opening a file of another format fails with
//! [`StoreError::Format`] before anything is read or written, instead of a decode error deep
//! in a restore; a file from before the record existed counts as format 1.

use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc;
use std::sync::Arc;

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use sha2::{Digest, Sha256};
use tls_codec::{Deserialize as _, TlsDeserialize, TlsSerialize, TlsSize, VLBytes};

use super::{
    ClaimScope, ConsentState, KeyPackageClaim, Store, StoreError, StoredAbuseReport, StoredKeyPackage, StoredRoom,
    WelcomeDelivery, Write, WriteResult, WriteTicket,
};
use crate::hub::{Checkpoint, LogEntry, QueueItem};

/// The on-disk format this build reads and writes. Bump it with every change to a table's
/// types or to how a record is encoded, and say what changed:
/// 1. (no record) everything up to and including log entries without a frank, and the first
///    layout with one (written before the record existed);
/// 2. log entries carry an optional frank; the `meta` table records the format;
/// 3. `remote_key_packages` (KeyPackageRef → provider) replaced by `key_package_claims`
///    (KeyPackageRef → provider, room, requesting provider, used);
/// 4. room checkpoints carry the clients that left the group (`departed`), who may read the log
///    up to the commit that removed them;
/// 5. a `client_queue` record ([`QueueRecord`]) refers to its Welcome in the new `welcomes` table
///    ([`WelcomeRecord`], keyed by its SHA-256) instead of holding a copy of it.
pub const FORMAT_VERSION: u64 = 5;
/// The format of a file without a `meta` table that has other tables.
const UNRECORDED_FORMAT: u64 = 1;
/// The key of the format record in `META`.
const FORMAT_KEY: &str = "format";
/// name → value: the format record. Its types must never change, so any build can read it.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// room URI → latest checkpoint.
const ROOMS: TableDefinition<&str, &[u8]> = TableDefinition::new("rooms");
/// (room URI, seq) → log entry.
const LOG: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("room_log");
/// (client URI, seq) → [`QueueRecord`].
const QUEUE: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("client_queue");
/// SHA-256 of a [`WelcomeRecord`] → that record: each Welcome once, however many queue records
/// refer to it. Never deleted (a client's queue is not trimmed either).
const WELCOMES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("welcomes");
/// token hash → client URI.
const TOKENS: TableDefinition<&[u8], &str> = TableDefinition::new("tokens");
/// (user URI, client URI) → () : a user's registered clients.
const USER_CLIENTS: TableDefinition<(&str, &str), ()> = TableDefinition::new("user_clients");
/// (user URI, client URI, KeyPackageRef) → KeyPackage record.
const KEY_PACKAGES: TableDefinition<(&str, &str, &[u8]), &[u8]> = TableDefinition::new("key_packages");
/// KeyPackageRef → client URI (kept after the claim, for Welcome routing).
const KP_OWNERS: TableDefinition<&[u8], &str> = TableDefinition::new("key_package_owners");
/// (follower domain, room URI) → last log position it acknowledged.
const OUTBOX: TableDefinition<(&str, &str), u64> = TableDefinition::new("outbox_cursors");
/// (room URI, mirror seq) → log entry, for rooms whose hub is another provider.
const MIRROR: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("mirror_log");
/// SHA-256 of a FanoutMessage taken in → () (follower deduplication).
const SEEN: TableDefinition<&[u8], ()> = TableDefinition::new("notify_seen");
/// SHA-256 of a relayed MLSMessage → the local client that relayed it.
const RELAYED: TableDefinition<&[u8], &str> = TableDefinition::new("relayed_by");
/// (room URI, client URI) → () : local clients that may read a mirror.
const READERS: TableDefinition<(&str, &str), ()> = TableDefinition::new("mirror_readers");
/// KeyPackageRef → [`ClaimRecord`], for KeyPackages claimed through this hub for its rooms.
const KP_CLAIMS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("key_package_claims");
/// (requester user URI, target user URI, room URI or "") → [`ConsentState`] byte.
const CONSENT: TableDefinition<(&str, &str, &str), u8> = TableDefinition::new("consent");
/// (room URI, SHA-256 of the report body) → [`AbuseRecord`].
const ABUSE: TableDefinition<(&str, &[u8]), &[u8]> = TableDefinition::new("abuse_reports");

/// How an accepted abuse report is kept in `ABUSE`.
#[derive(TlsSerialize, TlsDeserialize, TlsSize)]
struct AbuseRecord {
    reporter: VLBytes,
    received_ms: u64,
    report: VLBytes,
}

/// How a [`KeyPackageClaim`] is kept in `KP_CLAIMS`.
#[derive(TlsSerialize, TlsDeserialize, TlsSize)]
struct ClaimRecord {
    provider: VLBytes,
    room: VLBytes,
    requester: VLBytes,
    used: u8,
}

impl ClaimRecord {
    fn new(scope: &ClaimScope) -> Self {
        ClaimRecord {
            provider: scope.provider.as_bytes().to_vec().into(),
            room: scope.room.as_bytes().to_vec().into(),
            requester: scope.requester.as_bytes().to_vec().into(),
            used: 0,
        }
    }

    fn into_claim(self) -> KeyPackageClaim {
        let text = |b: VLBytes| String::from_utf8_lossy(b.as_slice()).into_owned();
        KeyPackageClaim {
            scope: ClaimScope { provider: text(self.provider), room: text(self.room), requester: text(self.requester) },
            used: self.used != 0,
        }
    }
}

/// Records `references` as unused claims of `scope`.
fn record_claims(tx: &redb::WriteTransaction, references: &[Vec<u8>], scope: &ClaimScope) -> Result<(), StoreError> {
    let mut t = tx.open_table(KP_CLAIMS).map_err(io)?;
    let record = encode(&ClaimRecord::new(scope))?;
    for r in references {
        t.insert(r.as_slice(), record.as_slice()).map_err(io)?;
    }
    Ok(())
}

/// Marks the claims of `references` for `room` used (a claim recorded for another room, e.g. a
/// last-resort KeyPackage claimed again meanwhile, is left alone).
fn spend_claims(tx: &redb::WriteTransaction, room: &str, references: &[Vec<u8>]) -> Result<(), StoreError> {
    let mut t = tx.open_table(KP_CLAIMS).map_err(io)?;
    // Read and check everything before writing anything (see `apply`).
    let mut spent = Vec::with_capacity(references.len());
    for r in references {
        let record = match t.get(r.as_slice()).map_err(io)? {
            Some(v) => ClaimRecord::tls_deserialize_exact(v.value()).map_err(corrupt("key_package_claims"))?,
            None => continue,
        };
        if record.room.as_slice() == room.as_bytes() {
            spent.push((r, encode(&ClaimRecord { used: 1, ..record })?));
        }
    }
    for (r, record) in spent {
        t.insert(r.as_slice(), record.as_slice()).map_err(io)?;
    }
    Ok(())
}

/// How a Welcome is kept in `WELCOMES`: what every queue item for it carries.
#[derive(TlsSerialize, TlsDeserialize, TlsSize)]
struct WelcomeRecord {
    welcome: VLBytes,
    ratchet_tree: VLBytes,
}

/// How a queue item is kept in `QUEUE` (its position is the key's): `welcome` is the key of its
/// [`WelcomeRecord`].
#[derive(TlsSerialize, TlsDeserialize, TlsSize)]
struct QueueRecord {
    room: VLBytes,
    after_seq: u64,
    welcome: VLBytes,
}

/// How a KeyPackage is kept in `KEY_PACKAGES`.
#[derive(TlsSerialize, TlsDeserialize, TlsSize)]
struct KeyPackageRecord {
    key_package: VLBytes,
    last_resort: u8,
    not_after: u64,
}

fn io(e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(e.to_string())
}

fn corrupt(table: &'static str) -> impl Fn(tls_codec::Error) -> StoreError {
    move |e| StoreError::Corrupt { table, why: e.to_string() }
}

fn encode(v: &impl tls_codec::Serialize) -> Result<Vec<u8>, StoreError> {
    v.tls_serialize_detached().map_err(io)
}

type Job = (Write, tokio::sync::oneshot::Sender<Result<WriteResult, StoreError>>);

/// The redb-backed store. Cloning shares the database and the writer; when the last clone is
/// dropped, the writer finishes what is queued and the file is closed.
#[derive(Clone)]
pub struct RedbStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: Arc<Database>,
    /// Sends writes to the writer thread; `None` once closing.
    jobs: std::sync::Mutex<Option<mpsc::Sender<Job>>>,
    writer: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
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
        let db = Arc::new(Database::create(path).map_err(io)?);
        {
            let tx = db.begin_write().map_err(io)?;
            let found = recorded_format(&tx)?;
            if found != FORMAT_VERSION {
                tx.abort().map_err(io)?;
                return Err(StoreError::Format { path: path.display().to_string(), found, expected: FORMAT_VERSION });
            }
            tx.open_table(ROOMS).map_err(io)?;
            tx.open_table(LOG).map_err(io)?;
            tx.open_table(QUEUE).map_err(io)?;
            tx.open_table(WELCOMES).map_err(io)?;
            tx.open_table(TOKENS).map_err(io)?;
            tx.open_table(USER_CLIENTS).map_err(io)?;
            tx.open_table(KEY_PACKAGES).map_err(io)?;
            tx.open_table(KP_OWNERS).map_err(io)?;
            tx.open_table(OUTBOX).map_err(io)?;
            tx.open_table(MIRROR).map_err(io)?;
            tx.open_table(SEEN).map_err(io)?;
            tx.open_table(RELAYED).map_err(io)?;
            tx.open_table(READERS).map_err(io)?;
            tx.open_table(KP_CLAIMS).map_err(io)?;
            tx.open_table(CONSENT).map_err(io)?;
            tx.open_table(ABUSE).map_err(io)?;
            tx.commit().map_err(io)?;
        }
        let (jobs, rx) = mpsc::channel::<Job>();
        let writer_db = db.clone();
        let handle = std::thread::Builder::new()
            .name("mimi-ds-store-writer".into())
            .spawn(move || writer(writer_db, rx, max_batch.max(1)))
            .map_err(io)?;
        Ok(RedbStore {
            inner: Arc::new(Inner {
                db,
                jobs: std::sync::Mutex::new(Some(jobs)),
                writer: std::sync::Mutex::new(Some(handle)),
            }),
        })
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

/// The writer loop: wait for one write, take whatever else is queued (up to `max_batch`),
/// apply all in one transaction, commit durably, answer each.
fn writer(db: Arc<Database>, rx: mpsc::Receiver<Job>, max_batch: usize) {
    // The last log position of each room the writer has touched: appends are fenced on it, and
    // a range seek per append was a quarter of the writer's time. Only the writer appends, so
    // the cache stays exact; it is dropped when a batch fails to commit.
    let mut last_seqs: HashMap<String, u64> = HashMap::new();
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let outcome = (|| -> Result<Vec<Result<WriteResult, StoreError>>, StoreError> {
            let mut tx = db.begin_write().map_err(io)?;
            tx.set_durability(Durability::Immediate).map_err(io)?;
            let mut results = Vec::with_capacity(batch.len());
            // Runs of plain appends to rooms already seen share one open log table (opening it
            // per write was a sixth of the writer's time); anything else goes through `apply`.
            let mut log: Option<redb::Table<(&str, u64), &[u8]>> = None;
            for (w, _) in &batch {
                match w {
                    Write::Append { room, entries, queue, claims_used }
                        if queue.is_empty() && claims_used.is_empty() && last_seqs.contains_key(room) =>
                    {
                        let table = match log.as_mut() {
                            Some(t) => t,
                            None => log.insert(tx.open_table(LOG).map_err(io)?),
                        };
                        let last = last_seqs.get(room).copied().unwrap_or(0);
                        results.push(append_entries(table, room, entries, last, &mut last_seqs));
                    }
                    other => {
                        log = None;
                        results.push(apply(&tx, other, &mut last_seqs));
                    }
                }
            }
            drop(log);
            tx.commit().map_err(io)?;
            Ok(results)
        })();
        if outcome.is_err() {
            last_seqs.clear();
        }
        match outcome {
            Ok(results) => {
                for ((_, reply), result) in batch.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, size = batch.len(), "store batch failed");
                for (_, reply) in batch {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}

fn last_seq(log: &impl ReadableTable<(&'static str, u64), &'static [u8]>, room: &str) -> Result<u64, StoreError> {
    Ok(log
        .range((room, 0)..=(room, u64::MAX))
        .map_err(io)?
        .next_back()
        .transpose()
        .map_err(io)?
        .map(|(k, _)| k.value().1)
        .unwrap_or(0))
}

/// The fence of an append: its entries follow the room's last position, without gaps.
fn check_follows(room: &str, entries: &[LogEntry], last: u64) -> Result<(), StoreError> {
    let expected = entries.first().map(|e| e.seq.saturating_sub(1)).unwrap_or(last);
    if expected != last || entries.windows(2).any(|w| w[1].seq != w[0].seq + 1) {
        return Err(StoreError::Conflict { room: room.to_owned(), last, expected });
    }
    Ok(())
}

/// Writes `entries` of `room` after position `last` (checked here) and remembers the new last.
fn append_entries(
    log: &mut redb::Table<(&str, u64), &[u8]>,
    room: &str,
    entries: &[LogEntry],
    last: u64,
    last_seqs: &mut HashMap<String, u64>,
) -> Result<WriteResult, StoreError> {
    check_follows(room, entries, last)?;
    for e in entries {
        log.insert((room, e.seq), encode(e)?.as_slice()).map_err(io)?;
    }
    last_seqs.insert(room.to_owned(), entries.last().map_or(last, |e| e.seq));
    Ok(WriteResult::Done)
}

/// Applies one write inside the batch transaction. Every precondition is checked before
/// anything is written, so a failed write leaves no trace.
fn apply(
    tx: &redb::WriteTransaction,
    w: &Write,
    last_seqs: &mut HashMap<String, u64>,
) -> Result<WriteResult, StoreError> {
    match w {
        Write::CreateRoom(cp) => {
            let room = String::from_utf8_lossy(cp.room_id.as_slice()).into_owned();
            let mut rooms = tx.open_table(ROOMS).map_err(io)?;
            if rooms.get(room.as_str()).map_err(io)?.is_some() {
                return Err(StoreError::Room { room, why: "already exists" });
            }
            rooms.insert(room.as_str(), encode(cp.as_ref())?.as_slice()).map_err(io)?;
        }
        Write::Checkpoint(cp) => {
            let room = String::from_utf8_lossy(cp.room_id.as_slice()).into_owned();
            let mut rooms = tx.open_table(ROOMS).map_err(io)?;
            if rooms.get(room.as_str()).map_err(io)?.is_none() {
                return Err(StoreError::Room { room, why: "does not exist" });
            }
            // A checkpoint may be queued behind appends it covers: refuse it if they did not land.
            let last = last_seq(&tx.open_table(LOG).map_err(io)?, &room)?;
            if last < cp.seq {
                return Err(StoreError::Conflict { room, last, expected: cp.seq });
            }
            rooms.insert(room.as_str(), encode(cp.as_ref())?.as_slice()).map_err(io)?;
        }
        Write::Append { room, entries, queue, claims_used } => {
            let mut log = tx.open_table(LOG).map_err(io)?;
            let last = match last_seqs.get(room) {
                Some(last) => *last,
                None => {
                    // First append to this room since the writer started: check it exists.
                    if tx.open_table(ROOMS).map_err(io)?.get(room.as_str()).map_err(io)?.is_none() {
                        return Err(StoreError::Room { room: room.clone(), why: "does not exist" });
                    }
                    last_seq(&log, room)?
                }
            };
            check_follows(room, entries, last)?;
            if !claims_used.is_empty() {
                spend_claims(tx, room, claims_used)?;
            }
            if !queue.is_empty() {
                enqueue(tx, queue)?;
            }
            return append_entries(&mut log, room, entries, last, last_seqs);
        }
        Write::Mirror { room, entries, queue, seen } => {
            let mut mirror = tx.open_table(MIRROR).map_err(io)?;
            let last = last_seq(&mirror, room)?;
            let expected = entries.first().map(|e| e.seq.saturating_sub(1)).unwrap_or(last);
            if expected != last || entries.windows(2).any(|w| w[1].seq != w[0].seq + 1) {
                return Err(StoreError::Conflict { room: room.clone(), last, expected });
            }
            if !queue.is_empty() {
                enqueue(tx, queue)?;
                let mut readers = tx.open_table(READERS).map_err(io)?;
                for client in queue.iter().flat_map(|d| &d.clients) {
                    readers.insert((room.as_str(), client.as_str()), ()).map_err(io)?;
                }
            }
            let mut seen_table = tx.open_table(SEEN).map_err(io)?;
            for hash in seen {
                seen_table.insert(hash.as_slice(), ()).map_err(io)?;
            }
            for e in entries {
                mirror.insert((room.as_str(), e.seq), encode(e)?.as_slice()).map_err(io)?;
            }
        }
        Write::Relayed { room, hash, client } => {
            tx.open_table(RELAYED).map_err(io)?.insert(hash.as_slice(), client.as_str()).map_err(io)?;
            tx.open_table(READERS).map_err(io)?.insert((room.as_str(), client.as_str()), ()).map_err(io)?;
        }
        Write::Consent { requester, target, room, operation } => {
            let mut t = tx.open_table(CONSENT).map_err(io)?;
            let key = (requester.as_str(), target.as_str(), room.as_deref().unwrap_or(""));
            let current = t.get(key).map_err(io)?.and_then(|v| ConsentState::from_byte(v.value()));
            match ConsentState::after(current, *operation) {
                Some(state) => t.insert(key, state.to_byte()).map_err(io)?,
                None => t.remove(key).map_err(io)?,
            };
        }
        Write::KeyPackageClaims { references, scope } => record_claims(tx, references, scope)?,
        Write::RegisterClient { client, user, token_hash } => {
            tx.open_table(TOKENS).map_err(io)?.insert(token_hash.as_slice(), client.as_str()).map_err(io)?;
            tx.open_table(USER_CLIENTS).map_err(io)?.insert((user.as_str(), client.as_str()), ()).map_err(io)?;
        }
        Write::PutKeyPackages(kps) => {
            let mut table = tx.open_table(KEY_PACKAGES).map_err(io)?;
            let mut owners = tx.open_table(KP_OWNERS).map_err(io)?;
            for kp in kps {
                let record = KeyPackageRecord {
                    key_package: kp.key_package.clone().into(),
                    last_resort: kp.last_resort as u8,
                    not_after: kp.not_after,
                };
                table
                    .insert(
                        (kp.user.as_str(), kp.client.as_str(), kp.reference.as_slice()),
                        encode(&record)?.as_slice(),
                    )
                    .map_err(io)?;
                owners.insert(kp.reference.as_slice(), kp.client.as_str()).map_err(io)?;
            }
        }
        Write::ClaimKeyPackages { user, now_secs, scope } => {
            let result = claim(tx, user, *now_secs)?;
            if let (Some(scope), WriteResult::Claimed { claimed, .. }) = (scope, &result) {
                let references: Vec<Vec<u8>> = claimed.iter().map(|k| k.reference.clone()).collect();
                record_claims(tx, &references, scope)?;
            }
            return Ok(result);
        }
        Write::AbuseReport(r) => {
            let mut t = tx.open_table(ABUSE).map_err(io)?;
            let hash = Sha256::digest(&r.report);
            if t.get((r.room.as_str(), hash.as_slice())).map_err(io)?.is_none() {
                let record = AbuseRecord {
                    reporter: r.reporter.as_bytes().to_vec().into(),
                    received_ms: r.received_ms,
                    report: r.report.clone().into(),
                };
                t.insert((r.room.as_str(), hash.as_slice()), encode(&record)?.as_slice()).map_err(io)?;
            }
        }
        Write::AdvanceOutbox { peer, room, seq } => {
            let mut t = tx.open_table(OUTBOX).map_err(io)?;
            let current = t.get((peer.as_str(), room.as_str())).map_err(io)?.map(|v| v.value()).unwrap_or(0);
            if *seq > current {
                t.insert((peer.as_str(), room.as_str()), *seq).map_err(io)?;
            }
        }
    }
    Ok(WriteResult::Done)
}

/// Stores each Welcome of `queue` once (unless stored already) and appends a queue record
/// referring to it for each of its clients, numbering each client's records on from its last.
fn enqueue(tx: &redb::WriteTransaction, queue: &[WelcomeDelivery]) -> Result<(), StoreError> {
    let mut welcomes = tx.open_table(WELCOMES).map_err(io)?;
    let mut q = tx.open_table(QUEUE).map_err(io)?;
    let mut last_queue_seq: HashMap<&str, u64> = HashMap::new();
    for delivery in queue {
        let record = WelcomeRecord {
            welcome: delivery.welcome.as_slice().into(),
            ratchet_tree: delivery.ratchet_tree.as_slice().into(),
        };
        let record = encode(&record)?;
        let key = Sha256::digest(&record);
        if welcomes.get(key.as_slice()).map_err(io)?.is_none() {
            welcomes.insert(key.as_slice(), record.as_slice()).map_err(io)?;
        }
        let queued = encode(&QueueRecord {
            room: delivery.room.as_bytes().into(),
            after_seq: delivery.after_seq,
            welcome: key.as_slice().into(),
        })?;
        for client in &delivery.clients {
            let last = match last_queue_seq.get(client.as_str()) {
                Some(last) => *last,
                None => q
                    .range((client.as_str(), 0)..=(client.as_str(), u64::MAX))
                    .map_err(io)?
                    .next_back()
                    .transpose()
                    .map_err(io)?
                    .map(|(k, _)| k.value().1)
                    .unwrap_or(0),
            };
            q.insert((client.as_str(), last + 1), queued.as_slice()).map_err(io)?;
            last_queue_seq.insert(client.as_str(), last + 1);
        }
    }
    Ok(())
}

fn claim(tx: &redb::WriteTransaction, user: &str, now_secs: u64) -> Result<WriteResult, StoreError> {
    let clients: Vec<String> = {
        let uc = tx.open_table(USER_CLIENTS).map_err(io)?;
        let range = uc.range((user, "")..).map_err(io)?;
        let mut out = Vec::new();
        for row in range {
            let (k, _) = row.map_err(io)?;
            let (u, c) = k.value();
            if u != user {
                break;
            }
            out.push(c.to_owned());
        }
        out
    };
    let mut table = tx.open_table(KEY_PACKAGES).map_err(io)?;
    let (mut claimed, mut exhausted) = (Vec::new(), Vec::new());
    for client in clients {
        let mut rows: Vec<(Vec<u8>, KeyPackageRecord)> = Vec::new();
        for row in table.range((user, client.as_str(), &[][..])..).map_err(io)? {
            let (k, v) = row.map_err(io)?;
            let (u, c, r) = k.value();
            if u != user || c != client {
                break;
            }
            let rec = KeyPackageRecord::tls_deserialize_exact(v.value()).map_err(corrupt("key_packages"))?;
            rows.push((r.to_vec(), rec));
        }
        let mut choice: Option<usize> = None;
        for (i, (reference, rec)) in rows.iter().enumerate() {
            if rec.not_after < now_secs {
                table.remove((user, client.as_str(), reference.as_slice())).map_err(io)?;
            } else {
                // Prefer a single-use KeyPackage; fall back to a last-resort one.
                let better = choice.is_none_or(|c| rows[c].1.last_resort != 0 && rec.last_resort == 0);
                if better {
                    choice = Some(i);
                }
            }
        }
        match choice {
            None => exhausted.push(client),
            Some(i) => {
                let (reference, rec) = &rows[i];
                if rec.last_resort == 0 {
                    table.remove((user, client.as_str(), reference.as_slice())).map_err(io)?;
                }
                claimed.push(StoredKeyPackage {
                    reference: reference.clone(),
                    client: client.clone(),
                    user: user.to_owned(),
                    key_package: rec.key_package.as_slice().to_vec(),
                    last_resort: rec.last_resort != 0,
                    not_after: rec.not_after,
                });
            }
        }
    }
    Ok(WriteResult::Claimed { claimed, exhausted })
}

impl RedbStore {
    /// Up to `limit` entries of `room` after `after` from a log-shaped table.
    fn entries_after(
        &self,
        table: TableDefinition<(&str, u64), &[u8]>,
        name: &'static str,
        room: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<LogEntry>, StoreError> {
        let tx = self.inner.db.begin_read().map_err(io)?;
        let log = tx.open_table(table).map_err(io)?;
        let mut out = Vec::new();
        for row in log.range((room, after.saturating_add(1))..=(room, u64::MAX)).map_err(io)?.take(limit) {
            let (_, v) = row.map_err(io)?;
            out.push(LogEntry::tls_deserialize_exact(v.value()).map_err(corrupt(name))?);
        }
        Ok(out)
    }
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

    fn rooms(&self) -> Result<Vec<StoredRoom>, StoreError> {
        let tx = self.inner.db.begin_read().map_err(io)?;
        let rooms = tx.open_table(ROOMS).map_err(io)?;
        let log = tx.open_table(LOG).map_err(io)?;
        let mut out = Vec::new();
        for row in rooms.iter().map_err(io)? {
            let (k, v) = row.map_err(io)?;
            let room = k.value().to_owned();
            let checkpoint = Checkpoint::tls_deserialize_exact(v.value()).map_err(corrupt("rooms"))?;
            let read = |seq: u64| -> Result<LogEntry, StoreError> {
                let v = log.get((room.as_str(), seq)).map_err(io)?.ok_or(StoreError::Corrupt {
                    table: "room_log",
                    why: format!("{room}: pending entry {seq} missing"),
                })?;
                LogEntry::tls_deserialize_exact(v.value()).map_err(corrupt("room_log"))
            };
            let pending = checkpoint.pending_seqs.iter().map(|s| read(*s)).collect::<Result<Vec<_>, _>>()?;
            let mut tail = Vec::new();
            for row in log.range((room.as_str(), checkpoint.seq + 1)..=(room.as_str(), u64::MAX)).map_err(io)? {
                let (_, v) = row.map_err(io)?;
                tail.push(LogEntry::tls_deserialize_exact(v.value()).map_err(corrupt("room_log"))?);
            }
            out.push(StoredRoom { checkpoint, pending, tail });
        }
        Ok(out)
    }

    fn log_after(&self, room: &str, after: u64, limit: usize) -> Result<Vec<LogEntry>, StoreError> {
        self.entries_after(LOG, "room_log", room, after, limit)
    }

    fn mirror_after(&self, room: &str, after: u64, limit: usize) -> Result<Vec<LogEntry>, StoreError> {
        self.entries_after(MIRROR, "mirror_log", room, after, limit)
    }

    fn mirror_last(&self, room: &str) -> Result<u64, StoreError> {
        let tx = self.inner.db.begin_read().map_err(io)?;
        last_seq(&tx.open_table(MIRROR).map_err(io)?, room)
    }

    fn seen(&self, hash: &[u8]) -> Result<bool, StoreError> {
        let tx = self.inner.db.begin_read().map_err(io)?;
        Ok(tx.open_table(SEEN).map_err(io)?.get(hash).map_err(io)?.is_some())
    }

    fn relayed_by(&self, hash: &[u8]) -> Result<Option<String>, StoreError> {
        let tx = self.inner.db.begin_read().map_err(io)?;
        Ok(tx.open_table(RELAYED).map_err(io)?.get(hash).map_err(io)?.map(|v| v.value().to_owned()))
    }

    fn mirror_reader(&self, room: &str, client: &str) -> Result<bool, StoreError> {
        let tx = self.inner.db.begin_read().map_err(io)?;
        Ok(tx.open_table(READERS).map_err(io)?.get((room, client)).map_err(io)?.is_some())
    }

    fn consent(&self, requester: &str, target: &str, room: Option<&str>) -> Result<Option<ConsentState>, StoreError> {
        let tx = self.inner.db.begin_read().map_err(io)?;
        let t = tx.open_table(CONSENT).map_err(io)?;
        let Some(v) = t.get((requester, target, room.unwrap_or(""))).map_err(io)? else { return Ok(None) };
        ConsentState::from_byte(v.value())
            .map(Some)
            .ok_or_else(|| StoreError::Corrupt { table: "consent", why: format!("state byte {}", v.value()) })
    }

    fn user_exists(&self, user: &str) -> Result<bool, StoreError> {
        let tx = self.inner.db.begin_read().map_err(io)?;
        let t = tx.open_table(USER_CLIENTS).map_err(io)?;
        let first = t.range((user, "")..).map_err(io)?.next().transpose().map_err(io)?;
        Ok(first.is_some_and(|(k, _)| k.value().0 == user))
    }

    fn abuse_reports(&self, room: &str) -> Result<Vec<StoredAbuseReport>, StoreError> {
        let tx = self.inner.db.begin_read().map_err(io)?;
        let t = tx.open_table(ABUSE).map_err(io)?;
        let mut out = Vec::new();
        for row in t.range((room, &[][..])..).map_err(io)? {
            let (k, v) = row.map_err(io)?;
            if k.value().0 != room {
                break;
            }
            let r = AbuseRecord::tls_deserialize_exact(v.value()).map_err(corrupt("abuse_reports"))?;
            out.push(StoredAbuseReport {
                room: room.to_owned(),
                reporter: String::from_utf8_lossy(r.reporter.as_slice()).into_owned(),
                received_ms: r.received_ms,
                report: r.report.as_slice().to_vec(),
            });
        }
        Ok(out)
    }

    fn key_package_claim(&self, reference: &[u8]) -> Result<Option<KeyPackageClaim>, StoreError> {
        let tx = self.inner.db.begin_read().map_err(io)?;
        let t = tx.open_table(KP_CLAIMS).map_err(io)?;
        let Some(v) = t.get(reference).map_err(io)? else { return Ok(None) };
        let record = ClaimRecord::tls_deserialize_exact(v.value()).map_err(corrupt("key_package_claims"))?;
        Ok(Some(record.into_claim()))
    }

    fn queue_after(&self, client: &str, after: u64, limit: usize) -> Result<Vec<QueueItem>, StoreError> {
        let tx = self.inner.db.begin_read().map_err(io)?;
        let q = tx.open_table(QUEUE).map_err(io)?;
        let welcomes = tx.open_table(WELCOMES).map_err(io)?;
        let mut out: Vec<QueueItem> = Vec::new();
        for row in q.range((client, after.saturating_add(1))..=(client, u64::MAX)).map_err(io)?.take(limit) {
            let (k, v) = row.map_err(io)?;
            let record = QueueRecord::tls_deserialize_exact(v.value()).map_err(corrupt("client_queue"))?;
            let stored = welcomes.get(record.welcome.as_slice()).map_err(io)?.ok_or_else(|| StoreError::Corrupt {
                table: "welcomes",
                why: format!("{client}: the Welcome of queue item {} is missing", k.value().1),
            })?;
            let welcome = WelcomeRecord::tls_deserialize_exact(stored.value()).map_err(corrupt("welcomes"))?;
            out.push(QueueItem {
                seq: k.value().1,
                room: record.room,
                after_seq: record.after_seq,
                welcome: welcome.welcome,
                ratchet_tree: welcome.ratchet_tree,
            });
        }
        Ok(out)
    }

    fn client_by_token(&self, token_hash: &[u8]) -> Result<Option<String>, StoreError> {
        let tx = self.inner.db.begin_read().map_err(io)?;
        let t = tx.open_table(TOKENS).map_err(io)?;
        Ok(t.get(token_hash).map_err(io)?.map(|v| v.value().to_owned()))
    }

    fn outbox_cursor(&self, peer: &str, room: &str) -> Result<u64, StoreError> {
        let tx = self.inner.db.begin_read().map_err(io)?;
        let t = tx.open_table(OUTBOX).map_err(io)?;
        Ok(t.get((peer, room)).map_err(io)?.map(|v| v.value()).unwrap_or(0))
    }

    fn key_package_owner(&self, reference: &[u8]) -> Result<Option<String>, StoreError> {
        let tx = self.inner.db.begin_read().map_err(io)?;
        let t = tx.open_table(KP_OWNERS).map_err(io)?;
        Ok(t.get(reference).map_err(io)?.map(|v| v.value().to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::EntryKind;
    use crate::store::settle;

    fn kp(client: &str, reference: u8, last_resort: bool, not_after: u64) -> StoredKeyPackage {
        StoredKeyPackage {
            reference: vec![reference; 32],
            client: client.into(),
            user: "mimi://a.example/u/bob".into(),
            key_package: vec![reference],
            last_resort,
            not_after,
        }
    }

    fn entry(seq: u64) -> LogEntry {
        LogEntry {
            seq,
            epoch: 0,
            accepted_ms: seq,
            kind: EntryKind::Application,
            message: vec![seq as u8].into(),
            extra: vec![],
            sender: Vec::new().into(),
            peers: vec![b"b.example".to_vec().into()],
            group_info: Vec::new().into(),
            welcome: Vec::new().into(),
            welcome_peers: vec![],
            frank: None,
        }
    }

    /// How many records a table holds, and their values' total size.
    fn value_sizes<K: redb::Key + 'static>(s: &RedbStore, table: TableDefinition<K, &[u8]>) -> (usize, usize) {
        let tx = s.inner.db.begin_read().unwrap();
        let t = tx.open_table(table).unwrap();
        let sizes: Vec<usize> = t.iter().unwrap().map(|r| r.unwrap().1.value().len()).collect();
        (sizes.len(), sizes.iter().sum())
    }

    fn append_entry(room: &str, seq: u64) -> Write {
        Write::Append { room: room.into(), entries: vec![entry(seq)], queue: vec![], claims_used: vec![] }
    }

    fn checkpoint(room: &str) -> Checkpoint {
        Checkpoint {
            room_id: room.as_bytes().to_vec().into(),
            group_id: vec![1].into(),
            seq: 0,
            storage: vec![],
            pending_seqs: vec![],
            group_info: Vec::new().into(),
            departed: vec![],
        }
    }

    #[tokio::test]
    async fn claims_are_single_use_skip_expired_and_keep_last_resort() {
        let dir = tempfile::tempdir().unwrap();
        let s = RedbStore::open(&dir.path().join("t.redb"), 64).unwrap();
        let (phone, pc) = ("mimi://a.example/d/bob/phone", "mimi://a.example/d/bob/pc");
        for c in [phone, pc] {
            let w =
                Write::RegisterClient { client: c.into(), user: "mimi://a.example/u/bob".into(), token_hash: c.into() };
            settle(s.write(w)).await.unwrap();
        }
        let kps = vec![kp(phone, 1, false, 100), kp(phone, 2, true, 1000), kp(phone, 3, false, 5)];
        settle(s.write(Write::PutKeyPackages(kps))).await.unwrap();
        let claim = || Write::ClaimKeyPackages { user: "mimi://a.example/u/bob".into(), now_secs: 50, scope: None };
        let refs = |r: WriteResult| match r {
            WriteResult::Claimed { claimed, exhausted } => {
                (claimed.iter().map(|k| k.reference[0]).collect::<Vec<_>>(), exhausted)
            }
            WriteResult::Done => panic!(),
        };
        // Expired #3 is dropped, #1 is served once, then the last-resort #2 again and again;
        // the pc has nothing.
        assert_eq!(refs(settle(s.write(claim())).await.unwrap()), (vec![1], vec![pc.to_owned()]));
        assert_eq!(refs(settle(s.write(claim())).await.unwrap()), (vec![2], vec![pc.to_owned()]));
        assert_eq!(refs(settle(s.write(claim())).await.unwrap()), (vec![2], vec![pc.to_owned()]));
        assert_eq!(s.key_package_owner(&[1; 32]).unwrap().as_deref(), Some(phone));
        assert_eq!(s.client_by_token(phone.as_bytes()).unwrap().as_deref(), Some(phone));
    }

    #[test]
    fn files_of_another_format_are_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        // A new file records this build's format and opens again.
        let fresh = dir.path().join("fresh.redb");
        drop(RedbStore::open(&fresh, 1).unwrap());
        drop(RedbStore::open(&fresh, 1).unwrap());
        let format_of = |path: &Path| {
            let db = Database::create(path).unwrap();
            let tx = db.begin_read().unwrap();
            let meta = tx.open_table(META).ok()?;
            let v = meta.get(FORMAT_KEY).unwrap().map(|v| v.value());
            v
        };
        assert_eq!(format_of(&fresh), Some(FORMAT_VERSION));

        // A file from before the record (tables, no `meta`): format 1, refused, left as it was.
        let old = dir.path().join("old.redb");
        {
            let db = Database::create(&old).unwrap();
            let tx = db.begin_write().unwrap();
            tx.open_table(ROOMS).unwrap().insert("mimi://a.example/r/x", &[1u8][..]).unwrap();
            tx.commit().unwrap();
        }
        let e = RedbStore::open(&old, 1).err().unwrap();
        assert!(matches!(e, StoreError::Format { found: 1, expected: FORMAT_VERSION, .. }), "{e:?}");
        let text = e.to_string();
        assert!(text.starts_with(&format!("store format 1, this build reads {FORMAT_VERSION}; ")), "{text}");
        assert!(text.contains("old.redb") && text.contains("an older mimi-ds"), "{text}");
        assert_eq!(format_of(&old), None, "no format record was added");

        // A file of a newer format: refused.
        let newer = dir.path().join("newer.redb");
        {
            let db = Database::create(&newer).unwrap();
            let tx = db.begin_write().unwrap();
            tx.open_table(META).unwrap().insert(FORMAT_KEY, FORMAT_VERSION + 1).unwrap();
            tx.commit().unwrap();
        }
        let e = RedbStore::open(&newer, 1).err().unwrap();
        assert!(e.to_string().contains("a newer mimi-ds"), "{e}");
        assert_eq!(format_of(&newer), Some(FORMAT_VERSION + 1));
    }

    #[tokio::test]
    async fn claims_are_bound_to_a_room_and_spent_with_the_append_that_uses_them() {
        let dir = tempfile::tempdir().unwrap();
        let s = RedbStore::open(&dir.path().join("t.redb"), 64).unwrap();
        let (r1, r2) = ("mimi://a.example/r/one", "mimi://a.example/r/two");
        let scope =
            |room: &str| ClaimScope { provider: "c.example".into(), room: room.into(), requester: "b.example".into() };
        for room in [r1, r2] {
            settle(s.write(Write::CreateRoom(Box::new(checkpoint(room))))).await.unwrap();
        }
        // A relayed claim for r1, and a local one (our Bob) for r2 recorded with the claim itself.
        let w = Write::KeyPackageClaims { references: vec![vec![7; 32]], scope: scope(r1) };
        settle(s.write(w)).await.unwrap();
        let bob = "mimi://a.example/d/bob/phone";
        let w =
            Write::RegisterClient { client: bob.into(), user: "mimi://a.example/u/bob".into(), token_hash: vec![1] };
        settle(s.write(w)).await.unwrap();
        settle(s.write(Write::PutKeyPackages(vec![kp(bob, 8, false, 100)]))).await.unwrap();
        let local = ClaimScope { provider: "a.example".into(), ..scope(r2) };
        let w =
            Write::ClaimKeyPackages { user: "mimi://a.example/u/bob".into(), now_secs: 50, scope: Some(local.clone()) };
        settle(s.write(w)).await.unwrap();
        let claim = |r: u8| s.key_package_claim(&[r; 32]).unwrap();
        assert_eq!(claim(7), Some(KeyPackageClaim { scope: scope(r1), used: false }));
        assert_eq!(claim(8), Some(KeyPackageClaim { scope: local, used: false }));
        assert_eq!(claim(9), None);
        // An append of r2 naming #7 (claimed for r1) leaves it unused; r1's append spends it.
        let append = |room: &str, seq: u64| Write::Append {
            room: room.into(),
            entries: vec![entry(seq)],
            queue: vec![],
            claims_used: vec![vec![7; 32]],
        };
        settle(s.write(append(r2, 1))).await.unwrap();
        assert!(!claim(7).unwrap().used);
        settle(s.write(append(r1, 1))).await.unwrap();
        assert!(claim(7).unwrap().used);
        // A failed append (fence) spends nothing.
        let w = Write::KeyPackageClaims { references: vec![vec![7; 32]], scope: scope(r1) };
        settle(s.write(w)).await.unwrap();
        assert!(settle(s.write(append(r1, 5))).await.is_err());
        assert!(!claim(7).unwrap().used, "a claimed-again KeyPackage is fresh, and the failed append spent nothing");
    }

    #[tokio::test]
    async fn a_welcome_for_many_clients_is_stored_once_and_read_back_whole_by_each() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.redb");
        let s = RedbStore::open(&path, 64).unwrap();
        let (room, mirrored) = ("mimi://a.example/r/big", "mimi://b.example/r/other");
        settle(s.write(Write::CreateRoom(Box::new(checkpoint(room))))).await.unwrap();
        settle(s.write(append_entry(room, 1))).await.unwrap();
        // Carol already has a Welcome queued (an earlier room): hers is numbered on after it.
        let carol = "mimi://a.example/d/carol/phone";
        let small = WelcomeDelivery {
            room: mirrored.into(),
            after_seq: 3,
            welcome: vec![1, 2, 3],
            ratchet_tree: vec![],
            clients: vec![carol.into()],
        };
        let w = Write::Mirror { room: mirrored.into(), entries: vec![], queue: vec![small.clone()], seen: vec![] };
        settle(s.write(w)).await.unwrap();
        let size_before = std::fs::metadata(&path).unwrap().len();

        const CLIENTS: usize = 100;
        let welcome: Vec<u8> = (0..256 * 1024).map(|i| (i * 7 % 251) as u8).collect();
        let mut clients: Vec<String> = (0..CLIENTS - 1).map(|i| format!("mimi://a.example/d/u{i}/phone")).collect();
        clients.push(carol.into());
        let big = WelcomeDelivery {
            room: room.into(),
            after_seq: 2,
            welcome: welcome.clone(),
            ratchet_tree: vec![9; 1000],
            clients: clients.clone(),
        };
        let w =
            Write::Append { room: room.into(), entries: vec![entry(2)], queue: vec![big.clone()], claims_used: vec![] };
        settle(s.write(w)).await.unwrap();
        // The same Welcome taken in again (as a follower would) is not stored a second time.
        let again = WelcomeDelivery {
            room: mirrored.into(),
            clients: vec!["mimi://a.example/d/dave/pc".into()],
            ..big.clone()
        };
        let w = Write::Mirror { room: mirrored.into(), entries: vec![], queue: vec![again.clone()], seen: vec![] };
        settle(s.write(w)).await.unwrap();

        let (welcomes, welcome_bytes) = value_sizes(&s, WELCOMES);
        assert_eq!(welcomes, 2, "the big Welcome once, and Carol's small one");
        assert!(welcome_bytes < welcome.len() + 2000, "{welcome_bytes} bytes of Welcomes");
        let (queued, queue_bytes) = value_sizes(&s, QUEUE);
        assert_eq!(queued, 1 + CLIENTS + 1);
        assert!(queue_bytes < queued * 200, "queue records refer to their Welcome: {queue_bytes} bytes");
        let growth = std::fs::metadata(&path).unwrap().len() - size_before;
        // A copy each would be over 25 MiB; redb grows the file in steps (1 MiB here).
        let copies = (CLIENTS * welcome.len()) as u64;
        assert!(growth < copies / 5, "the file grew {growth} bytes for {CLIENTS} joiners");

        // Every client reads exactly the item it would have read with a copy of its own, also
        // after a restart.
        drop(s);
        let s = RedbStore::open(&path, 1).unwrap();
        for client in &clients[..CLIENTS - 1] {
            assert_eq!(s.queue_after(client, 0, 10).unwrap(), vec![big.item(1)], "{client}");
        }
        assert_eq!(s.queue_after(carol, 0, 10).unwrap(), vec![small.item(1), big.item(2)]);
        assert_eq!(s.queue_after(carol, 1, 10).unwrap(), vec![big.item(2)]);
        assert_eq!(s.queue_after("mimi://a.example/d/dave/pc", 0, 10).unwrap(), vec![again.item(1)]);
        assert!(s.mirror_reader(mirrored, "mimi://a.example/d/dave/pc").unwrap());
    }

    #[tokio::test]
    async fn appends_are_fenced_and_concurrent_writes_share_commits() {
        let dir = tempfile::tempdir().unwrap();
        let s = RedbStore::open(&dir.path().join("t.redb"), 256).unwrap();
        let room = "mimi://a.example/r/x";
        let append =
            |e: Vec<LogEntry>| Write::Append { room: room.into(), entries: e, queue: vec![], claims_used: vec![] };
        assert!(matches!(settle(s.write(append(vec![entry(1)]))).await, Err(StoreError::Room { .. })));
        settle(s.write(Write::CreateRoom(Box::new(checkpoint(room))))).await.unwrap();
        settle(s.write(append(vec![entry(1), entry(2)]))).await.unwrap();
        let conflict = settle(s.write(append(vec![entry(2)]))).await;
        assert!(matches!(conflict, Err(StoreError::Conflict { last: 2, expected: 1, .. })), "{conflict:?}");
        assert!(matches!(settle(s.write(append(vec![entry(4)]))).await, Err(StoreError::Conflict { .. })));
        // 500 appends queued at once: all land, in order, in far fewer transactions.
        let tickets: Vec<_> = (3..503).map(|i| s.write(append(vec![entry(i)]))).collect();
        for t in tickets {
            settle(t).await.unwrap();
        }
        let all = s.log_after(room, 0, 10_000).unwrap();
        assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..503).collect::<Vec<_>>());
        assert_eq!(s.log_after(room, 500, 10).unwrap().len(), 2);
        // A checkpoint beyond the durable log is refused; one at its end is taken.
        let ahead = Checkpoint { seq: 503, ..checkpoint(room) };
        assert!(matches!(settle(s.write(Write::Checkpoint(Box::new(ahead)))).await, Err(StoreError::Conflict { .. })));
        settle(s.write(Write::Checkpoint(Box::new(Checkpoint { seq: 500, ..checkpoint(room) })))).await.unwrap();
        drop(s);
        let s = RedbStore::open(&dir.path().join("t.redb"), 1).unwrap();
        let rooms = s.rooms().unwrap();
        assert_eq!(rooms.len(), 1);
        assert_eq!(rooms[0].checkpoint.seq, 500);
        assert_eq!(rooms[0].tail.iter().map(|e| e.seq).collect::<Vec<_>>(), [501, 502]);
    }
}
