//! `content.json`: the 14 complete example messages of draft-ietf-mimi-content-09 (§5 and Appendix B),
//! with their message IDs.
//!
//! The bytes are the checked-in draft examples of `mimi-content` (`content/tests/vectors/*.hex`, whose
//! README records their source and checks), compiled in. Each entry is decoded by `mimi-content`
//! (strict deterministic CBOR), re-encoded byte for byte, rendered by its `json` module, and its message ID
//! computed over the bytes with the sender and room URIs of extensions 1 and 2, as the draft's examples do.

use mimi_content::{json, DecodeLimits, MimiContent, Received};
use serde_json::{json, Value as Json};

use super::forms::{At, Form};
use super::{check_decodes, entry, Entry, Vector};
use crate::inspect::Structure;
use crate::Error;

/// The examples: name (as in the draft's repository), draft section, hex.
const EXAMPLES: [(&str, &str, &str); 14] = [
    ("original", "5.1", include_str!("../../../content/tests/vectors/original.hex")),
    ("reply", "5.2", include_str!("../../../content/tests/vectors/reply.hex")),
    ("reaction", "5.3", include_str!("../../../content/tests/vectors/reaction.hex")),
    ("mention", "5.4", include_str!("../../../content/tests/vectors/mention.hex")),
    ("mention-html", "5.4", include_str!("../../../content/tests/vectors/mention-html.hex")),
    ("edit", "5.5", include_str!("../../../content/tests/vectors/edit.hex")),
    ("delete", "5.6", include_str!("../../../content/tests/vectors/delete.hex")),
    ("unlike", "5.7", include_str!("../../../content/tests/vectors/unlike.hex")),
    ("expiring", "5.8", include_str!("../../../content/tests/vectors/expiring.hex")),
    ("attachment", "5.9", include_str!("../../../content/tests/vectors/attachment.hex")),
    ("conferencing", "5.10", include_str!("../../../content/tests/vectors/conferencing.hex")),
    ("multipart-1", "B.1", include_str!("../../../content/tests/vectors/multipart-1.hex")),
    ("multipart-2", "B.2", include_str!("../../../content/tests/vectors/multipart-2.hex")),
    ("multipart-3", "B.3", include_str!("../../../content/tests/vectors/multipart-3.hex")),
];

impl Vector for MimiContent {
    const STRUCT: &'static str = "mimiContent";

    fn encode_vector(&self) -> Result<Vec<u8>, Error> {
        Ok(self.encode()?)
    }

    fn decode_vector(bytes: &[u8]) -> Result<Self, Error> {
        Ok(MimiContent::decode(bytes)?)
    }
}

impl Form for MimiContent {
    /// The `mimi-content` JSON form (`fields.content` of `content.json`).
    fn to_json(&self) -> Result<Json, Error> {
        Ok(json::to_json(self))
    }

    fn from_json(at: &At<'_>) -> Result<Self, Error> {
        Ok(json::from_json(at.json())?)
    }
}

/// `mimiContent`, for `mimi-interop decode|encode`.
pub const STRUCTURE: Structure = Structure::of::<MimiContent>();

/// Decodes `bytes` as the structure named `structure` (only `mimiContent`).
pub fn check_struct(structure: &str, bytes: &[u8]) -> Result<(), Error> {
    if structure == MimiContent::STRUCT {
        check_decodes::<MimiContent>(bytes)
    } else {
        Err(Error::UnknownStruct(structure.to_owned()))
    }
}

/// Generates `content.json`.
pub fn generate() -> Result<Vec<Entry>, Error> {
    EXAMPLES
        .iter()
        .map(|(name, section, text)| {
            let bytes = hex::decode(text.trim()).map_err(|source| Error::Hex {
                structure: MimiContent::STRUCT.to_owned(),
                variant: (*name).to_owned(),
                source,
            })?;
            let received = Received::decode(&bytes, None, None, &DecodeLimits::default())?;
            let fields = json!({
                "draftSection": section,
                "messageId": received.id.to_hex(),
                "content": json::to_json(&received.content),
            });
            let made = entry(name, &received.content, fields)?;
            if made.hex != hex::encode(&bytes) {
                return Err(Error::RoundTrip {
                    structure: MimiContent::STRUCT.to_owned(),
                    variant: (*name).to_owned(),
                    reason: "re-encoding differs from the draft's bytes".to_owned(),
                });
            }
            Ok(made.with_note(
                "messageId over these bytes with senderUri = extension 1 and roomUri = extension 2 (draft §4.1)",
            ))
        })
        .collect()
}
