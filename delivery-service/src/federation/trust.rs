//! What a peer provider may speak for: each provider is the identity authority for its own
//! domain only, so a URI a peer puts forward as the party it acts for must be of the peer's
//! authenticated (mutual TLS) domain.
//!
//! | endpoint | the party the peer speaks for | rule |
//! |---|---|---|
//! | `submitMessage` | `sendingUri` | a client of the peer ([`client_of_peer`]) |
//! | `groupInfo` | the client `requestingCredential` names | a client of the peer ([`client_of_peer`]) |
//! | `reportAbuse` | `reportingUser` | a user of the peer ([`user_of_peer`]) |
//! | `requestConsent` / `updateConsent` | `requesterUri` / `targetUri` | a user of the peer ([`user_of_peer`], in [`super::consent::check_entry`]) |
//! | `keyMaterial` | `requestingUser` | a user of the peer, except that the hub of the named room may relay for a user of a third domain, never of ours ([`super::relay::route_key_material`]) |
//! | `identifierQuery` | nobody (the request names no requester) | answered for our own domain only |
//!
//! The comparisons are of strings only: they come before any signature is verified or anything
//! is read from the store, and a refusal (403) changes nothing.

use mimi_appsync::uri::{ClientUri, UserUri};

/// A URI a peer put forward for a party that is not one of its own (403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} must be a {kind} of {peer}, not {uri:?}")]
pub struct NotThePeers {
    /// The request field, e.g. `sendingUri`.
    pub field: &'static str,
    /// `client` or `user`.
    pub kind: &'static str,
    /// The calling peer's domain.
    pub peer: String,
    /// What the field held.
    pub uri: String,
}

/// `uri` (request field `field`) as a client of provider `peer`.
pub fn client_of_peer(peer: &str, field: &'static str, uri: &str) -> Result<ClientUri, NotThePeers> {
    ClientUri::parse(uri).ok().filter(|c| c.domain() == peer).ok_or_else(|| NotThePeers {
        field,
        kind: "client",
        peer: peer.to_owned(),
        uri: uri.to_owned(),
    })
}

/// `uri` (request field `field`) as a user of provider `peer`.
pub fn user_of_peer(peer: &str, field: &'static str, uri: &str) -> Result<UserUri, NotThePeers> {
    UserUri::parse(uri).ok().filter(|u| u.domain() == peer).ok_or_else(|| NotThePeers {
        field,
        kind: "user",
        peer: peer.to_owned(),
        uri: uri.to_owned(),
    })
}

/// Whether `domain` (of a URI a peer sent) is ours. Domains are compared without regard to ASCII
/// case here, so that `mimi://A.EXAMPLE/...` is ours too: this test decides what a peer is
/// refused, and refusing more is the safe side.
pub fn is_ours(ours: &str, domain: &str) -> bool {
    domain.eq_ignore_ascii_case(ours)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_speaks_only_for_its_own_clients_and_users() {
        assert!(client_of_peer("b.example", "sendingUri", "mimi://b.example/d/bob/phone").is_ok());
        let refused = client_of_peer("b.example", "sendingUri", "mimi://a.example/d/alice/phone").unwrap_err();
        assert_eq!(
            refused.to_string(),
            "sendingUri must be a client of b.example, not \"mimi://a.example/d/alice/phone\""
        );
        // A user where a client is asked for, garbage, another case: refused.
        assert!(client_of_peer("b.example", "sendingUri", "mimi://b.example/u/bob").is_err());
        assert!(client_of_peer("b.example", "sendingUri", "").is_err());
        assert!(client_of_peer("b.example", "sendingUri", "mimi://B.example/d/bob/phone").is_err());
        assert!(user_of_peer("b.example", "reportingUser", "mimi://b.example/u/bob").is_ok());
        assert!(user_of_peer("b.example", "reportingUser", "mimi://c.example/u/cathy").is_err());
        assert!(user_of_peer("b.example", "reportingUser", "mimi://b.example/d/bob/phone").is_err());
        assert!(is_ours("a.example", "A.Example") && !is_ours("a.example", "b.example"));
    }
}
