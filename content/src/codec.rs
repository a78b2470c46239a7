//! The wire form of a message: encoding to and strict decoding from deterministic CBOR.
//!
//! Encoding checks the draft's structural rules that the Rust types cannot express (at least two
//! parts in a MultiPart, depth and part-count limits, extension keys and values), so that
//! anything [`MimiContent::encode`] produces is accepted by [`MimiContent::decode`] and
//! re-encodes to the same bytes.

use crate::cbor::{major, Decoder, Encoder, Value};
use crate::error::{ContentError, Segment, Violation};
use crate::extensions::{ExtensionKey, Extensions, ROOM_URI, SENDER_URI};
use crate::limits::DecodeLimits;
use crate::message::{Expiration, MimiContent};
use crate::message_id::MessageId;
use crate::part::{Disposition, ExternalPart, MultiPart, NestedPart, PartBody, PartSemantics, SinglePart};

/// Number of items in the top-level array.
const MESSAGE_ITEMS: u64 = 7;

impl MimiContent {
    /// Encodes the message as deterministic CBOR.
    pub fn encode(&self) -> Result<Vec<u8>, ContentError> {
        let mut e = Encoder::with_capacity(128 + self.nested_part_size_hint());
        self.encode_into(&mut e)?;
        Ok(e.buf)
    }

    fn nested_part_size_hint(&self) -> usize {
        match &self.nested_part.body {
            PartBody::Single(s) => s.content.len() + s.content_type.len(),
            _ => 256,
        }
    }

    fn encode_into(&self, e: &mut Encoder) -> Result<(), ContentError> {
        let limits = DecodeLimits::DRAFT;
        e.array(MESSAGE_ITEMS as usize);
        e.bytes(&self.salt);
        encode_opt_id(e, self.replaces.as_ref());
        if self.topic_id.len() > limits.max_topic_id_len {
            return Err(ContentError::invalid(Violation::TooLarge {
                what: "topicId",
                size: self.topic_id.len(),
                limit: limits.max_topic_id_len,
            })
            .at_field("topicId"));
        }
        e.bytes(&self.topic_id);
        match self.expires {
            None => e.null(),
            Some(x) => {
                e.array(2);
                e.bool(x.relative);
                e.uint(x.time as u64);
            }
        }
        encode_opt_id(e, self.in_reply_to.as_ref());
        encode_extensions(e, &self.extensions, limits.max_extension_depth)
            .map_err(|err| err.at_field("mimiExtensions"))?;
        let mut parts = 0;
        encode_part(e, &self.nested_part, 1, &mut parts, &limits).map_err(|err| err.at_field("nestedPart"))
    }

    /// Decodes a message with the draft's limits.
    pub fn decode(bytes: &[u8]) -> Result<MimiContent, ContentError> {
        MimiContent::decode_with(bytes, &DecodeLimits::DRAFT)
    }

    /// Decodes a message with the given limits. Rejects anything that is not the deterministic
    /// encoding of a valid message, so a successful decode re-encodes to the same bytes.
    pub fn decode_with(bytes: &[u8], limits: &DecodeLimits) -> Result<MimiContent, ContentError> {
        limits.check_message_size(bytes.len())?;
        let mut d = Decoder::new(bytes);
        let (n, off) = d.array()?;
        if n != MESSAGE_ITEMS {
            return Err(d.error(off, Violation::WrongArrayLength { expected: "7", found: n }));
        }
        let salt = d.fixed_bytes::<16>().map_err(|e| e.at_field("salt"))?;
        let replaces = decode_opt_id(&mut d).map_err(|e| e.at_field("replaces"))?;
        let topic_start = d.position();
        let topic = d.bytes().map_err(|e| e.at_field("topicId"))?;
        if topic.len() > limits.max_topic_id_len {
            return Err(d
                .error(
                    topic_start,
                    Violation::TooLarge { what: "topicId", size: topic.len(), limit: limits.max_topic_id_len },
                )
                .at_field("topicId"));
        }
        let expires = decode_expiration(&mut d).map_err(|e| e.at_field("expires"))?;
        let in_reply_to = decode_opt_id(&mut d).map_err(|e| e.at_field("inReplyTo"))?;
        let extensions =
            decode_extensions(&mut d, limits.max_extension_depth).map_err(|e| e.at_field("mimiExtensions"))?;
        let mut parts = 0;
        let nested_part = decode_part(&mut d, 1, &mut parts, limits).map_err(|e| e.at_field("nestedPart"))?;
        if d.remaining() > 0 {
            return Err(d.error(d.position(), Violation::TrailingBytes { count: d.remaining() }));
        }
        Ok(MimiContent { salt, replaces, topic_id: topic.to_vec(), expires, in_reply_to, extensions, nested_part })
    }
}

fn encode_opt_id(e: &mut Encoder, id: Option<&MessageId>) {
    match id {
        None => e.null(),
        Some(id) => e.bytes(id.as_bytes()),
    }
}

fn decode_opt_id(d: &mut Decoder<'_>) -> Result<Option<MessageId>, ContentError> {
    if d.null()? {
        return Ok(None);
    }
    Ok(Some(MessageId(d.fixed_bytes::<32>()?)))
}

fn decode_expiration(d: &mut Decoder<'_>) -> Result<Option<Expiration>, ContentError> {
    if d.null()? {
        return Ok(None);
    }
    let (n, off) = d.array()?;
    if n != 2 {
        return Err(d.error(off, Violation::WrongArrayLength { expected: "2", found: n }));
    }
    let relative = d.bool().map_err(|e| e.at_field("relative"))?;
    let time = d.uint(u32::MAX as u64).map_err(|e| e.at_field("time"))? as u32;
    Ok(Some(Expiration { relative, time }))
}

fn encode_extensions(e: &mut Encoder, x: &Extensions, max_depth: usize) -> Result<(), ContentError> {
    e.map(x.len());
    let mut prev: Option<&ExtensionKey> = None;
    for (k, v) in x.iter() {
        let at_key = |err: ContentError| err.at(Segment::Key(k.diagnostic()));
        k.validate().map_err(|v| at_key(ContentError::invalid(v)))?;
        if let Some(p) = prev {
            // `Extensions` keeps this invariant; checked again because encoding must never emit
            // a non-deterministic map.
            if p.cmp_encoded(k) != std::cmp::Ordering::Less {
                return Err(at_key(ContentError::invalid(Violation::UnsortedKey(k.diagnostic()))));
            }
        }
        prev = Some(k);
        match k {
            ExtensionKey::Int(i) if *i >= 0 => e.uint(*i as u64),
            ExtensionKey::Int(i) => e.int(*i as i128),
            ExtensionKey::Text(t) => e.text(t),
        }
        if let (ExtensionKey::Int(id @ (SENDER_URI | ROOM_URI)), false) = (k, matches!(v, Value::Text(_))) {
            return Err(at_key(ContentError::invalid(Violation::ExtensionNotText(*id))));
        }
        v.encode(e, max_depth.saturating_sub(1)).map_err(at_key)?;
    }
    Ok(())
}

fn decode_extensions(d: &mut Decoder<'_>, max_depth: usize) -> Result<Extensions, ContentError> {
    let (n, off) = d.map()?;
    if max_depth == 0 {
        return Err(d.error(off, Violation::TooDeep { limit: max_depth }));
    }
    let mut x = Extensions::new();
    let mut prev: Option<&[u8]> = None;
    for _ in 0..n {
        let key_start = d.position();
        let h = d.head()?;
        let key = match h.major {
            major::UNSIGNED | major::NEGATIVE => {
                let i = if h.major == major::UNSIGNED { h.arg as i128 } else { -1 - h.arg as i128 };
                if i.abs() > crate::cbor::MAX_SAFE_INTEGER {
                    return Err(d.error(key_start, Violation::InvalidExtensionKey("integer key outside ±(2^53−1)")));
                }
                ExtensionKey::Int(i as i64)
            }
            major::TEXT => {
                let t = d.text_payload(&h)?;
                if t.is_empty() || t.len() > 255 {
                    return Err(d.error(key_start, Violation::InvalidExtensionKey("text key must have 1..=255 octets")));
                }
                ExtensionKey::Text(t.to_owned())
            }
            _ => return Err(d.error(key_start, Violation::InvalidExtensionKey("a key must be an integer or text"))),
        };
        let kb = d.since(key_start);
        crate::cbor::check_key_order(prev, kb).map_err(|v| d.error(key_start, v))?;
        prev = Some(kb);
        let value_start = d.position();
        let value = Value::decode(d, max_depth - 1).map_err(|e| e.at(Segment::Key(key.diagnostic())))?;
        if let (ExtensionKey::Int(id @ (SENDER_URI | ROOM_URI)), false) = (&key, matches!(value, Value::Text(_))) {
            return Err(d.error(value_start, Violation::ExtensionNotText(*id)).at(Segment::Key(key.diagnostic())));
        }
        x.push_sorted(key, value);
    }
    Ok(x)
}

fn encode_part(
    e: &mut Encoder,
    p: &NestedPart,
    depth: usize,
    parts: &mut usize,
    limits: &DecodeLimits,
) -> Result<(), ContentError> {
    if depth > limits.max_part_depth {
        return Err(ContentError::invalid(Violation::TooDeep { limit: limits.max_part_depth }));
    }
    *parts += 1;
    if *parts > limits.max_parts {
        return Err(ContentError::invalid(Violation::TooManyParts { limit: limits.max_parts }));
    }
    let items = match &p.body {
        PartBody::Null => 3,
        PartBody::Single(_) | PartBody::Multi(_) => 5,
        PartBody::External(_) => 15,
    };
    e.array(items);
    e.uint(p.disposition.value() as u64);
    e.text(&p.language);
    e.uint(p.body.cardinality() as u64);
    match &p.body {
        PartBody::Null => {}
        PartBody::Single(s) => {
            e.text(&s.content_type);
            e.bytes(&s.content);
        }
        PartBody::External(x) => {
            e.text(&x.content_type);
            e.text(&x.url);
            e.uint(x.expires as u64);
            e.uint(x.size);
            e.uint(x.enc_alg as u64);
            e.bytes(&x.key);
            e.bytes(&x.nonce);
            e.bytes(&x.aad);
            e.uint(x.hash_alg as u64);
            e.bytes(&x.content_hash);
            e.text(&x.description);
            e.text(&x.filename);
        }
        PartBody::Multi(m) => {
            if m.parts.len() < 2 {
                return Err(ContentError::invalid(Violation::TooFewParts(m.parts.len() as u64)).at_field("parts"));
            }
            e.uint(m.part_semantics.value() as u64);
            e.array(m.parts.len());
            for (i, child) in m.parts.iter().enumerate() {
                encode_part(e, child, depth + 1, parts, limits).map_err(|err| err.at_index(i).at_field("parts"))?;
            }
        }
    }
    Ok(())
}

fn decode_part(
    d: &mut Decoder<'_>,
    depth: usize,
    parts: &mut usize,
    limits: &DecodeLimits,
) -> Result<NestedPart, ContentError> {
    let (n, off) = d.array()?;
    if depth > limits.max_part_depth {
        return Err(d.error(off, Violation::TooDeep { limit: limits.max_part_depth }));
    }
    *parts += 1;
    if *parts > limits.max_parts {
        return Err(d.error(off, Violation::TooManyParts { limit: limits.max_parts }));
    }
    if n < 3 {
        return Err(d.error(off, Violation::WrongArrayLength { expected: "3, 5 or 15", found: n }));
    }
    let disposition = Disposition::from(d.uint(u8::MAX as u64).map_err(|e| e.at_field("disposition"))? as u8);
    let language = d.text().map_err(|e| e.at_field("language"))?.to_owned();
    let card_off = d.position();
    let cardinality = d.uint(u64::MAX).map_err(|e| e.at_field("cardinality"))?;
    let expected = match cardinality {
        0 => 3,
        1 | 3 => 5,
        2 => 15,
        other => return Err(d.error(card_off, Violation::UnknownCardinality(other)).at_field("cardinality")),
    };
    if n != expected {
        return Err(d.error(off, Violation::CardinalityLength { cardinality: cardinality as u8, expected, found: n }));
    }
    let body = match cardinality {
        0 => PartBody::Null,
        1 => PartBody::Single(SinglePart {
            content_type: d.text().map_err(|e| e.at_field("contentType"))?.to_owned(),
            content: d.bytes().map_err(|e| e.at_field("content"))?.to_vec(),
        }),
        2 => PartBody::External(decode_external(d)?),
        _ => {
            let sem_off = d.position();
            let sem = d.uint(u64::MAX).map_err(|e| e.at_field("partSemantics"))?;
            let part_semantics = PartSemantics::from_value(sem)
                .ok_or_else(|| d.error(sem_off, Violation::UnknownPartSemantics(sem)).at_field("partSemantics"))?;
            let (count, list_off) = d.array().map_err(|e| e.at_field("parts"))?;
            if count < 2 {
                return Err(d.error(list_off, Violation::TooFewParts(count)).at_field("parts"));
            }
            let mut children = Vec::with_capacity(count as usize);
            for i in 0..count as usize {
                children.push(decode_part(d, depth + 1, parts, limits).map_err(|e| e.at_index(i).at_field("parts"))?);
            }
            PartBody::Multi(MultiPart { part_semantics, parts: children })
        }
    };
    Ok(NestedPart { disposition, language, body })
}

fn decode_external(d: &mut Decoder<'_>) -> Result<ExternalPart, ContentError> {
    Ok(ExternalPart {
        content_type: d.text().map_err(|e| e.at_field("contentType"))?.to_owned(),
        url: d.text().map_err(|e| e.at_field("url"))?.to_owned(),
        expires: d.uint(u32::MAX as u64).map_err(|e| e.at_field("expires"))? as u32,
        size: d.uint(u64::MAX).map_err(|e| e.at_field("size"))?,
        enc_alg: d.uint(u16::MAX as u64).map_err(|e| e.at_field("encAlg"))? as u16,
        key: d.bytes().map_err(|e| e.at_field("key"))?.to_vec(),
        nonce: d.bytes().map_err(|e| e.at_field("nonce"))?.to_vec(),
        aad: d.bytes().map_err(|e| e.at_field("aad"))?.to_vec(),
        hash_alg: d.uint(u8::MAX as u64).map_err(|e| e.at_field("hashAlg"))? as u8,
        content_hash: d.bytes().map_err(|e| e.at_field("contentHash"))?.to_vec(),
        description: d.text().map_err(|e| e.at_field("description"))?.to_owned(),
        filename: d.text().map_err(|e| e.at_field("filename"))?.to_owned(),
    })
}
