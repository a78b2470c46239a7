//! The on-disk layout of [`super::RedbStore`]: the format record, every table's definition, and
//! how each record is encoded (TLS presentation language, as everywhere else in the hub).
//!
//! Any change here that alters what a file holds is a new [`FORMAT_VERSION`].

use redb::{ReadableTable, TableDefinition};
use tls_codec::{Deserialize as _, TlsDeserialize, TlsSerialize, TlsSize, VLBytes};

use crate::store::{ClaimScope, ClientRecord, ClientStatus, CodeRecord, KeyPackageClaim, StoreError, TokenRecord};

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
///    ([`WelcomeRecord`], keyed by its SHA-256) instead of holding a copy of it;
/// 6. our devices have records with their lifecycle (`clients`, [`ClientEntry`]); a bearer token
///    is kept with its expiry (`bearer_tokens`, [`TokenEntry`], replacing `tokens`, which held the
///    client URI alone) and indexed by its device (`tokens_by_client`); enrollment codes
///    (`enrollment_codes`, [`CodeEntry`]);
/// 7. retention: a queue record carries when it was queued ([`QueueRecord::queued_ms`]); a
///    Welcome's queue records are counted (`welcome_refs`) so it goes with the last of them; a
///    client's last queue position is kept (`queue_heads`) so trimmed positions are never reused;
///    when each queue record, taken-in FanoutMessage and relayed message was stored is indexed
///    (`queue_times`, `seen_times`, `relayed_times`), for trimming by age; the log position of a
///    room's checkpoint and of its first pending proposal are kept beside the checkpoint
///    (`checkpoint_fences`), so compacting the log does not read checkpoints. A file of format 6
///    is migrated when opened ([`super::migrate`]).
///
/// A file of format 6 or 7 may still hold the `mirror_readers` table (the local clients a follower
/// let read a mirror, before a follower decided that by its copy of the room): it is no longer
/// read or written, and leaving it in place changes nothing. Nor does a
/// table that counts towards a quota (`rooms_created`, `abuse_report_counts`), which opening a file creates where it
/// is missing: in a file written before it, the rooms created and reports kept before count from zero, and a
/// build from before it ignores it.
pub const FORMAT_VERSION: u64 = 7;
/// The format of a file without a `meta` table that has other tables.
pub(super) const UNRECORDED_FORMAT: u64 = 1;
/// The key of the format record in `META`.
pub(super) const FORMAT_KEY: &str = "format";
/// name → value: the format record. Its types must never change, so any build can read it.
pub(super) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// room URI → latest checkpoint.
pub(super) const ROOMS: TableDefinition<&str, &[u8]> = TableDefinition::new("rooms");
/// (room URI, seq) → log entry.
pub(super) const LOG: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("room_log");
/// (client URI, seq) → [`QueueRecord`].
pub(super) const QUEUE: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("client_queue");
/// SHA-256 of a [`WelcomeRecord`] → that record: each Welcome once, however many queue records
/// refer to it; deleted with the last of them.
pub(super) const WELCOMES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("welcomes");
/// SHA-256 of a [`WelcomeRecord`] → how many queue records refer to it.
pub(super) const WELCOME_REFS: TableDefinition<&[u8], u64> = TableDefinition::new("welcome_refs");
/// client URI → the last position its queue ever had (positions are never reused once trimmed).
pub(super) const QUEUE_HEADS: TableDefinition<&str, u64> = TableDefinition::new("queue_heads");
/// (queued at, ms since the UNIX epoch; client URI; queue position) → (): queue records by age.
pub(super) const QUEUE_TIMES: TableDefinition<(u64, &str, u64), ()> = TableDefinition::new("queue_times");
/// (taken in at, ms; SHA-256) → (): `notify_seen` by age.
pub(super) const SEEN_TIMES: TableDefinition<(u64, &[u8]), ()> = TableDefinition::new("seen_times");
/// (relayed at, ms; SHA-256) → (): `relayed_by` by age.
pub(super) const RELAYED_TIMES: TableDefinition<(u64, &[u8]), ()> = TableDefinition::new("relayed_times");
/// room URI → (its checkpoint's log position, its first pending proposal's position or 0): how
/// far the room's log may be compacted ([`crate::store::rules::LogFence`]).
pub(super) const FENCES: TableDefinition<&str, (u64, u64)> = TableDefinition::new("checkpoint_fences");
/// SHA-256 of a bearer token → [`TokenEntry`].
pub(super) const TOKENS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("bearer_tokens");
/// (client URI, SHA-256 of a bearer token) → () : a device's tokens (deleted with the device's end).
pub(super) const CLIENT_TOKENS: TableDefinition<(&str, &[u8]), ()> = TableDefinition::new("tokens_by_client");
/// client URI → [`ClientEntry`]: every device of ours ever registered, in its current state.
pub(super) const CLIENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("clients");
/// SHA-256 of a normalised enrollment code → [`CodeEntry`] (deleted when spent).
pub(super) const CODES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("enrollment_codes");
/// (user URI, client URI) → () : a user's registered clients (active or revoked, not removed).
pub(super) const USER_CLIENTS: TableDefinition<(&str, &str), ()> = TableDefinition::new("user_clients");
/// (user URI, client URI, KeyPackageRef) → [`KeyPackageRecord`].
pub(super) const KEY_PACKAGES: TableDefinition<(&str, &str, &[u8]), &[u8]> = TableDefinition::new("key_packages");
/// KeyPackageRef → client URI (kept after the claim, for Welcome routing).
pub(super) const KP_OWNERS: TableDefinition<&[u8], &str> = TableDefinition::new("key_package_owners");
/// (follower domain, room URI) → last log position it acknowledged.
pub(super) const OUTBOX: TableDefinition<(&str, &str), u64> = TableDefinition::new("outbox_cursors");
/// (room URI, mirror seq) → log entry, for rooms whose hub is another provider.
pub(super) const MIRROR: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("mirror_log");
/// SHA-256 of a FanoutMessage taken in → () (follower deduplication).
pub(super) const SEEN: TableDefinition<&[u8], ()> = TableDefinition::new("notify_seen");
/// SHA-256 of a relayed MLSMessage → the local client that relayed it.
pub(super) const RELAYED: TableDefinition<&[u8], &str> = TableDefinition::new("relayed_by");
/// KeyPackageRef → [`ClaimRecord`], for KeyPackages claimed through this hub for its rooms.
pub(super) const KP_CLAIMS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("key_package_claims");
/// (requester user URI, target user URI, room URI or "") → [`crate::store::ConsentState`] byte.
pub(super) const CONSENT: TableDefinition<(&str, &str, &str), u8> = TableDefinition::new("consent");
/// (room URI, SHA-256 of the report body) → [`AbuseRecord`].
pub(super) const ABUSE: TableDefinition<(&str, &[u8]), &[u8]> = TableDefinition::new("abuse_reports");

/// user URI → how many rooms of this hub its clients created (counted against its quota).
pub(super) const ROOMS_CREATED: TableDefinition<&str, u64> = TableDefinition::new("rooms_created");

/// (room URI, reporting user URI) → how many abuse reports of that reporter about that room are
/// kept (counted against its quota).
pub(super) const ABUSE_COUNTS: TableDefinition<(&str, &str), u64> = TableDefinition::new("abuse_report_counts");

/// Creates every table that does not exist yet (all but `META`, which the format check owns).
pub(super) fn create_tables(tx: &redb::WriteTransaction) -> Result<(), StoreError> {
    tx.open_table(ROOMS).map_err(io)?;
    tx.open_table(LOG).map_err(io)?;
    tx.open_table(QUEUE).map_err(io)?;
    tx.open_table(WELCOMES).map_err(io)?;
    tx.open_table(TOKENS).map_err(io)?;
    tx.open_table(CLIENT_TOKENS).map_err(io)?;
    tx.open_table(CLIENTS).map_err(io)?;
    tx.open_table(CODES).map_err(io)?;
    tx.open_table(USER_CLIENTS).map_err(io)?;
    tx.open_table(KEY_PACKAGES).map_err(io)?;
    tx.open_table(KP_OWNERS).map_err(io)?;
    tx.open_table(OUTBOX).map_err(io)?;
    tx.open_table(MIRROR).map_err(io)?;
    tx.open_table(SEEN).map_err(io)?;
    tx.open_table(RELAYED).map_err(io)?;
    tx.open_table(KP_CLAIMS).map_err(io)?;
    tx.open_table(CONSENT).map_err(io)?;
    tx.open_table(ABUSE).map_err(io)?;
    tx.open_table(ROOMS_CREATED).map_err(io)?;
    tx.open_table(ABUSE_COUNTS).map_err(io)?;
    tx.open_table(WELCOME_REFS).map_err(io)?;
    tx.open_table(QUEUE_HEADS).map_err(io)?;
    tx.open_table(QUEUE_TIMES).map_err(io)?;
    tx.open_table(SEEN_TIMES).map_err(io)?;
    tx.open_table(RELAYED_TIMES).map_err(io)?;
    tx.open_table(FENCES).map_err(io)?;
    Ok(())
}

/// How a [`TokenRecord`] is kept in `TOKENS`.
#[derive(TlsSerialize, TlsDeserialize, TlsSize)]
pub(super) struct TokenEntry {
    pub client: VLBytes,
    pub expires_ms: u64,
}

impl TokenEntry {
    pub fn new(record: &TokenRecord) -> Self {
        TokenEntry { client: record.client.as_bytes().into(), expires_ms: record.expires_ms }
    }

    pub fn decode(bytes: &[u8]) -> Result<TokenRecord, StoreError> {
        let e = TokenEntry::tls_deserialize_exact(bytes).map_err(corrupt("bearer_tokens"))?;
        Ok(TokenRecord { client: text("bearer_tokens", e.client)?, expires_ms: e.expires_ms })
    }
}

/// How a [`ClientRecord`] is kept in `CLIENTS`.
#[derive(TlsSerialize, TlsDeserialize, TlsSize)]
pub(super) struct ClientEntry {
    pub user: VLBytes,
    pub status: u8,
    pub since_ms: u64,
}

impl ClientEntry {
    pub fn new(record: &ClientRecord) -> Self {
        ClientEntry { user: record.user.as_bytes().into(), status: record.status.to_byte(), since_ms: record.since_ms }
    }

    pub fn decode(bytes: &[u8]) -> Result<ClientRecord, StoreError> {
        let e = ClientEntry::tls_deserialize_exact(bytes).map_err(corrupt("clients"))?;
        let status = ClientStatus::from_byte(e.status)
            .ok_or_else(|| StoreError::Corrupt { table: "clients", why: format!("status byte {}", e.status) })?;
        Ok(ClientRecord { user: text("clients", e.user)?, status, since_ms: e.since_ms })
    }
}

/// How a [`CodeRecord`] is kept in `CODES`.
#[derive(TlsSerialize, TlsDeserialize, TlsSize)]
pub(super) struct CodeEntry {
    pub user: VLBytes,
    pub expires_ms: u64,
}

impl CodeEntry {
    pub fn new(record: &CodeRecord) -> Self {
        CodeEntry { user: record.user.as_bytes().into(), expires_ms: record.expires_ms }
    }

    pub fn decode(bytes: &[u8]) -> Result<CodeRecord, StoreError> {
        let e = CodeEntry::tls_deserialize_exact(bytes).map_err(corrupt("enrollment_codes"))?;
        Ok(CodeRecord { user: text("enrollment_codes", e.user)?, expires_ms: e.expires_ms })
    }
}

/// A URI stored as bytes, as text.
fn text(table: &'static str, bytes: VLBytes) -> Result<String, StoreError> {
    String::from_utf8(bytes.as_slice().to_vec())
        .map_err(|_| StoreError::Corrupt { table, why: "a URI is not UTF-8".into() })
}

/// How an accepted abuse report is kept in `ABUSE`.
#[derive(TlsSerialize, TlsDeserialize, TlsSize)]
pub(super) struct AbuseRecord {
    pub reporter: VLBytes,
    pub received_ms: u64,
    pub report: VLBytes,
}

/// How a [`KeyPackageClaim`] is kept in `KP_CLAIMS`.
#[derive(TlsSerialize, TlsDeserialize, TlsSize)]
pub(super) struct ClaimRecord {
    pub provider: VLBytes,
    pub room: VLBytes,
    pub requester: VLBytes,
    pub used: u8,
}

impl ClaimRecord {
    /// An unused claim of `scope`.
    pub fn new(scope: &ClaimScope) -> Self {
        ClaimRecord {
            provider: scope.provider.as_bytes().to_vec().into(),
            room: scope.room.as_bytes().to_vec().into(),
            requester: scope.requester.as_bytes().to_vec().into(),
            used: 0,
        }
    }

    pub fn into_claim(self) -> KeyPackageClaim {
        let text = |b: VLBytes| String::from_utf8_lossy(b.as_slice()).into_owned();
        KeyPackageClaim {
            scope: ClaimScope { provider: text(self.provider), room: text(self.room), requester: text(self.requester) },
            used: self.used != 0,
        }
    }
}

/// How a Welcome is kept in `WELCOMES`: what every queue item for it carries.
#[derive(TlsSerialize, TlsDeserialize, TlsSize)]
pub(super) struct WelcomeRecord {
    pub welcome: VLBytes,
    pub ratchet_tree: VLBytes,
}

/// How a queue item is kept in `QUEUE` (its position is the key's): `welcome` is the key of its
/// [`WelcomeRecord`], `queued_ms` when it was queued (its key in `QUEUE_TIMES`).
#[derive(TlsSerialize, TlsDeserialize, TlsSize)]
pub(super) struct QueueRecord {
    pub room: VLBytes,
    pub after_seq: u64,
    pub welcome: VLBytes,
    pub queued_ms: u64,
}

/// How a queue item was kept in format 6 (before [`QueueRecord::queued_ms`]): read by the
/// migration only.
#[derive(TlsSerialize, TlsDeserialize, TlsSize)]
pub(super) struct QueueRecordV6 {
    pub room: VLBytes,
    pub after_seq: u64,
    pub welcome: VLBytes,
}

/// How a KeyPackage is kept in `KEY_PACKAGES`.
#[derive(TlsSerialize, TlsDeserialize, TlsSize)]
pub(super) struct KeyPackageRecord {
    pub key_package: VLBytes,
    pub last_resort: u8,
    pub not_after: u64,
}

/// A redb failure, as the store reports it.
pub(super) fn io(e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(e.to_string())
}

/// A record of `table` that does not decode.
pub(super) fn corrupt(table: &'static str) -> impl Fn(tls_codec::Error) -> StoreError {
    move |e| StoreError::Corrupt { table, why: e.to_string() }
}

/// A record's stored bytes.
pub(super) fn encode(v: &impl tls_codec::Serialize) -> Result<Vec<u8>, StoreError> {
    v.tls_serialize_detached().map_err(io)
}

/// The last position of `key` in a table keyed by (key, position) (0 if it has none).
pub(super) fn last_seq(
    table: &impl ReadableTable<(&'static str, u64), &'static [u8]>,
    key: &str,
) -> Result<u64, StoreError> {
    Ok(table
        .range((key, 0)..=(key, u64::MAX))
        .map_err(io)?
        .next_back()
        .transpose()
        .map_err(io)?
        .map(|(k, _)| k.value().1)
        .unwrap_or(0))
}
