//! Moving a file of an older on-disk format to [`FORMAT_VERSION`], in the transaction that opens
//! it (all of it or nothing: a migration that fails leaves the file as it was).
//!
//! From format 6 to 7 (retention): each queue record is rewritten with a queue time (the
//! migration's: the first TTL counts from when the file was migrated), indexed by it, counted
//! for its Welcome, and its client's last position kept; Welcomes no queue record refers to are
//! deleted; the deduplication and echo records are indexed by the migration's time; each room's
//! fence is taken from its checkpoint. Older formats are not migrated.

use redb::{ReadableTable, TableDefinition, WriteTransaction};
use tls_codec::Deserialize as _;

use super::schema::{
    corrupt, create_tables, encode, io, QueueRecord, QueueRecordV6, FENCES, FORMAT_KEY, FORMAT_VERSION, META, QUEUE,
    QUEUE_HEADS, QUEUE_TIMES, RELAYED, RELAYED_TIMES, ROOMS, SEEN, SEEN_TIMES, WELCOMES, WELCOME_REFS,
};
use crate::hub::Checkpoint;
use crate::store::rules::LogFence;
use crate::store::StoreError;

/// The formats [`migrate`] moves on.
pub(super) const MIGRATES_FROM: u64 = 6;

/// Migrates a file of format [`MIGRATES_FROM`] in `tx` to [`FORMAT_VERSION`], at `now_ms`.
pub(super) fn migrate(tx: &WriteTransaction, now_ms: u64) -> Result<(), StoreError> {
    create_tables(tx)?;
    queue_records(tx, now_ms)?;
    index_by_time(tx, SEEN, SEEN_TIMES, now_ms)?;
    index_by_time(tx, RELAYED, RELAYED_TIMES, now_ms)?;
    let rooms = tx.open_table(ROOMS).map_err(io)?;
    let mut fences = tx.open_table(FENCES).map_err(io)?;
    for row in rooms.iter().map_err(io)? {
        let (k, v) = row.map_err(io)?;
        let checkpoint = Checkpoint::tls_deserialize_exact(v.value()).map_err(corrupt("rooms"))?;
        let fence = LogFence::of(&checkpoint);
        fences.insert(k.value(), (fence.checkpoint_seq, fence.first_pending.unwrap_or(0))).map_err(io)?;
    }
    tx.open_table(META).map_err(io)?.insert(FORMAT_KEY, FORMAT_VERSION).map_err(io)?;
    Ok(())
}

/// Indexes every record of the hash-keyed `table` in `times` at `now_ms`.
fn index_by_time<V: redb::Value + 'static>(
    tx: &WriteTransaction,
    table: TableDefinition<&[u8], V>,
    times: TableDefinition<(u64, &[u8]), ()>,
    now_ms: u64,
) -> Result<(), StoreError> {
    let hashes: Vec<Vec<u8>> = {
        let t = tx.open_table(table).map_err(io)?;
        t.iter().map_err(io)?.map(|r| r.map(|(k, _)| k.value().to_vec()).map_err(io)).collect::<Result<_, _>>()?
    };
    let mut index = tx.open_table(times).map_err(io)?;
    for h in hashes {
        index.insert((now_ms, h.as_slice()), ()).map_err(io)?;
    }
    Ok(())
}

/// Rewrites every queue record with `now_ms` as its queue time, indexes and counts it, keeps each
/// client's last position, and deletes the Welcomes no record refers to.
fn queue_records(tx: &WriteTransaction, now_ms: u64) -> Result<(), StoreError> {
    let old: Vec<(String, u64, Vec<u8>)> = {
        let q = tx.open_table(QUEUE).map_err(io)?;
        let mut out = Vec::new();
        for row in q.iter().map_err(io)? {
            let (k, v) = row.map_err(io)?;
            let (client, seq) = k.value();
            out.push((client.to_owned(), seq, v.value().to_vec()));
        }
        out
    };
    let mut q = tx.open_table(QUEUE).map_err(io)?;
    let mut times = tx.open_table(QUEUE_TIMES).map_err(io)?;
    let mut heads = tx.open_table(QUEUE_HEADS).map_err(io)?;
    let mut refs = tx.open_table(WELCOME_REFS).map_err(io)?;
    for (client, seq, bytes) in old {
        let v6 = QueueRecordV6::tls_deserialize_exact(&bytes).map_err(corrupt("client_queue"))?;
        let held = refs.get(v6.welcome.as_slice()).map_err(io)?.map_or(0, |v| v.value());
        refs.insert(v6.welcome.as_slice(), held + 1).map_err(io)?;
        let record = QueueRecord { room: v6.room, after_seq: v6.after_seq, welcome: v6.welcome, queued_ms: now_ms };
        q.insert((client.as_str(), seq), encode(&record)?.as_slice()).map_err(io)?;
        times.insert((now_ms, client.as_str(), seq), ()).map_err(io)?;
        let head = heads.get(client.as_str()).map_err(io)?.map_or(0, |v| v.value());
        heads.insert(client.as_str(), head.max(seq)).map_err(io)?;
    }
    let mut welcomes = tx.open_table(WELCOMES).map_err(io)?;
    let unreferenced: Vec<Vec<u8>> = {
        let mut out = Vec::new();
        for row in welcomes.iter().map_err(io)? {
            let (k, _) = row.map_err(io)?;
            if refs.get(k.value()).map_err(io)?.is_none() {
                out.push(k.value().to_vec());
            }
        }
        out
    };
    for key in unreferenced {
        welcomes.remove(key.as_slice()).map_err(io)?;
    }
    Ok(())
}
