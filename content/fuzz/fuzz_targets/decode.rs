//! Fuzzes the strict decoder: it must never panic, every accepted input must be canonical
//! (re-encode to the same bytes), and the JSON form of anything accepted must round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mimi_content::{json, render, DecodeLimits, MimiContent, Received, Value};

fuzz_target!(|data: &[u8]| {
    let _ = Value::from_cbor(data, 16);
    if let Ok(m) = MimiContent::decode(data) {
        let again = m.encode().expect("a decoded message encodes");
        assert_eq!(again, data, "accepted a non-canonical encoding");
        let back = json::from_json(&json::to_json(&m)).expect("JSON form parses");
        assert_eq!(back.encode().expect("encodes"), data, "JSON round trip changed the message");
        let _ = render::summary(&m, &render::Capabilities::required(), 80);
        let _ = Received::decode(data, Some("mimi://a/u/x"), Some("mimi://a/r/y"), &DecodeLimits::default());
    }
});
