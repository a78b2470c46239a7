//! The suite's own MLS clients: real openmls 0.9 members with the MIMI settings of
//! `mimi_appsync::group` (ciphersuite 0x0001, PublicMessage handshakes, the app-data capabilities),
//! Basic credentials naming `mimi://<domain>/d/<user>/<device>` (DESIGN §3).
//!
//! A [`Member`] is in at most one room. It issues KeyPackages (remembering their refs, so it can tell
//! which Welcome is for it), joins from a Welcome, builds commits with `mimi_appsync::ops`, proposals and
//! application messages, and processes the room's fanout in arrival order from a shared inbox: its own
//! messages coming back (recognised by hash, `mimi_ds::federation::follower::message_hash`) are merged
//! (a commit) or skipped; everything else is processed as any member would, by the same
//! transport-independent pieces the client library uses (`mimi_client::process_incoming`,
//! `join_from_welcome`) and the protocol crate's conversions of what openmls builds
//! (`mimi_protocol::update::HandshakeBundle::from_commit`, `mimi_protocol::mls_message::reparse`).

use std::collections::HashSet;

use mimi_appsync::ops::{self, UserOperation};
use mimi_appsync::uri::ClientUri;
use mimi_client::inbox::{self, Incoming};
use mimi_ds::federation::follower::message_hash;
use mimi_protocol::mls_message::reparse;
use mimi_protocol::notify::{FanoutFraming, FanoutMessage};
use mimi_protocol::update::{HandshakeBundle, HandshakeBundleContent};
use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;

use super::SuiteError;
use mimi_appsync::group::CIPHERSUITE;

/// One suite client.
pub struct Member {
    /// The client URI (the credential's identity).
    pub uri: ClientUri,
    /// Crypto and storage.
    provider: OpenMlsRustCrypto,
    /// Signature key.
    signer: SignatureKeyPair,
    /// Credential and public key.
    credential: CredentialWithKey,
    /// Refs of the KeyPackages this client issued.
    issued: Vec<KeyPackageRef>,
    /// The room's group once joined.
    group: Option<MlsGroup>,
    /// Hashes of MLS messages this client sent (to recognise their echo).
    sent: HashSet<Vec<u8>>,
    /// Position in the room's inbox processed so far.
    cursor: usize,
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member").field("uri", &self.uri).field("cursor", &self.cursor).finish_non_exhaustive()
    }
}

impl Member {
    /// A fresh client `uri`.
    pub fn new(uri: ClientUri) -> Result<Member, SuiteError> {
        let signer = SignatureKeyPair::new(CIPHERSUITE.signature_algorithm()).map_err(|e| SuiteError::mls("key", e))?;
        let credential = CredentialWithKey {
            credential: BasicCredential::new(uri.as_bytes().to_vec()).into(),
            signature_key: signer.to_public_vec().into(),
        };
        Ok(Member {
            uri,
            provider: OpenMlsRustCrypto::default(),
            signer,
            credential,
            issued: Vec::new(),
            group: None,
            sent: HashSet::new(),
            cursor: 0,
        })
    }

    /// A short random hex token (room names, message texts).
    pub fn token(&self) -> String {
        let bytes: [u8; 6] = self.provider.rand().random_array().unwrap_or([0; 6]);
        hex::encode(bytes)
    }

    /// The crypto provider.
    pub fn provider(&self) -> &OpenMlsRustCrypto {
        &self.provider
    }

    /// The signer.
    pub fn signer(&self) -> &SignatureKeyPair {
        &self.signer
    }

    /// The credential with its key.
    pub fn credential(&self) -> &CredentialWithKey {
        &self.credential
    }

    /// A new KeyPackage (its private part kept), as the incoming type for a `KeyMaterialResponse`.
    pub fn key_package(&mut self) -> Result<KeyPackageIn, SuiteError> {
        let kp = mimi_appsync::group::key_package(&self.provider, &self.signer, self.credential.clone())
            .map_err(|e| SuiteError::mls("KeyPackage", e))?;
        self.issued.push(kp.hash_ref(self.provider.crypto()).map_err(|e| SuiteError::mls("KeyPackageRef", e))?);
        let bytes = kp.tls_serialize_detached().map_err(|e| SuiteError::mls("KeyPackage", e))?;
        KeyPackageIn::tls_deserialize_exact(bytes).map_err(|e| SuiteError::mls("KeyPackage", e))
    }

    /// A KeyPackage marked `last_resort` (its leaf capabilities list that extension, as RFC 9420 §10.1
    /// requires of every KeyPackage extension), as the MLSMessage a client API upload carries.
    pub fn last_resort_key_package(&mut self) -> Result<MlsMessageIn, SuiteError> {
        let base = mimi_appsync::group::leaf_capabilities();
        let mut extensions = base.extensions().to_vec();
        extensions.push(ExtensionType::LastResort);
        let capabilities = Capabilities::builder()
            .ciphersuites(vec![CIPHERSUITE])
            .extensions(extensions)
            .proposals(base.proposals().to_vec())
            .credentials(base.credentials().to_vec())
            .build();
        let bundle = KeyPackage::builder()
            .leaf_node_capabilities(capabilities)
            .mark_as_last_resort()
            .build(CIPHERSUITE, &self.provider, &self.signer, self.credential.clone())
            .map_err(|e| SuiteError::mls("last-resort KeyPackage", e))?;
        let kp = bundle.key_package().clone();
        self.issued.push(kp.hash_ref(self.provider.crypto()).map_err(|e| SuiteError::mls("KeyPackageRef", e))?);
        Ok(reparse(&MlsMessageOut::from(kp))?)
    }

    /// A `GroupInfoRequest` naming this client (its credential and signature key) signed by `signer`
    /// (this client's own signer, or another key for a forged request), for a fresh HPKE key pair
    /// whose private key is returned with it.
    pub fn group_info_request(
        &self,
        signer: &SignatureKeyPair,
    ) -> Result<(mimi_protocol::group_info::GroupInfoRequest, Vec<u8>), SuiteError> {
        let ikm: [u8; 32] = self.provider.rand().random_array().map_err(|e| SuiteError::mls("randomness", e))?;
        let keys = self
            .provider
            .crypto()
            .derive_hpke_keypair(CIPHERSUITE.hpke_config(), &ikm)
            .map_err(|e| SuiteError::mls("HPKE key", e))?;
        let request = mimi_protocol::group_info::GroupInfoRequest::sign(
            CIPHERSUITE,
            self.credential.credential.clone(),
            self.credential.signature_key.clone(),
            keys.public.clone().into(),
            tls_codec::VLBytes::new(Vec::new()),
            signer,
        )?;
        Ok((request, keys.private.to_vec()))
    }

    /// Whether `welcome` names one of this client's KeyPackages.
    pub fn is_for_me(&self, welcome: &Welcome) -> bool {
        welcome.secrets().iter().any(|s| self.issued.contains(&s.new_member()))
    }

    /// The group, once joined.
    pub fn group(&self) -> Option<&MlsGroup> {
        self.group.as_ref()
    }

    /// The group or an error naming `what` needed it.
    pub fn group_mut(&mut self, what: &str) -> Result<&mut MlsGroup, SuiteError> {
        let uri = self.uri.to_string();
        self.group.as_mut().ok_or_else(|| SuiteError::mls(what, format!("{uri} is not in the room")))
    }

    /// Whether the client is an active member.
    pub fn is_member(&self) -> bool {
        self.group.as_ref().is_some_and(MlsGroup::is_active)
    }

    /// The current epoch (0 before joining).
    pub fn epoch(&self) -> u64 {
        self.group.as_ref().map_or(0, |g| g.epoch().as_u64())
    }

    /// Creates a room group with `extensions` (see `mimi_appsync::group::room_extensions`), this client
    /// its only member. Returns the GroupInfo MLSMessage with the tree (what the suite's hub keeps).
    pub fn create_room(&mut self, extensions: Extensions<GroupContext>) -> Result<(), SuiteError> {
        let group =
            mimi_appsync::group::create_room_group(&self.provider, &self.signer, self.credential.clone(), extensions)
                .map_err(|e| SuiteError::mls("create room", e))?;
        self.group = Some(group);
        Ok(())
    }

    /// Builds a commit of `op` (pending until [`Member::merge_pending`] or [`Member::clear_pending`])
    /// and returns it as a `HandshakeBundle`; its echo is recognised later.
    pub fn commit(&mut self, op: UserOperation) -> Result<(HandshakeBundle, CommitMessageBundle), SuiteError> {
        let Member { group, provider, signer, .. } = self;
        let group = group.as_mut().ok_or_else(|| SuiteError::mls("commit", "not in the room"))?;
        let bundle = ops::commit(group, provider, signer, op).map_err(|e| SuiteError::mls("commit", e))?;
        let handshake = HandshakeBundle::from_commit(&bundle)?;
        self.remember(&handshake.proposal_or_commit)?;
        Ok((handshake, bundle))
    }

    /// Builds an empty commit framed as a PrivateMessage (a handshake the hub cannot validate) and
    /// forgets it again. Returns the PrivateMessage and the rest of the bundle it would travel with.
    pub fn private_commit(&mut self) -> Result<(MlsMessageIn, HandshakeBundleContent), SuiteError> {
        let Member { group, provider, signer, .. } = self;
        let group = group.as_mut().ok_or_else(|| SuiteError::mls("private commit", "not in the room"))?;
        let private = MlsGroupJoinConfig::builder()
            .wire_format_policy(PURE_CIPHERTEXT_WIRE_FORMAT_POLICY)
            .use_ratchet_tree_extension(true)
            .build();
        group.set_configuration(provider.storage(), &private).map_err(|e| SuiteError::mls("configuration", e))?;
        let built = ops::commit(group, provider, signer, UserOperation::default());
        group
            .set_configuration(provider.storage(), &mimi_appsync::group::join_config())
            .map_err(|e| SuiteError::mls("configuration", e))?;
        let bundle = built.map_err(|e| SuiteError::mls("private commit", e))?;
        group.clear_pending_commit(provider.storage()).map_err(|e| SuiteError::mls("clear", e))?;
        let handshake = HandshakeBundle::from_commit(&bundle)?;
        Ok((handshake.proposal_or_commit, handshake.content))
    }

    /// Merges this client's pending commit (the hub accepted it).
    pub fn merge_pending(&mut self) -> Result<(), SuiteError> {
        let Member { group, provider, .. } = self;
        let group = group.as_mut().ok_or_else(|| SuiteError::mls("merge", "not in the room"))?;
        group.merge_pending_commit(provider).map_err(|e| SuiteError::mls("merge own commit", e))
    }

    /// Drops this client's pending commit (the hub refused it).
    pub fn clear_pending(&mut self) -> Result<(), SuiteError> {
        let Member { group, provider, .. } = self;
        if let Some(group) = group.as_mut() {
            group.clear_pending_commit(provider.storage()).map_err(|e| SuiteError::mls("clear pending commit", e))?;
        }
        Ok(())
    }

    /// An application message with `plaintext` at the current epoch.
    pub fn message(&mut self, plaintext: &[u8]) -> Result<MlsMessageIn, SuiteError> {
        let Member { group, provider, signer, .. } = self;
        let group = group.as_mut().ok_or_else(|| SuiteError::mls("message", "not in the room"))?;
        let message = group.create_message(provider, signer, plaintext).map_err(|e| SuiteError::mls("encrypt", e))?;
        let message = reparse(&message)?;
        self.remember(&message)?;
        Ok(message)
    }

    /// Proposals removing this client's user from the room (list update and its leaves), as one bundle.
    pub fn leave(&mut self) -> Result<HandshakeBundle, SuiteError> {
        let Member { group, provider, signer, uri, .. } = self;
        let group = group.as_mut().ok_or_else(|| SuiteError::mls("leave", "not in the room"))?;
        let messages =
            ops::leave(group, provider, signer, uri, ops::LeaveVia::Remove).map_err(|e| SuiteError::mls("leave", e))?;
        let bundle = HandshakeBundle::from_proposals(&messages)?;
        self.remember(&bundle.proposal_or_commit)?;
        if let HandshakeBundleContent::Proposal { more_proposals } = &bundle.content {
            for m in more_proposals {
                self.remember(m)?;
            }
        }
        Ok(bundle)
    }

    fn remember(&mut self, message: &MlsMessageIn) -> Result<(), SuiteError> {
        self.sent.insert(message_hash(message).map_err(|e| SuiteError::mls("hash", e))?);
        Ok(())
    }

    /// Processes the inbox after this client's cursor: joins from a Welcome naming its KeyPackages,
    /// merges its own commits' echoes, skips its own other messages and everything of epochs it was
    /// not a member in, processes the rest. Returns the plaintexts of application messages received.
    pub fn process(&mut self, inbox: &[FanoutMessage]) -> Result<Vec<Vec<u8>>, SuiteError> {
        let mut received = Vec::new();
        while let Some(fanout) = inbox.get(self.cursor) {
            self.cursor += 1;
            if let FanoutFraming::Welcome { .. } = fanout.framing {
                self.maybe_join(fanout.message.clone())?;
                continue;
            }
            for m in inbox::fanout_messages(fanout.clone()) {
                self.process_one(m, &mut received)?;
            }
        }
        Ok(received)
    }

    fn maybe_join(&mut self, message: MlsMessageIn) -> Result<(), SuiteError> {
        let MlsMessageBodyIn::Welcome(welcome) = message.extract() else {
            return Err(SuiteError::mls("Welcome", "not a Welcome"));
        };
        if self.is_member() || !self.is_for_me(&welcome) {
            return Ok(());
        }
        let group = inbox::join_from_welcome(&self.provider, welcome).map_err(|e| SuiteError::mls("Welcome", e))?;
        self.group = Some(group);
        Ok(())
    }

    /// Processes another member's commit (the suite's hub accepting a relayed commit) and merges it.
    pub fn process_commit(&mut self, message: ProtocolMessage) -> Result<(), SuiteError> {
        match self.process_protocol(message)? {
            Incoming::Commit { .. } => Ok(()),
            _ => Err(SuiteError::mls("commit", "the message is not a commit")),
        }
    }

    /// Decrypts another member's application message: its sender and plaintext.
    pub fn decrypt(&mut self, message: ProtocolMessage) -> Result<(ClientUri, Vec<u8>), SuiteError> {
        let Member { group, provider, .. } = self;
        let group = group.as_mut().ok_or_else(|| SuiteError::mls("decrypt", "not in the room"))?;
        let processed = group.process_message(provider, message).map_err(|e| SuiteError::mls("decrypt", e))?;
        let sender = mimi_appsync::adapter::client_of(processed.credential(), &|| "sender".into())
            .map_err(|e| SuiteError::mls("sender", e))?;
        match processed.into_content() {
            ProcessedMessageContent::ApplicationMessage(m) => Ok((sender, m.into_bytes())),
            _ => Err(SuiteError::mls("decrypt", "not an application message")),
        }
    }

    fn process_one(&mut self, message: MlsMessageIn, received: &mut Vec<Vec<u8>>) -> Result<(), SuiteError> {
        let own = self.sent.contains(&message_hash(&message).map_err(|e| SuiteError::mls("hash", e))?);
        let Member { group, provider, .. } = self;
        let Some(group) = group.as_mut().filter(|g| g.is_active()) else { return Ok(()) };
        let message = message.try_into_protocol_message().map_err(|e| SuiteError::mls("fanout", format!("{e:?}")))?;
        if message.epoch() != group.epoch() {
            return Ok(());
        }
        if own {
            if matches!(message.content_type(), ContentType::Commit) && group.pending_commit().is_some() {
                group.merge_pending_commit(provider).map_err(|e| SuiteError::mls("merge own commit", e))?;
            }
            return Ok(());
        }
        if let Incoming::Application { content, .. } = self.process_protocol(message)? {
            received.push(content);
        }
        Ok(())
    }

    /// Processes one message of another member (or the hub) at the current epoch
    /// ([`mimi_client::process_incoming`]); own messages are recognised by hash before
    /// they get here.
    fn process_protocol(&mut self, message: ProtocolMessage) -> Result<Incoming, SuiteError> {
        let Member { group, provider, .. } = self;
        let group = group.as_mut().ok_or_else(|| SuiteError::mls("process", "not in the room"))?;
        inbox::process_incoming(group, provider, message).map_err(|e| SuiteError::mls("process", e))
    }
}
