//! Fuzzes the bodies of the provider's client API (`mimi_protocol::client_api`): the KeyPackage upload
//! the server decodes from a client, and the room log page and Welcome queue a client decodes from its
//! provider.
//!
//! The first input byte chooses the body (`KeyPackageUpload`, `RoomEntries`, `ClientQueue`, modulo 3);
//! the rest goes to `Body::decode` with the server's limit (`DEFAULT_MAX_BODY_LEN`). Decoding must not
//! panic, and what is accepted must re-encode to the input (`Body::decode` refuses non-canonical input).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mimi_ds_fuzz::protocol::body;
use mimi_protocol::client_api::{ClientQueue, KeyPackageUpload, RoomEntries};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    match selector % 3 {
        0 => body::<KeyPackageUpload>(rest),
        1 => body::<RoomEntries>(rest),
        _ => body::<ClientQueue>(rest),
    }
});
