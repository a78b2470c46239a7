//! Explicit consent (protocol-06 §5.7): the decisions behind `POST /v1/requestConsent/{targetUser}`,
//! `POST /v1/updateConsent/{requesterUser}` and the consent check on key-material claims.
//!
//! - `requestConsent` (`request`/`cancel`) comes from the requester's provider to the target's:
//!   the target must be our user (the one in the path), the requester the calling provider's.
//!   It records an open request (or withdraws one); a decision already made is kept.
//! - `updateConsent` (`grant`/`revoke`) comes from the target's provider to the requester's: the
//!   requester must be our user (the one in the path), the target the calling provider's. It
//!   records the decision, so this provider knows what its user may claim. KeyPackages carried
//!   by a `grant` are not used (the requester claims through the room's hub as usual).
//! - Our own users decide through the client API (`POST /client/v1/consent`); the decision is
//!   recorded here and sent to the requester's provider with `updateConsent`.
//! - A claim for one of our users by a user of another provider is served per
//!   [`crate::hub::admission::verdict`]: a decision for the request's room wins over one for any
//!   room; without a decision the configured policy applies (`open`: served; `required`:
//!   `noConsent`).
//!
//! Consent entries are unsigned: only the mutually authenticated TLS connection and the domain
//! rules above authenticate them.

use mimi_appsync::uri::UserUri;

use super::trust::user_of_peer;
use crate::provider::ProviderError;
use mimi_protocol::consent::{ConsentEntry, ConsentOperation};
use mimi_protocol::IdentifierUri;

/// Which consent endpoint an entry arrived at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentEndpoint {
    /// `requestConsent/{targetUser}`: `request` or `cancel`, requester's provider → target's.
    Request,
    /// `updateConsent/{requesterUser}`: `grant` or `revoke`, target's provider → requester's.
    Update,
}

fn user(uri: &IdentifierUri, what: &str) -> Result<UserUri, ProviderError> {
    UserUri::parse(uri.as_str()).map_err(|e| ProviderError::BadRequest(format!("{what} {uri}: {e}")))
}

/// Checks an entry that provider `peer` sent to `endpoint` with `path_user` in the path, at
/// provider `ours` (module docs). Wrong operation or path: 400; a user of the wrong domain: 403.
pub fn check_entry(
    endpoint: ConsentEndpoint,
    ours: &str,
    peer: &str,
    path_user: &str,
    entry: &ConsentEntry,
) -> Result<(), ProviderError> {
    let operation = entry.consent.operation();
    let requester = user(&entry.scope.requester_uri, "requesterUri")?;
    let target = user(&entry.scope.target_uri, "targetUri")?;
    let (allowed, local, remote) = match endpoint {
        ConsentEndpoint::Request => ([ConsentOperation::Request, ConsentOperation::Cancel], &target, &requester),
        ConsentEndpoint::Update => ([ConsentOperation::Grant, ConsentOperation::Revoke], &requester, &target),
    };
    if !allowed.contains(&operation) {
        return Err(ProviderError::BadRequest(format!("{operation:?} is not allowed at {endpoint:?}")));
    }
    if local.as_str() != path_user {
        return Err(ProviderError::BadRequest(format!("{local} differs from the path's {path_user}")));
    }
    if local.domain() != ours {
        return Err(ProviderError::Forbidden(format!("{local} is not a user of {ours}")));
    }
    let field = match endpoint {
        ConsentEndpoint::Request => "requesterUri",
        ConsentEndpoint::Update => "targetUri",
    };
    user_of_peer(peer, field, remote.as_str()).map_err(|e| ProviderError::Forbidden(e.to_string()))?;
    Ok(())
}

/// Checks a decision a local client submits for its own user (client API): `grant` or `revoke`
/// (else 400), with its user as the target (else 403). Returns the requester, whose provider is
/// told with `updateConsent` when it is another one.
pub fn check_own_decision(caller: &UserUri, entry: &ConsentEntry) -> Result<UserUri, ProviderError> {
    let operation = entry.consent.operation();
    if !matches!(operation, ConsentOperation::Grant | ConsentOperation::Revoke) {
        return Err(ProviderError::BadRequest(format!("a client decides with grant or revoke, not {operation:?}")));
    }
    let target = user(&entry.scope.target_uri, "targetUri")?;
    if &target != caller {
        return Err(ProviderError::Forbidden(format!("{caller} may decide only for itself, not {target}")));
    }
    user(&entry.scope.requester_uri, "requesterUri")
}

#[cfg(test)]
mod tests {
    use openmls::extensions::AppDataDictionary;

    use super::*;
    use mimi_protocol::consent::{Consent, ConsentScope};

    const ALICE: &str = "mimi://a.example/u/alice";
    const CATHY: &str = "mimi://c.example/u/cathy";

    fn entry(consent: Consent) -> ConsentEntry {
        ConsentEntry {
            consent,
            scope: ConsentScope {
                requester_uri: IdentifierUri::new(ALICE),
                target_uri: IdentifierUri::new(CATHY),
                room_id: None,
            },
            consent_extensions: AppDataDictionary::default(),
        }
    }

    #[test]
    fn entries_follow_the_domain_rules() {
        use ConsentEndpoint::*;
        let grant = entry(Consent::Grant { client_key_packages: Vec::new() });
        let status = |r: Result<(), ProviderError>| match r {
            Ok(()) => "ok",
            Err(ProviderError::BadRequest(_)) => "400",
            Err(ProviderError::Forbidden(_)) => "403",
            Err(_) => "other",
        };
        // a asks c's Cathy; c grants to a's Alice.
        assert_eq!(status(check_entry(Request, "c.example", "a.example", CATHY, &entry(Consent::Request))), "ok");
        assert_eq!(status(check_entry(Request, "c.example", "a.example", CATHY, &entry(Consent::Cancel))), "ok");
        assert_eq!(status(check_entry(Update, "a.example", "c.example", ALICE, &grant)), "ok");
        assert_eq!(status(check_entry(Update, "a.example", "c.example", ALICE, &entry(Consent::Revoke))), "ok");
        // Wrong operation for the endpoint, or a path naming someone else: 400.
        assert_eq!(status(check_entry(Request, "c.example", "a.example", CATHY, &grant)), "400");
        assert_eq!(status(check_entry(Update, "a.example", "c.example", ALICE, &entry(Consent::Request))), "400");
        assert_eq!(status(check_entry(Request, "c.example", "a.example", ALICE, &entry(Consent::Request))), "400");
        // A provider speaking for another's users, or asking us about a user not ours: 403.
        assert_eq!(status(check_entry(Request, "c.example", "b.example", CATHY, &entry(Consent::Request))), "403");
        assert_eq!(status(check_entry(Request, "b.example", "a.example", CATHY, &entry(Consent::Request))), "403");
        assert_eq!(status(check_entry(Update, "a.example", "b.example", ALICE, &grant)), "403");
    }

    #[test]
    fn clients_decide_for_their_own_user() {
        let cathy = UserUri::parse(CATHY).unwrap();
        let alice = UserUri::parse(ALICE).unwrap();
        let grant = entry(Consent::Grant { client_key_packages: Vec::new() });
        assert_eq!(check_own_decision(&cathy, &grant).unwrap(), alice);
        assert!(check_own_decision(&cathy, &entry(Consent::Revoke)).is_ok());
        assert!(matches!(check_own_decision(&alice, &grant), Err(ProviderError::Forbidden(_))));
        assert!(matches!(check_own_decision(&cathy, &entry(Consent::Request)), Err(ProviderError::BadRequest(_))));
    }
}
