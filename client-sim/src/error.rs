//! The crate's error type: what failed, with the context needed to tell a refusal by the
//! provider from a broken connection or a local MLS failure.

use mimi_protocol::WireError;

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No answer from the provider (connection refused or cut, timeout): the request may or may
    /// not have been processed.
    #[error("{what}: no answer from the provider: {source}")]
    Transport {
        /// The call.
        what: String,
        /// The transport failure.
        source: reqwest::Error,
    },
    /// The provider answered with an HTTP error; nothing was acknowledged.
    #[error("{what}: HTTP {status}: {reason}")]
    Http {
        /// The call.
        what: String,
        /// The HTTP status code.
        status: u16,
        /// The provider's one-line reason.
        reason: String,
    },
    /// The provider answered with a protocol refusal (`notAllowed`, `invalidProposal`, a
    /// key-material code, …) that retrying cannot fix.
    #[error("{what} refused: {outcome}")]
    Refused {
        /// The operation.
        what: String,
        /// The outcome and the provider's description.
        outcome: String,
    },
    /// A body could not be encoded or decoded.
    #[error("{what}: {source}")]
    Wire {
        /// The call.
        what: String,
        /// The codec error.
        source: WireError,
    },
    /// An answer was well-formed but not what the protocol allows here.
    #[error("{what}: {why}")]
    Protocol {
        /// The call or structure.
        what: String,
        /// What was wrong.
        why: String,
    },
    /// openmls refused a local operation (building, processing or merging).
    #[error("MLS {what}: {why}")]
    Mls {
        /// The operation.
        what: String,
        /// openmls' error.
        why: String,
    },
    /// Room state (participant list, policy components) could not be built or read.
    #[error(transparent)]
    AppSync(#[from] mimi_appsync::error::Error),
    /// A MIMI content message could not be built or encoded.
    #[error(transparent)]
    Content(#[from] mimi_content::ContentError),
    /// The TLS trust anchors or the HTTPS client could not be set up.
    #[error(transparent)]
    Tls(#[from] mimi_ds::tls::TlsError),
    /// The client is not (or no longer) a member of the room.
    #[error("not a member of {0}")]
    NotInRoom(String),
    /// The room log contradicted the client's state (a gap without an own submission, an entry
    /// of an unexpected epoch, an acknowledged submission missing from the log).
    #[error("inbox of {room}: {why}")]
    Inbox {
        /// The room.
        room: String,
        /// What was inconsistent.
        why: String,
    },
    /// Something the room log or the Welcome queue should have brought did not arrive in time
    /// (e.g. a follower waiting for the hub's fanout).
    #[error("{client}: timed out after {after:?} waiting for {what}")]
    Timeout {
        /// The waiting client.
        client: String,
        /// What it waited for.
        what: String,
        /// How long it waited.
        after: std::time::Duration,
    },
    /// A commit was refused because of racing commits more often than the retry budget allows.
    #[error("{what}: gave up after {attempts} attempts lost to racing commits")]
    TooManyRetries {
        /// The operation.
        what: String,
        /// Attempts made.
        attempts: usize,
    },
}

impl ClientError {
    /// Whether the request may have been processed without the client learning the outcome.
    pub fn is_in_doubt(&self) -> bool {
        matches!(self, ClientError::Transport { .. })
    }

    /// A codec failure while encoding `what` (for `map_err`).
    pub(crate) fn wire(what: &str) -> impl Fn(WireError) -> Self + '_ {
        move |source| ClientError::Wire { what: what.to_owned(), source }
    }

    /// An openmls failure during `what`.
    pub(crate) fn mls(what: &str, e: impl std::fmt::Debug) -> Self {
        ClientError::Mls { what: what.to_owned(), why: format!("{e:?}") }
    }
}

/// Why a scenario failed: the scenario, its seed and the step (1-based) are always named.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The scenario file is not valid TOML of the scenario format.
    #[error("scenario {origin}: {source}")]
    Parse {
        /// The file or built-in name.
        origin: String,
        /// The parser's error (with line and column).
        source: toml::de::Error,
    },
    /// A step names something that does not exist (user, device, room, role, label, preset).
    #[error("scenario {scenario}{}: {why}", step.map(|s| format!(", step {s}")).unwrap_or_default())]
    Invalid {
        /// The scenario.
        scenario: String,
        /// The step, if the problem is in one.
        step: Option<usize>,
        /// What is wrong.
        why: String,
    },
    /// Registering the scenario's users failed.
    #[error("scenario {scenario}: registering users: {source}")]
    Setup {
        /// The scenario.
        scenario: String,
        /// The failure.
        source: Box<ClientError>,
    },
    /// A step's outcome was not the expected one.
    #[error("scenario {scenario} (seed {seed}), step {step} ({op}): expected {expected}, got {got}")]
    Unexpected {
        /// The scenario.
        scenario: String,
        /// Its seed.
        seed: u64,
        /// The step.
        step: usize,
        /// The operation.
        op: String,
        /// The expectation.
        expected: String,
        /// The outcome.
        got: String,
    },
    /// A client could not catch up after a step.
    #[error("scenario {scenario} (seed {seed}), after step {step}: {client} could not catch up: {source}")]
    Sync {
        /// The scenario.
        scenario: String,
        /// Its seed.
        seed: u64,
        /// The step.
        step: usize,
        /// The client.
        client: String,
        /// The failure.
        source: Box<ClientError>,
    },
    /// An invariant failed after a step.
    #[error("scenario {scenario} (seed {seed}), after step {step} ({op}): check failed: {failure}")]
    Check {
        /// The scenario.
        scenario: String,
        /// Its seed.
        seed: u64,
        /// The step (0: before any step).
        step: usize,
        /// The operation of the step.
        op: String,
        /// The diff.
        failure: Box<crate::checker::CheckFailure>,
    },
}

/// Why the federation demo ([`crate::demo`]) failed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The providers could not be started or stopped.
    #[error("providers: {0}")]
    Providers(#[from] crate::local::LocalError),
    /// A step of the story failed.
    #[error("step {step}: {source}")]
    Step {
        /// The step.
        step: String,
        /// The failure.
        source: Box<ClientError>,
    },
    /// A step succeeded but its result was not what the story expects.
    #[error("step {step}: {why}")]
    Unexpected {
        /// The step.
        step: String,
        /// What was wrong.
        why: String,
    },
    /// The clients do not agree at the end (or after a step).
    #[error("clients disagree: {0}")]
    Disagree(Box<crate::checker::CheckFailure>),
}

/// Why a random run ([`crate::random`]) failed: the seed and the step are always named, so the
/// run can be repeated.
#[derive(Debug, thiserror::Error)]
pub enum RandomError {
    /// Registering users or uploading KeyPackages failed.
    #[error("random (seed {seed}): setup: {source}")]
    Setup {
        /// The seed.
        seed: u64,
        /// The failure.
        source: Box<ClientError>,
    },
    /// An operation's outcome was not the one the model predicts.
    #[error("random (seed {seed}), step {step} ({op}): expected {expected}, got {got}")]
    Unexpected {
        /// The seed.
        seed: u64,
        /// The step.
        step: usize,
        /// The operation, readable.
        op: String,
        /// The predicted outcome.
        expected: String,
        /// The outcome.
        got: String,
    },
    /// A client could not catch up after a round.
    #[error("random (seed {seed}), after step {step}: {client} could not catch up: {source}")]
    Sync {
        /// The seed.
        seed: u64,
        /// The last step.
        step: usize,
        /// The client.
        client: String,
        /// The failure.
        source: Box<ClientError>,
    },
    /// An invariant failed after a round.
    #[error("random (seed {seed}), after step {step} (round: {ops}): check failed: {failure}")]
    Check {
        /// The seed.
        seed: u64,
        /// The last step of the round.
        step: usize,
        /// The round's operations.
        ops: String,
        /// The diff.
        failure: Box<crate::checker::CheckFailure>,
    },
    /// An action's task panicked.
    #[error("random (seed {seed}), step {step}: action task: {source}")]
    Task {
        /// The seed.
        seed: u64,
        /// The step.
        step: usize,
        /// The join failure.
        source: tokio::task::JoinError,
    },
    /// The driver's own bookkeeping broke (a bug in the simulator).
    #[error("random (seed {seed}), step {step}: internal: {why}")]
    Internal {
        /// The seed.
        seed: u64,
        /// The step.
        step: usize,
        /// What broke.
        why: String,
    },
}
