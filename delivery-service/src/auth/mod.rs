//! Authentication of this provider's own clients, without I/O: who may register a device of one of
//! our users, and whom a bearer credential on the client API names.
//!
//! Our users' devices prove who they are to us, and nobody else vouches for them: each provider is
//! the identity authority for its own domain. How a *new* device proves that it is one of a user's
//! is the provider's choice, an [`Authority`]:
//!
//! - [`codes::EnrollmentCodes`] (the default): the operator runs `mimi-ds user add alice`, which
//!   prints a one-time code that expires ([`codes::DEFAULT_CODE_LIFETIME`]); the store keeps only
//!   its SHA-256. A device registers with `{"user", "device", "code"}`, and the code is spent in the
//!   same write as the registration, so it enrols exactly one device.
//! - [`jwt::JwtLogins`]: bearer JWTs issued by the provider's own identity service, verified with
//!   its public key (EdDSA or ES256), its issuer, our domain as audience and a leeway; `sub` names
//!   the user, [`jwt::DEVICE_CLAIM`] the device. A JWT is a credential on every client-API request,
//!   and a device it names that is not known yet is registered on first use.
//! - [`open::OpenRegistration`]: anyone may register any user and device; only by explicit
//!   configuration (`registration = "open"`, for demos and simulations), logged as a warning.
//!
//! Under every authority, a new device of an existing user may also be enrolled with the bearer
//! token of one of that user's current devices ([`registration_voucher`]).
//!
//! A device registered here gets an opaque bearer token ([`tokens`]) that expires and is renewed
//! with `POST /client/v1/token`. A device can be revoked (its tokens stop working at once, its
//! name stays taken) or removed (also its name is freed); [`clients`] holds these transitions and
//! the decisions a store makes when it applies them, so that every back end decides alike.
//!
//! Everything here is a plain function of the request, the records the store looked up and the
//! time passed in; the store applies what is decided (in one write), the provider and the client
//! API are the edges.

pub mod clients;
pub mod codes;
pub mod jwt;
pub mod open;
pub mod tokens;

use mimi_appsync::uri::ClientUri;

pub use clients::{admit_ending, admit_registration, admit_token, Admission, ClientRecord, ClientStatus, Ending};
pub use codes::{CodeRecord, EnrollmentCodes, NewCode};
pub use jwt::{JwtAlgorithm, JwtLogins, JwtSettings};
pub use open::OpenRegistration;
pub use tokens::{NewToken, StoredToken, TokenRecord};

/// How a provider lets new devices of its users in (see the module docs). Implemented by
/// [`EnrollmentCodes`], [`JwtLogins`] and [`OpenRegistration`]; the provider holds one.
pub trait Authority: Send + Sync + 'static {
    /// The configured name of the mode (`codes`, `jwt`, `open`), for logs and refusals.
    fn name(&self) -> &'static str;

    /// A registration that presents no credential at all.
    fn uncredentialed(&self) -> Result<Voucher, AuthRefusal>;

    /// A registration that presents an enrollment code.
    fn code(&self, code: &str) -> Result<Voucher, AuthRefusal>;

    /// A bearer credential that this authority issues itself (a login, e.g. a JWT), checked at
    /// `now_ms`; `None` if `bearer` is not of its kind, i.e. it can only be one of our own tokens.
    fn login(&self, bearer: &str, now_ms: u64) -> Option<Result<Login, AuthRefusal>>;
}

/// What a registration presented, as far as it can be checked without the store; the store checks
/// the rest in the write that registers the device ([`admit_registration`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Voucher {
    /// Open registration: nothing to check.
    Open,
    /// An enrollment code, by its hash ([`codes::code_hash`]): it must be unspent, unexpired and
    /// for the device's user, and is spent by the registration.
    Code {
        /// SHA-256 of the normalised code.
        hash: Vec<u8>,
    },
    /// The bearer token of another device (by its hash): it must be live and of a device of the
    /// same user.
    Device {
        /// SHA-256 of the token.
        token_hash: Vec<u8>,
    },
    /// A verified login naming the device, issued at `issued_at_ms` (a device removed after that
    /// is not registered again by it).
    Login {
        /// The login's issue time (`iat`), milliseconds since the UNIX epoch.
        issued_at_ms: u64,
    },
}

/// A verified login: the device it names and when it was issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// The client (device) the login names.
    pub client: ClientUri,
    /// Its issue time, milliseconds since the UNIX epoch.
    pub issued_at_ms: u64,
}

/// Why a registration, a bearer credential or an operator's change of a client is refused. Each
/// says what was wrong without saying more than the caller may know (an unknown, expired, spent and
/// foreign enrollment code are one refusal).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthRefusal {
    /// A registration without any credential where one is needed.
    #[error(
        "registration at this provider needs {needs}, or `Authorization: Bearer` with the token of one of the \
         user's current devices"
    )]
    NeedsCredential {
        /// What this provider's authority accepts.
        needs: &'static str,
    },
    /// An enrollment code where this provider does not enrol with codes.
    #[error("this provider does not enrol devices with codes (registration = \"{mode}\")")]
    CodesNotAccepted {
        /// The configured mode.
        mode: &'static str,
    },
    /// Both a code and a bearer credential: which one was meant is unclear.
    #[error("give either an enrollment code or a bearer credential, not both")]
    Ambiguous,
    /// The enrollment code is unknown, expired, already used or for another user.
    #[error("the enrollment code is unknown, expired, already used or for another user")]
    BadCode,
    /// A login (JWT) that does not verify.
    #[error("login refused: {0}")]
    BadLogin(String),
    /// A login naming another client than the one to register.
    #[error("the login names {named}, not {asked}")]
    LoginForAnother {
        /// The client the login names.
        named: String,
        /// The client the request asked for.
        asked: String,
    },
    /// A bearer token we never issued, or whose device was revoked or removed since.
    #[error("unknown token")]
    UnknownToken,
    /// A bearer token past its lifetime.
    #[error("token expired; register again or renew it before it expires (POST /client/v1/token)")]
    ExpiredToken,
    /// A device's token used to enrol a device of another user.
    #[error("a token of {owner} cannot enrol a device of {user}")]
    OtherUser {
        /// The device whose token was presented.
        owner: String,
        /// The user the registration is for.
        user: String,
    },
    /// The device name is taken (registered, or revoked and not removed).
    #[error("{client} is already registered")]
    Exists {
        /// The client URI.
        client: String,
    },
    /// The device is revoked: nothing authenticates it any more.
    #[error("{client} is revoked")]
    Revoked {
        /// The client URI.
        client: String,
    },
    /// A login issued before its device was removed does not register it again.
    #[error("the login was issued before {client} was removed")]
    LoginBeforeRemoval {
        /// The client URI.
        client: String,
    },
    /// No such client (an operator's revocation or removal).
    #[error("{client} is not a registered client")]
    UnknownClient {
        /// The client URI.
        client: String,
    },
}

/// What a registration request of `client` presented (an enrollment code, a bearer credential,
/// or neither), checked as far as it can be without the store under `authority` at `now_ms`.
///
/// A bearer credential is first offered to the authority as a login; if it is none, it is taken
/// as the token of one of the user's current devices ([`Voucher::Device`], checked by the store).
pub fn registration_voucher(
    authority: &dyn Authority,
    client: &ClientUri,
    code: Option<&str>,
    bearer: Option<&str>,
    now_ms: u64,
) -> Result<Voucher, AuthRefusal> {
    match (code, bearer) {
        (Some(_), Some(_)) => Err(AuthRefusal::Ambiguous),
        (None, Some(bearer)) => match authority.login(bearer, now_ms) {
            Some(Ok(login)) if login.client == *client => Ok(Voucher::Login { issued_at_ms: login.issued_at_ms }),
            Some(Ok(login)) => {
                Err(AuthRefusal::LoginForAnother { named: login.client.to_string(), asked: client.to_string() })
            }
            Some(Err(refusal)) => Err(refusal),
            None => Ok(Voucher::Device { token_hash: tokens::token_hash(bearer) }),
        },
        (Some(code), None) => authority.code(code),
        (None, None) => authority.uncredentialed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> ClientUri {
        ClientUri::new("a.example", "alice", "phone").unwrap()
    }

    #[test]
    fn a_registration_offers_a_bearer_as_a_login_first_then_as_a_device_token() {
        let codes = EnrollmentCodes;
        let device = registration_voucher(&codes, &alice(), None, Some("t0k3n"), 0).unwrap();
        assert_eq!(device, Voucher::Device { token_hash: tokens::token_hash("t0k3n") });
        let code = registration_voucher(&codes, &alice(), Some("abcd-ef"), None, 0).unwrap();
        assert_eq!(code, Voucher::Code { hash: codes::code_hash("ABCDEF") });
        assert_eq!(registration_voucher(&codes, &alice(), Some("c"), Some("t"), 0), Err(AuthRefusal::Ambiguous));
        assert!(matches!(
            registration_voucher(&codes, &alice(), None, None, 0),
            Err(AuthRefusal::NeedsCredential { .. })
        ));
        assert_eq!(registration_voucher(&OpenRegistration, &alice(), None, None, 0), Ok(Voucher::Open));
    }
}
