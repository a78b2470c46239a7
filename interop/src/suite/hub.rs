//! The hub checks: the suite plays a follower provider (`--our-domain`) with real openmls clients and
//! checks the hub requirement by requirement (registry: the `hub.*` entries of [`super::CHECKS`]).
//!
//! # What the suite needs from the hub
//! protocol-06 has no room-creation operation, so a room must exist in which the suite's users
//! `mimi://<our-domain>/u/interop-bob` and `mimi://<our-domain>/u/interop-dave` (one client each,
//! device `d1`) are participants with a role that may send messages, commit, remove participants and
//! leave, but not ban (room-policy-04 Appendix A.1 "cooperatively administered room", role
//! `ordinary_user`), and the hub must be configured to reach the suite's follower at `--listen`.
//! [`Bootstrap`] says how that room comes about:
//! - [`Bootstrap::ClientApi`]: the hub is a `mimi-ds`; the suite registers `interop-alice` through its
//!   client API (`/client/v1`, `mimi_client_sim`), has her create such a room (she is `group_admin`) and
//!   invite both users: the hub claims their KeyPackages from the suite's `/keyMaterial` and sends the
//!   Welcomes by `/notify`. It also registers the hub-local [`ProbeUsers`] not given: `interop-erin`
//!   (one KeyPackage) and `interop-frank` (one, and one marked `last_resort`).
//! - [`Bootstrap::Room`]: someone on the hub side created the room and invites both users while the
//!   suite waits; `hub_user` names a hub-local user with KeyPackages for the `keyMaterial` checks.
//! - [`Bootstrap::None`]: the checks that need a room (or a hub user) are not applicable.
//!
//! [`ProbeUsers`] name the users of the other keyMaterial checks: one whose KeyPackages run out, one
//! with a last-resort KeyPackage, and a user of a third provider the hub reaches that refuses the
//! suite's users for lack of consent (the claim goes through the hub, §5.2). A check whose user is not
//! known is not applicable. How answers are judged: [`super::claims`].
//!
//! # The scenario
//! directory → mTLS and `From` → the room (Welcomes) → a claim with `Host` naming our domain →
//! keyMaterial (unknown user, hub user twice, the exhausted user until used up, the last-resort user
//! until its last resort comes back, the no-consent user) → requests speaking for other domains'
//! users and clients, each to be refused (`hub.trust.*`, see `peer_trust`) → groupInfo of a room
//! that does not exist →
//! at epoch E: bob commits (accepted, E+1), dave's commit built on E (refused: wrongEpoch E+1), a
//! PrivateMessage commit, a ban of the admin (policy) → messages (current, of epoch E, with a
//! non-participant's sendingUri) → fanout framing → scripted 500 and 503 + Retry-After answers to
//! `/notify` → dave proposes to leave, bob asks for the GroupInfo (pending proposals), mallory (no
//! participant) and a request naming bob signed by mallory ask too (notAuthorized) → bob commits the
//! proposals → dave asks for the GroupInfo (notAuthorized) and a message with dave's sendingUri is
//! refused → bob sends handshakes asserting what the hub must not believe (a leaf turned into another
//! client, a Welcome for a KeyPackage the commit does not add, a GroupInfo that is not the new
//! epoch's or not validly signed) and mallory joins by external commit, each to be refused
//! (`hub.trust.*`, see `identity_trust`).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mimi_appsync::ops::{self, UserOperation};
use mimi_appsync::presets;
use mimi_appsync::uri::{ClientUri, UserUri};
use mimi_ds::federation::follower::message_hash;
use mimi_protocol::client_api::KeyPackageUpload;
use mimi_protocol::directory::{Directory, Endpoint};
use mimi_protocol::group_info::{GroupInfoResponse, GroupInfoStatus};
use mimi_protocol::key_material::{
    ClientKeyMaterialStatus, KeyMaterialRequest, KeyMaterialRequestTBS, KeyMaterialResponse, KeyMaterialUserCode,
};
use mimi_protocol::notify::FanoutFraming;
use mimi_protocol::submit::{SubmitMessageRequest, SubmitMessageResponse, SubmitMessageStatus};
use mimi_protocol::update::{
    HandshakeBundle, HandshakeBundleContent, UpdateRequest, UpdateRoomOutcome, UpdateRoomResponse,
};
use mimi_protocol::{Body, IdentifierUri, Protocol, DEFAULT_MAX_BODY_LEN};
use openmls::prelude::tls_codec::Serialize as _;
use openmls::prelude::{MlsMessageIn, OpenMlsProvider};

mod identity_trust;
mod peer_trust;

use super::claims::{self, Ledger, Served};
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
/// At most this many claims for the `--exhausted-user` (one more for the `--last-resort-user`).
pub const EXHAUST_CLAIMS: usize = 4;
/// Answers that count as refusing a request whose `Host` is not the hub's domain.
pub const HOST_REFUSALS: [u16; 4] = [400, 403, 404, 421];
/// KeyPackages the suite uploads for the `exhausted` user it registers through a mimi-ds client API
/// (the `last_resort` user gets as many single-use ones, and one last-resort KeyPackage).
pub const PROBE_KEY_PACKAGES: usize = 1;

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

/// Users the keyMaterial checks claim for, besides the hub user (module docs). Each is optional; a
/// check without its user is not applicable. With [`Bootstrap::ClientApi`] the suite registers the
/// hub-local ones itself when they are not given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeUsers {
    /// A hub user whose clients have few KeyPackages and no last-resort one (`hub.keymaterial.exhausted`,
    /// claimed at most [`EXHAUST_CLAIMS`] times).
    pub exhausted: Option<String>,
    /// A hub user with single-use KeyPackages and a last-resort one (`hub.keymaterial.last-resort`).
    pub last_resort: Option<String>,
    /// A user of another provider the hub reaches, whose provider refuses the suite's users for lack of
    /// consent (`hub.keymaterial.no-consent`; with `mimi-ds`: `consent = "required"`, nothing granted).
    pub no_consent: Option<String>,
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
    /// Users for the keyMaterial checks.
    pub users: ProbeUsers,
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
    /// Users for the other keyMaterial checks.
    users: ProbeUsers,
}

/// Runs the selected hub checks.
pub async fn run(run: HubRun) -> Result<Report, SuiteError> {
    let ours = run.credentials.our_domain.clone();
    let member = |user: &str| {
        ClientUri::parse(&format!("mimi://{ours}/d/{user}/{DEVICE}")).map_err(|e| SuiteError::mls("client URI", e))
    };
    let follower = FollowerState::new(&ours, vec![Member::new(member(BOB)?)?, Member::new(member(DAVE)?)?]);
    let peer = Peer::new(run.target.clone(), &run.credentials)?;
    let router = serve::follower_router(follower.clone());
    let server = serve::start(&run.credentials, run.listen, router, peer.traffic_log()).await?;
    let report = Report::new(format!(
        "hub {} at {} (suite as follower {ours} on {})",
        run.target.domain, run.target.addr, server.addr
    ))
    .recording(peer.traffic_log());
    let directory = Directory::ours(&run.target.base_url());
    let users = run.users.clone();
    let mut hub = Hub { run, peer, directory, follower, report, room: None, hub_user: None, users };
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
        self.host_check().await?;
        self.key_material_checks().await?;
        self.peer_trust_checks().await?;
        self.unknown_room_check().await?;
        self.room_checks().await?;
        self.identity_trust_checks().await
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
            let call =
                self.peer.post(Endpoint::Update, &url, Vec::new(), "(empty body)".into(), &self.ours(), false).await;
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
            let call = self.peer.post(Endpoint::Update, &url, Vec::new(), "(empty body)".into(), &impostor, true).await;
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
                let mut alice = super::bootstrap_client(&connection, "interop-alice", DEVICE).await?;
                alice.upload_key_packages(4).await?;
                let name = format!("interop-{}", token(&self.follower.lock().members[0]));
                let room =
                    alice.create_room(&name, &presets::cooperative(), presets::administered_roles::GROUP_ADMIN).await?;
                for user in [&bob_user, &dave_user] {
                    let user = UserUri::parse(user).map_err(|e| SuiteError::mls("user URI", e))?;
                    alice.invite_user(&room, &user, presets::administered_roles::ORDINARY_USER).await?;
                }
                self.hub_user = Some(alice.uri().user().to_string());
                self.register_probe_users(&connection).await?;
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

    /// Registers the hub-local [`ProbeUsers`] not given, through a mimi-ds client API, when a check
    /// needs them: `interop-erin` with [`PROBE_KEY_PACKAGES`] KeyPackages, `interop-frank` with as many
    /// and a last-resort one (made by a suite client naming frank's client; the private parts are not
    /// needed, nobody joins with them).
    async fn register_probe_users(&mut self, connection: &mimi_client_sim::Connection) -> Result<(), SuiteError> {
        if self.users.exhausted.is_none() && self.selects("hub.keymaterial.exhausted") {
            let erin = super::bootstrap_client(connection, "interop-erin", DEVICE).await?;
            erin.upload_key_packages(PROBE_KEY_PACKAGES).await?;
            self.users.exhausted = Some(erin.uri().user().to_string());
        }
        if self.users.last_resort.is_none() && self.selects("hub.keymaterial.last-resort") {
            let frank = super::bootstrap_client(connection, "interop-frank", DEVICE).await?;
            frank.upload_key_packages(PROBE_KEY_PACKAGES).await?;
            let last_resort = Member::new(frank.uri().clone())?.last_resort_key_package()?;
            frank.session().upload_key_packages(&KeyPackageUpload { key_packages: vec![last_resort] }).await?;
            self.users.last_resort = Some(frank.uri().user().to_string());
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

    /// A KeyMaterialRequest signed by bob, for the room; without one, for a room under the suite's
    /// own authority (the hub then takes the claim as that room's hub's for its own user bob: a
    /// follower may claim only for a room the hub has).
    fn key_material_request(&self, target: &str) -> Result<KeyMaterialRequest, SuiteError> {
        let room = self.room.clone().unwrap_or_else(|| format!("mimi://{}/r/interop-probe", self.ours()));
        let inner = self.follower.lock();
        let bob = &inner.members[0];
        let tbs = KeyMaterialRequestTBS {
            protocol: Protocol::Mls10,
            requesting_user: IdentifierUri::new(bob.uri.user().as_str()),
            target_user: IdentifierUri::new(target),
            room_id: IdentifierUri::new(room),
            acceptable_ciphersuites: vec![CIPHERSUITE.into()],
            required_capabilities: required_capabilities(),
            requester_signature_key: bob.credential().signature_key.clone(),
            requester_credential: bob.credential().credential.clone(),
        };
        Ok(KeyMaterialRequest::sign(tbs, bob.signer())?)
    }

    /// bob claims `target`'s KeyPackages from the hub.
    async fn claim(&self, target: &str) -> Result<Call, SuiteError> {
        let request = self.key_material_request(target)?;
        self.peer.post_body(&self.directory, Endpoint::KeyMaterial, target, &request).await
    }

    /// The KeyPackages a response served, validated ([`claims::served`]).
    fn served(&self, response: &KeyMaterialResponse) -> Result<Vec<Served>, String> {
        claims::served(response, self.follower.lock().members[0].provider().crypto())
    }

    /// A claim's answer decoded, its codes consistent and its KeyPackages valid; `Err` is the failure
    /// to report (`what` names the claim).
    fn judge_claim(&self, call: &Call, what: &str) -> Result<(KeyMaterialResponse, Vec<Served>), Outcome> {
        let response = decode_answer::<KeyMaterialResponse>(call)
            .map_err(|e| Outcome::fail_with(format!("{what}: {e}"), call.exchange_text()))?;
        claims::code_consistency(&response)
            .and_then(|()| self.served(&response))
            .map(|served| (response, served))
            .map_err(|e| Outcome::fail_with(format!("{what}: {e}"), shown::<KeyMaterialResponse>(call)))
    }

    /// `hub.mtls.host-binding`: an otherwise valid claim (for an unknown user: `userUnknown` when
    /// addressed right) sent with the suite's own domain in `Host`.
    async fn host_check(&mut self) -> Result<(), SuiteError> {
        if !self.selects("hub.mtls.host-binding") {
            return Ok(());
        }
        let nobody =
            format!("mimi://{}/u/interop-nobody-{}", self.run.target.domain, token(&self.follower.lock().members[0]));
        let request = self.key_material_request(&nobody)?;
        let url = self.directory.url(Endpoint::KeyMaterial, &nobody);
        let host = format!("{}:{}", self.ours(), self.run.target.addr.port());
        let call =
            self.peer.post_with_host(Endpoint::KeyMaterial, &url, request.encode()?, decoded(&request), &host).await;
        let outcome = match &call.answer {
            Ok(a) if HOST_REFUSALS.contains(&a.status) => Outcome::Pass,
            Ok(a) => Outcome::fail_with(
                format!(
                    "a request with Host: {host} (not {}) was answered HTTP {}: Host names the target provider, so the hub must refuse it (403, or 421 Misdirected Request)",
                    self.run.target.domain, a.status
                ),
                shown::<KeyMaterialResponse>(&call),
            ),
            Err(e) => Outcome::fail_with(format!("no answer to a request with Host: {host}: {e}"), call.exchange_text()),
        };
        self.record("hub.mtls.host-binding", outcome);
        Ok(())
    }

    async fn key_material_checks(&mut self) -> Result<(), SuiteError> {
        if self.run.selection.any(&["hub.keymaterial.codes", "hub.keymaterial.no-reuse"]) {
            self.codes_and_reuse().await?;
        }
        if self.selects("hub.keymaterial.exhausted") {
            let outcome = self.exhausted_check().await?;
            self.record("hub.keymaterial.exhausted", outcome);
        }
        if self.selects("hub.keymaterial.last-resort") {
            let outcome = self.last_resort_check().await?;
            self.record("hub.keymaterial.last-resort", outcome);
        }
        if self.selects("hub.keymaterial.no-consent") {
            let outcome = self.no_consent_check().await?;
            self.record("hub.keymaterial.no-consent", outcome);
        }
        Ok(())
    }

    /// `hub.keymaterial.codes` (userUnknown, then success for the hub user) and
    /// `hub.keymaterial.no-reuse` (two claims for the hub user share no single-use KeyPackage).
    async fn codes_and_reuse(&mut self) -> Result<(), SuiteError> {
        let nobody =
            format!("mimi://{}/u/interop-nobody-{}", self.run.target.domain, token(&self.follower.lock().members[0]));
        let unknown = self.claim(&nobody).await?;
        let unknown_outcome = match self.judge_claim(&unknown, &format!("claim for the unknown user {nobody}")) {
            Ok((r, _)) if r.user_status == KeyMaterialUserCode::UserUnknown => Outcome::Pass,
            Ok((r, _)) => Outcome::fail_with(
                format!("for the unknown user {nobody} expected userUnknown without clients, got {:?}", r.user_status),
                shown::<KeyMaterialResponse>(&unknown),
            ),
            Err(failure) => failure,
        };
        let Some(hub_user) = self.hub_user.clone() else {
            self.record("hub.keymaterial.codes", unknown_outcome);
            self.not_applicable(&["hub.keymaterial.no-reuse"], "no hub user with KeyPackages (give --hub-user)");
            return Ok(());
        };
        let mut claims = Vec::new();
        for _ in 0..2 {
            claims.push(self.claim(&hub_user).await?);
        }
        let first = self.judge_claim(&claims[0], &format!("claim for {hub_user}"));
        let codes = match (&unknown_outcome, &first) {
            (Outcome::Pass, Ok((r, served))) => match r.user_status {
                KeyMaterialUserCode::Success | KeyMaterialUserCode::PartialSuccess if !served.is_empty() => {
                    Outcome::Pass
                }
                code => Outcome::fail_with(
                    format!("{hub_user} has KeyPackages, expected success or partialSuccess with a KeyPackage, got {code:?}"),
                    shown::<KeyMaterialResponse>(&claims[0]),
                ),
            },
            (Outcome::Pass, Err(failure)) => failure.clone(),
            (other, _) => other.clone(),
        };
        self.record("hub.keymaterial.codes", codes);
        if !self.selects("hub.keymaterial.no-reuse") {
            return Ok(());
        }
        let second = self.judge_claim(&claims[1], &format!("second claim for {hub_user}"));
        let outcome = match (first, second) {
            (Ok((_, a)), Ok((_, b))) => {
                let mut ledger = Ledger::default();
                ledger.record(&a);
                match ledger.record(&b).into_iter().find(|r| !r.served.last_resort) {
                    None => Outcome::Pass,
                    Some(repeat) => Outcome::Fail {
                        message: format!(
                            "two claims for {hub_user} returned the same KeyPackage (ref {}), and it is not marked last_resort",
                            hex::encode(&repeat.served.reference)
                        ),
                        exchanges: vec![
                            shown::<KeyMaterialResponse>(&claims[0]),
                            shown::<KeyMaterialResponse>(&claims[1]),
                        ],
                    },
                }
            }
            (Err(failure), _) | (_, Err(failure)) => failure,
        };
        self.record("hub.keymaterial.no-reuse", outcome);
        Ok(())
    }

    /// `hub.keymaterial.exhausted`: claims for a user without a last-resort KeyPackage until a client
    /// that was served gets none; it must be listed `keyMaterialExhausted` (or, as the draft allows for
    /// `noCompatibleMaterial`, left out), and nothing served before may come again.
    async fn exhausted_check(&mut self) -> Result<Outcome, SuiteError> {
        let Some(user) = self.users.exhausted.clone() else {
            return Ok(Outcome::NotApplicable {
                reason: "no hub user with few KeyPackages and no last-resort one (give --exhausted-user)".into(),
            });
        };
        let mut ledger = Ledger::default();
        let mut had_key_packages: HashSet<String> = HashSet::new();
        let mut previous: Option<Exchange> = None;
        for n in 1..=EXHAUST_CLAIMS {
            let call = self.claim(&user).await?;
            let (response, served) = match self.judge_claim(&call, &format!("claim {n} for {user}")) {
                Ok(judged) => judged,
                Err(failure) => return Ok(failure),
            };
            let exchanges = previous.iter().cloned().chain([shown::<KeyMaterialResponse>(&call)]).collect();
            let repeats = ledger.record(&served);
            if let Some(repeat) = repeats.iter().find(|r| !r.served.last_resort) {
                return Ok(Outcome::Fail {
                    message: format!(
                        "claim {n} for {user} served again {} instead of reporting keyMaterialExhausted",
                        repeat.describe()
                    ),
                    exchanges,
                });
            }
            if !repeats.is_empty() {
                return Ok(Outcome::NotApplicable {
                    reason: format!("{user} has a last-resort KeyPackage, so it is never used up"),
                });
            }
            let served_clients: HashSet<&str> = served.iter().map(|s| s.client.as_str()).collect();
            for client in &response.clients {
                let uri = client.client_uri.as_str();
                if matches!(client.status, ClientKeyMaterialStatus::NothingCompatible { .. })
                    && had_key_packages.contains(uri)
                {
                    return Ok(Outcome::Fail {
                        message: format!(
                            "claim {n} for {user}: {uri}, whose KeyPackages fitted before, is reported nothingCompatible; a used-up client is keyMaterialExhausted"
                        ),
                        exchanges,
                    });
                }
            }
            let listed_exhausted =
                response.clients.iter().any(|c| matches!(c.status, ClientKeyMaterialStatus::KeyMaterialExhausted));
            let left_out = response.user_status == KeyMaterialUserCode::NoCompatibleMaterial
                && response.clients.is_empty()
                && !had_key_packages.is_empty();
            if listed_exhausted || left_out {
                return Ok(Outcome::Pass);
            }
            if served.is_empty() {
                return Ok(Outcome::Fail {
                    message: format!(
                        "claim {n} for {user} served no KeyPackage ({:?}) and listed no client keyMaterialExhausted",
                        response.user_status
                    ),
                    exchanges,
                });
            }
            had_key_packages.extend(served_clients.into_iter().map(str::to_owned));
            previous = Some(shown::<KeyMaterialResponse>(&call));
        }
        Ok(Outcome::NotApplicable {
            reason: format!("{user} still had KeyPackages after {EXHAUST_CLAIMS} claims; give a user with fewer"),
        })
    }

    /// `hub.keymaterial.last-resort`: claims for a user with a last-resort KeyPackage until one is
    /// served again: only a last_resort one may be, it must not be served while a single-use one of
    /// the same client is left, and the client must not be reported exhausted once it was served.
    async fn last_resort_check(&mut self) -> Result<Outcome, SuiteError> {
        let Some(user) = self.users.last_resort.clone() else {
            return Ok(Outcome::NotApplicable {
                reason: "no hub user with a last-resort KeyPackage (give --last-resort-user)".into(),
            });
        };
        let mut ledger = Ledger::default();
        let mut last_resort_served: HashSet<String> = HashSet::new();
        let mut previous: Option<Exchange> = None;
        for n in 1..=EXHAUST_CLAIMS + 1 {
            let call = self.claim(&user).await?;
            let (response, served) = match self.judge_claim(&call, &format!("claim {n} for {user}")) {
                Ok(judged) => judged,
                Err(failure) => return Ok(failure),
            };
            let exchanges: Vec<Exchange> =
                previous.iter().cloned().chain([shown::<KeyMaterialResponse>(&call)]).collect();
            let repeats = ledger.record(&served);
            if let Some(repeat) = repeats.iter().find(|r| !r.served.last_resort) {
                return Ok(Outcome::Fail {
                    message: format!("claim {n} for {user} served again {}", repeat.describe()),
                    exchanges,
                });
            }
            if let Some(early) = served.iter().find(|s| !s.last_resort && last_resort_served.contains(&s.client)) {
                return Ok(Outcome::Fail {
                    message: format!(
                        "claim {n} for {user} served a single-use KeyPackage of {} after its last-resort one: the last resort went first",
                        early.client
                    ),
                    exchanges,
                });
            }
            if let Some(c) = response.clients.iter().find(|c| {
                !matches!(c.status, ClientKeyMaterialStatus::Success { .. })
                    && last_resort_served.contains(c.client_uri.as_str())
            }) {
                return Ok(Outcome::Fail {
                    message: format!(
                        "claim {n} for {user}: {} is reported {:?} although its last-resort KeyPackage may be served again",
                        c.client_uri.as_str(),
                        c.status.code()
                    ),
                    exchanges,
                });
            }
            if !repeats.is_empty() {
                return Ok(Outcome::Pass);
            }
            if served.is_empty() {
                return Ok(Outcome::Fail {
                    message: format!(
                        "claim {n} for {user} served nothing ({:?}) and no last-resort KeyPackage came before",
                        response.user_status
                    ),
                    exchanges,
                });
            }
            last_resort_served.extend(served.iter().filter(|s| s.last_resort).map(|s| s.client.clone()));
            previous = Some(shown::<KeyMaterialResponse>(&call));
        }
        Ok(Outcome::NotApplicable {
            reason: format!("no KeyPackage of {user} came back within {} claims", EXHAUST_CLAIMS + 1),
        })
    }

    /// `hub.keymaterial.no-consent`: a claim through the hub for a user whose provider requires a
    /// consent the suite's users do not have.
    async fn no_consent_check(&mut self) -> Result<Outcome, SuiteError> {
        let Some(user) = self.users.no_consent.clone() else {
            return Ok(Outcome::NotApplicable {
                reason: "no user whose provider refuses the suite's users for lack of consent (give --no-consent-user)"
                    .into(),
            });
        };
        if self.room.is_none() {
            return Ok(Outcome::NotApplicable {
                reason: "a claim for another provider's user goes through a room of the hub, and there is none".into(),
            });
        }
        let call = self.claim(&user).await?;
        Ok(match self.judge_claim(&call, &format!("claim for {user}")) {
            Ok((r, _))
                if matches!(
                    r.user_status,
                    KeyMaterialUserCode::NoConsent | KeyMaterialUserCode::NoConsentForThisRoom
                ) =>
            {
                Outcome::Pass
            }
            Ok((r, _)) => Outcome::fail_with(
                format!(
                    "{user}'s provider requires a consent {} does not have; expected noConsent or noConsentForThisRoom without clients, got {:?}",
                    self.uri(0),
                    r.user_status
                ),
                shown::<KeyMaterialResponse>(&call),
            ),
            Err(failure) => failure,
        })
    }

    /// `hub.groupinfo.unknown-room`: bob asks for the GroupInfo of a room the hub does not have.
    async fn unknown_room_check(&mut self) -> Result<(), SuiteError> {
        if !self.selects("hub.groupinfo.unknown-room") {
            return Ok(());
        }
        let room = format!(
            "mimi://{}/r/interop-nonexistent-{}",
            self.run.target.domain,
            token(&self.follower.lock().members[0])
        );
        let request = {
            let inner = self.follower.lock();
            inner.members[0].group_info_request(inner.members[0].signer())?.0
        };
        let call = self.peer.post_body(&self.directory, Endpoint::GroupInfo, &room, &request).await?;
        let outcome = match decode_answer::<GroupInfoResponse>(&call) {
            Ok(GroupInfoResponse { status: GroupInfoStatus::NoSuchRoom | GroupInfoStatus::NotAuthorized, .. }) => {
                Outcome::Pass
            }
            Ok(_) => Outcome::fail_with(
                format!("the room {room} does not exist; expected noSuchRoom or notAuthorized, got success"),
                shown::<GroupInfoResponse>(&call),
            ),
            Err(_) if call.status() == 404 => Outcome::Pass,
            Err(e) => Outcome::fail_with(
                format!("the room {room} does not exist; expected noSuchRoom or notAuthorized (or HTTP 404), got {e}"),
                call.exchange_text(),
            ),
        };
        self.record("hub.groupinfo.unknown-room", outcome);
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
        const ROOM_CHECKS: [&str; 14] = [
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
            "hub.groupinfo.member",
            "hub.groupinfo.not-authorized",
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
            let call = self.peer.post(Endpoint::Update, &url, body, described, &self.ours(), true).await;
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

    /// dave proposes to leave; bob's GroupInfo request must list the proposals; a non-participant's
    /// and a forged request are refused; bob commits the proposals; then dave's GroupInfo request
    /// must be refused and a message with dave's sendingUri too.
    async fn group_info_and_removal(&mut self, room: &str) -> Result<(), SuiteError> {
        const CHECKS: [&str; 3] =
            ["hub.groupinfo.member", "hub.groupinfo.not-authorized", "hub.removed-client-blocked"];
        const AFTER_REMOVAL: [&str; 2] = ["hub.groupinfo.not-authorized", "hub.removed-client-blocked"];
        if !self.run.selection.any(&CHECKS) {
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
            for id in CHECKS {
                self.record(id, failure.clone());
            }
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

        if self.selects("hub.groupinfo.member") {
            let outcome = self.group_info_check(room, &hashes).await?;
            self.record("hub.groupinfo.member", outcome);
        }
        let mut refusals = Vec::new();
        if self.selects("hub.groupinfo.not-authorized") {
            refusals = self.unauthorized_group_info_requests(room).await?;
        }
        if !self.run.selection.any(&AFTER_REMOVAL) {
            return Ok(());
        }
        if !stored {
            let failure = Outcome::fail(format!(
                "{}'s accepted proposals were not fanned out within {FANOUT_WAIT:?}, so it could not be removed",
                self.uri(dave)
            ));
            for id in AFTER_REMOVAL {
                self.record(id, failure.clone());
            }
            return Ok(());
        }
        let removal = self.commit(bob, UserOperation::default())?;
        let call = self.post_update(room, removal).await?;
        if !matches!(
            decode_answer::<UpdateRoomResponse>(&call),
            Ok(UpdateRoomResponse { outcome: UpdateRoomOutcome::Success { .. }, .. })
        ) {
            self.follower.lock().members[bob].clear_pending()?;
            let failure = Outcome::fail_with(
                format!("committing {}'s leave was not accepted", self.uri(dave)),
                shown::<UpdateRoomResponse>(&call),
            );
            for id in AFTER_REMOVAL {
                self.record(id, failure.clone());
            }
            return Ok(());
        }
        self.follower.lock().members[bob].merge_pending()?;
        let dave_uri = self.uri(dave);
        if self.selects("hub.groupinfo.not-authorized") {
            let request = {
                let inner = self.follower.lock();
                inner.members[dave].group_info_request(inner.members[dave].signer())?.0
            };
            let call = self.peer.post_body(&self.directory, Endpoint::GroupInfo, room, &request).await?;
            refusals.push((format!("the removed user's client {dave_uri}"), call));
            let outcome = refusals
                .iter()
                .find_map(|(who, call)| match decode_answer::<GroupInfoResponse>(call) {
                    Ok(GroupInfoResponse { status: GroupInfoStatus::NotAuthorized, .. }) => None,
                    Ok(r) => Some(Outcome::fail_with(
                        format!(
                            "groupInfo for {who} must be notAuthorized, got {}",
                            if matches!(r.status, GroupInfoStatus::Success(_)) { "success" } else { "noSuchRoom" }
                        ),
                        shown::<GroupInfoResponse>(call),
                    )),
                    Err(e) => Some(Outcome::fail_with(
                        format!("groupInfo for {who} must be answered notAuthorized: {e}"),
                        call.exchange_text(),
                    )),
                })
                .unwrap_or(Outcome::Pass);
            self.record("hub.groupinfo.not-authorized", outcome);
        }
        if !self.selects("hub.removed-client-blocked") {
            return Ok(());
        }
        let tag = token(&self.follower.lock().members[bob]);
        let message = self.message(bob, &format!("interop after removal {tag}"))?;
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

    /// GroupInfo requests the hub must refuse while the room is intact: one by a client of the suite's
    /// user `interop-mallory`, who is no participant, and one naming bob but signed with mallory's key.
    /// Returns each with who asked.
    async fn unauthorized_group_info_requests(&self, room: &str) -> Result<Vec<(String, Call)>, SuiteError> {
        let mallory = Member::new(
            ClientUri::parse(&format!("mimi://{}/d/{MALLORY}/{DEVICE}", self.ours()))
                .map_err(|e| SuiteError::mls("client URI", e))?,
        )?;
        let (stranger, forged) = {
            let inner = self.follower.lock();
            (mallory.group_info_request(mallory.signer())?.0, inner.members[0].group_info_request(mallory.signer())?.0)
        };
        let mut calls = Vec::new();
        for (who, request) in [
            (format!("the non-participant {}", mallory.uri), stranger),
            (format!("a request naming {} signed with another key", self.uri(0)), forged),
        ] {
            calls.push((who, self.peer.post_body(&self.directory, Endpoint::GroupInfo, room, &request).await?));
        }
        Ok(calls)
    }

    async fn group_info_check(&mut self, room: &str, pending: &[Vec<u8>]) -> Result<Outcome, SuiteError> {
        let (request, private, senders, epoch) = {
            let inner = self.follower.lock();
            let bob = &inner.members[0];
            let (request, private) = bob.group_info_request(bob.signer())?;
            let senders = bob.group().and_then(|g| g.extensions().external_senders().cloned()).unwrap_or_default();
            (request, private, senders, bob.epoch())
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
