//! Every example of draft-ietf-mimi-content-09 (the 14 complete messages of §5 and Appendix B,
//! plus the §6.3 extension-depth fragment), checked three independent ways:
//!
//! 1. the draft's EDN, parsed here, encodes (deterministically) to exactly the draft's bytes;
//! 2. the typed decoder accepts the bytes, its result matches the facts in `*.expected.txt`
//!    (fields, and every part with its implied partIndex and depth), and re-encodes byte for byte;
//! 3. the message ID over the bytes equals the one the draft states, and differs from the
//!    obsolete -07 construction.

mod edn;

use std::collections::HashMap;
use std::path::PathBuf;

use mimi_content::{DecodeLimits, ExtensionKey, MessageId, MimiContent, PartBody, Received, Value};

const EXAMPLES: [&str; 14] = [
    "original",
    "reply",
    "reaction",
    "mention",
    "mention-html",
    "edit",
    "delete",
    "unlike",
    "expiring",
    "attachment",
    "conferencing",
    "multipart-1",
    "multipart-2",
    "multipart-3",
];

fn vector_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors").join(name)
}

fn hex_of(name: &str) -> Vec<u8> {
    hex::decode(std::fs::read_to_string(vector_path(&format!("{name}.hex"))).unwrap().trim()).unwrap()
}

/// `key: value` lines of an expected.txt, plus its `part:` lines in order.
fn expected(name: &str) -> (HashMap<String, String>, Vec<String>) {
    let text = std::fs::read_to_string(vector_path(&format!("{name}.expected.txt"))).unwrap();
    let mut fields = HashMap::new();
    let mut parts = Vec::new();
    for line in text.lines() {
        if let Some(p) = line.strip_prefix("part: ") {
            parts.push(p.to_owned());
        } else if let Some((k, v)) = line.split_once(": ") {
            fields.insert(k.to_owned(), v.to_owned());
        }
    }
    (fields, parts)
}

fn first_word(s: &str) -> &str {
    s.split_whitespace().next().unwrap_or("")
}

fn opt_id(id: &Option<MessageId>) -> String {
    id.map(|i| i.to_hex()).unwrap_or_else(|| "null".into())
}

/// The `part:` line format of expected.txt, produced from our decoded tree.
fn describe_parts(m: &MimiContent) -> Vec<String> {
    m.nested_part
        .preorder()
        .into_iter()
        .map(|ip| {
            let p = ip.part;
            let mut s = format!(
                "partIndex={} depth={} disposition={} language='{}' cardinality={}({})",
                ip.index,
                ip.depth,
                p.disposition.value(),
                p.language,
                p.body.cardinality(),
                p.body.cardinality_name()
            );
            match &p.body {
                PartBody::Null => {}
                PartBody::Single(x) => {
                    s += &format!(" contentType='{}' contentLen={}", x.content_type, x.content.len())
                }
                PartBody::External(x) => s += &format!(" contentType='{}' url='{}'", x.content_type, x.url),
                PartBody::Multi(x) => {
                    s += &format!(
                        " partSemantics={}({}) nParts={}",
                        x.part_semantics.value(),
                        x.part_semantics.name(),
                        x.parts.len()
                    )
                }
            }
            s
        })
        .collect()
}

#[test]
fn edn_encodes_to_the_drafts_bytes() {
    for name in EXAMPLES {
        let edn = std::fs::read_to_string(vector_path(&format!("{name}.edn"))).unwrap();
        let value = edn::parse(&edn);
        assert_eq!(hex::encode(value.to_cbor(16).unwrap()), hex::encode(hex_of(name)), "{name}");
        assert_eq!(Value::from_cbor(&hex_of(name), 16).unwrap(), value, "{name}: generic decode");
    }
}

#[test]
fn typed_decode_matches_expected_and_reencodes_byte_for_byte() {
    for name in EXAMPLES {
        let bytes = hex_of(name);
        let (fields, parts) = expected(name);
        let m = MimiContent::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(bytes.len().to_string(), fields["cbor_length"], "{name}");
        assert_eq!(hex::encode(m.salt), fields["salt"], "{name}");
        assert_eq!(opt_id(&m.replaces), first_word(&fields["replaces"]), "{name}");
        assert_eq!(opt_id(&m.in_reply_to), first_word(&fields["inReplyTo"]), "{name}");
        assert_eq!(m.extensions.sender_uri(), Some(fields["sender_uri (extension key 1)"].as_str()), "{name}");
        assert_eq!(m.extensions.room_uri(), Some(fields["room_uri (extension key 2)"].as_str()), "{name}");
        let expires = match m.expires {
            None => "null".to_owned(),
            Some(x) => format!("[{}, {}]", x.relative, x.time),
        };
        assert!(fields["expires"].starts_with(&expires), "{name}: expires {expires} vs {}", fields["expires"]);
        let topic = if m.topic_id.is_empty() { "h'' (empty)".to_owned() } else { hex::encode(&m.topic_id) };
        assert!(fields["topicId"].starts_with(&topic), "{name}: topic {topic} vs {}", fields["topicId"]);
        let ours = describe_parts(&m);
        assert_eq!(ours.len().to_string(), fields["nested_part_count"], "{name}");
        for (mine, theirs) in ours.iter().zip(&parts) {
            // expected.txt lines may carry more detail after ours (e.g. sizes); ours must be a prefix.
            assert!(
                theirs.starts_with(mine.as_str()) || mine.starts_with(theirs.as_str()),
                "{name}:\n ours   {mine}\n theirs {theirs}"
            );
        }
        assert_eq!(m.encode().unwrap(), bytes, "{name}: re-encoding differs");
    }
}

#[test]
fn message_ids_equal_the_drafts() {
    for name in EXAMPLES {
        let bytes = hex_of(name);
        let (fields, _) = expected(name);
        let r = Received::decode(&bytes, None, None, &DecodeLimits::default()).unwrap();
        assert_eq!(r.id.to_hex(), fields["message_id"], "{name}");
        assert_eq!(r.id.to_hex(), first_word(&fields["message_id_stated_in_draft"]), "{name}");
        let legacy = MessageId::derive_draft07(
            r.content.extensions.sender_uri().unwrap(),
            r.content.extensions.room_uri().unwrap(),
            &bytes,
            &r.content.salt,
        );
        assert_ne!(legacy, r.id, "{name}");
        let legacy_key = fields.keys().find(|k| k.starts_with("legacy_07_message_id")).unwrap();
        assert_eq!(legacy.to_hex(), fields[legacy_key], "{name}: -07 ID");
        let (reencoded, id) = r.content.encode_with_id(None, None).unwrap();
        assert_eq!((reencoded, id), (bytes, r.id), "{name}");
    }
}

#[test]
fn references_between_examples_resolve() {
    let id = |n: &str| Received::decode(&hex_of(n), None, None, &DecodeLimits::default()).unwrap();
    let original = id("original");
    for n in ["reply", "reaction", "mention", "mention-html", "edit", "delete", "unlike"] {
        assert_eq!(id(n).content.in_reply_to, Some(original.id), "{n} answers the original");
    }
    assert_eq!(id("edit").content.replaces, Some(id("reply").id), "edit replaces the reply");
    assert_eq!(id("delete").content.replaces, Some(id("reply").id), "delete replaces the reply");
    assert_eq!(id("unlike").content.replaces, Some(id("reaction").id), "unlike withdraws the reaction");
}

#[test]
fn hash_input_is_the_documented_one() {
    let (fields, _) = expected("original");
    let bytes = hex_of("original");
    let m = MimiContent::decode(&bytes).unwrap();
    let mut input = Vec::new();
    for uri in [m.extensions.sender_uri().unwrap(), m.extensions.room_uri().unwrap()] {
        input.extend_from_slice(&(uri.len() as u16).to_be_bytes());
        input.extend_from_slice(uri.as_bytes());
    }
    input.extend_from_slice(&bytes);
    input.extend_from_slice(&m.salt);
    let key = fields.keys().find(|k| k.starts_with("hash_input_hex")).unwrap();
    assert_eq!(hex::encode(&input), fields[key]);
}

#[test]
fn extension_depth_fragment_is_exactly_at_the_limit() {
    let bytes =
        hex::decode(std::fs::read_to_string(vector_path("fragment-extensions-depth4.hex")).unwrap().trim()).unwrap();
    let edn = edn::parse(&std::fs::read_to_string(vector_path("fragment-extensions-depth4.edn")).unwrap());
    assert_eq!(edn.to_cbor(4).unwrap(), bytes);
    assert_eq!(Value::from_cbor(&bytes, 4).unwrap(), edn);
    assert!(Value::from_cbor(&bytes, 3).is_err(), "one level less must be refused");
    // The same map as a message's extensions: accepted at the draft's limit, refused below it.
    let mut m = MimiContent::decode(&hex_of("original")).unwrap();
    m.extensions = mimi_content::Extensions::new();
    let Value::Map(entries) = edn else { panic!("fragment is a map") };
    for (k, v) in entries {
        let key = match k {
            Value::Integer(i) => ExtensionKey::Int(i as i64),
            Value::Text(t) => ExtensionKey::Text(t),
            other => panic!("unexpected key {other:?}"),
        };
        m.extensions.insert(key, v).unwrap();
    }
    let msg = m.encode().unwrap();
    assert!(msg.windows(bytes.len()).any(|w| w == bytes.as_slice()), "the fragment appears verbatim");
    let back = MimiContent::decode(&msg).unwrap();
    assert_eq!(back.extensions.sender_uri(), Some("mimi://a.example/u/alice"));
    let strict = DecodeLimits { max_extension_depth: 3, ..DecodeLimits::default() };
    assert!(matches!(
        MimiContent::decode_with(&msg, &strict).unwrap_err().violation(),
        mimi_content::Violation::TooDeep { .. }
    ));
}
