//! The hub's per-peer outbox over the room logs.
//!
//! Planning and retry policy are plain functions ([`plan`], [`Backoff`], [`Attempt::classify`]);
//! [`Outbox::run`] is the I/O loop around them. For each room this provider is the hub of and
//! each peer an entry names ([`crate::hub::LogEntry::peers`]), a worker sends the entries after
//! the peer's durable cursor as one `/notify` body (concatenated `FanoutMessage`s), and moves the
//! cursor only when the peer answers `201`. One request per (peer, room) is in flight at a time,
//! which keeps each room in order; different rooms proceed in parallel.
//!
//! Metrics, per peer: `mimi_outbox_lag_entries{peer}`, the log positions the peer's cursors are
//! behind the logs, summed over rooms (refreshed on every scheduling pass and delivery), and
//! `mimi_outbox_delivery_lag_seconds{peer}`, how old the oldest entry of each delivered batch
//! was when the peer acknowledged it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;
use tokio::task::JoinHandle;

use super::peers::Peers;
use crate::hub::outgoing::write_fanouts_for;
use crate::hub::LogEntry;
use crate::metrics::{GaugeVec, HistogramVec, MetricsError, Registry};
use crate::provider::{now_ms, Provider};
use crate::store::{settle, Store, Write};
use crate::tls::PeerClient;
use mimi_protocol::directory::Endpoint;

/// Most entries in one `/notify` body.
pub const MAX_BATCH: usize = 64;
/// Most bytes of one `/notify` body, well under what a follower takes by default (32 MiB): a batch
/// of large commits or Welcomes stops before the entry that would pass it. An entry larger than
/// this alone is still sent alone.
pub const MAX_BATCH_BYTES: usize = 8 << 20;

/// What a worker sends next: the `/notify` body of FanoutMessages for the peer, and the cursor to
/// store once they are acknowledged (the last position examined, including entries not meant for
/// this peer).
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// The FanoutMessages to send, in log order, concatenated (written from the log's bytes,
    /// [`write_fanouts_for`]).
    pub body: Vec<u8>,
    /// How many FanoutMessages `body` holds.
    pub messages: usize,
    /// The cursor after this batch.
    pub advance_to: u64,
}

/// Plans the next batch for `peer` from the log entries after its cursor (in order): those that
/// go to the peer (as entries or Welcomes, [`write_fanouts_for`]), stopping before the entry that
/// would make more than `max` messages or a body of more than `max_bytes` (the first entry is
/// always taken, whatever its size). `None` when nothing follows the cursor.
pub fn plan(peer: &str, entries: &[LogEntry], max: usize, max_bytes: usize) -> Result<Option<Batch>, tls_codec::Error> {
    let Some(last) = entries.last() else { return Ok(None) };
    let mut batch = Batch { body: Vec::new(), messages: 0, advance_to: last.seq };
    for e in entries {
        if !e.goes_to(peer) {
            continue;
        }
        let mark = batch.body.len();
        if batch.messages >= max {
            // Stop before this entry: the cursor must not pass what was not sent.
            batch.advance_to = e.seq - 1;
            break;
        }
        let written = write_fanouts_for(e, peer, &mut batch.body)?;
        if batch.messages > 0 && batch.body.len() > max_bytes {
            batch.body.truncate(mark);
            batch.advance_to = e.seq - 1;
            break;
        }
        batch.messages += written;
    }
    Ok(Some(batch))
}

/// Exponential backoff with jitter for failed deliveries.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// Delay after the first failure.
    pub base: Duration,
    /// Longest delay.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { base: Duration::from_millis(200), max: Duration::from_secs(60) }
    }
}

impl Backoff {
    /// The delay before retry number `attempt` (1 = first retry): `base × 2^(attempt−1)`, capped,
    /// then drawn uniformly from its upper half using `random` (any `u64`).
    pub fn delay(&self, attempt: u32, random: u64) -> Duration {
        let exp = self.base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20)).min(self.max);
        let half = exp / 2;
        let spread = half.as_millis() as u64;
        half + Duration::from_millis(if spread == 0 { 0 } else { random % (spread + 1) })
    }
}

/// How a delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// `201`: the peer has it; advance the cursor.
    Delivered,
    /// `429`/`503` with `Retry-After`: try again no sooner than that.
    RetryAfter(Duration),
    /// Anything else (other status, no answer): back off and retry.
    Failed,
}

impl Attempt {
    /// Classifies an HTTP answer (`None`: the request failed before an answer).
    pub fn classify(answer: Option<(StatusCode, &HeaderMap)>) -> Attempt {
        match answer {
            Some((StatusCode::CREATED, _)) => Attempt::Delivered,
            Some((StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE, headers)) => headers
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map_or(Attempt::Failed, |secs| Attempt::RetryAfter(Duration::from_secs(secs))),
            _ => Attempt::Failed,
        }
    }
}

/// A running delivery worker.
struct Worker {
    /// Its task.
    handle: JoinHandle<()>,
    /// Set when new entries arrived while it ran: it must look again before it stops. Checked
    /// and cleared under the same lock the scheduler holds, so no wake-up is lost.
    rerun: bool,
}

/// The delivery loop of a hub.
pub struct Outbox<S: Store> {
    provider: Arc<Provider<S>>,
    /// Peer calls (`From: mimi@<our domain>`, directories cached).
    peers: Peers,
    backoff: Backoff,
    /// Running workers by (peer, room).
    workers: Mutex<HashMap<(String, String), Worker>>,
    /// Per room: the last log position scanned and the peers named so far.
    scanned: Mutex<HashMap<String, (u64, Vec<String>)>>,
    /// How far behind each peer is, for the metrics.
    lag: Mutex<Lag>,
    metrics: OutboxMetrics,
}

/// Log positions each peer's cursor is behind, per room and summed per peer.
#[derive(Debug, Default)]
struct Lag {
    /// (peer, room) → positions behind.
    rooms: HashMap<(String, String), u64>,
    /// peer → the sum of its rooms'.
    peers: HashMap<String, u64>,
}

impl Lag {
    /// Sets how far `peer` is behind in `room`; returns its new sum over rooms.
    fn set(&mut self, peer: &str, room: &str, behind: u64) -> u64 {
        let before = self.rooms.insert((peer.to_owned(), room.to_owned()), behind).unwrap_or(0);
        let total = self.peers.entry(peer.to_owned()).or_insert(0);
        *total = (*total + behind).saturating_sub(before);
        *total
    }
}

/// The outbox's metrics (module docs).
#[derive(Debug, Clone)]
struct OutboxMetrics {
    lag_entries: GaugeVec,
    delivery_lag: HistogramVec,
}

impl OutboxMetrics {
    fn register(registry: &Registry) -> Result<Self, MetricsError> {
        Ok(OutboxMetrics {
            lag_entries: registry.gauge_vec(
                "mimi_outbox_lag_entries",
                "Log positions the peer's outbox cursors are behind the room logs, summed over rooms.",
                &["peer"],
            )?,
            delivery_lag: registry.histogram_vec(
                "mimi_outbox_delivery_lag_seconds",
                "Age of the oldest entry of a batch when the peer acknowledged it, seconds.",
                &["peer"],
            )?,
        })
    }
}

impl<S: Store> Outbox<S> {
    /// An outbox for `provider`, reaching peers through `peers`, with its metrics registered in
    /// `registry`.
    pub fn new(
        domain: &str,
        provider: Arc<Provider<S>>,
        peers: PeerClient,
        backoff: Backoff,
        registry: &Registry,
    ) -> Result<Arc<Self>, MetricsError> {
        Ok(Arc::new(Outbox {
            provider,
            peers: Peers::new(domain, peers),
            backoff,
            workers: Mutex::new(HashMap::new()),
            scanned: Mutex::new(HashMap::new()),
            lag: Mutex::new(Lag::default()),
            metrics: OutboxMetrics::register(registry)?,
        }))
    }

    /// Notes that `peer` is `behind` log positions behind in `room`, in the metrics.
    fn note_lag(&self, peer: &str, room: &str, behind: u64) {
        // Plain numbers changed in one step: a poisoned lock is used as it is.
        let total = self.lag.lock().unwrap_or_else(PoisonError::into_inner).set(peer, room, behind);
        if let Ok(gauge) = self.metrics.lag_entries.with_labels(&[peer]) {
            gauge.set(total as f64);
        }
    }

    /// Runs until the task is aborted: on every durable append (and every few seconds), starts a
    /// worker for each (peer, room) with undelivered entries that has none running.
    pub async fn run(self: Arc<Self>) {
        let mut appended = self.provider.subscribe_appends();
        loop {
            self.schedule().await;
            // A new append or five quiet seconds: either way, schedule again. (The sender lives
            // in the provider, which this outbox holds, so `changed` cannot fail.)
            let _ = tokio::time::timeout(Duration::from_secs(5), appended.changed()).await;
        }
    }

    /// Stops every delivery worker (after the [`Outbox::run`] task was aborted) and waits until
    /// they are gone, so they no longer hold the provider. Undelivered entries stay in the log
    /// behind the durable cursors.
    pub async fn shutdown(&self) {
        let workers: Vec<JoinHandle<()>> = self.workers().drain().map(|(_, w)| w.handle).collect();
        for handle in workers {
            handle.abort();
            // Aborted on purpose: the join error says just that.
            let _ = handle.await;
        }
    }

    /// The running workers. The map is changed by single inserts and removes, so a panic
    /// elsewhere cannot leave it half-changed: a poisoned lock is used as it is.
    fn workers(&self) -> MutexGuard<'_, HashMap<(String, String), Worker>> {
        self.workers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What was scanned per room (a cache: a poisoned lock is used as it is, like `workers`).
    fn scanned(&self) -> MutexGuard<'_, HashMap<String, (u64, Vec<String>)>> {
        self.scanned.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn schedule(self: &Arc<Self>) {
        let rooms = match self.provider.room_ids() {
            Ok(rooms) => rooms,
            Err(e) => return tracing::error!(error = %e, "outbox cannot list the rooms"),
        };
        for room in rooms {
            let (scanned, peers) = match self.scan(&room).await {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(room = %room, error = %e, "outbox scan failed");
                    continue;
                }
            };
            // The cursors are read before the workers' table is locked (it is not held across a
            // read).
            let mut behind = Vec::new();
            for peer in peers {
                match self.provider.store().outbox_cursor(&peer, &room).await {
                    Ok(cursor) => {
                        self.note_lag(&peer, &room, scanned.saturating_sub(cursor));
                        if cursor < scanned {
                            behind.push(peer);
                        }
                    }
                    // An unreadable cursor counts as behind: the worker reads it again and reports.
                    Err(_) => behind.push(peer),
                }
            }
            let mut workers = self.workers();
            workers.retain(|_, w| !w.handle.is_finished());
            for peer in behind {
                let key = (peer.clone(), room.clone());
                if let Some(w) = workers.get_mut(&key) {
                    w.rerun = true;
                    continue;
                }
                let me = self.clone();
                let room = room.clone();
                let handle = tokio::spawn(async move { me.deliver(peer, room).await });
                workers.insert(key, Worker { handle, rerun: false });
            }
        }
    }

    /// Reads the log of `room` past what was scanned before and returns the last position seen
    /// and every peer any entry so far names.
    async fn scan(&self, room: &str) -> Result<(u64, Vec<String>), crate::store::StoreError> {
        // A room not scanned yet is scanned from the start.
        let (mut after, mut peers) = self.scanned().get(room).cloned().unwrap_or_default();
        loop {
            let entries = self.provider.store().log_after(room, after, 1024).await?;
            let Some(last) = entries.last() else { break };
            after = last.seq;
            for p in entries.iter().flat_map(LogEntry::all_peers) {
                if !peers.contains(&p) {
                    peers.push(p);
                }
            }
        }
        self.scanned().insert(room.to_owned(), (after, peers.clone()));
        Ok((after, peers))
    }

    /// Delivers `room` to `peer` until caught up, retrying as needed.
    async fn deliver(&self, peer: String, room: String) {
        let store = self.provider.store();
        let mut attempt = 0u32;
        loop {
            let cursor = match store.outbox_cursor(&peer, &room).await {
                Ok(c) => c,
                Err(e) => return tracing::warn!(%peer, %room, error = %e, "outbox cursor unreadable"),
            };
            let entries = match store.log_after(&room, cursor, 4 * MAX_BATCH).await {
                Ok(e) => e,
                Err(e) => return tracing::warn!(%peer, %room, error = %e, "outbox log unreadable"),
            };
            let batch = match plan(&peer, &entries, MAX_BATCH, MAX_BATCH_BYTES) {
                Ok(Some(b)) => b,
                Ok(None) => {
                    // Caught up: stop, unless the scheduler saw new entries meanwhile.
                    let key = (peer.clone(), room.clone());
                    let mut workers = self.workers();
                    match workers.get_mut(&key) {
                        Some(w) if w.rerun => {
                            w.rerun = false;
                            continue;
                        }
                        _ => {
                            workers.remove(&key);
                            return;
                        }
                    }
                }
                Err(e) => return tracing::error!(%peer, %room, error = %e, "log entries cannot be framed"),
            };
            let oldest = entries.iter().find(|e| e.goes_to(&peer)).map(|e| e.accepted_ms);
            let outcome =
                if batch.messages == 0 { Attempt::Delivered } else { self.send(&peer, &room, batch.body).await };
            match outcome {
                Attempt::Delivered => {
                    attempt = 0;
                    let write = Write::AdvanceOutbox { peer: peer.clone(), room: room.clone(), seq: batch.advance_to };
                    if let Err(e) = settle(store.write(write)).await {
                        tracing::warn!(%peer, %room, error = %e, "outbox cursor not saved");
                        return;
                    }
                    tracing::debug!(%peer, %room, to = batch.advance_to, n = batch.messages, "delivered");
                    let scanned = self.scanned().get(&room).map_or(0, |(last, _)| *last);
                    self.note_lag(&peer, &room, scanned.saturating_sub(batch.advance_to));
                    if let (Some(accepted_ms), true) = (oldest, batch.messages > 0) {
                        if let Ok(h) = self.metrics.delivery_lag.with_labels(&[&peer]) {
                            h.record(now_ms().saturating_sub(accepted_ms) as f64 / 1000.0);
                        }
                    }
                }
                Attempt::RetryAfter(wait) => {
                    tracing::info!(%peer, %room, secs = wait.as_secs(), "peer asked to retry later");
                    tokio::time::sleep(wait).await;
                }
                Attempt::Failed => {
                    attempt += 1;
                    let wait = self.backoff.delay(attempt, random());
                    tracing::info!(%peer, %room, attempt, ms = wait.as_millis() as u64, "delivery failed; backing off");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// One `/notify` request with `body`.
    async fn send(&self, peer: &str, room: &str, body: Vec<u8>) -> Attempt {
        match self.peers.post(peer, Endpoint::Notify, room, body).await {
            Ok(answer) => {
                if !answer.status.is_success() {
                    let reason = String::from_utf8_lossy(&answer.body);
                    tracing::warn!(%peer, %room, status = %answer.status, reason = %reason.trim(), "notify refused");
                }
                Attempt::classify(Some((answer.status, &answer.headers)))
            }
            Err(e) => {
                tracing::warn!(%peer, %room, error = %e, "notify request failed");
                Attempt::Failed
            }
        }
    }
}

/// A random `u64` for jitter (not security relevant: without randomness the jitter is 0 and
/// the delay its lower bound, which is still a correct backoff).
fn random() -> u64 {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    u64::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::EntryKind;

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let b = Backoff { base: Duration::from_millis(100), max: Duration::from_secs(1) };
        assert!((50..=100).contains(&(b.delay(1, 12345).as_millis() as u64)));
        assert!((100..=200).contains(&(b.delay(2, 777).as_millis() as u64)));
        assert!((500..=1000).contains(&(b.delay(30, 9).as_millis() as u64)));
        assert_eq!(b.delay(3, 0), Duration::from_millis(200));
        assert_eq!(b.delay(3, u64::MAX - (u64::MAX % 201)), Duration::from_millis(200));
    }

    #[test]
    fn answers_are_classified() {
        let mut h = HeaderMap::new();
        assert_eq!(Attempt::classify(Some((StatusCode::CREATED, &h))), Attempt::Delivered);
        assert_eq!(Attempt::classify(Some((StatusCode::OK, &h))), Attempt::Failed);
        assert_eq!(Attempt::classify(Some((StatusCode::SERVICE_UNAVAILABLE, &h))), Attempt::Failed);
        h.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(
            Attempt::classify(Some((StatusCode::SERVICE_UNAVAILABLE, &h))),
            Attempt::RetryAfter(Duration::from_secs(7))
        );
        assert_eq!(
            Attempt::classify(Some((StatusCode::TOO_MANY_REQUESTS, &h))),
            Attempt::RetryAfter(Duration::from_secs(7))
        );
        assert_eq!(Attempt::classify(None), Attempt::Failed);
    }

    #[test]
    fn plans_only_the_peers_entries_and_never_skips_unsent_ones() {
        // Application entries need a decodable MLS message to become FanoutMessages; an empty
        // batch is enough to check the cursor arithmetic for entries of other peers.
        let entry = |seq: u64, peer: &str| LogEntry {
            seq,
            epoch: 0,
            accepted_ms: 0,
            kind: EntryKind::Application,
            message: Vec::new().into(),
            extra: vec![],
            sender: Vec::new().into(),
            peers: vec![peer.as_bytes().to_vec().into()],
            group_info: Vec::new().into(),
            welcome: Vec::new().into(),
            welcome_peers: vec![],
            frank: None,
        };
        let others = [entry(5, "c.example"), entry(6, "c.example")];
        assert_eq!(
            plan("b.example", &others, 10, MAX_BATCH_BYTES).unwrap(),
            Some(Batch { body: vec![], messages: 0, advance_to: 6 })
        );
        assert_eq!(plan("b.example", &[], 10, MAX_BATCH_BYTES).unwrap(), None);
        // With max 0 the first entry for the peer stops the batch before it.
        let mixed = [entry(5, "c.example"), entry(6, "b.example"), entry(7, "c.example")];
        assert_eq!(
            plan("b.example", &mixed, 0, MAX_BATCH_BYTES).unwrap(),
            Some(Batch { body: vec![], messages: 0, advance_to: 5 })
        );
    }

    #[test]
    fn a_batch_stops_before_the_entry_that_would_pass_its_byte_bound() {
        // Welcomes are written from the log's bytes without decoding: 1000 bytes each, framed.
        let welcome = |seq: u64| LogEntry {
            seq,
            epoch: 0,
            accepted_ms: 0,
            kind: EntryKind::Commit,
            message: Vec::new().into(),
            extra: vec![],
            sender: Vec::new().into(),
            peers: vec![],
            group_info: Vec::new().into(),
            welcome: vec![seq as u8; 1000].into(),
            welcome_peers: vec![b"b.example".to_vec().into()],
            frank: None,
        };
        let entries: Vec<LogEntry> = (1..=5).map(welcome).collect();
        let one = plan("b.example", &entries[..1], 10, usize::MAX).unwrap().unwrap().body.len();
        let batch = plan("b.example", &entries, 10, 2 * one + one / 2).unwrap().unwrap();
        assert_eq!((batch.messages, batch.advance_to, batch.body.len()), (2, 2, 2 * one));
        // An entry larger than the bound alone is sent alone.
        let batch = plan("b.example", &entries, 10, 10).unwrap().unwrap();
        assert_eq!((batch.messages, batch.advance_to, batch.body.len()), (1, 1, one));
    }
}
