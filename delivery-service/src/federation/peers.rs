//! Calling peer providers: the mutually authenticated HTTPS client ([`PeerClient`]) plus each
//! peer's endpoint directory, fetched once and cached (docs/DESIGN.md §3.4: peers are always called
//! through the directory). Every request carries `From: mimi@<our domain>`.

use std::collections::HashMap;
use std::sync::Mutex;

use reqwest::header::{HeaderMap, CONTENT_TYPE, FROM};
use reqwest::StatusCode;

use crate::tls::{PeerClient, PeerUrlError};
use mimi_protocol::directory::{Directory, Endpoint};

/// Why a peer could not be called (no answer; an HTTP answer of any status is not an error).
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The peer named is not a provider domain we may call (an address or a port in a URI): the
    /// caller's mistake, nothing was sent.
    #[error("`{peer}` is not a provider domain: {reason}")]
    NotADomain {
        /// The domain as given.
        peer: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The peer's directory could not be fetched or parsed.
    #[error("directory of {peer}: {why}")]
    Directory {
        /// The peer's domain.
        peer: String,
        /// What went wrong.
        why: String,
    },
    /// The request failed before an answer.
    #[error("{endpoint} at {peer}: {source}")]
    Transport {
        /// The peer's domain.
        peer: String,
        /// The endpoint's directory key.
        endpoint: &'static str,
        /// The HTTP client's error.
        source: reqwest::Error,
    },
}

/// A peer's answer: status, headers and body, passed on unchanged by relays.
#[derive(Debug, Clone)]
pub struct PeerAnswer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The headers (for `Retry-After`).
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
}

/// Peer calls with cached directories.
#[derive(Debug)]
pub struct Peers {
    /// Our domain, sent in `From`.
    domain: String,
    client: PeerClient,
    directories: Mutex<HashMap<String, Directory>>,
}

impl Peers {
    /// Calls peers as `domain` through `client`.
    pub fn new(domain: &str, client: PeerClient) -> Self {
        Peers { domain: domain.to_owned(), client, directories: Mutex::new(HashMap::new()) }
    }

    /// The directory cache. Changed by single inserts, so a panic elsewhere cannot leave it
    /// half-changed: a poisoned lock is used as it is.
    fn directories(&self) -> std::sync::MutexGuard<'_, HashMap<String, Directory>> {
        self.directories.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The URL of `endpoint` at `peer` for `variable` (a room or user URI), from the peer's
    /// directory (fetched on first use).
    pub async fn url(&self, peer: &str, endpoint: Endpoint, variable: &str) -> Result<String, PeerError> {
        let cached = self.directories().get(peer).map(|dir| dir.url(endpoint, variable));
        if let Some(url) = cached {
            return Ok(url);
        }
        let err = |why: String| PeerError::Directory { peer: peer.to_owned(), why };
        let url = self.client.directory_url(peer).map_err(|e| match e {
            PeerUrlError::NotADomain { domain, reason } => PeerError::NotADomain { peer: domain, reason },
            other => err(other.to_string()),
        })?;
        let r = self.client.http().get(url).send().await.map_err(|e| err(e.to_string()))?;
        if !r.status().is_success() {
            return Err(err(format!("HTTP {}", r.status())));
        }
        let directory =
            Directory::from_json(&r.bytes().await.map_err(|e| err(e.to_string()))?).map_err(|e| err(e.to_string()))?;
        let url = directory.url(endpoint, variable);
        self.directories().insert(peer.to_owned(), directory);
        Ok(url)
    }

    /// `POST`s `body` to `endpoint` at `peer`; any HTTP answer is returned as it came.
    pub async fn post(
        &self,
        peer: &str,
        endpoint: Endpoint,
        variable: &str,
        body: Vec<u8>,
    ) -> Result<PeerAnswer, PeerError> {
        let url = self.url(peer, endpoint, variable).await?;
        let transport = |source| PeerError::Transport { peer: peer.to_owned(), endpoint: endpoint.key(), source };
        let r = self
            .client
            .http()
            .post(url)
            .header(FROM, format!("mimi@{}", self.domain))
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(body)
            .send()
            .await
            .map_err(transport)?;
        let (status, headers) = (r.status(), r.headers().clone());
        let body = r.bytes().await.map_err(transport)?.to_vec();
        Ok(PeerAnswer { status, headers, body })
    }
}
