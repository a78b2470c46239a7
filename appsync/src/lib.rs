//! `mimi-appsync`: a MIMI room's participation state as MLS app-data components.
//!
//! The room state (participant list, room metadata, roles, preauthorization, base policy) lives
//! inside the MLS group, in the GroupContext `app_data_dictionary` extension, and changes only
//! through AppDataUpdate proposals. This crate is the pure logic (no I/O, no clocks) that the
//! clients (through openmls `MlsGroup`) and the hub (through openmls `PublicGroup`) share, so they
//! agree bit for bit:
//!
//! - [`components`]: TLS-PL codecs of the components (protocol-06 §7.5–7.6, room-policy-04 §2–4).
//! - [`reducer`]: from a commit's AppDataUpdate proposals to the new dictionary entries.
//! - [`group`]: the MLS settings every room and client uses (ciphersuite, capabilities, wire
//!   format, GroupContext extensions).
//! - [`adapter`]: openmls glue, one code path for `MlsGroup` clients and the `PublicGroup` hub,
//!   for commits and for standalone proposals.
//! - [`ops`]: client-side builders of user-level operations (invite, remove, ban, leave by Remove
//!   or SelfRemove, …).
//! - [`state`]: the decoded room state a decision is made against.
//! - [`policy`]: the room-policy-04 engine and the user/client consistency rules.
//! - [`presets`]: the Appendix A room types and a one-to-one room.
//! - [`uri`]: the client and user URIs behind the credential convention of docs/DESIGN.md §3.
//!
//! Protocol versions: draft-ietf-mimi-protocol-06, draft-ietf-mimi-room-policy-04 (normatively equal
//! to -03: same sections, rules, capability codes and component IDs), MLS app data as implemented by
//! openmls 0.9 `extensions-draft`.

pub mod adapter;
pub mod components;
pub mod error;
pub mod group;
pub mod ops;
pub mod policy;
pub mod presets;
pub mod reducer;
pub mod state;
pub mod uri;

pub use error::Error;
