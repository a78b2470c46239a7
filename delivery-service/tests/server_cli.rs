//! The `mimi-ds` binary end to end: `dev-pki` writes certificates, `serve` (configured only through
//! `MIMI_DS_*` variables, port 0) answers `/healthz` and the directory over HTTPS and its metrics on
//! the plain-HTTP metrics listener, and exits 0 on SIGTERM; with `log_format = "json"` every log line
//! is a JSON object, filtered by `RUST_LOG` when set; `serve` on a store file of another on-disk
//! format refuses to start and says why.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mimi_ds::tls;

const BIN: &str = env!("CARGO_BIN_EXE_mimi-ds");

/// `mimi-ds serve` on `dir` (data under `dir/data`, certificates of a.example from `pki`), on
/// port 0, with `envs` on top; the lines of its stderr are sent to the returned channel.
fn serve(dir: &Path, pki: &Path, envs: &[(&str, &str)]) -> (Child, mpsc::Receiver<String>) {
    let mut command = Command::new(BIN);
    command
        .arg("serve")
        .env_remove("RUST_LOG")
        .env("MIMI_DS_LISTEN", "127.0.0.1:0")
        .env("MIMI_DS_TLS_CERT", pki.join("a.example.pem"))
        .env("MIMI_DS_TLS_KEY", pki.join("a.example.key"))
        .env("MIMI_DS_TLS_CA", pki.join("ca.pem"))
        .env("MIMI_DS_DATA_DIR", dir.join("data"));
    for (name, value) in envs {
        command.env(name, value);
    }
    let mut child = command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (log_tx, log_rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = log_tx.send(line);
        }
    });
    (child, log_rx)
}

/// Reads log lines until `wanted` gives a value for one (at most 20 s); every line read is kept
/// in `seen`.
fn wait_for<T>(
    child: &mut Child,
    log: &mpsc::Receiver<String>,
    seen: &mut Vec<String>,
    wanted: impl Fn(&str) -> Option<T>,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Ok(line) = log.recv_timeout(left) else { break };
        let found = wanted(&line);
        seen.push(line);
        if let Some(found) = found {
            return found;
        }
    }
    let _ = child.kill();
    panic!("not logged; the log: {seen:#?}");
}

/// The address after `addr=` in a text log line containing `message`.
fn logged_addr(line: &str, message: &str) -> Option<SocketAddr> {
    if !line.contains(message) {
        return None;
    }
    line.split("addr=").nth(1)?.split_whitespace().next()?.parse().ok()
}

/// Stops `child` with SIGTERM and checks that it exits 0.
async fn terminate(mut child: Child) {
    let kill = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    assert!(kill.success());
    let status = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "exit status {status}");
}

#[tokio::test]
async fn dev_pki_then_serve_then_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let out =
        Command::new(BIN).args(["dev-pki", "--domains", "a.example,b.example", "--out"]).arg(&pki).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("CA created") && stdout.contains("b.example.pem"), "{stdout}");

    let envs = [("MIMI_DS_LOG", "info"), ("MIMI_DS_METRICS_LISTEN", "127.0.0.1:0")];
    let (mut child, log_rx) = serve(dir.path(), &pki, &envs);
    // Read the bound addresses from the log (stderr).
    let mut log = Vec::new();
    let metrics_addr = wait_for(&mut child, &log_rx, &mut log, |l| logged_addr(l, "serving metrics"));
    let addr = match log.iter().find_map(|l| logged_addr(l, "serving HTTPS")) {
        Some(addr) => addr,
        None => wait_for(&mut child, &log_rx, &mut log, |l| logged_addr(l, "serving HTTPS")),
    };

    let config = rustls::ClientConfig::builder_with_provider(tls::crypto_provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(tls::load_roots(&pki.join("ca.pem")).unwrap())
        .with_no_client_auth();
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .resolve("a.example", addr)
        .no_proxy()
        .build()
        .unwrap();
    let base = format!("https://a.example:{}", addr.port());

    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let directory = client.get(format!("{base}/.well-known/mimi-protocol-directory")).send().await.unwrap();
    assert_eq!(directory.status(), 200);
    let directory = mimi_protocol::directory::Directory::from_json(&directory.bytes().await.unwrap()).unwrap();
    assert_eq!(directory.update, format!("{base}/v1/update/{{roomId}}"), "directory names the bound port");
    assert_eq!(client.get(format!("{base}/metrics")).send().await.unwrap().status(), 404, "no metrics over HTTPS");
    let metrics = client.get(format!("http://{metrics_addr}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("route=\"/healthz\",status=\"200\"} 1"), "{metrics}");

    terminate(child).await;
    log.extend(log_rx.try_iter());
    assert!(log.iter().any(|l| l.contains("SIGTERM received")), "{log:?}");
    assert!(log.iter().any(|l| l.contains("server stopped")), "{log:?}");
}

/// `log_format = "json"` writes one JSON object per line, and `RUST_LOG`, when set, is the
/// filter instead of the `log` key (`warn` here would hide the info lines).
#[tokio::test]
async fn json_log_lines_filtered_by_rust_log() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let out = Command::new(BIN).args(["dev-pki", "--domains", "a.example", "--out"]).arg(&pki).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let envs = [("MIMI_DS_LOG", "warn"), ("MIMI_DS_LOG_FORMAT", "json"), ("RUST_LOG", "info")];
    let (mut child, log_rx) = serve(dir.path(), &pki, &envs);
    let mut log = Vec::new();
    let serving = wait_for(&mut child, &log_rx, &mut log, |l| {
        let v: serde_json::Value = serde_json::from_str(l).ok()?;
        (v["fields"]["message"] == "serving HTTPS").then_some(v)
    });
    assert_eq!(serving["level"], "INFO", "{serving}");
    let addr: SocketAddr = serving["fields"]["addr"].as_str().unwrap().parse().unwrap();
    assert!(serving["timestamp"].is_string(), "{serving}");
    assert!(addr.port() != 0, "{serving}");
    terminate(child).await;
    log.extend(log_rx.try_iter());
    for line in &log {
        let parsed: Result<serde_json::Value, _> = serde_json::from_str(line);
        assert!(parsed.is_ok_and(|v| v.is_object()), "not a JSON object: {line}");
    }
}

#[test]
fn serve_refuses_a_store_of_another_format() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let out = Command::new(BIN).args(["dev-pki", "--domains", "a.example", "--out"]).arg(&pki).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // A store as mimi-ds wrote it before the format record existed: tables, no `meta`.
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let store = data.join("mimi-ds.redb");
    {
        let db = redb::Database::create(&store).unwrap();
        let tx = db.begin_write().unwrap();
        let rooms: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("rooms");
        tx.open_table(rooms).unwrap().insert("mimi://a.example/r/old", &[0u8][..]).unwrap();
        tx.commit().unwrap();
    }

    let mut child = Command::new(BIN)
        .arg("serve")
        .env("MIMI_DS_LISTEN", "127.0.0.1:0")
        .env("MIMI_DS_TLS_CERT", pki.join("a.example.pem"))
        .env("MIMI_DS_TLS_KEY", pki.join("a.example.key"))
        .env("MIMI_DS_TLS_CA", pki.join("ca.pem"))
        .env("MIMI_DS_DATA_DIR", &data)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("mimi-ds serve kept running on a store of another format");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    println!("mimi-ds serve on a store of format 1 ({status}):\n{}", stderr.trim());
    assert!(!status.success(), "exit status {status}");
    let expected = format!("store format 1, this build reads {}", mimi_ds::store::redb::FORMAT_VERSION);
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(stderr.contains("mimi-ds.redb"), "the message names the file: {stderr}");
    // Nothing was written: still no format record, the old row in place.
    let db = redb::Database::create(&store).unwrap();
    let tx = redb::ReadableDatabase::begin_read(&db).unwrap();
    let tables: Vec<String> = tx.list_tables().unwrap().map(|t| redb::TableHandle::name(&t).to_owned()).collect();
    assert_eq!(tables, ["rooms"], "no table was added");
}
