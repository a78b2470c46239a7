//! Real openmls 0.9 objects for the wire tests: a two-member group whose clients use
//! `MIXED_PLAINTEXT_WIRE_FORMAT_POLICY` (handshakes as PublicMessages, as the hub requires), with a commit,
//! Welcome, GroupInfo, tree, proposals and an application message. Built once per test binary.

use std::sync::OnceLock;

use mimi_protocol::Body;
use openmls::messages::group_info::VerifiableGroupInfo;
use openmls::prelude::tls_codec::{Deserialize, Serialize};
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;

pub const CS: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;

pub struct Fixture {
    pub alice_signer: SignatureKeyPair,
    pub alice_credential: Credential,
    pub alice_key: SignaturePublicKey,
    pub key_package: KeyPackageIn,
    pub commit: MlsMessageIn,
    pub welcome: Welcome,
    pub welcome_message: MlsMessageIn,
    pub group_info: VerifiableGroupInfo,
    pub group_info_message: MlsMessageIn,
    pub key_package_message: MlsMessageIn,
    pub ratchet_tree: RatchetTreeIn,
    pub application: MlsMessageIn,
    pub proposals: Vec<MlsMessageIn>,
}

fn to_in(out: &MlsMessageOut) -> MlsMessageIn {
    mimi_protocol::mls_message::reparse(out).unwrap()
}

fn client(name: &str) -> (SignatureKeyPair, CredentialWithKey) {
    let signer = SignatureKeyPair::new(CS.signature_algorithm()).unwrap();
    let credential = CredentialWithKey {
        credential: BasicCredential::new(format!("mimi://a.example/d/{name}/1").into_bytes()).into(),
        signature_key: signer.to_public_vec().into(),
    };
    (signer, credential)
}

fn build() -> Fixture {
    let alice_provider = OpenMlsRustCrypto::default();
    let bob_provider = OpenMlsRustCrypto::default();
    let (alice_signer, alice) = client("alice");
    let (bob_signer, bob) = client("bob");
    let bob_kp = KeyPackage::builder().build(CS, &bob_provider, &bob_signer, bob).unwrap();
    let kp_bytes = bob_kp.key_package().tls_serialize_detached().unwrap();
    let key_package = KeyPackageIn::tls_deserialize_exact(&kp_bytes).unwrap();
    let key_package_message = to_in(&MlsMessageOut::from(bob_kp.key_package().clone()));

    let mut group = MlsGroup::builder()
        .ciphersuite(CS)
        .with_wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .use_ratchet_tree_extension(false)
        .build(&alice_provider, &alice_signer, alice.clone())
        .unwrap();
    let (commit, welcome_out, _) =
        group.add_members(&alice_provider, &alice_signer, &[bob_kp.key_package().clone()]).unwrap();
    group.merge_pending_commit(&alice_provider).unwrap();
    let welcome_message = to_in(&welcome_out);
    let MlsMessageBodyIn::Welcome(welcome) = welcome_message.clone().extract() else { panic!("welcome") };
    let group_info_message = to_in(&group.export_group_info(alice_provider.crypto(), &alice_signer, false).unwrap());
    let MlsMessageBodyIn::GroupInfo(group_info) = group_info_message.clone().extract() else { panic!("gi") };
    let tree_bytes = group.export_ratchet_tree().tls_serialize_detached().unwrap();
    let ratchet_tree = RatchetTreeIn::tls_deserialize_exact(&tree_bytes).unwrap();
    let application = to_in(&group.create_message(&alice_provider, &alice_signer, b"hello").unwrap());
    let (remove, _) = group.propose_remove_member(&alice_provider, &alice_signer, LeafNodeIndex::new(1)).unwrap();
    let (update, _) = group.propose_self_update(&alice_provider, &alice_signer, LeafNodeParameters::default()).unwrap();
    Fixture {
        alice_signer,
        alice_credential: alice.credential,
        alice_key: alice.signature_key,
        key_package,
        commit: to_in(&commit),
        welcome,
        welcome_message,
        group_info,
        group_info_message,
        key_package_message,
        ratchet_tree,
        application,
        proposals: vec![to_in(&remove), to_in(&update)],
    }
}

/// The shared fixture.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(build)
}

/// A fresh crypto provider (the fixture's own are not kept).
pub fn crypto() -> openmls_rust_crypto::RustCrypto {
    openmls_rust_crypto::RustCrypto::default()
}

/// Encodes `value`, decodes it back, checks the re-encoding is identical, and returns the bytes.
pub fn round_trip<T: Body + std::fmt::Debug + PartialEq>(value: &T) -> Vec<u8> {
    let bytes = value.encode().unwrap();
    let decoded = T::decode(&bytes, bytes.len()).unwrap();
    assert_eq!(&decoded, value);
    assert_eq!(decoded.encode().unwrap(), bytes);
    bytes
}

/// Every strict prefix of a valid encoding fails with a typed error, as do a trailing byte and a too-small
/// limit; nothing panics.
pub fn assert_hostile_inputs_rejected<T: Body + std::fmt::Debug>(bytes: &[u8]) {
    for cut in 0..bytes.len() {
        assert!(T::decode(&bytes[..cut], usize::MAX).is_err(), "{} prefix of {cut} bytes decoded", T::NAME);
    }
    let mut longer = bytes.to_vec();
    longer.push(0);
    assert!(matches!(T::decode(&longer, usize::MAX), Err(mimi_protocol::WireError::TrailingData { .. })));
    if !bytes.is_empty() {
        assert!(matches!(T::decode(bytes, bytes.len() - 1), Err(mimi_protocol::WireError::TooLarge { .. })));
    }
}
