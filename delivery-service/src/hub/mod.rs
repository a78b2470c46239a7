//! The hub's sequencer: per-room decisions without I/O.
//!
//! A [`Room`] holds what the hub knows about one room (its `PublicGroup`, the proposals accepted
//! this epoch, the log position) and turns a request — a handshake bundle or an application
//! message, plus the current time — into a [`decision`](room::UpdateDecision): the protocol
//! answer and, when accepted, the [`LogEntry`] to persist and fan out. Nothing here reads a
//! clock, touches a socket or a database: the caller persists the entry, *then* applies the
//! decision to the room (`Room::apply`), *then* answers. That order is what makes an answer of
//! `success` a promise, and it lets the simulator and tests drive rooms directly.
//!
//! [`admission`] holds the hub's rules around the sequencer: who may submit, which Adds a claim
//! vouches for, where Welcomes go, who may fetch a GroupInfo, which key-material claims are
//! served. [`identity`] holds members to the client their leaf names and checks a committed
//! GroupInfo against the commit. [`components`] holds leaves to the components a room requires and
//! messages to its Safe AAD framing (mls-extensions-10). [`franking`] decides whether an accepted application message is franked and checks
//! abuse reports, with the keys passed in. The hub stores and forwards the bytes it received
//! ([`received`], [`outgoing`]).
//!
//! A follower's relayed request and a local client's request reach the same functions: the
//! hub logic never asks where a submission came from.

pub mod admission;
mod checkpoint;
pub mod components;
pub mod franking;
pub mod identity;
pub mod outgoing;
pub mod received;
mod room;

pub use checkpoint::{Checkpoint, Departure};
pub use mimi_protocol::log::{EntryKind, LogEntry, QueueItem};
pub use room::{Accepted, HubError, LogAccess, Readers, Room, SubmitDecision, UpdateDecision};
