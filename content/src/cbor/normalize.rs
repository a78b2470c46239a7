//! Rewrites well-formed but non-deterministic CBOR into its deterministic form, recording every
//! deviation it repaired: non-shortest heads, indefinite lengths and unsorted map keys. The result
//! is then judged by the strict [`Decoder`](super::Decoder) like any other input, so the lenient
//! receive path adds no second message parser.
//!
//! Everything else is copied as it is (floats, simple values, text payloads) and left to the
//! strict decoder: only the three encoding freedoms a peer's general-purpose CBOR library takes
//! are repaired. For each item written, the offset of the same item in the input is kept, so an
//! error found later in the rewritten bytes can name the byte the peer sent. Heads are read by
//! the same [`Decoder`] as strict decoding ([`Decoder::sent_head`]), without its checks.

use super::decoder::SentHead;
use super::{major, Decoder, Encoder};
use crate::error::{ContentError, Violation};
use crate::lenient::{Deviation, DeviationKind};

/// The "break" stop code that ends an indefinite-length item.
const BREAK: u8 = 0xff;

/// The deterministic rewrite of an input.
#[derive(Debug, Default)]
pub(crate) struct Normalized {
    /// The deterministic encoding.
    pub bytes: Vec<u8>,
    /// What was repaired, in input order.
    pub deviations: Vec<Deviation>,
    /// `(offset in bytes, offset in the input)` of every item written, ascending in `bytes`.
    pub offsets: Vec<(usize, usize)>,
}

impl Normalized {
    /// The input offset of the item that covers `offset` of the rewritten bytes.
    pub fn input_offset(&self, offset: usize) -> usize {
        let at = self.offsets.partition_point(|&(written, _)| written <= offset);
        match at.checked_sub(1).and_then(|i| self.offsets.get(i)) {
            Some(&(written, input)) if written == offset => input,
            // Inside an item (a string payload, a float) or past the last one: its start.
            Some(&(_, input)) => input,
            None => 0,
        }
    }
}

/// Rewrites `input`, which must hold exactly one item nested at most `max_depth` deep.
pub(crate) fn normalize(input: &[u8], max_depth: usize) -> Result<Normalized, ContentError> {
    let mut n = Normalizer { d: Decoder::new(input), max_depth, deviations: Vec::new() };
    let mut out = Vec::with_capacity(input.len());
    let mut offsets = Vec::new();
    n.item(&mut out, &mut offsets, max_depth)?;
    if n.d.remaining() > 0 {
        return Err(n.d.error(n.d.position(), Violation::TrailingBytes { count: n.d.remaining() }));
    }
    n.deviations.sort_by_key(|d| d.offset);
    Ok(Normalized { bytes: out, deviations: n.deviations, offsets })
}

struct Normalizer<'a> {
    d: Decoder<'a>,
    max_depth: usize,
    deviations: Vec<Deviation>,
}

impl Normalizer<'_> {
    fn deviation(&mut self, offset: usize, kind: DeviationKind) {
        self.deviations.push(Deviation { offset, kind });
    }

    /// Reads a head, noting a non-shortest argument (major types 0–6; major 7 is copied as is).
    fn head(&mut self) -> Result<SentHead, ContentError> {
        let head = self.d.sent_head()?;
        if head.major != major::SIMPLE && !head.shortest {
            let kind = match head.major {
                major::UNSIGNED | major::NEGATIVE | major::TAG => DeviationKind::NonShortestInteger,
                _ => DeviationKind::NonShortestLength,
            };
            self.deviation(head.offset, kind);
        }
        Ok(head)
    }

    /// Consumes a "break" if one is next.
    fn at_break(&mut self) -> Result<bool, ContentError> {
        if self.d.peek()? == BREAK {
            self.d.take(1)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Rewrites one item into `out`, recording `(offset in out, offset in input)` of each item.
    fn item(
        &mut self,
        out: &mut Vec<u8>,
        offsets: &mut Vec<(usize, usize)>,
        depth_left: usize,
    ) -> Result<(), ContentError> {
        let start = self.d.position();
        if depth_left == 0 {
            return Err(self.d.error(start, Violation::TooDeep { limit: self.max_depth }));
        }
        offsets.push((out.len(), start));
        let head = self.head()?;
        let mut e = Encoder::default();
        match (head.major, head.arg) {
            (major::SIMPLE, None) => {
                return Err(self.d.error(start, Violation::IndefiniteLength));
            }
            (major::SIMPLE, Some(_)) => {
                // Simple values and floats (their bits were the head's argument): copied as sent;
                // the strict decoder judges their form.
                out.extend_from_slice(self.d.since(start));
            }
            (major::UNSIGNED | major::NEGATIVE, Some(value)) => {
                e.head(head.major, value);
                out.extend_from_slice(&e.buf);
            }
            (major::UNSIGNED | major::NEGATIVE | major::TAG, None) => {
                return Err(self.d.error(start, Violation::IndefiniteLength));
            }
            (major::TAG, Some(tag)) => {
                e.head(major::TAG, tag);
                out.extend_from_slice(&e.buf);
                self.item(out, offsets, depth_left - 1)?;
            }
            (major::BYTES | major::TEXT, Some(len)) => {
                self.d.check_items(head.offset, len, 1)?;
                let payload = self.d.take(len as usize)?;
                e.head(head.major, len);
                out.extend_from_slice(&e.buf);
                out.extend_from_slice(payload);
            }
            (major::BYTES | major::TEXT, None) => {
                self.deviation(start, DeviationKind::IndefiniteLength { item: item_name(head.major) });
                let mut joined = Vec::new();
                while !self.at_break()? {
                    let chunk = self.head()?;
                    let Some(len) = chunk.arg.filter(|_| chunk.major == head.major) else {
                        return Err(self.d.error(
                            chunk.offset,
                            Violation::WrongType {
                                expected: "a definite chunk of the same string type",
                                found: "another item",
                            },
                        ));
                    };
                    self.d.check_items(chunk.offset, len, 1)?;
                    joined.extend_from_slice(self.d.take(len as usize)?);
                }
                e.head(head.major, joined.len() as u64);
                out.extend_from_slice(&e.buf);
                out.extend_from_slice(&joined);
            }
            (major::ARRAY, count) => {
                let mut items = 0u64;
                let mut body = Vec::new();
                let mut inner = Vec::new();
                if count.is_none() {
                    self.deviation(start, DeviationKind::IndefiniteLength { item: "array" });
                }
                loop {
                    match count {
                        Some(n) if items == n => break,
                        Some(n) => self.d.check_items(head.offset, n - items, 1)?,
                        None if self.at_break()? => break,
                        None => {}
                    }
                    self.item(&mut body, &mut inner, depth_left - 1)?;
                    items += 1;
                }
                e.head(major::ARRAY, items);
                out.extend_from_slice(&e.buf);
                append(out, offsets, &body, &inner);
            }
            (_, count) => {
                // Major type 5, a map (every other major type is matched above).
                if count.is_none() {
                    self.deviation(start, DeviationKind::IndefiniteLength { item: "map" });
                }
                let mut entries: Vec<MapEntry> = Vec::new();
                loop {
                    match count {
                        Some(n) if entries.len() as u64 == n => break,
                        Some(n) => self.d.check_items(head.offset, n - entries.len() as u64, 2)?,
                        None if self.at_break()? => break,
                        None => {}
                    }
                    let mut entry = MapEntry::default();
                    self.item(&mut entry.bytes, &mut entry.offsets, depth_left - 1)?;
                    entry.key_len = entry.bytes.len();
                    self.item(&mut entry.bytes, &mut entry.offsets, depth_left - 1)?;
                    entries.push(entry);
                }
                if entries.windows(2).any(|w| w[0].key() > w[1].key()) {
                    self.deviation(start, DeviationKind::UnsortedMapKeys);
                    // Stable: equal (duplicate) keys stay in input order for the strict decoder to refuse.
                    entries.sort_by(|a, b| a.key().cmp(b.key()));
                }
                e.head(major::MAP, entries.len() as u64);
                out.extend_from_slice(&e.buf);
                for entry in &entries {
                    append(out, offsets, &entry.bytes, &entry.offsets);
                }
            }
        }
        Ok(())
    }
}

/// One map entry rewritten on its own: key then value, with its items' offsets relative to its start.
#[derive(Default)]
struct MapEntry {
    bytes: Vec<u8>,
    key_len: usize,
    offsets: Vec<(usize, usize)>,
}

impl MapEntry {
    /// The key's deterministic encoding, by which entries are ordered.
    fn key(&self) -> &[u8] {
        &self.bytes[..self.key_len]
    }
}

/// Appends `body` (with its item offsets, relative to `body`) to `out`.
fn append(out: &mut Vec<u8>, offsets: &mut Vec<(usize, usize)>, body: &[u8], body_offsets: &[(usize, usize)]) {
    let base = out.len();
    offsets.extend(body_offsets.iter().map(|&(written, input)| (base + written, input)));
    out.extend_from_slice(body);
}

fn item_name(major: u8) -> &'static str {
    match major {
        major::BYTES => "byte string",
        major::TEXT => "text string",
        major::ARRAY => "array",
        _ => "map",
    }
}
