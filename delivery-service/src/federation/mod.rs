//! Federation: how this provider talks to the others (protocol-06 over mutually authenticated
//! HTTPS, DESIGN §3–§4).
//!
//! - [`outbox`]: the hub's fanout. The room log is the outbox: each follower provider has a
//!   cursor per room over it, advanced only on `201`; delivery is in order per room, several
//!   rooms at once per peer, with exponential backoff and jitter, honouring `Retry-After`, and
//!   resumes from the durable cursor after a restart.
//!
//! Still to come (see the federation issue): the `/v1/...` server-to-server router (relay of
//! follower requests, `/notify` intake with deduplication), key material across providers,
//! consent, identifier query and abuse reports.

pub mod outbox;
