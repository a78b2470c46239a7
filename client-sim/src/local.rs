//! A provider started in-process on loopback, for tests and for the simulator's self-contained
//! runs: development certificates (`mimi_ds::pki`) under `<dir>/pki`, the redb file and hub key
//! under `<dir>/data`, served by `mimi_ds::app::serve_provider`. Starting again on the same
//! directory (and address) restarts the same provider.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use mimi_ds::app::{serve_provider, AppError};
use mimi_ds::config::{Config, TlsPaths};
use mimi_ds::pki::PkiError;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::api::Connection;
use crate::error::ClientError;

/// Why a local provider could not be started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// The development certificates could not be written.
    #[error("dev PKI: {0}")]
    Pki(#[from] PkiError),
    /// The provider failed to start or stopped with an error.
    #[error(transparent)]
    App(#[from] AppError),
    /// The server task panicked or was cancelled.
    #[error("provider task: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// A running in-process provider.
#[derive(Debug)]
pub struct LocalProvider {
    /// The domain served.
    domain: String,
    /// The bound address.
    addr: SocketAddr,
    /// The CA certificate clients trust.
    ca: PathBuf,
    /// Completes the server's shutdown future.
    stop: oneshot::Sender<()>,
    /// The serving task.
    task: JoinHandle<Result<(), AppError>>,
}

/// The configuration of a local provider for `domain` rooted at `dir`, listening on `listen`
/// (port 0: any free port). Writes the development certificates if missing.
pub fn config(dir: &Path, domain: &str, listen: SocketAddr) -> Result<Config, LocalError> {
    let pki = dir.join("pki");
    if !pki.join(format!("{domain}.pem")).exists() {
        mimi_ds::pki::generate(&pki, &[domain.to_owned()])?;
    }
    Ok(Config {
        domain: domain.to_owned(),
        listen,
        data_dir: dir.join("data"),
        tls: TlsPaths::dev_pki(&pki, domain),
        ..Config::default()
    })
}

impl LocalProvider {
    /// Starts a provider for `domain` rooted at `dir` (see [`config`]).
    pub async fn start(dir: &Path, domain: &str, listen: SocketAddr) -> Result<LocalProvider, LocalError> {
        LocalProvider::start_with(config(dir, domain, listen)?).await
    }

    /// Starts a provider from a full configuration (e.g. several federated providers sharing one
    /// development CA, with `[peers]` pointing at each other).
    pub async fn start_with(config: Config) -> Result<LocalProvider, LocalError> {
        let domain = config.domain.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let running = serve_provider(&config, async move {
            let _ = stopped.await;
        })
        .await?;
        Ok(LocalProvider { domain, addr: running.addr, ca: config.tls.ca, stop, task: running.task })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The CA certificate file.
    pub fn ca(&self) -> &Path {
        &self.ca
    }

    /// An HTTPS connection to this provider.
    pub fn connect(&self) -> Result<Connection, ClientError> {
        Connection::new(&self.domain, self.addr, &self.ca)
    }

    /// Graceful stop: drains requests in flight and closes the store.
    pub async fn stop(self) -> Result<(), LocalError> {
        let _ = self.stop.send(());
        self.task.await??;
        Ok(())
    }
}
