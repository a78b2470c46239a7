//! The assembled provider: opens the store and the hub key under the configured data directory,
//! restores every room, binds the HTTPS listener and serves the provider's routes. `mimi-ds serve`
//! runs it until a signal; tests and the simulator start it in-process on port 0 with
//! [`serve_provider`] and stop it with their own shutdown future.
//!
//! Routes: the client API ([`crate::api::client`], with rooms of other hubs relayed and
//! mirrored), the server-to-server API ([`crate::api::mimi`]), the endpoint directory,
//! `/healthz` (liveness: the process answers), `/readyz` (readiness: 503 while the store is
//! recovering from a failed write, [`crate::store::redb::recovery`]). Beside the server runs the hub's federation outbox
//! ([`crate::federation::outbox::Outbox`]) and retention ([`Provider::run_retention`]), stopped when the server has drained, and the admin
//! socket ([`crate::admin::socket`], Unix only), through which `mimi-ds user|client|room ...` reaches
//! the running server; it is removed when the server stops. With `admin_listen`, the admin API
//! and hub console ([`crate::admin::http`]) are served on a loopback listener of their own.
//!
//! The metrics ([`crate::metrics`]) are not on the HTTPS listener: with `metrics_listen` set,
//! a plain-HTTP listener of their own serves `GET /metrics`
//! ([`crate::metrics::listener`]), stopped with the server. The provider registers them on a
//! [`Registry`] of its own, or on the embedding program's ([`serve_provider_with`]).
//!
//! How new devices are let in follows `registration` ([`authority`]); open registration is
//! logged as a warning when the provider starts.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::task::JoinHandle;
use url::Url;

use crate::auth::{Authority, EnrollmentCodes, JwtLogins, JwtSettings, OpenRegistration};
use crate::config::{Config, Registration};
use crate::federation::follower::Follower;
use crate::federation::outbox::{Backoff, Outbox};
use crate::federation::peers::Peers;
use crate::federation::relay::Relay;
use crate::metrics::listener::{ListenerError, MetricsListener};
use crate::metrics::Registry;
use crate::provider::{load_or_create_hub_key, Provider, ProviderError};
use crate::server::{Server, ServerError};
use crate::store::redb::RedbStore;
use crate::store::{Store as _, StoreError};
use crate::tls::{PeerClient, TlsError};
use mimi_protocol::directory::{Directory, DIRECTORY_PATH};

/// Most writes the store commits together (group commit).
pub const STORE_MAX_BATCH: usize = 4096;
/// File name of the hub's external-sender key under the data directory.
pub const HUB_KEY_FILE: &str = "hub-key.tls";

/// Why the provider could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The redb file could not be opened.
    #[error("opening the store: {0}")]
    Store(#[from] StoreError),
    /// The hub key could not be loaded or created, or a room could not be restored.
    #[error("opening the provider: {0}")]
    Provider(#[from] ProviderError),
    /// The listener could not be set up, or serving failed.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// The provider's metrics could not be registered.
    #[error("metrics: {0}")]
    Metrics(#[from] crate::metrics::MetricsError),
    /// The metrics listener could not be set up.
    #[error(transparent)]
    MetricsListener(#[from] ListenerError),
    /// The public URL could not be formed.
    #[error("public URL: {0}")]
    Url(#[from] url::ParseError),
    /// The outbound peer client could not be built.
    #[error("peer client: {0}")]
    Peers(#[from] TlsError),
    /// The identity service's key (`jwt.public_key`) could not be read or used.
    #[error("jwt.public_key {path}: {why}")]
    JwtKey {
        /// The key file.
        path: String,
        /// Why it cannot be used.
        why: String,
    },
    /// The admin listener could not be bound.
    #[error("admin listener {addr}: {source}")]
    AdminListener {
        /// The configured address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The admin socket could not be set up.
    #[error("admin socket {path}: {source}")]
    AdminSocket {
        /// The socket's path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// The authority `config.registration` asks for (see [`crate::auth`]): for JWT logins, the
/// identity service's key is read now. Open registration is logged as a warning.
pub fn authority(config: &Config) -> Result<Arc<dyn Authority>, AppError> {
    Ok(match &config.registration {
        Registration::Codes => Arc::new(EnrollmentCodes),
        Registration::Open => {
            tracing::warn!(
                domain = %config.domain,
                "registration is OPEN: anyone can register any user and device of {} and join its users' rooms; \
                 for demos and simulations only (set registration = \"codes\" or \"jwt\")",
                config.domain
            );
            Arc::new(OpenRegistration)
        }
        Registration::Jwt(jwt) => {
            let path = jwt.public_key.display().to_string();
            let pem = std::fs::read(&jwt.public_key)
                .map_err(|e| AppError::JwtKey { path: path.clone(), why: e.to_string() })?;
            let settings = JwtSettings {
                public_key_pem: pem,
                algorithm: jwt.algorithm,
                issuer: jwt.issuer.clone(),
                audience: jwt.audience.clone(),
                leeway_secs: jwt.leeway_secs,
                domain: config.domain.clone(),
            };
            Arc::new(JwtLogins::new(&settings).map_err(|e| AppError::JwtKey { path, why: e.to_string() })?)
        }
    })
}

/// A provider serving in a background task.
#[derive(Debug)]
pub struct Running {
    /// The bound address (the real port when the configuration said port 0).
    pub addr: SocketAddr,
    /// The base URL announced in the directory.
    pub public_url: Url,
    /// The admin listener's bound address, if `admin_listen` is set.
    pub admin_addr: Option<SocketAddr>,
    /// The metrics listener's bound address, if `metrics_listen` is set.
    pub metrics_addr: Option<SocketAddr>,
    /// Completes once the shutdown future completed, requests were drained and the provider
    /// (with its store) was dropped.
    pub task: JoinHandle<Result<(), AppError>>,
}

/// Opens the store (`<data_dir>/mimi-ds.redb`) and hub key (`<data_dir>/hub-key.tls`, created on
/// first start), restores every room, binds [`Config::listen`] and serves in a spawned task until
/// `shutdown` completes. Must be called inside a tokio runtime.
pub async fn serve_provider(
    config: &Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Running, AppError> {
    let store = RedbStore::open(&config.store_path(), STORE_MAX_BATCH)?;
    serve_provider_on(config, store, shutdown).await
}

/// [`serve_provider`] on a store opened by the caller (e.g. on a back end that injects faults,
/// [`crate::store::redb::fault`]) instead of `<data_dir>/mimi-ds.redb`.
pub async fn serve_provider_on(
    config: &Config,
    store: RedbStore,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Running, AppError> {
    serve_provider_with(config, store, Registry::new(), shutdown).await
}

/// [`serve_provider_on`] with the provider's metrics registered on `registry`: an embedding
/// program's own recorder ([`Registry::with_recorder`], see [`crate::metrics`]), or a
/// [`Registry::new`] the caller renders too. `metrics_listen` needs a registry that renders.
pub async fn serve_provider_with(
    config: &Config,
    store: RedbStore,
    registry: Registry,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Running, AppError> {
    store.register_metrics(&registry)?;
    let authority = authority(config)?;
    let hub_key = load_or_create_hub_key(&config.data_dir.join(HUB_KEY_FILE))?;
    let provider = Arc::new(
        Provider::open(&config.domain, hub_key, store)
            .await?
            .with_consent(config.consent)
            .with_claim_limits(config.claim_limits)
            .with_group_info_limits(config.group_info_limits)
            .with_quotas(config.quotas)
            .with_authority(authority)
            .with_token_lifetime(config.token_lifetime)
            .with_metrics(&registry)?,
    );
    let server = Server::bind(config).await?;
    let addr = server.local_addr();
    let public_url = config.public_url(addr.port())?;
    let peer_client = PeerClient::new(config)?;
    let follower = Follower::new(provider.clone(), Peers::new(&config.domain, peer_client.clone()), &registry)?;
    let relay = Relay::new(provider.clone(), follower, Peers::new(&config.domain, peer_client.clone()));
    let router = app(&public_url, provider.clone(), relay);
    let metrics_listener = match config.metrics_listen {
        Some(addr) => Some(MetricsListener::bind(addr, registry.clone()).await?),
        None => None,
    };
    let metrics_addr = metrics_listener.as_ref().map(MetricsListener::local_addr);
    let outbox = Outbox::new(&config.domain, provider.clone(), peer_client, Backoff::default(), &registry)?;
    // Last, when nothing else can fail: a running server answers on its admin socket.
    #[cfg(unix)]
    let admin = {
        let path = config.admin_socket_path();
        let listener = crate::admin::socket::bind(&path)
            .await
            .map_err(|source| AppError::AdminSocket { path: path.display().to_string(), source })?;
        let serving = crate::admin::socket::serve(listener, provider.clone(), config.enrollment_code_lifetime);
        (tokio::spawn(serving), path)
    };
    let mut admin_addr = None;
    let admin_http = match (config.admin_listen, &config.admin_token) {
        (Some(addr), Some(token)) => {
            let listener =
                tokio::net::TcpListener::bind(addr).await.map_err(|source| AppError::AdminListener { addr, source })?;
            let bound = listener.local_addr().map_err(|source| AppError::AdminListener { addr, source })?;
            tracing::info!(addr = %bound, "admin API and hub console on http://{bound}/");
            admin_addr = Some(bound);
            let router = crate::admin::http::router(provider.clone(), token, config.enrollment_code_lifetime);
            Some(tokio::spawn(crate::admin::http::serve(listener, router)))
        }
        _ => None,
    };
    let retention = config.retention;
    let task = tokio::spawn(async move {
        let fanout = tokio::spawn(outbox.clone().run());
        let trimming = tokio::spawn(provider.clone().run_retention(retention));
        let upkeep = tokio::spawn(registry.clone().keep_up());
        let scrapes = metrics_listener.map(|l| tokio::spawn(l.serve(std::future::pending())));
        let served = server.serve(router, &registry, shutdown).await;
        // The metrics listener stops with the server, at once: it takes no writes, and a
        // scraper's open connection must not hold the shutdown.
        if let Some(scrapes) = scrapes {
            scrapes.abort();
            // Aborted on purpose: the join error says just that.
            let _ = scrapes.await;
        }
        upkeep.abort();
        let _ = upkeep.await;
        // A pass cut short is a store write that lands whole or not at all.
        trimming.abort();
        let _ = trimming.await;
        // The outbox resumes from its durable cursors on the next start.
        fanout.abort();
        // Aborted on purpose: the join error says just that.
        let _ = fanout.await;
        outbox.shutdown().await;
        if let Some(task) = admin_http {
            task.abort();
            let _ = task.await;
        }
        #[cfg(unix)]
        {
            let (task, path) = admin;
            task.abort();
            let _ = task.await;
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!(path = %path.display(), error = %e, "admin socket not removed");
            }
        }
        served?;
        // In-flight requests are drained; dropping the last handle lets the store writer finish
        // what is queued and close the file.
        drop(provider);
        Ok(())
    });
    Ok(Running { addr, public_url, admin_addr, metrics_addr, task })
}

/// `/readyz`: 200 while the store takes writes; 503 with `Retry-After` and the reason while it
/// is recovering from a failed write (`/healthz` stays 200: the process is alive).
async fn ready(store: RedbStore) -> Response {
    match store.unwritable() {
        None => "ready\n".into_response(),
        Some(why) => {
            (StatusCode::SERVICE_UNAVAILABLE, [(RETRY_AFTER, "1")], format!("not ready: {why}\n")).into_response()
        }
    }
}

/// The provider's routes.
pub fn app(public_url: &Url, provider: Arc<Provider<RedbStore>>, relay: Arc<Relay<RedbStore>>) -> Router {
    let directory = Directory::ours(public_url.as_str()).to_json();
    let store = provider.store().clone();
    Router::new()
        .merge(crate::api::client::router_with_relay(provider.clone(), relay.clone()))
        .merge(crate::api::mimi::router(provider, relay))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(move || ready(store.clone())))
        .route(
            DIRECTORY_PATH,
            get(move || {
                let directory = directory.clone();
                async move { ([(CONTENT_TYPE, "application/json")], directory).into_response() }
            }),
        )
}
