//! The reads of [`super::RedbStore`], each in its own read transaction (a consistent snapshot
//! of the last committed batch; reads never wait for the writer).

use redb::{Database, ReadOnlyTable, ReadableDatabase, ReadableTable, TableDefinition};
use tls_codec::Deserialize as _;

use super::schema::{
    corrupt, io, last_seq, AbuseRecord, ClaimRecord, ClientEntry, QueueRecord, TokenEntry, WelcomeRecord, ABUSE,
    CLIENTS, CONSENT, KP_CLAIMS, KP_OWNERS, LOG, MIRROR, OUTBOX, QUEUE, RELAYED, ROOMS, SEEN, TOKENS, USER_CLIENTS,
    WELCOMES,
};
use crate::hub::{Checkpoint, LogEntry, QueueItem};
use crate::store::rules;
use crate::store::{
    ClientRecord, ConsentState, KeyPackageClaim, StoreError, StoredAbuseReport, StoredRoom, TokenRecord,
};

/// Every room: its checkpoint, the entries its pending proposals name, and the log after it.
pub(super) fn rooms(db: &Database) -> Result<Vec<StoredRoom>, StoreError> {
    let tx = db.begin_read().map_err(io)?;
    let rooms = tx.open_table(ROOMS).map_err(io)?;
    let log = tx.open_table(LOG).map_err(io)?;
    let mut out = Vec::new();
    for row in rooms.iter().map_err(io)? {
        let (k, v) = row.map_err(io)?;
        out.push(stored_room(&log, k.value(), v.value())?);
    }
    Ok(out)
}

/// One room, as [`rooms`] reads it.
pub(super) fn room(db: &Database, room: &str) -> Result<Option<StoredRoom>, StoreError> {
    let tx = db.begin_read().map_err(io)?;
    let rooms = tx.open_table(ROOMS).map_err(io)?;
    let log = tx.open_table(LOG).map_err(io)?;
    let Some(v) = rooms.get(room).map_err(io)? else { return Ok(None) };
    stored_room(&log, room, v.value()).map(Some)
}

/// `room` from its encoded checkpoint and `log` (of the same read transaction).
fn stored_room(
    log: &ReadOnlyTable<(&'static str, u64), &'static [u8]>,
    room: &str,
    checkpoint: &[u8],
) -> Result<StoredRoom, StoreError> {
    let checkpoint = Checkpoint::tls_deserialize_exact(checkpoint).map_err(corrupt("rooms"))?;
    let read = |seq: u64| -> Result<LogEntry, StoreError> {
        let v = log
            .get((room, seq))
            .map_err(io)?
            .ok_or(StoreError::Corrupt { table: "room_log", why: format!("{room}: pending entry {seq} missing") })?;
        LogEntry::tls_deserialize_exact(v.value()).map_err(corrupt("room_log"))
    };
    let pending = checkpoint.pending_seqs.iter().map(|s| read(*s)).collect::<Result<Vec<_>, _>>()?;
    let mut tail = Vec::new();
    for row in log.range((room, checkpoint.seq + 1)..=(room, u64::MAX)).map_err(io)? {
        let (_, v) = row.map_err(io)?;
        tail.push(LogEntry::tls_deserialize_exact(v.value()).map_err(corrupt("room_log"))?);
    }
    Ok(StoredRoom { checkpoint, pending, tail })
}

/// Up to `limit` entries of `room` after `after` from the room log.
pub(super) fn log_after(db: &Database, room: &str, after: u64, limit: usize) -> Result<Vec<LogEntry>, StoreError> {
    entries_after(db, LOG, "room_log", room, after, limit)
}

/// Up to `limit` entries of `room` after `after` from the follower's mirror.
pub(super) fn mirror_after(db: &Database, room: &str, after: u64, limit: usize) -> Result<Vec<LogEntry>, StoreError> {
    entries_after(db, MIRROR, "mirror_log", room, after, limit)
}

/// Up to `limit` entries of `room` after `after` from a log-shaped table.
fn entries_after(
    db: &Database,
    table: TableDefinition<(&str, u64), &[u8]>,
    name: &'static str,
    room: &str,
    after: u64,
    limit: usize,
) -> Result<Vec<LogEntry>, StoreError> {
    let tx = db.begin_read().map_err(io)?;
    let log = tx.open_table(table).map_err(io)?;
    let mut out = Vec::new();
    for row in log.range((room, after.saturating_add(1))..=(room, u64::MAX)).map_err(io)?.take(limit) {
        let (_, v) = row.map_err(io)?;
        out.push(LogEntry::tls_deserialize_exact(v.value()).map_err(corrupt(name))?);
    }
    Ok(out)
}

/// The mirror's last position (0 if empty).
pub(super) fn mirror_last(db: &Database, room: &str) -> Result<u64, StoreError> {
    let tx = db.begin_read().map_err(io)?;
    last_seq(&tx.open_table(MIRROR).map_err(io)?, room)
}

/// Up to `limit` queue items of `client` after `after`, each with its Welcome.
pub(super) fn queue_after(db: &Database, client: &str, after: u64, limit: usize) -> Result<Vec<QueueItem>, StoreError> {
    let tx = db.begin_read().map_err(io)?;
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

/// The token with this hash.
pub(super) fn token(db: &Database, token_hash: &[u8]) -> Result<Option<TokenRecord>, StoreError> {
    let tx = db.begin_read().map_err(io)?;
    let t = tx.open_table(TOKENS).map_err(io)?;
    t.get(token_hash).map_err(io)?.map(|v| TokenEntry::decode(v.value())).transpose()
}

/// The record of a device.
pub(super) fn client(db: &Database, client: &str) -> Result<Option<ClientRecord>, StoreError> {
    let tx = db.begin_read().map_err(io)?;
    let t = tx.open_table(CLIENTS).map_err(io)?;
    t.get(client).map_err(io)?.map(|v| ClientEntry::decode(v.value())).transpose()
}

/// The registered devices of `user`, with their records.
pub(super) fn clients_of(db: &Database, user: &str) -> Result<Vec<(String, ClientRecord)>, StoreError> {
    let tx = db.begin_read().map_err(io)?;
    let uc = tx.open_table(USER_CLIENTS).map_err(io)?;
    let records = tx.open_table(CLIENTS).map_err(io)?;
    let mut out = Vec::new();
    for row in uc.range((user, "")..).map_err(io)? {
        let (k, _) = row.map_err(io)?;
        let (u, c) = k.value();
        if u != user {
            break;
        }
        let record = records.get(c).map_err(io)?.ok_or_else(|| StoreError::Corrupt {
            table: "clients",
            why: format!("{c} is a client of {user} without a record"),
        })?;
        out.push((c.to_owned(), ClientEntry::decode(record.value())?));
    }
    Ok(out)
}

/// Every registered device of every user, in (user, client) order.
pub(super) fn devices(db: &Database) -> Result<Vec<(String, String, ClientRecord)>, StoreError> {
    let tx = db.begin_read().map_err(io)?;
    let uc = tx.open_table(USER_CLIENTS).map_err(io)?;
    let records = tx.open_table(CLIENTS).map_err(io)?;
    let mut out = Vec::new();
    for row in uc.iter().map_err(io)? {
        let (k, _) = row.map_err(io)?;
        let (user, client) = k.value();
        let record = records.get(client).map_err(io)?.ok_or_else(|| StoreError::Corrupt {
            table: "clients",
            why: format!("{client} is a client of {user} without a record"),
        })?;
        out.push((user.to_owned(), client.to_owned(), ClientEntry::decode(record.value())?));
    }
    Ok(out)
}

/// Every mirrored room with its mirror's last position: one range read per room (from the
/// last key of one room to the first of the next), not a scan of the entries.
pub(super) fn mirrored_rooms(db: &Database) -> Result<Vec<(String, u64)>, StoreError> {
    use std::ops::Bound;
    let tx = db.begin_read().map_err(io)?;
    let t = tx.open_table(MIRROR).map_err(io)?;
    let mut out: Vec<(String, u64)> = Vec::new();
    loop {
        let next = match out.last() {
            None => t.iter().map_err(io)?.next(),
            Some((room, _)) => {
                let from = (room.as_str(), u64::MAX);
                t.range::<(&str, u64)>((Bound::Excluded(from), Bound::Unbounded)).map_err(io)?.next()
            }
        };
        let Some(row) = next.transpose().map_err(io)? else { break };
        let room = row.0.value().0.to_owned();
        let last = last_seq(&t, &room)?;
        out.push((room, last));
    }
    Ok(out)
}

/// Whether `user` has at least one registered client.
pub(super) fn user_exists(db: &Database, user: &str) -> Result<bool, StoreError> {
    let tx = db.begin_read().map_err(io)?;
    let t = tx.open_table(USER_CLIENTS).map_err(io)?;
    let first = t.range((user, "")..).map_err(io)?.next().transpose().map_err(io)?;
    Ok(first.is_some_and(|(k, _)| k.value().0 == user))
}

/// The client a KeyPackageRef was uploaded by.
pub(super) fn key_package_owner(db: &Database, reference: &[u8]) -> Result<Option<String>, StoreError> {
    let tx = db.begin_read().map_err(io)?;
    let t = tx.open_table(KP_OWNERS).map_err(io)?;
    Ok(t.get(reference).map_err(io)?.map(|v| v.value().to_owned()))
}

/// The latest claim recorded for a KeyPackageRef.
pub(super) fn key_package_claim(db: &Database, reference: &[u8]) -> Result<Option<KeyPackageClaim>, StoreError> {
    let tx = db.begin_read().map_err(io)?;
    let t = tx.open_table(KP_CLAIMS).map_err(io)?;
    let Some(v) = t.get(reference).map_err(io)? else { return Ok(None) };
    let record = ClaimRecord::tls_deserialize_exact(v.value()).map_err(corrupt("key_package_claims"))?;
    Ok(Some(record.into_claim()))
}

/// The last log position of `room` that `peer` acknowledged (0 if none).
pub(super) fn outbox_cursor(db: &Database, peer: &str, room: &str) -> Result<u64, StoreError> {
    let tx = db.begin_read().map_err(io)?;
    let t = tx.open_table(OUTBOX).map_err(io)?;
    Ok(t.get((peer, room)).map_err(io)?.map(|v| v.value()).unwrap_or(0))
}

/// Whether a FanoutMessage with this hash was taken in already.
pub(super) fn seen(db: &Database, hash: &[u8]) -> Result<bool, StoreError> {
    let tx = db.begin_read().map_err(io)?;
    Ok(tx.open_table(SEEN).map_err(io)?.get(hash).map_err(io)?.is_some())
}

/// The local client that relayed the MLS message with this hash.
pub(super) fn relayed_by(db: &Database, hash: &[u8]) -> Result<Option<String>, StoreError> {
    let tx = db.begin_read().map_err(io)?;
    Ok(tx.open_table(RELAYED).map_err(io)?.get(hash).map_err(io)?.map(|v| v.value().to_owned()))
}

/// The consent recorded for `requester` → `target` in `room` (`None`: for any room).
pub(super) fn consent(
    db: &Database,
    requester: &str,
    target: &str,
    room: Option<&str>,
) -> Result<Option<ConsentState>, StoreError> {
    let tx = db.begin_read().map_err(io)?;
    let t = tx.open_table(CONSENT).map_err(io)?;
    let Some(v) = t.get((requester, target, rules::consent_room(room))).map_err(io)? else { return Ok(None) };
    ConsentState::from_byte(v.value())
        .map(Some)
        .ok_or_else(|| StoreError::Corrupt { table: "consent", why: format!("state byte {}", v.value()) })
}

/// The abuse reports kept for `room`, in the order of their bodies' SHA-256.
pub(super) fn abuse_reports(db: &Database, room: &str) -> Result<Vec<StoredAbuseReport>, StoreError> {
    let tx = db.begin_read().map_err(io)?;
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
