//! One simulated device: an openmls 0.9 client with its own storage and signer, registered at
//! its provider and talking to it over the client API ([`crate::api`]).
//!
//! # Identity and group settings
//! The credential is Basic with the client URI `mimi://<domain>/d/<user>/<device>` as identity
//! (DESIGN §3). Every group is created and joined with `MIXED_PLAINTEXT_WIRE_FORMAT_POLICY` (so
//! the hub can validate handshakes), the ratchet tree in Welcomes and GroupInfos, and leaf
//! capabilities naming AppDataDictionary, AppDataUpdate and SelfRemove. A room created here
//! lists the hub's key in `external_senders`, requires AppDataDictionary/AppDataUpdate, and starts
//! with a participant list holding the creator's user with the given role and the roles and base
//! policy of a preset from `mimi_appsync::presets`.
//!
//! # Commits against a sequencing hub (spec notes §2.10)
//! [`Client::commit_with`] catches up with the room log, builds the commit from the room's
//! current state (with `mimi_appsync::ops::commit`, so app-data changes are computed by the same
//! reducer the hub runs) and submits it. The commit stays pending until the hub answers:
//! - `success`: the commit is merged exactly at its position in the log (see the inbox below);
//! - `wrongEpoch` (another commit won) or `invalidProposal` (a proposal the hub accepted is
//!   missing): the pending commit is cleared, the winner is processed from the log, and the
//!   commit is rebuilt and resubmitted;
//! - `notAllowed`: cleared and reported as [`ClientError::Refused`].
//!
//! # The inbox
//! Each room has a cursor over its log. Entries are processed in hub order, each once: proposals
//! are stored, others' commits merged (resolving app-data commits with
//! `mimi_appsync::reducer::fill_updater`), application messages decrypted into the room's
//! [`Delivered`] transcript. The provider leaves the client's own submissions out of what it
//! returns, but the cursor still moves over them, so every skipped log position is one of the
//! client's own accepted submissions, in submission order: that is where an own commit is merged
//! and an own message takes its place in the transcript. A submission whose answer was lost
//! (the connection broke) is *in doubt*: the next catch-up reads the log to its head, and a
//! skipped position left for it means it was accepted; otherwise it was not (an in-doubt commit
//! is then cleared). A client submits one thing at a time and resolves doubt before the next
//! submission, which keeps that matching exact. Welcomes arrive in the client's queue; an
//! external joiner reads the log from its start and skips entries of epochs before its own.
//!
//! # Franking
//! In a room whose GroupContext carries a `franking_agent` (created with
//! [`Client::create_franking_room`], naming the hub), every message goes out with the franking
//! tag over its content in the authenticated data (protocol-06 §5.4.1); the hub's frank comes
//! back with the message in the log, and [`Client::abuse_report`] turns a delivered message into
//! an `AbuseReport` for [`crate::api::Session::report_abuse`].
//!
//! Limits: one ciphersuite (0x0001); a client that lost its state rejoins under the same URI
//! only through [`Client::resync`], which starts reading the log at its head (its old leaf still
//! lets it read): from the start, its earlier submissions would look like own entries. For the
//! same reason a *removed* client that had submitted anything cannot rejoin by
//! [`Client::join_external`] under its old URI (a new device can); a request whose answer is lost
//! while the server keeps running may be processed after the doubt was resolved (the request
//! timeout is longer than any server-side wait, so this needs a hung server).

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use mimi_appsync::components::participant_list::{ParticipantListData, UserRolePair};
use mimi_appsync::components::room_metadata::RoomMetaData;
use mimi_appsync::ops::LeaveVia;
use mimi_appsync::ops::{self, UserOperation};
use mimi_appsync::presets::RoomPolicy;
use mimi_appsync::state::initial_dictionary;
use mimi_appsync::uri::{ClientUri, UserUri};
use mimi_content::builder::{text_part, Attachment, MessageBuilder, TextFormat};
use mimi_content::{MessageId, MimiContent};
use mimi_protocol::abuse::{AbuseReport, AbuseType, AbusiveMessage};
use mimi_protocol::franking::{FrankAAD, FrankingAgentData, FRANKING_AGENT_COMPONENT_ID};
use mimi_protocol::group_info::{GroupInfoRequest, GroupInfoStatus};
use mimi_protocol::key_material::{ClientKeyMaterialStatus, KeyMaterialRequest, KeyMaterialRequestTBS};
use mimi_protocol::mls_message::reparse;
use mimi_protocol::notify::{FanoutFraming, FanoutMessage};
use mimi_protocol::ratchet_tree::RatchetTreeOption;
use mimi_protocol::submit::{SubmitMessageRequest, SubmitMessageStatus};
use mimi_protocol::update::{HandshakeBundle, UpdateRoomOutcome};
use mimi_protocol::{IdentifierUri, Protocol, DEFAULT_MAX_BODY_LEN};
use openmls::prelude::tls_codec::{Serialize as _, VLBytes};
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;

use crate::api::{Connection, Session};
use crate::error::ClientError;

use mimi_appsync::group::{join_config, required_capabilities};
pub use mimi_appsync::group::{leaf_capabilities as capabilities, CIPHERSUITE};

/// Attempts a commit or message makes against racing commits before giving up.
pub const MAX_ATTEMPTS: usize = 64;

/// One application message as a client has it: its log position, who sent it, and the
/// plaintext (MIMI content, CBOR).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// Position in the room log (hub order).
    pub seq: u64,
    /// The sending client.
    pub sender: ClientUri,
    /// The MLS epoch it was sent in (who was a member to receive it).
    pub epoch: u64,
    /// The decrypted plaintext.
    pub content: Vec<u8>,
}

/// An attempt that lost a race: built on `built_on`, refused with `wrongEpoch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LostRace {
    /// The epoch the refused commit was built on.
    pub built_on: u64,
    /// The hub's current epoch in the refusal.
    pub current_epoch: u64,
}

/// How an accepted commit got there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitReport {
    /// The epoch the accepted commit was built on (the room is at `epoch + 1` after it).
    pub epoch: u64,
    /// Earlier attempts refused with `wrongEpoch`, in order.
    pub lost: Vec<LostRace>,
}

/// A MIMI content message as sent: the content and its message ID.
#[derive(Debug, Clone, PartialEq)]
pub struct SentMessage {
    /// The message.
    pub content: MimiContent,
    /// Its ID (draft §4.1, over the sender's user URI and the room URI).
    pub id: MessageId,
}

impl SentMessage {
    /// The ID of the message's first version (what an edit or delete names in `replaces`).
    pub fn first_version(&self) -> MessageId {
        self.content.replaces.unwrap_or(self.id)
    }
}

/// An own submission not yet located in the room log.
#[derive(Debug)]
enum Own {
    /// A commit: pending in the group until its log position is reached (already merged for an
    /// external join).
    Commit {
        /// Whether it is merged already.
        merged: bool,
        /// Whether its answer was lost.
        in_doubt: bool,
    },
    /// An application message and its plaintext.
    Message {
        /// The plaintext, for the transcript.
        content: Vec<u8>,
        /// The epoch it was encrypted in.
        epoch: u64,
        /// Whether its answer was lost.
        in_doubt: bool,
    },
    /// Proposals (one bundle, one log position), already in the group's proposal store.
    Proposals {
        /// Whether its answer was lost.
        in_doubt: bool,
    },
}

impl Own {
    fn in_doubt(&self) -> bool {
        match self {
            Own::Commit { in_doubt, .. } | Own::Message { in_doubt, .. } | Own::Proposals { in_doubt } => *in_doubt,
        }
    }
}

/// A room the client is in.
struct Room {
    /// The MLS group.
    group: MlsGroup,
    /// The last log position processed.
    cursor: u64,
    /// Entries of epochs before this one predate the client's membership and are skipped.
    joined_epoch: u64,
    /// Own accepted (or in-doubt) submissions whose log position has not been reached yet.
    own: VecDeque<Own>,
    /// Application messages, in hub order.
    transcript: Vec<Delivered>,
    /// The provider refused to show the log (403): the client is no longer in the room, even if
    /// it has not seen the commit that removed it.
    evicted: bool,
}

/// Result of applying one page of the log.
struct Page {
    /// Log positions examined.
    advanced: u64,
}

impl Room {
    fn new(group: MlsGroup, cursor: u64) -> Room {
        let joined_epoch = group.epoch().as_u64();
        Room { group, cursor, joined_epoch, own: VecDeque::new(), transcript: Vec::new(), evicted: false }
    }

    fn inbox_error(id: &str, why: String) -> ClientError {
        ClientError::Inbox { room: id.to_owned(), why }
    }

    /// Applies one `RoomEntries` answer: entries and the own positions between them.
    fn apply(
        &mut self,
        id: &str,
        me: &ClientUri,
        provider: &OpenMlsRustCrypto,
        page: mimi_protocol::client_api::RoomEntries,
    ) -> Result<Page, ClientError> {
        let start = self.cursor;
        for entry in page.entries {
            if entry.seq <= self.cursor {
                return Err(Self::inbox_error(id, format!("entry {} repeated (cursor {})", entry.seq, self.cursor)));
            }
            for seq in self.cursor + 1..entry.seq {
                self.own_at(id, me, provider, seq)?;
            }
            self.process(id, provider, entry)?;
        }
        for seq in self.cursor + 1..=page.next_after {
            self.own_at(id, me, provider, seq)?;
        }
        Ok(Page { advanced: self.cursor - start })
    }

    /// Log position `seq` was left out as the client's own: it is the oldest outstanding own
    /// submission.
    fn own_at(&mut self, id: &str, me: &ClientUri, provider: &OpenMlsRustCrypto, seq: u64) -> Result<(), ClientError> {
        let own = self.own.pop_front().ok_or_else(|| {
            Self::inbox_error(
                id,
                format!("log position {seq} was left out as ours, but nothing of ours is outstanding"),
            )
        })?;
        match own {
            Own::Commit { merged: false, .. } => {
                self.group.merge_pending_commit(provider).map_err(|e| ClientError::mls("merge own commit", e))?;
            }
            Own::Commit { merged: true, .. } => {}
            Own::Message { content, epoch, .. } => {
                self.transcript.push(Delivered { seq, sender: me.clone(), epoch, content })
            }
            Own::Proposals { .. } => {}
        }
        self.cursor = seq;
        Ok(())
    }

    /// Processes another client's (or the hub's) entry.
    fn process(
        &mut self,
        id: &str,
        provider: &OpenMlsRustCrypto,
        entry: mimi_protocol::client_api::RoomEntry,
    ) -> Result<(), ClientError> {
        self.cursor = entry.seq;
        if !self.group.is_active() || entry.epoch < self.joined_epoch {
            return Ok(());
        }
        let epoch = self.group.epoch().as_u64();
        if entry.epoch != epoch {
            return Err(Self::inbox_error(
                id,
                format!("entry {} is of epoch {} but the group is at {epoch}", entry.seq, entry.epoch),
            ));
        }
        let seq = entry.seq;
        for message in fanout_messages(entry.fanout) {
            self.process_one(id, provider, seq, entry.epoch, message)?;
        }
        Ok(())
    }

    /// Processes one MLS message of the entry at `seq` (of `epoch`).
    fn process_one(
        &mut self,
        id: &str,
        provider: &OpenMlsRustCrypto,
        seq: u64,
        epoch: u64,
        message: MlsMessageIn,
    ) -> Result<(), ClientError> {
        let message =
            message.try_into_protocol_message().map_err(|e| Self::inbox_error(id, format!("entry {seq}: {e:?}")))?;
        match process_incoming(&mut self.group, provider, message)? {
            Incoming::Application { credential, content } => {
                let sender = mimi_appsync::adapter::client_of(&credential, &|| format!("sender of {seq}"))?;
                self.transcript.push(Delivered { seq, sender, epoch, content });
            }
            Incoming::Proposal => {}
            Incoming::Commit { dropped_pending } => {
                // Another commit won the epoch: a pending commit of ours (only possible if in
                // doubt) lost.
                if dropped_pending && matches!(self.own.back(), Some(Own::Commit { merged: false, in_doubt: true })) {
                    self.own.pop_back();
                }
            }
            Incoming::Other(other) => {
                return Err(Self::inbox_error(id, format!("entry {seq}: unexpected {other:?}")));
            }
        }
        Ok(())
    }

    /// Forgets own proposals the hub did not accept.
    fn clear_proposals(&mut self, provider: &OpenMlsRustCrypto) -> Result<(), ClientError> {
        self.group
            .clear_pending_proposals(provider.storage())
            .map_err(|e| ClientError::mls("clear pending proposals", e))
    }

    fn clear_pending(&mut self, provider: &OpenMlsRustCrypto) -> Result<(), ClientError> {
        self.group.clear_pending_commit(provider.storage()).map_err(|e| ClientError::mls("clear pending commit", e))
    }

    /// At the log's head: in-doubt submissions still outstanding were not accepted; an
    /// acknowledged one still outstanding is an error (the hub lost it).
    fn settle_at_head(&mut self, id: &str, provider: &OpenMlsRustCrypto) -> Result<(), ClientError> {
        while self.own.back().is_some_and(Own::in_doubt) {
            match self.own.pop_back() {
                Some(Own::Commit { merged: false, .. }) => self.clear_pending(provider)?,
                Some(Own::Proposals { .. }) => self.clear_proposals(provider)?,
                _ => {}
            }
        }
        if !self.own.is_empty() {
            return Err(Self::inbox_error(
                id,
                format!(
                    "{} acknowledged submission(s) missing from the log at position {}",
                    self.own.len(),
                    self.cursor
                ),
            ));
        }
        Ok(())
    }
}

/// A simulated client (device).
pub struct Client {
    /// The authenticated API session (carries the client URI).
    session: Session,
    /// Crypto and the client's own storage.
    provider: OpenMlsRustCrypto,
    /// The signature key.
    signer: SignatureKeyPair,
    /// Credential and public key.
    credential: CredentialWithKey,
    /// Rooms by URI.
    rooms: BTreeMap<String, Room>,
    /// The last Welcome-queue position processed.
    queue_cursor: u64,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("uri", self.uri()).field("rooms", &self.rooms.keys()).finish_non_exhaustive()
    }
}

/// The MLS messages of one fanout, in order: its message, then a proposal bundle's further proposals.
pub fn fanout_messages(fanout: FanoutMessage) -> impl Iterator<Item = MlsMessageIn> {
    let more = match fanout.framing {
        FanoutFraming::Proposal { more_proposals } => more_proposals,
        _ => Vec::new(),
    };
    std::iter::once(fanout.message).chain(more)
}

/// What [`process_incoming`] did with another member's (or the hub's) message.
#[derive(Debug)]
pub enum Incoming {
    /// An application message: its sender's credential and the plaintext.
    Application {
        /// The sender's credential (its identity is the client URI).
        credential: Credential,
        /// The decrypted plaintext.
        content: Vec<u8>,
    },
    /// A proposal, now in the group's proposal store.
    Proposal,
    /// A commit, merged: the group is at the next epoch.
    Commit {
        /// Whether a pending commit of this client's own (which lost the epoch) was cleared first.
        dropped_pending: bool,
    },
    /// Anything else openmls made of the message, left untouched.
    Other(ProcessedMessageContent),
}

/// Processes one message of another member (or the hub) at the group's current epoch: proposals
/// are stored, commits merged (a pending own commit cleared first; app-data commits resolved with
/// `mimi_appsync::reducer::fill_updater`, the reducer the hub runs), application messages
/// decrypted.
pub fn process_incoming(
    group: &mut MlsGroup,
    provider: &OpenMlsRustCrypto,
    message: ProtocolMessage,
) -> Result<Incoming, ClientError> {
    let processed = group.process_message(provider, message).map_err(|e| ClientError::mls("process", e))?;
    let credential = processed.credential().clone();
    let staged = match processed.into_content() {
        ProcessedMessageContent::ApplicationMessage(m) => {
            return Ok(Incoming::Application { credential, content: m.into_bytes() })
        }
        ProcessedMessageContent::ProposalMessage(q) | ProcessedMessageContent::ExternalJoinProposalMessage(q) => {
            group.store_pending_proposal(provider.storage(), *q).map_err(|e| ClientError::mls("store", e))?;
            return Ok(Incoming::Proposal);
        }
        ProcessedMessageContent::StagedCommitMessage(staged) => {
            let dropped_pending = drop_pending_commit(group, provider)?;
            group.merge_staged_commit(provider, *staged).map_err(|e| ClientError::mls("merge", e))?;
            return Ok(Incoming::Commit { dropped_pending });
        }
        ProcessedMessageContent::UnresolvedAppDataCommit(unresolved) => unresolved,
        other => return Ok(Incoming::Other(other)),
    };
    let dropped_pending = drop_pending_commit(group, provider)?;
    let mut updater = group.app_data_dictionary_updater();
    mimi_appsync::reducer::fill_updater(&mut updater, staged.app_data_update_proposals())?;
    let changes = updater.changes();
    let staged = group
        .stage_app_data_commit(provider, *staged, changes)
        .map_err(|e| ClientError::mls("stage app-data commit", e))?;
    group.merge_staged_commit(provider, staged).map_err(|e| ClientError::mls("merge", e))?;
    Ok(Incoming::Commit { dropped_pending })
}

/// Clears the group's pending commit, if any; whether there was one.
fn drop_pending_commit(group: &mut MlsGroup, provider: &OpenMlsRustCrypto) -> Result<bool, ClientError> {
    if group.pending_commit().is_none() {
        return Ok(false);
    }
    group.clear_pending_commit(provider.storage()).map_err(|e| ClientError::mls("clear pending commit", e))?;
    Ok(true)
}

/// The group a Welcome joins (with the MIMI join settings of `mimi_appsync::group::join_config`).
pub fn join_from_welcome(provider: &OpenMlsRustCrypto, welcome: Welcome) -> Result<MlsGroup, ClientError> {
    StagedWelcome::build_from_welcome(provider, &join_config(), welcome)
        .map_err(|e| ClientError::mls("Welcome", e))?
        .build()
        .map_err(|e| ClientError::mls("Welcome", e))?
        .into_group(provider)
        .map_err(|e| ClientError::mls("Welcome", e))
}

/// The state of `room_id` if the client is still in it (an active group it was not evicted
/// from): what every operation that encrypts or commits in the room needs.
fn member_room<'a>(rooms: &'a mut BTreeMap<String, Room>, room_id: &str) -> Result<&'a mut Room, ClientError> {
    match rooms.get_mut(room_id) {
        Some(room) if room.group.is_active() && !room.evicted => Ok(room),
        _ => Err(ClientError::NotInRoom(room_id.to_owned())),
    }
}

impl Client {
    /// Registers `user`'s `device` at the provider and makes a fresh client for it.
    pub async fn register(connection: &Connection, user: &str, device: &str) -> Result<Client, ClientError> {
        let session = connection.register(user, device).await?;
        let signer =
            SignatureKeyPair::new(CIPHERSUITE.signature_algorithm()).map_err(|e| ClientError::mls("key", e))?;
        let credential = CredentialWithKey {
            credential: BasicCredential::new(session.client().as_bytes().to_vec()).into(),
            signature_key: signer.to_public_vec().into(),
        };
        Ok(Client {
            session,
            provider: OpenMlsRustCrypto::default(),
            signer,
            credential,
            rooms: BTreeMap::new(),
            queue_cursor: 0,
        })
    }

    /// The API session (for reading a room log raw, e.g. in checks).
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// An abuse report by this client's user about the message it received at log position `seq`
    /// of `room_id`: its content from the transcript, the hub's frank and acceptance time from the
    /// log entry, the sender named in the content as the alleged abuser.
    pub async fn abuse_report(&self, room_id: &str, seq: u64, note: &str) -> Result<AbuseReport, ClientError> {
        let bad = |why: String| ClientError::Protocol { what: "abuse report".into(), why };
        let delivered = self
            .room(room_id)?
            .transcript
            .iter()
            .find(|d| d.seq == seq)
            .ok_or_else(|| bad(format!("no message at {seq} in {room_id}")))?;
        let content = MimiContent::decode(&delivered.content).map_err(|e| bad(e.to_string()))?;
        let sender = content.extensions.sender_uri().ok_or_else(|| bad("the content names no sender".into()))?;
        let page = self.session.read_log(room_id, seq.saturating_sub(1), Duration::ZERO).await?;
        let entry = page.entries.into_iter().find(|e| e.seq == seq).ok_or_else(|| bad(format!("no entry {seq}")))?;
        let FanoutFraming::Application { frank: Some(frank) } = entry.fanout.framing else {
            return Err(bad(format!("the message at {seq} carries no frank")));
        };
        Ok(AbuseReport {
            reporting_user: IdentifierUri::new(self.uri().user().as_str()),
            alleged_abuser_uri: IdentifierUri::new(sender),
            reason_code: AbuseType(0),
            note: note.into(),
            messages: vec![AbusiveMessage {
                message_content: delivered.content.clone().into(),
                frank,
                accepted_timestamp: entry.fanout.timestamp,
            }],
            abuse_extensions: Default::default(),
        })
    }

    /// The client's URI.
    pub fn uri(&self) -> &ClientUri {
        self.session.client()
    }

    fn room(&self, id: &str) -> Result<&Room, ClientError> {
        self.rooms.get(id).ok_or_else(|| ClientError::NotInRoom(id.to_owned()))
    }

    /// Makes `count` KeyPackages (private parts kept in this client's storage) and uploads them.
    pub async fn upload_key_packages(&self, count: usize) -> Result<(), ClientError> {
        let mut key_packages = Vec::with_capacity(count);
        for _ in 0..count {
            let key_package = mimi_appsync::group::key_package(&self.provider, &self.signer, self.credential.clone())?;
            key_packages.push(reparse(&MlsMessageOut::from(key_package)).map_err(ClientError::wire("KeyPackage"))?);
        }
        self.session.upload_key_packages(&mimi_protocol::client_api::KeyPackageUpload { key_packages }).await
    }

    /// Creates room `mimi://<domain>/r/<name>` at this client's provider (its hub) with `policy`
    /// and this client's user as the only participant, with `creator_role`. Returns the room URI.
    pub async fn create_room(
        &mut self,
        name: &str,
        policy: &RoomPolicy,
        creator_role: u32,
    ) -> Result<String, ClientError> {
        self.create_room_with(name, policy, creator_role, false).await
    }

    /// [`Client::create_room`] with the hub as franking agent: the GroupContext carries the
    /// `franking_agent` component (0x0021) holding the hub's key and credential, so the hub
    /// franks every message (module docs).
    pub async fn create_franking_room(
        &mut self,
        name: &str,
        policy: &RoomPolicy,
        creator_role: u32,
    ) -> Result<String, ClientError> {
        self.create_room_with(name, policy, creator_role, true).await
    }

    async fn create_room_with(
        &mut self,
        name: &str,
        policy: &RoomPolicy,
        creator_role: u32,
        franking: bool,
    ) -> Result<String, ClientError> {
        let room_id = format!("mimi://{}/r/{name}", self.uri().domain());
        let hub_sender = self.session.connection().hub_key().await?;
        let list = ParticipantListData {
            participants: vec![UserRolePair { user: self.uri().user().as_bytes().to_vec(), role_index: creator_role }],
        };
        let mut dictionary = initial_dictionary(&list, &policy.roles, None, &policy.base_policy, None)?;
        if franking {
            let agent = FrankingAgentData {
                franking_signature_key: hub_sender.signature_key.clone(),
                credential: hub_sender.credential.clone(),
            };
            let encoded = agent
                .tls_serialize_detached()
                .map_err(|e| ClientError::Protocol { what: "franking_agent".into(), why: e.to_string() })?;
            dictionary.insert(FRANKING_AGENT_COMPONENT_ID, encoded);
        }
        let hub: ExternalSender = hub_sender.into();
        let extensions = mimi_appsync::group::room_extensions(dictionary, hub)?;
        let mut group =
            mimi_appsync::group::create_room_group(&self.provider, &self.signer, self.credential.clone(), extensions)?;
        let group_info = group
            .export_group_info(self.provider.crypto(), &self.signer, true)
            .map_err(|e| ClientError::mls("export GroupInfo", e))?
            .tls_serialize_detached()
            .map_err(|e| ClientError::mls("encode GroupInfo", e))?;
        if let Err(e) = self.session.create_room(&room_id, group_info).await {
            let _ = group.delete(self.provider.storage());
            return Err(e);
        }
        self.rooms.insert(room_id.clone(), Room::new(group, 0));
        Ok(room_id)
    }

    /// Claims one KeyPackage for each client of `user` (signed `KeyMaterialRequest` for `room`).
    pub async fn claim_key_packages(&self, room: &str, user: &UserUri) -> Result<Vec<KeyPackage>, ClientError> {
        let tbs = KeyMaterialRequestTBS {
            protocol: Protocol::Mls10,
            requesting_user: IdentifierUri::new(self.uri().user().as_str()),
            target_user: IdentifierUri::new(user.as_str()),
            room_id: IdentifierUri::new(room),
            acceptable_ciphersuites: vec![CIPHERSUITE.into()],
            required_capabilities: required_capabilities(),
            requester_signature_key: self.credential.signature_key.clone(),
            requester_credential: self.credential.credential.clone(),
        };
        let request = KeyMaterialRequest::sign(tbs, &self.signer)
            .map_err(|source| ClientError::Wire { what: "keyMaterial".into(), source })?;
        let response = self.session.key_material(&request).await?;
        if !response.user_status.allows_clients() {
            return Err(ClientError::Refused {
                what: format!("keyMaterial for {user}"),
                outcome: format!("{:?}", response.user_status),
            });
        }
        let mut out = Vec::new();
        for client in response.clients {
            if let ClientKeyMaterialStatus::Success { key_package } = client.status {
                out.push(
                    key_package
                        .validate(self.provider.crypto(), ProtocolVersion::Mls10)
                        .map_err(|e| ClientError::mls("claimed KeyPackage", e))?,
                );
            }
        }
        if out.is_empty() {
            return Err(ClientError::Refused {
                what: format!("keyMaterial for {user}"),
                outcome: "no KeyPackage".into(),
            });
        }
        Ok(out)
    }

    /// Invites `user` with `role`: claims its clients' KeyPackages and adds them all in one commit
    /// with the participant-list update.
    pub async fn invite_user(&mut self, room: &str, user: &UserUri, role: u32) -> Result<CommitReport, ClientError> {
        let key_packages = self.claim_key_packages(room, user).await?;
        self.commit_with(room, "invite", |_| Ok(ops::invite_user(user, role, key_packages.clone())?)).await
    }

    /// Removes `user` from the participant list and all of its clients from the group.
    pub async fn remove_user(&mut self, room: &str, user: &UserUri) -> Result<CommitReport, ClientError> {
        self.commit_with(room, "remove", |g| Ok(ops::remove_user(g.public_group(), user)?)).await
    }

    /// Commits a key update (an empty commit with an update path).
    pub async fn key_update(&mut self, room: &str) -> Result<CommitReport, ClientError> {
        self.commit_with(room, "key update", |_| Ok(UserOperation::default())).await
    }

    /// Builds a commit from `build` (called with the caught-up group on every attempt) and gets
    /// it accepted, recovering from lost races (module docs).
    pub async fn commit_with(
        &mut self,
        room_id: &str,
        what: &str,
        mut build: impl FnMut(&MlsGroup) -> Result<UserOperation, ClientError>,
    ) -> Result<CommitReport, ClientError> {
        let mut lost = Vec::new();
        for _ in 0..MAX_ATTEMPTS {
            self.catch_up(room_id).await?;
            let Client { rooms, provider, signer, session, .. } = self;
            let room = member_room(rooms, room_id)?;
            let epoch = room.group.epoch().as_u64();
            let op = build(&room.group)?;
            let bundle = ops::commit(&mut room.group, provider, signer, op)?;
            let bundle = HandshakeBundle::from_commit(&bundle).map_err(ClientError::wire("commit"))?;
            let answer = session.update(room_id, bundle).await;
            let response = match answer {
                Ok(r) => r,
                Err(e) if e.is_in_doubt() => {
                    room.own.push_back(Own::Commit { merged: false, in_doubt: true });
                    return Err(e);
                }
                Err(e) => {
                    room.clear_pending(provider)?;
                    return Err(e);
                }
            };
            match response.outcome {
                UpdateRoomOutcome::Success { .. } => {
                    room.own.push_back(Own::Commit { merged: false, in_doubt: false });
                    // Merged at its log position; if the provider is unreachable right now, the
                    // next catch-up does it. The commit is accepted either way.
                    match self.catch_up(room_id).await {
                        Err(e) if !e.is_in_doubt() => return Err(e),
                        _ => return Ok(CommitReport { epoch, lost }),
                    }
                }
                UpdateRoomOutcome::WrongEpoch { current_epoch } => {
                    room.clear_pending(provider)?;
                    lost.push(LostRace { built_on: epoch, current_epoch });
                }
                UpdateRoomOutcome::InvalidProposal { .. } => room.clear_pending(provider)?,
                UpdateRoomOutcome::NotAllowed => {
                    room.clear_pending(provider)?;
                    return Err(ClientError::Refused {
                        what: what.to_owned(),
                        outcome: format!("notAllowed: {}", response.error_description),
                    });
                }
            }
        }
        Err(ClientError::TooManyRetries { what: what.to_owned(), attempts: MAX_ATTEMPTS })
    }

    /// Sends a MIMI content message (encrypted at the current epoch; re-encrypted after catching
    /// up if the hub says `epochTooOld`).
    pub async fn send(&mut self, room_id: &str, content: &MimiContent) -> Result<(), ClientError> {
        let plaintext = content.encode()?;
        for _ in 0..MAX_ATTEMPTS {
            self.catch_up(room_id).await?;
            let Client { rooms, provider, signer, session, .. } = self;
            let room = member_room(rooms, room_id)?;
            let epoch = room.group.epoch().as_u64();
            if FrankingAgentData::of_group(room.group.extensions()).is_some() {
                let wire = |source| ClientError::Wire { what: "frank_aad".into(), source };
                let tag = FrankAAD::compute(provider.crypto(), &content.salt, &plaintext).map_err(wire)?;
                room.group.set_aad(tag.authenticated_data().map_err(wire)?);
            }
            let message =
                room.group.create_message(provider, signer, &plaintext).map_err(|e| ClientError::mls("encrypt", e))?;
            let request = SubmitMessageRequest {
                protocol: Protocol::Mls10,
                app_message: reparse(&message).map_err(ClientError::wire("message"))?,
                sending_uri: IdentifierUri::new(session.client().as_str()),
            };
            match session.submit_message(room_id, &request).await {
                Ok(r) => match r.status {
                    SubmitMessageStatus::Accepted { .. } => {
                        room.own.push_back(Own::Message { content: plaintext, epoch, in_doubt: false });
                        return Ok(());
                    }
                    SubmitMessageStatus::EpochTooOld { .. } => {}
                    SubmitMessageStatus::NotAllowed => {
                        return Err(ClientError::Refused { what: "submitMessage".into(), outcome: "notAllowed".into() })
                    }
                },
                Err(e) => {
                    if e.is_in_doubt() {
                        room.own.push_back(Own::Message { content: plaintext, epoch, in_doubt: true });
                    }
                    return Err(e);
                }
            }
        }
        Err(ClientError::TooManyRetries { what: "submitMessage".into(), attempts: MAX_ATTEMPTS })
    }

    /// Sends a plain-text MIMI message.
    pub async fn send_text(&mut self, room_id: &str, text: &str) -> Result<(), ClientError> {
        self.send_built(room_id, MessageBuilder::text(TextFormat::Plain, text)).await.map(drop)
    }

    /// Sends the message `builder` describes, with this client's user as sender (extension 1)
    /// and the room (extension 2), and returns it with its message ID (what replies, reactions,
    /// edits and deletes refer to).
    pub async fn send_built(&mut self, room_id: &str, builder: MessageBuilder) -> Result<SentMessage, ClientError> {
        let content = builder.sender(self.uri().user().as_str()).room(room_id).build()?;
        let (_, id) = content.encode_with_id(None, None)?;
        self.send(room_id, &content).await?;
        Ok(SentMessage { content, id })
    }

    /// Sends a plain-text reply to message `to`.
    pub async fn send_reply(&mut self, room_id: &str, to: MessageId, text: &str) -> Result<SentMessage, ClientError> {
        self.send_built(room_id, MessageBuilder::reply(to, TextFormat::Plain, text)).await
    }

    /// Sends a reaction (e.g. one emoji) to message `to`.
    pub async fn send_reaction(
        &mut self,
        room_id: &str,
        to: MessageId,
        reaction: &str,
    ) -> Result<SentMessage, ClientError> {
        self.send_built(room_id, MessageBuilder::reaction(to, reaction)).await
    }

    /// Sends an edit of `original` (any version of it) with a new plain-text body.
    pub async fn send_edit(
        &mut self,
        room_id: &str,
        original: &SentMessage,
        text: &str,
    ) -> Result<SentMessage, ClientError> {
        let builder =
            MessageBuilder::edit(&original.content, original.first_version(), text_part(TextFormat::Plain, text));
        self.send_built(room_id, builder).await
    }

    /// Sends the deletion (retraction) of `original` (any version of it).
    pub async fn send_delete(&mut self, room_id: &str, original: &SentMessage) -> Result<SentMessage, ClientError> {
        self.send_built(room_id, MessageBuilder::delete(&original.content, original.first_version())).await
    }

    /// Sends a file by reference (an ExternalPart with disposition `attachment`).
    pub async fn send_attachment(&mut self, room_id: &str, attachment: Attachment) -> Result<SentMessage, ClientError> {
        self.send_built(room_id, MessageBuilder::attachment(attachment)).await
    }

    /// Bans `user`: its role becomes `banned` and all its clients are removed, in one commit.
    pub async fn ban_user(&mut self, room: &str, user: &UserUri) -> Result<CommitReport, ClientError> {
        self.commit_with(room, "ban", |g| Ok(ops::ban_user(g.public_group(), user)?)).await
    }

    /// Unbans `user` to `role` (its clients are not re-added; they join again by external commit
    /// or are invited).
    pub async fn unban_user(&mut self, room: &str, user: &UserUri, role: u32) -> Result<CommitReport, ClientError> {
        self.commit_with(room, "unban", |g| Ok(ops::unban_user(g.public_group(), user, role)?)).await
    }

    /// Changes `user`'s role (own role included).
    pub async fn change_role(&mut self, room: &str, user: &UserUri, role: u32) -> Result<CommitReport, ClientError> {
        self.commit_with(room, "change role", |g| Ok(ops::change_role(g.public_group(), user, role)?)).await
    }

    /// Replaces the room metadata with the current one as changed by `edit` (the room URI is
    /// filled in while unset).
    pub async fn set_room_metadata(
        &mut self,
        room: &str,
        edit: impl Fn(&mut RoomMetaData),
    ) -> Result<CommitReport, ClientError> {
        self.commit_with(room, "set room metadata", |g| {
            let mut metadata = mimi_appsync::adapter::room_state(g.public_group())?.metadata;
            if metadata.room_uri.uri.is_empty() {
                metadata.room_uri.uri = room.as_bytes().to_vec();
            }
            edit(&mut metadata);
            Ok(ops::set_room_metadata(&metadata)?)
        })
        .await
    }

    /// Removes `device`, another client of this client's user, by a commit of this client.
    pub async fn remove_own_device(&mut self, room: &str, device: &ClientUri) -> Result<CommitReport, ClientError> {
        self.commit_with(room, "remove own device", |g| Ok(ops::remove_own_device(g.public_group(), device)?)).await
    }

    /// Leaves the room: proposes the removal of this client's user from the participant list
    /// and of all its clients, this one by `via` (`mimi_appsync::ops::leave`). A member cannot
    /// commit its own removal: another member commits the proposals (any commit does, e.g.
    /// [`Client::key_update`]); until then nobody in the room can send messages (openmls
    /// refuses to encrypt while proposals are pending).
    pub async fn leave(&mut self, room: &str, via: LeaveVia) -> Result<(), ClientError> {
        self.propose(room, "leave", |group, provider, signer, me| Ok(ops::leave(group, provider, signer, me, via)?))
            .await
    }

    /// Proposes the removal of this device only, by SelfRemove (the user stays listed); another
    /// member commits it, as for [`Client::leave`].
    pub async fn self_remove(&mut self, room: &str) -> Result<(), ClientError> {
        self.propose(room, "self remove", |group, provider, signer, _| {
            Ok(vec![group
                .leave_group_via_self_remove(provider, signer)
                .map_err(|e| ClientError::mls("SelfRemove proposal", e))?])
        })
        .await
    }

    /// Sends the proposals `build` makes (called with the caught-up group on every attempt) as
    /// one bundle (`moreProposals`, one log position); on `wrongEpoch` they are dropped and
    /// rebuilt after catching up.
    async fn propose(
        &mut self,
        room_id: &str,
        what: &str,
        mut build: impl FnMut(
            &mut MlsGroup,
            &OpenMlsRustCrypto,
            &SignatureKeyPair,
            &ClientUri,
        ) -> Result<Vec<MlsMessageOut>, ClientError>,
    ) -> Result<(), ClientError> {
        for _ in 0..MAX_ATTEMPTS {
            self.catch_up(room_id).await?;
            let Client { rooms, provider, signer, session, .. } = self;
            let room = member_room(rooms, room_id)?;
            let messages = build(&mut room.group, provider, signer, session.client())?;
            let bundle = HandshakeBundle::from_proposals(&messages).map_err(ClientError::wire(what))?;
            let response = match session.update(room_id, bundle).await {
                Ok(r) => r,
                Err(e) => {
                    if e.is_in_doubt() {
                        room.own.push_back(Own::Proposals { in_doubt: true });
                    } else {
                        room.clear_proposals(provider)?;
                    }
                    return Err(e);
                }
            };
            match response.outcome {
                UpdateRoomOutcome::Success { .. } => {
                    room.own.push_back(Own::Proposals { in_doubt: false });
                    return match self.catch_up(room_id).await {
                        Err(e) if !e.is_in_doubt() => Err(e),
                        _ => Ok(()),
                    };
                }
                UpdateRoomOutcome::WrongEpoch { .. } => room.clear_proposals(provider)?,
                UpdateRoomOutcome::NotAllowed | UpdateRoomOutcome::InvalidProposal { .. } => {
                    room.clear_proposals(provider)?;
                    let outcome = match response.outcome {
                        UpdateRoomOutcome::NotAllowed => "notAllowed",
                        _ => "invalidProposal",
                    };
                    return Err(ClientError::Refused {
                        what: what.to_owned(),
                        outcome: format!("{outcome}: {}", response.error_description),
                    });
                }
            }
        }
        Err(ClientError::TooManyRetries { what: what.to_owned(), attempts: MAX_ATTEMPTS })
    }

    /// Loses all MLS state: fresh storage, so every group, pending proposal and KeyPackage
    /// private key is gone. What a device keeps outside its MLS store stays: the signature key
    /// and credential, the API session and the Welcome-queue cursor. Returns the rooms it was
    /// in, to [`Client::resync`] (KeyPackages it uploaded earlier are now useless: an
    /// invitation claiming one cannot be joined).
    pub fn lose_state(&mut self) -> Vec<String> {
        self.provider = OpenMlsRustCrypto::default();
        let rooms = self.rooms.iter().filter(|(_, r)| r.group.is_active() && !r.evicted).map(|(id, _)| id.clone());
        let rooms = rooms.collect();
        self.rooms.clear();
        rooms
    }

    /// Rejoins `room_id` after [`Client::lose_state`] by external commit under the same URI.
    /// The old leaf is still in the group with the same signature key, so openmls puts a Remove
    /// of it into the external commit (RFC 9420 resync). The log is read from its current head
    /// on: positions before it include the old incarnation's own submissions, which cannot be
    /// told apart any more. Returns the epoch joined.
    pub async fn resync(&mut self, room_id: &str) -> Result<u64, ClientError> {
        let mut head = 0;
        loop {
            let page = self.session.read_log(room_id, head, Duration::ZERO).await?;
            if page.next_after == head {
                break;
            }
            head = page.next_after;
        }
        self.join_external_after(room_id, head).await
    }

    /// Reads one page of the room log (waiting up to `wait` for something new) and processes
    /// it. Returns the number of log positions examined.
    pub async fn sync(&mut self, room_id: &str, wait: Duration) -> Result<u64, ClientError> {
        let room = self.room(room_id)?;
        if room.evicted {
            return Ok(0);
        }
        let page = match self.session.read_log(room_id, room.cursor, wait).await {
            Ok(page) => page,
            Err(ClientError::Http { status: 403, .. }) => {
                if let Some(r) = self.rooms.get_mut(room_id) {
                    r.evicted = true;
                }
                return Ok(0);
            }
            Err(e) => return Err(e),
        };
        let Client { rooms, provider, session, .. } = self;
        let room = rooms.get_mut(room_id).ok_or_else(|| ClientError::NotInRoom(room_id.to_owned()))?;
        Ok(room.apply(room_id, session.client(), provider, page)?.advanced)
    }

    /// Syncs `room_id` (long-polling a second at a time, while a member) until `done` holds,
    /// for at most `timeout`: how a follower's client waits for the hub's asynchronous fanout.
    pub async fn sync_until(
        &mut self,
        room_id: &str,
        what: &str,
        timeout: Duration,
        done: impl Fn(&Client) -> bool,
    ) -> Result<(), ClientError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if done(self) {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(self.timeout(what, timeout));
            }
            if self.is_member(room_id) {
                self.sync(room_id, Duration::from_secs(1)).await?;
            } else {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    /// Waits (at most `timeout`) until a Welcome into `room_id` has been accepted.
    pub async fn await_welcome(&mut self, room_id: &str, timeout: Duration) -> Result<(), ClientError> {
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.is_member(room_id) {
            if tokio::time::Instant::now() > deadline {
                return Err(self.timeout(&format!("a Welcome into {room_id}"), timeout));
            }
            self.accept_welcomes(Duration::from_secs(1)).await?;
        }
        Ok(())
    }

    fn timeout(&self, what: &str, after: Duration) -> ClientError {
        ClientError::Timeout { client: self.uri().to_string(), what: what.to_owned(), after }
    }

    /// Processes the room log up to its current head, then settles own submissions whose answer
    /// was lost (module docs).
    pub async fn catch_up(&mut self, room_id: &str) -> Result<(), ClientError> {
        while self.sync(room_id, Duration::ZERO).await? > 0 {}
        let Client { rooms, provider, .. } = self;
        let room = rooms.get_mut(room_id).ok_or_else(|| ClientError::NotInRoom(room_id.to_owned()))?;
        room.settle_at_head(room_id, provider)
    }

    /// Joins what waits in the client's queue, then catches up with every room it is in (what
    /// a device does when it comes online).
    pub async fn catch_up_all(&mut self) -> Result<(), ClientError> {
        self.accept_welcomes(Duration::ZERO).await?;
        let rooms: Vec<String> = self.rooms().filter(|r| self.is_member(r)).map(str::to_owned).collect();
        for room in rooms {
            self.catch_up(&room).await?;
        }
        Ok(())
    }

    /// Joins the rooms of the Welcomes in the client's queue (waiting up to `wait` for one).
    /// Returns the rooms joined.
    pub async fn accept_welcomes(&mut self, wait: Duration) -> Result<Vec<String>, ClientError> {
        let queue = self.session.read_queue(self.queue_cursor, wait).await?;
        let mut joined = Vec::new();
        for item in queue.items {
            let room_id = item.room.as_str().to_owned();
            if let Some(old) = self.rooms.get(&room_id) {
                // Still a member past the commit that added it: the Welcome is stale. A client
                // is never added while it is a member, so a Welcome from after the cursor means
                // it was removed (while offline, say) and added again: it replaces the old group.
                if old.group.is_active() && !old.evicted && item.after_seq <= old.cursor {
                    self.queue_cursor = item.seq;
                    continue;
                }
                // Re-invited after a removal: forget the old group.
                if let Some(mut old) = self.rooms.remove(&room_id) {
                    old.group.delete(self.provider.storage()).map_err(|e| ClientError::mls("delete group", e))?;
                }
            }
            let MlsMessageBodyIn::Welcome(welcome) = item.welcome.extract() else {
                return Err(ClientError::Protocol { what: "queue".into(), why: "item is not a Welcome".into() });
            };
            let group = join_from_welcome(&self.provider, welcome)?;
            self.rooms.insert(room_id.clone(), Room::new(group, item.after_seq));
            self.queue_cursor = item.seq;
            joined.push(room_id);
        }
        Ok(joined)
    }

    /// Joins `room_id` by external commit: requests the GroupInfo (signed request, answer
    /// encrypted to a fresh HPKE key and signed by the hub), builds the external commit with the
    /// tree and the epoch's pending proposals, and submits it; retried on lost races. Returns
    /// the epoch joined. The room's hub may be another provider (the client's own relays the
    /// request): the answer's signature is checked under its `hub_sender`, and that sender must
    /// be in the room's `external_senders` (from the GroupInfo, which a member signed).
    pub async fn join_external(&mut self, room_id: &str) -> Result<u64, ClientError> {
        self.join_external_after(room_id, 0).await
    }

    /// [`Client::join_external`], reading the room log after position `after` once joined
    /// (everything up to it predates the join).
    async fn join_external_after(&mut self, room_id: &str, after: u64) -> Result<u64, ClientError> {
        if self.is_member(room_id) {
            return Err(ClientError::Protocol { what: "external join".into(), why: format!("already in {room_id}") });
        }
        for _ in 0..MAX_ATTEMPTS {
            let mut ikm = [0u8; 32];
            getrandom::fill(&mut ikm).map_err(|e| ClientError::mls("randomness", e))?;
            let keys = self
                .provider
                .crypto()
                .derive_hpke_keypair(CIPHERSUITE.hpke_config(), &ikm)
                .map_err(|e| ClientError::mls("HPKE key", e))?;
            let request = GroupInfoRequest::sign(
                CIPHERSUITE,
                self.credential.credential.clone(),
                self.credential.signature_key.clone(),
                keys.public.clone().into(),
                VLBytes::new(Vec::new()),
                &self.signer,
            )
            .map_err(|source| ClientError::Wire { what: "groupInfo".into(), source })?;
            let response = self.session.group_info(room_id, &request).await?;
            // The room's hub may be another provider than ours (the request was relayed), so
            // the signer is the response's `hub_sender`; it is trusted only once the GroupInfo,
            // signed by a member, lists it in `external_senders` (checked below).
            let hub_sender = match &response.status {
                GroupInfoStatus::Success(s) => ExternalSender::from(s.hub_sender.clone()),
                other => return Err(ClientError::Refused { what: "groupInfo".into(), outcome: format!("{other:?}") }),
            };
            let tbe = response
                .verify_and_open(self.provider.crypto(), &keys.private, DEFAULT_MAX_BODY_LEN)
                .map_err(|source| ClientError::Wire { what: "groupInfo".into(), source })?;
            let RatchetTreeOption::Full { ratchet_tree } = tbe.ratchet_tree_option else {
                return Err(ClientError::Protocol { what: "groupInfo".into(), why: "no ratchet tree".into() });
            };
            let mut proposals = Vec::new();
            for p in tbe.pending_proposals {
                match p.proposal.extract() {
                    MlsMessageBodyIn::PublicMessage(m) => proposals.push(m),
                    _ => {
                        return Err(ClientError::Protocol {
                            what: "groupInfo".into(),
                            why: "a pending proposal is not a PublicMessage".into(),
                        })
                    }
                }
            }
            let (mut group, bundle) = mimi_appsync::group::external_join(
                &self.provider,
                &self.signer,
                self.credential.clone(),
                tbe.group_info,
                Some(ratchet_tree),
                proposals,
            )?;
            if !group.extensions().external_senders().is_some_and(|senders| senders.contains(&hub_sender)) {
                let _ = group.delete(self.provider.storage());
                return Err(ClientError::Protocol {
                    what: "groupInfo".into(),
                    why: "signed by a key the room does not list in external_senders".into(),
                });
            }
            let bundle = HandshakeBundle::from_commit(&bundle).map_err(ClientError::wire("external commit"))?;
            let answer = self.session.update(room_id, bundle).await;
            let outcome = match answer {
                Ok(r) => r,
                Err(e) => {
                    let _ = group.delete(self.provider.storage());
                    return Err(e);
                }
            };
            match outcome.outcome {
                UpdateRoomOutcome::Success { .. } => {
                    group.merge_pending_commit(&self.provider).map_err(|e| ClientError::mls("merge", e))?;
                    let joined = group.epoch().as_u64();
                    let mut room = Room::new(group, after);
                    room.own.push_back(Own::Commit { merged: true, in_doubt: false });
                    self.rooms.insert(room_id.to_owned(), room);
                    self.catch_up(room_id).await?;
                    return Ok(joined);
                }
                UpdateRoomOutcome::WrongEpoch { .. } | UpdateRoomOutcome::InvalidProposal { .. } => {
                    group.delete(self.provider.storage()).map_err(|e| ClientError::mls("delete group", e))?;
                }
                UpdateRoomOutcome::NotAllowed => {
                    let _ = group.delete(self.provider.storage());
                    return Err(ClientError::Refused {
                        what: "external join".into(),
                        outcome: format!("notAllowed: {}", outcome.error_description),
                    });
                }
            }
        }
        Err(ClientError::TooManyRetries { what: "external join".into(), attempts: MAX_ATTEMPTS })
    }

    /// The rooms this client is (or was) in.
    pub fn rooms(&self) -> impl Iterator<Item = &str> {
        self.rooms.keys().map(String::as_str)
    }

    /// Whether the client is an active member of `room_id`.
    pub fn is_member(&self, room_id: &str) -> bool {
        self.rooms.get(room_id).is_some_and(|r| r.group.is_active() && !r.evicted)
    }

    /// The room's current epoch as this client sees it.
    pub fn epoch(&self, room_id: &str) -> Result<u64, ClientError> {
        Ok(self.room(room_id)?.group.epoch().as_u64())
    }

    /// The epoch authenticator (equal across members that agree on the epoch's state).
    pub fn epoch_authenticator(&self, room_id: &str) -> Result<Vec<u8>, ClientError> {
        Ok(self.room(room_id)?.group.epoch_authenticator().as_slice().to_vec())
    }

    /// The MLS members, as client URIs, in leaf order.
    pub fn members(&self, room_id: &str) -> Result<Vec<ClientUri>, ClientError> {
        let group = &self.room(room_id)?.group;
        group
            .members()
            .map(|m| Ok(mimi_appsync::adapter::client_of(&m.credential, &|| format!("leaf {}", m.index))?))
            .collect()
    }

    /// The participant list: users with their role index, in list order.
    pub fn participants(&self, room_id: &str) -> Result<Vec<(UserUri, u32)>, ClientError> {
        let state = mimi_appsync::adapter::room_state(self.room(room_id)?.group.public_group())?;
        state.participants.participants.iter().map(|p| Ok((UserUri::from_bytes(&p.user)?, p.role_index))).collect()
    }

    /// The application messages of the room, in hub order (own messages included once their log
    /// position is known).
    pub fn transcript(&self, room_id: &str) -> Result<&[Delivered], ClientError> {
        Ok(&self.room(room_id)?.transcript)
    }

    /// The room-log position processed so far.
    pub fn cursor(&self, room_id: &str) -> Result<u64, ClientError> {
        Ok(self.room(room_id)?.cursor)
    }

    /// The epoch this client (its current membership) joined `room_id` at: messages of earlier
    /// epochs are not for it.
    pub fn joined_epoch(&self, room_id: &str) -> Result<u64, ClientError> {
        Ok(self.room(room_id)?.joined_epoch)
    }

    /// The transcript, mutably: only for fault injection, to show that a checker notices a
    /// dropped, duplicated or reordered delivery.
    pub fn transcript_mut(&mut self, room_id: &str) -> Result<&mut Vec<Delivered>, ClientError> {
        Ok(&mut self.rooms.get_mut(room_id).ok_or_else(|| ClientError::NotInRoom(room_id.to_owned()))?.transcript)
    }
}
