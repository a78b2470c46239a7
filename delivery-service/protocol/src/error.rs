//! [`WireError`]: everything that can go wrong turning bytes into protocol-06 structures and back,
//! including the signature and HPKE checks the draft attaches to some of them.
//!
//! Each variant names the structure concerned (`what`, the draft's struct name) so an HTTP layer can
//! answer 400 with a one-line reason and a log line says where the problem was.

use openmls_traits::types::CryptoError;

/// Error from the `wire` module.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WireError {
    /// The body is longer than the limit the caller allows for it (HTTP 413).
    #[error("{what}: body of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Draft struct name of the body.
        what: &'static str,
        /// Length received.
        len: usize,
        /// Limit in force.
        limit: usize,
    },
    /// The body is empty where at least one structure is required.
    #[error("{what}: empty body")]
    Empty {
        /// Draft struct name of the body.
        what: &'static str,
    },
    /// The bytes do not follow the structure's TLS presentation-language grammar (truncated, unknown enum
    /// value, vector length overrunning its container, invalid UTF-8, …).
    #[error("{what}: malformed at or before byte {offset}: {source}")]
    Decode {
        /// Draft struct name of the structure being decoded.
        what: &'static str,
        /// Offset into the decoded bytes where the decoder stopped.
        offset: usize,
        /// The codec's own description.
        source: tls_codec::Error,
    },
    /// Bytes remain after a complete structure.
    #[error("{what}: {trailing} trailing bytes after a complete structure")]
    TrailingData {
        /// Draft struct name of the body.
        what: &'static str,
        /// Number of unread bytes.
        trailing: usize,
    },
    /// The bytes decode, but re-encoding the result does not give them back (for example a presence byte
    /// other than 0 or 1). Only canonical encodings are accepted, so that what a hub forwards and hashes is
    /// exactly what it validated.
    #[error("{what}: encoding is not canonical")]
    NonCanonical {
        /// Draft struct name of the structure.
        what: &'static str,
    },
    /// A structure could not be encoded (a vector over the MLS varint maximum, or a value whose parts
    /// contradict each other, such as a commit framed as a proposal).
    #[error("{what}: cannot encode: {source}")]
    Encode {
        /// Draft struct name of the structure.
        what: &'static str,
        /// The codec's own description.
        source: tls_codec::Error,
    },
    /// An embedded MLSMessage has a wire format this position does not allow. For an `UpdateRequest`
    /// whose handshake is a PrivateMessage the hub answers `notAllowed` rather than 400: the body is
    /// well-formed, the hub just cannot validate such a handshake.
    #[error("{what}: an MLS {found} is not allowed here (expected {expected})")]
    UnexpectedWireFormat {
        /// Draft struct name of the containing structure.
        what: &'static str,
        /// What the position accepts.
        expected: &'static str,
        /// The wire format found (`PublicMessage`, `Welcome`, …).
        found: String,
    },
    /// The parts of a structure break a rule of the draft that the grammar alone does not capture.
    #[error("{what}: {rule}")]
    Inconsistent {
        /// Draft struct name of the structure.
        what: &'static str,
        /// The rule that is broken.
        rule: &'static str,
    },
    /// A `/notify` body holds more FanoutMessages than the caller allows.
    #[error("{what}: more than {limit} concatenated messages")]
    TooManyMessages {
        /// Draft struct name of the repeated structure.
        what: &'static str,
        /// Limit in force.
        limit: usize,
    },
    /// A signature (`SignWithLabel`) does not verify.
    #[error("{what}: signature does not verify")]
    BadSignature {
        /// Draft struct name of the signed (TBS) structure.
        what: &'static str,
    },
    /// A cryptographic operation failed (signing, HPKE seal or open, HMAC).
    #[error("{what}: {operation} failed: {source}")]
    Crypto {
        /// Draft struct name concerned.
        what: &'static str,
        /// The operation (`sign`, `hpke seal`, `hpke open`, `hmac`).
        operation: &'static str,
        /// The provider's error.
        source: CryptoError,
    },
    /// The endpoint directory document or a URL built from it is unusable.
    #[error("directory: {0}")]
    Directory(String),
}
