//! [`Error`]: everything that can go wrong generating, writing, reading or checking vectors, and decoding
//! or encoding a structure by name (`mimi-interop decode|encode`).

use std::path::PathBuf;

/// The crate's error type.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A protocol-06 structure could not be encoded or decoded by `mimi-ds`.
    #[error("{0}")]
    Wire(#[from] mimi_protocol::WireError),
    /// A room-state component or policy input was refused by `mimi-appsync`.
    #[error("{0}")]
    Appsync(#[from] mimi_appsync::Error),
    /// A content message was refused by `mimi-content`.
    #[error("{0}")]
    Content(#[from] mimi_content::ContentError),
    /// A structure without a `Body` codec failed in `tls_codec`.
    #[error("{structure}: {source}")]
    Tls {
        /// The draft's name of the structure.
        structure: &'static str,
        /// The codec's description.
        source: tls_codec::Error,
    },
    /// Building the MLS objects (group, commit, Welcome, …) for the vectors failed in openmls.
    #[error("generating MLS objects: {0}")]
    Generate(String),
    /// A generated value does not survive encoding and decoding unchanged.
    #[error("{structure} ({variant}): {reason}")]
    RoundTrip {
        /// The draft's name of the structure.
        structure: String,
        /// The entry's variant label.
        variant: String,
        /// What differed.
        reason: String,
    },
    /// Bytes given as a structure do not decode as it (`mimi-interop decode`).
    #[error("{structure}: {}{reason}", offset.map(|o| format!("at byte {o}: ")).unwrap_or_default())]
    Decode {
        /// The structure's name.
        structure: String,
        /// Where in the bytes decoding stopped, when the failure has a position (a rule broken by the
        /// structure as a whole has none).
        offset: Option<usize>,
        /// What was wrong there.
        reason: String,
    },
    /// A JSON form does not describe a value of its structure (`mimi-interop encode`).
    #[error("{structure}: {path}: {problem}")]
    Form {
        /// The structure's name.
        structure: String,
        /// Where in the JSON (`$.clients[0].clientUri`).
        path: String,
        /// What is wrong there.
        problem: String,
    },
    /// A vector names a structure this crate has no decoder for.
    #[error("no decoder for struct {0:?}")]
    UnknownStruct(String),
    /// A vector's `hex` is not lowercase hex.
    #[error("{structure} ({variant}): hex: {source}")]
    Hex {
        /// The entry's struct name.
        structure: String,
        /// The entry's variant label.
        variant: String,
        /// The hex decoder's description.
        source: hex::FromHexError,
    },
    /// Something the generator does not implement.
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    /// Reading or writing a vector file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A vector file is not a JSON array of entries.
    #[error("{}: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's description.
        source: serde_json::Error,
    },
}
