//! Arbitrary and mutated bytes into every top-level decoder: a typed error or a value, never a panic, and
//! anything accepted re-encodes to exactly the input (canonical decoding).

use mimi_protocol::abuse::AbuseReport;
use mimi_protocol::consent::ConsentEntry;
use mimi_protocol::group_info::{GroupInfoRatchetTreeTBE, GroupInfoRequest, GroupInfoResponse};
use mimi_protocol::identifier::{IdentifierRequest, IdentifierResponse};
use mimi_protocol::key_material::{KeyMaterialRequest, KeyMaterialResponse};
use mimi_protocol::notify::FanoutMessage;
use mimi_protocol::submit::{SubmitMessageRequest, SubmitMessageResponse};
use mimi_protocol::update::{UpdateRequest, UpdateRoomResponse};
use mimi_protocol::{directory::Directory, Body};
use openmls::prelude::tls_codec::Serialize;
use proptest::prelude::*;

use crate::fixture::fixture;

fn try_decode<T: Body>(bytes: &[u8]) {
    if let Ok(value) = T::decode(bytes, 1 << 20) {
        assert_eq!(value.tls_serialize_detached().unwrap(), bytes, "{} accepted a non-canonical input", T::NAME);
    }
}

fn every_decoder(bytes: &[u8]) {
    try_decode::<KeyMaterialRequest>(bytes);
    try_decode::<KeyMaterialResponse>(bytes);
    try_decode::<UpdateRequest>(bytes);
    try_decode::<UpdateRoomResponse>(bytes);
    try_decode::<SubmitMessageRequest>(bytes);
    try_decode::<SubmitMessageResponse>(bytes);
    try_decode::<FanoutMessage>(bytes);
    let _ = FanoutMessage::decode_body(bytes, 1 << 20, 64);
    try_decode::<GroupInfoRequest>(bytes);
    try_decode::<GroupInfoResponse>(bytes);
    try_decode::<GroupInfoRatchetTreeTBE>(bytes);
    try_decode::<ConsentEntry>(bytes);
    try_decode::<IdentifierRequest>(bytes);
    try_decode::<IdentifierResponse>(bytes);
    try_decode::<AbuseReport>(bytes);
    let _ = Directory::from_json(bytes);
}

/// Real encodings of structures that embed MLS objects, as seeds for mutation.
fn seeds() -> Vec<Vec<u8>> {
    let f = fixture();
    let mut fanout = 1u64.to_be_bytes().to_vec();
    fanout.extend(f.commit.tls_serialize_detached().unwrap());
    fanout.push(0);
    let mut update = f.proposals[0].tls_serialize_detached().unwrap();
    update.push(0);
    let mut submit = vec![1];
    submit.extend(f.application.tls_serialize_detached().unwrap());
    submit.extend([1, b'u']);
    vec![fanout, update, submit]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        every_decoder(&bytes);
    }

    #[test]
    fn mutated_real_messages_never_panic(seed in 0usize..3, flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4)) {
        let mut bytes = seeds()[seed].clone();
        for (position, value) in flips {
            let index = position % bytes.len();
            bytes[index] = value;
        }
        every_decoder(&bytes);
    }
}
