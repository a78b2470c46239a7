use mimi_protocol::franking::*;
use mimi_protocol::submit::*;
use mimi_protocol::{Body, IdentifierUri, Protocol, WireError};
use openmls::prelude::tls_codec::Serialize;

use crate::fixture::{assert_hostile_inputs_rejected, crypto, fixture, round_trip, CS};

fn context() -> ServerFrankingContext {
    ServerFrankingContext {
        sender_uri: IdentifierUri::new("mimi://b.example/u/alice"),
        room_uri: IdentifierUri::new("mimi://hub.example/r/Rl33FWLCYWOwxHrYnpWDQg"),
        accepted_timestamp: 1_700_000_000_000,
    }
}

pub fn frank() -> Frank {
    Frank::issue(&crypto(), &fixture().alice_signer, CS, b"hub key", &[7; 32], context()).unwrap()
}

#[test]
fn submit_message_request_round_trips() {
    let request = SubmitMessageRequest {
        protocol: Protocol::Mls10,
        app_message: fixture().application.clone(),
        sending_uri: IdentifierUri::new("mimi://b.example/u/alice"),
    };
    let bytes = round_trip(&request);
    assert_eq!(bytes[0], 0x01);
    // MLSMessage: version mls10 (0x0001), wire_format mls_private_message (0x0002).
    assert_eq!(&bytes[1..5], &[0x00, 0x01, 0x00, 0x02]);
    assert_hostile_inputs_rejected::<SubmitMessageRequest>(&bytes);
}

#[test]
fn submit_message_response_known_answers() {
    let without_frank = SubmitMessageResponse {
        protocol: Protocol::Mls10,
        status: SubmitMessageStatus::Accepted { accepted_timestamp: 1, frank: None },
    };
    assert_eq!(round_trip(&without_frank), [0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 1, 0x00]);
    let not_allowed = SubmitMessageResponse { protocol: Protocol::Mls10, status: SubmitMessageStatus::NotAllowed };
    assert_eq!(round_trip(&not_allowed), [0x01, 0x01]);
    let too_old = SubmitMessageResponse {
        protocol: Protocol::Mls10,
        status: SubmitMessageStatus::EpochTooOld { current_epoch: 9 },
    };
    assert_eq!(round_trip(&too_old), [0x01, 0x02, 0, 0, 0, 0, 0, 0, 0, 9]);
    assert_eq!(too_old.status.code(), SubmitResponseCode::EpochTooOld);
    assert!(SubmitMessageResponse::decode(&[0x01, 0x03], 10).is_err());
    // optional<Frank> presence byte must be 0 or 1.
    assert!(SubmitMessageResponse::decode(&[0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 1, 0x02], 20).is_err());
}

#[test]
fn submit_message_response_with_frank_round_trips() {
    let response = SubmitMessageResponse {
        protocol: Protocol::Mls10,
        status: SubmitMessageStatus::Accepted { accepted_timestamp: 42, frank: Some(frank()) },
    };
    let bytes = round_trip(&response);
    // presence byte, 32-byte server_frank, ciphersuite 0x0001, signature<V> of 64 bytes (2-byte varint).
    assert_eq!(bytes[10], 0x01);
    assert_eq!(&bytes[43..47], &[0x00, 0x01, 0x40, 0x40]);
    assert_eq!(bytes.len(), 47 + 64);
    assert_hostile_inputs_rejected::<SubmitMessageResponse>(&bytes);
}

#[test]
fn frank_verifies_only_for_its_context() {
    let f = fixture();
    let frank = frank();
    let expected = server_frank(&crypto(), b"hub key", &[7; 32], &context()).unwrap();
    assert_eq!(frank.server_frank, expected);
    frank.verify(&crypto(), &f.alice_key, context()).unwrap();
    let mut other = context();
    other.accepted_timestamp += 1;
    assert!(matches!(frank.verify(&crypto(), &f.alice_key, other), Err(WireError::BadSignature { .. })));
    // FrankAAD is exactly the 32-byte tag.
    assert_eq!(FrankAAD { franking_tag: [1; 32] }.tls_serialize_detached().unwrap(), [1; 32]);
    let agent =
        FrankingAgentData { franking_signature_key: f.alice_key.clone(), credential: f.alice_credential.clone() };
    assert!(!agent.tls_serialize_detached().unwrap().is_empty());
}
