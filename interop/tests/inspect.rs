//! `mimi-interop decode|encode`: every structure of every published vector decodes to the JSON form the
//! vectors publish and encodes back to the same bytes; broken input names the structure and the byte
//! where decoding stopped; and the binary itself reads hex, files and standard input.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use mimi_interop::inspect::{self, Structure};
use mimi_interop::vectors::forms::Form;
use mimi_interop::vectors::mls::MlsObjects;
use mimi_interop::vectors::render::published;
use mimi_interop::vectors::{self, Entry, VectorFile};
use mimi_interop::Error;
use mimi_protocol::client_api::{ClientQueue, KeyPackageUpload, RoomEntries, RoomEntry, WelcomeItem};
use mimi_protocol::notify::{FanoutFraming, FanoutMessage};
use mimi_protocol::ratchet_tree::RatchetTreeOption;
use mimi_protocol::IdentifierUri;
use openmls::prelude::MlsMessageIn;
use serde_json::Value as Json;
use tls_codec::{Deserialize, Serialize};

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

/// Every entry of every published file.
fn published_entries() -> Vec<(VectorFile, Entry)> {
    VectorFile::ALL
        .into_iter()
        .flat_map(|file| {
            let path = vectors_dir().join(file.file_name());
            let text = std::fs::read_to_string(&path).expect("vector file");
            let entries = vectors::from_file_text(&path, &text).expect("vector file parses");
            entries.into_iter().map(move |e| (file, e))
        })
        .collect()
}

/// Where the JSON form of an entry's `hex` appears in its published `fields`.
fn published_form(file: VectorFile, entry: &Entry) -> Json {
    match file {
        VectorFile::Wire => entry.fields.clone(),
        VectorFile::ParticipantList => serde_json::json!({ "updates": entry.fields["updates"] }),
        VectorFile::RoomPolicy => entry.fields["state"]["participant_list"].clone(),
        VectorFile::Content => entry.fields["content"].clone(),
    }
}

#[test]
fn every_published_vector_decodes_to_its_published_form_and_encodes_back_exactly() {
    let entries = published_entries();
    assert!(entries.len() > 150, "only {} entries", entries.len());
    for (file, entry) in &entries {
        let bytes = entry.bytes().expect("hex");
        let structure = inspect::find(&entry.structure).unwrap_or_else(|e| panic!("{}: {e}", entry.label()));
        let json = structure.decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", entry.label()));
        assert_eq!(published(json.clone()), published_form(*file, entry), "{}: not the published form", entry.label());
        let again = structure.encode(&json).unwrap_or_else(|e| panic!("{}: {e}", entry.label()));
        assert_eq!(hex::encode(again), entry.hex, "{}: encode(decode(hex)) differs", entry.label());
        // The lists before and after a participant-list update are normative ParticipantListData too.
        let lists = ["before", "after"].map(|key| &entry.fields[key]);
        for list in lists.into_iter().filter(|l| *file == VectorFile::ParticipantList && !l.is_null()) {
            let structure = inspect::find("ParticipantListData").expect("structure");
            let bytes = hex::decode(list["hex"].as_str().expect("list hex")).expect("hex");
            let json = structure.decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", entry.label()));
            assert_eq!(&json, list, "{}: not the published list", entry.label());
            assert_eq!(structure.encode(&json).expect("encode"), bytes, "{}", entry.label());
        }
    }
}

#[test]
fn every_structure_is_covered_and_listed_once() {
    let names: Vec<_> = inspect::structures().iter().map(|s| s.name).collect();
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "a name appears twice: {names:?}");
    let published: Vec<String> = published_entries().into_iter().map(|(_, e)| e.structure).collect();
    for name in &names {
        // Our client API's bodies are not published (they are round-tripped below); ParticipantListData
        // is published inside participant-list entries (`before`, `after`) and as RoomPolicyDecision.
        if !["KeyPackageUpload", "RoomEntries", "ClientQueue", "ParticipantListData"].contains(name) {
            assert!(published.iter().any(|p| p == name), "no published vector for {name}");
        }
    }
    for name in &published {
        assert!(names.contains(&name.as_str()), "decode does not know {name}");
    }
}

fn round_trip<T: Form>(value: &T) {
    let bytes = value.encode_vector().expect("encode");
    let structure = Structure::of::<T>();
    let json = structure.decode(&bytes).expect("decode");
    assert_eq!(structure.encode(&json).expect("encode from JSON"), bytes, "{}", T::STRUCT);
}

#[test]
fn client_api_bodies_round_trip() {
    let m = MlsObjects::build().expect("objects");
    // The KeyPackage as an MLSMessage: version mls10, wire format mls_key_package, then the KeyPackage.
    let mut kp = vec![0, 1, 0, 5];
    kp.extend(m.key_package.tls_serialize_detached().expect("key package"));
    let kp = MlsMessageIn::tls_deserialize_exact(kp).expect("key package message");
    round_trip(&KeyPackageUpload { key_packages: vec![kp] });
    let fanout = FanoutMessage {
        timestamp: 7,
        message: m.commit.clone(),
        framing: FanoutFraming::Commit { external_proposals: vec![] },
    };
    round_trip(&RoomEntries { next_after: 9, entries: vec![RoomEntry { seq: 9, epoch: 0, fanout }] });
    round_trip(&ClientQueue {
        items: vec![WelcomeItem {
            seq: 1,
            room: IdentifierUri::new("mimi://a.example/r/clubhouse"),
            after_seq: 9,
            welcome: m.welcome_message.clone(),
            ratchet_tree_option: RatchetTreeOption::Full { ratchet_tree: m.ratchet_tree.clone() },
        }],
    });
}

fn vector(structure: &str, variant: &str) -> Vec<u8> {
    let (_, entry) = published_entries()
        .into_iter()
        .find(|(_, e)| e.structure == structure && e.variant == variant)
        .expect("vector");
    entry.bytes().expect("hex")
}

fn decode_error(structure: &str, bytes: &[u8]) -> (Option<usize>, String) {
    let error = inspect::find(structure).expect("structure").decode(bytes).expect_err("must not decode");
    match &error {
        Error::Decode { offset, .. } => (*offset, error.to_string()),
        other => panic!("{structure}: expected a decode error, got {other:?}"),
    }
}

#[test]
fn truncated_and_garbled_input_name_the_structure_and_the_offset() {
    let entry = vector("ConsentEntry", "grant");
    let (offset, message) = decode_error("ConsentEntry", &entry[..17]);
    assert!(offset.is_some_and(|o| o <= 17), "{message}");
    assert!(message.starts_with(&format!("ConsentEntry: at byte {}: ", offset.unwrap_or_default())), "{message}");

    // A ProfileField (nested) whose fieldSource is 9, which is not a FieldSource.
    let mut field = vector("ProfileField", "oidcStdClaim");
    field[0] = 9;
    let (offset, message) = decode_error("ProfileField", &field);
    assert!(offset.is_some_and(|o| o <= 1), "{message}");
    assert!(message.starts_with("ProfileField: at byte "), "{message}");

    // Trailing bytes after a complete body.
    let mut response = vector("UpdateRoomResponse", "notAllowed");
    let len = response.len();
    response.push(0);
    let (offset, message) = decode_error("UpdateRoomResponse", &response);
    assert_eq!(offset, Some(len), "{message}");

    // Content and participant lists report offsets too.
    let content = vector("mimiContent", "original");
    let (offset, message) = decode_error("mimiContent", &content[..content.len() - 3]);
    assert!(offset.is_some(), "{message}");
    let update = vector("ParticipantListUpdate", "append two, in order");
    let (offset, message) = decode_error("ParticipantListUpdate", &update[..update.len() - 1]);
    assert!(offset.is_some(), "{message}");
    assert!(matches!(inspect::find("NoSuchStruct"), Err(Error::UnknownStruct(_))));
}

#[test]
fn json_that_is_not_the_structure_names_the_path() {
    let structure = inspect::find("ConsentScope").expect("structure");
    let mut json = structure.decode(&vector("ConsentScope", "one room")).expect("decode");
    json["requesterUri"] = Json::from(5);
    let e = structure.encode(&json).expect_err("a number is not a URI");
    assert_eq!(e.to_string(), "ConsentScope: $.requesterUri: expected a string");
}

fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mimi-interop"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mimi-interop");
    child.stdin.take().expect("stdin").write_all(stdin).expect("write stdin");
    child.wait_with_output().expect("wait")
}

fn stdout_json(out: &Output) -> Json {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

#[test]
fn the_binary_decodes_hex_files_and_stdin_and_encodes_back() {
    let bytes = vector("FanoutMessage", "commit");
    let hex_text = hex::encode(&bytes);
    let dir = tempfile::tempdir().expect("temp dir");

    let from_hex = stdout_json(&run(&["decode", "FanoutMessage", &hex_text], b""));
    assert_eq!(from_hex["message"]["proposals"], serde_json::json!(["add(1)"]));

    let binary = dir.path().join("fanout.bin");
    std::fs::write(&binary, &bytes).expect("write");
    let from_file = stdout_json(&run(&["decode", "FanoutMessage", binary.to_str().expect("path")], b""));
    assert_eq!(from_file, from_hex);

    let from_stdin_hex = stdout_json(&run(&["decode", "FanoutMessage", "-"], format!("{hex_text}\n").as_bytes()));
    assert_eq!(from_stdin_hex, from_hex);
    let from_stdin_binary = stdout_json(&run(&["decode", "FanoutMessage", "-"], &bytes));
    assert_eq!(from_stdin_binary, from_hex);

    let json_file = dir.path().join("fanout.json");
    std::fs::write(&json_file, serde_json::to_vec(&from_hex).expect("json")).expect("write");
    let out = run(&["encode", "FanoutMessage", json_file.to_str().expect("path")], b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), hex_text);
    let out = run(&["encode", "--binary", "FanoutMessage", "-"], &serde_json::to_vec(&from_hex).expect("json"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, bytes);

    let list = run(&["decode", "--list"], b"");
    assert!(list.status.success());
    let names = String::from_utf8_lossy(&list.stdout).lines().map(str::to_owned).collect::<Vec<_>>();
    let expected: Vec<_> = inspect::structures().iter().map(|s| s.name.to_owned()).collect();
    assert_eq!(names, expected);
}

#[test]
fn the_binary_reports_bad_input_with_structure_offset_and_exit_code() {
    let bytes = vector("ConsentEntry", "grant");
    let out = run(&["decode", "ConsentEntry", &hex::encode(&bytes[..17])], b"");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ConsentEntry: at byte "), "{stderr}");
    assert!(out.stdout.is_empty());

    let out = run(&["decode", "NoSuchStruct", "00"], b"");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("NoSuchStruct"));

    let out = run(&["encode", "ConsentScope", "-"], b"{\"requesterUri\": 5}");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ConsentScope: $.requesterUri"));
}
