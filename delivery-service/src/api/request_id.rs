//! One id per API request, so that a fault the server answers can be found in its log.
//!
//! [`layer`] gives every request a fresh random id (64 bits, hex): in the request's extensions
//! ([`RequestId`]), in a tracing span around the handler (so every log line of the request
//! carries it), and for the error path, which cannot see the request: [`RequestId::current`].
//! An answer to a fault of the server (5xx, see [`super::ApiError`]) carries the id in its
//! `x-request-id` header and, for a 500, in its one-line body, and the cause is logged with it;
//! an answer to a caller's mistake (4xx) says what was wrong and carries no id.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::Request;
use axum::http::HeaderName;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument as _;

/// The header an answer to a server fault carries the request id in.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static CURRENT: RequestId;
}

/// A request's id: 16 hex digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// A fresh id. Random; should the system have no randomness, a process-wide counter keeps
    /// ids apart (they only correlate an answer with log lines).
    pub fn generate() -> Self {
        static FALLBACK: AtomicU64 = AtomicU64::new(0);
        let mut raw = [0u8; 8];
        let n = match getrandom::fill(&mut raw) {
            Ok(()) => u64::from_le_bytes(raw),
            Err(_) => FALLBACK.fetch_add(1, Ordering::Relaxed),
        };
        RequestId(format!("{n:016x}"))
    }

    /// The id of the request being handled, or a fresh one outside [`layer`] (an error turned
    /// into an answer elsewhere still gets an id to log and answer with).
    pub fn current() -> Self {
        CURRENT.try_with(Clone::clone).unwrap_or_else(|_| RequestId::generate())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The middleware (`axum::middleware::from_fn(request_id::layer)`): a fresh id per request.
pub async fn layer(mut request: Request, next: Next) -> Response {
    let id = RequestId::generate();
    request.extensions_mut().insert(id.clone());
    let span = tracing::info_span!("api", request_id = %id);
    CURRENT.scope(id, next.run(request)).instrument(span).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_16_hex_digits_and_differ() {
        let a = RequestId::generate();
        let b = RequestId::generate();
        assert_eq!(a.as_str().len(), 16);
        assert!(a.as_str().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn the_current_id_is_the_requests() {
        let id = RequestId::generate();
        let seen = CURRENT.scope(id.clone(), async { RequestId::current() }).await;
        assert_eq!(seen, id);
        assert_ne!(RequestId::current(), id, "outside a request a fresh one");
    }
}
