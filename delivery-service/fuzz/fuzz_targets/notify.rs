//! Fuzzes the `/notify` body (protocol-06 §5.5) a follower receives from a hub:
//! `FanoutMessage::decode_body` with the server's limits (`DEFAULT_MAX_BODY_LEN` bytes,
//! `DEFAULT_MAX_FANOUT_MESSAGES` messages), as `mimi_ds`'s follower calls it.
//!
//! Decoding must not panic. An accepted body is canonical (the decoder re-encodes every message and
//! compares), so `FanoutMessage::encode_body` must give the input back, and it holds no more messages than
//! the limit. The count limit is also checked on its own: with a limit of 2, the same input is accepted
//! exactly when it was accepted before and holds at most 2 messages.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mimi_protocol::notify::{FanoutMessage, DEFAULT_MAX_FANOUT_MESSAGES};
use mimi_protocol::DEFAULT_MAX_BODY_LEN;

fuzz_target!(|data: &[u8]| {
    let decoded = FanoutMessage::decode_body(data, DEFAULT_MAX_BODY_LEN, DEFAULT_MAX_FANOUT_MESSAGES);
    if let Ok(messages) = &decoded {
        assert!(!messages.is_empty() && messages.len() <= DEFAULT_MAX_FANOUT_MESSAGES);
        let again = FanoutMessage::encode_body(messages).expect("a decoded body encodes");
        assert_eq!(again, data, "accepted a non-canonical /notify body");
    }
    let capped = FanoutMessage::decode_body(data, DEFAULT_MAX_BODY_LEN, 2);
    match (&decoded, &capped) {
        (Ok(all), Ok(few)) => assert!(all.len() <= 2 && all == few, "the count limit changed the result"),
        (Ok(all), Err(_)) => assert!(all.len() > 2, "a body within the count limit was refused"),
        (Err(_), Ok(_)) => panic!("a lower count limit accepted a body the default refused"),
        (Err(_), Err(_)) => {}
    }
});
