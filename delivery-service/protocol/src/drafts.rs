//! The drafts this implementation is pinned to, reported in the endpoint directory document
//! ([`crate::directory::Directory::ours`]) and by `mimi-ds --version`.
//!
//! Each value is also produced by an exported macro (`protocol_draft!()`, `room_policy_draft!()`,
//! `content_draft!()`), so a binary can put it inside `concat!` for a `const` version string without
//! spelling the literal a second time.

/// Defines a `&'static str` constant and an exported macro producing the same literal.
macro_rules! pinned_draft {
    ($(#[$doc:meta])* $name:ident, $mac:ident, $value:literal) => {
        #[doc(hidden)]
        #[macro_export]
        macro_rules! $mac {
            () => {
                $value
            };
        }
        $(#[$doc])*
        pub const $name: &str = $value;
    };
}

pinned_draft!(
    /// The MIMI protocol draft whose structures this crate implements.
    PROTOCOL_DRAFT,
    protocol_draft,
    "draft-ietf-mimi-protocol-06"
);
pinned_draft!(
    /// The room-policy draft whose components and rules the hub enforces.
    ROOM_POLICY_DRAFT,
    room_policy_draft,
    "draft-ietf-mimi-room-policy-03"
);
pinned_draft!(
    /// The content-format draft clients use for application messages.
    CONTENT_DRAFT,
    content_draft,
    "draft-ietf-mimi-content-09"
);

/// The pinned drafts, in the order they are reported (directory document, `mimi-ds --version`).
pub const PINNED_DRAFTS: [&str; 3] = [PROTOCOL_DRAFT, ROOM_POLICY_DRAFT, CONTENT_DRAFT];
