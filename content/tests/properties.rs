//! Property tests of the codec:
//! - any valid message round-trips encode → decode → encode byte-identically;
//! - mutated encodings (truncations, bit flips, inserted and deleted bytes) never panic, fail
//!   with a typed error, and whatever *is* accepted is itself canonical (re-encodes to the same
//!   bytes), so a decoder success always means "deterministic, valid MIMI content";
//! - every non-deterministic spelling of a valid message is refused by the strict decoder and
//!   accepted by the lenient one, which names the deviation and gives the same message back.

use mimi_content::{
    ContentError, DecodeLimits, DeviationKind, Disposition, Expiration, ExtensionKey, Extensions, ExternalPart,
    MessageId, MimiContent, MultiPart, NestedPart, PartBody, PartSemantics, SinglePart, Value,
};
use proptest::prelude::*;

fn value(depth: u32) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(|i| Value::Integer(i as i128)),
        any::<u64>().prop_map(|i| Value::Integer(i as i128)),
        proptest::collection::vec(any::<u8>(), 0..12).prop_map(Value::Bytes),
        "\\PC{0,12}".prop_map(Value::Text),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
        Just(Value::Undefined),
        any::<f64>().prop_map(Value::Float),
        (32u8..=255).prop_map(Value::Simple),
    ];
    leaf.prop_recursive(depth, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(-1000i64..1000, inner.clone(), 0..4)
                .prop_map(|m| Value::Map(m.into_iter().map(|(k, v)| (Value::Integer(k as i128), v)).collect())),
            (0u64..100_000, inner).prop_map(|(t, v)| Value::Tag(if t == 2 || t == 3 { 4 } else { t }, Box::new(v))),
        ]
    })
}

fn extensions() -> impl Strategy<Value = Extensions> {
    let key = prop_oneof![(-300i64..300).prop_map(ExtensionKey::Int), "[a-z]{1,8}".prop_map(ExtensionKey::Text)];
    (proptest::option::of("mimi://[a-z]{1,8}/u/[a-z]{1,8}"), proptest::collection::vec((key, value(3)), 0..4)).prop_map(
        |(sender, entries)| {
            let mut x = Extensions::new();
            for (k, v) in entries {
                if !matches!(k, ExtensionKey::Int(1 | 2)) {
                    x.insert(k, v).unwrap();
                }
            }
            if let Some(s) = sender {
                x.insert(ExtensionKey::Int(1), Value::Text(s)).unwrap();
            }
            x
        },
    )
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

fn leaf_part() -> impl Strategy<Value = NestedPart> {
    let body = prop_oneof![
        Just(PartBody::Null),
        ("[a-z]{1,6}/[a-z+.-]{1,10}", bytes(40))
            .prop_map(|(content_type, content)| PartBody::Single(SinglePart { content_type, content })),
        (
            ("\\PC{0,10}", "https://[a-z]{1,10}/[a-z0-9]{0,10}", any::<u32>(), any::<u64>(), any::<u16>()),
            (bytes(16), bytes(12), bytes(4), any::<u8>(), bytes(32), "\\PC{0,10}", "\\PC{0,10}"),
        )
            .prop_map(
                |(
                    (content_type, url, expires, size, enc_alg),
                    (key, nonce, aad, hash_alg, content_hash, description, filename),
                )| {
                    PartBody::External(ExternalPart {
                        content_type,
                        url,
                        expires,
                        size,
                        enc_alg,
                        key,
                        nonce,
                        aad,
                        hash_alg,
                        content_hash,
                        description,
                        filename,
                    })
                }
            ),
    ];
    (any::<u8>(), "[a-z]{0,2}(,[a-z]{2})?", body).prop_map(|(d, language, body)| NestedPart {
        disposition: Disposition::from(d),
        language,
        body,
    })
}

/// Bodies up to the draft's depth limit of 4 (the root is level 1).
fn nested_part() -> impl Strategy<Value = NestedPart> {
    leaf_part().prop_recursive(3, 40, 4, |inner| {
        (any::<u8>(), 0u8..3, proptest::collection::vec(inner, 2..4)).prop_map(|(d, sem, parts)| NestedPart {
            disposition: Disposition::from(d),
            language: String::new(),
            body: PartBody::Multi(MultiPart { part_semantics: PartSemantics::from_value(sem as u64).unwrap(), parts }),
        })
    })
}

fn id() -> impl Strategy<Value = MessageId> {
    any::<[u8; 32]>().prop_map(MessageId)
}

fn message() -> impl Strategy<Value = MimiContent> {
    (
        any::<[u8; 16]>(),
        proptest::option::of(id()),
        bytes(20),
        proptest::option::of((any::<bool>(), any::<u32>()).prop_map(|(relative, time)| Expiration { relative, time })),
        proptest::option::of(id()),
        extensions(),
        nested_part(),
    )
        .prop_map(|(salt, replaces, topic_id, expires, in_reply_to, extensions, nested_part)| MimiContent {
            salt,
            replaces,
            topic_id,
            expires,
            in_reply_to,
            extensions,
            nested_part,
        })
}

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    FlipBit(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Overwrite(usize, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        (any::<usize>(), bytes(9)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<usize>(), 1usize..8).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Overwrite(i, b)),
    ]
}

fn apply(mut b: Vec<u8>, m: &Mutation) -> Vec<u8> {
    let n = b.len().max(1);
    match m {
        Mutation::Truncate(i) => b.truncate(i % n),
        Mutation::FlipBit(i, bit) => {
            if !b.is_empty() {
                b[i % n] ^= 1 << bit
            }
        }
        Mutation::Insert(i, extra) => {
            let at = i % (b.len() + 1);
            b.splice(at..at, extra.iter().copied());
        }
        Mutation::Delete(i, k) => {
            let at = i % n;
            let end = (at + k).min(b.len());
            b.drain(at.min(b.len())..end);
        }
        Mutation::Overwrite(i, v) => {
            if !b.is_empty() {
                b[i % n] = *v
            }
        }
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 768, ..ProptestConfig::default() })]

    #[test]
    fn valid_messages_round_trip_byte_identically(m in message()) {
        let bytes = m.encode().unwrap();
        let back = MimiContent::decode(&bytes).unwrap();
        prop_assert_eq!(back.encode().unwrap(), bytes);
    }

    #[test]
    fn mutated_input_never_panics_and_only_canonical_input_is_accepted(
        m in message(),
        muts in proptest::collection::vec(mutation(), 1..4),
    ) {
        let mut bytes = m.encode().unwrap();
        for mu in &muts {
            bytes = apply(bytes, mu);
        }
        match MimiContent::decode(&bytes) {
            Ok(accepted) => prop_assert_eq!(accepted.encode().unwrap(), bytes, "accepted input must be canonical"),
            Err(e) => {
                // Typed: a decode failure is always `Malformed` with an offset inside the input.
                match &e {
                    ContentError::Malformed { offset, .. } => prop_assert!(*offset <= bytes.len()),
                    other => prop_assert!(false, "unexpected error kind {other:?}"),
                }
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in bytes(300)) {
        if let Ok(m) = MimiContent::decode(&b) {
            prop_assert_eq!(m.encode().unwrap(), b.clone());
        }
        let _ = Value::from_cbor(&b, 8);
    }
}

/// Ways to write one item of a valid message non-deterministically.
#[derive(Debug, Clone, Copy)]
enum Deviation {
    /// Its head one size wider than needed.
    WiderHead,
    /// Indefinite length (arrays, maps, strings).
    Indefinite,
    /// Map entries in reverse order (maps with two or more entries).
    ReversedMap,
}

/// Re-emits a generic CBOR value, applying `deviation` to the `target`-th item that can take it.
/// Returns whether it was applied.
struct Deviant {
    out: Vec<u8>,
    target: usize,
    seen: usize,
    deviation: Deviation,
    applied: bool,
}

impl Deviant {
    fn hit(&mut self, eligible: bool) -> bool {
        if !eligible || self.applied {
            return false;
        }
        let hit = self.seen == self.target;
        self.seen += 1;
        self.applied |= hit;
        hit
    }

    fn head(&mut self, major: u8, arg: u64, widen: bool) {
        let m = major << 5;
        let size = match arg {
            0..=23 => 0,
            24..=0xff => 1,
            0x100..=0xffff => 2,
            0x10000..=0xffff_ffff => 4,
            _ => 8,
        };
        let size = if widen { [1, 2, 4, 8, 8][[0, 1, 2, 4, 8].iter().position(|s| *s == size).unwrap()] } else { size };
        match size {
            0 => self.out.push(m | arg as u8),
            1 => self.out.extend([m | 24, arg as u8]),
            2 => {
                self.out.push(m | 25);
                self.out.extend((arg as u16).to_be_bytes())
            }
            4 => {
                self.out.push(m | 26);
                self.out.extend((arg as u32).to_be_bytes())
            }
            _ => {
                self.out.push(m | 27);
                self.out.extend(arg.to_be_bytes())
            }
        }
    }

    fn emit(&mut self, v: &Value) {
        let widen_ok = |arg: u64| arg < u32::MAX as u64; // an 8-byte head cannot widen further
        match v {
            Value::Integer(i) => {
                let (major, arg) = if *i >= 0 { (0, *i as u64) } else { (1, (-1 - *i) as u64) };
                let w = matches!(self.deviation, Deviation::WiderHead) && self.hit(widen_ok(arg));
                self.head(major, arg, w);
            }
            Value::Bytes(_) | Value::Text(_) => {
                let (major, payload) = match v {
                    Value::Bytes(b) => (2u8, b.clone()),
                    Value::Text(t) => (3u8, t.as_bytes().to_vec()),
                    _ => unreachable!(),
                };
                let arg = payload.len() as u64;
                let wide = matches!(self.deviation, Deviation::WiderHead) && self.hit(widen_ok(arg));
                let indefinite = matches!(self.deviation, Deviation::Indefinite) && self.hit(true);
                if indefinite {
                    // One definite chunk inside an indefinite-length string.
                    self.out.push((major << 5) | 31);
                }
                self.head(major, arg, wide);
                self.out.extend(&payload);
                if indefinite {
                    self.out.push(0xff);
                }
            }
            Value::Array(items) => {
                let indefinite = matches!(self.deviation, Deviation::Indefinite) && self.hit(true);
                let wide = matches!(self.deviation, Deviation::WiderHead) && !indefinite && self.hit(true);
                if indefinite {
                    self.out.push(0x9f);
                } else {
                    self.head(4, items.len() as u64, wide);
                }
                items.iter().for_each(|i| self.emit(i));
                if indefinite {
                    self.out.push(0xff);
                }
            }
            Value::Map(entries) => {
                let reverse = matches!(self.deviation, Deviation::ReversedMap) && self.hit(entries.len() >= 2);
                let indefinite = matches!(self.deviation, Deviation::Indefinite) && self.hit(true);
                let wide = matches!(self.deviation, Deviation::WiderHead) && !indefinite && self.hit(true);
                if indefinite {
                    self.out.push(0xbf);
                } else {
                    self.head(5, entries.len() as u64, wide);
                }
                let mut order: Vec<_> = entries.iter().collect();
                if reverse {
                    order.reverse();
                }
                for (k, v) in order {
                    self.emit(k);
                    self.emit(v);
                }
                if indefinite {
                    self.out.push(0xff);
                }
            }
            other => self.out.extend(other.to_cbor(8).unwrap()),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn every_non_deterministic_variant_is_rejected(m in message(), target in 0usize..64, which in 0u8..3) {
        let bytes = m.encode().unwrap();
        let generic = Value::from_cbor(&bytes, 16).unwrap();
        let deviation = [Deviation::WiderHead, Deviation::Indefinite, Deviation::ReversedMap][which as usize];
        let mut d = Deviant { out: Vec::new(), target, seen: 0, deviation, applied: false };
        d.emit(&generic);
        if d.applied {
            prop_assert_ne!(&d.out, &bytes);
            let err = MimiContent::decode(&d.out);
            prop_assert!(err.is_err(), "accepted a {:?} variant: {}", deviation, hex::encode(&d.out));
            prop_assert!(Value::from_cbor(&d.out, 16).is_err());
            // The lenient mode accepts it, names the one deviation, and gives the same message.
            let lenient = MimiContent::decode_lenient(&d.out, &DecodeLimits::default());
            let lenient = lenient.map_err(|e| TestCaseError::fail(format!("{e}: {}", hex::encode(&d.out))))?;
            prop_assert_eq!(lenient.deviations.len(), 1, "{:?}", lenient.deviations);
            let kind = lenient.deviations[0].kind;
            let expected = match deviation {
                Deviation::WiderHead => {
                    matches!(kind, DeviationKind::NonShortestInteger | DeviationKind::NonShortestLength)
                }
                Deviation::Indefinite => matches!(kind, DeviationKind::IndefiniteLength { .. }),
                Deviation::ReversedMap => kind == DeviationKind::UnsortedMapKeys,
            };
            prop_assert!(expected, "{:?} reported as {:?}", deviation, kind);
            prop_assert_eq!(&lenient.canonical, &bytes);
            prop_assert_eq!(lenient.content, MimiContent::decode(&bytes).unwrap());
        } else {
            prop_assert_eq!(d.out, bytes);
        }
    }
}
