//! Where a provider may be made to connect: a domain taken from a URI a client sends (an
//! identifier-query domain, the authority of a room of another hub) is a peer provider's domain only
//! if it is a DNS name. An address or a port (`127.0.0.1:PORT`, `localhost:PORT`) is refused with
//! 400 through the real client API before any connection is attempted: a listener on that very
//! port sees nobody.
//!
//! A peer's directory is its word too: a directory whose endpoints name an address (or a port,
//! for a peer whose address the operator did not configure) is refused as a whole, before any
//! of them is called.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mimi_appsync::ops::UserOperation;
use mimi_ds::config::Registration;
use mimi_protocol::directory::encode_path_segment;
use mimi_protocol::identifier::{IdentifierRequest, QueryElement, SearchField};
use mimi_protocol::update::UpdateRequest;
use mimi_protocol::Body;
use reqwest::StatusCode;
use support::harness::*;
use support::*;

/// A listener on loopback that counts the connections it is offered.
async fn counting_listener() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((_socket, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
        }
    });
    (port, count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_that_names_an_address_or_a_port_is_refused_without_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(dir.path(), Registration::Open).await;
    let token = h.registered("alice", "phone", None, None).await;
    let (port, connections) = counting_listener().await;

    // Identifier queries for a "domain" that is an address with a port, or a name with one.
    let query = IdentifierRequest {
        query_elements: vec![QueryElement { search: SearchField::Handle, search_value: "@bob".into() }],
        id_request_extensions: Default::default(),
    }
    .encode()
    .unwrap();
    for domain in [format!("127.0.0.1:{port}"), format!("localhost:{port}"), "127.0.0.1".to_owned()] {
        let path = format!("/client/v1/identifierQuery/{}", encode_path_segment(&domain));
        let (status, body) = h.post(&path, Some(&token), query.clone()).await;
        let text = String::from_utf8_lossy(&body);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{domain}: {text}");
        assert!(text.contains("is not a provider domain"), "{domain}: {text}");
    }

    // A handshake for a room whose hub would be that address.
    let room = format!("mimi://127.0.0.1:{port}/r/club");
    let mut alice = Client::new("alice", "phone");
    create_group(&mut alice, &[7; 32]);
    let commit = alice.commit(UserOperation::default());
    let body = UpdateRequest { bundle: bundle_of(&commit) }.encode().unwrap();
    let path = format!("/client/v1/rooms/{}/update", encode_path_segment(&room));
    let (status, body) = h.post(&path, Some(&token), body).await;
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("is not a room URI mimi://<hub>/r/<name> with a provider domain as hub"), "{text}");

    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(connections.load(Ordering::SeqCst), 0, "the provider connected to the address it was given");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_naming_an_address_is_refused_without_connecting() {
    use axum::routing::get;
    use mimi_ds::federation::peers::{PeerError, Peers};
    use mimi_ds::tls::PeerClient;
    use mimi_protocol::directory::{Directory, Endpoint, DIRECTORY_PATH};

    let dir = tempfile::tempdir().unwrap();
    mimi_ds::pki::generate(dir.path(), &["a.example".to_owned(), "b.example".to_owned()]).unwrap();
    let (port, connections) = counting_listener().await;
    // b.example serves a directory that sends every call to 127.0.0.1:<port>.
    let evil = Directory::ours(&format!("https://127.0.0.1:{port}")).to_json();
    let b_addr = scripted_peer(dir.path(), "b.example", move |_| {
        axum::Router::new().route(DIRECTORY_PATH, get(move || async move { evil.clone() }))
    })
    .await;

    let a_config = config_with_peer(dir.path(), "a.example", "b.example", b_addr);
    let peers = Peers::new("a.example", PeerClient::new(&a_config).unwrap());
    let answer = peers.post("b.example", Endpoint::Notify, "mimi://a.example/r/club", vec![1, 2, 3]).await;
    match answer {
        Err(PeerError::Directory { peer, why }) => {
            assert_eq!(peer, "b.example");
            assert!(why.contains("its host is an address, not a DNS name"), "{why}");
        }
        other => panic!("expected the directory to be refused, got {other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(connections.load(Ordering::SeqCst), 0, "the provider connected where the directory said");
}

#[test]
fn directory_endpoints_must_be_https_at_a_dns_name_on_the_configured_port() {
    use mimi_ds::config::{Config, TlsPaths};
    use mimi_ds::tls::PeerClient;

    let dir = tempfile::tempdir().unwrap();
    mimi_ds::pki::generate(dir.path(), &["a.example".to_owned()]).unwrap();
    let mut config =
        Config { domain: "a.example".into(), tls: TlsPaths::dev_pki(dir.path(), "a.example"), ..Config::default() };
    config.peers.insert("b.example".into(), "https://127.0.0.1:8444".parse().unwrap());
    let client = PeerClient::new(&config).unwrap();
    for (peer, url, ok) in [
        ("c.example", "https://mimi.c.example/v1/notify/x", true),
        ("c.example", "https://c.example:443/v1/notify/x", true),
        ("c.example", "https://c.example:6379/v1/notify/x", false),
        ("b.example", "https://b.example:8444/v1/notify/x", true),
        ("c.example", "http://c.example/v1/notify/x", false),
        ("c.example", "https://10.0.0.7/v1/notify/x", false),
        ("b.example", "https://[::1]:8444/v1/notify/x", false),
        ("c.example", "https://c_example/v1/notify/x", false),
    ] {
        assert_eq!(client.check_endpoint(peer, url).is_ok(), ok, "{peer}: {url}");
    }
}
