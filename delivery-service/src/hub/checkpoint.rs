//! A checkpoint of a room's public state: the `PublicGroup` as openmls stores it (tree, group
//! context, transcript hash, confirmation tag, proposal queue) plus the hub's own bookkeeping.
//!
//! openmls keeps a `PublicGroup`'s state in a storage provider; the hub gives each room its own
//! in-memory one, so a checkpoint is simply that map's contents. Writing one costs the size of
//! the group (a 10k-member tree is ~10 MB), so the caller writes checkpoints only every so many
//! log entries; between them, restart replays the log tail (see `Room::restore`).

use tls_codec::{TlsDeserialize, TlsSerialize, TlsSize, VLBytes};

/// One storage key and value of the room's `PublicGroup`.
#[derive(Debug, Clone, PartialEq, Eq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct StorageItem {
    /// openmls' storage key.
    pub key: VLBytes,
    /// openmls' stored value.
    pub value: VLBytes,
}

/// A client that left the group (removed, banned, or by SelfRemove), and the log position of
/// the commit that removed it: the last entry it may still read, so that a device that was
/// offline when it was removed can fetch what it was sent while a member, up to its removal.
#[derive(Debug, Clone, PartialEq, Eq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct Departure {
    /// The client URI (UTF-8).
    pub client: VLBytes,
    /// The log position of the commit that removed it.
    pub seq: u64,
}

/// Everything needed to rebuild a room at a log position.
#[derive(Debug, Clone, PartialEq, Eq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct Checkpoint {
    /// The room URI (UTF-8).
    pub room_id: VLBytes,
    /// The MLS group ID.
    pub group_id: VLBytes,
    /// The last log entry included in this state (0 = none).
    pub seq: u64,
    /// The `PublicGroup`'s storage, sorted by key.
    pub storage: Vec<StorageItem>,
    /// Proposals accepted in the current epoch, as (seq of their log entry).
    pub pending_seqs: Vec<u64>,
    /// The newest GroupInfo a committer supplied (an MLSMessage), empty if none.
    pub group_info: VLBytes,
    /// Clients that left the group and have not rejoined, sorted by client URI.
    pub departed: Vec<Departure>,
}
