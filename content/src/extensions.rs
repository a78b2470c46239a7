//! The `mimiExtensions` map (draft §4.3): registered keys 1 (senderUri) and 2 (roomUri), plus any
//! other int or text key with any value, kept in deterministic key order.

use std::cmp::Ordering;

use crate::cbor::Value;
use crate::error::{ContentError, Violation};

/// Registered extension key of the sender's URI.
pub const SENDER_URI: i64 = 1;
/// Registered extension key of the room's URI.
pub const ROOM_URI: i64 = 2;

/// An extension map key: an integer within ±(2^53−1) or a text string of 1..=255 octets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ExtensionKey {
    /// An integer key (positive: registry; negative: private use).
    Int(i64),
    /// A text key (private use).
    Text(String),
}

impl ExtensionKey {
    /// Checks the draft's constraints on a key.
    pub fn validate(&self) -> Result<(), Violation> {
        match self {
            ExtensionKey::Int(i) if (*i as i128).abs() <= crate::cbor::MAX_SAFE_INTEGER => Ok(()),
            ExtensionKey::Int(_) => Err(Violation::InvalidExtensionKey("integer key outside ±(2^53−1)")),
            ExtensionKey::Text(t) if (1..=255).contains(&t.len()) => Ok(()),
            ExtensionKey::Text(_) => Err(Violation::InvalidExtensionKey("text key must have 1..=255 octets")),
        }
    }

    /// The key's CBOR head bytes and payload, used to order keys by their encoding without
    /// allocating.
    fn encoded_parts(&self) -> ([u8; 9], usize, &[u8]) {
        let (major, arg, payload): (u8, u64, &[u8]) = match self {
            ExtensionKey::Int(i) if *i >= 0 => (0, *i as u64, &[]),
            ExtensionKey::Int(i) => (1, (-1 - *i) as u64, &[]),
            ExtensionKey::Text(t) => (3, t.len() as u64, t.as_bytes()),
        };
        let mut e = crate::cbor::Encoder::with_capacity(9);
        e.head(major, arg);
        let mut head = [0u8; 9];
        head[..e.buf.len()].copy_from_slice(&e.buf);
        (head, e.buf.len(), payload)
    }

    /// Bytewise order of the deterministic encodings (RFC 8949 §4.2.1).
    pub fn cmp_encoded(&self, other: &Self) -> Ordering {
        let (ha, la, pa) = self.encoded_parts();
        let (hb, lb, pb) = other.encoded_parts();
        // Equal first bytes imply equal head lengths, so comparing heads then payloads is the
        // same as comparing the concatenations.
        ha[..la].cmp(&hb[..lb]).then_with(|| pa.cmp(pb))
    }

    /// Diagnostic notation of the key.
    pub fn diagnostic(&self) -> String {
        match self {
            ExtensionKey::Int(i) => i.to_string(),
            ExtensionKey::Text(t) => Value::Text(t.clone()).diagnostic(),
        }
    }
}

/// The extensions of a message, in deterministic order with unique keys.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Extensions {
    entries: Vec<(ExtensionKey, Value)>,
}

impl Extensions {
    /// An empty map.
    pub fn new() -> Self {
        Extensions::default()
    }

    /// Sets `key` to `value`, replacing an earlier value. Keys 1 and 2 only take text; values
    /// deeper than the draft allows are refused when the message is encoded.
    pub fn insert(&mut self, key: ExtensionKey, value: Value) -> Result<(), ContentError> {
        key.validate().map_err(ContentError::invalid)?;
        if let ExtensionKey::Int(k @ (SENDER_URI | ROOM_URI)) = key {
            if !matches!(value, Value::Text(_)) {
                return Err(ContentError::invalid(Violation::ExtensionNotText(k)));
            }
        }
        match self.entries.binary_search_by(|(k, _)| k.cmp_encoded(&key)) {
            Ok(i) => self.entries[i].1 = value,
            Err(i) => self.entries.insert(i, (key, value)),
        }
        Ok(())
    }

    /// Appends an entry known to sort after every present key (the decoder's fast path).
    pub(crate) fn push_sorted(&mut self, key: ExtensionKey, value: Value) {
        self.entries.push((key, value));
    }

    /// Removes a key and returns its value.
    pub fn remove(&mut self, key: &ExtensionKey) -> Option<Value> {
        let i = self.entries.binary_search_by(|(k, _)| k.cmp_encoded(key)).ok()?;
        Some(self.entries.remove(i).1)
    }

    /// The value of a key.
    pub fn get(&self, key: &ExtensionKey) -> Option<&Value> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    fn text(&self, key: i64) -> Option<&str> {
        match self.get(&ExtensionKey::Int(key)) {
            Some(Value::Text(t)) => Some(t),
            _ => None,
        }
    }

    /// Extension 1, the sender's URI.
    pub fn sender_uri(&self) -> Option<&str> {
        self.text(SENDER_URI)
    }

    /// Extension 2, the room's URI.
    pub fn room_uri(&self) -> Option<&str> {
        self.text(ROOM_URI)
    }

    /// Entries in deterministic order.
    pub fn iter(&self) -> impl Iterator<Item = &(ExtensionKey, Value)> {
        self.entries.iter()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_order_bytewise() {
        let mut keys = vec![
            ExtensionKey::Text("a".into()),
            ExtensionKey::Int(-1),
            ExtensionKey::Int(256),
            ExtensionKey::Int(24),
            ExtensionKey::Int(2),
            ExtensionKey::Text("aa".into()),
        ];
        keys.sort_by(|a, b| a.cmp_encoded(b));
        let expect = [
            ExtensionKey::Int(2),
            ExtensionKey::Int(24),
            ExtensionKey::Int(256),
            ExtensionKey::Int(-1),
            ExtensionKey::Text("a".into()),
            ExtensionKey::Text("aa".into()),
        ];
        assert_eq!(keys, expect);
    }

    #[test]
    fn insert_validates_and_replaces() {
        let mut x = Extensions::new();
        assert!(x.insert(ExtensionKey::Int(SENDER_URI), Value::Integer(3)).is_err());
        assert!(x.insert(ExtensionKey::Text(String::new()), Value::Null).is_err());
        assert!(x.insert(ExtensionKey::Text("x".repeat(256)), Value::Null).is_err());
        x.insert(ExtensionKey::Int(ROOM_URI), Value::Text("r".into())).unwrap();
        x.insert(ExtensionKey::Int(SENDER_URI), Value::Text("s".into())).unwrap();
        x.insert(ExtensionKey::Int(SENDER_URI), Value::Text("t".into())).unwrap();
        assert_eq!(x.sender_uri(), Some("t"));
        assert_eq!(x.room_uri(), Some("r"));
        assert_eq!(x.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(), [ExtensionKey::Int(1), ExtensionKey::Int(2)]);
        assert!(x.remove(&ExtensionKey::Int(ROOM_URI)).is_some());
        assert_eq!(x.len(), 1);
    }
}
