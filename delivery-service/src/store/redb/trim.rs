//! One retention pass of [`super::RedbStore`] ([`crate::store::Write::Trim`]), inside the writer's
//! batch transaction: queue items read past or older than the TTL (with their Welcome once no
//! queue item refers to it), deduplication and echo records older than the window, and room log
//! and mirror entries that [`rules::log_entry_compactable`] and
//! [`rules::mirror_entry_compactable`] let go.
//!
//! What is trimmed by age is found through the time indexes (`queue_times`, `seen_times`,
//! `relayed_times`), so a pass reads what it deletes and little else; the logs are looked at from
//! their first entry kept and each stops at the first entry that stays, with the room's fence
//! (`checkpoint_fences`) instead of its checkpoint. A pass deletes at most the trim's budget of
//! records and says when it stopped short ([`Trimmed::more`]).

use std::ops::Bound;

use redb::{ReadableTable, WriteTransaction};
use tls_codec::Deserialize as _;

use super::schema::{
    corrupt, io, QueueRecord, FENCES, LOG, MIRROR, OUTBOX, QUEUE, QUEUE_TIMES, RELAYED, RELAYED_TIMES, SEEN,
    SEEN_TIMES, WELCOMES, WELCOME_REFS,
};
use crate::hub::LogEntry;
use crate::store::rules::{self, LogFence};
use crate::store::{StoreError, Trim, Trimmed};

/// Runs one pass of `trim` in `tx`.
pub(super) fn trim(tx: &WriteTransaction, trim: &Trim) -> Result<Trimmed, StoreError> {
    let mut pass = Pass { done: Trimmed::default(), left: trim.budget as u64 };
    for (client, through) in &trim.read_past {
        let seqs = queue_positions(tx, client, *through, pass.left)?;
        // Each item takes one from the budget as it goes.
        pass.drop_queue_items(tx, client, &seqs)?;
    }
    pass.expire_queue(tx, trim.cutoff(trim.retention.queue_ttl_ms))?;
    let dedup = trim.cutoff(trim.retention.dedup_window_ms);
    pass.done.seen += pass.expire_hashes(
        tx,
        SEEN_TIMES,
        |tx, h| Ok(tx.open_table(SEEN).map_err(io)?.remove(h).map_err(io)?.is_some()),
        dedup,
    )?;
    pass.done.relayed += pass.expire_hashes(
        tx,
        RELAYED_TIMES,
        |tx, h| Ok(tx.open_table(RELAYED).map_err(io)?.remove(h).map_err(io)?.is_some()),
        dedup,
    )?;
    let logs = trim.cutoff(trim.retention.log_retention_ms);
    pass.compact_logs(tx, logs)?;
    pass.compact_mirrors(tx, logs)?;
    pass.done.more = pass.left == 0;
    Ok(pass.done)
}

/// A pass in progress: what it deleted and how much of its budget is left.
struct Pass {
    done: Trimmed,
    left: u64,
}

impl Pass {
    /// Takes one record from the budget; `false` once it is spent.
    fn take(&mut self) -> bool {
        if self.left == 0 {
            return false;
        }
        self.left -= 1;
        true
    }

    /// Deletes `client`'s queue items at `seqs`, their time index rows, and each Welcome whose
    /// last queue item goes.
    fn drop_queue_items(&mut self, tx: &WriteTransaction, client: &str, seqs: &[u64]) -> Result<(), StoreError> {
        let mut q = tx.open_table(QUEUE).map_err(io)?;
        let mut times = tx.open_table(QUEUE_TIMES).map_err(io)?;
        let mut refs = tx.open_table(WELCOME_REFS).map_err(io)?;
        let mut welcomes = tx.open_table(WELCOMES).map_err(io)?;
        for &seq in seqs {
            if !self.take() {
                break;
            }
            let Some(record) = q.remove((client, seq)).map_err(io)? else { continue };
            let record = QueueRecord::tls_deserialize_exact(record.value()).map_err(corrupt("client_queue"))?;
            self.done.queue_items += 1;
            times.remove((record.queued_ms, client, seq)).map_err(io)?;
            let key = record.welcome.as_slice();
            let held = refs.get(key).map_err(io)?.map_or(0, |v| v.value());
            if held > 1 {
                refs.insert(key, held - 1).map_err(io)?;
            } else {
                refs.remove(key).map_err(io)?;
                if welcomes.remove(key).map_err(io)?.is_some() {
                    self.done.welcomes += 1;
                    // A Welcome going is one more record; the budget may go below what the items
                    // took, never below zero.
                    self.left = self.left.saturating_sub(1);
                }
            }
        }
        Ok(())
    }

    /// Deletes the queue items queued at or before `cutoff_ms`.
    fn expire_queue(&mut self, tx: &WriteTransaction, cutoff_ms: u64) -> Result<(), StoreError> {
        let expired: Vec<(String, u64)> = {
            let times = tx.open_table(QUEUE_TIMES).map_err(io)?;
            let mut out = Vec::new();
            let range = times
                .range::<(u64, &str, u64)>((Bound::Unbounded, Bound::Excluded((cutoff_ms.saturating_add(1), "", 0))));
            for row in range.map_err(io)?.take(usize::try_from(self.left).unwrap_or(usize::MAX)) {
                let (k, _) = row.map_err(io)?;
                let (_, client, seq) = k.value();
                out.push((client.to_owned(), seq));
            }
            out
        };
        for (client, seq) in expired {
            self.drop_queue_items(tx, &client, &[seq])?;
        }
        Ok(())
    }

    /// Deletes the records of a hash table whose time index `times` dates them at or before
    /// `cutoff_ms` (`remove` deletes one from its table): how many went.
    fn expire_hashes(
        &mut self,
        tx: &WriteTransaction,
        times: redb::TableDefinition<(u64, &[u8]), ()>,
        remove: impl Fn(&WriteTransaction, &[u8]) -> Result<bool, StoreError>,
        cutoff_ms: u64,
    ) -> Result<u64, StoreError> {
        let expired: Vec<(u64, Vec<u8>)> = {
            let index = tx.open_table(times).map_err(io)?;
            let mut out = Vec::new();
            let range = index
                .range::<(u64, &[u8])>((Bound::Unbounded, Bound::Excluded((cutoff_ms.saturating_add(1), &[][..]))));
            for row in range.map_err(io)? {
                if !self.take() {
                    break;
                }
                let (k, _) = row.map_err(io)?;
                let (ms, hash) = k.value();
                out.push((ms, hash.to_vec()));
            }
            out
        };
        let mut index = tx.open_table(times).map_err(io)?;
        let mut gone = 0;
        for (ms, hash) in expired {
            index.remove((ms, hash.as_slice())).map_err(io)?;
            gone += u64::from(remove(tx, &hash)?);
        }
        Ok(gone)
    }

    /// Compacts each room's log from its first entry kept, up to its fence.
    fn compact_logs(&mut self, tx: &WriteTransaction, cutoff_ms: u64) -> Result<(), StoreError> {
        let fences: Vec<(String, LogFence)> = {
            let t = tx.open_table(FENCES).map_err(io)?;
            let mut out = Vec::new();
            for row in t.iter().map_err(io)? {
                let (k, v) = row.map_err(io)?;
                let (checkpoint_seq, first_pending) = v.value();
                let first_pending = (first_pending != 0).then_some(first_pending);
                out.push((k.value().to_owned(), LogFence { checkpoint_seq, first_pending }));
            }
            out
        };
        let outbox = tx.open_table(OUTBOX).map_err(io)?;
        let mut log = tx.open_table(LOG).map_err(io)?;
        for (room, fence) in fences {
            if self.left == 0 {
                break;
            }
            let mut doomed = Vec::new();
            for row in log.range((room.as_str(), 0)..(room.as_str(), fence.checkpoint_seq)).map_err(io)? {
                let (k, v) = row.map_err(io)?;
                let seq = k.value().1;
                let entry = LogEntry::tls_deserialize_exact(v.value()).map_err(corrupt("room_log"))?;
                let mut delivered = true;
                for peer in entry.all_peers() {
                    let cursor = outbox.get((peer.as_str(), room.as_str())).map_err(io)?.map_or(0, |c| c.value());
                    delivered &= cursor >= seq;
                }
                if !rules::log_entry_compactable(fence, seq, entry.accepted_ms, cutoff_ms, delivered) || !self.take() {
                    break;
                }
                doomed.push(seq);
            }
            for seq in doomed {
                log.remove((room.as_str(), seq)).map_err(io)?;
                self.done.log_entries += 1;
            }
        }
        Ok(())
    }

    /// Compacts each mirror from its first entry kept: entries older than the retention, never
    /// the last.
    fn compact_mirrors(&mut self, tx: &WriteTransaction, cutoff_ms: u64) -> Result<(), StoreError> {
        let mut mirror = tx.open_table(MIRROR).map_err(io)?;
        let mut next: Option<String> = None;
        loop {
            if self.left == 0 {
                return Ok(());
            }
            // The next room with a mirror, after the one just done.
            let room = {
                let mut range = match &next {
                    None => mirror.range::<(&str, u64)>(..).map_err(io)?,
                    Some(r) => mirror
                        .range::<(&str, u64)>((Bound::Excluded((r.as_str(), u64::MAX)), Bound::Unbounded))
                        .map_err(io)?,
                };
                match range.next().transpose().map_err(io)? {
                    Some((k, _)) => k.value().0.to_owned(),
                    None => return Ok(()),
                }
            };
            let last = super::schema::last_seq(&mirror, &room)?;
            let mut doomed = Vec::new();
            for row in mirror.range((room.as_str(), 0)..(room.as_str(), last)).map_err(io)? {
                let (k, v) = row.map_err(io)?;
                let seq = k.value().1;
                let accepted_ms = accepted_ms(v.value()).ok_or_else(|| StoreError::Corrupt {
                    table: "mirror_log",
                    why: format!("{room}: entry {seq} shorter than its header"),
                })?;
                if !rules::mirror_entry_compactable(seq, last, accepted_ms, cutoff_ms) || !self.take() {
                    break;
                }
                doomed.push(seq);
            }
            for seq in doomed {
                mirror.remove((room.as_str(), seq)).map_err(io)?;
                self.done.mirror_entries += 1;
            }
            next = Some(room);
        }
    }
}

/// `client`'s queue positions up to `through`, at most `most`.
fn queue_positions(tx: &WriteTransaction, client: &str, through: u64, most: u64) -> Result<Vec<u64>, StoreError> {
    let q = tx.open_table(QUEUE).map_err(io)?;
    let mut out = Vec::new();
    for row in q.range((client, 0)..=(client, through)).map_err(io)? {
        if out.len() as u64 >= most {
            break;
        }
        out.push(row.map_err(io)?.0.value().1);
    }
    Ok(out)
}

/// A log entry's acceptance time, read from its fixed header (`seq`, `epoch`, `accepted_ms`, each
/// a u64) without decoding the entry.
fn accepted_ms(entry: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(entry.get(16..24)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use tls_codec::Serialize as _;

    #[test]
    fn the_acceptance_time_is_read_from_the_entry_header() {
        let entry =
            crate::hub::LogEntry { seq: 7, epoch: 3, accepted_ms: 123_456_789, ..crate::store::contract::entry(0) };
        let bytes = entry.tls_serialize_detached().unwrap();
        assert_eq!(super::accepted_ms(&bytes), Some(123_456_789));
        assert_eq!(super::accepted_ms(&bytes[..20]), None);
    }
}
