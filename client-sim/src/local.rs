//! A provider started in-process on loopback, for tests and for the simulator's self-contained
//! runs: development certificates (`mimi_ds::pki`) under `<dir>/pki`, the redb file and hub key
//! under `<dir>/data`, served by `mimi_ds::app::serve_provider`. Starting again on the same
//! directory (and address) restarts the same provider.
//!
//! [`LocalProvider::start_federation`] starts several federated providers instead: one
//! development CA for all of them (so mutual TLS between them works), each with its own store
//! under `<dir>/<domain>`, listening on a loopback port of its own, with `[peers]` naming the
//! others' ports ([`federation_configs`]).
//!
//! Every provider started here runs with [`simulation_defaults`]: open registration (simulated
//! users register their devices without credentials; the provider logs a warning when it starts)
//! and a claim limit for users acting in milliseconds, and a metrics listener on a free loopback
//! port ([`LocalProvider::metrics_addr`]).

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};

use mimi_client::{ClientError, Connection};
use mimi_ds::app::{serve_provider, serve_provider_on, AppError};
use mimi_ds::config::{ClaimLimits, Config, Registration, TlsPaths};
use mimi_ds::pki::PkiError;
use mimi_ds::store::redb::RedbStore;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

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
    /// No free loopback port could be found.
    #[error("finding free loopback ports: {0}")]
    Ports(#[source] std::io::Error),
    /// A peer URL could not be formed.
    #[error("peer URL: {0}")]
    PeerUrl(#[from] url::ParseError),
}

/// A running in-process provider.
#[derive(Debug)]
pub struct LocalProvider {
    /// The domain served.
    domain: String,
    /// The bound address.
    addr: SocketAddr,
    /// The metrics listener's bound address, if it has one.
    metrics_addr: Option<SocketAddr>,
    /// The CA certificate clients trust.
    ca: PathBuf,
    /// The configuration it runs with.
    config: Config,
    /// Completes the server's shutdown future.
    stop: oneshot::Sender<()>,
    /// The serving task.
    task: JoinHandle<Result<(), AppError>>,
}

/// KeyPackage claim limits at in-process providers: simulated users invite and re-invite each
/// other within milliseconds, far beyond the production defaults (`mimi-sim random` hit a limit of
/// 30 claims a minute at step 3031 of a 10 000-step run).
pub const SIMULATION_CLAIM_LIMITS: ClaimLimits = ClaimLimits::uniform(1_000_000);

/// What every provider started for simulations and tests differs in from a production default,
/// in one place: registration is open ([`Registration::Open`], demos and simulations only: anyone
/// may register any device), KeyPackage claims are limited to [`SIMULATION_CLAIM_LIMITS`], and the
/// metrics are served on a free loopback port (`metrics_listen = "127.0.0.1:0"`).
pub fn simulation_defaults() -> Config {
    Config {
        registration: Registration::Open,
        claim_limits: SIMULATION_CLAIM_LIMITS,
        metrics_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        ..Config::default()
    }
}

/// The configuration of a local provider for `domain` rooted at `dir`, listening on `listen`
/// (port 0: any free port), on [`simulation_defaults`]. Writes the development certificates if
/// missing.
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
        ..simulation_defaults()
    })
}

/// Free loopback ports, bound and released together, so that federated providers'
/// configurations can name each other's ports before any of them starts.
///
/// Released ports are taken below the kernel's ephemeral range (`ip_local_port_range`) when
/// there is room there: a port the kernel hands out itself (to a `:0` listener such as a metrics
/// listener, or as the local port of an outgoing connection) could otherwise land on one of them
/// between its release and the provider's bind, and that provider would fail with "address in
/// use". Ports are tried from a random start, so concurrent callers rarely meet; without room
/// below the range, the kernel chooses (`:0`).
pub fn free_ports(n: usize) -> Result<Vec<u16>, LocalError> {
    let Some(range) = below_ephemeral_range() else {
        let listeners = (0..n).map(|_| TcpListener::bind("127.0.0.1:0")).collect::<Result<Vec<_>, _>>();
        let listeners = listeners.map_err(LocalError::Ports)?;
        return listeners.iter().map(|l| l.local_addr().map(|a| a.port()).map_err(LocalError::Ports)).collect();
    };
    let span = u32::from(range.end - range.start);
    // A random start: std's hasher keys are random per process and per instance.
    let start =
        (std::hash::BuildHasher::hash_one(&std::collections::hash_map::RandomState::new(), n) % u64::from(span)) as u32;
    let mut listeners = Vec::with_capacity(n);
    for offset in 0..span {
        if listeners.len() == n {
            break;
        }
        // `start + offset < 2 * span`, and `span` fits in a u16.
        let port = range.start + u16::try_from((start + offset) % span).unwrap_or_default();
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) {
            listeners.push(listener);
        }
    }
    if listeners.len() < n {
        let what = format!("only {} of {n} free in {range:?}", listeners.len());
        return Err(LocalError::Ports(std::io::Error::new(std::io::ErrorKind::AddrInUse, what)));
    }
    Ok(listeners.iter().filter_map(|l| l.local_addr().ok()).map(|a| a.port()).collect())
}

/// Ports below the kernel's ephemeral range, from 10000 (`None` when that range starts lower
/// than 11000 or cannot be read).
fn below_ephemeral_range() -> Option<std::ops::Range<u16>> {
    const FIRST: u16 = 10_000;
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let low: u16 = text.split_whitespace().next()?.parse().ok()?;
    (low >= FIRST + 1000).then_some(FIRST..low)
}

/// The configuration of provider `i` of a federation of `domains` on loopback `ports`: its store
/// under `<dir>/<domain>`, certificates from the shared development CA in `pki`, and `[peers]`
/// mapping every other domain to `https://127.0.0.1:<its port>`, on [`simulation_defaults`] like
/// [`config`]. The same call gives the same
/// configuration, so a provider can be started again (even in another process) on the same data
/// directory and port.
pub fn federation_config(
    dir: &Path,
    pki: &Path,
    domains: &[&str],
    ports: &[u16],
    i: usize,
) -> Result<Config, LocalError> {
    let domain = domains[i];
    let mut peers = BTreeMap::new();
    for (peer, peer_port) in domains.iter().zip(ports).filter(|(d, _)| **d != domain) {
        peers.insert((*peer).to_owned(), url::Url::parse(&format!("https://127.0.0.1:{peer_port}"))?);
    }
    Ok(Config {
        domain: domain.to_owned(),
        listen: SocketAddr::from(([127, 0, 0, 1], ports[i])),
        data_dir: dir.join(domain),
        tls: TlsPaths::dev_pki(pki, domain),
        peers,
        ..simulation_defaults()
    })
}

/// The configurations of federated providers for `domains` rooted at `dir`: one development CA
/// for all under `<dir>/pki` (generated here), a free loopback port each (see
/// [`federation_config`]).
pub fn federation_configs(dir: &Path, domains: &[&str]) -> Result<Vec<Config>, LocalError> {
    let pki = dir.join("pki");
    mimi_ds::pki::generate(&pki, &domains.iter().map(|d| (*d).to_owned()).collect::<Vec<_>>())?;
    let ports = free_ports(domains.len())?;
    (0..domains.len()).map(|i| federation_config(dir, &pki, domains, &ports, i)).collect()
}

impl LocalProvider {
    /// Starts federated providers for `domains` rooted at `dir` (see [`federation_configs`]),
    /// in order. If one fails to start, those already started are stopped.
    pub async fn start_federation(dir: &Path, domains: &[&str]) -> Result<Vec<LocalProvider>, LocalError> {
        let mut started = Vec::with_capacity(domains.len());
        for config in federation_configs(dir, domains)? {
            match LocalProvider::start_with(config).await {
                Ok(p) => started.push(p),
                Err(e) => {
                    for p in started {
                        let _ = p.stop().await;
                    }
                    return Err(e);
                }
            }
        }
        Ok(started)
    }

    /// Starts a provider for `domain` rooted at `dir` (see [`config`]).
    pub async fn start(dir: &Path, domain: &str, listen: SocketAddr) -> Result<LocalProvider, LocalError> {
        LocalProvider::start_with(config(dir, domain, listen)?).await
    }

    /// Starts a provider from a full configuration (e.g. several federated providers sharing one
    /// development CA, with `[peers]` pointing at each other).
    pub async fn start_with(config: Config) -> Result<LocalProvider, LocalError> {
        LocalProvider::serve(config, None).await
    }

    /// [`LocalProvider::start_with`] on a store the caller opened (e.g. one whose back end injects
    /// faults, `mimi_ds::store::redb::fault`) instead of the file under the data directory.
    pub async fn start_on(config: Config, store: RedbStore) -> Result<LocalProvider, LocalError> {
        LocalProvider::serve(config, Some(store)).await
    }

    async fn serve(config: Config, store: Option<RedbStore>) -> Result<LocalProvider, LocalError> {
        let domain = config.domain.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let running = match store {
            Some(store) => serve_provider_on(&config, store, shutdown).await?,
            None => serve_provider(&config, shutdown).await?,
        };
        let ca = config.tls.ca.clone();
        Ok(LocalProvider {
            domain,
            addr: running.addr,
            metrics_addr: running.metrics_addr,
            ca,
            config,
            stop,
            task: running.task,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The metrics listener's bound address (plain HTTP, `GET /metrics`), if the configuration
    /// set `metrics_listen`.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The domain served.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The configuration it was started with (e.g. to make a `mimi_ds::tls::PeerClient` with
    /// its certificate).
    pub fn config(&self) -> &Config {
        &self.config
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
