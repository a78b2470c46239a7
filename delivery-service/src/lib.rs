//! `mimi-ds`: the MIMI provider server — hub for the rooms its users create, follower for the others.
//!
//! This crate implements draft-ietf-mimi-protocol-06 on top of openmls 0.9 (see `DESIGN.md` in the
//! shared folder for the blueprint). It is split in the sans-I/O style:
//!
//! - [`wire`]: the TLS-presentation-language structures of protocol-06 that providers exchange, each
//!   declared once with `tls_codec` derives, with bounded decoding and the signature and HPKE helpers the
//!   draft defines. Everything else builds on these types.
//! - [`hub`]: the sans-I/O sequencer: per-room decisions on handshakes and messages, log entries, franking.
//! - [`store`]: persistence behind the narrow [`store::Store`] trait, on one redb file with a format record.
//! - [`federation`]: the mTLS peer client, the durable per-peer outbox, relays to hubs and follower intake.
//! - [`api`]: the axum routers: [`api::mimi`] (server-to-server, protocol-06) and [`api::client`] (ours).
//! - [`provider`]: the I/O edge of the hub: serialises each room, persists before answering, routes Welcomes.
//! - [`app`] assembles them into a server ([`server`], [`tls`]); [`config`], [`pki`] and [`metrics`] serve it.
//!
//! Errors: [`Error`] is the wire codecs' error type; the other modules have their own enums (e.g.
//! [`provider::ProviderError`], [`store::StoreError`], [`app::AppError`]) with the context of each failure.

pub mod api;
pub mod app;
pub mod config;
pub mod error;
pub mod federation;
pub mod hub;
pub mod metrics;
pub mod pki;
pub mod provider;
pub mod server;
pub mod store;
pub mod tls;
pub mod wire;

pub use error::Error;

/// Defines a `&'static str` constant and a macro producing the same literal, so the value can also be
/// used inside `concat!` (for [`LONG_VERSION`]) without being spelled twice.
macro_rules! pinned_draft {
    ($(#[$doc:meta])* $name:ident, $mac:ident, $value:literal) => {
        macro_rules! $mac {
            () => {
                $value
            };
        }
        $(#[$doc])*
        pub const $name: &str = $mac!();
    };
}

pinned_draft!(
    /// The MIMI protocol draft this crate implements (DESIGN §3).
    PROTOCOL_DRAFT,
    protocol_draft,
    "draft-ietf-mimi-protocol-06"
);
pinned_draft!(
    /// The room-policy draft whose components and rules this crate enforces (DESIGN §3).
    ROOM_POLICY_DRAFT,
    room_policy_draft,
    "draft-ietf-mimi-room-policy-03"
);
pinned_draft!(
    /// The content-format draft clients use for application messages (DESIGN §3).
    CONTENT_DRAFT,
    content_draft,
    "draft-ietf-mimi-content-09"
);

/// The pinned drafts, in the order they are reported (directory document, `mimi-ds --version`).
pub const PINNED_DRAFTS: [&str; 3] = [PROTOCOL_DRAFT, ROOM_POLICY_DRAFT, CONTENT_DRAFT];

/// `mimi-ds --version` text: the crate version followed by the pinned drafts.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    protocol_draft!(),
    ", ",
    room_policy_draft!(),
    ", ",
    content_draft!(),
    ")"
);
