//! The published vectors in `interop/vectors/` must be exactly what our code generates, every stored `hex`
//! must decode with our decoders and re-encode to the same bytes, and the MLS objects inside must be valid
//! for an ordinary (non-seeded) openmls client.
//!
//! On failure, regenerate with `cargo run -p mimi-interop -- vectors --write interop/vectors` and review
//! the diff: a changed vector is a changed wire format.

use std::path::PathBuf;

use mimi_interop::vectors::mls::{MlsObjects, CS};
use mimi_interop::vectors::{self, VectorFile};
use mimi_protocol::group_info::{GroupInfoResponse, GroupInfoStatus};
use mimi_protocol::{Body, DEFAULT_MAX_BODY_LEN};
use openmls::prelude::*;

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

#[test]
fn stored_vectors_equal_the_code_and_decode() {
    let reports = vectors::check(&vectors_dir()).expect("generation");
    let mut failures = Vec::new();
    for report in &reports {
        for problem in &report.problems {
            failures.push(format!("{}: {problem}", report.file));
        }
    }
    assert!(
        failures.is_empty(),
        "interop/vectors disagree with the code ({} problems); regenerate with \
         `cargo run -p mimi-interop -- vectors --write interop/vectors` if the change is intended:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(reports.len(), VectorFile::ALL.len());
}

#[test]
fn generation_is_deterministic() {
    let first = vectors::generate().expect("first generation");
    let second = vectors::generate().expect("second generation");
    assert_eq!(first, second);
}

#[test]
fn compare_names_file_entry_and_field() {
    let entries = VectorFile::ParticipantList.generate().expect("generation");
    let mut changed = entries.clone();
    changed[3].hex.replace_range(0..2, "ff");
    changed.pop();
    let problems = vectors::compare(&entries, &changed);
    assert!(
        problems.iter().any(|p| p.starts_with("entry 3 ParticipantListUpdate (append two, in order): hex differs")),
        "{problems:?}"
    );
    assert!(problems.iter().any(|p| p.contains("missing from the file")), "{problems:?}");
    let undecodable = VectorFile::Wire.check_decodes(&[vectors::Entry {
        structure: "UpdateRoomResponse".into(),
        variant: "broken".into(),
        fields: serde_json::Value::Null,
        hex: "05".into(),
        note: None,
    }]);
    assert_eq!(undecodable.len(), 1, "{undecodable:?}");
    assert!(undecodable[0].starts_with("entry 0 UpdateRoomResponse (broken): hex does not decode"));
}

#[test]
fn every_expected_struct_has_vectors() {
    let wire = VectorFile::Wire.generate().expect("generation");
    for name in [
        "KeyMaterialRequestTBS",
        "KeyMaterialRequest",
        "ClientKeyMaterial",
        "KeyMaterialResponse",
        "UpdateRequest",
        "HandshakeBundle",
        "GroupInfoOption",
        "PartialGroupInfo",
        "RatchetTreeOption",
        "UpdateRoomResponse",
        "SubmitMessageRequest",
        "SubmitMessageResponse",
        "Frank",
        "FrankAAD",
        "FrankingAgentData",
        "ServerFrankingContext",
        "FrankingIntegrityTBS",
        "FanoutMessage",
        "ExternalSender",
        "GroupInfoRequestTBS",
        "GroupInfoRequest",
        "PendingProposal",
        "GroupInfoRatchetTreeTBE",
        "GroupInfoResponseTBS",
        "GroupInfoResponse",
        "ConsentScope",
        "ConsentEntry",
        "QueryElement",
        "IdentifierRequest",
        "ProfileField",
        "UserProfile",
        "IdentifierResponse",
        "AbusiveMessage",
        "AbuseReport",
    ] {
        assert!(wire.iter().any(|e| e.structure == name), "no vector for {name}");
    }
    let count = |s: &str| wire.iter().filter(|e| e.structure == s).count();
    assert_eq!(count("UpdateRoomResponse"), 4);
    assert_eq!(count("KeyMaterialResponse"), 8);
    assert_eq!(count("FanoutMessage"), 5);
    assert_eq!(count("RatchetTreeOption"), 4);
    assert_eq!(count("ConsentEntry"), 4);
    assert_eq!(VectorFile::Content.generate().expect("content").len(), 14);
}

/// The seeded objects are ordinary MLS: Bob joins from the Welcome with the published tree, and the
/// GroupInfo response opens with stock RustCrypto and verifies.
#[test]
fn mls_objects_are_valid_for_a_stock_client() {
    let m = MlsObjects::build().expect("objects");
    let join = MlsGroupJoinConfig::builder().wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY).build();
    let staged =
        StagedWelcome::new_from_welcome(&m.bob_provider, &join, m.welcome.clone(), Some(m.ratchet_tree.clone()))
            .expect("Welcome processes");
    let bob = staged.into_group(&m.bob_provider).expect("join");
    assert_eq!(bob.epoch().as_u64(), 1);
    assert_eq!(bob.members().count(), 2);

    let wire = VectorFile::Wire.generate().expect("generation");
    let response = wire
        .iter()
        .find(|e| e.structure == "GroupInfoResponse" && e.variant == "success")
        .expect("GroupInfoResponse success");
    let response = GroupInfoResponse::decode(&response.bytes().expect("hex"), DEFAULT_MAX_BODY_LEN).expect("decode");
    assert!(matches!(response.status, GroupInfoStatus::Success(_)));
    let stock = openmls_rust_crypto::RustCrypto::default();
    let opened = response.verify_and_open(&stock, &m.group_info_keys.private, DEFAULT_MAX_BODY_LEN).expect("open");
    assert_eq!(opened.group_info, m.group_info);
    assert_eq!(CS, Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519);
}
