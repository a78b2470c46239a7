//! The provider's client API (`/client/v1/...`, see the crate docs) as typed calls: bodies are the
//! TLS-PL structures of `mimi_protocol`, sent and received as `application/octet-stream` over HTTPS.
//!
//! [`Connection`] is the HTTPS side (one reqwest client trusting only the given CA, reaching the
//! provider's domain at a given socket address, so TLS checks the *domain* in the certificate);
//! cloning it shares the connection pool. [`Session`] adds one registered client's bearer token,
//! which expires ([`Session::expires_ms`]) and is renewed with [`Session::renew`].
//!
//! A device is registered with what its provider accepts ([`Enrollment`]): nothing where
//! registration is open, a one-time enrollment code from the provider's operator, a login (a JWT of
//! the provider's identity service), or the session of another of the user's devices.
//! [`Connection::login`] turns a login into a session whether or not the device is registered.
//!
//! A call that fails in transport (no answer) is reported as [`ClientError::Transport`]: the
//! request may or may not have been processed. Any HTTP answer other than 2xx is
//! [`ClientError::Http`] with the server's one-line reason: nothing was acknowledged.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use mimi_appsync::uri::ClientUri;
use mimi_protocol::abuse::AbuseReport;
use mimi_protocol::client_api::{ClientQueue, KeyPackageUpload, RoomEntries, RoomEntry};
use mimi_protocol::group_info::{ExternalSender, GroupInfoRequest, GroupInfoResponse};
use mimi_protocol::identifier::{IdentifierRequest, IdentifierResponse};
use mimi_protocol::key_material::{KeyMaterialRequest, KeyMaterialResponse};
use mimi_protocol::submit::{SubmitMessageRequest, SubmitMessageResponse};
use mimi_protocol::update::{HandshakeBundle, UpdateRequest, UpdateRoomResponse};
use mimi_protocol::{Body, DEFAULT_MAX_BODY_LEN};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use reqwest::Method;
use url::Url;

use crate::error::ClientError;
use crate::tls::client_config;

/// Whole-request timeout; longer than the longest long-poll the API allows (30 s).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// HTTPS to one provider.
#[derive(Debug, Clone)]
pub struct Connection {
    /// The provider's domain, e.g. `a.example` (also the name TLS verifies).
    domain: String,
    /// `https://<domain>:<port>/`.
    base: Url,
    /// The HTTP client (shared pool).
    http: reqwest::Client,
}

impl Connection {
    /// Connects to the provider of `domain` listening at `addr`, trusting only the CA certificates
    /// in the PEM file `ca`.
    pub fn new(domain: &str, addr: SocketAddr, ca: &Path) -> Result<Connection, ClientError> {
        let tls = client_config(ca)?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .https_only(true)
            .resolve(domain, addr)
            .no_proxy()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| ClientError::Tls(e.into()))?;
        let base = Url::parse(&format!("https://{domain}:{}/", addr.port()))
            .map_err(|e| ClientError::Protocol { what: "provider URL".into(), why: e.to_string() })?;
        Ok(Connection { domain: domain.to_owned(), base, http })
    }

    /// The provider's domain.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// One request: `path` (already encoded, with any query) under the base URL. Returns the body
    /// of a 2xx answer.
    async fn call(
        &self,
        what: &str,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<(Vec<u8>, &str)>,
    ) -> Result<Vec<u8>, ClientError> {
        let url = self
            .base
            .join(path)
            .map_err(|e| ClientError::Protocol { what: what.into(), why: format!("URL {path}: {e}") })?;
        let mut request = self.http.request(method, url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some((bytes, content_type)) = body {
            request = request.header(reqwest::header::CONTENT_TYPE, content_type).body(bytes);
        }
        let transport = |source| ClientError::Transport { what: what.into(), source };
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(transport)?;
        if !status.is_success() {
            return Err(ClientError::Http {
                what: what.into(),
                status: status.as_u16(),
                reason: String::from_utf8_lossy(&bytes).trim().to_owned(),
            });
        }
        Ok(bytes.to_vec())
    }

    /// `GET /client/v1/hubKey`: the hub's external sender.
    pub async fn hub_key(&self) -> Result<ExternalSender, ClientError> {
        let bytes = self.call("hubKey", Method::GET, "client/v1/hubKey", None, None).await?;
        tls_codec::Deserialize::tls_deserialize_exact(bytes.as_slice())
            .map_err(|e| ClientError::Protocol { what: "hubKey".into(), why: e.to_string() })
    }

    /// `POST /client/v1/register` without a credential (a provider with open registration):
    /// registers `user`'s `device`; returns its session.
    pub async fn register(&self, user: &str, device: &str) -> Result<Session, ClientError> {
        self.enroll(user, device, Enrollment::Open).await
    }

    /// `POST /client/v1/register`: registers `user`'s `device`, presenting `how`; returns its
    /// session. A device name that is taken is refused (409).
    pub async fn enroll(&self, user: &str, device: &str, how: Enrollment<'_>) -> Result<Session, ClientError> {
        let mut body = serde_json::json!({ "user": user, "device": device });
        let bearer = match how {
            Enrollment::Open => None,
            Enrollment::Code(code) => {
                body["code"] = code.into();
                None
            }
            Enrollment::Login(jwt) => Some(jwt),
            Enrollment::Device(session) => Some(session.token.as_str()),
        };
        let body = (body.to_string().into_bytes(), "application/json");
        let bytes = self.call("register", Method::POST, "client/v1/register", bearer, Some(body)).await?;
        self.session("register", &bytes)
    }

    /// `POST /client/v1/token` with a login (a JWT of the provider's identity service): the session
    /// of the device it names, registered on first use.
    pub async fn login(&self, jwt: &str) -> Result<Session, ClientError> {
        let bytes = self.call("login", Method::POST, "client/v1/token", Some(jwt), None).await?;
        self.session("login", &bytes)
    }

    /// The session an answer `{"client", "token", "expires_ms"}` hands out.
    fn session(&self, what: &str, bytes: &[u8]) -> Result<Session, ClientError> {
        let bad = |why: String| ClientError::Protocol { what: what.into(), why };
        let answer: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        let field = |name: &str| answer.get(name).and_then(|v| v.as_str()).ok_or_else(|| bad(format!("no {name}")));
        let client = ClientUri::parse(field("client")?).map_err(|e| bad(e.to_string()))?;
        let expires_ms =
            answer.get("expires_ms").and_then(|v| v.as_u64()).ok_or_else(|| bad("no expires_ms".into()))?;
        Ok(Session { connection: self.clone(), client, token: field("token")?.to_owned(), expires_ms })
    }
}

/// What a new device presents to be registered (the provider's `registration` decides which it
/// accepts).
#[derive(Debug, Clone, Copy)]
pub enum Enrollment<'a> {
    /// Nothing: only where registration is open (demos, simulations).
    Open,
    /// A one-time enrollment code the provider's operator issued for the user
    /// (`mimi-ds user add <user>`).
    Code(&'a str),
    /// A login: a JWT of the provider's identity service naming the user and the device.
    Login(&'a str),
    /// The session of one of the same user's current devices.
    Device(&'a Session),
}

/// A registered client's authenticated view of the API.
#[derive(Debug, Clone)]
pub struct Session {
    /// The HTTPS connection.
    connection: Connection,
    /// The client URI the provider registered.
    client: ClientUri,
    /// The bearer token.
    token: String,
    /// When the token expires, milliseconds since the UNIX epoch.
    expires_ms: u64,
}

/// Percent-encodes a URI as one path segment.
fn segment(uri: &str) -> String {
    utf8_percent_encode(uri, NON_ALPHANUMERIC).to_string()
}

impl Session {
    /// The client this session acts for.
    pub fn client(&self) -> &ClientUri {
        &self.client
    }

    /// The connection.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// When this session's token expires, milliseconds since the UNIX epoch.
    pub fn expires_ms(&self) -> u64 {
        self.expires_ms
    }

    /// `POST /client/v1/token`: a session with a new token for this client; this session's token
    /// stops working.
    pub async fn renew(&self) -> Result<Session, ClientError> {
        let bytes = self.connection.call("token", Method::POST, "client/v1/token", Some(&self.token), None).await?;
        let renewed = self.connection.session("token", &bytes)?;
        if renewed.client != self.client {
            let why = format!("renewed {} for {}", renewed.client, self.client);
            return Err(ClientError::Protocol { what: "token".into(), why });
        }
        Ok(renewed)
    }

    async fn post<T: Body>(&self, what: &str, path: &str, body: Vec<u8>) -> Result<T, ClientError> {
        let bytes = self
            .connection
            .call(what, Method::POST, path, Some(&self.token), Some((body, "application/octet-stream")))
            .await?;
        decode(what, &bytes)
    }

    async fn get<T: Body>(&self, what: &str, path: &str) -> Result<T, ClientError> {
        let bytes = self.connection.call(what, Method::GET, path, Some(&self.token), None).await?;
        decode(what, &bytes)
    }

    /// `POST /client/v1/keyPackages`.
    pub async fn upload_key_packages(&self, upload: &KeyPackageUpload) -> Result<(), ClientError> {
        let what = "keyPackages";
        let body = encode(what, upload)?;
        self.connection
            .call(
                what,
                Method::POST,
                "client/v1/keyPackages",
                Some(&self.token),
                Some((body, "application/octet-stream")),
            )
            .await
            .map(|_| ())
    }

    /// `POST /client/v1/keyMaterial/{targetUser}`.
    pub async fn key_material(&self, request: &KeyMaterialRequest) -> Result<KeyMaterialResponse, ClientError> {
        let path = format!("client/v1/keyMaterial/{}", segment(request.tbs.target_user.as_str()));
        self.post("keyMaterial", &path, encode("keyMaterial", request)?).await
    }

    /// `POST /client/v1/rooms/{roomId}` with the creator's GroupInfo MLSMessage (with the tree).
    pub async fn create_room(&self, room: &str, group_info: Vec<u8>) -> Result<(), ClientError> {
        let path = format!("client/v1/rooms/{}", segment(room));
        let status = self
            .connection
            .call("create room", Method::POST, &path, Some(&self.token), Some((group_info, "application/octet-stream")))
            .await;
        status.map(|_| ())
    }

    /// `POST /client/v1/rooms/{roomId}/update`.
    pub async fn update(&self, room: &str, bundle: HandshakeBundle) -> Result<UpdateRoomResponse, ClientError> {
        let path = format!("client/v1/rooms/{}/update", segment(room));
        self.post("update", &path, encode("update", &UpdateRequest { bundle })?).await
    }

    /// `POST /client/v1/rooms/{roomId}/submitMessage`.
    pub async fn submit_message(
        &self,
        room: &str,
        request: &SubmitMessageRequest,
    ) -> Result<SubmitMessageResponse, ClientError> {
        let path = format!("client/v1/rooms/{}/submitMessage", segment(room));
        self.post("submitMessage", &path, encode("submitMessage", request)?).await
    }

    /// `POST /client/v1/rooms/{roomId}/groupInfo`.
    pub async fn group_info(&self, room: &str, request: &GroupInfoRequest) -> Result<GroupInfoResponse, ClientError> {
        let path = format!("client/v1/rooms/{}/groupInfo", segment(room));
        self.post("groupInfo", &path, encode("groupInfo", request)?).await
    }

    /// `POST /client/v1/rooms/{roomId}/reportAbuse`: files `report` with the room's hub (201: the
    /// hub kept it; a report whose franks do not verify is [`ClientError::Http`] 422).
    pub async fn report_abuse(&self, room: &str, report: &AbuseReport) -> Result<(), ClientError> {
        let what = "reportAbuse";
        let path = format!("client/v1/rooms/{}/reportAbuse", segment(room));
        let body = Some((encode(what, report)?, "application/octet-stream"));
        self.connection.call(what, Method::POST, &path, Some(&self.token), body).await.map(|_| ())
    }

    /// `POST /client/v1/identifierQuery/{domain}`: asks the provider of `domain` (through ours)
    /// which of its users `request` names.
    pub async fn identifier_query(
        &self,
        domain: &str,
        request: &IdentifierRequest,
    ) -> Result<IdentifierResponse, ClientError> {
        let path = format!("client/v1/identifierQuery/{}", segment(domain));
        self.post("identifierQuery", &path, encode("identifierQuery", request)?).await
    }

    /// `GET /client/v1/rooms/{roomId}/log?after=N&wait=S`: entries after the cursor, in hub order,
    /// without the caller's own.
    pub async fn read_log(&self, room: &str, after: u64, wait: Duration) -> Result<RoomEntries, ClientError> {
        let path = format!("client/v1/rooms/{}/log?after={after}&wait={}", segment(room), wait.as_secs());
        self.get("log", &path).await
    }

    /// The whole room log as this client may read it (its own entries left out): [`Session::read_log`]
    /// page by page, without waiting, until it stops advancing.
    pub async fn read_whole_log(&self, room: &str) -> Result<Vec<RoomEntry>, ClientError> {
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let page = self.read_log(room, after, Duration::ZERO).await?;
            if page.next_after == after {
                return Ok(out);
            }
            after = page.next_after;
            out.extend(page.entries);
        }
    }

    /// `GET /client/v1/queue?after=N&wait=S`: the client's Welcomes after the cursor.
    pub async fn read_queue(&self, after: u64, wait: Duration) -> Result<ClientQueue, ClientError> {
        self.get("queue", &format!("client/v1/queue?after={after}&wait={}", wait.as_secs())).await
    }
}

fn encode<T: Body>(what: &str, body: &T) -> Result<Vec<u8>, ClientError> {
    body.encode().map_err(|source| ClientError::Wire { what: what.into(), source })
}

fn decode<T: Body>(what: &str, bytes: &[u8]) -> Result<T, ClientError> {
    T::decode(bytes, DEFAULT_MAX_BODY_LEN).map_err(|source| ClientError::Wire { what: what.into(), source })
}
