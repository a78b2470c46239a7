//! Key-material claims (protocol-06 §5.2) and KeyPackage uploads: who is served, with whose
//! consent, what the hub records, and how often.
//!
//! - A request must be signed by a client of its `requestingUser` (and, on the client API, by
//!   the calling client): [`verify_key_material_request`].
//! - Only our own users are served here; a requester of another provider needs the target's
//!   consent ([`verdict`] over the recorded decisions, else the configured [`ConsentPolicy`]);
//!   the requester must accept our ciphersuite. If we are the hub of the request's room, the
//!   claimed KeyPackageRefs are recorded as claims for that room by the caller's provider, which
//!   the Add check later asks for ([`super::adds`]): [`plan_key_material`].
//! - Claims per target user are limited per minute ([`ClaimLimiter`]), so that nobody drains a
//!   user's KeyPackages.
//! - KeyPackages a hub relays from another provider must be valid and of that provider's
//!   clients ([`remote_key_package_refs`]); KeyPackages a client uploads must be valid and its
//!   own ([`check_key_package`]).

use std::collections::HashMap;

use mimi_appsync::uri::{ClientUri, UserUri};
use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::{Ciphersuite, MlsMessageBodyIn, MlsMessageIn, ProtocolVersion};
use openmls_traits::crypto::OpenMlsCrypto;

use super::{hub_of, ClaimScope, ConsentState, HubFacts, Internal, Submitter};
use mimi_protocol::key_material::{
    ClientKeyMaterialStatus, KeyMaterialRequest, KeyMaterialResponse, KeyMaterialUserCode,
};

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
/// consent lookups are the only facts needed, and only for a requester of another provider.
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
    if UserUri::parse(requester).is_ok_and(|u| u.domain() != ours) {
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
    /// Whether it is a last-resort KeyPackage.
    pub last_resort: bool,
    /// Its expiry, seconds since the UNIX epoch.
    pub not_after: u64,
}

/// Checks KeyPackage `index` of an upload by `client` (an MLSMessage): valid, unexpired, with a
/// credential naming `client`.
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
    let reference = kp.hash_ref(crypto).map_err(|e| Internal::new("KeyPackageRef", e))?;
    Ok(Ok(ValidKeyPackage {
        reference: reference.as_slice().to_vec(),
        last_resort: kp.last_resort(),
        not_after: kp.life_time().not_after(),
    }))
}

/// Claims served per target user in the current minute, with the time passed in.
#[derive(Debug, Clone)]
pub struct ClaimLimiter {
    /// Most claims per target user and minute.
    per_minute: u32,
    /// The minute (since the UNIX epoch) `counts` are for.
    minute: u64,
    /// Claims served per target user this minute.
    counts: HashMap<String, u32>,
}

/// A claim over the limit (429, retry in a minute).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("too many claims for {user} (at most {limit} a minute)")]
pub struct TooManyClaims {
    /// The target user.
    pub user: String,
    /// The limit.
    pub limit: u32,
}

impl ClaimLimiter {
    /// At most `per_minute` claims per target user and minute.
    pub fn new(per_minute: u32) -> Self {
        ClaimLimiter { per_minute, minute: 0, counts: HashMap::new() }
    }

    /// Counts a claim for `user` at `now_ms` (milliseconds since the UNIX epoch), or refuses it
    /// if the user's limit for this minute is reached. Counts of past minutes are dropped.
    pub fn admit(&mut self, user: &str, now_ms: u64) -> Result<(), TooManyClaims> {
        let minute = now_ms / 60_000;
        if minute != self.minute {
            self.minute = minute;
            self.counts.clear();
        }
        let count = self.counts.entry(user.to_owned()).or_insert(0);
        if *count >= self.per_minute {
            return Err(TooManyClaims { user: user.to_owned(), limit: self.per_minute });
        }
        *count += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use openmls::prelude::{KeyPackageIn, MlsMessageOut, RequiredCapabilitiesExtension};

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
    fn claims_are_limited_per_user_and_minute() {
        let mut limiter = ClaimLimiter::new(2);
        let minute = 28_000_000 * 60_000;
        assert_eq!(limiter.admit("mimi://a.example/u/bob", minute), Ok(()));
        assert_eq!(limiter.admit("mimi://a.example/u/bob", minute + 1), Ok(()));
        let refused = limiter.admit("mimi://a.example/u/bob", minute + 59_999).unwrap_err();
        assert_eq!(refused, TooManyClaims { user: "mimi://a.example/u/bob".into(), limit: 2 });
        // Per user, and afresh the next minute.
        assert_eq!(limiter.admit("mimi://a.example/u/carol", minute + 2), Ok(()));
        assert_eq!(limiter.admit("mimi://a.example/u/bob", minute + 60_000), Ok(()));
        assert_eq!(limiter.counts.len(), 1, "past minutes are forgotten");
        assert!(ClaimLimiter::new(0).admit("x", 0).is_err());
    }
}
