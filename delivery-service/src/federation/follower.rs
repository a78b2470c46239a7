//! The follower role: this provider's copy of rooms whose hub is another provider.
//!
//! The hub sends each accepted entry by `/notify` (one or more `FanoutMessage`s per body). The
//! follower keeps a **mirror log** per room: the FanoutMessages in arrival order (which is hub
//! order: the hub's outbox delivers a room in order, one request at a time), numbered with local
//! sequence numbers and stored once. Local clients read it with the same client API as a hub's
//! log (`GET /client/v1/rooms/{roomId}/log`): same `RoomEntries`, same cursor semantics.
//!
//! - **Deduplication**: every FanoutMessage taken in is remembered by the SHA-256 of its
//!   encoding, in the same transaction as the mirror entries it produced. A byte-identical
//!   retried body is answered 201 and changes nothing; so does a retry that overlaps what was
//!   already taken in (the outbox re-sends from its cursor if a 201 was lost).
//! - **Welcomes** are not mirror entries: each goes to the queues of the local clients owning
//!   the KeyPackageRefs it names (stored once, however many it adds), with the mirror position
//!   to read after (the last one before it, i.e. the commit that added them, when this provider
//!   received that commit).
//! - **Echo**: when a local client's handshake or message is relayed to the hub, the follower
//!   records the MLS message's hash with the client ([`Follower::record_relayed`]); the mirror
//!   entry of its echo carries that client as sender, so the client API leaves it out for that
//!   client, exactly as a hub leaves out a client's own entries. The relay answers a `success`
//!   only once that echo is in the mirror (or after [`ECHO_WAIT`]), so that for the client, as at
//!   a hub, an acknowledged submission is already in the log it reads.
//! - **What the hub sends is checked**: the follower keeps a copy of each mirrored room, a
//!   [`Room`] (the hub's own `PublicGroup` wrapper, with the same decision functions), in memory
//!   in the room's mirror slot. Every entry of a `/notify` body is decided on it as the hub
//!   decides on a submission ([`Room::decide_logged`]: a handshake must validate, pass app data
//!   and room policy and include the epoch's proposals; an application message must be a
//!   PrivateMessage of the current epoch) and applied. The body is taken in all or nothing: one
//!   entry that does not validate refuses the whole body (422, nothing stored, the dedup table
//!   unchanged, `mimi_follower_refused_total` counted, a warning logged). The entries are tried
//!   on a [`Room::fork`], kept once the body is durable.
//! - **Where the copy comes from**: when the follower has no copy of a room (its first `/notify`,
//!   or after a restart: copies are not persisted), or hosts no member in it any more (the hub
//!   then sends it nothing, so the copy falls behind), it asks the hub's `/groupInfo` under its own
//!   provider credential `mimi://<our domain>`, signed with its hub key; the hub serves a provider
//!   that hosts a participant. The answer's GroupInfo, tree and pending proposals are checked as
//!   a hub checks a new room ([`Room::follow`]). What came before the fetched epoch (entries of
//!   older epochs, and the pending proposals it names, in the bodies that follow, until the first
//!   commit after it) is taken on trust: it precedes what can be checked. A hub that does not
//!   answer with a GroupInfo leaves the body unvalidatable: 503, for the outbox to retry.
//! - **Who may read a mirror**: as at a hub ([`Room::log_access`] of the follower's copy): its
//!   current members, and a removed client up to the commit that removed it. Nothing else makes a
//!   client a reader: neither a Welcome nor a relayed request. (Departures are known from the
//!   commits the follower validated: after a restart, a removed client reads nothing.)
//! - **Relayed handshakes** are decided on the copy before they are relayed
//!   ([`Follower::check_relayed`]): the signer must be the calling client (a member's leaf at the
//!   message's epoch, or an external joiner's credential), else `notAllowed` and nothing is
//!   relayed. A handshake of an epoch the copy has not reached waits for the mirror (at most
//!   [`CATCH_UP_WAIT`]), then gets 503.
//!
//! Planning an intake ([`plan_intake`]) is a plain function over lookups (which it awaits, and
//! nothing else); [`Follower`] does the I/O around it.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use openmls::prelude::tls_codec::Serialize as _;
use openmls::prelude::{MlsMessageBodyIn, MlsMessageIn};
use reqwest::StatusCode;
use sha2::{Digest, Sha256};
use tls_codec::VLBytes;
use tokio::sync::{oneshot, watch, Mutex};

use super::peers::Peers;
use crate::hub::admission::{is_provider_credential, Quota};
use crate::hub::received::{locate_fanouts, BundleBytes, FanoutBytes};
use crate::hub::{Accepted, EntryKind, LogAccess, LogEntry, Room};
use crate::metrics::{Counter, MetricsError, Registry};
use crate::provider::{hub_of, now_ms, Provider};
use crate::store::{settle, Compacted, Store, StoreError, WelcomeDelivery, Write};
use mimi_protocol::directory::Endpoint;
use mimi_protocol::group_info::{GroupInfoResponse, GroupInfoStatus};
use mimi_protocol::notify::{FanoutFraming, FanoutMessage, DEFAULT_MAX_FANOUT_MESSAGES};
use mimi_protocol::ratchet_tree::RatchetTreeOption;
use mimi_protocol::update::{HandshakeBundle, UpdateRoomOutcome, UpdateRoomResponse};
use mimi_protocol::{Body, WireError, DEFAULT_MAX_BODY_LEN};

/// Longest a relayed `success` waits for its echo to reach the mirror before it is answered
/// anyway (the hub's fanout to us is late, e.g. we were unreachable).
pub const ECHO_WAIT: Duration = Duration::from_secs(10);

/// Longest a relayed handshake of an epoch the follower's copy has not reached waits for the
/// mirror to catch up before it is answered 503.
pub const CATCH_UP_WAIT: Duration = Duration::from_secs(5);

/// Why a `/notify` was refused or could not be taken in.
#[derive(Debug, thiserror::Error)]
pub enum FollowerError {
    /// The body is not a sequence of FanoutMessages (400).
    #[error("undecodable /notify body: {0}")]
    Decode(#[from] WireError),
    /// A FanoutMessage is well-formed but unusable (400).
    #[error("FanoutMessage {index}: {why}")]
    Bad {
        /// Its position in the body.
        index: usize,
        /// What is wrong.
        why: String,
    },
    /// The sender is not the room's hub (403).
    #[error("{peer} is not the hub of {room}")]
    NotHub {
        /// The sending provider.
        peer: String,
        /// The room URI.
        room: String,
    },
    /// The local client may not read this mirror (403).
    #[error("{client} is not in {room}")]
    NotReader {
        /// The client URI.
        client: String,
        /// The room URI.
        room: String,
    },
    /// The reader's cursor is older than what retention kept of the mirror (410): it rejoins.
    #[error(transparent)]
    Compacted(#[from] crate::store::Compacted),
    /// An entry of a `/notify` body does not validate against the follower's copy of the room;
    /// nothing was taken in (422).
    #[error("{room}: entry {seq} does not validate: {why}")]
    Invalid {
        /// The room URI.
        room: String,
        /// The mirror position it would have had.
        seq: u64,
        /// Why.
        why: String,
    },
    /// This provider has no readers in the room (no local client is a member of the follower's
    /// copy, and the body neither welcomes one nor carries what one relayed): nothing was taken
    /// in, neither the mirror nor the dedup table grew (403, counted as the quota
    /// `notify_without_readers`). 403 rather than 404: the sender is the room's authenticated
    /// hub and only it knows whether the room exists; what it may not do is fan a room out to a
    /// provider hosting none of its members (the hub sends an entry only to the providers of its
    /// members and of its submitter), which would make this provider hold a mirror nobody reads.
    #[error("{room} has no readers here: none of our clients is a member or joins with this body")]
    NoReaders {
        /// The room URI.
        room: String,
    },
    /// The room's hub does not give this provider the room's state (`notAuthorized`: it hosts no
    /// participant, as far as the hub knows), so nothing can be checked (503).
    #[error("the hub of {room} does not give us the room's state")]
    HubRefused {
        /// The room URI.
        room: String,
    },
    /// The room's state could not be had from its hub, or the follower's copy is behind a
    /// relayed handshake; nothing can be checked yet (503).
    #[error("cannot check {room} yet: {why}")]
    Unvalidatable {
        /// The room URI.
        room: String,
        /// Why.
        why: String,
    },
    /// Persistence failed; nothing was taken in (503).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A fault of this server, not the sender's (500).
    #[error("internal fault in {what}: {cause}")]
    Internal {
        /// What was being done.
        what: &'static str,
        /// What went wrong.
        cause: String,
    },
}

/// SHA-256 of an MLSMessage's encoding (the key of echo suppression).
pub fn message_hash(message: &MlsMessageIn) -> Result<Vec<u8>, tls_codec::Error> {
    Ok(encoded_message_hash(&message.tls_serialize_detached()?))
}

/// SHA-256 of an MLSMessage as encoded (received or stored): [`message_hash`] without encoding
/// the message again.
pub fn encoded_message_hash(message: &[u8]) -> Vec<u8> {
    Sha256::digest(message).to_vec()
}

/// Whether `peer` may send `/notify` for `room` to provider `ours`: only the room's hub may,
/// and never for a room whose hub we are.
pub fn authorize_notify(room: &str, peer: &str, ours: &str) -> Result<(), FollowerError> {
    match hub_of(room) {
        Some(hub) if hub.eq_ignore_ascii_case(peer) && !hub.eq_ignore_ascii_case(ours) => Ok(()),
        _ => Err(FollowerError::NotHub { peer: peer.to_owned(), room: room.to_owned() }),
    }
}

/// What one `/notify` body adds: mirror entries (numbered on from the mirror's last position),
/// Welcome queue items, and the hashes of the FanoutMessages taken in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Intake {
    /// New mirror entries, in order.
    pub entries: Vec<LogEntry>,
    /// Welcomes for local clients (each once, with the clients it adds).
    pub queue: Vec<WelcomeDelivery>,
    /// SHA-256 of each FanoutMessage taken in (not those seen before).
    pub seen: Vec<Vec<u8>>,
}

/// What [`plan_intake`] needs to know about the store (reads that may await, as the store's).
pub trait IntakeLookups {
    /// Whether a FanoutMessage with this hash was taken in already.
    fn seen(&self, hash: &[u8]) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// The local client that relayed the MLS message with this hash.
    fn relayed_by(&self, hash: &[u8]) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
    /// The local client owning a KeyPackageRef.
    fn key_package_owner(&self, reference: &[u8]) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
}

impl<S: Store> IntakeLookups for S {
    fn seen(&self, hash: &[u8]) -> impl Future<Output = Result<bool, StoreError>> + Send {
        Store::seen(self, hash)
    }
    fn relayed_by(&self, hash: &[u8]) -> impl Future<Output = Result<Option<String>, StoreError>> + Send {
        Store::relayed_by(self, hash)
    }
    fn key_package_owner(&self, reference: &[u8]) -> impl Future<Output = Result<Option<String>, StoreError>> + Send {
        Store::key_package_owner(self, reference)
    }
}

/// Plans the intake of `messages` for `room` whose mirror ends at `last_seq`: skips
/// FanoutMessages seen before (and repeats within the body), turns Welcomes into queue items for
/// the local owners of the KeyPackageRefs they name, and the rest into mirror entries whose
/// sender is the local client that relayed the message (if any). `encoded`: each message's
/// bytes as received ([`locate_fanouts`]), which are hashed and kept.
pub async fn plan_intake(
    room: &str,
    last_seq: u64,
    messages: &[FanoutMessage],
    encoded: &[FanoutBytes<'_>],
    lookups: &impl IntakeLookups,
) -> Result<Intake, FollowerError> {
    if messages.len() != encoded.len() {
        let cause = format!("{} FanoutMessages but {} encodings", messages.len(), encoded.len());
        return Err(FollowerError::Internal { what: "planning an intake", cause });
    }
    let mut intake = Intake::default();
    let mut seq = last_seq;
    for (index, (m, encoded)) in messages.iter().zip(encoded).enumerate() {
        let bad = |why: String| FollowerError::Bad { index, why };
        let hash = Sha256::digest(encoded.whole).to_vec();
        if lookups.seen(&hash).await? || intake.seen.contains(&hash) {
            continue;
        }
        intake.seen.push(hash);
        let message = encoded.message.to_vec();
        let (kind, frank) = match &m.framing {
            FanoutFraming::Welcome { .. } => {
                let MlsMessageBodyIn::Welcome(welcome) = m.message.clone().extract() else {
                    return Err(bad("framed as a Welcome but is not one".into()));
                };
                let mut clients = Vec::new();
                for secret in welcome.secrets() {
                    clients.extend(lookups.key_package_owner(secret.new_member().as_slice()).await?);
                }
                if !clients.is_empty() {
                    // Once for all its local joiners: the store keeps the Welcome once.
                    intake.queue.push(WelcomeDelivery {
                        room: room.to_owned(),
                        after_seq: seq,
                        welcome: message,
                        ratchet_tree: Vec::new(),
                        clients,
                    });
                }
                continue;
            }
            FanoutFraming::Application { frank } => (EntryKind::Application, frank.clone()),
            FanoutFraming::Proposal { .. } => (EntryKind::Proposal, None),
            FanoutFraming::Commit { .. } => (EntryKind::Commit, None),
        };
        let epoch = m
            .message
            .clone()
            .try_into_protocol_message()
            .map_err(|e| bad(format!("not a protocol message: {e:?}")))?
            .epoch()
            .as_u64();
        // No local client relayed it: the entry has no local sender (nobody's echo).
        let sender = lookups.relayed_by(&Sha256::digest(&message)).await?.unwrap_or_default();
        seq += 1;
        intake.entries.push(LogEntry {
            seq,
            epoch,
            accepted_ms: m.timestamp,
            kind,
            message: message.into(),
            extra: encoded.extra.iter().map(|e| VLBytes::from(e.to_vec())).collect(),
            sender: sender.into_bytes().into(),
            peers: Vec::new(),
            group_info: VLBytes::new(Vec::new()),
            welcome: VLBytes::new(Vec::new()),
            welcome_peers: Vec::new(),
            frank,
        });
    }
    Ok(intake)
}

/// What the follower takes on trust in a copy fetched from the hub: what precedes the fetched
/// state, until the first commit validated after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trust {
    /// The epoch of the fetched state: entries of older epochs precede it.
    pub epoch: u64,
    /// SHA-256 of the pending proposals the fetched state already holds (their entries are
    /// not decided again).
    pub pending: Vec<Vec<u8>>,
}

/// How the follower treats one mirror entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryCheck {
    /// It precedes the fetched state: taken on trust, only its position is kept.
    Trusted,
    /// Decided on the copy and applied.
    Validate,
}

/// Whether an entry of `epoch` whose (first) MLS message hashes to `hash` is taken on trust or
/// validated, given the copy's `trust` (`None` once a commit was validated after the fetch).
pub fn entry_check(trust: Option<&Trust>, epoch: u64, hash: &[u8]) -> EntryCheck {
    match trust {
        Some(t) if epoch < t.epoch || t.pending.iter().any(|h| h == hash) => EntryCheck::Trusted,
        _ => EntryCheck::Validate,
    }
}

/// The follower's copy of a mirrored room.
struct Followed {
    /// The room as the hub's fanout made it.
    room: Room,
    /// What is still taken on trust ([`entry_check`]).
    trust: Option<Trust>,
}

impl Followed {
    /// Takes `entries` in on the copy, in order: each trusted or decided and applied. `Err`
    /// with the position and reason of the first that does not validate; `Ok(Err)` never: an
    /// apply failure after a positive decision is this server's fault ([`FollowerError::Internal`]).
    fn take_in(
        &mut self,
        crypto: &impl openmls_traits::crypto::OpenMlsCrypto,
        entries: &[LogEntry],
    ) -> Result<Result<(), (u64, String)>, FollowerError> {
        let internal =
            |e: crate::hub::HubError| FollowerError::Internal { what: "applying to a copy", cause: e.to_string() };
        for entry in entries {
            let hash = Sha256::digest(entry.message.as_slice());
            match entry_check(self.trust.as_ref(), entry.epoch, &hash) {
                EntryCheck::Trusted => self.room.apply(entry, Accepted::Application).map_err(internal)?,
                EntryCheck::Validate => {
                    let accepted = match self.room.decide_logged(crypto, entry) {
                        Ok(a) => a,
                        Err(why) => return Ok(Err((entry.seq, why))),
                    };
                    let commit = matches!(accepted, Accepted::Commit { .. });
                    self.room.apply(entry, accepted).map_err(internal)?;
                    if commit {
                        self.trust = None;
                    }
                }
            }
        }
        Ok(Ok(()))
    }
}

/// The follower side of a provider.
pub struct Follower<S: Store> {
    provider: Arc<Provider<S>>,
    /// Calls to the hubs (their `/groupInfo`).
    peers: Peers,
    /// Per mirrored room: serialises intakes and announces the newest mirror position.
    rooms: StdMutex<HashMap<String, Arc<MirrorSlot>>>,
    /// Relayed MLS messages (by hash) whose echo a relay is waiting for.
    echoes: StdMutex<HashMap<Vec<u8>, oneshot::Sender<()>>>,
    /// `/notify` bodies refused because an entry does not validate
    /// (`mimi_follower_refused_total`).
    refused: Counter,
}

/// Whether a `/notify` body for a room may be taken in: this provider must have a reader in
/// the room (a quota on what a hub may make a follower hold): a local client that is a member of
/// the follower's copy (`hosts_member`), one a Welcome in the body adds, or one that relayed an
/// entry of the body (an external joiner's commit comes back to its provider that way).
pub fn has_readers(hosts_member: bool, intake: &Intake) -> bool {
    hosts_member || !intake.queue.is_empty() || intake.entries.iter().any(|e| !e.sender.as_slice().is_empty())
}

/// One mirrored room's intake lock (which also guards the follower's copy of the room) and
/// position announcer.
struct MirrorSlot {
    intake: Mutex<Option<Followed>>,
    seq: watch::Sender<u64>,
}

impl<S: Store> Follower<S> {
    /// The follower of `provider` (its store and client queues), fetching rooms' state from
    /// their hubs through `peers`; its counter is registered in `registry`.
    pub fn new(provider: Arc<Provider<S>>, peers: Peers, registry: &Registry) -> Result<Arc<Self>, MetricsError> {
        let refused = registry.counter(
            "mimi_follower_refused_total",
            "Notify bodies refused because an entry does not validate against the follower's copy of the room.",
        )?;
        Ok(Arc::new(Follower {
            provider,
            peers,
            rooms: StdMutex::new(HashMap::new()),
            echoes: StdMutex::new(HashMap::new()),
            refused,
        }))
    }

    /// The table of mirrored rooms (a poisoned lock is refused: the table is not used after a
    /// panic while it was held).
    fn rooms(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, Arc<MirrorSlot>>>, FollowerError> {
        self.rooms
            .lock()
            .map_err(|_| FollowerError::Internal { what: "mirror table", cause: "lock poisoned by a panic".into() })
    }

    async fn slot(&self, room: &str) -> Result<Arc<MirrorSlot>, FollowerError> {
        if let Some(slot) = self.rooms()?.get(room) {
            return Ok(slot.clone());
        }
        // Read without the table's lock; if another request added the room meanwhile, its slot
        // is kept (it started from the same durable position or a later one).
        let last = self.provider.store().mirror_last(room).await?;
        let slot = self
            .rooms()?
            .entry(room.to_owned())
            .or_insert_with(|| Arc::new(MirrorSlot { intake: Mutex::new(None), seq: watch::channel(last).0 }))
            .clone();
        Ok(slot)
    }

    /// The copy to check `room`'s traffic with: `state`'s, fetched from the hub if there is none
    /// or if this provider hosts no member in it. Such a copy is dead: the hub fans the room out to
    /// the providers of members (and of a submitter) only, so it can only fall behind, and is
    /// fetched again when it is next needed to check something (a `/notify`, e.g. with the Welcome
    /// of a client of ours added again, or a relayed external commit). The fresh copy keeps the
    /// departures the dead one saw (so removed clients still read up to their removal); if the
    /// fetch fails, the dead copy stays for mirror reads.
    async fn live_copy<'a>(
        &self,
        room: &str,
        state: &'a mut Option<Followed>,
        last: u64,
    ) -> Result<&'a mut Followed, FollowerError> {
        let ours = self.provider.domain();
        let hosts_ours = |f: &Followed| f.room.peer_domains(None).iter().any(|d| d.eq_ignore_ascii_case(ours));
        if state.as_ref().is_some_and(|f| !hosts_ours(f)) {
            tracing::debug!(room, "we host no member in our copy of the room: fetching it again");
            let mut fresh = self.fetch(room, last).await?;
            if let Some(dead) = state.as_ref() {
                fresh.room.keep_departures(&dead.room);
            }
            *state = Some(fresh);
        }
        self.copy(room, state, last).await
    }

    /// The copy of `room` in `state`, fetched from the hub first if there is none (at mirror
    /// position `last`).
    async fn copy<'a>(
        &self,
        room: &str,
        state: &'a mut Option<Followed>,
        last: u64,
    ) -> Result<&'a mut Followed, FollowerError> {
        if state.is_none() {
            *state = Some(self.fetch(room, last).await?);
        }
        state.as_mut().ok_or_else(|| FollowerError::Internal { what: "the copy of a room", cause: "just set".into() })
    }

    /// Fetches `room`'s state from its hub's `/groupInfo` under our provider credential, and
    /// builds the copy at mirror position `seq`.
    async fn fetch(&self, room: &str, seq: u64) -> Result<Followed, FollowerError> {
        let unvalidatable = |why: String| FollowerError::Unvalidatable { room: room.to_owned(), why };
        let hub = hub_of(room).ok_or_else(|| unvalidatable("the room URI names no hub".into()))?;
        let (request, private) = self
            .provider
            .provider_group_info_request()
            .map_err(|e| FollowerError::Internal { what: "our groupInfo request", cause: e.to_string() })?;
        let body = request
            .encode()
            .map_err(|e| FollowerError::Internal { what: "our groupInfo request", cause: e.to_string() })?;
        let answer = self
            .peers
            .post(hub, Endpoint::GroupInfo, room, body)
            .await
            .map_err(|e| unvalidatable(format!("groupInfo: {e}")))?;
        if answer.status != StatusCode::OK {
            return Err(unvalidatable(format!("groupInfo answered HTTP {}", answer.status)));
        }
        let response = GroupInfoResponse::decode(&answer.body, DEFAULT_MAX_BODY_LEN)
            .map_err(|e| unvalidatable(format!("groupInfo answer: {e}")))?;
        let hub_key = match &response.status {
            GroupInfoStatus::Success(s) if is_provider_credential(&s.hub_sender.credential, hub) => {
                s.hub_sender.signature_key.as_slice().to_vec()
            }
            GroupInfoStatus::Success(_) => {
                return Err(unvalidatable("groupInfo signed by another than the hub".into()))
            }
            _ => return Err(FollowerError::HubRefused { room: room.to_owned() }),
        };
        if response.room_id.as_slice() != room.as_bytes() {
            return Err(unvalidatable("groupInfo answer for another room".into()));
        }
        let crypto = self.provider.crypto();
        let tbe = response
            .verify_and_open(crypto, &private, DEFAULT_MAX_BODY_LEN)
            .map_err(|e| unvalidatable(format!("groupInfo answer: {e}")))?;
        let RatchetTreeOption::Full { ratchet_tree } = tbe.ratchet_tree_option else {
            return Err(unvalidatable("groupInfo answer without the ratchet tree".into()));
        };
        let pending: Vec<MlsMessageIn> = tbe.pending_proposals.into_iter().map(|p| p.proposal).collect();
        let hashes = pending
            .iter()
            .map(message_hash)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| unvalidatable(format!("a pending proposal: {e}")))?;
        let copy = Room::follow(room, crypto, tbe.group_info, ratchet_tree, &pending, &hub_key, seq)
            .map_err(|e| unvalidatable(e.to_string()))?;
        tracing::info!(room, hub, epoch = copy.epoch(), seq, "fetched the room's state from its hub");
        Ok(Followed { trust: Some(Trust { epoch: copy.epoch(), pending: hashes }), room: copy })
    }

    /// Takes in a `/notify` body for `room` from `peer` (already authenticated): checks that the
    /// peer is the room's hub, decodes, plans, checks every entry on the follower's copy of the
    /// room and persists durably, all or nothing. Returns how many new mirror entries and
    /// Welcome queue items it produced (0 and 0 for a duplicate).
    pub async fn notify(&self, room: &str, peer: &str, body: &[u8]) -> Result<(usize, usize), FollowerError> {
        authorize_notify(room, peer, self.provider.domain())?;
        let messages = FanoutMessage::decode_body(body, DEFAULT_MAX_BODY_LEN, DEFAULT_MAX_FANOUT_MESSAGES)?;
        // Decoded from `body`: failing to find them there is this server's fault.
        let encoded = locate_fanouts(&messages, body)
            .map_err(|e| FollowerError::Internal { what: "locating the received messages", cause: e.to_string() })?;
        let store = self.provider.store();
        // A room never mirrored here: without a reader in the body, refused before any slot,
        // copy or row is made for it.
        if !self.rooms()?.contains_key(room) && store.mirror_last(room).await? == 0 {
            let intake = plan_intake(room, 0, &messages, &encoded, store).await?;
            if !intake.seen.is_empty() && !has_readers(false, &intake) {
                return Err(self.no_readers(room, peer));
            }
        }
        let slot = self.slot(room).await?;
        let mut state = slot.intake.lock().await;
        let last = store.mirror_last(room).await?;
        let intake = plan_intake(room, last, &messages, &encoded, store).await?;
        if intake.seen.is_empty() {
            tracing::debug!(room, peer, "duplicate /notify body");
            return Ok((0, 0));
        }
        // A copy in which we host no member: the body must bring a reader, or it is refused
        // without fetching the room again.
        let ours = self.provider.domain();
        let hosts_ours = |f: &Followed| f.room.peer_domains(None).iter().any(|d| d.eq_ignore_ascii_case(ours));
        if state.as_ref().is_some_and(|f| !hosts_ours(f)) && !has_readers(false, &intake) {
            return Err(self.no_readers(room, peer));
        }
        let copy = match self.live_copy(room, &mut state, last).await {
            Ok(copy) => copy,
            Err(e) => {
                tracing::warn!(room, hub = peer, reason = %e, "cannot check /notify: no copy of the room");
                return Err(e);
            }
        };
        if !has_readers(hosts_ours(copy), &intake) {
            return Err(self.no_readers(room, peer));
        }
        let mut next = Followed {
            room: copy
                .room
                .fork()
                .map_err(|e| FollowerError::Internal { what: "copying a room", cause: e.to_string() })?,
            trust: copy.trust.clone(),
        };
        if let Err((seq, why)) = next.take_in(self.provider.crypto(), &intake.entries)? {
            self.refused.increment(1);
            tracing::warn!(room, hub = peer, seq, reason = %why, "refused /notify: an entry does not validate");
            return Err(FollowerError::Invalid { room: room.to_owned(), seq, why });
        }
        let clients: Vec<String> = intake.queue.iter().flat_map(|d| d.clients.iter().cloned()).collect();
        let counts = (intake.entries.len(), clients.len());
        let newest = intake.entries.last().map(|e| e.seq);
        let echoes: Vec<Vec<u8>> = intake
            .entries
            .iter()
            .filter(|e| !e.sender.as_slice().is_empty())
            .map(|e| Sha256::digest(e.message.as_slice()).to_vec())
            .collect();
        let write =
            Write::Mirror { room: room.to_owned(), entries: intake.entries, queue: intake.queue, seen: intake.seen };
        // While the write is in flight the copy is neither the old one (the entries may already
        // be durable, and then they are never offered again: they are seen) nor the new one (they
        // may not be): if this future is dropped meanwhile, no copy is left, and the next use
        // fetches one from the hub at the durable mirror position.
        let previous = state.take();
        if let Err(e) = settle(store.write(write)).await {
            *state = previous;
            return Err(e.into());
        }
        *state = Some(next);
        drop(state);
        if let Some(seq) = newest {
            slot.seq.send_modify(|s| *s = (*s).max(seq));
        }
        self.provider.wake_queues(clients.iter().map(String::as_str));
        let mut waiting = self.echoes();
        for hash in echoes {
            if let Some(tx) = waiting.remove(&hash) {
                // The relay may have stopped waiting (its client went away): nobody to tell.
                let _ = tx.send(());
            }
        }
        tracing::debug!(room, peer, entries = counts.0, welcomes = counts.1, "notify taken in");
        Ok(counts)
    }

    /// A `/notify` refused for want of readers, counted and logged.
    fn no_readers(&self, room: &str, peer: &str) -> FollowerError {
        self.provider.count_quota_refusal(Quota::NotifyWithoutReaders);
        tracing::warn!(room, hub = peer, "refused /notify: no client of ours reads the room");
        FollowerError::NoReaders { room: room.to_owned() }
    }

    /// The relays waiting for echoes. The map is changed by single inserts and removes, so a
    /// panic elsewhere cannot leave it half-changed: a poisoned lock is used as it is.
    fn echoes(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, oneshot::Sender<()>>> {
        self.echoes.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Remembers that local `client` relayed `message` (an MLSMessage as received) to `room`'s
    /// hub (before relaying it), so its echo is left out for it. The receiver fires once the
    /// echo is in the mirror.
    pub async fn record_relayed(&self, room: &str, client: &str, message: &[u8]) -> Result<Echo<'_, S>, FollowerError> {
        let hash = encoded_message_hash(message);
        let (tx, rx) = oneshot::channel();
        self.echoes().insert(hash.clone(), tx);
        tracing::debug!(room, client, "relaying to the hub");
        let write = Write::Relayed { hash: hash.clone(), client: client.to_owned() };
        let echo = Echo { follower: self, hash, arrived: rx };
        settle(self.provider.store().write(write)).await?;
        Ok(echo)
    }

    /// How much of `room`'s mirror `client` may read, by the follower's copy (fetched first if
    /// there is none; a hub that does not give it to us means we host nobody there).
    ///
    /// Without a copy, the hub is asked only for a room we have mirrored something of or the
    /// reader was welcomed into: any other room URI a local client names is refused without a
    /// call to the provider it names.
    async fn access(&self, room: &str, slot: &MirrorSlot, client: &str) -> Result<LogAccess, FollowerError> {
        let mut state = slot.intake.lock().await;
        let store = self.provider.store();
        let last = store.mirror_last(room).await?;
        if state.is_none() && last == 0 && !self.welcomed(room, client).await? {
            return Ok(LogAccess::Denied);
        }
        match self.copy(room, &mut state, last).await {
            Ok(copy) => Ok(copy.room.log_access(client)),
            Err(FollowerError::HubRefused { .. }) => Ok(LogAccess::Denied),
            Err(e) => Err(e),
        }
    }

    /// Whether `client`'s Welcome queue holds a Welcome into `room`.
    async fn welcomed(&self, room: &str, client: &str) -> Result<bool, FollowerError> {
        const PAGE: usize = 256;
        let mut after = 0;
        loop {
            let items = self.provider.store().queue_after(client, after, PAGE).await?;
            if items.iter().any(|i| i.room.as_slice() == room.as_bytes()) {
                return Ok(true);
            }
            match items.last() {
                Some(item) if items.len() == PAGE => after = item.seq,
                _ => return Ok(false),
            }
        }
    }

    /// The mirror of `room` after `after` (up to `limit` entries), waiting up to `wait` for new
    /// ones, as far as `client` may read it (the hub's rule, [`Room::log_access`], on the
    /// follower's copy): a member all of it, a removed client up to the commit that removed it,
    /// anyone else 403.
    pub async fn read_log(
        &self,
        room: &str,
        client: &str,
        after: u64,
        limit: usize,
        wait: Duration,
    ) -> Result<Vec<LogEntry>, FollowerError> {
        let store = self.provider.store();
        let slot = self.slot(room).await?;
        let mut rx = slot.seq.subscribe();
        let mut access = self.access(room, &slot, client).await?;
        if access == LogAccess::All && *rx.borrow() <= after {
            // A long-poll: running out of time means "nothing new yet"; the mirror is read below.
            let _ = tokio::time::timeout(wait, rx.wait_for(|seq| *seq > after)).await;
            // The client may have been removed meanwhile: what follows its removal is not its.
            access = self.access(room, &slot, client).await?;
        }
        match access {
            LogAccess::Denied => Err(FollowerError::NotReader { client: client.to_owned(), room: room.to_owned() }),
            LogAccess::Through(last) if after >= last => Ok(Vec::new()),
            LogAccess::Through(last) => {
                let limit = limit.min(usize::try_from(last - after).unwrap_or(usize::MAX));
                Ok(Compacted::check(room, after, store.mirror_after(room, after, limit).await?)?)
            }
            LogAccess::All => Ok(Compacted::check(room, after, store.mirror_after(room, after, limit).await?)?),
        }
    }

    /// Checks a local `client`'s handshake bundle for `room` (as received in `body`) before it is
    /// relayed to the hub: decided on the follower's copy as the hub would decide it, its signer
    /// must be `client` (the leaf at the sender's index in the message's epoch, or an external
    /// joiner's credential). `None`: relay it; `Some(answer)`: answer that instead, relay nothing.
    /// A handshake of an epoch the copy has not reached waits for the mirror (at most
    /// [`CATCH_UP_WAIT`]); if the hub does not give us the room's state (we host no participant,
    /// e.g. an external join), it cannot be checked here and is relayed for the hub to decide.
    pub async fn check_relayed(
        &self,
        room: &str,
        client: &str,
        bundle: &HandshakeBundle,
        body: &[u8],
    ) -> Result<Option<UpdateRoomResponse>, FollowerError> {
        let bytes = BundleBytes::locate(bundle, body)
            .map_err(|e| FollowerError::Internal { what: "locating the received bundle", cause: e.to_string() })?;
        let epoch = bundle.proposal_or_commit.clone().try_into_protocol_message().ok().map(|m| m.epoch().as_u64());
        let slot = self.slot(room).await?;
        let deadline = tokio::time::Instant::now() + CATCH_UP_WAIT;
        loop {
            let mut rx = slot.seq.subscribe();
            {
                let mut state = slot.intake.lock().await;
                let last = self.provider.store().mirror_last(room).await?;
                let copy = match self.live_copy(room, &mut state, last).await {
                    Ok(copy) => copy,
                    Err(FollowerError::HubRefused { .. }) => {
                        tracing::info!(room, client, "no copy of the room to check the handshake on; relayed as it is");
                        return Ok(None);
                    }
                    Err(e) => return Err(e),
                };
                let decision = copy.room.decide_received(self.provider.crypto(), bundle, &bytes, now_ms());
                match (decision.accepted, decision.response.outcome) {
                    (Some((entry, _)), _) if entry.sender.as_slice() == client.as_bytes() => return Ok(None),
                    (Some((entry, _)), _) => {
                        let signer = String::from_utf8_lossy(entry.sender.as_slice()).into_owned();
                        tracing::warn!(room, client, %signer, "refused to relay a handshake signed by another client");
                        return Ok(Some(UpdateRoomResponse {
                            error_description: format!("the handshake is signed by {signer}, not by {client}").into(),
                            outcome: UpdateRoomOutcome::NotAllowed,
                        }));
                    }
                    (None, UpdateRoomOutcome::WrongEpoch { current_epoch })
                        if epoch.is_some_and(|e| e > current_epoch) => {}
                    (None, outcome) => {
                        tracing::info!(room, client, reason = %decision.response.error_description.as_str(), "refused to relay a handshake");
                        return Ok(Some(UpdateRoomResponse {
                            error_description: decision.response.error_description,
                            outcome,
                        }));
                    }
                }
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() || tokio::time::timeout(left, rx.changed()).await.is_err() {
                return Err(FollowerError::Unvalidatable {
                    room: room.to_owned(),
                    why: format!("the mirror has not reached epoch {} of the handshake", epoch.unwrap_or_default()),
                });
            }
        }
    }
}

/// The awaited echo of a relayed message; dropping it stops waiting.
pub struct Echo<'a, S: Store> {
    follower: &'a Follower<S>,
    hash: Vec<u8>,
    arrived: oneshot::Receiver<()>,
}

impl<S: Store> Echo<'_, S> {
    /// Waits up to `wait` for the echo to be in the mirror; whether it arrived.
    pub async fn wait(mut self, wait: Duration) -> bool {
        tokio::time::timeout(wait, &mut self.arrived).await.is_ok_and(|r| r.is_ok())
    }
}

impl<S: Store> Drop for Echo<'_, S> {
    fn drop(&mut self) {
        self.follower.echoes().remove(&self.hash);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_rooms_hub_may_notify() {
        let room = "mimi://a.example/r/club";
        assert!(authorize_notify(room, "a.example", "c.example").is_ok());
        assert!(authorize_notify(room, "A.Example", "c.example").is_ok());
        assert!(matches!(authorize_notify(room, "b.example", "c.example"), Err(FollowerError::NotHub { .. })));
        // Our own rooms are never notified to us, and nonsense room URIs belong to nobody.
        assert!(authorize_notify(room, "a.example", "a.example").is_err());
        assert!(authorize_notify("mimi://a.example/u/alice", "a.example", "c.example").is_err());
        assert!(authorize_notify("https://a.example/r/x", "a.example", "c.example").is_err());
    }

    /// Lookups over fixed sets.
    struct Fixed {
        seen: Vec<Vec<u8>>,
    }

    impl IntakeLookups for Fixed {
        fn seen(&self, hash: &[u8]) -> impl Future<Output = Result<bool, StoreError>> + Send {
            std::future::ready(Ok(self.seen.iter().any(|h| h == hash)))
        }
        fn relayed_by(&self, _: &[u8]) -> impl Future<Output = Result<Option<String>, StoreError>> + Send {
            std::future::ready(Ok(None))
        }
        fn key_package_owner(&self, _: &[u8]) -> impl Future<Output = Result<Option<String>, StoreError>> + Send {
            std::future::ready(Ok(None))
        }
    }

    #[test]
    fn what_precedes_the_fetched_state_is_taken_on_trust_until_a_commit_is_validated() {
        let trust = Trust { epoch: 4, pending: vec![vec![7; 32]] };
        // Older epochs, and the pending proposals the fetched state holds: on trust.
        assert_eq!(entry_check(Some(&trust), 0, &[1; 32]), EntryCheck::Trusted);
        assert_eq!(entry_check(Some(&trust), 3, &[1; 32]), EntryCheck::Trusted);
        assert_eq!(entry_check(Some(&trust), 4, &[7; 32]), EntryCheck::Trusted);
        // The fetched epoch and later: validated.
        assert_eq!(entry_check(Some(&trust), 4, &[1; 32]), EntryCheck::Validate);
        assert_eq!(entry_check(Some(&trust), 5, &[1; 32]), EntryCheck::Validate);
        // Once a commit was validated after the fetch, nothing is on trust.
        assert_eq!(entry_check(None, 0, &[7; 32]), EntryCheck::Validate);
    }

    #[tokio::test]
    async fn an_empty_body_and_a_seen_one_plan_nothing() {
        let plan = plan_intake("mimi://a.example/r/x", 7, &[], &[], &Fixed { seen: vec![] }).await.unwrap();
        assert_eq!(plan, Intake::default());
    }
}
