//! The body of a message: the recursive `NestedPart` and its four variants (draft §4.4–§4.6,
//! Appendix A.1).

/// A content disposition (draft §4.4, the "MIMI Content Disposition" registry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Disposition {
    /// 0: no hint.
    Unspecified,
    /// 1: render according to local policy.
    Render,
    /// 2: a single reaction to another message.
    Reaction,
    /// 3: a profile of a participant or room.
    Profile,
    /// 4: render inline in the chat view.
    Inline,
    /// 5: an icon, e.g. an avatar.
    Icon,
    /// 6: download instead of rendering immediately.
    Attachment,
    /// 7: describes a multimedia session or how to join one.
    Session,
    /// 8: a preview made by the sender.
    Preview,
    /// 9..=255: not registered; receivers treat it as [`Disposition::Render`] (§9.1). Build it
    /// with `Disposition::from(u8)`, which maps registered values to their variants.
    Unknown(u8),
}

impl From<u8> for Disposition {
    fn from(v: u8) -> Self {
        match v {
            0 => Disposition::Unspecified,
            1 => Disposition::Render,
            2 => Disposition::Reaction,
            3 => Disposition::Profile,
            4 => Disposition::Inline,
            5 => Disposition::Icon,
            6 => Disposition::Attachment,
            7 => Disposition::Session,
            8 => Disposition::Preview,
            other => Disposition::Unknown(other),
        }
    }
}

impl Disposition {
    /// The registry value.
    pub fn value(self) -> u8 {
        match self {
            Disposition::Unspecified => 0,
            Disposition::Render => 1,
            Disposition::Reaction => 2,
            Disposition::Profile => 3,
            Disposition::Inline => 4,
            Disposition::Icon => 5,
            Disposition::Attachment => 6,
            Disposition::Session => 7,
            Disposition::Preview => 8,
            Disposition::Unknown(v) => v,
        }
    }

    /// The registry name (`"unknown"` for unregistered values).
    pub fn name(self) -> &'static str {
        match self {
            Disposition::Unspecified => "unspecified",
            Disposition::Render => "render",
            Disposition::Reaction => "reaction",
            Disposition::Profile => "profile",
            Disposition::Inline => "inline",
            Disposition::Icon => "icon",
            Disposition::Attachment => "attachment",
            Disposition::Session => "session",
            Disposition::Preview => "preview",
            Disposition::Unknown(_) => "unknown",
        }
    }

    /// How a receiver should act on it: unknown values count as `render` (§9.1).
    pub fn effective(self) -> Disposition {
        match self {
            Disposition::Unknown(_) => Disposition::Render,
            d => d,
        }
    }
}

/// How the parts of a [`MultiPart`] relate (draft §4.6, `partSemantics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PartSemantics {
    /// 0: like multipart/alternative; the receiver renders exactly one part, the first it can
    /// (the order is the sender's preference).
    ChooseOne,
    /// 1: like multipart/related; the parts form one whole; if any part is not understood,
    /// none is processed.
    SingleUnit,
    /// 2: like multipart/mixed; process as many parts as possible.
    ProcessAll,
}

impl PartSemantics {
    /// The wire value.
    pub fn value(self) -> u8 {
        match self {
            PartSemantics::ChooseOne => 0,
            PartSemantics::SingleUnit => 1,
            PartSemantics::ProcessAll => 2,
        }
    }

    /// The wire value's meaning, if it has one.
    pub fn from_value(v: u64) -> Option<Self> {
        match v {
            0 => Some(PartSemantics::ChooseOne),
            1 => Some(PartSemantics::SingleUnit),
            2 => Some(PartSemantics::ProcessAll),
            _ => None,
        }
    }

    /// The draft's name.
    pub fn name(self) -> &'static str {
        match self {
            PartSemantics::ChooseOne => "chooseOne",
            PartSemantics::SingleUnit => "singleUnit",
            PartSemantics::ProcessAll => "processAll",
        }
    }
}

/// One node of the body tree (`NestedPart`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NestedPart {
    /// How the receiver should present this part.
    pub disposition: Disposition,
    /// `""` or a comma-separated list of RFC 5646 language tags.
    pub language: String,
    /// The part's content, chosen by its cardinality.
    pub body: PartBody,
}

/// The cardinality-dependent rest of a [`NestedPart`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartBody {
    /// cardinality 0: no content (used by delete and unlike).
    Null,
    /// cardinality 1: inline content.
    Single(SinglePart),
    /// cardinality 2: content fetched from elsewhere (attachments, service URLs).
    External(ExternalPart),
    /// cardinality 3: two or more sub-parts.
    Multi(MultiPart),
}

impl PartBody {
    /// The cardinality value on the wire.
    pub fn cardinality(&self) -> u8 {
        match self {
            PartBody::Null => 0,
            PartBody::Single(_) => 1,
            PartBody::External(_) => 2,
            PartBody::Multi(_) => 3,
        }
    }

    /// The draft's name of the cardinality.
    pub fn cardinality_name(&self) -> &'static str {
        match self {
            PartBody::Null => "nullpart",
            PartBody::Single(_) => "single",
            PartBody::External(_) => "external",
            PartBody::Multi(_) => "multi",
        }
    }
}

/// Inline content (`SinglePart`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinglePart {
    /// Full IANA media type with parameters, e.g. `text/plain;charset=utf-8`.
    pub content_type: String,
    /// The content octets (a byte string on the wire, even for text).
    pub content: Vec<u8>,
}

/// A reference to content stored elsewhere (`ExternalPart`, draft §4.5).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExternalPart {
    /// Media type of the external content; may be `""` for a service URL.
    pub content_type: String,
    /// Where to fetch it, or the service URL (an untagged text string on the wire).
    pub url: String,
    /// Epoch seconds after which the content is invalid; 0 = never.
    pub expires: u32,
    /// Size in octets; 0 = not given.
    pub size: u64,
    /// IANA AEAD algorithm number; 0 = not encrypted, 1 = AEAD_AES_128_GCM.
    pub enc_alg: u16,
    /// AEAD key (empty when `enc_alg` is 0).
    pub key: Vec<u8>,
    /// AEAD nonce (empty when `enc_alg` is 0).
    pub nonce: Vec<u8>,
    /// AEAD additional data; empty unless an extension says otherwise.
    pub aad: Vec<u8>,
    /// IANA Named Information hash algorithm of `content_hash` (1 = sha-256; 0 = none).
    pub hash_alg: u8,
    /// Hash of the content at `url`.
    pub content_hash: Vec<u8>,
    /// Optional description (`""` if none).
    pub description: String,
    /// Optional suggested file name (`""` if none).
    pub filename: String,
}

/// Several sub-parts (`MultiPart`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultiPart {
    /// How the sub-parts relate.
    pub part_semantics: PartSemantics,
    /// The sub-parts; at least two.
    pub parts: Vec<NestedPart>,
}

impl NestedPart {
    /// A part with inline content.
    pub fn single(disposition: Disposition, language: &str, content_type: &str, content: impl Into<Vec<u8>>) -> Self {
        NestedPart {
            disposition,
            language: language.to_owned(),
            body: PartBody::Single(SinglePart { content_type: content_type.to_owned(), content: content.into() }),
        }
    }

    /// The empty body of a delete or unlike.
    pub fn null(disposition: Disposition) -> Self {
        NestedPart { disposition, language: String::new(), body: PartBody::Null }
    }

    /// A multipart body.
    pub fn multi(disposition: Disposition, part_semantics: PartSemantics, parts: Vec<NestedPart>) -> Self {
        NestedPart { disposition, language: String::new(), body: PartBody::Multi(MultiPart { part_semantics, parts }) }
    }

    /// Visits every part depth-first in pre-order, yielding its implied `partIndex` (the root is
    /// 0; draft §4.6) and its depth (the root is 1).
    pub fn preorder(&self) -> Vec<IndexedPart<'_>> {
        let mut out = Vec::new();
        fn walk<'a>(p: &'a NestedPart, depth: usize, out: &mut Vec<IndexedPart<'a>>) {
            out.push(IndexedPart { index: out.len(), depth, part: p });
            if let PartBody::Multi(m) = &p.body {
                for child in &m.parts {
                    walk(child, depth + 1, out);
                }
            }
        }
        walk(self, 1, &mut out);
        out
    }

    /// The part with the given implied `partIndex` (what a `cid:<n>@local.invalid` reference
    /// names). Only a SinglePart or ExternalPart may be referenced; others give `None`.
    pub fn referenced_part(&self, part_index: usize) -> Option<&NestedPart> {
        self.preorder()
            .into_iter()
            .find(|p| p.index == part_index)
            .map(|p| p.part)
            .filter(|p| matches!(p.body, PartBody::Single(_) | PartBody::External(_)))
    }
}

/// A part with its implied index and depth, from [`NestedPart::preorder`].
#[derive(Debug, Clone, Copy)]
pub struct IndexedPart<'a> {
    /// Zero-based depth-first pre-order index.
    pub index: usize,
    /// Nesting level; the root part is level 1.
    pub depth: usize,
    /// The part itself.
    pub part: &'a NestedPart,
}
