//! `mimi-ds init`: a ready-to-start set of federated development providers on one machine.
//!
//! `mimi-ds init --domains a.example,b.example,c.example --out DIR [--base-port 8443]` writes
//!
//! - `DIR/pki/`: a development CA and one certificate and key per domain ([`crate::pki`], so the
//!   providers authenticate each other by mutual TLS);
//! - `DIR/<domain>/provider.toml`: each provider's configuration, commented: its domain, its
//!   loopback address (`127.0.0.1:<base port + i>`, in the order the domains are given), its data
//!   directory `DIR/<domain>/data`, its TLS files, `registration = "open"` (development only: the
//!   simulator registers devices without credentials), the main tunables commented out at their
//!   defaults, and a `[peers]` table naming every other provider's `https://127.0.0.1:<port>`.
//!
//! Paths in the files are `DIR` joined as given, so a relative `DIR` is relative to the directory
//! `init` ran in, and each provider is started from there with `mimi-ds serve --config
//! DIR/<domain>/provider.toml` ([`Written::serve_commands`]). Every file written is loaded back
//! with [`Config::load_with_env`] before `init` reports success.
//!
//! A `DIR` that exists and is not empty is refused unless `force` is given; then the files above
//! are rewritten (an existing CA in `DIR/pki` is reused, see [`crate::pki`]) and the data
//! directories are left as they are.

use std::fs;
use std::path::{Path, PathBuf};

use crate::config::{validate_domain, Config, ConfigError, TlsPaths};
use crate::pki::PkiError;

/// The configuration file of each provider, in `DIR/<domain>/`.
pub const CONFIG_FILE: &str = "provider.toml";
/// The directory of the certificates, in `DIR`.
pub const PKI_DIR: &str = "pki";
/// The data directory of each provider, in `DIR/<domain>/`.
pub const DATA_DIR: &str = "data";
/// The first provider's port unless told otherwise (the port `mimi-ds serve` listens on by
/// default).
pub const DEFAULT_BASE_PORT: u16 = 8443;

/// Keys the files set themselves; every other top-level key is listed commented out at its
/// default.
const SET_KEYS: [&str; 4] = ["domain", "listen", "data_dir", "registration"];
/// Top-level keys not worth a line in a development set (their defaults follow from the keys set,
/// or they only apply with another registration mode).
const UNLISTED_KEYS: [&str; 3] = ["public_url", "admin_socket", "peers"];

/// An error writing the provider set.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// No domain was given.
    #[error("no domains given")]
    NoDomains,
    /// A domain is not a valid lowercase DNS name (the configuration's own check).
    #[error("invalid domain: {0}")]
    Domain(String),
    /// The same domain was given twice.
    #[error("domain {0} is given twice")]
    DuplicateDomain(String),
    /// The ports from the base port do not fit (port 0 or beyond 65535), or two providers share one.
    #[error("ports: {0}")]
    Ports(String),
    /// The output directory exists and holds something.
    #[error("{} exists and is not empty; refusing to overwrite it without --force", dir.display())]
    NotEmpty {
        /// The directory.
        dir: PathBuf,
    },
    /// The certificates could not be made.
    #[error("development certificates: {0}")]
    Pki(#[from] PkiError),
    /// Reading or writing a file or directory failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A configuration file written does not load (a bug of this module).
    #[error("the written configuration {} does not load: {source}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// Why.
        source: ConfigError,
    },
}

/// One provider to write: its domain and its loopback port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// The provider's domain.
    pub domain: String,
    /// The loopback port it listens on (and its peers reach it at).
    pub port: u16,
}

impl Provider {
    /// `https://127.0.0.1:<port>`: where the others reach it.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }
}

/// What [`write`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The CA certificate every provider trusts.
    pub ca: PathBuf,
    /// Whether the CA was newly made (`false`: an existing one in `DIR/pki` was reused).
    pub ca_created: bool,
    /// Each provider and its configuration file, in the order given.
    pub providers: Vec<(Provider, PathBuf)>,
}

impl Written {
    /// The command starting each provider, in order (from the directory `init` ran in).
    pub fn serve_commands(&self) -> Vec<String> {
        self.providers.iter().map(|(_, file)| format!("mimi-ds serve --config {}", file.display())).collect()
    }
}

/// The providers for `domains` on consecutive ports from `base_port`, in order.
pub fn plan(domains: &[String], base_port: u16) -> Result<Vec<Provider>, InitError> {
    domains
        .iter()
        .enumerate()
        .map(|(i, domain)| {
            let port = u16::try_from(usize::from(base_port) + i).map_err(|_| {
                InitError::Ports(format!("{} providers from port {base_port} go beyond 65535", domains.len()))
            })?;
            Ok(Provider { domain: domain.clone(), port })
        })
        .collect()
}

/// Writes the certificates and one configuration per provider into `out` (see the module docs).
pub fn write(out: &Path, providers: &[Provider], force: bool) -> Result<Written, InitError> {
    check(providers)?;
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| InitError::Io { path, source }
    };
    if !force {
        match fs::read_dir(out) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(InitError::NotEmpty { dir: out.to_owned() });
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(out)(e)),
        }
    }

    let pki_dir = out.join(PKI_DIR);
    let domains: Vec<String> = providers.iter().map(|p| p.domain.clone()).collect();
    let pki = crate::pki::generate(&pki_dir, &domains)?;
    let tunables = tunables();
    let mut written = Vec::with_capacity(providers.len());
    for provider in providers {
        let dir = out.join(&provider.domain);
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let file = dir.join(CONFIG_FILE);
        let text = provider_toml(out, provider, providers, &tunables);
        fs::write(&file, text).map_err(io(&file))?;
        Config::load_with_env(Some(&file), std::iter::empty())
            .map_err(|source| InitError::Config { path: file.clone(), source })?;
        written.push((provider.clone(), file));
    }
    Ok(Written { ca: pki.ca_cert, ca_created: pki.ca_created, providers: written })
}

/// Refuses an empty set, invalid or repeated domains, port 0 and shared ports.
fn check(providers: &[Provider]) -> Result<(), InitError> {
    if providers.is_empty() {
        return Err(InitError::NoDomains);
    }
    for (i, p) in providers.iter().enumerate() {
        validate_domain(&p.domain).map_err(InitError::Domain)?;
        if providers[..i].iter().any(|q| q.domain == p.domain) {
            return Err(InitError::DuplicateDomain(p.domain.clone()));
        }
        if p.port == 0 {
            return Err(InitError::Ports(format!("{} has port 0; its peers could not name its port", p.domain)));
        }
        if let Some(q) = providers[..i].iter().find(|q| q.port == p.port) {
            return Err(InitError::Ports(format!("{} and {} both have port {}", q.domain, p.domain, p.port)));
        }
    }
    Ok(())
}

/// The commented-out lines of the tunables: `# key = default  # MIMI_DS_KEY`, from the
/// configuration's own defaults.
fn tunables() -> Vec<String> {
    let defaults = Config::load_sourced(None, std::iter::empty())
        .unwrap_or_else(|e| unreachable!("built-in defaults are invalid: {e}"));
    defaults
        .settings()
        .into_iter()
        .filter(|s| !s.key.contains('.') && !SET_KEYS.contains(&s.key) && !UNLISTED_KEYS.contains(&s.key))
        .map(|s| format!("# {} = {}  # {}", s.key, s.value, s.env))
        .collect()
}

/// A TOML string.
fn quoted(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

fn quoted_path(path: &Path) -> String {
    quoted(&path.display().to_string())
}

/// The configuration file of `provider` among `all`, rooted at `out`.
fn provider_toml(out: &Path, provider: &Provider, all: &[Provider], tunables: &[String]) -> String {
    let domain = &provider.domain;
    let file = out.join(domain).join(CONFIG_FILE).display().to_string();
    let names = all.iter().map(|p| p.domain.as_str()).collect::<Vec<_>>().join(", ");
    let tls = TlsPaths::dev_pki(&out.join(PKI_DIR), domain);
    let peers: String = all
        .iter()
        .filter(|p| p.domain != *domain)
        .map(|p| format!("{} = {}\n", quoted(&p.domain), quoted(&p.url())))
        .collect();
    format!(
        r#"# {domain}: one of the development providers {names} written by `mimi-ds init`.
# Start it from the directory `mimi-ds init` ran in (relative paths below are taken from there):
#   mimi-ds serve --config {file}
# Every key can also be set by its MIMI_DS_* environment variable, which wins over this file;
# `mimi-ds config check {file}` prints every effective value and where it came from.
# The keys are described in delivery-service/src/config.rs.

domain = {domain_value}
listen = {listen}
data_dir = {data_dir}

# Development only: anyone may register any device without a credential (as `mimi-sim` does).
# Without this line a new device needs a one-time code from
# `mimi-ds user add USER --config {file}` (registration = "codes", the default).
registration = "open"

# The main tunables, at their defaults (uncomment to change):
{tunables}

# Development certificates: the CA's key is next to them; never use them outside development.
[tls]
cert = {cert}
key = {key}
ca = {ca}

# The other providers: where to reach each (TLS checks the domain, not the address).
[peers]
{peers}"#,
        domain_value = quoted(domain),
        listen = quoted(&format!("127.0.0.1:{}", provider.port)),
        data_dir = quoted_path(&out.join(domain).join(DATA_DIR)),
        tunables = tunables.join("\n"),
        cert = quoted_path(&tls.cert),
        key = quoted_path(&tls.key),
        ca = quoted_path(&tls.ca),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn providers(domains: &[&str], base: u16) -> Vec<Provider> {
        plan(&domains.iter().map(|d| (*d).to_owned()).collect::<Vec<_>>(), base).unwrap()
    }

    #[test]
    fn writes_loadable_configs_naming_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("set");
        let set = providers(&["a.example", "b.example", "c.example"], 9443);
        let written = write(&out, &set, false).unwrap();
        assert!(written.ca_created);
        assert_eq!(written.ca, out.join("pki/ca.pem"));
        for (i, (provider, file)) in written.providers.iter().enumerate() {
            assert_eq!(*file, out.join(&provider.domain).join("provider.toml"));
            let c = Config::load_with_env(Some(file), std::iter::empty()).unwrap();
            assert_eq!(c.domain, provider.domain);
            assert_eq!(c.listen.port(), 9443 + i as u16);
            assert_eq!(c.data_dir, out.join(&provider.domain).join("data"));
            assert_eq!(c.tls, TlsPaths::dev_pki(&out.join("pki"), &provider.domain));
            let peers: Vec<(String, String)> = c.peers.iter().map(|(d, u)| (d.clone(), u.to_string())).collect();
            let expected: Vec<(String, String)> = set
                .iter()
                .filter(|p| p.domain != provider.domain)
                .map(|p| (p.domain.clone(), format!("{}/", p.url())))
                .collect();
            assert_eq!(peers, expected);
            assert!(c.tls.cert.exists() && c.tls.key.exists() && c.tls.ca.exists());
            // The tunables are there, commented out, at the defaults.
            let text = std::fs::read_to_string(file).unwrap();
            assert!(text.contains("\n# max_rooms_per_user = 1000  # MIMI_DS_MAX_ROOMS_PER_USER\n"), "{text}");
        }
        assert_eq!(
            written.serve_commands()[1],
            format!("mimi-ds serve --config {}", out.join("b.example/provider.toml").display())
        );

        // Not again into a directory that is not empty, unless forced (the CA is then reused).
        assert!(matches!(write(&out, &set, false), Err(InitError::NotEmpty { .. })));
        assert!(!write(&out, &set, true).unwrap().ca_created);
    }

    #[test]
    fn refuses_bad_sets() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("set");
        let err = write(&out, &providers(&["a.example", "B.example"], 9443), false).unwrap_err();
        assert!(matches!(&err, InitError::Domain(reason) if reason.contains("B.example")), "{err}");
        let err = write(&out, &providers(&["a.example", "a.example"], 9443), false).unwrap_err();
        assert!(matches!(err, InitError::DuplicateDomain(_)), "{err}");
        assert!(matches!(write(&out, &[], false), Err(InitError::NoDomains)));
        assert!(matches!(plan(&["a.example".into(), "b.example".into()], 65535), Err(InitError::Ports(_))));
        let err = write(&out, &providers(&["a.example"], 0), false).unwrap_err();
        assert!(matches!(err, InitError::Ports(_)), "{err}");
        assert!(!out.exists(), "nothing is written for a refused set");
    }
}
