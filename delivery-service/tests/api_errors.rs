//! Whose fault an error is, over real HTTPS through the client API: a caller's mistake is a 4xx
//! that says what was wrong and carries no request id; a fault of the server is a 5xx with the
//! request's id in `x-request-id` (and, for a 500, in its one-line body), and the cause is logged
//! under that id. The server's faults are provoked for real: the provider runs on a store that
//! wraps a real redb file and can be told to hand back a corrupt client registration (a 500: the
//! server's own data is bad) or to fail its reads (a 503: storage trouble).

mod support;

use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use mimi_ds::auth::OpenRegistration;
use mimi_ds::config::{Config, TlsPaths};
use mimi_ds::hub::{LogEntry, QueueItem};
use mimi_ds::metrics::Registry;
use mimi_ds::pki;
use mimi_ds::provider::{load_or_create_hub_key, Provider};
use mimi_ds::server::Server;
use mimi_ds::store::redb::RedbStore;
use mimi_ds::store::{
    ClientRecord, ConsentState, KeyPackageClaim, Store, StoreError, StoredAbuseReport, StoredRoom, TokenRecord, Write,
    WriteTicket,
};
use reqwest::StatusCode;

/// A redb store that can be made to misbehave on reads.
struct Faulty {
    inner: RedbStore,
    /// `token` returns a registration that is no client URI.
    corrupt_registration: AtomicBool,
    /// `queue_after` fails as a broken disk would.
    failing_reads: AtomicBool,
}

/// Every read but the two that misbehave is the redb store's own future.
impl Store for Faulty {
    fn write(&self, write: Write) -> WriteTicket {
        self.inner.write(write)
    }
    fn rooms(&self) -> impl Future<Output = Result<Vec<StoredRoom>, StoreError>> + Send {
        self.inner.rooms()
    }
    fn room(&self, room: &str) -> impl Future<Output = Result<Option<StoredRoom>, StoreError>> + Send {
        self.inner.room(room)
    }
    fn log_after(
        &self,
        room: &str,
        after: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<LogEntry>, StoreError>> + Send {
        self.inner.log_after(room, after, limit)
    }
    async fn queue_after(&self, client: &str, after: u64, limit: usize) -> Result<Vec<QueueItem>, StoreError> {
        if self.failing_reads.load(Ordering::SeqCst) {
            return Err(StoreError::Io("read error on the test disk".into()));
        }
        self.inner.queue_after(client, after, limit).await
    }
    async fn token(&self, token_hash: &[u8]) -> Result<Option<TokenRecord>, StoreError> {
        let found = self.inner.token(token_hash).await?;
        if self.corrupt_registration.load(Ordering::SeqCst) {
            return Ok(found.map(|t| TokenRecord { client: "not a client URI".to_owned(), ..t }));
        }
        Ok(found)
    }
    fn client(&self, client: &str) -> impl Future<Output = Result<Option<ClientRecord>, StoreError>> + Send {
        self.inner.client(client)
    }
    fn clients_of(&self, user: &str) -> impl Future<Output = Result<Vec<(String, ClientRecord)>, StoreError>> + Send {
        self.inner.clients_of(user)
    }
    fn key_package_owner(&self, reference: &[u8]) -> impl Future<Output = Result<Option<String>, StoreError>> + Send {
        self.inner.key_package_owner(reference)
    }
    fn outbox_cursor(&self, peer: &str, room: &str) -> impl Future<Output = Result<u64, StoreError>> + Send {
        self.inner.outbox_cursor(peer, room)
    }
    fn mirror_after(
        &self,
        room: &str,
        after: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<LogEntry>, StoreError>> + Send {
        self.inner.mirror_after(room, after, limit)
    }
    fn mirror_last(&self, room: &str) -> impl Future<Output = Result<u64, StoreError>> + Send {
        self.inner.mirror_last(room)
    }
    fn seen(&self, hash: &[u8]) -> impl Future<Output = Result<bool, StoreError>> + Send {
        self.inner.seen(hash)
    }
    fn relayed_by(&self, hash: &[u8]) -> impl Future<Output = Result<Option<String>, StoreError>> + Send {
        self.inner.relayed_by(hash)
    }
    fn key_package_claim(
        &self,
        reference: &[u8],
    ) -> impl Future<Output = Result<Option<KeyPackageClaim>, StoreError>> + Send {
        self.inner.key_package_claim(reference)
    }
    fn consent(
        &self,
        requester: &str,
        target: &str,
        room: Option<&str>,
    ) -> impl Future<Output = Result<Option<ConsentState>, StoreError>> + Send {
        self.inner.consent(requester, target, room)
    }
    fn user_exists(&self, user: &str) -> impl Future<Output = Result<bool, StoreError>> + Send {
        self.inner.user_exists(user)
    }
    fn abuse_reports(&self, room: &str) -> impl Future<Output = Result<Vec<StoredAbuseReport>, StoreError>> + Send {
        self.inner.abuse_reports(room)
    }
    fn devices(&self) -> impl Future<Output = Result<Vec<(String, String, ClientRecord)>, StoreError>> + Send {
        self.inner.devices()
    }
    fn mirrored_rooms(&self) -> impl Future<Output = Result<Vec<(String, u64)>, StoreError>> + Send {
        self.inner.mirrored_rooms()
    }
}

/// Log lines, as the server writes them.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().write_all(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

struct Harness {
    http: reqwest::Client,
    base: String,
    provider: Arc<Provider<Faulty>>,
}

impl Harness {
    async fn start(dir: &Path) -> Harness {
        pki::generate(dir, &["a.example".to_owned()]).unwrap();
        let config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            tls: TlsPaths::dev_pki(dir, "a.example"),
            data_dir: dir.join("data"),
            ..Config::default()
        };
        let store = Faulty {
            inner: RedbStore::open(&config.store_path(), 64).unwrap(),
            corrupt_registration: AtomicBool::new(false),
            failing_reads: AtomicBool::new(false),
        };
        let key = load_or_create_hub_key(&config.data_dir.join("hub-key.tls")).unwrap();
        let provider =
            Arc::new(Provider::open("a.example", key, store).await.unwrap().with_authority(Arc::new(OpenRegistration)));
        let server = Server::bind(&config).await.unwrap();
        let addr = server.local_addr();
        let router = mimi_ds::api::client::router(provider.clone());
        tokio::spawn(async move { server.serve(router, &Registry::new(), std::future::pending()).await });
        let http = support::https_client(&config.tls.ca, addr);
        Harness { http, base: format!("https://a.example:{}", addr.port()), provider }
    }

    /// Status, `x-request-id` and body of a request.
    async fn send(&self, request: reqwest::RequestBuilder) -> (StatusCode, Option<String>, String) {
        let r = request.send().await.unwrap();
        let id = r.headers().get("x-request-id").map(|v| v.to_str().unwrap().to_owned());
        (r.status(), id, r.text().await.unwrap())
    }

    fn get(&self, path: &str, token: Option<&str>) -> reqwest::RequestBuilder {
        let r = self.http.get(format!("{}{path}", self.base));
        match token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_faults_are_4xx_without_an_id_and_server_faults_5xx_with_one_that_is_logged() {
    let lines = Lines::default();
    let writer = lines.clone();
    tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).init();
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(dir.path()).await;
    let r = h
        .http
        .post(format!("{}/client/v1/register", h.base))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(serde_json::json!({"user": "alice", "device": "phone"}).to_string());
    let (status, _, body) = h.send(r).await;
    assert_eq!(status, StatusCode::CREATED);
    let token = serde_json::from_str::<serde_json::Value>(&body).unwrap()["token"].as_str().unwrap().to_owned();
    let (status, id, _) = h.send(h.get("/client/v1/queue", Some(&token))).await;
    assert_eq!((status, id), (StatusCode::OK, None));

    // The caller's mistakes: no token, an unknown token, an undecodable body.
    let (status, id, body) = h.send(h.get("/client/v1/queue", None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(id, None);
    assert!(body.contains("Authorization") && !body.contains("request"), "{body}");
    let (status, id, _) = h.send(h.get("/client/v1/queue", Some("0000"))).await;
    assert_eq!((status, id), (StatusCode::UNAUTHORIZED, None));
    let junk = h.http.post(format!("{}/client/v1/keyPackages", h.base)).bearer_auth(&token).body(vec![0xff; 7]);
    let (status, id, body) = h.send(junk).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(id, None);
    assert!(body.contains("KeyPackageUpload") && !body.contains("request"), "{body}");
    assert!(!lines.text().contains("request failed"), "caller faults are not logged as failures");

    // The server's own data is bad: 500, the id in the header and the one-line body, the cause
    // only in the log, under that id.
    h.provider.store().corrupt_registration.store(true, Ordering::SeqCst);
    let (status, id, body) = h.send(h.get("/client/v1/queue", Some(&token))).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let id = id.expect("x-request-id");
    assert_eq!(id.len(), 16);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    assert_eq!(body, format!("internal error (request {id})\n"));
    let log = lines.text();
    let line = log.lines().find(|l| l.contains(&id) && l.contains("request failed")).expect("logged under the id");
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains("a registered client's URI"), "the cause is logged: {line}");
    assert!(!body.contains("registered"), "the cause is not sent");

    // Storage trouble: 503 with Retry-After, also logged under its id.
    h.provider.store().corrupt_registration.store(false, Ordering::SeqCst);
    h.provider.store().failing_reads.store(true, Ordering::SeqCst);
    let r = h.get("/client/v1/queue", Some(&token)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()["retry-after"], "1");
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(r.text().await.unwrap().contains("storage failure"));
    let log = lines.text();
    assert!(log.lines().any(|l| l.contains(&id) && l.contains("ERROR") && l.contains("read error on the test disk")));
}
