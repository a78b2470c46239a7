//! The crate's single error type.
//!
//! Everything that can go wrong in this crate is one variant of [`Error`]. Decoding and reducer
//! failures say which component and what was wrong; a refused commit carries the [`Refusal`]
//! naming the room-policy rule that failed. Callers (the hub, clients) map these to protocol
//! outcomes: any `Error` on a received commit means the commit must not be merged.

use openmls::component::ComponentId;

use crate::policy::Refusal;
use crate::reducer::Invalid;

/// Every failure of `mimi-appsync`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A component's bytes could not be decoded as the structure the draft defines.
    #[error("component {component:#06x}: cannot decode: {reason}")]
    Decode {
        /// The component whose data (or update) was being decoded.
        component: ComponentId,
        /// What the decoder reported.
        reason: String,
    },
    /// A component's bytes exceed the size limit this crate accepts.
    #[error("component {component:#06x}: {len} bytes exceed the limit of {max}")]
    TooLarge {
        /// The component concerned.
        component: ComponentId,
        /// The length that was offered.
        len: usize,
        /// The limit ([`crate::components::MAX_COMPONENT_SIZE`]).
        max: usize,
    },
    /// A component's value could not be encoded (only possible for absurdly large values).
    #[error("component {component:#06x}: cannot encode: {reason}")]
    Encode {
        /// The component concerned.
        component: ComponentId,
        /// What the encoder reported.
        reason: String,
    },
    /// The AppDataUpdate proposals of a commit are invalid for a component (mls-extensions §4.7
    /// rules or the component's own logic).
    #[error("invalid AppDataUpdate for component {component:#06x}: {reason}")]
    InvalidUpdate {
        /// The component whose updates were refused.
        component: ComponentId,
        /// Why.
        reason: Invalid,
    },
    /// A string that should be a MIMI URI of the named kind is not.
    #[error("invalid {kind} URI {uri:?}: {reason}")]
    InvalidUri {
        /// "client", "user" or "room".
        kind: &'static str,
        /// The offending text (lossy UTF-8).
        uri: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A credential cannot be mapped to a MIMI client (not Basic, or identity not a client URI).
    #[error("credential of {whom} is not a Basic credential with a MIMI client URI: {reason}")]
    InvalidCredential {
        /// Which sender or leaf the credential belongs to.
        whom: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The commit is well formed but the room policy or the room's consistency rules refuse it.
    #[error("not allowed: {0}")]
    NotAllowed(Refusal),
    /// openmls refused an operation this crate asked of it.
    #[error("openmls: {0}")]
    OpenMls(String),
}
