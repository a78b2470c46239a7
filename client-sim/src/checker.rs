//! Invariants checked after every step of a scenario.
//!
//! A [`Checker`] keeps, per room, what the driver knows independently of any one receiver:
//! - the messages that were sent, each with its log position and epoch as the *sender*
//!   located it ([`Checker::record_sent`]), in hub order;
//! - the MLS members of every epoch observed so far (all online members agree on it, or
//!   the check fails first).
//!
//! [`Checker::check`] then verifies, for the online clients:
//! 1. **Agreement**: every online member of the room has the same epoch, epoch authenticator,
//!    member list, participant list and log cursor (all caught up to the same head).
//! 2. **Consistency**: no client holds two leaves (a resync replaced its old leaf); every MLS
//!    member's user is in the participant list; a user with the
//!    `banned` role has no clients; an online client considers itself a member exactly when
//!    it is in the member list (removed and banned users' clients know they are out).
//! 3. **Delivery**: each online client's transcript is exactly the sent messages of the
//!    epochs it was a member at, from the epoch it joined up to its cursor (for a client that
//!    is out of the room: all of them, up to its removal): each once, in hub order, none
//!    other.
//!
//! With clients at several federated providers ([`Positions::PerProvider`]) a follower numbers
//! its mirror of the hub's log itself, so log positions mean nothing across providers: log
//! cursors are compared only among clients of the same provider, the checks end with
//! [`check_agreement_across_providers`], sent messages are kept in the order they were sent
//! (which is hub order: a scenario sends one message at a time and waits for its acceptance),
//! and a transcript is compared with them by sender, epoch and content, not by log position.
//! Everything else (the members of each epoch, consistency, exactly-once delivery to exactly
//! the members of the message's epoch, in hub order) is checked the same way.
//!
//! [`check_agreement_across_providers`] is the agreement part for clients of different
//! providers (no shared log positions), as the federation demo ([`crate::demo`]) uses it.
//!
//! A failure is a [`CheckFailure`] naming the room, the client, what was compared, and the
//! expected and actual values (for transcripts, the first position where they differ).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use mimi_appsync::components::roles::BANNED_ROLE;
use mimi_appsync::uri::{ClientUri, UserUri};
use mimi_client::{Client, ClientError, Delivered};

/// A violated invariant, with a precise diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckFailure {
    /// The room.
    pub room: String,
    /// The client whose state is wrong (or `None` for a room-wide fact).
    pub client: Option<String>,
    /// What was compared.
    pub what: String,
    /// The expected value.
    pub expected: String,
    /// The value found.
    pub got: String,
}

impl fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "room {}", self.room)?;
        if let Some(client) = &self.client {
            write!(f, ", client {client}")?;
        }
        write!(f, ": {}\n  expected: {}\n  got:      {}", self.what, self.expected, self.got)
    }
}

impl std::error::Error for CheckFailure {}

/// What the checker knows about one room.
#[derive(Debug, Default, Clone)]
struct RoomRecord {
    /// MLS members per epoch, as observed.
    members_at: BTreeMap<u64, BTreeSet<ClientUri>>,
    /// Messages sent, in hub order: by log position ([`Positions::Shared`]) or by the order
    /// they were recorded in ([`Positions::PerProvider`]).
    sent: BTreeMap<u64, Delivered>,
}

/// Whether the checked clients share one log's positions.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Positions {
    /// All clients read the same log (one provider): positions and cursors are compared.
    #[default]
    Shared,
    /// Clients of several federated providers: each provider numbers its log (the hub's log or
    /// a follower's mirror) itself; deliveries are compared by sender, epoch and content.
    PerProvider,
}

impl Positions {
    /// Whether a delivery is the expected one.
    fn same(self, expected: &Delivered, got: &Delivered) -> bool {
        match self {
            Positions::Shared => expected == got,
            Positions::PerProvider => {
                (&expected.sender, expected.epoch, &expected.content) == (&got.sender, got.epoch, &got.content)
            }
        }
    }

    /// Whether two deliveries are the same message (for diagnostics).
    fn same_message(self, a: &Delivered, b: &Delivered) -> bool {
        match self {
            Positions::Shared => a.seq == b.seq,
            Positions::PerProvider => (&a.sender, &a.content) == (&b.sender, &b.content),
        }
    }
}

/// The invariants above, checked over the clients of a scenario.
#[derive(Debug, Default, Clone)]
pub struct Checker {
    /// Per room URI.
    rooms: BTreeMap<String, RoomRecord>,
    /// Whether log positions are shared.
    positions: Positions,
}

/// One delivery, short, for diffs.
fn show(d: &Delivered) -> String {
    format!("seq {} epoch {} from {}", d.seq, d.epoch, d.sender)
}

fn show_list(list: &[ClientUri]) -> String {
    format!("[{}]", list.iter().map(ClientUri::as_str).collect::<Vec<_>>().join(", "))
}

fn show_participants(list: &[(UserUri, u32)]) -> String {
    format!("[{}]", list.iter().map(|(u, r)| format!("{u} role {r}")).collect::<Vec<_>>().join(", "))
}

impl Checker {
    /// A checker for clients of one provider that knows nothing yet.
    pub fn new() -> Checker {
        Checker::default()
    }

    /// A checker for clients that share log positions or not.
    pub fn with_positions(positions: Positions) -> Checker {
        Checker { positions, ..Checker::default() }
    }

    /// Records a message the driver sent, as its sender located it in the log (with
    /// [`Positions::PerProvider`], messages must be recorded in hub order).
    pub fn record_sent(&mut self, room: &str, message: Delivered) {
        let sent = &mut self.rooms.entry(room.to_owned()).or_default().sent;
        let key = match self.positions {
            Positions::Shared => message.seq,
            Positions::PerProvider => sent.len() as u64 + 1,
        };
        sent.insert(key, message);
    }

    /// The messages recorded as sent in `room`, in hub order.
    pub fn sent(&self, room: &str) -> impl Iterator<Item = &Delivered> {
        self.rooms.get(room).into_iter().flat_map(|r| r.sent.values())
    }

    /// Checks `room` over the `online` clients (all of them, members or not); records the
    /// current epoch's members.
    pub fn check(&mut self, room: &str, online: &[&Client]) -> Result<(), CheckFailure> {
        let fail = |client: Option<&ClientUri>, what: &str, expected: String, got: String| CheckFailure {
            room: room.to_owned(),
            client: client.map(|c| c.to_string()),
            what: what.to_owned(),
            expected,
            got,
        };
        let local =
            |c: &Client, e: ClientError| fail(Some(c.uri()), "reading client state", "ok".into(), e.to_string());
        let members: Vec<&Client> = online.iter().copied().filter(|c| c.is_member(room)).collect();
        let record = self.rooms.entry(room.to_owned()).or_default();

        // 1. Agreement.
        if let Some(first) = members.first() {
            let reference = (
                first.epoch(room).map_err(|e| local(first, e))?,
                first.epoch_authenticator(room).map_err(|e| local(first, e))?,
                first.members(room).map_err(|e| local(first, e))?,
                first.participants(room).map_err(|e| local(first, e))?,
                first.cursor(room).map_err(|e| local(first, e))?,
            );
            let against = |what: &str| format!("{what} (as {} has it)", first.uri());
            // Log cursors are compared with the first member at the same provider (with one
            // provider: the first member).
            let mut cursors: BTreeMap<&str, (u64, &ClientUri)> = BTreeMap::new();
            cursors.insert(first.uri().domain(), (reference.4, first.uri()));
            for c in &members[1..] {
                let who = Some(c.uri());
                let epoch = c.epoch(room).map_err(|e| local(c, e))?;
                if epoch != reference.0 {
                    return Err(fail(who, "epoch", against(&reference.0.to_string()), epoch.to_string()));
                }
                let auth = c.epoch_authenticator(room).map_err(|e| local(c, e))?;
                if auth != reference.1 {
                    return Err(fail(
                        who,
                        "epoch authenticator",
                        against(&hex::encode(&reference.1)),
                        hex::encode(&auth),
                    ));
                }
                let list = c.members(room).map_err(|e| local(c, e))?;
                if list != reference.2 {
                    return Err(fail(who, "MLS members", against(&show_list(&reference.2)), show_list(&list)));
                }
                let participants = c.participants(room).map_err(|e| local(c, e))?;
                if participants != reference.3 {
                    return Err(fail(
                        who,
                        "participant list",
                        against(&show_participants(&reference.3)),
                        show_participants(&participants),
                    ));
                }
                let cursor = c.cursor(room).map_err(|e| local(c, e))?;
                let (want, of) = *cursors.entry(c.uri().domain()).or_insert((cursor, c.uri()));
                if cursor != want {
                    return Err(fail(who, "log cursor", format!("{want} (as {of} has it)"), cursor.to_string()));
                }
            }
            let (epoch, _, list, participants, _) = reference;
            let set: BTreeSet<ClientUri> = list.iter().cloned().collect();
            if set.len() != list.len() {
                let twice = list.iter().find(|c| list.iter().filter(|d| d == c).count() > 1);
                return Err(fail(twice, "one leaf per client", "each client once".into(), show_list(&list)));
            }
            match record.members_at.get(&epoch) {
                Some(known) if *known != set => {
                    let known: Vec<_> = known.iter().cloned().collect();
                    return Err(fail(None, &format!("members of epoch {epoch}"), show_list(&known), show_list(&list)));
                }
                Some(_) => {}
                None => {
                    record.members_at.insert(epoch, set.clone());
                }
            }

            // 2. Consistency of participants and members.
            let listed: BTreeMap<&UserUri, u32> = participants.iter().map(|(u, r)| (u, *r)).collect();
            for member in &list {
                match listed.get(&member.user()) {
                    None => {
                        return Err(fail(
                            Some(member),
                            "member's user in the participant list",
                            format!("{} listed", member.user()),
                            format!("not listed in {}", show_participants(&participants)),
                        ))
                    }
                    Some(&BANNED_ROLE) => {
                        return Err(fail(
                            Some(member),
                            "banned users have no clients",
                            "not a member".into(),
                            format!("member while {} is banned", member.user()),
                        ))
                    }
                    Some(_) => {}
                }
            }
            for c in online {
                let is_member = c.is_member(room);
                if is_member != set.contains(c.uri()) {
                    return Err(fail(
                        Some(c.uri()),
                        "client's own view of its membership",
                        format!("is_member = {}", set.contains(c.uri())),
                        format!("is_member = {is_member}"),
                    ));
                }
            }
        }

        // 3. Delivery.
        for c in online {
            let Ok(transcript) = c.transcript(room) else { continue };
            let cursor = c.cursor(room).map_err(|e| local(c, e))?;
            let joined = c.joined_epoch(room).map_err(|e| local(c, e))?;
            let mut expected = Vec::new();
            // Across providers every recorded message was accepted before this check and
            // reached every provider that has a member (the runner waits for that), so
            // there is no cursor to cut at. Nor for a client that is out of the room: it must
            // have read everything sent while it was a member (up to its removal), not stopped
            // early (say, because its provider refused to show it the log).
            let finished = !c.is_member(room);
            let read = |m: &Delivered| self.positions == Positions::PerProvider || finished || m.seq <= cursor;
            for m in record.sent.values().filter(|m| read(m) && m.epoch >= joined) {
                let Some(at_epoch) = record.members_at.get(&m.epoch) else {
                    return Err(fail(
                        None,
                        "members of a message's epoch",
                        format!("observed members of epoch {}", m.epoch),
                        format!("never observed ({})", show(m)),
                    ));
                };
                if at_epoch.contains(c.uri()) {
                    expected.push(m);
                }
            }
            if let Some(diff) = transcript_diff(self.positions, &expected, transcript) {
                let what = match self.positions {
                    Positions::Shared => format!("transcript up to log position {cursor}"),
                    Positions::PerProvider => {
                        "transcript (by sender, epoch and content; expected seqs are the senders' providers', \
                         got seqs this client's provider's)"
                            .to_owned()
                    }
                };
                return Err(fail(Some(c.uri()), &what, diff.0, diff.1));
            }
        }
        // Last, as its diff names the client that differs from the longest transcript rather
        // than the one whose delivery is wrong.
        if self.positions == Positions::PerProvider {
            check_agreement_across_providers(room, &members)?;
        }
        Ok(())
    }
}

/// Agreement of clients of *different* providers on `room`: every client has the same epoch,
/// epoch authenticator, MLS members and participant list as the first, its transcript is in
/// strictly increasing log order, and, compared by sender and content, it is the tail of the
/// longest transcript (a client that joined later has the messages since it joined). Log
/// positions and cursors are not compared: a follower numbers its mirror of the hub's log
/// itself, so they differ between providers.
pub fn check_agreement_across_providers(room: &str, clients: &[&Client]) -> Result<(), CheckFailure> {
    let fail = |client: &Client, what: &str, expected: String, got: String| CheckFailure {
        room: room.to_owned(),
        client: Some(client.uri().to_string()),
        what: what.to_owned(),
        expected,
        got,
    };
    let local = |c: &Client, e: ClientError| fail(c, "reading client state", "ok".into(), e.to_string());
    let Some(first) = clients.first() else { return Ok(()) };
    let reference = (
        first.epoch(room).map_err(|e| local(first, e))?,
        first.epoch_authenticator(room).map_err(|e| local(first, e))?,
        first.members(room).map_err(|e| local(first, e))?,
        first.participants(room).map_err(|e| local(first, e))?,
    );
    let key = |c: &Client| -> Result<Vec<(ClientUri, Vec<u8>)>, CheckFailure> {
        let t = c.transcript(room).map_err(|e| local(c, e))?;
        Ok(t.iter().map(|d| (d.sender.clone(), d.content.clone())).collect())
    };
    let transcripts = clients.iter().map(|c| key(c)).collect::<Result<Vec<_>, _>>()?;
    let longest = transcripts.iter().max_by_key(|t| t.len()).cloned().unwrap_or_default();
    let against = |what: String| format!("{what} (as {} has it)", first.uri());
    for (c, t) in clients.iter().zip(&transcripts) {
        let epoch = c.epoch(room).map_err(|e| local(c, e))?;
        if epoch != reference.0 {
            return Err(fail(c, "epoch", against(reference.0.to_string()), epoch.to_string()));
        }
        let auth = c.epoch_authenticator(room).map_err(|e| local(c, e))?;
        if auth != reference.1 {
            return Err(fail(c, "epoch authenticator", against(hex::encode(&reference.1)), hex::encode(&auth)));
        }
        let list = c.members(room).map_err(|e| local(c, e))?;
        if list != reference.2 {
            return Err(fail(c, "MLS members", against(show_list(&reference.2)), show_list(&list)));
        }
        let participants = c.participants(room).map_err(|e| local(c, e))?;
        if participants != reference.3 {
            let (want, got) = (show_participants(&reference.3), show_participants(&participants));
            return Err(fail(c, "participant list", against(want), got));
        }
        let own = c.transcript(room).map_err(|e| local(c, e))?;
        if !own.windows(2).all(|w| w[0].seq < w[1].seq) {
            return Err(fail(c, "transcript order", "strictly increasing log positions".into(), "not".into()));
        }
        if t.as_slice() != &longest[longest.len() - t.len()..] {
            let show = |t: &[(ClientUri, Vec<u8>)]| {
                format!("[{}]", t.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>().join(", "))
            };
            return Err(fail(c, "transcript (sender and content)", format!("a tail of {}", show(&longest)), show(t)));
        }
    }
    Ok(())
}

/// The first difference between the expected deliveries and a transcript, as (expected, got).
fn transcript_diff(positions: Positions, expected: &[&Delivered], got: &[Delivered]) -> Option<(String, String)> {
    let at = expected.iter().zip(got).position(|(e, g)| !positions.same(e, g));
    let at = match at {
        Some(at) => at,
        None if expected.len() == got.len() => return None,
        None => expected.len().min(got.len()),
    };
    let describe = |d: Option<String>, len: usize| {
        format!("{} at index {at} ({len} deliveries)", d.unwrap_or_else(|| "nothing".into()))
    };
    let want = describe(expected.get(at).map(|d| show(d)), expected.len());
    let mut have = describe(got.get(at).map(show), got.len());
    if let Some(g) = got.get(at) {
        if got[..at].iter().any(|d| positions.same_message(d, g)) {
            have.push_str("; delivered twice");
        } else if let Some(m) = expected.iter().find(|e| positions.same_message(e, g)) {
            if !positions.same(m, g) {
                have.push_str(&format!("; content or sender differs from what {} sent", m.sender));
            }
        } else {
            have.push_str("; not a message for this client");
        }
    }
    Some((want, have))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(seq: u64) -> Delivered {
        Delivered {
            seq,
            epoch: 1,
            sender: ClientUri::new("a.example", "alice", "phone").unwrap(),
            content: vec![seq as u8],
        }
    }

    #[test]
    fn transcript_diff_names_the_first_difference() {
        let (m1, m2, m3) = (d(1), d(2), d(3));
        let expected = [&m1, &m2, &m3];
        let diff = |got: &[Delivered]| transcript_diff(Positions::Shared, &expected, got);
        assert_eq!(diff(&[d(1), d(2), d(3)]), None);
        let (want, got) = diff(&[d(1), d(3)]).unwrap();
        assert!(want.starts_with("seq 2 epoch 1") && want.contains("index 1"), "{want}");
        assert!(got.starts_with("seq 3 epoch 1") && got.contains("(2 deliveries)"), "{got}");
        let (_, got) = diff(&[d(1), d(2), d(3), d(3)]).unwrap();
        assert!(got.contains("index 3") && got.contains("delivered twice"), "{got}");
        let (_, got) = diff(&[d(1), d(2), d(4)]).unwrap();
        assert!(got.contains("not a message for this client"), "{got}");
    }

    #[test]
    fn across_providers_deliveries_compare_by_sender_epoch_and_content() {
        let (m1, m2) = (d(1), d(2));
        let expected = [&m1, &m2];
        let at = |seq: u64, of: &Delivered| Delivered { seq, ..of.clone() };
        let diff = |got: &[Delivered]| transcript_diff(Positions::PerProvider, &expected, got);
        assert_eq!(diff(&[at(7, &m1), at(9, &m2)]), None, "a mirror numbers positions itself");
        let (_, got) = diff(&[at(7, &m1), at(8, &m1)]).unwrap();
        assert!(got.contains("delivered twice"), "{got}");
        let (want, got) = diff(&[at(9, &m2)]).unwrap();
        assert!(want.contains("index 0") && got.contains("index 0"), "{want} / {got}");
        let (_, got) = diff(&[at(7, &m1), Delivered { epoch: 2, ..at(9, &m2) }]).unwrap();
        assert!(got.contains("content or sender differs"), "{got}");
    }
}
