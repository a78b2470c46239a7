//! Who may fetch a room's GroupInfo (protocol-06 §5.6), and whether the hub has one for the
//! current epoch.
//!
//! The request must be validly signed. A client's request (for an external join): its user is a
//! listed participant with a role that allows clients, or is preauthorised (the `preauth_list` of
//! room-policy). A provider's request (a follower building its copy of the room to check what the
//! hub fans out): the credential is exactly the provider credential `mimi://<domain>` of the
//! mTLS-authenticated caller, and that provider hosts a participant of the room (a listed user or
//! a member client of its domain). Anything else, an unknown room included, is answered
//! `notAuthorized`, so that a room's existence is not revealed.

use mimi_appsync::state::RoomState;
use mimi_appsync::uri::{ClientUri, UserUri};
use openmls::messages::group_info::VerifiableGroupInfo;
use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::Credential;
use openmls_traits::crypto::OpenMlsCrypto;

use super::Internal;
use crate::hub::Room;
use mimi_protocol::group_info::GroupInfoRequest;

/// Why a GroupInfo is not handed out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupInfoRefusal {
    /// The request's signature does not verify (`notAuthorized`).
    #[error("the request's signature does not verify")]
    BadSignature,
    /// The requesting credential names no client (`notAuthorized`).
    #[error("the requesting credential names no client")]
    NoClient,
    /// The requesting client is neither a participant allowed to have clients nor
    /// preauthorised, or the requesting provider hosts no participant (`notAuthorized`).
    #[error("{requester} is neither a participant nor preauthorised, nor a provider of one")]
    NotAuthorized {
        /// The requesting client.
        requester: String,
    },
    /// The hub holds no GroupInfo for the room's current epoch (the last committer sent a
    /// partial one); the requester may retry after the next commit.
    #[error("the hub has no GroupInfo for the current epoch")]
    Stale,
}

/// Who asks for a GroupInfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupInfoRequester {
    /// A client, named by the request's credential (an external joiner).
    Client(ClientUri),
    /// A provider, by its domain (lowercase): the request's credential is its provider credential
    /// `mimi://<domain>` and the provider is the mTLS-authenticated caller (a follower).
    Provider(String),
}

impl std::fmt::Display for GroupInfoRequester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GroupInfoRequester::Client(c) => write!(f, "{c}"),
            GroupInfoRequester::Provider(d) => write!(f, "mimi://{d}"),
        }
    }
}

/// Whether `credential` is the provider credential `mimi://<peer>` (the domain compared
/// case-insensitively).
pub fn is_provider_credential(credential: &Credential, peer: &str) -> bool {
    let identity = credential.serialized_content();
    identity.len() == "mimi://".len() + peer.len()
        && identity.starts_with(b"mimi://")
        && identity["mimi://".len()..].eq_ignore_ascii_case(peer.as_bytes())
}

/// Checks a request's signature and returns who asks: the client its credential names, or,
/// when `peer` (the mTLS-authenticated calling provider; `None` on the client API) is given and
/// the credential is exactly `mimi://<peer>`, that provider.
pub fn check_group_info_request(
    crypto: &impl OpenMlsCrypto,
    request: &GroupInfoRequest,
    peer: Option<&str>,
) -> Result<GroupInfoRequester, GroupInfoRefusal> {
    request.verify(crypto).map_err(|_| GroupInfoRefusal::BadSignature)?;
    if let Ok(client) = mimi_appsync::adapter::client_of(&request.requesting_credential, &|| "requester".into()) {
        return Ok(GroupInfoRequester::Client(client));
    }
    match peer {
        Some(peer) if is_provider_credential(&request.requesting_credential, peer) => {
            Ok(GroupInfoRequester::Provider(peer.to_ascii_lowercase()))
        }
        _ => Err(GroupInfoRefusal::NoClient),
    }
}

/// Whether `requester` may fetch the GroupInfo of a room in `state`: a client whose user is
/// listed with a role that allows clients, or which is preauthorised; a provider that hosts a
/// participant (a listed user or a member client of its domain).
pub fn authorize_group_info(state: &RoomState, requester: &GroupInfoRequester) -> Result<(), GroupInfoRefusal> {
    let allowed = match requester {
        GroupInfoRequester::Client(client) => {
            let listed = state
                .role_of(&client.user())
                .and_then(|r| state.roles.role(r))
                .is_some_and(|role| role.allows_clients());
            listed || state.preauth.first_match(client.as_bytes()).is_some()
        }
        GroupInfoRequester::Provider(domain) => {
            let listed = state.participants.participants.iter().any(|p| {
                UserUri::parse(&String::from_utf8_lossy(p.user.as_slice()))
                    .is_ok_and(|u| u.domain().eq_ignore_ascii_case(domain))
            });
            listed || state.members.iter().any(|c| c.domain().eq_ignore_ascii_case(domain))
        }
    };
    if allowed {
        Ok(())
    } else {
        Err(GroupInfoRefusal::NotAuthorized { requester: requester.to_string() })
    }
}

/// The room's GroupInfo for its current epoch, or [`GroupInfoRefusal::Stale`]. The room holds
/// the bytes it validated when the commit was accepted: failing to read them back is the hub's
/// fault.
pub fn current_group_info(room: &Room) -> Result<Result<VerifiableGroupInfo, GroupInfoRefusal>, Internal> {
    let Some(bytes) = room.group_info() else { return Ok(Err(GroupInfoRefusal::Stale)) };
    let group_info =
        VerifiableGroupInfo::tls_deserialize_exact(bytes).map_err(|e| Internal::new("the room's GroupInfo", e))?;
    Ok(if group_info.epoch().as_u64() == room.epoch() { Ok(group_info) } else { Err(GroupInfoRefusal::Stale) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::admission::memory::{TestClient, TestRoom, CS};
    use mimi_appsync::components::preauth::{Claim, PreAuthData, PreAuthRoleEntry};
    use tls_codec::VLBytes;

    fn request(c: &TestClient) -> GroupInfoRequest {
        GroupInfoRequest::sign(
            CS,
            c.credential.credential.clone(),
            c.credential.signature_key.clone(),
            VLBytes::new(vec![7; 32]),
            VLBytes::new(Vec::new()),
            &c.signer,
        )
        .unwrap()
    }

    #[test]
    fn only_signed_requests_of_clients_count() {
        let t = TestRoom::new();
        let alice = &t.alice;
        let client = |c: &ClientUri| GroupInfoRequester::Client(c.clone());
        assert_eq!(check_group_info_request(&t.crypto, &request(alice), None), Ok(client(&alice.uri)));
        let mut forged = request(alice);
        forged.group_info_public_key = VLBytes::new(vec![8; 32]);
        assert_eq!(check_group_info_request(&t.crypto, &forged, None), Err(GroupInfoRefusal::BadSignature));
        // Signed, but by a credential that names a user, not a client.
        let mut user = TestClient::of("a.example", "dora", "phone").unwrap();
        user.credential.credential = openmls::prelude::BasicCredential::new(b"mimi://a.example/u/dora".to_vec()).into();
        assert_eq!(check_group_info_request(&t.crypto, &request(&user), None), Err(GroupInfoRefusal::NoClient));
    }

    /// A request signed under the provider credential `mimi://<domain>`.
    fn provider_request(domain: &str) -> GroupInfoRequest {
        let mut c = TestClient::of(domain, "hub", "key").unwrap();
        c.credential.credential =
            openmls::prelude::BasicCredential::new(format!("mimi://{domain}").into_bytes()).into();
        request(&c)
    }

    #[test]
    fn a_provider_asks_only_under_its_own_credential() {
        let t = TestRoom::new();
        let provider = |d: &str| GroupInfoRequester::Provider(d.into());
        let b = provider_request("b.example");
        assert_eq!(check_group_info_request(&t.crypto, &b, Some("b.example")), Ok(provider("b.example")));
        assert_eq!(check_group_info_request(&t.crypto, &b, Some("B.Example")), Ok(provider("b.example")));
        // Another provider's credential, a provider credential on the client API, a longer URI.
        assert_eq!(check_group_info_request(&t.crypto, &b, Some("c.example")), Err(GroupInfoRefusal::NoClient));
        assert_eq!(check_group_info_request(&t.crypto, &b, None), Err(GroupInfoRefusal::NoClient));
        let mut sub = TestClient::of("b.example", "hub", "key").unwrap();
        sub.credential.credential = openmls::prelude::BasicCredential::new(b"mimi://b.example/x".to_vec()).into();
        assert_eq!(
            check_group_info_request(&t.crypto, &request(&sub), Some("b.example")),
            Err(GroupInfoRefusal::NoClient)
        );
        // Still signed: a tampered request is refused before who asks is looked at.
        let mut forged = b.clone();
        forged.group_info_public_key = VLBytes::new(vec![8; 32]);
        assert_eq!(
            check_group_info_request(&t.crypto, &forged, Some("b.example")),
            Err(GroupInfoRefusal::BadSignature)
        );
        // A client's request from a peer is still the client's.
        assert_eq!(
            check_group_info_request(&t.crypto, &request(&t.alice), Some("a.example")),
            Ok(GroupInfoRequester::Client(t.alice.uri.clone()))
        );
    }

    #[test]
    fn a_provider_may_fetch_it_while_it_hosts_a_participant() {
        let mut t = TestRoom::new();
        let provider = |d: &str| GroupInfoRequester::Provider(d.into());
        let state = mimi_appsync::adapter::room_state(t.room.group()).unwrap();
        // The hub's own domain hosts alice; b hosts nobody yet.
        assert_eq!(authorize_group_info(&state, &provider("a.example")), Ok(()));
        let refusal = authorize_group_info(&state, &provider("b.example")).unwrap_err();
        assert_eq!(refusal, GroupInfoRefusal::NotAuthorized { requester: "mimi://b.example".into() });
        // Once bob of b is listed and added, b may.
        let bob = t.client("b.example", "bob", "phone");
        let d = t.decide_adds(&[&bob]);
        t.room.apply(&d.entry, d.accepted).unwrap();
        let state = mimi_appsync::adapter::room_state(t.room.group()).unwrap();
        assert_eq!(authorize_group_info(&state, &provider("b.example")), Ok(()));
        assert!(authorize_group_info(&state, &provider("c.example")).is_err());
    }

    #[test]
    fn participants_and_preauthorised_clients_may_fetch_it() {
        let t = TestRoom::new();
        let mut state = mimi_appsync::adapter::room_state(t.room.group()).unwrap();
        // Alice is listed (group admin): any of her clients may.
        assert_eq!(authorize_group_info(&state, &GroupInfoRequester::Client(t.alice.uri.clone())), Ok(()));
        let alice_pc = ClientUri::parse("mimi://a.example/d/alice/pc").unwrap();
        assert_eq!(authorize_group_info(&state, &GroupInfoRequester::Client(alice_pc)), Ok(()));
        // Bob is not listed.
        let bob = ClientUri::parse("mimi://b.example/d/bob/phone").unwrap();
        let bob = GroupInfoRequester::Client(bob);
        let refusal = authorize_group_info(&state, &bob).unwrap_err();
        assert_eq!(refusal, GroupInfoRefusal::NotAuthorized { requester: bob.to_string() });
        assert!(refusal.to_string().contains(&bob.to_string()));
        // Preauthorised by a claim on his user.
        let role = state.roles.roles[0].clone();
        state.preauth = PreAuthData {
            preauthorized_entries: vec![PreAuthRoleEntry {
                claimset: vec![Claim::basic("user", "mimi://b.example/u/bob")],
                target_role: role,
            }],
        };
        assert_eq!(authorize_group_info(&state, &bob), Ok(()));
        let cathy = ClientUri::parse("mimi://c.example/d/cathy/phone").unwrap();
        assert!(authorize_group_info(&state, &GroupInfoRequester::Client(cathy)).is_err());
    }

    #[test]
    fn the_group_info_must_be_of_the_current_epoch() {
        let mut t = TestRoom::new();
        let group_info = current_group_info(&t.room).unwrap().unwrap();
        assert_eq!(group_info.epoch().as_u64(), t.room.epoch());
        // The commit's GroupInfo is for the next epoch: current only once the commit is applied.
        let bob = t.client("b.example", "bob", "phone");
        let d = t.decide_adds(&[&bob]);
        t.room.apply(&d.entry, d.accepted).unwrap();
        let group_info = current_group_info(&t.room).unwrap().unwrap();
        assert_eq!(group_info.epoch().as_u64(), 1);
        // A room whose last committer sent no whole GroupInfo has none to hand out.
        let mut checkpoint = t.room.checkpoint().unwrap();
        checkpoint.group_info = VLBytes::new(Vec::new());
        let without = Room::restore(&t.crypto, &checkpoint, &[], &[]).unwrap();
        assert_eq!(current_group_info(&without).unwrap(), Err(GroupInfoRefusal::Stale));
        assert_eq!(GroupInfoRefusal::Stale.to_string(), "the hub has no GroupInfo for the current epoch");
        // Bytes of its own that do not decode are the hub's fault, not a refusal.
        checkpoint.group_info = VLBytes::new(vec![1, 2, 3]);
        let corrupt = Room::restore(&t.crypto, &checkpoint, &[], &[]).unwrap();
        assert!(current_group_info(&corrupt).is_err());
    }
}
