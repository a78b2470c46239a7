//! The follower checks: the suite plays the hub (`--our-domain`) of a room of its own and checks a
//! follower provider (registry: the `follower.*` entries of [`super::CHECKS`]).
//!
//! The suite's hub is deliberately simple: its client `interop-alice` is a member of the room and the
//! hub accepts a relayed commit or message when alice can process it (a real hub validates as a
//! non-member; here only the follower is under test). It serves `update` and `submitMessage`, records
//! every relayed request with its transport identity, answers `success`/`accepted`, and fans the entry
//! back to the follower by `/notify`.
//!
//! # What the suite needs from the follower
//! The follower must reach our domain at `--listen`, and have a user with KeyPackages in its
//! directory. [`FollowerBootstrap::ClientApi`] (a `mimi-ds` follower): the suite registers
//! `interop-carol` (invited) and `interop-erin` (not invited) through the follower's client API, and
//! drives carol's client to observe deliveries and make it relay. [`FollowerBootstrap::User`]: a user of
//! the follower is invited; what needs the follower's clients is not applicable.
//!
//! # The scenario
//! claim carol's KeyPackages from the follower → alice adds carol → `/notify` with the commit and the
//! Welcome (201) → the same body again (201, taken in once) → carol joins, erin gets nothing → carol
//! commits a key update (relayed `update`) → carol sends a message (relayed `submitMessage`) → erin,
//! never a member, relays alice's invite commit and asks for the room's log (refused) → the hub fans
//! out a commit of alice's whose signature was tampered with (refused with a 4xx, not delivered).
//!
//! The suite's hub also serves `groupInfo` (the current epoch's GroupInfo and tree from alice, signed
//! with the hub key) to a provider asking under its own credential `mimi://<domain>`, as a follower
//! that keeps a copy of the room to check what the hub fans out does.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse as _, Response};
use axum::routing::post;
use axum::Router;
use mimi_appsync::ops;
use mimi_appsync::ops::UserOperation;
use mimi_appsync::presets;
use mimi_appsync::uri::{ClientUri, UserUri};
use mimi_protocol::directory::{Directory, Endpoint};
use mimi_protocol::group_info::{
    ExternalSender, GroupInfoRatchetTreeTBE, GroupInfoRequest, GroupInfoResponse, GroupInfoStatus,
};
use mimi_protocol::key_material::{
    ClientKeyMaterialStatus, KeyMaterialRequest, KeyMaterialRequestTBS, KeyMaterialResponse,
};
use mimi_protocol::mls_message::reparse;
use mimi_protocol::notify::{FanoutFraming, FanoutMessage};
use mimi_protocol::ratchet_tree::RatchetTreeOption;
use mimi_protocol::submit::{SubmitMessageRequest, SubmitMessageResponse, SubmitMessageStatus};
use mimi_protocol::update::{HandshakeBundleContent, UpdateRequest, UpdateRoomOutcome, UpdateRoomResponse};
use mimi_protocol::{Body, IdentifierUri, Protocol, Utf8String, DEFAULT_MAX_BODY_LEN};
use mimi_testkit::{tamper_signature, RoomSetup};
use openmls::prelude::{
    BasicCredential, MlsMessageBodyIn, MlsMessageIn, OpenMlsProvider, ProtocolVersion, RatchetTreeIn,
};
use openmls_basic_credential::SignatureKeyPair;

use super::member::Member;
use super::net::{Call, Credentials, Peer, Target};
use super::serve::{self, AuthenticatedPeer, OurDomain};
use super::{decoded, Outcome, Report, Selection, SuiteError};
use mimi_appsync::group::{required_capabilities, CIPHERSUITE};

/// How long the suite waits for the follower's clients to see a delivery.
pub const DELIVERY_WAIT: Duration = Duration::from_secs(20);

/// How the follower's users come about (module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowerBootstrap {
    /// Through the follower's `mimi-ds` client API at the target address.
    ClientApi,
    /// A user of the follower with KeyPackages (URI).
    User(String),
}

/// One run of the follower checks.
#[derive(Debug, Clone)]
pub struct FollowerRun {
    /// The follower.
    pub target: Target,
    /// The suite's TLS files and domain (the hub's).
    pub credentials: Credentials,
    /// Where the suite's hub listens.
    pub listen: SocketAddr,
    /// How the follower's users come about.
    pub bootstrap: FollowerBootstrap,
    /// Which checks run.
    pub selection: Selection,
}

/// A request the follower relayed to the suite's hub.
#[derive(Debug, Clone)]
pub struct Relayed {
    /// `update` or `submitMessage`.
    pub endpoint: &'static str,
    /// The peer domain from the certificate and `From` (after authentication).
    pub peer: String,
    /// The body.
    pub body: Vec<u8>,
    /// What the suite's hub made of it: `Ok(detail)` processed and accepted, `Err(why)` refused.
    pub verdict: Result<String, String>,
}

/// The hub role's state.
struct HubInner {
    /// The room.
    room: String,
    /// alice, the hub's member in the room.
    alice: Member,
    /// Relayed requests, in arrival order.
    relayed: Vec<Relayed>,
    /// The hub's external-sender key, once the room exists.
    hub_key: Option<SignatureKeyPair>,
}

/// Shared between the handlers and the scenario.
#[derive(Clone)]
struct HubState {
    ours: String,
    inner: Arc<Mutex<HubInner>>,
    peer: Peer,
    directory: Arc<Mutex<Directory>>,
}

impl OurDomain for HubState {
    fn our_domain(&self) -> &str {
        &self.ours
    }
}

impl HubState {
    fn lock(&self) -> MutexGuard<'_, HubInner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn directory(&self) -> Directory {
        self.directory.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Sends `messages` to the follower by `/notify`.
    async fn notify(&self, messages: &[FanoutMessage]) -> Result<Call, SuiteError> {
        let room = self.lock().room.clone();
        let body = FanoutMessage::encode_body(messages)?;
        let url = self.directory().url(Endpoint::Notify, &room);
        Ok(self.peer.post(Endpoint::Notify, &url, body, decoded(&messages), &self.ours, true).await)
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn hub_router(state: HubState) -> Router {
    Router::new()
        .route(&Endpoint::Update.path_template(), post(update))
        .route(&Endpoint::SubmitMessage.path_template(), post(submit_message))
        .route(&Endpoint::GroupInfo.path_template(), post(group_info))
        .with_state(state)
}

/// `groupInfo` for a provider's own request (a follower building its copy of the room).
async fn group_info(
    State(state): State<HubState>,
    Path(room): Path<String>,
    AuthenticatedPeer(peer): AuthenticatedPeer,
    body: Bytes,
) -> Response {
    let request = match GroupInfoRequest::decode(&body, DEFAULT_MAX_BODY_LEN) {
        Ok(r) => r,
        Err(e) => return (axum::http::StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    };
    let served = serve_group_info(&state.lock(), &state.ours, &room, &peer, &request);
    match served {
        Ok(response) => serve::encoded(&response),
        Err(why) => {
            tracing::info!(room, peer, why, "groupInfo not served");
            serve::encoded(&GroupInfoResponse {
                version: Protocol::Mls10,
                room_id: room.as_bytes().to_vec().into(),
                status: GroupInfoStatus::NotAuthorized,
            })
        }
    }
}

/// The GroupInfo answer for `peer`'s request under its provider credential, from alice's group.
fn serve_group_info(
    inner: &HubInner,
    ours: &str,
    room: &str,
    peer: &str,
    request: &GroupInfoRequest,
) -> Result<GroupInfoResponse, String> {
    if inner.room != room {
        return Err(format!("unknown room {room}"));
    }
    let crypto = inner.alice.provider().crypto();
    request.verify(crypto).map_err(|e| e.to_string())?;
    if request.requesting_credential.serialized_content() != format!("mimi://{peer}").as_bytes() {
        return Err("the credential is not the calling provider's".into());
    }
    let hub_key = inner.hub_key.as_ref().ok_or("no room yet")?;
    let message = reparse(&inner.alice.group_info().map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    let MlsMessageBodyIn::GroupInfo(group_info) = message.extract() else {
        return Err("alice exported no GroupInfo".into());
    };
    let tree = inner.alice.group().ok_or("alice is not in the room")?.export_ratchet_tree();
    let tbe = GroupInfoRatchetTreeTBE {
        group_info,
        ratchet_tree_option: RatchetTreeOption::Full { ratchet_tree: RatchetTreeIn::from(tree) },
        pending_proposals: Vec::new(),
    };
    let hub_sender = ExternalSender {
        signature_key: hub_key.to_public_vec().into(),
        credential: BasicCredential::new(format!("mimi://{ours}").into_bytes()).into(),
    };
    GroupInfoResponse::seal_and_sign(crypto, hub_key, request, room.as_bytes(), hub_sender, &tbe)
        .map_err(|e| e.to_string())
}

async fn update(
    State(state): State<HubState>,
    Path(room): Path<String>,
    AuthenticatedPeer(peer): AuthenticatedPeer,
    body: Bytes,
) -> Response {
    let verdict = accept_update(&state, &room, &body);
    let outcome = match &verdict {
        Ok(_) => UpdateRoomOutcome::Success { accepted_timestamp: now_ms() },
        Err(_) => UpdateRoomOutcome::NotAllowed,
    };
    let description = verdict.as_ref().err().cloned().unwrap_or_default();
    let fanout = verdict.as_ref().ok().cloned();
    state.lock().relayed.push(Relayed {
        endpoint: "update",
        peer,
        body: body.to_vec(),
        verdict: verdict.map(|_| "commit processed and merged by the hub's member".to_owned()),
    });
    if let Some(Some(message)) = fanout {
        let fanout = FanoutMessage {
            timestamp: now_ms(),
            message,
            framing: FanoutFraming::Commit { external_proposals: Vec::new() },
        };
        spawn_notify(state.clone(), fanout);
    }
    serve::encoded(&UpdateRoomResponse { error_description: Utf8String::from(description), outcome })
}

/// Sends one FanoutMessage to the follower after the answer (the follower waits for the echo).
fn spawn_notify(state: HubState, fanout: FanoutMessage) {
    tokio::spawn(async move {
        match state.notify(&[fanout]).await {
            Ok(call) if call.status() == 201 => {}
            Ok(call) => tracing::warn!(status = call.status(), "fanout to the follower was not taken in"),
            Err(e) => tracing::warn!(error = %e, "fanout to the follower failed"),
        }
    });
}

/// Decodes a relayed `update` and lets alice process its commit. `Ok(Some(commit))` when accepted.
fn accept_update(state: &HubState, room: &str, body: &[u8]) -> Result<Option<MlsMessageIn>, String> {
    let request = UpdateRequest::decode(body, DEFAULT_MAX_BODY_LEN).map_err(|e| e.to_string())?;
    let mut inner = state.lock();
    if inner.room != room {
        return Err(format!("unknown room {room}"));
    }
    let HandshakeBundleContent::Commit { .. } = request.bundle.content else {
        return Err("the suite's hub takes commits only".into());
    };
    let message = request.bundle.proposal_or_commit.clone();
    let protocol = message.clone().try_into_protocol_message().map_err(|e| format!("{e:?}"))?;
    let epoch = inner.alice.epoch();
    if protocol.epoch().as_u64() != epoch {
        return Err(format!("commit of epoch {} while the room is at {epoch}", protocol.epoch().as_u64()));
    }
    inner.alice.process_commit(protocol).map_err(|e| e.to_string())?;
    Ok(Some(message))
}

async fn submit_message(
    State(state): State<HubState>,
    Path(room): Path<String>,
    AuthenticatedPeer(peer): AuthenticatedPeer,
    body: Bytes,
) -> Response {
    let verdict = accept_message(&state, &room, &body);
    let status = match &verdict {
        Ok(_) => SubmitMessageStatus::Accepted { accepted_timestamp: now_ms(), frank: None },
        Err(_) => SubmitMessageStatus::NotAllowed,
    };
    let fanout = verdict.as_ref().ok().map(|(message, _)| message.clone());
    state.lock().relayed.push(Relayed {
        endpoint: "submitMessage",
        peer,
        body: body.to_vec(),
        verdict: verdict.map(|(_, detail)| detail),
    });
    if let Some(message) = fanout {
        spawn_notify(
            state.clone(),
            FanoutMessage { timestamp: now_ms(), message, framing: FanoutFraming::Application { frank: None } },
        );
    }
    serve::encoded(&SubmitMessageResponse { protocol: Protocol::Mls10, status })
}

/// Decodes a relayed message, checks `sendingUri` against the sender alice decrypts, and returns the
/// message with a description of its plaintext.
fn accept_message(state: &HubState, room: &str, body: &[u8]) -> Result<(MlsMessageIn, String), String> {
    let request = SubmitMessageRequest::decode(body, DEFAULT_MAX_BODY_LEN).map_err(|e| e.to_string())?;
    let mut inner = state.lock();
    if inner.room != room {
        return Err(format!("unknown room {room}"));
    }
    let protocol = request.app_message.clone().try_into_protocol_message().map_err(|e| format!("{e:?}"))?;
    let (sender, plaintext) = inner.alice.decrypt(protocol).map_err(|e| e.to_string())?;
    if sender.as_str() != request.sending_uri.as_str() {
        return Err(format!("sendingUri {} but the message is from {sender}", request.sending_uri.as_str()));
    }
    Ok((request.app_message, format!("from {sender}: {}", hex::encode(plaintext))))
}

/// Runs the selected follower checks.
pub async fn run(run: FollowerRun) -> Result<Report, SuiteError> {
    let ours = run.credentials.our_domain.clone();
    let peer = Peer::new(run.target.clone(), &run.credentials)?;
    let alice_uri =
        ClientUri::parse(&format!("mimi://{ours}/d/interop-alice/d1")).map_err(|e| SuiteError::mls("URI", e))?;
    let alice = Member::new(alice_uri)?;
    let room = format!("mimi://{ours}/r/interop-{}", alice.token());
    let mut report =
        Report::new(format!("follower {} at {} (suite as hub {ours})", run.target.domain, run.target.addr))
            .recording(peer.traffic_log());
    let directory = Directory::ours(&run.target.base_url());
    let state = HubState {
        ours: ours.clone(),
        inner: Arc::new(Mutex::new(HubInner { room: room.clone(), alice, relayed: Vec::new(), hub_key: None })),
        peer: peer.clone(),
        directory: Arc::new(Mutex::new(directory)),
    };
    let server = serve::start(&run.credentials, run.listen, hub_router(state.clone()), peer.traffic_log()).await?;
    let result = scenario(&run, &state, &mut report).await;
    server.stop().await;
    result.map(|()| report)
}

fn record(run: &FollowerRun, report: &mut Report, id: &str, outcome: Outcome) {
    if run.selection.selects(id) {
        report.record(id, outcome);
    }
}

async fn scenario(run: &FollowerRun, state: &HubState, report: &mut Report) -> Result<(), SuiteError> {
    const ALL: [&str; 7] = [
        "follower.notify.accepts",
        "follower.notify.dedup",
        "follower.notify.welcome-routing",
        "follower.relay.update",
        "follower.relay.submit",
        "follower.trust.mirror-members-only",
        "follower.trust.refuses-invalid-fanout",
    ];
    if !run.selection.any(&ALL) {
        return Ok(());
    }
    let call = state.peer.get_directory().await;
    if let Some(directory) = call.ok_body().and_then(|b| Directory::from_json(b).ok()) {
        *state.directory.lock().unwrap_or_else(|p| p.into_inner()) = directory;
    }
    // The follower's users.
    let (target_user, mut clients) = match &run.bootstrap {
        FollowerBootstrap::ClientApi => {
            let connection =
                mimi_client_sim::Connection::new(&run.target.domain, run.target.addr, &run.credentials.ca)?;
            let carol = super::bootstrap_client(&connection, "interop-carol", "d1").await?;
            let erin = super::bootstrap_client(&connection, "interop-erin", "d1").await?;
            carol.upload_key_packages(2).await?;
            erin.upload_key_packages(2).await?;
            (carol.uri().user().to_string(), Some((carol, erin)))
        }
        FollowerBootstrap::User(user) => (user.clone(), None),
    };
    // The room, with the suite's hub key as external sender.
    let room = state.lock().room.clone();
    let hub_key =
        SignatureKeyPair::new(CIPHERSUITE.signature_algorithm()).map_err(|e| SuiteError::mls("hub key", e))?;
    let request = {
        let mut inner = state.lock();
        inner.alice.create_room(&RoomSetup::cooperative(&state.ours, &hub_key.to_public_vec()))?;
        inner.hub_key = Some(hub_key);
        let alice = &mut inner.alice;
        let tbs = KeyMaterialRequestTBS {
            protocol: Protocol::Mls10,
            requesting_user: IdentifierUri::new(alice.uri.user().as_str()),
            target_user: IdentifierUri::new(&target_user),
            room_id: IdentifierUri::new(&room),
            acceptable_ciphersuites: vec![CIPHERSUITE.into()],
            required_capabilities: required_capabilities(),
            requester_signature_key: alice.credential().signature_key.clone(),
            requester_credential: alice.credential().credential.clone(),
        };
        KeyMaterialRequest::sign(tbs, alice.signer())?
    };
    let claim = state.peer.post_body(&state.directory(), Endpoint::KeyMaterial, &target_user, &request).await?;
    let key_packages = match claim.ok_body().map(|b| KeyMaterialResponse::decode(b, DEFAULT_MAX_BODY_LEN)) {
        Some(Ok(response)) => {
            let inner = state.lock();
            let crypto = inner.alice.provider().crypto();
            response
                .clients
                .into_iter()
                .filter_map(|c| match c.status {
                    ClientKeyMaterialStatus::Success { key_package } => {
                        key_package.validate(crypto, ProtocolVersion::Mls10).ok()
                    }
                    _ => None,
                })
                .collect::<Vec<_>>()
        }
        _ => Vec::new(),
    };
    if key_packages.is_empty() {
        let outcome = Outcome::fail_with(
            format!("no KeyPackage of {target_user} could be claimed from the follower, so nothing can be delivered"),
            claim.exchange_text(),
        );
        for id in ALL {
            record(run, report, id, outcome.clone());
        }
        return Ok(());
    }
    let target = UserUri::parse(&target_user).map_err(|e| SuiteError::mls("user URI", e))?;
    let (invite, commit, welcome) = {
        let mut inner = state.lock();
        let op = ops::invite_user(&target, presets::administered_roles::ORDINARY_USER, key_packages)
            .map_err(|e| SuiteError::mls("invite", e))?;
        let (invite, bundle) = inner.alice.commit(op)?;
        inner.alice.merge_pending()?;
        let welcome = bundle.to_welcome_msg().ok_or_else(|| SuiteError::mls("invite", "no Welcome"))?;
        (invite, reparse(bundle.commit())?, reparse(&welcome)?)
    };
    let timestamp = now_ms();
    let messages = [
        FanoutMessage { timestamp, message: commit, framing: FanoutFraming::Commit { external_proposals: Vec::new() } },
        FanoutMessage {
            timestamp,
            message: welcome,
            framing: FanoutFraming::Welcome { ratchet_tree_option: RatchetTreeOption::DistributionService },
        },
    ];
    let first = state.notify(&messages).await?;
    let accepted = first.status() == 201;
    record(
        run,
        report,
        "follower.notify.accepts",
        if accepted {
            Outcome::Pass
        } else {
            Outcome::fail_with(
                format!("/notify from the room's hub must be answered 201, got {}", first.status()),
                first.exchange_text(),
            )
        },
    );
    let again = state.notify(&messages).await?;
    let Some((mut carol, mut erin)) = clients.take() else {
        let dedup = if again.status() == 201 {
            Outcome::NotApplicable {
                reason: "201 for the retry; whether it was taken in once needs the follower's client API".into(),
            }
        } else {
            Outcome::fail_with(
                format!("a byte-identical retry must be answered 201, got {}", again.status()),
                again.exchange_text(),
            )
        };
        record(run, report, "follower.notify.dedup", dedup);
        for id in &ALL[2..] {
            record(
                run,
                report,
                id,
                Outcome::NotApplicable { reason: "needs the follower's client API (--bootstrap)".into() },
            );
        }
        return Ok(());
    };
    let joined = carol.await_welcome(&room, DELIVERY_WAIT).await;
    let queue = carol.session().read_queue(0, Duration::ZERO).await?;
    let welcomes = queue.items.iter().filter(|i| i.room.as_str() == room).count();
    let log = carol.session().read_whole_log(&room).await?;
    let commits = log.iter().filter(|e| e.fanout == messages[0]).count();
    let dedup = if again.status() != 201 {
        Outcome::fail_with(
            format!("a byte-identical retry must be answered 201, got {}", again.status()),
            again.exchange_text(),
        )
    } else if welcomes != 1 || commits > 1 {
        Outcome::fail_with(format!("after the same /notify twice, {} holds {welcomes} Welcome(s) and its room log {commits} copies of the commit (expected 1 and at most 1)", carol.uri()), again.exchange_text())
    } else {
        Outcome::Pass
    };
    record(run, report, "follower.notify.dedup", dedup);
    let erin_rooms = erin.accept_welcomes(Duration::ZERO).await?;
    let routing = match (&joined, erin_rooms.contains(&room)) {
        (Ok(()), false) => Outcome::Pass,
        (Err(e), _) => Outcome::fail_with(
            format!("{} named by the Welcome did not get it: {e}", carol.uri()),
            first.exchange_text(),
        ),
        (Ok(()), true) => Outcome::fail_with(
            format!("{} got a Welcome naming none of its KeyPackages", erin.uri()),
            first.exchange_text(),
        ),
    };
    record(run, report, "follower.notify.welcome-routing", routing);
    if joined.is_err() {
        for id in &ALL[3..] {
            record(run, report, id, Outcome::NotApplicable { reason: "the follower's client did not join".into() });
        }
        return Ok(());
    }

    if run.selection.selects("follower.relay.update") {
        let epoch = state.lock().alice.epoch();
        let result = carol.key_update(&room).await;
        let outcome = relayed_outcome(state, "update", &run.target.domain, result.map(drop).map_err(|e| e.to_string()));
        let outcome = match outcome {
            Outcome::Pass if state.lock().alice.epoch() != epoch + 1 => {
                Outcome::fail("the relayed commit was accepted but did not move the room to the next epoch")
            }
            other => other,
        };
        record(run, report, "follower.relay.update", outcome);
    }
    if run.selection.selects("follower.relay.submit") {
        let text = format!("interop relay {}", hex::encode(carol.uri().as_str()));
        let result = carol.send_text(&room, &text).await;
        let outcome = relayed_outcome(state, "submitMessage", &run.target.domain, result.map_err(|e| e.to_string()));
        let outcome = match outcome {
            Outcome::Pass => {
                let inner = state.lock();
                let detail = inner
                    .relayed
                    .iter()
                    .rev()
                    .find(|r| r.endpoint == "submitMessage")
                    .and_then(|r| r.verdict.clone().ok())
                    .unwrap_or_default();
                if detail.contains(&hex::encode(text.as_bytes())) {
                    Outcome::Pass
                } else {
                    Outcome::fail(format!("the relayed message decrypted to something else ({detail})"))
                }
            }
            other => other,
        };
        record(run, report, "follower.relay.submit", outcome);
    }
    if run.selection.selects("follower.trust.mirror-members-only") {
        // erin was never a member; she relays a handshake she did not sign (alice's invite).
        let relayed = erin.session().update(&room, invite).await;
        let outcome = match erin.session().read_whole_log(&room).await {
            Err(_) => Outcome::Pass,
            Ok(entries) => Outcome::fail(format!(
                "{} was never a member of {room} but was served {} entries of its log (after relaying a handshake it did not sign: {relayed:?})",
                erin.uri(),
                entries.len()
            )),
        };
        record(run, report, "follower.trust.mirror-members-only", outcome);
    }
    if run.selection.selects("follower.trust.refuses-invalid-fanout") {
        let tampered = {
            let mut inner = state.lock();
            let bundle = inner.alice.build_commit(UserOperation::default())?;
            let tampered = tamper_signature(bundle.commit())?;
            inner.alice.clear_pending()?;
            tampered
        };
        let fanout = FanoutMessage {
            timestamp: now_ms(),
            message: tampered,
            framing: FanoutFraming::Commit { external_proposals: Vec::new() },
        };
        let call = state.notify(std::slice::from_ref(&fanout)).await?;
        let log = carol.session().read_whole_log(&room).await?;
        let delivered = log.iter().any(|e| e.fanout == fanout);
        let status = call.status();
        let outcome = if delivered {
            Outcome::fail_with(
                format!(
                    "a commit whose signature does not verify was delivered to {} (answered {status})",
                    carol.uri()
                ),
                call.exchange_text(),
            )
        } else if !(400..500).contains(&status) {
            Outcome::fail_with(
                format!("a commit whose signature does not verify must be refused with a 4xx, got {status}"),
                call.exchange_text(),
            )
        } else {
            Outcome::Pass
        };
        record(run, report, "follower.trust.refuses-invalid-fanout", outcome);
    }
    Ok(())
}

/// Whether the last relayed request to `endpoint` came from `follower` and was accepted.
fn relayed_outcome(state: &HubState, endpoint: &str, follower: &str, client: Result<(), String>) -> Outcome {
    let inner = state.lock();
    let Some(relayed) = inner.relayed.iter().rev().find(|r| r.endpoint == endpoint) else {
        return Outcome::fail(format!(
            "the follower's client did its {endpoint}, but nothing was relayed to the hub ({client:?})"
        ));
    };
    let exchange = super::Exchange {
        request: format!("received POST /v1/{endpoint} from {}", relayed.peer),
        request_hex: super::hex_excerpt(&relayed.body),
        request_decoded: match endpoint {
            "update" => UpdateRequest::decode(&relayed.body, DEFAULT_MAX_BODY_LEN)
                .map_or_else(|e| e.to_string(), |r| decoded(&r)),
            _ => SubmitMessageRequest::decode(&relayed.body, DEFAULT_MAX_BODY_LEN)
                .map_or_else(|e| e.to_string(), |r| decoded(&r)),
        },
        status: 200,
        response_hex: String::new(),
        response_decoded: format!("{:?}", relayed.verdict),
    };
    if !relayed.peer.eq_ignore_ascii_case(follower) {
        return Outcome::fail_with(format!("relayed by {} instead of {follower}", relayed.peer), exchange);
    }
    match (&relayed.verdict, client) {
        (Ok(_), Ok(())) => Outcome::Pass,
        (Err(why), _) => Outcome::fail_with(format!("the relayed {endpoint} is not valid: {why}"), exchange),
        (Ok(_), Err(e)) => Outcome::fail_with(
            format!("the hub accepted the relayed {endpoint} but the follower's client got an error: {e}"),
            exchange,
        ),
    }
}
