//! # mimi-client-sim: simulated MIMI users and devices
//!
//! Clients of the `mimi-client` library driving `mimi-ds` providers through their client API over
//! HTTPS, the way a messaging app would, in scripted, random and load runs that check what every
//! client ends up with:
//!
//! - [`user`]: a [`User`] owning several clients, acting through whichever is online; devices
//!   go offline and come back (a simulation of the user's devices, each of which is one
//!   [`Client`] of `mimi-client`).
//! - [`local`]: a provider started in-process on loopback with its own certificates and store,
//!   or several federated ones sharing a development CA.
//! - [`demo`]: the protocol-06 §3 story across three federated providers as a readable
//!   transcript (`mimi-sim demo`).
//! - [`scenario`]: the TOML scenario format and the built-in scenarios; [`runner`] runs one
//!   against a provider or against several federated ones (users spread over them), checking
//!   the [`checker`] invariants (epoch, epoch authenticator, members, participants, transcript)
//!   after every step.
//! - [`random`]: the random mode: seeded, reproducible concurrent operations (racing commits,
//!   churn, refusals a policy model predicts), checked after every round.
//! - [`load`]: the load mode: rooms built with batched adds, messages at a target rate with
//!   churn, end-to-end latency percentiles, throughput and peak memory as a JSON summary.
//! - [`target`]: running providers addressed by URL (`DOMAIN=https://HOST:PORT` and a CA file).
//!
//! The client types ([`Client`], [`Connection`], [`Session`], [`ClientError`], …) are
//! `mimi-client`'s, re-exported here.
//!
//! The binary (feature `cli`, on by default) `mimi-sim run SCENARIO.toml` (or `--builtin NAME`)
//! runs a scenario against a provider it starts in-process; `mimi-sim random` and `mimi-sim load`
//! run the random and load modes (all three can target running providers with `--provider` and
//! `--ca`); `mimi-sim demo` runs the three-provider demo. Without `cli` the library builds without
//! clap, anyhow and indicatif.

pub mod checker;
pub mod demo;
mod error;
pub mod load;
pub mod local;
mod progress;
pub mod random;
pub mod runner;
pub mod scenario;
pub mod target;
pub mod user;

pub use checker::{CheckFailure, Checker, Positions};
pub use demo::{run_demo, DemoReport};
pub use error::{DemoError, RandomError, ScenarioError};
pub use load::{run_load, Endpoint, LoadConfig, LoadError, LoadReport, Sample, Watch};
pub use local::{LocalError, LocalProvider};
pub use mimi_client::{
    Client, ClientError, CommitReport, Connection, Delivered, Enrollment, LostRace, SentMessage, Session, TlsError,
};
pub use random::{run_random, RandomConfig, RandomReport, RandomRun};
pub use runner::{run_scenario, run_scenario_federated, RunReport, Runner};
pub use scenario::{Scenario, BUILTIN};
pub use user::User;
