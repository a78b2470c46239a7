//! Receive limits for decoding untrusted content (draft §6.3 and §9.1), with the draft's values
//! as defaults.

use crate::error::{ContentError, Violation};

/// Bounds applied while decoding. Every allocation the decoder makes is bounded by the input
/// length, and the input length by `max_message_size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest accepted encoded message, in octets (local policy; default 1 MiB).
    pub max_message_size: usize,
    /// Deepest NestedPart nesting, the root being level 1 (draft: 4).
    pub max_part_depth: usize,
    /// Most NestedParts in one message, containers included (draft: 1024).
    pub max_parts: usize,
    /// Longest topicId in octets (draft: 4096).
    pub max_topic_id_len: usize,
    /// Deepest nesting of maps, arrays and tags in the extensions, the extensions map itself
    /// being level 1 (draft: 4).
    pub max_extension_depth: usize,
}

impl DecodeLimits {
    /// The draft's limits, with a 1 MiB message size.
    pub const DRAFT: DecodeLimits = DecodeLimits {
        max_message_size: 1 << 20,
        max_part_depth: 4,
        max_parts: 1024,
        max_topic_id_len: 4096,
        max_extension_depth: 4,
    };
}

impl DecodeLimits {
    /// Refuses an encoded message longer than `max_message_size`, before any parsing.
    pub(crate) fn check_message_size(&self, len: usize) -> Result<(), ContentError> {
        if len > self.max_message_size {
            return Err(ContentError::malformed(
                0,
                Violation::TooLarge { what: "message", size: len, limit: self.max_message_size },
            ));
        }
        Ok(())
    }
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits::DRAFT
    }
}
