//! Who may fetch a room's GroupInfo for an external join (protocol-06 §5.6), and whether the hub
//! has one for the current epoch.
//!
//! The request must be validly signed by a client, whose user is a listed participant with a
//! role that allows clients, or is preauthorised (the `preauth_list` of room-policy). Anything
//! else, an unknown room included, is answered `notAuthorized`, so that a room's existence is not
//! revealed.

use mimi_appsync::state::RoomState;
use mimi_appsync::uri::ClientUri;
use openmls::messages::group_info::VerifiableGroupInfo;
use openmls::prelude::tls_codec::Deserialize as _;
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
    /// The requester is neither a participant allowed to have clients nor preauthorised
    /// (`notAuthorized`).
    #[error("{requester} is neither a participant nor preauthorised")]
    NotAuthorized {
        /// The requesting client.
        requester: String,
    },
    /// The hub holds no GroupInfo for the room's current epoch (the last committer sent a
    /// partial one); the requester may retry after the next commit.
    #[error("the hub has no GroupInfo for the current epoch")]
    Stale,
}

/// Checks a request's signature and returns the client its credential names.
pub fn check_group_info_request(
    crypto: &impl OpenMlsCrypto,
    request: &GroupInfoRequest,
) -> Result<ClientUri, GroupInfoRefusal> {
    request.verify(crypto).map_err(|_| GroupInfoRefusal::BadSignature)?;
    mimi_appsync::adapter::client_of(&request.requesting_credential, &|| "requester".into())
        .map_err(|_| GroupInfoRefusal::NoClient)
}

/// Whether `requester` may fetch the GroupInfo of a room in `state`: its user is listed with a
/// role that allows clients, or it is preauthorised.
pub fn authorize_group_info(state: &RoomState, requester: &ClientUri) -> Result<(), GroupInfoRefusal> {
    let listed =
        state.role_of(&requester.user()).and_then(|r| state.roles.role(r)).is_some_and(|role| role.allows_clients());
    let preauthorised = state.preauth.first_match(requester.as_bytes()).is_some();
    if listed || preauthorised {
        Ok(())
    } else {
        Err(GroupInfoRefusal::NotAuthorized { requester: requester.as_str().to_owned() })
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
        assert_eq!(check_group_info_request(&t.crypto, &request(alice)), Ok(alice.uri.clone()));
        let mut forged = request(alice);
        forged.group_info_public_key = VLBytes::new(vec![8; 32]);
        assert_eq!(check_group_info_request(&t.crypto, &forged), Err(GroupInfoRefusal::BadSignature));
        // Signed, but by a credential that names a user, not a client.
        let mut user = TestClient::of("a.example", "dora", "phone").unwrap();
        user.credential.credential = openmls::prelude::BasicCredential::new(b"mimi://a.example/u/dora".to_vec()).into();
        assert_eq!(check_group_info_request(&t.crypto, &request(&user)), Err(GroupInfoRefusal::NoClient));
    }

    #[test]
    fn participants_and_preauthorised_clients_may_fetch_it() {
        let t = TestRoom::new();
        let mut state = mimi_appsync::adapter::room_state(t.room.group()).unwrap();
        // Alice is listed (group admin): any of her clients may.
        assert_eq!(authorize_group_info(&state, &t.alice.uri), Ok(()));
        let alice_pc = ClientUri::parse("mimi://a.example/d/alice/pc").unwrap();
        assert_eq!(authorize_group_info(&state, &alice_pc), Ok(()));
        // Bob is not listed.
        let bob = ClientUri::parse("mimi://b.example/d/bob/phone").unwrap();
        let refusal = authorize_group_info(&state, &bob).unwrap_err();
        assert_eq!(refusal, GroupInfoRefusal::NotAuthorized { requester: bob.as_str().into() });
        assert!(refusal.to_string().contains(bob.as_str()));
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
        assert!(authorize_group_info(&state, &cathy).is_err());
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
