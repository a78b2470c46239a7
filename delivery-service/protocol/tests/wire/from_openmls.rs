//! The conversions from what openmls builds (`MlsMessageOut`, `CommitMessageBundle`) into the wire
//! structures: the bundle a committer sends must be exactly openmls' commit, Welcome and GroupInfo.

use mimi_protocol::mls_message::{reparse, MessageKind};
use mimi_protocol::ratchet_tree::RatchetTreeOption;
use mimi_protocol::update::*;
use mimi_protocol::{Body, WireError};
use openmls::prelude::tls_codec::Serialize;
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;

use crate::fixture::{round_trip, CS};

struct Alice {
    provider: OpenMlsRustCrypto,
    signer: SignatureKeyPair,
    group: MlsGroup,
}

fn alice() -> Alice {
    let provider = OpenMlsRustCrypto::default();
    let signer = SignatureKeyPair::new(CS.signature_algorithm()).unwrap();
    let credential = CredentialWithKey {
        credential: BasicCredential::new(b"mimi://a.example/d/alice/1".to_vec()).into(),
        signature_key: signer.to_public_vec().into(),
    };
    let group = MlsGroup::builder()
        .ciphersuite(CS)
        .with_wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .build(&provider, &signer, credential)
        .unwrap();
    Alice { provider, signer, group }
}

fn bob_key_package() -> KeyPackage {
    let provider = OpenMlsRustCrypto::default();
    let signer = SignatureKeyPair::new(CS.signature_algorithm()).unwrap();
    let credential = CredentialWithKey {
        credential: BasicCredential::new(b"mimi://b.example/d/bob/1".to_vec()).into(),
        signature_key: signer.to_public_vec().into(),
    };
    KeyPackage::builder().build(CS, &provider, &signer, credential).unwrap().key_package().clone()
}

/// Commits adding Bob, with or without a GroupInfo.
fn add_bob(alice: &mut Alice, group_info: bool) -> CommitMessageBundle {
    let Alice { provider, signer, group } = alice;
    group
        .commit_builder()
        .propose_adds([bob_key_package()])
        .load_psks(provider.storage())
        .unwrap()
        .create_group_info(group_info)
        .build(provider.rand(), provider.crypto(), signer, |_| true)
        .unwrap()
        .stage_commit(provider)
        .unwrap()
}

#[test]
fn reparse_keeps_the_bytes_of_an_outgoing_message() {
    let mut alice = alice();
    let message = alice.group.create_message(&alice.provider, &alice.signer, b"hi").unwrap();
    let parsed = reparse(&message).unwrap();
    assert_eq!(parsed.tls_serialize_detached().unwrap(), message.tls_serialize_detached().unwrap());
    assert_eq!(MessageKind::of(&parsed), MessageKind::Private);
}

#[test]
fn a_commit_bundle_becomes_the_commit_its_welcome_and_its_whole_group_info() {
    let mut alice = alice();
    let bundle = add_bob(&mut alice, true);
    let handshake = HandshakeBundle::from_commit(&bundle).unwrap();
    assert_eq!(
        handshake.proposal_or_commit.tls_serialize_detached().unwrap(),
        bundle.commit().tls_serialize_detached().unwrap()
    );
    let HandshakeBundleContent::Commit { welcome, group_info_option, ratchet_tree_option } = &handshake.content else {
        panic!("a commit is framed as a commit: {:?}", handshake.content)
    };
    assert_eq!(welcome.as_ref(), bundle.welcome());
    let GroupInfoOption::Full { group_info } = group_info_option else { panic!("whole GroupInfo expected") };
    assert_eq!(
        group_info.tls_serialize_detached().unwrap(),
        bundle.group_info().unwrap().tls_serialize_detached().unwrap()
    );
    assert_eq!(*ratchet_tree_option, RatchetTreeOption::DistributionService);
    round_trip(&UpdateRequest { bundle: handshake });
}

#[test]
fn a_commit_without_group_info_is_refused() {
    let mut alice = alice();
    let bundle = add_bob(&mut alice, false);
    assert!(bundle.group_info().is_none());
    assert!(matches!(
        HandshakeBundle::from_commit(&bundle),
        Err(WireError::Inconsistent { what: "HandshakeBundle", .. })
    ));
}

#[test]
fn proposals_become_one_bundle_in_order() {
    let mut alice = alice();
    let Alice { provider, signer, group } = &mut alice;
    let (add, _) = group.propose_add_member(provider, signer, &bob_key_package()).unwrap();
    let (update, _) = group.propose_self_update(provider, signer, LeafNodeParameters::default()).unwrap();
    let bundle = HandshakeBundle::from_proposals(&[add.clone(), update.clone()]).unwrap();
    assert_eq!(bundle.proposal_or_commit.tls_serialize_detached().unwrap(), add.tls_serialize_detached().unwrap());
    let HandshakeBundleContent::Proposal { more_proposals } = &bundle.content else { panic!("proposal framing") };
    assert_eq!(more_proposals.len(), 1);
    assert_eq!(more_proposals[0].tls_serialize_detached().unwrap(), update.tls_serialize_detached().unwrap());
    let bytes = UpdateRequest { bundle }.encode().unwrap();
    assert!(UpdateRequest::decode(&bytes, bytes.len()).is_ok());

    assert!(matches!(HandshakeBundle::from_proposals(&[]), Err(WireError::Empty { what: "HandshakeBundle" })));
}
