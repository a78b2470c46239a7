use mimi_protocol::directory::{decode_path_segment, encode_path_segment, Directory, Endpoint};
use mimi_protocol::WireError;

#[test]
fn our_directory_uses_v1_templates_and_round_trips() {
    let directory = Directory::ours("https://a.example:8443/");
    assert_eq!(directory.update, "https://a.example:8443/v1/update/{roomId}");
    assert_eq!(directory.key_material, "https://a.example:8443/v1/keyMaterial/{targetUser}");
    let json = directory.to_json();
    assert!(json.contains("\"submitMessage\""));
    assert!(json.contains("draft-ietf-mimi-protocol-06"));
    assert_eq!(Directory::from_json(json.as_bytes()).unwrap(), directory);
}

#[test]
fn room_uri_is_one_percent_encoded_segment() {
    let directory = Directory::ours("https://hub.example");
    let url = directory.url(Endpoint::Notify, "mimi://a.example/r/club house");
    assert_eq!(url, "https://hub.example/v1/notify/mimi%3A%2F%2Fa.example%2Fr%2Fclub%20house");
    let segment = url.rsplit('/').next().unwrap();
    assert_eq!(decode_path_segment(segment).unwrap(), "mimi://a.example/r/club house");
    assert_eq!(encode_path_segment("a-b.c_d~e"), "a-b.c_d~e");
    assert!(decode_path_segment("a/b").is_err());
    assert!(decode_path_segment("%ff").is_err());
}

#[test]
fn draft_example_directory_parses_and_bad_templates_are_rejected() {
    // The draft's example, with the missing ':' after "proxyDownload" fixed: it parses (the "update"
    // template lacks a slash but still has its variable once).
    let example = r#"{
      "keyMaterial": "https://mimi.example.com/v1/keyMaterial/{targetUser}",
      "update": "https://mimi.example.com/v1/update{roomId}",
      "notify": "https://mimi.example.com/v1/notify/{roomId}",
      "submitMessage": "https://mimi.example.com/v1/submitMessage/{roomId}",
      "groupInfo": "https://mimi.example.com/v1/groupInfo/{roomId}",
      "requestConsent": "https://mimi.example.com/v1/requestConsent/{targetUser}",
      "updateConsent": "https://mimi.example.com/v1/updateConsent/{requesterUser}",
      "identifierQuery": "https://mimi.example.com/v1/identifierQuery/{domain}",
      "reportAbuse": "https://mimi.example.com/v1/reportAbuse/{roomId}",
      "proxyDownload": "https://mimi.example.com/v1/proxyDownload/{downloadUrl}"
    }"#;
    let directory = Directory::from_json(example.as_bytes()).unwrap();
    assert!(directory.mimi_drafts.is_empty());
    let broken = example.replace("notify/{roomId}", "notify/");
    assert!(matches!(Directory::from_json(broken.as_bytes()), Err(WireError::Directory(_))));
    let plain_http = example.replace("https://mimi.example.com/v1/notify", "http://mimi.example.com/v1/notify");
    assert!(Directory::from_json(plain_http.as_bytes()).is_err());
    assert!(Directory::from_json(b"{").is_err());
    assert!(matches!(Directory::from_json(&vec![b' '; 70_000]), Err(WireError::TooLarge { .. })));
}
