//! The bearer tokens this provider issues to its own devices: 32 random bytes in hex, kept only as
//! their SHA-256, each valid until it expires ([`DEFAULT_TOKEN_LIFETIME`] unless configured) or its
//! device is revoked or removed, whichever comes first.

use std::time::Duration;

use sha2::{Digest, Sha256};

use super::AuthRefusal;

/// How long a token is valid unless configured otherwise (`token_lifetime_secs`): 30 days. A
/// device renews its token before then with `POST /client/v1/token`.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);

/// Random bytes in a token.
const TOKEN_BYTES: usize = 32;

/// A token as the store keeps it: the device it belongs to and when it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// The client URI.
    pub client: String,
    /// Expiry, milliseconds since the UNIX epoch (the token works before it, not at it).
    pub expires_ms: u64,
}

/// A token to store: its hash and expiry (the token itself is handed out once and never kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    /// SHA-256 of the token.
    pub hash: Vec<u8>,
    /// Expiry, milliseconds since the UNIX epoch.
    pub expires_ms: u64,
}

/// A freshly made token: what the device gets, and what the store keeps of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    /// The bearer token (hex).
    pub token: String,
    /// What is stored.
    pub stored: StoredToken,
}

/// A new random token made at `now_ms`, valid for `lifetime`.
pub fn new_token(now_ms: u64, lifetime: Duration) -> Result<NewToken, getrandom::Error> {
    let mut raw = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut raw)?;
    let token = hex::encode(raw);
    let expires_ms = now_ms.saturating_add(u64::try_from(lifetime.as_millis()).unwrap_or(u64::MAX));
    Ok(NewToken { stored: StoredToken { hash: token_hash(&token), expires_ms }, token })
}

/// How a token is looked up: its SHA-256 (a leaked store does not hand out working tokens).
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Whether a token expiring at `expires_ms` still works at `now_ms`.
pub fn is_live(expires_ms: u64, now_ms: u64) -> bool {
    now_ms < expires_ms
}

/// The client a presented token authenticates at `now_ms`, from the store's record of it (none:
/// never issued, or its device was revoked or removed, which deletes its tokens).
pub fn check_token(record: Option<&TokenRecord>, now_ms: u64) -> Result<&str, AuthRefusal> {
    let record = record.ok_or(AuthRefusal::UnknownToken)?;
    if !is_live(record.expires_ms, now_ms) {
        return Err(AuthRefusal::ExpiredToken);
    }
    Ok(&record.client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_works_until_it_expires_and_is_kept_as_a_hash() {
        let t = new_token(1_000, Duration::from_secs(10)).unwrap();
        assert_eq!(t.token.len(), 64);
        assert_eq!(t.stored, StoredToken { hash: token_hash(&t.token), expires_ms: 11_000 });
        assert_ne!(new_token(1_000, Duration::from_secs(10)).unwrap().token, t.token);
        let record = TokenRecord { client: "mimi://a.example/d/alice/phone".into(), expires_ms: 11_000 };
        assert_eq!(check_token(Some(&record), 10_999), Ok("mimi://a.example/d/alice/phone"));
        assert_eq!(check_token(Some(&record), 11_000), Err(AuthRefusal::ExpiredToken));
        assert_eq!(check_token(None, 0), Err(AuthRefusal::UnknownToken));
        assert_eq!(new_token(u64::MAX - 5, Duration::MAX).unwrap().stored.expires_ms, u64::MAX);
    }
}
