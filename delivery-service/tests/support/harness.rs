//! A provider served as `mimi-ds serve` serves it (a real redb file, the admin socket, dev
//! certificates for `a.example`, its metrics on a metrics listener), in a background task, with an
//! HTTPS client for its client API and the operator's commands: what the tests of authentication and of the hub's trust rules
//! drive through the real API.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use mimi_ds::admin::{AdminAnswer, AdminRequest, Via};
use mimi_ds::app::{serve_provider, AppError};
use mimi_ds::config::{Config, Registration, TlsPaths};
use mimi_ds::pki;
use mimi_ds::store::redb::RedbStore;
use mimi_ds::store::{settle, Store, Write};
use mimi_protocol::client_api::KeyPackageUpload;
use mimi_protocol::directory::encode_path_segment;
use mimi_protocol::key_material::{KeyMaterialRequest, KeyMaterialRequestTBS, KeyMaterialResponse};
use mimi_protocol::{Body, IdentifierUri, Protocol};
use openmls::prelude::*;
use reqwest::StatusCode;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::*;

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// The configuration of the provider under test, rooted at `dir`.
pub fn config(dir: &Path, registration: Registration) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: TlsPaths::dev_pki(dir, "a.example"),
        data_dir: dir.join("data"),
        registration,
        metrics_listen: Some("127.0.0.1:0".parse().unwrap()),
        ..Config::default()
    }
}

/// Writes `writes` into the provider's store before it starts (what the API cannot make: a code
/// or token that has already expired).
pub async fn seed(config: &Config, writes: Vec<Write>) {
    let store = RedbStore::open(&config.store_path(), 1).unwrap();
    for w in writes {
        settle(store.write(w)).await.unwrap();
    }
}

/// A provider served in a background task, with an HTTPS client for its client API.
pub struct Harness {
    pub config: Config,
    /// The TOML file the `mimi-ds` commands are given.
    pub config_file: PathBuf,
    pub http: reqwest::Client,
    pub base: String,
    pub addr: SocketAddr,
    /// The metrics listener (plain HTTP).
    pub metrics_addr: SocketAddr,
    pub stop: oneshot::Sender<()>,
    pub task: JoinHandle<Result<(), AppError>>,
}

impl Harness {
    pub async fn start(dir: &Path, registration: Registration) -> Harness {
        Harness::start_with(dir, registration, |_| {}).await
    }

    /// As [`Harness::start`], with the configuration changed by `edit` first (quotas, limits).
    pub async fn start_with(dir: &Path, registration: Registration, edit: impl FnOnce(&mut Config)) -> Harness {
        if !dir.join("ca.pem").exists() {
            pki::generate(dir, &["a.example".to_owned()]).unwrap();
        }
        let mut config = config(dir, registration);
        edit(&mut config);
        let config_file = dir.join("provider.toml");
        let toml = format!("domain = \"a.example\"\ndata_dir = {:?}\n", config.data_dir.display().to_string());
        std::fs::write(&config_file, toml).unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let running = serve_provider(&config, async move {
            let _ = stopped.await;
        })
        .await
        .unwrap();
        let http = super::https_client(&config.tls.ca, running.addr);
        let base = format!("https://a.example:{}", running.addr.port());
        let metrics_addr = running.metrics_addr.expect("a metrics listener");
        Harness { config, config_file, http, base, addr: running.addr, metrics_addr, stop, task: running.task }
    }

    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }

    /// `POST /client/v1/register`: the status and the answer's JSON (`null` if it is none).
    pub async fn register(
        &self,
        user: &str,
        device: &str,
        code: Option<&str>,
        bearer: Option<&str>,
    ) -> (StatusCode, serde_json::Value, String) {
        let mut body = serde_json::json!({ "user": user, "device": device });
        if let Some(code) = code {
            body["code"] = code.into();
        }
        let mut r = self
            .http
            .post(format!("{}/client/v1/register", self.base))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        if let Some(b) = bearer {
            r = r.bearer_auth(b);
        }
        let r = r.send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::Null), text)
    }

    /// Registers, which must succeed; returns the token.
    pub async fn registered(&self, user: &str, device: &str, code: Option<&str>, bearer: Option<&str>) -> String {
        let (status, json, text) = self.register(user, device, code, bearer).await;
        assert_eq!(status, StatusCode::CREATED, "{text}");
        assert_eq!(json["client"], format!("mimi://a.example/d/{user}/{device}"));
        assert!(json["expires_ms"].as_u64().unwrap() > now_ms());
        json["token"].as_str().unwrap().to_owned()
    }

    pub async fn post(&self, path: &str, bearer: Option<&str>, body: Vec<u8>) -> (StatusCode, Vec<u8>) {
        let mut r = self.http.post(format!("{}{path}", self.base)).body(body);
        if let Some(b) = bearer {
            r = r.bearer_auth(b);
        }
        let r = r.send().await.unwrap();
        (r.status(), r.bytes().await.unwrap().to_vec())
    }

    /// `POST` with the answer's headers too (`Retry-After`).
    pub async fn post_full(
        &self,
        path: &str,
        bearer: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
        let mut r = self.http.post(format!("{}{path}", self.base)).body(body);
        if let Some(b) = bearer {
            r = r.bearer_auth(b);
        }
        let r = r.send().await.unwrap();
        let headers = r.headers().clone();
        (r.status(), headers, r.bytes().await.unwrap().to_vec())
    }

    /// The value of the series `name{labels}` (`name` alone: unlabelled) at the metrics listener
    /// (0 if absent).
    pub async fn metric(&self, series: &str) -> u64 {
        let url = format!("http://{}/metrics", self.metrics_addr);
        let text = self.http.get(url).send().await.unwrap().text().await.unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
            .map(|v| v.trim().parse().unwrap())
            .unwrap_or(0)
    }

    /// What an authenticated read (the caller's queue) answers to `bearer`.
    pub async fn queue_status(&self, bearer: &str) -> StatusCode {
        self.http.get(format!("{}/client/v1/queue", self.base)).bearer_auth(bearer).send().await.unwrap().status()
    }

    /// `POST /client/v1/token`: the status and answer.
    pub async fn renew(&self, bearer: &str) -> (StatusCode, serde_json::Value) {
        let (status, body) = self.post("/client/v1/token", Some(bearer), Vec::new()).await;
        (status, serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null))
    }

    /// An operator's command, which the running server carries out (through its admin socket).
    pub async fn admin(&self, request: AdminRequest) -> AdminAnswer {
        let (answer, via) = mimi_ds::admin::perform(&self.config, &request).await.unwrap();
        assert_eq!(via, Via::Server);
        answer
    }

    /// A fresh enrollment code for `user`.
    pub async fn code(&self, user: &str) -> String {
        match self.admin(AdminRequest::AddUser { user: user.into(), lifetime_secs: None }).await {
            AdminAnswer::Code { code, .. } => code,
            other => panic!("{other:?}"),
        }
    }

    /// `user`'s registered devices and their state, as the server has them.
    pub async fn devices(&self, user: &str) -> Vec<(String, String)> {
        match self.admin(AdminRequest::ListClients { user: user.into() }).await {
            AdminAnswer::Clients { clients, .. } => clients.into_iter().map(|c| (c.client, c.status)).collect(),
            other => panic!("{other:?}"),
        }
    }

    /// Uploads a last-resort KeyPackage of `client` (served by every claim, never used up).
    pub async fn upload_last_resort(&self, token: &str, client: &Client) {
        let kp = client.issue_last_resort_key_package().unwrap();
        let upload = KeyPackageUpload { key_packages: vec![to_in(&MlsMessageOut::from(kp))] }.encode().unwrap();
        let (status, body) = self.post("/client/v1/keyPackages", Some(token), upload).await;
        assert_eq!(status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&body));
    }

    /// A claim of `target`'s KeyPackages by `claimant` for `room`, through the client API.
    pub async fn claim(&self, claimant: &Client, token: &str, target: &str, room: &str) -> KeyMaterialResponse {
        let tbs = KeyMaterialRequestTBS {
            protocol: Protocol::Mls10,
            requesting_user: IdentifierUri::new(claimant.uri.user().as_str()),
            target_user: IdentifierUri::new(target),
            room_id: IdentifierUri::new(room),
            acceptable_ciphersuites: vec![CS.into()],
            required_capabilities: RequiredCapabilitiesExtension::new(&[], &[], &[]),
            requester_signature_key: claimant.signer.to_public_vec().into(),
            requester_credential: claimant.credential.credential.clone(),
        };
        let body = KeyMaterialRequest::sign(tbs, &claimant.signer).unwrap().encode().unwrap();
        let path = format!("/client/v1/keyMaterial/{}", encode_path_segment(target));
        let (status, body) = self.post(&path, Some(token), body).await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        KeyMaterialResponse::decode(&body, 1 << 20).unwrap()
    }

    /// The devices a claim of `target`'s KeyPackages by `claimant` returns (the KeyPackage
    /// directory as the API serves it).
    pub async fn claimed_devices(&self, claimant: &Client, token: &str, target: &str) -> Vec<String> {
        let response = self.claim(claimant, token, target, ROOM).await;
        let mut devices: Vec<String> = response.clients.iter().map(|c| c.client_uri.as_str().to_owned()).collect();
        devices.sort();
        devices
    }

    /// Runs `mimi-ds <args> --config <the provider's file>`.
    pub fn cli(&self, args: &[&str]) -> Output {
        cli(&self.config_file, args)
    }
}

/// Runs `mimi-ds <args> --config <config_file>`.
pub fn cli(config_file: &Path, args: &[&str]) -> Output {
    let output =
        Command::new(env!("CARGO_BIN_EXE_mimi-ds")).args(args).arg("--config").arg(config_file).output().unwrap();
    assert!(output.status.success(), "mimi-ds {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    output
}
