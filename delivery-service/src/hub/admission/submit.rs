//! Who may submit a handshake to a room of this hub, and the admission of a handshake the
//! sequencer accepted.
//!
//! A local client acts for itself; a peer provider acts for its own clients only (protocol-06
//! §3: a provider is responsible for its users), and only in rooms where it hosts a participant,
//! or with an external commit (whose joiner the room's policy then judges). Of an accepted
//! handshake, the hub further requires that the submitter speaks for its sender and that every
//! Add by value is vouched for by a claim through this hub (see [`super::adds`]).

use mimi_appsync::uri::ClientUri;
use openmls::prelude::{ProtocolMessage, Sender};
use openmls_traits::crypto::OpenMlsCrypto;

use super::adds::{vouch_adds, AddRefusal};
use super::joiner::{admit_joiner, JoinerRefusal};
use super::{HubFacts, Ruling};
use crate::hub::{Accepted, Room};
use mimi_protocol::update::HandshakeBundle;

/// Who submitted a request: a local client (client API) or a peer provider (server-to-server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitter {
    /// An authenticated client of this provider.
    Client(ClientUri),
    /// A provider authenticated by its certificate, by domain.
    Peer(String),
}

impl Submitter {
    /// Whether this submitter may act for the client `sender` (a client URI).
    pub fn speaks_for(&self, sender: &str) -> bool {
        match self {
            Submitter::Client(c) => c.as_str() == sender,
            Submitter::Peer(domain) => ClientUri::parse(sender).is_ok_and(|c| c.domain() == domain),
        }
    }

    /// The provider the submitter belongs to: a client's domain, or the peer itself.
    pub fn domain(&self) -> &str {
        match self {
            Submitter::Client(c) => c.domain(),
            Submitter::Peer(domain) => domain,
        }
    }
}

impl std::fmt::Display for Submitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Submitter::Client(c) => write!(f, "client {c}"),
            Submitter::Peer(d) => write!(f, "provider {d}"),
        }
    }
}

/// The hub of a room: the authority of its URI `mimi://<hub>/r/<name>`.
pub fn hub_of(room_id: &str) -> Option<&str> {
    let rest = room_id.strip_prefix("mimi://")?;
    let (authority, path) = rest.split_once('/')?;
    let name = path.strip_prefix("r/")?;
    (!authority.is_empty() && !name.is_empty()).then_some(authority)
}

/// Whether provider `domain` may submit `bundle` to `room`: it hosts a participant (a listed
/// user or an MLS member of its domain), or the handshake is an external commit (whose joiner
/// the hub then checks against the room's policy, and whose sender must be a client of `domain`,
/// see [`Submitter::speaks_for`]).
///
/// Cheap first: the room's epoch view answers who hosts whom with a lookup (no decode of the
/// room state); only then is the handshake's sender read.
pub fn peer_may_update(room: &Room, domain: &str, bundle: &HandshakeBundle) -> bool {
    room.hosts(domain)
        || matches!(
            bundle.proposal_or_commit.clone().try_into_protocol_message(),
            Ok(ProtocolMessage::PublicMessage(m)) if matches!(m.sender(), Sender::NewMemberCommit)
        )
}

/// Why the hub refuses a handshake it would otherwise accept; answered as `notAllowed` with this
/// text as `errorDescription`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeRefusal {
    /// A peer provider without participants in the room submitted something other than an
    /// external commit.
    #[error("{peer} hosts no participant of {room}")]
    NoParticipant {
        /// The submitting provider.
        peer: String,
        /// The room URI.
        room: String,
    },
    /// The submitter does not speak for the handshake's sender.
    #[error("{submitter} may not submit a handshake of {sender}")]
    NotItsClient {
        /// The submitter, as displayed.
        submitter: String,
        /// The handshake's sender (a client URI, or empty if the credential names no client).
        sender: String,
    },
    /// An Add is not vouched for by a claim.
    #[error(transparent)]
    Add(#[from] AddRefusal),
    /// An external commit's joiner is not one of the hub's registered devices.
    #[error(transparent)]
    Joiner(#[from] JoinerRefusal),
    /// The commit's Welcome does not name exactly the clients it adds.
    #[error(transparent)]
    Welcome(#[from] super::welcome::WelcomeRefusal),
    /// A quota of the room refused it ([`super::quota::admit_accepted`]).
    #[error(transparent)]
    Quota(#[from] super::quota::QuotaRefusal),
}

/// Before the sequencer decides: a peer provider must host a participant of the room, unless it
/// submits an external commit ([`peer_may_update`]). A local client may always submit.
pub fn admit_submitter(room: &Room, submitter: &Submitter, bundle: &HandshakeBundle) -> Result<(), HandshakeRefusal> {
    match submitter {
        Submitter::Peer(domain) if !peer_may_update(room, domain, bundle) => {
            Err(HandshakeRefusal::NoParticipant { peer: domain.clone(), room: room.id().to_owned() })
        }
        _ => Ok(()),
    }
}

/// After the sequencer accepted a handshake of `room_id` signed by `sender` (a client URI): the
/// submitter must speak for the sender, and every Add by value must be vouched for by a claim
/// ([`vouch_adds`]). Returns the KeyPackageRefs whose claims the handshake spends (to be marked
/// used in the transaction that persists it), or the refusal.
pub async fn admit_handshake<F: HubFacts>(
    crypto: &impl OpenMlsCrypto,
    facts: &F,
    room_id: &str,
    submitter: &Submitter,
    sender: &str,
    accepted: &Accepted,
) -> Ruling<Vec<Vec<u8>>, HandshakeRefusal, F::Error> {
    if !submitter.speaks_for(sender) {
        return Ok(Err(HandshakeRefusal::NotItsClient { submitter: submitter.to_string(), sender: sender.to_owned() }));
    }
    // A client URI: `speaks_for` holds only for one.
    let Ok(committer) = ClientUri::parse(sender) else {
        return Ok(Err(HandshakeRefusal::NotItsClient { submitter: submitter.to_string(), sender: sender.to_owned() }));
    };
    if let Err(refusal) = admit_joiner(facts, room_id, &committer, accepted).await? {
        return Ok(Err(refusal.into()));
    }
    Ok(vouch_adds(crypto, facts, room_id, &committer, accepted).await?.map_err(HandshakeRefusal::from))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::admission::memory::{MemoryFacts, TestRoom};
    use crate::hub::admission::{ClaimScope, KeyPackageClaim};
    use openmls_rust_crypto::RustCrypto;

    #[test]
    fn a_client_speaks_for_itself_and_a_provider_for_its_clients() {
        let alice = ClientUri::parse("mimi://a.example/d/alice/phone").unwrap();
        let me = Submitter::Client(alice.clone());
        assert!(me.speaks_for(alice.as_str()));
        assert!(!me.speaks_for("mimi://a.example/d/alice/laptop"));
        assert!(!me.speaks_for(""));
        let b = Submitter::Peer("b.example".into());
        assert!(b.speaks_for("mimi://b.example/d/bob/phone"));
        assert!(!b.speaks_for("mimi://c.example/d/cathy/phone"));
        assert!(!b.speaks_for("mimi://b.example/u/bob"), "a user URI is no client");
        assert!(!b.speaks_for("not a uri"));
        assert_eq!(me.domain(), "a.example");
        assert_eq!(b.domain(), "b.example");
        assert_eq!(me.to_string(), "client mimi://a.example/d/alice/phone");
        assert_eq!(b.to_string(), "provider b.example");
    }

    #[test]
    fn a_room_uri_names_its_hub() {
        assert_eq!(hub_of("mimi://a.example/r/club"), Some("a.example"));
        assert_eq!(hub_of("mimi://a.example/r/"), None);
        assert_eq!(hub_of("mimi:///r/club"), None);
        assert_eq!(hub_of("mimi://a.example/u/alice"), None);
        assert_eq!(hub_of("https://a.example/r/club"), None);
        assert_eq!(hub_of(""), None);
    }

    #[tokio::test]
    async fn a_handshake_of_another_client_is_refused_before_any_add_is_looked_at() {
        let crypto = RustCrypto::default();
        let facts = MemoryFacts::default();
        let room = "mimi://a.example/r/club";
        let alice = Submitter::Client(ClientUri::parse("mimi://a.example/d/alice/phone").unwrap());
        let bob = "mimi://b.example/d/bob/phone";
        let refused = admit_handshake(&crypto, &facts, room, &alice, bob, &Accepted::Application).await.unwrap();
        let refusal = refused.unwrap_err();
        assert!(matches!(refusal, HandshakeRefusal::NotItsClient { .. }));
        assert_eq!(
            refusal.to_string(),
            format!("client mimi://a.example/d/alice/phone may not submit a handshake of {bob}")
        );
        // A peer for a client of another provider, or for a sender that names no client.
        let b = Submitter::Peer("b.example".into());
        let c = "mimi://c.example/d/cathy/phone";
        assert!(admit_handshake(&crypto, &facts, room, &b, c, &Accepted::Application).await.unwrap().is_err());
        assert!(admit_handshake(&crypto, &facts, room, &b, "", &Accepted::Application).await.unwrap().is_err());
        // Its own client with nothing to vouch for: admitted, no claim spent.
        assert_eq!(
            admit_handshake(&crypto, &facts, room, &b, bob, &Accepted::Application).await.unwrap(),
            Ok(Vec::new())
        );
        assert_eq!(facts.lookups(), 0, "no Add, no lookup");
    }

    #[test]
    fn a_peer_submits_only_where_it_hosts_a_participant_or_with_an_external_commit() {
        let mut t = TestRoom::new();
        let bob = t.client("b.example", "bob", "phone");
        let d = t.decide_adds(&[&bob]);
        let (b, c) = (Submitter::Peer("b.example".into()), Submitter::Peer("c.example".into()));
        let a = Submitter::Peer("a.example".into());
        // Before bob joins, b hosts nobody: alice's commit (relayed by b) is refused; a hosts alice.
        assert!(!peer_may_update(&t.room, "b.example", &d.bundle));
        let refusal = admit_submitter(&t.room, &b, &d.bundle).unwrap_err();
        assert_eq!(refusal.to_string(), "b.example hosts no participant of mimi://a.example/r/club");
        assert_eq!(admit_submitter(&t.room, &a, &d.bundle), Ok(()));
        // A local client may always submit.
        assert_eq!(admit_submitter(&t.room, &Submitter::Client(t.alice_uri()), &d.bundle), Ok(()));
        // An external commit is the way in for a provider without participants.
        let mut cathy = t.client("c.example", "cathy", "phone");
        let join = t.external_join(&mut cathy);
        assert_eq!(admit_submitter(&t.room, &c, &join), Ok(()));
        // Once bob is in, b hosts a participant.
        t.room.apply(&d.entry, d.accepted).unwrap();
        assert!(peer_may_update(&t.room, "b.example", &d.bundle));
        assert!(!peer_may_update(&t.room, "c.example", &d.bundle));
    }

    #[tokio::test]
    async fn an_accepted_commit_spends_the_claims_of_its_adds() {
        let mut t = TestRoom::new();
        let cathy = t.client("c.example", "cathy", "phone");
        let d = t.decide_adds(&[&cathy]);
        let alice = Submitter::Client(t.alice_uri());
        let room = t.room.id().to_owned();
        let mut facts = MemoryFacts::default();
        let sender = d.entry.sender_uri().to_owned();
        assert_eq!(sender, t.alice.uri.as_str());
        let admit = async |facts: &MemoryFacts| {
            admit_handshake(&t.crypto, facts, &room, &alice, &sender, &d.accepted).await.unwrap()
        };
        assert!(matches!(admit(&facts).await, Err(HandshakeRefusal::Add(AddRefusal::NotClaimed { .. }))));
        let scope = ClaimScope { provider: "c.example".into(), room: room.clone(), requester: "a.example".into() };
        facts.claims.insert(d.refs[0].clone(), KeyPackageClaim { scope, used: false });
        assert_eq!(admit(&facts).await, Ok(vec![d.refs[0].clone()]));
        // The refusal's text is the Add refusal's.
        facts.claims.clear();
        let text = admit(&facts).await.unwrap_err().to_string();
        assert!(text.contains("not claimed through the hub"), "{text}");
    }
}
