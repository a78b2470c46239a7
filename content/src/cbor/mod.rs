//! The deterministic CBOR subset that MIMI content uses (RFC 8949 §4.2.1 "core deterministic").
//!
//! MIMI content is a positional CBOR array with one map (the extensions) and arbitrary CBOR only
//! inside extension values. A general-purpose CBOR crate would accept non-shortest heads,
//! indefinite lengths and unsorted keys and then need a second pass to reject them; this module
//! instead reads and writes exactly the deterministic subset:
//!
//! - [`Encoder`] always writes shortest heads, definite lengths and preferred floats.
//! - [`Decoder`] rejects anything else at the byte where it occurs, and never allocates more than
//!   the input could possibly hold (declared lengths are checked against the bytes left).
//! - [`normalize`] rewrites the non-deterministic CBOR peers send into the deterministic form,
//!   listing what it repaired, for the lenient receive mode (`crate::lenient`).
//! - [`Value`] is a generic CBOR item (used for extension values) with bytewise-sorted maps,
//!   depth limits and diagnostic-notation output.
//!
//! The message structure itself lives in `crate::codec`; nothing else in the crate touches bytes.

mod decoder;
mod diag;
mod encoder;
mod float;
pub(crate) mod normalize;
mod value;

pub(crate) use decoder::Decoder;
pub(crate) use encoder::Encoder;
pub(crate) use value::check_key_order;
pub use value::Value;

/// CBOR major types (RFC 8949 §3.1).
pub(crate) mod major {
    pub const UNSIGNED: u8 = 0;
    pub const NEGATIVE: u8 = 1;
    pub const BYTES: u8 = 2;
    pub const TEXT: u8 = 3;
    pub const ARRAY: u8 = 4;
    pub const MAP: u8 = 5;
    pub const TAG: u8 = 6;
    pub const SIMPLE: u8 = 7;
}

/// Simple values and float markers of major type 7.
pub(crate) mod simple {
    pub const FALSE: u8 = 20;
    pub const TRUE: u8 = 21;
    pub const NULL: u8 = 22;
    pub const UNDEFINED: u8 = 23;
    /// Initial byte of `null`.
    pub const NULL_BYTE: u8 = 0xf6;
}

/// Largest magnitude an integer map key may have (the draft's §6 data model: ±(2^53−1)).
pub(crate) const MAX_SAFE_INTEGER: i128 = (1 << 53) - 1;
