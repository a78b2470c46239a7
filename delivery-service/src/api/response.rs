//! Mapping of failures to HTTP responses (one-line, plain-text reasons).
//!
//! Whose fault it is decides the answer. A caller's mistake is a 4xx whose body says what was
//! wrong: 400 undecodable or malformed, 401 no or a refused credential, 403 not allowed, 404
//! unknown, 409 a device name that is taken, 410 a log cursor older than what retention kept (the
//! client rejoins by external commit), 422 a report that does not verify, 429 rate limited
//! or refused by a quota (`Retry-After: 60`). A fault of the server is a 5xx, logged at error
//! level with the request's id ([`RequestId`]), which the answer carries in `x-request-id`: 500
//! for the server's own faults (its body only `internal error (request <id>)`: the cause stays in
//! the log), 502 for another provider's unusable answer, 503 for storage trouble or an
//! unreachable peer (`Retry-After: 1`).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::request_id::{RequestId, REQUEST_ID_HEADER};
use crate::auth::AuthRefusal;
use crate::federation::follower::FollowerError;
use crate::federation::peers::PeerAnswer;
use crate::federation::peers::PeerError;
use crate::federation::relay::RelayError;
use crate::hub::HubError;
use crate::provider::ProviderError;
use mimi_protocol::{Body, WireError};

/// A failed request, as the client sees it.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// One line saying what was wrong (for a 500, the cause, which is logged, not sent).
    pub reason: String,
    /// Seconds to wait before retrying (429/503).
    pub retry_after: Option<u32>,
}

impl ApiError {
    /// A failure with a status and reason.
    pub fn new(status: StatusCode, reason: impl Into<String>) -> Self {
        ApiError { status, reason: reason.into().replace('\n', " "), retry_after: None }
    }

    /// A fault of this server (500): `cause` is logged, not sent.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, cause.to_string())
    }

    /// Trouble expected to pass (503 with `Retry-After: 1`): storage, an unreachable peer.
    pub fn unavailable(reason: impl std::fmt::Display) -> Self {
        ApiError { retry_after: Some(1), ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, reason.to_string()) }
    }

    /// Whether the server, not the caller, is at fault.
    pub fn is_server_fault(&self) -> bool {
        self.status.is_server_error()
    }
}

impl From<WireError> for ApiError {
    /// A body that does not decode (our own answers are encoded with [`encoded`]).
    fn from(e: WireError) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, e.to_string())
    }
}

/// The status of a refused registration or credential: 400 ambiguous, 403 a credential of
/// someone else, 409 a device name that is taken, 401 everything else (no, a wrong, an expired or
/// a revoked credential).
fn auth_status(refusal: &AuthRefusal) -> StatusCode {
    match refusal {
        AuthRefusal::Ambiguous => StatusCode::BAD_REQUEST,
        AuthRefusal::OtherUser { .. } | AuthRefusal::LoginForAnother { .. } => StatusCode::FORBIDDEN,
        AuthRefusal::Exists { .. } => StatusCode::CONFLICT,
        _ => StatusCode::UNAUTHORIZED,
    }
}

impl From<ProviderError> for ApiError {
    fn from(e: ProviderError) -> Self {
        let status = match &e {
            ProviderError::UnknownRoom(_) => StatusCode::NOT_FOUND,
            ProviderError::Forbidden(_) => StatusCode::FORBIDDEN,
            ProviderError::BadRequest(_) | ProviderError::Hub(HubError::BadRoom { .. }) => StatusCode::BAD_REQUEST,
            ProviderError::RateLimited(_) | ProviderError::Quota(_) => StatusCode::TOO_MANY_REQUESTS,
            ProviderError::Auth(refusal) => auth_status(refusal),
            ProviderError::Store(_) => return ApiError::unavailable(e),
            ProviderError::Compacted(_) => StatusCode::GONE,
            ProviderError::Peer { .. } => StatusCode::BAD_GATEWAY,
            ProviderError::Internal { .. }
            | ProviderError::Hub(HubError::Corrupt { .. } | HubError::Apply { .. } | HubError::State { .. }) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let retry_after = (status == StatusCode::TOO_MANY_REQUESTS).then_some(60);
        ApiError { retry_after, ..ApiError::new(status, e.to_string()) }
    }
}

impl From<FollowerError> for ApiError {
    fn from(e: FollowerError) -> Self {
        match e {
            FollowerError::Decode(_) | FollowerError::Bad { .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, e.to_string())
            }
            FollowerError::NotHub { .. } | FollowerError::NotReader { .. } | FollowerError::NoReaders { .. } => {
                ApiError::new(StatusCode::FORBIDDEN, e.to_string())
            }
            FollowerError::Invalid { .. } => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
            FollowerError::Compacted(c) => ProviderError::Compacted(c).into(),
            FollowerError::HubRefused { .. } | FollowerError::Unvalidatable { .. } => ApiError::unavailable(e),
            FollowerError::Store(s) => ProviderError::Store(s).into(),
            FollowerError::Internal { .. } => ApiError::internal(e),
        }
    }
}

impl From<RelayError> for ApiError {
    fn from(e: RelayError) -> Self {
        match e {
            RelayError::Peer(PeerError::NotADomain { .. }) => ApiError::new(StatusCode::BAD_REQUEST, e.to_string()),
            RelayError::Peer(_) => ApiError::unavailable(e),
            RelayError::Provider(p) => p.into(),
            RelayError::Follower(f) => f.into(),
            RelayError::NotARoom(_) => ApiError::new(StatusCode::BAD_REQUEST, e.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = if self.is_server_fault() {
            let id = RequestId::current();
            tracing::error!(request_id = %id, status = %self.status, cause = %self.reason, "request failed");
            let body = if self.status == StatusCode::INTERNAL_SERVER_ERROR {
                format!("internal error (request {id})\n")
            } else {
                format!("{}\n", self.reason)
            };
            let mut r = (self.status, body).into_response();
            if let Ok(v) = HeaderValue::from_str(id.as_str()) {
                r.headers_mut().insert(REQUEST_ID_HEADER, v);
            }
            r
        } else {
            (self.status, format!("{}\n", self.reason)).into_response()
        };
        let mut r = body;
        if let Some(secs) = self.retry_after {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        r
    }
}

/// Encodes one of our own answers: failing to is the server's fault (500), not the caller's.
pub(crate) fn encoded(body: &impl Body) -> Result<Vec<u8>, ApiError> {
    body.encode().map_err(ApiError::internal)
}

/// A successful TLS-PL body.
pub(crate) fn octets(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/octet-stream")], body).into_response()
}

/// One of our answers, encoded, as a 200 TLS-PL body.
pub(crate) fn answer(body: &impl Body) -> Result<Response, ApiError> {
    Ok(octets(StatusCode::OK, encoded(body)?))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    fn status(e: impl Into<ApiError>) -> (StatusCode, Option<u32>) {
        let e = e.into();
        (e.status, e.retry_after)
    }

    async fn body(r: Response) -> String {
        String::from_utf8(axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap().to_vec()).unwrap()
    }

    #[test]
    fn provider_errors_map_by_whose_fault_they_are() {
        use ProviderError as P;
        assert_eq!(status(P::UnknownRoom("r".into())), (StatusCode::NOT_FOUND, None));
        assert_eq!(status(P::Forbidden("no".into())), (StatusCode::FORBIDDEN, None));
        assert_eq!(status(P::BadRequest("bad".into())), (StatusCode::BAD_REQUEST, None));
        assert_eq!(status(P::RateLimited("slow".into())), (StatusCode::TOO_MANY_REQUESTS, Some(60)));
        let full = crate::hub::admission::quota::key_packages("c", 10, 1, 10).unwrap_err();
        assert_eq!(status(P::Quota(full)), (StatusCode::TOO_MANY_REQUESTS, Some(60)));
        assert_eq!(status(P::Store(StoreError::Closed)), (StatusCode::SERVICE_UNAVAILABLE, Some(1)));
        let hub = |e| P::Hub(e);
        let (room, reason) = ("r".to_owned(), "x".to_owned());
        assert_eq!(
            status(hub(HubError::BadRoom { room: room.clone(), reason: reason.clone() })),
            (StatusCode::BAD_REQUEST, None)
        );
        for e in [
            HubError::Corrupt { room: room.clone(), reason: reason.clone() },
            HubError::Apply { room: room.clone(), reason: reason.clone() },
            HubError::State { room, reason },
        ] {
            assert_eq!(status(hub(e)), (StatusCode::INTERNAL_SERVER_ERROR, None));
        }
        assert_eq!(status(P::Peer { peer: "c.example".into(), why: "junk".into() }), (StatusCode::BAD_GATEWAY, None));
        assert_eq!(status(P::internal("franking", "no key")), (StatusCode::INTERNAL_SERVER_ERROR, None));
        assert_eq!(status(P::poisoned("room table")), (StatusCode::INTERNAL_SERVER_ERROR, None));
    }

    #[test]
    fn follower_relay_and_wire_errors_map_by_whose_fault_they_are() {
        use FollowerError as F;
        let decode = WireError::Empty { what: "FanoutMessage" };
        assert_eq!(status(F::Decode(decode.clone())), (StatusCode::BAD_REQUEST, None));
        assert_eq!(status(F::Bad { index: 0, why: "x".into() }), (StatusCode::BAD_REQUEST, None));
        assert_eq!(status(F::NotHub { peer: "b".into(), room: "r".into() }), (StatusCode::FORBIDDEN, None));
        assert_eq!(status(F::NotReader { client: "c".into(), room: "r".into() }), (StatusCode::FORBIDDEN, None));
        assert_eq!(status(F::NoReaders { room: "r".into() }), (StatusCode::FORBIDDEN, None));
        assert_eq!(status(F::Store(StoreError::Closed)), (StatusCode::SERVICE_UNAVAILABLE, Some(1)));
        assert_eq!(
            status(F::Internal { what: "mirror table", cause: "poisoned".into() }),
            (StatusCode::INTERNAL_SERVER_ERROR, None)
        );
        let unreachable = PeerError::Directory { peer: "c.example".into(), why: "down".into() };
        assert_eq!(status(RelayError::Peer(unreachable)), (StatusCode::SERVICE_UNAVAILABLE, Some(1)));
        let address = PeerError::NotADomain { peer: "10.0.0.7:6379".into(), reason: "a port".into() };
        assert_eq!(status(RelayError::Peer(address)).0, StatusCode::BAD_REQUEST);
        assert_eq!(status(RelayError::NotARoom("x".into())), (StatusCode::BAD_REQUEST, None));
        assert_eq!(status(RelayError::Provider(ProviderError::Forbidden("no".into()))), (StatusCode::FORBIDDEN, None));
        assert_eq!(
            status(RelayError::Follower(F::Store(StoreError::Closed))),
            (StatusCode::SERVICE_UNAVAILABLE, Some(1))
        );
        assert_eq!(status(decode), (StatusCode::BAD_REQUEST, None));
    }

    #[tokio::test]
    async fn a_server_fault_answers_with_a_request_id_and_a_caller_fault_without() {
        let r = ApiError::internal("hub key encoding: no").into_response();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let id = r.headers().get(REQUEST_ID_HEADER).expect("x-request-id").to_str().unwrap().to_owned();
        assert_eq!(body(r).await, format!("internal error (request {id})\n"), "the cause is not sent");

        let r = ApiError::unavailable("storage failure: disk").into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(r.headers().contains_key(REQUEST_ID_HEADER));
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        assert_eq!(body(r).await, "storage failure: disk\n");

        let r = ApiError::new(StatusCode::FORBIDDEN, "not yours\nreally").into_response();
        assert!(!r.headers().contains_key(REQUEST_ID_HEADER));
        assert_eq!(body(r).await, "not yours really\n");
    }
}
