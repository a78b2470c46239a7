//! Test support shared by the delivery-service integration tests: the workspace's test client and
//! conversions (`mimi_testkit::prelude`: `Client`, `to_in`, `bundle_of`, `proposal_bundle`, `CS`, …),
//! plus what is particular to these tests: the room they all use and its creation with a given hub key.
#![allow(dead_code)]

pub mod harness;

pub use mimi_testkit::prelude::*;

/// The room of these tests.
pub const ROOM: &str = "mimi://a.example/r/club";

/// `alice` creates a cooperative room (her user as group admin) whose GroupContext names `hub_key`
/// (of hub `a.example`) as external sender; returns the GroupInfo MLSMessage (with the tree) for the hub.
pub fn create_group(alice: &mut Client, hub_key: &[u8]) -> Vec<u8> {
    let group_info = alice.create_room(&RoomSetup::cooperative(DOMAIN, hub_key)).unwrap();
    openmls::prelude::tls_codec::Serialize::tls_serialize_detached(&group_info).unwrap()
}

/// An HTTPS client that trusts the test CA at `ca` and reaches `a.example` at `addr`.
pub fn https_client(ca: &std::path::Path, addr: std::net::SocketAddr) -> reqwest::Client {
    let roots = mimi_ds::tls::load_roots(ca).unwrap();
    let tls_config = rustls::ClientConfig::builder_with_provider(mimi_ds::tls::crypto_provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder().tls_backend_preconfigured(tls_config).resolve("a.example", addr).build().unwrap()
}
