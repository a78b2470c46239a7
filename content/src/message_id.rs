//! Message IDs (draft §4.1): 32 octets that every receiver computes; never sent on the wire
//! except as a reference (`replaces`, `inReplyTo`).
//!
//! ```text
//! hash_input = u16be(len(senderUri)) || senderUri || u16be(len(roomUri)) || roomUri
//!              || message (the received CBOR bytes) || salt
//! messageId  = 0x01 (sha-256) || SHA-256(hash_input)[0..31]
//! ```
//! The hash runs over the *received* bytes, never a re-encoding.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::error::{ContentError, Violation};
use crate::limits::DecodeLimits;
use crate::message::MimiContent;

/// A 32-octet message ID whose first octet names the hash algorithm.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(pub [u8; 32]);

/// Hash algorithm octet of SHA-256 in the IANA Named Information registry.
pub const HASH_SHA256: u8 = 0x01;

impl MessageId {
    /// Computes the ID of `message` (the exact encoded bytes) sent by `sender_uri` in `room_uri`.
    pub fn derive(
        sender_uri: &str,
        room_uri: &str,
        message: &[u8],
        salt: &[u8; 16],
    ) -> Result<MessageId, ContentError> {
        let mut h = Sha256::new();
        for uri in [sender_uri, room_uri] {
            let len = u16::try_from(uri.len()).map_err(|_| ContentError::invalid(Violation::UriTooLong(uri.len())))?;
            h.update(len.to_be_bytes());
            h.update(uri.as_bytes());
        }
        h.update(message);
        h.update(salt);
        Ok(MessageId::from_digest(&h.finalize()))
    }

    /// The ID as draft-ietf-mimi-content-06/-07 computed it (no length prefixes). Not valid
    /// today; it exists to recognise peers still on the old drafts.
    pub fn derive_draft07(sender_uri: &str, room_uri: &str, message: &[u8], salt: &[u8; 16]) -> MessageId {
        let mut h = Sha256::new();
        h.update(sender_uri.as_bytes());
        h.update(room_uri.as_bytes());
        h.update(message);
        h.update(salt);
        MessageId::from_digest(&h.finalize())
    }

    fn from_digest(digest: &[u8]) -> MessageId {
        let mut id = [0u8; 32];
        id[0] = HASH_SHA256;
        id[1..].copy_from_slice(&digest[..31]);
        MessageId(id)
    }

    /// The raw octets.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The hash-algorithm octet.
    pub fn hash_algorithm(&self) -> u8 {
        self.0[0]
    }

    /// Whether the hash algorithm is one this implementation knows (only SHA-256 exists).
    pub fn has_known_algorithm(&self) -> bool {
        self.hash_algorithm() == HASH_SHA256
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(s: &str) -> Result<MessageId, ContentError> {
        let b =
            hex::decode(s.trim()).map_err(|e| ContentError::invalid(Violation::Json(format!("message ID: {e}"))))?;
        let found = b.len();
        b.try_into()
            .map(MessageId)
            .map_err(|_| ContentError::invalid(Violation::WrongByteLength { expected: 32, found }))
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageId({})", self.to_hex())
    }
}

/// A message as a receiver holds it: decoded, with the ID computed over the received bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// The decoded message.
    pub content: MimiContent,
    /// Its ID.
    pub id: MessageId,
}

impl Received {
    /// Decodes `bytes` and computes their ID. The sender and room URIs are the ones the
    /// receiver knows from MLS (the sender's user URI and the room URI); when `None`, they are
    /// taken from extensions 1 and 2, as the draft's examples do.
    pub fn decode(
        bytes: &[u8],
        sender_uri: Option<&str>,
        room_uri: Option<&str>,
        limits: &DecodeLimits,
    ) -> Result<Received, ContentError> {
        let content = MimiContent::decode_with(bytes, limits)?;
        Received::identify(content, bytes, sender_uri, room_uri)
    }

    /// Computes the ID of `content`, decoded from `received` (the bytes as they arrived, whatever
    /// their encoding), with URIs as in [`Received::decode`].
    pub(crate) fn identify(
        content: MimiContent,
        received: &[u8],
        sender_uri: Option<&str>,
        room_uri: Option<&str>,
    ) -> Result<Received, ContentError> {
        let sender = sender_uri.or(content.extensions.sender_uri()).ok_or_else(|| {
            ContentError::rejected(Violation::Nonsensical("no sender URI known (extension 1 absent)".into()))
        })?;
        let room = room_uri.or(content.extensions.room_uri()).ok_or_else(|| {
            ContentError::rejected(Violation::Nonsensical("no room URI known (extension 2 absent)".into()))
        })?;
        let id = MessageId::derive(sender, room, received, &content.salt)?;
        Ok(Received { content, id })
    }
}

impl MimiContent {
    /// Encodes the message and computes its ID, with URIs as in [`Received::decode`].
    pub fn encode_with_id(
        &self,
        sender_uri: Option<&str>,
        room_uri: Option<&str>,
    ) -> Result<(Vec<u8>, MessageId), ContentError> {
        let bytes = self.encode()?;
        let sender = sender_uri.or(self.extensions.sender_uri()).ok_or_else(|| {
            ContentError::invalid(Violation::Nonsensical("no sender URI (extension 1 absent)".into()))
        })?;
        let room = room_uri
            .or(self.extensions.room_uri())
            .ok_or_else(|| ContentError::invalid(Violation::Nonsensical("no room URI (extension 2 absent)".into())))?;
        let id = MessageId::derive(sender, room, &bytes, &self.salt)?;
        Ok((bytes, id))
    }
}
