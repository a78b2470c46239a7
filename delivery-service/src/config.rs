//! Provider configuration: a TOML file, every key overridable by a `MIMI_DS_*` environment variable
//! (docs/DESIGN.md §7).
//!
//! `mimi-ds serve --config provider.toml` reads the file with [`Config::load`]; without a file, the
//! defaults run one provider, `a.example`, on `127.0.0.1:8443` with its redb file under `./data/` and the
//! certificates `mimi-ds dev-pki` writes to `./pki/` (see [`crate::pki`] for the file names). Relative
//! paths are taken relative to the working directory of the process.
//!
//! The file (every key optional):
//!
//! ```toml
//! domain = "a.example"              # MIMI_DS_DOMAIN
//! listen = "127.0.0.1:8443"         # MIMI_DS_LISTEN
//! public_url = "https://a.example:8443"  # MIMI_DS_PUBLIC_URL (default: https://<domain>:<bound port>)
//! data_dir = "./data"               # MIMI_DS_DATA_DIR
//! max_body_bytes = 4194304          # MIMI_DS_MAX_BODY_BYTES: any route not named below (413 beyond)
//! max_update_body_bytes = 33554432  # MIMI_DS_MAX_UPDATE_BODY_BYTES: `update` (client API and /v1/update)
//! max_notify_body_bytes = 33554432  # MIMI_DS_MAX_NOTIFY_BODY_BYTES: /v1/notify
//! shutdown_grace_secs = 10          # MIMI_DS_SHUTDOWN_GRACE_SECS
//! max_connections = 4096            # MIMI_DS_MAX_CONNECTIONS: open connections; more are closed at once
//! max_connections_per_ip = 512      # MIMI_DS_MAX_CONNECTIONS_PER_IP: the same, from one remote address
//! body_read_timeout_secs = 30       # MIMI_DS_BODY_READ_TIMEOUT_SECS: time to send a request body (408)
//! log = "info"                      # MIMI_DS_LOG (a tracing-subscriber EnvFilter directive)
//! consent = "open"                  # MIMI_DS_CONSENT: "open" or "required" (see ConsentPolicy)
//! # KeyPackage claims served per minute (ClaimLimits): a requester is one of our users, or a
//! # user a peer claims for; nothing is limited per target alone (see ClaimLimits).
//! claims_per_pair = 10              # MIMI_DS_CLAIMS_PER_PAIR: one requester, one of our users
//! claims_per_requester = 100        # MIMI_DS_CLAIMS_PER_REQUESTER: one requester, any users
//! claims_per_peer_domain = 1000     # MIMI_DS_CLAIMS_PER_PEER_DOMAIN: one peer, for one domain's users
//! claims_per_peer = 10000           # MIMI_DS_CLAIMS_PER_PEER: one peer, in all
//! # groupInfo requests answered per minute (GroupInfoLimits; more get 429).
//! group_info_per_client = 60        # MIMI_DS_GROUP_INFO_PER_CLIENT: from one of our clients
//! group_info_per_peer = 6000        # MIMI_DS_GROUP_INFO_PER_PEER: from one other provider
//! # Quotas (docs/DESIGN.md §7, "Quotas"): beyond a cap the request is refused and nothing changes.
//! max_key_packages_per_client = 200 # MIMI_DS_MAX_KEY_PACKAGES_PER_CLIENT: unexpired KeyPackages kept (429)
//! max_rooms_per_user = 1000         # MIMI_DS_MAX_ROOMS_PER_USER: rooms a user's clients create here (429)
//! max_members_per_room = 20000      # MIMI_DS_MAX_MEMBERS_PER_ROOM: a commit adding beyond it is notAllowed
//! max_proposals_per_epoch = 1000    # MIMI_DS_MAX_PROPOSALS_PER_EPOCH: more in one epoch are notAllowed
//! max_abuse_reports_per_reporter = 100  # MIMI_DS_MAX_ABUSE_REPORTS_PER_REPORTER: per room (429)
//! registration = "codes"            # MIMI_DS_REGISTRATION: "codes", "jwt" or "open" (see below)
//! token_lifetime_secs = 2592000     # MIMI_DS_TOKEN_LIFETIME_SECS: bearer tokens expire (30 days)
//! enrollment_code_lifetime_secs = 86400  # MIMI_DS_ENROLLMENT_CODE_LIFETIME_SECS (24 hours)
//! admin_socket = "./data/admin.sock"  # MIMI_DS_ADMIN_SOCKET (default: <data_dir>/admin.sock)
//! admin_listen = "127.0.0.1:8444"   # MIMI_DS_ADMIN_LISTEN: admin API and hub console, plain HTTP,
//!                                   # loopback only (default: off)
//! admin_token = "…"                 # MIMI_DS_ADMIN_TOKEN: their bearer token (required with admin_listen)
//! # Retention (docs/DESIGN.md §4, "Retention"): what is no longer needed is deleted by a pass every
//! # `retention_interval_secs`.
//! retention_interval_secs = 60      # MIMI_DS_RETENTION_INTERVAL_SECS
//! queue_ttl_secs = 2592000          # MIMI_DS_QUEUE_TTL_SECS: a Welcome nobody read past (30 days)
//! dedup_window_secs = 604800        # MIMI_DS_DEDUP_WINDOW_SECS: /notify dedup and echo records (7 days)
//! log_retention_secs = 604800       # MIMI_DS_LOG_RETENTION_SECS: log entries behind a checkpoint (7 days)
//! trim_budget = 50000               # MIMI_DS_TRIM_BUDGET: most records one pass deletes
//! metrics_listen = "127.0.0.1:9464" # MIMI_DS_METRICS_LISTEN: plain-HTTP GET /metrics (default: none, off)
//! log_format = "text"               # MIMI_DS_LOG_FORMAT: "text" or "json" (one JSON object per line)
//!
//! [jwt]                             # only with registration = "jwt"
//! public_key = "./idp-public.pem"   # MIMI_DS_JWT_PUBLIC_KEY: the identity service's PEM public key
//! algorithm = "EdDSA"               # MIMI_DS_JWT_ALGORITHM: "EdDSA" (default) or "ES256"
//! issuer = "https://login.a.example"  # MIMI_DS_JWT_ISSUER: the required `iss`
//! audience = "a.example"            # MIMI_DS_JWT_AUDIENCE: the required `aud` (default: domain)
//! leeway_secs = 60                  # MIMI_DS_JWT_LEEWAY_SECS: for `exp`, `nbf`, `iat`
//!
//! [tls]
//! cert = "./pki/a.example.pem"      # MIMI_DS_TLS_CERT (default: ./pki/<domain>.pem)
//! key = "./pki/a.example.key"       # MIMI_DS_TLS_KEY  (default: ./pki/<domain>.key)
//! ca = "./pki/ca.pem"               # MIMI_DS_TLS_CA
//!
//! [peers]                           # MIMI_DS_PEERS="b.example=https://127.0.0.1:8444,c.example=..."
//! "b.example" = "https://127.0.0.1:8444"
//! ```
//!
//! An environment variable replaces the file's value (for `MIMI_DS_PEERS`, the whole table). Unknown keys in
//! the file and unknown `MIMI_DS_*` variables are errors, so a typo does not silently fall back to a
//! default. Every error names the key (or variable) and says why the value was refused.
//! [`Config::load_sourced`] also says where each key's value came from (the file, an environment
//! variable, or the default): `mimi-ds config check FILE` prints them, one line per key.
//!
//! `registration` says how a new device of one of our users is let in (see [`crate::auth`]):
//! `"codes"` (the default) with a one-time enrollment code the operator issues (`mimi-ds user add
//! <user>`, good for `enrollment_code_lifetime_secs`); `"jwt"` with a login JWT of the provider's
//! identity service, verified against `[jwt]` (a device it names is registered on first use);
//! `"open"`, without any credential, for demos and simulations only (logged as a warning at start).
//! Under every mode a new device may also be enrolled with a current token of another device of
//! the same user. Tokens expire after `token_lifetime_secs` and are renewed with
//! `POST /client/v1/token`. The operator's commands (`mimi-ds user add`, `mimi-ds client
//! revoke|remove|list`, `mimi-ds room list|show|export`) reach a running server through the Unix
//! socket `admin_socket` (mode 0600), and open the store directly when no server runs. With
//! `admin_listen`, the same commands are served as a JSON API with the hub console
//! ([`crate::admin::http`]), plain HTTP on a loopback address, each request bearing `admin_token`.
//!
//! `[peers]` maps a peer provider's domain to the base URL its server listens on. Peers not listed are
//! reached at `https://<domain>/` through real DNS. The TLS name checked is always the peer's domain, also
//! when the URL names an IP address (see [`crate::tls::PeerClient`]).
//!
//! `metrics_listen` is where the Prometheus metrics are served ([`crate::metrics::listener`]):
//! plain HTTP without authentication, so bind it to an address only the scraper reaches. Unset,
//! no metrics listener runs (the metrics are still kept). `log` is the log filter unless the
//! process has `RUST_LOG`, which then wins; `log_format` says how each line is written
//! (`mimi-ds serve`, to stderr).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::auth::codes::DEFAULT_CODE_LIFETIME;
use crate::auth::jwt::DEFAULT_LEEWAY_SECS;
use crate::auth::tokens::DEFAULT_TOKEN_LIFETIME;
pub use crate::provider::RetentionSettings;
use crate::store::Retention;

/// Prefix of every environment variable that overrides a configuration key.
pub const ENV_PREFIX: &str = "MIMI_DS_";
/// Default provider domain.
pub const DEFAULT_DOMAIN: &str = "a.example";
/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8443";
/// Default directory of the redb file.
pub const DEFAULT_DATA_DIR: &str = "./data";
/// Default directory of the TLS files (where `mimi-ds dev-pki` writes by default).
pub const DEFAULT_PKI_DIR: &str = "./pki";
/// Default largest accepted request body: 4 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Default time in-flight requests get to finish after a shutdown signal.
pub const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 10;
/// Default log filter.
pub const DEFAULT_LOG: &str = "info";
/// Largest accepted `max_body_bytes`: 1 GiB (a larger body would not fit the wire codecs' limits anyway).
pub const MAX_MAX_BODY_BYTES: usize = 1 << 30;
/// Largest accepted `shutdown_grace_secs`: one hour.
pub const MAX_SHUTDOWN_GRACE_SECS: u64 = 3600;
/// Default cap on open connections (each is a file descriptor and a task).
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// Largest accepted `max_connections`.
pub const MAX_MAX_CONNECTIONS: usize = 1_000_000;
/// Default cap on open connections from one remote address (a peer provider needs a few, a NAT
/// of many clients more; one party alone cannot take all of `max_connections`).
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 512;
/// Default time a client gets to send a whole request body.
pub const DEFAULT_BODY_READ_TIMEOUT_SECS: u64 = 30;
/// Largest accepted `body_read_timeout_secs`: one hour.
pub const MAX_BODY_READ_TIMEOUT_SECS: u64 = 3600;
/// Default largest body of an `update` (client API and `/v1/update`): 32 MiB, so that a commit
/// adding 1000 clients to a room of 10 000 gets through. The arithmetic, with the sizes the tests
/// measure (`delivery-service/tests/quotas.rs`: a KeyPackage of ours is at most 600 bytes, so is
/// a leaf node, which is a KeyPackage's leaf; a parent node at most 100):
/// - the 1000 Adds, by value: 1000 × 600 B = 0.6 MB, and the AppDataUpdate listing their users,
///   1000 × 100 B = 0.1 MB;
/// - the UpdatePath over 11 000 leaves: at most one HPKE ciphertext (≤ 100 B) per leaf of the
///   copath's resolutions, 11 000 × 100 B = 1.1 MB;
/// - the Welcome: 1000 EncryptedGroupSecrets of ≤ 150 B = 0.15 MB, and the encrypted GroupInfo
///   with the ratchet tree (our rooms put it there): 11 000 leaves × 600 B + 11 000 parents ×
///   100 B = 7.7 MB;
/// - the committer's GroupInfo, with the same tree: 7.7 MB.
///
/// About 17.4 MB in all; 32 MiB leaves nearly twice that (and is the decoders' own ceiling,
/// `mimi_protocol::DEFAULT_MAX_BODY_LEN`).
pub const DEFAULT_MAX_UPDATE_BODY_BYTES: usize = 32 * 1024 * 1024;
/// Default largest body of a `/v1/notify`: 32 MiB, the decoders' ceiling. One entry of the
/// commit above fans out as the commit and its Welcome (about 9.7 MB of the sum above), so a body
/// holds a few of them; smaller entries are batched up to 64 per body.
pub const DEFAULT_MAX_NOTIFY_BODY_BYTES: usize = 32 * 1024 * 1024;
/// Largest accepted value of a quota key (`max_*`): a billion.
pub const MAX_QUOTA: usize = 1_000_000_000;
/// Largest configuration file read.
pub const MAX_CONFIG_FILE_BYTES: u64 = 1024 * 1024;
/// File name of the admin socket under the data directory, unless `admin_socket` says otherwise.
pub const DEFAULT_ADMIN_SOCKET: &str = "admin.sock";
/// Accepted `token_lifetime_secs`: a minute to a year.
pub const TOKEN_LIFETIME_SECS: std::ops::RangeInclusive<u64> = 60..=365 * 24 * 3600;
/// Accepted `enrollment_code_lifetime_secs`: a minute to 30 days.
pub const CODE_LIFETIME_SECS: std::ops::RangeInclusive<u64> = 60..=30 * 24 * 3600;
/// Accepted `retention_interval_secs`: a second to a day.
pub const RETENTION_INTERVAL_SECS: std::ops::RangeInclusive<u64> = 1..=24 * 3600;
/// Accepted `queue_ttl_secs`, `dedup_window_secs` and `log_retention_secs`: none to ten years.
pub const RETENTION_SECS: std::ops::RangeInclusive<u64> = 0..=10 * 365 * 24 * 3600;
/// Shortest accepted `admin_token`.
pub const MIN_ADMIN_TOKEN_LEN: usize = 16;
/// Largest accepted `trim_budget`.
pub const MAX_TRIM_BUDGET: usize = 10_000_000;
/// Largest accepted `jwt.leeway_secs`: an hour.
pub const MAX_JWT_LEEWAY_SECS: u64 = 3600;

/// An error loading or validating the configuration. Each names where the value came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The configuration file is larger than [`MAX_CONFIG_FILE_BYTES`].
    #[error("config file {path} is {len} bytes, more than the {MAX_CONFIG_FILE_BYTES} allowed")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        len: u64,
    },
    /// The configuration file is not valid TOML or has a key of the wrong type or an unknown key.
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The TOML parser's message (it names the key and line).
        message: String,
    },
    /// A key has a value that is well-typed but not acceptable.
    #[error("config key `{key}` (from {origin}): {reason}")]
    Invalid {
        /// The key, e.g. `tls.cert` or `peers."b.example"`.
        key: String,
        /// Where the value came from: the file's path, an environment variable, or `default`.
        origin: String,
        /// Why it was refused.
        reason: String,
    },
    /// A `MIMI_DS_*` environment variable that matches no key.
    #[error("unknown environment variable {name}; known: {known}")]
    UnknownEnv {
        /// The variable.
        name: String,
        /// The variables that exist.
        known: String,
    },
}

/// Where a key's effective value came from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Origin {
    /// Neither the file nor the environment sets the key: its built-in default.
    #[default]
    Default,
    /// The configuration file (its path, as given).
    File(PathBuf),
    /// An environment variable (its name).
    Env(&'static str),
}

impl std::fmt::Display for Origin {
    /// As errors name it: the file's path, `environment variable NAME`, or `default`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File(path) => write!(f, "{}", path.display()),
            Origin::Env(name) => write!(f, "environment variable {name}"),
        }
    }
}

impl Origin {
    /// As `mimi-ds config check` shows it: `file PATH`, `environment variable NAME`, `default`.
    pub fn label(&self) -> String {
        match self {
            Origin::File(path) => format!("file {}", path.display()),
            other => other.to_string(),
        }
    }
}

/// A loaded configuration together with where each key's value came from
/// ([`Config::load_sourced`]).
#[derive(Debug, Clone)]
pub struct Sourced {
    /// The validated configuration.
    pub config: Config,
    /// The keys set by the file or the environment; the others have their defaults.
    origins: BTreeMap<&'static str, Origin>,
}

/// One key of a [`Sourced`] configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// The key, e.g. `max_rooms_per_user` or `tls.cert`.
    pub key: &'static str,
    /// Its environment variable.
    pub env: &'static str,
    /// Its effective value, as TOML (`(unset: ...)` for a key without a value, saying what then
    /// applies).
    pub value: String,
    /// Where the value came from.
    pub origin: Origin,
}

impl std::fmt::Display for Setting {
    /// `key = value  # origin`, as `mimi-ds config check` prints it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} = {}  # {}", self.key, self.value, self.origin.label())
    }
}

impl Sourced {
    /// Where `key`'s value came from.
    pub fn origin(&self, key: &str) -> Origin {
        self.origins.get(key).cloned().unwrap_or_default()
    }

    /// Every key, in the order of the module docs, with its effective value and its origin.
    pub fn settings(&self) -> Vec<Setting> {
        ENV_KEYS
            .iter()
            .map(|&(env, key)| Setting { key, env, value: self.config.effective_value(key), origin: self.origin(key) })
            .collect()
    }
}

/// The validated configuration of one provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The provider's domain (lowercase DNS name), e.g. `a.example`: its users are `mimi://<domain>/u/...`
    /// and its certificate names it.
    pub domain: String,
    /// Address the HTTPS server binds (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Base URL under which peers reach this provider, used in the endpoint directory document
    /// (`https://host[:port]`, no path). `None`: `https://<domain>:<bound port>`, see
    /// [`Config::public_url`].
    pub public_url: Option<Url>,
    /// Directory holding the redb file (created if missing by the store).
    pub data_dir: PathBuf,
    /// Certificate, key and CA files for HTTPS and mutual TLS.
    pub tls: TlsPaths,
    /// Largest request body accepted on a route without a limit of its own; larger requests get
    /// 413 (default 4 MiB).
    pub max_body_bytes: usize,
    /// Largest body of an `update` (a commit with its Welcome and GroupInfo, which carry the
    /// room's tree): default 32 MiB ([`DEFAULT_MAX_UPDATE_BODY_BYTES`] says why); 413 beyond.
    pub max_update_body_bytes: usize,
    /// Largest body of a `/v1/notify` (a batch of fanout): default 32 MiB; 413 beyond.
    pub max_notify_body_bytes: usize,
    /// How long in-flight requests may take to finish after a shutdown signal before they are cut.
    pub shutdown_grace: Duration,
    /// Most connections open at once; a connection beyond it is closed as soon as it is accepted.
    pub max_connections: usize,
    /// Most connections open at once from one remote IP address; beyond it, likewise closed.
    pub max_connections_per_ip: usize,
    /// Time a client gets to send a request's whole body once its head is in; then 408.
    pub body_read_timeout: Duration,
    /// `tracing-subscriber` `EnvFilter` directive, e.g. `info` or `info,mimi_ds=debug`.
    pub log: String,
    /// How log lines are written.
    pub log_format: LogFormat,
    /// Where the plain-HTTP metrics listener binds (`None`: no metrics listener); port 0 picks
    /// a free port.
    pub metrics_listen: Option<SocketAddr>,
    /// Peer providers' base URLs by domain (docs/DESIGN.md §7). Domains not listed are reached through DNS.
    pub peers: BTreeMap<String, Url>,
    /// Whether other providers' users need our users' consent to claim their KeyPackages.
    pub consent: ConsentPolicy,
    /// KeyPackage claims served per minute per requester, per (requester, target) and per peer
    /// (more get 429): one requester cannot drain a user or keep others from inviting one.
    /// Simulations raise them (their users act within milliseconds).
    pub claim_limits: ClaimLimits,
    /// `groupInfo` requests answered per minute per client of ours and per other provider (more
    /// get 429): each answer costs an HPKE seal and a signature.
    pub group_info_limits: GroupInfoLimits,
    /// How much one party may make this provider hold (each cap's default is in
    /// [`Quotas::default`] and the module docs): `max_key_packages_per_client` (default 200
    /// unexpired KeyPackages per client; an upload beyond it is refused whole, 429),
    /// `max_rooms_per_user` (default 1000 rooms created here by one user's clients; 429),
    /// `max_members_per_room` (default 20 000 clients; a commit whose Adds would go beyond it is
    /// answered `notAllowed`), `max_proposals_per_epoch` (default 1000 standalone proposals
    /// accepted in one epoch of a room; more are `notAllowed` until the next commit),
    /// `max_abuse_reports_per_reporter` (default 100 reports kept per reporting user and room;
    /// 429).
    pub quotas: Quotas,
    /// How new devices of our users are let in (module docs).
    pub registration: Registration,
    /// How long a bearer token of ours is valid.
    pub token_lifetime: Duration,
    /// How long an enrollment code is good, unless `mimi-ds user add --lifetime` says otherwise.
    pub enrollment_code_lifetime: Duration,
    /// The admin socket (`None`: `<data_dir>/admin.sock`), see [`Config::admin_socket_path`].
    pub admin_socket: Option<PathBuf>,
    /// The admin listener (admin API and hub console, [`crate::admin::http`]): a loopback
    /// address, plain HTTP; `None`: none.
    pub admin_listen: Option<SocketAddr>,
    /// The admin listener's bearer token (set exactly when `admin_listen` is).
    pub admin_token: Option<String>,
    /// What is deleted when it is no longer needed, and how often (defaults in
    /// [`RetentionSettings::default`] and the module docs).
    pub retention: RetentionSettings,
}

/// How log lines are written (the `log_format` key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `fields`, `spans`), for log collectors.
    Json,
}

impl LogFormat {
    /// The configured name (`text`, `json`).
    pub fn name(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("`{other}` is neither \"text\" nor \"json\"")),
        }
    }
}

/// How new devices of our users are let in (the `registration` key; see [`crate::auth`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Registration {
    /// With one-time enrollment codes the operator issues (the default).
    #[default]
    Codes,
    /// With login JWTs of the provider's identity service.
    Jwt(JwtConfig),
    /// Without credentials: demos and simulations only.
    Open,
}

impl Registration {
    /// The configured name (`codes`, `jwt`, `open`).
    pub fn name(&self) -> &'static str {
        match self {
            Registration::Codes => "codes",
            Registration::Jwt(_) => "jwt",
            Registration::Open => "open",
        }
    }
}

/// The `[jwt]` table: how logins of the identity service are verified (see [`crate::auth::jwt`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtConfig {
    /// The identity service's public key (a PEM `PUBLIC KEY` file), read when the provider starts.
    pub public_key: PathBuf,
    /// The algorithm it signs with.
    pub algorithm: JwtAlgorithm,
    /// The required `iss`.
    pub issuer: String,
    /// The required `aud` (default: the provider's domain).
    pub audience: String,
    /// Leeway for `exp`, `nbf` and `iat`, seconds.
    pub leeway_secs: u64,
}

pub use crate::auth::JwtAlgorithm;

/// The claim limits: a rule of the hub's, configured here.
pub use crate::hub::admission::ClaimLimits;

/// The quotas: rules of the hub's, configured here.
pub use crate::hub::admission::Quotas;

/// The `groupInfo` rate limits: a rule of the hub's, configured here.
pub use crate::hub::admission::GroupInfoLimits;

/// The default for key-material claims by users of other providers for which a local target
/// user has decided nothing: a rule of the hub's, configured here.
pub use crate::hub::admission::ConsentPolicy;

impl std::str::FromStr for ConsentPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "open" => Ok(ConsentPolicy::Open),
            "required" => Ok(ConsentPolicy::Required),
            other => Err(format!("`{other}` is neither \"open\" nor \"required\"")),
        }
    }
}

/// Paths of the PEM files the provider's TLS uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPaths {
    /// The provider's certificate chain (leaf first), used as server and as client certificate.
    pub cert: PathBuf,
    /// The private key of the leaf certificate (PKCS#8, SEC1 or PKCS#1 PEM).
    pub key: PathBuf,
    /// The CA certificate(s) that peer certificates (server and client) must chain to.
    pub ca: PathBuf,
}

impl TlsPaths {
    /// The files `mimi-ds dev-pki --out <dir>` writes for `domain`.
    pub fn dev_pki(dir: &Path, domain: &str) -> Self {
        TlsPaths {
            cert: dir.join(format!("{domain}.pem")),
            key: dir.join(format!("{domain}.key")),
            ca: dir.join("ca.pem"),
        }
    }
}

impl Default for Config {
    /// One provider on localhost, as documented in the module docs.
    fn default() -> Self {
        // The defaults are valid by construction; `validate` would accept them.
        Config::from_raw(RawConfig::default()).unwrap_or_else(|e| unreachable!("built-in defaults are invalid: {e}"))
    }
}

/// The file's shape: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    domain: Option<String>,
    listen: Option<String>,
    public_url: Option<String>,
    data_dir: Option<PathBuf>,
    max_body_bytes: Option<u64>,
    max_update_body_bytes: Option<u64>,
    max_notify_body_bytes: Option<u64>,
    shutdown_grace_secs: Option<u64>,
    max_connections: Option<u64>,
    max_connections_per_ip: Option<u64>,
    body_read_timeout_secs: Option<u64>,
    log: Option<String>,
    #[serde(default)]
    tls: RawTls,
    peers: Option<BTreeMap<String, String>>,
    consent: Option<String>,
    claims_per_pair: Option<u64>,
    claims_per_requester: Option<u64>,
    claims_per_peer_domain: Option<u64>,
    claims_per_peer: Option<u64>,
    group_info_per_client: Option<u64>,
    group_info_per_peer: Option<u64>,
    max_key_packages_per_client: Option<u64>,
    max_rooms_per_user: Option<u64>,
    max_members_per_room: Option<u64>,
    max_proposals_per_epoch: Option<u64>,
    max_abuse_reports_per_reporter: Option<u64>,
    registration: Option<String>,
    token_lifetime_secs: Option<u64>,
    enrollment_code_lifetime_secs: Option<u64>,
    admin_socket: Option<PathBuf>,
    admin_listen: Option<String>,
    admin_token: Option<String>,
    retention_interval_secs: Option<u64>,
    queue_ttl_secs: Option<u64>,
    dedup_window_secs: Option<u64>,
    log_retention_secs: Option<u64>,
    trim_budget: Option<u64>,
    metrics_listen: Option<String>,
    log_format: Option<String>,
    #[serde(default)]
    jwt: RawJwt,
    /// Where each key set by the file or the environment came from (not part of the file); a
    /// key not in it has its default. Errors name it, and `mimi-ds config check` shows it.
    #[serde(skip)]
    origins: BTreeMap<&'static str, Origin>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    ca: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJwt {
    public_key: Option<PathBuf>,
    algorithm: Option<String>,
    issuer: Option<String>,
    audience: Option<String>,
    leeway_secs: Option<u64>,
}

impl RawJwt {
    /// The keys set, for the error when `[jwt]` is set without `registration = "jwt"`.
    fn set_keys(&self) -> Vec<&'static str> {
        let set = [
            ("jwt.public_key", self.public_key.is_some()),
            ("jwt.algorithm", self.algorithm.is_some()),
            ("jwt.issuer", self.issuer.is_some()),
            ("jwt.audience", self.audience.is_some()),
            ("jwt.leeway_secs", self.leeway_secs.is_some()),
        ];
        set.iter().filter(|(_, s)| *s).map(|(k, _)| *k).collect()
    }
}

/// Every key and the environment variable that overrides it, in the order `mimi-ds config check`
/// shows them in.
pub const ENV_KEYS: [(&str, &str); 46] = [
    ("MIMI_DS_DOMAIN", "domain"),
    ("MIMI_DS_LISTEN", "listen"),
    ("MIMI_DS_PUBLIC_URL", "public_url"),
    ("MIMI_DS_DATA_DIR", "data_dir"),
    ("MIMI_DS_MAX_BODY_BYTES", "max_body_bytes"),
    ("MIMI_DS_MAX_UPDATE_BODY_BYTES", "max_update_body_bytes"),
    ("MIMI_DS_MAX_NOTIFY_BODY_BYTES", "max_notify_body_bytes"),
    ("MIMI_DS_SHUTDOWN_GRACE_SECS", "shutdown_grace_secs"),
    ("MIMI_DS_MAX_CONNECTIONS", "max_connections"),
    ("MIMI_DS_MAX_CONNECTIONS_PER_IP", "max_connections_per_ip"),
    ("MIMI_DS_BODY_READ_TIMEOUT_SECS", "body_read_timeout_secs"),
    ("MIMI_DS_LOG", "log"),
    ("MIMI_DS_TLS_CERT", "tls.cert"),
    ("MIMI_DS_TLS_KEY", "tls.key"),
    ("MIMI_DS_TLS_CA", "tls.ca"),
    ("MIMI_DS_PEERS", "peers"),
    ("MIMI_DS_CONSENT", "consent"),
    ("MIMI_DS_CLAIMS_PER_PAIR", "claims_per_pair"),
    ("MIMI_DS_CLAIMS_PER_REQUESTER", "claims_per_requester"),
    ("MIMI_DS_CLAIMS_PER_PEER_DOMAIN", "claims_per_peer_domain"),
    ("MIMI_DS_CLAIMS_PER_PEER", "claims_per_peer"),
    ("MIMI_DS_GROUP_INFO_PER_CLIENT", "group_info_per_client"),
    ("MIMI_DS_GROUP_INFO_PER_PEER", "group_info_per_peer"),
    ("MIMI_DS_MAX_KEY_PACKAGES_PER_CLIENT", "max_key_packages_per_client"),
    ("MIMI_DS_MAX_ROOMS_PER_USER", "max_rooms_per_user"),
    ("MIMI_DS_MAX_MEMBERS_PER_ROOM", "max_members_per_room"),
    ("MIMI_DS_MAX_PROPOSALS_PER_EPOCH", "max_proposals_per_epoch"),
    ("MIMI_DS_MAX_ABUSE_REPORTS_PER_REPORTER", "max_abuse_reports_per_reporter"),
    ("MIMI_DS_REGISTRATION", "registration"),
    ("MIMI_DS_TOKEN_LIFETIME_SECS", "token_lifetime_secs"),
    ("MIMI_DS_ENROLLMENT_CODE_LIFETIME_SECS", "enrollment_code_lifetime_secs"),
    ("MIMI_DS_ADMIN_SOCKET", "admin_socket"),
    ("MIMI_DS_ADMIN_LISTEN", "admin_listen"),
    ("MIMI_DS_ADMIN_TOKEN", "admin_token"),
    ("MIMI_DS_RETENTION_INTERVAL_SECS", "retention_interval_secs"),
    ("MIMI_DS_QUEUE_TTL_SECS", "queue_ttl_secs"),
    ("MIMI_DS_DEDUP_WINDOW_SECS", "dedup_window_secs"),
    ("MIMI_DS_LOG_RETENTION_SECS", "log_retention_secs"),
    ("MIMI_DS_TRIM_BUDGET", "trim_budget"),
    ("MIMI_DS_JWT_PUBLIC_KEY", "jwt.public_key"),
    ("MIMI_DS_JWT_ALGORITHM", "jwt.algorithm"),
    ("MIMI_DS_JWT_ISSUER", "jwt.issuer"),
    ("MIMI_DS_JWT_AUDIENCE", "jwt.audience"),
    ("MIMI_DS_JWT_LEEWAY_SECS", "jwt.leeway_secs"),
    ("MIMI_DS_METRICS_LISTEN", "metrics_listen"),
    ("MIMI_DS_LOG_FORMAT", "log_format"),
];

/// The route a request body is limited as, from its path (a plain function of the path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyRoute {
    /// `POST /client/v1/rooms/{roomId}/update` or `POST /v1/update/{roomId}`.
    Update,
    /// `POST /v1/notify/{roomId}`.
    Notify,
    /// Any other.
    Other,
}

impl BodyRoute {
    /// The route of a request path (room IDs are one percent-encoded segment, so a path has no
    /// other `/update` suffix).
    pub fn of(path: &str) -> BodyRoute {
        if path.starts_with("/v1/update/") || (path.starts_with("/client/v1/rooms/") && path.ends_with("/update")) {
            BodyRoute::Update
        } else if path.starts_with("/v1/notify/") {
            BodyRoute::Notify
        } else {
            BodyRoute::Other
        }
    }
}

impl Config {
    /// The largest body accepted on `route`.
    pub fn body_limit(&self, route: BodyRoute) -> usize {
        match route {
            BodyRoute::Update => self.max_update_body_bytes,
            BodyRoute::Notify => self.max_notify_body_bytes,
            BodyRoute::Other => self.max_body_bytes,
        }
    }

    /// Loads the configuration: the file at `path` if given, then the process's `MIMI_DS_*` variables,
    /// then the defaults for whatever is still unset, then validation.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Config::load_with_env(path, process_env())
    }

    /// As [`Config::load`], with the environment given explicitly (tests, embedding). Variables without the
    /// `MIMI_DS_` prefix are ignored.
    pub fn load_with_env(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        Config::load_sourced(path, env).map(|sourced| sourced.config)
    }

    /// As [`Config::load_with_env`], and where each key's value came from (`mimi-ds config check`).
    pub fn load_sourced(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Sourced, ConfigError> {
        let mut raw = match path {
            Some(path) => read_file(path)?,
            None => RawConfig::default(),
        };
        apply_env(&mut raw, env)?;
        let origins = raw.origins.clone();
        Ok(Sourced { config: Config::from_raw(raw)?, origins })
    }

    /// Parses a configuration from TOML text (no environment overrides); `origin` names the source in
    /// errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let raw = parse_toml(text, Path::new(origin))?;
        Config::from_raw(raw)
    }

    fn from_raw(raw: RawConfig) -> Result<Config, ConfigError> {
        let origin = |key: &str| -> String { raw.origins.get(key).cloned().unwrap_or_default().to_string() };
        let invalid =
            |key: &str, reason: String| ConfigError::Invalid { key: key.to_owned(), origin: origin(key), reason };

        let domain = raw.domain.clone().unwrap_or_else(|| DEFAULT_DOMAIN.to_owned());
        validate_domain(&domain).map_err(|reason| invalid("domain", reason))?;

        let listen_text = raw.listen.clone().unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            invalid("listen", format!("`{listen_text}` is not an IP address with a port, e.g. 127.0.0.1:8443"))
        })?;

        let public_url = match &raw.public_url {
            Some(text) => Some(parse_base_url(text).map_err(|reason| invalid("public_url", reason))?),
            None => None,
        };

        let data_dir = raw.data_dir.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        if data_dir.as_os_str().is_empty() {
            return Err(invalid("data_dir", "must not be empty".to_owned()));
        }

        let pki = Path::new(DEFAULT_PKI_DIR);
        let defaults = TlsPaths::dev_pki(pki, &domain);
        let tls = TlsPaths {
            cert: raw.tls.cert.clone().unwrap_or(defaults.cert),
            key: raw.tls.key.clone().unwrap_or(defaults.key),
            ca: raw.tls.ca.clone().unwrap_or(defaults.ca),
        };
        for (key, path) in [("tls.cert", &tls.cert), ("tls.key", &tls.key), ("tls.ca", &tls.ca)] {
            if path.as_os_str().is_empty() {
                return Err(invalid(key, "must not be empty".to_owned()));
            }
        }

        let max_body_bytes = count(raw.max_body_bytes, DEFAULT_MAX_BODY_BYTES, MAX_MAX_BODY_BYTES)
            .map_err(|reason| invalid("max_body_bytes", reason))?;
        let max_update_body_bytes = count(raw.max_update_body_bytes, DEFAULT_MAX_UPDATE_BODY_BYTES, MAX_MAX_BODY_BYTES)
            .map_err(|reason| invalid("max_update_body_bytes", reason))?;
        let max_notify_body_bytes = count(raw.max_notify_body_bytes, DEFAULT_MAX_NOTIFY_BODY_BYTES, MAX_MAX_BODY_BYTES)
            .map_err(|reason| invalid("max_notify_body_bytes", reason))?;

        let grace = raw.shutdown_grace_secs.unwrap_or(DEFAULT_SHUTDOWN_GRACE_SECS);
        if grace > MAX_SHUTDOWN_GRACE_SECS {
            return Err(invalid(
                "shutdown_grace_secs",
                format!("{grace} is more than the {MAX_SHUTDOWN_GRACE_SECS} allowed"),
            ));
        }

        let max_connections = count(raw.max_connections, DEFAULT_MAX_CONNECTIONS, MAX_MAX_CONNECTIONS)
            .map_err(|reason| invalid("max_connections", reason))?;
        let max_connections_per_ip =
            count(raw.max_connections_per_ip, DEFAULT_MAX_CONNECTIONS_PER_IP, MAX_MAX_CONNECTIONS)
                .map_err(|reason| invalid("max_connections_per_ip", reason))?;
        let body_read_timeout = raw.body_read_timeout_secs.unwrap_or(DEFAULT_BODY_READ_TIMEOUT_SECS);
        if !(1..=MAX_BODY_READ_TIMEOUT_SECS).contains(&body_read_timeout) {
            return Err(invalid(
                "body_read_timeout_secs",
                format!("{body_read_timeout} is not between 1 and {MAX_BODY_READ_TIMEOUT_SECS}"),
            ));
        }

        let log = raw.log.clone().unwrap_or_else(|| DEFAULT_LOG.to_owned());
        if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(&log) {
            return Err(invalid("log", format!("`{log}` is not a valid log filter: {e}")));
        }

        let log_format = match &raw.log_format {
            Some(text) => text.parse().map_err(|reason| invalid("log_format", reason))?,
            None => LogFormat::default(),
        };

        let metrics_listen = match &raw.metrics_listen {
            Some(text) => Some(text.trim().parse::<SocketAddr>().map_err(|_| {
                invalid("metrics_listen", format!("`{text}` is not an IP address with a port, e.g. 127.0.0.1:9464"))
            })?),
            None => None,
        };
        if metrics_listen.is_some_and(|m| m == listen && m.port() != 0) {
            return Err(invalid("metrics_listen", format!("`{listen}` is the HTTPS listener's address")));
        }

        let mut peers = BTreeMap::new();
        for (peer, url) in raw.peers.iter().flatten() {
            let key = format!("peers.\"{peer}\"");
            let origin = origin("peers");
            let invalid = |reason: String| ConfigError::Invalid { key: key.clone(), origin: origin.clone(), reason };
            validate_domain(peer).map_err(|r| invalid(format!("the peer name is not a domain: {r}")))?;
            if *peer == domain {
                return Err(invalid("is this provider's own domain".to_owned()));
            }
            peers.insert(peer.clone(), parse_base_url(url).map_err(invalid)?);
        }

        let consent = match &raw.consent {
            Some(text) => text.parse().map_err(|reason| invalid("consent", reason))?,
            None => ConsentPolicy::default(),
        };

        let defaults = ClaimLimits::default();
        let limit = |key: &str, value: Option<u64>, default: u32| match value {
            None => Ok(default),
            Some(n) => u32::try_from(n)
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| invalid(key, format!("{n} is not between 1 and {}", u32::MAX))),
        };
        let claim_limits = ClaimLimits {
            per_pair: limit("claims_per_pair", raw.claims_per_pair, defaults.per_pair)?,
            per_requester: limit("claims_per_requester", raw.claims_per_requester, defaults.per_requester)?,
            per_peer_domain: limit("claims_per_peer_domain", raw.claims_per_peer_domain, defaults.per_peer_domain)?,
            per_peer: limit("claims_per_peer", raw.claims_per_peer, defaults.per_peer)?,
        };
        let defaults = GroupInfoLimits::default();
        let group_info_limits = GroupInfoLimits {
            per_client: limit("group_info_per_client", raw.group_info_per_client, defaults.per_client)?,
            per_peer: limit("group_info_per_peer", raw.group_info_per_peer, defaults.per_peer)?,
        };

        let quota = |key: &str, value: Option<u64>, default: usize| {
            count(value, default, MAX_QUOTA).map_err(|reason| invalid(key, reason))
        };
        let defaults = Quotas::default();
        let quotas = Quotas {
            key_packages_per_client: quota(
                "max_key_packages_per_client",
                raw.max_key_packages_per_client,
                defaults.key_packages_per_client,
            )?,
            rooms_per_user: quota("max_rooms_per_user", raw.max_rooms_per_user, defaults.rooms_per_user)?,
            members_per_room: quota("max_members_per_room", raw.max_members_per_room, defaults.members_per_room)?,
            proposals_per_epoch: quota(
                "max_proposals_per_epoch",
                raw.max_proposals_per_epoch,
                defaults.proposals_per_epoch,
            )?,
            abuse_reports_per_reporter: quota(
                "max_abuse_reports_per_reporter",
                raw.max_abuse_reports_per_reporter,
                defaults.abuse_reports_per_reporter,
            )?,
        };

        let lifetime = |key: &str, value: Option<u64>, default: Duration, range: std::ops::RangeInclusive<u64>| {
            let secs = value.unwrap_or(default.as_secs());
            if !range.contains(&secs) {
                return Err(invalid(key, format!("{secs} is not between {} and {}", range.start(), range.end())));
            }
            Ok(Duration::from_secs(secs))
        };
        let token_lifetime =
            lifetime("token_lifetime_secs", raw.token_lifetime_secs, DEFAULT_TOKEN_LIFETIME, TOKEN_LIFETIME_SECS)?;
        let enrollment_code_lifetime = lifetime(
            "enrollment_code_lifetime_secs",
            raw.enrollment_code_lifetime_secs,
            DEFAULT_CODE_LIFETIME,
            CODE_LIFETIME_SECS,
        )?;

        let defaults = RetentionSettings::default();
        let window = |key: &str, value: Option<u64>, default_ms: u64| {
            lifetime(key, value, Duration::from_millis(default_ms), RETENTION_SECS).map(|d| d.as_millis() as u64)
        };
        let retention = RetentionSettings {
            interval: lifetime(
                "retention_interval_secs",
                raw.retention_interval_secs,
                defaults.interval,
                RETENTION_INTERVAL_SECS,
            )?,
            retention: Retention {
                queue_ttl_ms: window("queue_ttl_secs", raw.queue_ttl_secs, defaults.retention.queue_ttl_ms)?,
                dedup_window_ms: window(
                    "dedup_window_secs",
                    raw.dedup_window_secs,
                    defaults.retention.dedup_window_ms,
                )?,
                log_retention_ms: window(
                    "log_retention_secs",
                    raw.log_retention_secs,
                    defaults.retention.log_retention_ms,
                )?,
            },
            budget: count(raw.trim_budget, defaults.budget, MAX_TRIM_BUDGET)
                .map_err(|reason| invalid("trim_budget", reason))?,
        };

        if raw.admin_socket.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
            return Err(invalid("admin_socket", "must not be empty".to_owned()));
        }
        let admin_listen = match raw.admin_listen.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => {
                let addr: SocketAddr = text.parse().map_err(|_| {
                    invalid("admin_listen", format!("`{text}` is not an IP address with a port, e.g. 127.0.0.1:8444"))
                })?;
                if !addr.ip().is_loopback() {
                    return Err(invalid(
                        "admin_listen",
                        format!("{addr} is not a loopback address (the admin listener speaks plain HTTP)"),
                    ));
                }
                Some(addr)
            }
        };
        let admin_token = match (&admin_listen, raw.admin_token.as_deref().map(str::trim)) {
            (Some(_), None | Some("")) => {
                return Err(invalid("admin_token", "must be set with admin_listen".to_owned()));
            }
            (Some(_), Some(t)) if t.len() < MIN_ADMIN_TOKEN_LEN => {
                return Err(invalid(
                    "admin_token",
                    format!("is {} characters long; at least {MIN_ADMIN_TOKEN_LEN} are required", t.len()),
                ));
            }
            (Some(_), Some(t)) => Some(t.to_owned()),
            (None, Some(t)) if !t.is_empty() => {
                return Err(invalid("admin_token", "is set, but admin_listen is not".to_owned()));
            }
            (None, _) => None,
        };

        let registration = match raw.registration.as_deref().map(str::trim) {
            None | Some("codes") => Registration::Codes,
            Some("open") => Registration::Open,
            Some("jwt") => {
                let jwt = &raw.jwt;
                let public_key =
                    jwt.public_key.clone().filter(|p| !p.as_os_str().is_empty()).ok_or_else(|| {
                        invalid("jwt.public_key", "must be set with registration = \"jwt\"".to_owned())
                    })?;
                let algorithm = match &jwt.algorithm {
                    Some(a) => a.parse().map_err(|reason| invalid("jwt.algorithm", reason))?,
                    None => JwtAlgorithm::EdDsa,
                };
                let issuer = jwt
                    .issuer
                    .clone()
                    .filter(|i| !i.trim().is_empty())
                    .ok_or_else(|| invalid("jwt.issuer", "must be set with registration = \"jwt\"".to_owned()))?;
                let audience = jwt.audience.clone().unwrap_or_else(|| domain.clone());
                if audience.trim().is_empty() {
                    return Err(invalid("jwt.audience", "must not be empty".to_owned()));
                }
                let leeway_secs = jwt.leeway_secs.unwrap_or(DEFAULT_LEEWAY_SECS);
                if leeway_secs > MAX_JWT_LEEWAY_SECS {
                    return Err(invalid(
                        "jwt.leeway_secs",
                        format!("{leeway_secs} is more than the {MAX_JWT_LEEWAY_SECS} allowed"),
                    ));
                }
                Registration::Jwt(JwtConfig { public_key, algorithm, issuer, audience, leeway_secs })
            }
            Some(other) => {
                return Err(invalid("registration", format!("`{other}` is none of \"codes\", \"jwt\" and \"open\"")))
            }
        };
        if !matches!(registration, Registration::Jwt(_)) {
            if let Some(key) = raw.jwt.set_keys().first() {
                return Err(invalid(
                    key,
                    format!("is set, but registration is \"{}\", not \"jwt\"", registration.name()),
                ));
            }
        }

        Ok(Config {
            registration,
            token_lifetime,
            enrollment_code_lifetime,
            admin_socket: raw.admin_socket.clone(),
            admin_listen,
            admin_token,
            metrics_listen,
            log_format,
            retention,
            consent,
            claim_limits,
            group_info_limits,
            quotas,
            domain,
            listen,
            public_url,
            data_dir,
            tls,
            max_body_bytes,
            max_update_body_bytes,
            max_notify_body_bytes,
            shutdown_grace: Duration::from_secs(grace),
            max_connections,
            max_connections_per_ip,
            body_read_timeout: Duration::from_secs(body_read_timeout),
            log,
            peers,
        })
    }

    /// The base URL peers reach this provider at: the configured `public_url`, or else
    /// `https://<domain>:<port>` with the port the server actually bound (port 443 is left out). Fails only
    /// if [`Config::domain`] was set by hand to something that is not a host name.
    pub fn public_url(&self, bound_port: u16) -> Result<Url, url::ParseError> {
        if let Some(url) = &self.public_url {
            return Ok(url.clone());
        }
        let text = if bound_port == 443 {
            format!("https://{}/", self.domain)
        } else {
            format!("https://{}:{bound_port}/", self.domain)
        };
        Url::parse(&text)
    }

    /// The effective value of `key` (one of [`ENV_KEYS`]) as TOML, or `(unset: ...)` saying what
    /// applies instead.
    fn effective_value(&self, key: &str) -> String {
        let text = |s: &str| toml::Value::String(s.to_owned()).to_string();
        let path = |p: &Path| text(&p.display().to_string());
        let secs = |d: Duration| d.as_secs().to_string();
        let millis_as_secs = |ms: u64| (ms / 1000).to_string();
        let jwt = match &self.registration {
            Registration::Jwt(jwt) => Some(jwt),
            _ => None,
        };
        let jwt_value = |value: fn(&JwtConfig) -> String| {
            jwt.map_or_else(|| format!("(unset: registration is \"{}\")", self.registration.name()), value)
        };
        match key {
            "domain" => text(&self.domain),
            "listen" => text(&self.listen.to_string()),
            "public_url" => match &self.public_url {
                Some(url) => text(url.as_str()),
                None => format!("(unset: https://{}:<bound port>)", self.domain),
            },
            "data_dir" => path(&self.data_dir),
            "max_body_bytes" => self.max_body_bytes.to_string(),
            "max_update_body_bytes" => self.max_update_body_bytes.to_string(),
            "max_notify_body_bytes" => self.max_notify_body_bytes.to_string(),
            "shutdown_grace_secs" => secs(self.shutdown_grace),
            "max_connections" => self.max_connections.to_string(),
            "max_connections_per_ip" => self.max_connections_per_ip.to_string(),
            "body_read_timeout_secs" => secs(self.body_read_timeout),
            "log" => text(&self.log),
            "tls.cert" => path(&self.tls.cert),
            "tls.key" => path(&self.tls.key),
            "tls.ca" => path(&self.tls.ca),
            "peers" => {
                let entries: Vec<String> = self
                    .peers
                    .iter()
                    .map(|(domain, url)| format!("{} = {}", text(domain), text(url.as_str())))
                    .collect();
                if entries.is_empty() {
                    "{}".to_owned()
                } else {
                    format!("{{ {} }}", entries.join(", "))
                }
            }
            "consent" => text(match self.consent {
                ConsentPolicy::Open => "open",
                ConsentPolicy::Required => "required",
            }),
            "claims_per_pair" => self.claim_limits.per_pair.to_string(),
            "claims_per_requester" => self.claim_limits.per_requester.to_string(),
            "claims_per_peer_domain" => self.claim_limits.per_peer_domain.to_string(),
            "claims_per_peer" => self.claim_limits.per_peer.to_string(),
            "group_info_per_client" => self.group_info_limits.per_client.to_string(),
            "group_info_per_peer" => self.group_info_limits.per_peer.to_string(),
            "max_key_packages_per_client" => self.quotas.key_packages_per_client.to_string(),
            "max_rooms_per_user" => self.quotas.rooms_per_user.to_string(),
            "max_members_per_room" => self.quotas.members_per_room.to_string(),
            "max_proposals_per_epoch" => self.quotas.proposals_per_epoch.to_string(),
            "max_abuse_reports_per_reporter" => self.quotas.abuse_reports_per_reporter.to_string(),
            "registration" => text(self.registration.name()),
            "token_lifetime_secs" => secs(self.token_lifetime),
            "enrollment_code_lifetime_secs" => secs(self.enrollment_code_lifetime),
            "admin_socket" => path(&self.admin_socket_path()),
            "admin_listen" => {
                self.admin_listen.map_or_else(|| "(unset: no admin listener)".to_owned(), |a| text(&a.to_string()))
            }
            "admin_token" => self
                .admin_token
                .as_ref()
                .map_or_else(|| "(unset: no admin listener)".to_owned(), |_| "(set, not shown)".to_owned()),
            "retention_interval_secs" => secs(self.retention.interval),
            "queue_ttl_secs" => millis_as_secs(self.retention.retention.queue_ttl_ms),
            "dedup_window_secs" => millis_as_secs(self.retention.retention.dedup_window_ms),
            "log_retention_secs" => millis_as_secs(self.retention.retention.log_retention_ms),
            "trim_budget" => self.retention.budget.to_string(),
            "jwt.public_key" => jwt_value(|j| toml::Value::String(j.public_key.display().to_string()).to_string()),
            "jwt.algorithm" => jwt_value(|j| toml::Value::String(j.algorithm.name().to_owned()).to_string()),
            "jwt.issuer" => jwt_value(|j| toml::Value::String(j.issuer.clone()).to_string()),
            "jwt.audience" => jwt_value(|j| toml::Value::String(j.audience.clone()).to_string()),
            "jwt.leeway_secs" => jwt_value(|j| j.leeway_secs.to_string()),
            "metrics_listen" => match self.metrics_listen {
                Some(addr) => text(&addr.to_string()),
                None => "(unset: no metrics listener)".to_owned(),
            },
            "log_format" => text(self.log_format.name()),
            other => format!("(unset: no key `{other}`)"),
        }
    }

    /// The redb file inside [`Config::data_dir`].
    pub fn store_path(&self) -> PathBuf {
        self.data_dir.join("mimi-ds.redb")
    }

    /// The admin socket: [`Config::admin_socket`], or `admin.sock` in [`Config::data_dir`].
    pub fn admin_socket_path(&self) -> PathBuf {
        self.admin_socket.clone().unwrap_or_else(|| self.data_dir.join(DEFAULT_ADMIN_SOCKET))
    }
}

/// The process's environment variables that are valid UTF-8, as [`Config::load`] reads them.
pub fn process_env() -> impl Iterator<Item = (String, String)> {
    std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
}

fn read_file(path: &Path) -> Result<RawConfig, ConfigError> {
    let read_err = |source| ConfigError::Read { path: path.to_owned(), source };
    let len = std::fs::metadata(path).map_err(read_err)?.len();
    if len > MAX_CONFIG_FILE_BYTES {
        return Err(ConfigError::TooLarge { path: path.to_owned(), len });
    }
    let text = std::fs::read_to_string(path).map_err(read_err)?;
    parse_toml(&text, path)
}

fn parse_toml(text: &str, path: &Path) -> Result<RawConfig, ConfigError> {
    let parse_err = |e: toml::de::Error| ConfigError::Parse {
        path: path.to_owned(),
        message: e.to_string().trim_end().replace('\n', " | "),
    };
    let mut raw: RawConfig = toml::from_str(text).map_err(parse_err)?;
    // The same text as a table, for the keys it sets (every one of them is known: `raw` refused
    // unknown keys); `[peers]` is one key, the whole table.
    let table: toml::Table = text.parse().map_err(parse_err)?;
    let origin = Origin::File(path.to_owned());
    for (name, value) in &table {
        let names: Vec<String> = match value {
            toml::Value::Table(sub) if name != "peers" => sub.keys().map(|k| format!("{name}.{k}")).collect(),
            _ => vec![name.clone()],
        };
        for name in names {
            if let Some(key) = known_key(&name) {
                raw.origins.insert(key, origin.clone());
            }
        }
    }
    Ok(raw)
}

/// The key named `name`, as listed in [`ENV_KEYS`].
fn known_key(name: &str) -> Option<&'static str> {
    ENV_KEYS.iter().map(|(_, key)| *key).find(|key| *key == name)
}

fn apply_env(raw: &mut RawConfig, env: impl IntoIterator<Item = (String, String)>) -> Result<(), ConfigError> {
    for (name, value) in env {
        if !name.starts_with(ENV_PREFIX) {
            continue;
        }
        let Some(&(var, key)) = ENV_KEYS.iter().find(|(var, _)| *var == name) else {
            return Err(ConfigError::UnknownEnv {
                name,
                known: ENV_KEYS.iter().map(|(var, _)| *var).collect::<Vec<_>>().join(", "),
            });
        };
        let origin = Origin::Env(var);
        let invalid = |reason: String| ConfigError::Invalid { key: key.to_owned(), origin: origin.to_string(), reason };
        let number = |value: &str| -> Result<u64, ConfigError> {
            value.trim().parse::<u64>().map_err(|_| invalid(format!("`{value}` is not a non-negative integer")))
        };
        match key {
            "domain" => raw.domain = Some(value),
            "listen" => raw.listen = Some(value),
            "public_url" => raw.public_url = Some(value),
            "data_dir" => raw.data_dir = Some(PathBuf::from(value)),
            "max_body_bytes" => raw.max_body_bytes = Some(number(&value)?),
            "max_update_body_bytes" => raw.max_update_body_bytes = Some(number(&value)?),
            "max_notify_body_bytes" => raw.max_notify_body_bytes = Some(number(&value)?),
            "shutdown_grace_secs" => raw.shutdown_grace_secs = Some(number(&value)?),
            "max_connections" => raw.max_connections = Some(number(&value)?),
            "max_connections_per_ip" => raw.max_connections_per_ip = Some(number(&value)?),
            "body_read_timeout_secs" => raw.body_read_timeout_secs = Some(number(&value)?),
            "log" => raw.log = Some(value),
            "tls.cert" => raw.tls.cert = Some(PathBuf::from(value)),
            "tls.key" => raw.tls.key = Some(PathBuf::from(value)),
            "tls.ca" => raw.tls.ca = Some(PathBuf::from(value)),
            "peers" => raw.peers = Some(parse_peers_env(&value).map_err(invalid)?),
            "consent" => raw.consent = Some(value),
            "claims_per_pair" => raw.claims_per_pair = Some(number(&value)?),
            "claims_per_requester" => raw.claims_per_requester = Some(number(&value)?),
            "claims_per_peer_domain" => raw.claims_per_peer_domain = Some(number(&value)?),
            "claims_per_peer" => raw.claims_per_peer = Some(number(&value)?),
            "group_info_per_client" => raw.group_info_per_client = Some(number(&value)?),
            "group_info_per_peer" => raw.group_info_per_peer = Some(number(&value)?),
            "max_key_packages_per_client" => raw.max_key_packages_per_client = Some(number(&value)?),
            "max_rooms_per_user" => raw.max_rooms_per_user = Some(number(&value)?),
            "max_members_per_room" => raw.max_members_per_room = Some(number(&value)?),
            "max_proposals_per_epoch" => raw.max_proposals_per_epoch = Some(number(&value)?),
            "max_abuse_reports_per_reporter" => raw.max_abuse_reports_per_reporter = Some(number(&value)?),
            "registration" => raw.registration = Some(value),
            "token_lifetime_secs" => raw.token_lifetime_secs = Some(number(&value)?),
            "enrollment_code_lifetime_secs" => raw.enrollment_code_lifetime_secs = Some(number(&value)?),
            "admin_socket" => raw.admin_socket = Some(PathBuf::from(value)),
            "admin_listen" => raw.admin_listen = Some(value),
            "admin_token" => raw.admin_token = Some(value),
            "retention_interval_secs" => raw.retention_interval_secs = Some(number(&value)?),
            "queue_ttl_secs" => raw.queue_ttl_secs = Some(number(&value)?),
            "dedup_window_secs" => raw.dedup_window_secs = Some(number(&value)?),
            "log_retention_secs" => raw.log_retention_secs = Some(number(&value)?),
            "trim_budget" => raw.trim_budget = Some(number(&value)?),
            "jwt.public_key" => raw.jwt.public_key = Some(PathBuf::from(value)),
            "jwt.algorithm" => raw.jwt.algorithm = Some(value),
            "jwt.issuer" => raw.jwt.issuer = Some(value),
            "jwt.audience" => raw.jwt.audience = Some(value),
            "jwt.leeway_secs" => raw.jwt.leeway_secs = Some(number(&value)?),
            "metrics_listen" => raw.metrics_listen = Some(value),
            "log_format" => raw.log_format = Some(value),
            _ => unreachable!("ENV_KEYS and this match list the same keys"),
        }
        raw.origins.insert(key, origin);
    }
    Ok(())
}

/// Parses `b.example=https://127.0.0.1:8444,c.example=https://127.0.0.1:8445` (empty: no peers).
fn parse_peers_env(value: &str) -> Result<BTreeMap<String, String>, String> {
    let mut peers = BTreeMap::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((domain, url)) = entry.split_once('=') else {
            return Err(format!("entry `{entry}` is not of the form <domain>=<base URL>"));
        };
        let domain = domain.trim().to_owned();
        if peers.insert(domain.clone(), url.trim().to_owned()).is_some() {
            return Err(format!("peer `{domain}` is listed twice"));
        }
    }
    Ok(peers)
}

/// A count setting: `default` when absent, else a value from 1 to `max`.
fn count(value: Option<u64>, default: usize, max: usize) -> Result<usize, String> {
    match value {
        None => Ok(default),
        Some(n) => usize::try_from(n)
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| format!("{n} is not between 1 and {max}")),
    }
}

/// Checks that `domain` is a lowercase DNS name: 1 to 253 bytes, dot-separated labels of 1 to 63 bytes
/// from `a-z`, `0-9` and `-`, not starting or ending with `-`, and not an IP address. (This also makes it
/// safe to use in file names, see [`crate::pki`].)
pub fn validate_domain(domain: &str) -> Result<(), String> {
    if domain.is_empty() || domain.len() > 253 {
        return Err(format!("`{domain}` must be 1 to 253 bytes long"));
    }
    for label in domain.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!("`{domain}` has an empty label or one longer than 63 bytes"));
        }
        if !label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return Err(format!("`{domain}` may only contain lowercase letters, digits, `-` and `.`"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("`{domain}` has a label starting or ending with `-`"));
        }
    }
    if domain.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(format!("`{domain}` is an IP address, not a domain"));
    }
    Ok(())
}

/// Parses an `https://host[:port]` base URL (a trailing `/` is allowed; no path, query, fragment or
/// credentials).
fn parse_base_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    if url.scheme() != "https" {
        return Err(format!("`{text}` must use https"));
    }
    if url.host().is_none() {
        return Err(format!("`{text}` has no host"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(format!("`{text}` must be a base URL without path, query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("`{text}` must not carry credentials"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let c = Config::default();
        assert_eq!(c.domain, "a.example");
        assert_eq!(c.listen.to_string(), "127.0.0.1:8443");
        assert_eq!(c.public_url(8443).unwrap().as_str(), "https://a.example:8443/");
        assert_eq!(c.public_url(443).unwrap().as_str(), "https://a.example/");
        assert_eq!(c.tls.cert, Path::new("./pki/a.example.pem"));
    }

    #[test]
    fn domains() {
        for ok in ["a.example", "x-1.b2.example", "localhost"] {
            assert!(validate_domain(ok).is_ok(), "{ok}");
        }
        for bad in ["", "A.example", "a..example", "-a.example", "a.example.", "../x", "127.0.0.1", "a_b.example"] {
            assert!(validate_domain(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn peers_env_syntax() {
        let p = parse_peers_env("b.example=https://127.0.0.1:1, c.example=https://c.example").unwrap();
        assert_eq!(p.len(), 2);
        assert!(parse_peers_env("b.example").is_err());
        assert!(parse_peers_env("b.example=x,b.example=y").is_err());
        assert!(parse_peers_env("").unwrap().is_empty());
    }

    #[test]
    fn claim_limits() {
        assert_eq!(Config::default().claim_limits, ClaimLimits::default());
        let c = Config::from_toml("claims_per_pair = 5\nclaims_per_peer = 50000", "t").unwrap();
        assert_eq!(c.claim_limits, ClaimLimits { per_pair: 5, per_peer: 50_000, ..ClaimLimits::default() });
        let env = [
            ("MIMI_DS_CLAIMS_PER_REQUESTER".to_owned(), "7".to_owned()),
            ("MIMI_DS_CLAIMS_PER_PEER_DOMAIN".to_owned(), "70".to_owned()),
        ];
        let c = Config::load_with_env(None, env).unwrap();
        assert_eq!((c.claim_limits.per_requester, c.claim_limits.per_peer_domain), (7, 70));
        for key in ["claims_per_pair", "claims_per_requester", "claims_per_peer_domain", "claims_per_peer"] {
            let err = Config::from_toml(&format!("{key} = 0"), "t").unwrap_err().to_string();
            assert!(err.contains(&format!("`{key}`")) && err.contains("not between 1"), "{err}");
        }
        // The per-target limit is gone: a file still naming it is refused, not silently ignored.
        assert!(Config::from_toml("claims_per_minute = 30", "t").is_err());
    }

    #[test]
    fn admin_listener_is_loopback_with_a_token() {
        let c = Config::default();
        assert_eq!((c.admin_listen, c.admin_token), (None, None));
        let token = "admin_token = \"0123456789abcdef\"";
        let c = Config::from_toml(&format!("admin_listen = \"127.0.0.1:8444\"\n{token}"), "t").unwrap();
        assert_eq!(c.admin_listen, Some("127.0.0.1:8444".parse().unwrap()));
        assert_eq!(c.admin_token.as_deref(), Some("0123456789abcdef"));
        assert_eq!(c.effective_value("admin_token"), "(set, not shown)");
        for (text, key, why) in [
            ("admin_listen = \"127.0.0.1:8444\"", "admin_token", "must be set"),
            ("admin_listen = \"127.0.0.1:8444\"\nadmin_token = \"short\"", "admin_token", "at least 16"),
            (&format!("admin_listen = \"0.0.0.0:8444\"\n{token}"), "admin_listen", "not a loopback"),
            (&format!("admin_listen = \"localhost\"\n{token}"), "admin_listen", "not an IP address"),
            (token, "admin_token", "admin_listen is not"),
        ] {
            let err = Config::from_toml(text, "t").unwrap_err().to_string();
            assert!(err.contains(&format!("`{key}`")) && err.contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn body_limits_per_route() {
        let c = Config::default();
        assert_eq!(BodyRoute::of("/v1/update/mimi%3A%2F%2Fa.example%2Fr%2Fclub"), BodyRoute::Update);
        assert_eq!(BodyRoute::of("/client/v1/rooms/mimi%3A%2F%2Fa.example%2Fr%2Fclub/update"), BodyRoute::Update);
        assert_eq!(BodyRoute::of("/v1/notify/mimi%3A%2F%2Fb.example%2Fr%2Fx"), BodyRoute::Notify);
        assert_eq!(BodyRoute::of("/client/v1/rooms/mimi%3A%2F%2Fa.example%2Fr%2Fclub/submitMessage"), BodyRoute::Other);
        assert_eq!(BodyRoute::of("/client/v1/keyPackages"), BodyRoute::Other);
        assert_eq!(c.body_limit(BodyRoute::Update), 32 << 20);
        assert_eq!(c.body_limit(BodyRoute::Notify), 32 << 20);
        assert_eq!(c.body_limit(BodyRoute::Other), 4 << 20);
        let env = [("MIMI_DS_MAX_UPDATE_BODY_BYTES".to_owned(), "1000".to_owned())];
        assert_eq!(Config::load_with_env(None, env).unwrap().max_update_body_bytes, 1000);
        let c = Config::from_toml("max_notify_body_bytes = 2000", "t").unwrap();
        assert_eq!(c.max_notify_body_bytes, 2000);
        assert!(Config::from_toml("max_update_body_bytes = 0", "t").is_err());
    }

    #[test]
    fn quotas() {
        assert_eq!(Config::default().quotas, Quotas::default());
        assert_eq!(Quotas::default().key_packages_per_client, 200);
        assert_eq!(Quotas::default().rooms_per_user, 1000);
        assert_eq!(Quotas::default().members_per_room, 20_000);
        let c = Config::from_toml("max_members_per_room = 11000", "t").unwrap();
        assert_eq!(c.quotas.members_per_room, 11_000);
        assert_eq!(Quotas::default().proposals_per_epoch, 1000);
        assert_eq!(Quotas::default().abuse_reports_per_reporter, 100);
        let c = Config::from_toml("max_key_packages_per_client = 5", "t").unwrap();
        assert_eq!(c.quotas, Quotas { key_packages_per_client: 5, ..Quotas::default() });
        let env = [("MIMI_DS_MAX_KEY_PACKAGES_PER_CLIENT".to_owned(), "7".to_owned())];
        assert_eq!(Config::load_with_env(None, env).unwrap().quotas.key_packages_per_client, 7);
        let env = [("MIMI_DS_MAX_ROOMS_PER_USER".to_owned(), "3".to_owned())];
        assert_eq!(Config::load_with_env(None, env).unwrap().quotas.rooms_per_user, 3);
        let keys = [
            "max_key_packages_per_client",
            "max_rooms_per_user",
            "max_members_per_room",
            "max_proposals_per_epoch",
            "max_abuse_reports_per_reporter",
        ];
        for key in keys {
            let err = Config::from_toml(&format!("{key} = 0"), "t").unwrap_err().to_string();
            assert!(err.contains(&format!("`{key}`")) && err.contains("not between 1"), "{err}");
        }
    }

    #[test]
    fn registration_is_closed_by_default_and_jwt_needs_its_table() {
        let c = Config::default();
        assert_eq!(c.registration, Registration::Codes);
        assert_eq!(c.token_lifetime, DEFAULT_TOKEN_LIFETIME);
        assert_eq!(c.enrollment_code_lifetime, Duration::from_secs(24 * 3600));
        assert_eq!(c.admin_socket_path(), Path::new("./data/admin.sock"));
        assert_eq!(Config::from_toml("registration = \"open\"", "t").unwrap().registration, Registration::Open);
        let env = [("MIMI_DS_REGISTRATION".to_owned(), "open".to_owned())];
        assert_eq!(Config::load_with_env(None, env).unwrap().registration, Registration::Open);
        let err = Config::from_toml("registration = \"anyone\"", "t").unwrap_err().to_string();
        assert!(err.contains("`registration`") && err.contains("anyone"), "{err}");

        let jwt = "registration = \"jwt\"\n[jwt]\npublic_key = \"idp.pem\"\nissuer = \"https://login.a.example\"";
        let Registration::Jwt(j) = Config::from_toml(jwt, "t").unwrap().registration else { panic!("jwt") };
        assert_eq!(j.audience, "a.example", "the audience is our domain by default");
        assert_eq!((j.algorithm, j.leeway_secs), (JwtAlgorithm::EdDsa, 60));
        let err = Config::from_toml("registration = \"jwt\"\n[jwt]\nissuer = \"x\"", "t").unwrap_err().to_string();
        assert!(err.contains("`jwt.public_key`"), "{err}");
        let err = Config::from_toml("[jwt]\nissuer = \"x\"", "t").unwrap_err().to_string();
        assert!(err.contains("`jwt.issuer`") && err.contains("not \"jwt\""), "{err}");
        let err = Config::from_toml(&format!("{jwt}\nalgorithm = \"HS256\""), "t").unwrap_err().to_string();
        assert!(err.contains("`jwt.algorithm`"), "{err}");

        let err = Config::from_toml("token_lifetime_secs = 5", "t").unwrap_err().to_string();
        assert!(err.contains("`token_lifetime_secs`"), "{err}");
        let c = Config::from_toml("token_lifetime_secs = 3600\nadmin_socket = \"/run/mimi.sock\"", "t").unwrap();
        assert_eq!(
            (c.token_lifetime, c.admin_socket_path()),
            (Duration::from_secs(3600), PathBuf::from("/run/mimi.sock"))
        );
    }

    #[test]
    fn every_key_has_a_value_and_an_origin() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("provider.toml");
        let file = "domain = \"b.example\"\nmax_rooms_per_user = 5\nlog = \"warn\"\n[tls]\ncert = \"b.pem\"\n\
                    [peers]\n\"c.example\" = \"https://127.0.0.1:9\"\n";
        std::fs::write(&path, file).unwrap();
        let env = [("MIMI_DS_MAX_ROOMS_PER_USER".to_owned(), "7".to_owned())];
        let sourced = Config::load_sourced(Some(&path), env).unwrap();
        assert_eq!(sourced.config.quotas.rooms_per_user, 7);
        let file_origin = Origin::File(path.clone());
        assert_eq!(sourced.origin("domain"), file_origin);
        assert_eq!(sourced.origin("tls.cert"), file_origin);
        assert_eq!(sourced.origin("peers"), file_origin);
        assert_eq!(sourced.origin("max_rooms_per_user"), Origin::Env("MIMI_DS_MAX_ROOMS_PER_USER"));
        assert_eq!(sourced.origin("tls.key"), Origin::Default);
        assert_eq!(sourced.origin("consent"), Origin::Default);

        let settings = sourced.settings();
        assert_eq!(settings.len(), ENV_KEYS.len());
        assert!(settings.iter().all(|s| !s.value.starts_with("(unset: no key")), "{settings:?}");
        let lines: Vec<String> = settings.iter().map(ToString::to_string).collect();
        let file_label = format!("file {}", path.display());
        for line in [
            format!("domain = \"b.example\"  # {file_label}"),
            "max_rooms_per_user = 7  # environment variable MIMI_DS_MAX_ROOMS_PER_USER".to_owned(),
            "tls.key = \"./pki/b.example.key\"  # default".to_owned(),
            format!("peers = {{ \"c.example\" = \"https://127.0.0.1:9/\" }}  # {file_label}"),
            "jwt.issuer = (unset: registration is \"codes\")  # default".to_owned(),
            "public_url = (unset: https://b.example:<bound port>)  # default".to_owned(),
        ] {
            assert!(lines.contains(&line), "{line} not in {lines:#?}");
        }

        // Errors name the origin of the value refused: the file, or the default for a key unset.
        std::fs::write(&path, "max_rooms_per_user = 0").unwrap();
        let err = Config::load_sourced(Some(&path), []).unwrap_err().to_string();
        assert!(err.contains(&format!("`max_rooms_per_user` (from {})", path.display())), "{err}");
        let err = Config::from_toml("registration = \"jwt\"\n[jwt]\nissuer = \"x\"", "t").unwrap_err().to_string();
        assert!(err.contains("`jwt.public_key` (from default)"), "{err}");
    }

    #[test]
    fn metrics_listener_and_log_format() {
        let c = Config::default();
        assert_eq!((c.metrics_listen, c.log_format), (None, LogFormat::Text));
        let c = Config::from_toml("metrics_listen = \"127.0.0.1:9464\"\nlog_format = \"json\"", "t").unwrap();
        assert_eq!(c.metrics_listen, Some("127.0.0.1:9464".parse().unwrap()));
        assert_eq!(c.log_format, LogFormat::Json);
        let env = [
            ("MIMI_DS_METRICS_LISTEN".to_owned(), "[::1]:0".to_owned()),
            ("MIMI_DS_LOG_FORMAT".to_owned(), "text".to_owned()),
        ];
        let c = Config::load_with_env(None, env).unwrap();
        assert_eq!((c.metrics_listen, c.log_format), (Some("[::1]:0".parse().unwrap()), LogFormat::Text));
        let err = Config::from_toml("metrics_listen = \"localhost\"", "t").unwrap_err().to_string();
        assert!(err.contains("`metrics_listen`") && err.contains("not an IP address with a port"), "{err}");
        let err = Config::from_toml("metrics_listen = \"127.0.0.1:8443\"", "t").unwrap_err().to_string();
        assert!(err.contains("HTTPS listener"), "{err}");
        let err = Config::from_toml("log_format = \"xml\"", "t").unwrap_err().to_string();
        assert!(err.contains("`log_format`") && err.contains("neither"), "{err}");
    }

    #[test]
    fn consent_policy() {
        assert_eq!(Config::default().consent, ConsentPolicy::Open);
        assert_eq!(Config::from_toml("consent = \"required\"", "t").unwrap().consent, ConsentPolicy::Required);
        let env = [("MIMI_DS_CONSENT".to_owned(), "open".to_owned())];
        assert_eq!(Config::load_with_env(None, env).unwrap().consent, ConsentPolicy::Open);
        let err = Config::from_toml("consent = \"maybe\"", "t").unwrap_err().to_string();
        assert!(err.contains("`consent`") && err.contains("maybe"), "{err}");
    }
}
