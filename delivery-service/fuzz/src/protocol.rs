//! The decoders of the `protocol` target, one per selector byte.
//!
//! Top-level bodies go through `Body::decode` with the server's limit (`DEFAULT_MAX_BODY_LEN`): decoding
//! must not panic and, as `Body::decode` documents, anything accepted is canonical, so `Body::encode` must
//! give the input back. Nested structures go through their `tls_codec` decoder (`tls_deserialize_exact`,
//! as the hub reads an `ExternalSender` or the interop suite reads the vectors): no panic, and re-encoding
//! what was accepted must not panic either (nested decoders promise no canonicality, so the bytes are not
//! compared). The last entries are the other decoders of network input in `mimi_protocol`: a peer's
//! endpoint directory (JSON), a URL path variable, and the `frank_aad` in a PrivateMessage's
//! authenticated data.

use mimi_protocol::abuse::{AbuseReport, AbusiveMessage};
use mimi_protocol::consent::{ConsentEntry, ConsentScope};
use mimi_protocol::directory::{decode_path_segment, Directory};
use mimi_protocol::franking::{Frank, FrankAAD, FrankingAgentData, FrankingIntegrityTBS, ServerFrankingContext};
use mimi_protocol::group_info::{
    ExternalSender, GroupInfoRatchetTreeTBE, GroupInfoRequest, GroupInfoRequestTBS, GroupInfoResponse,
    GroupInfoResponseTBS, PendingProposal,
};
use mimi_protocol::identifier::{IdentifierRequest, IdentifierResponse, ProfileField, QueryElement, UserProfile};
use mimi_protocol::key_material::{ClientKeyMaterial, KeyMaterialRequest, KeyMaterialRequestTBS, KeyMaterialResponse};
use mimi_protocol::notify::FanoutMessage;
use mimi_protocol::ratchet_tree::{PartialGroupInfo, RatchetTreeOption};
use mimi_protocol::submit::{SubmitMessageRequest, SubmitMessageResponse};
use mimi_protocol::update::{GroupInfoOption, HandshakeBundle, UpdateRequest, UpdateRoomResponse};
use mimi_protocol::{Body, DEFAULT_MAX_BODY_LEN};
use tls_codec::{Deserialize, Serialize};

/// Strict body decoding: no panic, and what is accepted re-encodes to the input.
pub fn body<T: Body>(data: &[u8]) {
    if let Ok(value) = T::decode(data, DEFAULT_MAX_BODY_LEN) {
        let again = value.encode().unwrap_or_else(|e| panic!("{}: a decoded body does not encode: {e}", T::NAME));
        assert_eq!(again, data, "{}: accepted a non-canonical encoding", T::NAME);
    }
}

/// Nested structure decoding: no panic, decoding and re-encoding.
fn nested<T: Deserialize + Serialize>(data: &[u8]) {
    if let Ok(value) = T::tls_deserialize_exact(data) {
        let _ = value.tls_serialize_detached();
    }
}

/// A peer's directory document: no panic, and a document we accepted parses again as we serve it.
fn directory(data: &[u8]) {
    if let Ok(directory) = Directory::from_json(data) {
        let again = Directory::from_json(directory.to_json().as_bytes()).expect("a served directory parses");
        assert_eq!(again, directory, "directory JSON round trip changed it");
    }
}

/// A path variable of a request URL (the server only sees UTF-8 paths).
fn path_segment(data: &[u8]) {
    if let Ok(segment) = std::str::from_utf8(data) {
        let _ = decode_path_segment(segment);
    }
}

/// The `frank_aad` the hub looks for in an application message's authenticated data.
fn frank_aad(data: &[u8]) {
    if let Some(aad) = FrankAAD::from_authenticated_data(data) {
        let _ = aad.authenticated_data();
    }
}

/// One decoder with its checks.
pub type Decoder = fn(&[u8]);

/// The decoders by selector byte (`selector % DECODERS.len()`), named as in the vectors' `struct`.
pub const DECODERS: &[(&str, Decoder)] = &[
    // top-level bodies (Body::decode)
    ("KeyMaterialRequest", body::<KeyMaterialRequest>),
    ("KeyMaterialResponse", body::<KeyMaterialResponse>),
    ("UpdateRequest", body::<UpdateRequest>),
    ("UpdateRoomResponse", body::<UpdateRoomResponse>),
    ("SubmitMessageRequest", body::<SubmitMessageRequest>),
    ("SubmitMessageResponse", body::<SubmitMessageResponse>),
    ("FanoutMessage", body::<FanoutMessage>),
    ("GroupInfoRequest", body::<GroupInfoRequest>),
    ("GroupInfoRatchetTreeTBE", body::<GroupInfoRatchetTreeTBE>),
    ("GroupInfoResponse", body::<GroupInfoResponse>),
    ("ConsentEntry", body::<ConsentEntry>),
    ("IdentifierRequest", body::<IdentifierRequest>),
    ("IdentifierResponse", body::<IdentifierResponse>),
    ("AbuseReport", body::<AbuseReport>),
    // nested structures (tls_codec)
    ("KeyMaterialRequestTBS", nested::<KeyMaterialRequestTBS>),
    ("ClientKeyMaterial", nested::<ClientKeyMaterial>),
    ("HandshakeBundle", nested::<HandshakeBundle>),
    ("GroupInfoOption", nested::<GroupInfoOption>),
    ("PartialGroupInfo", nested::<PartialGroupInfo>),
    ("RatchetTreeOption", nested::<RatchetTreeOption>),
    ("Frank", nested::<Frank>),
    ("FrankAAD", nested::<FrankAAD>),
    ("FrankingAgentData", nested::<FrankingAgentData>),
    ("ServerFrankingContext", nested::<ServerFrankingContext>),
    ("FrankingIntegrityTBS", nested::<FrankingIntegrityTBS>),
    ("ExternalSender", nested::<ExternalSender>),
    ("GroupInfoRequestTBS", nested::<GroupInfoRequestTBS>),
    ("PendingProposal", nested::<PendingProposal>),
    ("GroupInfoResponseTBS", nested::<GroupInfoResponseTBS>),
    ("ConsentScope", nested::<ConsentScope>),
    ("QueryElement", nested::<QueryElement>),
    ("ProfileField", nested::<ProfileField>),
    ("UserProfile", nested::<UserProfile>),
    ("AbusiveMessage", nested::<AbusiveMessage>),
    // other network input
    ("directory", directory),
    ("path segment", path_segment),
    ("frank_aad", frank_aad),
];

/// The selector byte of the decoder named `name`.
pub fn selector(name: &str) -> Option<u8> {
    DECODERS.iter().position(|(n, _)| *n == name).and_then(|i| u8::try_from(i).ok())
}

/// Runs the decoder chosen by the first byte on the rest.
pub fn run(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else { return };
    let (_, decode) = DECODERS[usize::from(selector) % DECODERS.len()];
    decode(rest);
}
