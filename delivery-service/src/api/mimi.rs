//! The server-to-server API of protocol-06 (`/v1/...`, paths from
//! [`Endpoint::path_template`]), served on the same listener as the client API.
//!
//! **Transport checks** ([`authorize_peer`]), for every request: the connection presented a
//! client certificate that chains to our CA (else 401), the `From: mimi@<domain>` header names a
//! domain the certificate names (else 403), and the `Host` (or HTTP/2 `:authority`) is our
//! domain, optionally with a port (else 403).
//!
//! | endpoint | role | who may call | answer |
//! |---|---|---|---|
//! | `POST /v1/update/{roomId}` | hub | a provider hosting a participant (listed user or member client), or submitting an external commit; the handshake's sender must be one of its clients, and an Add of another provider's client needs an unused KeyPackage claimed through this hub for this room by the submitting provider ([`crate::hub::admission::add_is_vouched`]) | 200 `UpdateRoomResponse` (`notAllowed` otherwise) |
//! | `POST /v1/submitMessage/{roomId}` | hub | the provider of `sendingUri` (a client URI), which the hub's participant check must pass | 200 `SubmitMessageResponse` (`notAllowed` for non-participants) |
//! | `POST /v1/groupInfo/{roomId}` | hub | the provider of `requestingCredential`'s client, or a provider under its own credential `mimi://<domain>` while it hosts a participant (a follower's copy of the room) | 200 `GroupInfoResponse` |
//! | `POST /v1/keyMaterial/{targetUser}` | target provider, or hub relaying to it | the hub of the request's `roomId` (its URI's authority) for a user of ours, claiming for its own user or one of a third domain, never one of ours; if we are that hub and have the room, the provider of the requesting user ([`crate::federation::relay::route_key_material`]) | 200 `KeyMaterialResponse` (consent-checked); 403 for any other caller (e.g. a provider claiming directly from the target, bypassing the hub, or for a user of ours), 404 for a room of ours we do not have, 429 over the claim limits; nothing claimed |
//! | `POST /v1/notify/{roomId}` | follower | the room's hub (the room URI's authority) | 201; also for a duplicate, taken in once; 422 if an entry does not validate against the follower's copy of the room, 503 if it cannot get one (nothing taken in) |
//! | `POST /v1/requestConsent/{targetUser}` | target's provider | the requester's provider (`request`/`cancel` of its user for ours) | 201 |
//! | `POST /v1/updateConsent/{requesterUser}` | requester's provider | the target's provider (`grant`/`revoke` of its user for ours) | 201 |
//! | `POST /v1/identifierQuery/{domain}` | target provider (`{domain}` must be ours, else 404; never relayed) | any authenticated provider | 200 `IdentifierResponse` |
//! | `POST /v1/reportAbuse/{roomId}` | hub | the provider of `reportingUser` | 201 kept; 422 a frank does not verify (nothing kept) |
//!
//! A peer speaks only for its own domain's clients and users (`sendingUri`, the client of
//! `requestingCredential`, `reportingUser`, its side of a consent entry): otherwise 403, checked on
//! the strings before anything else ([`crate::federation::trust`]).
//!
//! Unknown rooms answer 404, undecodable bodies 400, a caller who is not allowed 403; a fault of
//! this server 500 with the request's id (see [`super::request_id`]), an unusable answer of the
//! provider a request was relayed to 502, storage trouble or an unreachable provider 503.
//! Consent rules: [`crate::federation::consent`]; identifier matching:
//! [`crate::federation::identifier`]; franking and report checks: [`crate::hub::franking`]. The
//! draft gives `reportAbuse` no codes (spec notes §8 item 6): ours are 201 for a report whose
//! franks verify (kept durably, a byte-identical repeat kept once), 422 for a decodable report
//! that does not verify (no frank of ours, or the content, sender, room or time differ from what
//! was franked), with the reason as a one-line body.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Router};
use tracing::Instrument as _;

use super::client::decode_update;
use super::request_id;
use super::response::{answer, passthrough, ApiError};
use crate::federation::consent::{check_entry, ConsentEndpoint};
use crate::federation::relay::Relay;
use crate::federation::trust::{client_of_peer, user_of_peer, NotThePeers};
use crate::hub::admission::is_provider_credential;
use crate::hub::admission::GroupInfoAsker;
use crate::provider::{Provider, Submitter};
use crate::store::Store;
use crate::tls::PeerIdentity;
use mimi_protocol::abuse::AbuseReport;
use mimi_protocol::consent::ConsentEntry;
use mimi_protocol::directory::Endpoint;
use mimi_protocol::group_info::GroupInfoRequest;
use mimi_protocol::identifier::IdentifierRequest;
use mimi_protocol::key_material::KeyMaterialRequest;
use mimi_protocol::submit::{SubmitMessageRequest, SubmitMessageResponse};
use mimi_protocol::{Body, Protocol, DEFAULT_MAX_BODY_LEN};

struct Api<S: Store> {
    provider: Arc<Provider<S>>,
    relay: Arc<Relay<S>>,
}

/// The `/v1/...` router.
pub fn router<S: Store>(provider: Arc<Provider<S>>, relay: Arc<Relay<S>>) -> Router {
    let api = Arc::new(Api { provider, relay });
    Router::new()
        .route(&Endpoint::Update.path_template(), post(update::<S>))
        .route(&Endpoint::SubmitMessage.path_template(), post(submit_message::<S>))
        .route(&Endpoint::GroupInfo.path_template(), post(group_info::<S>))
        .route(&Endpoint::KeyMaterial.path_template(), post(key_material::<S>))
        .route(&Endpoint::Notify.path_template(), post(notify::<S>))
        .route(&Endpoint::RequestConsent.path_template(), post(request_consent::<S>))
        .route(&Endpoint::UpdateConsent.path_template(), post(update_consent::<S>))
        .route(&Endpoint::IdentifierQuery.path_template(), post(identifier_query::<S>))
        .route(&Endpoint::ReportAbuse.path_template(), post(report_abuse::<S>))
        .with_state(api)
        .layer(axum::middleware::from_fn(request_id::layer))
}

/// Checks a peer request's transport identity and returns the peer's domain (lowercase).
/// `certificate`: the verified client certificate's identity, if one was presented; `from`: the
/// `From` header; `host`: the `Host` header or HTTP/2 authority; `ours`: our domain.
pub fn authorize_peer(
    certificate: Option<&PeerIdentity>,
    from: Option<&str>,
    host: Option<&str>,
    ours: &str,
) -> Result<String, ApiError> {
    let certificate =
        certificate.ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "a client certificate is required"))?;
    let forbidden = |why: String| ApiError::new(StatusCode::FORBIDDEN, why);
    let domain = from
        .and_then(|f| f.trim().strip_prefix("mimi@"))
        .filter(|d| !d.is_empty())
        .ok_or_else(|| forbidden("the From header must be mimi@<domain>".into()))?
        .to_ascii_lowercase();
    if !certificate.names(&domain) {
        return Err(forbidden(format!("the client certificate does not name {domain}")));
    }
    let host = host.unwrap_or("");
    let host_name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    if !host_name.eq_ignore_ascii_case(ours) {
        return Err(forbidden(format!("Host {host:?} is not {ours}")));
    }
    Ok(domain)
}

/// The authenticated calling provider's domain.
struct Peer(String);

impl<S: Store> FromRequestParts<Arc<Api<S>>> for Peer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<Api<S>>) -> Result<Self, Self::Rejection> {
        let certificate = Option::<Extension<PeerIdentity>>::from_request_parts(parts, state)
            .await
            .ok()
            .flatten()
            .map(|Extension(p)| p);
        let from = parts.headers.get(header::FROM).and_then(|v| v.to_str().ok());
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| parts.uri.authority().map(|a| a.as_str()));
        let domain = authorize_peer(certificate.as_ref(), from, host, state.provider.domain()).inspect_err(|e| {
            tracing::info!(status = %e.status, reason = %e.reason, "peer request refused");
        })?;
        Ok(Peer(domain))
    }
}

/// A peer speaking for a party not its own: 403.
fn forbidden(refusal: NotThePeers) -> ApiError {
    tracing::info!(%refusal, "peer request refused");
    ApiError::new(StatusCode::FORBIDDEN, refusal.to_string())
}

/// 404 unless we are the hub of `room`.
fn hub_room<S: Store>(api: &Api<S>, room: &str) -> Result<(), ApiError> {
    if api.provider.is_hub_of(room) {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::NOT_FOUND, format!("unknown room {room}")))
    }
}

async fn update<S: Store>(
    State(api): State<Arc<Api<S>>>,
    Peer(peer): Peer,
    Path(room): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    hub_room(&api, &room)?;
    let request = match decode_update(&body)? {
        Ok(r) => r,
        Err(refusal) => return Ok(refusal),
    };
    let span = tracing::info_span!("peer update", room = %room, peer = %peer);
    let submitter = Submitter::Peer(peer);
    let response = api.provider.update_received(&room, &request.bundle, &body, &submitter).instrument(span).await?;
    answer(&response)
}

async fn submit_message<S: Store>(
    State(api): State<Arc<Api<S>>>,
    Peer(peer): Peer,
    Path(room): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    hub_room(&api, &room)?;
    let request = SubmitMessageRequest::decode(&body, DEFAULT_MAX_BODY_LEN)?;
    let sending = request.sending_uri.as_str();
    client_of_peer(&peer, "sendingUri", sending).map_err(forbidden)?;
    let span = tracing::info_span!("peer submitMessage", room = %room, peer = %peer);
    let status = api.provider.submit_message_received(&room, &request, &body, sending).instrument(span).await?;
    answer(&SubmitMessageResponse { protocol: Protocol::Mls10, status })
}

async fn group_info<S: Store>(
    State(api): State<Arc<Api<S>>>,
    Peer(peer): Peer,
    Path(room): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    api.provider.admit_group_info(GroupInfoAsker::Peer(peer.clone()))?;
    hub_room(&api, &room)?;
    let request = GroupInfoRequest::decode(&body, DEFAULT_MAX_BODY_LEN)?;
    // A provider asks under its own credential `mimi://<peer>` (a follower), anyone else for one
    // of the peer's clients.
    if !is_provider_credential(&request.requesting_credential, &peer) {
        let named = mimi_appsync::adapter::client_of(&request.requesting_credential, &|| "requester".into())
            .map(|c| c.as_str().to_owned())
            .unwrap_or_default();
        client_of_peer(&peer, "requestingCredential", &named).map_err(forbidden)?;
    }
    let response = api.provider.group_info(&room, &request, Some(&peer)).await?;
    answer(&response)
}

async fn key_material<S: Store>(
    State(api): State<Arc<Api<S>>>,
    Peer(peer): Peer,
    Path(target): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request = KeyMaterialRequest::decode(&body, DEFAULT_MAX_BODY_LEN)?;
    if request.tbs.target_user.as_str() != target {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "targetUser differs from the path"));
    }
    Ok(passthrough(api.relay.key_material(&request, body.to_vec(), &Submitter::Peer(peer)).await?))
}

async fn notify<S: Store>(
    State(api): State<Arc<Api<S>>>,
    Peer(peer): Peer,
    Path(room): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let span = tracing::info_span!("notify", room = %room, peer = %peer);
    api.relay.follower().notify(&room, &peer, &body).instrument(span).await?;
    Ok((StatusCode::CREATED, "taken in\n").into_response())
}

async fn request_consent<S: Store>(
    State(api): State<Arc<Api<S>>>,
    Peer(peer): Peer,
    Path(target): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    consent(&api, ConsentEndpoint::Request, &peer, &target, &body).await
}

async fn update_consent<S: Store>(
    State(api): State<Arc<Api<S>>>,
    Peer(peer): Peer,
    Path(requester): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    consent(&api, ConsentEndpoint::Update, &peer, &requester, &body).await
}

/// Both consent endpoints: check the entry against the domain rules, record it, 201.
async fn consent<S: Store>(
    api: &Api<S>,
    endpoint: ConsentEndpoint,
    peer: &str,
    path_user: &str,
    body: &[u8],
) -> Result<Response, ApiError> {
    let entry = ConsentEntry::decode(body, DEFAULT_MAX_BODY_LEN)?;
    check_entry(endpoint, api.provider.domain(), peer, path_user, &entry)?;
    api.provider.record_consent(&entry).await?;
    Ok((StatusCode::CREATED, "received\n").into_response())
}

async fn identifier_query<S: Store>(
    State(api): State<Arc<Api<S>>>,
    Peer(peer): Peer,
    Path(domain): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    if !domain.eq_ignore_ascii_case(api.provider.domain()) {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("{domain} is not served here")));
    }
    let request = IdentifierRequest::decode(&body, DEFAULT_MAX_BODY_LEN)?;
    let response = api.provider.identifier_query(&request).await?;
    tracing::info!(peer = %peer, code = ?response.response_code, "identifier query answered");
    answer(&response)
}

async fn report_abuse<S: Store>(
    State(api): State<Arc<Api<S>>>,
    Peer(peer): Peer,
    Path(room): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    hub_room(&api, &room)?;
    let report = AbuseReport::decode(&body, DEFAULT_MAX_BODY_LEN)?;
    user_of_peer(&peer, "reportingUser", report.reporting_user.as_str()).map_err(forbidden)?;
    let span = tracing::info_span!("peer reportAbuse", room = %room, peer = %peer);
    abuse_answer(api.provider.report_abuse(&room, &report, &body, &Submitter::Peer(peer)).instrument(span).await?)
}

/// The HTTP answer to a report: 201 kept, 422 refused (module docs).
pub(crate) fn abuse_answer(outcome: Result<(), crate::hub::franking::AbuseRefusal>) -> Result<Response, ApiError> {
    match outcome {
        Ok(()) => Ok((StatusCode::CREATED, "report kept\n").into_response()),
        Err(refusal) => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, refusal.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(d: &str) -> PeerIdentity {
        PeerIdentity { domains: vec![d.into()] }
    }

    #[test]
    fn transport_identity_is_checked() {
        let b = cert("b.example");
        let ok = authorize_peer(Some(&b), Some("mimi@b.example"), Some("a.example:8443"), "a.example");
        assert_eq!(ok.unwrap(), "b.example");
        assert!(authorize_peer(Some(&b), Some("mimi@B.example"), Some("a.example"), "a.example").is_ok());
        let status = |r: Result<String, ApiError>| r.unwrap_err().status;
        assert_eq!(status(authorize_peer(None, Some("mimi@b.example"), Some("a.example"), "a.example")), 401);
        assert_eq!(status(authorize_peer(Some(&b), Some("mimi@c.example"), Some("a.example"), "a.example")), 403);
        assert_eq!(status(authorize_peer(Some(&b), None, Some("a.example"), "a.example")), 403);
        assert_eq!(status(authorize_peer(Some(&b), Some("b.example"), Some("a.example"), "a.example")), 403);
        assert_eq!(status(authorize_peer(Some(&b), Some("mimi@b.example"), Some("c.example"), "a.example")), 403);
        assert_eq!(status(authorize_peer(Some(&b), Some("mimi@b.example"), None, "a.example")), 403);
        assert_eq!(status(authorize_peer(Some(&b), Some("mimi@b.example"), Some("a.example:x"), "a.example")), 403);
    }
}
