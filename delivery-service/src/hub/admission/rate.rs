//! Rate limits as plain decisions over counters of the current minute, with the time passed in:
//! [`MinuteCounts`] (shared by every limit), and the `groupInfo` limits ([`GroupInfoLimiter`]):
//! a `groupInfo` answer costs an HPKE seal and a signature, so a caller asking in a loop would
//! spend the hub's CPU for nothing. Its callers are counted by who they are authenticated as (our
//! client by its bearer token, another provider by its mTLS certificate), before the request is
//! even decoded: the cheapest check first. KeyPackage claims have their own
//! ([`super::ClaimLimiter`]).

use std::collections::HashMap;
use std::hash::Hash;

/// Counters for the current minute, per key. Counters exist only for what was admitted this
/// minute and are all dropped when the minute changes.
#[derive(Debug, Clone)]
pub struct MinuteCounts<K> {
    /// The minute (since the UNIX epoch) `counts` are for.
    minute: u64,
    counts: HashMap<K, u32>,
}

impl<K> Default for MinuteCounts<K> {
    fn default() -> Self {
        MinuteCounts { minute: 0, counts: HashMap::new() }
    }
}

impl<K: Hash + Eq> MinuteCounts<K> {
    /// How many counters are kept (those of the current minute).
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// Whether no counter is kept.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Counts one for every key of `bounded` (key, bound) at `now_ms`, or nothing if any is at
    /// its bound this minute (a bound of 0 admits nothing): then the index of the first such.
    pub fn admit(&mut self, bounded: Vec<(K, u32)>, now_ms: u64) -> Result<(), usize> {
        let minute = now_ms / 60_000;
        if minute != self.minute {
            self.minute = minute;
            self.counts = HashMap::new();
        }
        if let Some(i) =
            bounded.iter().position(|(key, bound)| *bound == 0 || self.counts.get(key).is_some_and(|n| n >= bound))
        {
            return Err(i);
        }
        for (key, _) in bounded {
            *self.counts.entry(key).or_insert(0) += 1;
        }
        Ok(())
    }
}

/// How many `groupInfo` requests a minute are answered (`group_info_per_client`,
/// `group_info_per_peer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupInfoLimits {
    /// From one of our clients (default 60: a client fetches it to join by external commit).
    pub per_client: u32,
    /// From another provider, for all its clients and its followers' copies (default 6000).
    pub per_peer: u32,
}

impl Default for GroupInfoLimits {
    fn default() -> Self {
        GroupInfoLimits { per_client: 60, per_peer: 6000 }
    }
}

/// Who asks for a `groupInfo`, as authenticated.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GroupInfoAsker {
    /// One of our clients (its URI).
    Client(String),
    /// Another provider (its domain).
    Peer(String),
}

/// A `groupInfo` request over its limit (429, retry in a minute).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("too many groupInfo requests from {asker:?} (at most {limit} a minute)")]
pub struct TooManyGroupInfos {
    /// Who asked.
    pub asker: GroupInfoAsker,
    /// The limit.
    pub limit: u32,
}

/// `groupInfo` requests counted this minute, per asker.
#[derive(Debug, Clone, Default)]
pub struct GroupInfoLimiter {
    limits: GroupInfoLimits,
    counts: MinuteCounts<GroupInfoAsker>,
}

impl GroupInfoLimiter {
    /// A limiter with `limits`.
    pub fn new(limits: GroupInfoLimits) -> Self {
        GroupInfoLimiter { limits, counts: MinuteCounts::default() }
    }

    /// Counts a request from `asker` at `now_ms`, or refuses it (counting nothing).
    pub fn admit(&mut self, asker: GroupInfoAsker, now_ms: u64) -> Result<(), TooManyGroupInfos> {
        let limit = match asker {
            GroupInfoAsker::Client(_) => self.limits.per_client,
            GroupInfoAsker::Peer(_) => self.limits.per_peer,
        };
        self.counts.admit(vec![(asker.clone(), limit)], now_ms).map_err(|_| TooManyGroupInfos { asker, limit })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_asker_gets_its_own_bound_per_minute() {
        let mut limiter = GroupInfoLimiter::new(GroupInfoLimits { per_client: 2, per_peer: 3 });
        let alice = || GroupInfoAsker::Client("mimi://a.example/d/alice/phone".into());
        let peer = || GroupInfoAsker::Peer("b.example".into());
        let t = 60_000 * 1000;
        assert!(limiter.admit(alice(), t).is_ok());
        assert!(limiter.admit(alice(), t + 1).is_ok());
        assert_eq!(limiter.admit(alice(), t + 2), Err(TooManyGroupInfos { asker: alice(), limit: 2 }));
        for i in 0..3 {
            assert!(limiter.admit(peer(), t + i).is_ok(), "another asker's count is its own");
        }
        assert!(limiter.admit(peer(), t + 3).is_err());
        assert!(limiter.admit(alice(), t + 60_000).is_ok(), "a new minute starts from zero");
        let mut closed = GroupInfoLimiter::new(GroupInfoLimits { per_client: 0, per_peer: 1 });
        assert!(closed.admit(alice(), t).is_err(), "a bound of 0 admits nothing");
    }

    #[test]
    fn a_refused_count_counts_nothing() {
        let mut counts = MinuteCounts::default();
        assert_eq!(counts.admit(vec![("a", 1), ("b", 5)], 0), Ok(()));
        assert_eq!(counts.admit(vec![("b", 5), ("a", 1)], 0), Err(1));
        // "b" was not counted by the refusal: four more fit.
        for _ in 0..4 {
            assert_eq!(counts.admit(vec![("b", 5)], 0), Ok(()));
        }
        assert_eq!(counts.admit(vec![("b", 5)], 0), Err(0));
    }
}
