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
    /// The room-policy draft whose components and rules the hub enforces: -04, normatively equal
    /// to -03 (same sections, rules, capability codes and component IDs; only its references
    /// moved), so the code's citations of -03 sections hold for -04.
    ROOM_POLICY_DRAFT,
    room_policy_draft,
    "draft-ietf-mimi-room-policy-04"
);
pinned_draft!(
    /// The content-format draft clients use for application messages.
    CONTENT_DRAFT,
    content_draft,
    "draft-ietf-mimi-content-09"
);

/// The pinned drafts, in the order they are reported (directory document, `mimi-ds --version`).
pub const PINNED_DRAFTS: [&str; 3] = [PROTOCOL_DRAFT, ROOM_POLICY_DRAFT, CONTENT_DRAFT];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_drafts_are_these_bytes_in_this_order() {
        assert_eq!(ROOM_POLICY_DRAFT.as_bytes(), b"draft-ietf-mimi-room-policy-04");
        assert_eq!(room_policy_draft!(), ROOM_POLICY_DRAFT);
        assert_eq!(
            PINNED_DRAFTS.join(",").as_bytes(),
            &b"draft-ietf-mimi-protocol-06,draft-ietf-mimi-room-policy-04,draft-ietf-mimi-content-09"[..]
        );
    }
}
