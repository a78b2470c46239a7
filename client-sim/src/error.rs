//! The simulator's error types: why a scenario, the demo or a random run failed. A client's own
//! failures are [`ClientError`]s (from `mimi-client`), carried inside with the step they broke.

use mimi_client::ClientError;

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
