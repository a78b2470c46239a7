use mimi_protocol::ratchet_tree::*;
use mimi_protocol::update::*;
use mimi_protocol::{Body, Utf8String, WireError};
use openmls::prelude::tls_codec::{Deserialize, Serialize};
use openmls::prelude::*;

use crate::fixture::{assert_hostile_inputs_rejected, fixture, round_trip};

fn commit_bundle(group_info_option: GroupInfoOption, ratchet_tree_option: RatchetTreeOption) -> UpdateRequest {
    let f = fixture();
    UpdateRequest {
        bundle: HandshakeBundle {
            proposal_or_commit: f.commit.clone(),
            content: HandshakeBundleContent::Commit {
                welcome: Some(f.welcome.clone()),
                group_info_option,
                ratchet_tree_option,
            },
        },
    }
}

#[test]
fn commit_bundle_with_full_group_info_and_tree_round_trips() {
    let f = fixture();
    let request = commit_bundle(
        GroupInfoOption::Full { group_info: f.group_info.clone() },
        RatchetTreeOption::Full { ratchet_tree: f.ratchet_tree.clone() },
    );
    let bytes = round_trip(&request);
    // The commit's own bytes come first, then optional<Welcome> present (0x01) and the Welcome.
    let commit_len = f.commit.tls_serialize_detached().unwrap().len();
    assert_eq!(bytes[commit_len], 0x01);
    assert_hostile_inputs_rejected::<UpdateRequest>(&bytes);
}

#[test]
fn commit_bundle_with_partial_group_info_round_trips() {
    let request = UpdateRequest {
        bundle: HandshakeBundle {
            proposal_or_commit: fixture().commit.clone(),
            content: HandshakeBundleContent::Commit {
                welcome: None,
                group_info_option: GroupInfoOption::Partial {
                    partial_group_info: PartialGroupInfo {
                        ratchet_tree_presence: RatchetTreePresence::Removed,
                        group_info_extensions: vec![Extension::ExternalSenders(vec![])],
                        signature: vec![9; 64].into(),
                    },
                },
                ratchet_tree_option: RatchetTreeOption::DistributionService,
            },
        },
    };
    let bytes = round_trip(&request);
    // ... optional<Welcome> absent, GroupInfoRepresentation partial(2), RatchetTreePresence removed(2),
    // and the bundle ends with RatchetTreeRepresentation distributionService(4).
    let commit_len = fixture().commit.tls_serialize_detached().unwrap().len();
    assert_eq!(&bytes[commit_len..commit_len + 3], &[0x00, 0x02, 0x02]);
    assert_eq!(*bytes.last().unwrap(), 0x04);
}

#[test]
fn proposal_bundle_with_more_proposals_round_trips() {
    let f = fixture();
    let request = UpdateRequest {
        bundle: HandshakeBundle {
            proposal_or_commit: f.proposals[0].clone(),
            content: HandshakeBundleContent::Proposal { more_proposals: vec![f.proposals[1].clone()] },
        },
    };
    let bytes = round_trip(&request);
    assert_hostile_inputs_rejected::<UpdateRequest>(&bytes);
}

#[test]
fn framing_that_contradicts_the_message_is_refused() {
    let f = fixture();
    // A commit framed as a proposal cannot be encoded …
    let wrong = UpdateRequest {
        bundle: HandshakeBundle {
            proposal_or_commit: f.commit.clone(),
            content: HandshakeBundleContent::Proposal { more_proposals: vec![] },
        },
    };
    assert!(matches!(wrong.encode(), Err(WireError::UnexpectedWireFormat { .. })));
    // … and a PrivateMessage in moreProposals is refused on both sides.
    let private_more = UpdateRequest {
        bundle: HandshakeBundle {
            proposal_or_commit: f.proposals[0].clone(),
            content: HandshakeBundleContent::Proposal { more_proposals: vec![f.application.clone()] },
        },
    };
    assert!(matches!(private_more.encode(), Err(WireError::UnexpectedWireFormat { .. })));
    let mut bytes = f.proposals[0].tls_serialize_detached().unwrap();
    vec![f.application.clone()].tls_serialize(&mut bytes).unwrap();
    assert!(matches!(
        UpdateRequest::decode(&bytes, usize::MAX),
        Err(WireError::UnexpectedWireFormat { found, .. }) if found == "PrivateMessage"
    ));
}

#[test]
fn private_message_handshake_is_reported_for_not_allowed() {
    let f = fixture();
    for message in [&f.application, &f.welcome_message, &f.group_info_message, &f.key_package_message] {
        let mut bytes = message.tls_serialize_detached().unwrap();
        bytes.extend_from_slice(&[0, 0, 0]);
        assert!(matches!(
            UpdateRequest::decode(&bytes, usize::MAX),
            Err(WireError::UnexpectedWireFormat { what: "UpdateRequest", .. })
        ));
    }
}

#[test]
fn update_room_response_known_answers() {
    let cases = [
        (UpdateRoomOutcome::Success { accepted_timestamp: 0x0102 }, "", vec![0x00, 0x00, 0, 0, 0, 0, 0, 0, 1, 2]),
        (UpdateRoomOutcome::WrongEpoch { current_epoch: 5 }, "", vec![0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 5]),
        (UpdateRoomOutcome::NotAllowed, "no", vec![0x02, 0x02, b'n', b'o']),
        (UpdateRoomOutcome::InvalidProposal { invalid_proposals: vec![] }, "", vec![0x03, 0x00, 0x00]),
    ];
    for (outcome, description, expected) in cases {
        let response = UpdateRoomResponse { error_description: Utf8String::from(description), outcome };
        assert_eq!(round_trip(&response), expected);
        assert_hostile_inputs_rejected::<UpdateRoomResponse>(&expected);
    }
}

#[test]
fn invalid_proposal_refs_round_trip() {
    // Any 32-byte hash reference will do; a KeyPackageRef has the same encoding as a ProposalRef.
    let f = fixture();
    let crypto = crate::fixture::crypto();
    let proposal_ref = f.key_package.clone().validate(&crypto, ProtocolVersion::Mls10).unwrap().hash_ref(&crypto);
    let raw = proposal_ref.unwrap().tls_serialize_detached().unwrap();
    let reference = openmls::ciphersuite::hash_ref::ProposalRef::tls_deserialize_exact(&raw).unwrap();
    let response = UpdateRoomResponse {
        error_description: Utf8String::from("bad remove"),
        outcome: UpdateRoomOutcome::InvalidProposal { invalid_proposals: vec![reference.clone(), reference] },
    };
    let bytes = round_trip(&response);
    // Two 32-byte refs, each with a one-byte length: vector length 66, above 63, so the MLS varint takes
    // two bytes (0b01 prefix): 0x40 0x42.
    assert_eq!(&bytes[12..14], &[0x40, 0x42]);
}

#[test]
fn invalid_utf8_description_is_a_decode_error() {
    assert!(matches!(
        UpdateRoomResponse::decode(&[0x02, 0x01, 0xff], usize::MAX),
        Err(WireError::Decode { what: "UpdateRoomResponse", .. })
    ));
}

#[test]
fn ratchet_tree_option_known_answers() {
    let encode = |o: &RatchetTreeOption| o.tls_serialize_detached().unwrap();
    assert_eq!(encode(&RatchetTreeOption::DistributionService), [0x04]);
    assert_eq!(encode(&RatchetTreeOption::OutOfBand { tree_signature: vec![1, 2].into() }), [0x03, 0x02, 1, 2]);
    assert_eq!(
        encode(&RatchetTreeOption::HttpsUri { ratchet_tree_url: b"u".to_vec().into(), tree_signature: vec![].into() }),
        [0x02, 0x01, b'u', 0x00]
    );
    assert!(RatchetTreeOption::tls_deserialize_exact([0x00]).is_err());
    assert!(RatchetTreeOption::tls_deserialize_exact([0x05]).is_err());
    assert_eq!(RatchetTreeOption::DistributionService.representation(), RatchetTreeRepresentation::DistributionService);
}
