//! One room as the hub sees it, and the acceptance pipeline (spec notes §3.8) for the
//! handshakes and application messages submitted to it.
//!
//! Pipeline for a handshake bundle: group and wire-format checks → epoch (`wrongEpoch` with the
//! current epoch) → full `PublicGroup` validation → app-data reducers and room policy
//! (`mimi-appsync`, the same code the clients run) → identities (a leaf keeps its client; a
//! committed GroupInfo is the committer's and the new epoch's, see [`super::identity`]) → for a
//! commit, every proposal accepted this epoch must be included by reference → decision. Nothing is changed until the caller, having
//! persisted the decision's [`LogEntry`], calls [`Room::apply`]; so a refused or unpersisted
//! request leaves the room exactly as it was, and exactly one commit per epoch can ever be
//! applied (the second one for an epoch finds the epoch moved on).

use std::collections::BTreeMap;

use mimi_appsync::adapter::{check_public_commit, check_public_proposal, client_of, room_state};
use mimi_appsync::components::roles::capability::CAN_SEND_MESSAGE;
use mimi_appsync::policy::Verdict;
use mimi_appsync::uri::{ClientUri, UserUri};
use openmls::ciphersuite::hash_ref::ProposalRef;
use openmls::group::ProposalStore;
use openmls::messages::group_info::VerifiableGroupInfo;
use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _, VLBytes};
use openmls::prelude::*;
use openmls_rust_crypto::MemoryStorage;
use openmls_traits::crypto::OpenMlsCrypto;

use super::checkpoint::{Checkpoint, Departure, StorageItem};
use super::received::{encode_message, BundleBytes};
use super::{components, identity};
use super::{EntryKind, LogEntry};
use mimi_protocol::group_info::ExternalSender;
use mimi_protocol::submit::SubmitMessageStatus;
use mimi_protocol::update::{
    GroupInfoOption, HandshakeBundle, HandshakeBundleContent, UpdateRoomOutcome, UpdateRoomResponse,
};

/// Why a room could not be created, restored or changed (not a protocol refusal: those are
/// answers, see [`UpdateDecision`]).
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The initial GroupInfo or tree is unusable.
    #[error("cannot create room {room}: {reason}")]
    BadRoom {
        /// The room URI.
        room: String,
        /// What is wrong.
        reason: String,
    },
    /// A checkpoint or log entry could not be read back.
    #[error("corrupt state of room {room}: {reason}")]
    Corrupt {
        /// The room URI.
        room: String,
        /// What is wrong.
        reason: String,
    },
    /// Applying an accepted decision failed (openmls storage); the room must be reloaded.
    #[error("cannot apply to room {room}: {reason}")]
    Apply {
        /// The room URI.
        room: String,
        /// What failed.
        reason: String,
    },
    /// The room's own state could not be encoded or read (a checkpoint, a value openmls keeps).
    #[error("state of room {room}: {reason}")]
    State {
        /// The room URI.
        room: String,
        /// What failed.
        reason: String,
    },
}

/// A proposal accepted in the current epoch, which the next commit must include.
#[derive(Debug, Clone)]
struct PendingProposal {
    /// Its reference, as a commit names it.
    reference: ProposalRef,
    /// The log entry that carried it.
    seq: u64,
}

/// What the hub accepted and will apply once it is persisted.
pub enum Accepted {
    /// A commit, staged against the current epoch.
    Commit {
        /// The staged commit to merge.
        staged: Box<StagedCommit>,
        /// The new epoch's GroupInfo supplied by the committer, if it was complete.
        group_info: Option<Vec<u8>>,
    },
    /// Standalone proposals, to add to the proposal store.
    Proposals(Vec<QueuedProposal>),
    /// An application message (nothing to apply but the log position).
    Application,
}

/// The outcome of a handshake bundle.
pub struct UpdateDecision {
    /// The answer to send (`success` only after the entry is durable).
    pub response: UpdateRoomResponse,
    /// When accepted: the entry to persist and fan out, and the change to apply.
    pub accepted: Option<(LogEntry, Accepted)>,
}

/// The outcome of an application message.
pub struct SubmitDecision {
    /// The answer to send.
    pub status: SubmitMessageStatus,
    /// When accepted: the entry to persist and fan out.
    pub accepted: Option<LogEntry>,
}

/// A room whose hub is this provider.
pub struct Room {
    /// The room URI (`mimi://<hub domain>/r/<name>`).
    id: String,
    /// The `PublicGroup`'s state (the room's own storage, checkpointed as a whole).
    storage: MemoryStorage,
    /// The hub's view of the MLS group.
    group: PublicGroup,
    /// Proposals accepted this epoch, in order.
    pending: Vec<PendingProposal>,
    /// The newest complete GroupInfo (bare RFC 9420 encoding) a committer supplied.
    group_info: Option<Vec<u8>>,
    /// Sequence number of the last log entry applied.
    seq: u64,
    /// What every message of the current epoch is checked against, derived once per epoch.
    epoch_view: EpochView,
    /// Clients that left the group, by URI, with the log position of the commit that removed
    /// them (the last entry they may read, see [`Room::log_access`]); a client that rejoins is
    /// taken out.
    departed: BTreeMap<String, u64>,
}

/// How much of a room's log a client may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogAccess {
    /// All of it: the client is a member.
    All,
    /// Up to and including this log position: the commit that removed the client (so a device
    /// that was offline when it was removed still gets what it was sent while a member).
    Through(u64),
    /// None: the client has never been a member.
    Denied,
}

/// Who may read a room's log and how far, as of one log position ([`Room::readers`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Readers {
    /// Member clients, sorted.
    members: Vec<String>,
    /// Clients that left, with the position of the commit that removed them.
    departed: BTreeMap<String, u64>,
}

impl Readers {
    /// How much of the log `client` may read ([`Room::log_access`]).
    pub fn access(&self, client: &str) -> LogAccess {
        access_of(&self.members, &self.departed, client)
    }
}

/// A member reads all of the log, a departed client up to its removal, anyone else nothing.
fn access_of(members: &[String], departed: &BTreeMap<String, u64>, client: &str) -> LogAccess {
    if members.binary_search_by(|m| m.as_str().cmp(client)).is_ok() {
        LogAccess::All
    } else if let Some(seq) = departed.get(client) {
        LogAccess::Through(*seq)
    } else {
        LogAccess::Denied
    }
}

/// Per-epoch facts derived from the group, so that an application message costs O(1) rather
/// than a rebuild of the room state (which is O(members) and decodes the whole dictionary).
#[derive(Debug, Default)]
struct EpochView {
    /// Member clients (URIs, sorted).
    members: Vec<String>,
    /// Member clients whose user is listed with a role that may send messages.
    senders: std::collections::HashSet<String>,
    /// Other providers hosting a member (sorted, without the hub's own domain).
    peers: Vec<String>,
    /// Every provider hosting a member or a listed participant (sorted).
    hosts: Vec<String>,
}

impl EpochView {
    /// The view of `group`'s current epoch. The room state was validated with the commit that
    /// made the epoch, so failing to read it back is the hub's fault.
    fn of(group: &PublicGroup, hub_domain: &str) -> Result<EpochView, String> {
        let state = room_state(group).map_err(|e| format!("room state: {e}"))?;
        let roles: std::collections::HashMap<&[u8], u32> =
            state.participants.participants.iter().map(|p| (p.user.as_slice(), p.role_index)).collect();
        let senders = state
            .members
            .iter()
            .filter(|c| {
                roles
                    .get(c.user().as_bytes())
                    .and_then(|r| state.roles.role(*r))
                    .is_some_and(|role| role.has(CAN_SEND_MESSAGE))
            })
            .map(|c| c.as_str().to_owned())
            .collect();
        let mut peers: Vec<String> =
            state.members.iter().map(|c| c.domain().to_owned()).filter(|d| d != hub_domain).collect();
        peers.sort();
        peers.dedup();
        let mut members: Vec<String> = state.members.iter().map(|c| c.as_str().to_owned()).collect();
        members.sort();
        members.dedup();
        let listed = state.participants.participants.iter().filter_map(|p| UserUri::from_bytes(&p.user).ok());
        let mut hosts: Vec<String> =
            state.members.iter().map(|c| c.domain().to_owned()).chain(listed.map(|u| u.domain().to_owned())).collect();
        hosts.sort();
        hosts.dedup();
        Ok(EpochView { members, senders, peers, hosts })
    }
}

fn refuse(outcome: UpdateRoomOutcome, why: impl Into<String>) -> UpdateDecision {
    UpdateDecision { response: UpdateRoomResponse { error_description: why.into().into(), outcome }, accepted: None }
}

fn not_allowed(why: impl Into<String>) -> UpdateDecision {
    refuse(UpdateRoomOutcome::NotAllowed, why)
}

/// An invalid bundle from an in-process caller (one that cannot be encoded).
fn unencodable(e: tls_codec::Error) -> UpdateDecision {
    not_allowed(format!("the handshake bundle cannot be encoded: {e}"))
}

impl Room {
    /// Creates a room from the creator's GroupInfo (an MLSMessage with the `ratchet_tree`
    /// extension). Checks what docs/DESIGN.md §3.2 requires of every room: required capabilities naming
    /// AppDataDictionary and AppDataUpdate, the hub in `external_senders`, a participant
    /// list whose users own every member client (the policy engine's invariants), and members
    /// supporting the components the room requires (mls-extensions-10, [`components`]).
    pub fn create(
        room_id: &str,
        crypto: &impl OpenMlsCrypto,
        group_info: &[u8],
        hub_signature_key: &[u8],
    ) -> Result<Room, HubError> {
        let bad = |reason: String| HubError::BadRoom { room: room_id.to_owned(), reason };
        let msg = MlsMessageIn::tls_deserialize_exact(group_info).map_err(|e| bad(format!("GroupInfo: {e}")))?;
        let MlsMessageBodyIn::GroupInfo(vgi) = msg.extract() else {
            return Err(bad("expected a GroupInfo MLSMessage".into()));
        };
        let tree = vgi
            .extensions()
            .ratchet_tree()
            .ok_or_else(|| bad("the GroupInfo must carry the ratchet_tree extension".into()))?
            .ratchet_tree()
            .clone();
        Room::from_group_info(room_id, crypto, vgi, tree, hub_signature_key)
    }

    /// A room from a GroupInfo and the tree it describes, with the checks of [`Room::create`]
    /// (the GroupInfo's signature verifies under its signer's leaf, the tree is valid, the
    /// settings of docs/DESIGN.md §3.2 and the policy invariants hold).
    fn from_group_info(
        room_id: &str,
        crypto: &impl OpenMlsCrypto,
        vgi: VerifiableGroupInfo,
        tree: RatchetTreeIn,
        hub_signature_key: &[u8],
    ) -> Result<Room, HubError> {
        let bad = |reason: String| HubError::BadRoom { room: room_id.to_owned(), reason };
        // Kept as openmls encodes it (the creator's body is an MLSMessage around it, not
        // checked for canonical encoding).
        let group_info_bytes =
            vgi.tls_serialize_detached().map_err(|e| bad(format!("GroupInfo cannot be encoded: {e}")))?;
        let storage = MemoryStorage::default();
        let (group, _) = PublicGroup::from_external(crypto, &storage, tree, vgi, ProposalStore::new())
            .map_err(|e| bad(format!("GroupInfo or tree invalid: {e}")))?;
        let context = group.group_context();
        let required = group.required_capabilities();
        let requires = |p: ProposalType| required.is_some_and(|r| r.proposal_types().contains(&p));
        let requires_ext = |e: ExtensionType| required.is_some_and(|r| r.extension_types().contains(&e));
        if !requires(ProposalType::AppDataUpdate) || !requires_ext(ExtensionType::AppDataDictionary) {
            return Err(bad("required_capabilities must name AppDataUpdate and AppDataDictionary".into()));
        }
        // openmls keeps `ExternalSender`'s fields private; read them through the wire type.
        let mut hub_listed = false;
        for sender in context.extensions().external_senders().into_iter().flat_map(|senders| senders.iter()) {
            let bytes = sender.tls_serialize_detached().map_err(|e| bad(format!("external sender: {e}")))?;
            let sender =
                ExternalSender::tls_deserialize_exact(&bytes).map_err(|e| bad(format!("external sender: {e}")))?;
            hub_listed |= sender.signature_key.as_slice() == hub_signature_key;
        }
        if !hub_listed {
            return Err(bad("external_senders must contain the hub's key".into()));
        }
        let state = room_state(&group).map_err(|e| bad(e.to_string()))?;
        if state.participants.participants.is_empty() {
            return Err(bad("the participant list is empty".into()));
        }
        mimi_appsync::policy::consistency::invariants(&state).map_err(|r| bad(r.to_string()))?;
        for leaf in group.members().filter_map(|member| group.leaf(member.index)) {
            components::judge(context.extensions(), "a member", leaf).map_err(|r| bad(r.to_string()))?;
        }
        let mut room = Room {
            id: room_id.to_owned(),
            storage,
            group,
            pending: Vec::new(),
            group_info: Some(group_info_bytes),
            seq: 0,
            epoch_view: EpochView::default(),
            departed: BTreeMap::new(),
        };
        room.refresh_epoch_view().map_err(bad)?;
        Ok(room)
    }

    /// A follower's copy of a room whose hub is another provider, from what that hub's
    /// `/groupInfo` answered: its GroupInfo and tree (checked as [`Room::create`] checks a new
    /// room, `hub_signature_key` being the key that signed the answer) and the proposals it
    /// accepted this epoch, each validated as the hub validates a proposal. `seq`: the log
    /// position the state stands at (the follower's mirror position).
    pub fn follow(
        room_id: &str,
        crypto: &impl OpenMlsCrypto,
        group_info: VerifiableGroupInfo,
        tree: RatchetTreeIn,
        pending: &[MlsMessageIn],
        hub_signature_key: &[u8],
        seq: u64,
    ) -> Result<Room, HubError> {
        let mut room = Room::from_group_info(room_id, crypto, group_info, tree, hub_signature_key)?;
        room.seq = seq;
        // A follower hands out no GroupInfo; the hub's is not kept.
        room.group_info = None;
        if !pending.is_empty() {
            let pairs = pending
                .iter()
                .map(|m| encode_message(m).map(|bytes| (m, bytes)))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| HubError::BadRoom {
                    room: room_id.to_owned(),
                    reason: format!("a pending proposal: {e}"),
                })?;
            let pairs: Vec<(&MlsMessageIn, &[u8])> = pairs.iter().map(|(m, b)| (*m, b.as_slice())).collect();
            let decision = room.decide_proposals(crypto, &pairs, 0);
            let Some((entry, accepted)) = decision.accepted else {
                let reason =
                    format!("a pending proposal does not validate: {}", decision.response.error_description.as_str());
                return Err(HubError::BadRoom { room: room_id.to_owned(), reason });
            };
            room.apply(&LogEntry { seq, ..entry }, accepted)?;
        }
        Ok(room)
    }

    /// An independent copy of the room, to try changes on (a follower takes in a `/notify`
    /// body on a copy and keeps it only once the body is durable).
    pub fn fork(&self) -> Result<Room, HubError> {
        let state = |reason: String| HubError::State { room: self.id.clone(), reason };
        let values = self.storage.values.read().map_err(|_| state("openmls storage lock poisoned".into()))?.clone();
        let storage = MemoryStorage::default();
        *storage.values.write().map_err(|_| state("openmls storage lock poisoned".into()))? = values;
        let group = PublicGroup::load(&storage, self.group.group_id())
            .map_err(|e| state(format!("{e:?}")))?
            .ok_or_else(|| state("the group is not in its storage".into()))?;
        let mut room = Room {
            id: self.id.clone(),
            storage,
            group,
            pending: self.pending.clone(),
            group_info: self.group_info.clone(),
            seq: self.seq,
            epoch_view: EpochView::default(),
            departed: self.departed.clone(),
        };
        room.refresh_epoch_view().map_err(state)?;
        Ok(room)
    }

    /// The room URI.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The hub's view of the group.
    pub fn group(&self) -> &PublicGroup {
        &self.group
    }

    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.group.group_context().epoch().as_u64()
    }

    /// How many clients are members in the current epoch.
    pub fn member_count(&self) -> usize {
        self.epoch_view.members.len()
    }

    /// How many proposals the hub accepted in the current epoch.
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// The last applied log position.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Log positions of the proposals accepted in the current epoch (which external joiners get
    /// with the GroupInfo and the next commit must include).
    pub fn pending_seqs(&self) -> Vec<u64> {
        let mut seqs: Vec<u64> = self.pending.iter().map(|p| p.seq).collect();
        seqs.dedup();
        seqs
    }

    /// The newest complete GroupInfo known (for external joiners).
    pub fn group_info(&self) -> Option<&[u8]> {
        self.group_info.as_deref()
    }

    /// The hub's domain: the authority of the room URI (`mimi://<hub>/r/<name>`; the provider
    /// creates rooms only under such URIs, so the empty fallback is never taken).
    pub fn hub_domain(&self) -> &str {
        self.id.strip_prefix("mimi://").and_then(|rest| rest.split('/').next()).unwrap_or("")
    }

    /// Fanout planning: the other providers that host a member now, plus `also` (a joiner's
    /// domain), sorted and without the hub's own.
    pub fn peer_domains(&self, also: Option<&str>) -> Vec<String> {
        let mut peers = self.epoch_view.peers.clone();
        if let Some(d) = also.filter(|d| *d != self.hub_domain() && !peers.iter().any(|p| p == d)) {
            peers.push(d.to_owned());
            peers.sort();
        }
        peers
    }

    /// Whether provider `domain` hosts a member client or a listed participant of the room, as
    /// of the current epoch (a lookup in the epoch's view, not a decode of the room state).
    pub fn hosts(&self, domain: &str) -> bool {
        self.epoch_view.hosts.binary_search_by(|d| d.as_str().cmp(domain)).is_ok()
    }

    fn refresh_epoch_view(&mut self) -> Result<(), String> {
        let hub = self.hub_domain().to_owned();
        self.epoch_view = EpochView::of(&self.group, &hub)?;
        Ok(())
    }

    fn entry(&self, kind: EntryKind, now_ms: u64, message: Vec<u8>, extra: Vec<Vec<u8>>, sender: &str) -> LogEntry {
        let sender_domain = ClientUri::parse(sender).ok().map(|c| c.domain().to_owned());
        LogEntry {
            seq: self.seq + 1,
            epoch: self.epoch(),
            accepted_ms: now_ms,
            kind,
            message: message.into(),
            extra: extra.into_iter().map(VLBytes::from).collect(),
            sender: sender.as_bytes().to_vec().into(),
            peers: self.peer_domains(sender_domain.as_deref()).into_iter().map(|d| d.into_bytes().into()).collect(),
            group_info: VLBytes::new(Vec::new()),
            welcome: VLBytes::new(Vec::new()),
            welcome_peers: Vec::new(),
            frank: None,
        }
    }

    /// Decides on a handshake bundle (`/update`) of an in-process caller, which has no received
    /// body: encodes it once, then as [`Room::decide_received`].
    pub fn decide_update(&self, crypto: &impl OpenMlsCrypto, bundle: &HandshakeBundle, now_ms: u64) -> UpdateDecision {
        let body = match BundleBytes::encode(bundle) {
            Ok(body) => body,
            Err(e) => return unencodable(e),
        };
        match BundleBytes::locate(bundle, &body) {
            Ok(bytes) => self.decide_received(crypto, bundle, &bytes, now_ms),
            Err(e) => not_allowed(e.to_string()),
        }
    }

    /// Decides on a handshake bundle (`/update`) whose parts were received as `bytes`: the
    /// accepted entry logs those bytes (see [`super::received`]).
    pub fn decide_received(
        &self,
        crypto: &impl OpenMlsCrypto,
        bundle: &HandshakeBundle,
        bytes: &BundleBytes<'_>,
        now_ms: u64,
    ) -> UpdateDecision {
        let message = &bundle.proposal_or_commit;
        match &bundle.content {
            HandshakeBundleContent::Commit { group_info_option, .. } => {
                let full = match (group_info_option, bytes.group_info) {
                    (GroupInfoOption::Full { group_info }, Some(encoded)) => Some((group_info, encoded)),
                    _ => None,
                };
                self.decide_commit(crypto, message, bytes.message, full, now_ms)
            }
            HandshakeBundleContent::Proposal { more_proposals } => {
                if more_proposals.len() != bytes.more.len() {
                    return not_allowed("moreProposals do not match the received bytes");
                }
                let all: Vec<(&MlsMessageIn, &[u8])> = std::iter::once((message, bytes.message))
                    .chain(more_proposals.iter().zip(bytes.more.iter().copied()))
                    .collect();
                self.decide_proposals(crypto, &all, now_ms)
            }
        }
    }

    /// Group, wire format and epoch checks shared by every handshake; processes it.
    fn process(
        &self,
        crypto: &impl OpenMlsCrypto,
        message: &MlsMessageIn,
    ) -> Result<(ProcessedMessage, Option<ClientUri>), Box<UpdateDecision>> {
        let pm = message
            .clone()
            .try_into_protocol_message()
            .map_err(|_| Box::new(not_allowed("a handshake must be an MLS PublicMessage")))?;
        if !matches!(pm, ProtocolMessage::PublicMessage(_)) {
            return Err(Box::new(not_allowed(
                "a PrivateMessage handshake cannot be validated by the hub; send a PublicMessage",
            )));
        }
        if pm.group_id() != self.group.group_id() {
            return Err(Box::new(not_allowed("the message is for another MLS group")));
        }
        if pm.epoch().as_u64() != self.epoch() {
            return Err(Box::new(refuse(
                UpdateRoomOutcome::WrongEpoch { current_epoch: self.epoch() },
                format!("message epoch {} but the room is at epoch {}", pm.epoch().as_u64(), self.epoch()),
            )));
        }
        let processed = self.group.process_message(crypto, pm).map_err(|e| {
            Box::new(match e {
                PublicProcessMessageError::ValidationError(ValidationError::WrongEpoch) => {
                    refuse(UpdateRoomOutcome::WrongEpoch { current_epoch: self.epoch() }, "wrong epoch")
                }
                other => not_allowed(format!("invalid MLS message: {other}")),
            })
        })?;
        // A credential that names no client leaves the entry without a sender, which no
        // authenticated submitter speaks for (see `admission::submit`).
        let sender = client_of(processed.credential(), &|| "sender".into()).ok();
        Ok((processed, sender))
    }

    /// Decides on a commit; `encoded`: its bytes as received; `group_info`: the new epoch's
    /// GroupInfo, if sent whole, with its bytes as received.
    fn decide_commit(
        &self,
        crypto: &impl OpenMlsCrypto,
        message: &MlsMessageIn,
        encoded: &[u8],
        group_info: Option<(&VerifiableGroupInfo, &[u8])>,
        now_ms: u64,
    ) -> UpdateDecision {
        let (processed, sender) = match self.process(crypto, message) {
            Ok(p) => p,
            Err(d) => return *d,
        };
        let leaf_sender = processed.sender().clone();
        if !matches!(
            processed.content(),
            ProcessedMessageContent::StagedCommitMessage(_) | ProcessedMessageContent::UnresolvedAppDataCommit(_)
        ) {
            return not_allowed("the bundle says commit but the message is not a commit");
        }
        let checked = match check_public_commit(&self.group, crypto, processed) {
            Ok(c) => c,
            Err(e) => return not_allowed(e.to_string()),
        };
        if let Verdict::NotAllowed(refusal) = &checked.verdict {
            return not_allowed(refusal.to_string());
        }
        if let Err(refusal) = identity::check_leaf_changes(&self.group, &leaf_sender, &checked.staged) {
            return not_allowed(refusal.to_string());
        }
        if let Err(refusal) = components::check_commit(&checked.staged) {
            return not_allowed(refusal.to_string());
        }
        if let Some((gi, encoded)) = group_info {
            if let Err(refusal) =
                identity::check_group_info(crypto, &self.group, &leaf_sender, &checked.staged, gi, encoded)
            {
                return not_allowed(refusal.to_string());
            }
        }
        let included: Vec<ProposalRef> =
            checked.staged.queued_proposals().map(|q| q.proposal_reference_ref().clone()).collect();
        let missing: Vec<ProposalRef> =
            self.pending.iter().filter(|p| !included.contains(&p.reference)).map(|p| p.reference.clone()).collect();
        if !missing.is_empty() {
            return refuse(
                UpdateRoomOutcome::InvalidProposal { invalid_proposals: missing },
                "the commit must include every proposal the hub accepted in this epoch",
            );
        }
        // Kept for external joiners: verified above to describe the new epoch of this group.
        let group_info = group_info.map(|(_, encoded)| encoded.to_vec());
        let mut entry = self.entry(EntryKind::Commit, now_ms, encoded.to_vec(), Vec::new(), sender_str(&sender));
        entry.group_info = VLBytes::new(group_info.clone().unwrap_or_default());
        UpdateDecision {
            response: UpdateRoomResponse {
                error_description: String::new().into(),
                outcome: UpdateRoomOutcome::Success { accepted_timestamp: now_ms },
            },
            accepted: Some((entry, Accepted::Commit { staged: checked.staged, group_info })),
        }
    }

    /// Decides on standalone proposals, each with its bytes as received.
    fn decide_proposals(
        &self,
        crypto: &impl OpenMlsCrypto,
        messages: &[(&MlsMessageIn, &[u8])],
        now_ms: u64,
    ) -> UpdateDecision {
        let mut queued = Vec::with_capacity(messages.len());
        let mut first_sender = None;
        for (message, _) in messages {
            let (processed, sender) = match self.process(crypto, message) {
                Ok(p) => p,
                Err(d) => return *d,
            };
            // A bundle speaks for one sender: the submitter is checked against the first.
            match &first_sender {
                None => first_sender = Some(sender),
                Some(first) if *first != sender => {
                    return not_allowed("every proposal of a bundle must have the same sender")
                }
                Some(_) => {}
            }
            let proposal = match processed.into_content() {
                ProcessedMessageContent::ProposalMessage(q)
                | ProcessedMessageContent::ExternalJoinProposalMessage(q) => *q,
                _ => return not_allowed("the bundle says proposal but a message is not a proposal"),
            };
            if let Err(e) = check_public_proposal(&self.group, &proposal) {
                return not_allowed(e.to_string());
            }
            if let Err(refusal) = identity::check_update(&self.group, &proposal) {
                return not_allowed(refusal.to_string());
            }
            if let Err(refusal) = components::check_proposal(&self.group, &proposal) {
                return not_allowed(refusal.to_string());
            }
            queued.push(proposal);
        }
        let Some(((_, first), more)) = messages.split_first() else {
            return not_allowed("a proposal bundle holds at least one proposal");
        };
        let entry = self.entry(
            EntryKind::Proposal,
            now_ms,
            first.to_vec(),
            more.iter().map(|(_, m)| m.to_vec()).collect(),
            sender_str(&first_sender.flatten()),
        );
        UpdateDecision {
            response: UpdateRoomResponse {
                error_description: String::new().into(),
                outcome: UpdateRoomOutcome::Success { accepted_timestamp: now_ms },
            },
            accepted: Some((entry, Accepted::Proposals(queued))),
        }
    }

    /// Decides on an application message of an in-process caller, which has no received body:
    /// encodes it once, then as [`Room::decide_message_received`].
    pub fn decide_message(&self, message: &MlsMessageIn, sending_uri: &str, now_ms: u64) -> SubmitDecision {
        match encode_message(message) {
            Ok(encoded) => self.decide_message_received(message, &encoded, sending_uri, now_ms),
            // Not a message anybody could have sent.
            Err(_) => SubmitDecision { status: SubmitMessageStatus::NotAllowed, accepted: None },
        }
    }

    /// Decides on an application message (`/submitMessage`): a PrivateMessage for this group at
    /// the current epoch, from a client that is a member and whose user is a participant allowed
    /// to send. `encoded`: the message as received, which the entry logs. `sending_uri` is the
    /// submitter's claim (the hub cannot see inside a PrivateMessage); the provider vouches for
    /// it for its own clients.
    pub fn decide_message_received(
        &self,
        message: &MlsMessageIn,
        encoded: &[u8],
        sending_uri: &str,
        now_ms: u64,
    ) -> SubmitDecision {
        use SubmitMessageStatus as S;
        let refuse = |status: S| SubmitDecision { status, accepted: None };
        let Ok(ProtocolMessage::PrivateMessage(pm)) = message.clone().try_into_protocol_message() else {
            return refuse(S::NotAllowed);
        };
        if pm.group_id() != self.group.group_id() {
            return refuse(S::NotAllowed);
        }
        // Participation first, so that a non-participant learns nothing (not even the epoch).
        if !self.may_send(sending_uri) {
            return refuse(S::NotAllowed);
        }
        let epoch = pm.epoch().as_u64();
        if epoch > self.epoch() {
            return refuse(S::NotAllowed);
        }
        if epoch < self.epoch() {
            return refuse(S::EpochTooOld { current_epoch: self.epoch() });
        }
        if components::check_aad(&self.group, pm.aad()).is_err() {
            return refuse(S::NotAllowed);
        }
        let entry = self.entry(EntryKind::Application, now_ms, encoded.to_vec(), Vec::new(), sending_uri);
        SubmitDecision { status: S::Accepted { accepted_timestamp: now_ms, frank: None }, accepted: Some(entry) }
    }

    /// Whether `client` is a member whose user is listed with a role that may send messages.
    pub fn may_send(&self, client: &str) -> bool {
        self.epoch_view.senders.contains(client)
    }

    /// Applies an accepted decision after its entry is durable.
    pub fn apply(&mut self, entry: &LogEntry, accepted: Accepted) -> Result<(), HubError> {
        let fail = |reason: String| HubError::Apply { room: self.id.clone(), reason };
        match accepted {
            Accepted::Commit { staged, group_info } => {
                self.group.merge_commit(&self.storage, *staged).map_err(|e| fail(format!("{e:?}")))?;
                self.pending.clear();
                let before = std::mem::take(&mut self.epoch_view.members);
                self.refresh_epoch_view().map_err(|reason| HubError::Apply { room: self.id.clone(), reason })?;
                self.note_departures(&before, entry.seq);
                if group_info.is_some() {
                    self.group_info = group_info;
                }
            }
            Accepted::Proposals(queued) => {
                for q in queued {
                    let reference = q.proposal_reference_ref().clone();
                    self.group.add_proposal(&self.storage, q).map_err(|e| fail(format!("{e:?}")))?;
                    self.pending.push(PendingProposal { reference, seq: entry.seq });
                }
            }
            Accepted::Application => {}
        }
        self.seq = entry.seq;
        Ok(())
    }

    /// Records the clients of `before` that are no longer members as removed at `seq`, and
    /// forgets the departure of any client that is a member again.
    fn note_departures(&mut self, before: &[String], seq: u64) {
        let now = &self.epoch_view.members;
        for client in before {
            if now.binary_search(client).is_err() {
                self.departed.insert(client.clone(), seq);
            }
        }
        for client in now {
            self.departed.remove(client);
        }
    }

    /// How much of the log `client` may read: all of it while a member; after its removal,
    /// up to the commit that removed it; nothing if it was never a member.
    pub fn log_access(&self, client: &str) -> LogAccess {
        access_of(&self.epoch_view.members, &self.departed, client)
    }

    /// Who may read the log and how far, as of now ([`Room::log_access`] for every client), to
    /// be published to readers that do not take the room's decision lock.
    pub fn readers(&self) -> Readers {
        Readers { members: self.epoch_view.members.clone(), departed: self.departed.clone() }
    }

    /// Takes over `earlier`'s record of the clients that left (and where), for those that are not
    /// members here: a follower's copy fetched again from the hub keeps the removals it saw.
    pub fn keep_departures(&mut self, earlier: &Room) {
        for (client, seq) in &earlier.departed {
            if self.epoch_view.members.binary_search(client).is_err() {
                self.departed.entry(client.clone()).or_insert(*seq);
            }
        }
    }

    /// The room's state as a checkpoint at its current log position.
    pub fn checkpoint(&self) -> Result<Checkpoint, HubError> {
        // A poisoned storage lock means a panic inside openmls' storage: its contents cannot be
        // trusted, and an empty checkpoint would lose the room.
        let values = self
            .storage
            .values
            .read()
            .map_err(|_| HubError::State { room: self.id.clone(), reason: "openmls storage lock poisoned".into() })?
            .clone();
        let mut storage: Vec<StorageItem> =
            values.into_iter().map(|(k, v)| StorageItem { key: k.into(), value: v.into() }).collect();
        storage.sort_by(|a, b| a.key.as_slice().cmp(b.key.as_slice()));
        let mut seqs: Vec<u64> = self.pending.iter().map(|p| p.seq).collect();
        seqs.dedup();
        Ok(Checkpoint {
            room_id: self.id.as_bytes().to_vec().into(),
            group_id: self.group.group_id().as_slice().to_vec().into(),
            seq: self.seq,
            storage,
            pending_seqs: seqs,
            group_info: VLBytes::new(self.group_info.clone().unwrap_or_default()),
            departed: self
                .departed
                .iter()
                .map(|(client, seq)| Departure { client: client.as_bytes().to_vec().into(), seq: *seq })
                .collect(),
        })
    }

    /// Rebuilds a room from a checkpoint and the log entries after it (in order), replaying
    /// them through the same pipeline. `pending_entries` are the checkpoint's `pending_seqs`
    /// entries (the proposals of the checkpoint's epoch), needed to rebuild their references.
    pub fn restore(
        crypto: &impl OpenMlsCrypto,
        checkpoint: &Checkpoint,
        pending_entries: &[LogEntry],
        tail: &[LogEntry],
    ) -> Result<Room, HubError> {
        let room_id = String::from_utf8(checkpoint.room_id.as_slice().to_vec()).map_err(|e| HubError::Corrupt {
            room: String::from_utf8_lossy(checkpoint.room_id.as_slice()).into_owned(),
            reason: format!("room URI: {e}"),
        })?;
        let corrupt = |reason: String| HubError::Corrupt { room: room_id.clone(), reason };
        let storage = MemoryStorage::default();
        {
            // A storage made just now: nobody can have poisoned its lock.
            let mut values = storage.values.write().map_err(|_| corrupt("storage lock poisoned".into()))?;
            for item in &checkpoint.storage {
                values.insert(item.key.as_slice().to_vec(), item.value.as_slice().to_vec());
            }
        }
        let group_id = GroupId::from_slice(checkpoint.group_id.as_slice());
        let group = PublicGroup::load(&storage, &group_id)
            .map_err(|e| corrupt(format!("{e:?}")))?
            .ok_or_else(|| corrupt("no group in checkpoint".into()))?;
        let mut room = Room {
            id: room_id.clone(),
            storage,
            group,
            pending: Vec::new(),
            group_info: (!checkpoint.group_info.as_slice().is_empty())
                .then(|| checkpoint.group_info.as_slice().to_vec()),
            seq: checkpoint.seq,
            epoch_view: EpochView::default(),
            departed: checkpoint
                .departed
                .iter()
                .map(|d| {
                    let client = String::from_utf8(d.client.as_slice().to_vec())
                        .map_err(|e| corrupt(format!("departed client: {e}")))?;
                    Ok((client, d.seq))
                })
                .collect::<Result<_, HubError>>()?,
        };
        room.refresh_epoch_view().map_err(corrupt)?;
        for entry in pending_entries {
            for message in std::iter::once(&entry.message).chain(&entry.extra) {
                let msg =
                    MlsMessageIn::tls_deserialize_exact(message.as_slice()).map_err(|e| corrupt(e.to_string()))?;
                let pm = msg.try_into_protocol_message().map_err(|e| corrupt(e.to_string()))?;
                let reference = match room.group.process_message(crypto, pm).map(|p| p.into_content()) {
                    Ok(ProcessedMessageContent::ProposalMessage(q))
                    | Ok(ProcessedMessageContent::ExternalJoinProposalMessage(q)) => q.proposal_reference_ref().clone(),
                    _ => return Err(corrupt(format!("pending entry {} is not a valid proposal", entry.seq))),
                };
                room.pending.push(PendingProposal { reference, seq: entry.seq });
            }
        }
        for entry in tail {
            room.replay(crypto, entry)?;
        }
        Ok(room)
    }

    /// Re-applies one persisted entry (after a restart).
    fn replay(&mut self, crypto: &impl OpenMlsCrypto, entry: &LogEntry) -> Result<(), HubError> {
        let corrupt = |reason: String| HubError::Corrupt { room: self.id.clone(), reason };
        if entry.seq != self.seq + 1 {
            return Err(corrupt(format!("log gap: expected {}, found {}", self.seq + 1, entry.seq)));
        }
        let accepted = self.decide_logged(crypto, entry).map_err(corrupt)?;
        self.apply(entry, accepted)
    }

    /// Decides on an entry of a hub's log (replayed here after a restart, or fanned out by
    /// another hub to a follower) with the same pipeline as a submission: a handshake must
    /// validate and pass the app-data and policy checks against the current state, an
    /// application message must be a PrivateMessage of this group at the current epoch (all the
    /// hub can check of one). What to apply, or why the entry does not validate.
    pub fn decide_logged(&self, crypto: &impl OpenMlsCrypto, entry: &LogEntry) -> Result<Accepted, String> {
        let decode = |b: &VLBytes| MlsMessageIn::tls_deserialize_exact(b.as_slice()).map_err(|e| e.to_string());
        Ok(match entry.kind {
            EntryKind::Application => {
                let pm = match decode(&entry.message)?.try_into_protocol_message().map_err(|e| e.to_string())? {
                    ProtocolMessage::PrivateMessage(pm) if pm.group_id() == self.group.group_id() => pm,
                    _ => return Err(format!("application entry {} is not a PrivateMessage of this group", entry.seq)),
                };
                if pm.epoch().as_u64() != self.epoch() {
                    return Err(format!(
                        "application entry {} is of epoch {} but the room is at epoch {}",
                        entry.seq,
                        pm.epoch().as_u64(),
                        self.epoch()
                    ));
                }
                components::check_aad(&self.group, pm.aad())
                    .map_err(|why| format!("application entry {}: {why}", entry.seq))?;
                Accepted::Application
            }
            EntryKind::Commit => {
                let msg = decode(&entry.message)?;
                let encoded_group_info = entry.group_info.as_slice();
                let group_info = if encoded_group_info.is_empty() {
                    None
                } else {
                    Some(VerifiableGroupInfo::tls_deserialize_exact(encoded_group_info).map_err(|e| e.to_string())?)
                };
                let group_info = group_info.as_ref().map(|gi| (gi, encoded_group_info));
                let decision =
                    self.decide_commit(crypto, &msg, entry.message.as_slice(), group_info, entry.accepted_ms);
                match decision.accepted {
                    Some((_, a)) => a,
                    None => {
                        let why = decision.response.error_description.as_str().to_owned();
                        return Err(format!("commit {} does not validate: {why}", entry.seq));
                    }
                }
            }
            EntryKind::Proposal => {
                let encoded: Vec<&VLBytes> = std::iter::once(&entry.message).chain(&entry.extra).collect();
                let messages = encoded.iter().map(|b| decode(b)).collect::<Result<Vec<_>, _>>()?;
                let pairs: Vec<(&MlsMessageIn, &[u8])> =
                    messages.iter().zip(encoded.iter().map(|b| b.as_slice())).collect();
                let decision = self.decide_proposals(crypto, &pairs, entry.accepted_ms);
                match decision.accepted {
                    Some((_, a)) => a,
                    None => {
                        let why = decision.response.error_description.as_str().to_owned();
                        return Err(format!("proposal {} does not validate: {why}", entry.seq));
                    }
                }
            }
        })
    }
}

fn sender_str(sender: &Option<ClientUri>) -> &str {
    sender.as_ref().map(|c| c.as_str()).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::admission::memory::TestRoom;
    use mimi_appsync::ops::UserOperation;

    /// A follower's copy of `t`'s room at mirror position `seq`, from what the hub's `/groupInfo`
    /// gives: alice's GroupInfo, the hub's tree, the hub's key (read from the group context).
    fn copy_of(t: &TestRoom, seq: u64) -> Room {
        let bytes = t.group_info().tls_serialize_detached().unwrap();
        let MlsMessageBodyIn::GroupInfo(group_info) = MlsMessageIn::tls_deserialize_exact(bytes).unwrap().extract()
        else {
            panic!("not a GroupInfo")
        };
        let tree = RatchetTreeIn::from(t.room.group().export_ratchet_tree());
        let sender = t.room.group().group_context().extensions().external_senders().unwrap()[0].clone();
        let sender =
            ExternalSender::tls_deserialize_exact(sender.tls_serialize_detached().unwrap().as_slice()).unwrap();
        Room::follow(t.room.id(), &t.crypto, group_info, tree, &[], sender.signature_key.as_slice(), seq).unwrap()
    }

    #[test]
    fn a_copy_takes_what_the_hub_accepted_and_refuses_what_does_not_validate() {
        let mut t = TestRoom::new();
        let copy = copy_of(&t, 5);
        assert_eq!((copy.epoch(), copy.seq()), (t.room.epoch(), 5));
        assert_eq!(copy.log_access(t.alice.uri.as_str()), LogAccess::All);
        assert!(copy.group_info().is_none(), "a follower hands out no GroupInfo");

        // A commit of alice's whose signature was tampered with, and an application message of
        // the current epoch.
        let built = t.alice.build_commit(UserOperation::default()).unwrap();
        let tampered = mimi_testkit::tamper_signature(built.commit()).unwrap();
        t.alice.clear_pending().unwrap();
        let mut forged = t.message_entry(b"x");
        let message = forged.clone();
        assert!(matches!(copy.decide_logged(&t.crypto, &message), Ok(Accepted::Application)));
        forged.kind = EntryKind::Commit;
        forged.message = tampered.tls_serialize_detached().unwrap().into();
        let why = copy.decide_logged(&t.crypto, &forged).err().expect("refused");
        assert!(why.contains("does not validate"), "{why}");

        // What the hub accepted, on a fork at the next mirror position.
        let bob = t.client("b.example", "bob", "phone");
        let d = t.decide_adds(&[&bob]);
        t.room.apply(&d.entry, d.accepted).unwrap();
        let mut fork = copy.fork().unwrap();
        let entry = LogEntry { seq: 6, ..d.entry.clone() };
        let accepted = fork.decide_logged(&t.crypto, &entry).unwrap();
        fork.apply(&entry, accepted).unwrap();
        assert_eq!((fork.epoch(), fork.seq()), (t.room.epoch(), 6));
        assert_eq!(fork.log_access(bob.uri.as_str()), LogAccess::All);
        // The copy it was forked from is untouched.
        assert_eq!((copy.epoch(), copy.seq()), (0, 5));
        assert_eq!(copy.log_access(bob.uri.as_str()), LogAccess::Denied);

        // The same commit again, and a message of the epoch before: over.
        let why = fork.decide_logged(&t.crypto, &LogEntry { seq: 7, ..d.entry }).err().expect("stale");
        assert!(why.contains("epoch"), "{why}");
        let why = fork.decide_logged(&t.crypto, &LogEntry { seq: 7, ..message }).err().expect("stale");
        assert!(why.contains("epoch 0 but the room is at epoch 1"), "{why}");
    }
}
