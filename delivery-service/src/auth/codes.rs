//! Enrollment codes issued by the operator (`mimi-ds user add alice`): the default way a new device
//! of one of our users is let in.
//!
//! A code is 16 random bytes, shown as 32 hex digits in groups of four (`1a2b-3c4d-...`); dashes,
//! spaces and case do not matter when it is typed back. The store keeps only the SHA-256 of its
//! normalised form, the user it is for and when it expires ([`DEFAULT_CODE_LIFETIME`] unless
//! configured), and deletes it in the write that registers the device, so a code enrols one
//! device, also when two registrations race with it.

use std::time::Duration;

use mimi_appsync::uri::UserUri;
use sha2::{Digest, Sha256};

use super::{AuthRefusal, Authority, Login, Voucher};

/// How long an enrollment code is good unless configured otherwise
/// (`enrollment_code_lifetime_secs`, or `mimi-ds user add --lifetime`): 24 hours.
pub const DEFAULT_CODE_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Random bytes in a code.
const CODE_BYTES: usize = 16;

/// Registration with enrollment codes (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct EnrollmentCodes;

impl Authority for EnrollmentCodes {
    fn name(&self) -> &'static str {
        "codes"
    }

    fn uncredentialed(&self) -> Result<Voucher, AuthRefusal> {
        Err(AuthRefusal::NeedsCredential { needs: "an enrollment code (`mimi-ds user add <user>`)" })
    }

    fn code(&self, code: &str) -> Result<Voucher, AuthRefusal> {
        Ok(Voucher::Code { hash: code_hash(code) })
    }

    fn login(&self, _bearer: &str, _now_ms: u64) -> Option<Result<Login, AuthRefusal>> {
        None
    }
}

/// An enrollment code as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRecord {
    /// The user URI it enrols a device of.
    pub user: String,
    /// Expiry, milliseconds since the UNIX epoch (good before it, not at it).
    pub expires_ms: u64,
}

/// A freshly made code: what the operator hands to the user, and what the store keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCode {
    /// The code as shown (`1a2b-3c4d-...`).
    pub code: String,
    /// Its hash ([`code_hash`]), the store's key.
    pub hash: Vec<u8>,
    /// What is stored under the hash.
    pub record: CodeRecord,
}

/// A new code for `user` made at `now_ms`, good for `lifetime`.
pub fn new_code(user: &UserUri, now_ms: u64, lifetime: Duration) -> Result<NewCode, getrandom::Error> {
    let mut raw = [0u8; CODE_BYTES];
    getrandom::fill(&mut raw)?;
    let digits = hex::encode(raw);
    let groups: Vec<&str> = digits.as_bytes().chunks(4).filter_map(|g| std::str::from_utf8(g).ok()).collect();
    let code = groups.join("-");
    let expires_ms = now_ms.saturating_add(u64::try_from(lifetime.as_millis()).unwrap_or(u64::MAX));
    Ok(NewCode { hash: code_hash(&code), code, record: CodeRecord { user: user.as_str().to_owned(), expires_ms } })
}

/// The store's key of a code: the SHA-256 of the code without dashes and whitespace, in lowercase.
pub fn code_hash(code: &str) -> Vec<u8> {
    let normalised: String =
        code.chars().filter(|c| *c != '-' && !c.is_whitespace()).map(|c| c.to_ascii_lowercase()).collect();
    Sha256::digest(normalised.as_bytes()).to_vec()
}

/// Whether the stored code (none: never issued, or spent) enrols a device of `user` at `now_ms`.
pub fn check_code(record: Option<&CodeRecord>, user: &str, now_ms: u64) -> Result<(), AuthRefusal> {
    match record {
        Some(r) if r.user == user && now_ms < r.expires_ms => Ok(()),
        _ => Err(AuthRefusal::BadCode),
    }
}

/// Whether a stored code has expired at `now_ms` (the store forgets expired codes).
pub fn is_expired(record: &CodeRecord, now_ms: u64) -> bool {
    now_ms >= record.expires_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_good_for_its_user_until_it_expires_and_typed_loosely() {
        let alice = UserUri::new("a.example", "alice").unwrap();
        let c = new_code(&alice, 1_000, Duration::from_secs(60)).unwrap();
        assert_eq!(c.code.len(), 32 + 7, "{}", c.code);
        assert_eq!(c.record, CodeRecord { user: alice.as_str().into(), expires_ms: 61_000 });
        assert_eq!(code_hash(&c.code.to_uppercase().replace('-', " ")), c.hash);
        assert_eq!(check_code(Some(&c.record), alice.as_str(), 60_999), Ok(()));
        assert_eq!(check_code(Some(&c.record), alice.as_str(), 61_000), Err(AuthRefusal::BadCode));
        assert_eq!(check_code(Some(&c.record), "mimi://a.example/u/bob", 2_000), Err(AuthRefusal::BadCode));
        assert_eq!(check_code(None, alice.as_str(), 2_000), Err(AuthRefusal::BadCode));
        assert!(is_expired(&c.record, 61_000) && !is_expired(&c.record, 60_999));
    }
}
