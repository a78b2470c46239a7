use mimi_protocol::notify::*;
use mimi_protocol::ratchet_tree::RatchetTreeOption;
use mimi_protocol::{Body, WireError};
use openmls::prelude::tls_codec::Serialize;

use crate::fixture::{assert_hostile_inputs_rejected, fixture, round_trip};

fn all_kinds() -> Vec<FanoutMessage> {
    let f = fixture();
    vec![
        FanoutMessage {
            timestamp: 1,
            message: f.application.clone(),
            framing: FanoutFraming::Application { frank: Some(crate::submit::frank()) },
        },
        FanoutMessage {
            timestamp: 2,
            message: f.application.clone(),
            framing: FanoutFraming::Application { frank: None },
        },
        FanoutMessage {
            timestamp: 3,
            message: f.welcome_message.clone(),
            framing: FanoutFraming::Welcome {
                ratchet_tree_option: RatchetTreeOption::Full { ratchet_tree: f.ratchet_tree.clone() },
            },
        },
        FanoutMessage {
            timestamp: 4,
            message: f.proposals[0].clone(),
            framing: FanoutFraming::Proposal { more_proposals: vec![f.proposals[1].clone()] },
        },
        FanoutMessage {
            timestamp: 5,
            message: f.commit.clone(),
            framing: FanoutFraming::Commit { external_proposals: vec![f.proposals[0].clone()] },
        },
    ]
}

#[test]
fn every_framing_round_trips() {
    for message in all_kinds() {
        let bytes = round_trip(&message);
        assert_eq!(&bytes[..8], &message.timestamp.to_be_bytes());
        assert_hostile_inputs_rejected::<FanoutMessage>(&bytes);
    }
}

#[test]
fn application_without_frank_ends_with_absent_presence_byte() {
    let message = &all_kinds()[1];
    let bytes = message.encode().unwrap();
    assert_eq!(bytes.len(), 8 + fixture().application.tls_serialize_detached().unwrap().len() + 1);
    assert_eq!(*bytes.last().unwrap(), 0x00);
}

#[test]
fn concatenated_body_decodes_in_order_with_a_count_limit() {
    let messages = all_kinds();
    let body = FanoutMessage::encode_body(&messages).unwrap();
    let decoded = FanoutMessage::decode_body(&body, body.len(), 16).unwrap();
    assert_eq!(decoded, messages);
    assert!(matches!(
        FanoutMessage::decode_body(&body, body.len(), 4),
        Err(WireError::TooManyMessages { limit: 4, .. })
    ));
    assert!(matches!(FanoutMessage::decode_body(&[], 10, 4), Err(WireError::Empty { .. })));
    assert!(matches!(FanoutMessage::decode_body(&body, body.len() - 1, 16), Err(WireError::TooLarge { .. })));
    // A truncated last message rejects the whole body, with the offset of the failure in the body.
    let first_len = messages[0].encode().unwrap().len();
    match FanoutMessage::decode_body(&body[..body.len() - 1], usize::MAX, 16) {
        Err(WireError::Decode { offset, .. }) => assert!(offset > first_len),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn mismatched_framing_and_non_fanout_messages_are_refused() {
    let f = fixture();
    let wrong =
        FanoutMessage { timestamp: 1, message: f.commit.clone(), framing: FanoutFraming::Application { frank: None } };
    assert!(matches!(wrong.encode(), Err(WireError::UnexpectedWireFormat { .. })));
    let mut bytes = 7u64.to_be_bytes().to_vec();
    bytes.extend(f.group_info_message.tls_serialize_detached().unwrap());
    bytes.push(0);
    assert!(matches!(FanoutMessage::decode(&bytes, usize::MAX), Err(WireError::Decode { .. })));
    let private_staple = FanoutMessage {
        timestamp: 1,
        message: f.commit.clone(),
        framing: FanoutFraming::Commit { external_proposals: vec![f.application.clone()] },
    };
    assert!(matches!(private_staple.encode(), Err(WireError::UnexpectedWireFormat { .. })));
}
