//! `mimi-protocol`: the draft-ietf-mimi-protocol-06 structures providers exchange, declared once with
//! `tls_codec`, plus the bodies of our provider's client API and the room-log format clients read. No I/O:
//! the provider server (`mimi-ds`), the client library (`mimi-client`), the simulator and the interop suite
//! all encode and decode through this crate, so every byte any of them reads or writes comes from one place.
//!
//! One module per endpoint group, each structure named as in the draft and citing its section:
//! [`directory`] (§5.1, JSON), [`key_material`] (§5.2), [`update`] (§5.3), [`submit`] and [`franking`]
//! (§5.4), [`notify`] (§5.5), [`group_info`] (§5.6), [`consent`] (§5.7), [`identifier`] (§5.8),
//! [`abuse`] (§5.9), plus [`ratchet_tree`] (draft-mahy-mls-ratchet-tree-options-03, referenced by §5.3,
//! §5.5 and §5.6), the shared [`IdentifierUri`]/[`Protocol`]/[`Utf8String`], and the RFC 9420 labeled
//! signing and encryption in [`labeled`]. MLS objects inside them are openmls' own types (`MlsMessageIn`,
//! `KeyPackageIn`, `Welcome`, `VerifiableGroupInfo`, `RatchetTreeIn`, `Credential`, …), which both decode
//! and encode; [`mls_message::reparse`] and [`update::HandshakeBundle::from_commit`] turn what openmls
//! builds (`MlsMessageOut`, `CommitMessageBundle`) into them.
//!
//! Not MIMI but ours: [`client_api`] (the bodies of the provider's `/client/v1/...` API) and [`log`] (one
//! accepted item of a room log and one item of a client's Welcome queue, as the hub stores them and
//! clients read them). [`PINNED_DRAFTS`] names the drafts this implementation follows. From
//! draft-ietf-mls-extensions: [`last_resort`], whether a KeyPackage is last-resort; [`components_list`],
//! the `app_components`/`safe_aad` lists and whether a leaf supports what a room requires; [`safe_aad`],
//! the whole-AAD `SafeAAD` framing of rooms that hold `safe_aad`.
//!
//! # Encoding
//! - `<V>` vectors use MLS variable-length integer lengths (tls_codec's `mls` feature: `VLBytes`, `Vec<T>`),
//!   capped at 2^30-1 bytes; `optional<T>` is a presence byte (0 or 1) then `T`; `uint8 x[32]` is a fixed
//!   array. Enums are `uint8`; an unassigned value (including `reserved(0)`) is a decode error.
//! - A `select` on a code right before its data is a Rust enum with derived codec and the draft's code as
//!   its discriminant (the code enum is declared separately, named as in the draft). Where other fields sit
//!   between a code and its data (`ClientKeyMaterial`, `UpdateRoomResponse`, `ConsentEntry`) or the select
//!   depends on an embedded MLS message (`HandshakeBundle`, `FanoutMessage`), the codec is written by hand.
//! - A `select (protocol)` with only `mls10` is the `Protocol` field followed by the arm's fields; where the
//!   draft selects on a protocol that is not on the wire (`UpdateRequest`, `FanoutMessage`), nothing is
//!   encoded for it.
//! - MLS-message-dependent framing is chosen by wire format, and for PublicMessage by content type
//!   (see [`mls_message`]). Handshakes must be PublicMessages; SemiPrivateMessage is not supported (openmls
//!   lacks it).
//!
//! # Decoding untrusted input
//! Every top-level body implements [`Body`]: decoding takes a byte limit checked before parsing, requires
//! the whole input to be one structure (or, for `/notify`, a counted concatenation:
//! [`decode_concatenation`]), rejects non-canonical encodings (re-encoding must reproduce the input, so
//! what the hub hashes, stores and forwards is exactly what it validated), applies the draft's consistency
//! rules, and reports a [`WireError`] naming the structure and byte offset. Nested lengths are bounded by
//! the input itself (tls_codec reads at most what is present), so memory use is linear in the body size.
//! Nothing panics; a value is returned complete or not at all. Suggested limits:
//! [`DEFAULT_MAX_BODY_LEN`] per request and [`notify::DEFAULT_MAX_FANOUT_MESSAGES`] per `/notify` body.

pub mod abuse;
pub mod client_api;
mod codec;
pub mod components_list;
pub mod consent;
pub mod directory;
mod drafts;
mod error;
pub mod franking;
pub mod group_info;
pub mod identifier;
pub mod key_material;
pub mod labeled;
pub mod last_resort;
pub mod log;
pub mod mls_message;
pub mod notify;
mod primitives;
pub mod ratchet_tree;
pub mod safe_aad;
pub mod submit;
pub mod update;

pub use codec::{decode_concatenation, encode_concatenation, Body};
pub use drafts::{CONTENT_DRAFT, PINNED_DRAFTS, PROTOCOL_DRAFT, ROOM_POLICY_DRAFT};
pub use error::WireError;
pub use primitives::{IdentifierUri, Protocol, Utf8String};

/// Default limit for one request or response body: room for a 10 000-member commit or Welcome with its
/// tree (about 3.3 MB each with openmls and ciphersuite 0x0001) several times over.
pub const DEFAULT_MAX_BODY_LEN: usize = 32 * 1024 * 1024;
