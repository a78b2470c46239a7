//! Test support shared by the delivery-service integration tests: real openmls 0.9 clients
//! (credential = client URI, MIXED_PLAINTEXT wire format), room creation with the hub as
//! external sender and a participant list, and conversions to the protocol-06 bundle.
#![allow(dead_code)]

use mimi_appsync::components::participant_list::{ParticipantListData, UserRolePair};
use mimi_appsync::presets::{self, administered_roles::GROUP_ADMIN};
use mimi_appsync::state::initial_dictionary;
use mimi_appsync::uri::ClientUri;
use mimi_protocol::ratchet_tree::RatchetTreeOption;
use mimi_protocol::update::{GroupInfoOption, HandshakeBundle, HandshakeBundleContent};
use openmls::messages::group_info::GroupInfo;
use openmls::prelude::{tls_codec::*, *};
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;

pub const CS: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;
pub const ROOM: &str = "mimi://a.example/r/club";

pub use mimi_appsync::group::join_config;

pub fn to_in(msg: &MlsMessageOut) -> MlsMessageIn {
    mimi_protocol::mls_message::reparse(msg).unwrap()
}

pub struct Client {
    pub uri: ClientUri,
    pub provider: OpenMlsRustCrypto,
    pub signer: SignatureKeyPair,
    pub cred: CredentialWithKey,
    pub group: Option<MlsGroup>,
}

impl Client {
    pub fn new(user: &str, device: &str) -> Self {
        Self::at("a.example", user, device)
    }

    /// A client of `user` at provider `domain`.
    pub fn at(domain: &str, user: &str, device: &str) -> Self {
        let uri = ClientUri::new(domain, user, device).unwrap();
        let signer = SignatureKeyPair::new(CS.signature_algorithm()).unwrap();
        let cred = CredentialWithKey {
            credential: BasicCredential::new(uri.as_bytes().to_vec()).into(),
            signature_key: signer.to_public_vec().into(),
        };
        Client { uri, provider: OpenMlsRustCrypto::default(), signer, cred, group: None }
    }

    pub fn key_package(&self) -> KeyPackage {
        mimi_appsync::group::key_package(&self.provider, &self.signer, self.cred.clone()).unwrap()
    }

    pub fn group(&mut self) -> &mut MlsGroup {
        self.group.as_mut().expect("member")
    }

    /// Builds a commit for `op`, left pending in the client's group.
    pub fn commit(&mut self, op: mimi_appsync::ops::UserOperation) -> CommitMessageBundle {
        let group = self.group.as_mut().expect("member");
        mimi_appsync::ops::commit(group, &self.provider, &self.signer, op).expect("commit builds")
    }

    /// Merges the client's pending commit (after the hub accepted it).
    pub fn merge(&mut self) {
        self.group.as_mut().expect("member").merge_pending_commit(&self.provider).unwrap();
    }

    /// Drops the client's pending commit.
    pub fn discard(&mut self) {
        self.group.as_mut().expect("member").clear_pending_commit(self.provider.storage()).unwrap();
    }

    /// An application message from this client.
    pub fn message(&mut self, text: &[u8]) -> MlsMessageIn {
        let group = self.group.as_mut().expect("member");
        to_in(&group.create_message(&self.provider, &self.signer, text).unwrap())
    }

    /// Builds an external commit joining from `group_info` (an MLSMessage GroupInfo with the
    /// tree); the client's group is the joined one, pending the hub's answer.
    pub fn external_join(&mut self, group_info: &MlsMessageOut) -> CommitMessageBundle {
        let MlsMessageBodyIn::GroupInfo(vgi) = to_in(group_info).extract() else { panic!("group info") };
        let (group, bundle) =
            mimi_appsync::group::external_join(&self.provider, &self.signer, self.cred.clone(), vgi, None, vec![])
                .unwrap();
        self.group = Some(group);
        bundle
    }

    /// Joins from a Welcome.
    pub fn join(&mut self, welcome: Welcome) {
        let staged = StagedWelcome::build_from_welcome(&self.provider, &join_config(), welcome).unwrap();
        self.group = Some(staged.build().unwrap().into_group(&self.provider).unwrap());
    }
}

pub fn bundle_of(b: &CommitMessageBundle) -> HandshakeBundle {
    HandshakeBundle::from_commit(b).unwrap()
}

/// Alice's phone creates a cooperative room (alice as group admin) whose GroupContext names
/// `hub_key` as external sender; returns the GroupInfo MLSMessage (with the tree) for the hub.
pub fn create_group(alice: &mut Client, hub_key: &[u8]) -> Vec<u8> {
    let policy = presets::cooperative();
    let list = ParticipantListData {
        participants: vec![UserRolePair { user: alice.uri.user().as_bytes().to_vec(), role_index: GROUP_ADMIN }],
    };
    let dict = initial_dictionary(&list, &policy.roles, None, &policy.base_policy, None).unwrap();
    let hub_sender =
        ExternalSender::new(hub_key.to_vec().into(), BasicCredential::new(b"mimi://a.example".to_vec()).into());
    let exts = mimi_appsync::group::room_extensions(dict, hub_sender).unwrap();
    let group =
        mimi_appsync::group::create_room_group(&alice.provider, &alice.signer, alice.cred.clone(), exts).unwrap();
    let gi = group.export_group_info(alice.provider.crypto(), &alice.signer, true).unwrap();
    alice.group = Some(group);
    gi.tls_serialize_detached().unwrap()
}

/// The protocol-06 bundle of a commit built by openmls.
pub fn bundle_parts(
    commit: &MlsMessageOut,
    welcome: Option<&Welcome>,
    group_info: Option<&GroupInfo>,
) -> HandshakeBundle {
    let group_info = group_info.map(|gi| {
        let MlsMessageBodyIn::GroupInfo(vgi) = to_in(&MlsMessageOut::from(gi.clone())).extract() else {
            panic!("group info")
        };
        vgi
    });
    HandshakeBundle {
        proposal_or_commit: to_in(commit),
        content: HandshakeBundleContent::Commit {
            welcome: welcome.map(|w| {
                let MlsMessageBodyIn::Welcome(w) =
                    to_in(&MlsMessageOut::from_welcome(w.clone(), ProtocolVersion::Mls10)).extract()
                else {
                    panic!("welcome")
                };
                w
            }),
            group_info_option: match group_info {
                Some(group_info) => GroupInfoOption::Full { group_info },
                None => panic!("commits in these tests always carry a GroupInfo"),
            },
            ratchet_tree_option: RatchetTreeOption::DistributionService,
        },
    }
}

/// A proposal as a bundle.
pub fn proposal_bundle(proposal: &MlsMessageOut) -> HandshakeBundle {
    HandshakeBundle::from_proposals(std::slice::from_ref(proposal)).unwrap()
}
