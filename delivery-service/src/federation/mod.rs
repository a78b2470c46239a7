//! Federation: how this provider talks to the others (protocol-06 over mutually authenticated
//! HTTPS, docs/DESIGN.md §3–§4).
//!
//! - [`peers`]: outbound calls through each peer's directory, `From: mimi@<our domain>`.
//! - [`outbox`]: the hub's fanout. The room log is the outbox: each follower provider has a
//!   cursor per room over it, advanced only on `201`; delivery is in order per room, several
//!   rooms at once per peer, with exponential backoff and jitter, honouring `Retry-After`, and
//!   resumes from the durable cursor after a restart. A commit's Welcome for remote joiners
//!   goes only to the providers their KeyPackages were claimed from.
//! - [`follower`]: the follower role: `/notify` intake (deduplicated) into a per-room mirror
//!   log that local clients read with the same client API, Welcomes routed to local clients,
//!   echoes of a local client's own submissions dropped for it.
//! - [`relay`]: local clients' requests for rooms whose hub is another provider, forwarded to
//!   that hub; key-material claims forwarded hub → target provider.
//!
//! - [`consent`]: `requestConsent`/`updateConsent` and the consent check on claims.
//! - [`trust`]: what a peer may speak for (its own domain's clients and users).
//! - [`identifier`]: `identifierQuery`, which local user a query names (a local client's query
//!   for another domain goes straight to that provider, [`relay::Relay::identifier_query`]).
//!
//! Franking and abuse reports: decided in [`crate::hub::franking`]; the frank travels with the
//! message in the fanout and the follower's mirror; a follower relays its client's report to the
//! room's hub like its other requests.

pub mod consent;
pub mod follower;
pub mod identifier;
pub mod outbox;
pub mod peers;
pub mod relay;
pub mod trust;
