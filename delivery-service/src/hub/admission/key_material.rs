//! Key-material claims (protocol-06 §5.2) and KeyPackage uploads: who is served, with whose
//! consent, what the hub records, and how often.
//!
//! - A request must be signed by a client of its `requestingUser` (and, on the client API, by
//!   the calling client): [`verify_key_material_request`]. Which peer may claim for whom, and
//!   through which room, is decided before that, on the URIs alone
//!   (`crate::federation::relay::route_key_material`).
//! - Only our own users are served here; every claim a peer makes, and every requester of
//!   another domain, needs the target's consent ([`verdict`] over the recorded decisions, else
//!   the configured [`ConsentPolicy`]), whatever room the request names; the requester must
//!   accept our ciphersuite. If we are the hub of the request's room, the claimed
//!   KeyPackageRefs are recorded as claims for that room by the caller's provider, which the
//!   Add check later asks for ([`super::adds`]): [`plan_key_material`].
//! - Claims are limited per minute per requester and per (requester, target), and for a peer
//!   per domain it claims for and in all ([`ClaimLimiter`], [`ClaimLimits`]): one requester
//!   cannot drain a user, and hammering uses up only the hammerer's own allowance, so nobody can
//!   keep a user from being invited by others.
//! - KeyPackages a hub relays from another provider must be valid and of that provider's
//!   clients ([`remote_key_package_refs`]); KeyPackages a client uploads must be valid and its
//!   own ([`check_key_package`]).

use mimi_appsync::uri::{ClientUri, UserUri};
use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::{Ciphersuite, MlsMessageBodyIn, MlsMessageIn, ProtocolVersion};
use openmls_traits::crypto::OpenMlsCrypto;

use super::{hub_of, ClaimScope, ConsentState, HubFacts, Internal, MinuteCounts, Submitter};
use mimi_protocol::key_material::{
    ClientKeyMaterialStatus, KeyMaterialRequest, KeyMaterialResponse, KeyMaterialUserCode,
};
use mimi_protocol::last_resort::is_last_resort;

/// The one ciphersuite this hub serves KeyPackages of.
pub const SUPPORTED: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;

/// The default for key-material claims by users of other providers for which a local target
/// user has decided nothing (protocol-06 §5.7; an explicit grant or revoke always wins).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ConsentPolicy {
    /// Served unless the target revoked consent (`consent = "open"`, the default).
    #[default]
    Open,
    /// Served only with the target's grant (`consent = "required"`).
    Required,
}

/// Whether a claim by another provider's user for one of ours is served: `None` if so, else the
/// user code to answer. `for_room`: the state recorded for the request's room; `general`: for
/// any room. A decision for the room wins over one for any room; without a decision the policy
/// applies.
pub fn verdict(
    policy: ConsentPolicy,
    for_room: Option<ConsentState>,
    general: Option<ConsentState>,
) -> Option<KeyMaterialUserCode> {
    match (for_room, general) {
        (Some(ConsentState::Granted), _) => None,
        (Some(ConsentState::Revoked), _) => Some(KeyMaterialUserCode::NoConsentForThisRoom),
        (_, Some(ConsentState::Granted)) => None,
        (_, Some(ConsentState::Revoked)) => Some(KeyMaterialUserCode::NoConsent),
        _ => match policy {
            ConsentPolicy::Open => None,
            ConsentPolicy::Required => Some(KeyMaterialUserCode::NoConsent),
        },
    }
}

/// Why a key-material request is refused outright (403, nothing claimed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyMaterialRefusal {
    /// The signature does not verify.
    #[error("request signature: {0}")]
    BadSignature(String),
    /// The requester credential names no client.
    #[error("{0}")]
    NoClient(String),
    /// The signing client is not the calling client, or not a client of `requestingUser`.
    #[error("the request is signed by another client or user")]
    OtherSigner,
}

/// Checks a `KeyMaterialRequest`'s signature and that its credential names a client of
/// `requestingUser` (and, if given, the authenticated local client `requester`). Returns the
/// signing client.
pub fn verify_key_material_request(
    crypto: &impl OpenMlsCrypto,
    request: &KeyMaterialRequest,
    requester: Option<&ClientUri>,
) -> Result<ClientUri, KeyMaterialRefusal> {
    let tbs = &request.tbs;
    request
        .verify(crypto, SUPPORTED.signature_algorithm())
        .map_err(|e| KeyMaterialRefusal::BadSignature(e.to_string()))?;
    let signer = mimi_appsync::adapter::client_of(&tbs.requester_credential, &|| "requester".into())
        .map_err(|e| KeyMaterialRefusal::NoClient(e.to_string()))?;
    if requester.is_some_and(|r| r != &signer) || signer.user().as_str() != tbs.requesting_user.as_str() {
        return Err(KeyMaterialRefusal::OtherSigner);
    }
    Ok(signer)
}

/// What to do with a (verified) key-material request at the target's provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyMaterialPlan {
    /// Answer this user code, with no KeyPackages, claiming nothing.
    Answer(KeyMaterialUserCode),
    /// Claim one KeyPackage per client of `target`; with a scope, record the claimed refs as
    /// claims of that scope (we are the room's hub).
    Claim {
        /// The local target user.
        target: UserUri,
        /// The claim record, if we are the hub of the request's room.
        scope: Option<ClaimScope>,
    },
}

/// Plans the answer to a verified request from `caller` at provider `ours` (module docs). The
/// consent lookups are the only facts needed: for every claim a peer makes (a peer never claims
/// for our users, so its requester is always another domain's), and for any requester that is not
/// a user of ours, whatever room the request names.
pub async fn plan_key_material<F: HubFacts>(
    ours: &str,
    policy: ConsentPolicy,
    request: &KeyMaterialRequest,
    caller: &Submitter,
    facts: &F,
) -> Result<KeyMaterialPlan, F::Error> {
    let tbs = &request.tbs;
    let Ok(target) = UserUri::parse(tbs.target_user.as_str()) else {
        return Ok(KeyMaterialPlan::Answer(KeyMaterialUserCode::UserUnknown));
    };
    if target.domain() != ours {
        return Ok(KeyMaterialPlan::Answer(KeyMaterialUserCode::UserUnknown));
    }
    let room = tbs.room_id.as_str();
    let requester = tbs.requesting_user.as_str();
    let ours_requester = UserUri::parse(requester).is_ok_and(|u| u.domain().eq_ignore_ascii_case(ours));
    if matches!(caller, Submitter::Peer(_)) || !ours_requester {
        let for_room = facts.consent(requester, target.as_str(), Some(room)).await?;
        let general = facts.consent(requester, target.as_str(), None).await?;
        if let Some(code) = verdict(policy, for_room, general) {
            tracing::info!(target = %target, requester, room, ?code, "claim without consent refused");
            return Ok(KeyMaterialPlan::Answer(code));
        }
    }
    if !tbs.acceptable_ciphersuites.iter().any(|c| Ciphersuite::try_from(*c).ok() == Some(SUPPORTED)) {
        return Ok(KeyMaterialPlan::Answer(KeyMaterialUserCode::NoCompatibleMaterial));
    }
    let scope = (hub_of(room) == Some(ours)).then(|| ClaimScope {
        provider: ours.to_owned(),
        room: room.to_owned(),
        requester: caller.domain().to_owned(),
    });
    Ok(KeyMaterialPlan::Claim { target, scope })
}

/// The user code for a claim that found `claimed` KeyPackages and `exhausted` clients with none
/// left: `userUnknown` for a user without clients.
pub fn key_material_code(claimed: usize, exhausted: usize) -> KeyMaterialUserCode {
    match (claimed, exhausted) {
        (0, 0) => KeyMaterialUserCode::UserUnknown,
        (_, 0) => KeyMaterialUserCode::Success,
        (0, _) => KeyMaterialUserCode::NoCompatibleMaterial,
        _ => KeyMaterialUserCode::PartialSuccess,
    }
}

/// A KeyPackage another provider returned that the hub cannot vouch for: that provider's fault
/// (the hub answers 502).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("KeyPackage from {domain}: {why}")]
pub struct BadRemoteKeyPackage {
    /// The provider that returned it.
    pub domain: String,
    /// What is wrong.
    pub why: String,
}

/// Validates KeyPackages claimed from provider `domain` for a Welcome routed there later: each
/// must be valid and belong to a client of `domain`. Returns their KeyPackageRefs.
pub fn remote_key_package_refs(
    crypto: &impl OpenMlsCrypto,
    domain: &str,
    response: &KeyMaterialResponse,
) -> Result<Result<Vec<Vec<u8>>, BadRemoteKeyPackage>, Internal> {
    let mut refs = Vec::new();
    for client in &response.clients {
        let ClientKeyMaterialStatus::Success { key_package } = &client.status else { continue };
        let bad = |why: String| BadRemoteKeyPackage { domain: domain.to_owned(), why };
        let kp = match key_package.clone().validate(crypto, ProtocolVersion::Mls10) {
            Ok(kp) => kp,
            Err(e) => return Ok(Err(bad(e.to_string()))),
        };
        let owner = match mimi_appsync::adapter::client_of(kp.leaf_node().credential(), &|| "KeyPackage".into()) {
            Ok(owner) => owner,
            Err(e) => return Ok(Err(bad(e.to_string()))),
        };
        if owner.domain() != domain {
            return Ok(Err(bad(format!("it belongs to {owner}"))));
        }
        refs.push(kp.hash_ref(crypto).map_err(|e| Internal::new("KeyPackageRef", e))?.as_slice().to_vec());
    }
    Ok(Ok(refs))
}

/// Why an uploaded KeyPackage is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadRefusal {
    /// Not a valid KeyPackage MLSMessage (400).
    #[error("KeyPackage {index}: {why}")]
    Invalid {
        /// Its position in the upload.
        index: usize,
        /// What is wrong.
        why: String,
    },
    /// A valid KeyPackage of another client (403).
    #[error("KeyPackage {index} belongs to {owner}, not {client}")]
    NotOwn {
        /// Its position in the upload.
        index: usize,
        /// The client its credential names.
        owner: String,
        /// The uploading client.
        client: String,
    },
}

/// What the directory keeps of a valid uploaded KeyPackage besides its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidKeyPackage {
    /// Its KeyPackageRef.
    pub reference: Vec<u8>,
    /// Whether it is a last-resort KeyPackage (marked by the mls-extensions-10 component or the
    /// older extension).
    pub last_resort: bool,
    /// Its expiry, seconds since the UNIX epoch.
    pub not_after: u64,
}

/// Checks KeyPackage `index` of an upload by `client` (an MLSMessage): valid, unexpired, with a
/// credential naming `client`, and a well-formed last-resort marker if it has one (either form,
/// [`mimi_protocol::last_resort`]).
pub fn check_key_package(
    crypto: &impl OpenMlsCrypto,
    client: &ClientUri,
    index: usize,
    bytes: &[u8],
) -> Result<Result<ValidKeyPackage, UploadRefusal>, Internal> {
    let invalid = |why: String| UploadRefusal::Invalid { index, why };
    let message = match MlsMessageIn::tls_deserialize_exact(bytes) {
        Ok(m) => m,
        Err(e) => return Ok(Err(invalid(e.to_string()))),
    };
    let MlsMessageBodyIn::KeyPackage(kp) = message.extract() else {
        return Ok(Err(invalid("not a KeyPackage".into())));
    };
    let kp = match kp.validate(crypto, ProtocolVersion::Mls10) {
        Ok(kp) => kp,
        Err(e) => return Ok(Err(invalid(e.to_string()))),
    };
    let owner = match mimi_appsync::adapter::client_of(kp.leaf_node().credential(), &|| "KeyPackage".into()) {
        Ok(owner) => owner,
        Err(e) => return Ok(Err(invalid(e.to_string()))),
    };
    if &owner != client {
        return Ok(Err(UploadRefusal::NotOwn { index, owner: owner.to_string(), client: client.to_string() }));
    }
    let last_resort = match is_last_resort(&kp) {
        Ok(last_resort) => last_resort,
        Err(e) => return Ok(Err(invalid(e.to_string()))),
    };
    let reference = kp.hash_ref(crypto).map_err(|e| Internal::new("KeyPackageRef", e))?;
    Ok(Ok(ValidKeyPackage {
        reference: reference.as_slice().to_vec(),
        last_resort,
        not_after: kp.life_time().not_after(),
    }))
}

/// Who a claim is counted against ([`ClaimLimiter`]): the user it is made for, as vouched for by
/// the party that authenticated the request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClaimRequester {
    /// One of our users: the user of the client whose bearer token authenticated the request.
    Local(String),
    /// A user a peer provider claims for: the request's `requestingUser` as the peer names it
    /// (its own user, or, as the hub of the request's room, a user of a third domain).
    Peer {
        /// The peer's domain (the mTLS identity).
        peer: String,
        /// The domain of `user`.
        domain: String,
        /// The user URI.
        user: String,
    },
}

impl ClaimRequester {
    /// The requester of a claim by `caller` for `requesting_user` (already checked to be the
    /// calling client's user, or one a peer may claim for).
    pub fn of(caller: &Submitter, requesting_user: &UserUri) -> Self {
        match caller {
            Submitter::Client(c) => ClaimRequester::Local(c.user().as_str().to_owned()),
            Submitter::Peer(peer) => ClaimRequester::Peer {
                peer: peer.clone(),
                domain: requesting_user.domain().to_owned(),
                user: requesting_user.as_str().to_owned(),
            },
        }
    }
}

impl std::fmt::Display for ClaimRequester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClaimRequester::Local(user) => write!(f, "{user}"),
            ClaimRequester::Peer { peer, user, .. } => write!(f, "{user} (through {peer})"),
        }
    }
}

/// How many claims are served per minute, in each dimension ([`ClaimLimiter`]). Each bound is
/// at least 1.
///
/// A requester is a user (ours, or one a peer names): `per_pair` bounds how fast one requester
/// drains one user, `per_requester` how much one requester claims in all. A peer names its users
/// freely (and, as a room's hub, users of other domains), so cycling `requestingUser` names
/// gives it fresh requester allowances; `per_peer_domain` and `per_peer` bound what it gets that
/// way. A hub relays for many users: what it relays for each follower domain is counted apart
/// (`per_peer_domain`), so a follower that uses up its own share leaves the hub's other users
/// theirs, and `per_peer` is ten times `per_peer_domain` by default, so that no single domain a
/// hub relays for can use up the hub's whole allowance (a follower relays only its own users'
/// claims, and the hub limits each follower the same way before forwarding). Nothing is limited
/// per target alone: any such bound could be used up by others to keep a user from being
/// invited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimLimits {
    /// Claims by one requester for one target user (default 10).
    pub per_pair: u32,
    /// Claims by one requester for any users (default 100).
    pub per_requester: u32,
    /// Claims a peer makes for the users of one domain (default 1000).
    pub per_peer_domain: u32,
    /// Claims a peer makes in all (default 10 000).
    pub per_peer: u32,
}

impl Default for ClaimLimits {
    fn default() -> Self {
        ClaimLimits { per_pair: 10, per_requester: 100, per_peer_domain: 1000, per_peer: 10_000 }
    }
}

impl ClaimLimits {
    /// The same bound in every dimension (simulations, whose users act within milliseconds).
    pub const fn uniform(n: u32) -> Self {
        ClaimLimits { per_pair: n, per_requester: n, per_peer_domain: n, per_peer: n }
    }
}

/// One counter of the limiter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum LimitKey {
    /// A requester's claims for one target.
    Pair(ClaimRequester, String),
    /// A requester's claims.
    Requester(ClaimRequester),
    /// A peer's claims for the users of one domain.
    PeerDomain(String, String),
    /// A peer's claims.
    Peer(String),
}

/// Claims counted in the current minute in every dimension of [`ClaimLimits`], with the time
/// passed in ([`MinuteCounts`]): at most four counters per claim served in one minute.
#[derive(Debug, Clone)]
pub struct ClaimLimiter {
    /// The bounds.
    limits: ClaimLimits,
    /// Claims admitted this minute, per counter.
    counts: MinuteCounts<LimitKey>,
}

/// A claim over a limit (429, retry in a minute).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("too many claims {what} (at most {limit} a minute)")]
pub struct TooManyClaims {
    /// The dimension and who: e.g. `by mimi://b.example/u/bob (through b.example) for mimi://a.example/u/alice`.
    pub what: String,
    /// The limit.
    pub limit: u32,
}

impl ClaimLimiter {
    /// A limiter with `limits`.
    pub fn new(limits: ClaimLimits) -> Self {
        ClaimLimiter { limits, counts: MinuteCounts::default() }
    }

    /// Counts a claim by `requester` for `target` at `now_ms` (milliseconds since the UNIX
    /// epoch), or refuses it, counting nothing, if any of its counters is at its bound for this
    /// minute. Counters of past minutes are dropped.
    pub fn admit(&mut self, requester: &ClaimRequester, target: &str, now_ms: u64) -> Result<(), TooManyClaims> {
        let limits = self.limits;
        let mut keys = vec![
            (
                LimitKey::Pair(requester.clone(), target.to_owned()),
                limits.per_pair,
                format!("by {requester} for {target}"),
            ),
            (LimitKey::Requester(requester.clone()), limits.per_requester, format!("by {requester}")),
        ];
        if let ClaimRequester::Peer { peer, domain, .. } = requester {
            keys.push((
                LimitKey::PeerDomain(peer.clone(), domain.clone()),
                limits.per_peer_domain,
                format!("by {peer} for users of {domain}"),
            ));
            keys.push((LimitKey::Peer(peer.clone()), limits.per_peer, format!("by {peer}")));
        }
        let bounded = keys.iter().map(|(key, limit, _)| (key.clone(), *limit)).collect();
        self.counts.admit(bounded, now_ms).map_err(|i| TooManyClaims { what: keys[i].2.clone(), limit: keys[i].1 })
    }
}

#[cfg(test)]
mod tests {
    use openmls::prelude::{KeyPackage, KeyPackageIn, MlsMessageOut, RequiredCapabilitiesExtension};

    use super::*;
    use crate::hub::admission::memory::{to_in, MemoryFacts, TestClient, CS};
    use mimi_protocol::key_material::{ClientKeyMaterial, KeyMaterialRequestTBS};
    use mimi_protocol::{IdentifierUri, Protocol};

    const ROOM_A: &str = "mimi://a.example/r/club";

    fn request(c: &TestClient, target: &str, room: &str) -> KeyMaterialRequest {
        let tbs = KeyMaterialRequestTBS {
            protocol: Protocol::Mls10,
            requesting_user: IdentifierUri::new(c.uri.user().as_str()),
            target_user: IdentifierUri::new(target),
            room_id: IdentifierUri::new(room),
            acceptable_ciphersuites: vec![CS.into()],
            required_capabilities: RequiredCapabilitiesExtension::new(&[], &[], &[]),
            requester_signature_key: c.signer.to_public_vec().into(),
            requester_credential: c.credential.credential.clone(),
        };
        KeyMaterialRequest::sign(tbs, &c.signer).unwrap()
    }

    #[test]
    fn claims_need_consent_as_configured() {
        use ConsentPolicy::*;
        use ConsentState::*;
        use KeyMaterialUserCode::*;
        assert_eq!(verdict(Open, None, None), None);
        assert_eq!(verdict(Required, None, None), Some(NoConsent));
        assert_eq!(verdict(Required, Some(Requested), None), Some(NoConsent));
        assert_eq!(verdict(Required, None, Some(Granted)), None);
        assert_eq!(verdict(Required, Some(Granted), None), None);
        assert_eq!(verdict(Open, None, Some(Revoked)), Some(NoConsent));
        assert_eq!(verdict(Open, Some(Revoked), Some(Granted)), Some(NoConsentForThisRoom));
        assert_eq!(verdict(Required, Some(Granted), Some(Revoked)), None, "the room's decision wins");
    }

    #[test]
    fn requests_are_signed_by_a_client_of_the_requesting_user() {
        let crypto = openmls_rust_crypto::RustCrypto::default();
        let bob = TestClient::of("b.example", "bob", "phone").unwrap();
        let r = request(&bob, "mimi://a.example/u/alice", ROOM_A);
        assert_eq!(verify_key_material_request(&crypto, &r, None), Ok(bob.uri.clone()));
        assert_eq!(verify_key_material_request(&crypto, &r, Some(&bob.uri)), Ok(bob.uri.clone()));
        // Another local client calls with bob's request.
        let bob_pc = ClientUri::parse("mimi://b.example/d/bob/pc").unwrap();
        assert_eq!(verify_key_material_request(&crypto, &r, Some(&bob_pc)), Err(KeyMaterialRefusal::OtherSigner));
        // Signed for another requesting user.
        let mut other = request(&bob, "mimi://a.example/u/alice", ROOM_A);
        other.tbs.requesting_user = IdentifierUri::new("mimi://b.example/u/eve");
        assert!(matches!(verify_key_material_request(&crypto, &other, None), Err(KeyMaterialRefusal::BadSignature(_))));
        let eve = TestClient::of("b.example", "eve", "phone").unwrap();
        let mut signed_by_eve = request(&eve, "mimi://a.example/u/alice", ROOM_A);
        signed_by_eve.tbs.requesting_user = IdentifierUri::new("mimi://b.example/u/bob");
        let signed_by_eve = KeyMaterialRequest::sign(signed_by_eve.tbs, &eve.signer).unwrap();
        assert_eq!(verify_key_material_request(&crypto, &signed_by_eve, None), Err(KeyMaterialRefusal::OtherSigner));
        // A credential naming a user, not a client.
        let mut user = TestClient::of("b.example", "bob", "phone").unwrap();
        user.credential.credential = openmls::prelude::BasicCredential::new(b"mimi://b.example/u/bob".to_vec()).into();
        let r = request(&user, "mimi://a.example/u/alice", ROOM_A);
        assert!(matches!(verify_key_material_request(&crypto, &r, None), Err(KeyMaterialRefusal::NoClient(_))));
    }

    #[tokio::test]
    async fn claims_are_planned_by_target_consent_ciphersuite_and_room() {
        use KeyMaterialPlan::*;
        use KeyMaterialUserCode::*;
        let bob = TestClient::of("b.example", "bob", "phone").unwrap();
        let alice_pc = TestClient::of("a.example", "alice", "pc").unwrap();
        let peer = Submitter::Peer("b.example".into());
        let mut facts = MemoryFacts::default();
        let alice = UserUri::parse("mimi://a.example/u/alice").unwrap();
        let plan = async |facts: &MemoryFacts, policy, r: &KeyMaterialRequest, caller: &Submitter| {
            plan_key_material("a.example", policy, r, caller, facts).await.unwrap()
        };
        let r = request(&bob, alice.as_str(), ROOM_A);
        // We are the room's hub: the claim is recorded for the room, requested by b.
        let scope = ClaimScope { provider: "a.example".into(), room: ROOM_A.into(), requester: "b.example".into() };
        assert_eq!(
            plan(&facts, ConsentPolicy::Open, &r, &peer).await,
            Claim { target: alice.clone(), scope: Some(scope) }
        );
        // Another hub's room (we serve our user, relayed by that hub): nothing to record.
        let r_c = request(&bob, alice.as_str(), "mimi://c.example/r/x");
        let hub_c = Submitter::Peer("c.example".into());
        assert_eq!(plan(&facts, ConsentPolicy::Open, &r_c, &hub_c).await, Claim { target: alice.clone(), scope: None });
        // Not our user, or no user at all.
        let r_x = request(&bob, "mimi://c.example/u/cathy", ROOM_A);
        assert_eq!(plan(&facts, ConsentPolicy::Open, &r_x, &peer).await, Answer(UserUnknown));
        let r_x = request(&bob, "nobody", ROOM_A);
        assert_eq!(plan(&facts, ConsentPolicy::Open, &r_x, &peer).await, Answer(UserUnknown));
        // Consent: required by policy, revoked for the room, granted.
        assert_eq!(plan(&facts, ConsentPolicy::Required, &r, &peer).await, Answer(NoConsent));
        let key = |room: Option<&str>| {
            ("mimi://b.example/u/bob".to_owned(), alice.as_str().to_owned(), room.map(str::to_owned))
        };
        facts.consent.insert(key(None), ConsentState::Granted);
        assert!(matches!(plan(&facts, ConsentPolicy::Required, &r, &peer).await, Claim { .. }));
        facts.consent.insert(key(Some(ROOM_A)), ConsentState::Revoked);
        assert_eq!(plan(&facts, ConsentPolicy::Open, &r, &peer).await, Answer(NoConsentForThisRoom));
        // A peer naming one of our users as requester is consent-checked like anyone else's
        // (the route refuses it before; this is the rule's own guard).
        let r_ours = request(&alice_pc, "mimi://a.example/u/carol", "mimi://c.example/r/x");
        assert_eq!(plan(&facts, ConsentPolicy::Required, &r_ours, &hub_c).await, Answer(NoConsent));
        // A local requester needs no consent and looks nothing up.
        let before = facts.lookups();
        let local = Submitter::Client(alice_pc.uri.clone());
        let r_local = request(&alice_pc, alice.as_str(), ROOM_A);
        let Claim { scope: Some(scope), .. } = plan(&facts, ConsentPolicy::Required, &r_local, &local).await else {
            panic!("a local claim")
        };
        assert_eq!(scope.requester, "a.example");
        assert_eq!(facts.lookups(), before);
        // No ciphersuite in common.
        let mut r_cs = request(&alice_pc, alice.as_str(), ROOM_A);
        r_cs.tbs.acceptable_ciphersuites = vec![Ciphersuite::MLS_256_DHKEMP384_AES256GCM_SHA384_P384.into()];
        assert_eq!(plan(&facts, ConsentPolicy::Open, &r_cs, &local).await, Answer(NoCompatibleMaterial));
        // A failing consent lookup is a fault.
        facts.fail = true;
        assert!(plan_key_material("a.example", ConsentPolicy::Open, &r, &peer, &facts).await.is_err());
    }

    #[test]
    fn the_user_code_follows_what_was_claimed() {
        use KeyMaterialUserCode::*;
        assert_eq!(key_material_code(0, 0), UserUnknown);
        assert_eq!(key_material_code(2, 0), Success);
        assert_eq!(key_material_code(1, 1), PartialSuccess);
        assert_eq!(key_material_code(0, 2), NoCompatibleMaterial);
    }

    fn key_package_in(c: &TestClient) -> KeyPackageIn {
        let MlsMessageBodyIn::KeyPackage(kp) = to_in(&MlsMessageOut::from(c.issue_key_package().unwrap())).extract()
        else {
            panic!("a KeyPackage")
        };
        kp
    }

    fn response(clients: Vec<ClientKeyMaterialStatus>) -> KeyMaterialResponse {
        KeyMaterialResponse {
            protocol: Protocol::Mls10,
            user_status: KeyMaterialUserCode::Success,
            user_uri: IdentifierUri::new("mimi://c.example/u/cathy"),
            clients: clients
                .into_iter()
                .map(|status| ClientKeyMaterial { client_uri: IdentifierUri::new("x"), status })
                .collect(),
        }
    }

    #[test]
    fn relayed_key_packages_must_be_valid_and_of_the_serving_provider() {
        let crypto = openmls_rust_crypto::RustCrypto::default();
        let cathy = TestClient::of("c.example", "cathy", "phone").unwrap();
        let kp = key_package_in(&cathy);
        let expected = kp
            .clone()
            .validate(&crypto, ProtocolVersion::Mls10)
            .unwrap()
            .hash_ref(&crypto)
            .unwrap()
            .as_slice()
            .to_vec();
        let ok = response(vec![
            ClientKeyMaterialStatus::Success { key_package: kp.clone() },
            ClientKeyMaterialStatus::KeyMaterialExhausted,
        ]);
        assert_eq!(remote_key_package_refs(&crypto, "c.example", &ok).unwrap(), Ok(vec![expected]));
        // c returning a KeyPackage of d's client.
        let refused = remote_key_package_refs(&crypto, "d.example", &ok).unwrap().unwrap_err();
        assert_eq!(refused.domain, "d.example");
        assert!(refused.why.contains("belongs to"), "{refused}");
        // A KeyPackage whose signature does not verify (its last byte is the signature's).
        let mut bytes = {
            use openmls::prelude::tls_codec::Serialize as _;
            MlsMessageOut::from(cathy.issue_key_package().unwrap()).tls_serialize_detached().unwrap()
        };
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let MlsMessageBodyIn::KeyPackage(broken) = MlsMessageIn::tls_deserialize_exact(&bytes).unwrap().extract()
        else {
            panic!("a KeyPackage")
        };
        let bad = response(vec![ClientKeyMaterialStatus::Success { key_package: broken }]);
        assert!(remote_key_package_refs(&crypto, "c.example", &bad).unwrap().is_err());
    }

    #[test]
    fn uploads_are_valid_key_packages_of_the_uploader() {
        use openmls::prelude::tls_codec::Serialize as _;
        let crypto = openmls_rust_crypto::RustCrypto::default();
        let bob = TestClient::of("a.example", "bob", "phone").unwrap();
        let bytes = MlsMessageOut::from(bob.issue_key_package().unwrap()).tls_serialize_detached().unwrap();
        let valid = check_key_package(&crypto, &bob.uri, 0, &bytes).unwrap().unwrap();
        assert!(!valid.last_resort && valid.not_after > 0 && !valid.reference.is_empty());
        let alice = ClientUri::parse("mimi://a.example/d/alice/phone").unwrap();
        let refusal = check_key_package(&crypto, &alice, 3, &bytes).unwrap().unwrap_err();
        assert!(matches!(&refusal, UploadRefusal::NotOwn { index: 3, .. }), "{refusal}");
        assert!(refusal.to_string().contains(bob.uri.as_str()));
        assert!(matches!(
            check_key_package(&crypto, &bob.uri, 1, &bytes[..10]).unwrap(),
            Err(UploadRefusal::Invalid { index: 1, .. })
        ));
        // An MLSMessage that is not a KeyPackage.
        let gi = crate::hub::admission::memory::TestRoom::new().group_info().tls_serialize_detached().unwrap();
        let refusal = check_key_package(&crypto, &bob.uri, 2, &gi).unwrap().unwrap_err();
        assert_eq!(refusal, UploadRefusal::Invalid { index: 2, why: "not a KeyPackage".into() });
    }

    #[test]
    fn uploads_are_last_resort_in_either_form_and_a_marker_with_data_is_refused() {
        use openmls::prelude::tls_codec::Serialize as _;
        let crypto = openmls_rust_crypto::RustCrypto::default();
        let bob = TestClient::of("a.example", "bob", "phone").unwrap();
        let upload = |kp: KeyPackage| MlsMessageOut::from(kp).tls_serialize_detached().unwrap();
        let check = |bytes: &[u8]| check_key_package(&crypto, &bob.uri, 0, bytes).unwrap();
        let extension_form = upload(bob.issue_last_resort_key_package().unwrap());
        assert!(check(&extension_form).unwrap().last_resort);
        let component_form =
            upload(bob.issue_key_package_with_components(&[(0x0004, b""), (0x0a0a, b"\x01")]).unwrap());
        assert!(check(&component_form).unwrap().last_resort);
        let others_only = upload(bob.issue_key_package_with_components(&[(0x0a0a, b"\x01"), (0x8001, b"")]).unwrap());
        assert!(!check(&others_only).unwrap().last_resort);
        let with_data = upload(bob.issue_key_package_with_components(&[(0x0004, b"\x00")]).unwrap());
        let refusal = check(&with_data).unwrap_err();
        assert!(matches!(&refusal, UploadRefusal::Invalid { index: 0, why } if why.contains("0x0004")), "{refusal}");
    }

    fn local(user: &str) -> ClaimRequester {
        ClaimRequester::Local(user.to_owned())
    }

    fn relayed(peer: &str, user: &str) -> ClaimRequester {
        ClaimRequester::of(&Submitter::Peer(peer.into()), &UserUri::parse(user).unwrap())
    }

    const MINUTE: u64 = 28_000_000 * 60_000;
    const ALICE: &str = "mimi://a.example/u/alice";
    const CAROL: &str = "mimi://a.example/u/carol";

    #[test]
    fn a_requester_over_its_pair_limit_leaves_the_target_to_others() {
        let mut limiter = ClaimLimiter::new(ClaimLimits { per_pair: 2, per_requester: 3, ..ClaimLimits::default() });
        let mallory = local("mimi://a.example/u/mallory");
        assert_eq!(limiter.admit(&mallory, ALICE, MINUTE), Ok(()));
        assert_eq!(limiter.admit(&mallory, ALICE, MINUTE + 1), Ok(()));
        let refused = limiter.admit(&mallory, ALICE, MINUTE + 59_999).unwrap_err();
        assert_eq!(refused.limit, 2);
        assert!(refused.what.contains("mallory") && refused.what.contains(ALICE), "{refused}");
        // Other requesters still get Alice, locally and through a peer.
        assert_eq!(limiter.admit(&local("mimi://a.example/u/bob"), ALICE, MINUTE + 2), Ok(()));
        assert_eq!(limiter.admit(&relayed("b.example", "mimi://b.example/u/bob"), ALICE, MINUTE + 3), Ok(()));
        // Mallory's own allowance for any user: one more, then none.
        assert_eq!(limiter.admit(&mallory, CAROL, MINUTE + 4), Ok(()));
        let refused = limiter.admit(&mallory, "mimi://a.example/u/dave", MINUTE + 5).unwrap_err();
        assert_eq!((refused.limit, refused.what.as_str()), (3, "by mimi://a.example/u/mallory"));
        // A refusal counted nothing: the next minute starts afresh, past counters are forgotten.
        assert_eq!(limiter.admit(&mallory, ALICE, MINUTE + 60_000), Ok(()));
        assert_eq!(limiter.counts.len(), 2, "only this minute's counters are kept");
        assert!(ClaimLimiter::new(ClaimLimits::uniform(0)).admit(&mallory, ALICE, 0).is_err());
    }

    #[test]
    fn a_peer_cycling_requester_names_is_bounded_per_domain_and_in_all() {
        let limits = ClaimLimits { per_pair: 1, per_requester: 1, per_peer_domain: 3, per_peer: 5 };
        let mut limiter = ClaimLimiter::new(limits);
        // b names a new user of its own for every claim: fresh pairs and requesters, one domain.
        for i in 0..3 {
            assert_eq!(
                limiter.admit(&relayed("b.example", &format!("mimi://b.example/u/u{i}")), ALICE, MINUTE),
                Ok(())
            );
        }
        let refused = limiter.admit(&relayed("b.example", "mimi://b.example/u/u3"), ALICE, MINUTE).unwrap_err();
        assert_eq!((refused.limit, refused.what.as_str()), (3, "by b.example for users of b.example"));
        // As a hub, b relays for c's users: counted apart from its own users ...
        assert_eq!(limiter.admit(&relayed("b.example", "mimi://c.example/u/cathy"), ALICE, MINUTE), Ok(()));
        assert_eq!(limiter.admit(&relayed("b.example", "mimi://d.example/u/dan"), ALICE, MINUTE), Ok(()));
        // ... but within b's bound in all.
        let refused = limiter.admit(&relayed("b.example", "mimi://e.example/u/eve"), ALICE, MINUTE).unwrap_err();
        assert_eq!((refused.limit, refused.what.as_str()), (5, "by b.example"));
        // Another peer, and our own users, are not affected.
        assert_eq!(limiter.admit(&relayed("c.example", "mimi://c.example/u/cathy"), ALICE, MINUTE), Ok(()));
        assert_eq!(limiter.admit(&local(CAROL), ALICE, MINUTE), Ok(()));
    }

    #[test]
    fn the_default_limits_let_no_single_relayed_domain_use_up_a_peer() {
        let limits = ClaimLimits::default();
        assert!(limits.per_pair < limits.per_requester);
        assert!(limits.per_requester < limits.per_peer_domain);
        assert!(limits.per_peer >= 10 * limits.per_peer_domain);
    }
}
