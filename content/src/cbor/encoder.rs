//! Writes deterministic CBOR: shortest heads, definite lengths, preferred floats.

use super::{float, major, simple};

/// Appends CBOR items to a byte buffer. Map ordering is the caller's job (see `Value`).
#[derive(Debug, Default)]
pub(crate) struct Encoder {
    /// The bytes written so far.
    pub buf: Vec<u8>,
}

impl Encoder {
    pub fn with_capacity(capacity: usize) -> Self {
        Encoder { buf: Vec::with_capacity(capacity) }
    }

    /// Writes a head (major type and argument) in its shortest form.
    pub fn head(&mut self, major: u8, arg: u64) {
        let m = major << 5;
        if arg < 24 {
            self.buf.push(m | arg as u8);
        } else if arg <= u8::MAX as u64 {
            self.buf.extend_from_slice(&[m | 24, arg as u8]);
        } else if arg <= u16::MAX as u64 {
            self.buf.push(m | 25);
            self.buf.extend_from_slice(&(arg as u16).to_be_bytes());
        } else if arg <= u32::MAX as u64 {
            self.buf.push(m | 26);
            self.buf.extend_from_slice(&(arg as u32).to_be_bytes());
        } else {
            self.buf.push(m | 27);
            self.buf.extend_from_slice(&arg.to_be_bytes());
        }
    }

    pub fn uint(&mut self, v: u64) {
        self.head(major::UNSIGNED, v);
    }

    /// Writes any integer in the CBOR range −2^64 ..= 2^64−1 (callers check the range).
    pub fn int(&mut self, v: i128) {
        if v >= 0 {
            self.head(major::UNSIGNED, v as u64);
        } else {
            self.head(major::NEGATIVE, (-1 - v) as u64);
        }
    }

    pub fn bytes(&mut self, b: &[u8]) {
        self.head(major::BYTES, b.len() as u64);
        self.buf.extend_from_slice(b);
    }

    pub fn text(&mut self, s: &str) {
        self.head(major::TEXT, s.len() as u64);
        self.buf.extend_from_slice(s.as_bytes());
    }

    pub fn array(&mut self, len: usize) {
        self.head(major::ARRAY, len as u64);
    }

    pub fn map(&mut self, len: usize) {
        self.head(major::MAP, len as u64);
    }

    pub fn tag(&mut self, tag: u64) {
        self.head(major::TAG, tag);
    }

    pub fn bool(&mut self, b: bool) {
        self.buf.push(0xe0 | if b { simple::TRUE } else { simple::FALSE });
    }

    pub fn null(&mut self) {
        self.buf.push(simple::NULL_BYTE);
    }

    /// Writes a simple value (callers exclude 24..=31, which CBOR forbids).
    pub fn simple(&mut self, v: u8) {
        if v < 24 {
            self.buf.push(0xe0 | v);
        } else {
            self.buf.extend_from_slice(&[0xf8, v]);
        }
    }

    /// Writes a float in preferred serialization: the shortest of half, single and double
    /// precision that represents it exactly; every NaN becomes the canonical `f97e00`.
    pub fn float(&mut self, v: f64) {
        if v.is_nan() {
            self.buf.extend_from_slice(&[0xf9, 0x7e, 0x00]);
        } else if let Some(h) = float::f64_to_f16_exact(v) {
            self.buf.push(0xf9);
            self.buf.extend_from_slice(&h.to_be_bytes());
        } else if (v as f32) as f64 == v {
            self.buf.push(0xfa);
            self.buf.extend_from_slice(&(v as f32).to_be_bytes());
        } else {
            self.buf.push(0xfb);
            self.buf.extend_from_slice(&v.to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(f: impl FnOnce(&mut Encoder)) -> Vec<u8> {
        let mut e = Encoder::default();
        f(&mut e);
        e.buf
    }

    #[test]
    fn heads_are_shortest() {
        assert_eq!(enc(|e| e.uint(23)), [0x17]);
        assert_eq!(enc(|e| e.uint(24)), [0x18, 24]);
        assert_eq!(enc(|e| e.uint(255)), [0x18, 0xff]);
        assert_eq!(enc(|e| e.uint(256)), [0x19, 1, 0]);
        assert_eq!(enc(|e| e.uint(65536)), [0x1a, 0, 1, 0, 0]);
        assert_eq!(enc(|e| e.uint(1 << 32)), [0x1b, 0, 0, 0, 1, 0, 0, 0, 0]);
        assert_eq!(enc(|e| e.int(-1)), [0x20]);
        assert_eq!(enc(|e| e.int(-(1i128 << 64))), [0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    }

    #[test]
    fn floats_are_preferred() {
        assert_eq!(enc(|e| e.float(1.5)), [0xf9, 0x3e, 0x00]);
        assert_eq!(enc(|e| e.float(100000.0)), [0xfa, 0x47, 0xc3, 0x50, 0x00]);
        assert_eq!(enc(|e| e.float(1.1)), [0xfb, 0x3f, 0xf1, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a]);
        assert_eq!(enc(|e| e.float(f64::NAN)), [0xf9, 0x7e, 0x00]);
        assert_eq!(enc(|e| e.float(f64::NEG_INFINITY)), [0xf9, 0xfc, 0x00]);
        assert_eq!(enc(|e| e.float(5.960464477539063e-8)), [0xf9, 0x00, 0x01]);
    }
}
