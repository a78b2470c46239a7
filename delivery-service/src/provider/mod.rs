//! The provider: this server's rooms (as their hub), clients and KeyPackage directory, joined to
//! the store and the clock. It is the I/O edge of the hub: the decisions are made by
//! [`crate::hub::Room`] (the sequencer) and [`crate::hub::admission`] (the hub's rules); this
//! module gathers the facts they need, serialises each room (one decision at a time, so one
//! commit per epoch), makes accepted entries durable *before* applying and answering, wakes
//! long-polling readers, and writes checkpoints every so many entries.
//!
//! - [`rooms`](self) (`rooms.rs`): creating rooms, handshakes, application messages, the log.
//! - `clients.rs`: registration of our devices, authentication of their bearer credentials,
//!   token renewal (the decisions are [`crate::auth`]'s).
//! - `users.rs`: KeyPackages and claims, consent, queues, identifier queries.
//! - `group_info.rs`: GroupInfo for external joiners. `abuse.rs`: abuse reports.
//! - `hub_key.rs`: the hub's key, external sender and franking agent.
//! - `facts.rs`: the admission rules' facts, read from the store.
//!
//! The HTTP routers call these methods; tests and the simulator may call them directly. Whether
//! a submission came from a local client or a follower provider makes no difference here.

mod abuse;
mod clients;
mod error;
mod facts;
mod group_info;
mod hub_key;
mod retention;
pub use retention::{RetentionSettings, TRIMMED_LABELS};
mod rooms;
mod users;

use std::collections::HashMap;
use std::sync::{Arc, Mutex as StdMutex, OnceLock, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use openmls::prelude::tls_codec::Size as _;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::RustCrypto;
use tokio::sync::{watch, Mutex};

pub use self::clients::Authenticated;
pub use self::error::ProviderError;
pub use self::hub_key::load_or_create_hub_key;
use crate::auth::tokens::DEFAULT_TOKEN_LIFETIME;
use crate::auth::{Authority, EnrollmentCodes};
pub use crate::hub::admission::{add_is_vouched, hub_of, peer_may_update, AddRefusal, Submitter};
use crate::hub::admission::{
    ClaimLimiter, ClaimLimits, ConsentPolicy, GroupInfoAsker, GroupInfoLimiter, GroupInfoLimits, Quota, QuotaRefusal,
    Quotas,
};
use crate::hub::franking::Franker;
use crate::hub::{LogEntry, Readers, Room};
use crate::metrics::{
    Counter, CounterVec, MetricsError, Registry, QUOTA_LABEL, QUOTA_REFUSED_HELP, QUOTA_REFUSED_TOTAL,
};
use crate::store::{Store, StoredRoom};
use group_info::GroupInfoExport;

/// One room with its bookkeeping.
struct Slot {
    /// The sequencer.
    room: Room,
    /// Log position of the last checkpoint written.
    checkpointed: u64,
    /// Encoded size of the last checkpoint.
    checkpoint_bytes: u64,
    /// Log bytes appended since the last checkpoint.
    log_bytes: u64,
    /// Announces the newest durable log position, and who may read how far, to readers (who do
    /// not take the decision lock).
    published: Arc<watch::Sender<Published>>,
    /// A write applied in memory failed to become durable, or an applied change failed: reload
    /// from the store before the next decision.
    broken: bool,
}

impl Slot {
    /// Restores a room from what the store holds of it (checkpoint plus log replay).
    fn restore(crypto: &RustCrypto, stored: &StoredRoom) -> Result<Slot, ProviderError> {
        let room = Room::restore(crypto, &stored.checkpoint, &stored.pending, &stored.tail)?;
        Ok(Slot {
            checkpointed: stored.checkpoint.seq,
            checkpoint_bytes: stored.checkpoint.tls_serialized_len() as u64,
            log_bytes: stored.tail.iter().map(entry_bytes).sum(),
            published: Arc::new(watch::channel(Published::of(&room)).0),
            room,
            broken: false,
        })
    }

    /// The room with its decision lock, and what readers see without it.
    fn cell(self) -> RoomCell {
        RoomCell { published: self.published.clone(), slot: Arc::new(Mutex::new(self)) }
    }
}

/// What a room's readers see without its decision lock (published after each durable append):
/// the newest durable position, who may read how far as of the last commit, and the `/groupInfo`
/// export of the current handshake state (made by the first request that needs it).
#[derive(Debug, Clone)]
struct Published {
    seq: u64,
    readers: Arc<Readers>,
    group_info: Arc<OnceLock<Arc<GroupInfoExport>>>,
}

impl Published {
    fn of(room: &Room) -> Published {
        Published { seq: room.seq(), readers: Arc::new(room.readers()), group_info: Arc::default() }
    }
}

/// A room of ours in the room table: its decision lock around the sequencer, and its
/// publication to readers.
#[derive(Clone)]
struct RoomCell {
    slot: Arc<Mutex<Slot>>,
    published: Arc<watch::Sender<Published>>,
}

/// Bytes a log entry adds to the store (for checkpoint pacing).
fn entry_bytes(entry: &LogEntry) -> u64 {
    entry.tls_serialized_len() as u64
}

/// What the provider counts for its metrics ([`crate::metrics`]); counting nothing until
/// registered ([`Provider::with_metrics`]).
#[derive(Debug, Clone)]
struct HubMetrics {
    /// Commits accepted (`hub_commits_accepted_total`).
    commits: Counter,
    /// Standalone proposal bundles accepted (`hub_proposals_accepted_total`).
    proposals: Counter,
    /// Application messages accepted (`hub_messages_accepted_total`).
    messages: Counter,
    /// Handshakes refused (`hub_handshakes_refused_total`).
    refused: Counter,
    /// Application messages refused (`hub_messages_refused_total`).
    messages_refused: Counter,
    /// Checkpoints written (`hub_checkpoints_total`).
    checkpoints: Counter,
    /// Requests refused by a quota (`mimi_quota_refused_total{quota}`); `None` until registered.
    quota_refused: Option<CounterVec>,
    /// `groupInfo` requests refused by their rate limit
    /// (`hub_group_info_rate_limited_total`).
    group_info_limited: Counter,
    /// Records retention deleted (`mimi_retention_trimmed_total{what}`); `None` until registered.
    trimmed: Option<CounterVec>,
    /// Handshakes and messages refused, by the draft's response code
    /// (`mimi_refusals_total{source="hub", code}`); `None` until registered.
    refusals: Option<CounterVec>,
}

impl Default for HubMetrics {
    fn default() -> Self {
        HubMetrics {
            commits: Counter::noop(),
            proposals: Counter::noop(),
            messages: Counter::noop(),
            refused: Counter::noop(),
            messages_refused: Counter::noop(),
            checkpoints: Counter::noop(),
            quota_refused: None,
            group_info_limited: Counter::noop(),
            trimmed: None,
            refusals: None,
        }
    }
}

impl HubMetrics {
    fn register(registry: &Registry) -> Result<Self, MetricsError> {
        Ok(HubMetrics {
            commits: registry.counter("hub_commits_accepted_total", "Commits the hub accepted.")?,
            proposals: registry.counter("hub_proposals_accepted_total", "Proposal bundles the hub accepted.")?,
            messages: registry.counter("hub_messages_accepted_total", "Application messages the hub accepted.")?,
            refused: registry.counter("hub_handshakes_refused_total", "Handshakes the hub refused.")?,
            messages_refused: registry
                .counter("hub_messages_refused_total", "Application messages the hub refused.")?,
            checkpoints: registry.counter("hub_checkpoints_total", "Room checkpoints written.")?,
            quota_refused: Some(quota_family(registry)?),
            group_info_limited: registry.counter(
                "hub_group_info_rate_limited_total",
                "groupInfo requests refused by their per-minute limit.",
            )?,
            trimmed: Some({
                let family = registry.counter_vec(
                    "mimi_retention_trimmed_total",
                    "Records retention deleted, by what they were.",
                    &["what"],
                )?;
                for what in TRIMMED_LABELS {
                    family.show(&[what])?;
                }
                family
            }),
            refusals: Some(registry.refusals()?),
        })
    }
}

/// The family of `mimi_quota_refused_total`, with every quota's series at zero so that a
/// scrape shows them before the first refusal.
pub fn quota_family(registry: &Registry) -> Result<CounterVec, MetricsError> {
    let family = registry.counter_vec(QUOTA_REFUSED_TOTAL, QUOTA_REFUSED_HELP, &[QUOTA_LABEL])?;
    for quota in Quota::ALL {
        family.show(&[quota.label()])?;
    }
    Ok(family)
}

/// Milliseconds since the UNIX epoch (0 on a clock set before 1970, which no host running this
/// has; acceptance times are informational, ordering is by log position).
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// A provider serving one domain.
pub struct Provider<S: Store> {
    /// The domain served, e.g. `a.example`.
    domain: String,
    /// Crypto for validating MLS messages.
    crypto: RustCrypto,
    /// The hub's external-sender signing key (listed in every room's `external_senders`).
    hub_key: SignatureKeyPair,
    /// Persistence.
    store: S,
    /// Rooms this provider is the hub of.
    rooms: RwLock<HashMap<String, RoomCell>>,
    /// Newest queue position per local client, for long-polling readers.
    queues: StdMutex<HashMap<String, watch::Sender<u64>>>,
    /// The queue position each local client last read past, for the next retention pass.
    queue_reads: StdMutex<HashMap<String, u64>>,
    /// KeyPackage claims counted this minute, per requester, per (requester, target) and per
    /// peer.
    claims: StdMutex<ClaimLimiter>,
    /// `groupInfo` requests counted this minute, per asker.
    group_infos: StdMutex<GroupInfoLimiter>,
    /// Counters for the metrics.
    metrics: HubMetrics,
    /// Counts durable appends to any room; the federation outbox waits on it.
    appended: watch::Sender<u64>,
    /// Claims by other providers' users without a consent decision: served or not.
    consent: ConsentPolicy,
    /// The hub as franking agent (its key is `hub_key`, see [`crate::hub::franking`]).
    franker: Franker,
    /// How new devices of our users are let in, and which logins it issues.
    authority: Arc<dyn Authority>,
    /// How long a bearer token is valid.
    token_lifetime: Duration,
    /// How much one party may make this provider hold.
    quotas: Quotas,
    /// Submissions refused per room since the start (handshakes and messages), for the
    /// operator ([`crate::admin`]).
    refusals: StdMutex<HashMap<String, u64>>,
}

impl<S: Store> Provider<S> {
    /// Opens the provider on `store`, restoring every room (checkpoint plus log replay).
    pub async fn open(domain: &str, hub_key: SignatureKeyPair, store: S) -> Result<Self, ProviderError> {
        let crypto = RustCrypto::default();
        let franker = hub_key::franker(&crypto, domain, &hub_key)?;
        let mut rooms = HashMap::new();
        for stored in store.rooms().await? {
            let slot = Slot::restore(&crypto, &stored)?;
            tracing::info!(room = slot.room.id(), seq = slot.room.seq(), epoch = slot.room.epoch(), "room restored");
            rooms.insert(slot.room.id().to_owned(), slot.cell());
        }
        Ok(Provider {
            domain: domain.to_owned(),
            crypto,
            hub_key,
            store,
            rooms: RwLock::new(rooms),
            queues: StdMutex::new(HashMap::new()),
            queue_reads: StdMutex::new(HashMap::new()),
            claims: StdMutex::new(ClaimLimiter::new(ClaimLimits::default())),
            group_infos: StdMutex::new(GroupInfoLimiter::default()),
            metrics: HubMetrics::default(),
            appended: watch::channel(0).0,
            consent: ConsentPolicy::default(),
            franker,
            authority: Arc::new(EnrollmentCodes),
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
            quotas: Quotas::default(),
            refusals: StdMutex::new(HashMap::new()),
        })
    }

    /// Registers the provider's counters (`hub_*`, `mimi_quota_refused_total`,
    /// `mimi_retention_trimmed_total`, `mimi_refusals_total`) in `registry`.
    pub fn with_metrics(mut self, registry: &Registry) -> Result<Self, MetricsError> {
        self.metrics = HubMetrics::register(registry)?;
        Ok(self)
    }

    /// Sets how many KeyPackage claims are served per minute (default [`ClaimLimits::default`]);
    /// more get `RateLimited` (429).
    pub fn with_claim_limits(mut self, limits: ClaimLimits) -> Self {
        self.claims = StdMutex::new(ClaimLimiter::new(limits));
        self
    }

    /// Sets how many `groupInfo` requests are answered per minute (default
    /// [`GroupInfoLimits::default`]); more get `RateLimited` (429).
    pub fn with_group_info_limits(mut self, limits: GroupInfoLimits) -> Self {
        self.group_infos = StdMutex::new(GroupInfoLimiter::new(limits));
        self
    }

    /// Counts a `groupInfo` request from `asker` (as authenticated) against its limit, before
    /// anything of the request is looked at.
    pub fn admit_group_info(&self, asker: GroupInfoAsker) -> Result<(), ProviderError> {
        let admitted =
            self.group_infos.lock().map_err(|_| ProviderError::poisoned("groupInfo limiter"))?.admit(asker, now_ms());
        admitted.map_err(|e| {
            tracing::info!(refusal = %e, "groupInfo rate limited");
            self.metrics.group_info_limited.increment(1);
            ProviderError::RateLimited(e.to_string())
        })
    }

    /// Sets the quotas (default [`Quotas::default`]).
    pub fn with_quotas(mut self, quotas: Quotas) -> Self {
        self.quotas = quotas;
        self
    }

    /// The quotas in force.
    pub fn quotas(&self) -> &Quotas {
        &self.quotas
    }

    /// Counts a quota's refusal in the metrics (`mimi_quota_refused_total`).
    pub fn count_quota_refusal(&self, quota: Quota) {
        if let Some(family) = &self.metrics.quota_refused {
            // The label count is the family's own: this cannot fail.
            if let Ok(counter) = family.with_labels(&[quota.label()]) {
                counter.increment(1);
            }
        }
    }

    /// Counts a handshake or message the hub refused with the draft's response `code` (e.g.
    /// `notAllowed`) in the metrics (`mimi_refusals_total{source="hub"}`).
    pub(crate) fn count_hub_refusal(&self, code: &str) {
        if let Some(family) = &self.metrics.refusals {
            if let Ok(counter) = family.with_labels(&["hub", code]) {
                counter.increment(1);
            }
        }
    }

    /// A quota's refusal, counted and logged, as the error the caller gets (429).
    pub(crate) fn quota_refused(&self, refusal: QuotaRefusal) -> ProviderError {
        self.count_quota_refusal(refusal.quota);
        tracing::info!(quota = refusal.quota.label(), %refusal, "refused by a quota");
        ProviderError::Quota(refusal)
    }

    /// Counts and logs a quota's refusal carried by `e`, passing `e` on.
    pub(crate) fn counted(&self, e: ProviderError) -> ProviderError {
        match e {
            ProviderError::Quota(refusal) => self.quota_refused(refusal),
            e => e,
        }
    }

    /// Sets the consent policy for claims by other providers' users (default: open).
    pub fn with_consent(mut self, policy: ConsentPolicy) -> Self {
        self.consent = policy;
        self
    }

    /// The domain served.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The crypto rooms are validated with (also a follower's copies of other hubs' rooms).
    pub fn crypto(&self) -> &RustCrypto {
        &self.crypto
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    fn cell(&self, room: &str) -> Result<RoomCell, ProviderError> {
        self.rooms
            .read()
            .map_err(|_| ProviderError::poisoned("room table"))?
            .get(room)
            .cloned()
            .ok_or_else(|| ProviderError::UnknownRoom(room.to_owned()))
    }

    fn slot(&self, room: &str) -> Result<Arc<Mutex<Slot>>, ProviderError> {
        Ok(self.cell(room)?.slot)
    }

    /// Locks a room for a decision, first reloading it from the store if a pipelined write
    /// failed.
    ///
    /// While the guard is held, the store is read only through the admission rules' facts
    /// ([`crate::hub::admission::HubFacts`]): anything else a request needs from the store is
    /// read before it locks the room or after it lets go (see [`Store`]). The reload here is the
    /// one other read under the lock: one room ([`Store::room`]), and only after a failed write,
    /// since nothing may decide on the room until it is back.
    async fn lock(&self, room_id: &str) -> Result<tokio::sync::OwnedMutexGuard<Slot>, ProviderError> {
        let mut slot = self.slot(room_id)?.lock_owned().await;
        if slot.broken {
            let stored =
                self.store.room(room_id).await?.ok_or_else(|| ProviderError::UnknownRoom(room_id.to_owned()))?;
            let published = slot.published.clone();
            *slot = Slot { published, ..Slot::restore(&self.crypto, &stored)? };
            let now = Published::of(&slot.room);
            slot.published.send_modify(|p| *p = Published { seq: p.seq.max(now.seq), ..now });
            tracing::warn!(room = room_id, seq = slot.room.seq(), "room reloaded after a failed write");
        }
        Ok(slot)
    }

    /// Wakes long-polling readers of these clients' queues (after a queue write).
    pub fn wake_queues<'a>(&self, clients: impl IntoIterator<Item = &'a str>) {
        // The map only holds wake-up channels, each change a single insert: a panic elsewhere
        // cannot leave it half-changed, so a poisoned lock is used as it is.
        let queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
        for c in clients {
            if let Some(tx) = queues.get(c) {
                tx.send_modify(|v| *v += 1);
            }
        }
    }

    /// Whether this provider is the hub of `room_id` (its authority is our domain).
    pub fn is_hub_of(&self, room_id: &str) -> bool {
        hub_of(room_id) == Some(self.domain.as_str())
    }

    /// Whether `room_id` is a room this provider is the hub of and has (no store read).
    pub fn has_room(&self, room_id: &str) -> Result<bool, ProviderError> {
        Ok(self.rooms.read().map_err(|_| ProviderError::poisoned("room table"))?.contains_key(room_id))
    }

    /// The rooms this provider is the hub of.
    pub fn room_ids(&self) -> Result<Vec<String>, ProviderError> {
        Ok(self.rooms.read().map_err(|_| ProviderError::poisoned("room table"))?.keys().cloned().collect())
    }

    /// Changes whenever an entry of any room became durable (for the federation outbox).
    pub fn subscribe_appends(&self) -> watch::Receiver<u64> {
        self.appended.subscribe()
    }

    /// Counts a refused submission (handshake or message) to `room_id`.
    fn count_refusal(&self, room_id: &str) {
        *self.refusals.lock().unwrap_or_else(PoisonError::into_inner).entry(room_id.to_owned()).or_default() += 1;
    }

    /// Submissions to `room_id` refused since the provider started.
    pub fn refusals(&self, room_id: &str) -> u64 {
        self.refusals.lock().unwrap_or_else(PoisonError::into_inner).get(room_id).copied().unwrap_or(0)
    }

    /// The room's current epoch and log position.
    pub async fn room_position(&self, room_id: &str) -> Result<(u64, u64), ProviderError> {
        let s = self.lock(room_id).await?;
        Ok((s.room.epoch(), s.room.seq()))
    }
}
