//! [`ClientError`]: what failed, with the context needed to tell a refusal by the provider from a
//! broken connection or a local MLS failure.

use mimi_protocol::WireError;

use crate::tls::TlsError;

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No answer from the provider (connection refused or cut, timeout): the request may or may
    /// not have been processed.
    #[error("{what}: no answer from the provider: {source}")]
    Transport {
        /// The call.
        what: String,
        /// The transport failure.
        source: reqwest::Error,
    },
    /// The provider answered with an HTTP error; nothing was acknowledged.
    #[error("{what}: HTTP {status}: {reason}")]
    Http {
        /// The call.
        what: String,
        /// The HTTP status code.
        status: u16,
        /// The provider's one-line reason.
        reason: String,
    },
    /// The provider answered with a protocol refusal (`notAllowed`, `invalidProposal`, a
    /// key-material code, …) that retrying cannot fix.
    #[error("{what} refused: {outcome}")]
    Refused {
        /// The operation.
        what: String,
        /// The outcome and the provider's description.
        outcome: String,
    },
    /// A body could not be encoded or decoded.
    #[error("{what}: {source}")]
    Wire {
        /// The call.
        what: String,
        /// The codec error.
        source: WireError,
    },
    /// An answer was well-formed but not what the protocol allows here.
    #[error("{what}: {why}")]
    Protocol {
        /// The call or structure.
        what: String,
        /// What was wrong.
        why: String,
    },
    /// openmls refused a local operation (building, processing or merging).
    #[error("MLS {what}: {why}")]
    Mls {
        /// The operation.
        what: String,
        /// openmls' error.
        why: String,
    },
    /// Room state (participant list, policy components) could not be built or read.
    #[error(transparent)]
    AppSync(#[from] mimi_appsync::error::Error),
    /// A MIMI content message could not be built or encoded.
    #[error(transparent)]
    Content(#[from] mimi_content::ContentError),
    /// The TLS trust anchors or the HTTPS client could not be set up.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The client is not (or no longer) a member of the room.
    #[error("not a member of {0}")]
    NotInRoom(String),
    /// The room log contradicted the client's state (a gap without an own submission, an entry
    /// of an unexpected epoch, an acknowledged submission missing from the log).
    #[error("inbox of {room}: {why}")]
    Inbox {
        /// The room.
        room: String,
        /// What was inconsistent.
        why: String,
    },
    /// Something the room log or the Welcome queue should have brought did not arrive in time
    /// (e.g. a follower waiting for the hub's fanout).
    #[error("{client}: timed out after {after:?} waiting for {what}")]
    Timeout {
        /// The waiting client.
        client: String,
        /// What it waited for.
        what: String,
        /// How long it waited.
        after: std::time::Duration,
    },
    /// A commit was refused because of racing commits more often than the retry budget allows.
    #[error("{what}: gave up after {attempts} attempts lost to racing commits")]
    TooManyRetries {
        /// The operation.
        what: String,
        /// Attempts made.
        attempts: usize,
    },
}

impl ClientError {
    /// Whether the request may have been processed without the client learning the outcome.
    pub fn is_in_doubt(&self) -> bool {
        matches!(self, ClientError::Transport { .. })
    }

    /// A codec failure while encoding `what` (for `map_err`).
    pub(crate) fn wire(what: &str) -> impl Fn(WireError) -> Self + '_ {
        move |source| ClientError::Wire { what: what.to_owned(), source }
    }

    /// An openmls failure during `what`.
    pub(crate) fn mls(what: &str, e: impl std::fmt::Debug) -> Self {
        ClientError::Mls { what: what.to_owned(), why: format!("{e:?}") }
    }
}
