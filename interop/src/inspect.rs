//! Any structure of the published vectors, by name, between its bytes and its JSON form: what
//! `mimi-interop decode <Struct> <hex|FILE|->` and `mimi-interop encode <Struct> <JSON FILE|->` run.
//!
//! The JSON form is the one the vectors publish ([`Form`]): for wire structures the entry's `fields`
//! plus the encoding of each embedded MLS object under `"tls"`; for `ParticipantListData` and
//! `ParticipantListUpdate` (concatenated updates) the list and update renderings of
//! `participant_list.json`; for `mimiContent` the `mimi-content` JSON of `content.json`'s
//! `fields.content`. `RoomPolicyDecision` entries carry a `ParticipantListData` and decode as one.
//! Encoding the printed JSON gives the input bytes back exactly.
//!
//! Decoding applies the same checks as the vectors' decoders (bounded, canonical, the draft's rules);
//! a failure names the structure and, where it has one, the byte offset.

use mimi_protocol::WireError;
use serde_json::Value as Json;
use tls_codec::Deserialize;

use crate::vectors::forms::{At, Form};
use crate::vectors::{content, participant_list, room_policy, wire};
use crate::Error;

/// A structure `decode` and `encode` know.
#[derive(Clone, Copy)]
pub struct Structure {
    /// Its name, as in the vectors' `struct`.
    pub name: &'static str,
    decode: fn(&[u8]) -> Result<Json, Error>,
    encode: fn(&Json) -> Result<Vec<u8>, Error>,
}

impl std::fmt::Debug for Structure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Structure").field("name", &self.name).finish_non_exhaustive()
    }
}

impl Structure {
    /// The structure `T` under its own name.
    pub const fn of<T: Form>() -> Self {
        Structure::named::<T>(T::STRUCT)
    }

    /// The structure `T` under another name (an entry kind whose `hex` is a `T`).
    pub const fn named<T: Form>(name: &'static str) -> Self {
        Structure { name, decode: decode_as::<T>, encode: encode_as::<T> }
    }

    /// Decodes exactly `bytes` and returns the JSON form.
    pub fn decode(&self, bytes: &[u8]) -> Result<Json, Error> {
        (self.decode)(bytes)
    }

    /// Builds the value from its JSON form and encodes it.
    pub fn encode(&self, json: &Json) -> Result<Vec<u8>, Error> {
        (self.encode)(json)
    }
}

/// Every structure: the wire bodies (our client API's last), the nested wire structures, the
/// participant-list structures, `RoomPolicyDecision` and `mimiContent`.
pub fn structures() -> Vec<Structure> {
    let mut all = wire::STRUCTURES.to_vec();
    all.extend_from_slice(participant_list::STRUCTURES);
    all.push(room_policy::STRUCTURE);
    all.push(content::STRUCTURE);
    all
}

/// The structure called `name` (exact spelling).
pub fn find(name: &str) -> Result<Structure, Error> {
    structures().into_iter().find(|s| s.name == name).ok_or_else(|| Error::UnknownStruct(name.to_owned()))
}

fn decode_as<T: Form>(bytes: &[u8]) -> Result<Json, Error> {
    let value = T::decode_vector(bytes).map_err(|e| located(T::STRUCT, bytes.len(), e))?;
    let again = value.encode_vector()?;
    if again != bytes {
        // Our decoders only accept canonical encodings; this is a last guard.
        let first = again.iter().zip(bytes).position(|(a, b)| a != b).unwrap_or(again.len().min(bytes.len()));
        return Err(Error::Decode {
            structure: T::STRUCT.to_owned(),
            offset: Some(first),
            reason: "not the canonical encoding (re-encoding differs from here on)".to_owned(),
        });
    }
    value.to_json()
}

fn encode_as<T: Form>(json: &Json) -> Result<Vec<u8>, Error> {
    T::from_json(&At::root(T::STRUCT, json))?.encode_vector()
}

/// A decoder's error as [`Error::Decode`], with the byte offset where it has one.
fn located(structure: &'static str, len: usize, error: Error) -> Error {
    let (offset, reason) = match &error {
        Error::Wire(WireError::Decode { offset, source, .. }) => (Some(*offset), malformed(source)),
        Error::Wire(WireError::TrailingData { trailing, .. }) => {
            (Some(len - trailing), format!("{trailing} trailing bytes after a complete structure"))
        }
        Error::Wire(WireError::TooLarge { .. }) => (Some(0), error.to_string()),
        Error::Content(mimi_content::ContentError::Malformed { path, offset, violation }) => {
            (Some(*offset), format!("{path}: {violation}"))
        }
        Error::Decode { .. } => return error,
        other => (None, other.to_string()),
    };
    // The structure is named once, by Error::Decode.
    let reason = reason.strip_prefix(&format!("{structure}: ")).map(str::to_owned).unwrap_or(reason);
    Error::Decode { structure: structure.to_owned(), offset, reason }
}

/// What tls_codec found wrong, in words.
fn malformed(error: &tls_codec::Error) -> String {
    match error {
        tls_codec::Error::EndOfStream => "the input ends inside the structure".to_owned(),
        tls_codec::Error::UnknownValue(value) => format!("unknown value {value}"),
        tls_codec::Error::InvalidVectorLength => "invalid vector length".to_owned(),
        tls_codec::Error::DecodingError(reason) => format!("malformed: {reason}"),
        other => format!("malformed: {other:?}"),
    }
}

/// Decodes exactly one `T` with tls_codec, reporting where it stopped.
pub fn decode_tls_exact<T: Deserialize>(bytes: &[u8], what: &'static str) -> Result<T, Error> {
    let mut rest = bytes;
    let value = T::tls_deserialize(&mut rest).map_err(|source| WireError::Decode {
        what,
        offset: bytes.len() - rest.len(),
        source,
    })?;
    if !rest.is_empty() {
        return Err(WireError::TrailingData { what, trailing: rest.len() }.into());
    }
    Ok(value)
}

/// `text` read as hex (white space ignored, an optional `0x`), or `None` when it holds anything but
/// hex digits.
pub fn hex_text(text: &[u8]) -> Option<Result<Vec<u8>, hex::FromHexError>> {
    let digits: Vec<u8> = text.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
    let digits = digits.strip_prefix(b"0x").unwrap_or(&digits);
    (!digits.is_empty() && digits.iter().all(u8::is_ascii_hexdigit)).then(|| hex::decode(digits))
}

/// The bytes of `decode`'s standard input: hex if it is nothing but hex ([`hex_text`]), the raw
/// bytes otherwise.
pub fn bytes_of_input(content: &[u8]) -> Result<Vec<u8>, hex::FromHexError> {
    hex_text(content).unwrap_or_else(|| Ok(content.to_vec()))
}
