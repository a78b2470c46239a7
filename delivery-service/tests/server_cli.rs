//! The `mimi-ds` binary end to end: `dev-pki` writes certificates, `serve` (configured only through
//! `MIMI_DS_*` variables, port 0) answers `/healthz`, the directory and `/metrics` over HTTPS, and exits 0
//! on SIGTERM; `serve` on a store file of another on-disk format refuses to start and says why.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use mimi_ds::tls;

const BIN: &str = env!("CARGO_BIN_EXE_mimi-ds");

#[tokio::test]
async fn dev_pki_then_serve_then_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let out =
        Command::new(BIN).args(["dev-pki", "--domains", "a.example,b.example", "--out"]).arg(&pki).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("CA created") && stdout.contains("b.example.pem"), "{stdout}");

    let mut child = Command::new(BIN)
        .arg("serve")
        .env("MIMI_DS_LISTEN", "127.0.0.1:0")
        .env("MIMI_DS_TLS_CERT", pki.join("a.example.pem"))
        .env("MIMI_DS_TLS_KEY", pki.join("a.example.key"))
        .env("MIMI_DS_TLS_CA", pki.join("ca.pem"))
        .env("MIMI_DS_DATA_DIR", dir.path().join("data"))
        .env("MIMI_DS_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Read the bound address from the log (stderr), keep draining it in the background.
    let stderr = child.stderr.take().unwrap();
    let (addr_tx, addr_rx) = mpsc::channel::<SocketAddr>();
    let (log_tx, log_rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("serving HTTPS") {
                if let Some(addr) = line.split("addr=").nth(1).and_then(|a| a.split_whitespace().next()) {
                    if let Ok(addr) = addr.parse() {
                        let _ = addr_tx.send(addr);
                    }
                }
            }
            let _ = log_tx.send(line);
        }
    });
    let addr = match addr_rx.recv_timeout(Duration::from_secs(20)) {
        Ok(addr) => addr,
        Err(_) => {
            let _ = child.kill();
            panic!("no address logged: {:?}", log_rx.try_iter().collect::<Vec<_>>());
        }
    };

    let config = rustls::ClientConfig::builder_with_provider(tls::crypto_provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(tls::load_roots(&pki.join("ca.pem")).unwrap())
        .with_no_client_auth();
    let client =
        reqwest::Client::builder().tls_backend_preconfigured(config).resolve("a.example", addr).build().unwrap();
    let base = format!("https://a.example:{}", addr.port());

    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let directory = client.get(format!("{base}/.well-known/mimi-protocol-directory")).send().await.unwrap();
    assert_eq!(directory.status(), 200);
    let directory = mimi_protocol::directory::Directory::from_json(&directory.bytes().await.unwrap()).unwrap();
    assert_eq!(directory.update, format!("{base}/v1/update/{{roomId}}"), "directory names the bound port");
    let metrics = client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("route=\"/healthz\",status=\"200\"} 1"), "{metrics}");

    let kill = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    assert!(kill.success());
    let status = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "exit status {status}");
    let log: Vec<String> = log_rx.try_iter().collect();
    assert!(log.iter().any(|l| l.contains("SIGTERM received")), "{log:?}");
    assert!(log.iter().any(|l| l.contains("server stopped")), "{log:?}");
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
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
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
