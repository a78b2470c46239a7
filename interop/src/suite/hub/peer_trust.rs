//! The hub's peer-facing trust checks (`hub.trust.*`): a provider acts only for its own domain, so a
//! request in which the suite (a follower provider, authenticated by its certificate) speaks for a
//! user or client of another domain must be refused, whatever else about it is valid.
//!
//! - `hub.trust.requester-domain` (§5.2): a claim in the hub's room for a hub user whose
//!   `requestingUser` is of a third domain, or of the hub's own domain, signed by a key carried in
//!   the request: a follower relays only its own users' claims.
//! - `hub.trust.keymaterial-foreign-room` (§5.2): a claim for a hub user naming a room of a third
//!   authority (it must go through that room's hub), or a room under the suite's own authority
//!   with a `requestingUser` of the hub's domain (the hub's users' claims never come from a peer;
//!   a hub that skips consent for its own domain's requesters would be bypassed this way).
//! - `hub.trust.sending-uri-domain` (§5.4): a valid message of the room submitted with the
//!   `sendingUri` of a member client of another domain.
//! - `hub.trust.reporter-domain` (§5.9): an abuse report with a `reportingUser` of another domain.
//! - `hub.trust.consent-parties` (§5.7): a `requestConsent` whose `requesterUri`, and an
//!   `updateConsent` whose `targetUri`, is of a third domain (the draft: the requester must be in
//!   the sender's domains, resp. the target). Optional: the draft lets a provider answer 201 to
//!   anything for privacy, so refusing with 403 is our reading.
//!
//! A refusal is any 4xx answer, or, for a claim, a 200 answer that serves no KeyPackage (a code
//! such as `noConsent`), or, for a message, `notAllowed`; serving, accepting (2xx) or a 5xx fails.
//! The claims need a hub user with KeyPackages (`--hub-user`, or the bootstrap's), everything but
//! the foreign-room claims and consent needs the room.

use mimi_appsync::uri::ClientUri;
use mimi_protocol::abuse::{AbuseReport, AbuseType};
use mimi_protocol::consent::{Consent, ConsentEntry, ConsentScope};
use mimi_protocol::directory::Endpoint;
use mimi_protocol::key_material::{
    ClientKeyMaterialStatus, KeyMaterialRequest, KeyMaterialRequestTBS, KeyMaterialResponse,
};
use mimi_protocol::submit::{SubmitMessageResponse, SubmitMessageStatus};
use mimi_protocol::{Body, IdentifierUri, Protocol, DEFAULT_MAX_BODY_LEN};

use super::{shown, Hub, DEVICE, MALLORY};
use crate::suite::member::Member;
use crate::suite::net::Call;
use crate::suite::{Exchange, Outcome, SuiteError};
use mimi_appsync::group::{required_capabilities, CIPHERSUITE};

/// A domain that is neither the hub's nor the suite's (nobody needs to serve it).
pub const THIRD_DOMAIN: &str = "interop-third.example";

/// The checks of this module, in the order they run.
pub const CHECKS: [&str; 5] = [
    "hub.trust.requester-domain",
    "hub.trust.keymaterial-foreign-room",
    "hub.trust.sending-uri-domain",
    "hub.trust.reporter-domain",
    "hub.trust.consent-parties",
];

/// How the hub answered a request it had to refuse.
enum Answer {
    /// Refused.
    Refused,
    /// Served, accepted or kept: the message says what.
    Taken(String),
}

/// A claim answer: refused if 4xx, or 200 without a KeyPackage.
fn claim_answer(call: &Call) -> Answer {
    match &call.answer {
        Err(e) => Answer::Taken(format!("no answer: {e}")),
        Ok(a) if (400..500).contains(&a.status) => Answer::Refused,
        Ok(a) if a.status == 200 => match KeyMaterialResponse::decode(&a.body, DEFAULT_MAX_BODY_LEN) {
            Ok(r) if r.clients.iter().any(|c| matches!(c.status, ClientKeyMaterialStatus::Success { .. })) => {
                Answer::Taken(format!("served a KeyPackage ({:?})", r.user_status))
            }
            Ok(_) => Answer::Refused,
            Err(e) => Answer::Taken(format!("answered 200 with an undecodable KeyMaterialResponse: {e}")),
        },
        Ok(a) => Answer::Taken(format!("answered HTTP {}", a.status)),
    }
}

/// A submitMessage answer: refused if 4xx or `notAllowed`.
fn submit_answer(call: &Call) -> Answer {
    match &call.answer {
        Err(e) => Answer::Taken(format!("no answer: {e}")),
        Ok(a) if (400..500).contains(&a.status) => Answer::Refused,
        Ok(a) if a.status == 200 => match SubmitMessageResponse::decode(&a.body, DEFAULT_MAX_BODY_LEN) {
            Ok(SubmitMessageResponse { status: SubmitMessageStatus::NotAllowed, .. }) => Answer::Refused,
            Ok(r) => Answer::Taken(format!("answered {:?}", r.status.code())),
            Err(e) => Answer::Taken(format!("answered 200 with an undecodable SubmitMessageResponse: {e}")),
        },
        Ok(a) => Answer::Taken(format!("answered HTTP {}", a.status)),
    }
}

/// An answer without a protocol body (reportAbuse, consent): refused if 4xx.
fn status_answer(call: &Call) -> Answer {
    match &call.answer {
        Err(e) => Answer::Taken(format!("no answer: {e}")),
        Ok(a) if (400..500).contains(&a.status) => Answer::Refused,
        Ok(a) => Answer::Taken(format!("answered HTTP {}", a.status)),
    }
}

/// The outcome of requests that all had to be refused: each is (what it was, the exchange to
/// show, how it was answered).
fn judged(attempts: Vec<(String, Exchange, Answer)>) -> Outcome {
    for (what, exchange, answer) in attempts {
        if let Answer::Taken(how) = answer {
            return Outcome::fail_with(format!("{what} must be refused, but the hub {how}"), exchange);
        }
    }
    Outcome::Pass
}

impl Hub {
    /// Runs the selected `hub.trust.*` checks (module docs).
    pub(super) async fn peer_trust_checks(&mut self) -> Result<(), SuiteError> {
        if !self.run.selection.any(&CHECKS) {
            return Ok(());
        }
        if self.selects(CHECKS[0]) {
            let outcome = self.requester_domain_check().await?;
            self.record(CHECKS[0], outcome);
        }
        if self.selects(CHECKS[1]) {
            let outcome = self.foreign_room_check().await?;
            self.record(CHECKS[1], outcome);
        }
        if self.selects(CHECKS[2]) {
            let outcome = self.sending_uri_check().await?;
            self.record(CHECKS[2], outcome);
        }
        if self.selects(CHECKS[3]) {
            let outcome = self.reporter_check().await?;
            self.record(CHECKS[3], outcome);
        }
        if self.selects(CHECKS[4]) {
            let outcome = self.consent_parties_check().await?;
            self.record(CHECKS[4], outcome);
        }
        Ok(())
    }

    /// A claim for `target` in `room` by `requester` (a client URI whose user is the
    /// `requestingUser`), signed with a fresh key of that client carried in the request: its
    /// signature verifies, so only who may ask for whom can refuse it.
    async fn foreign_claim(&self, requester: &str, target: &str, room: &str) -> Result<Call, SuiteError> {
        let signer = Member::new(ClientUri::parse(requester).map_err(|e| SuiteError::mls("client URI", e))?)?;
        let tbs = KeyMaterialRequestTBS {
            protocol: Protocol::Mls10,
            requesting_user: IdentifierUri::new(signer.uri.user().as_str()),
            target_user: IdentifierUri::new(target),
            room_id: IdentifierUri::new(room),
            acceptable_ciphersuites: vec![CIPHERSUITE.into()],
            required_capabilities: required_capabilities(),
            requester_signature_key: signer.credential().signature_key.clone(),
            requester_credential: signer.credential().credential.clone(),
        };
        let request = KeyMaterialRequest::sign(tbs, signer.signer())?;
        self.peer.post_body(&self.directory, Endpoint::KeyMaterial, target, &request).await
    }

    /// `hub.trust.requester-domain`.
    async fn requester_domain_check(&mut self) -> Result<Outcome, SuiteError> {
        let (Some(room), Some(hub_user)) = (self.room.clone(), self.hub_user.clone()) else {
            return Ok(Outcome::NotApplicable {
                reason: "needs the room and a hub user with KeyPackages (give --room and --hub-user)".into(),
            });
        };
        let mut attempts = Vec::new();
        for domain in [THIRD_DOMAIN.to_owned(), self.run.target.domain.clone()] {
            let requester = format!("mimi://{domain}/d/{MALLORY}/{DEVICE}");
            let call = self.foreign_claim(&requester, &hub_user, &room).await?;
            let answer = claim_answer(&call);
            let exchange = shown::<KeyMaterialResponse>(&call);
            let what = format!(
                "a claim relayed by {} in {room} for {hub_user} with requestingUser mimi://{domain}/u/{MALLORY} (not a user of {})",
                self.ours(),
                self.ours()
            );
            attempts.push((what, exchange, answer));
        }
        Ok(judged(attempts))
    }

    /// `hub.trust.keymaterial-foreign-room`.
    async fn foreign_room_check(&mut self) -> Result<Outcome, SuiteError> {
        let Some(hub_user) = self.hub_user.clone() else {
            return Ok(Outcome::NotApplicable { reason: "needs a hub user with KeyPackages (give --hub-user)".into() });
        };
        let tag = self.follower.lock().members[0].token();
        let ours = self.ours();
        let hub = self.run.target.domain.clone();
        let bob = self.uri(0);
        let cases = [
            (
                format!("mimi://{THIRD_DOMAIN}/r/interop-{tag}"),
                bob.clone(),
                format!("a claim for {hub_user} by {} naming a room of {THIRD_DOMAIN}, whose hub must relay it,", self.uri(0)),
            ),
            (
                format!("mimi://{ours}/r/interop-{tag}"),
                format!("mimi://{hub}/d/{MALLORY}/{DEVICE}"),
                format!(
                    "a claim for {hub_user} naming a room of {ours} with requestingUser mimi://{hub}/u/{MALLORY}, a user of the hub's own domain,"
                ),
            ),
        ];
        let mut attempts = Vec::new();
        for (room, requester, what) in cases {
            let call = self.foreign_claim(&requester, &hub_user, &room).await?;
            let answer = claim_answer(&call);
            attempts.push((what, shown::<KeyMaterialResponse>(&call), answer));
        }
        Ok(judged(attempts))
    }

    /// `hub.trust.sending-uri-domain`: bob's valid message, submitted as a member client of another
    /// domain.
    async fn sending_uri_check(&mut self) -> Result<Outcome, SuiteError> {
        let Some(room) = self.room.clone() else {
            return Ok(Outcome::NotApplicable { reason: "our users are not in a room of this hub".into() });
        };
        self.sync(&room)?;
        let ours = self.ours();
        let other = {
            let inner = self.follower.lock();
            inner.members[0].group().and_then(|g| {
                g.members().find_map(|m| {
                    mimi_appsync::adapter::client_of(&m.credential, &|| "member".into())
                        .ok()
                        .filter(|c| c.domain() != ours)
                })
            })
        };
        let Some(other) = other else {
            return Ok(Outcome::NotApplicable { reason: "no member client of another domain in the room".into() });
        };
        let tag = self.follower.lock().members[0].token();
        let message = self.message(0, &format!("interop sent as {other} {tag}"))?;
        let call = self.post_submit(&room, message, other.as_str()).await?;
        let answer = submit_answer(&call);
        let what = format!("{ours}'s submitMessage with the sendingUri {other}, a member of another domain,");
        Ok(match answer {
            Answer::Refused => Outcome::Pass,
            Answer::Taken(how) => Outcome::fail_with(
                format!("{what} must be refused, but the hub {how}"),
                shown::<SubmitMessageResponse>(&call),
            ),
        })
    }

    /// `hub.trust.reporter-domain`: a report filed by the suite for users of other domains.
    async fn reporter_check(&mut self) -> Result<Outcome, SuiteError> {
        let Some(room) = self.room.clone() else {
            return Ok(Outcome::NotApplicable { reason: "our users are not in a room of this hub".into() });
        };
        let mut attempts = Vec::new();
        for domain in [self.run.target.domain.clone(), THIRD_DOMAIN.to_owned()] {
            let reporter = format!("mimi://{domain}/u/{MALLORY}");
            let report = AbuseReport {
                reporting_user: IdentifierUri::new(&reporter),
                alleged_abuser_uri: IdentifierUri::new(self.follower.lock().members[1].uri.user().as_str()),
                reason_code: AbuseType(0),
                note: "interop: a report filed for another domain's user".into(),
                messages: Vec::new(),
                abuse_extensions: Default::default(),
            };
            let call = self.peer.post_body(&self.directory, Endpoint::ReportAbuse, &room, &report).await?;
            let answer = status_answer(&call);
            let what = format!("{}'s abuse report with reportingUser {reporter}", self.ours());
            attempts.push((what, call.exchange_text(), answer));
        }
        Ok(judged(attempts))
    }

    /// `hub.trust.consent-parties`: consent entries in which the suite speaks for a third domain.
    async fn consent_parties_check(&mut self) -> Result<Outcome, SuiteError> {
        let hub_user =
            self.hub_user.clone().unwrap_or_else(|| format!("mimi://{}/u/interop-alice", self.run.target.domain));
        let third = format!("mimi://{THIRD_DOMAIN}/u/{MALLORY}");
        let entry = |consent: Consent, requester: &str, target: &str| ConsentEntry {
            consent,
            scope: ConsentScope {
                requester_uri: IdentifierUri::new(requester),
                target_uri: IdentifierUri::new(target),
                room_id: self.room.as_deref().map(IdentifierUri::new),
            },
            consent_extensions: Default::default(),
        };
        let cases = [
            (
                Endpoint::RequestConsent,
                entry(Consent::Request, &third, &hub_user),
                format!("a requestConsent from {} for {hub_user} with requesterUri {third}", self.ours()),
            ),
            (
                Endpoint::UpdateConsent,
                entry(Consent::Grant { client_key_packages: Vec::new() }, &hub_user, &third),
                format!("an updateConsent (grant) from {} to {hub_user} with targetUri {third}", self.ours()),
            ),
        ];
        let mut attempts = Vec::new();
        for (endpoint, entry, what) in cases {
            let call = self.peer.post_body(&self.directory, endpoint, &hub_user, &entry).await?;
            let answer = status_answer(&call);
            attempts.push((what, call.exchange_text(), answer));
        }
        Ok(judged(attempts))
    }
}
