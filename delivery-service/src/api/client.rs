//! The client API: how this provider's own clients reach it (not specified by MIMI; ours).
//!
//! HTTPS under `/client/v1/`. Every request but `hubKey` and `register` carries `Authorization:
//! Bearer <credential>`: a token this provider issued (`register`, `token`), or, where the provider
//! takes its identity service's logins (`registration = "jwt"`), such a JWT (see [`crate::auth`]).
//! MLS payloads are the TLS-PL structures of protocol-06 ([`mimi_protocol`]) or of
//! [`mimi_protocol::client_api`], as `application/octet-stream`. `{roomId}` and `{targetUser}` are
//! full URIs percent-encoded as one path segment.
//!
//! | method and path | request body | response |
//! |---|---|---|
//! | `GET /client/v1/hubKey` | — (no token needed) | 200 the hub's `ExternalSender` (for a new room's `external_senders`) |
//! | `POST /client/v1/register` | JSON `{"user": "alice", "device": "phone", "code": C}`; `code` only with enrollment codes; instead, `Authorization: Bearer` with a token of one of the user's current devices, or a login | 201 JSON `{"client": URI, "token": T, "expires_ms": N}`; 401 no or a wrong credential, 403 a credential of another user, 409 the device exists |
//! | `POST /client/v1/token` | — | 201 JSON `{"client": URI, "token": T, "expires_ms": N}`: a new token; the one presented stops working |
//! | `POST /client/v1/keyPackages` | `KeyPackageUpload` (the caller's own KeyPackages) | 201 |
//! | `POST /client/v1/keyMaterial/{targetUser}` | `KeyMaterialRequest` signed by the caller | 200 `KeyMaterialResponse` |
//! | `POST /client/v1/consent` | `ConsentEntry` (`grant`/`revoke`, the caller's user as target) | 201; recorded, then sent to the requester's provider (`updateConsent`) |
//! | `POST /client/v1/rooms/{roomId}` | the creator's GroupInfo MLSMessage, with `ratchet_tree` | 201 |
//! | `POST /client/v1/rooms/{roomId}/update` | `UpdateRequest` (a `HandshakeBundle`) | 200 `UpdateRoomResponse` |
//! | `POST /client/v1/rooms/{roomId}/submitMessage` | `SubmitMessageRequest` (`sendingUri` = the caller or its user) | 200 `SubmitMessageResponse` |
//! | `POST /client/v1/rooms/{roomId}/groupInfo` | `GroupInfoRequest` for the caller's credential | 200 `GroupInfoResponse` |
//! | `POST /client/v1/rooms/{roomId}/reportAbuse` | `AbuseReport` (`reportingUser` = the caller's user) | 201 kept; 422 a frank does not verify (see `crate::api::mimi`) |
//! | `POST /client/v1/identifierQuery/{domain}` | `IdentifierRequest` | 200 `IdentifierResponse` from the provider of `{domain}` |
//! | `GET /client/v1/rooms/{roomId}/log?after=N&limit=L&wait=S` | — | 200 `RoomEntries` |
//! | `GET /client/v1/queue?after=N&limit=L&wait=S` | — | 200 `ClientQueue` |
//!
//! **Inbox.** A client reads each room's log from a cursor (`after`): entries come in hub order,
//! each once, with their log position; `next_after` is the cursor for the next call. The
//! caller's own submissions are left out (it learns the outcome from its `update` or
//! `submitMessage` answer). `wait` (seconds, at most 30) long-polls until something newer exists.
//! Welcomes arrive in the client's queue with the log position to start reading the room from.
//! A client that reconnects with its last cursors gets everything after them, exactly once.
//! Only current members of a room (or clients welcomed into it) may read its log.
//!
//! **Franks.** In a room whose GroupContext names the hub as franking agent (component 0x0021,
//! the value being the hub's `ExternalSender` from `hubKey`), an application message whose
//! authenticated data carries a `frank_aad` is franked when accepted: the sender gets the frank
//! in its `submitMessage` answer, every reader finds it with the hub's acceptance time in the
//! entry's `FanoutMessage` (`frank`, `timestamp`), at the hub and at followers alike. A reader
//! reports a message with `reportAbuse`, giving the decrypted content, that frank and timestamp.
//!
//! **Rooms of other hubs.** A room whose URI names another provider (`mimi://<hub>/r/...`) is
//! used through this API exactly like a local one: `update`, `submitMessage` and `groupInfo` are
//! relayed to the room's hub and its answer is returned unchanged (so is `reportAbuse`), except an
//! `update` whose handshake the calling client did not sign, answered `notAllowed` here
//! (`Follower::check_relayed`); `log` reads this provider's mirror of the room (what the hub fanned
//! out, in hub order, numbered locally), for its members and removed clients up to their removal,
//! as the follower's copy of the room says; Welcomes arrive
//! in the queue with the mirror position to read after. `keyMaterial` for a user of another
//! provider goes through the room's hub (see `crate::federation::relay`). Rooms are created only
//! at their creator's provider. `identifierQuery` for another domain is sent straight to that
//! domain's provider (never through a hub) and its answer returned unchanged.
//!
//! **Answers.** `update`, `submitMessage`, `keyMaterial` and `groupInfo` answer 200 with the
//! protocol outcome (`success`, `wrongEpoch` with the current epoch, `notAllowed`,
//! `invalidProposal`, `epochTooOld`, key-material codes, `notAuthorized`); a `success` is
//! durable when sent. Errors: 400 undecodable body (one-line reason), 401 missing, unknown,
//! expired or revoked credential, 403 not allowed for this caller, 404 unknown room, 413 body too large, 429 rate limited
//! and 503 storage trouble (both with `Retry-After`); 500 is a fault of the server, whose
//! one-line body and `x-request-id` header carry the request's id, under which the cause is
//! logged (see `crate::api::request_id`).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use mimi_appsync::uri::ClientUri;
use serde::Deserialize;
use tls_codec::Serialize as _;
use tracing::Instrument as _;

use super::request_id;
use super::response::{answer, encoded, octets, passthrough, ApiError};
use crate::auth::NewToken;
use crate::federation::consent::check_own_decision;
use crate::federation::relay::Relay;
use crate::hub::admission::GroupInfoAsker;
use crate::hub::outgoing::write_fanout;
use crate::hub::received::{app_message_bytes, key_package_bytes, BundleBytes};
use crate::hub::{LogEntry, QueueItem};
use crate::provider::{Authenticated, Provider, Submitter};
use crate::store::Store;
use mimi_protocol::abuse::AbuseReport;
use mimi_protocol::client_api::KeyPackageUpload;
use mimi_protocol::consent::ConsentEntry;
use mimi_protocol::directory::Endpoint;
use mimi_protocol::group_info::GroupInfoRequest;
use mimi_protocol::identifier::IdentifierRequest;
use mimi_protocol::key_material::KeyMaterialRequest;
use mimi_protocol::ratchet_tree::RatchetTreeOption;
use mimi_protocol::submit::{SubmitMessageRequest, SubmitMessageResponse};
use mimi_protocol::update::{UpdateRequest, UpdateRoomOutcome, UpdateRoomResponse};
use mimi_protocol::{Body, IdentifierUri, Protocol, WireError, DEFAULT_MAX_BODY_LEN};

/// Longest long-poll a client may ask for.
const MAX_WAIT: Duration = Duration::from_secs(30);
/// Most entries per read.
const MAX_LIMIT: usize = 1000;

/// Shared state of the client API.
struct Api<S: Store> {
    provider: Arc<Provider<S>>,
    /// Federation: relay to other hubs and mirror reads (`None`: local rooms only).
    relay: Option<Arc<Relay<S>>>,
}

impl<S: Store> Api<S> {
    /// The relay, if `room`'s hub is another provider and federation is on.
    fn remote(&self, room: &str) -> Option<&Relay<S>> {
        self.relay.as_deref().filter(|_| !self.provider.is_hub_of(room))
    }
}

/// The router for local rooms only, to be served under the provider's HTTPS listener.
pub fn router<S: Store>(provider: Arc<Provider<S>>) -> Router {
    routes(Api { provider, relay: None })
}

/// The router with federation: rooms of other hubs are relayed and mirrored (module docs).
pub fn router_with_relay<S: Store>(provider: Arc<Provider<S>>, relay: Arc<Relay<S>>) -> Router {
    routes(Api { provider, relay: Some(relay) })
}

fn routes<S: Store>(api: Api<S>) -> Router {
    let api = Arc::new(api);
    Router::new()
        .route("/client/v1/hubKey", get(hub_key::<S>))
        .route("/client/v1/register", post(register::<S>))
        .route("/client/v1/token", post(renew_token::<S>))
        .route("/client/v1/keyPackages", post(upload_key_packages::<S>))
        .route("/client/v1/keyMaterial/{target}", post(key_material::<S>))
        .route("/client/v1/consent", post(consent::<S>))
        .route("/client/v1/rooms/{room}", post(create_room::<S>))
        .route("/client/v1/rooms/{room}/update", post(update::<S>))
        .route("/client/v1/rooms/{room}/submitMessage", post(submit_message::<S>))
        .route("/client/v1/rooms/{room}/groupInfo", post(group_info::<S>))
        .route("/client/v1/rooms/{room}/reportAbuse", post(report_abuse::<S>))
        .route("/client/v1/identifierQuery/{domain}", post(identifier_query::<S>))
        .route("/client/v1/rooms/{room}/log", get(read_log::<S>))
        .route("/client/v1/queue", get(read_queue::<S>))
        .with_state(api)
        .layer(axum::middleware::from_fn(request_id::layer))
}

/// The authenticated calling client.
struct Caller(ClientUri);

impl<S: Store> FromRequestParts<Arc<Api<S>>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<Api<S>>) -> Result<Self, Self::Rejection> {
        Ok(Caller(Session::from_request_parts(parts, state).await?.0.client))
    }
}

/// The authenticated calling client, with the credential it presented.
struct Session(Authenticated);

impl<S: Store> FromRequestParts<Arc<Api<S>>> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<Api<S>>) -> Result<Self, Self::Rejection> {
        let credential = bearer(&parts.headers)?
            .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "missing Authorization: Bearer <token>"))?;
        Ok(Session(state.provider.authenticate(credential).await?))
    }
}

/// The bearer credential of a request, if it has an `Authorization` header.
fn bearer(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let credential = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).map(str::trim);
    match credential {
        Some(c) if !c.is_empty() => Ok(Some(c)),
        _ => Err(ApiError::new(StatusCode::UNAUTHORIZED, "Authorization must be Bearer <token>")),
    }
}

/// The hub's external-sender key and credential (TLS-PL `ExternalSender`), which a client
/// creating a room puts into its GroupContext's `external_senders`.
async fn hub_key<S: Store>(State(api): State<Arc<Api<S>>>) -> Result<Response, ApiError> {
    let body = api.provider.hub_external_sender().tls_serialize_detached().map_err(ApiError::internal)?;
    Ok(octets(StatusCode::OK, body))
}

#[derive(Deserialize)]
struct Registration {
    user: String,
    device: String,
    /// An enrollment code (`mimi-ds user add`).
    code: Option<String>,
}

/// Registers a device: with an enrollment code, a bearer credential (a token of one of the user's
/// current devices, or a login), or, under open registration, nothing (see [`crate::auth`]).
async fn register<S: Store>(
    State(api): State<Arc<Api<S>>>,
    headers: HeaderMap,
    Json(r): Json<Registration>,
) -> Result<Response, ApiError> {
    let credential = bearer(&headers)?;
    let (client, token) = api.provider.register_client(&r.user, &r.device, r.code.as_deref(), credential).await?;
    tracing::info!(client = %client, registration = api.provider.registration_mode(), "client registered");
    Ok(issued(&client, &token))
}

/// A new token for the calling device; the one it presented stops working.
async fn renew_token<S: Store>(State(api): State<Arc<Api<S>>>, Session(caller): Session) -> Result<Response, ApiError> {
    let token = api.provider.renew_token(&caller).await?;
    Ok(issued(&caller.client, &token))
}

/// The answer handing a device its token.
fn issued(client: &ClientUri, token: &NewToken) -> Response {
    let body =
        serde_json::json!({ "client": client.as_str(), "token": token.token, "expires_ms": token.stored.expires_ms });
    (StatusCode::CREATED, Json(body)).into_response()
}

async fn upload_key_packages<S: Store>(
    State(api): State<Arc<Api<S>>>,
    Caller(client): Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    let upload = KeyPackageUpload::decode(&body, DEFAULT_MAX_BODY_LEN)?;
    // The KeyPackages as received (the body was decoded from these very bytes).
    let packages: Vec<Vec<u8>> =
        key_package_bytes(&upload, &body).map_err(ApiError::internal)?.into_iter().map(<[u8]>::to_vec).collect();
    let n = api.provider.upload_key_packages(&client, &packages).await?;
    Ok((StatusCode::CREATED, format!("{n} stored\n")).into_response())
}

async fn key_material<S: Store>(
    State(api): State<Arc<Api<S>>>,
    Caller(client): Caller,
    Path(target): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request = KeyMaterialRequest::decode(&body, DEFAULT_MAX_BODY_LEN)?;
    if request.tbs.target_user.as_str() != target {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "targetUser differs from the path"));
    }
    if let Some(relay) = &api.relay {
        return Ok(passthrough(relay.key_material(&request, body.to_vec(), &Submitter::Client(client)).await?));
    }
    let response = api.provider.key_material(&request, &Submitter::Client(client)).await?;
    answer(&response)
}

/// A local user's consent decision: recorded (in effect for claims at once), then sent to the
/// requester's provider. If that provider cannot be reached the decision stands here; it is
/// logged, not retried (the draft lets a provider not send a `revoke` at all).
async fn consent<S: Store>(
    State(api): State<Arc<Api<S>>>,
    Caller(client): Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    let entry = ConsentEntry::decode(&body, DEFAULT_MAX_BODY_LEN)?;
    let requester = check_own_decision(&client.user(), &entry)?;
    api.provider.record_consent(&entry).await?;
    if let Some(relay) = &api.relay {
        match relay.update_consent(&requester, body.to_vec()).await {
            Ok(Some(answer)) if !answer.status.is_success() => {
                tracing::warn!(requester = %requester, status = %answer.status, "updateConsent refused")
            }
            Err(e) => tracing::warn!(requester = %requester, error = %e, "updateConsent not delivered"),
            Ok(_) => {}
        }
    }
    Ok((StatusCode::CREATED, "recorded\n").into_response())
}

async fn create_room<S: Store>(
    State(api): State<Arc<Api<S>>>,
    Caller(client): Caller,
    Path(room): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    api.provider.create_room(&client, &room, &body).await?;
    Ok((StatusCode::CREATED, "created\n").into_response())
}

async fn update<S: Store>(
    State(api): State<Arc<Api<S>>>,
    Caller(client): Caller,
    Path(room): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request = match decode_update(&body)? {
        Ok(r) => r,
        Err(refusal) => return Ok(refusal),
    };
    if let Some(relay) = api.remote(&room) {
        Relay::<S>::hub(&room)?;
        // Checked on our copy of the room first: a client relays only what it signed.
        if let Some(refusal) = relay.follower().check_relayed(&room, client.as_str(), &request.bundle, &body).await? {
            return answer(&refusal);
        }
        let message = BundleBytes::locate(&request.bundle, &body).map_err(ApiError::internal)?.message;
        return Ok(passthrough(relay.to_hub(Endpoint::Update, &room, &client, Some(message), body.to_vec()).await?));
    }
    let span = tracing::info_span!("update", room = %room, client = %client);
    let submitter = Submitter::Client(client.clone());
    let response = api.provider.update_received(&room, &request.bundle, &body, &submitter).instrument(span).await?;
    answer(&response)
}

async fn submit_message<S: Store>(
    State(api): State<Arc<Api<S>>>,
    Caller(client): Caller,
    Path(room): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request = SubmitMessageRequest::decode(&body, DEFAULT_MAX_BODY_LEN)?;
    // `sendingUri` may name the calling client or its user; the hub checks the client.
    let sending = request.sending_uri.as_str();
    if sending != client.as_str() && sending != client.user().as_str() {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "sendingUri must be the calling client or its user"));
    }
    if let Some(relay) = api.remote(&room) {
        let message = app_message_bytes(&request, &body).map_err(ApiError::internal)?;
        let answer = relay.to_hub(Endpoint::SubmitMessage, &room, &client, Some(message), body.to_vec()).await?;
        return Ok(passthrough(answer));
    }
    let status = api.provider.submit_message_received(&room, &request, &body, client.as_str()).await?;
    answer(&SubmitMessageResponse { protocol: Protocol::Mls10, status })
}

async fn group_info<S: Store>(
    State(api): State<Arc<Api<S>>>,
    Caller(client): Caller,
    Path(room): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    api.provider.admit_group_info(GroupInfoAsker::Client(client.as_str().to_owned()))?;
    let request = GroupInfoRequest::decode(&body, DEFAULT_MAX_BODY_LEN)?;
    let named = mimi_appsync::adapter::client_of(&request.requesting_credential, &|| "requester".into()).ok();
    if named.as_ref() != Some(&client) {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "requestingCredential must be the calling client's"));
    }
    if let Some(relay) = api.remote(&room) {
        return Ok(passthrough(relay.to_hub(Endpoint::GroupInfo, &room, &client, None, body.to_vec()).await?));
    }
    let response = api.provider.group_info(&room, &request, None).await?;
    answer(&response)
}

async fn report_abuse<S: Store>(
    State(api): State<Arc<Api<S>>>,
    Caller(client): Caller,
    Path(room): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let report = AbuseReport::decode(&body, DEFAULT_MAX_BODY_LEN)?;
    if report.reporting_user.as_str() != client.user().as_str() {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "reportingUser must be the calling client's user"));
    }
    if let Some(relay) = api.remote(&room) {
        return Ok(passthrough(relay.to_hub(Endpoint::ReportAbuse, &room, &client, None, body.to_vec()).await?));
    }
    if !api.provider.is_hub_of(&room) {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("unknown room {room}")));
    }
    let outcome = api.provider.report_abuse(&room, &report, &body, &Submitter::Client(client)).await?;
    super::mimi::abuse_answer(outcome)
}

async fn identifier_query<S: Store>(
    State(api): State<Arc<Api<S>>>,
    Caller(_client): Caller,
    Path(domain): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request = IdentifierRequest::decode(&body, DEFAULT_MAX_BODY_LEN)?;
    if domain.eq_ignore_ascii_case(api.provider.domain()) {
        let response = api.provider.identifier_query(&request).await?;
        return answer(&response);
    }
    match &api.relay {
        Some(relay) => Ok(passthrough(relay.identifier_query(&domain, body.to_vec()).await?)),
        None => Err(ApiError::new(StatusCode::NOT_FOUND, format!("{domain} is not served here"))),
    }
}

/// Decodes an `UpdateRequest`; a well-formed MLS message of the wrong kind (e.g. a
/// PrivateMessage handshake) is a protocol refusal (`notAllowed`, 200), not an undecodable body
/// (docs/DESIGN.md §3.5): that answer is the inner `Err`.
pub(crate) fn decode_update(body: &[u8]) -> Result<Result<UpdateRequest, Response>, ApiError> {
    match UpdateRequest::decode(body, DEFAULT_MAX_BODY_LEN) {
        Ok(r) => Ok(Ok(r)),
        Err(e @ WireError::UnexpectedWireFormat { .. }) => {
            let refusal =
                UpdateRoomResponse { error_description: e.to_string().into(), outcome: UpdateRoomOutcome::NotAllowed };
            Ok(Err(octets(StatusCode::OK, encoded(&refusal)?)))
        }
        Err(e) => Err(e.into()),
    }
}

/// `after`, `limit` and `wait` of the read endpoints.
#[derive(Deserialize)]
struct Cursor {
    #[serde(default)]
    after: u64,
    limit: Option<usize>,
    #[serde(default)]
    wait: u64,
}

impl Cursor {
    fn limit(&self) -> usize {
        self.limit.unwrap_or(MAX_LIMIT).clamp(1, MAX_LIMIT)
    }

    fn wait(&self) -> Duration {
        Duration::from_secs(self.wait).min(MAX_WAIT)
    }
}

async fn read_log<S: Store>(
    State(api): State<Arc<Api<S>>>,
    Caller(client): Caller,
    Path(room): Path<String>,
    Query(cursor): Query<Cursor>,
) -> Result<Response, ApiError> {
    let entries: Vec<LogEntry> = match api.remote(&room) {
        Some(relay) => {
            relay.follower().read_log(&room, client.as_str(), cursor.after, cursor.limit(), cursor.wait()).await?
        }
        None => api.provider.read_log(&room, &client, cursor.after, cursor.limit(), cursor.wait()).await?,
    };
    let next_after = entries.last().map(|e| e.seq).unwrap_or(cursor.after);
    let own = |e: &&LogEntry| e.sender_uri() != client.as_str();
    let body = room_entries(next_after, entries.iter().filter(own)).map_err(ApiError::internal)?;
    Ok(octets(StatusCode::OK, body))
}

async fn read_queue<S: Store>(
    State(api): State<Arc<Api<S>>>,
    Caller(client): Caller,
    Query(cursor): Query<Cursor>,
) -> Result<Response, ApiError> {
    let items = api.provider.read_queue(&client, cursor.after, cursor.limit(), cursor.wait()).await?;
    Ok(octets(StatusCode::OK, client_queue(&items).map_err(ApiError::internal)?))
}

/// Why a stored item cannot be served.
#[derive(Debug, thiserror::Error)]
enum Unservable {
    /// The encoding failed (a vector over the MLS varint maximum).
    #[error(transparent)]
    Encode(#[from] tls_codec::Error),
    /// A queued Welcome's room URI is not UTF-8 (the store wrote what it was given).
    #[error("queue item {0}: the room URI is not UTF-8")]
    Room(u64),
}

/// Appends a TLS-PL vector: its MLS varint length, then `items`.
fn vector(out: &mut Vec<u8>, items: &[u8]) -> Result<(), tls_codec::Error> {
    tls_codec::vlen::write_length(out, items.len())?;
    out.extend_from_slice(items);
    Ok(())
}

/// The `RoomEntries` body for `entries`, written around the logged bytes of their messages
/// ([`write_fanout`]): the encoding of the typed structure, with no message decoded or encoded.
fn room_entries<'a>(next_after: u64, entries: impl Iterator<Item = &'a LogEntry>) -> Result<Vec<u8>, tls_codec::Error> {
    let mut items = Vec::new();
    for e in entries {
        e.seq.tls_serialize(&mut items)?;
        e.epoch.tls_serialize(&mut items)?;
        write_fanout(e, &mut items)?;
    }
    let mut out = Vec::with_capacity(items.len() + 12);
    next_after.tls_serialize(&mut out)?;
    vector(&mut out, &items)?;
    Ok(out)
}

/// The `ClientQueue` body for `items`, written around the stored Welcomes (each an MLSMessage)
/// like [`room_entries`].
fn client_queue(items: &[QueueItem]) -> Result<Vec<u8>, Unservable> {
    let mut encoded = Vec::new();
    for q in items {
        let room = std::str::from_utf8(q.room.as_slice()).map_err(|_| Unservable::Room(q.seq))?;
        q.seq.tls_serialize(&mut encoded)?;
        IdentifierUri::new(room).tls_serialize(&mut encoded)?;
        q.after_seq.tls_serialize(&mut encoded)?;
        encoded.extend_from_slice(q.welcome.as_slice());
        RatchetTreeOption::DistributionService.tls_serialize(&mut encoded)?;
    }
    let mut out = Vec::with_capacity(encoded.len() + 4);
    vector(&mut out, &encoded)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use openmls::prelude::tls_codec::Deserialize as _;
    use openmls::prelude::MlsMessageIn;

    use super::*;
    use crate::hub::admission::memory::TestRoom;
    use crate::hub::received::BundleBytes;
    use mimi_protocol::client_api::{ClientQueue, RoomEntries, RoomEntry, WelcomeItem};

    #[test]
    fn room_entries_and_queues_written_from_stored_bytes_equal_the_typed_encoding() {
        let mut t = TestRoom::new();
        let bob = t.client("b.example", "bob", "phone");
        let d = t.decide_adds(&[&bob]);
        let app = t.message_entry(b"hi");
        let commit = d.entry.clone();
        let typed = RoomEntries {
            next_after: 9,
            entries: [&commit, &app]
                .iter()
                .map(|e| RoomEntry { seq: e.seq, epoch: e.epoch, fanout: e.to_fanout().unwrap() })
                .collect(),
        };
        assert_eq!(room_entries(9, [&commit, &app].into_iter()).unwrap(), typed.encode().unwrap());
        let empty = RoomEntries { next_after: 3, entries: Vec::new() };
        assert_eq!(room_entries(3, std::iter::empty()).unwrap(), empty.encode().unwrap());

        let body = BundleBytes::encode(&d.bundle).unwrap();
        let welcome = BundleBytes::locate(&d.bundle, &body).unwrap().welcome_message().unwrap();
        let item = |seq: u64| QueueItem {
            seq,
            room: t.room.id().as_bytes().to_vec().into(),
            after_seq: 4,
            welcome: welcome.clone().into(),
            ratchet_tree: Vec::new().into(),
        };
        let typed = ClientQueue {
            items: [1, 2]
                .map(|seq| WelcomeItem {
                    seq,
                    room: IdentifierUri::new(t.room.id()),
                    after_seq: 4,
                    welcome: MlsMessageIn::tls_deserialize_exact(&welcome).unwrap(),
                    ratchet_tree_option: RatchetTreeOption::DistributionService,
                })
                .to_vec(),
        };
        assert_eq!(client_queue(&[item(1), item(2)]).unwrap(), typed.encode().unwrap());
        assert_eq!(client_queue(&[]).unwrap(), ClientQueue { items: Vec::new() }.encode().unwrap());
        let mut corrupt = item(3);
        corrupt.room = vec![0xff].into();
        assert!(matches!(client_queue(&[corrupt]), Err(Unservable::Room(3))));
    }
}
