//! # mimi-client-sim: simulated MIMI users and devices
//!
//! Real openmls 0.9 clients that drive a `mimi-ds` provider through its client API over HTTPS,
//! the way a messaging app would (issue 6):
//!
//! - [`api`]: the client API as typed calls ([`Connection`] to a provider, [`Session`] per
//!   registered client).
//! - [`client`]: one device ([`Client`]): its own storage and signer, KeyPackages, room
//!   creation with a policy preset and the hub as external sender, user-level commits built
//!   with `mimi_appsync::ops` (invite, remove, ban, unban, change role, room metadata, own
//!   devices), leaving and SelfRemove by proposals, MIMI content messages (text, reply,
//!   reaction, edit, delete, attachment), the inbox processed in hub order with own commits
//!   merged only where the hub put them, lost races recovered, Welcomes, external joins and
//!   resync after lost state; and what checks compare (epoch, epoch authenticator, members,
//!   participants, transcript).
//! - [`user`]: a [`User`] owning several clients, acting through whichever is online; devices
//!   go offline and come back.
//! - [`local`]: a provider started in-process on loopback with its own certificates and store,
//!   or several federated ones sharing a development CA.
//! - [`demo`]: the protocol-06 §3 story across three federated providers as a readable
//!   transcript (`mimi-sim demo`).
//! - [`scenario`]: the TOML scenario format and the built-in scenarios; [`runner`] runs one
//!   against a provider or against several federated ones (users spread over them), checking
//!   the [`checker`] invariants after every step.
//!
//! - [`random`]: the random mode: seeded, reproducible concurrent operations (racing commits,
//!   churn, refusals a policy model predicts), checked after every round.
//! - [`load`]: the load mode: rooms built with batched adds, messages at a target rate with
//!   churn, end-to-end latency percentiles, throughput and peak memory as a JSON summary.
//! - [`target`]: running providers addressed by URL (`DOMAIN=https://HOST:PORT` and a CA file).
//!
//! The binary `mimi-sim run SCENARIO.toml` (or `--builtin NAME`) runs a scenario against a
//! provider it starts in-process; `mimi-sim random` and `mimi-sim load` run the random and load
//! modes (all three can target running providers with `--provider` and `--ca`); `mimi-sim demo`
//! runs the three-provider demo.

pub mod api;
pub mod checker;
pub mod client;
pub mod demo;
mod error;
pub mod load;
pub mod local;
pub mod random;
pub mod runner;
pub mod scenario;
pub mod target;
pub mod user;

pub use api::{Connection, Session};
pub use checker::{CheckFailure, Checker, Positions};
pub use client::{Client, CommitReport, Delivered, LostRace, SentMessage};
pub use demo::{run_demo, DemoReport};
pub use error::{ClientError, DemoError, RandomError, ScenarioError};
pub use load::{run_load, Endpoint, LoadConfig, LoadError, LoadReport};
pub use local::{LocalError, LocalProvider};
pub use random::{run_random, RandomConfig, RandomReport, RandomRun};
pub use runner::{run_scenario, run_scenario_federated, RunReport, Runner};
pub use scenario::{Scenario, BUILTIN};
pub use user::User;
