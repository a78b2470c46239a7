//! Panicking conveniences for tests (`use mimi_testkit::prelude::*`): where a test has nothing to do
//! with a failure but fail, these unwrap the kit's results, naming the step in the message.
//!
//! [`Client`] is the kit's [`TestClient`] (its fields stay directly reachable, so a test may borrow a
//! client's group and provider together); [`ClientExt`], in scope with this prelude, adds its everyday
//! operations under short names that return the value instead of a `Result`. Also here: the protocol-06
//! conversions of what openmls builds, a room's clients by user and device, and the assertion that the
//! members and the hub agree.

use mimi_appsync::adapter::room_state;
use mimi_appsync::ops::UserOperation;
use mimi_appsync::state::dictionary_of;
use mimi_appsync::uri::ClientUri;
use mimi_protocol::update::HandshakeBundle;
use openmls::prelude::tls_codec::Serialize as _;
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;

pub use crate::client::{Incoming, TestClient};
pub use crate::members::{active, deliver_commit, deliver_proposal};
pub use crate::mirror::HubMirror;
pub use crate::room::{invite_all, lightweight_members, Invitee, RoomSetup};
pub use crate::KitError;
pub use mimi_appsync::group::join_config;

/// The ciphersuite of every MIMI client (0x0001).
pub const CS: Ciphersuite = mimi_appsync::group::CIPHERSUITE;

/// The provider domain of [`ClientExt::new`]'s clients.
pub const DOMAIN: &str = "a.example";

/// A test's client.
pub type Client = TestClient;

/// The [`TestClient`] operations a test uses all the time, panicking on failure.
pub trait ClientExt: Sized {
    /// `user`'s `device` at [`DOMAIN`].
    fn new(user: &str, device: &str) -> Self {
        Self::at(DOMAIN, user, device)
    }
    /// `user`'s `device` at provider `domain`.
    fn at(domain: &str, user: &str, device: &str) -> Self;
    /// A new KeyPackage ([`TestClient::issue_key_package`]).
    fn key_package(&self) -> KeyPackage;
    /// The group (the client must have joined).
    fn group(&mut self) -> &mut MlsGroup;
    /// The group, provider and signer, borrowed together (the client must have joined).
    fn parts(&mut self) -> (&mut MlsGroup, &OpenMlsRustCrypto, &SignatureKeyPair);
    /// A commit of `op`, left pending ([`TestClient::build_commit`]).
    fn commit(&mut self, op: UserOperation) -> CommitMessageBundle;
    /// Merges the pending commit (after the hub accepted it).
    fn merge(&mut self);
    /// Drops the pending commit.
    fn discard(&mut self);
    /// An application message ([`TestClient::encrypt`]).
    fn message(&mut self, text: &[u8]) -> MlsMessageIn;
    /// An external commit joining from `group_info`, pending ([`TestClient::join_by_external_commit`]).
    fn external_join(&mut self, group_info: &MlsMessageOut) -> CommitMessageBundle;
    /// Joins from a Welcome ([`TestClient::join_from_welcome`]).
    fn join(&mut self, welcome: Welcome);
}

impl ClientExt for TestClient {
    fn at(domain: &str, user: &str, device: &str) -> Self {
        TestClient::of(domain, user, device).expect("a test client")
    }

    fn key_package(&self) -> KeyPackage {
        self.issue_key_package().expect("a KeyPackage")
    }

    fn group(&mut self) -> &mut MlsGroup {
        self.group_mut("group").expect("a member")
    }

    fn parts(&mut self) -> (&mut MlsGroup, &OpenMlsRustCrypto, &SignatureKeyPair) {
        let TestClient { uri, provider, signer, group, .. } = self;
        (group.as_mut().unwrap_or_else(|| panic!("{uri} has no group")), provider, signer)
    }

    fn commit(&mut self, op: UserOperation) -> CommitMessageBundle {
        self.build_commit(op).expect("commit builds")
    }

    fn merge(&mut self) {
        self.merge_pending().expect("pending commit merged")
    }

    fn discard(&mut self) {
        self.clear_pending().expect("pending commit cleared")
    }

    fn message(&mut self, text: &[u8]) -> MlsMessageIn {
        self.encrypt(text).expect("application message")
    }

    fn external_join(&mut self, group_info: &MlsMessageOut) -> CommitMessageBundle {
        self.join_by_external_commit(group_info).expect("external commit")
    }

    fn join(&mut self, welcome: Welcome) {
        self.join_from_welcome(welcome).expect("joined from the Welcome")
    }
}

/// Every user's devices at `domain`, user by user.
pub fn clients(domain: &str, users: &[&str], devices: &[&str]) -> Vec<Client> {
    users.iter().flat_map(|u| devices.iter().map(move |d| Client::at(domain, u, d))).collect()
}

/// The index of `uri` among `clients`.
pub fn position(clients: &[Client], uri: &ClientUri) -> usize {
    clients.iter().position(|c| &c.uri == uri).unwrap_or_else(|| panic!("no client {uri}"))
}

/// An outgoing message as the receiver reads it.
pub fn to_in(message: &MlsMessageOut) -> MlsMessageIn {
    mimi_protocol::mls_message::reparse(message).expect("re-read")
}

/// The protocol-06 bundle of a commit built by openmls.
pub fn bundle_of(bundle: &CommitMessageBundle) -> HandshakeBundle {
    HandshakeBundle::from_commit(bundle).expect("commit bundle")
}

/// One proposal as a bundle.
pub fn proposal_bundle(proposal: &MlsMessageOut) -> HandshakeBundle {
    HandshakeBundle::from_proposals(std::slice::from_ref(proposal)).expect("proposal bundle")
}

/// Every active member holds the hub's GroupContext (so the same epoch and dictionary) and the same
/// epoch authenticator, and the clients in the hub's tree are exactly the active members.
pub fn assert_in_sync(clients: &[Client], hub: &PublicGroup) {
    let hub_context = hub.group_context().tls_serialize_detached().expect("encoded");
    let hub_dictionary = dictionary_of(hub.group_context());
    let mut authenticator = None;
    let members = active(clients);
    for &i in &members {
        let c = &clients[i];
        let g = c.group.as_ref().expect("a member has a group");
        let context = g.public_group().group_context();
        assert_eq!(context.tls_serialize_detached().expect("encoded"), hub_context, "{}", c.uri);
        assert_eq!(dictionary_of(context), hub_dictionary, "{}", c.uri);
        let a = g.epoch_authenticator().as_slice().to_vec();
        assert_eq!(authenticator.get_or_insert(a.clone()), &a, "{}", c.uri);
    }
    let mut in_tree = room_state(hub).expect("room state").members;
    let mut active: Vec<ClientUri> = members.iter().map(|&i| clients[i].uri.clone()).collect();
    in_tree.sort();
    active.sort();
    assert_eq!(in_tree, active, "the hub's tree and the active clients differ");
}
