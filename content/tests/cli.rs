//! The `mimi-content` binary as a hackathon user runs it: paste hex, get JSON and the ID back,
//! edit the JSON, re-encode; bad bytes give exit code 2 and a message naming the field.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mimi-content"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mimi-content");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn vector(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/vectors/{name}.hex", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn decode_edit_encode_and_identify() {
    let out = run(&["decode", "-"], vector("reply").as_bytes());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["messageId"], "015354973c2b65ca937bf1e035ae53a5ab80e947afa43d46920d4202e5cc0b27");
    assert_eq!(j["message"]["inReplyTo"], "017ce54837404c3696e0c747b985cb172716d0ed0a3d249ca63ace7d82a096f4");

    // Unchanged JSON re-encodes to the same bytes.
    let out = run(&["encode", "--hex", "-"], &serde_json::to_vec(&j).unwrap());
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), vector("reply").trim());

    // Edited JSON gives a different, valid message.
    j["message"]["nestedPart"]["content"]["text"] = "edited".into();
    let out = run(&["encode", "-"], &serde_json::to_vec(&j).unwrap());
    assert!(out.status.success());
    let edited = mimi_content::MimiContent::decode(&out.stdout).unwrap();
    assert!(matches!(&edited.nested_part.body, mimi_content::PartBody::Single(s) if s.content == b"edited"));

    let out = run(&["id", "-"], vector("reaction").as_bytes());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        "0158c4288911e50a8f6be3f47746b6682f10fd91bc8c05557aa589a3157aff68"
    );
    let out = run(&["id", "--sender", "mimi://x/u/y", "--room", "mimi://x/r/z", "-"], vector("reaction").as_bytes());
    assert!(out.status.success());
    assert_ne!(
        String::from_utf8(out.stdout).unwrap().trim(),
        "0158c4288911e50a8f6be3f47746b6682f10fd91bc8c05557aa589a3157aff68"
    );

    let out = run(&["decode", "--format", "edn", "-"], vector("delete").as_bytes());
    assert!(String::from_utf8(out.stdout).unwrap().ends_with("[1, \"\", 0]]\n"));
}

#[test]
fn malformed_input_names_the_field_and_exits_2() {
    // The original message with its salt cut to 15 bytes (0x4f) and one byte dropped.
    let mut hex = vector("original").trim().to_owned();
    hex.replace_range(2..4, "4f");
    hex.replace_range(4..6, "");
    let out = run(&["decode", "-"], hex.as_bytes());
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("at salt (byte 1): expected 16 bytes, found 15"), "{err}");

    let out = run(&["encode", "-"], br#"{"salt": "00"}"#);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["decode", "/nonexistent/file"], b"");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn lenient_decode_lists_deviations_and_strict_refuses() {
    // The `original` example with its top-level array sent as indefinite-length (9f … ff).
    let mut bytes = hex::decode(vector("original").trim()).unwrap();
    bytes[0] = 0x9f;
    bytes.push(0xff);
    let input = hex::encode(&bytes);

    let out = run(&["decode", "-"], input.as_bytes());
    assert_eq!(out.status.code(), Some(2), "strict mode must refuse");
    assert!(String::from_utf8_lossy(&out.stderr).contains("indefinite-length"));

    let out = run(&["decode", "--lenient", "-"], input.as_bytes());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["deviations"], serde_json::json!([{ "offset": 0, "kind": "indefinite-length array" }]));
    assert_eq!(j["canonical"], vector("original").trim());
    // The ID is over the bytes as sent, so it differs from the draft's.
    let sent = mimi_content::MessageId::derive(
        "mimi://example.com/u/alice-smith",
        "mimi://example.com/r/engineering_team",
        &bytes,
        &hex::decode("5eed9406c2545547ab6f09f20a18b003").unwrap().try_into().unwrap(),
    )
    .unwrap();
    assert_eq!(j["messageId"], sent.to_hex());
    assert_ne!(j["messageId"], "017ce54837404c3696e0c747b985cb172716d0ed0a3d249ca63ace7d82a096f4");
}
