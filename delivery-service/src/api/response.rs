//! Mapping of failures to HTTP responses (one-line, plain-text reasons).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::federation::follower::FollowerError;
use crate::federation::peers::PeerAnswer;
use crate::federation::relay::RelayError;
use crate::hub::HubError;
use crate::provider::ProviderError;
use crate::wire::WireError;

/// A failed request, as the client sees it.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// One line saying what was wrong.
    pub reason: String,
    /// Seconds to wait before retrying (429/503).
    pub retry_after: Option<u32>,
}

impl ApiError {
    /// A failure with a status and reason.
    pub fn new(status: StatusCode, reason: impl Into<String>) -> Self {
        ApiError { status, reason: reason.into().replace('\n', " "), retry_after: None }
    }
}

impl From<WireError> for ApiError {
    fn from(e: WireError) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, e.to_string())
    }
}

impl From<ProviderError> for ApiError {
    fn from(e: ProviderError) -> Self {
        let status = match &e {
            ProviderError::UnknownRoom(_) => StatusCode::NOT_FOUND,
            ProviderError::Forbidden(_) => StatusCode::FORBIDDEN,
            ProviderError::BadRequest(_) | ProviderError::Hub(HubError::BadRoom { .. }) => StatusCode::BAD_REQUEST,
            ProviderError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ProviderError::Hub(_) | ProviderError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        let retry_after = match status {
            StatusCode::TOO_MANY_REQUESTS => Some(60),
            StatusCode::SERVICE_UNAVAILABLE => Some(1),
            _ => None,
        };
        if status == StatusCode::SERVICE_UNAVAILABLE {
            tracing::error!(error = %e, "request failed");
        }
        ApiError { status, reason: e.to_string().replace('\n', " "), retry_after }
    }
}

impl From<FollowerError> for ApiError {
    fn from(e: FollowerError) -> Self {
        match e {
            FollowerError::Decode(_) | FollowerError::Bad { .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, e.to_string())
            }
            FollowerError::NotHub { .. } | FollowerError::NotReader { .. } => {
                ApiError::new(StatusCode::FORBIDDEN, e.to_string())
            }
            FollowerError::Store(s) => ProviderError::Store(s).into(),
        }
    }
}

impl From<RelayError> for ApiError {
    fn from(e: RelayError) -> Self {
        match e {
            RelayError::Peer(_) => {
                tracing::warn!(error = %e, "relay failed");
                ApiError { retry_after: Some(1), ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()) }
            }
            RelayError::Provider(p) => p.into(),
            RelayError::Follower(f) => f.into(),
            RelayError::NotARoom(_) => ApiError::new(StatusCode::BAD_REQUEST, e.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, format!("{}\n", self.reason)).into_response();
        if let Some(secs) = self.retry_after {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        r
    }
}

/// A successful TLS-PL body.
pub(crate) fn octets(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/octet-stream")], body).into_response()
}

/// A peer's answer passed on unchanged: status, body, and `Content-Type`/`Retry-After` if set.
pub(crate) fn passthrough(answer: PeerAnswer) -> Response {
    let mut r = (answer.status, answer.body).into_response();
    for name in [header::CONTENT_TYPE, header::RETRY_AFTER] {
        if let Some(v) = answer.headers.get(&name) {
            r.headers_mut().insert(name, v.clone());
        }
    }
    r
}
