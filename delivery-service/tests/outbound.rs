//! Where a provider may be made to connect: a domain taken from a URI a client sends (an
//! identifier-query domain, the authority of a room of another hub) is a peer provider's domain only
//! if it is a DNS name. An address or a port (`127.0.0.1:PORT`, `localhost:PORT`) is refused with
//! 400 through the real client API before any connection is attempted: a listener on that very
//! port sees nobody.

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
