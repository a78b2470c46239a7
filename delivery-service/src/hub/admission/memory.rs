//! Test support for the admission rules: facts held in plain maps, and a real room (openmls
//! groups of real clients, the hub's `Room`) to decide handshakes on. No store; the lookups answer
//! at once (the rules' tests run them on the test runtime).

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::future::{ready, Future};

use mimi_appsync::presets::administered_roles::ORDINARY_USER;
use mimi_appsync::uri::ClientUri;
use openmls::prelude::tls_codec::Serialize as _;
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::RustCrypto;

use super::{ConsentState, HubFacts, KeyPackageClaim};
use crate::hub::{Accepted, LogEntry, Room};
use mimi_protocol::update::HandshakeBundle;
use mimi_testkit::prelude::RoomSetup;

/// Facts in maps; `fail` makes every lookup fail; counts lookups.
#[derive(Debug, Default)]
pub struct MemoryFacts {
    /// Claims by KeyPackageRef.
    pub claims: HashMap<Vec<u8>, KeyPackageClaim>,
    /// Local owners by KeyPackageRef.
    pub owners: HashMap<Vec<u8>, String>,
    /// Consent by (requester, target, room).
    pub consent: HashMap<(String, String, Option<String>), ConsentState>,
    /// Our registered, unrevoked devices (client URIs).
    pub registered: HashSet<String>,
    /// Every lookup fails.
    pub fail: bool,
    lookups: Cell<usize>,
}

/// The lookup failure of [`MemoryFacts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable;

impl MemoryFacts {
    /// How many lookups were made.
    pub fn lookups(&self) -> usize {
        self.lookups.get()
    }

    fn look(&self) -> Result<(), Unavailable> {
        self.lookups.set(self.lookups.get() + 1);
        if self.fail {
            Err(Unavailable)
        } else {
            Ok(())
        }
    }
}

/// Each lookup is made when it is asked for and answers at once.
impl HubFacts for MemoryFacts {
    type Error = Unavailable;
    fn key_package_claim(
        &self,
        reference: &[u8],
    ) -> impl Future<Output = Result<Option<KeyPackageClaim>, Unavailable>> + Send {
        ready(self.look().map(|()| self.claims.get(reference).cloned()))
    }
    fn key_package_owner(&self, reference: &[u8]) -> impl Future<Output = Result<Option<String>, Unavailable>> + Send {
        ready(self.look().map(|()| self.owners.get(reference).cloned()))
    }
    fn consent(
        &self,
        requester: &str,
        target: &str,
        room: Option<&str>,
    ) -> impl Future<Output = Result<Option<ConsentState>, Unavailable>> + Send {
        let key = (requester.to_owned(), target.to_owned(), room.map(str::to_owned));
        ready(self.look().map(|()| self.consent.get(&key).copied()))
    }
    fn is_registered_client(&self, client: &str) -> impl Future<Output = Result<bool, Unavailable>> + Send {
        ready(self.look().map(|()| self.registered.contains(client)))
    }
}

/// The workspace's MLS test client (one copy for every test; `TestClient::of(domain, user, device)`).
pub use mimi_testkit::prelude::{to_in, TestClient, CS};

/// A commit the hub accepted (not applied), with what went with it.
pub struct Decided {
    /// The bundle as submitted.
    pub bundle: HandshakeBundle,
    /// The entry the hub would persist.
    pub entry: LogEntry,
    /// The change it would apply.
    pub accepted: Accepted,
    /// The KeyPackageRefs of the added clients, in the order given.
    pub refs: Vec<Vec<u8>>,
    /// The Welcome for them.
    pub welcome: Welcome,
}

/// The room `mimi://a.example/r/club` at hub a, created by alice's phone (group admin).
pub struct TestRoom {
    /// The hub's crypto.
    pub crypto: RustCrypto,
    /// The hub's room.
    pub room: Room,
    /// Alice's phone, the only member.
    pub alice: TestClient,
}

impl TestRoom {
    /// A new room (cooperative roles, alice as group admin, the hub as external sender).
    pub fn new() -> Self {
        let mut alice = TestClient::of("a.example", "alice", "phone").unwrap();
        let hub_key = SignatureKeyPair::new(CS.signature_algorithm()).unwrap().to_public_vec();
        let gi = alice.create_room(&RoomSetup::cooperative("a.example", &hub_key)).unwrap();
        let crypto = RustCrypto::default();
        let room =
            Room::create("mimi://a.example/r/club", &crypto, &gi.tls_serialize_detached().unwrap(), &hub_key).unwrap();
        TestRoom { crypto, room, alice }
    }

    /// Alice's phone's URI.
    pub fn alice_uri(&self) -> ClientUri {
        self.alice.uri.clone()
    }

    /// A client of `user` at `domain`.
    pub fn client(&self, domain: &str, user: &str, device: &str) -> TestClient {
        TestClient::of(domain, user, device).unwrap()
    }

    /// The room's GroupInfo with the tree, as alice exports it (for external joins).
    pub fn group_info(&self) -> MlsMessageOut {
        self.alice.group_info().unwrap()
    }

    /// Alice commits adding `clients` (their users as ordinary participants, alice's own devices
    /// as devices), and the hub decides on it; panics if it refuses.
    pub fn decide_adds(&mut self, clients: &[&TestClient]) -> Decided {
        let key_packages: Vec<KeyPackage> = clients.iter().map(|c| c.issue_key_package().unwrap()).collect();
        let refs = key_packages.iter().map(|k| k.hash_ref(&self.crypto).unwrap().as_slice().to_vec()).collect();
        let mut op = mimi_appsync::ops::UserOperation::default();
        for (c, kp) in clients.iter().zip(key_packages) {
            if c.uri.user() == self.alice.uri.user() {
                op.adds.push(kp);
            } else {
                let invite = mimi_appsync::ops::invite_user(&c.uri.user(), ORDINARY_USER, vec![kp]).unwrap();
                op.app_data.extend(invite.app_data);
                op.adds.extend(invite.adds);
            }
        }
        let b = self.alice.build_commit(op).unwrap();
        let welcome = b.welcome().cloned().expect("a Welcome");
        let bundle = HandshakeBundle::from_commit(&b).unwrap();
        let d = self.room.decide_update(&self.crypto, &bundle, 1);
        let Some((entry, accepted)) = d.accepted else { panic!("refused: {}", d.response.error_description) };
        self.alice.clear_pending().unwrap();
        Decided { bundle, entry, accepted, refs, welcome }
    }

    /// An application message of alice's phone, as the hub accepts it (not applied).
    pub fn message_entry(&mut self, text: &[u8]) -> LogEntry {
        let message = self.alice.encrypt(text).unwrap();
        let d = self.room.decide_message(&message, self.alice.uri.as_str(), 2);
        d.accepted.expect("accepted")
    }

    /// The external commit by which `joiner` joins from the room's GroupInfo.
    pub fn external_join(&self, joiner: &mut TestClient) -> HandshakeBundle {
        let b = joiner.join_by_external_commit(&self.group_info()).unwrap();
        HandshakeBundle::from_commit(&b).unwrap()
    }
}
