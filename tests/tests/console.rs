//! The operator's view of a live room: the admin API on the admin listener (bearer token, the
//! same commands as the admin socket), the commands through the admin socket as `mimi-ds room
//! ...` runs them, and the hub console page in a real browser (headless Chromium).
//!
//! a.example (the hub, with `admin_listen`) and b.example; Alice@a creates a room, invites
//! Bob@b, renames the room to a name full of markup and makes Bob a group admin; Bob sends a
//! message; after a key update b.example replays it, which the hub refuses. Checked against that room:
//!
//! - API: 401 without a token and with a wrong one; the room list, the room (members with
//!   leaves, participants with roles, policy, log size, b.example's fanout cursor and lag, the
//!   refusal) and the log export (who added whom, the role change, the message summarised)
//!   match what the clients see; enrollment and revocation answer as the socket does; the same
//!   room view through the admin socket ([`mimi_ds::admin::perform`], the CLI's path).
//! - Console: Chromium loads the page with the token and the room in the address fragment and
//!   the page shows the room, its members, a role name, the decoded commit ("added …"), the
//!   peer's row and the markup of the room name as text (no element made of it); after another
//!   commit, the page shows the new epoch. Without `/usr/bin/chromium` (or `MIMI_CHROMIUM`)
//!   this part prints a line saying it is skipped (`scripts/install-test-deps.sh` installs it).
//!   With `MIMI_CONSOLE_SCREENSHOT=<file.png>` it also saves a screenshot of the console.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _};
use mimi_appsync::presets::{self, administered_roles::GROUP_ADMIN, administered_roles::ORDINARY_USER};
use mimi_client_sim::local::federation_configs;
use mimi_client_sim::{Client, LocalProvider};
use mimi_ds::admin::{AdminAnswer, AdminRequest, Via};
use mimi_ds::tls::PeerClient;
use mimi_protocol::directory::encode_path_segment;
use mimi_protocol::submit::{SubmitMessageRequest, SubmitMessageResponse, SubmitMessageStatus};
use mimi_protocol::{Body, IdentifierUri, Protocol, DEFAULT_MAX_BODY_LEN};
use mimi_tests::peer::post;
use mimi_tests::{first_application_message, free_ports};
use serde_json::Value as Json;

const TOKEN: &str = "console-test-token-0123456789";
const STEP: Duration = Duration::from_secs(15);
/// A room name an attacker would choose.
const HOSTILE_NAME: &str = "<img src=x onerror=\"document.title='pwned'\"><script>document.title='pwned'</script>";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admin_api_socket_and_console_show_a_live_room() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut configs = federation_configs(dir.path(), &["a.example", "b.example"])?;
    let admin_port = free_ports(1)?[0];
    configs[0].admin_listen = Some(format!("127.0.0.1:{admin_port}").parse()?);
    configs[0].admin_token = Some(TOKEN.to_owned());
    let mut providers = Vec::new();
    for config in configs.clone() {
        providers.push(LocalProvider::start_with(config).await?);
    }
    let (a, b) = (providers[0].connect()?, providers[1].connect()?);
    let mut alice = Client::register(&a, "alice", "phone").await?;
    let mut bob = Client::register(&b, "bob", "phone").await?;
    for c in [&alice, &bob] {
        c.upload_key_packages(2).await?;
    }
    let room = alice.create_room("console", &presets::cooperative(), GROUP_ADMIN).await?;
    alice.invite_user(&room, &bob.uri().user(), ORDINARY_USER).await?;
    bob.await_welcome(&room, STEP).await?;
    alice.set_room_metadata(&room, |m| m.room_name.string = HOSTILE_NAME.as_bytes().to_vec()).await?;
    alice.change_role(&room, &bob.uri().user(), GROUP_ADMIN).await?;
    bob.sync_until(&room, "the role change", STEP, |c| c.epoch(&room).is_ok_and(|e| e == 3)).await?;
    bob.send_text(&room, "hello operators").await?;
    assert_eq!(alice.epoch(&room)?, 3, "invite, rename, role change");

    // b.example replays Bob's message after the epoch moved on: refused.
    let old = first_application_message(&alice, &room).await?;
    alice.key_update(&room).await?;
    let b_peer = PeerClient::new(&configs[1])?;
    let body = SubmitMessageRequest {
        protocol: Protocol::Mls10,
        app_message: old,
        sending_uri: IdentifierUri::new(bob.uri().as_str()),
    }
    .encode()?;
    let path = format!("v1/submitMessage/{}", encode_path_segment(&room));
    let (status, body) = post(b_peer.http(), &b_peer.base_url("a.example")?, &path, "b.example", body).await?;
    assert_eq!(status, 200);
    let answer = SubmitMessageResponse::decode(&body, DEFAULT_MAX_BODY_LEN)?;
    assert!(!matches!(answer.status, SubmitMessageStatus::Accepted { .. }), "{:?}", answer.status);
    let epoch = alice.epoch(&room)?;
    // The log: three commits, the message, the key update.
    let log_len = 5;

    // The API: the token is required.
    let http = plain_http()?;
    let base = format!("http://127.0.0.1:{admin_port}");
    for auth in [None, Some("Bearer not-the-token"), Some(TOKEN)] {
        let mut request = http.get(format!("{base}/admin/v1/rooms"));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        assert_eq!(request.send().await?.status(), 401, "{auth:?}");
    }
    let get = |path: String| {
        let http = http.clone();
        let url = format!("{base}{path}");
        async move {
            let r = http.get(&url).bearer_auth(TOKEN).send().await?;
            let status = r.status().as_u16();
            Ok::<_, anyhow::Error>((status, serde_json::from_slice::<Json>(&r.bytes().await?)?))
        }
    };
    let room_path = format!("/admin/v1/rooms/{}", encode_path_segment(&room));

    let (status, rooms) = get("/admin/v1/rooms".into()).await?;
    assert_eq!(status, 200);
    let listed = &rooms["rooms"][0];
    assert_eq!((listed["room"].as_str(), listed["role"].as_str()), (Some(room.as_str()), Some("hub")));
    assert_eq!((listed["epoch"].as_u64(), listed["members"].as_u64()), (Some(epoch), Some(2)));

    // The room once b.example acknowledged everything.
    let t0 = Instant::now();
    let view = loop {
        let (status, view) = get(room_path.clone()).await?;
        assert_eq!(status, 200, "{view}");
        if view["peers"][0]["lag"].as_u64() == Some(0) || t0.elapsed() > STEP {
            break view;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(view["epoch"].as_u64(), Some(epoch));
    let members: Vec<&str> =
        view["members"].as_array().context("members")?.iter().filter_map(|m| m["client"].as_str()).collect();
    assert_eq!(members, [alice.uri().as_str(), bob.uri().as_str()]);
    let participants = view["participants"].as_array().context("participants")?;
    let role_of = |user: &str| {
        participants
            .iter()
            .find(|p| p["user"].as_str() == Some(user))
            .map(|p| (p["role"].clone(), p["role_name"].clone()))
    };
    let group_admin = (Json::from(GROUP_ADMIN), Json::from("group_admin"));
    assert_eq!(role_of(alice.uri().user().as_str()), Some(group_admin.clone()));
    assert_eq!(role_of(bob.uri().user().as_str()), Some(group_admin));
    assert_eq!(view["policy"]["room_name"].as_str(), Some(HOSTILE_NAME));
    assert_eq!((view["log"]["entries"].as_u64(), view["log"]["head"].as_u64()), (Some(log_len), Some(log_len)));
    assert!(view["log"]["bytes"].as_u64().is_some_and(|b| b > 1000), "{}", view["log"]);
    assert_eq!(view["peers"][0]["peer"].as_str(), Some("b.example"));
    assert_eq!((view["peers"][0]["cursor"].as_u64(), view["peers"][0]["lag"].as_u64()), (Some(log_len), Some(0)));
    assert_eq!(view["refused"].as_u64(), Some(1), "the replayed message");
    let epochs = view["epochs"].as_array().context("epochs")?;
    assert_eq!(epochs.last().and_then(|e| e["epoch"].as_u64()), Some(epoch));

    // The log, decoded.
    let (status, log) = get(format!("{room_path}/log")).await?;
    assert_eq!(status, 200);
    let entries = log["entries"].as_array().context("entries")?;
    assert_eq!(entries.len() as u64, log_len);
    let lines: Vec<String> = entries
        .iter()
        .flat_map(|e| e["summary"].as_array().cloned().unwrap_or_default())
        .filter_map(|l| l.as_str().map(str::to_owned))
        .collect();
    let alice_uri = alice.uri().as_str();
    let (bob_uri, bob_user) = (bob.uri().as_str(), bob.uri().user());
    for expected in [
        format!("{alice_uri} added {bob_uri}"),
        format!("{alice_uri} added participant {bob_user} as 2 (ordinary_user)"),
        format!("{alice_uri} changed the role of {bob_user} from 2 (ordinary_user) to 3 (group_admin)"),
        format!("{alice_uri} proposed update of room_metadata"),
        format!("{alice_uri} committed epoch 0 → 1"),
    ] {
        assert!(lines.contains(&expected), "{expected:?} not in {lines:#?}");
    }
    let application = entries.iter().find(|e| e["kind"] == "application").context("the message")?;
    assert_eq!(application["sender"].as_str(), Some(bob_uri));
    assert!(application["proposals"].as_array().is_some_and(Vec::is_empty));
    let add = entries.iter().find(|e| e["proposals"].as_array().is_some_and(|p| p.iter().any(|p| p["type"] == "add")));
    let add = add.context("the invitation")?;
    assert_eq!(
        (add["peers"].clone(), add["welcome_peers"].clone()),
        (serde_json::json!([]), serde_json::json!(["b.example"]))
    );

    // Unknown room: 404; enrollment and revocation as through the socket.
    let (status, _) = get(format!("/admin/v1/rooms/{}", encode_path_segment("mimi://a.example/r/none"))).await?;
    assert_eq!(status, 404);
    let r = http.post(format!("{base}/admin/v1/users/carol/enroll")).bearer_auth(TOKEN).send().await?;
    assert_eq!(r.status(), 200);
    let code: Json = serde_json::from_slice(&r.bytes().await?)?;
    assert_eq!((code["answer"].as_str(), code["user"].as_str()), (Some("code"), Some("mimi://a.example/u/carol")));
    let r = http.post(format!("{base}/admin/v1/users/carol/enroll")).send().await?;
    assert_eq!(r.status(), 401, "enrollment needs the token too");
    let nobody = encode_path_segment("mimi://a.example/d/nobody/phone");
    let r = http.post(format!("{base}/admin/v1/clients/{nobody}/revoke")).bearer_auth(TOKEN).send().await?;
    assert_eq!(r.status(), 409);
    let elsewhere = encode_path_segment(bob.uri().as_str());
    let r = http.post(format!("{base}/admin/v1/clients/{elsewhere}/revoke")).bearer_auth(TOKEN).send().await?;
    assert_eq!(r.status(), 400, "not a client of ours");
    let (status, users) = get("/admin/v1/users".into()).await?;
    assert_eq!(status, 200);
    assert_eq!(users["users"][0]["user"].as_str(), Some(alice.uri().user().as_str()));
    assert_eq!(users["users"][0]["clients"][0]["client"].as_str(), Some(alice_uri));
    assert_eq!(users["users"].as_array().map(Vec::len), Some(1));

    // The same room through the admin socket, as `mimi-ds room show` asks for it.
    let (answer, via) = mimi_ds::admin::perform(&configs[0], &AdminRequest::ShowRoom { room: room.clone() }).await?;
    assert_eq!(via, Via::Server);
    let AdminAnswer::Room(socket_view) = answer else { anyhow::bail!("not a room: {answer:?}") };
    let mut http_view = view.clone();
    http_view.as_object_mut().context("an object")?.remove("answer");
    assert_eq!(serde_json::to_value(&*socket_view)?, http_view, "the socket and the API answer alike");
    let text = AdminAnswer::Room(socket_view.clone()).to_string();
    assert!(text.contains(&format!("peer b.example: cursor {log_len}, lag 0 (pending 0)")), "{text}");

    // The console in a real browser.
    match chromium() {
        None => eprintln!("console browser test skipped: no chromium (run scripts/install-test-deps.sh)"),
        Some(chromium) => {
            let url = format!("{base}/#token={TOKEN}&room={}", encode_path_segment(&room));
            let dom = dump_dom(&chromium, dir.path(), &url).await?;
            let member_row = format!("<td>{}</td>", alice.uri().as_str());
            for shown in [
                format!("<span id=\"room-id\">{room}</span>"),
                member_row,
                format!("<td>{bob_uri}</td>"),
                "3 (group_admin)".to_owned(),
                format!("{alice_uri} added {bob_uri}"),
                format!("<td>b.example</td><td>{log_len}</td><td>0</td>"),
                format!("<dt>Epoch</dt><dd>{epoch}</dd>"),
                "<dt>Refused submissions</dt><dd>1</dd>".to_owned(),
                "&lt;img src=x onerror=\"document.title='pwned'\"&gt;&lt;script&gt;".to_owned(),
            ] {
                ensure!(dom.contains(&shown), "the console does not show {shown:?}:\n{dom}");
            }
            ensure!(!dom.contains("<img"), "the room name became markup:\n{dom}");
            ensure!(!dom.contains("pwned</title>"), "the room name ran as script:\n{dom}");

            // Another commit: the page shows the new epoch.
            alice.key_update(&room).await?;
            let dom = dump_dom(&chromium, dir.path(), &url).await?;
            ensure!(dom.contains(&format!("<dt>Epoch</dt><dd>{}</dd>", epoch + 1)), "no new epoch:\n{dom}");
            ensure!(dom.contains(&format!("committed epoch {epoch} → {}", epoch + 1)), "no new commit:\n{dom}");
            if let Some(png) = std::env::var_os("MIMI_CONSOLE_SCREENSHOT") {
                screenshot(&chromium, dir.path(), &url, Path::new(&png)).await?;
                eprintln!("console screenshot: {}", Path::new(&png).display());
            }
            eprintln!("console browser test ran with {}", chromium.display());
        }
    }

    let epoch = alice.epoch(&room)?;
    for p in providers {
        p.stop().await?;
    }

    // No server: the same commands on the store files.
    let show = AdminRequest::ShowRoom { room: room.clone() };
    let (answer, via) = mimi_ds::admin::perform(&configs[0], &show).await?;
    assert_eq!(via, Via::Store);
    let AdminAnswer::Room(offline) = answer else { anyhow::bail!("not a room: {answer:?}") };
    assert_eq!((offline.epoch, offline.refused), (epoch, None));
    assert_eq!(offline.members, socket_view.members);
    // b.example keeps a mirror of the room, shown as a follower's, decoded from the bytes alone.
    let (answer, via) = mimi_ds::admin::perform(&configs[1], &AdminRequest::ListRooms).await?;
    assert_eq!(via, Via::Store);
    let AdminAnswer::Rooms { rooms } = answer else { anyhow::bail!("not rooms: {answer:?}") };
    assert_eq!(rooms.len(), 1, "{rooms:?}");
    assert_eq!((rooms[0].room.as_str(), rooms[0].role.as_str(), rooms[0].members), (room.as_str(), "follower", None));
    assert_eq!(rooms[0].epoch, epoch - 1, "the mirror's last entry is the last commit, sent in the epoch before");
    let export = AdminRequest::ExportLog { room: room.clone() };
    let (answer, _) = mimi_ds::admin::perform(&configs[1], &export).await?;
    let AdminAnswer::Log(mirror) = answer else { anyhow::bail!("not a log: {answer:?}") };
    assert_eq!(mirror.role, "follower");
    assert!(mirror.entries.iter().all(|e| !e.resolved));
    assert!(mirror.entries.iter().any(|e| e.kind == "application" && e.sender == bob_uri), "{mirror:?}");
    Ok(())
}

/// An HTTP client for the admin listener (plain HTTP on loopback; reqwest still wants a TLS
/// configuration, which trusts nothing here).
fn plain_http() -> anyhow::Result<reqwest::Client> {
    let tls = rustls::ClientConfig::builder_with_provider(mimi_ds::tls::crypto_provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    Ok(reqwest::Client::builder().tls_backend_preconfigured(tls).no_proxy().build()?)
}

/// The Chromium to drive: `MIMI_CHROMIUM`, else `/usr/bin/chromium` if present.
fn chromium() -> Option<PathBuf> {
    let path =
        std::env::var_os("MIMI_CHROMIUM").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    path.exists().then_some(path)
}

/// Headless Chromium with a profile of its own under `dir`, nothing fetched but the page.
fn browser(chromium: &Path, dir: &Path) -> anyhow::Result<Command> {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let profile = dir.join(format!("chromium-profile-{}", RUNS.fetch_add(1, Ordering::SeqCst)));
    std::fs::create_dir_all(&profile)?;
    let mut command = Command::new(chromium);
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--virtual-time-budget=4000",
    ]);
    command.arg(format!("--user-data-dir={}", profile.display()));
    Ok(command)
}

/// The page's DOM after its scripts ran (a few polls).
async fn dump_dom(chromium: &Path, dir: &Path, url: &str) -> anyhow::Result<String> {
    let mut command = browser(chromium, dir)?;
    command.arg("--dump-dom").arg(url);
    Ok(String::from_utf8(run(command).await?.stdout)?)
}

/// Runs `command` to its successful end (at most three minutes, on a loaded machine: `timeout` kills a
/// hanging browser, exit status 124).
async fn run(mut command: Command) -> anyhow::Result<std::process::Output> {
    let mut timed = Command::new("timeout");
    timed.arg("180").arg(command.get_program()).args(command.get_args());
    command = timed;
    let output = tokio::task::spawn_blocking(move || command.output()).await??;
    ensure!(
        output.status.success(),
        "chromium failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(output)
}

/// A PNG of the page at `png`.
async fn screenshot(chromium: &Path, dir: &Path, url: &str, png: &Path) -> anyhow::Result<()> {
    let mut command = browser(chromium, dir)?;
    command.arg("--window-size=1400,2200").arg(format!("--screenshot={}", png.display())).arg(url);
    run(command).await?;
    Ok(())
}
