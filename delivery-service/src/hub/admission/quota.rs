//! Quotas: how much one party may make the provider hold, as plain decisions over counts the
//! caller gathers (no I/O). A quota refuses a request that would take a count beyond its cap;
//! a refused request changes nothing. The caps are configured ([`Quotas`], `crate::config`);
//! each refusal names its [`Quota`], which `/metrics` counts in `mimi_quota_refused_total`
//! under the label [`Quota::label`] (docs/DESIGN.md §7, "Quotas").
//!
//! The counts are the store's where they must be exact under concurrency (KeyPackages per
//! client, rooms per user, abuse reports per reporter: the store applies the rule inside the
//! transaction that would write, so two racing requests cannot both pass), and the room's own
//! for what the room's decision lock already serialises (members, pending proposals).

use crate::hub::{Accepted, Room};

/// Default cap on the unclaimed KeyPackages one client keeps in the directory.
pub const DEFAULT_KEY_PACKAGES_PER_CLIENT: usize = 200;
/// Default cap on the rooms of this hub one user's clients create.
pub const DEFAULT_ROOMS_PER_USER: usize = 1000;
/// Default cap on the members (clients) of one room.
pub const DEFAULT_MEMBERS_PER_ROOM: usize = 20_000;
/// Default cap on the proposals the hub accepts in one epoch of one room.
pub const DEFAULT_PROPOSALS_PER_EPOCH: usize = 1000;
/// Default cap on the abuse reports one reporter files about one room.
pub const DEFAULT_ABUSE_REPORTS_PER_REPORTER: usize = 100;

/// The configured caps (`crate::config`: one key each, defaults above).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// Unclaimed KeyPackages per client (`max_key_packages_per_client`).
    pub key_packages_per_client: usize,
    /// Rooms of this hub created by the clients of one user (`max_rooms_per_user`).
    pub rooms_per_user: usize,
    /// Members of one room after a commit that adds clients (`max_members_per_room`).
    pub members_per_room: usize,
    /// Proposals accepted in one epoch of one room (`max_proposals_per_epoch`).
    pub proposals_per_epoch: usize,
    /// Abuse reports kept per (reporter, room) (`max_abuse_reports_per_reporter`).
    pub abuse_reports_per_reporter: usize,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            key_packages_per_client: DEFAULT_KEY_PACKAGES_PER_CLIENT,
            rooms_per_user: DEFAULT_ROOMS_PER_USER,
            members_per_room: DEFAULT_MEMBERS_PER_ROOM,
            proposals_per_epoch: DEFAULT_PROPOSALS_PER_EPOCH,
            abuse_reports_per_reporter: DEFAULT_ABUSE_REPORTS_PER_REPORTER,
        }
    }
}

impl Quotas {
    /// No caps at all: for in-process callers that bring their own bounds (tests, benches).
    pub fn unlimited() -> Self {
        Quotas {
            key_packages_per_client: usize::MAX,
            rooms_per_user: usize::MAX,
            members_per_room: usize::MAX,
            proposals_per_epoch: usize::MAX,
            abuse_reports_per_reporter: usize::MAX,
        }
    }
}

/// Which quota refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quota {
    /// KeyPackages per client.
    KeyPackagesPerClient,
    /// Rooms per user.
    RoomsPerUser,
    /// Members per room.
    MembersPerRoom,
    /// Proposals per epoch.
    ProposalsPerEpoch,
    /// Abuse reports per reporter and room.
    AbuseReportsPerReporter,
    /// A `/notify` for a room in which this provider has no readers.
    NotifyWithoutReaders,
    /// A request body larger than its route allows.
    BodyBytes,
}

impl Quota {
    /// Every quota, for tests and for `/metrics` to show each at zero.
    pub const ALL: [Quota; 7] = [
        Quota::KeyPackagesPerClient,
        Quota::RoomsPerUser,
        Quota::MembersPerRoom,
        Quota::ProposalsPerEpoch,
        Quota::AbuseReportsPerReporter,
        Quota::NotifyWithoutReaders,
        Quota::BodyBytes,
    ];

    /// The `quota` label of `mimi_quota_refused_total`.
    pub fn label(self) -> &'static str {
        match self {
            Quota::KeyPackagesPerClient => "key_packages_per_client",
            Quota::RoomsPerUser => "rooms_per_user",
            Quota::MembersPerRoom => "members_per_room",
            Quota::ProposalsPerEpoch => "proposals_per_epoch",
            Quota::AbuseReportsPerReporter => "abuse_reports_per_reporter",
            Quota::NotifyWithoutReaders => "notify_without_readers",
            // The server counts these itself, under `crate::metrics::BODY_BYTES_QUOTA`.
            Quota::BodyBytes => "body_bytes",
        }
    }
}

/// A request refused by a quota, with what it would have made of the count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} would hold {would_hold}, more than the {cap} allowed ({})", quota.label())]
pub struct QuotaRefusal {
    /// Which quota.
    pub quota: Quota,
    /// Whose count: a client, a user, a room, a (reporter, room).
    pub what: String,
    /// The count the request would have made.
    pub would_hold: usize,
    /// The cap.
    pub cap: usize,
}

/// A count of `held` plus `adding` against `cap`: refused if it would exceed the cap.
fn within(
    quota: Quota,
    what: impl FnOnce() -> String,
    held: usize,
    adding: usize,
    cap: usize,
) -> Result<(), QuotaRefusal> {
    let would_hold = held.saturating_add(adding);
    if would_hold > cap {
        return Err(QuotaRefusal { quota, what: what(), would_hold, cap });
    }
    Ok(())
}

/// An upload of `adding` KeyPackages by `client`, which keeps `held` unexpired ones.
pub fn key_packages(client: &str, held: usize, adding: usize, cap: usize) -> Result<(), QuotaRefusal> {
    within(Quota::KeyPackagesPerClient, || format!("the KeyPackages of {client}"), held, adding, cap)
}

/// A new room created by a client of `user`, whose clients created `held` rooms here.
pub fn rooms(user: &str, held: usize, cap: usize) -> Result<(), QuotaRefusal> {
    within(Quota::RoomsPerUser, || format!("the rooms of {user}"), held, 1, cap)
}

/// A commit to `room` of `members` clients that adds `adds` and removes `removes` clients. Only
/// a commit that adds is refused: one that removes or only updates always goes through, so a
/// room above a lowered cap can still shrink.
pub fn members(room: &str, members: usize, adds: usize, removes: usize, cap: usize) -> Result<(), QuotaRefusal> {
    if adds == 0 {
        return Ok(());
    }
    within(Quota::MembersPerRoom, || format!("room {room}"), members.saturating_sub(removes), adds, cap)
}

/// The room's quotas on a handshake the sequencer accepted for `room` (decided under the room's
/// lock, so the counts are the room's own): a commit's Adds against
/// [`Quotas::members_per_room`], standalone proposals against [`Quotas::proposals_per_epoch`]
/// (the next commit, which must include them all, empties the epoch's count).
pub fn admit_accepted(room: &Room, accepted: &Accepted, quotas: &Quotas) -> Result<(), QuotaRefusal> {
    match accepted {
        Accepted::Commit { staged, .. } => members(
            room.id(),
            room.member_count(),
            staged.add_proposals().count(),
            staged.remove_proposals().count(),
            quotas.members_per_room,
        ),
        Accepted::Proposals(proposals) => {
            self::proposals(room.id(), room.pending_count(), proposals.len(), quotas.proposals_per_epoch)
        }
        Accepted::Application => Ok(()),
    }
}

/// `adding` standalone proposals for `room`, which holds `pending` this epoch.
pub fn proposals(room: &str, pending: usize, adding: usize, cap: usize) -> Result<(), QuotaRefusal> {
    within(Quota::ProposalsPerEpoch, || format!("this epoch of {room}"), pending, adding, cap)
}

/// A new (not byte-identical to a kept one) abuse report by `reporter` about `room`, which
/// already filed `held` kept reports about it.
pub fn abuse_reports(reporter: &str, room: &str, held: usize, cap: usize) -> Result<(), QuotaRefusal> {
    within(Quota::AbuseReportsPerReporter, || format!("the reports of {reporter} about {room}"), held, 1, cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_may_reach_its_cap_but_not_pass_it() {
        assert_eq!(key_packages("c", 8, 2, 10), Ok(()));
        let refused = key_packages("c", 8, 3, 10).unwrap_err();
        assert_eq!((refused.quota, refused.would_hold, refused.cap), (Quota::KeyPackagesPerClient, 11, 10));
        assert!(refused.to_string().contains("the KeyPackages of c would hold 11, more than the 10 allowed"));
        assert_eq!(rooms("u", 2, 3), Ok(()));
        assert_eq!(rooms("u", 3, 3).unwrap_err().quota, Quota::RoomsPerUser);
        assert_eq!(proposals("r", 4, 1, 5), Ok(()));
        assert_eq!(proposals("r", 5, 1, 5).unwrap_err().quota, Quota::ProposalsPerEpoch);
        assert_eq!(abuse_reports("p", "r", 1, 2), Ok(()));
        assert_eq!(abuse_reports("p", "r", 2, 2).unwrap_err().quota, Quota::AbuseReportsPerReporter);
        assert_eq!(key_packages("c", usize::MAX, 1, usize::MAX), Ok(()), "no overflow");
    }

    #[test]
    fn only_a_commit_that_adds_is_held_to_the_member_cap() {
        assert_eq!(members("r", 3, 1, 0, 4), Ok(()));
        assert_eq!(members("r", 4, 1, 0, 4).unwrap_err().would_hold, 5);
        assert_eq!(members("r", 4, 1, 1, 4), Ok(()), "a removal in the same commit makes room");
        assert_eq!(members("r", 9, 0, 0, 4), Ok(()), "a room above a lowered cap may still commit");
    }

    #[test]
    fn labels_are_distinct() {
        let labels: std::collections::BTreeSet<_> = Quota::ALL.iter().map(|q| q.label()).collect();
        assert_eq!(labels.len(), Quota::ALL.len());
    }
}
