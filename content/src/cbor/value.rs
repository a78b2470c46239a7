//! A generic CBOR item: what an extension value may hold (`value = any` in the CDDL).

use std::cmp::Ordering;

use super::{float, major, simple, Decoder, Encoder, MAX_SAFE_INTEGER};
use crate::error::{ContentError, Violation};

/// Any CBOR data item, kept in a form that encodes deterministically.
///
/// Maps keep their entries as pairs; [`Value::to_cbor`] writes them sorted bytewise by encoded
/// key (RFC 8949 §4.2.1) whatever order they were built in, and decoding accepts only that order.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// An integer in the CBOR range −2^64 ..= 2^64−1 (major types 0 and 1).
    Integer(i128),
    /// A byte string.
    Bytes(Vec<u8>),
    /// A UTF-8 text string.
    Text(String),
    /// An array.
    Array(Vec<Value>),
    /// A map as (key, value) pairs. Nested map keys must be integers within ±(2^53−1), text or
    /// bytes (the draft's §6 data model).
    Map(Vec<(Value, Value)>),
    /// A tagged item.
    Tag(u64, Box<Value>),
    /// `false` or `true`.
    Bool(bool),
    /// `null`.
    Null,
    /// `undefined`.
    Undefined,
    /// Another simple value: 0..=19 or 32..=255.
    Simple(u8),
    /// A float; encoded in the shortest exact width.
    Float(f64),
}

/// Tags whose content is a bignum (RFC 8949 §3.4.3).
const TAG_POS_BIGNUM: u64 = 2;
const TAG_NEG_BIGNUM: u64 = 3;

impl Value {
    /// Encodes the value deterministically, checking the rules the decoder enforces.
    /// `depth_left` counts this item: a map, array or tag may contain items up to
    /// `depth_left - 1` deep.
    pub(crate) fn encode(&self, e: &mut Encoder, depth_left: usize) -> Result<(), ContentError> {
        let container = matches!(self, Value::Array(_) | Value::Map(_) | Value::Tag(..));
        if container && depth_left == 0 {
            return Err(ContentError::invalid(Violation::TooDeep { limit: 0 }));
        }
        match self {
            Value::Integer(i) => {
                if *i < -(1i128 << 64) || *i >= (1i128 << 64) {
                    return Err(ContentError::invalid(Violation::IntegerOutOfRange { value: u64::MAX, max: u64::MAX }));
                }
                e.int(*i);
            }
            Value::Bytes(b) => e.bytes(b),
            Value::Text(t) => e.text(t),
            Value::Array(items) => {
                e.array(items.len());
                for (i, item) in items.iter().enumerate() {
                    item.encode(e, depth_left - 1).map_err(|err| err.at_index(i))?;
                }
            }
            Value::Map(entries) => {
                let mut keyed = Vec::with_capacity(entries.len());
                for (k, v) in entries {
                    check_nested_key(k).map_err(ContentError::invalid)?;
                    let mut ke = Encoder::default();
                    k.encode(&mut ke, 1)?;
                    keyed.push((ke.buf, v));
                }
                keyed.sort_by(|a, b| a.0.cmp(&b.0));
                if let Some(w) = keyed.windows(2).find(|w| w[0].0 == w[1].0) {
                    return Err(ContentError::invalid(Violation::DuplicateKey(diag_of_encoded(&w[0].0))));
                }
                e.map(keyed.len());
                for (kb, v) in keyed {
                    e.buf.extend_from_slice(&kb);
                    v.encode(e, depth_left - 1)
                        .map_err(|err| err.at(crate::error::Segment::Key(diag_of_encoded(&kb))))?;
                }
            }
            Value::Tag(tag, inner) => {
                check_bignum(*tag, inner).map_err(ContentError::invalid)?;
                e.tag(*tag);
                inner.encode(e, depth_left - 1)?;
            }
            Value::Bool(b) => e.bool(*b),
            Value::Null => e.null(),
            Value::Undefined => e.simple(simple::UNDEFINED),
            Value::Simple(v) => {
                if (20..32).contains(v) {
                    return Err(ContentError::invalid(Violation::BadSimpleValue(*v)));
                }
                e.simple(*v);
            }
            Value::Float(f) => e.float(*f),
        }
        Ok(())
    }

    /// Decodes one item strictly. `depth_left` as for [`Value::encode`].
    pub(crate) fn decode(d: &mut Decoder<'_>, depth_left: usize) -> Result<Value, ContentError> {
        let h = d.head()?;
        let container = matches!(h.major, major::ARRAY | major::MAP | major::TAG);
        if container && depth_left == 0 {
            return Err(d.error(h.offset, Violation::TooDeep { limit: 0 }));
        }
        Ok(match h.major {
            major::UNSIGNED => Value::Integer(h.arg as i128),
            major::NEGATIVE => Value::Integer(-1 - h.arg as i128),
            major::BYTES => Value::Bytes(d.bytes_payload(&h)?.to_vec()),
            major::TEXT => Value::Text(d.text_payload(&h)?.to_owned()),
            major::ARRAY => {
                d.check_count(&h, 1)?;
                let mut items = Vec::with_capacity(h.arg as usize);
                for i in 0..h.arg as usize {
                    items.push(Value::decode(d, depth_left - 1).map_err(|e| e.at_index(i))?);
                }
                Value::Array(items)
            }
            major::MAP => {
                d.check_count(&h, 2)?;
                let mut entries = Vec::with_capacity(h.arg as usize);
                let mut prev: Option<&[u8]> = None;
                for _ in 0..h.arg {
                    let key_start = d.position();
                    let key = Value::decode(d, 1)?;
                    check_nested_key(&key).map_err(|v| d.error(key_start, v))?;
                    let kb = d.since(key_start);
                    check_key_order(prev, kb).map_err(|v| d.error(key_start, v))?;
                    prev = Some(kb);
                    let val = Value::decode(d, depth_left - 1)
                        .map_err(|e| e.at(crate::error::Segment::Key(key.diagnostic())))?;
                    entries.push((key, val));
                }
                Value::Map(entries)
            }
            major::TAG => {
                let inner = Value::decode(d, depth_left - 1)?;
                check_bignum(h.arg, &inner).map_err(|v| d.error(h.offset, v))?;
                Value::Tag(h.arg, Box::new(inner))
            }
            _ => match h.info {
                25 => {
                    let v = float::f16_to_f64(h.arg as u16);
                    if v.is_nan() && h.arg != 0x7e00 {
                        return Err(d.error(h.offset, Violation::NonPreferredFloat("NaN must be f97e00")));
                    }
                    Value::Float(v)
                }
                26 => {
                    let v = f32::from_bits(h.arg as u32) as f64;
                    if v.is_nan() {
                        return Err(d.error(h.offset, Violation::NonPreferredFloat("NaN must be f97e00")));
                    }
                    if float::f64_to_f16_exact(v).is_some() {
                        return Err(d.error(h.offset, Violation::NonPreferredFloat("single fits in half precision")));
                    }
                    Value::Float(v)
                }
                27 => {
                    let v = f64::from_bits(h.arg);
                    if v.is_nan() {
                        return Err(d.error(h.offset, Violation::NonPreferredFloat("NaN must be f97e00")));
                    }
                    if (v as f32) as f64 == v {
                        return Err(d.error(h.offset, Violation::NonPreferredFloat("double fits in a shorter width")));
                    }
                    Value::Float(v)
                }
                _ => match h.arg as u8 {
                    simple::FALSE => Value::Bool(false),
                    simple::TRUE => Value::Bool(true),
                    simple::NULL => Value::Null,
                    simple::UNDEFINED => Value::Undefined,
                    other => Value::Simple(other),
                },
            },
        })
    }

    /// Parses a complete CBOR item (no trailing bytes) with the given depth allowance.
    pub fn from_cbor(bytes: &[u8], max_depth: usize) -> Result<Value, ContentError> {
        let mut d = Decoder::new(bytes);
        let v = Value::decode(&mut d, max_depth)?;
        if d.remaining() > 0 {
            return Err(d.error(d.position(), Violation::TrailingBytes { count: d.remaining() }));
        }
        Ok(v)
    }

    /// Encodes the value as deterministic CBOR with the given depth allowance.
    pub fn to_cbor(&self, max_depth: usize) -> Result<Vec<u8>, ContentError> {
        let mut e = Encoder::default();
        self.encode(&mut e, max_depth)?;
        Ok(e.buf)
    }
}

/// Bytewise order of encodings, strictly increasing: equal keys are duplicates.
pub(crate) fn check_key_order(prev: Option<&[u8]>, key: &[u8]) -> Result<(), Violation> {
    match prev.map(|p| p.cmp(key)) {
        Some(Ordering::Equal) => Err(Violation::DuplicateKey(diag_of_encoded(key))),
        Some(Ordering::Greater) => Err(Violation::UnsortedKey(diag_of_encoded(key))),
        _ => Ok(()),
    }
}

fn check_nested_key(k: &Value) -> Result<(), Violation> {
    match k {
        Value::Integer(i) if i.abs() <= MAX_SAFE_INTEGER => Ok(()),
        Value::Integer(_) => Err(Violation::InvalidNestedKey("integer key outside ±(2^53−1)")),
        Value::Text(_) | Value::Bytes(_) => Ok(()),
        _ => Err(Violation::InvalidNestedKey("a map key must be an integer, text or bytes")),
    }
}

fn check_bignum(tag: u64, inner: &Value) -> Result<(), Violation> {
    if tag != TAG_POS_BIGNUM && tag != TAG_NEG_BIGNUM {
        return Ok(());
    }
    match inner {
        Value::Bytes(b) if b.len() > 8 && b[0] != 0 => Ok(()),
        Value::Bytes(_) => Err(Violation::NonPreferredBignum),
        _ => Err(Violation::WrongType { expected: "byte string (bignum)", found: "other" }),
    }
}

/// Diagnostic notation of an encoded item, for error messages.
fn diag_of_encoded(bytes: &[u8]) -> String {
    Value::from_cbor(bytes, 64).map(|v| v.diagnostic()).unwrap_or_else(|_| format!("h'{}'", hex::encode(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(v: Value) {
        let bytes = v.to_cbor(8).unwrap();
        let back = Value::from_cbor(&bytes, 8).unwrap();
        assert_eq!(back.to_cbor(8).unwrap(), bytes);
    }

    #[test]
    fn maps_sort_bytewise_not_length_first() {
        // RFC 7049 length-first order would put -1 (0x20) before 24 (0x1818); bytewise is the other way.
        let m = Value::Map(vec![
            (Value::Text("a".into()), Value::Null),
            (Value::Integer(-1), Value::Null),
            (Value::Integer(256), Value::Null),
            (Value::Integer(24), Value::Null),
        ]);
        let b = m.to_cbor(2).unwrap();
        assert_eq!(b, [0xa4, 0x18, 24, 0xf6, 0x19, 1, 0, 0xf6, 0x20, 0xf6, 0x61, b'a', 0xf6]);
        roundtrip(m);
    }

    #[test]
    fn rejects_unsorted_and_duplicate_keys() {
        let e = Value::from_cbor(&[0xa2, 0x20, 0xf6, 0x18, 24, 0xf6], 2).unwrap_err();
        assert_eq!(e.violation(), &Violation::UnsortedKey("24".into()));
        let e = Value::from_cbor(&[0xa2, 0x01, 0xf6, 0x01, 0xf6], 2).unwrap_err();
        assert_eq!(e.violation(), &Violation::DuplicateKey("1".into()));
        let dup = Value::Map(vec![(Value::Integer(1), Value::Null), (Value::Integer(1), Value::Bool(true))]);
        assert_eq!(dup.to_cbor(2).unwrap_err().violation(), &Violation::DuplicateKey("1".into()));
    }

    #[test]
    fn enforces_depth() {
        let deep = Value::Array(vec![Value::Array(vec![Value::Tag(32, Box::new(Value::Text("x".into())))])]);
        assert!(deep.to_cbor(3).is_ok());
        assert!(deep.to_cbor(2).is_err());
        let bytes = deep.to_cbor(3).unwrap();
        assert!(matches!(Value::from_cbor(&bytes, 2).unwrap_err().violation(), Violation::TooDeep { .. }));
    }

    #[test]
    fn enforces_preferred_floats_and_bignums() {
        let e = Value::from_cbor(&[0xfa, 0x3f, 0xc0, 0, 0], 1).unwrap_err(); // 1.5 as single
        assert!(matches!(e.violation(), Violation::NonPreferredFloat(_)));
        let e = Value::from_cbor(&[0xf9, 0x7e, 0x01], 1).unwrap_err(); // non-canonical NaN
        assert!(matches!(e.violation(), Violation::NonPreferredFloat(_)));
        let e = Value::from_cbor(&[0xc2, 0x41, 0x05], 2).unwrap_err(); // bignum 5
        assert_eq!(e.violation(), &Violation::NonPreferredBignum);
        roundtrip(Value::Tag(2, Box::new(Value::Bytes(vec![1; 9]))));
        roundtrip(Value::Float(-0.0));
        roundtrip(Value::Float(1e300));
        roundtrip(Value::Float(f64::NAN));
    }

    #[test]
    fn nested_map_keys_are_restricted() {
        let e = Value::from_cbor(&[0xa1, 0xf5, 0xf6], 2).unwrap_err();
        assert!(matches!(e.violation(), Violation::InvalidNestedKey(_)));
        let big = Value::Map(vec![(Value::Integer(1 << 53), Value::Null)]);
        assert!(matches!(big.to_cbor(2).unwrap_err().violation(), Violation::InvalidNestedKey(_)));
    }
}
