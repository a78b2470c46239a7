//! Calling peer providers: the mutually authenticated HTTPS client ([`PeerClient`]) plus each
//! peer's endpoint directory, fetched once and cached (docs/DESIGN.md §3.4: peers are always called
//! through the directory). Every request carries `From: mimi@<our domain>`.

use std::collections::HashMap;
use std::sync::Mutex;

use reqwest::header::{HeaderMap, CONTENT_TYPE, FROM};
use reqwest::StatusCode;

use crate::tls::{PeerClient, PeerUrlError};
use mimi_protocol::directory::{Directory, Endpoint};
use mimi_protocol::DEFAULT_MAX_BODY_LEN;

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
    /// The peer's answer is larger than we take.
    #[error("{endpoint} at {peer}: the answer is larger than {limit} bytes")]
    TooLarge {
        /// The peer's domain.
        peer: String,
        /// The endpoint's directory key.
        endpoint: &'static str,
        /// The limit.
        limit: usize,
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
        let document = read_limited(r, MAX_DIRECTORY_LEN).await.map_err(|e| err(e.to_string()))?;
        let directory = Directory::from_json(&document).map_err(|e| err(e.to_string()))?;
        // Every endpoint is checked before any is used (or the directory cached).
        for e in Endpoint::ALL {
            self.client.check_endpoint(peer, &directory.url(e, "x")).map_err(|e| err(e.to_string()))?;
        }
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
        let body = read_limited(r, DEFAULT_MAX_BODY_LEN).await.map_err(|e| match e {
            ReadError::Transport(source) => transport(source),
            ReadError::TooLarge { limit } => {
                PeerError::TooLarge { peer: peer.to_owned(), endpoint: endpoint.key(), limit }
            }
        })?;
        Ok(PeerAnswer { status, headers, body })
    }
}

/// The most a peer's directory document may take: it lists a few endpoint templates.
pub const MAX_DIRECTORY_LEN: usize = 64 * 1024;

/// Why a peer's answer body was not read.
#[derive(Debug, thiserror::Error)]
enum ReadError {
    /// It is larger than the limit (by its `Content-Length`, or as it arrived).
    #[error("the answer is larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// The connection failed while reading.
    #[error(transparent)]
    Transport(#[from] reqwest::Error),
}

/// Reads `response`'s body, refusing it as soon as it is known to exceed `limit` bytes: by its
/// `Content-Length` before reading anything, else chunk by chunk as it arrives. A peer cannot make
/// us hold more than `limit` bytes of its answer.
async fn read_limited(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, ReadError> {
    if response.content_length().is_some_and(|len| len > limit as u64) {
        return Err(ReadError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Err(ReadError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// A plain HTTP server on loopback answering every request with `head` and then `body_len`
    /// bytes of body (written in 16 KiB pieces while the client reads). Returns its URL.
    async fn server(head: String, body_len: usize) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let head = head.clone();
                tokio::spawn(async move {
                    let mut request = [0u8; 4096];
                    let _ = socket.read(&mut request).await;
                    socket.write_all(head.as_bytes()).await?;
                    let piece = [b'x'; 16 * 1024];
                    let mut left = body_len;
                    while left > 0 {
                        let n = left.min(piece.len());
                        socket.write_all(&piece[..n]).await?;
                        left -= n;
                    }
                    socket.shutdown().await
                });
            }
        });
        url
    }

    /// A plain-HTTP GET (the client is built with our TLS provider, unused for `http://`).
    async fn get(url: &str) -> reqwest::Response {
        let tls = rustls::ClientConfig::builder_with_provider(crate::tls::crypto_provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        let client = reqwest::Client::builder().tls_backend_preconfigured(tls).no_proxy().build().unwrap();
        client.get(url).send().await.unwrap()
    }

    #[tokio::test]
    async fn an_answer_larger_than_the_limit_is_refused_before_it_is_read_whole() {
        let limit = 64 * 1024;
        // Announced too large: refused before any of the body is read.
        let url = server(format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", 1 << 30), 0).await;
        assert!(matches!(read_limited(get(&url).await, limit).await, Err(ReadError::TooLarge { limit: 65536 })));
        // Not announced (read until the connection closes), larger than the limit: refused once
        // the limit is passed, without waiting for the rest of the 16 MiB.
        let url = server("HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n".into(), 16 << 20).await;
        let refused = read_limited(get(&url).await, limit).await;
        assert!(matches!(refused, Err(ReadError::TooLarge { .. })), "{refused:?}");
        // Within the limit: read whole, exactly.
        let url = server(format!("HTTP/1.1 200 OK\r\ncontent-length: {limit}\r\n\r\n"), limit).await;
        assert_eq!(read_limited(get(&url).await, limit).await.unwrap(), vec![b'x'; limit]);
    }
}
