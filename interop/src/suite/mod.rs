//! The conformance suite: checks a live MIMI hub (the suite plays follower providers) or a live follower
//! (the suite plays the hub) against draft-ietf-mimi-protocol-06, requirement by requirement.
//!
//! - [`CHECKS`] is the registry: every check's id (e.g. `hub.update.wrong-epoch`), the draft section, the
//!   role under test, whether it is required, and what it verifies. Checks are selected with `--only` /
//!   `--skip` ([`Selection`], ids or id prefixes).
//! - A run produces a [`Report`]: one [`CheckResult`] per selected check, `Pass`, `Fail` (with what was
//!   sent and what came back, hex and decoded, as [`Exchange`]s, and a one-line message) or
//!   `NotApplicable` (why). [`render`] prints it as a table, JSON or Markdown; a failed required check
//!   makes the process exit non-zero. [`html`] and [`junit`] write it as files (`--html`, `--junit`).
//! - Every request the suite sends is kept as [`Traffic`] (in [`net`], the one request path; what its own
//!   server receives, in [`serve`]), and each check's result carries the traffic since the result before
//!   it: the exchanges that led to it.
//! - [`hub`] runs the hub checks, [`follower`] the follower checks, [`selftest`] both against our own
//!   `mimi-ds` started in-process. The suite's own HTTPS server (receiving `/notify`, serving
//!   `keyMaterial`, or acting as the hub) is in [`serve`], its MLS clients in [`member`], its outbound
//!   mTLS calls in [`net`], how `keyMaterial` answers are judged (codes, KeyPackages served twice) in
//!   [`claims`].
//!
//! The checks are stateful steps of one scenario (a room is bootstrapped, commits move its epoch), so a
//! run executes the steps the selected checks need and evaluates only the selected checks.

pub mod claims;
pub mod follower;
pub mod html;
pub mod hub;
pub mod junit;
pub mod member;
pub mod net;
pub mod render;
pub mod selftest;
pub mod serve;

use std::sync::{Arc, Mutex};

use serde::Serialize;

/// Which side of the federation a check tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The hub (the suite plays followers).
    Hub,
    /// A follower (the suite plays the hub).
    Follower,
}

/// One check of the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CheckInfo {
    /// Stable id, dotted: `<role>.<endpoint>.<requirement>`.
    pub id: &'static str,
    /// The draft section it checks (draft-ietf-mimi-protocol-06 unless another draft is named).
    pub section: &'static str,
    /// The role under test.
    pub role: Role,
    /// Whether a failure makes the run fail (optional checks test SHOULDs and our pinned readings).
    pub required: bool,
    /// What is verified, one line.
    pub title: &'static str,
}

impl CheckInfo {
    /// The section with its draft: `draft-ietf-mimi-protocol-06 §5.3`, or the section as registered
    /// when it starts with another draft's name (`room-policy-04 §5`).
    pub fn draft_section(&self) -> String {
        if self.section.starts_with('§') {
            format!("{} {}", mimi_protocol::PROTOCOL_DRAFT, self.section)
        } else {
            self.section.to_owned()
        }
    }
}

macro_rules! check {
    ($id:literal, $section:literal, $role:ident, $required:literal, $title:literal) => {
        CheckInfo { id: $id, section: $section, role: Role::$role, required: $required, title: $title }
    };
}

/// Every check, in the order they run.
pub const CHECKS: &[CheckInfo] = &[
    check!("hub.directory", "§5.1", Hub, true, "directory document: every endpoint an https template with its variable once"),
    check!("hub.mtls.required", "§4.1", Hub, true, "a connection without a client certificate is refused"),
    check!("hub.mtls.from-binding", "§4.1", Hub, true, "a From header naming a domain the certificate does not name is refused"),
    check!("hub.notify.welcome", "§5.5", Hub, true, "the Welcome for our KeyPackages arrives by /notify with RatchetTreeOption framing"),
    check!("hub.mtls.host-binding", "§4.1", Hub, true, "a request whose Host names another domain than the hub's is refused"),
    check!("hub.keymaterial.codes", "§5.2", Hub, true, "keyMaterial answers the draft's codes (success for a user with KeyPackages, userUnknown), clients only where the code allows"),
    check!("hub.keymaterial.no-reuse", "§5.2", Hub, true, "keyMaterial never serves the same KeyPackage twice (unless it is marked last_resort)"),
    check!("hub.keymaterial.exhausted", "§5.2", Hub, true, "a client whose KeyPackages are used up is reported keyMaterialExhausted, not served one again"),
    check!("hub.keymaterial.last-resort", "§5.2, mls-extensions", Hub, false, "a last_resort KeyPackage is served after the single-use ones and again, only it twice"),
    check!("hub.keymaterial.no-consent", "§5.2, §5.7", Hub, true, "a claim the target provider refuses for lack of consent comes back noConsent (or noConsentForThisRoom) without clients"),
    check!("hub.groupinfo.unknown-room", "§5.6", Hub, true, "groupInfo for a room the hub does not have: noSuchRoom or notAuthorized (HTTP 404 under our reading, docs/DIVERGENCES.md)"),
    check!("hub.update.accepts-commit", "§5.3", Hub, true, "update accepts a valid commit with success"),
    check!("hub.update.one-commit-per-epoch", "§5.3", Hub, true, "a second commit for an epoch that already has one is refused"),
    check!("hub.update.wrong-epoch", "§5.3", Hub, true, "a stale commit gets wrongEpoch with the hub's current epoch"),
    check!("hub.update.private-handshake", "§5.3", Hub, true, "a handshake sent as PrivateMessage is refused with notAllowed"),
    check!("hub.update.policy-violation", "room-policy-04 §5", Hub, true, "a commit the room policy forbids is refused with notAllowed"),
    check!("hub.submit.accepts", "§5.4", Hub, true, "submitMessage accepts a current-epoch message of a participant"),
    check!("hub.submit.epoch-too-old", "§5.4", Hub, true, "a message of an older epoch gets epochTooOld with the current epoch"),
    check!("hub.submit.non-participant", "§5.4", Hub, true, "a sendingUri that is not a participant is refused with notAllowed"),
    check!("hub.notify.framing", "§5.5", Hub, true, "fanout arrives as FanoutMessages framed by message kind, our commit and message included"),
    check!("hub.notify.retry", "§5.5", Hub, false, "a /notify answered with a non-201 status is sent again"),
    check!("hub.notify.retry-after", "§5.5", Hub, false, "a /notify answered 503 with Retry-After is not retried before that time"),
    check!("hub.groupinfo.member", "§5.6", Hub, true, "groupInfo decrypts with the requester's HPKE key, is signed by the room's external sender, lists pending proposals"),
    check!("hub.groupinfo.not-authorized", "§5.6", Hub, true, "groupInfo for a non-participant, a request with a bad signature and a removed user's client: notAuthorized"),
    check!("hub.removed-client-blocked", "§5.4", Hub, true, "a removed user's client may no longer submit messages"),
    check!("follower.notify.accepts", "§5.5", Follower, true, "/notify with a commit and a Welcome is answered 201"),
    check!("follower.notify.dedup", "§5.5", Follower, true, "a byte-identical retried /notify is answered 201 and taken in once"),
    check!("follower.notify.welcome-routing", "§5.5", Follower, true, "a Welcome reaches only the clients whose KeyPackageRefs it names"),
    check!("follower.relay.update", "§5.3", Follower, true, "a local client's commit is relayed to the hub as an UpdateRequest with mTLS and From"),
    check!("follower.relay.submit", "§5.4", Follower, true, "a local client's message is relayed to the hub as a SubmitMessageRequest with its sendingUri"),
    check!("follower.trust.refuses-invalid-fanout", "§5.5", Follower, false, "a fanned-out commit whose signature does not verify is refused with a 4xx and not delivered to the follower's clients (the draft does not require a follower to validate)"),
    check!("follower.trust.mirror-members-only", "§5.5", Follower, false, "a local client that was never a member, and relayed a handshake it did not sign, is refused the room's log (the draft leaves the client API to the provider)"),
    check!("hub.trust.requester-domain", "§5.2", Hub, true, "a claim a follower relays in the hub's room for a requestingUser of another domain (a third one, or the hub's) is refused, nothing served"),
    check!("hub.trust.keymaterial-foreign-room", "§5.2", Hub, true, "a claim naming a room of a third hub, or a room of the caller's with a requestingUser of the hub's domain, is refused, nothing served"),
    check!("hub.trust.sending-uri-domain", "§5.4", Hub, true, "a message submitted with the sendingUri of a member client of another domain is refused"),
    check!("hub.trust.reporter-domain", "§5.9", Hub, true, "an abuse report whose reportingUser is of another domain than the reporting provider's is refused"),
    check!("hub.trust.consent-parties", "§5.7", Hub, false, "requestConsent with a requesterUri, updateConsent with a targetUri, of another domain than the sender's is refused (403 under our reading; the draft allows 201 for privacy)"),
    check!("hub.trust.leaf-identity", "§5.3, RFC 9420 §5.3.1", Hub, true, "a commit path or Update proposal giving a member's leaf the credential of another client is refused"),
    check!("hub.trust.welcome-matches-adds", "§5.3", Hub, false, "a commit whose Welcome names a KeyPackage the commit does not add is refused (the draft routes Welcomes by KeyPackageRef without saying the hub compares them)"),
    check!("hub.trust.group-info-verified", "§5.3, §5.6", Hub, false, "a commit carrying a GroupInfo of the wrong epoch or with a signature that does not verify is refused (the hub serves it to external joiners; RFC 9420 has joiners verify it)"),
    check!("hub.trust.external-join-listed", "§5.6, room-policy-04 §5", Hub, true, "an external commit by a client of a user neither listed nor preauthorised, in a room without open join, is refused"),
    check!("hub.trust.leaf-components", "§5.3, mls-extensions-10", Hub, false, "a commit whose path leaf lacks the app_components the room's GroupContext requires is refused (-10 defines the lists, not that the hub enforces them)"),
];

/// The registry entry of `id`.
pub fn info(id: &str) -> Option<&'static CheckInfo> {
    CHECKS.iter().find(|c| c.id == id)
}

/// One request and its answer, as a failure shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exchange {
    /// Method and URL (or what else carried it, e.g. "received /notify").
    pub request: String,
    /// The request body, lowercase hex (may be shortened, see [`hex_excerpt`]).
    pub request_hex: String,
    /// The request body decoded (the wire struct's `Debug`), or why it could not be.
    pub request_decoded: String,
    /// The HTTP status (0 when there was no answer).
    pub status: u16,
    /// The answer body, lowercase hex (may be shortened).
    pub response_hex: String,
    /// The answer decoded, or the transport error.
    pub response_decoded: String,
}

/// Longest hex kept in a report per body (bytes beyond it are elided with a count).
pub const MAX_HEX_BYTES: usize = 256;

/// Lowercase hex of at most [`MAX_HEX_BYTES`] bytes, with the number of bytes left out.
pub fn hex_excerpt(bytes: &[u8]) -> String {
    if bytes.len() <= MAX_HEX_BYTES {
        hex::encode(bytes)
    } else {
        format!("{}… ({} more bytes)", hex::encode(&bytes[..MAX_HEX_BYTES]), bytes.len() - MAX_HEX_BYTES)
    }
}

/// Longest decoded rendering kept per body.
pub const MAX_DECODED_CHARS: usize = 2000;

/// A `Debug` rendering cut to [`MAX_DECODED_CHARS`].
pub fn decoded(value: &impl std::fmt::Debug) -> String {
    let text = format!("{value:?}");
    match text.char_indices().nth(MAX_DECODED_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

/// One request the suite sent and what came back ([`net`]), or one its server received and what it
/// answered ([`serve`]), whole, for the report files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Traffic {
    /// Method and URL (path when received), with what else is unusual about the request (`From`,
    /// `Host`, no certificate).
    pub request: String,
    /// Whether the suite's server received it (the suite sent it otherwise).
    pub received: bool,
    /// The structure the body is meant to be (a name [`crate::inspect::find`] knows), if any; `/notify`
    /// bodies are a concatenation of them.
    pub request_struct: Option<&'static str>,
    /// The body sent.
    pub request_body: Vec<u8>,
    /// The HTTP status, 0 when there was no answer.
    pub status: u16,
    /// The structure a 200 answer is meant to be, if any.
    pub response_struct: Option<&'static str>,
    /// The answer body (empty without an answer).
    pub response_body: Vec<u8>,
    /// The transport error when there was no answer (or, received, why the answer is not shown).
    pub error: Option<String>,
}

/// Where [`Traffic`] is kept until the next check's result takes it ([`Report::record`]); clones share it.
#[derive(Debug, Clone, Default)]
pub struct TrafficLog(Arc<Mutex<Vec<Traffic>>>);

impl TrafficLog {
    /// Keeps `traffic` for the next result.
    pub fn push(&self, traffic: Traffic) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(traffic);
    }

    /// Everything kept since the last call.
    pub fn take(&self) -> Vec<Traffic> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Two handles are equal when they share one log.
impl PartialEq for TrafficLog {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for TrafficLog {}

/// How a check ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum Outcome {
    /// The requirement holds.
    Pass,
    /// It does not.
    Fail {
        /// What was wrong, one line.
        message: String,
        /// What was sent and what came back.
        exchanges: Vec<Exchange>,
    },
    /// It could not be checked here.
    NotApplicable {
        /// Why.
        reason: String,
    },
}

impl Outcome {
    /// A failure with no exchange to show.
    pub fn fail(message: impl Into<String>) -> Outcome {
        Outcome::Fail { message: message.into(), exchanges: Vec::new() }
    }

    /// A failure showing `exchange`.
    pub fn fail_with(message: impl Into<String>, exchange: Exchange) -> Outcome {
        Outcome::Fail { message: message.into(), exchanges: vec![exchange] }
    }

    /// The short label used in tables.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail { .. } => "FAIL",
            Outcome::NotApplicable { .. } => "n/a",
        }
    }
}

/// A check with its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    /// The registry entry.
    #[serde(flatten)]
    pub check: CheckInfo,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// The requests sent and received since the result before this one (not in the JSON report: the
    /// HTML one shows them).
    #[serde(skip)]
    pub traffic: Vec<Traffic>,
}

/// The results of one run, in registry order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// What was tested (e.g. `hub a.example at https://127.0.0.1:8443`).
    pub target: String,
    /// The drafts the suite implements.
    pub drafts: Vec<String>,
    /// One entry per selected check that ran.
    pub results: Vec<CheckResult>,
    /// The log each result takes its [`Traffic`] from ([`Report::recording`]).
    #[serde(skip)]
    pub log: TrafficLog,
}

impl Report {
    /// An empty report about `target`.
    pub fn new(target: impl Into<String>) -> Report {
        Report {
            target: target.into(),
            drafts: mimi_protocol::PINNED_DRAFTS.iter().map(|d| (*d).to_owned()).collect(),
            results: Vec::new(),
            log: TrafficLog::default(),
        }
    }

    /// The report, its results taking their traffic from `log` (the one the suite's [`net::Peer`] and
    /// [`serve`] server fill).
    pub fn recording(self, log: TrafficLog) -> Report {
        Report { log, ..self }
    }

    /// Records the outcome of check `id` (which must be in [`CHECKS`]; unknown ids are ignored), with
    /// the traffic logged since the previous result (added to what an earlier result of `id` had).
    pub fn record(&mut self, id: &str, outcome: Outcome) {
        if let Some(check) = info(id) {
            tracing::info!(check = id, outcome = outcome.label(), "check done");
            let mut traffic = Vec::new();
            if let Some(at) = self.results.iter().position(|r| r.check.id == id) {
                traffic = self.results.remove(at).traffic;
            }
            traffic.extend(self.log.take());
            self.results.push(CheckResult { check: *check, outcome, traffic });
        }
    }

    /// Appends another report's results (e.g. the follower run after the hub run).
    pub fn extend(&mut self, other: Report) {
        if !other.target.is_empty() {
            self.target =
                if self.target.is_empty() { other.target } else { format!("{}; {}", self.target, other.target) };
        }
        self.results.extend(other.results);
    }

    /// The result of `id`, if it ran.
    pub fn get(&self, id: &str) -> Option<&CheckResult> {
        self.results.iter().find(|r| r.check.id == id)
    }

    /// Whether a required check failed.
    pub fn required_failed(&self) -> bool {
        self.results.iter().any(|r| r.check.required && matches!(r.outcome, Outcome::Fail { .. }))
    }

    /// Counts of (pass, fail, not applicable).
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut counts = (0, 0, 0);
        for r in &self.results {
            match r.outcome {
                Outcome::Pass => counts.0 += 1,
                Outcome::Fail { .. } => counts.1 += 1,
                Outcome::NotApplicable { .. } => counts.2 += 1,
            }
        }
        counts
    }
}

/// Which checks run: `--only` (ids or prefixes; empty: all) minus `--skip` (ids or prefixes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Run only checks matching one of these (all when empty).
    pub only: Vec<String>,
    /// Never run checks matching one of these.
    pub skip: Vec<String>,
}

/// Whether `pattern` selects `id`: equal, or a prefix ending at a dot boundary (`hub.update` selects
/// `hub.update.wrong-epoch`, not `hub.updater`); a trailing `.` or `*` is allowed (`hub.update.*`).
fn matches(pattern: &str, id: &str) -> bool {
    let pattern = pattern.trim().trim_end_matches('*').trim_end_matches('.');
    !pattern.is_empty() && (id == pattern || id.strip_prefix(pattern).is_some_and(|rest| rest.starts_with('.')))
}

impl Selection {
    /// Whether check `id` is selected.
    pub fn selects(&self, id: &str) -> bool {
        (self.only.is_empty() || self.only.iter().any(|p| matches(p, id))) && !self.skip.iter().any(|p| matches(p, id))
    }

    /// Whether any of `ids` is selected.
    pub fn any(&self, ids: &[&str]) -> bool {
        ids.iter().any(|id| self.selects(id))
    }

    /// Patterns that select no registered check (typos), to report before running.
    pub fn unknown_patterns(&self) -> Vec<String> {
        self.only.iter().chain(&self.skip).filter(|p| !CHECKS.iter().any(|c| matches(p, c.id))).cloned().collect()
    }
}

/// Why the suite could not run at all (as opposed to a check failing).
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// TLS files could not be loaded or a TLS client could not be built.
    #[error("TLS: {0}")]
    Tls(#[from] mimi_ds::tls::TlsError),
    /// The suite's own server could not start.
    #[error("the suite's server: {0}")]
    Server(#[from] mimi_ds::server::ServerError),
    /// A URL given or derived is not usable.
    #[error("URL {url}: {why}")]
    Url {
        /// The URL.
        url: String,
        /// Why.
        why: String,
    },
    /// Building the suite's MLS objects failed.
    #[error("MLS ({what}): {why}")]
    Mls {
        /// What was being built.
        what: String,
        /// openmls' description.
        why: String,
    },
    /// A wire structure could not be encoded.
    #[error(transparent)]
    Wire(#[from] mimi_protocol::WireError),
    /// The in-process provider of the self-test could not be started or stopped.
    #[error("local provider: {0}")]
    Local(#[from] mimi_client_sim::LocalError),
    /// The bootstrap through a mimi-ds client API failed.
    #[error("bootstrap through the client API: {0}")]
    Bootstrap(#[from] mimi_client_sim::ClientError),
    /// The mimi-ds under test refused to register one of the suite's users for `--bootstrap`.
    #[error(
        "{domain} refused to register {user} (HTTP {status}: {reason}). --bootstrap registers the suite's users \
         through the client API without credentials, so the mimi-ds under test must run with registration = \
         \"open\" (MIMI_DS_REGISTRATION=open); or give the room and users yourself (--room, --hub-user, ... for a \
         hub, --user for a follower)"
    )]
    RegistrationRefused {
        /// The provider under test.
        domain: String,
        /// The user the suite tried to register.
        user: String,
        /// The HTTP status (401 or 403).
        status: u16,
        /// The provider's reason.
        reason: String,
    },
    /// A local file or directory could not be used.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
}

impl SuiteError {
    /// An openmls failure while building `what`.
    pub fn mls(what: &str, why: impl std::fmt::Display) -> SuiteError {
        SuiteError::Mls { what: what.to_owned(), why: why.to_string() }
    }
}

/// Registers a device of `user` at the mimi-ds under test for `--bootstrap` (without credentials:
/// the provider must run open registration); a refusal for want of a credential is
/// [`SuiteError::RegistrationRefused`], which says so. The device is named `<device>-<random>`:
/// a device name that is taken is refused, and the suite may run again against the same hub.
pub async fn bootstrap_client(
    connection: &mimi_client_sim::Connection,
    user: &str,
    device: &str,
) -> Result<mimi_client_sim::Client, SuiteError> {
    use openmls_traits::random::OpenMlsRand as _;
    use openmls_traits::OpenMlsProvider as _;
    let suffix: [u8; 4] = openmls_rust_crypto::OpenMlsRustCrypto::default()
        .rand()
        .random_array()
        .map_err(|e| SuiteError::mls("a device name", e))?;
    let device = format!("{device}-{}", hex::encode(suffix));
    match mimi_client_sim::Client::register(connection, user, &device).await {
        Err(mimi_client_sim::ClientError::Http { status: status @ (401 | 403), reason, .. }) => {
            Err(SuiteError::RegistrationRefused {
                domain: connection.domain().to_owned(),
                user: user.to_owned(),
                status,
                reason,
            })
        }
        result => Ok(result?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_by_id_and_prefix() {
        let all = Selection::default();
        assert!(all.selects("hub.update.wrong-epoch"));
        let only = Selection { only: vec!["hub.update".into()], skip: vec!["hub.update.wrong-epoch".into()] };
        assert!(only.selects("hub.update.accepts-commit"));
        assert!(!only.selects("hub.update.wrong-epoch"));
        assert!(!only.selects("hub.submit.accepts"));
        let star = Selection { only: vec!["follower.*".into()], skip: vec![] };
        assert!(star.selects("follower.notify.dedup") && !star.selects("hub.directory"));
        assert!(!Selection { only: vec!["hub.up".into()], skip: vec![] }.selects("hub.update.wrong-epoch"));
        assert_eq!(Selection { only: vec!["hub.nope".into()], skip: vec![] }.unknown_patterns(), vec!["hub.nope"]);
    }

    #[test]
    fn registry_ids_are_unique_and_prefixed_by_role() {
        for (i, c) in CHECKS.iter().enumerate() {
            assert!(CHECKS[i + 1..].iter().all(|o| o.id != c.id), "{} twice", c.id);
            let prefix = match c.role {
                Role::Hub => "hub.",
                Role::Follower => "follower.",
            };
            assert!(c.id.starts_with(prefix), "{}", c.id);
        }
    }

    #[test]
    fn required_failure_decides_the_exit() {
        let mut report = Report::new("t");
        report.record("hub.notify.retry-after", Outcome::fail("late"));
        assert!(!report.required_failed());
        report.record("hub.directory", Outcome::fail("bad"));
        assert!(report.required_failed());
        assert_eq!(report.counts(), (0, 2, 0));
    }
}
