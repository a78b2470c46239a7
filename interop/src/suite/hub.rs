//! The hub checks: the suite plays a follower provider (`--our-domain`) with real openmls clients and
//! checks the hub requirement by requirement (registry: the `hub.*` entries of [`super::CHECKS`]).
//!
//! # What the suite needs from the hub
//! protocol-06 has no room-creation operation, so a room must exist in which the suite's users
//! `mimi://<our-domain>/u/interop-bob` and `mimi://<our-domain>/u/interop-dave` (one client each,
//! device `d1`) are participants with a role that may send messages, commit, remove participants and
//! leave, but not ban (room-policy-03 Appendix A.1 "cooperatively administered room", role
//! `ordinary_user`), and the hub must be configured to reach the suite's follower at `--listen`.
//! [`Bootstrap`] says how that room comes about:
//! - [`Bootstrap::ClientApi`]: the hub is a `mimi-ds`; the suite registers `interop-alice` through its
//!   client API (`/client/v1`, `mimi_client_sim`), has her create such a room (she is `group_admin`) and
//!   invite both users: the hub claims their KeyPackages from the suite's `/keyMaterial` and sends the
//!   Welcomes by `/notify`.
//! - [`Bootstrap::Room`]: someone on the hub side created the room and invites both users while the
//!   suite waits; `hub_user` names a hub-local user with KeyPackages for the `keyMaterial` checks.
//! - [`Bootstrap::None`]: the checks that need a room (or a hub user) are not applicable.
//!
//! # The scenario
//! directory → mTLS → keyMaterial → the room (Welcomes) → at epoch E: bob commits (accepted, E+1),
//! dave's commit built on E (refused: wrongEpoch E+1), a PrivateMessage commit, a ban of the admin
//! (policy) → messages (current, of epoch E, with a non-participant's sendingUri) → fanout framing →
//! scripted 500 and 503 + Retry-After answers to `/notify` → dave proposes to leave, bob asks for the
//! GroupInfo (pending proposals) and commits them → a message with dave's sendingUri.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mimi_appsync::ops::{self, UserOperation};
use mimi_appsync::presets;
use mimi_appsync::uri::{ClientUri, UserUri};
use mimi_ds::federation::follower::message_hash;
use mimi_ds::wire::directory::{Directory, Endpoint};
use mimi_ds::wire::group_info::{GroupInfoRequest, GroupInfoResponse, GroupInfoStatus};
use mimi_ds::wire::key_material::{
    ClientKeyMaterialStatus, KeyMaterialRequest, KeyMaterialRequestTBS, KeyMaterialResponse, KeyMaterialUserCode,
};
use mimi_ds::wire::notify::FanoutFraming;
use mimi_ds::wire::submit::{SubmitMessageRequest, SubmitMessageResponse, SubmitMessageStatus};
use mimi_ds::wire::update::{
    HandshakeBundle, HandshakeBundleContent, UpdateRequest, UpdateRoomOutcome, UpdateRoomResponse,
};
use mimi_ds::wire::{Body, IdentifierUri, Protocol, DEFAULT_MAX_BODY_LEN};
use openmls::prelude::tls_codec::Serialize as _;
use openmls::prelude::tls_codec::VLBytes;
use openmls::prelude::{KeyPackageRef, MlsMessageIn, OpenMlsCrypto, OpenMlsProvider, OpenMlsRand, ProtocolVersion};

use super::member::Member;
use super::net::{Call, Credentials, Peer, Target};
use super::serve::{self, FollowerState, Scripted};
use super::{decoded, Exchange, Outcome, Report, Selection, SuiteError};
use mimi_appsync::group::{required_capabilities, CIPHERSUITE};

/// How long the suite waits for fanout (and, with [`Bootstrap::Room`], for the invitations).
pub const FANOUT_WAIT: Duration = Duration::from_secs(20);
/// How long it waits for invitations made by someone else.
pub const INVITE_WAIT: Duration = Duration::from_secs(300);
/// The `Retry-After` the suite asks for, in seconds.
pub const RETRY_AFTER_SECS: u64 = 2;

/// How the room the checks need comes about (module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bootstrap {
    /// Through the hub's `mimi-ds` client API at the target address.
    ClientApi,
    /// A room made on the hub side, into which our users are invited.
    Room {
        /// The room URI.
        room: String,
        /// A hub-local user with KeyPackages, for the keyMaterial checks.
        hub_user: Option<String>,
    },
    /// No room: the room checks are not applicable.
    None,
}

/// One run of the hub checks.
#[derive(Debug, Clone)]
pub struct HubRun {
    /// The hub.
    pub target: Target,
    /// The suite's TLS files and domain.
    pub credentials: Credentials,
    /// Where the suite's follower listens (the hub must be configured to reach our domain there).
    pub listen: SocketAddr,
    /// How the room comes about.
    pub bootstrap: Bootstrap,
    /// Which checks run.
    pub selection: Selection,
}

/// The suite's users' local parts.
const BOB: &str = "interop-bob";
const DAVE: &str = "interop-dave";
const MALLORY: &str = "interop-mallory";
const DEVICE: &str = "d1";

/// Decodes a 200 answer as `T` for a report (`Err` says what came instead).
fn decode_answer<T: Body>(call: &Call) -> Result<T, String> {
    match &call.answer {
        Err(e) => Err(format!("no answer: {e}")),
        Ok(a) if a.status != 200 => Err(format!("HTTP {}: {}", a.status, String::from_utf8_lossy(&a.body).trim())),
        Ok(a) => T::decode(&a.body, DEFAULT_MAX_BODY_LEN).map_err(|e| format!("undecodable {}: {e}", T::NAME)),
    }
}

/// The exchange of `call` with its answer decoded as `T` where possible.
fn shown<T: Body + std::fmt::Debug>(call: &Call) -> Exchange {
    match decode_answer::<T>(call) {
        Ok(v) => call.exchange(decoded(&v)),
        Err(e) => call.exchange(e),
    }
}

/// A short random token (room names, message texts).
fn token(member: &Member) -> String {
    member.token()
}

/// The hub run's state.
struct Hub {
    run: HubRun,
    peer: Peer,
    directory: Directory,
    follower: FollowerState,
    report: Report,
    /// The room, once our users are in it.
    room: Option<String>,
    /// A hub-local user with KeyPackages.
    hub_user: Option<String>,
}

/// Runs the selected hub checks.
pub async fn run(run: HubRun) -> Result<Report, SuiteError> {
    let ours = run.credentials.our_domain.clone();
    let member = |user: &str| {
        ClientUri::parse(&format!("mimi://{ours}/d/{user}/{DEVICE}")).map_err(|e| SuiteError::mls("client URI", e))
    };
    let follower = FollowerState::new(&ours, vec![Member::new(member(BOB)?)?, Member::new(member(DAVE)?)?]);
    let server = serve::start(&run.credentials, run.listen, serve::follower_router(follower.clone())).await?;
    let peer = Peer::new(run.target.clone(), &run.credentials)?;
    let report = Report::new(format!(
        "hub {} at {} (suite as follower {ours} on {})",
        run.target.domain, run.target.addr, server.addr
    ));
    let directory = Directory::ours(&run.target.base_url());
    let mut hub = Hub { run, peer, directory, follower, report, room: None, hub_user: None };
    let result = hub.scenario().await;
    server.stop().await;
    result.map(|()| hub.report)
}

impl Hub {
    fn selects(&self, id: &str) -> bool {
        self.run.selection.selects(id)
    }

    fn record(&mut self, id: &str, outcome: Outcome) {
        if self.selects(id) {
            self.report.record(id, outcome);
        }
    }

    fn not_applicable(&mut self, ids: &[&str], reason: &str) {
        for id in ids {
            self.record(id, Outcome::NotApplicable { reason: reason.to_owned() });
        }
    }

    fn room_id(&self) -> String {
        self.room.clone().unwrap_or_else(|| format!("mimi://{}/r/interop-probe", self.run.target.domain))
    }

    fn ours(&self) -> String {
        self.run.credentials.our_domain.clone()
    }

    async fn scenario(&mut self) -> Result<(), SuiteError> {
        self.directory_check().await;
        self.mtls_checks().await;
        self.bootstrap().await?;
        self.key_material_checks().await?;
        self.room_checks().await
    }

    async fn directory_check(&mut self) {
        let call = self.peer.get_directory().await;
        let outcome = match &call.answer {
            Ok(a) if a.status == 200 => match Directory::from_json(&a.body) {
                Ok(directory) => {
                    self.directory = directory;
                    Outcome::Pass
                }
                Err(e) => Outcome::fail_with(format!("the directory document is not valid: {e}"), call.exchange_text()),
            },
            _ => Outcome::fail_with(
                format!(
                    "GET of the directory did not answer 200 (the suite goes on with the draft's example paths under {})",
                    self.run.target.base_url()
                ),
                call.exchange_text(),
            ),
        };
        self.record("hub.directory", outcome);
    }

    async fn mtls_checks(&mut self) {
        let url = self.directory.url(Endpoint::Update, &self.room_id());
        if self.selects("hub.mtls.required") {
            let call = self.peer.post(&url, Vec::new(), "(empty body)".into(), &self.ours(), false).await;
            let outcome = match &call.answer {
                Err(_) => Outcome::Pass,
                Ok(a) if a.status == 401 || a.status == 403 => Outcome::Pass,
                Ok(a) => Outcome::fail_with(
                    format!(
                        "a connection without a client certificate got HTTP {} instead of a refused handshake or 401/403: the hub did not require mTLS",
                        a.status
                    ),
                    call.exchange_text(),
                ),
            };
            self.record("hub.mtls.required", outcome);
        }
        if self.selects("hub.mtls.from-binding") {
            let impostor = format!("impostor.{}", self.ours());
            let call = self.peer.post(&url, Vec::new(), "(empty body)".into(), &impostor, true).await;
            let outcome = match &call.answer {
                Ok(a) if a.status == 401 || a.status == 403 => Outcome::Pass,
                Ok(a) => Outcome::fail_with(
                    format!(
                        "From: mimi@{impostor} with a certificate for {} got HTTP {} instead of 401/403",
                        self.ours(),
                        a.status
                    ),
                    call.exchange_text(),
                ),
                Err(e) => Outcome::fail_with(format!("no answer with a valid certificate: {e}"), call.exchange_text()),
            };
            self.record("hub.mtls.from-binding", outcome);
        }
    }

    /// Gets the room and our users into it (module docs); records `hub.notify.welcome`.
    async fn bootstrap(&mut self) -> Result<(), SuiteError> {
        let bob_user = format!("mimi://{}/u/{BOB}", self.ours());
        let dave_user = format!("mimi://{}/u/{DAVE}", self.ours());
        let (room, wait) = match self.run.bootstrap.clone() {
            Bootstrap::None => {
                self.not_applicable(&["hub.notify.welcome"], "no room (give --room, or --bootstrap for a mimi-ds hub)");
                return Ok(());
            }
            Bootstrap::Room { room, hub_user } => {
                self.hub_user = hub_user;
                tracing::info!(%room, %bob_user, %dave_user, "waiting for both users to be invited");
                (room, INVITE_WAIT)
            }
            Bootstrap::ClientApi => {
                let connection = mimi_client_sim::Connection::new(
                    &self.run.target.domain,
                    self.run.target.addr,
                    &self.run.credentials.ca,
                )?;
                let mut alice = mimi_client_sim::Client::register(&connection, "interop-alice", DEVICE).await?;
                alice.upload_key_packages(4).await?;
                let name = format!("interop-{}", token(&self.follower.lock().members[0]));
                let room =
                    alice.create_room(&name, &presets::cooperative(), presets::administered_roles::GROUP_ADMIN).await?;
                for user in [&bob_user, &dave_user] {
                    let user = UserUri::parse(user).map_err(|e| SuiteError::mls("user URI", e))?;
                    alice.invite_user(&room, &user, presets::administered_roles::ORDINARY_USER).await?;
                }
                self.hub_user = Some(alice.uri().user().to_string());
                (room, FANOUT_WAIT)
            }
        };
        let joined = self
            .follower
            .wait_for(wait, |inner| {
                let inbox = inner.inbox.get(&room).cloned().unwrap_or_default();
                inner.members.iter_mut().all(|m| m.process(&inbox).is_ok() && m.is_member())
            })
            .await;
        let framed = {
            let inner = self.follower.lock();
            inner.inbox.get(&room).is_some_and(|i| i.iter().any(|f| matches!(f.framing, FanoutFraming::Welcome { .. })))
        };
        if joined && framed {
            self.record("hub.notify.welcome", Outcome::Pass);
            self.room = Some(room);
        } else {
            let arrivals = self.arrivals_shown(&room);
            self.record(
                "hub.notify.welcome",
                Outcome::Fail {
                    message: format!(
                        "within {wait:?} no Welcome for our KeyPackages into {room} arrived that both {bob_user} and {dave_user} could join"
                    ),
                    exchanges: arrivals,
                },
            );
        }
        Ok(())
    }

    /// The `/notify` arrivals for `room` as exchanges (at most the last 4).
    fn arrivals_shown(&self, room: &str) -> Vec<Exchange> {
        let inner = self.follower.lock();
        let arrivals: Vec<_> = inner.arrivals.iter().filter(|a| a.room == room).collect();
        arrivals
            .iter()
            .rev()
            .take(4)
            .rev()
            .map(|a| Exchange {
                request: format!("received POST /v1/notify/{room}"),
                request_hex: super::hex_excerpt(&a.body),
                request_decoded: match &a.decode_error {
                    Some(e) => format!("undecodable: {e}"),
                    None => decoded(&a.messages),
                },
                status: a.answered,
                response_hex: String::new(),
                response_decoded: format!("answered {}", a.answered),
            })
            .collect()
    }

    /// A KeyMaterialRequest signed by bob.
    fn key_material_request(&self, target: &str) -> Result<KeyMaterialRequest, SuiteError> {
        let inner = self.follower.lock();
        let bob = &inner.members[0];
        let tbs = KeyMaterialRequestTBS {
            protocol: Protocol::Mls10,
            requesting_user: IdentifierUri::new(bob.uri.user().as_str()),
            target_user: IdentifierUri::new(target),
            room_id: IdentifierUri::new(self.room_id()),
            acceptable_ciphersuites: vec![CIPHERSUITE.into()],
            required_capabilities: required_capabilities(),
            requester_signature_key: bob.credential().signature_key.clone(),
            requester_credential: bob.credential().credential.clone(),
        };
        Ok(KeyMaterialRequest::sign(tbs, bob.signer())?)
    }

    /// The refs of the KeyPackages in a response (after validating them).
    fn claimed_refs(&self, response: &KeyMaterialResponse) -> Result<Vec<KeyPackageRef>, String> {
        let inner = self.follower.lock();
        let crypto = inner.members[0].provider().crypto();
        let mut refs = Vec::new();
        for client in &response.clients {
            if let ClientKeyMaterialStatus::Success { key_package } = &client.status {
                let kp = key_package
                    .clone()
                    .validate(crypto, ProtocolVersion::Mls10)
                    .map_err(|e| format!("KeyPackage of {} is invalid: {e}", client.client_uri.as_str()))?;
                refs.push(kp.hash_ref(crypto).map_err(|e| e.to_string())?);
            }
        }
        Ok(refs)
    }

    async fn key_material_checks(&mut self) -> Result<(), SuiteError> {
        if !self.run.selection.any(&["hub.keymaterial.codes", "hub.keymaterial.no-reuse"]) {
            return Ok(());
        }
        let nobody =
            format!("mimi://{}/u/interop-nobody-{}", self.run.target.domain, token(&self.follower.lock().members[0]));
        let request = self.key_material_request(&nobody)?;
        let unknown = self.peer.post_body(&self.directory, Endpoint::KeyMaterial, &nobody, &request).await?;
        let unknown_outcome = match decode_answer::<KeyMaterialResponse>(&unknown) {
            Ok(r) if r.user_status == KeyMaterialUserCode::UserUnknown && r.clients.is_empty() => Outcome::Pass,
            Ok(r) => Outcome::fail_with(
                format!("for the unknown user {nobody} expected userUnknown without clients, got {:?}", r.user_status),
                shown::<KeyMaterialResponse>(&unknown),
            ),
            Err(e) => Outcome::fail_with(format!("for the unknown user {nobody}: {e}"), unknown.exchange_text()),
        };
        let Some(hub_user) = self.hub_user.clone() else {
            self.record("hub.keymaterial.codes", unknown_outcome);
            self.not_applicable(&["hub.keymaterial.no-reuse"], "no hub user with KeyPackages (give --hub-user)");
            return Ok(());
        };
        let mut claims = Vec::new();
        for _ in 0..2 {
            let request = self.key_material_request(&hub_user)?;
            claims.push(self.peer.post_body(&self.directory, Endpoint::KeyMaterial, &hub_user, &request).await?);
        }
        let first = decode_answer::<KeyMaterialResponse>(&claims[0]);
        let codes = match (&unknown_outcome, &first) {
            (Outcome::Pass, Ok(r)) => match r.user_status {
                KeyMaterialUserCode::Success | KeyMaterialUserCode::PartialSuccess
                    if r.clients.iter().any(|c| matches!(c.status, ClientKeyMaterialStatus::Success { .. })) =>
                {
                    match self.claimed_refs(r) {
                        Ok(_) => Outcome::Pass,
                        Err(e) => Outcome::fail_with(e, shown::<KeyMaterialResponse>(&claims[0])),
                    }
                }
                code => Outcome::fail_with(
                    format!("{hub_user} has KeyPackages, expected success or partialSuccess with a KeyPackage, got {code:?}"),
                    shown::<KeyMaterialResponse>(&claims[0]),
                ),
            },
            (Outcome::Pass, Err(e)) => Outcome::fail_with(format!("claim for {hub_user}: {e}"), claims[0].exchange_text()),
            (other, _) => other.clone(),
        };
        self.record("hub.keymaterial.codes", codes);
        if self.selects("hub.keymaterial.no-reuse") {
            let second = decode_answer::<KeyMaterialResponse>(&claims[1]);
            let outcome = match (first, second) {
                (Ok(a), Ok(b)) => match (self.claimed_refs(&a), self.claimed_refs(&b)) {
                    (Ok(a_refs), Ok(b_refs)) => match a_refs.iter().find(|r| b_refs.contains(r)) {
                        None => Outcome::Pass,
                        Some(r) => Outcome::Fail {
                            message: format!(
                                "two claims for {hub_user} returned the same KeyPackage (ref {})",
                                hex::encode(r.as_slice())
                            ),
                            exchanges: vec![
                                shown::<KeyMaterialResponse>(&claims[0]),
                                shown::<KeyMaterialResponse>(&claims[1]),
                            ],
                        },
                    },
                    (Err(e), _) | (_, Err(e)) => Outcome::fail(e),
                },
                (Err(e), _) | (_, Err(e)) => Outcome::Fail {
                    message: format!("claim for {hub_user}: {e}"),
                    exchanges: vec![claims[0].exchange_text(), claims[1].exchange_text()],
                },
            };
            self.record("hub.keymaterial.no-reuse", outcome);
        }
        Ok(())
    }

    /// Processes the room's inbox for every member.
    fn sync(&self, room: &str) -> Result<(), SuiteError> {
        let mut inner = self.follower.lock();
        let inbox = inner.inbox.get(room).cloned().unwrap_or_default();
        for m in inner.members.iter_mut() {
            m.process(&inbox)?;
        }
        Ok(())
    }

    /// Waits until member `i` is at `epoch` (processing fanout as it arrives).
    async fn await_epoch(&self, room: &str, i: usize, epoch: u64) -> bool {
        self.follower
            .wait_for(FANOUT_WAIT, |inner| {
                let inbox = inner.inbox.get(room).cloned().unwrap_or_default();
                inner.members[i].process(&inbox).is_ok() && inner.members[i].epoch() >= epoch
            })
            .await
    }

    async fn post_update(&self, room: &str, bundle: HandshakeBundle) -> Result<Call, SuiteError> {
        self.peer.post_body(&self.directory, Endpoint::Update, room, &UpdateRequest { bundle }).await
    }

    async fn post_submit(&self, room: &str, message: MlsMessageIn, sending: &str) -> Result<Call, SuiteError> {
        let request = SubmitMessageRequest {
            protocol: Protocol::Mls10,
            app_message: message,
            sending_uri: IdentifierUri::new(sending),
        };
        self.peer.post_body(&self.directory, Endpoint::SubmitMessage, room, &request).await
    }

    fn commit(&self, i: usize, op: UserOperation) -> Result<HandshakeBundle, SuiteError> {
        Ok(self.follower.lock().members[i].commit(op)?.0)
    }

    fn message(&self, i: usize, text: &str) -> Result<MlsMessageIn, SuiteError> {
        self.follower.lock().members[i].message(text.as_bytes())
    }

    fn uri(&self, i: usize) -> String {
        self.follower.lock().members[i].uri.to_string()
    }

    async fn room_checks(&mut self) -> Result<(), SuiteError> {
        const ROOM_CHECKS: [&str; 13] = [
            "hub.update.accepts-commit",
            "hub.update.one-commit-per-epoch",
            "hub.update.wrong-epoch",
            "hub.update.private-handshake",
            "hub.update.policy-violation",
            "hub.submit.accepts",
            "hub.submit.epoch-too-old",
            "hub.submit.non-participant",
            "hub.notify.framing",
            "hub.notify.retry",
            "hub.notify.retry-after",
            "hub.groupinfo",
            "hub.removed-client-blocked",
        ];
        let Some(room) = self.room.clone() else {
            self.not_applicable(&ROOM_CHECKS, "our users are not in a room of this hub (see hub.notify.welcome)");
            return Ok(());
        };
        if !self.run.selection.any(&ROOM_CHECKS) {
            return Ok(());
        }
        self.sync(&room)?;
        let (bob, dave) = (0, 1);
        let epoch = self.follower.lock().members[bob].epoch();
        let tag = token(&self.follower.lock().members[bob]);
        let stale = self.message(bob, &format!("interop stale {tag}"))?;

        // A valid commit at epoch E, then dave's commit also built on E.
        let commit_a = self.commit(bob, UserOperation::default())?;
        let commit_a_message = commit_a.proposal_or_commit.clone();
        let call = self.post_update(&room, commit_a).await?;
        let accepted = matches!(
            decode_answer::<UpdateRoomResponse>(&call),
            Ok(UpdateRoomResponse { outcome: UpdateRoomOutcome::Success { .. }, .. })
        );
        if accepted {
            self.follower.lock().members[bob].merge_pending()?;
            self.record("hub.update.accepts-commit", Outcome::Pass);
        } else {
            self.follower.lock().members[bob].clear_pending()?;
            self.record(
                "hub.update.accepts-commit",
                Outcome::fail_with(
                    format!("a valid empty commit of {} at epoch {epoch} was not accepted", self.uri(bob)),
                    shown::<UpdateRoomResponse>(&call),
                ),
            );
            self.not_applicable(&ROOM_CHECKS[1..], "needs an accepted commit (hub.update.accepts-commit failed)");
            return Ok(());
        }
        let commit_b = self.commit(dave, UserOperation::default())?;
        let call = self.post_update(&room, commit_b).await?;
        self.follower.lock().members[dave].clear_pending()?;
        let answer = decode_answer::<UpdateRoomResponse>(&call);
        let one = match &answer {
            Ok(UpdateRoomResponse { outcome: UpdateRoomOutcome::Success { .. }, .. }) => Outcome::fail_with(
                format!(
                    "a second commit for epoch {epoch} (by {}) was accepted after {}'s",
                    self.uri(dave),
                    self.uri(bob)
                ),
                shown::<UpdateRoomResponse>(&call),
            ),
            Ok(_) => Outcome::Pass,
            Err(e) => Outcome::fail_with(format!("second commit for epoch {epoch}: {e}"), call.exchange_text()),
        };
        self.record("hub.update.one-commit-per-epoch", one);
        let wrong = match &answer {
            Ok(UpdateRoomResponse { outcome: UpdateRoomOutcome::WrongEpoch { current_epoch }, .. })
                if *current_epoch == epoch + 1 =>
            {
                Outcome::Pass
            }
            Ok(r) => Outcome::fail_with(
                format!(
                    "a commit built on epoch {epoch} while the room is at {} must get wrongEpoch({}), got {:?}",
                    epoch + 1,
                    epoch + 1,
                    r.outcome
                ),
                shown::<UpdateRoomResponse>(&call),
            ),
            Err(e) => Outcome::fail_with(format!("stale commit: {e}"), call.exchange_text()),
        };
        self.record("hub.update.wrong-epoch", wrong);
        let mut caught_up = true;
        for member in [bob, dave] {
            caught_up &= self.await_epoch(&room, member, epoch + 1).await;
        }

        if self.selects("hub.update.private-handshake") {
            let (private, content) = self.follower.lock().members[bob].private_commit()?;
            let mut body = private.tls_serialize_detached().map_err(|e| SuiteError::mls("encode", e))?;
            if let HandshakeBundleContent::Commit { welcome, group_info_option, ratchet_tree_option } = &content {
                for part in [
                    welcome.tls_serialize_detached(),
                    group_info_option.tls_serialize_detached(),
                    ratchet_tree_option.tls_serialize_detached(),
                ] {
                    body.extend(part.map_err(|e| SuiteError::mls("encode", e))?);
                }
            }
            let url = self.directory.url(Endpoint::Update, &room);
            let described =
                format!("UpdateRequest with proposalOrCommit = PrivateMessage commit {}", decoded(&private));
            let call = self.peer.post(&url, body, described, &self.ours(), true).await;
            let outcome = match decode_answer::<UpdateRoomResponse>(&call) {
                Ok(UpdateRoomResponse { outcome: UpdateRoomOutcome::NotAllowed, .. }) => Outcome::Pass,
                Ok(r) => Outcome::fail_with(
                    format!("a PrivateMessage handshake must get notAllowed, got {:?}", r.outcome.code()),
                    shown::<UpdateRoomResponse>(&call),
                ),
                Err(e) => Outcome::fail_with(
                    format!("a PrivateMessage handshake must get 200 notAllowed: {e}"),
                    call.exchange_text(),
                ),
            };
            self.record("hub.update.private-handshake", outcome);
        }

        if self.selects("hub.update.policy-violation") {
            let admin = {
                let inner = self.follower.lock();
                let group = inner.members[bob].group().map(|g| g.public_group());
                let state = group.and_then(|g| mimi_appsync::adapter::room_state(g).ok());
                state.and_then(|s| {
                    s.participants
                        .participants
                        .iter()
                        .find_map(|p| UserUri::from_bytes(&p.user).ok().filter(|u| u.domain() != self.ours()))
                })
            };
            let outcome = match admin {
                None => Outcome::NotApplicable { reason: "no participant of another provider to ban".into() },
                Some(admin) => {
                    let op = {
                        let inner = self.follower.lock();
                        let group = inner.members[bob].group().map(|g| g.public_group());
                        group.map(|g| ops::ban_user(g, &admin))
                    };
                    match op {
                        Some(Ok(op)) => {
                            let bundle = self.commit(bob, op)?;
                            let call = self.post_update(&room, bundle).await?;
                            let answer = decode_answer::<UpdateRoomResponse>(&call);
                            if matches!(
                                answer,
                                Ok(UpdateRoomResponse { outcome: UpdateRoomOutcome::Success { .. }, .. })
                            ) {
                                self.follower.lock().members[bob].merge_pending()?;
                            } else {
                                self.follower.lock().members[bob].clear_pending()?;
                            }
                            match answer {
                                Ok(UpdateRoomResponse { outcome: UpdateRoomOutcome::NotAllowed, .. }) => Outcome::Pass,
                                Ok(r) => Outcome::fail_with(
                                    format!(
                                        "{} (ordinary_user, no canBan) banning {admin} must get notAllowed, got {:?}",
                                        self.uri(bob),
                                        r.outcome.code()
                                    ),
                                    shown::<UpdateRoomResponse>(&call),
                                ),
                                Err(e) => {
                                    Outcome::fail_with(format!("ban by an ordinary user: {e}"), call.exchange_text())
                                }
                            }
                        }
                        Some(Err(e)) => Outcome::NotApplicable { reason: format!("cannot build the ban: {e}") },
                        None => Outcome::NotApplicable { reason: "not in the room".into() },
                    }
                }
            };
            self.record("hub.update.policy-violation", outcome);
        }
        self.sync(&room)?;

        // Messages.
        let current = epoch + 1;
        let hello = self.message(bob, &format!("interop hello {tag}"))?;
        let call = self.post_submit(&room, hello.clone(), &self.uri(bob)).await?;
        let outcome = match decode_answer::<SubmitMessageResponse>(&call) {
            Ok(SubmitMessageResponse { status: SubmitMessageStatus::Accepted { .. }, .. }) => Outcome::Pass,
            Ok(r) => Outcome::fail_with(
                format!("a participant's message of the current epoch {current} was refused: {:?}", r.status.code()),
                shown::<SubmitMessageResponse>(&call),
            ),
            Err(e) => Outcome::fail_with(e, call.exchange_text()),
        };
        self.record("hub.submit.accepts", outcome);
        let call = self.post_submit(&room, stale, &self.uri(bob)).await?;
        let outcome = match decode_answer::<SubmitMessageResponse>(&call) {
            Ok(SubmitMessageResponse { status: SubmitMessageStatus::EpochTooOld { current_epoch }, .. }) if current_epoch == current => Outcome::Pass,
            Ok(r) => Outcome::fail_with(
                format!("a message of epoch {epoch} while the room is at {current} must get epochTooOld({current}), got {:?}", r.status),
                shown::<SubmitMessageResponse>(&call),
            ),
            Err(e) => Outcome::fail_with(e, call.exchange_text()),
        };
        self.record("hub.submit.epoch-too-old", outcome);
        if self.selects("hub.submit.non-participant") {
            let message = self.message(bob, &format!("interop impostor {tag}"))?;
            let mallory = format!("mimi://{}/d/{MALLORY}/{DEVICE}", self.ours());
            let call = self.post_submit(&room, message, &mallory).await?;
            let outcome = match decode_answer::<SubmitMessageResponse>(&call) {
                Ok(SubmitMessageResponse { status: SubmitMessageStatus::NotAllowed, .. }) => Outcome::Pass,
                Ok(r) => Outcome::fail_with(
                    format!(
                        "sendingUri {mallory} is not a participant; expected notAllowed, got {:?}",
                        r.status.code()
                    ),
                    shown::<SubmitMessageResponse>(&call),
                ),
                Err(e) => Outcome::fail_with(e, call.exchange_text()),
            };
            self.record("hub.submit.non-participant", outcome);
        }

        if self.selects("hub.notify.framing") {
            let wanted = [
                (message_hash(&commit_a_message).ok(), "our accepted commit (commit framing)"),
                (message_hash(&hello).ok(), "our accepted message (application framing)"),
            ];
            let arrived = self
                .follower
                .wait_for(FANOUT_WAIT, |inner| {
                    let inbox = inner.inbox.get(&room).map(Vec::as_slice).unwrap_or_default();
                    wanted.iter().all(|(hash, _)| {
                        inbox.iter().any(|f| {
                            message_hash(&f.message).ok() == *hash
                                && match f.framing {
                                    FanoutFraming::Commit { .. } => *hash == wanted[0].0,
                                    FanoutFraming::Application { .. } => *hash == wanted[1].0,
                                    _ => false,
                                }
                        })
                    })
                })
                .await;
            let undecodable = self.follower.lock().arrivals.iter().any(|a| a.decode_error.is_some());
            let outcome = if undecodable {
                Outcome::Fail {
                    message: "a /notify body is not a concatenation of FanoutMessages".into(),
                    exchanges: self.arrivals_shown(&room),
                }
            } else if !arrived || !caught_up {
                Outcome::Fail {
                    message: format!(
                        "within {FANOUT_WAIT:?}, {} and {} did not both arrive framed by their kind",
                        wanted[0].1, wanted[1].1
                    ),
                    exchanges: self.arrivals_shown(&room),
                }
            } else {
                Outcome::Pass
            };
            self.record("hub.notify.framing", outcome);
        }

        self.retry_checks(&room, &tag).await?;
        self.sync(&room)?;
        self.group_info_and_removal(&room).await
    }

    /// `hub.notify.retry` and `hub.notify.retry-after`: scripted non-201 answers, then a message.
    async fn retry_checks(&mut self, room: &str, tag: &str) -> Result<(), SuiteError> {
        let scripts = [
            ("hub.notify.retry", Scripted { status: 500, retry_after: None }),
            ("hub.notify.retry-after", Scripted { status: 503, retry_after: Some(RETRY_AFTER_SECS) }),
        ];
        for (id, script) in scripts {
            if !self.selects(id) {
                continue;
            }
            let message = self.message(0, &format!("interop {id} {tag}"))?;
            let hash = message_hash(&message).ok();
            self.follower.lock().script.push_back(script);
            let call = self.post_submit(room, message, &self.uri(0)).await?;
            if !matches!(
                decode_answer::<SubmitMessageResponse>(&call),
                Ok(SubmitMessageResponse { status: SubmitMessageStatus::Accepted { .. }, .. })
            ) {
                self.follower.lock().script.clear();
                self.record(
                    id,
                    Outcome::fail_with(
                        "the message meant to trigger fanout was not accepted",
                        shown::<SubmitMessageResponse>(&call),
                    ),
                );
                continue;
            }
            let wait = FANOUT_WAIT + Duration::from_secs(RETRY_AFTER_SECS);
            let started = Instant::now();
            let delivered =
                self.follower
                    .wait_for(wait, |inner| {
                        inner.arrivals.iter().any(|a| {
                            a.answered == 201 && a.messages.iter().any(|m| message_hash(&m.message).ok() == hash)
                        })
                    })
                    .await;
            let (refused_at, delivered_at) = {
                let inner = self.follower.lock();
                let refused = inner
                    .arrivals
                    .iter()
                    .find(|a| {
                        a.answered == script.status
                            && a.at >= started.checked_sub(Duration::from_secs(1)).unwrap_or(started)
                    })
                    .map(|a| a.at);
                let taken = inner
                    .arrivals
                    .iter()
                    .find(|a| a.answered == 201 && a.messages.iter().any(|m| message_hash(&m.message).ok() == hash))
                    .map(|a| a.at);
                (refused, taken)
            };
            self.follower.lock().script.clear();
            let outcome = match (refused_at, delivered_at) {
                (None, _) => Outcome::fail(format!(
                    "no /notify arrived within {wait:?} after an accepted message (nothing to answer {})",
                    script.status
                )),
                (Some(_), None) if !delivered => Outcome::Fail {
                    message: format!(
                        "after we answered {} the fanout was not sent again within {wait:?}",
                        script.status
                    ),
                    exchanges: self.arrivals_shown(room),
                },
                (Some(refused), Some(taken)) => {
                    let gap = taken.saturating_duration_since(refused);
                    let needed =
                        Duration::from_secs(script.retry_after.unwrap_or(0)).saturating_sub(Duration::from_millis(50));
                    if gap >= needed {
                        Outcome::Pass
                    } else {
                        Outcome::Fail {
                            message: format!(
                                "answered 503 with Retry-After: {} but the retry came after {:.3} s",
                                script.retry_after.unwrap_or(0),
                                gap.as_secs_f64()
                            ),
                            exchanges: self.arrivals_shown(room),
                        }
                    }
                }
                (Some(_), None) => Outcome::fail("the retried fanout arrived but was not recorded"),
            };
            self.record(id, outcome);
        }
        Ok(())
    }

    /// dave proposes to leave; bob's GroupInfo request must list the proposals; bob commits them; a
    /// message with dave's sendingUri must then be refused.
    async fn group_info_and_removal(&mut self, room: &str) -> Result<(), SuiteError> {
        if !self.run.selection.any(&["hub.groupinfo", "hub.removed-client-blocked"]) {
            return Ok(());
        }
        let (bob, dave) = (0, 1);
        let leave = self.follower.lock().members[dave].leave()?;
        let mut proposals = vec![leave.proposal_or_commit.clone()];
        if let HandshakeBundleContent::Proposal { more_proposals } = &leave.content {
            proposals.extend(more_proposals.iter().cloned());
        }
        let hashes: Vec<_> = proposals.iter().filter_map(|p| message_hash(p).ok()).collect();
        let call = self.post_update(room, leave).await?;
        if !matches!(
            decode_answer::<UpdateRoomResponse>(&call),
            Ok(UpdateRoomResponse { outcome: UpdateRoomOutcome::Success { .. }, .. })
        ) {
            let failure = Outcome::fail_with(
                format!("{}'s proposals to leave the room were not accepted", self.uri(dave)),
                shown::<UpdateRoomResponse>(&call),
            );
            self.record("hub.groupinfo", failure.clone());
            self.record("hub.removed-client-blocked", failure);
            return Ok(());
        }
        // bob must have the proposals before he commits them.
        let stored = self
            .follower
            .wait_for(FANOUT_WAIT, |inner| {
                let inbox = inner.inbox.get(room).cloned().unwrap_or_default();
                let present = hashes.iter().all(|h| {
                    inbox.iter().any(|f| {
                        std::iter::once(&f.message)
                            .chain(match &f.framing {
                                FanoutFraming::Proposal { more_proposals } => more_proposals.as_slice(),
                                _ => &[],
                            })
                            .any(|m| message_hash(m).ok().as_ref() == Some(h))
                    })
                });
                present && inner.members[bob].process(&inbox).is_ok()
            })
            .await;

        if self.selects("hub.groupinfo") {
            let outcome = self.group_info_check(room, &hashes).await?;
            self.record("hub.groupinfo", outcome);
        }
        if !self.selects("hub.removed-client-blocked") {
            return Ok(());
        }
        if !stored {
            self.record(
                "hub.removed-client-blocked",
                Outcome::fail(format!(
                    "{}'s accepted proposals were not fanned out within {FANOUT_WAIT:?}",
                    self.uri(dave)
                )),
            );
            return Ok(());
        }
        let removal = self.commit(bob, UserOperation::default())?;
        let call = self.post_update(room, removal).await?;
        if !matches!(
            decode_answer::<UpdateRoomResponse>(&call),
            Ok(UpdateRoomResponse { outcome: UpdateRoomOutcome::Success { .. }, .. })
        ) {
            self.follower.lock().members[bob].clear_pending()?;
            self.record(
                "hub.removed-client-blocked",
                Outcome::fail_with(
                    format!("committing {}'s leave was not accepted", self.uri(dave)),
                    shown::<UpdateRoomResponse>(&call),
                ),
            );
            return Ok(());
        }
        self.follower.lock().members[bob].merge_pending()?;
        let tag = token(&self.follower.lock().members[bob]);
        let message = self.message(bob, &format!("interop after removal {tag}"))?;
        let dave_uri = self.uri(dave);
        let call = self.post_submit(room, message, &dave_uri).await?;
        let outcome = match decode_answer::<SubmitMessageResponse>(&call) {
            Ok(SubmitMessageResponse { status: SubmitMessageStatus::NotAllowed, .. }) => Outcome::Pass,
            Ok(r) => Outcome::fail_with(
                format!(
                    "{dave_uri} was removed; a message with its sendingUri must get notAllowed, got {:?}",
                    r.status.code()
                ),
                shown::<SubmitMessageResponse>(&call),
            ),
            Err(e) => Outcome::fail_with(e, call.exchange_text()),
        };
        self.record("hub.removed-client-blocked", outcome);
        Ok(())
    }

    async fn group_info_check(&mut self, room: &str, pending: &[Vec<u8>]) -> Result<Outcome, SuiteError> {
        let (request, private, senders, epoch) = {
            let inner = self.follower.lock();
            let bob = &inner.members[0];
            let ikm: [u8; 32] = bob.provider().rand().random_array().map_err(|e| SuiteError::mls("randomness", e))?;
            let keys = bob
                .provider()
                .crypto()
                .derive_hpke_keypair(CIPHERSUITE.hpke_config(), &ikm)
                .map_err(|e| SuiteError::mls("HPKE key", e))?;
            let request = GroupInfoRequest::sign(
                CIPHERSUITE,
                bob.credential().credential.clone(),
                bob.credential().signature_key.clone(),
                keys.public.clone().into(),
                VLBytes::new(Vec::new()),
                bob.signer(),
            )?;
            let senders = bob.group().and_then(|g| g.extensions().external_senders().cloned()).unwrap_or_default();
            (request, keys.private.clone(), senders, bob.epoch())
        };
        let call = self.peer.post_body(&self.directory, Endpoint::GroupInfo, room, &request).await?;
        let response = match decode_answer::<GroupInfoResponse>(&call) {
            Ok(r) => r,
            Err(e) => return Ok(Outcome::fail_with(e, call.exchange_text())),
        };
        let exchange = shown::<GroupInfoResponse>(&call);
        let GroupInfoStatus::Success(success) = &response.status else {
            return Ok(Outcome::fail_with(format!("a member's request was answered {:?}", response.status), exchange));
        };
        let hub_sender = openmls::prelude::ExternalSender::from(success.hub_sender.clone());
        if !senders.contains(&hub_sender) {
            return Ok(Outcome::fail_with("hub_sender is not in the room's external_senders", exchange));
        }
        let tbe = {
            let inner = self.follower.lock();
            response.verify_and_open(inner.members[0].provider().crypto(), &private, DEFAULT_MAX_BODY_LEN)
        };
        let tbe = match tbe {
            Ok(tbe) => tbe,
            Err(e) => return Ok(Outcome::fail_with(format!("signature or decryption failed: {e}"), exchange)),
        };
        if tbe.group_info.epoch().as_u64() != epoch {
            return Ok(Outcome::fail_with(
                format!("the GroupInfo is of epoch {}, the room is at {epoch}", tbe.group_info.epoch().as_u64()),
                exchange,
            ));
        }
        let listed: Vec<_> = tbe.pending_proposals.iter().filter_map(|p| message_hash(&p.proposal).ok()).collect();
        let missing = pending.iter().filter(|h| !listed.contains(h)).count();
        if missing > 0 {
            return Ok(Outcome::fail_with(
                format!("{missing} of the {} proposals the hub accepted this epoch are missing from pending_proposals ({} listed)", pending.len(), listed.len()),
                exchange,
            ));
        }
        Ok(Outcome::Pass)
    }
}
