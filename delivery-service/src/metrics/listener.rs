//! The metrics listener: plain HTTP on its own address (`metrics_listen`), answering
//! `GET /metrics` with the registry's Prometheus text and 404 to anything else. It is kept off
//! the provider's HTTPS listener, which faces clients and peers: bind it to an address only the
//! scraper reaches (loopback, or a management network).

use std::future::Future;
use std::net::SocketAddr;

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;

use super::{Registry, CONTENT_TYPE_TEXT, METRICS_PATH};

/// An error starting the metrics listener.
#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    /// The address could not be bound.
    #[error("metrics_listen: cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The registry's recorder is an embedding program's: it renders the metrics itself.
    #[error("metrics_listen is set, but the metrics go to the embedding program's recorder, which exports them")]
    NotRendered,
}

/// The router: `GET /metrics` renders `registry` (which renders, [`MetricsListener::bind`] checked).
fn router(registry: Registry) -> Router {
    Router::new().route(
        METRICS_PATH,
        get(move || {
            let text = registry.render().unwrap_or_default();
            async move { ([(CONTENT_TYPE, CONTENT_TYPE_TEXT)], text).into_response() }
        }),
    )
}

/// A bound, not yet serving, metrics listener.
#[derive(Debug)]
pub struct MetricsListener {
    listener: TcpListener,
    local_addr: SocketAddr,
    registry: Registry,
}

impl MetricsListener {
    /// Binds `addr` for `registry`'s metrics; refused if the registry does not render.
    pub async fn bind(addr: SocketAddr, registry: Registry) -> Result<MetricsListener, ListenerError> {
        if !registry.renders() {
            return Err(ListenerError::NotRendered);
        }
        let bind_err = |source| ListenerError::Bind { addr, source };
        let listener = TcpListener::bind(addr).await.map_err(bind_err)?;
        let local_addr = listener.local_addr().map_err(bind_err)?;
        Ok(MetricsListener { listener, local_addr, registry })
    }

    /// The bound address (the real port when `addr` said port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` completes.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        tracing::info!(addr = %self.local_addr, "serving metrics (plain HTTP)");
        if let Err(e) = axum::serve(self.listener, router(self.registry)).with_graceful_shutdown(shutdown).await {
            tracing::warn!(error = %e, "metrics listener failed");
        }
    }
}
