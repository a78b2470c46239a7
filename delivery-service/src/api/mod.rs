//! HTTP routers (axum). Handlers only translate: bytes in → [`mimi_protocol`] decode →
//! [`crate::provider::Provider`] → wire encode → bytes out, with one status mapping for all
//! (`response.rs`; protocol outcomes are 200 with a TLS-PL body; undecodable 400; unauthenticated
//! 401; forbidden 403; unknown room 404; rate limited 429; faults of the server 5xx: 500 its own,
//! 502 another provider's answer, 503 storage trouble or an unreachable peer, with the request's
//! id and, for 503, `Retry-After`).
//!
//! - [`client`]: the provider-internal client API (`/client/v1/...`).
//! - [`mimi`]: the server-to-server MIMI routes (`/v1/...`, mutually authenticated).
//! - [`request_id`]: the id each request gets, which answers to server faults carry.

pub mod client;
pub mod mimi;
pub mod request_id;
mod response;

pub use response::ApiError;
