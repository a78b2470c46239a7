//! The suite's outbound calls to the implementation under test: HTTPS with the suite's client
//! certificate (mutual TLS), or deliberately without one, to the target's domain at the address the
//! user gave (TLS verifies the *domain*, as between providers). Every call keeps what was sent and what
//! came back, so a failing check can show both ([`Call::exchange`]), and logs it whole as [`Traffic`]
//! for the report files, with the structures its endpoint carries ([`body_structures`]).
//! [`Peer::post_with_host`] sends a request over HTTP/1.1 with a `Host` header of the suite's choosing
//! (the hub's TLS name unchanged).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use mimi_ds::config::TlsPaths;
use mimi_protocol::directory::{Directory, Endpoint, DIRECTORY_PATH};
use mimi_protocol::Body;
use reqwest::header::{CONTENT_TYPE, FROM, HOST, RETRY_AFTER};
use url::Url;

use super::{decoded, hex_excerpt, Exchange, SuiteError, Traffic, TrafficLog};

/// Whole-request timeout of the suite's calls.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The implementation under test: its domain and where it listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The provider's domain (its certificate must name it).
    pub domain: String,
    /// The socket address its HTTPS server listens on.
    pub addr: SocketAddr,
}

impl Target {
    /// The target of `--url https://host:port --domain <domain>`: the host is resolved once (an IP
    /// address is taken as is); requests then go to `https://<domain>:<port>/` at that address.
    pub async fn resolve(url: &str, domain: &str) -> Result<Target, SuiteError> {
        let bad = |why: String| SuiteError::Url { url: url.to_owned(), why };
        let parsed = Url::parse(url).map_err(|e| bad(e.to_string()))?;
        if parsed.scheme() != "https" {
            return Err(bad("not an https URL".into()));
        }
        let host = parsed.host_str().ok_or_else(|| bad("no host".into()))?;
        let port = parsed.port_or_known_default().unwrap_or(443);
        let addr = tokio::net::lookup_host((host.trim_start_matches('[').trim_end_matches(']'), port))
            .await
            .map_err(|e| bad(e.to_string()))?
            .next()
            .ok_or_else(|| bad("the host resolves to no address".into()))?;
        Ok(Target { domain: domain.to_owned(), addr })
    }

    /// `https://<domain>:<port>`.
    pub fn base_url(&self) -> String {
        format!("https://{}:{}", self.domain, self.addr.port())
    }
}

/// The suite's TLS files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The CA the target's certificate chains to.
    pub ca: PathBuf,
    /// The suite's certificate (naming `our_domain`), used as client and server certificate.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
    /// The domain the suite plays.
    pub our_domain: String,
}

impl Credentials {
    /// The paths as `mimi-ds` configures them.
    pub fn tls_paths(&self) -> TlsPaths {
        TlsPaths { cert: self.cert.clone(), key: self.key.clone(), ca: self.ca.clone() }
    }
}

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The `Retry-After` header, if any.
    pub retry_after: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

/// One call: what was sent, and the answer or why there was none.
#[derive(Debug, Clone)]
pub struct Call {
    /// Method and URL.
    pub request: String,
    /// The body sent.
    pub body: Vec<u8>,
    /// The body decoded (the wire struct's `Debug`).
    pub body_decoded: String,
    /// The answer, or the transport error (TLS handshake refused, connection reset, timeout …).
    pub answer: Result<Answer, String>,
}

impl Call {
    /// The call as [`Traffic`], its bodies meant to be the structures of `endpoint`.
    fn traffic(&self, endpoint: Option<Endpoint>) -> Traffic {
        let (request_struct, response_struct) = endpoint.map_or((None, None), body_structures);
        let (status, response_body, error) = match &self.answer {
            Ok(a) => (a.status, a.body.clone(), None),
            Err(e) => (0, Vec::new(), Some(e.clone())),
        };
        Traffic {
            request: self.request.clone(),
            received: false,
            request_struct,
            request_body: self.body.clone(),
            status,
            response_struct,
            response_body,
            error,
        }
    }

    /// The exchange for a report, with the answer decoded as `response_decoded` (or the transport
    /// error when there was no answer).
    pub fn exchange(&self, response_decoded: impl Into<String>) -> Exchange {
        let (status, response_hex, response_decoded) = match &self.answer {
            Ok(a) => (a.status, hex_excerpt(&a.body), response_decoded.into()),
            Err(e) => (0, String::new(), format!("no answer: {e}")),
        };
        Exchange {
            request: self.request.clone(),
            request_hex: hex_excerpt(&self.body),
            request_decoded: self.body_decoded.clone(),
            status,
            response_hex,
            response_decoded,
        }
    }

    /// The exchange, with the answer body shown as text (for non-200 answers and JSON).
    pub fn exchange_text(&self) -> Exchange {
        let text = match &self.answer {
            Ok(a) => String::from_utf8_lossy(&a.body).trim().to_owned(),
            Err(_) => String::new(),
        };
        self.exchange(text)
    }

    /// The status, 0 without an answer.
    pub fn status(&self) -> u16 {
        self.answer.as_ref().map_or(0, |a| a.status)
    }

    /// The answer body of a 200, if that is what came back.
    pub fn ok_body(&self) -> Option<&[u8]> {
        self.answer.as_ref().ok().filter(|a| a.status == 200).map(|a| a.body.as_slice())
    }
}

/// Mutually authenticated HTTPS to the target, plus a client without a certificate for the mTLS checks.
#[derive(Debug, Clone)]
pub struct Peer {
    /// The target.
    pub target: Target,
    /// The domain sent in `From`.
    pub our_domain: String,
    /// Presents the suite's certificate.
    with_cert: reqwest::Client,
    /// Presents none.
    without_cert: reqwest::Client,
    /// Presents the suite's certificate and speaks only HTTP/1.1, where a `Host` header set by the
    /// caller is sent as given (HTTP/2 would carry the URL's authority instead).
    http1: reqwest::Client,
    /// Where every call is logged (shared by clones).
    log: TrafficLog,
}

/// The structures a request to `endpoint` and its 200 answer carry (`None`: no body, or not a
/// protocol-06 structure); a `/notify` body is a concatenation of `FanoutMessage`s.
pub fn body_structures(endpoint: Endpoint) -> (Option<&'static str>, Option<&'static str>) {
    use mimi_protocol::{abuse, consent, group_info, identifier, key_material, notify, submit, update};
    match endpoint {
        Endpoint::KeyMaterial => {
            (Some(key_material::KeyMaterialRequest::NAME), Some(key_material::KeyMaterialResponse::NAME))
        }
        Endpoint::Update => (Some(update::UpdateRequest::NAME), Some(update::UpdateRoomResponse::NAME)),
        Endpoint::Notify => (Some(notify::FanoutMessage::NAME), None),
        Endpoint::SubmitMessage => {
            (Some(submit::SubmitMessageRequest::NAME), Some(submit::SubmitMessageResponse::NAME))
        }
        Endpoint::GroupInfo => (Some(group_info::GroupInfoRequest::NAME), Some(group_info::GroupInfoResponse::NAME)),
        Endpoint::RequestConsent | Endpoint::UpdateConsent => (Some(consent::ConsentEntry::NAME), None),
        Endpoint::IdentifierQuery => {
            (Some(identifier::IdentifierRequest::NAME), Some(identifier::IdentifierResponse::NAME))
        }
        Endpoint::ReportAbuse => (Some(abuse::AbuseReport::NAME), None),
        Endpoint::ProxyDownload => (None, None),
    }
}

fn http_client(tls: rustls::ClientConfig, target: &Target, http1_only: bool) -> Result<reqwest::Client, SuiteError> {
    let builder = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .https_only(true)
        .resolve(&target.domain, target.addr)
        .no_proxy()
        .timeout(CALL_TIMEOUT);
    let builder = if http1_only { builder.http1_only() } else { builder };
    builder.build().map_err(|e| SuiteError::Tls(e.into()))
}

impl Peer {
    /// Clients for `target` with the suite's `credentials`.
    pub fn new(target: Target, credentials: &Credentials) -> Result<Peer, SuiteError> {
        let mut tls = mimi_ds::tls::client_config(&credentials.tls_paths())?;
        let with_cert = http_client(tls.clone(), &target, false)?;
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let http1 = http_client(tls, &target, true)?;
        let roots = mimi_ds::tls::load_roots(&credentials.ca)?;
        let mut bare = rustls::ClientConfig::builder_with_provider(mimi_ds::tls::crypto_provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| SuiteError::Tls(e.into()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        bare.alpn_protocols = mimi_ds::tls::ALPN.iter().map(|p| p.to_vec()).collect();
        let without_cert = http_client(bare, &target, false)?;
        Ok(Peer {
            target,
            our_domain: credentials.our_domain.clone(),
            with_cert,
            without_cert,
            http1,
            log: TrafficLog::default(),
        })
    }

    /// The log every call of this peer (and its clones) goes to.
    pub fn traffic_log(&self) -> TrafficLog {
        self.log.clone()
    }

    /// `GET /.well-known/mimi-protocol-directory` with the suite's certificate.
    pub async fn get_directory(&self) -> Call {
        let url = format!("{}{DIRECTORY_PATH}", self.target.base_url());
        let request = format!("GET {url}");
        let answer = match self.with_cert.get(&url).header(FROM, format!("mimi@{}", self.our_domain)).send().await {
            Ok(r) => answer_of(r).await,
            Err(e) => Err(error_chain(&e)),
        };
        let call = Call { request, body: Vec::new(), body_decoded: String::new(), answer };
        self.log.push(call.traffic(None));
        call
    }

    /// `POST`s `body` to `url`, `endpoint`'s URL. `from`: the domain in the `From` header (ours unless a
    /// check says otherwise); `with_cert`: whether the connection presents the suite's certificate.
    pub async fn post(
        &self,
        endpoint: Endpoint,
        url: &str,
        body: Vec<u8>,
        body_decoded: String,
        from: &str,
        with_cert: bool,
    ) -> Call {
        let client = if with_cert { &self.with_cert } else { &self.without_cert };
        let request =
            format!("POST {url} (From: mimi@{from}{})", if with_cert { "" } else { ", no client certificate" });
        self.send(endpoint, client.post(url).header(FROM, format!("mimi@{from}")), request, body, body_decoded).await
    }

    /// `POST`s `body` to `url`, `endpoint`'s URL, with the suite's certificate and `From`, over HTTP/1.1
    /// with `Host: host` (TLS still names the target's domain).
    pub async fn post_with_host(
        &self,
        endpoint: Endpoint,
        url: &str,
        body: Vec<u8>,
        body_decoded: String,
        host: &str,
    ) -> Call {
        let request = format!("POST {url} (HTTP/1.1, Host: {host}, From: mimi@{})", self.our_domain);
        let builder = self.http1.post(url).header(FROM, format!("mimi@{}", self.our_domain)).header(HOST, host);
        self.send(endpoint, builder, request, body, body_decoded).await
    }

    /// `POST`s a wire structure to `endpoint` for `variable` using `directory`'s template, as the suite.
    pub async fn post_body<T: mimi_protocol::Body + std::fmt::Debug>(
        &self,
        directory: &Directory,
        endpoint: Endpoint,
        variable: &str,
        body: &T,
    ) -> Result<Call, SuiteError> {
        let bytes = body.encode()?;
        let url = directory.url(endpoint, variable);
        Ok(self.post(endpoint, &url, bytes, decoded(body), &self.our_domain, true).await)
    }

    /// Sends a prepared `POST` to `endpoint` with `body` as `application/octet-stream`; `request`
    /// describes it. Every `POST` of the suite goes through here and is logged.
    async fn send(
        &self,
        endpoint: Endpoint,
        builder: reqwest::RequestBuilder,
        request: String,
        body: Vec<u8>,
        body_decoded: String,
    ) -> Call {
        let sent = builder.header(CONTENT_TYPE, "application/octet-stream").body(body.clone()).send().await;
        let answer = match sent {
            Ok(r) => answer_of(r).await,
            Err(e) => Err(error_chain(&e)),
        };
        let call = Call { request, body, body_decoded, answer };
        self.log.push(call.traffic(Some(endpoint)));
        call
    }
}

async fn answer_of(response: reqwest::Response) -> Result<Answer, String> {
    let status = response.status().as_u16();
    let retry_after = response.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = response.bytes().await.map_err(|e| error_chain(&e))?.to_vec();
    Ok(Answer { status, retry_after, body })
}

/// An error with its sources, one line (reqwest's own message hides the TLS alert).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
