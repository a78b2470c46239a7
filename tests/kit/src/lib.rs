//! `mimi-testkit`: the one test MLS client of the workspace and the builders of test rooms, for the
//! crates' integration tests, the hub bench and the conformance suite (which is not a test: everything
//! outside [`prelude`] returns [`KitError`] instead of panicking).
//!
//! - [`client`]: [`TestClient`], a real openmls client with the MIMI settings whose credential is its
//!   client URI: KeyPackages, room creation, commits of user-level operations, proposals, joins,
//!   application messages, processing of what other members sent (policy-checked as a member does).
//! - [`room`]: [`RoomSetup`] (the GroupContext a creator sets: the hub as external sender, required
//!   capabilities, participant list and policy), and growing a room: [`Invitee`]s, [`invite_all`] (one
//!   commit of adds with the participant-list update policy requires), [`lightweight_members`]
//!   (KeyPackages without clients, for rooms of thousands).
//! - [`members`]: delivering what the hub sequenced to a room's real members (commits, Welcomes,
//!   proposals).
//! - [`mirror`]: [`HubMirror`], the hub's side as a `PublicGroup` fed the same messages, deciding with
//!   the hub's policy checks.
//! - [`attack`]: what a dishonest member would send — a leaf naming another client, a commit with
//!   another Welcome or a GroupInfo that is not its own — for the tests of the hub's trust rules.
//! - [`prelude`]: panicking conveniences for tests (`Client` = `TestClient` with the `ClientExt`
//!   operations that unwrap, the protocol-06 bundle conversions, the in-sync assertion).
//!
//! Protocol objects come from `mimi_protocol` (`HandshakeBundle::from_commit`, `mls_message::reparse`);
//! room semantics from `mimi_appsync` (`group`, `ops`, `adapter`). The kit adds no encoding or policy of
//! its own.

pub mod attack;
pub mod client;
mod error;
pub mod members;
pub mod mirror;
pub mod prelude;
pub mod room;

pub use client::{tamper_signature, Incoming, TestClient};
pub use error::KitError;
pub use mirror::HubMirror;
pub use room::{invite_all, lightweight_members, Invitee, RoomSetup};
