//! `mimi-ds`: the MIMI provider server — hub for the rooms its users create, follower for the others.
//!
//! This crate implements draft-ietf-mimi-protocol-06 on top of openmls 0.9, in the sans-I/O style. The
//! structures providers and clients exchange (and the room-log format) are the `mimi_protocol` crate,
//! shared with clients; this crate is the server around them:
//!
//! - [`hub`]: the sans-I/O sequencer (per-room decisions on handshakes and messages, franking) and, in
//!   [`hub::admission`], every admission rule as a function of the request, the room and looked-up facts.
//! - [`store`]: persistence behind the narrow [`store::Store`] trait: a redb file with a format record,
//!   or memory; one contract suite for both.
//! - [`federation`]: the mTLS peer client, the durable per-peer outbox, relays to hubs and follower intake.
//! - [`api`]: the axum routers: [`api::mimi`] (server-to-server, protocol-06) and [`api::client`] (ours).
//! - [`auth`]: authentication of our own clients (enrollment codes, identity-service JWTs, or open
//!   registration by configuration), bearer tokens and the devices' lifecycle, as plain decisions;
//!   [`admin`]: the operator's commands on them and on rooms, also on a running server (admin socket,
//!   and the admin listener with the hub console).
//! - [`provider`]: the I/O edge of the hub: serialises each room, gathers the facts the rules need,
//!   persists before answering, wakes readers.
//! - [`app`] assembles them into a server ([`server`], [`tls`]); [`config`], [`pki`] and [`metrics`] serve it;
//!   [`init`] writes a set of federated development providers (`mimi-ds init`).
//!
//! Errors: [`Error`] is the wire codecs' error type; the other modules have their own enums (e.g.
//! [`provider::ProviderError`], [`store::StoreError`], [`app::AppError`]) with the context of each failure.

pub mod admin;
pub mod api;
pub mod app;
pub mod auth;
pub mod config;
pub mod error;
pub mod federation;
pub mod hub;
pub mod init;
pub mod metrics;
pub mod pki;
pub mod provider;
pub mod server;
pub mod store;
pub mod tls;

pub use error::Error;

pub use mimi_protocol::{CONTENT_DRAFT, PINNED_DRAFTS, PROTOCOL_DRAFT, ROOM_POLICY_DRAFT};

/// `mimi-ds --version` text: the crate version followed by the pinned drafts.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    mimi_protocol::protocol_draft!(),
    ", ",
    mimi_protocol::room_policy_draft!(),
    ", ",
    mimi_protocol::content_draft!(),
    ")"
);
