//! The hub's admission rules, without I/O: who may submit what to a room, which Adds are vouched
//! for by a KeyPackage claim, where a commit's Welcome goes, who may fetch a room's GroupInfo,
//! which key-material claims are served, and how often.
//!
//! Every rule is a plain function of the request, the room (a [`Room`](super::Room), already
//! decided on by the sequencer where that matters), the facts it needs about the world outside
//! the room (looked up through [`HubFacts`], the one thing a rule awaits) and, for rate limits,
//! the time passed in. It returns a decision: the value to go on with, or a refusal enum that
//! carries the reason the answer gives. Nothing here takes a lock, reads a clock or touches the store; the provider gathers the
//! facts, calls the rule, persists and answers (the provider).
//!
//! - [`submit`]: who may submit a handshake ([`Submitter`], [`peer_may_update`]) and the whole
//!   admission of an accepted one ([`admit_handshake`]).
//! - [`adds`]: an Add needs an unused claim through this hub for this room by the committer's
//!   provider, unless the committer's own provider vouches for its own users
//!   ([`add_is_vouched`], [`vouch_adds`]).
//! - [`welcome`]: a commit's Welcome names exactly its Adds ([`check_welcome`]); the local clients
//!   and the providers it goes to.
//! - [`group_info`]: who may fetch a room's GroupInfo, and whether the hub has a current one.
//! - [`key_material`]: key-material claims (request signature, who is served, consent, the
//!   hub's claim record), KeyPackage uploads and the claim limits ([`ClaimLimiter`]).
//! - [`create`]: a new room's name and creator.
//! - [`quota`]: how much one party may make the provider hold ([`Quotas`]), as decisions over
//!   counts.
//! - [`rate`]: per-minute counters ([`MinuteCounts`]) and the `groupInfo` rate limits
//!   ([`GroupInfoLimiter`]).
//! - [`joiner`]: an external commit's joiner of the hub's own domain must be a registered,
//!   unrevoked device of ours ([`admit_joiner`]).
//!
//! A rule's refusal is the caller's doing and becomes a protocol answer or a 4xx. A rule that
//! cannot be evaluated returns [`Fault`]: a failed fact lookup, or an [`Internal`] fault in a
//! computation over data the hub already holds or validated (a hash, a decoding of its own
//! state), which is never reported as the caller's.

use std::future::Future;

pub mod adds;
pub mod create;
pub mod group_info;
pub mod joiner;
pub mod key_material;
pub mod quota;
pub mod rate;
pub mod submit;
pub mod welcome;

#[cfg(test)]
pub(crate) mod memory;

pub use adds::{add_is_vouched, vouch_adds, AddRefusal};
pub use create::{check_creator, check_new_room, CreateRefusal};
pub use group_info::{
    authorize_group_info, check_group_info_request, current_group_info, is_provider_credential, GroupInfoRefusal,
    GroupInfoRequester,
};
pub use joiner::{admit_joiner, is_external_commit, JoinerRefusal};
pub use key_material::{
    check_key_package, key_material_code, plan_key_material, remote_key_package_refs, verdict,
    verify_key_material_request, BadRemoteKeyPackage, ClaimLimiter, ClaimLimits, ClaimRequester, ConsentPolicy,
    KeyMaterialPlan, KeyMaterialRefusal, TooManyClaims, UploadRefusal, ValidKeyPackage,
};
pub use quota::{Quota, QuotaRefusal, Quotas};
pub use rate::{GroupInfoAsker, GroupInfoLimiter, GroupInfoLimits, MinuteCounts, TooManyGroupInfos};
pub use submit::{admit_handshake, admit_submitter, hub_of, peer_may_update, HandshakeRefusal, Submitter};
pub use welcome::{check_welcome, welcome_routing, WelcomeRefusal, WelcomeRouting};

/// For what a KeyPackage was claimed through this hub: set when the claim is served (our users)
/// or relayed (other providers' users) for one of the hub's rooms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimScope {
    /// The provider that served it (the owning client's domain; ours for our own users).
    pub provider: String,
    /// The room URI the claim named (`roomId` of the `KeyMaterialRequest`).
    pub room: String,
    /// The provider that asked for it (ours for a local client's claim).
    pub requester: String,
}

/// A KeyPackageRef claimed through this hub for one of its rooms, as the hub recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPackageClaim {
    /// For what it was claimed.
    pub scope: ClaimScope,
    /// Whether an accepted handshake of `scope.room` already added it (a claim is good for one
    /// Add).
    pub used: bool,
}

/// The consent a target user recorded for a requester (protocol-06 §5.7), for one room or any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentState {
    /// Asked for, not decided.
    Requested,
    /// Granted by the target.
    Granted,
    /// Revoked (or denied) by the target.
    Revoked,
}

/// What the admission rules look up outside the room: the hub's record of the KeyPackages it
/// served or relayed, the KeyPackage directory, consent, and which of our own devices are
/// registered.
///
/// The provider implements it over its store. Lookups happen while the room's decision lock is
/// held (a handshake's Adds and its Welcome are decided under it, so that the claims seen are the
/// claims spent): this trait is the one place where a store read may happen inside a room's
/// decision, so its methods must stay quick point reads. They return futures (a store on a
/// network database awaits its answer); the rules that consult them are `async` for that alone
/// and do no other I/O. Tests implement it over plain maps, answering at once.
pub trait HubFacts {
    /// Why a lookup failed.
    type Error;
    /// What the hub recorded for a KeyPackageRef it served or relayed for one of its rooms.
    fn key_package_claim(
        &self,
        reference: &[u8],
    ) -> impl Future<Output = Result<Option<KeyPackageClaim>, Self::Error>> + Send;
    /// The local client that uploaded a KeyPackageRef (kept after the claim).
    fn key_package_owner(&self, reference: &[u8]) -> impl Future<Output = Result<Option<String>, Self::Error>> + Send;
    /// The consent `target` recorded for `requester` (user URIs), for `room` or, with `None`, for
    /// any room.
    fn consent(
        &self,
        requester: &str,
        target: &str,
        room: Option<&str>,
    ) -> impl Future<Output = Result<Option<ConsentState>, Self::Error>> + Send;
    /// Whether `client`, a client URI of the hub's own domain, is a registered device that is not
    /// revoked (nor removed).
    fn is_registered_client(&self, client: &str) -> impl Future<Output = Result<bool, Self::Error>> + Send;
}

/// A computation over data the hub holds or already validated failed: the hub's fault, never the
/// caller's (answered 500).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {cause}")]
pub struct Internal {
    /// What was being computed.
    pub what: &'static str,
    /// Why it failed.
    pub cause: String,
}

impl Internal {
    /// A fault in computing `what`.
    pub fn new(what: &'static str, cause: impl std::fmt::Display) -> Self {
        Internal { what, cause: cause.to_string() }
    }
}

/// What a rule that looks up facts decides: `Ok(Ok(value))` admitted, `Ok(Err(refusal))`
/// refused (the caller's doing), `Err(fault)` not decided (nobody's refusal).
pub type Ruling<T, R, E> = Result<Result<T, R>, Fault<E>>;

/// Why a rule could not be evaluated (as opposed to a refusal, which is its outcome).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fault<E> {
    /// A fact lookup failed.
    #[error("looking up a fact: {0}")]
    Facts(E),
    /// An internal fault.
    #[error(transparent)]
    Internal(#[from] Internal),
}
