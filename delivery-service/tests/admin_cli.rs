//! The operator's room and user commands as the `mimi-ds` binary runs them: through the admin
//! socket of a running server, then on the store file once the server is gone, with the same
//! answers (`mimi-ds user list`, `mimi-ds room list|show|export`).

mod support;

use mimi_ds::config::Registration;
use mimi_protocol::directory::encode_path_segment;
use reqwest::StatusCode;
use support::harness::*;
use support::*;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_and_user_commands_over_the_socket_and_on_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(dir.path(), Registration::Codes).await;
    let code = h.code("alice").await;
    let phone = h.registered("alice", "phone", Some(&code), None).await;
    let mut alice = Client::new("alice", "phone");
    let hub_key = mimi_ds::provider::load_or_create_hub_key(&h.config.data_dir.join("hub-key.tls")).unwrap();
    let gi = create_group(&mut alice, &hub_key.to_public_vec());
    let room = format!("/client/v1/rooms/{}", encode_path_segment(ROOM));
    assert_eq!(h.post(&room, Some(&phone), gi).await.0, StatusCode::CREATED);

    let by_server = |args: &[&str]| {
        let out = h.cli(args);
        assert!(text(&out.stderr).contains("done by the running server"), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    let users = by_server(&["user", "list"]);
    assert!(users.starts_with("mimi://a.example/u/alice\n  mimi://a.example/d/alice/phone active since"), "{users}");
    let rooms = by_server(&["room", "list"]);
    assert_eq!(rooms.trim(), format!("{ROOM} hub epoch 0 members 1 log 0"));
    let shown = by_server(&["room", "show", ROOM]);
    for line in [
        &format!("{ROOM} (hub), epoch 0"),
        "  leaf 0 mimi://a.example/d/alice/phone",
        "  mimi://a.example/u/alice role 3 (group_admin), 1 client(s)",
        "log: 0 entries, 0 bytes",
        "refused submissions since the server started: 0",
    ] {
        assert!(shown.contains(line), "{line:?} not in {shown}");
    }
    let export = dir.path().join("log.json");
    let out = h.cli(&["room", "export", ROOM, "--out", export.to_str().unwrap()]);
    assert!(text(&out.stderr).contains("log written to"), "{}", text(&out.stderr));
    let log: serde_json::Value = serde_json::from_slice(&std::fs::read(&export).unwrap()).unwrap();
    assert_eq!((log["room"].as_str(), log["role"].as_str()), (Some(ROOM), Some("hub")));
    assert_eq!(log["entries"], serde_json::json!([]));
    h.stop().await;

    // No server: the same answers from the store (what only the server knows is said to be so).
    let config_file = dir.path().join("provider.toml");
    let on_store = |args: &[&str]| {
        let out = cli(&config_file, args);
        assert!(text(&out.stderr).contains("no server answered"), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    assert_eq!(on_store(&["user", "list"]), users);
    assert_eq!(on_store(&["room", "list"]), rooms);
    let offline = on_store(&["room", "show", ROOM]);
    assert_eq!(
        offline.replace("refused submissions: (known to the running server only)", ""),
        shown.replace("refused submissions since the server started: 0", "")
    );
    // A room that does not exist: an error naming it, exit status 1.
    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_mimi-ds"))
        .args(["room", "show", "mimi://a.example/r/none", "--config"])
        .arg(&config_file)
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(text(&missing.stderr).contains("no room mimi://a.example/r/none"), "{}", text(&missing.stderr));
}
