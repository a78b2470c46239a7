//! The client's TLS configuration: trust only the CA certificates the caller names (a provider's
//! development CA, say), with rustls' ring provider and ALPN `h2` then `http/1.1`, the protocols
//! a provider serves its client API on.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

/// ALPN protocols offered, in order of preference.
pub const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Why the TLS client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The CA file could not be read, holds no certificate, or a certificate in it is not a usable
    /// trust anchor.
    #[error("CA file {}: {reason}", path.display())]
    Ca {
        /// The file.
        path: PathBuf,
        /// Why it was refused.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// Every certificate in the PEM file `ca`, as trust anchors (at least one).
pub fn load_roots(ca: &Path) -> Result<RootCertStore, TlsError> {
    let refused = |reason: String| TlsError::Ca { path: ca.to_owned(), reason };
    let certs = CertificateDer::pem_file_iter(ca)
        .map_err(|e| refused(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| refused(e.to_string()))?;
    if certs.is_empty() {
        return Err(refused("no CERTIFICATE block".to_owned()));
    }
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots.add(cert).map_err(|e| refused(format!("not a usable trust anchor: {e}")))?;
    }
    Ok(roots)
}

/// A client configuration trusting only the certificates in the PEM file `ca` (no client
/// certificate: clients authenticate to their provider with a bearer token).
pub fn client_config(ca: &Path) -> Result<ClientConfig, TlsError> {
    let roots = load_roots(ca)?;
    let mut config = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_empty_ca_file_is_refused_with_its_path() {
        let dir = std::env::temp_dir().join(format!("mimi-client-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.pem");
        assert!(matches!(load_roots(&missing), Err(TlsError::Ca { path, .. }) if path == missing));
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no PEM here\n").unwrap();
        let err = client_config(&empty).unwrap_err();
        assert!(err.to_string().contains("no CERTIFICATE block"), "{err}");
        let not_a_cert = dir.join("garbage.pem");
        std::fs::write(&not_a_cert, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").unwrap();
        assert!(matches!(load_roots(&not_a_cert), Err(TlsError::Ca { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
