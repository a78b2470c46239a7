//! The HTTPS server shell: serves any `axum::Router` over TLS on a TCP socket, with optional client
//! certificates, a request body limit, per-request tracing spans and metrics, and graceful shutdown
//! (docs/DESIGN.md §7). The same shell carries the client API and the mutually authenticated peer API.
//!
//! The routers (the protocol-06 API, the client API, `/healthz`) are built elsewhere and
//! passed in; this module adds, around all of them:
//!
//! - **TLS** from [`crate::tls::server_config`]: HTTP/1.1 and HTTP/2 (ALPN). A connection whose client
//!   certificate was verified gets a [`PeerIdentity`] in each request's extensions (extract it with
//!   `Option<Extension<PeerIdentity>>`); without one there is no such extension. Every request also carries
//!   `ConnectInfo<SocketAddr>` with the remote address.
//! - **Body limit**, per route ([`Config::body_limit`]: `update` and `/v1/notify` have limits of
//!   their own, every other route [`Config::max_body_bytes`]): a `Content-Length` above it is answered
//!   413 with a one-line reason before the handler runs; a chunked body that grows past it is
//!   answered 413 as soon as it does. Each is counted in `mimi_quota_refused_total{quota="body_bytes"}`.
//!   A body must arrive whole within [`Config::body_read_timeout`] (else 408): it is read before the
//!   handler runs, so a client trickling its body out holds no handler, lock or store transaction.
//! - **Handlers are not cut short**: once its body is in, a request other than `GET`/`HEAD` runs in
//!   a task of its own, to completion, whether or not its caller is still there (a caller going
//!   away, or a peer killed, mid-request cancels nothing: a decision and its durable write and its
//!   in-memory application are never separated). `GET`s (long polls among them) end with their
//!   connection. A handler that panics is answered 500 and logged.
//! - **Connection cap**: at most [`Config::max_connections`] connections are open at once, and at most
//!   [`Config::max_connections_per_ip`] from one remote address; one accepted beyond either is closed at
//!   once and counted (`http_connections_refused_total`). With the TLS
//!   handshake and request-head timeouts, a party opening connections and sending nothing holds at
//!   most that many file descriptors, each for at most 10 s (handshake) or 30 s (head). HTTP/2
//!   connections allow [`MAX_CONCURRENT_STREAMS`] streams and are pinged when quiet; one that does not
//!   answer is closed.
//! - **Observability**: one `request` span per request (method, path, peer domains, remote address), a
//!   debug event with status and latency, and [`HttpMetrics`] (registered on the registry given
//!   to [`Server::serve`]; they are served elsewhere, [`crate::metrics::listener`]).
//! - **Graceful shutdown**: when the `shutdown` future completes, the listener is closed at once (new
//!   connections are refused), idle connections are closed, requests in flight run to completion within
//!   [`Config::shutdown_grace`], then the remaining connections are cut; handlers still running (whose
//!   caller went away) get what is left of the grace period, then [`Server::serve`] returns, so the
//!   caller can flush the store.
//!
//! Typical use (`main.rs`):
//!
//! ```no_run
//! # async fn run(config: mimi_ds::config::Config, app: axum::Router) -> Result<(), mimi_ds::server::ServerError> {
//! let registry = mimi_ds::metrics::Registry::new();
//! mimi_ds::server::serve(&config, app, &registry, mimi_ds::server::shutdown_signal()).await
//! # }
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;
use tower::ServiceExt as _;
use tracing::{debug, error, info, info_span, warn, Instrument as _};

use crate::config::{BodyRoute, Config};
use crate::metrics::{track, Counter, HttpMetrics, MetricsError, Registry};
use crate::tls::{self, PeerIdentity, TlsError};

/// Time a client gets to complete the TLS handshake.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a client gets to send a complete HTTP/1 request head.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Streams an HTTP/2 connection may have open at once.
pub const MAX_CONCURRENT_STREAMS: u32 = 256;
/// How often a quiet HTTP/2 connection is pinged, and how long the answer may take.
pub const HTTP2_KEEP_ALIVE: (Duration, Duration) = (Duration::from_secs(30), Duration::from_secs(10));

/// An error starting or running the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The TLS files could not be loaded.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The HTTP metrics could not be registered.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
}

/// A bound, not yet serving, HTTPS server.
pub struct Server {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    local_addr: SocketAddr,
    body_limits: RouteLimits,
    shutdown_grace: Duration,
    max_connections: usize,
    max_connections_per_ip: usize,
    body_read_timeout: Duration,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .field("body_limits", &self.body_limits)
            .field("shutdown_grace", &self.shutdown_grace)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Loads the TLS files and binds [`Config::listen`].
    pub async fn bind(config: &Config) -> Result<Server, ServerError> {
        let tls = tls::server_config(&config.tls)?;
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServerError::Bind { addr: config.listen, source })?;
        let local_addr = listener.local_addr().map_err(|source| ServerError::Bind { addr: config.listen, source })?;
        Ok(Server {
            listener,
            acceptor: TlsAcceptor::from(tls),
            local_addr,
            body_limits: RouteLimits {
                update: config.body_limit(BodyRoute::Update),
                notify: config.body_limit(BodyRoute::Notify),
                other: config.body_limit(BodyRoute::Other),
            },
            shutdown_grace: config.shutdown_grace,
            max_connections: config.max_connections,
            max_connections_per_ip: config.max_connections_per_ip,
            body_read_timeout: config.body_read_timeout,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves `router` until `shutdown` completes, then drains as described in the module docs. HTTP
    /// metrics are registered in `registry`. Returns once every connection has finished or been cut.
    pub async fn serve(
        self,
        router: Router,
        registry: &Registry,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServerError> {
        let metrics = HttpMetrics::register(registry)?;
        let handlers = TaskTracker::new();
        let limits = BodyLimits {
            routes: self.body_limits,
            timeout: self.body_read_timeout,
            handlers: handlers.clone(),
            refused: metrics.body_refused.clone(),
        };
        let app = layered(router, limits, metrics.clone());
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut connections = JoinSet::new();
        let per_ip = PerAddress::default();
        let listener = self.listener;
        info!(addr = %self.local_addr, "serving HTTPS");

        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((tcp, remote)) => {
                        while connections.try_join_next().is_some() {}
                        if connections.len() >= self.max_connections {
                            metrics.connections_refused.increment(1);
                            debug!(%remote, max = self.max_connections, "connection refused: too many open");
                            drop(tcp);
                            continue;
                        }
                        let Some(place) = per_ip.take(remote.ip(), self.max_connections_per_ip) else {
                            metrics.connections_refused.increment(1);
                            debug!(%remote, max = self.max_connections_per_ip, "connection refused: too many open from this address");
                            drop(tcp);
                            continue;
                        };
                        let conn = handle_connection(
                            tcp, remote, self.acceptor.clone(), app.clone(), metrics.clone(), stop_rx.clone(),
                        );
                        connections.spawn(
                            async move {
                                conn.await;
                                drop(place);
                            }
                            .instrument(info_span!("conn", %remote)),
                        );
                    }
                    Err(e) => {
                        // Typically out of file descriptors: back off instead of spinning.
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }

        drop(listener);
        // Receivers may all be gone if there are no connections; that is fine.
        let _ = stop_tx.send(true);
        info!(connections = connections.len(), grace = ?self.shutdown_grace, "shutting down: listener closed, draining");
        let deadline = tokio::time::Instant::now() + self.shutdown_grace;
        let drained =
            tokio::time::timeout_at(deadline, async { while connections.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            warn!(connections = connections.len(), "grace period over: cutting remaining connections");
            connections.abort_all();
            while connections.join_next().await.is_some() {}
        }
        handlers.close();
        if tokio::time::timeout_at(deadline, handlers.wait()).await.is_err() {
            warn!(handlers = handlers.len(), "grace period over: handlers whose caller went away still run");
        }
        info!("server stopped");
        Ok(())
    }
}

/// Binds per `config` and serves `router` until `shutdown` (see [`Server::serve`]).
pub async fn serve(
    config: &Config,
    router: Router,
    registry: &Registry,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    Server::bind(config).await?.serve(router, registry, shutdown).await
}

/// Completes on SIGTERM or ctrl-c (SIGINT). If a signal handler cannot be installed, that signal is
/// logged and ignored (the other still works).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            warn!(error = %e, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => info!("ctrl-c received"),
        () = term => info!("SIGTERM received"),
    }
}

/// Open connections per remote address, for [`Config::max_connections_per_ip`].
#[derive(Debug, Clone, Default)]
struct PerAddress(Arc<std::sync::Mutex<HashMap<IpAddr, usize>>>);

/// One connection's place in its address's count, given back when dropped.
struct Place {
    table: PerAddress,
    ip: IpAddr,
}

impl PerAddress {
    /// A place for one more connection from `ip`, if it has fewer than `max` open.
    fn take(&self, ip: IpAddr, max: usize) -> Option<Place> {
        // Changed by single increments and decrements: a poisoned lock is used as it is.
        let mut table = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let open = table.entry(ip).or_insert(0);
        if *open >= max {
            return None;
        }
        *open += 1;
        Some(Place { table: self.clone(), ip })
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut table = self.table.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(open) = table.get_mut(&self.ip) {
            *open -= 1;
            if *open == 0 {
                table.remove(&self.ip);
            }
        }
    }
}

/// Adds the body limit, tracing and metrics layers around `router`.
fn layered(router: Router, limits: BodyLimits, metrics: HttpMetrics) -> Router {
    router
        .layer(DefaultBodyLimit::max(limits.routes.largest()))
        .layer(middleware::from_fn_with_state(limits.clone(), read_body_within))
        .layer(middleware::from_fn_with_state(limits.clone(), limit_content_length))
        .layer(middleware::from_fn_with_state(Arc::new(metrics), observe))
}

/// How much of a request body is taken, how long it may take to arrive, and where the handlers
/// that must not be cut short run.
#[derive(Debug, Clone)]
struct BodyLimits {
    routes: RouteLimits,
    timeout: Duration,
    handlers: TaskTracker,
    /// Bodies refused for their size (`mimi_quota_refused_total{quota="body_bytes"}`).
    refused: Counter,
}

/// The largest body of each route ([`Config::body_limit`]).
#[derive(Debug, Clone, Copy)]
struct RouteLimits {
    update: usize,
    notify: usize,
    other: usize,
}

impl RouteLimits {
    /// The limit of a request to `path`.
    fn of(&self, path: &str) -> usize {
        match BodyRoute::of(path) {
            BodyRoute::Update => self.update,
            BodyRoute::Notify => self.notify,
            BodyRoute::Other => self.other,
        }
    }

    /// The largest of them (what axum's own extractors are allowed).
    fn largest(&self) -> usize {
        self.update.max(self.notify).max(self.other)
    }
}

impl BodyLimits {
    /// The 413 answer, counted.
    fn too_large(&self, len: u64, max: usize) -> Response {
        self.refused.increment(1);
        too_large(len, max)
    }
}

/// Reads the request body whole before the handler runs: at most `max` bytes (413 as soon as it
/// grows past), within `timeout` (408). A body that fails to arrive (the client went away) is 400.
/// Then runs the handler: a `GET` or `HEAD` in place, anything else to completion in a task of its
/// own ([`run_to_completion`]).
async fn read_body_within(State(limits): State<BodyLimits>, request: Request, next: Next) -> Response {
    use axum::body::HttpBody as _;
    let (parts, mut body) = request.into_parts();
    let max = limits.routes.of(parts.uri.path());
    let read = async {
        let mut bytes = Vec::new();
        while let Some(frame) = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await {
            let Ok(frame) = frame else { return Err(None) };
            if let Some(data) = frame.data_ref() {
                if bytes.len() + data.len() > max {
                    return Err(Some((bytes.len() + data.len()) as u64));
                }
                bytes.extend_from_slice(data);
            }
        }
        Ok(bytes)
    };
    match tokio::time::timeout(limits.timeout, read).await {
        Ok(Ok(bytes)) => {
            let request = Request::from_parts(parts, Body::from(bytes));
            if request.method() == Method::GET || request.method() == Method::HEAD {
                next.run(request).await
            } else {
                run_to_completion(&limits.handlers, next, request).await
            }
        }
        Ok(Err(Some(len))) => limits.too_large(len, max),
        Ok(Err(None)) => (StatusCode::BAD_REQUEST, "the request body could not be read\n").into_response(),
        Err(_) => (
            StatusCode::REQUEST_TIMEOUT,
            format!("the request body did not arrive within {} s\n", limits.timeout.as_secs()),
        )
            .into_response(),
    }
}

/// Runs the handler in a task of its own, which goes on if this future is dropped (the caller
/// went away): the handler's decision, durable write and in-memory application happen together or
/// not at all. A panic in it is answered 500 and logged.
async fn run_to_completion(handlers: &TaskTracker, next: Next, request: Request) -> Response {
    match handlers.spawn(next.run(request).in_current_span()).await {
        Ok(response) => response,
        Err(e) => {
            error!(error = %e, "request handler failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
        }
    }
}

/// Refuses a declared body larger than the limit before the handler runs. A moderately
/// oversized body (up to four times the limit) is read and discarded first, so that the client,
/// still sending, receives the 413 instead of a reset connection; anything larger is cut off.
async fn limit_content_length(State(limits): State<BodyLimits>, request: Request, next: Next) -> Response {
    let max = limits.routes.of(request.uri().path());
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(len) if len > max as u64 => {
            if len <= 4 * max as u64 {
                discard_body(request.into_body(), len).await;
            }
            limits.too_large(len, max)
        }
        _ => next.run(request).await,
    }
}

/// Reads and drops at most `cap` bytes of a body.
async fn discard_body(mut body: axum::body::Body, cap: u64) {
    use axum::body::HttpBody as _;
    let mut read = 0u64;
    while let Some(Ok(frame)) = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await {
        read += frame.data_ref().map_or(0, |d| d.len() as u64);
        if read >= cap {
            break;
        }
    }
}

/// The 413 answer: one line saying what was too large.
pub fn too_large(len: u64, max: usize) -> Response {
    (StatusCode::PAYLOAD_TOO_LARGE, format!("request body of {len} bytes exceeds the limit of {max} bytes\n"))
        .into_response()
}

/// Wraps each request in a span and records its metrics.
async fn observe(State(metrics): State<Arc<HttpMetrics>>, request: Request, next: Next) -> Response {
    let route =
        request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().clone();
    let peer = request.extensions().get::<PeerIdentity>().map_or_else(|| "-".to_owned(), |p| p.domains.join(","));
    let remote = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "-".to_owned(), |ConnectInfo(addr)| addr.to_string());
    let span = info_span!("request", %method, path = %request.uri().path(), %peer, %remote);
    async move {
        let started = Instant::now();
        let in_flight = track(&metrics.in_flight);
        let response = next.run(request).await;
        drop(in_flight);
        let elapsed = started.elapsed();
        let status = response.status();
        if let Ok(c) = metrics.requests.with_labels(&[method.as_str(), &route, status.as_str()]) {
            c.increment(1);
        }
        if status.is_client_error() {
            if let Ok(c) = metrics.refusals.with_labels(&["http", status.as_str()]) {
                c.increment(1);
            }
        }
        if let Ok(h) = metrics.duration.with_labels(&[&route]) {
            h.record(elapsed.as_secs_f64());
        }
        debug!(status = status.as_u16(), latency_ms = elapsed.as_secs_f64() * 1000.0, "answered");
        response
    }
    .instrument(span)
    .await
}

/// One TCP connection: TLS handshake, then HTTP until the peer closes or shutdown drains it.
async fn handle_connection(
    tcp: TcpStream,
    remote: SocketAddr,
    acceptor: TlsAcceptor,
    app: Router,
    metrics: HttpMetrics,
    mut stop: watch::Receiver<bool>,
) {
    // Only latency depends on it; a socket that refuses it still serves.
    let _ = tcp.set_nodelay(true);
    let tls = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            metrics.tls_handshake_failures.increment(1);
            debug!(error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            metrics.tls_handshake_failures.increment(1);
            debug!("TLS handshake timed out");
            return;
        }
    };
    let peer =
        tls.get_ref().1.peer_certificates().and_then(|certs| certs.first()).and_then(PeerIdentity::from_certificate);
    debug!(peer = ?peer.as_ref().map(|p| &p.domains), "TLS established");

    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(remote));
        if let Some(peer) = &peer {
            request.extensions_mut().insert(peer.clone());
        }
        let app = app.clone();
        async move { app.oneshot(request).await }
    });

    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .keep_alive_interval(HTTP2_KEEP_ALIVE.0)
        .keep_alive_timeout(HTTP2_KEEP_ALIVE.1);
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
    tokio::pin!(connection);

    let _open = track(&metrics.connections_open);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = async { drop(stop.wait_for(|stopping| *stopping).await) } => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        debug!(error = %e, "connection ended with an error");
    }
}
