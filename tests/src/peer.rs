//! Raw requests as a peer provider (or an unauthenticated party) would send them, for the tests
//! that attack the server-to-server API directly: an HTTPS client without a certificate, a POST
//! with `From`, and the bodies the tests forge.

use mimi_client_sim::LocalProvider;
use mimi_protocol::consent::{Consent, ConsentEntry, ConsentScope};
use mimi_protocol::{Body as _, IdentifierUri};

/// An HTTPS client trusting the federation's CA, with no client certificate, reaching
/// `provider` by its domain.
pub fn anonymous_client(provider: &LocalProvider) -> anyhow::Result<reqwest::Client> {
    let roots = mimi_ds::tls::load_roots(&provider.config().tls.ca)?;
    let mut tls = rustls::ClientConfig::builder_with_provider(mimi_ds::tls::crypto_provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = mimi_ds::tls::ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .resolve(provider.domain(), provider.addr())
        .no_proxy()
        .build()?)
}

/// POSTs `body` to `path` at `base`, with `From: mimi@<from>`; returns the status and body.
pub async fn post(
    http: &reqwest::Client,
    base: &url::Url,
    path: &str,
    from: &str,
    body: Vec<u8>,
) -> anyhow::Result<(u16, Vec<u8>)> {
    let r = http
        .post(base.join(path)?)
        .header("from", format!("mimi@{from}"))
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await?;
    Ok((r.status().as_u16(), r.bytes().await?.to_vec()))
}

/// A `ConsentEntry` for `requester` → `target` in `room`, encoded.
pub fn consent_entry(consent: Consent, requester: &str, target: &str, room: &str) -> anyhow::Result<Vec<u8>> {
    Ok(ConsentEntry {
        consent,
        scope: ConsentScope {
            requester_uri: IdentifierUri::new(requester),
            target_uri: IdentifierUri::new(target),
            room_id: Some(IdentifierUri::new(room)),
        },
        consent_extensions: Default::default(),
    }
    .encode()?)
}
