//! TLS for the provider: the rustls server configuration with optional client certificates, the peer
//! identity a verified client certificate yields, and the outbound HTTPS client that presents the
//! provider's certificate to peers (mutual TLS: a peer is the domain its certificate names).
//!
//! One port serves both APIs: the server *requests* a client certificate and verifies it against the
//! configured CA when one is presented, but does not require one. A connection that presented a valid
//! certificate carries a [`PeerIdentity`] (the certificate's DNS names) into every request's extensions;
//! the server-to-server API binds the `From: mimi@<domain>` header to it, while the client API (bearer
//! tokens) ignores it. A certificate that does not chain to the CA fails the TLS handshake.
//!
//! Cryptography is rustls with the `ring` provider, always passed explicitly (no process-wide default is
//! installed or relied on), so nothing here needs cmake or nasm to build.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use url::Url;

use crate::config::{Config, TlsPaths};

/// ALPN protocols the server offers, in preference order.
pub const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// An error loading TLS material or building a TLS configuration.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or parsed.
    #[error("{what} {path}: {reason}")]
    Pem {
        /// What the file should hold, e.g. "certificate file".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why it was refused.
        reason: String,
    },
    /// rustls refused the configuration (e.g. a key that does not match the certificate).
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client verifier could not be built from the CA file.
    #[error("client certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// The outbound HTTP client could not be built.
    #[error("peer HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// The verified identity of a peer that presented a client certificate chaining to our CA.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PeerIdentity {
    /// The certificate's DNS subject alternative names, lowercased; wildcard names and IP addresses are
    /// left out. A provider's certificate names its domain, e.g. `["b.example"]`.
    pub domains: Vec<String>,
}

impl PeerIdentity {
    /// Extracts the identity from an end-entity certificate that rustls has already verified. Returns
    /// `None` if the certificate cannot be parsed (which a verified certificate always can).
    pub fn from_certificate(cert: &CertificateDer<'_>) -> Option<PeerIdentity> {
        let cert = webpki::EndEntityCert::try_from(cert).ok()?;
        let mut domains: Vec<String> =
            cert.valid_dns_names().filter(|n| !n.starts_with('*')).map(|n| n.to_ascii_lowercase()).collect();
        domains.sort();
        domains.dedup();
        Some(PeerIdentity { domains })
    }

    /// Whether the certificate names `domain` (ASCII case-insensitive), e.g. the domain of a request's
    /// `From: mimi@<domain>` header.
    pub fn names(&self, domain: &str) -> bool {
        self.domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
    }
}

/// The crypto provider used everywhere in this crate: rustls with `ring`.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads a PEM file's certificates (at least one; leaf first for a chain).
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let what = "certificate file";
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_err(what, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_err(what, path, e))?;
    if certs.is_empty() {
        return Err(TlsError::Pem { what, path: path.to_owned(), reason: "no CERTIFICATE block".to_owned() });
    }
    Ok(certs)
}

/// Reads the first private key (PKCS#8, SEC1 or PKCS#1) from a PEM file.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| pem_err("private key file", path, e))
}

/// Reads the CA file into a root store (every certificate in it becomes a trust anchor).
pub fn load_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(path)? {
        roots.add(cert).map_err(|e| TlsError::Pem {
            what: "CA file",
            path: path.to_owned(),
            reason: format!("not a usable trust anchor: {e}"),
        })?;
    }
    Ok(roots)
}

fn pem_err(what: &'static str, path: &Path, e: rustls::pki_types::pem::Error) -> TlsError {
    TlsError::Pem { what, path: path.to_owned(), reason: e.to_string() }
}

/// The server configuration: our certificate, client certificates requested and verified against the CA
/// when presented (not required), ALPN `h2` and `http/1.1`.
pub fn server_config(paths: &TlsPaths) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = crypto_provider();
    let roots = Arc::new(load_roots(&paths.ca)?);
    let verifier =
        WebPkiClientVerifier::builder_with_provider(roots, provider.clone()).allow_unauthenticated().build()?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(load_certs(&paths.cert)?, load_key(&paths.key)?)?;
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// A client configuration that trusts only the CA and presents our certificate (mutual TLS).
pub fn client_config(paths: &TlsPaths) -> Result<rustls::ClientConfig, TlsError> {
    let roots = load_roots(&paths.ca)?;
    let mut config = rustls::ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_client_auth_cert(load_certs(&paths.cert)?, load_key(&paths.key)?)?;
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// Connect timeout of [`PeerClient`].
pub const PEER_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Whole-request timeout of [`PeerClient`].
pub const PEER_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why there is no URL for a peer domain.
#[derive(Debug, thiserror::Error)]
pub enum PeerUrlError {
    /// The domain is not configured and is not a DNS name (an address, a port, other characters).
    #[error("`{domain}` is not a provider domain: {reason}")]
    NotADomain {
        /// The domain as given.
        domain: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The URL could not be built.
    #[error(transparent)]
    Url(#[from] url::ParseError),
    /// A peer's directory names an endpoint we do not call: not HTTPS, an address instead of a
    /// DNS name, or a port that the operator did not configure for that peer.
    #[error("the directory of {peer} names {url}: {reason}")]
    Endpoint {
        /// The peer domain.
        peer: String,
        /// The endpoint URL (with its variable filled in).
        url: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// The outbound HTTPS client for peer providers: trusts only the configured CA, presents the provider's
/// certificate, and reaches peers at the addresses in `[peers]` while checking the peer's **domain** in its
/// certificate.
///
/// A configured base URL that names an IP address (`"b.example" = "https://127.0.0.1:8444"`) is rewritten
/// to `https://b.example:8444/` with a resolver override `b.example → 127.0.0.1`, so TLS verifies the name
/// `b.example`, not the address. Domains not configured are reached at `https://<domain>/` through DNS.
#[derive(Debug, Clone)]
pub struct PeerClient {
    http: reqwest::Client,
    bases: BTreeMap<String, Url>,
}

impl PeerClient {
    /// Builds the client from the provider's TLS files and `[peers]`.
    pub fn new(config: &Config) -> Result<PeerClient, TlsError> {
        let mut builder = reqwest::Client::builder()
            .tls_backend_preconfigured(client_config(&config.tls)?)
            .https_only(true)
            .connect_timeout(PEER_CONNECT_TIMEOUT)
            .timeout(PEER_REQUEST_TIMEOUT)
            .no_proxy();
        let mut bases = BTreeMap::new();
        for (domain, url) in &config.peers {
            let mut base = url.clone();
            let ip = match url.host() {
                Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
                _ => None,
            };
            if let Some(ip) = ip {
                let port = url.port_or_known_default().unwrap_or(443);
                // `domain` was validated as a DNS name, so setting it as host cannot fail; if it somehow
                // did, the URL keeps the IP and TLS checks the IP SAN instead.
                if base.set_host(Some(domain)).is_ok() {
                    builder = builder.resolve(domain, SocketAddr::new(ip, port));
                }
            }
            bases.insert(domain.clone(), base);
        }
        Ok(PeerClient { http: builder.build()?, bases })
    }

    /// The base URL of `domain`'s provider: the configured one (rewritten as described above) or
    /// `https://<domain>/`. A domain not configured must be a DNS name (the rules of
    /// [`crate::config::validate_domain`], compared in lowercase): a domain taken from a URI a
    /// client or a peer sent (`mimi://10.0.0.7:6379/r/x`) must not make us connect to an address
    /// or port of its choosing. Refused before any connection is attempted.
    pub fn base_url(&self, domain: &str) -> Result<Url, PeerUrlError> {
        if let Some(url) = self.bases.get(domain) {
            return Ok(url.clone());
        }
        let lowercase = domain.to_ascii_lowercase();
        crate::config::validate_domain(&lowercase)
            .map_err(|reason| PeerUrlError::NotADomain { domain: domain.to_owned(), reason })?;
        Ok(Url::parse(&format!("https://{lowercase}/"))?)
    }

    /// Whether an endpoint URL from `peer`'s directory may be called: HTTPS, at a DNS name (not
    /// an address), on the default port unless `peer` is configured in `[peers]` (where the
    /// operator chose where it runs). A directory is the peer's word: it must not make us
    /// connect to an address or port of its choosing.
    pub fn check_endpoint(&self, peer: &str, url: &str) -> Result<(), PeerUrlError> {
        let refuse = |reason: &str| PeerUrlError::Endpoint {
            peer: peer.to_owned(),
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let parsed = Url::parse(url).map_err(|e| refuse(&e.to_string()))?;
        if parsed.scheme() != "https" {
            return Err(refuse("not an https URL"));
        }
        match parsed.host() {
            Some(url::Host::Domain(host)) => crate::config::validate_domain(&host.to_ascii_lowercase())
                .map_err(|reason| refuse(&format!("its host is not a DNS name: {reason}")))?,
            Some(_) => return Err(refuse("its host is an address, not a DNS name")),
            None => return Err(refuse("it has no host")),
        }
        if parsed.port().is_some_and(|p| p != 443) && !self.bases.contains_key(peer) {
            return Err(refuse("a port other than 443, for a peer whose address is not configured"));
        }
        Ok(())
    }

    /// The URL of `domain`'s endpoint directory (`/.well-known/mimi-protocol-directory`).
    pub fn directory_url(&self, domain: &str) -> Result<Url, PeerUrlError> {
        Ok(self.base_url(domain)?.join(mimi_protocol::directory::DIRECTORY_PATH)?)
    }

    /// The underlying client, for building requests to URLs from [`PeerClient::base_url`] or from a peer's
    /// directory.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }
}
