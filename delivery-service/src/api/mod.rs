//! HTTP routers (axum). Handlers only translate: bytes in → [`crate::wire`] decode →
//! [`crate::provider::Provider`] → wire encode → bytes out, with the status mapping of DESIGN §3
//! (protocol outcomes are 200 with a TLS-PL body; undecodable 400; unauthenticated 401;
//! forbidden 403; unknown room 404; rate limited 429 and store trouble 503, both with
//! `Retry-After`).
//!
//! - [`client`]: the provider-internal client API (`/client/v1/...`).
//! - [`mimi`]: the server-to-server MIMI routes (`/v1/...`, mutually authenticated).

pub mod client;
pub mod mimi;
mod response;

pub use response::ApiError;
