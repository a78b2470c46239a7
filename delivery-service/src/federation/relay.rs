//! Relaying to hubs and target providers.
//!
//! - A local client's `update`, `submitMessage` and `groupInfo` for a room whose hub is another
//!   provider are sent to that hub's `/v1/...` endpoint (found through its directory, mutual
//!   TLS, `From: mimi@<our domain>`) with the client's body unchanged, and the hub's answer
//!   (status, body, `Retry-After`) goes back to the client unchanged. Before an `update` or
//!   `submitMessage` is sent, the follower records which client relayed the MLS message, so
//!   the echo the hub fans back is left out for that client; an accepted one is answered once
//!   its echo is in this provider's mirror (bounded by [`ECHO_WAIT`]), so the client finds its
//!   acknowledged submission in the log it reads, as it would at a hub.
//! - `keyMaterial` ([`Relay::key_material`], decision in [`route_key_material`]): a claim for a
//!   local target is served here; a claim for a remote target in a room whose hub we are is
//!   forwarded to the target's provider, and the hub records for each returned KeyPackageRef the
//!   provider it belongs to (so the Welcome naming it goes there only), the room and the
//!   requesting provider (an Add may use it only there, from there, once: see
//!   [`crate::hub::admission::add_is_vouched`]); a local client's claim
//!   in a room whose hub is another provider goes to that hub. A peer's claim is served only if
//!   we are the room's hub (a follower relaying its own user's claim) or the peer is (relaying a
//!   claim for our user): a provider may not claim from a target directly, bypassing the hub,
//!   nor use us as a relay for a room we are not the hub of. The target provider checks consent
//!   before serving (see [`super::consent`]).
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
    /// The room URI names no hub (400).
    #[error("{0} is not a room URI mimi://<hub>/r/<name>")]
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

/// Decides where a claim goes. `ours`: our domain; `target`: the target user's domain; `room`:
/// the request's room (its URI's authority names its hub); `caller`: who asked; `signer_domain`:
/// the domain of the client that signed the request (already verified).
///
/// A claim "MUST be sent via the hub provider" of the room it is for (protocol-06 §5.2), so a peer
/// is served only in two roles: as a follower relaying its own users' claims to us, the room's
/// hub; or as the room's hub relaying a claim for one of our users. Any other peer, including a
/// provider claiming for its own users directly from the target, is refused (403, nothing
/// claimed): otherwise it would get KeyPackages the hub never saw, bound to no room.
pub fn route_key_material(
    ours: &str,
    target: &str,
    room: &str,
    caller: &Submitter,
    signer_domain: &str,
) -> Result<KeyMaterialRoute, ProviderError> {
    let hub = hub_of(room);
    match caller {
        Submitter::Peer(peer) if hub == Some(ours) => {
            if signer_domain != peer {
                return Err(ProviderError::Forbidden(format!(
                    "{peer} may relay only its own users' claims to the hub of {room}"
                )));
            }
            Ok(if target == ours { KeyMaterialRoute::Local } else { KeyMaterialRoute::ToTarget(target.to_owned()) })
        }
        Submitter::Peer(peer) if hub == Some(peer.as_str()) && target == ours => Ok(KeyMaterialRoute::Local),
        Submitter::Peer(peer) => Err(ProviderError::Forbidden(format!(
            "a claim for {target} in {room} must come through the room's hub ({}), not {peer} (protocol-06 §5.2)",
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

    fn hub(room: &str) -> Result<&str, RelayError> {
        hub_of(room).ok_or_else(|| RelayError::NotARoom(room.to_owned()))
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
    /// received, forwarded unchanged.
    pub async fn key_material(
        &self,
        request: &KeyMaterialRequest,
        body: Vec<u8>,
        caller: &Submitter,
    ) -> Result<PeerAnswer, RelayError> {
        let client = match caller {
            Submitter::Client(c) => Some(c),
            Submitter::Peer(_) => None,
        };
        let signer = self.provider.verify_key_material_request(request, client)?;
        let target = UserUri::parse(request.tbs.target_user.as_str())
            .map_err(|e| ProviderError::BadRequest(format!("targetUser: {e}")))?;
        let room = request.tbs.room_id.as_str();
        let route = route_key_material(self.provider.domain(), target.domain(), room, caller, signer.domain())?;
        tracing::info!(target = %target, room, caller = %caller, ?route, "key material claim");
        match route {
            KeyMaterialRoute::Local => {
                let response = self.provider.key_material(request, caller).await?;
                let body = response.encode().map_err(|e| ProviderError::internal("keyMaterial answer", e))?;
                Ok(PeerAnswer { status: StatusCode::OK, headers: HeaderMap::new(), body })
            }
            KeyMaterialRoute::ToHub(hub) => {
                Ok(self.peers.post(&hub, Endpoint::KeyMaterial, target.as_str(), body).await?)
            }
            KeyMaterialRoute::ToTarget(domain) => {
                let answer = self.peers.post(&domain, Endpoint::KeyMaterial, target.as_str(), body).await?;
                if answer.status == StatusCode::OK {
                    let response = KeyMaterialResponse::decode(&answer.body, DEFAULT_MAX_BODY_LEN)
                        .map_err(|e| ProviderError::Peer { peer: domain.clone(), why: e.to_string() })?;
                    let references = self.provider.remote_key_package_refs(&domain, &response)?;
                    if !references.is_empty() {
                        let requester = match caller {
                            Submitter::Client(c) => c.domain().to_owned(),
                            Submitter::Peer(peer) => peer.clone(),
                        };
                        let scope = ClaimScope { provider: domain.clone(), room: room.to_owned(), requester };
                        let write = Write::KeyPackageClaims { references, scope };
                        settle(self.provider.store().write(write)).await.map_err(ProviderError::from)?;
                    }
                }
                Ok(answer)
            }
        }
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
        assert_eq!(route_key_material("a.example", "a.example", room_a, &alice, "a.example").unwrap(), Local);
        assert_eq!(
            route_key_material("a.example", "c.example", room_a, &alice, "a.example").unwrap(),
            ToTarget("c.example".into())
        );
        // A follower b relays its client's claim for c to the hub a, which forwards it to c.
        assert_eq!(
            route_key_material("b.example", "c.example", room_a, &bob, "b.example").unwrap(),
            ToHub("a.example".into())
        );
        assert_eq!(
            route_key_material("a.example", "c.example", room_a, &peer("b.example"), "b.example").unwrap(),
            ToTarget("c.example".into())
        );
        // At c: the hub a relays a claim signed by bob@b.
        assert_eq!(
            route_key_material("c.example", "c.example", room_a, &peer("a.example"), "b.example").unwrap(),
            Local
        );
        // At c: the hub a claims for its own client.
        assert_eq!(
            route_key_material("c.example", "c.example", room_a, &peer("a.example"), "a.example").unwrap(),
            Local
        );
        let forbidden = |r: Result<KeyMaterialRoute, ProviderError>| matches!(r, Err(ProviderError::Forbidden(_)));
        // A peer that is not the room's hub claiming directly from the target: refused, also
        // for its own users.
        assert!(forbidden(route_key_material("c.example", "c.example", room_a, &peer("b.example"), "b.example")));
        assert!(forbidden(route_key_material("c.example", "c.example", room_a, &peer("d.example"), "b.example")));
        // ... and without a room.
        assert!(forbidden(route_key_material("c.example", "c.example", "", &peer("b.example"), "b.example")));
        // The hub asks us for another provider's user: we are no relay for other hubs.
        assert!(forbidden(route_key_material("c.example", "b.example", room_a, &peer("a.example"), "a.example")));
        // At the hub a: a follower relays only its own users' claims.
        assert!(forbidden(route_key_material("a.example", "c.example", room_a, &peer("b.example"), "d.example")));
        // A peer may not use a non-hub as a relay.
        assert!(forbidden(route_key_material("b.example", "c.example", room_a, &peer("d.example"), "d.example")));
    }
}
