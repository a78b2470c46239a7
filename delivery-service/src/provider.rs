//! The provider: this server's rooms (as their hub), clients and KeyPackage directory, joined to
//! the store and the clock. It is the I/O edge of the hub: the decisions are made by
//! [`crate::hub::Room`]; this module serialises each room (one decision at a time, so one
//! commit per epoch), makes accepted entries durable *before* applying and answering, routes
//! Welcomes to the clients whose KeyPackages they name, wakes long-polling readers, and writes
//! checkpoints every so many entries.
//!
//! The HTTP routers call these methods; tests and the simulator may call them directly. Whether
//! a submission came from a local client or a follower provider makes no difference here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex as StdMutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mimi_appsync::uri::{ClientUri, UserUri};
use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _, Size as _};
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::RustCrypto;
use sha2::{Digest, Sha256};
use tokio::sync::{watch, Mutex};

use crate::config::ConsentPolicy;
use crate::hub::franking::{derive_mac_key, AbuseRefusal, Franker};
use crate::hub::{Accepted, HubError, LogAccess, LogEntry, QueueItem, Room, UpdateDecision};
use crate::metrics::{Counter, MetricsError, Registry};
use crate::store::{
    settle, ClaimScope, KeyPackageClaim, Store, StoreError, StoredAbuseReport, StoredKeyPackage, WelcomeDelivery,
    Write, WriteResult,
};
use crate::wire::abuse::AbuseReport;
use crate::wire::consent::ConsentEntry;
use crate::wire::franking::FrankingAgentData;
use crate::wire::group_info::{
    ExternalSender as WireExternalSender, GroupInfoRatchetTreeTBE, GroupInfoRequest, GroupInfoResponse,
    GroupInfoStatus, PendingProposal,
};
use crate::wire::identifier::{IdentifierQueryCode, IdentifierRequest, IdentifierResponse, UserProfile};
use crate::wire::key_material::{
    ClientKeyMaterial, ClientKeyMaterialStatus, KeyMaterialRequest, KeyMaterialResponse, KeyMaterialUserCode,
};
use crate::wire::ratchet_tree::RatchetTreeOption;
use crate::wire::submit::SubmitMessageStatus;
use crate::wire::update::{HandshakeBundle, HandshakeBundleContent, UpdateRoomOutcome, UpdateRoomResponse};
use crate::wire::{IdentifierUri, Protocol};

/// A room is checkpointed once the log bytes written since its last checkpoint reach the size of
/// that checkpoint (at least this much): the checkpoint's cost is then at most the log's, so the
/// disk cost of a commit tracks its own size, not the group's, and replay after a restart reads
/// at most about twice the checkpoint.
const MIN_CHECKPOINT_INTERVAL_BYTES: u64 = 256 * 1024;
/// ... or once this many entries were appended, whichever comes first (bounds replay time).
const MAX_CHECKPOINT_INTERVAL_ENTRIES: u64 = 50_000;
/// Most KeyPackage claims per target user per minute, unless configured otherwise
/// (`claims_per_minute`, see [`crate::config`]).
pub const DEFAULT_CLAIMS_PER_MINUTE: u32 = 30;

/// Why a provider operation failed (protocol refusals are answers, not errors).
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// No such room here.
    #[error("unknown room {0}")]
    UnknownRoom(String),
    /// The caller may not do this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The request is malformed.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Too many requests; retry later.
    #[error("rate limited: {0}")]
    RateLimited(String),
    /// A room could not be created or restored.
    #[error(transparent)]
    Hub(#[from] HubError),
    /// Persistence failed; nothing was acknowledged.
    #[error(transparent)]
    Store(#[from] StoreError),
}

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
    /// Announces the newest durable log position to long-polling readers.
    seq: Arc<watch::Sender<u64>>,
    /// A write applied in memory failed to become durable: reload from the store before the
    /// next decision.
    broken: bool,
}

/// Loads the hub's external-sender key from `path`, or creates and saves one (owner-only
/// permissions) the first time. Every room lists this key, so it must survive restarts.
pub fn load_or_create_hub_key(path: &std::path::Path) -> Result<SignatureKeyPair, ProviderError> {
    let io = |e: std::io::Error| ProviderError::Store(StoreError::Io(format!("{}: {e}", path.display())));
    if path.exists() {
        let bytes = std::fs::read(path).map_err(io)?;
        return SignatureKeyPair::tls_deserialize_exact(&bytes)
            .map_err(|e| ProviderError::Store(StoreError::Io(format!("{}: {e}", path.display()))));
    }
    let scheme = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519.signature_algorithm();
    let key = SignatureKeyPair::new(scheme).map_err(|e| ProviderError::BadRequest(format!("key generation: {e:?}")))?;
    let bytes = key.tls_serialize_detached().map_err(|e| ProviderError::BadRequest(e.to_string()))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension("tmp");
    {
        use std::io::Write as _;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp).map_err(io)?;
        f.write_all(&bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)?;
    Ok(key)
}

/// Who submitted a request: a local client (client API) or a peer provider (server-to-server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitter {
    /// An authenticated client of this provider.
    Client(ClientUri),
    /// A provider authenticated by its certificate, by domain.
    Peer(String),
}

impl Submitter {
    /// Whether this submitter may act for the client `sender` (a client URI).
    pub fn speaks_for(&self, sender: &str) -> bool {
        match self {
            Submitter::Client(c) => c.as_str() == sender,
            Submitter::Peer(domain) => ClientUri::parse(sender).is_ok_and(|c| c.domain() == domain),
        }
    }
}

impl std::fmt::Display for Submitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Submitter::Client(c) => write!(f, "client {c}"),
            Submitter::Peer(d) => write!(f, "provider {d}"),
        }
    }
}

/// The credential of the hub of `domain` (identity `mimi://<domain>`), as external sender and
/// franking agent.
fn hub_credential_of(domain: &str) -> Credential {
    BasicCredential::new(format!("mimi://{domain}").into_bytes()).into()
}

/// The hub of a room: the authority of its URI `mimi://<hub>/r/<name>`.
pub fn hub_of(room_id: &str) -> Option<&str> {
    let rest = room_id.strip_prefix("mimi://")?;
    let (authority, path) = rest.split_once('/')?;
    let name = path.strip_prefix("r/")?;
    (!authority.is_empty() && !name.is_empty()).then_some(authority)
}

/// Whether provider `domain` may submit `bundle` to `room` (issue 5 item 1): it hosts a
/// participant (a listed user or an MLS member of its domain), or the handshake is an external
/// commit (whose joiner the hub then checks against the room's policy, and whose sender must be a
/// client of `domain`, see [`Submitter::speaks_for`]).
pub fn peer_may_update(room: &Room, domain: &str, bundle: &HandshakeBundle) -> bool {
    let hosts = mimi_appsync::adapter::room_state(room.group()).is_ok_and(|s| {
        s.members.iter().any(|c| c.domain() == domain)
            || s.participants
                .participants
                .iter()
                .any(|p| UserUri::from_bytes(&p.user).is_ok_and(|u| u.domain() == domain))
    });
    let external = matches!(
        bundle.proposal_or_commit.clone().try_into_protocol_message(),
        Ok(ProtocolMessage::PublicMessage(m)) if matches!(m.sender(), Sender::NewMemberCommit)
    );
    hosts || external
}

/// Why the hub refuses an Add (see [`add_is_vouched`]); answered as `notAllowed`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddRefusal {
    /// No claim through this hub is recorded for the KeyPackageRef (e.g. obtained out of band).
    #[error("the KeyPackage of {added} was not claimed through the hub")]
    NotClaimed {
        /// The added client.
        added: String,
    },
    /// The claim came from another provider than the added client's.
    #[error("the KeyPackage of {added} was claimed from {provider}, not from its own provider")]
    OtherProvider {
        /// The added client.
        added: String,
        /// The provider the claim was served by.
        provider: String,
    },
    /// The claim was for another room.
    #[error("the KeyPackage of {added} was claimed through the hub for {claimed_for}, not for this room")]
    OtherRoom {
        /// The added client.
        added: String,
        /// The room the claim named.
        claimed_for: String,
    },
    /// The claim was made by another provider than the committer's.
    #[error("the KeyPackage of {added} was claimed through the hub by {requester}, not by {committer}")]
    OtherRequester {
        /// The added client.
        added: String,
        /// The provider that claimed it.
        requester: String,
        /// The committer's provider.
        committer: String,
    },
    /// An accepted Add already used the claim.
    #[error("the KeyPackage of {added} claimed through the hub was already used in an Add")]
    AlreadyUsed {
        /// The added client.
        added: String,
    },
}

/// Whether the hub may accept the Add of client `added` in a handshake of `room` from a client of
/// `committer_domain` (issue 5, security: no Add without a claim). `claim`: what this hub recorded
/// for the added KeyPackageRef when it served (our users) or relayed (others') the claim.
///
/// A provider serves claims for its own users itself, so an added client of the committer's own
/// domain needs nothing here (`Ok(false)`). Any other Add needs a claim through this hub for this
/// room (protocol-06 §5.2: "designed for use in a single room and may not be reused"), from the
/// added client's provider, requested by the committer's provider, and not used by an accepted
/// Add yet: `Ok(true)`, and the caller marks it used in the transaction that accepts the
/// handshake. A KeyPackage obtained out of band, claimed for another room or by another provider,
/// or used before is refused. Only authenticated submissions (client API and `/v1/update`) are
/// checked.
pub fn add_is_vouched(
    room: &str,
    committer_domain: &str,
    added: &ClientUri,
    claim: Option<&KeyPackageClaim>,
) -> Result<bool, AddRefusal> {
    let domain = added.domain();
    if domain == committer_domain {
        return Ok(false);
    }
    let name = || added.as_str().to_owned();
    let Some(claim) = claim else { return Err(AddRefusal::NotClaimed { added: name() }) };
    let scope = &claim.scope;
    if scope.provider != domain {
        return Err(AddRefusal::OtherProvider { added: name(), provider: scope.provider.clone() });
    }
    if scope.room != room {
        return Err(AddRefusal::OtherRoom { added: name(), claimed_for: scope.room.clone() });
    }
    if scope.requester != committer_domain {
        return Err(AddRefusal::OtherRequester {
            added: name(),
            requester: scope.requester.clone(),
            committer: committer_domain.to_owned(),
        });
    }
    if claim.used {
        return Err(AddRefusal::AlreadyUsed { added: name() });
    }
    Ok(true)
}

/// Where a commit's Welcome goes: the local clients it adds (client URIs), and the other
/// providers whose claimed KeyPackages it names.
type WelcomeRouting = (Vec<String>, Vec<String>);

/// Bytes a log entry adds to the store (for checkpoint pacing).
fn entry_bytes(entry: &LogEntry) -> u64 {
    entry.tls_serialized_len() as u64
}

/// What the provider counts for `/metrics`.
#[derive(Debug, Clone, Default)]
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
        })
    }
}

/// Milliseconds since the UNIX epoch.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
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
    rooms: RwLock<HashMap<String, Arc<Mutex<Slot>>>>,
    /// Newest queue position per local client, for long-polling readers.
    queues: StdMutex<HashMap<String, watch::Sender<u64>>>,
    /// Claims per target user in the current minute: (minute, count).
    claims: StdMutex<HashMap<String, (u64, u32)>>,
    /// Counters for `/metrics`.
    metrics: HubMetrics,
    /// Counts durable appends to any room; the federation outbox waits on it.
    appended: watch::Sender<u64>,
    /// Claims by other providers' users without a consent decision: served or not.
    consent: ConsentPolicy,
    /// Most KeyPackage claims served per target user and minute.
    claims_per_minute: u32,
    /// The hub as franking agent (its key is `hub_key`, see [`crate::hub::franking`]).
    franker: Franker,
}

impl<S: Store> Provider<S> {
    /// Opens the provider on `store`, restoring every room (checkpoint plus log replay).
    pub fn open(domain: &str, hub_key: SignatureKeyPair, store: S) -> Result<Self, ProviderError> {
        let crypto = RustCrypto::default();
        let franker = {
            let secret = hub_key.tls_serialize_detached().map_err(|e| ProviderError::BadRequest(e.to_string()))?;
            let mac_key = derive_mac_key(&crypto, &secret).map_err(|e| ProviderError::BadRequest(e.to_string()))?;
            let agent = FrankingAgentData {
                franking_signature_key: hub_key.to_public_vec().into(),
                credential: hub_credential_of(domain),
            };
            Franker::new(agent, mac_key, Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)
        };
        let mut rooms = HashMap::new();
        for stored in store.rooms()? {
            let room = Room::restore(&crypto, &stored.checkpoint, &stored.pending, &stored.tail)?;
            let (seq, _) = watch::channel(room.seq());
            let slot = Slot {
                checkpointed: stored.checkpoint.seq,
                checkpoint_bytes: stored.checkpoint.tls_serialized_len() as u64,
                log_bytes: stored.tail.iter().map(entry_bytes).sum(),
                seq: Arc::new(seq),
                room,
                broken: false,
            };
            tracing::info!(room = slot.room.id(), seq = slot.room.seq(), epoch = slot.room.epoch(), "room restored");
            rooms.insert(slot.room.id().to_owned(), Arc::new(Mutex::new(slot)));
        }
        Ok(Provider {
            domain: domain.to_owned(),
            crypto,
            hub_key,
            store,
            rooms: RwLock::new(rooms),
            queues: StdMutex::new(HashMap::new()),
            claims: StdMutex::new(HashMap::new()),
            metrics: HubMetrics::default(),
            appended: watch::channel(0).0,
            consent: ConsentPolicy::default(),
            claims_per_minute: DEFAULT_CLAIMS_PER_MINUTE,
            franker,
        })
    }

    /// Registers the provider's counters (`hub_*`) in `registry` for `/metrics`.
    pub fn with_metrics(mut self, registry: &Registry) -> Result<Self, MetricsError> {
        self.metrics = HubMetrics::register(registry)?;
        Ok(self)
    }

    /// Sets how many KeyPackage claims per target user and minute are served (default
    /// [`DEFAULT_CLAIMS_PER_MINUTE`]); more get `RateLimited` (429).
    pub fn with_claims_per_minute(mut self, limit: u32) -> Self {
        self.claims_per_minute = limit;
        self
    }

    /// Sets the consent policy for claims by other providers' users (default: open).
    pub fn with_consent(mut self, policy: ConsentPolicy) -> Self {
        self.consent = policy;
        self
    }

    /// Records a consent operation (see [`crate::federation::consent`]); durable when it returns.
    pub async fn record_consent(&self, entry: &ConsentEntry) -> Result<(), ProviderError> {
        let write = Write::Consent {
            requester: entry.scope.requester_uri.as_str().to_owned(),
            target: entry.scope.target_uri.as_str().to_owned(),
            room: entry.scope.room_id.as_ref().map(|r| r.as_str().to_owned()),
            operation: entry.consent.operation(),
        };
        settle(self.store.write(write)).await?;
        tracing::info!(scope = ?entry.scope, operation = ?entry.consent.operation(), "consent recorded");
        Ok(())
    }

    /// The domain served.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The hub's external-sender public key, for rooms' `external_senders`.
    pub fn hub_signature_key(&self) -> Vec<u8> {
        self.hub_key.to_public_vec()
    }

    /// The hub's external-sender credential (identity `mimi://<domain>`).
    pub fn hub_credential(&self) -> Credential {
        hub_credential_of(&self.domain)
    }

    /// The `franking_agent` value (component 0x0021) of rooms this hub franks: its
    /// external-sender key and credential.
    pub fn franking_agent(&self) -> &FrankingAgentData {
        self.franker.agent()
    }

    /// The hub's `ExternalSender` (key and credential), as every room of this hub lists it in
    /// `external_senders` and as it signs groupInfo responses.
    pub fn hub_external_sender(&self) -> WireExternalSender {
        WireExternalSender { signature_key: self.hub_signature_key().into(), credential: self.hub_credential() }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    fn slot(&self, room: &str) -> Result<Arc<Mutex<Slot>>, ProviderError> {
        self.rooms
            .read()
            .map_err(|_| ProviderError::UnknownRoom(room.to_owned()))?
            .get(room)
            .cloned()
            .ok_or_else(|| ProviderError::UnknownRoom(room.to_owned()))
    }

    /// Locks a room, first reloading it from the store if a pipelined write failed.
    async fn lock(&self, room_id: &str) -> Result<tokio::sync::OwnedMutexGuard<Slot>, ProviderError> {
        let mut slot = self.slot(room_id)?.lock_owned().await;
        if slot.broken {
            let stored = self
                .store
                .rooms()?
                .into_iter()
                .find(|r| r.checkpoint.room_id.as_slice() == room_id.as_bytes())
                .ok_or_else(|| ProviderError::UnknownRoom(room_id.to_owned()))?;
            slot.room = Room::restore(&self.crypto, &stored.checkpoint, &stored.pending, &stored.tail)?;
            slot.checkpointed = stored.checkpoint.seq;
            slot.checkpoint_bytes = stored.checkpoint.tls_serialized_len() as u64;
            slot.log_bytes = stored.tail.iter().map(entry_bytes).sum();
            slot.broken = false;
            tracing::warn!(room = room_id, seq = slot.room.seq(), "room reloaded after a failed write");
        }
        Ok(slot)
    }

    /// Registers a client of a local user and returns its URI and bearer token.
    pub async fn register_client(&self, user: &str, device: &str) -> Result<(ClientUri, String), ProviderError> {
        let client =
            ClientUri::new(&self.domain, user, device).map_err(|e| ProviderError::BadRequest(e.to_string()))?;
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw).map_err(|e| ProviderError::BadRequest(format!("no randomness: {e}")))?;
        let token = hex::encode(raw);
        let write = Write::RegisterClient {
            client: client.as_str().to_owned(),
            user: client.user().as_str().to_owned(),
            token_hash: token_hash(&token),
        };
        settle(self.store.write(write)).await?;
        Ok((client, token))
    }

    /// The client a bearer token belongs to.
    pub fn authenticate(&self, token: &str) -> Result<Option<ClientUri>, ProviderError> {
        Ok(self.store.client_by_token(&token_hash(token))?.and_then(|c| ClientUri::parse(&c).ok()))
    }

    /// Validates and stores KeyPackages uploaded by `client` (each an MLSMessage). Each must be
    /// valid, unexpired, and carry a credential naming `client`.
    pub async fn upload_key_packages(&self, client: &ClientUri, packages: &[Vec<u8>]) -> Result<usize, ProviderError> {
        let mut stored = Vec::with_capacity(packages.len());
        for (i, bytes) in packages.iter().enumerate() {
            let bad = |why: String| ProviderError::BadRequest(format!("KeyPackage {i}: {why}"));
            let msg = MlsMessageIn::tls_deserialize_exact(bytes).map_err(|e| bad(e.to_string()))?;
            let MlsMessageBodyIn::KeyPackage(kp) = msg.extract() else {
                return Err(bad("not a KeyPackage".into()));
            };
            let kp = kp.validate(&self.crypto, ProtocolVersion::Mls10).map_err(|e| bad(e.to_string()))?;
            let owner = mimi_appsync::adapter::client_of(kp.leaf_node().credential(), &|| "KeyPackage".into())
                .map_err(|e| bad(e.to_string()))?;
            if &owner != client {
                return Err(ProviderError::Forbidden(format!("KeyPackage {i} belongs to {owner}, not {client}")));
            }
            let reference = kp.hash_ref(&self.crypto).map_err(|e| bad(e.to_string()))?;
            stored.push(StoredKeyPackage {
                reference: reference.as_slice().to_vec(),
                client: client.as_str().to_owned(),
                user: client.user().as_str().to_owned(),
                key_package: bytes.clone(),
                last_resort: kp.last_resort(),
                not_after: kp.life_time().not_after(),
            });
        }
        let n = stored.len();
        settle(self.store.write(Write::PutKeyPackages(stored))).await?;
        Ok(n)
    }

    /// Claims one KeyPackage per client of a local user (single use, last resort kept),
    /// rate-limited per target user. Returns (claimed, clients with nothing left).
    pub async fn claim_key_packages(
        &self,
        user: &UserUri,
    ) -> Result<(Vec<StoredKeyPackage>, Vec<String>), ProviderError> {
        self.claim_key_packages_for(user, None).await
    }

    /// [`Provider::claim_key_packages`], recording the claimed refs as claims of `scope` (for a
    /// room of this hub) in the same transaction.
    async fn claim_key_packages_for(
        &self,
        user: &UserUri,
        scope: Option<ClaimScope>,
    ) -> Result<(Vec<StoredKeyPackage>, Vec<String>), ProviderError> {
        let minute = now_ms() / 60_000;
        {
            let mut claims = self.claims.lock().map_err(|_| ProviderError::RateLimited("busy".into()))?;
            let entry = claims.entry(user.as_str().to_owned()).or_insert((minute, 0));
            if entry.0 != minute {
                *entry = (minute, 0);
            }
            if entry.1 >= self.claims_per_minute {
                return Err(ProviderError::RateLimited(format!("too many claims for {user}")));
            }
            entry.1 += 1;
        }
        let write = Write::ClaimKeyPackages { user: user.as_str().to_owned(), now_secs: now_ms() / 1000, scope };
        match settle(self.store.write(write)).await? {
            WriteResult::Claimed { claimed, exhausted } => Ok((claimed, exhausted)),
            WriteResult::Done => Ok((Vec::new(), Vec::new())),
        }
    }

    /// Creates a room whose hub is this provider, from its creator's GroupInfo (with the tree).
    pub async fn create_room(
        &self,
        creator: &ClientUri,
        room_id: &str,
        group_info: &[u8],
    ) -> Result<(), ProviderError> {
        let expected_prefix = format!("mimi://{}/r/", self.domain);
        if !room_id.starts_with(&expected_prefix) || room_id.len() == expected_prefix.len() {
            return Err(ProviderError::BadRequest(format!("a room of this hub is named {expected_prefix}<name>")));
        }
        if self.slot(room_id).is_ok() {
            return Err(ProviderError::Forbidden(format!("room {room_id} exists")));
        }
        let room = Room::create(room_id, &self.crypto, group_info, &self.hub_signature_key())?;
        let members: Vec<ClientUri> =
            mimi_appsync::adapter::room_state(room.group()).map(|s| s.members).unwrap_or_default();
        if members.as_slice() != std::slice::from_ref(creator) {
            return Err(ProviderError::Forbidden("the creating client must be the group's only member".into()));
        }
        let checkpoint = room.checkpoint();
        let checkpoint_bytes = checkpoint.tls_serialized_len() as u64;
        settle(self.store.write(Write::CreateRoom(Box::new(checkpoint)))).await?;
        let (seq, _) = watch::channel(0);
        let slot = Slot { room, checkpointed: 0, checkpoint_bytes, log_bytes: 0, seq: Arc::new(seq), broken: false };
        self.rooms
            .write()
            .map_err(|_| ProviderError::Forbidden("room table poisoned".into()))?
            .insert(room_id.to_owned(), Arc::new(Mutex::new(slot)));
        tracing::info!(room = room_id, creator = %creator, "room created");
        Ok(())
    }

    /// `/update` from an authenticated submitter: as [`Provider::update`], but the handshake's
    /// sender (the member or joining client that signed it) must be the submitting client, or a
    /// client of the submitting provider: a provider acts only for its own clients (DESIGN §3).
    pub async fn update_from(
        &self,
        room_id: &str,
        bundle: &HandshakeBundle,
        submitter: &Submitter,
    ) -> Result<UpdateRoomResponse, ProviderError> {
        self.decide_and_persist(room_id, bundle, Some(submitter)).await
    }

    /// `/update`: decides on a handshake bundle; an accepted one is durable before the answer.
    /// For in-process callers that vouch for the sender themselves (tests, benchmarks).
    pub async fn update(&self, room_id: &str, bundle: &HandshakeBundle) -> Result<UpdateRoomResponse, ProviderError> {
        self.decide_and_persist(room_id, bundle, None).await
    }

    async fn decide_and_persist(
        &self,
        room_id: &str,
        bundle: &HandshakeBundle,
        submitter: Option<&Submitter>,
    ) -> Result<UpdateRoomResponse, ProviderError> {
        let mut slot = self.lock(room_id).await?;
        if let Some(Submitter::Peer(domain)) = submitter {
            if !peer_may_update(&slot.room, domain, bundle) {
                self.metrics.refused.inc();
                tracing::info!(room = room_id, peer = %domain, "update from a provider without participants refused");
                return Ok(UpdateRoomResponse {
                    error_description: format!("{domain} hosts no participant of {room_id}").into(),
                    outcome: UpdateRoomOutcome::NotAllowed,
                });
            }
        }
        let mut decision = slot.room.decide_update(&self.crypto, bundle, now_ms());
        let mut claims_used = Vec::new();
        if let (Some(submitter), Some((entry, accepted))) = (submitter, &decision.accepted) {
            let refusal = if !submitter.speaks_for(entry.sender_uri()) {
                Some(format!("{} may not submit a handshake of {}", submitter, entry.sender_uri()))
            } else {
                match self.vouch_adds(room_id, entry.sender_uri(), accepted)? {
                    Ok(used) => {
                        claims_used = used;
                        None
                    }
                    Err(refusal) => Some(refusal.to_string()),
                }
            };
            if let Some(why) = refusal {
                decision = UpdateDecision {
                    response: UpdateRoomResponse {
                        error_description: why.into(),
                        outcome: UpdateRoomOutcome::NotAllowed,
                    },
                    accepted: None,
                };
            }
        }
        let Some((mut entry, accepted)) = decision.accepted else {
            self.metrics.refused.inc();
            tracing::info!(room = room_id, epoch = slot.room.epoch(), outcome = ?decision.response.outcome,
                reason = %decision.response.error_description, "handshake refused");
            return Ok(decision.response);
        };
        let queue = match (&bundle.content, &accepted) {
            (HandshakeBundleContent::Commit { welcome: Some(welcome), .. }, Accepted::Commit { .. }) => {
                let (clients, remote) = self.welcome_routing(&entry, welcome)?;
                let bytes = Self::welcome_message(welcome)?;
                if !remote.is_empty() {
                    entry.welcome = bytes.clone().into();
                    entry.welcome_peers = remote.into_iter().map(|d| d.into_bytes().into()).collect();
                }
                if clients.is_empty() {
                    Vec::new()
                } else {
                    // One delivery for all local joiners: the store keeps the Welcome once.
                    let room = slot.room.id().to_owned();
                    vec![WelcomeDelivery {
                        room,
                        after_seq: entry.seq,
                        welcome: bytes,
                        ratchet_tree: Vec::new(),
                        clients,
                    }]
                }
            }
            _ => Vec::new(),
        };
        self.persist_and_apply(&mut slot, entry, accepted, queue, claims_used).await?;
        Ok(decision.response)
    }

    /// Checks every Add by value (in a commit or a proposal bundle) of a handshake of `room_id`
    /// per [`add_is_vouched`], with the facts from the store; `committer`: the handshake's sender
    /// (a client URI). Returns the KeyPackageRefs whose claims the handshake uses (to be marked
    /// used when it is accepted), or the first refusal. An Add by reference was checked, and its
    /// claim used, when the hub accepted the proposal.
    fn vouch_adds(
        &self,
        room_id: &str,
        committer: &str,
        accepted: &Accepted,
    ) -> Result<Result<Vec<Vec<u8>>, AddRefusal>, ProviderError> {
        let committer_domain = ClientUri::parse(committer).map(|c| c.domain().to_owned()).unwrap_or_default();
        let queued: Vec<&QueuedProposal> = match accepted {
            Accepted::Commit { staged, .. } => staged.queued_proposals().collect(),
            Accepted::Proposals(queued) => queued.iter().collect(),
            Accepted::Application => Vec::new(),
        };
        let mut used = Vec::new();
        for proposal in queued {
            let Proposal::Add(add) = proposal.proposal() else { continue };
            if proposal.proposal_or_ref_type() == ProposalOrRefType::Reference {
                continue;
            }
            let key_package = add.key_package();
            let Ok(added) = mimi_appsync::adapter::client_of(key_package.leaf_node().credential(), &|| "Add".into())
            else {
                return Ok(Err(AddRefusal::NotClaimed { added: "a KeyPackage naming no client".into() }));
            };
            let reference = key_package
                .hash_ref(&self.crypto)
                .map_err(|e| ProviderError::BadRequest(format!("KeyPackageRef of {added}: {e}")))?;
            let claim = self.store.key_package_claim(reference.as_slice())?;
            match add_is_vouched(room_id, &committer_domain, &added, claim.as_ref()) {
                Ok(true) => used.push(reference.as_slice().to_vec()),
                Ok(false) => {}
                Err(refusal) => {
                    tracing::info!(room = room_id, committer, added = %added, %refusal, "Add refused");
                    return Ok(Err(refusal));
                }
            }
        }
        Ok(Ok(used))
    }

    /// `/submitMessage` for a message from `sender` (a local client, or the `sendingUri` a
    /// follower vouches for).
    pub async fn submit_message(
        &self,
        room_id: &str,
        message: &MlsMessageIn,
        sender: &str,
    ) -> Result<SubmitMessageStatus, ProviderError> {
        // Application messages are pipelined: decided and queued for the writer under the room
        // lock (so log order is decision order), answered only once durable, with the lock
        // released meanwhile so the next message of the room can be decided. They change nothing
        // in the room but its log position; if the write fails, the room is reloaded from the
        // store before its next decision.
        let (ticket, entry, status, notify) = {
            let mut slot = self.lock(room_id).await?;
            let decision = slot.room.decide_message(message, sender, now_ms());
            let mut status = decision.status;
            let Some(mut entry) = decision.accepted else {
                self.metrics.messages_refused.inc();
                return Ok(status);
            };
            let frank = self
                .franker
                .frank(&self.crypto, &self.hub_key, &slot.room, &entry, message)
                .map_err(|e| ProviderError::BadRequest(format!("franking: {e}")))?;
            if let (Some(f), SubmitMessageStatus::Accepted { frank, .. }) = (&frank, &mut status) {
                *frank = Some(f.clone());
            }
            entry.frank = frank;
            let write = Write::Append {
                room: room_id.to_owned(),
                entries: vec![entry.clone()],
                queue: Vec::new(),
                claims_used: Vec::new(),
            };
            let ticket = self.store.write(write);
            slot.room.apply(&entry, Accepted::Application)?;
            if slot.room.seq() - slot.checkpointed >= MAX_CHECKPOINT_INTERVAL_ENTRIES {
                // Queued behind the appends it covers; the store refuses it if any failed.
                drop(self.store.write(Write::Checkpoint(Box::new(slot.room.checkpoint()))));
                slot.checkpointed = slot.room.seq();
                slot.log_bytes = 0;
            }
            (ticket, entry, status, slot.seq.clone())
        };
        if let Err(e) = settle(ticket).await {
            self.slot(room_id)?.lock().await.broken = true;
            return Err(e.into());
        }
        notify.send_modify(|s| *s = (*s).max(entry.seq));
        self.appended.send_modify(|n| *n += 1);
        self.metrics.messages.inc();
        Ok(status)
    }

    /// A Welcome as an MLSMessage.
    fn welcome_message(welcome: &Welcome) -> Result<Vec<u8>, ProviderError> {
        MlsMessageOut::from_welcome(welcome.clone(), ProtocolVersion::Mls10)
            .tls_serialize_detached()
            .map_err(|e| ProviderError::BadRequest(e.to_string()))
    }

    /// The local clients a Welcome names (by KeyPackageRef), which get it through their queues,
    /// and the other providers whose claimed KeyPackages it names (sorted, once each), which get
    /// it by fanout.
    fn welcome_routing(&self, entry: &LogEntry, welcome: &Welcome) -> Result<WelcomeRouting, ProviderError> {
        let mut out = Vec::new();
        let mut remote = Vec::new();
        // A KeyPackage neither claimed through us nor ours was claimed by the committer's own
        // provider from its own users (a follower serves claims for its users itself): that
        // provider gets the Welcome and routes it by its own directory.
        let committer_provider =
            ClientUri::parse(entry.sender_uri()).ok().map(|c| c.domain().to_owned()).filter(|d| d != &self.domain);
        for secret in welcome.secrets() {
            let reference = secret.new_member();
            if let Some(claim) = self.store.key_package_claim(reference.as_slice())? {
                if claim.scope.provider != self.domain {
                    remote.push(claim.scope.provider);
                    continue;
                }
            }
            let Some(client) = self.store.key_package_owner(reference.as_slice())? else {
                remote.extend(committer_provider.clone());
                continue;
            };
            out.push(client);
        }
        remote.sort();
        remote.dedup();
        Ok((out, remote))
    }

    /// Makes `entry` durable (with its Welcome for local clients `queue` and the claims it uses,
    /// `claims_used`, in one transaction), then applies it, checkpoints if due and wakes readers.
    async fn persist_and_apply(
        &self,
        slot: &mut Slot,
        entry: LogEntry,
        accepted: Accepted,
        queue: Vec<WelcomeDelivery>,
        claims_used: Vec<Vec<u8>>,
    ) -> Result<(), ProviderError> {
        let room_id = slot.room.id().to_owned();
        let clients: Vec<String> = queue.iter().flat_map(|d| d.clients.iter().cloned()).collect();
        let write = Write::Append { room: room_id.clone(), entries: vec![entry.clone()], queue, claims_used };
        if let Err(e) = settle(self.store.write(write)).await {
            // Pipelined messages before this entry may have failed too; reload to be sure.
            slot.broken = true;
            return Err(e.into());
        }
        match &accepted {
            Accepted::Commit { .. } => self.metrics.commits.inc(),
            Accepted::Proposals(_) => self.metrics.proposals.inc(),
            Accepted::Application => self.metrics.messages.inc(),
        }
        slot.room.apply(&entry, accepted)?;
        slot.log_bytes += entry_bytes(&entry);
        let due = slot.log_bytes >= slot.checkpoint_bytes.max(MIN_CHECKPOINT_INTERVAL_BYTES)
            || slot.room.seq() - slot.checkpointed >= MAX_CHECKPOINT_INTERVAL_ENTRIES;
        if due {
            let cp = slot.room.checkpoint();
            let size = cp.tls_serialized_len() as u64;
            // A failed checkpoint loses nothing (the log has it all); it only lengthens replay.
            match settle(self.store.write(Write::Checkpoint(Box::new(cp)))).await {
                Ok(_) => {
                    slot.checkpointed = slot.room.seq();
                    slot.checkpoint_bytes = size;
                    slot.log_bytes = 0;
                    self.metrics.checkpoints.inc();
                    tracing::debug!(room = %room_id, seq = slot.checkpointed, bytes = size, "checkpoint written");
                }
                Err(e) => tracing::warn!(room = %room_id, error = %e, "checkpoint failed"),
            }
        }
        let seq = slot.room.seq();
        slot.seq.send_modify(|s| *s = (*s).max(seq));
        self.appended.send_modify(|n| *n += 1);
        self.wake_queues(clients.iter().map(String::as_str));
        tracing::debug!(room = %room_id, seq = entry.seq, epoch = entry.epoch, kind = ?entry.kind, "accepted");
        Ok(())
    }

    /// The room log after `after` (up to `limit` entries), waiting up to `wait` for new ones,
    /// as far as `client` may read it ([`Room::log_access`]): a member all of it, a removed
    /// client up to the commit that removed it (an empty page after that), anyone else 403.
    pub async fn read_log(
        &self,
        room_id: &str,
        client: &ClientUri,
        after: u64,
        limit: usize,
        wait: Duration,
    ) -> Result<Vec<LogEntry>, ProviderError> {
        let (mut rx, mut access) = {
            let s = self.lock(room_id).await?;
            (s.seq.subscribe(), s.room.log_access(client.as_str()))
        };
        if access == LogAccess::All && *rx.borrow() <= after {
            let _ = tokio::time::timeout(wait, rx.wait_for(|seq| *seq > after)).await;
            // The client may have been removed meanwhile: what follows its removal is not its.
            access = self.lock(room_id).await?.room.log_access(client.as_str());
        }
        match access {
            LogAccess::Denied => Err(ProviderError::Forbidden(format!("{client} is not in {room_id}"))),
            // A removed client reads up to the commit that removed it, and no further.
            LogAccess::Through(last) if after >= last => Ok(Vec::new()),
            LogAccess::Through(last) => {
                let limit = limit.min(usize::try_from(last - after).unwrap_or(usize::MAX));
                Ok(self.store.log_after(room_id, after, limit)?)
            }
            LogAccess::All => Ok(self.store.log_after(room_id, after, limit)?),
        }
    }

    /// The client's queue after `after`, waiting up to `wait` for new items.
    pub async fn read_queue(
        &self,
        client: &ClientUri,
        after: u64,
        limit: usize,
        wait: Duration,
    ) -> Result<Vec<QueueItem>, ProviderError> {
        let mut rx = {
            let mut queues = self.queues.lock().map_err(|_| ProviderError::Forbidden("poisoned".into()))?;
            queues.entry(client.as_str().to_owned()).or_insert_with(|| watch::channel(0).0).subscribe()
        };
        let items = self.store.queue_after(client.as_str(), after, limit)?;
        if !items.is_empty() || wait.is_zero() {
            return Ok(items);
        }
        let _ = tokio::time::timeout(wait, rx.changed()).await;
        Ok(self.store.queue_after(client.as_str(), after, limit)?)
    }

    /// `/groupInfo`: the GroupInfo, tree and pending proposals for an external joiner, encrypted
    /// to the requester and signed with the hub's key. The request must be validly signed, and its
    /// credential's user a listed participant allowed to have clients, or preauthorised; anything
    /// else gets `notAuthorized` (an unknown room too, so existence is not revealed).
    pub async fn group_info(
        &self,
        room_id: &str,
        request: &GroupInfoRequest,
    ) -> Result<GroupInfoResponse, ProviderError> {
        let refuse = || GroupInfoResponse {
            version: Protocol::Mls10,
            room_id: room_id.as_bytes().to_vec().into(),
            status: GroupInfoStatus::NotAuthorized,
        };
        if request.verify(&self.crypto).is_err() {
            tracing::info!(room = room_id, "groupInfo request with a bad signature");
            return Ok(refuse());
        }
        let Ok(requester) = mimi_appsync::adapter::client_of(&request.requesting_credential, &|| "requester".into())
        else {
            return Ok(refuse());
        };
        let Ok(slot) = self.lock(room_id).await else { return Ok(refuse()) };
        let room = &slot.room;
        let Ok(state) = mimi_appsync::adapter::room_state(room.group()) else { return Ok(refuse()) };
        let listed = state
            .role_of(&requester.user())
            .and_then(|r| state.roles.role(r))
            .is_some_and(|role| role.allows_clients());
        let preauthorised = state.preauth.first_match(requester.as_bytes()).is_some();
        if !(listed || preauthorised) {
            tracing::info!(room = room_id, requester = %requester, "groupInfo not authorised");
            return Ok(refuse());
        }
        let stale = || ProviderError::Forbidden("the hub has no GroupInfo for the current epoch".into());
        let group_info = room
            .group_info()
            .and_then(|b| openmls::messages::group_info::VerifiableGroupInfo::tls_deserialize_exact(b).ok())
            .filter(|gi| gi.epoch().as_u64() == room.epoch())
            .ok_or_else(stale)?;
        let tree = room
            .group()
            .export_ratchet_tree()
            .tls_serialize_detached()
            .map_err(|e| ProviderError::BadRequest(e.to_string()))?;
        let ratchet_tree =
            RatchetTreeIn::tls_deserialize_exact(&tree).map_err(|e| ProviderError::BadRequest(e.to_string()))?;
        let mut pending_proposals = Vec::new();
        for seq in room.pending_seqs() {
            for entry in self.store.log_after(room_id, seq - 1, 1)? {
                for m in std::iter::once(&entry.message).chain(&entry.extra) {
                    let proposal = MlsMessageIn::tls_deserialize_exact(m.as_slice())
                        .map_err(|e| ProviderError::BadRequest(e.to_string()))?;
                    pending_proposals.push(PendingProposal { proposal, hub_accepted_time: entry.accepted_ms });
                }
            }
        }
        let tbe = GroupInfoRatchetTreeTBE {
            group_info,
            ratchet_tree_option: RatchetTreeOption::Full { ratchet_tree },
            pending_proposals,
        };
        let hub_sender = self.hub_external_sender();
        GroupInfoResponse::seal_and_sign(&self.crypto, &self.hub_key, request, room_id.as_bytes(), hub_sender, &tbe)
            .map_err(|e| ProviderError::BadRequest(e.to_string()))
    }

    /// Checks a `KeyMaterialRequest`'s signature and that its credential names a client of
    /// `requestingUser` (and, if given, the authenticated local client `requester`). Returns the
    /// signing client.
    pub fn verify_key_material_request(
        &self,
        request: &KeyMaterialRequest,
        requester: Option<&ClientUri>,
    ) -> Result<ClientUri, ProviderError> {
        let tbs = &request.tbs;
        let scheme = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519.signature_algorithm();
        request
            .verify(&self.crypto, scheme)
            .map_err(|e| ProviderError::Forbidden(format!("request signature: {e}")))?;
        let signer = mimi_appsync::adapter::client_of(&tbs.requester_credential, &|| "requester".into())
            .map_err(|e| ProviderError::Forbidden(e.to_string()))?;
        if requester.is_some_and(|r| r != &signer) || signer.user().as_str() != tbs.requesting_user.as_str() {
            return Err(ProviderError::Forbidden("the request is signed by another client or user".into()));
        }
        Ok(signer)
    }

    /// Validates KeyPackages claimed from provider `domain` for a Welcome routed there later:
    /// each must be valid and belong to a client of `domain`. Returns their KeyPackageRefs.
    pub fn remote_key_package_refs(
        &self,
        domain: &str,
        response: &KeyMaterialResponse,
    ) -> Result<Vec<Vec<u8>>, ProviderError> {
        let mut refs = Vec::new();
        for client in &response.clients {
            let ClientKeyMaterialStatus::Success { key_package } = &client.status else { continue };
            let bad = |why: String| ProviderError::Forbidden(format!("KeyPackage from {domain}: {why}"));
            let kp =
                key_package.clone().validate(&self.crypto, ProtocolVersion::Mls10).map_err(|e| bad(e.to_string()))?;
            let owner = mimi_appsync::adapter::client_of(kp.leaf_node().credential(), &|| "KeyPackage".into())
                .map_err(|e| bad(e.to_string()))?;
            if owner.domain() != domain {
                return Err(bad(format!("it belongs to {owner}")));
            }
            refs.push(kp.hash_ref(&self.crypto).map_err(|e| bad(e.to_string()))?.as_slice().to_vec());
        }
        Ok(refs)
    }

    /// Wakes long-polling readers of these clients' queues (after a queue write).
    pub fn wake_queues<'a>(&self, clients: impl IntoIterator<Item = &'a str>) {
        if let Ok(queues) = self.queues.lock() {
            for c in clients {
                if let Some(tx) = queues.get(c) {
                    tx.send_modify(|v| *v += 1);
                }
            }
        }
    }

    /// Whether this provider is the hub of `room_id` (its authority is our domain).
    pub fn is_hub_of(&self, room_id: &str) -> bool {
        hub_of(room_id) == Some(self.domain.as_str())
    }

    /// `/keyMaterial` for a local target user: one single-use KeyPackage per client, with the
    /// draft's user and client codes. A requester of another provider needs the target's
    /// consent ([`crate::federation::consent::verdict`]), checked before anything is claimed.
    /// `caller`: an authenticated local client (client API), which must match the signed request,
    /// or the peer provider that asked. If we are the hub of the request's room, the claimed refs
    /// are recorded as claims for that room by the caller's provider (see [`add_is_vouched`]).
    pub async fn key_material(
        &self,
        request: &KeyMaterialRequest,
        caller: &Submitter,
    ) -> Result<KeyMaterialResponse, ProviderError> {
        let requester = match caller {
            Submitter::Client(c) => Some(c),
            Submitter::Peer(_) => None,
        };
        let tbs = &request.tbs;
        let respond = |user_status, clients| KeyMaterialResponse {
            protocol: Protocol::Mls10,
            user_status,
            user_uri: tbs.target_user.clone(),
            clients,
        };
        self.verify_key_material_request(request, requester)?;
        let Ok(target) = UserUri::parse(tbs.target_user.as_str()) else {
            return Ok(respond(KeyMaterialUserCode::UserUnknown, Vec::new()));
        };
        if target.domain() != self.domain {
            return Ok(respond(KeyMaterialUserCode::UserUnknown, Vec::new()));
        }
        let requester = tbs.requesting_user.as_str();
        if UserUri::parse(requester).is_ok_and(|u| u.domain() != self.domain) {
            let room = tbs.room_id.as_str();
            let for_room = self.store.consent(requester, target.as_str(), Some(room))?;
            let general = self.store.consent(requester, target.as_str(), None)?;
            if let Some(code) = crate::federation::consent::verdict(self.consent, for_room, general) {
                tracing::info!(target = %target, requester, room, ?code, "claim without consent refused");
                return Ok(respond(code, Vec::new()));
            }
        }
        let supported = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;
        if !tbs.acceptable_ciphersuites.iter().any(|c| Ciphersuite::try_from(*c).ok() == Some(supported)) {
            return Ok(respond(KeyMaterialUserCode::NoCompatibleMaterial, Vec::new()));
        }
        let room = tbs.room_id.as_str();
        let scope = self.is_hub_of(room).then(|| ClaimScope {
            provider: self.domain.clone(),
            room: room.to_owned(),
            requester: match caller {
                Submitter::Client(c) => c.domain().to_owned(),
                Submitter::Peer(domain) => domain.clone(),
            },
        });
        let (claimed, exhausted) = self.claim_key_packages_for(&target, scope).await?;
        if claimed.is_empty() && exhausted.is_empty() {
            return Ok(respond(KeyMaterialUserCode::UserUnknown, Vec::new()));
        }
        let mut clients = Vec::new();
        for kp in &claimed {
            let key_package = match MlsMessageIn::tls_deserialize_exact(&kp.key_package).map(|m| m.extract()) {
                Ok(MlsMessageBodyIn::KeyPackage(k)) => k,
                _ => return Err(ProviderError::BadRequest(format!("stored KeyPackage of {} is corrupt", kp.client))),
            };
            clients.push(ClientKeyMaterial {
                client_uri: IdentifierUri::new(kp.client.as_str()),
                status: ClientKeyMaterialStatus::Success { key_package },
            });
        }
        for client in &exhausted {
            clients.push(ClientKeyMaterial {
                client_uri: IdentifierUri::new(client.as_str()),
                status: ClientKeyMaterialStatus::KeyMaterialExhausted,
            });
        }
        let code = match (claimed.is_empty(), exhausted.is_empty()) {
            (false, true) => KeyMaterialUserCode::Success,
            (false, false) => KeyMaterialUserCode::PartialSuccess,
            _ => KeyMaterialUserCode::NoCompatibleMaterial,
        };
        tracing::info!(target = %target, claimed = claimed.len(), exhausted = exhausted.len(), "key material claimed");
        Ok(respond(code, clients))
    }

    /// `/reportAbuse` for `room_id`, of which we must be the hub: a report whose franks verify
    /// ([`Franker::check_report`]) is kept durably (once per distinct body) before `Ok(Ok(()))`;
    /// one that does not is `Ok(Err(refusal))` and nothing is kept. `body`: the report as
    /// received; `reporter`: who filed it (for the record).
    pub async fn report_abuse(
        &self,
        room_id: &str,
        report: &AbuseReport,
        body: &[u8],
        reporter: &Submitter,
    ) -> Result<Result<(), AbuseRefusal>, ProviderError> {
        self.slot(room_id)?;
        if let Err(refusal) = self.franker.check_report(&self.crypto, room_id, report) {
            tracing::info!(room = room_id, %reporter, %refusal, "abuse report refused");
            return Ok(Err(refusal));
        }
        let record = StoredAbuseReport {
            room: room_id.to_owned(),
            reporter: reporter.to_string(),
            received_ms: now_ms(),
            report: body.to_vec(),
        };
        settle(self.store.write(Write::AbuseReport(record))).await?;
        tracing::info!(room = room_id, %reporter, alleged = report.alleged_abuser_uri.as_str(),
            messages = report.messages.len(), "abuse report kept");
        Ok(Ok(()))
    }

    /// `/identifierQuery` for this provider's users (see [`crate::federation::identifier`]).
    pub fn identifier_query(&self, request: &IdentifierRequest) -> Result<IdentifierResponse, ProviderError> {
        let respond = |response_code, users: Vec<UserUri>| IdentifierResponse {
            response_code,
            uri: users.iter().map(|u| IdentifierUri::new(u.as_str())).collect(),
            found_profiles: users
                .iter()
                .map(|u| UserProfile { stable_uri: IdentifierUri::new(u.as_str()), fields: Vec::new() })
                .collect(),
            id_response_extensions: Default::default(),
        };
        Ok(match crate::federation::identifier::candidate(&self.domain, request) {
            Ok(user) if self.store.user_exists(user.as_str())? => respond(IdentifierQueryCode::Success, vec![user]),
            Ok(_) => respond(IdentifierQueryCode::NotFound, Vec::new()),
            Err(code) => respond(code, Vec::new()),
        })
    }

    /// The rooms this provider is the hub of.
    pub fn room_ids(&self) -> Vec<String> {
        self.rooms.read().map(|r| r.keys().cloned().collect()).unwrap_or_default()
    }

    /// Changes whenever an entry of any room became durable (for the federation outbox).
    pub fn subscribe_appends(&self) -> watch::Receiver<u64> {
        self.appended.subscribe()
    }

    /// The room's current epoch and log position.
    pub async fn room_position(&self, room_id: &str) -> Result<(u64, u64), ProviderError> {
        let s = self.lock(room_id).await?;
        Ok((s.room.epoch(), s.room.seq()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_need_an_unused_claim_through_the_hub_for_this_room_by_the_committers_provider() {
        let cathy = ClientUri::parse("mimi://c.example/d/cathy/phone").unwrap();
        let alice = ClientUri::parse("mimi://a.example/d/alice/phone").unwrap();
        let (r1, r2) = ("mimi://a.example/r/one", "mimi://a.example/r/two");
        let claim = |provider: &str, room: &str, requester: &str, used: bool| KeyPackageClaim {
            scope: ClaimScope { provider: provider.into(), room: room.into(), requester: requester.into() },
            used,
        };
        // b adds c's Cathy at hub a in r1: only with a claim a relayed to c for r1, asked by b.
        let ok = claim("c.example", r1, "b.example", false);
        assert_eq!(add_is_vouched(r1, "b.example", &cathy, Some(&ok)), Ok(true));
        assert!(matches!(add_is_vouched(r1, "b.example", &cathy, None), Err(AddRefusal::NotClaimed { .. })));
        let refused = |c: KeyPackageClaim| add_is_vouched(r1, "b.example", &cathy, Some(&c)).unwrap_err();
        assert!(matches!(refused(claim("b.example", r1, "b.example", false)), AddRefusal::OtherProvider { .. }));
        // Claimed for r2, used in r1.
        assert!(matches!(refused(claim("c.example", r2, "b.example", false)), AddRefusal::OtherRoom { .. }));
        // Claimed by d for r1, used by b.
        assert!(matches!(refused(claim("c.example", r1, "d.example", false)), AddRefusal::OtherRequester { .. }));
        // Used once already.
        assert!(matches!(refused(claim("c.example", r1, "b.example", true)), AddRefusal::AlreadyUsed { .. }));
        // b adds a's Alice: a claim a served from its own directory to b for r1.
        let served = claim("a.example", r1, "b.example", false);
        assert_eq!(add_is_vouched(r1, "b.example", &alice, Some(&served)), Ok(true));
        assert!(add_is_vouched(r1, "b.example", &alice, None).is_err());
        assert!(add_is_vouched(r2, "b.example", &alice, Some(&served)).is_err());
        // A provider's own users (served by it) need no claim here, and use none.
        assert_eq!(add_is_vouched(r1, "c.example", &cathy, None), Ok(false));
        assert_eq!(add_is_vouched(r1, "a.example", &alice, None), Ok(false));
        // The hub's client adds c's Cathy: claimed a → c for r1 by a.
        assert_eq!(
            add_is_vouched(r1, "a.example", &cathy, Some(&claim("c.example", r1, "a.example", false))),
            Ok(true)
        );
        assert!(add_is_vouched(r1, "a.example", &cathy, None).is_err());
        // The refusal names the reason (the hub's notAllowed description).
        let text = refused(claim("c.example", r2, "b.example", false)).to_string();
        assert!(text.contains(r2) && text.contains("not for this room"), "{text}");
        assert!(AddRefusal::NotClaimed { added: cathy.as_str().into() }
            .to_string()
            .contains("not claimed through the hub"));
    }
}
