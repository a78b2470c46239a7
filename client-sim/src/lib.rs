//! # mimi-client-sim: simulated MIMI users and devices
//!
//! Real openmls 0.9 clients that drive a `mimi-ds` provider through its client API over HTTPS,
//! the way a messaging app would (issue 6, item 1):
//!
//! - [`api`]: the client API as typed calls ([`Connection`] to a provider, [`Session`] per
//!   registered client).
//! - [`client`]: one device ([`Client`]): its own storage and signer, KeyPackages, room
//!   creation with a policy preset and the hub as external sender, user-level commits built
//!   with `mimi_appsync::ops`, MIMI text messages, the inbox processed in hub order with own
//!   commits merged only where the hub put them, lost races recovered, Welcomes and external
//!   joins; and what checks compare (epoch, epoch authenticator, members, participants,
//!   transcript).
//! - [`user`]: a [`User`] owning several clients, acting through whichever is online.
//! - [`local`]: a provider started in-process on loopback with its own certificates and store.

pub mod api;
pub mod client;
mod error;
pub mod local;
pub mod user;

pub use api::{Connection, Session};
pub use client::{Client, CommitReport, Delivered, LostRace};
pub use error::ClientError;
pub use local::{LocalError, LocalProvider};
pub use user::User;
