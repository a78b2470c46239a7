//! Running providers targeted by URL, for `mimi-sim run|random|load --provider
//! DOMAIN=https://HOST:PORT --ca ca.pem` (instead of providers started in-process).
//!
//! A [`Target`] names the provider's domain (what TLS checks in its certificate, and the
//! domain of the users registered there) and where it listens. [`Target::connect`] resolves
//! the host and makes a [`Connection`] trusting only the given CA, as for a local provider.

use std::path::Path;
use std::str::FromStr;

use mimi_client::{ClientError, Connection};
use url::Url;

use crate::load::Endpoint;

/// A running provider: `DOMAIN=https://HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The provider's domain, e.g. `a.example`.
    pub domain: String,
    /// Where its client API listens (scheme https, host, port; no path).
    pub url: Url,
}

impl FromStr for Target {
    type Err = ClientError;

    fn from_str(s: &str) -> Result<Target, ClientError> {
        let bad = |why: String| ClientError::Protocol { what: format!("provider target {s:?}"), why };
        let (domain, url) = s.split_once('=').ok_or_else(|| bad("expected DOMAIN=https://HOST:PORT".into()))?;
        if domain.is_empty() {
            return Err(bad("empty domain".into()));
        }
        let url = Url::parse(url).map_err(|e| bad(e.to_string()))?;
        if url.scheme() != "https" {
            return Err(bad("the client API is HTTPS only".into()));
        }
        if url.host_str().is_none() || url.port_or_known_default().is_none() {
            return Err(bad("no host or port".into()));
        }
        Ok(Target { domain: domain.to_owned(), url })
    }
}

impl Target {
    /// Resolves the URL's host and connects, trusting only the CA certificates in `ca` (PEM).
    pub async fn connect(&self, ca: &Path) -> Result<Connection, ClientError> {
        self.endpoint(ca).await?.connect()
    }

    /// Resolves the URL's host: where to open connections (e.g. several, for load).
    pub async fn endpoint(&self, ca: &Path) -> Result<Endpoint, ClientError> {
        let unresolved = |why: String| ClientError::Protocol { what: format!("provider {}", self.url), why };
        let host = self.url.host_str().ok_or_else(|| unresolved("no host".into()))?;
        let port = self.url.port_or_known_default().ok_or_else(|| unresolved("no port".into()))?;
        // An IPv6 literal comes bracketed from the URL; lookup_host wants it bare.
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let mut addrs = tokio::net::lookup_host((host, port)).await.map_err(|e| unresolved(e.to_string()))?;
        let addr = addrs.next().ok_or_else(|| unresolved("host resolves to no address".into()))?;
        Ok(Endpoint { domain: self.domain.clone(), addr, ca: ca.to_owned() })
    }
}

/// Connects to every target, all trusting `ca`.
pub async fn connect_all(targets: &[Target], ca: &Path) -> Result<Vec<Connection>, ClientError> {
    let mut out = Vec::with_capacity(targets.len());
    for t in targets {
        out.push(t.connect(ca).await?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_domain_and_https_url() {
        let t: Target = "a.example=https://127.0.0.1:8443".parse().unwrap();
        assert_eq!(t.domain, "a.example");
        assert_eq!(t.url.port(), Some(8443));
        assert!("a.example=http://127.0.0.1:80".parse::<Target>().is_err());
        assert!("https://127.0.0.1:8443".parse::<Target>().is_err());
        assert!("=https://127.0.0.1:8443".parse::<Target>().is_err());
    }
}
