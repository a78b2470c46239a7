//! Bounded, canonical decoding and encoding of whole protocol-06 bodies.
//!
//! The derived `tls_codec` impls describe each structure's grammar; this module adds what untrusted
//! input needs on top: a length limit checked before any parsing, exactly one structure per body (or a
//! counted concatenation for `/notify`), a canonicality check (re-encoding must give the input back), the
//! draft's consistency rules ([`Body::check`]), and errors that name the structure and the byte offset.
//! Decoding never panics and returns either a complete, checked value or an error — nothing partial.

use tls_codec::{Deserialize, Serialize};

use super::WireError;

/// A protocol-06 structure that travels as (part of) an HTTP body, or is encrypted or signed as a whole.
pub trait Body: Serialize + Deserialize + Sized {
    /// The draft's name for the structure, used in errors.
    const NAME: &'static str;

    /// Checks the draft's rules that the TLS grammar cannot express. Run after every decode; the default
    /// has none.
    fn check(&self) -> Result<(), WireError> {
        Ok(())
    }

    /// Decodes exactly one structure filling all of `bytes`, refusing bodies longer than `max_len`.
    fn decode(bytes: &[u8], max_len: usize) -> Result<Self, WireError> {
        decode_exact(bytes, max_len)
    }

    /// Encodes the structure (after the same [`Body::check`] a receiver applies).
    fn encode(&self) -> Result<Vec<u8>, WireError> {
        self.check()?;
        self.tls_serialize_detached().map_err(|source| WireError::Encode { what: Self::NAME, source })
    }
}

/// Decodes exactly one `T` filling all of `bytes` (the default [`Body::decode`]).
pub(crate) fn decode_exact<T: Body>(bytes: &[u8], max_len: usize) -> Result<T, WireError> {
    if bytes.len() > max_len {
        return Err(WireError::TooLarge { what: T::NAME, len: bytes.len(), limit: max_len });
    }
    let (value, consumed) = decode_prefix::<T>(bytes)?;
    if consumed != bytes.len() {
        return Err(WireError::TrailingData { what: T::NAME, trailing: bytes.len() - consumed });
    }
    Ok(value)
}

/// Decodes one structure from the start of `bytes`; returns it and the number of bytes it took.
pub(crate) fn decode_prefix<T: Body>(bytes: &[u8]) -> Result<(T, usize), WireError> {
    let mut cursor = bytes;
    let value = T::tls_deserialize(&mut cursor).map_err(|source| WireError::Decode {
        what: T::NAME,
        offset: bytes.len() - cursor.len(),
        source,
    })?;
    let consumed = bytes.len() - cursor.len();
    let canonical = value.tls_serialize_detached().map_err(|source| WireError::Encode { what: T::NAME, source })?;
    if canonical != bytes[..consumed] {
        return Err(WireError::NonCanonical { what: T::NAME });
    }
    value.check()?;
    Ok((value, consumed))
}

/// Decodes a body made of one or more concatenated structures (the `/notify` body, protocol-06 §5.5),
/// refusing more than `max_count` of them or more than `max_len` bytes in total.
pub fn decode_concatenation<T: Body>(bytes: &[u8], max_len: usize, max_count: usize) -> Result<Vec<T>, WireError> {
    if bytes.len() > max_len {
        return Err(WireError::TooLarge { what: T::NAME, len: bytes.len(), limit: max_len });
    }
    if bytes.is_empty() {
        return Err(WireError::Empty { what: T::NAME });
    }
    let mut rest = bytes;
    let mut out = Vec::new();
    while !rest.is_empty() {
        if out.len() == max_count {
            return Err(WireError::TooManyMessages { what: T::NAME, limit: max_count });
        }
        let offset = bytes.len() - rest.len();
        let (value, consumed) = decode_prefix::<T>(rest).map_err(|e| shift_offset(e, offset))?;
        out.push(value);
        rest = &rest[consumed..];
    }
    Ok(out)
}

/// Encodes structures back to back, the inverse of [`decode_concatenation`].
pub fn encode_concatenation<T: Body>(items: &[T]) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::new();
    for item in items {
        out.extend_from_slice(&item.encode()?);
    }
    Ok(out)
}

/// Makes a decode offset relative to the whole body rather than to one element of a concatenation.
fn shift_offset(error: WireError, by: usize) -> WireError {
    match error {
        WireError::Decode { what, offset, source } => WireError::Decode { what, offset: offset + by, source },
        other => other,
    }
}
