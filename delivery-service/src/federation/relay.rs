//! Relaying to hubs and target providers.
//!
//! - A local client's `update`, `submitMessage` and `groupInfo` for a room whose hub is another
//!   provider are sent to that hub's `/v1/...` endpoint (found through its directory, mutual
//!   TLS, `From: mimi@<our domain>`) with the client's body unchanged, and the hub's answer
//!   (status, body, `Retry-After`) goes back to the client unchanged. An `update` is first decided
//!   on the follower's copy of the room, and relayed only if the calling client signed it
//!   ([`Follower::check_relayed`], called by the client API). Before an `update` or
//!   `submitMessage` is sent, the follower records which client relayed the MLS message, so
//!   the echo the hub fans back is left out for that client; an accepted one is answered once
//!   its echo is in this provider's mirror (bounded by [`ECHO_WAIT`]), so the client finds its
//!   acknowledged submission in the log it reads, as it would at a hub.
//! - `keyMaterial` ([`Relay::key_material`], decision in [`route_key_material`]): a claim for a
//!   local target is served here; a claim for a remote target in a room whose hub we are is
//!   forwarded to the target's provider, and the hub records for each returned KeyPackageRef the
//!   provider it belongs to (so the Welcome naming it goes there only), the room and the
//!   requesting provider (an Add may use it only there, from there, once: see
//!   [`crate::hub::admission::add_is_vouched`]); a local client's claim in a room whose hub is
//!   another provider goes to that hub. A peer's claim is taken only in two roles: as a follower
//!   relaying its own users' claims for a room we have, or as the hub of the named room (its URI's
//!   authority) claiming one of our users, for its own user or one of a third domain; never for a
//!   user of ours (see [`route_key_material`]). The target provider checks consent before
//!   serving (see [`super::consent`]). Every claim served or forwarded from here is counted
//!   against its requester's claim limits first ([`Provider::admit_claim`]).
//! - A local user's consent decision is sent to the requester's provider
//!   ([`Relay::update_consent`]).
//! - A local client's `identifierQuery` for another domain goes straight to that provider
//!   ([`Relay::identifier_query`]; never through a hub, protocol-06 §5.8); `reportAbuse` for a
//!   room of another hub goes to that hub with [`Relay::to_hub`].

use std::sync::Arc;

use mimi_appsync::uri::{ClientUri, UserUri};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;

use super::follower::{Follower, FollowerError, ECHO_WAIT};
use super::peers::{PeerAnswer, PeerError, Peers};
use super::trust::is_ours;
use crate::hub::admission::ClaimRequester;
use crate::provider::{hub_of, Provider, ProviderError, Submitter};
use crate::store::{settle, ClaimScope, Store, Write};
use mimi_protocol::directory::Endpoint;
use mimi_protocol::key_material::{KeyMaterialRequest, KeyMaterialResponse};
use mimi_protocol::submit::{SubmitMessageResponse, SubmitMessageStatus};
use mimi_protocol::update::{UpdateRoomOutcome, UpdateRoomResponse};
use mimi_protocol::{Body, DEFAULT_MAX_BODY_LEN};

/// Why a relayed request failed.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The peer could not be reached (503 with `Retry-After`).
    #[error(transparent)]
    Peer(#[from] PeerError),
    /// Refused or failed here.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The echo record could not be written.
    #[error(transparent)]
    Follower(#[from] FollowerError),
    /// The room URI names no hub, or a hub that is not a provider domain (400).
    #[error("{0} is not a room URI mimi://<hub>/r/<name> with a provider domain as hub")]
    NotARoom(String),
}

/// Where a key-material claim goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyMaterialRoute {
    /// Serve it from our directory (the target is ours).
    Local,
    /// We are the room's hub: forward to the target's provider and remember the claimed refs.
    ToTarget(String),
    /// A local client's claim in another hub's room: forward to that hub.
    ToHub(String),
}

/// Decides where a claim goes, on the request's URIs alone (before its signature is verified,
/// before anything is read or counted). `ours`: our domain; `target` and `requester`: the domains
/// of `targetUser` and `requestingUser`; `room`: the request's room (its URI's authority names
/// its hub); `our_room`: whether we have that room (we are its hub and it exists); `caller`: who
/// asked. A local client's `requestingUser` is checked to be its own by the signature check that
/// follows; a peer's is checked here.
///
/// A claim "MUST be sent via the hub provider" of the room it is for (protocol-06 §5.2), and a
/// provider acts only for its own domain, so a peer is served in two roles only:
/// - as a follower relaying its own users' claims to us, the hub of a room we have (a room of
///   ours that does not exist is 404: we know every room of our authority);
/// - as the hub of the named room, claiming one of our users for its own user, or relaying for a
///   user of a third domain. "The hub of the room" is the authority of the room URI, and that is
///   all we can know: our user may be invited into a room we have no mirror of yet (the first
///   invitation always is), so a mirror cannot be required. Nothing more is needed: a peer never
///   claims for a user of ours (our users' claims for our users are served by us locally, and
///   their claims for other users never come back to us, so such a request from a peer is always
///   forged), and every claim by another domain's user is consent-checked and counted against
///   that peer, whatever room it names.
///
/// Anything else is refused (403, nothing claimed): a peer claiming for our user; a provider
/// claiming directly from the target, bypassing the room's hub (it would get KeyPackages the hub
/// never saw, bound to no room); a follower relaying for another domain's user; a peer using us
/// as a relay for a room we are not the hub of.
pub fn route_key_material(
    ours: &str,
    target: &str,
    requester: &str,
    room: &str,
    our_room: bool,
    caller: &Submitter,
) -> Result<KeyMaterialRoute, ProviderError> {
    let hub = hub_of(room);
    match caller {
        Submitter::Peer(peer) if is_ours(ours, requester) => Err(ProviderError::Forbidden(format!(
            "{peer} may not claim for a user of {ours}: our users' claims are served by us"
        ))),
        Submitter::Peer(peer) if hub == Some(ours) => {
            if requester != peer {
                return Err(ProviderError::Forbidden(format!(
                    "{peer} may relay only its own users' claims to the hub of {room}, not one of {requester}"
                )));
            }
            if !our_room {
                return Err(ProviderError::UnknownRoom(room.to_owned()));
            }
            Ok(if target == ours { KeyMaterialRoute::Local } else { KeyMaterialRoute::ToTarget(target.to_owned()) })
        }
        Submitter::Peer(peer) if hub == Some(peer.as_str()) => {
            if target != ours {
                return Err(ProviderError::Forbidden(format!(
                    "{ours} relays claims only for rooms it is the hub of, not {room} for a user of {target}"
                )));
            }
            Ok(KeyMaterialRoute::Local)
        }
        Submitter::Peer(peer) => Err(ProviderError::Forbidden(format!(
            "a claim for a user of {target} in {room} must come through the room's hub ({}), not {peer} (protocol-06 §5.2)",
            hub.unwrap_or("none")
        ))),
        Submitter::Client(_) if target == ours => Ok(KeyMaterialRoute::Local),
        Submitter::Client(_) => match hub {
            Some(h) if h == ours => Ok(KeyMaterialRoute::ToTarget(target.to_owned())),
            Some(h) => Ok(KeyMaterialRoute::ToHub(h.to_owned())),
            None => Err(ProviderError::Forbidden(format!("{room} names no hub and {target} is not ours"))),
        },
    }
}

/// Whether a hub's answer to `update` or `submitMessage` accepted the submission. An answer that
/// does not decode accepted nothing we could wait for; the client gets it unchanged and judges.
fn accepted(endpoint: Endpoint, answer: &PeerAnswer) -> bool {
    if answer.status != StatusCode::OK {
        return false;
    }
    match endpoint {
        Endpoint::Update => UpdateRoomResponse::decode(&answer.body, DEFAULT_MAX_BODY_LEN)
            .is_ok_and(|r| matches!(r.outcome, UpdateRoomOutcome::Success { .. })),
        Endpoint::SubmitMessage => SubmitMessageResponse::decode(&answer.body, DEFAULT_MAX_BODY_LEN)
            .is_ok_and(|r| matches!(r.status, SubmitMessageStatus::Accepted { .. })),
        _ => false,
    }
}

/// Relays of one provider.
pub struct Relay<S: Store> {
    provider: Arc<Provider<S>>,
    follower: Arc<Follower<S>>,
    peers: Peers,
}

impl<S: Store> Relay<S> {
    /// Relays for `provider`, recording echoes in `follower`, calling out through `peers`.
    pub fn new(provider: Arc<Provider<S>>, follower: Arc<Follower<S>>, peers: Peers) -> Arc<Self> {
        Arc::new(Relay { provider, follower, peers })
    }

    /// The follower (mirror logs) this relay records into.
    pub fn follower(&self) -> &Arc<Follower<S>> {
        &self.follower
    }

    /// The hub of `room`, which we may be made to call: the authority of `mimi://<hub>/r/<name>`,
    /// which must be a provider domain (a DNS name, see [`crate::config::validate_domain`]): a room
    /// URI naming an address or a port is no room (400), and nothing is sent anywhere.
    pub fn hub(room: &str) -> Result<&str, RelayError> {
        let not_a_room = || RelayError::NotARoom(room.to_owned());
        let hub = hub_of(room).ok_or_else(not_a_room)?;
        crate::config::validate_domain(&hub.to_ascii_lowercase()).map_err(|_| not_a_room())?;
        Ok(hub)
    }

    /// Sends a local client's request for `room` to the room's hub. `relayed`: the MLS message
    /// to record for echo suppression (for `update` and `submitMessage`), as received.
    pub async fn to_hub(
        &self,
        endpoint: Endpoint,
        room: &str,
        client: &ClientUri,
        relayed: Option<&[u8]>,
        body: Vec<u8>,
    ) -> Result<PeerAnswer, RelayError> {
        let hub = Self::hub(room)?;
        let echo = match relayed {
            Some(message) => Some(self.follower.record_relayed(room, client.as_str(), message).await?),
            None => None,
        };
        let answer = self.peers.post(hub, endpoint, room, body).await?;
        tracing::info!(room, hub, client = %client, endpoint = endpoint.key(), status = %answer.status, "relayed");
        if let Some(echo) = echo.filter(|_| accepted(endpoint, &answer)) {
            if !echo.wait(ECHO_WAIT).await {
                tracing::warn!(room, hub, client = %client, "accepted, but the hub's fanout has not reached us yet");
            }
        }
        Ok(answer)
    }

    /// Tells the provider of `requester` about a local user's consent decision (`updateConsent`,
    /// `body` the encoded `ConsentEntry`); no-op for a local requester.
    pub async fn update_consent(&self, requester: &UserUri, body: Vec<u8>) -> Result<Option<PeerAnswer>, RelayError> {
        if requester.domain() == self.provider.domain() {
            return Ok(None);
        }
        Ok(Some(self.peers.post(requester.domain(), Endpoint::UpdateConsent, requester.as_str(), body).await?))
    }

    /// Sends a local client's `IdentifierRequest` (`body`, as received) to provider `domain`
    /// and returns its answer unchanged.
    pub async fn identifier_query(&self, domain: &str, body: Vec<u8>) -> Result<PeerAnswer, RelayError> {
        Ok(self.peers.post(domain, Endpoint::IdentifierQuery, domain, body).await?)
    }

    /// A key-material claim from `caller` (see the module docs). `body` is the request as
    /// received, forwarded unchanged. Cheap checks first: the URIs ([`route_key_material`]),
    /// then the signature, then the claim limits, then (where the target is ours) consent and
    /// the claim itself ([`Provider::key_material`]).
    pub async fn key_material(
        &self,
        request: &KeyMaterialRequest,
        body: Vec<u8>,
        caller: &Submitter,
    ) -> Result<PeerAnswer, RelayError> {
        let target = UserUri::parse(request.tbs.target_user.as_str())
            .map_err(|e| ProviderError::BadRequest(format!("targetUser: {e}")))?;
        let requester = UserUri::parse(request.tbs.requesting_user.as_str())
            .map_err(|e| ProviderError::BadRequest(format!("requestingUser: {e}")))?;
        let room = request.tbs.room_id.as_str();
        let ours = self.provider.domain();
        let our_room = hub_of(room) == Some(ours) && self.provider.has_room(room)?;
        let route = route_key_material(ours, target.domain(), requester.domain(), room, our_room, caller)
            .inspect_err(|e| tracing::info!(target = %target, room, caller = %caller, refusal = %e, "claim refused"))?;
        tracing::info!(target = %target, room, caller = %caller, ?route, "key material claim");
        let (domain, to_target) = match route {
            KeyMaterialRoute::Local => {
                let response = self.provider.key_material(request, caller).await?;
                let body = response.encode().map_err(|e| ProviderError::internal("keyMaterial answer", e))?;
                return Ok(PeerAnswer { status: StatusCode::OK, headers: HeaderMap::new(), body });
            }
            KeyMaterialRoute::ToHub(hub) => (hub, false),
            KeyMaterialRoute::ToTarget(domain) => (domain, true),
        };
        let client = match caller {
            Submitter::Client(c) => Some(c),
            Submitter::Peer(_) => None,
        };
        let signer = self.provider.verify_key_material_request(request, client)?;
        self.provider.admit_claim(&ClaimRequester::of(caller, &signer.user()), &target)?;
        let answer = self.peers.post(&domain, Endpoint::KeyMaterial, target.as_str(), body).await?;
        if to_target && answer.status == StatusCode::OK {
            let response = KeyMaterialResponse::decode(&answer.body, DEFAULT_MAX_BODY_LEN)
                .map_err(|e| ProviderError::Peer { peer: domain.clone(), why: e.to_string() })?;
            let references = self.provider.remote_key_package_refs(&domain, &response)?;
            if !references.is_empty() {
                let scope = ClaimScope {
                    provider: domain.clone(),
                    room: room.to_owned(),
                    requester: caller.domain().to_owned(),
                };
                let write = Write::KeyPackageClaims { references, scope };
                settle(self.provider.store().write(write)).await.map_err(ProviderError::from)?;
            }
        }
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(uri: &str) -> Submitter {
        Submitter::Client(ClientUri::parse(uri).unwrap())
    }

    #[test]
    fn claims_are_routed_by_target_and_room() {
        let room_a = "mimi://a.example/r/club";
        let alice = client("mimi://a.example/d/alice/phone");
        let bob = client("mimi://b.example/d/bob/phone");
        let peer = |d: &str| Submitter::Peer(d.into());
        use KeyMaterialRoute::*;
        // At the hub a: local target served, remote target forwarded to its provider.
        assert_eq!(route_key_material("a.example", "a.example", "a.example", room_a, true, &alice).unwrap(), Local);
        assert_eq!(
            route_key_material("a.example", "c.example", "a.example", room_a, true, &alice).unwrap(),
            ToTarget("c.example".into())
        );
        // A follower b relays its client's claim for c to the hub a, which forwards it to c.
        assert_eq!(
            route_key_material("b.example", "c.example", "b.example", room_a, false, &bob).unwrap(),
            ToHub("a.example".into())
        );
        assert_eq!(
            route_key_material("a.example", "c.example", "b.example", room_a, true, &peer("b.example")).unwrap(),
            ToTarget("c.example".into())
        );
        // ... or for a user of a, served by the hub itself.
        assert_eq!(
            route_key_material("a.example", "a.example", "b.example", room_a, true, &peer("b.example")).unwrap(),
            Local
        );
        // At c: the hub a relays a claim for bob@b (a third domain), or claims for its own user.
        assert_eq!(
            route_key_material("c.example", "c.example", "b.example", room_a, false, &peer("a.example")).unwrap(),
            Local
        );
        assert_eq!(
            route_key_material("c.example", "c.example", "a.example", room_a, false, &peer("a.example")).unwrap(),
            Local
        );
        let forbidden = |r: Result<KeyMaterialRoute, ProviderError>| matches!(r, Err(ProviderError::Forbidden(_)));
        // A peer that is not the room's hub claiming directly from the target: refused, also
        // for its own users.
        assert!(forbidden(route_key_material(
            "c.example",
            "c.example",
            "b.example",
            room_a,
            false,
            &peer("b.example")
        )));
        assert!(forbidden(route_key_material(
            "c.example",
            "c.example",
            "b.example",
            room_a,
            false,
            &peer("d.example")
        )));
        // ... and without a room.
        assert!(forbidden(route_key_material("c.example", "c.example", "b.example", "", false, &peer("b.example"))));
        // The hub asks us for another provider's user: we are no relay for other hubs.
        assert!(forbidden(route_key_material(
            "c.example",
            "b.example",
            "a.example",
            room_a,
            false,
            &peer("a.example")
        )));
        // At the hub a: a follower relays only its own users' claims.
        assert!(forbidden(route_key_material("a.example", "c.example", "d.example", room_a, true, &peer("b.example"))));
        // A peer may not use a non-hub as a relay.
        assert!(forbidden(route_key_material(
            "b.example",
            "c.example",
            "d.example",
            room_a,
            false,
            &peer("d.example")
        )));
    }

    #[test]
    fn a_peer_never_claims_for_a_user_of_ours() {
        let peer = |d: &str| Submitter::Peer(d.into());
        let forbidden = |r: Result<KeyMaterialRoute, ProviderError>| matches!(r, Err(ProviderError::Forbidden(_)));
        // The consent bypass: b names a room under its own authority (no such room needs to
        // exist) and a requestingUser of ours, the target's domain.
        let room_b = "mimi://b.example/r/anything";
        assert!(forbidden(route_key_material(
            "a.example",
            "a.example",
            "a.example",
            room_b,
            false,
            &peer("b.example")
        )));
        assert!(forbidden(route_key_material(
            "a.example",
            "a.example",
            "A.EXAMPLE",
            room_b,
            false,
            &peer("b.example")
        )));
        // Also in one of our rooms, or a third hub's.
        let room_a = "mimi://a.example/r/club";
        assert!(forbidden(route_key_material("a.example", "a.example", "a.example", room_a, true, &peer("b.example"))));
        assert!(forbidden(route_key_material("a.example", "c.example", "a.example", room_a, true, &peer("b.example"))));
        let room_c = "mimi://c.example/r/x";
        assert!(forbidden(route_key_material(
            "a.example",
            "a.example",
            "a.example",
            room_c,
            false,
            &peer("c.example")
        )));
        // As the hub of its own room, b claims for its own user or relays for a third domain's.
        assert_eq!(
            route_key_material("a.example", "a.example", "b.example", room_b, false, &peer("b.example")).unwrap(),
            KeyMaterialRoute::Local
        );
        assert_eq!(
            route_key_material("a.example", "a.example", "c.example", room_b, false, &peer("b.example")).unwrap(),
            KeyMaterialRoute::Local
        );
        // A room of a third authority: refused, whoever the requester is.
        assert!(forbidden(route_key_material(
            "a.example",
            "a.example",
            "b.example",
            room_c,
            false,
            &peer("b.example")
        )));
    }

    #[test]
    fn a_follower_claims_only_for_rooms_we_have() {
        let refused = route_key_material(
            "a.example",
            "a.example",
            "b.example",
            "mimi://a.example/r/nonexistent",
            false,
            &Submitter::Peer("b.example".into()),
        );
        assert!(matches!(refused, Err(ProviderError::UnknownRoom(_))), "{refused:?}");
    }
}
