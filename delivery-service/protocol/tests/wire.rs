//! Encode/decode tests for every protocol-06 structure in `mimi_protocol`, built from real openmls
//! objects where the draft embeds MLS messages, with known-answer bytes where the draft or RFC 9420 pins
//! them, and hostile-input tests (truncation, garbage, proptest) for every top-level decoder.

#[path = "wire/fixture.rs"]
mod fixture;

#[path = "wire/consent_identifier_abuse.rs"]
mod consent_identifier_abuse;
#[path = "wire/directory.rs"]
mod directory;
#[path = "wire/from_openmls.rs"]
mod from_openmls;
#[path = "wire/group_info.rs"]
mod group_info;
#[path = "wire/hostile.rs"]
mod hostile;
#[path = "wire/key_material.rs"]
mod key_material;
#[path = "wire/notify.rs"]
mod notify;
#[path = "wire/submit.rs"]
mod submit;
#[path = "wire/update.rs"]
mod update;
