//! Receive-side plausibility checks that need context the decoder does not have: the current
//! time, the hub's timestamp, the original of an edit, the reply chain (draft §9.1 "nonsensical
//! values", §9.3 edits). Each failed check is a [`ContentError::Rejected`]: log and discard.

use crate::error::{ContentError, Violation};
use crate::message::MimiContent;
use crate::message_id::MessageId;

/// Seconds in the "one year" of §9.1.
const YEAR_SECS: u64 = 366 * 24 * 3600;

/// What the receiver knows when a message arrives.
#[derive(Debug, Clone, Copy)]
pub struct ReceiveContext {
    /// The receiver's clock, in seconds since the UNIX epoch.
    pub now_secs: u64,
    /// The hub's accepted timestamp of this message, in milliseconds, if known.
    pub hub_timestamp_ms: Option<u64>,
    /// When the room was created, in milliseconds, if known.
    pub room_created_ms: Option<u64>,
    /// How far in the future a hub timestamp may be (the draft: "a few minutes").
    pub max_clock_skew_secs: u64,
    /// Earliest believable timestamp, in milliseconds (default 2022-01-01, before the draft's
    /// first examples).
    pub earliest_ms: u64,
}

impl ReceiveContext {
    /// A context at `now_secs` with a five-minute skew allowance.
    pub fn at(now_secs: u64) -> Self {
        ReceiveContext {
            now_secs,
            hub_timestamp_ms: None,
            room_created_ms: None,
            max_clock_skew_secs: 300,
            earliest_ms: 1_640_995_200_000,
        }
    }
}

fn reject(field: &'static str, why: String) -> ContentError {
    ContentError::rejected(Violation::Nonsensical(why)).at_field(field)
}

/// The §9.1 checks on one message.
pub fn check_plausible(msg: &MimiContent, ctx: &ReceiveContext) -> Result<(), ContentError> {
    for (field, id) in [("replaces", msg.replaces), ("inReplyTo", msg.in_reply_to)] {
        if let Some(id) = id {
            if !id.has_known_algorithm() {
                return Err(
                    ContentError::rejected(Violation::UnknownHashAlgorithm(id.hash_algorithm())).at_field(field)
                );
            }
        }
    }
    if let Some(x) = msg.expires {
        let t = x.time as u64;
        if x.relative && t > YEAR_SECS {
            return Err(reject("expires", format!("relative expiry of {t} s is more than a year")));
        }
        if !x.relative && t > ctx.now_secs + YEAR_SECS {
            return Err(reject("expires", format!("absolute expiry {t} is more than a year ahead")));
        }
        if !x.relative && t + YEAR_SECS < ctx.now_secs {
            return Err(reject("expires", format!("absolute expiry {t} is more than a year ago")));
        }
    }
    if let Some(ts) = ctx.hub_timestamp_ms {
        if ts / 1000 > ctx.now_secs + ctx.max_clock_skew_secs {
            return Err(reject("hubAcceptedTimestamp", format!("{ts} ms is in the future")));
        }
        if ts < ctx.earliest_ms {
            return Err(reject("hubAcceptedTimestamp", format!("{ts} ms is before any MIMI content existed")));
        }
        if let Some(created) = ctx.room_created_ms {
            if ts < created {
                return Err(reject("hubAcceptedTimestamp", format!("{ts} ms is before the room was created")));
            }
        }
    }
    Ok(())
}

/// Checks an edit or delete against the message it replaces (§9.3): only the original sender
/// may do it, and only the body may change (topic, reply target and expiry stay).
pub fn check_replacement(
    original: &MimiContent,
    original_sender: &str,
    replacement: &MimiContent,
    replacement_sender: &str,
) -> Result<(), ContentError> {
    if original_sender != replacement_sender {
        return Err(reject("replaces", format!("{replacement_sender} may not replace a message of {original_sender}")));
    }
    if original.topic_id != replacement.topic_id {
        return Err(reject("topicId", "an edit may not move the message to another topic".into()));
    }
    if original.in_reply_to != replacement.in_reply_to {
        return Err(reject("inReplyTo", "an edit may not change what the message answers".into()));
    }
    if original.expires != replacement.expires {
        return Err(reject("expires", "an edit may not change the expiry".into()));
    }
    Ok(())
}

/// Walks the `inReplyTo` chain from `start` with `parent` (the receiver's lookup of a known
/// message's `inReplyTo`) and refuses a loop. Unknown messages end the walk: they are
/// legitimate (they may predate the receiver's join).
pub fn check_reply_chain(
    start: MessageId,
    mut parent: impl FnMut(&MessageId) -> Option<MessageId>,
) -> Result<usize, ContentError> {
    let mut seen = vec![start];
    let mut cur = start;
    while let Some(next) = parent(&cur) {
        if seen.contains(&next) {
            return Err(reject("inReplyTo", format!("reply chain loops at {next}")));
        }
        seen.push(next);
        cur = next;
    }
    Ok(seen.len() - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::{MessageBuilder, TextFormat};

    const NOW: u64 = 1_800_000_000;

    fn msg() -> MessageBuilder {
        MessageBuilder::text(TextFormat::Plain, "hi")
    }

    #[test]
    fn expiry_bounds() {
        let ctx = ReceiveContext::at(NOW);
        assert!(check_plausible(&msg().expires_after_reading(3600).build().unwrap(), &ctx).is_ok());
        assert!(check_plausible(&msg().expires_after_reading(400 * 86400).build().unwrap(), &ctx).is_err());
        assert!(check_plausible(&msg().expires_at(NOW as u32 + 86400).build().unwrap(), &ctx).is_ok());
        assert!(check_plausible(&msg().expires_at(NOW as u32 + 400 * 86400).build().unwrap(), &ctx).is_err());
        assert!(check_plausible(&msg().expires_at(NOW as u32 - 400 * 86400).build().unwrap(), &ctx).is_err());
    }

    #[test]
    fn timestamps_and_hash_algorithms() {
        let m = msg().build().unwrap();
        let mut ctx = ReceiveContext::at(NOW);
        ctx.hub_timestamp_ms = Some(NOW * 1000);
        assert!(check_plausible(&m, &ctx).is_ok());
        ctx.hub_timestamp_ms = Some((NOW + 3600) * 1000);
        assert!(check_plausible(&m, &ctx).is_err());
        ctx.hub_timestamp_ms = Some(1_000_000_000_000);
        assert!(check_plausible(&m, &ctx).is_err());
        ctx.hub_timestamp_ms = Some(NOW * 1000);
        ctx.room_created_ms = Some(NOW * 1000 + 1);
        assert!(check_plausible(&m, &ctx).is_err());
        let odd = MessageBuilder::reply(MessageId([7; 32]), TextFormat::Plain, "x").build().unwrap();
        let e = check_plausible(&odd, &ReceiveContext::at(NOW)).unwrap_err();
        assert_eq!(e.violation(), &Violation::UnknownHashAlgorithm(7));
        assert_eq!(e.path().to_string(), "inReplyTo");
    }

    #[test]
    fn replacements_keep_relations_and_sender() {
        let mut first = [0u8; 32];
        first[0] = 1;
        let original = MessageBuilder::reply(MessageId(first), TextFormat::Plain, "helo").topic(*b"t").build().unwrap();
        let edit =
            MessageBuilder::edit(&original, MessageId(first), crate::builder::text_part(TextFormat::Plain, "hello"))
                .build()
                .unwrap();
        assert!(check_replacement(&original, "mimi://a/u/x", &edit, "mimi://a/u/x").is_ok());
        assert!(check_replacement(&original, "mimi://a/u/x", &edit, "mimi://a/u/y").is_err());
        let moved =
            MessageBuilder::edit(&original, MessageId(first), crate::builder::text_part(TextFormat::Plain, "x"))
                .topic(*b"other")
                .build()
                .unwrap();
        assert_eq!(check_replacement(&original, "s", &moved, "s").unwrap_err().path().to_string(), "topicId");
    }

    #[test]
    fn reply_loops_are_found() {
        let id = |n: u8| MessageId([n; 32]);
        let chain = |m: &MessageId| match m.0[0] {
            3 => Some(id(2)),
            2 => Some(id(1)),
            _ => None,
        };
        assert_eq!(check_reply_chain(id(3), chain).unwrap(), 2);
        let looped = |m: &MessageId| Some(if m.0[0] == 1 { id(2) } else { id(1) });
        assert!(check_reply_chain(id(1), looped).is_err());
    }
}
