//! Lenient receive mode: decodes what peers actually send when their CBOR library does not
//! produce deterministic CBOR, and says what was off.
//!
//! A peer may send indefinite-length strings, arrays or maps, integers and lengths in longer heads
//! than needed, or map keys in its own order (insertion order, text keys before integer keys).
//! [`MimiContent::decode_lenient`] rewrites those three freedoms into the deterministic encoding,
//! lists each one as a [`Deviation`] at the byte where the peer's item starts, and then applies the
//! strict decoder to the rewrite: every other rule (types, lengths, duplicate keys, preferred
//! floats, limits) is enforced exactly as in [`MimiContent::decode`], which keeps rejecting all of
//! these inputs. Errors name offsets in the received bytes.
//!
//! The message ID is computed over the bytes as received (draft §4.1), never over the rewrite:
//! [`Received::decode_lenient`] hashes its input, so a reply or reaction refers to the same ID as
//! every other receiver computes.

use std::fmt;

use crate::cbor::normalize;
use crate::error::ContentError;
use crate::limits::DecodeLimits;
use crate::message::MimiContent;
use crate::message_id::Received;

/// One encoding freedom the sender took, at the offset (in the received bytes) of the item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deviation {
    /// Offset of the item's initial byte in the received bytes.
    pub offset: usize,
    /// What was not deterministic about it.
    pub kind: DeviationKind,
}

/// What a [`Deviation`] is (RFC 8949 §4.2.1 rules broken).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviationKind {
    /// An integer or tag number in a longer head than its value needs.
    NonShortestInteger,
    /// A string, array or map length in a longer head than its value needs.
    NonShortestLength,
    /// An indefinite-length item (`item`: byte string, text string, array or map).
    IndefiniteLength {
        /// The item's CBOR type.
        item: &'static str,
    },
    /// A map whose keys are not in bytewise order of their encodings.
    UnsortedMapKeys,
}

impl fmt::Display for DeviationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviationKind::NonShortestInteger => f.write_str("non-shortest integer encoding"),
            DeviationKind::NonShortestLength => f.write_str("non-shortest length encoding"),
            DeviationKind::IndefiniteLength { item } => write!(f, "indefinite-length {item}"),
            DeviationKind::UnsortedMapKeys => f.write_str("map keys not in bytewise order"),
        }
    }
}

impl fmt::Display for Deviation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "byte {}: {}", self.offset, self.kind)
    }
}

/// A message decoded leniently.
#[derive(Debug, Clone, PartialEq)]
pub struct Lenient {
    /// The decoded message.
    pub content: MimiContent,
    /// Every deviation from deterministic CBOR, in input order (empty for a deterministic input).
    pub deviations: Vec<Deviation>,
    /// The deterministic encoding of the message (what [`MimiContent::encode`] gives). Not for
    /// hashing: message IDs are over the received bytes.
    pub canonical: Vec<u8>,
}

/// A message as a lenient receiver holds it: decoded, with its ID over the received bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct LenientReceived {
    /// The message and its ID (over the received bytes).
    pub received: Received,
    /// Every deviation from deterministic CBOR, in input order.
    pub deviations: Vec<Deviation>,
    /// The deterministic encoding of the message.
    pub canonical: Vec<u8>,
}

impl MimiContent {
    /// Decodes a message that may be non-deterministic CBOR (see the module docs), within `limits`.
    pub fn decode_lenient(bytes: &[u8], limits: &DecodeLimits) -> Result<Lenient, ContentError> {
        limits.check_message_size(bytes.len())?;
        // The message array, a NestedPart and a MultiPart's parts per part level, the extensions;
        // deeper input is refused by the strict decoder anyway.
        let max_depth = 2 * limits.max_part_depth + limits.max_extension_depth + 4;
        let normalized = normalize::normalize(bytes, max_depth)?;
        let content = MimiContent::decode_with(&normalized.bytes, limits).map_err(|mut e| {
            if let ContentError::Malformed { offset, .. } = &mut e {
                *offset = normalized.input_offset(*offset);
            }
            e
        })?;
        Ok(Lenient { content, deviations: normalized.deviations, canonical: normalized.bytes })
    }
}

impl Received {
    /// Decodes `bytes` leniently and computes the message ID over `bytes` as received; URIs as
    /// in [`Received::decode`].
    pub fn decode_lenient(
        bytes: &[u8],
        sender_uri: Option<&str>,
        room_uri: Option<&str>,
        limits: &DecodeLimits,
    ) -> Result<LenientReceived, ContentError> {
        let Lenient { content, deviations, canonical } = MimiContent::decode_lenient(bytes, limits)?;
        let received = Received::identify(content, bytes, sender_uri, room_uri)?;
        Ok(LenientReceived { received, deviations, canonical })
    }
}
