//! One accepted item of a room's log ([`LogEntry`]): the unit the hub persists, replays after a restart
//! and fans out (the room log *is* the outbox: an entry is fanned out from the log, not from a separate
//! queue), and one item of a client's Welcome queue ([`QueueItem`]). This is the stored format of a
//! provider's database; the fanout to other providers and the client API's [`crate::client_api::RoomEntry`]
//! are built from it ([`LogEntry::fanouts_for`], [`LogEntry::to_fanout`]).

use tls_codec::{TlsDeserialize, TlsSerialize, TlsSize, VLBytes};

use crate::franking::Frank;

mod fanout;

/// What a log entry carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, TlsSerialize, TlsDeserialize, TlsSize)]
#[repr(u8)]
pub enum EntryKind {
    /// A commit (a PublicMessage), with `extra` the stapled hub proposals (`externalProposals`).
    Commit = 1,
    /// A standalone proposal (a PublicMessage), with `extra` the `moreProposals`.
    Proposal = 2,
    /// An application message (a PrivateMessage), with `extra` unused.
    Application = 3,
}

/// An accepted handshake or message, in hub order.
#[derive(Debug, Clone, PartialEq, Eq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct LogEntry {
    /// Position in the room log, from 1, without gaps.
    pub seq: u64,
    /// The epoch the message was sent in.
    pub epoch: u64,
    /// Hub acceptance time, milliseconds since the UNIX epoch.
    pub accepted_ms: u64,
    /// What `message` is.
    pub kind: EntryKind,
    /// The MLSMessage as received.
    pub message: VLBytes,
    /// Further MLSMessages sent with it (see [`EntryKind`]).
    pub extra: Vec<VLBytes>,
    /// The submitting client's URI (UTF-8), so its own provider can drop the echo; empty for
    /// hub-originated entries.
    pub sender: VLBytes,
    /// The other providers this entry is fanned out to (domains, UTF-8), decided when it was
    /// accepted: those hosting a member at its epoch, plus a joiner's provider for an external
    /// commit (so a commit also reaches the providers of the clients it removes, and the
    /// committer's own). The hub's own domain is never listed: its clients read the log.
    pub peers: Vec<VLBytes>,
    /// For a commit: the new epoch's GroupInfo (bare RFC 9420 encoding) if the committer sent it
    /// whole; kept so a restart restores what external joiners are given. Not fanned out.
    pub group_info: VLBytes,
    /// For a commit that adds clients of other providers: its Welcome (an MLSMessage), fanned
    /// out after the commit to [`LogEntry::welcome_peers`] only; empty otherwise. Local joiners
    /// get it through their queue instead.
    pub welcome: VLBytes,
    /// The providers the Welcome goes to: those the KeyPackages it names were claimed from.
    pub welcome_peers: Vec<VLBytes>,
    /// For an application message in a room with a franking agent whose authenticated data has
    /// a `frank_aad`: the hub's frank (see [`crate::franking`]), fanned out with the message and
    /// shown to readers; `None` otherwise. A follower's mirror keeps the frank it received.
    pub frank: Option<Frank>,
}

/// Something for one client only, outside any room log: a Welcome (routed by the KeyPackageRef
/// it names) telling the client which room it joined and from which log position to read.
#[derive(Debug, Clone, PartialEq, Eq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct QueueItem {
    /// Position in the client's queue, from 1, without gaps.
    pub seq: u64,
    /// The room URI (UTF-8).
    pub room: VLBytes,
    /// The log position of the commit that added the client: read the room log after it.
    pub after_seq: u64,
    /// The Welcome (an MLSMessage).
    pub welcome: VLBytes,
    /// The room's ratchet tree after that commit (RFC 9420 encoding), for joiners whose Welcome
    /// does not carry it.
    pub ratchet_tree: VLBytes,
}
