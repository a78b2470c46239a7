//! Test support for the admission rules: facts held in plain maps, and a real room (openmls
//! groups of real clients, the hub's `Room`) to decide handshakes on. No store; the lookups answer
//! at once (the rules' tests run them on the test runtime).

use std::cell::Cell;
use std::collections::HashMap;
use std::future::{ready, Future};

use mimi_appsync::components::participant_list::{ParticipantListData, UserRolePair};
use mimi_appsync::presets::{self, administered_roles::GROUP_ADMIN, administered_roles::ORDINARY_USER};
use mimi_appsync::state::initial_dictionary;
use mimi_appsync::uri::ClientUri;
use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::{OpenMlsRustCrypto, RustCrypto};

use super::{ConsentState, HubFacts, KeyPackageClaim};
use crate::hub::{Accepted, LogEntry, Room};
use mimi_protocol::ratchet_tree::RatchetTreeOption;
use mimi_protocol::update::{GroupInfoOption, HandshakeBundle, HandshakeBundleContent};

/// Facts in maps; `fail` makes every lookup fail; counts lookups.
#[derive(Debug, Default)]
pub struct MemoryFacts {
    /// Claims by KeyPackageRef.
    pub claims: HashMap<Vec<u8>, KeyPackageClaim>,
    /// Local owners by KeyPackageRef.
    pub owners: HashMap<Vec<u8>, String>,
    /// Consent by (requester, target, room).
    pub consent: HashMap<(String, String, Option<String>), ConsentState>,
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
}

/// The ciphersuite of every test client.
pub const CS: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;

/// A client: its URI is its credential's identity.
pub struct TestClient {
    /// Its URI.
    pub uri: ClientUri,
    /// Its crypto and storage.
    pub provider: OpenMlsRustCrypto,
    /// Its signature key.
    pub signer: SignatureKeyPair,
    /// Its credential.
    pub cred: CredentialWithKey,
}

impl TestClient {
    /// A client `mimi://<domain>/d/<user>/<device>`.
    pub fn new(domain: &str, user: &str, device: &str) -> Self {
        let uri = ClientUri::new(domain, user, device).unwrap();
        let signer = SignatureKeyPair::new(CS.signature_algorithm()).unwrap();
        let cred = CredentialWithKey {
            credential: BasicCredential::new(uri.as_bytes().to_vec()).into(),
            signature_key: signer.to_public_vec().into(),
        };
        TestClient { uri, provider: OpenMlsRustCrypto::default(), signer, cred }
    }

    /// A fresh KeyPackage.
    pub fn key_package(&self) -> KeyPackage {
        mimi_appsync::group::key_package(&self.provider, &self.signer, self.cred.clone()).unwrap()
    }
}

/// An MLSMessage out, read back in.
pub fn to_in(msg: &MlsMessageOut) -> MlsMessageIn {
    MlsMessageIn::tls_deserialize_exact(msg.tls_serialize_detached().unwrap()).unwrap()
}

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
    group: MlsGroup,
}

impl TestRoom {
    /// A new room (cooperative roles, alice as group admin, the hub as external sender).
    pub fn new() -> Self {
        let alice = TestClient::new("a.example", "alice", "phone");
        let hub_key = SignatureKeyPair::new(CS.signature_algorithm()).unwrap().to_public_vec();
        let policy = presets::cooperative();
        let list = ParticipantListData {
            participants: vec![UserRolePair { user: alice.uri.user().as_bytes().to_vec(), role_index: GROUP_ADMIN }],
        };
        let dict = initial_dictionary(&list, &policy.roles, None, &policy.base_policy, None).unwrap();
        let hub_sender =
            ExternalSender::new(hub_key.clone().into(), BasicCredential::new(b"mimi://a.example".to_vec()).into());
        let exts = mimi_appsync::group::room_extensions(dict, hub_sender).unwrap();
        let group =
            mimi_appsync::group::create_room_group(&alice.provider, &alice.signer, alice.cred.clone(), exts).unwrap();
        let gi = group.export_group_info(alice.provider.crypto(), &alice.signer, true).unwrap();
        let crypto = RustCrypto::default();
        let room =
            Room::create("mimi://a.example/r/club", &crypto, &gi.tls_serialize_detached().unwrap(), &hub_key).unwrap();
        TestRoom { crypto, room, alice, group }
    }

    /// Alice's phone's URI.
    pub fn alice_uri(&self) -> ClientUri {
        self.alice.uri.clone()
    }

    /// A client of `user` at `domain`.
    pub fn client(&self, domain: &str, user: &str, device: &str) -> TestClient {
        TestClient::new(domain, user, device)
    }

    /// The room's GroupInfo with the tree, as alice exports it (for external joins).
    pub fn group_info(&self) -> MlsMessageOut {
        self.group.export_group_info(self.alice.provider.crypto(), &self.alice.signer, true).unwrap()
    }

    /// Alice commits adding `clients` (their users as ordinary participants, alice's own devices
    /// as devices), and the hub decides on it; panics if it refuses.
    pub fn decide_adds(&mut self, clients: &[&TestClient]) -> Decided {
        let key_packages: Vec<KeyPackage> = clients.iter().map(|c| c.key_package()).collect();
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
        let b = mimi_appsync::ops::commit(&mut self.group, &self.alice.provider, &self.alice.signer, op).unwrap();
        let welcome = b.welcome().cloned().expect("a Welcome");
        let bundle = commit_bundle(b.commit(), Some(&welcome), b.group_info().expect("a GroupInfo"));
        let d = self.room.decide_update(&self.crypto, &bundle, 1);
        let Some((entry, accepted)) = d.accepted else { panic!("refused: {}", d.response.error_description) };
        self.group.clear_pending_commit(self.alice.provider.storage()).unwrap();
        Decided { bundle, entry, accepted, refs, welcome }
    }

    /// An application message of alice's phone, as the hub accepts it (not applied).
    pub fn message_entry(&mut self, text: &[u8]) -> LogEntry {
        let message = to_in(&self.group.create_message(&self.alice.provider, &self.alice.signer, text).unwrap());
        let d = self.room.decide_message(&message, self.alice.uri.as_str(), 2);
        d.accepted.expect("accepted")
    }

    /// The external commit by which `joiner` joins from the room's GroupInfo.
    pub fn external_join(&self, joiner: &TestClient) -> HandshakeBundle {
        let MlsMessageBodyIn::GroupInfo(vgi) = to_in(&self.group_info()).extract() else { panic!("group info") };
        let (_, b) = mimi_appsync::group::external_join(
            &joiner.provider,
            &joiner.signer,
            joiner.cred.clone(),
            vgi,
            None,
            vec![],
        )
        .unwrap();
        commit_bundle(b.commit(), None, b.group_info().expect("a GroupInfo"))
    }
}

/// A commit's bundle with the full GroupInfo.
pub fn commit_bundle(
    commit: &MlsMessageOut,
    welcome: Option<&Welcome>,
    group_info: &openmls::messages::group_info::GroupInfo,
) -> HandshakeBundle {
    let MlsMessageBodyIn::GroupInfo(group_info) = to_in(&MlsMessageOut::from(group_info.clone())).extract() else {
        panic!("group info")
    };
    let welcome = welcome.map(|w| {
        let MlsMessageBodyIn::Welcome(w) =
            to_in(&MlsMessageOut::from_welcome(w.clone(), ProtocolVersion::Mls10)).extract()
        else {
            panic!("welcome")
        };
        w
    });
    HandshakeBundle {
        proposal_or_commit: to_in(commit),
        content: HandshakeBundleContent::Commit {
            welcome,
            group_info_option: GroupInfoOption::Full { group_info },
            ratchet_tree_option: RatchetTreeOption::DistributionService,
        },
    }
}
