//! Panicking conveniences for tests (`use mimi_testkit::prelude::*`): where a test has nothing to do
//! with a failure but fail, these unwrap the kit's results with the step in the message.
//!
//! [`Client`] is a [`TestClient`] (it dereferences to one: fields and fallible methods stay reachable)
//! whose everyday operations return their value instead of a `Result`; methods of the same name as the
//! `TestClient`'s (`key_package`, `commit`, `message`, `external_join`, `join`, `create_room`,
//! `group_info`) are those operations, panicking. Also here: the protocol-06 conversions of what openmls
//! builds, a room's clients by user and device, and the assertion that members and hub agree.

use std::borrow::{Borrow, BorrowMut};
use std::ops::{Deref, DerefMut};

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

/// The domain of [`Client::new`]'s clients.
pub const DOMAIN: &str = "a.example";

/// A [`TestClient`] whose operations panic on failure.
#[derive(Debug)]
pub struct Client(pub TestClient);

impl Deref for Client {
    type Target = TestClient;
    fn deref(&self) -> &TestClient {
        &self.0
    }
}

impl DerefMut for Client {
    fn deref_mut(&mut self) -> &mut TestClient {
        &mut self.0
    }
}

impl Borrow<TestClient> for Client {
    fn borrow(&self) -> &TestClient {
        &self.0
    }
}

impl BorrowMut<TestClient> for Client {
    fn borrow_mut(&mut self) -> &mut TestClient {
        &mut self.0
    }
}

impl Client {
    /// `user`'s `device` at [`DOMAIN`].
    pub fn new(user: &str, device: &str) -> Client {
        Client::at(DOMAIN, user, device)
    }

    /// `user`'s `device` at provider `domain`.
    pub fn at(domain: &str, user: &str, device: &str) -> Client {
        Client(TestClient::of(domain, user, device).expect("a test client"))
    }

    /// A new KeyPackage.
    pub fn key_package(&self) -> KeyPackage {
        self.0.key_package().expect("a KeyPackage")
    }

    /// The group (the client must have joined).
    pub fn group(&mut self) -> &mut MlsGroup {
        self.0.group_mut("group").expect("a member")
    }

    /// The group, provider and signer, borrowed together (the client must have joined).
    pub fn parts(&mut self) -> (&mut MlsGroup, &OpenMlsRustCrypto, &SignatureKeyPair) {
        let TestClient { uri, provider, signer, group, .. } = &mut self.0;
        (group.as_mut().unwrap_or_else(|| panic!("{uri} has no group")), provider, signer)
    }

    /// Creates the room of `setup`; its GroupInfo with the tree.
    pub fn create_room(&mut self, setup: &RoomSetup) -> MlsMessageOut {
        self.0.create_room(setup).expect("room created")
    }

    /// The current GroupInfo with the tree.
    pub fn group_info(&mut self) -> MlsMessageOut {
        self.0.group_info().expect("a GroupInfo")
    }

    /// A commit of `op`, left pending.
    pub fn commit(&mut self, op: UserOperation) -> CommitMessageBundle {
        self.0.commit(op).expect("commit builds")
    }

    /// Merges the pending commit (after the hub accepted it).
    pub fn merge(&mut self) {
        self.0.merge_pending().expect("pending commit merged")
    }

    /// Drops the pending commit.
    pub fn discard(&mut self) {
        self.0.clear_pending().expect("pending commit cleared")
    }

    /// An application message.
    pub fn message(&mut self, text: &[u8]) -> MlsMessageIn {
        self.0.message(text).expect("application message")
    }

    /// An external commit joining from `group_info`, pending.
    pub fn external_join(&mut self, group_info: &MlsMessageOut) -> CommitMessageBundle {
        self.0.external_join(group_info).expect("external commit")
    }

    /// Joins from a Welcome.
    pub fn join(&mut self, welcome: Welcome) {
        self.0.join(welcome).expect("joined from the Welcome")
    }
}

/// Every user's devices, user by user.
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
pub fn assert_in_sync<C: Borrow<TestClient>>(clients: &[C], hub: &PublicGroup) {
    let hub_context = hub.group_context().tls_serialize_detached().expect("encoded");
    let hub_dictionary = dictionary_of(hub.group_context());
    let mut authenticator = None;
    let members = active(clients);
    for &i in &members {
        let c: &TestClient = clients[i].borrow();
        let g = c.group.as_ref().expect("a member has a group");
        let context = g.public_group().group_context();
        assert_eq!(context.tls_serialize_detached().expect("encoded"), hub_context, "{}", c.uri);
        assert_eq!(dictionary_of(context), hub_dictionary, "{}", c.uri);
        let a = g.epoch_authenticator().as_slice().to_vec();
        assert_eq!(authenticator.get_or_insert(a.clone()), &a, "{}", c.uri);
    }
    let mut in_tree = room_state(hub).expect("room state").members;
    let mut active: Vec<ClientUri> = members.iter().map(|&i| clients[i].borrow().uri.clone()).collect();
    in_tree.sort();
    active.sort();
    assert_eq!(in_tree, active, "the hub's tree and the active clients differ");
}
