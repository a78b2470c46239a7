//! Deliberately broken hubs for the conformance suite's own tests: a real `mimi-ds` hub behind a small
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
use mimi_client_sim::local::{federation_configs, free_ports};
use mimi_client_sim::LocalProvider;
use mimi_ds::api::mimi::authorize_peer;
use mimi_ds::config::{Config, TlsPaths};
use mimi_ds::tls::PeerIdentity;
use mimi_protocol::group_info::{GroupInfoResponse, GroupInfoStatus};
use mimi_protocol::update::{HandshakeBundleContent, UpdateRequest, UpdateRoomOutcome, UpdateRoomResponse};
use mimi_protocol::{Body as _, DEFAULT_MAX_BODY_LEN};

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
        _ => {
            let (status, headers, answer) = forward(&proxy, &parts.method, &path, &parts.headers, body).await;
            respond(status, headers, answer)
        }
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
