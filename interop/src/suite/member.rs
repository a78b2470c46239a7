//! The suite's own MLS clients: the workspace's test client (`mimi_testkit::TestClient`: a real openmls
//! member with the MIMI settings of `mimi_appsync::group`, Basic credential naming
//! `mimi://<domain>/d/<user>/<device>`) plus what only the suite needs around it.
//!
//! A [`Member`] is in at most one room. It dereferences to its `TestClient` (KeyPackages, joining,
//! processing another member's commit, decrypting, GroupInfo requests, merging or clearing its pending
//! commit). What the suite adds is transport: the KeyPackages it hands out in the wire types of
//! `keyMaterial` and of a client-API upload, the commits, proposals and messages it sends as protocol-06
//! structures, remembered by hash (`mimi_ds::federation::follower::message_hash`) so that their echo in
//! the room's fanout is recognised, and the processing of that fanout in arrival order from a shared inbox
//! (its own commits' echoes merged, its other echoes skipped, a Welcome naming its KeyPackages joined,
//! everything else processed by the test client as any member would). Also here: random tokens for room
//! names and texts, and a commit framed as a PrivateMessage (a handshake a hub must refuse).

use std::collections::HashSet;
use std::ops::{Deref, DerefMut};

use mimi_appsync::ops::{self, LeaveVia, UserOperation};
use mimi_appsync::uri::ClientUri;
use mimi_ds::federation::follower::message_hash;
use mimi_protocol::mls_message::reparse;
use mimi_protocol::notify::{FanoutFraming, FanoutMessage};
use mimi_protocol::update::{HandshakeBundle, HandshakeBundleContent};
use mimi_testkit::{Incoming, KitError, TestClient};
use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;

use super::SuiteError;

impl From<KitError> for SuiteError {
    fn from(e: KitError) -> SuiteError {
        SuiteError::mls("suite client", e)
    }
}

/// One suite client.
pub struct Member {
    /// The client.
    client: TestClient,
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

impl Deref for Member {
    type Target = TestClient;
    fn deref(&self) -> &TestClient {
        &self.client
    }
}

impl DerefMut for Member {
    fn deref_mut(&mut self) -> &mut TestClient {
        &mut self.client
    }
}

impl Member {
    /// A fresh client `uri`.
    pub fn new(uri: ClientUri) -> Result<Member, SuiteError> {
        Ok(Member { client: TestClient::from_uri(uri)?, sent: HashSet::new(), cursor: 0 })
    }

    /// A short random hex token (room names, message texts).
    pub fn token(&self) -> String {
        let bytes: [u8; 6] = self.client.provider.rand().random_array().unwrap_or([0; 6]);
        hex::encode(bytes)
    }

    /// The crypto provider.
    pub fn provider(&self) -> &OpenMlsRustCrypto {
        &self.client.provider
    }

    /// The signer.
    pub fn signer(&self) -> &SignatureKeyPair {
        &self.client.signer
    }

    /// The credential with its key.
    pub fn credential(&self) -> &CredentialWithKey {
        &self.client.credential
    }

    /// The group, once joined.
    pub fn group(&self) -> Option<&MlsGroup> {
        self.client.group.as_ref()
    }

    /// A new KeyPackage (its private part kept), as the incoming type for a `KeyMaterialResponse`.
    pub fn key_package(&mut self) -> Result<KeyPackageIn, SuiteError> {
        let bytes =
            self.client.issue_key_package()?.tls_serialize_detached().map_err(|e| SuiteError::mls("KeyPackage", e))?;
        KeyPackageIn::tls_deserialize_exact(bytes).map_err(|e| SuiteError::mls("KeyPackage", e))
    }

    /// A KeyPackage marked `last_resort`, as the MLSMessage a client API upload carries.
    pub fn last_resort_key_package(&mut self) -> Result<MlsMessageIn, SuiteError> {
        Ok(reparse(&MlsMessageOut::from(self.client.issue_last_resort_key_package()?))?)
    }

    /// Builds a commit of `op` (pending until `merge_pending` or `clear_pending`) and returns it as a
    /// `HandshakeBundle`; its echo is recognised later.
    pub fn commit(&mut self, op: UserOperation) -> Result<(HandshakeBundle, CommitMessageBundle), SuiteError> {
        let bundle = self.client.build_commit(op)?;
        let handshake = HandshakeBundle::from_commit(&bundle)?;
        self.remember(&handshake.proposal_or_commit)?;
        Ok((handshake, bundle))
    }

    /// Builds an empty commit framed as a PrivateMessage (a handshake the hub cannot validate) and
    /// forgets it again. Returns the PrivateMessage and the rest of the bundle it would travel with.
    pub fn private_commit(&mut self) -> Result<(MlsMessageIn, HandshakeBundleContent), SuiteError> {
        let private = MlsGroupJoinConfig::builder()
            .wire_format_policy(PURE_CIPHERTEXT_WIRE_FORMAT_POLICY)
            .use_ratchet_tree_extension(true)
            .build();
        let TestClient { group, provider, signer, .. } = &mut self.client;
        let group = group.as_mut().ok_or_else(|| SuiteError::mls("private commit", "not in the room"))?;
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

    /// An application message with `plaintext` at the current epoch.
    pub fn message(&mut self, plaintext: &[u8]) -> Result<MlsMessageIn, SuiteError> {
        let message = self.client.encrypt(plaintext)?;
        self.remember(&message)?;
        Ok(message)
    }

    /// Proposals removing this client's user from the room (list update and its leaves), as one bundle.
    pub fn leave(&mut self) -> Result<HandshakeBundle, SuiteError> {
        let bundle = HandshakeBundle::from_proposals(&self.client.leave(LeaveVia::Remove)?)?;
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
            let FanoutMessage { message, framing, .. } = fanout.clone();
            let more = match framing {
                FanoutFraming::Welcome { .. } => {
                    let MlsMessageBodyIn::Welcome(welcome) = message.extract() else {
                        return Err(SuiteError::mls("Welcome", "not a Welcome"));
                    };
                    self.client.join_if_invited(&welcome)?;
                    continue;
                }
                FanoutFraming::Proposal { more_proposals } => more_proposals,
                _ => Vec::new(),
            };
            for m in std::iter::once(message).chain(more) {
                self.process_one(m, &mut received)?;
            }
        }
        Ok(received)
    }

    fn process_one(&mut self, message: MlsMessageIn, received: &mut Vec<Vec<u8>>) -> Result<(), SuiteError> {
        let own = self.sent.contains(&message_hash(&message).map_err(|e| SuiteError::mls("hash", e))?);
        let Some(group) = self.client.group.as_ref().filter(|g| g.is_active()) else { return Ok(()) };
        let message = message.try_into_protocol_message().map_err(|e| SuiteError::mls("fanout", format!("{e:?}")))?;
        if message.epoch() != group.epoch() {
            return Ok(());
        }
        if own {
            if matches!(message.content_type(), ContentType::Commit) && group.pending_commit().is_some() {
                self.client.merge_pending()?;
            }
            return Ok(());
        }
        if let Incoming::Application { content, .. } = self.client.process(message)? {
            received.push(content);
        }
        Ok(())
    }
}
