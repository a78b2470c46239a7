//! Fuzzes every protocol-06 structure a provider decodes from a peer or a client, plus the directory
//! JSON, URL path variables and the `frank_aad` of authenticated data (`mimi_protocol`). The first byte
//! chooses the decoder (`mimi_ds_fuzz::protocol::DECODERS`), the rest is its input; see that module for
//! what each check asserts.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mimi_ds_fuzz::protocol::run(data));
