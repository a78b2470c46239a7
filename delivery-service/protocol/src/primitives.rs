//! Building blocks shared by every endpoint group: [`Protocol`], [`IdentifierUri`] (protocol-06 §5) and
//! [`Utf8String`], our encoding of the draft's undefined `string` type.

use std::fmt;
use std::io::{Read, Write};

use tls_codec::{Deserialize, Serialize, Size, TlsDeserialize, TlsSerialize, TlsSize, VLByteSlice, VLBytes};

/// `enum { reserved(0), mls10(1), (255) } Protocol;` (protocol-06 §5).
///
/// Only `mls10` exists; any other value fails to decode with `UnknownValue`, since the rest of a body
/// that selects on it cannot be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, TlsSerialize, TlsDeserialize, TlsSize)]
#[repr(u8)]
pub enum Protocol {
    /// MLS 1.0 (RFC 9420).
    Mls10 = 1,
}

/// `string`, which protocol-06 uses (`errorDescription`, `fieldName`) but never defines.
/// Encoded as `opaque<V>` holding UTF-8; decoding rejects invalid UTF-8.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Utf8String(pub String);

impl Utf8String {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Utf8String {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl From<String> for Utf8String {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl fmt::Display for Utf8String {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Size for Utf8String {
    fn tls_serialized_len(&self) -> usize {
        VLByteSlice(self.0.as_bytes()).tls_serialized_len()
    }
}

impl Serialize for Utf8String {
    fn tls_serialize<W: Write>(&self, writer: &mut W) -> Result<usize, tls_codec::Error> {
        VLByteSlice(self.0.as_bytes()).tls_serialize(writer)
    }
}

impl Deserialize for Utf8String {
    fn tls_deserialize<R: Read>(bytes: &mut R) -> Result<Self, tls_codec::Error> {
        let raw = VLBytes::tls_deserialize(bytes)?;
        String::from_utf8(raw.into())
            .map(Self)
            .map_err(|_| tls_codec::Error::DecodingError("string is not valid UTF-8".to_owned()))
    }
}

/// `struct { opaque uri<V>; } IdentifierUri;` (protocol-06 §5): a user, client, room or provider URI such
/// as `mimi://a.example/u/alice`. Also used where the draft writes `IdentifierURI` or the undefined
/// `RoomId`. Decoding requires UTF-8; the URI syntax itself is checked by whoever
/// interprets it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct IdentifierUri {
    /// The URI text.
    pub uri: Utf8String,
}

impl IdentifierUri {
    /// Wraps a URI.
    pub fn new(uri: impl Into<String>) -> Self {
        Self { uri: Utf8String(uri.into()) }
    }

    /// The URI text.
    pub fn as_str(&self) -> &str {
        self.uri.as_str()
    }
}

impl fmt::Display for IdentifierUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
