//! A readable, lossless JSON form of a message, for the `mimi-content` CLI and for people
//! comparing implementations at interop events.
//!
//! Field names are the draft's. Byte strings are lowercase hex; a SinglePart's content is
//! `{"text": …}` when it is UTF-8 text and `{"hex": …}` otherwise; `disposition` is a number
//! (a `dispositionName` is added for reading and ignored on input); `cardinality` and
//! `partSemantics` are the draft's names. Extension values map CBOR to JSON as: integer → number
//! (or `{"int": "<decimal>"}` beyond 64 bits), text → string, bytes → `{"bytes": hex}`, array →
//! array, map → `{"map": [[key, value], …]}`, tag → `{"tag": n, "value": v}`, bool, null,
//! undefined → `{"simple": 23}`, other simple values → `{"simple": n}`, float →
//! `{"float": n}` (or `"NaN"`, `"Infinity"`, `"-Infinity"`).
//!
//! ```json
//! {"salt": "5eed…", "replaces": null, "topicId": "", "expires": null, "inReplyTo": null,
//!  "mimiExtensions": [{"key": 1, "value": "mimi://example.com/u/alice-smith"}],
//!  "nestedPart": {"disposition": 1, "language": "", "cardinality": "single",
//!                 "contentType": "text/plain;charset=utf-8", "content": {"text": "Hi"}}}
//! ```

use serde_json::{json, Map, Value as Json};

use crate::cbor::Value;
use crate::error::{ContentError, Segment, Violation};
use crate::extensions::{ExtensionKey, Extensions};
use crate::message::{Expiration, MimiContent};
use crate::message_id::MessageId;
use crate::part::{Disposition, ExternalPart, MultiPart, NestedPart, PartBody, PartSemantics, SinglePart};

/// The JSON form of a message.
pub fn to_json(m: &MimiContent) -> Json {
    json!({
        "salt": hex::encode(m.salt),
        "replaces": m.replaces.map(|i| i.to_hex()),
        "topicId": hex::encode(&m.topic_id),
        "expires": m.expires.map(|x| json!({"relative": x.relative, "time": x.time})),
        "inReplyTo": m.in_reply_to.map(|i| i.to_hex()),
        "mimiExtensions": m.extensions.iter().map(|(k, v)| json!({
            "key": match k { ExtensionKey::Int(i) => json!(i), ExtensionKey::Text(t) => json!(t) },
            "value": value_to_json(v),
        })).collect::<Vec<_>>(),
        "nestedPart": part_to_json(&m.nested_part),
    })
}

fn part_to_json(p: &NestedPart) -> Json {
    let mut o = Map::new();
    o.insert("disposition".into(), json!(p.disposition.value()));
    o.insert("dispositionName".into(), json!(p.disposition.name()));
    o.insert("language".into(), json!(p.language));
    o.insert("cardinality".into(), json!(p.body.cardinality_name()));
    match &p.body {
        PartBody::Null => {}
        PartBody::Single(s) => {
            o.insert("contentType".into(), json!(s.content_type));
            let content = match std::str::from_utf8(&s.content) {
                Ok(t) if !s.content_type.starts_with("image/") => json!({ "text": t }),
                _ => json!({ "hex": hex::encode(&s.content) }),
            };
            o.insert("content".into(), content);
        }
        PartBody::External(x) => {
            for (k, v) in [
                ("contentType", json!(x.content_type)),
                ("url", json!(x.url)),
                ("expires", json!(x.expires)),
                ("size", json!(x.size)),
                ("encAlg", json!(x.enc_alg)),
                ("key", json!(hex::encode(&x.key))),
                ("nonce", json!(hex::encode(&x.nonce))),
                ("aad", json!(hex::encode(&x.aad))),
                ("hashAlg", json!(x.hash_alg)),
                ("contentHash", json!(hex::encode(&x.content_hash))),
                ("description", json!(x.description)),
                ("filename", json!(x.filename)),
            ] {
                o.insert(k.into(), v);
            }
        }
        PartBody::Multi(m) => {
            o.insert("partSemantics".into(), json!(m.part_semantics.name()));
            o.insert("parts".into(), Json::Array(m.parts.iter().map(part_to_json).collect()));
        }
    }
    Json::Object(o)
}

/// The JSON form of a generic CBOR value (see the module docs).
pub fn value_to_json(v: &Value) -> Json {
    match v {
        Value::Integer(i) => {
            if let Ok(x) = i64::try_from(*i) {
                json!(x)
            } else if let Ok(x) = u64::try_from(*i) {
                json!(x)
            } else {
                json!({ "int": i.to_string() })
            }
        }
        Value::Bytes(b) => json!({ "bytes": hex::encode(b) }),
        Value::Text(t) => json!(t),
        Value::Array(a) => Json::Array(a.iter().map(value_to_json).collect()),
        Value::Map(m) => {
            json!({ "map": m.iter().map(|(k, v)| json!([value_to_json(k), value_to_json(v)])).collect::<Vec<_>>() })
        }
        Value::Tag(t, inner) => json!({ "tag": t, "value": value_to_json(inner) }),
        Value::Bool(b) => json!(b),
        Value::Null => Json::Null,
        Value::Undefined => json!({ "simple": 23 }),
        Value::Simple(s) => json!({ "simple": s }),
        Value::Float(f) if f.is_nan() => json!({ "float": "NaN" }),
        Value::Float(f) if f.is_infinite() => json!({ "float": if *f > 0.0 { "Infinity" } else { "-Infinity" } }),
        Value::Float(f) => json!({ "float": f }),
    }
}

fn err(why: impl Into<String>) -> ContentError {
    ContentError::invalid(Violation::Json(why.into()))
}

/// Reads an object's fields, refusing unknown names (typos should not pass silently).
struct Fields<'a> {
    obj: &'a Map<String, Json>,
    allowed: &'static [&'static str],
}

impl<'a> Fields<'a> {
    fn new(v: &'a Json, allowed: &'static [&'static str]) -> Result<Self, ContentError> {
        let obj = v.as_object().ok_or_else(|| err("expected an object"))?;
        if let Some(unknown) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(err(format!("unknown field {unknown:?}")).at(Segment::Key(unknown.clone())));
        }
        Ok(Fields { obj, allowed })
    }

    fn get(&self, name: &'static str) -> Result<&'a Json, ContentError> {
        debug_assert!(self.allowed.contains(&name));
        self.obj.get(name).ok_or_else(|| err("missing").at_field(name))
    }

    fn opt(&self, name: &'static str) -> Option<&'a Json> {
        self.obj.get(name).filter(|v| !v.is_null())
    }

    fn str(&self, name: &'static str) -> Result<&'a str, ContentError> {
        self.get(name)?.as_str().ok_or_else(|| err("expected a string").at_field(name))
    }

    fn hex(&self, name: &'static str) -> Result<Vec<u8>, ContentError> {
        hex::decode(self.str(name)?).map_err(|e| err(format!("bad hex: {e}")).at_field(name))
    }

    fn uint(&self, name: &'static str, max: u64) -> Result<u64, ContentError> {
        let v = self.get(name)?.as_u64().ok_or_else(|| err("expected an unsigned integer").at_field(name))?;
        if v > max {
            return Err(ContentError::invalid(Violation::IntegerOutOfRange { value: v, max }).at_field(name));
        }
        Ok(v)
    }
}

/// Parses the JSON form. Accepts the message object itself or the CLI's decode output
/// (an object with a `message` field).
pub fn from_json(v: &Json) -> Result<MimiContent, ContentError> {
    if let Some(inner) = v.get("message") {
        return from_json(inner);
    }
    let f = Fields::new(
        v,
        &["salt", "replaces", "topicId", "expires", "inReplyTo", "mimiExtensions", "nestedPart", "messageId"],
    )?;
    let salt = f.hex("salt")?;
    let salt: [u8; 16] = salt.try_into().map_err(|s: Vec<u8>| {
        ContentError::invalid(Violation::WrongByteLength { expected: 16, found: s.len() }).at_field("salt")
    })?;
    let id = |name: &'static str| -> Result<Option<MessageId>, ContentError> {
        f.opt(name)
            .map(|j| {
                j.as_str()
                    .ok_or_else(|| err("expected hex or null"))
                    .and_then(MessageId::from_hex)
                    .map_err(|e| e.at_field(name))
            })
            .transpose()
    };
    let expires = f
        .opt("expires")
        .map(|x| {
            let g = Fields::new(x, &["relative", "time"])?;
            Ok::<_, ContentError>(Expiration {
                relative: g.get("relative")?.as_bool().ok_or_else(|| err("expected a bool").at_field("relative"))?,
                time: g.uint("time", u32::MAX as u64)? as u32,
            })
        })
        .transpose()
        .map_err(|e| e.at_field("expires"))?;
    let mut extensions = Extensions::new();
    if let Some(list) = f.opt("mimiExtensions") {
        let list = list.as_array().ok_or_else(|| err("expected an array").at_field("mimiExtensions"))?;
        for (i, entry) in list.iter().enumerate() {
            let at = |e: ContentError| e.at_index(i).at_field("mimiExtensions");
            let g = Fields::new(entry, &["key", "value"]).map_err(at)?;
            let key = match g.get("key").map_err(at)? {
                Json::String(s) => ExtensionKey::Text(s.clone()),
                Json::Number(n) => ExtensionKey::Int(n.as_i64().ok_or_else(|| at(err("integer key out of range")))?),
                _ => return Err(at(err("key must be an integer or a string"))),
            };
            let value = value_from_json(g.get("value").map_err(at)?).map_err(|e| at(e.at_field("value")))?;
            extensions.insert(key, value).map_err(at)?;
        }
    }
    Ok(MimiContent {
        salt,
        replaces: id("replaces")?,
        topic_id: f.hex("topicId")?,
        expires,
        in_reply_to: id("inReplyTo")?,
        extensions,
        nested_part: part_from_json(f.get("nestedPart")?).map_err(|e| e.at_field("nestedPart"))?,
    })
}

const PART_FIELDS: &[&str] = &[
    "disposition",
    "dispositionName",
    "language",
    "cardinality",
    "contentType",
    "content",
    "url",
    "expires",
    "size",
    "encAlg",
    "key",
    "nonce",
    "aad",
    "hashAlg",
    "contentHash",
    "description",
    "filename",
    "partSemantics",
    "parts",
];

fn part_from_json(v: &Json) -> Result<NestedPart, ContentError> {
    let f = Fields::new(v, PART_FIELDS)?;
    let disposition = Disposition::from(f.uint("disposition", 255)? as u8);
    let language = f.str("language")?.to_owned();
    let body = match f.str("cardinality")? {
        "nullpart" => PartBody::Null,
        "single" => {
            let c = Fields::new(f.get("content")?, &["text", "hex"]).map_err(|e| e.at_field("content"))?;
            let content = match (c.opt("text"), c.opt("hex")) {
                (Some(Json::String(t)), None) => t.as_bytes().to_vec(),
                (None, Some(_)) => c.hex("hex").map_err(|e| e.at_field("content"))?,
                _ => return Err(err("content needs exactly one of \"text\" or \"hex\"").at_field("content")),
            };
            PartBody::Single(SinglePart { content_type: f.str("contentType")?.to_owned(), content })
        }
        "external" => PartBody::External(ExternalPart {
            content_type: f.str("contentType")?.to_owned(),
            url: f.str("url")?.to_owned(),
            expires: f.uint("expires", u32::MAX as u64)? as u32,
            size: f.uint("size", u64::MAX)?,
            enc_alg: f.uint("encAlg", u16::MAX as u64)? as u16,
            key: f.hex("key")?,
            nonce: f.hex("nonce")?,
            aad: f.hex("aad")?,
            hash_alg: f.uint("hashAlg", u8::MAX as u64)? as u8,
            content_hash: f.hex("contentHash")?,
            description: f.str("description")?.to_owned(),
            filename: f.str("filename")?.to_owned(),
        }),
        "multi" => {
            let part_semantics = match f.str("partSemantics")? {
                "chooseOne" => PartSemantics::ChooseOne,
                "singleUnit" => PartSemantics::SingleUnit,
                "processAll" => PartSemantics::ProcessAll,
                other => return Err(err(format!("unknown partSemantics {other:?}")).at_field("partSemantics")),
            };
            let list = f.get("parts")?.as_array().ok_or_else(|| err("expected an array").at_field("parts"))?;
            let parts = list
                .iter()
                .enumerate()
                .map(|(i, p)| part_from_json(p).map_err(|e| e.at_index(i).at_field("parts")))
                .collect::<Result<_, _>>()?;
            PartBody::Multi(MultiPart { part_semantics, parts })
        }
        other => return Err(err(format!("unknown cardinality {other:?}")).at_field("cardinality")),
    };
    Ok(NestedPart { disposition, language, body })
}

/// Parses the JSON form of a generic CBOR value.
pub fn value_from_json(v: &Json) -> Result<Value, ContentError> {
    Ok(match v {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => Value::Integer(
            n.as_i64()
                .map(i128::from)
                .or_else(|| n.as_u64().map(i128::from))
                .ok_or_else(|| err("a bare number must be an integer; write floats as {\"float\": n}"))?,
        ),
        Json::String(s) => Value::Text(s.clone()),
        Json::Array(a) => Value::Array(
            a.iter()
                .enumerate()
                .map(|(i, x)| value_from_json(x).map_err(|e| e.at_index(i)))
                .collect::<Result<_, _>>()?,
        ),
        Json::Object(o) => {
            let f = Fields::new(v, &["int", "bytes", "map", "tag", "value", "simple", "float"])?;
            if let Some(s) = f.opt("int") {
                let s = s.as_str().ok_or_else(|| err("\"int\" takes a decimal string"))?;
                Value::Integer(s.parse().map_err(|_| err(format!("bad integer {s:?}")))?)
            } else if o.contains_key("bytes") {
                Value::Bytes(f.hex("bytes")?)
            } else if let Some(m) = f.opt("map") {
                let entries = m.as_array().ok_or_else(|| err("\"map\" takes [[key, value], …]"))?;
                let mut out = Vec::with_capacity(entries.len());
                for pair in entries {
                    match pair.as_array().map(Vec::as_slice) {
                        Some([k, v]) => out.push((value_from_json(k)?, value_from_json(v)?)),
                        _ => return Err(err("each map entry is [key, value]")),
                    }
                }
                Value::Map(out)
            } else if o.contains_key("tag") {
                Value::Tag(f.uint("tag", u64::MAX)?, Box::new(value_from_json(f.get("value")?)?))
            } else if o.contains_key("simple") {
                match f.uint("simple", 255)? as u8 {
                    20 => Value::Bool(false),
                    21 => Value::Bool(true),
                    22 => Value::Null,
                    23 => Value::Undefined,
                    s => Value::Simple(s),
                }
            } else if let Some(x) = f.opt("float") {
                Value::Float(match x {
                    Json::String(s) if s == "NaN" => f64::NAN,
                    Json::String(s) if s == "Infinity" => f64::INFINITY,
                    Json::String(s) if s == "-Infinity" => f64::NEG_INFINITY,
                    other => other.as_f64().ok_or_else(|| err("\"float\" takes a number"))?,
                })
            } else {
                return Err(err("an object value needs one of int, bytes, map, tag, simple, float"));
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_draft_example_round_trips_through_json() {
        let dir = format!("{}/tests/vectors", env!("CARGO_MANIFEST_DIR"));
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !name.ends_with(".hex") || name.starts_with("fragment") || name.starts_with("implied") {
                continue;
            }
            let bytes = hex::decode(std::fs::read_to_string(&path).unwrap().trim()).unwrap();
            let m = MimiContent::decode(&bytes).unwrap();
            let j = to_json(&m);
            let text = serde_json::to_string(&j).unwrap();
            let back = from_json(&serde_json::from_str(&text).unwrap()).unwrap();
            assert_eq!(back.encode().unwrap(), bytes, "{name}");
            n += 1;
        }
        assert_eq!(n, 14);
    }

    #[test]
    fn values_round_trip() {
        let v = Value::Map(vec![
            (Value::Integer(-5), Value::Tag(32, Box::new(Value::Text("u".into())))),
            (Value::Bytes(vec![1]), Value::Array(vec![Value::Float(1.5), Value::Undefined, Value::Simple(99)])),
            (Value::Text("big".into()), Value::Integer(-(1i128 << 64))),
        ]);
        assert_eq!(value_from_json(&value_to_json(&v)).unwrap(), v);
    }

    #[test]
    fn errors_name_the_field() {
        let mut j =
            to_json(&crate::builder::MessageBuilder::text(crate::builder::TextFormat::Plain, "x").build().unwrap());
        j["nestedPart"]["contentTyp"] = json!("oops");
        let e = from_json(&j).unwrap_err();
        assert_eq!(e.path().to_string(), "nestedPart{contentTyp}");
        j["nestedPart"].as_object_mut().unwrap().remove("contentTyp");
        j["salt"] = json!("00");
        assert_eq!(from_json(&j).unwrap_err().path().to_string(), "salt");
    }
}
