//! The crate's single error type.
//!
//! Each part of the crate keeps a precise error enum of its own (for example [`WireError`] for codecs) and
//! contributes it here as one variant, so callers that cross module boundaries (the HTTP layer, the
//! binary) handle one type, while code inside a module matches on its own variants.

use mimi_protocol::WireError;

/// Any error produced by `mimi-ds`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Encoding, decoding or cryptographically checking a protocol-06 structure failed.
    #[error(transparent)]
    Wire(#[from] WireError),
}
