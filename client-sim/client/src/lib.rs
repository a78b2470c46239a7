//! # mimi-client: a client of a MIMI provider
//!
//! A device of a user talks to its own provider over the provider's client API. MIMI
//! (draft-ietf-mimi-protocol-06) specifies only provider ↔ provider; this API is ours, served by
//! `mimi-ds` under `/client/v1/`. This crate is the client side: real openmls 0.9 clients with the
//! MIMI room settings of `mimi-appsync`, speaking the structures of `mimi-protocol`. It does not
//! depend on the server.
//!
//! ## The API it speaks
//! HTTPS (TLS trusting a given CA, [`tls`]); every call but `register` and `hubKey` carries the
//! bearer token `register` returned, which expires and is renewed (`token`). Bodies are the TLS-PL structures of protocol-06 (or, for what
//! MIMI leaves to each provider, of `mimi_protocol::client_api`) as `application/octet-stream`;
//! rooms and users in paths are full URIs percent-encoded as one segment. In short:
//!
//! - identity: `register` a user's device (the provider assigns the client URI
//!   `mimi://<domain>/d/<user>/<device>`) with what the provider accepts ([`Enrollment`]: an
//!   enrollment code, a login JWT, another device's session, or nothing where registration is
//!   open), renew its token, upload KeyPackages, fetch the hub's external sender key;
//! - rooms: create one at the provider (which becomes its hub) from the creator's GroupInfo; send
//!   handshakes (`update`, a `HandshakeBundle`) and application messages (`submitMessage`); claim
//!   other users' KeyPackages (`keyMaterial`); fetch a GroupInfo to join externally (`groupInfo`);
//!   report abuse with the hub's frank (`reportAbuse`); look users up (`identifierQuery`);
//! - reading: each room's log from a cursor, in hub order, each entry once, the caller's own
//!   submissions left out (it learns their outcome from its own answers), and the client's queue of
//!   Welcomes; both long-poll.
//!
//! Protocol outcomes (`success`, `wrongEpoch`, `notAllowed`, …) are 200 answers; a `success` is
//! durable when sent. HTTP errors mean nothing was accepted. A room whose hub is another provider
//! is used exactly like a local one: the client's provider relays to the hub and mirrors the log.
//!
//! ## The crate
//! - [`api`]: the API as typed calls: [`Connection`] to a provider, [`Session`] per registered
//!   client.
//! - [`Client`]: one device, generic over openmls' provider (its crypto and MLS storage):
//!   KeyPackages, rooms created with a policy preset and the hub as external sender
//!   ([`commit`]: user-level commits with `mimi_appsync::ops`, invite, remove, ban, unban, roles,
//!   metadata, own devices, leaving by proposals, recovering from lost races), [`join`] (external
//!   joins, resync after lost state), [`messages`] (MIMI content messages, franking, abuse reports),
//!   [`inbox`] (the room log processed in hub order with own submissions located where the hub put
//!   them, Welcomes).
//! - [`ClientError`]: why an operation failed, telling a refusal by the provider from a lost
//!   answer (the request may have been processed) and from a local failure.

pub mod api;
mod client;
pub mod commit;
mod error;
pub mod inbox;
pub mod join;
pub mod messages;
mod room;
pub mod tls;

pub use api::{Connection, Enrollment, Session};
pub use client::{Client, MAX_ATTEMPTS};
pub use commit::{CommitReport, LostRace};
pub use error::ClientError;
pub use inbox::{fanout_messages, join_from_welcome, process_incoming, Incoming};
pub use messages::{Delivered, SentMessage};
pub use mimi_appsync::group::{leaf_capabilities as capabilities, CIPHERSUITE};
pub use tls::TlsError;
