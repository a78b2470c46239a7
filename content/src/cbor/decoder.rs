//! Reads deterministic CBOR strictly: any non-shortest head, indefinite length, reserved value
//! or length beyond the input is an error at the byte where it occurs. [`Decoder::sent_head`]
//! also reads heads as sent, for the lenient rewrite (`normalize`).

use super::{major, simple};
use crate::error::{ContentError, Violation};

/// The initial byte and argument of one CBOR item.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Head {
    /// Major type (0..=7).
    pub major: u8,
    /// Additional information (low 5 bits of the initial byte).
    pub info: u8,
    /// The argument: a value, a length, a tag number, a simple value or float bits.
    pub arg: u64,
    /// Offset of the initial byte in the input.
    pub offset: usize,
}

/// A head as it was sent, before the deterministic-encoding checks (for the lenient rewrite).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SentHead {
    /// Major type (0..=7).
    pub major: u8,
    /// Additional information (low 5 bits of the initial byte).
    pub info: u8,
    /// The argument, or `None` for an indefinite length (or a "break").
    pub arg: Option<u64>,
    /// Offset of the initial byte in the input.
    pub offset: usize,
    /// Whether the argument takes as few bytes as its value allows.
    pub shortest: bool,
}

impl Head {
    /// A short human name of the item's type, for "expected X, found Y" errors.
    pub fn type_name(&self) -> &'static str {
        match self.major {
            major::UNSIGNED => "unsigned integer",
            major::NEGATIVE => "negative integer",
            major::BYTES => "byte string",
            major::TEXT => "text string",
            major::ARRAY => "array",
            major::MAP => "map",
            major::TAG => "tag",
            _ => match (self.info, self.arg as u8) {
                (25..=27, _) => "float",
                (_, simple::FALSE) | (_, simple::TRUE) => "bool",
                (_, simple::NULL) => "null",
                (_, simple::UNDEFINED) => "undefined",
                _ => "simple value",
            },
        }
    }
}

/// A cursor over untrusted input.
#[derive(Debug, Clone)]
pub(crate) struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Decoder { buf, pos: 0 }
    }

    /// Offset of the next unread byte.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The input bytes from `start` up to the current position.
    pub fn since(&self, start: usize) -> &'a [u8] {
        &self.buf[start..self.pos]
    }

    pub fn error(&self, offset: usize, violation: Violation) -> ContentError {
        ContentError::malformed(offset, violation)
    }

    /// Consumes the next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], ContentError> {
        if self.remaining() < n {
            return Err(self.error(self.buf.len(), Violation::Truncated { needed: n - self.remaining() }));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// The next initial byte without consuming it.
    pub fn peek(&self) -> Result<u8, ContentError> {
        self.buf.get(self.pos).copied().ok_or_else(|| self.error(self.pos, Violation::Truncated { needed: 1 }))
    }

    /// Reads one head as sent: any argument length, indefinite lengths as `None`. Only the
    /// reserved additional-information values 28–30 are refused.
    pub fn sent_head(&mut self) -> Result<SentHead, ContentError> {
        let offset = self.pos;
        let ib = self.take(1)?[0];
        let (major, info) = (ib >> 5, ib & 0x1f);
        let arg = match info {
            0..=23 => Some(info as u64),
            24..=27 => Some(self.take(1 << (info - 24))?.iter().fold(0u64, |acc, &b| acc << 8 | b as u64)),
            28..=30 => return Err(self.error(offset, Violation::ReservedAdditionalInfo(info))),
            _ => None,
        };
        let shortest = match arg {
            None => true,
            Some(0..=23) => info < 24,
            Some(24..=0xff) => info == 24,
            Some(0x100..=0xffff) => info == 25,
            Some(0x1_0000..=0xffff_ffff) => info == 26,
            Some(_) => true,
        };
        Ok(SentHead { major, info, arg, offset, shortest })
    }

    /// Reads one head, enforcing the shortest form. Float heads (major 7, info 25..=27) are
    /// returned with their raw bits; their preferred-form check is the caller's (`Value`).
    pub fn head(&mut self) -> Result<Head, ContentError> {
        let SentHead { major, info, arg, offset, shortest } = self.sent_head()?;
        let Some(arg) = arg else {
            return Err(self.error(offset, Violation::IndefiniteLength));
        };
        if major == major::SIMPLE {
            if info == 24 && arg < 32 {
                return Err(self.error(offset, Violation::BadSimpleValue(arg as u8)));
            }
        } else if !shortest {
            return Err(self.error(offset, Violation::NonShortestHead));
        }
        Ok(Head { major, info, arg, offset })
    }

    fn wrong_type(&self, head: &Head, expected: &'static str) -> ContentError {
        self.error(head.offset, Violation::WrongType { expected, found: head.type_name() })
    }

    /// Reads an unsigned integer no larger than `max` (the CDDL's `uint .size n`).
    pub fn uint(&mut self, max: u64) -> Result<u64, ContentError> {
        let h = self.head()?;
        if h.major != major::UNSIGNED {
            return Err(self.wrong_type(&h, "unsigned integer"));
        }
        if h.arg > max {
            return Err(self.error(h.offset, Violation::IntegerOutOfRange { value: h.arg, max }));
        }
        Ok(h.arg)
    }

    /// Reads a definite-length string payload of the given major type.
    fn string_payload(&mut self, h: &Head) -> Result<&'a [u8], ContentError> {
        if h.arg > self.remaining() as u64 {
            return Err(
                self.error(h.offset, Violation::LengthBeyondInput { declared: h.arg, remaining: self.remaining() })
            );
        }
        self.take(h.arg as usize)
    }

    /// Reads a byte string, borrowing it from the input.
    pub fn bytes(&mut self) -> Result<&'a [u8], ContentError> {
        let h = self.head()?;
        if h.major != major::BYTES {
            return Err(self.wrong_type(&h, "byte string"));
        }
        self.string_payload(&h)
    }

    /// Reads a byte string of exactly `N` bytes.
    pub fn fixed_bytes<const N: usize>(&mut self) -> Result<[u8; N], ContentError> {
        let offset = self.pos;
        let b = self.bytes()?;
        b.try_into().map_err(|_| self.error(offset, Violation::WrongByteLength { expected: N, found: b.len() }))
    }

    /// Reads a text string, checking UTF-8.
    pub fn text(&mut self) -> Result<&'a str, ContentError> {
        let h = self.head()?;
        if h.major != major::TEXT {
            return Err(self.wrong_type(&h, "text string"));
        }
        self.text_payload(&h)
    }

    /// The payload of a text-string head already read.
    pub fn text_payload(&mut self, h: &Head) -> Result<&'a str, ContentError> {
        let b = self.string_payload(h)?;
        std::str::from_utf8(b).map_err(|_| self.error(h.offset, Violation::InvalidUtf8))
    }

    /// The payload of a byte-string head already read.
    pub fn bytes_payload(&mut self, h: &Head) -> Result<&'a [u8], ContentError> {
        self.string_payload(h)
    }

    /// Reads an array head and returns its item count. The count is bounded by the bytes left
    /// (every item takes at least one), so callers may pre-allocate it.
    pub fn array(&mut self) -> Result<(u64, usize), ContentError> {
        let h = self.head()?;
        if h.major != major::ARRAY {
            return Err(self.wrong_type(&h, "array"));
        }
        self.check_count(&h, 1)?;
        Ok((h.arg, h.offset))
    }

    /// Reads a map head and returns its entry count (bounded like [`Decoder::array`]).
    pub fn map(&mut self) -> Result<(u64, usize), ContentError> {
        let h = self.head()?;
        if h.major != major::MAP {
            return Err(self.wrong_type(&h, "map"));
        }
        self.check_count(&h, 2)?;
        Ok((h.arg, h.offset))
    }

    /// Checks that `h.arg` items of at least `min_item_len` bytes each can fit in the input.
    pub fn check_count(&self, h: &Head, min_item_len: u64) -> Result<(), ContentError> {
        self.check_items(h.offset, h.arg, min_item_len)
    }

    /// Checks that `count` items of at least `min_item_len` bytes each can fit in the input; an
    /// error names the item at `offset`.
    pub fn check_items(&self, offset: usize, count: u64, min_item_len: u64) -> Result<(), ContentError> {
        if count.saturating_mul(min_item_len) > self.remaining() as u64 {
            return Err(
                self.error(offset, Violation::LengthBeyondInput { declared: count, remaining: self.remaining() })
            );
        }
        Ok(())
    }

    /// Reads a boolean.
    pub fn bool(&mut self) -> Result<bool, ContentError> {
        let h = self.head()?;
        match (h.major, h.info) {
            (major::SIMPLE, simple::FALSE) => Ok(false),
            (major::SIMPLE, simple::TRUE) => Ok(true),
            _ => Err(self.wrong_type(&h, "bool")),
        }
    }

    /// Consumes a `null` if one is next and says whether it did.
    pub fn null(&mut self) -> Result<bool, ContentError> {
        if self.peek()? == simple::NULL_BYTE {
            self.pos += 1;
            Ok(true)
        } else {
            Ok(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn violation(input: &[u8], f: impl FnOnce(&mut Decoder) -> Result<(), ContentError>) -> Violation {
        f(&mut Decoder::new(input)).expect_err("must fail").violation().clone()
    }

    #[test]
    fn rejects_non_shortest_heads() {
        assert_eq!(violation(&[0x18, 23], |d| d.uint(u64::MAX).map(|_| ())), Violation::NonShortestHead);
        assert_eq!(violation(&[0x19, 0, 255], |d| d.uint(u64::MAX).map(|_| ())), Violation::NonShortestHead);
        assert_eq!(violation(&[0x1a, 0, 0, 255, 255], |d| d.uint(u64::MAX).map(|_| ())), Violation::NonShortestHead);
        assert_eq!(
            violation(&[0x1b, 0, 0, 0, 0, 255, 255, 255, 255], |d| d.uint(u64::MAX).map(|_| ())),
            Violation::NonShortestHead
        );
        assert_eq!(violation(&[0x58, 1, 0], |d| d.bytes().map(|_| ())), Violation::NonShortestHead);
    }

    #[test]
    fn rejects_indefinite_and_reserved() {
        assert_eq!(violation(&[0x5f, 0x41, 0, 0xff], |d| d.bytes().map(|_| ())), Violation::IndefiniteLength);
        assert_eq!(violation(&[0x9f, 0xff], |d| d.array().map(|_| ())), Violation::IndefiniteLength);
        assert_eq!(violation(&[0x1c], |d| d.uint(9).map(|_| ())), Violation::ReservedAdditionalInfo(28));
        assert_eq!(violation(&[0xf8, 20], |d| d.bool().map(|_| ())), Violation::BadSimpleValue(20));
    }

    #[test]
    fn bounds_lengths_by_input() {
        assert_eq!(
            violation(&[0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], |d| d.bytes().map(|_| ())),
            Violation::LengthBeyondInput { declared: u64::MAX, remaining: 0 }
        );
        assert_eq!(
            violation(&[0x9a, 0x10, 0, 0, 0, 1], |d| d.array().map(|_| ())),
            Violation::LengthBeyondInput { declared: 0x1000_0000, remaining: 1 }
        );
        assert_eq!(violation(&[0x19, 1], |d| d.uint(9).map(|_| ())), Violation::Truncated { needed: 1 });
    }

    #[test]
    fn checks_types_ranges_and_utf8() {
        assert_eq!(
            violation(&[0x61, 0x41], |d| d.bytes().map(|_| ())),
            Violation::WrongType { expected: "byte string", found: "text string" }
        );
        assert_eq!(
            violation(&[0x19, 1, 0], |d| d.uint(255).map(|_| ())),
            Violation::IntegerOutOfRange { value: 256, max: 255 }
        );
        assert_eq!(violation(&[0x62, 0xc3, 0x28], |d| d.text().map(|_| ())), Violation::InvalidUtf8);
        assert_eq!(
            violation(&[0x42, 1, 2], |d| d.fixed_bytes::<16>().map(|_| ())),
            Violation::WrongByteLength { expected: 16, found: 2 }
        );
    }

    #[test]
    fn reads_valid_items() {
        let mut d = Decoder::new(&[0x18, 24, 0x43, 1, 2, 3, 0x62, b'h', b'i', 0xf5, 0xf6, 0x82]);
        assert_eq!(d.uint(24).unwrap(), 24);
        assert_eq!(d.bytes().unwrap(), &[1, 2, 3]);
        assert_eq!(d.text().unwrap(), "hi");
        assert!(d.bool().unwrap());
        assert!(d.null().unwrap());
        assert!(d.array().is_err()); // two items declared, none left
    }
}
