//! The suite's own HTTPS server: `mimi_ds::server` (rustls, client certificates requested and verified
//! against the CA) around routers defined here (the follower role, for the hub checks) and in
//! [`super::follower`] (the hub role). Peer requests are authenticated like `mimi-ds` does it
//! (`mimi_ds::api::mimi::authorize_peer`: certificate, `From`, `Host`), but the protocol logic under test
//! is the suite's: it records what arrives and answers as the check scenario says. Every request the
//! server receives is also logged whole with its answer as [`Traffic`] ([`start`]), for the report files.
//!
//! Follower role ([`FollowerState`], [`follower_router`]):
//! - `POST /v1/notify/{roomId}`: only from the room's hub; the next scripted answer if one is queued
//!   (e.g. 503 with `Retry-After`, nothing taken in); otherwise the body is decoded as concatenated
//!   `FanoutMessage`s (400 if it is not), each taken into the room's inbox once (deduplicated by the
//!   SHA-256 of its encoding) and answered 201. Every arrival is recorded with its time.
//! - `POST /v1/keyMaterial/{targetUser}`: one fresh KeyPackage per suite client of the target user
//!   (`userUnknown` for others).
//! - `GET /.well-known/mimi-protocol-directory`: our directory (`Directory::ours`).

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use mimi_appsync::uri::UserUri;
use mimi_ds::config::Config;
use mimi_ds::tls::PeerIdentity;
use mimi_protocol::directory::{Directory, Endpoint, DIRECTORY_PATH};
use mimi_protocol::key_material::{
    ClientKeyMaterial, ClientKeyMaterialStatus, KeyMaterialRequest, KeyMaterialResponse, KeyMaterialUserCode,
};
use mimi_protocol::notify::{FanoutMessage, DEFAULT_MAX_FANOUT_MESSAGES};
use mimi_protocol::{Body, Protocol, DEFAULT_MAX_BODY_LEN};
use sha2::{Digest, Sha256};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use super::member::Member;
use super::net::{body_structures, Credentials};
use super::{SuiteError, Traffic, TrafficLog};

/// The suite's server running in a background task.
#[derive(Debug)]
pub struct Running {
    /// The bound address.
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), mimi_ds::server::ServerError>>,
}

impl Running {
    /// Stops the server and waits until it has drained.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(Err(e)) => tracing::warn!(error = %e, "the suite's server stopped with an error"),
            Err(e) => tracing::warn!(error = %e, "the suite's server task failed"),
            Ok(Ok(())) => {}
        }
    }
}

/// Binds `listen` with the suite's certificate and serves `router` plus the directory (announcing
/// `https://<our domain>:<port>`); every request and its answer go to `log`.
pub async fn start(
    credentials: &Credentials,
    listen: SocketAddr,
    router: Router,
    log: TrafficLog,
) -> Result<Running, SuiteError> {
    let config = Config {
        domain: credentials.our_domain.clone(),
        listen,
        tls: credentials.tls_paths(),
        shutdown_grace: Duration::from_secs(2),
        ..Config::default()
    };
    let server = mimi_ds::server::Server::bind(&config).await?;
    let addr = server.local_addr();
    let directory = Directory::ours(&format!("https://{}:{}", credentials.our_domain, addr.port())).to_json();
    let router = router.route(
        DIRECTORY_PATH,
        get(move || {
            let directory = directory.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], directory).into_response() }
        }),
    );
    let router = router.layer(axum::middleware::from_fn(move |request: Request, next: Next| {
        let log = log.clone();
        async move { logged(&log, request, next).await }
    }));
    let (stop, stopped) = oneshot::channel::<()>();
    let registry = mimi_ds::metrics::Registry::new();
    let task = tokio::spawn(async move {
        server
            .serve(router, &registry, async move {
                let _ = stopped.await;
            })
            .await
    });
    Ok(Running { addr, stop, task })
}

/// Serves `request` with `next` and logs both whole, the bodies meant to be the structures of the
/// endpoint the path names (our own `/v1/<endpoint>/...` routes).
async fn logged(log: &TrafficLog, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let received = axum::body::to_bytes(body, DEFAULT_MAX_BODY_LEN).await;
    let request_body = received.as_ref().map(|b| b.to_vec()).unwrap_or_default();
    let from = parts.headers.get(header::FROM).and_then(|v| v.to_str().ok()).unwrap_or("no From");
    let description = format!("{} {} ({from})", parts.method, parts.uri.path());
    let endpoint = Endpoint::ALL.into_iter().find(|e| parts.uri.path().starts_with(&format!("/v1/{}/", e.key())));
    let (request_struct, response_struct) = endpoint.map_or((None, None), body_structures);
    let response = match received {
        Ok(bytes) => next.run(Request::from_parts(parts, axum::body::Body::from(bytes))).await,
        Err(e) => (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    };
    let (answer, body) = response.into_parts();
    let (response_body, error) = match axum::body::to_bytes(body, DEFAULT_MAX_BODY_LEN).await {
        Ok(bytes) => (bytes.to_vec(), None),
        Err(e) => (Vec::new(), Some(format!("the suite's answer could not be read back: {e}"))),
    };
    log.push(Traffic {
        request: description,
        received: true,
        request_struct,
        request_body,
        status: answer.status.as_u16(),
        response_struct,
        response_body: response_body.clone(),
        error,
    });
    Response::from_parts(answer, axum::body::Body::from(response_body))
}

/// The transport identity of a peer request (certificate, `From`, `Host`), checked as `mimi-ds` does.
/// Returns the peer's domain, or the refusal to send (status and one-line reason).
pub fn authenticate(
    certificate: Option<&PeerIdentity>,
    headers: &HeaderMap,
    uri: &Uri,
    ours: &str,
) -> Result<String, (StatusCode, String)> {
    let from = headers.get(header::FROM).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).or_else(|| uri.authority().map(|a| a.as_str()));
    mimi_ds::api::mimi::authorize_peer(certificate, from, host, ours).map_err(|e| (e.status, format!("{}\n", e.reason)))
}

/// The peer domain of a request to one of the suite's servers, authenticated by [`authenticate`]; as
/// an extractor it answers the refusal itself. Put it after `Path` (whose rejection comes first).
#[derive(Debug, Clone)]
pub struct AuthenticatedPeer(pub String);

/// A server state that knows the suite's own domain (what [`AuthenticatedPeer`] checks `Host` against).
pub trait OurDomain {
    /// Our domain.
    fn our_domain(&self) -> &str;
}

impl<S: OurDomain + Send + Sync> FromRequestParts<S> for AuthenticatedPeer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<AuthenticatedPeer, Response> {
        authenticate(parts.extensions.get::<PeerIdentity>(), &parts.headers, &parts.uri, state.our_domain())
            .map(AuthenticatedPeer)
            .map_err(IntoResponse::into_response)
    }
}

/// A wire structure as a `200 application/octet-stream` answer (500 if it cannot be encoded).
pub fn encoded(body: &impl Body) -> Response {
    match body.encode() {
        Ok(bytes) => (StatusCode::OK, [(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

/// A scripted answer to the next `/notify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scripted {
    /// The status to answer.
    pub status: u16,
    /// `Retry-After` in seconds, if any.
    pub retry_after: Option<u64>,
}

/// One `/notify` as it arrived.
#[derive(Debug, Clone)]
pub struct Arrival {
    /// When.
    pub at: Instant,
    /// The room in the path.
    pub room: String,
    /// The body.
    pub body: Vec<u8>,
    /// What we answered.
    pub answered: u16,
    /// The decoded messages (empty if not decodable or not taken in).
    pub messages: Vec<FanoutMessage>,
    /// Why the body could not be decoded.
    pub decode_error: Option<String>,
}

/// What the follower role keeps.
#[derive(Debug, Default)]
pub struct FollowerInner {
    /// The suite's clients (their users are the suite's users).
    pub members: Vec<Member>,
    /// Per room, the FanoutMessages taken in, in arrival order.
    pub inbox: BTreeMap<String, Vec<FanoutMessage>>,
    /// SHA-256 of every FanoutMessage taken in.
    seen: HashSet<Vec<u8>>,
    /// Every `/notify`, in arrival order.
    pub arrivals: Vec<Arrival>,
    /// Answers to give to the next `/notify`s instead of taking them in.
    pub script: VecDeque<Scripted>,
}

/// The follower role's shared state.
#[derive(Debug, Clone)]
pub struct FollowerState {
    /// Our domain.
    pub ours: String,
    inner: Arc<Mutex<FollowerInner>>,
    /// Bumped on every arrival.
    changed: watch::Sender<u64>,
}

impl OurDomain for FollowerState {
    fn our_domain(&self) -> &str {
        &self.ours
    }
}

impl FollowerState {
    /// The state for the suite's clients `members`.
    pub fn new(ours: &str, members: Vec<Member>) -> FollowerState {
        FollowerState {
            ours: ours.to_owned(),
            inner: Arc::new(Mutex::new(FollowerInner { members, ..FollowerInner::default() })),
            changed: watch::channel(0).0,
        }
    }

    /// Locks the state (never held across an await).
    pub fn lock(&self) -> MutexGuard<'_, FollowerInner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits until `done` holds (checked after every arrival) or `timeout` passes; returns whether it held.
    pub async fn wait_for(&self, timeout: Duration, mut done: impl FnMut(&mut FollowerInner) -> bool) -> bool {
        let mut changes = self.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if done(&mut self.lock()) {
                return true;
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                // Timed out (or the sender is gone): one last look.
                _ => return done(&mut self.lock()),
            }
        }
    }
}

/// The follower role's routes (besides the directory, which [`start`] adds).
pub fn follower_router(state: FollowerState) -> Router {
    Router::new()
        .route(&Endpoint::Notify.path_template(), post(notify))
        .route(&Endpoint::KeyMaterial.path_template(), post(key_material))
        .with_state(state)
}

async fn notify(
    State(state): State<FollowerState>,
    Path(room): Path<String>,
    AuthenticatedPeer(peer): AuthenticatedPeer,
    body: Bytes,
) -> Response {
    if let Err(e) = mimi_ds::federation::follower::authorize_notify(&room, &peer, &state.ours) {
        return (StatusCode::FORBIDDEN, format!("{e}\n")).into_response();
    }
    let mut arrival = Arrival {
        at: Instant::now(),
        room: room.clone(),
        body: body.to_vec(),
        answered: 201,
        messages: Vec::new(),
        decode_error: None,
    };
    let response = {
        let mut inner = state.lock();
        if let Some(scripted) = inner.script.pop_front() {
            arrival.answered = scripted.status;
            let status = StatusCode::from_u16(scripted.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let mut response = (status, "scripted refusal of the conformance suite\n").into_response();
            if let Some(secs) = scripted.retry_after {
                if let Ok(v) = secs.to_string().parse() {
                    response.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            inner.arrivals.push(arrival);
            response
        } else {
            match FanoutMessage::decode_body(&body, DEFAULT_MAX_BODY_LEN, DEFAULT_MAX_FANOUT_MESSAGES) {
                Ok(messages) => {
                    for m in &messages {
                        let hash = m.encode().map(|bytes| Sha256::digest(bytes).to_vec()).unwrap_or_default();
                        if inner.seen.insert(hash) {
                            inner.inbox.entry(room.clone()).or_default().push(m.clone());
                        }
                    }
                    arrival.messages = messages;
                    inner.arrivals.push(arrival);
                    (StatusCode::CREATED, "taken in\n").into_response()
                }
                Err(e) => {
                    arrival.answered = 400;
                    arrival.decode_error = Some(e.to_string());
                    inner.arrivals.push(arrival);
                    (StatusCode::BAD_REQUEST, format!("undecodable /notify body: {e}\n")).into_response()
                }
            }
        }
    };
    state.changed.send_modify(|n| *n += 1);
    response
}

async fn key_material(
    State(state): State<FollowerState>,
    Path(target): Path<String>,
    _: AuthenticatedPeer,
    body: Bytes,
) -> Response {
    let request = match KeyMaterialRequest::decode(&body, DEFAULT_MAX_BODY_LEN) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    };
    if request.tbs.target_user.as_str() != target {
        return (StatusCode::BAD_REQUEST, "targetUser differs from the path\n").into_response();
    }
    let target_user = UserUri::parse(&target).ok();
    let mut clients = Vec::new();
    {
        let mut inner = state.lock();
        for member in inner.members.iter_mut().filter(|m| Some(m.uri.user()) == target_user) {
            match member.key_package() {
                Ok(key_package) => clients.push(ClientKeyMaterial {
                    client_uri: mimi_protocol::IdentifierUri::new(member.uri.as_str()),
                    status: ClientKeyMaterialStatus::Success { key_package },
                }),
                Err(e) => tracing::warn!(error = %e, "making a KeyPackage"),
            }
        }
    }
    let user_status = if clients.is_empty() { KeyMaterialUserCode::UserUnknown } else { KeyMaterialUserCode::Success };
    let response =
        KeyMaterialResponse { protocol: Protocol::Mls10, user_status, user_uri: request.tbs.target_user, clients };
    encoded(&response)
}
