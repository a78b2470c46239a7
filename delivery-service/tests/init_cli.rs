//! `mimi-ds init` and `mimi-ds config check` through the binary: init writes three providers'
//! files and prints the command starting each, refuses a directory that is not empty (unless
//! `--force`) and an invalid domain; the written file starts a server (`mimi-ds serve --config`,
//! its `/healthz` answers over TLS with the written certificates); `config check` prints every
//! effective value with its origin (file, environment variable, default), and on a bad file exits
//! non-zero naming the key and why.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use mimi_ds::tls;

const BIN: &str = env!("CARGO_BIN_EXE_mimi-ds");

/// `mimi-ds ARGS` with only `envs` in its environment.
fn mimi_ds(args: &[&str], envs: &[(&str, &str)]) -> Output {
    Command::new(BIN).args(args).env_clear().envs(envs.iter().copied()).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `n` consecutive free loopback ports (bound together, then released).
fn consecutive_free_ports(n: u16) -> u16 {
    for attempt in 0..200u16 {
        let base = 20_000 + (std::process::id() as u16 % 1000) * 30 + attempt * 7;
        let bound: Result<Vec<_>, _> = (base..base + n).map(|p| TcpListener::bind(("127.0.0.1", p))).collect();
        if bound.is_ok() {
            return base;
        }
    }
    panic!("no {n} consecutive free ports");
}

#[test]
fn init_writes_three_providers_and_config_check_explains_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("three");
    let out_s = out.display().to_string();
    let base = consecutive_free_ports(3);
    let base_s = base.to_string();
    let init = ["init", "--domains", "a.example,b.example,c.example", "--out", &out_s, "--base-port", &base_s];

    let run = mimi_ds(&init, &[]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let stdout = text(&run.stdout);
    for domain in ["a.example", "b.example", "c.example"] {
        let command = format!("  mimi-ds serve --config {out_s}/{domain}/provider.toml\n");
        assert!(stdout.contains(&command), "{command} not in {stdout}");
    }
    for file in ["pki/ca.pem", "pki/a.example.pem", "pki/c.example.key", "b.example/provider.toml"] {
        assert!(out.join(file).is_file(), "{file}");
    }

    // Not again into the same directory, unless forced.
    let again = mimi_ds(&init, &[]);
    assert!(!again.status.success());
    assert!(text(&again.stderr).contains("not empty") && text(&again.stderr).contains("--force"), "{again:?}");
    let forced = mimi_ds(&[&init[..], &["--force"]].concat(), &[]);
    assert!(forced.status.success(), "{}", text(&forced.stderr));
    assert!(text(&forced.stdout).contains("development CA reused"), "{}", text(&forced.stdout));

    // An invalid domain is refused by the configuration's own check, and nothing is written.
    let bad_out = dir.path().join("bad").display().to_string();
    let bad = mimi_ds(&["init", "--domains", "a.example,B.example", "--out", &bad_out], &[]);
    assert!(!bad.status.success());
    assert!(text(&bad.stderr).contains("B.example") && text(&bad.stderr).contains("lowercase"), "{bad:?}");
    assert!(!Path::new(&bad_out).exists());

    // `config check`: every key, with its origin.
    let b_file = format!("{out_s}/b.example/provider.toml");
    let check = mimi_ds(&["config", "check", &b_file], &[("MIMI_DS_LOG", "debug")]);
    assert!(check.status.success(), "{}", text(&check.stderr));
    let lines: Vec<String> = text(&check.stdout).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), mimi_ds::config::ENV_KEYS.len(), "one line per key: {lines:#?}");
    let expected = [
        format!("domain = \"b.example\"  # file {b_file}"),
        format!("listen = \"127.0.0.1:{}\"  # file {b_file}", base + 1),
        format!("registration = \"open\"  # file {b_file}"),
        format!("tls.cert = \"{out_s}/pki/b.example.pem\"  # file {b_file}"),
        format!(
            "peers = {{ \"a.example\" = \"https://127.0.0.1:{}/\", \"c.example\" = \"https://127.0.0.1:{}/\" }}  # file {b_file}",
            base,
            base + 2
        ),
        "log = \"debug\"  # environment variable MIMI_DS_LOG".to_owned(),
        "max_rooms_per_user = 1000  # default".to_owned(),
        "consent = \"open\"  # default".to_owned(),
        format!("admin_socket = \"{out_s}/b.example/data/admin.sock\"  # default"),
    ];
    for line in &expected {
        assert!(lines.contains(line), "{line} not in {lines:#?}");
    }
    assert_eq!(lines[0], expected[0], "the order is fixed: domain first");

    // A bad file: the key and why, exit non-zero.
    let bad_file = dir.path().join("bad.toml");
    std::fs::write(&bad_file, "domain = \"a.example\"\nmax_rooms_per_user = 0\n").unwrap();
    let check = mimi_ds(&["config", "check", &bad_file.display().to_string()], &[]);
    assert!(!check.status.success());
    let stderr = text(&check.stderr);
    assert!(stderr.contains("`max_rooms_per_user`") && stderr.contains("0 is not between 1 and"), "{stderr}");
    assert!(check.stdout.is_empty(), "nothing printed as effective on failure");
    std::fs::write(&bad_file, "max_room_per_user = 5\n").unwrap();
    let check = mimi_ds(&["config", "check", &bad_file.display().to_string()], &[]);
    assert!(!check.status.success());
    assert!(text(&check.stderr).contains("unknown field `max_room_per_user`"), "{}", text(&check.stderr));
    // An environment variable that is not a key is refused as `serve` refuses it.
    let check = mimi_ds(&["config", "check", &b_file], &[("MIMI_DS_MAX_ROOMS", "5")]);
    assert!(!check.status.success());
    assert!(text(&check.stderr).contains("unknown environment variable MIMI_DS_MAX_ROOMS"), "{check:?}");

    // The written file serves: start a.example as `mimi-ds serve --config`, ask /healthz.
    let a_file = format!("{out_s}/a.example/provider.toml");
    let mut child = Command::new(BIN)
        .args(["serve", "--config", &a_file])
        .env_clear()
        .env("MIMI_DS_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let healthy = runtime.block_on(async {
        let config = rustls::ClientConfig::builder_with_provider(tls::crypto_provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(tls::load_roots(&out.join("pki/ca.pem")).unwrap())
            .with_no_client_auth();
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], base));
        let client =
            reqwest::Client::builder().tls_backend_preconfigured(config).resolve("a.example", addr).build().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(answer) = client.get(format!("https://a.example:{base}/healthz")).send().await {
                return answer.status() == 200;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(healthy, "a.example did not answer /healthz on port {base}");
}
