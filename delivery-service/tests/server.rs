//! The server shell over real sockets: HTTPS on 127.0.0.1 (port 0) with certificates from `pki::generate`
//! in a temp dir, optional client certificates, body limit, metrics (served by a plain-HTTP metrics listener
//! beside the server), graceful shutdown, and configuration.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::routing::{get, post};
use axum::{Extension, Router};
use mimi_ds::config::{Config, ConfigError, TlsPaths};
use mimi_ds::metrics::listener::MetricsListener;
use mimi_ds::metrics::{self, Registry};
use mimi_ds::pki;
use mimi_ds::server::Server;
use mimi_ds::tls::{self, PeerClient, PeerIdentity};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use url::Url;

/// A running server and what a test needs to reach and stop it.
struct Running {
    addr: SocketAddr,
    registry: Registry,
    /// The metrics listener serving `registry`.
    metrics_addr: SocketAddr,
    metrics_task: JoinHandle<()>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), mimi_ds::server::ServerError>>,
}

impl Running {
    /// `https://a.example:<port>` with the port of the running server.
    fn url(&self, path: &str) -> String {
        format!("https://a.example:{}{path}", self.addr.port())
    }

    async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.expect("server task").expect("server result");
        self.metrics_task.abort();
    }

    /// The rendered metrics.
    fn metrics(&self) -> String {
        self.registry.render().expect("a registry of its own renders")
    }
}

/// Makes a CA and certificates for a.example and b.example in `dir`.
fn make_pki(dir: &Path) -> pki::DevPki {
    pki::generate(dir, &["a.example".to_owned(), "b.example".to_owned()]).expect("dev pki")
}

fn server_config(dir: &Path) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: TlsPaths::dev_pki(dir, "a.example"),
        max_body_bytes: 1024,
        shutdown_grace: Duration::from_secs(5),
        data_dir: dir.join("data"),
        ..Config::default()
    }
}

/// The test routes: `/healthz`, `/whoami` (the peer identity), `/echo` (body length), `/slow` (300 ms).
fn test_router(started: mpsc::UnboundedSender<()>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/whoami",
            get(|peer: Option<Extension<PeerIdentity>>| async move {
                match peer {
                    Some(Extension(p)) => p.domains.join(","),
                    None => "none".to_owned(),
                }
            }),
        )
        .route("/echo", post(|body: Bytes| async move { body.len().to_string() }))
        .route(
            "/slow",
            get(move || {
                let started = started.clone();
                async move {
                    let _ = started.send(());
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    "slow done"
                }
            }),
        )
}

async fn start(config: &Config) -> (Running, mpsc::UnboundedReceiver<()>) {
    let (started_tx, started_rx) = mpsc::unbounded_channel();
    (serve_router(config, test_router(started_tx)).await, started_rx)
}

/// Serves `router` per `config`, and its metrics on a metrics listener of their own.
async fn serve_router(config: &Config, router: Router) -> Running {
    let registry = Registry::new();
    let metrics = MetricsListener::bind("127.0.0.1:0".parse().unwrap(), registry.clone()).await.expect("bind metrics");
    let metrics_addr = metrics.local_addr();
    let metrics_task = tokio::spawn(metrics.serve(std::future::pending()));
    let server = Server::bind(config).await.expect("bind");
    let addr = server.local_addr();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let reg = registry.clone();
    let task = tokio::spawn(async move {
        server
            .serve(router, &reg, async {
                let _ = stop_rx.await;
            })
            .await
    });
    Running { addr, registry, metrics_addr, metrics_task, stop: Some(stop_tx), task }
}

/// A client trusting `ca` and presenting no certificate, reaching a.example at `addr`.
fn anonymous_client(ca: &Path, addr: SocketAddr) -> reqwest::Client {
    let roots = tls::load_roots(ca).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(tls::crypto_provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder().tls_backend_preconfigured(config).resolve("a.example", addr).no_proxy().build().unwrap()
}

/// The provider `domain`'s peer client (with its certificate from `pki_dir`), trusting `ca`, with a.example
/// configured at `addr`.
fn peer_client(pki_dir: &Path, domain: &str, ca: &Path, addr: SocketAddr) -> PeerClient {
    let mut config = Config {
        domain: domain.to_owned(),
        tls: TlsPaths { ca: ca.to_owned(), ..TlsPaths::dev_pki(pki_dir, domain) },
        ..Config::default()
    };
    config.peers.insert("a.example".to_owned(), Url::parse(&format!("https://127.0.0.1:{}", addr.port())).unwrap());
    PeerClient::new(&config).expect("peer client")
}

#[tokio::test]
async fn healthz_over_https_trusting_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let (server, _) = start(&server_config(dir.path())).await;
    let client = anonymous_client(&pki.ca_cert, server.addr);
    let response = client.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "ok");
    server.shutdown().await;
}

#[tokio::test]
async fn client_certificate_becomes_peer_identity_and_none_without() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let (server, _) = start(&server_config(dir.path())).await;

    // b.example's peer client: reaches a.example through the configured 127.0.0.1 URL while checking the
    // name a.example in the server certificate, and presents b.example's certificate.
    let b = peer_client(dir.path(), "b.example", &pki.ca_cert, server.addr);
    let base = b.base_url("a.example").unwrap();
    assert_eq!(base.host_str(), Some("a.example"), "IP base URL rewritten to the peer's domain");
    let url = base.join("/whoami").unwrap();
    let response = b.http().get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "b.example");

    let anonymous = anonymous_client(&pki.ca_cert, server.addr);
    let response = anonymous.get(server.url("/whoami")).send().await.unwrap();
    assert_eq!(response.text().await.unwrap(), "none");

    // The directory URL helper points at the peer's well-known path.
    assert_eq!(b.directory_url("a.example").unwrap().path(), "/.well-known/mimi-protocol-directory");
    // A domain not configured is reached through DNS, in lowercase; an address or a port is no domain.
    assert_eq!(b.base_url("C.Example").unwrap().as_str(), "https://c.example/");
    for bad in ["127.0.0.1", "c.example:8443", "[::1]", "c.example/x", ""] {
        assert!(b.base_url(bad).is_err(), "{bad}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn certificate_from_untrusted_ca_fails_the_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let other = tempfile::tempdir().unwrap();
    make_pki(other.path());
    let (server, _) = start(&server_config(dir.path())).await;

    // Trusts the right CA for the server, but presents b.example's certificate from the other CA.
    let b = peer_client(other.path(), "b.example", &pki.ca_cert, server.addr);
    let url = b.base_url("a.example").unwrap().join("/whoami").unwrap();
    let result = b.http().get(url).send().await;
    assert!(result.is_err(), "untrusted client certificate accepted: {result:?}");
    assert!(server.metrics().contains("tls_handshake_failures_total 1"), "{}", server.metrics());

    // And a client that does not trust our CA refuses the server.
    let stranger = anonymous_client(&other.path().join("ca.pem"), server.addr);
    assert!(stranger.get(server.url("/healthz")).send().await.is_err());
    server.shutdown().await;
}

#[tokio::test]
async fn oversized_body_gets_413() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let (server, _) = start(&server_config(dir.path())).await;
    let client = anonymous_client(&pki.ca_cert, server.addr);

    let ok = client.post(server.url("/echo")).body(vec![7u8; 1024]).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "1024");

    let big = client.post(server.url("/echo")).body(vec![7u8; 2000]).send().await.unwrap();
    assert_eq!(big.status(), 413);
    let text = big.text().await.unwrap();
    assert_eq!(text, "request body of 2000 bytes exceeds the limit of 1024 bytes\n");

    // Without Content-Length (HTTP/1.1 chunked), the limit applies while reading.
    let response = raw_chunked_post(&pki.ca_cert, server.addr, 3000).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    server.shutdown().await;
}

/// POSTs `len` bytes to `/echo` as one chunk of a chunked HTTP/1.1 body and returns the response text.
async fn raw_chunked_post(ca: &Path, addr: SocketAddr, len: usize) -> String {
    let mut stream = tls_stream(ca, addr).await;
    let head = "POST /echo HTTP/1.1\r\nhost: a.example\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(format!("{len:x}\r\n").as_bytes()).await.unwrap();
    stream.write_all(&vec![b'x'; len]).await.unwrap();
    stream.write_all(b"\r\n0\r\n\r\n").await.unwrap();
    let mut response = Vec::new();
    // The server may close before reading everything; whatever arrived is the answer.
    let _ = stream.read_to_end(&mut response).await;
    String::from_utf8_lossy(&response).into_owned()
}

/// A TLS connection to a.example at `addr` speaking HTTP/1.1.
async fn tls_stream(ca: &Path, addr: SocketAddr) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut config = rustls::ClientConfig::builder_with_provider(tls::crypto_provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(tls::load_roots(ca).unwrap())
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("a.example").unwrap();
    connector.connect(name, tcp).await.unwrap()
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_answered_408_and_the_server_serves_on() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let config = Config { body_read_timeout: Duration::from_secs(1), ..server_config(dir.path()) };
    let (server, _) = start(&config).await;

    // A head announcing 100 bytes, then 10 of them, then nothing (a slow-loris body).
    let mut stream = tls_stream(&pki.ca_cert, server.addr).await;
    let head = "POST /echo HTTP/1.1\r\nhost: a.example\r\ncontent-length: 100\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&[b'x'; 10]).await.unwrap();
    let started = Instant::now();
    let mut response = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut response)).await.unwrap().unwrap();
    let response = String::from_utf8_lossy(&response[..n]).into_owned();
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(response.contains("the request body did not arrive within 1 s"), "{response}");
    assert!(started.elapsed() >= Duration::from_millis(900), "answered before the timeout");

    // A body sent in time is served, on a new connection as before.
    let client = anonymous_client(&pki.ca_cert, server.addr);
    let ok = client.post(server.url("/echo")).body(vec![7u8; 100]).send().await.unwrap();
    assert_eq!(ok.text().await.unwrap(), "100");
    server.shutdown().await;
}

#[tokio::test]
async fn connections_beyond_the_cap_are_closed_at_once_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let config = Config { max_connections: 2, ..server_config(dir.path()) };
    let (server, _) = start(&config).await;

    // Two connections that send nothing hold both places (until their handshake times out); a
    // third is closed at once.
    let idle = fill_and_overflow(server.addr, 2).await;

    // Once they go, requests are served again, and the refusal is in the metrics.
    drop(idle);
    let metrics = metrics_once_served_again(&server, &pki.ca_cert).await;
    assert!(metrics.contains("http_connections_refused_total 1"), "{metrics}");
    server.shutdown().await;
}

#[tokio::test]
async fn connections_beyond_the_cap_per_address_are_closed_and_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let config = Config { max_connections_per_ip: 2, ..server_config(dir.path()) };
    let (server, _) = start(&config).await;

    // Two idle connections from 127.0.0.1 hold its places; a third from it is closed at once.
    let idle = fill_and_overflow(server.addr, 2).await;

    // Another address is served meanwhile (the server listens on 127.0.0.1; connect from
    // 127.0.0.2, also loopback).
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let other = socket.connect(server.addr).await.unwrap();
    let roots = mimi_ds::tls::load_roots(&pki.ca_cert).unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(mimi_ds::tls::crypto_provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls));
    let name = rustls::pki_types::ServerName::try_from("a.example").unwrap();
    let mut stream = connector.connect(name, other).await.expect("served from another address");
    stream.write_all(b"GET /healthz HTTP/1.1\r\nhost: a.example\r\nconnection: close\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // Once the idle ones go, 127.0.0.1 is served again; the refusal was counted.
    drop(idle);
    let metrics = metrics_once_served_again(&server, &pki.ca_cert).await;
    assert!(metrics.contains("http_connections_refused_total 1"), "{metrics}");
    server.shutdown().await;
}

/// Opens `places` idle connections to `addr` (returned, to hold them), then checks that one more
/// is closed at once: it reads end of stream without sending anything.
async fn fill_and_overflow(addr: SocketAddr, places: usize) -> Vec<TcpStream> {
    let idle = idle_connections(addr, places).await;
    let mut extra = TcpStream::connect(addr).await.unwrap();
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(5), extra.read(&mut byte)).await.unwrap();
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    idle
}

/// The metrics, once the server serves requests again (at most 5 s).
async fn metrics_once_served_again(server: &Running, ca: &Path) -> String {
    let client = anonymous_client(ca, server.addr);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match client.get(server.url("/healthz")).send().await {
            Ok(r) if r.status() == 200 => return server.metrics(),
            _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
            other => panic!("not served again: {other:?}"),
        }
    }
}

/// `n` TCP connections to `addr` that send nothing, accepted by the server by the time this returns.
async fn idle_connections(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut streams = Vec::new();
    for _ in 0..n {
        streams.push(TcpStream::connect(addr).await.unwrap());
    }
    // The accept loop takes them in order; give it a moment to count them.
    tokio::time::sleep(Duration::from_millis(200)).await;
    streams
}

#[tokio::test]
async fn graceful_shutdown_drains_in_flight_requests_and_refuses_new_connections() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let (mut server, mut started) = start(&server_config(dir.path())).await;
    let addr = server.addr;
    let client = anonymous_client(&pki.ca_cert, addr);

    let url = server.url("/slow");
    let in_flight = tokio::spawn(async move {
        let response = client.get(url).send().await?;
        let status = response.status();
        Ok::<_, reqwest::Error>((status, response.text().await?))
    });
    started.recv().await.expect("slow handler started");
    let signalled = Instant::now();
    let _ = server.stop.take().expect("stop handle").send(());

    // The listener closes at once: new connections are refused while the slow request drains.
    let mut refused = false;
    while signalled.elapsed() < Duration::from_millis(250) {
        if TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "listener still accepting after shutdown signal");

    let (status, body) = in_flight.await.unwrap().expect("in-flight request completed");
    assert_eq!(status, 200);
    assert_eq!(body, "slow done");
    server.task.await.unwrap().unwrap();
    assert!(signalled.elapsed() < Duration::from_secs(3), "drain waited for the grace period");
    assert!(TcpStream::connect(addr).await.is_err(), "connection accepted after shutdown");
}

/// A route that signals when it starts, takes 300 ms, then signals that it finished.
fn two_signals(
    started: mpsc::UnboundedSender<()>,
    finished: mpsc::UnboundedSender<()>,
) -> impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = &'static str> + Send>> + Clone + Send + Sync + 'static
{
    move || {
        let (started, finished) = (started.clone(), finished.clone());
        Box::pin(async move {
            let _ = started.send(());
            tokio::time::sleep(Duration::from_millis(300)).await;
            let _ = finished.send(());
            "done"
        })
    }
}

#[tokio::test]
async fn a_mutation_runs_to_completion_when_its_caller_goes_away_and_a_read_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let (post_done_tx, mut post_done) = mpsc::unbounded_channel();
    let (get_done_tx, mut get_done) = mpsc::unbounded_channel();
    let router = Router::new()
        .route("/mutate", post(two_signals(started_tx.clone(), post_done_tx)))
        .route("/read", get(two_signals(started_tx, get_done_tx)));
    let server = serve_router(&server_config(dir.path()), router).await;
    let client = anonymous_client(&pki.ca_cert, server.addr);

    for (method, path) in [(reqwest::Method::POST, "/mutate"), (reqwest::Method::GET, "/read")] {
        let request = client.request(method.clone(), server.url(path)).body("x").send();
        // The caller gives up (its request future is dropped, the stream reset) once the handler
        // has started.
        tokio::select! {
            r = request => panic!("{method} {path} answered before the caller left: {r:?}"),
            s = started.recv() => s.expect("handler started"),
        }
    }
    tokio::time::timeout(Duration::from_secs(5), post_done.recv())
        .await
        .expect("the POST handler finished although its caller left")
        .expect("signal");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(get_done.try_recv().is_err(), "the GET handler was not cut short with its caller");
    server.shutdown().await;
}

#[tokio::test]
async fn metrics_count_requests() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let (server, _) = start(&server_config(dir.path())).await;
    let client = anonymous_client(&pki.ca_cert, server.addr);
    client.get(server.url("/healthz")).send().await.unwrap();
    client.get(server.url("/no-such-route")).send().await.unwrap();
    // The metrics are not on the HTTPS listener.
    assert_eq!(client.get(server.url("/metrics")).send().await.unwrap().status(), 404);

    // They are on the metrics listener, in plain HTTP, which serves nothing else.
    // (The same client: its TLS settings do not matter for plain HTTP.)
    let plain = &client;
    let response = plain.get(format!("http://{}/metrics", server.metrics_addr)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], metrics::CONTENT_TYPE_TEXT);
    let text = response.text().await.unwrap();
    let other = plain.get(format!("http://{}/healthz", server.metrics_addr)).send().await.unwrap();
    assert_eq!(other.status(), 404);
    assert!(text.contains("http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1"), "{text}");
    assert!(text.contains("http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 2"), "{text}");
    assert!(text.contains("mimi_refusals_total{source=\"http\",code=\"404\"} 2"), "{text}");
    assert!(text.contains("http_request_duration_seconds_count{route=\"/healthz\"} 1"), "{text}");
    assert!(text.contains("# TYPE http_request_duration_seconds histogram"), "{text}");
    server.shutdown().await;
}

#[tokio::test]
async fn dev_pki_reuses_its_ca_for_new_domains() {
    let dir = tempfile::tempdir().unwrap();
    let first = make_pki(dir.path());
    assert!(first.ca_created);
    let ca_before = std::fs::read(&first.ca_cert).unwrap();
    let second = pki::generate(dir.path(), &["c.example".to_owned()]).unwrap();
    assert!(!second.ca_created);
    assert_eq!(std::fs::read(&second.ca_cert).unwrap(), ca_before, "CA certificate kept");
    for file in ["ca.pem", "ca.key", "a.example.pem", "a.example.key", "c.example.pem", "c.example.key"] {
        assert!(dir.path().join(file).is_file(), "{file}");
    }
    assert!(matches!(pki::generate(dir.path(), &["../evil".to_owned()]), Err(pki::PkiError::Domain(_))));

    // The certificate issued by the reloaded CA chains to the original ca.pem.
    let (server, _) = start(&server_config(dir.path())).await;
    let c = peer_client(dir.path(), "c.example", &first.ca_cert, server.addr);
    let url = c.base_url("a.example").unwrap().join("/whoami").unwrap();
    assert_eq!(c.http().get(url).send().await.unwrap().text().await.unwrap(), "c.example");
    server.shutdown().await;
}

#[test]
fn config_from_toml_with_env_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("provider.toml");
    std::fs::write(
        &path,
        r#"
domain = "b.example"
listen = "127.0.0.1:8444"
data_dir = "/var/lib/b"
max_body_bytes = 65536
shutdown_grace_secs = 3
log = "debug"

[tls]
ca = "/etc/mimi/ca.pem"

[peers]
"a.example" = "https://127.0.0.1:8443"
"c.example" = "https://c.example"
"#,
    )
    .unwrap();
    let env = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    };

    let c = Config::load_with_env(Some(&path), env(&[("HOME", "/root")])).unwrap();
    assert_eq!(c.domain, "b.example");
    assert_eq!(c.listen.port(), 8444);
    assert_eq!(c.public_url, None);
    assert_eq!(c.public_url(c.listen.port()).unwrap().as_str(), "https://b.example:8444/");
    assert_eq!(c.data_dir, Path::new("/var/lib/b"));
    assert_eq!(c.store_path(), Path::new("/var/lib/b/mimi-ds.redb"));
    assert_eq!(c.max_body_bytes, 65536);
    assert_eq!(c.shutdown_grace, Duration::from_secs(3));
    assert_eq!(c.log, "debug");
    assert_eq!(c.tls.ca, Path::new("/etc/mimi/ca.pem"));
    assert_eq!(c.tls.cert, Path::new("./pki/b.example.pem"), "default follows the domain");
    assert_eq!(c.peers.len(), 2);
    assert_eq!(c.peers["a.example"].as_str(), "https://127.0.0.1:8443/");

    let c = Config::load_with_env(
        Some(&path),
        env(&[
            ("MIMI_DS_DOMAIN", "d.example"),
            ("MIMI_DS_LISTEN", "0.0.0.0:9000"),
            ("MIMI_DS_MAX_BODY_BYTES", "100"),
            ("MIMI_DS_TLS_CERT", "/x/d.pem"),
            ("MIMI_DS_PEERS", "b.example=https://127.0.0.1:8444"),
            ("MIMI_DS_PUBLIC_URL", "https://d.example"),
        ]),
    )
    .unwrap();
    assert_eq!(c.domain, "d.example");
    assert_eq!(c.listen.to_string(), "0.0.0.0:9000");
    assert_eq!(c.max_body_bytes, 100);
    assert_eq!(c.tls.cert, Path::new("/x/d.pem"));
    assert_eq!(c.tls.key, Path::new("./pki/d.example.key"));
    assert_eq!(c.public_url(9000).unwrap().as_str(), "https://d.example/", "configured URL wins over the port");
    assert_eq!(c.peers.keys().collect::<Vec<_>>(), ["b.example"], "env replaces the whole peers table");
    assert_eq!(c.data_dir, Path::new("/var/lib/b"), "file value kept when not overridden");

    // Errors name the key and the source.
    let err = Config::load_with_env(Some(&path), env(&[("MIMI_DS_MAX_BODY_BYTES", "lots")])).unwrap_err();
    assert!(matches!(&err, ConfigError::Invalid { key, .. } if key == "max_body_bytes"), "{err}");
    assert!(err.to_string().contains("MIMI_DS_MAX_BODY_BYTES"), "{err}");
    let err = Config::load_with_env(Some(&path), env(&[("MIMI_DS_LSTEN", "x")])).unwrap_err();
    assert!(matches!(err, ConfigError::UnknownEnv { .. }), "{err}");
    let err = Config::load_with_env(None, env(&[("MIMI_DS_PEERS", "b.example=http://127.0.0.1:1")])).unwrap_err();
    assert!(err.to_string().contains("peers.\"b.example\"") && err.to_string().contains("https"), "{err}");
    let err = Config::from_toml("domain = \"A.example\"", "inline").unwrap_err();
    assert!(err.to_string().starts_with("config key `domain` (from inline)"), "{err}");
    let err = Config::from_toml("domian = \"a.example\"", "inline").unwrap_err();
    assert!(matches!(&err, ConfigError::Parse { message, .. } if message.contains("domian")), "{err}");
    let err = Config::from_toml("listen = \"localhost\"", "inline").unwrap_err();
    assert!(err.to_string().contains("`listen`"), "{err}");
    let err = Config::from_toml("max_body_bytes = 0", "inline").unwrap_err();
    assert!(err.to_string().contains("`max_body_bytes`"), "{err}");
    let err = Config::from_toml("[peers]\n\"a.example\" = \"https://x\"", "inline").unwrap_err();
    assert!(err.to_string().contains("own domain"), "{err}");
    let err = Config::load_with_env(Some(&dir.path().join("missing.toml")), Vec::new()).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }), "{err}");
}
