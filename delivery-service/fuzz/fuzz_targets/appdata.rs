//! Fuzzes the MIMI app-data components (`mimi_appsync`): the five component values as the GroupContext
//! dictionary holds them, a commit's AppDataUpdate payloads through the reducer (participant-list
//! deltas and whole-value replacements) and the room state built from a dictionary, and the user and
//! client URIs behind participant lists and credentials. The first byte chooses the decoder; see
//! `mimi_ds_fuzz::appdata` for the framing and what each check asserts.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mimi_ds_fuzz::appdata::run(data));
