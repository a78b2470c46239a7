use mimi_protocol::group_info::*;
use mimi_protocol::ratchet_tree::RatchetTreeOption;
use mimi_protocol::{Body, Protocol, WireError};
use openmls::prelude::tls_codec::Serialize;
use openmls_traits::crypto::OpenMlsCrypto;
use openmls_traits::types::HpkeKeyPair;

use crate::fixture::{assert_hostile_inputs_rejected, crypto, fixture, round_trip, CS};

const ROOM: &[u8] = b"mimi://a.example/r/clubhouse";

fn hpke_keys() -> HpkeKeyPair {
    crypto().derive_hpke_keypair(CS.hpke_config(), &[3; 32]).unwrap()
}

fn request(joining_code: &[u8]) -> GroupInfoRequest {
    let f = fixture();
    GroupInfoRequest::sign(
        CS,
        f.alice_credential.clone(),
        f.alice_key.clone(),
        hpke_keys().public.into(),
        joining_code.to_vec().into(),
        &f.alice_signer,
    )
    .unwrap()
}

fn tbe() -> GroupInfoRatchetTreeTBE {
    let f = fixture();
    GroupInfoRatchetTreeTBE {
        group_info: f.group_info.clone(),
        ratchet_tree_option: RatchetTreeOption::Full { ratchet_tree: f.ratchet_tree.clone() },
        pending_proposals: vec![PendingProposal { proposal: f.proposals[0].clone(), hub_accepted_time: 77 }],
    }
}

fn hub_sender() -> ExternalSender {
    let f = fixture();
    ExternalSender { signature_key: f.alice_key.clone(), credential: f.alice_credential.clone() }
}

#[test]
fn group_info_request_round_trips_and_verifies() {
    for code in [&b""[..], b"join-123"] {
        let request = request(code);
        let bytes = round_trip(&request);
        // protocol mls10, cipher_suite 0x0001.
        assert_eq!(&bytes[..3], &[0x01, 0x00, 0x01]);
        request.verify(&crypto()).unwrap();
        assert_eq!(request.tbs().joining_code.is_some(), !code.is_empty());
        assert_hostile_inputs_rejected::<GroupInfoRequest>(&bytes);
    }
    // The TBS carries the joining code as optional<opaque<V>>: presence byte then the bytes.
    let tbs = request(b"xy").tbs().tls_serialize_detached().unwrap();
    assert_eq!(&tbs[tbs.len() - 4..], &[0x01, 0x02, b'x', b'y']);
    let tbs = request(b"").tbs().tls_serialize_detached().unwrap();
    assert_eq!(*tbs.last().unwrap(), 0x00);
}

#[test]
fn tampered_group_info_request_fails_verification() {
    let mut request = request(b"");
    request.joining_code = b"forged".to_vec().into();
    assert!(matches!(request.verify(&crypto()), Err(WireError::BadSignature { what: "GroupInfoRequestTBS" })));
}

#[test]
fn group_info_response_seals_signs_opens_and_round_trips() {
    let f = fixture();
    let request = request(b"");
    let response =
        GroupInfoResponse::seal_and_sign(&crypto(), &f.alice_signer, &request, ROOM, hub_sender(), &tbe()).unwrap();
    let bytes = round_trip(&response);
    // version mls10, room_id<V>, status success(1), cipher_suite 0x0001.
    assert_eq!(bytes[0], 0x01);
    assert_eq!(bytes[1] as usize, ROOM.len());
    assert_eq!(&bytes[2 + ROOM.len()..5 + ROOM.len()], &[0x01, 0x00, 0x01]);
    assert_hostile_inputs_rejected::<GroupInfoResponse>(&bytes);

    let opened = response.verify_and_open(&crypto(), &hpke_keys().private, 1 << 20).unwrap();
    assert_eq!(opened, tbe());
    round_trip(&opened);

    // Another room's context does not decrypt; a changed room_id breaks the signature first.
    let mut moved = response.clone();
    moved.room_id = b"mimi://a.example/r/other".to_vec().into();
    assert!(matches!(
        moved.verify_and_open(&crypto(), &hpke_keys().private, 1 << 20),
        Err(WireError::BadSignature { .. })
    ));
    // The wrong private key cannot open it.
    let other = crypto().derive_hpke_keypair(CS.hpke_config(), &[4; 32]).unwrap();
    assert!(matches!(
        response.verify_and_open(&crypto(), &other.private, 1 << 20),
        Err(WireError::Crypto { operation: "hpke open", .. })
    ));
    // The plaintext limit applies.
    assert!(matches!(response.verify_and_open(&crypto(), &hpke_keys().private, 10), Err(WireError::TooLarge { .. })));
}

#[test]
fn group_info_failure_responses_known_answers() {
    let not_authorized = GroupInfoResponse {
        version: Protocol::Mls10,
        room_id: b"r".to_vec().into(),
        status: GroupInfoStatus::NotAuthorized,
    };
    assert_eq!(round_trip(&not_authorized), [0x01, 0x01, b'r', 0x02]);
    let no_room = GroupInfoResponse { status: GroupInfoStatus::NoSuchRoom, ..not_authorized.clone() };
    assert_eq!(round_trip(&no_room), [0x01, 0x01, b'r', 0x03]);
    assert!(matches!(not_authorized.verify_and_open(&crypto(), &[], 100), Err(WireError::Inconsistent { .. })));
    // reserved(0) is not a status.
    assert!(GroupInfoResponse::decode(&[0x01, 0x01, b'r', 0x00], 10).is_err());
}

#[test]
fn pending_proposals_must_be_public_proposals() {
    let f = fixture();
    let mut bad = tbe();
    bad.pending_proposals.push(PendingProposal { proposal: f.application.clone(), hub_accepted_time: 1 });
    assert!(matches!(bad.encode(), Err(WireError::UnexpectedWireFormat { .. })));
}
