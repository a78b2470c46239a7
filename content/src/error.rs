//! The one error type of this crate.
//!
//! Every failure says *where* (a field path such as `nestedPart.parts[1].contentType`, and for
//! decoding the byte offset) and *why* (a [`Violation`]). Decoding, encoding an invalid value,
//! receive-side validation and the JSON form all report through [`ContentError`], so a caller
//! matches on one enum.

use std::fmt;

/// One step of a [`FieldPath`]: a named field, an array index or an extension key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// A named field of the draft's CDDL (`salt`, `nestedPart`, `contentType`, …).
    Field(&'static str),
    /// An index into an array (`parts[2]`, or an item of an extension value).
    Index(usize),
    /// An extension map key, shown as diagnostic notation (`1`, `"x"`).
    Key(String),
}

/// Where in a message something went wrong, outermost field first when displayed.
///
/// Segments are stored innermost first (errors are built at the leaf and annotated while they
/// bubble up), which keeps the success path free of any bookkeeping.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldPath(Vec<Segment>);

impl FieldPath {
    /// The segments, outermost first.
    pub fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.0.iter().rev()
    }

    pub(crate) fn push_outer(&mut self, segment: Segment) {
        self.0.push(segment);
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("<message>");
        }
        let mut first = true;
        for seg in self.segments() {
            match seg {
                Segment::Field(name) => {
                    if !first {
                        f.write_str(".")?;
                    }
                    f.write_str(name)?;
                }
                Segment::Index(i) => write!(f, "[{i}]")?,
                Segment::Key(k) => write!(f, "{{{k}}}")?,
            }
            first = false;
        }
        Ok(())
    }
}

/// What rule an input or a value broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// The input ended before the item did.
    #[error("truncated: {needed} more byte(s) needed")]
    Truncated {
        /// How many bytes were missing at the point of failure.
        needed: usize,
    },
    /// Bytes follow the complete top-level item.
    #[error("{count} trailing byte(s) after the message")]
    TrailingBytes {
        /// Number of bytes after the end of the message.
        count: usize,
    },
    /// A length or integer head is not in its shortest form (RFC 8949 §4.2.1).
    #[error("non-shortest integer or length encoding (not deterministic CBOR)")]
    NonShortestHead,
    /// An indefinite-length string, array or map, or a stray "break".
    #[error("indefinite-length item (deterministic CBOR forbids it)")]
    IndefiniteLength,
    /// Additional-information values 28–30 are reserved in CBOR.
    #[error("reserved additional information value {0}")]
    ReservedAdditionalInfo(u8),
    /// A one-byte simple value below 32 (must use the short form).
    #[error("simple value {0} encoded in two bytes")]
    BadSimpleValue(u8),
    /// The item has another CBOR type than the CDDL requires.
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// What the CDDL requires.
        expected: &'static str,
        /// What the input held.
        found: &'static str,
    },
    /// An array has the wrong number of items.
    #[error("expected an array of {expected} items, found {found}")]
    WrongArrayLength {
        /// Required item count (as the CDDL says it).
        expected: &'static str,
        /// Items present.
        found: u64,
    },
    /// A byte string has the wrong size.
    #[error("expected {expected} bytes, found {found}")]
    WrongByteLength {
        /// Required length.
        expected: usize,
        /// Length present.
        found: usize,
    },
    /// A text string is not valid UTF-8.
    #[error("text is not valid UTF-8")]
    InvalidUtf8,
    /// An unsigned integer exceeds the CDDL's `.size`.
    #[error("integer {value} exceeds the maximum {max}")]
    IntegerOutOfRange {
        /// The value found.
        value: u64,
        /// The largest value allowed.
        max: u64,
    },
    /// A cardinality other than nullpart/single/external/multi.
    #[error("unknown cardinality {0} (expected 0..=3)")]
    UnknownCardinality(u64),
    /// A NestedPart whose length does not match its cardinality.
    #[error("cardinality {cardinality} needs {expected} items, found {found}")]
    CardinalityLength {
        /// The cardinality value.
        cardinality: u8,
        /// Items that cardinality requires.
        expected: u64,
        /// Items present.
        found: u64,
    },
    /// A partSemantics other than chooseOne/singleUnit/processAll (§9.1: discard).
    #[error("unknown partSemantics {0} (expected 0..=2)")]
    UnknownPartSemantics(u64),
    /// A MultiPart with fewer than two parts.
    #[error("a MultiPart needs at least 2 parts, found {0}")]
    TooFewParts(u64),
    /// NestedParts nested deeper than allowed (the draft's limit is 4).
    #[error("nested more than {limit} levels deep")]
    TooDeep {
        /// The depth limit in force.
        limit: usize,
    },
    /// More parts in total than allowed (the draft's limit is 1024).
    #[error("more than {limit} parts")]
    TooManyParts {
        /// The part-count limit in force.
        limit: usize,
    },
    /// The input or a field is larger than the configured limit.
    #[error("{what} is {size} bytes, more than the limit of {limit}")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its size.
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// A declared array/map/string length cannot fit in the remaining input.
    #[error("declared length {declared} exceeds the {remaining} byte(s) left")]
    LengthBeyondInput {
        /// Length from the item's head.
        declared: u64,
        /// Bytes left in the input.
        remaining: usize,
    },
    /// Two map entries with the same key.
    #[error("duplicate map key {0}")]
    DuplicateKey(String),
    /// Map keys not in bytewise order of their encodings (RFC 8949 §4.2.1).
    #[error("map key {0} is out of deterministic (bytewise) order")]
    UnsortedKey(String),
    /// An extension key that is neither an int nor a 1..255-octet text string.
    #[error("invalid extension key: {0}")]
    InvalidExtensionKey(&'static str),
    /// Extension 1 (senderUri) or 2 (roomUri) holds something other than a text string.
    #[error("extension {0} must be a text string")]
    ExtensionNotText(i64),
    /// A key of a map nested inside an extension value is not int, tstr or bstr, or is out of
    /// the ±(2^53−1) range.
    #[error("invalid key in nested map: {0}")]
    InvalidNestedKey(&'static str),
    /// A float not in its shortest exact form, or a NaN other than `f97e00`.
    #[error("float not in preferred (shortest) form: {0}")]
    NonPreferredFloat(&'static str),
    /// A bignum tag (2/3) whose value fits a plain integer, or with leading zero bytes.
    #[error("bignum that must be encoded as a plain integer or without leading zeros")]
    NonPreferredBignum,
    /// A message ID whose hash-algorithm octet is unknown (§9.1).
    #[error("unknown message ID hash algorithm 0x{0:02x}")]
    UnknownHashAlgorithm(u8),
    /// A URI longer than the u16 length prefix of the message ID allows.
    #[error("URI is {0} octets, more than 65535")]
    UriTooLong(usize),
    /// A receive-side plausibility check of §9.1 failed.
    #[error("nonsensical value: {0}")]
    Nonsensical(String),
    /// The JSON form of a message is not as documented.
    #[error("{0}")]
    Json(String),
}

/// The error type of `mimi-content`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    /// The bytes are not a well-formed, deterministic MIMI content message.
    #[error("malformed MIMI content at {path} (byte {offset}): {violation}")]
    Malformed {
        /// The field being decoded.
        path: FieldPath,
        /// Byte offset in the input where the offending item starts (or where input ended).
        offset: usize,
        /// The rule that was broken.
        violation: Violation,
    },
    /// A value cannot be encoded because it breaks a rule of the draft.
    #[error("invalid MIMI content at {path}: {violation}")]
    Invalid {
        /// The offending field.
        path: FieldPath,
        /// The rule that was broken.
        violation: Violation,
    },
    /// A well-formed message that a receiver must discard (§9.1 "nonsensical values").
    #[error("MIMI content rejected at {path}: {violation}")]
    Rejected {
        /// The offending field.
        path: FieldPath,
        /// The check that failed.
        violation: Violation,
    },
}

impl ContentError {
    pub(crate) fn malformed(offset: usize, violation: Violation) -> Self {
        ContentError::Malformed { path: FieldPath::default(), offset, violation }
    }

    pub(crate) fn invalid(violation: Violation) -> Self {
        ContentError::Invalid { path: FieldPath::default(), violation }
    }

    pub(crate) fn rejected(violation: Violation) -> Self {
        ContentError::Rejected { path: FieldPath::default(), violation }
    }

    /// Annotates the error with the enclosing field (called while the error bubbles up).
    pub(crate) fn at(mut self, segment: Segment) -> Self {
        match &mut self {
            ContentError::Malformed { path, .. }
            | ContentError::Invalid { path, .. }
            | ContentError::Rejected { path, .. } => path.push_outer(segment),
        }
        self
    }

    pub(crate) fn at_field(self, name: &'static str) -> Self {
        self.at(Segment::Field(name))
    }

    pub(crate) fn at_index(self, index: usize) -> Self {
        self.at(Segment::Index(index))
    }

    /// The rule that was broken.
    pub fn violation(&self) -> &Violation {
        match self {
            ContentError::Malformed { violation, .. }
            | ContentError::Invalid { violation, .. }
            | ContentError::Rejected { violation, .. } => violation,
        }
    }

    /// Where it was broken.
    pub fn path(&self) -> &FieldPath {
        match self {
            ContentError::Malformed { path, .. }
            | ContentError::Invalid { path, .. }
            | ContentError::Rejected { path, .. } => path,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_displays_outermost_first() {
        let e = ContentError::malformed(9, Violation::InvalidUtf8)
            .at_field("contentType")
            .at_index(1)
            .at_field("parts")
            .at_field("nestedPart");
        assert_eq!(e.path().to_string(), "nestedPart.parts[1].contentType");
        assert_eq!(
            e.to_string(),
            "malformed MIMI content at nestedPart.parts[1].contentType (byte 9): text is not valid UTF-8"
        );
    }
}
