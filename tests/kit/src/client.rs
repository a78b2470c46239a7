//! [`TestClient`]: one real openmls 0.9 client with the MIMI settings of `mimi_appsync::group`
//! (ciphersuite 0x0001, handshakes as PublicMessages, the app-data capabilities), whose Basic
//! credential is its client URI `mimi://<domain>/d/<user>/<device>`. It is in at most one room.
//!
//! Everything a test member does goes through here: KeyPackages (normal, last-resort, or with chosen
//! KeyPackage components; their refs remembered so the client can tell which Welcome is for it),
//! creating a room ([`crate::RoomSetup`]),
//! committing a `mimi_appsync::ops::UserOperation` (left pending until the hub answers: merge or clear
//! it), leaving by proposals, joining by Welcome or external commit, application messages, and
//! processing what other members (or the hub) sent. A received commit is resolved and checked against
//! room policy with `mimi_appsync::adapter::check_member_commit`, as every member checks a commit before
//! merging it; a refusal is a [`KitError::Refused`]. Own messages coming back from the hub are the
//! caller's to recognise (by log sender, by what it remembers sending): openmls cannot process them.
//!
//! What openmls builds is turned into protocol-06 structures by `mimi_protocol` (`HandshakeBundle::
//! from_commit`, `mls_message::reparse`); this module does not re-encode anything itself.

use std::sync::{Mutex, PoisonError};

use mimi_appsync::adapter::{check_member_commit, client_of};
use mimi_appsync::group::{join_config, CIPHERSUITE};
use mimi_appsync::ops::{self, LeaveVia, UserOperation};
use mimi_appsync::policy::Verdict;
use mimi_appsync::uri::ClientUri;
use mimi_protocol::group_info::GroupInfoRequest;
use mimi_protocol::mls_message::reparse;
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;

use crate::error::{mls, KitError};
use crate::room::RoomSetup;

/// One client: its URI, crypto provider with storage, signature key, credential and (once it joined)
/// its group, which stays, inactive, after the client was removed.
pub struct TestClient {
    /// The client URI (the credential's identity).
    pub uri: ClientUri,
    /// Crypto and storage (KeyPackage private parts, the group).
    pub provider: OpenMlsRustCrypto,
    /// Signature key.
    pub signer: SignatureKeyPair,
    /// Credential and public key.
    pub credential: CredentialWithKey,
    /// The room's group once joined (or created).
    pub group: Option<MlsGroup>,
    /// Refs of the KeyPackages this client issued.
    issued: Mutex<Vec<KeyPackageRef>>,
}

impl std::fmt::Debug for TestClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestClient").field("uri", &self.uri).field("epoch", &self.epoch()).finish_non_exhaustive()
    }
}

/// What [`TestClient::process`] did with another member's (or the hub's) message.
#[derive(Debug)]
pub enum Incoming {
    /// An application message: its sender and plaintext.
    Application {
        /// The sender's client URI (from its credential).
        sender: ClientUri,
        /// The decrypted plaintext.
        content: Vec<u8>,
    },
    /// A proposal, now in the group's proposal store.
    Proposal,
    /// A commit, checked and merged: the group is at the next epoch.
    Commit {
        /// Whether this client's own pending commit (which lost the epoch) was cleared first.
        dropped_pending: bool,
    },
    /// Anything else openmls made of the message, left untouched.
    Other,
}

impl TestClient {
    /// A fresh client `uri` with a new signature key.
    pub fn from_uri(uri: ClientUri) -> Result<TestClient, KitError> {
        let signer = SignatureKeyPair::new(CIPHERSUITE.signature_algorithm()).map_err(mls("signature key"))?;
        let credential = CredentialWithKey {
            credential: BasicCredential::new(uri.as_bytes().to_vec()).into(),
            signature_key: signer.to_public_vec().into(),
        };
        Ok(TestClient {
            uri,
            provider: OpenMlsRustCrypto::default(),
            signer,
            credential,
            group: None,
            issued: Mutex::new(Vec::new()),
        })
    }

    /// A fresh client `mimi://<domain>/d/<user>/<device>`.
    pub fn of(domain: &str, user: &str, device: &str) -> Result<TestClient, KitError> {
        TestClient::from_uri(ClientUri::new(domain, user, device)?)
    }

    /// A new KeyPackage with the MIMI leaf capabilities (its private part kept).
    pub fn issue_key_package(&self) -> Result<KeyPackage, KitError> {
        let kp = mimi_appsync::group::key_package(&self.provider, &self.signer, self.credential.clone())?;
        self.remember_issued(&kp)?;
        Ok(kp)
    }

    /// A KeyPackage marked `last_resort`; its leaf capabilities list that extension, as RFC 9420 §10.1
    /// requires of every KeyPackage extension.
    pub fn issue_last_resort_key_package(&self) -> Result<KeyPackage, KitError> {
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
            .leaf_node_extensions(mimi_appsync::group::leaf_extensions()?)
            .mark_as_last_resort()
            .build(CIPHERSUITE, &self.provider, &self.signer, self.credential.clone())
            .map_err(mls("last-resort KeyPackage"))?;
        let kp = bundle.key_package().clone();
        self.remember_issued(&kp)?;
        Ok(kp)
    }

    /// A KeyPackage whose own `app_data_dictionary` extension holds `components` (ID, data), with
    /// the MIMI leaf capabilities (which list that extension). With
    /// `(mimi_protocol::last_resort::LAST_RESORT_KEY_PACKAGE_COMPONENT_ID, b"")` among them it is
    /// last-resort in the mls-extensions-10 form.
    pub fn issue_key_package_with_components(
        &self,
        components: &[(openmls::component::ComponentId, &[u8])],
    ) -> Result<KeyPackage, KitError> {
        let mut dictionary = AppDataDictionary::new();
        for (id, data) in components {
            dictionary.insert(*id, data.to_vec());
        }
        let extensions = Extensions::single(Extension::AppDataDictionary(AppDataDictionaryExtension::new(dictionary)))
            .map_err(mls("KeyPackage extensions"))?;
        let bundle = KeyPackage::builder()
            .leaf_node_capabilities(mimi_appsync::group::leaf_capabilities())
            .leaf_node_extensions(mimi_appsync::group::leaf_extensions()?)
            .key_package_extensions(extensions)
            .build(CIPHERSUITE, &self.provider, &self.signer, self.credential.clone())
            .map_err(mls("KeyPackage with components"))?;
        let kp = bundle.key_package().clone();
        self.remember_issued(&kp)?;
        Ok(kp)
    }

    /// A KeyPackage whose LeafNode `app_data_dictionary` holds `components` (ID, data) on top of the
    /// entries our leaves carry (`mimi_appsync::group::leaf_extensions`; an ID given here replaces
    /// ours): GREASE, private-range or unassigned entries, or other `app_components`/`safe_aad`
    /// lists.
    pub fn issue_key_package_with_leaf_components(
        &self,
        components: &[(openmls::component::ComponentId, &[u8])],
    ) -> Result<KeyPackage, KitError> {
        let ours = mimi_appsync::group::leaf_extensions()?;
        let mut dictionary = ours.app_data_dictionary().map(|e| e.dictionary().clone()).unwrap_or_default();
        for (id, data) in components {
            dictionary.insert(*id, data.to_vec());
        }
        let extensions = Extensions::single(Extension::AppDataDictionary(AppDataDictionaryExtension::new(dictionary)))
            .map_err(mls("LeafNode extensions"))?;
        let bundle = KeyPackage::builder()
            .leaf_node_capabilities(mimi_appsync::group::leaf_capabilities())
            .leaf_node_extensions(extensions)
            .build(CIPHERSUITE, &self.provider, &self.signer, self.credential.clone())
            .map_err(mls("KeyPackage with leaf components"))?;
        let kp = bundle.key_package().clone();
        self.remember_issued(&kp)?;
        Ok(kp)
    }

    /// A KeyPackage as a client built on plain openmls 0.9 makes it: the MIMI leaf capabilities but
    /// no LeafNode `app_data_dictionary`, so it advertises no `app_components` or `safe_aad`
    /// (mls-extensions-10).
    pub fn issue_plain_key_package(&self) -> Result<KeyPackage, KitError> {
        let bundle = KeyPackage::builder()
            .leaf_node_capabilities(mimi_appsync::group::leaf_capabilities())
            .build(CIPHERSUITE, &self.provider, &self.signer, self.credential.clone())
            .map_err(mls("plain KeyPackage"))?;
        let kp = bundle.key_package().clone();
        self.remember_issued(&kp)?;
        Ok(kp)
    }

    fn remember_issued(&self, kp: &KeyPackage) -> Result<(), KitError> {
        let r = kp.hash_ref(self.provider.crypto()).map_err(mls("KeyPackageRef"))?;
        self.issued.lock().unwrap_or_else(PoisonError::into_inner).push(r);
        Ok(())
    }

    /// Whether `welcome` names one of this client's KeyPackages.
    pub fn is_for_me(&self, welcome: &Welcome) -> bool {
        let issued = self.issued.lock().unwrap_or_else(PoisonError::into_inner);
        welcome.secrets().iter().any(|s| issued.contains(&s.new_member()))
    }

    /// Whether the client is an active member.
    pub fn is_member(&self) -> bool {
        self.group.as_ref().is_some_and(MlsGroup::is_active)
    }

    /// The current epoch (0 before joining).
    pub fn epoch(&self) -> u64 {
        self.group.as_ref().map_or(0, |g| g.epoch().as_u64())
    }

    /// The group, for step `what`.
    pub fn group_mut(&mut self, what: &'static str) -> Result<&mut MlsGroup, KitError> {
        let client = &self.uri;
        self.group.as_mut().ok_or_else(|| KitError::NotInRoom { what, client: client.to_string() })
    }

    /// The group with the provider and signer, borrowed together, for step `what`.
    fn borrow_parts(
        &mut self,
        what: &'static str,
    ) -> Result<(&mut MlsGroup, &OpenMlsRustCrypto, &SignatureKeyPair), KitError> {
        let TestClient { uri, provider, signer, group, .. } = self;
        let group = group.as_mut().ok_or_else(|| KitError::NotInRoom { what, client: uri.to_string() })?;
        Ok((group, provider, signer))
    }

    /// Creates the room of `setup`, this client its only member. Returns its GroupInfo with the ratchet
    /// tree (what a hub creates the room from).
    pub fn create_room(&mut self, setup: &RoomSetup) -> Result<MlsMessageOut, KitError> {
        let extensions = setup.extensions(&self.uri.user())?;
        let group =
            mimi_appsync::group::create_room_group(&self.provider, &self.signer, self.credential.clone(), extensions)?;
        self.group = Some(group);
        self.group_info()
    }

    /// The current epoch's GroupInfo with the ratchet tree.
    pub fn group_info(&self) -> Result<MlsMessageOut, KitError> {
        let group = self
            .group
            .as_ref()
            .ok_or_else(|| KitError::NotInRoom { what: "GroupInfo", client: self.uri.to_string() })?;
        group.export_group_info(self.provider.crypto(), &self.signer, true).map_err(mls("GroupInfo"))
    }

    /// Builds a commit of `op` (plus any stored proposals), pending until [`TestClient::merge_pending`]
    /// or [`TestClient::clear_pending`].
    pub fn build_commit(&mut self, op: UserOperation) -> Result<CommitMessageBundle, KitError> {
        let (group, provider, signer) = self.borrow_parts("commit")?;
        Ok(ops::commit(group, provider, signer, op)?)
    }

    /// Merges this client's pending commit (the hub accepted it).
    pub fn merge_pending(&mut self) -> Result<(), KitError> {
        let (group, provider, _) = self.borrow_parts("merge")?;
        group.merge_pending_commit(provider).map_err(mls("merge own commit"))
    }

    /// Drops this client's pending commit, if any (the hub refused it).
    pub fn clear_pending(&mut self) -> Result<(), KitError> {
        let TestClient { provider, group, .. } = self;
        match group.as_mut() {
            Some(group) => group.clear_pending_commit(provider.storage()).map_err(mls("clear pending commit")),
            None => Ok(()),
        }
    }

    /// An application message with `plaintext` at the current epoch.
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Result<MlsMessageIn, KitError> {
        let (group, provider, signer) = self.borrow_parts("message")?;
        let message = group.create_message(provider, signer, plaintext).map_err(mls("encrypt"))?;
        Ok(reparse(&message)?)
    }

    /// Proposals removing this client's user from the room (list update, then the removal of each of
    /// its clients, own leaf last by `via`), for another member to commit.
    pub fn leave(&mut self, via: LeaveVia) -> Result<Vec<MlsMessageOut>, KitError> {
        let TestClient { uri, provider, signer, group, .. } = self;
        let group = group.as_mut().ok_or_else(|| KitError::NotInRoom { what: "leave", client: uri.to_string() })?;
        Ok(ops::leave(group, provider, signer, uri, via)?)
    }

    /// Builds an external commit joining from `group_info` (a GroupInfo MLSMessage with the tree). The
    /// client's group is the joined one, with the commit pending until the hub answers.
    pub fn join_by_external_commit(&mut self, group_info: &MlsMessageOut) -> Result<CommitMessageBundle, KitError> {
        let MlsMessageBodyIn::GroupInfo(group_info) = reparse(group_info)?.extract() else {
            return Err(KitError::Unexpected { what: "external join", expected: "a GroupInfo" });
        };
        let (group, bundle) = mimi_appsync::group::external_join(
            &self.provider,
            &self.signer,
            self.credential.clone(),
            group_info,
            None,
            vec![],
        )?;
        self.group = Some(group);
        Ok(bundle)
    }

    /// Joins from a Welcome (which must carry the tree, as MIMI Welcomes do).
    pub fn join_from_welcome(&mut self, welcome: Welcome) -> Result<(), KitError> {
        self.join_with(welcome, false)
    }

    /// Joins from `welcome` if it names one of this client's KeyPackages and the client is not a
    /// member; a group it held before (inactive since its removal) is replaced. Whether it joined.
    pub fn join_if_invited(&mut self, welcome: &Welcome) -> Result<bool, KitError> {
        if self.is_member() || !self.is_for_me(welcome) {
            return Ok(false);
        }
        self.join_with(welcome.clone(), true)?;
        Ok(true)
    }

    fn join_with(&mut self, welcome: Welcome, replace_old_group: bool) -> Result<(), KitError> {
        let mut builder =
            StagedWelcome::build_from_welcome(&self.provider, &join_config(), welcome).map_err(mls("Welcome"))?;
        if replace_old_group {
            builder = builder.replace_old_group();
        }
        let staged = builder.build().map_err(mls("Welcome"))?;
        self.group = Some(staged.into_group(&self.provider).map_err(mls("Welcome"))?);
        Ok(())
    }

    /// Processes one message of another member (or the hub) at the group's current epoch: proposals
    /// are stored, commits resolved, checked against room policy and merged (a pending own commit
    /// cleared first), application messages decrypted.
    pub fn process(&mut self, message: ProtocolMessage) -> Result<Incoming, KitError> {
        let TestClient { uri, provider, group, .. } = self;
        let group = group.as_mut().ok_or_else(|| KitError::NotInRoom { what: "process", client: uri.to_string() })?;
        let processed = group.process_message(&*provider, message).map_err(mls("process"))?;
        if let ProcessedMessageContent::StagedCommitMessage(_) | ProcessedMessageContent::UnresolvedAppDataCommit(_) =
            processed.content()
        {
            let checked = check_member_commit(group, provider, processed)?;
            if let Verdict::NotAllowed(refusal) = checked.verdict {
                return Err(KitError::Refused { client: uri.to_string(), refusal });
            }
            let dropped_pending = group.pending_commit().is_some();
            if dropped_pending {
                group.clear_pending_commit(provider.storage()).map_err(mls("clear pending commit"))?;
            }
            group.merge_staged_commit(&*provider, *checked.staged).map_err(mls("merge"))?;
            return Ok(Incoming::Commit { dropped_pending });
        }
        let credential = processed.credential().clone();
        match processed.into_content() {
            ProcessedMessageContent::ApplicationMessage(m) => {
                let sender = client_of(&credential, &|| "the sender".into())?;
                Ok(Incoming::Application { sender, content: m.into_bytes() })
            }
            ProcessedMessageContent::ProposalMessage(q) | ProcessedMessageContent::ExternalJoinProposalMessage(q) => {
                group.store_pending_proposal(provider.storage(), *q).map_err(mls("store proposal"))?;
                Ok(Incoming::Proposal)
            }
            _ => Ok(Incoming::Other),
        }
    }

    /// [`TestClient::process`] for a message that must be a commit.
    pub fn process_commit(&mut self, message: ProtocolMessage) -> Result<(), KitError> {
        match self.process(message)? {
            Incoming::Commit { .. } => Ok(()),
            _ => Err(KitError::Unexpected { what: "process commit", expected: "a commit" }),
        }
    }

    /// Decrypts another member's application message (nothing else is processed): sender and
    /// plaintext.
    pub fn decrypt(&mut self, message: ProtocolMessage) -> Result<(ClientUri, Vec<u8>), KitError> {
        let (group, provider, _) = self.borrow_parts("decrypt")?;
        let processed = group.process_message(provider, message).map_err(mls("decrypt"))?;
        let sender = client_of(processed.credential(), &|| "the sender".into())?;
        match processed.into_content() {
            ProcessedMessageContent::ApplicationMessage(m) => Ok((sender, m.into_bytes())),
            _ => Err(KitError::Unexpected { what: "decrypt", expected: "an application message" }),
        }
    }

    /// A `GroupInfoRequest` naming this client (its credential and signature key) signed by `signer`
    /// (this client's own, or another key for a forged request), for a fresh HPKE key pair whose
    /// private key is returned with it.
    pub fn group_info_request(&self, signer: &SignatureKeyPair) -> Result<(GroupInfoRequest, Vec<u8>), KitError> {
        let ikm: [u8; 32] = self.provider.rand().random_array().map_err(mls("randomness"))?;
        let keys =
            self.provider.crypto().derive_hpke_keypair(CIPHERSUITE.hpke_config(), &ikm).map_err(mls("HPKE key"))?;
        let request = GroupInfoRequest::sign(
            CIPHERSUITE,
            self.credential.credential.clone(),
            self.credential.signature_key.clone(),
            keys.public.clone().into(),
            tls_codec::VLBytes::new(Vec::new()),
            signer,
        )?;
        Ok((request, keys.private.to_vec()))
    }
}

/// A copy of a member's commit (a PublicMessage of ciphersuite 0x0001, as [`TestClient::build_commit`]
/// makes them) with one byte of its signature flipped: well-formed, of the right group and epoch,
/// but its signature does not verify. The encoding ends with `signature<V>` (64 bytes of Ed25519),
/// `confirmation_tag<V>` and `membership_tag<V>` (32 bytes of HMAC-SHA256 each), so the signature
/// is the 64 bytes before the last 66.
pub fn tamper_signature(commit: &MlsMessageOut) -> Result<MlsMessageIn, KitError> {
    use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
    let mut bytes = commit.tls_serialize_detached().map_err(mls("encoding the commit"))?;
    let tags = 2 * (1 + 32);
    let Some(start) = bytes.len().checked_sub(tags + 64) else {
        return Err(KitError::Mls { what: "tampering", why: "too short to be a signed commit".into() });
    };
    if start == 0 || bytes[start - 1] != 64 {
        return Err(KitError::Mls { what: "tampering", why: "not a member's commit of ciphersuite 0x0001".into() });
    }
    bytes[start + 7] ^= 0x01;
    MlsMessageIn::tls_deserialize_exact(bytes).map_err(mls("decoding the tampered commit"))
}
