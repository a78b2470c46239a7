//! [`ProviderError`]: why a provider operation failed, sorted by whose fault it is: the caller's
//! (a refusal: 4xx, including a refused registration or credential), the store's (503, retry), another provider's (502), or this server's own
//! (500). Protocol refusals are answers, not errors.

use crate::auth::AuthRefusal;
use crate::hub::admission::{Fault, Internal, QuotaRefusal};
use crate::hub::HubError;
use crate::store::{Compacted, StoreError};

/// Why a provider operation failed (protocol refusals are answers, not errors).
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// No such room here.
    #[error("unknown room {0}")]
    UnknownRoom(String),
    /// The caller may not do this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The request is malformed.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Too many requests; retry later.
    #[error("rate limited: {0}")]
    RateLimited(String),
    /// A quota refused the request (429); nothing changed.
    #[error("quota exceeded: {0}")]
    Quota(QuotaRefusal),
    /// A room could not be created, restored or changed: a bad initial GroupInfo is the caller's
    /// fault, corrupt or unusable room state the hub's.
    #[error(transparent)]
    Hub(#[from] HubError),
    /// A registration or bearer credential refused (see [`crate::auth`]); nothing changed.
    #[error(transparent)]
    Auth(#[from] AuthRefusal),
    /// Persistence failed; nothing was acknowledged.
    #[error(transparent)]
    Store(StoreError),
    /// The reader's cursor is older than what retention kept of the log (410): it rejoins.
    #[error(transparent)]
    Compacted(#[from] Compacted),
    /// Another provider answered something this one cannot use (not the caller's fault).
    #[error("{peer} answered unusably: {why}")]
    Peer {
        /// The other provider's domain.
        peer: String,
        /// What was wrong with its answer.
        why: String,
    },
    /// A fault of this server (key generation, randomness, encoding its own structures, a
    /// poisoned lock, franking): never the caller's.
    #[error("internal fault in {what}: {cause}")]
    Internal {
        /// What was being done.
        what: &'static str,
        /// What went wrong.
        cause: String,
    },
}

impl ProviderError {
    /// An internal fault in `what`.
    pub fn internal(what: &'static str, cause: impl std::fmt::Display) -> Self {
        ProviderError::Internal { what, cause: cause.to_string() }
    }

    /// A lock poisoned by a panic elsewhere.
    pub(crate) fn poisoned(what: &'static str) -> Self {
        ProviderError::Internal { what, cause: "lock poisoned by a panic".into() }
    }
}

impl From<StoreError> for ProviderError {
    /// A write the device's records did not admit is the caller's refusal; any other store failure
    /// is storage trouble.
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Auth(refusal) => ProviderError::Auth(refusal),
            StoreError::Quota(refusal) => ProviderError::Quota(refusal),
            e => ProviderError::Store(e),
        }
    }
}

impl From<Internal> for ProviderError {
    fn from(e: Internal) -> Self {
        ProviderError::Internal { what: e.what, cause: e.cause }
    }
}

impl From<Fault<StoreError>> for ProviderError {
    fn from(e: Fault<StoreError>) -> Self {
        match e {
            Fault::Facts(e) => ProviderError::Store(e),
            Fault::Internal(e) => e.into(),
        }
    }
}
