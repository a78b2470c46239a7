//! Bearer JWTs issued by the provider's own identity service (its logins), for a provider whose
//! users already log in somewhere: a device presents such a JWT as `Authorization: Bearer` on any
//! client-API request (or on `register`, to get one of our tokens for it), and a device it names
//! that is not known yet is registered on first use, so nobody has to be enrolled twice.
//!
//! What is accepted (everything else is refused with the reason):
//! - a compact JWS signed with the configured key by the configured algorithm, `EdDSA` (Ed25519)
//!   or `ES256` (P-256); the header's `alg` must be that algorithm, so `none`, any `HS*` (an HMAC
//!   keyed with the public key) and the other asymmetric families are refused;
//! - `iss` equal to the configured issuer, `aud` naming the configured audience (our domain unless
//!   configured otherwise);
//! - `exp` present and not passed, `nbf` (if present) reached, `iat` present and not in the
//!   future, each with the configured leeway, against the time passed in;
//! - `sub`: the user's name at this provider (`alice` for `mimi://<domain>/u/alice`) and
//!   [`DEVICE_CLAIM`]: the device's name, together a valid client URI of our domain.
//!
//! Signature, algorithm, issuer and audience are checked by the `jsonwebtoken` crate (its claim
//! checks that read the system clock are off); the times are checked here, against `now`.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use mimi_appsync::uri::ClientUri;
use serde::Deserialize;

use super::{AuthRefusal, Authority, Login, Voucher};

/// The claim naming the device (`sub` names the user).
pub const DEVICE_CLAIM: &str = "device";

/// The leeway for `exp`, `nbf` and `iat` unless configured otherwise (`jwt.leeway_secs`).
pub const DEFAULT_LEEWAY_SECS: u64 = 60;

/// The signature algorithms a login may be signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    /// Ed25519 (`EdDSA`); the key is a PEM `PUBLIC KEY` (SubjectPublicKeyInfo) of type Ed25519.
    EdDsa,
    /// ECDSA on P-256 with SHA-256 (`ES256`); the key is a PEM `PUBLIC KEY` on P-256.
    Es256,
}

impl JwtAlgorithm {
    /// The JOSE name (`EdDSA`, `ES256`).
    pub fn name(self) -> &'static str {
        match self {
            JwtAlgorithm::EdDsa => "EdDSA",
            JwtAlgorithm::Es256 => "ES256",
        }
    }
}

impl std::str::FromStr for JwtAlgorithm {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "EdDSA" => Ok(JwtAlgorithm::EdDsa),
            "ES256" => Ok(JwtAlgorithm::Es256),
            other => Err(format!("`{other}` is neither \"EdDSA\" nor \"ES256\"")),
        }
    }
}

/// What a [`JwtLogins`] is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtSettings {
    /// The identity service's public key (PEM `PUBLIC KEY`).
    pub public_key_pem: Vec<u8>,
    /// The algorithm it signs with.
    pub algorithm: JwtAlgorithm,
    /// The required `iss`.
    pub issuer: String,
    /// The required `aud` (our domain, unless configured otherwise).
    pub audience: String,
    /// Leeway for `exp`, `nbf` and `iat`, seconds.
    pub leeway_secs: u64,
    /// Our domain: the logins name clients `mimi://<domain>/d/<sub>/<device>`.
    pub domain: String,
}

/// The configured key cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the identity service's public key is not a PEM {algorithm} public key: {why}")]
pub struct JwtKeyError {
    /// The configured algorithm.
    pub algorithm: &'static str,
    /// Why the key was refused.
    pub why: String,
}

/// Logins verified against the identity service's key (module docs).
pub struct JwtLogins {
    key: DecodingKey,
    validation: Validation,
    domain: String,
    leeway_secs: u64,
}

impl std::fmt::Debug for JwtLogins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtLogins")
            .field("algorithms", &self.validation.algorithms)
            .field("issuer", &self.validation.iss)
            .field("audience", &self.validation.aud)
            .field("leeway_secs", &self.leeway_secs)
            .finish_non_exhaustive()
    }
}

/// The claims a login must carry (`iss` and `aud` are checked by the crate).
#[derive(Deserialize)]
struct Claims {
    sub: String,
    device: String,
    exp: u64,
    iat: u64,
    nbf: Option<u64>,
}

impl JwtLogins {
    /// Logins checked with `settings`; fails if the key does not fit the algorithm.
    pub fn new(settings: &JwtSettings) -> Result<Self, JwtKeyError> {
        let (key, algorithm) = match settings.algorithm {
            JwtAlgorithm::EdDsa => (DecodingKey::from_ed_pem(&settings.public_key_pem), Algorithm::EdDSA),
            JwtAlgorithm::Es256 => (DecodingKey::from_ec_pem(&settings.public_key_pem), Algorithm::ES256),
        };
        let key = key.map_err(|e| JwtKeyError { algorithm: settings.algorithm.name(), why: e.to_string() })?;
        let mut validation = Validation::new(algorithm);
        // The times are checked against the time passed in (`check_times`), not the system clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        validation.set_issuer(&[settings.issuer.as_str()]);
        validation.set_audience(&[settings.audience.as_str()]);
        Ok(JwtLogins { key, validation, domain: settings.domain.clone(), leeway_secs: settings.leeway_secs })
    }

    /// The login `token` proves at `now_ms`, or why it proves nothing.
    pub fn verify(&self, token: &str, now_ms: u64) -> Result<Login, AuthRefusal> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|e| AuthRefusal::BadLogin(describe(e.kind())))?
            .claims;
        check_times(&claims, now_ms / 1000, self.leeway_secs).map_err(|why| AuthRefusal::BadLogin(why.into()))?;
        let client = ClientUri::new(&self.domain, &claims.sub, &claims.device).map_err(|e| {
            AuthRefusal::BadLogin(format!("`sub` and `{DEVICE_CLAIM}` do not name a user and device here: {e}"))
        })?;
        Ok(Login { client, issued_at_ms: claims.iat.saturating_mul(1000) })
    }
}

/// The time checks: `exp` not passed, `nbf` reached, `iat` not in the future, with `leeway`
/// seconds each way, at `now` (seconds since the UNIX epoch).
fn check_times(claims: &Claims, now: u64, leeway: u64) -> Result<(), &'static str> {
    if now >= claims.exp.saturating_add(leeway) {
        return Err("expired (`exp` has passed)");
    }
    if claims.nbf.is_some_and(|nbf| now.saturating_add(leeway) < nbf) {
        return Err("not valid yet (`nbf`)");
    }
    if claims.iat > now.saturating_add(leeway) {
        return Err("issued in the future (`iat`)");
    }
    Ok(())
}

/// A one-line reason for a refused JWT.
fn describe(kind: &jsonwebtoken::errors::ErrorKind) -> String {
    use jsonwebtoken::errors::ErrorKind as K;
    match kind {
        K::InvalidSignature => "the signature does not verify with the identity service's key".into(),
        K::InvalidAlgorithm | K::InvalidAlgorithmName | K::MissingAlgorithm => {
            "the algorithm (`alg`) is not the identity service's".into()
        }
        K::InvalidIssuer => "wrong issuer (`iss`)".into(),
        K::InvalidAudience => "wrong audience (`aud`)".into(),
        K::MissingRequiredClaim(c) => format!("no `{c}` claim"),
        K::InvalidClaimFormat(c) => format!("the `{c}` claim is malformed"),
        K::Json(e) => {
            format!("malformed header or claims (`iat`, `exp`, `sub` and `{DEVICE_CLAIM}` are required): {e}")
        }
        other => format!("not a valid JWT ({other:?})"),
    }
}

/// Whether a bearer credential is shaped like a compact JWS (three dot-separated parts); our own
/// tokens are hex and never are.
fn is_jwt(bearer: &str) -> bool {
    bearer.split('.').count() == 3
}

impl Authority for JwtLogins {
    fn name(&self) -> &'static str {
        "jwt"
    }

    fn uncredentialed(&self) -> Result<Voucher, AuthRefusal> {
        Err(AuthRefusal::NeedsCredential {
            needs: "a login (`Authorization: Bearer` with a JWT of our identity service)",
        })
    }

    fn code(&self, _code: &str) -> Result<Voucher, AuthRefusal> {
        Err(AuthRefusal::CodesNotAccepted { mode: "jwt" })
    }

    fn login(&self, bearer: &str, now_ms: u64) -> Option<Result<Login, AuthRefusal>> {
        is_jwt(bearer).then(|| self.verify(bearer, now_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: u64, iat: u64, nbf: Option<u64>) -> Claims {
        Claims { sub: "alice".into(), device: "phone".into(), exp, iat, nbf }
    }

    #[test]
    fn times_are_checked_against_the_given_clock_with_leeway() {
        assert_eq!(check_times(&claims(100, 10, None), 99, 0), Ok(()));
        assert!(check_times(&claims(100, 10, None), 100, 0).is_err(), "expired at exp");
        assert_eq!(check_times(&claims(100, 10, None), 159, 60), Ok(()));
        assert!(check_times(&claims(100, 10, None), 160, 60).is_err());
        assert!(check_times(&claims(100, 10, Some(50)), 40, 0).is_err(), "before nbf");
        assert_eq!(check_times(&claims(100, 10, Some(50)), 40, 10), Ok(()));
        assert!(check_times(&claims(100, 50, None), 40, 0).is_err(), "iat in the future");
        assert_eq!(check_times(&claims(100, 50, None), 40, 10), Ok(()));
    }

    #[test]
    fn only_a_three_part_credential_is_taken_for_a_jwt_and_a_key_must_fit_its_algorithm() {
        assert!(is_jwt("a.b.c") && !is_jwt(&"ab".repeat(32)) && !is_jwt("a.b"));
        let settings = JwtSettings {
            public_key_pem: b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".to_vec(),
            algorithm: JwtAlgorithm::EdDsa,
            issuer: "https://login.a.example".into(),
            audience: "a.example".into(),
            leeway_secs: 60,
            domain: "a.example".into(),
        };
        assert!(JwtLogins::new(&settings).is_err());
        assert_eq!("ES256".parse::<JwtAlgorithm>(), Ok(JwtAlgorithm::Es256));
        assert!("HS256".parse::<JwtAlgorithm>().is_err());
    }
}
