//! The top-level MIMI content message (`mimiContent`, draft §4 and Appendix A.1).

use crate::extensions::Extensions;
use crate::message_id::MessageId;
use crate::part::NestedPart;

/// A MIMI content message: the plaintext of an MLS application message whose media type is
/// `application/mimi-content`. Fields are positional on the wire, in this order.
#[derive(Debug, Clone, PartialEq)]
pub struct MimiContent {
    /// 16 random octets; part of the message ID (twice), so IDs cannot be predicted.
    pub salt: [u8; 16],
    /// The *first* version of the message this one edits or deletes (or the reaction it
    /// withdraws); `None` when it replaces nothing.
    pub replaces: Option<MessageId>,
    /// Opaque grouping of messages (a thread); empty means none.
    pub topic_id: Vec<u8>,
    /// A deletion hint; `None` means the message does not expire.
    pub expires: Option<Expiration>,
    /// The exact version of the message this one answers or reacts to.
    pub in_reply_to: Option<MessageId>,
    /// The `mimiExtensions` map (senderUri, roomUri and others).
    pub extensions: Extensions,
    /// The body.
    pub nested_part: NestedPart,
}

/// When a message should disappear (draft §4.2, `Expiration`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiration {
    /// `true`: `time` seconds after the receiver reads it; `false`: at epoch second `time`.
    pub relative: bool,
    /// Seconds (relative) or seconds since the UNIX epoch (absolute).
    pub time: u32,
}
