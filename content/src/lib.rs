//! # mimi-content: the MIMI content format
//!
//! What clients put inside MLS application messages (media type `application/mimi-content`),
//! as specified by draft-ietf-mimi-content-09: a deterministic-CBOR array carrying a salt,
//! message relations (`replaces`, `inReplyTo`), a topic, an expiry, extensions and a recursive
//! body of parts.
//!
//! - [`MimiContent`] and the [`part`] types are the data model, named as in the draft.
//! - [`MimiContent::encode`] writes RFC 8949 §4.2.1 deterministic CBOR; [`MimiContent::decode`]
//!   accepts only that, within [`DecodeLimits`], and reports a typed [`ContentError`] naming the
//!   field path and byte offset on any deviation. It never panics.
//!   [`MimiContent::decode_lenient`] and [`Received::decode_lenient`] also accept the
//!   non-deterministic CBOR peers send (indefinite lengths, long heads, unsorted map keys) and list
//!   each [`Deviation`]; message IDs stay over the received bytes.
//! - [`MessageId`] and [`Received`] compute message IDs over the received bytes (§4.1).
//! - [`builder`] makes what a chat client sends (text, reply, reaction, edit, delete, expiring,
//!   attachment, alternatives); [`render`] picks what a receiver shows and summarises it;
//!   [`validate`] applies the §9.1 plausibility checks that need the current time.
//! - [`json`] is a readable, lossless JSON form used by the `mimi-content` CLI.
//!
//! The crate does no I/O; the delivery service never needs it (it never sees plaintext), the
//! clients and the interop suite do.

#![deny(missing_docs)]

pub mod builder;
mod cbor;
mod codec;
mod error;
mod extensions;
pub mod json;
mod lenient;
mod limits;
mod message;
mod message_id;
pub mod part;
pub mod render;
pub mod validate;

pub use cbor::Value;
pub use error::{ContentError, FieldPath, Segment, Violation};
pub use extensions::{ExtensionKey, Extensions, ROOM_URI, SENDER_URI};
pub use lenient::{Deviation, DeviationKind, Lenient, LenientReceived};
pub use limits::DecodeLimits;
pub use message::{Expiration, MimiContent};
pub use message_id::{MessageId, Received, HASH_SHA256};
pub use part::{Disposition, ExternalPart, MultiPart, NestedPart, PartBody, PartSemantics, SinglePart};

/// The content draft this crate implements.
pub const DRAFT_VERSION: &str = "draft-ietf-mimi-content-09";

/// The media type of MIMI content.
pub const MEDIA_TYPE: &str = "application/mimi-content";
