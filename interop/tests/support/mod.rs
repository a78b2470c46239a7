//! Deliberately broken hubs and followers for the conformance suite's own tests: a real `mimi-ds` behind a small
//! misbehaving mTLS reverse proxy. `mimi-ds` itself has no fault switches; the proxy terminates TLS with
//! the hub's certificate (so peers see the hub's domain), checks a peer request's transport identity as
//! `mimi-ds` does (`authorize_peer`: certificate, `From`, `Host`), and forwards each request to the real
//! hub with the suite's client certificate, except where its [`Fault`] says otherwise. The hub announces the
//! proxy in its directory (`public_url`), so everything the suite sends goes through it; the hub's own
//! fanout reaches the suite directly.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use mimi_appsync::uri::{ClientUri, UserUri};
use mimi_client_sim::local::{federation_configs, free_ports};
use mimi_client_sim::LocalProvider;
use mimi_ds::api::mimi::authorize_peer;
use mimi_ds::config::{Config, TlsPaths};
use mimi_ds::provider::hub_of;
use mimi_ds::tls::PeerIdentity;
use mimi_protocol::abuse::AbuseReport;
use mimi_protocol::consent::ConsentEntry;
use mimi_protocol::group_info::{GroupInfoResponse, GroupInfoStatus};
use mimi_protocol::key_material::{
    ClientKeyMaterial, ClientKeyMaterialStatus, KeyMaterialRequest, KeyMaterialResponse, KeyMaterialUserCode,
};
use mimi_protocol::submit::{SubmitMessageRequest, SubmitMessageResponse, SubmitMessageStatus};
use mimi_protocol::update::{HandshakeBundleContent, UpdateRequest, UpdateRoomOutcome, UpdateRoomResponse};
use mimi_protocol::{Body as _, IdentifierUri, Protocol, DEFAULT_MAX_BODY_LEN};
use mimi_testkit::TestClient;
use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::KeyPackageIn;

/// What the proxy gets wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answers `success` to a commit for an epoch whose commit it already saw accepted, without
    /// forwarding it: to the sender, the hub accepts two commits per epoch.
    SecondCommit,
    /// Caches the first answer to each `keyMaterial` target and replays it: serves a KeyPackage twice.
    ReplayKeyMaterial,
    /// Takes connections without a client certificate and forwards them with its own: ignores mTLS.
    IgnoreMtls,
    /// Forwards requests whatever their `Host` names (the real hub then sees its own): ignores Host.
    IgnoreHost,
    /// Turns a `groupInfo` answer `notAuthorized` into HTTP 403: refuses with a status instead of the
    /// draft's code.
    GroupInfoRefusedByStatus,
    /// Serves, without forwarding, a `keyMaterial` claim the hub would refuse for who asks for whom
    /// (a `requestingUser` not of the calling provider, or a room of neither the hub nor the caller):
    /// answers `success` with a KeyPackage it makes for a client of the target.
    ServeForeignClaims,
    /// Accepts, without forwarding, a `submitMessage` whose `sendingUri` is not a client of the
    /// calling provider.
    AcceptForeignSender,
    /// Keeps (201, without forwarding) an abuse report whose `reportingUser` is not of the calling
    /// provider.
    KeepForeignReports,
    /// Records (201, without forwarding) a consent entry whose party on the sender's side is not of
    /// the calling provider.
    RecordForeignConsent,
    /// Answers `success` to an `update` the hub refused with `notAllowed` for a reason containing
    /// this text, as a hub without that rule would (the room does not move: only the answer lies).
    AcceptRefusedUpdate(&'static str),
    /// As a follower: answers 201 to a `/notify` the follower refused with 422 (an entry that does
    /// not validate), as a follower that takes in whatever its hub sends would.
    AcceptInvalidFanout,
    /// As a follower: a room-log read the follower refused with 403 is answered with what the last
    /// client that could read that room's log gets, as a follower serving its mirror to any of its
    /// clients would.
    ServeMirrorToAnyone,
}

/// The proxy's state.
struct Proxy {
    fault: Fault,
    /// Forwards to the real hub with the suite domain's certificate.
    client: reqwest::Client,
    /// `https://<hub domain>:<hub port>`.
    upstream: String,
    /// (room path, epoch) of commits the real hub accepted.
    accepted: Mutex<HashSet<(String, u64)>>,
    /// First `keyMaterial` answer per path.
    key_material: Mutex<HashMap<String, (StatusCode, Bytes)>>,
    /// Per room-log path (without the query): the `Authorization` of the last read answered 200.
    readers: Mutex<HashMap<String, header::HeaderValue>>,
}

/// A hub behind a broken proxy, plus the suite's certificate files.
pub struct BrokenHub {
    /// The real hub.
    pub hub: LocalProvider,
    /// Where the proxy listens.
    pub proxy: SocketAddr,
    /// The suite's domain and TLS files (same CA).
    pub suite: Config,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl BrokenHub {
    /// Starts hub `a.example` under `dir` announcing a proxy with `fault` in front of it; the suite is
    /// `b.example`.
    pub async fn start(dir: &Path, fault: Fault) -> anyhow::Result<BrokenHub> {
        let configs = federation_configs(dir, &["a.example", "b.example"])?;
        let proxy_port = free_ports(1)?[0];
        let mut hub_config = configs[0].clone();
        hub_config.public_url = Some(url::Url::parse(&format!("https://a.example:{proxy_port}"))?);
        let hub = LocalProvider::start_with(hub_config.clone()).await?;
        let suite = configs[1].clone();
        let forward_tls = mimi_ds::tls::client_config(&TlsPaths {
            cert: suite.tls.cert.clone(),
            key: suite.tls.key.clone(),
            ca: suite.tls.ca.clone(),
        })?;
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(forward_tls)
            .resolve("a.example", hub.addr())
            .no_proxy()
            .build()?;
        let proxy = Arc::new(Proxy {
            fault,
            client,
            upstream: format!("https://a.example:{}", hub.addr().port()),
            accepted: Mutex::new(HashSet::new()),
            key_material: Mutex::new(HashMap::new()),
            readers: Mutex::new(HashMap::new()),
        });
        let listen = Config {
            domain: "a.example".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], proxy_port)),
            tls: hub_config.tls.clone(),
            ..Config::default()
        };
        let server = mimi_ds::server::Server::bind(&listen).await?;
        let addr = server.local_addr();
        let router = Router::new().fallback(handle).with_state(proxy);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let registry = mimi_ds::metrics::Registry::new();
            server
                .serve(router, &registry, async move {
                    let _ = stopped.await;
                })
                .await
        });
        Ok(BrokenHub { hub, proxy: addr, suite, stop })
    }

    /// Stops the proxy and the hub.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.hub.stop().await?;
        Ok(())
    }
}

async fn handle(
    State(proxy): State<Arc<Proxy>>,
    certificate: Option<Extension<PeerIdentity>>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
    let body = match axum::body::to_bytes(body, DEFAULT_MAX_BODY_LEN).await {
        Ok(b) => b,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    };
    let peer_api = path.starts_with("/v1/");
    let unchecked = match proxy.fault {
        Fault::IgnoreMtls => certificate.is_none(),
        _ => false,
    };
    if peer_api && !unchecked {
        let from = parts.headers.get(header::FROM).and_then(|v| v.to_str().ok());
        let host = match proxy.fault {
            Fault::IgnoreHost => Some("a.example"),
            _ => parts
                .headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .or_else(|| parts.uri.authority().map(|a| a.as_str())),
        };
        if let Err(e) = authorize_peer(certificate.as_ref().map(|c| &c.0), from, host, "a.example") {
            return (e.status, format!("{}\n", e.reason)).into_response();
        }
    }
    match proxy.fault {
        Fault::SecondCommit if parts.method == Method::POST && path.starts_with("/v1/update/") => {
            let epoch = UpdateRequest::decode(&body, DEFAULT_MAX_BODY_LEN).ok().and_then(|r| match r.bundle.content {
                HandshakeBundleContent::Commit { .. } => {
                    r.bundle.proposal_or_commit.try_into_protocol_message().ok().map(|m| m.epoch().as_u64())
                }
                HandshakeBundleContent::Proposal { .. } => None,
            });
            let key = epoch.map(|e| (path.clone(), e));
            if key.as_ref().is_some_and(|k| proxy.accepted.lock().is_ok_and(|a| a.contains(k))) {
                let fake = UpdateRoomResponse {
                    error_description: "".into(),
                    outcome: UpdateRoomOutcome::Success { accepted_timestamp: 1 },
                };
                return (StatusCode::OK, fake.encode().unwrap_or_default()).into_response();
            }
            let (status, headers, answer) = forward(&proxy, &parts.method, &path, &parts.headers, body).await;
            let success = UpdateRoomResponse::decode(&answer, DEFAULT_MAX_BODY_LEN)
                .is_ok_and(|r| matches!(r.outcome, UpdateRoomOutcome::Success { .. }));
            if let (Some(key), true) = (key, status == StatusCode::OK && success) {
                if let Ok(mut accepted) = proxy.accepted.lock() {
                    accepted.insert(key);
                }
            }
            respond(status, headers, answer)
        }
        Fault::ReplayKeyMaterial if parts.method == Method::POST && path.starts_with("/v1/keyMaterial/") => {
            let cached = proxy.key_material.lock().ok().and_then(|c| c.get(&path).cloned());
            if let Some((status, answer)) = cached {
                return respond(status, HeaderMap::new(), answer);
            }
            let (status, headers, answer) = forward(&proxy, &parts.method, &path, &parts.headers, body).await;
            if status == StatusCode::OK {
                if let Ok(mut cache) = proxy.key_material.lock() {
                    cache.insert(path, (status, answer.clone()));
                }
            }
            respond(status, headers, answer)
        }
        Fault::GroupInfoRefusedByStatus if parts.method == Method::POST && path.starts_with("/v1/groupInfo/") => {
            let (status, headers, answer) = forward(&proxy, &parts.method, &path, &parts.headers, body).await;
            let refused = GroupInfoResponse::decode(&answer, DEFAULT_MAX_BODY_LEN)
                .is_ok_and(|r| matches!(r.status, GroupInfoStatus::NotAuthorized));
            if status == StatusCode::OK && refused {
                return (StatusCode::FORBIDDEN, "not authorised\n").into_response();
            }
            respond(status, headers, answer)
        }
        Fault::ServeForeignClaims
        | Fault::AcceptForeignSender
        | Fault::KeepForeignReports
        | Fault::RecordForeignConsent
            if parts.method == Method::POST =>
        {
            let from =
                parts.headers.get(header::FROM).and_then(|v| v.to_str().ok()).and_then(|f| f.strip_prefix("mimi@"));
            if let Some(fake) = from.and_then(|from| foreign_acceptance(proxy.fault, &path, &body, from)) {
                return fake;
            }
            let (status, headers, answer) = forward(&proxy, &parts.method, &path, &parts.headers, body).await;
            respond(status, headers, answer)
        }
        Fault::AcceptRefusedUpdate(reason) if parts.method == Method::POST && path.starts_with("/v1/update/") => {
            let (status, headers, answer) = forward(&proxy, &parts.method, &path, &parts.headers, body).await;
            let refused_for = UpdateRoomResponse::decode(&answer, DEFAULT_MAX_BODY_LEN).is_ok_and(|r| {
                matches!(r.outcome, UpdateRoomOutcome::NotAllowed) && r.error_description.to_string().contains(reason)
            });
            if status == StatusCode::OK && refused_for {
                let fake = UpdateRoomResponse {
                    error_description: "".into(),
                    outcome: UpdateRoomOutcome::Success { accepted_timestamp: 1 },
                };
                return (StatusCode::OK, fake.encode().unwrap_or_default()).into_response();
            }
            respond(status, headers, answer)
        }
        Fault::AcceptInvalidFanout if parts.method == Method::POST && path.starts_with("/v1/notify/") => {
            let (status, headers, answer) = forward(&proxy, &parts.method, &path, &parts.headers, body).await;
            if status == StatusCode::UNPROCESSABLE_ENTITY {
                return (StatusCode::CREATED, "taken in\n").into_response();
            }
            respond(status, headers, answer)
        }
        Fault::ServeMirrorToAnyone if parts.method == Method::GET && path.starts_with("/client/v1/rooms/") => {
            let log = path.split('?').next().unwrap_or_default().to_owned();
            let (status, headers, answer) = forward(&proxy, &parts.method, &path, &parts.headers, body.clone()).await;
            if !log.ends_with("/log") {
                return respond(status, headers, answer);
            }
            if status == StatusCode::OK {
                if let (Some(auth), Ok(mut readers)) = (parts.headers.get(header::AUTHORIZATION), proxy.readers.lock())
                {
                    readers.insert(log, auth.clone());
                }
                return respond(status, headers, answer);
            }
            let reader = proxy.readers.lock().ok().and_then(|r| r.get(&log).cloned());
            match reader {
                Some(auth) if status == StatusCode::FORBIDDEN => {
                    let mut as_reader = parts.headers.clone();
                    as_reader.insert(header::AUTHORIZATION, auth);
                    let (status, headers, answer) = forward(&proxy, &parts.method, &path, &as_reader, body).await;
                    respond(status, headers, answer)
                }
                _ => respond(status, headers, answer),
            }
        }
        _ => {
            let (status, headers, answer) = forward(&proxy, &parts.method, &path, &parts.headers, body).await;
            respond(status, headers, answer)
        }
    }
}

/// What a hub with `fault` answers, instead of refusing, to a request at `path` in which provider
/// `from` speaks for a party of another domain; `None` for any other request (forwarded).
fn foreign_acceptance(fault: Fault, path: &str, body: &[u8], from: &str) -> Option<Response> {
    let user_domain = |uri: &str| UserUri::parse(uri).ok().map(|u| u.domain().to_owned());
    let foreign_user = |uri: &str| user_domain(uri).as_deref() != Some(from);
    match fault {
        Fault::ServeForeignClaims if path.starts_with("/v1/keyMaterial/") => {
            let request = KeyMaterialRequest::decode(body, DEFAULT_MAX_BODY_LEN).ok()?;
            let hub = hub_of(request.tbs.room_id.as_str());
            let foreign_room = hub != Some("a.example") && hub != Some(from);
            if !foreign_user(request.tbs.requesting_user.as_str()) && !foreign_room {
                return None;
            }
            let target = UserUri::parse(request.tbs.target_user.as_str()).ok()?;
            let client = TestClient::from_uri(target.client("proxy").ok()?).ok()?;
            let bytes = client.issue_key_package().ok()?.tls_serialize_detached().ok()?;
            let key_package = KeyPackageIn::tls_deserialize_exact(bytes).ok()?;
            let served = KeyMaterialResponse {
                protocol: Protocol::Mls10,
                user_status: KeyMaterialUserCode::Success,
                user_uri: request.tbs.target_user.clone(),
                clients: vec![ClientKeyMaterial {
                    client_uri: IdentifierUri::new(client.uri.as_str()),
                    status: ClientKeyMaterialStatus::Success { key_package },
                }],
            };
            Some((StatusCode::OK, served.encode().ok()?).into_response())
        }
        Fault::AcceptForeignSender if path.starts_with("/v1/submitMessage/") => {
            let request = SubmitMessageRequest::decode(body, DEFAULT_MAX_BODY_LEN).ok()?;
            let sender = ClientUri::parse(request.sending_uri.as_str()).ok().map(|c| c.domain().to_owned());
            if sender.as_deref() == Some(from) {
                return None;
            }
            let accepted = SubmitMessageResponse {
                protocol: Protocol::Mls10,
                status: SubmitMessageStatus::Accepted { accepted_timestamp: 1, frank: None },
            };
            Some((StatusCode::OK, accepted.encode().ok()?).into_response())
        }
        Fault::KeepForeignReports if path.starts_with("/v1/reportAbuse/") => {
            let report = AbuseReport::decode(body, DEFAULT_MAX_BODY_LEN).ok()?;
            foreign_user(report.reporting_user.as_str()).then(|| (StatusCode::CREATED, "report kept\n").into_response())
        }
        Fault::RecordForeignConsent
            if path.starts_with("/v1/requestConsent/") || path.starts_with("/v1/updateConsent/") =>
        {
            let entry = ConsentEntry::decode(body, DEFAULT_MAX_BODY_LEN).ok()?;
            let senders = if path.starts_with("/v1/requestConsent/") {
                &entry.scope.requester_uri
            } else {
                &entry.scope.target_uri
            };
            foreign_user(senders.as_str()).then(|| (StatusCode::CREATED, "received\n").into_response())
        }
        _ => None,
    }
}

/// Sends the request on to the real hub (method, path, `From`, `Content-Type`, `Authorization`).
async fn forward(
    proxy: &Proxy,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap, Bytes) {
    let mut request = proxy.client.request(method.clone(), format!("{}{path}", proxy.upstream)).body(body);
    for name in [header::FROM, header::CONTENT_TYPE, header::AUTHORIZATION] {
        if let Some(value) = headers.get(&name) {
            request = request.header(name, value);
        }
    }
    match request.send().await {
        Ok(r) => {
            let status = r.status();
            let headers = r.headers().clone();
            (status, headers, r.bytes().await.unwrap_or_default())
        }
        Err(e) => (StatusCode::BAD_GATEWAY, HeaderMap::new(), Bytes::from(format!("proxy: {e}\n"))),
    }
}

fn respond(status: StatusCode, headers: HeaderMap, body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    for name in [header::CONTENT_TYPE, header::RETRY_AFTER] {
        if let Some(value) = headers.get(&name) {
            response.headers_mut().insert(name, value.clone());
        }
    }
    response
}
