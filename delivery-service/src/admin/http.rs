//! The admin listener: the operator's commands as a JSON API, and the hub console, on a listener
//! of their own (`admin_listen`, off by default), apart from the client and federation API.
//!
//! Plain HTTP, and only on a loopback address (the configuration refuses any other): the
//! operator reaches it from the machine itself, or through an SSH tunnel. Every API request
//! carries `Authorization: Bearer <admin_token>`, compared in constant time; without it, or with
//! another token, the answer is 401 and nothing runs. Each request is an [`AdminRequest`] carried
//! out by [`execute_on`], the code path of the admin socket:
//!
//! - `GET /admin/v1/users`: every user with its devices ([`AdminRequest::ListUsers`]);
//! - `GET /admin/v1/rooms`: the rooms ([`AdminRequest::ListRooms`]);
//! - `GET /admin/v1/rooms/{room}`: one room ([`AdminRequest::ShowRoom`]), the room URI
//!   percent-encoded as one path segment;
//! - `GET /admin/v1/rooms/{room}/log`: its log decoded ([`AdminRequest::ExportLog`]);
//! - `POST /admin/v1/users/{user}/enroll` (body optional, `{"lifetime_secs": N}`): an enrollment
//!   code ([`AdminRequest::AddUser`]);
//! - `POST /admin/v1/clients/{client}/revoke` and `.../remove`: end a device.
//!
//! Answers are the [`AdminAnswer`] as JSON; a refusal is `{"error": reason}` with 400 (bad
//! request), 404 (no such room) or 409 (the device's records refuse it); an internal fault is a
//! logged 500.
//!
//! The console (`GET /`): one page, its script and style embedded in the binary
//! (`console.html`, `console.js`, `console.css`), served with a Content-Security-Policy that
//! allows only those (no inline script, nothing from elsewhere). The page asks for the token
//! once, keeps it in the tab's `sessionStorage` and sends it as the bearer header; it shows the
//! rooms, and for the one selected its members and participants per epoch, the log as a timeline
//! of decoded handshakes, the refusals and each peer's fanout lag, polling every second. Every
//! value is put in the page as text (`textContent`), never as markup: room names and user names
//! are chosen by users.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{execute_on, AdminError, AdminRequest};
use crate::provider::Provider;
use crate::store::Store;

const CONSOLE_HTML: &str = include_str!("console.html");
const CONSOLE_JS: &str = include_str!("console.js");
const CONSOLE_CSS: &str = include_str!("console.css");

/// What the console's resources may load: themselves and the API, nothing else.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'none'; \
                   base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// What the handlers share.
struct Admin<S: Store> {
    provider: Arc<Provider<S>>,
    /// SHA-256 of the admin token.
    token_hash: [u8; 32],
    code_lifetime: Duration,
}

/// The admin router for `provider`, accepting `token`; enrollment codes are good for
/// `code_lifetime` unless a request says otherwise.
pub fn router<S: Store>(provider: Arc<Provider<S>>, token: &str, code_lifetime: Duration) -> Router {
    let state = Arc::new(Admin { provider, token_hash: Sha256::digest(token.as_bytes()).into(), code_lifetime });
    Router::new()
        .route("/", get(|| async { page(CONSOLE_HTML, "text/html; charset=utf-8") }))
        .route("/console", get(|| async { page(CONSOLE_HTML, "text/html; charset=utf-8") }))
        .route("/console.js", get(|| async { page(CONSOLE_JS, "text/javascript; charset=utf-8") }))
        .route("/console.css", get(|| async { page(CONSOLE_CSS, "text/css; charset=utf-8") }))
        .route("/admin/v1/users", get(users::<S>))
        .route("/admin/v1/rooms", get(rooms::<S>))
        .route("/admin/v1/rooms/{room}", get(room::<S>))
        .route("/admin/v1/rooms/{room}/log", get(log::<S>))
        .route("/admin/v1/users/{user}/enroll", post(enroll::<S>))
        .route("/admin/v1/clients/{client}/revoke", post(revoke::<S>))
        .route("/admin/v1/clients/{client}/remove", post(remove::<S>))
        .with_state(state)
}

/// Serves `router` on `listener` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) {
    if let Err(e) = axum::serve(listener, router).await {
        tracing::error!(error = %e, "admin listener failed");
    }
}

fn page(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    response
}

/// Whether `headers` carry the admin token as bearer credential (hashes compared in constant time).
fn authorized(headers: &HeaderMap, token_hash: &[u8; 32]) -> bool {
    let Some(presented) =
        headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let presented: [u8; 32] = Sha256::digest(presented.trim().as_bytes()).into();
    presented.iter().zip(token_hash).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

async fn run<S: Store>(admin: &Admin<S>, headers: &HeaderMap, request: AdminRequest) -> Response {
    if !authorized(headers, &admin.token_hash) {
        let mut response = error(StatusCode::UNAUTHORIZED, "the admin token is missing or wrong".into());
        response.headers_mut().insert("www-authenticate", HeaderValue::from_static("Bearer"));
        return response;
    }
    match execute_on(&admin.provider, admin.code_lifetime, &request).await {
        Ok(answer) => {
            let mut response = Json(answer).into_response();
            response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => {
            let status = match &e {
                AdminError::BadRequest(_) => StatusCode::BAD_REQUEST,
                AdminError::NotFound(_) => StatusCode::NOT_FOUND,
                AdminError::Refused(_) => StatusCode::CONFLICT,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            if status == StatusCode::INTERNAL_SERVER_ERROR {
                tracing::error!(?request, error = %e, "admin request failed");
                return error(status, "internal error (logged)".into());
            }
            tracing::info!(?request, error = %e, "admin request refused");
            error(status, e.to_string())
        }
    }
}

fn error(status: StatusCode, reason: String) -> Response {
    (status, Json(serde_json::json!({ "error": reason }))).into_response()
}

type Shared<S> = State<Arc<Admin<S>>>;

async fn users<S: Store>(State(admin): Shared<S>, headers: HeaderMap) -> Response {
    run(&admin, &headers, AdminRequest::ListUsers).await
}

async fn rooms<S: Store>(State(admin): Shared<S>, headers: HeaderMap) -> Response {
    run(&admin, &headers, AdminRequest::ListRooms).await
}

async fn room<S: Store>(State(admin): Shared<S>, Path(room): Path<String>, headers: HeaderMap) -> Response {
    run(&admin, &headers, AdminRequest::ShowRoom { room }).await
}

async fn log<S: Store>(State(admin): Shared<S>, Path(room): Path<String>, headers: HeaderMap) -> Response {
    run(&admin, &headers, AdminRequest::ExportLog { room }).await
}

/// The body of an enrollment request.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Enroll {
    lifetime_secs: Option<u64>,
}

async fn enroll<S: Store>(
    State(admin): Shared<S>,
    Path(user): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let enroll = if body.is_empty() {
        Enroll::default()
    } else {
        match serde_json::from_slice::<Enroll>(&body) {
            Ok(e) => e,
            Err(e) if authorized(&headers, &admin.token_hash) => {
                return error(StatusCode::BAD_REQUEST, format!("not an enrollment request: {e}"))
            }
            Err(_) => Enroll::default(),
        }
    };
    run(&admin, &headers, AdminRequest::AddUser { user, lifetime_secs: enroll.lifetime_secs }).await
}

async fn revoke<S: Store>(State(admin): Shared<S>, Path(client): Path<String>, headers: HeaderMap) -> Response {
    run(&admin, &headers, AdminRequest::RevokeClient { client }).await
}

async fn remove<S: Store>(State(admin): Shared<S>, Path(client): Path<String>, headers: HeaderMap) -> Response {
    run(&admin, &headers, AdminRequest::RemoveClient { client }).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_is_authorized() {
        let hash: [u8; 32] = Sha256::digest(b"s3cret-admin-token").into();
        let with = |value: &str| {
            let mut h = HeaderMap::new();
            h.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            h
        };
        assert!(authorized(&with("Bearer s3cret-admin-token"), &hash));
        for wrong in ["Bearer s3cret-admin-toke", "Bearer ", "s3cret-admin-token", "Basic s3cret-admin-token"] {
            assert!(!authorized(&with(wrong), &hash), "{wrong}");
        }
        assert!(!authorized(&HeaderMap::new(), &hash));
    }

    /// The browser test (`tests/tests/console.rs`) checks that hostile names are shown as text;
    /// this guards the same without a browser: the script never parses data as markup, and the
    /// page loads nothing inline that the CSP would have to allow.
    #[test]
    fn the_console_never_turns_data_into_markup() {
        for sink in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"] {
            assert!(!CONSOLE_JS.contains(sink), "console.js uses {sink}");
        }
        assert!(CONSOLE_JS.contains("textContent"));
        assert!(!CONSOLE_HTML.contains("<script>") && !CONSOLE_HTML.contains("style="), "inline script or style");
        assert!(CSP.contains("script-src 'self'") && !CSP.contains("unsafe"));
    }
}
