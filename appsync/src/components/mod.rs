//! The MIMI app-data components carried in the GroupContext `app_data_dictionary`.
//!
//! Each submodule holds the TLS-PL structures of one component exactly as the draft defines them
//! (tls_codec derives, `<V>` vectors as MLS variable-length vectors) plus the semantic checks the
//! structure needs. This module holds what they share: the pinned component IDs (docs/DESIGN.md §3),
//! the GREASE and private-range classification, the size limit, and the [`Component`] trait that
//! decodes strictly (size limit, whole input consumed, canonical re-encoding) and never panics.

pub mod base_policy;
pub mod participant_list;
pub mod preauth;
pub mod roles;
pub mod room_metadata;

use openmls::component::ComponentId;
use tls_codec::{DeserializeBytes, Serialize, Size};

use crate::error::Error;
use crate::reducer::Invalid;

/// `participant_list` (protocol-06 §7.5, IANA).
pub const PARTICIPANT_LIST: ComponentId = 0x0022;
/// `room_metadata` (protocol-06 §7.6, IANA).
pub const ROOM_METADATA: ComponentId = 0x0023;
/// `roles_list` (room-policy-04 §2, suggested value).
pub const ROLES_LIST: ComponentId = 0x0025;
/// `preauth_list` (room-policy-04 §3, suggested value).
pub const PREAUTH_LIST: ComponentId = 0x0026;
/// `base_room_policy` (room-policy-04 §4, suggested value).
pub const BASE_ROOM_POLICY: ComponentId = 0x0027;

/// Largest component value (dictionary entry or AppDataUpdate payload) accepted, in bytes.
///
/// A 10k-participant list with 100-byte URIs is about 1 MB; anything above this is refused
/// before decoding.
pub const MAX_COMPONENT_SIZE: usize = 4 << 20;

/// How this crate treats a component ID it finds in a dictionary or an AppDataUpdate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComponentClass {
    /// One of the five MIMI components this crate implements.
    Mimi,
    /// A GREASE value (`0x0A0A`, `0x1A1A`, …, `0xEAEA`): ignored.
    Grease,
    /// Private-use range `0x8000..=0xFFFF` (not GREASE): carried opaquely.
    Private,
    /// Anything else: not understood, so an AppDataUpdate for it is invalid.
    Unknown,
}

pub use mimi_protocol::components_list::is_grease;

/// Classifies a component ID.
pub fn classify(id: ComponentId) -> ComponentClass {
    match id {
        PARTICIPANT_LIST | ROOM_METADATA | ROLES_LIST | PREAUTH_LIST | BASE_ROOM_POLICY => ComponentClass::Mimi,
        _ if is_grease(id) => ComponentClass::Grease,
        0x8000.. => ComponentClass::Private,
        _ => ComponentClass::Unknown,
    }
}

/// A component value with a fixed component ID and strict, panic-free decoding.
pub trait Component: Sized + Serialize + DeserializeBytes + Size {
    /// The component ID under which this value lives in the dictionary.
    const ID: ComponentId;

    /// Semantic checks beyond the wire syntax (UTF-8, uniqueness, …). Default: none.
    fn validate(&self) -> Result<(), Invalid> {
        Ok(())
    }

    /// Decodes `bytes`: at most [`MAX_COMPONENT_SIZE`], all bytes consumed, canonical encoding
    /// (re-encoding yields the same bytes, so client and hub store identical values), then
    /// [`Component::validate`].
    fn decode(bytes: &[u8]) -> Result<Self, Error> {
        decode_struct(Self::ID, bytes).and_then(|v: Self| {
            v.validate().map_err(|reason| Error::InvalidUpdate { component: Self::ID, reason })?;
            Ok(v)
        })
    }

    /// Encodes the value as the dictionary stores it.
    fn encode(&self) -> Result<Vec<u8>, Error> {
        encode_struct(Self::ID, self)
    }
}

/// Strict decoding of any TLS-PL struct belonging to `component` (see [`Component::decode`]).
pub(crate) fn decode_struct<T: DeserializeBytes + Serialize>(component: ComponentId, bytes: &[u8]) -> Result<T, Error> {
    if bytes.len() > MAX_COMPONENT_SIZE {
        return Err(Error::TooLarge { component, len: bytes.len(), max: MAX_COMPONENT_SIZE });
    }
    let value =
        T::tls_deserialize_exact_bytes(bytes).map_err(|e| Error::Decode { component, reason: e.to_string() })?;
    let again = encode_struct(component, &value)?;
    if again != bytes {
        return Err(Error::Decode { component, reason: "non-canonical encoding".into() });
    }
    Ok(value)
}

/// Encodes any TLS-PL struct belonging to `component`.
pub(crate) fn encode_struct<T: Serialize>(component: ComponentId, value: &T) -> Result<Vec<u8>, Error> {
    value.tls_serialize_detached().map_err(|e| Error::Encode { component, reason: e.to_string() })
}

/// Encodes a TLS-PL struct, panicking on failure: for tests and fixtures only.
#[doc(hidden)]
pub fn encode_struct_for_tests<T: Serialize>(component: ComponentId, value: &T) -> Vec<u8> {
    match encode_struct(component, value) {
        Ok(bytes) => bytes,
        Err(e) => panic!("{e}"),
    }
}

/// The TLS-PL `bool` of room-policy-04 (`enum { false(0), true(1) } bool;`); any other byte is
/// a decoding error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Bool(pub bool);

impl Size for Bool {
    fn tls_serialized_len(&self) -> usize {
        1
    }
}

impl Serialize for Bool {
    fn tls_serialize<W: std::io::Write>(&self, writer: &mut W) -> Result<usize, tls_codec::Error> {
        u8::from(self.0).tls_serialize(writer)
    }
}

impl DeserializeBytes for Bool {
    fn tls_deserialize_bytes(bytes: &[u8]) -> Result<(Self, &[u8]), tls_codec::Error> {
        let (b, rest) = u8::tls_deserialize_bytes(bytes)?;
        match b {
            0 => Ok((Bool(false), rest)),
            1 => Ok((Bool(true), rest)),
            other => Err(tls_codec::Error::DecodingError(format!("bool value {other}"))),
        }
    }
}

/// Checks that `bytes` are UTF-8 without NUL characters (the drafts' `UTF8String` rule).
pub(crate) fn check_utf8(bytes: &[u8], what: &'static str) -> Result<(), Invalid> {
    match std::str::from_utf8(bytes) {
        Ok(s) if !s.contains('\0') => Ok(()),
        _ => Err(Invalid::BadText(what)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grease_and_classes() {
        for g in [0x0a0a, 0x1a1a, 0x7a7a, 0x8a8a, 0xeaea] {
            assert!(is_grease(g), "{g:#x}");
            assert_eq!(classify(g), ComponentClass::Grease);
        }
        for n in [0x0a1a, 0xfafa, 0x0022, 0x8000] {
            assert!(!is_grease(n), "{n:#x}");
        }
        assert_eq!(classify(0x0022), ComponentClass::Mimi);
        assert_eq!(classify(0x0024), ComponentClass::Unknown);
        assert_eq!(classify(0x8001), ComponentClass::Private);
        assert_eq!(classify(0xfafa), ComponentClass::Private);
    }

    #[test]
    fn bool_is_strict() {
        assert_eq!(Bool::tls_deserialize_exact_bytes(&[1]).unwrap(), Bool(true));
        assert!(Bool::tls_deserialize_exact_bytes(&[2]).is_err());
        assert!(Bool::tls_deserialize_exact_bytes(&[]).is_err());
    }
}
