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
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls_config)
        .resolve("a.example", addr)
        .no_proxy()
        .build()
        .unwrap()
}

/// A scripted peer provider `domain` (certificates from the dev PKI in `pki`), serving over real
/// mutual TLS on loopback the router `make_router` builds for its bound address; returns that
/// address. It serves until the test ends.
pub async fn scripted_peer(
    pki: &std::path::Path,
    domain: &str,
    make_router: impl FnOnce(std::net::SocketAddr) -> axum::Router,
) -> std::net::SocketAddr {
    let config = mimi_ds::config::Config {
        domain: domain.into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: mimi_ds::config::TlsPaths::dev_pki(pki, domain),
        data_dir: pki.join(domain),
        ..mimi_ds::config::Config::default()
    };
    let server = mimi_ds::server::Server::bind(&config).await.unwrap();
    let addr = server.local_addr();
    let router = make_router(addr);
    tokio::spawn(async move { server.serve(router, &mimi_ds::metrics::Registry::new(), std::future::pending()).await });
    addr
}

/// The configuration of provider `domain` (certificates from the dev PKI in `pki`, data under
/// `pki/<domain>`) with `peer` configured at loopback `peer_addr`.
pub fn config_with_peer(
    pki: &std::path::Path,
    domain: &str,
    peer: &str,
    peer_addr: std::net::SocketAddr,
) -> mimi_ds::config::Config {
    let mut config = mimi_ds::config::Config {
        domain: domain.into(),
        tls: mimi_ds::config::TlsPaths::dev_pki(pki, domain),
        data_dir: pki.join(domain),
        ..mimi_ds::config::Config::default()
    };
    config.peers.insert(peer.into(), format!("https://127.0.0.1:{}", peer_addr.port()).parse().unwrap());
    config
}
