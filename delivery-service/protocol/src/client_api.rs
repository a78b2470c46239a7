//! Bodies of the provider-internal client API (`/client/v1/...`, served by `mimi_ds::api::client`).
//! Not MIMI: the drafts leave client ↔ provider to each provider. Declared here with the other
//! structures so that every byte the server and its clients exchange comes from one place; MLS payloads
//! are the same TLS-PL objects the MIMI endpoints carry.

use openmls::prelude::MlsMessageIn;
use tls_codec::{TlsDeserialize, TlsSerialize, TlsSize};

use super::notify::FanoutMessage;
use super::ratchet_tree::RatchetTreeOption;
use super::{Body, IdentifierUri};

/// `POST /client/v1/keyPackages`: KeyPackages of the calling client, each an MLSMessage.
#[derive(Debug, Clone, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct KeyPackageUpload {
    /// The KeyPackages (MLSMessage with wire format `mls_key_package`).
    pub key_packages: Vec<MlsMessageIn>,
}

impl Body for KeyPackageUpload {
    const NAME: &'static str = "KeyPackageUpload";
}

/// One accepted item of a room log, as a client reads it.
#[derive(Debug, Clone, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct RoomEntry {
    /// Its position in the room log (hub order); clients deduplicate by (room, seq).
    pub seq: u64,
    /// The MLS epoch it was sent in.
    pub epoch: u64,
    /// The message as it is fanned out to followers.
    pub fanout: FanoutMessage,
}

/// `GET /client/v1/rooms/{roomId}/log?after=N`: the entries after `N`, minus the caller's own
/// (the sending client already has its own messages, so their echo is dropped).
#[derive(Debug, Clone, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct RoomEntries {
    /// The cursor to pass as `after` next time (the last position examined, which may be an
    /// entry of the caller's own that was left out).
    pub next_after: u64,
    /// The entries, in hub order.
    pub entries: Vec<RoomEntry>,
}

impl Body for RoomEntries {
    const NAME: &'static str = "RoomEntries";
}

/// A Welcome for the calling client.
#[derive(Debug, Clone, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct WelcomeItem {
    /// Position in the client's queue.
    pub seq: u64,
    /// The room joined.
    pub room: IdentifierUri,
    /// The log position of the commit that added the client: read the room log after it.
    pub after_seq: u64,
    /// The Welcome (an MLSMessage).
    pub welcome: MlsMessageIn,
    /// How to get the ratchet tree if the Welcome does not carry it.
    pub ratchet_tree_option: RatchetTreeOption,
}

/// `GET /client/v1/queue?after=N`: the caller's Welcomes after `N`.
#[derive(Debug, Clone, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct ClientQueue {
    /// The items, in order.
    pub items: Vec<WelcomeItem>,
}

impl Body for ClientQueue {
    const NAME: &'static str = "ClientQueue";
}
