//! The store's rules that are not about tables, shared by every back end so that each applies a
//! [`Write`](super::Write) the same way: the fence of an append, the fence of a checkpoint, which
//! KeyPackage a claim serves and which it deletes, how a consent scope and an abuse report are
//! keyed, when an outbox cursor moves, and what retention may delete. Consent transitions are
//! [`ConsentState::after`](super::ConsentState::after).
//!
//! A back end looks its facts up (the room's last position, a client's KeyPackages) and writes
//! what these functions decide; none of them does I/O.

use sha2::{Digest, Sha256};

use super::StoreError;
use crate::hub::LogEntry;

/// The fence of an append (to a room's log or a follower's mirror): `entries` follow position
/// `last` (an empty append expects `last`) and are numbered without gaps. Otherwise
/// [`StoreError::Conflict`]: someone else appended first, and nothing may be written.
pub fn check_follows(room: &str, entries: &[LogEntry], last: u64) -> Result<(), StoreError> {
    let expected = entries.first().map(|e| e.seq.saturating_sub(1)).unwrap_or(last);
    if expected != last || entries.windows(2).any(|w| w[1].seq != w[0].seq + 1) {
        return Err(StoreError::Conflict { room: room.to_owned(), last, expected });
    }
    Ok(())
}

/// The fence of a checkpoint at position `seq` of a room whose durable log ends at `last`: a
/// checkpoint may be queued behind appends it covers, and is refused if they did not land.
pub fn check_checkpoint(room: &str, last: u64, seq: u64) -> Result<(), StoreError> {
    if last < seq {
        return Err(StoreError::Conflict { room: room.to_owned(), last, expected: seq });
    }
    Ok(())
}

/// What a claim looks at in one stored KeyPackage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPackageTerms {
    /// Served again when nothing else is left, and never deleted.
    pub last_resort: bool,
    /// Expiry, seconds since the UNIX epoch.
    pub not_after: u64,
}

/// What a claim does with one client's KeyPackages (indices into what it was given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPick {
    /// Expired ones: skipped and deleted.
    pub expired: Vec<usize>,
    /// The one served, if any is left (the client is exhausted otherwise).
    pub served: Option<usize>,
    /// Whether the served one is deleted (single use); a last-resort one is kept.
    pub delete_served: bool,
}

/// Whether a KeyPackage good up to and including `not_after` has expired at `now_secs`.
pub fn is_expired(not_after: u64, now_secs: u64) -> bool {
    not_after < now_secs
}

/// A claim's look at one client's KeyPackages, one at a time in the store's order, so that a
/// back end reads no further than the pick needs: the first single-use one that has not
/// expired settles it (nothing after it is read, so the claim costs the same however many
/// KeyPackages the client keeps); otherwise the first last-resort one that has not expired is
/// served, after all were looked at. Expired ones looked at are deleted.
#[derive(Debug, Clone)]
pub struct ClaimScan {
    now_secs: u64,
    next: usize,
    expired: Vec<usize>,
    served: Option<(usize, bool)>,
}

impl ClaimScan {
    /// A scan at `now_secs`.
    pub fn new(now_secs: u64) -> Self {
        ClaimScan { now_secs, next: 0, expired: Vec::new(), served: None }
    }

    /// Looks at the next KeyPackage; `false` once the pick is settled (read no more).
    pub fn offer(&mut self, t: KeyPackageTerms) -> bool {
        let i = self.next;
        self.next += 1;
        if is_expired(t.not_after, self.now_secs) {
            self.expired.push(i);
        } else if self.served.is_none_or(|(_, last_resort)| last_resort && !t.last_resort) {
            self.served = Some((i, t.last_resort));
        }
        self.served.is_none_or(|(_, last_resort)| last_resort)
    }

    /// The pick.
    pub fn finish(self) -> ClaimPick {
        let served = self.served;
        ClaimPick {
            expired: self.expired,
            served: served.map(|(i, _)| i),
            delete_served: served.is_some_and(|(_, lr)| !lr),
        }
    }
}

/// Which of one client's KeyPackages (in the store's order) a claim at `now_secs` serves: the
/// first single-use one that has not expired, else the first last-resort one that has not
/// ([`ClaimScan`]: nothing after a served single-use one is looked at).
pub fn pick_key_package(terms: impl IntoIterator<Item = KeyPackageTerms>, now_secs: u64) -> ClaimPick {
    let mut scan = ClaimScan::new(now_secs);
    for t in terms {
        if !scan.offer(t) {
            break;
        }
    }
    scan.finish()
}

/// How a consent scope's room is keyed: consent for any room is the empty room.
pub fn consent_room(room: Option<&str>) -> &str {
    room.unwrap_or("")
}

/// How an abuse report is keyed within its room: the SHA-256 of its body, so a byte-identical
/// report is kept once, and a room's reports are read in this order.
pub fn abuse_report_key(report: &[u8]) -> [u8; 32] {
    Sha256::digest(report).into()
}

/// Whether an outbox cursor at `current` moves to an acknowledged `seq` (never backwards).
pub fn outbox_advances(current: u64, seq: u64) -> bool {
    seq > current
}

/// How far a room's log may be compacted: what its latest checkpoint covers and what it still
/// needs. A back end keeps it beside the checkpoint (so compaction does not read checkpoints).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogFence {
    /// The checkpoint's log position ([`crate::hub::Checkpoint::seq`]).
    pub checkpoint_seq: u64,
    /// The position of the checkpoint's first pending proposal: a restart reads it back.
    pub first_pending: Option<u64>,
}

impl LogFence {
    /// The fence of `checkpoint`.
    pub fn of(checkpoint: &crate::hub::Checkpoint) -> Self {
        LogFence { checkpoint_seq: checkpoint.seq, first_pending: checkpoint.pending_seqs.iter().copied().min() }
    }
}

/// Whether retention deletes the room log entry at `seq` (accepted at `accepted_ms`), looked at in
/// log order from the first one kept, compaction stopping at the first that stays: it is behind the
/// checkpoint (strictly: the checkpoint's own entry stays, so the log is never empty once it had an
/// entry and its last position is never lost), before every pending proposal, older than the
/// retention (`accepted_ms <= cutoff_ms`), and `delivered` to every peer it names (their outbox
/// cursors passed it: a follower never misses what was meant for it).
pub fn log_entry_compactable(fence: LogFence, seq: u64, accepted_ms: u64, cutoff_ms: u64, delivered: bool) -> bool {
    seq < fence.checkpoint_seq
        && fence.first_pending.is_none_or(|p| seq < p)
        && is_past(accepted_ms, cutoff_ms)
        && delivered
}

/// Whether retention deletes the mirror entry at `seq` of a mirror whose last position is `last`:
/// older than the retention, and not the last one (which keeps the mirror's numbering).
pub fn mirror_entry_compactable(seq: u64, last: u64, accepted_ms: u64, cutoff_ms: u64) -> bool {
    seq < last && is_past(accepted_ms, cutoff_ms)
}

/// Whether something stored at `stamp_ms` is past a window that ends at `cutoff_ms` (`now −
/// window`).
pub fn is_past(stamp_ms: u64, cutoff_ms: u64) -> bool {
    stamp_ms <= cutoff_ms
}

/// Whether a read of a log after `after` that returned entries starting at `first` skipped entries
/// that retention compacted: the reader's cursor is older than what is kept.
pub fn skips_compacted(after: u64, first: Option<u64>) -> bool {
    first.is_some_and(|f| f > after.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_serves_single_use_first_then_last_resort_and_drops_expired() {
        let t = |last_resort, not_after| KeyPackageTerms { last_resort, not_after };
        let pick = pick_key_package([t(true, 100), t(false, 5), t(false, 100), t(false, 100)], 50);
        assert_eq!(pick, ClaimPick { expired: vec![1], served: Some(2), delete_served: true });
        let pick = pick_key_package([t(false, 5), t(true, 100), t(true, 100)], 50);
        assert_eq!(pick, ClaimPick { expired: vec![0], served: Some(1), delete_served: false });
        let pick = pick_key_package([t(true, 5)], 50);
        assert_eq!(pick, ClaimPick { expired: vec![0], served: None, delete_served: false });
        // The scan stops at the first good single-use one: an expired one after it stays.
        let pick = pick_key_package([t(false, 100), t(false, 5)], 50);
        assert_eq!(pick, ClaimPick { expired: vec![], served: Some(0), delete_served: true });
        // Expiry is inclusive: a KeyPackage is good up to and including its `not_after`.
        assert_eq!(pick_key_package([t(false, 50)], 50).served, Some(0));
    }

    #[test]
    fn compaction_stops_at_the_checkpoint_pending_proposals_the_window_and_undelivered_entries() {
        let fence = LogFence { checkpoint_seq: 10, first_pending: Some(8) };
        assert!(log_entry_compactable(fence, 7, 100, 100, true));
        assert!(!log_entry_compactable(fence, 8, 100, 100, true), "a pending proposal stays");
        assert!(!log_entry_compactable(fence, 7, 101, 100, true), "younger than the retention");
        assert!(!log_entry_compactable(fence, 7, 100, 100, false), "not delivered to a peer yet");
        let fence = LogFence { checkpoint_seq: 10, first_pending: None };
        assert!(log_entry_compactable(fence, 9, 0, 100, true));
        assert!(!log_entry_compactable(fence, 10, 0, 100, true), "the checkpoint's own entry stays");
        assert!(!log_entry_compactable(LogFence::default(), 0, 0, 100, true));
        assert!(mirror_entry_compactable(4, 5, 10, 10));
        assert!(!mirror_entry_compactable(5, 5, 10, 10), "the mirror's last entry stays");
        assert!(!mirror_entry_compactable(4, 5, 11, 10));
        assert!(skips_compacted(3, Some(5)));
        assert!(!skips_compacted(3, Some(4)));
        assert!(!skips_compacted(3, None));
        assert!(!skips_compacted(u64::MAX, Some(u64::MAX)));
    }

    #[test]
    fn appends_and_checkpoints_are_fenced() {
        let e = |seq| LogEntry { seq, ..crate::store::contract::entry(0) };
        assert!(check_follows("r", &[e(3), e(4)], 2).is_ok());
        assert!(check_follows("r", &[], 2).is_ok());
        assert!(matches!(check_follows("r", &[e(2)], 2), Err(StoreError::Conflict { last: 2, expected: 1, .. })));
        assert!(check_follows("r", &[e(3), e(5)], 2).is_err(), "a gap inside the append");
        assert!(check_checkpoint("r", 5, 5).is_ok());
        assert!(matches!(check_checkpoint("r", 4, 5), Err(StoreError::Conflict { last: 4, expected: 5, .. })));
    }
}
