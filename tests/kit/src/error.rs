//! What can go wrong in the kit: one enum, so that code that is not a test (the conformance suite)
//! can drive the kit's clients and report a failure instead of panicking. openmls' many error types
//! are kept as text with the step that failed; the MIMI layers' errors are kept whole.

use mimi_appsync::policy::Refusal;

/// A failure of a kit client or helper.
#[derive(Debug, thiserror::Error)]
pub enum KitError {
    /// openmls could not build or process something.
    #[error("MLS ({what}): {why}")]
    Mls {
        /// The step that failed.
        what: &'static str,
        /// openmls' description.
        why: String,
    },
    /// The room layer failed: a URI, an app-data component, the room state or a policy check.
    #[error(transparent)]
    AppSync(#[from] mimi_appsync::Error),
    /// Converting what openmls built into a protocol-06 structure failed.
    #[error(transparent)]
    Wire(#[from] mimi_protocol::WireError),
    /// The step needs an active member of the room.
    #[error("{what}: {client} is not in the room")]
    NotInRoom {
        /// The step.
        what: &'static str,
        /// The client's URI.
        client: String,
    },
    /// A member's policy check refused a commit (as every member checks before merging).
    #[error("{client} refused a commit: {refusal}")]
    Refused {
        /// The client's URI.
        client: String,
        /// The rule that failed.
        refusal: Refusal,
    },
    /// A message is not of the kind the step takes.
    #[error("{what}: not {expected}")]
    Unexpected {
        /// The step.
        what: &'static str,
        /// What it takes.
        expected: &'static str,
    },
}

/// Maps an openmls failure in step `what` (for `map_err`).
pub(crate) fn mls<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> KitError {
    move |why| KitError::Mls { what, why: why.to_string() }
}
