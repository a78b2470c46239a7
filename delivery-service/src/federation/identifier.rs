//! `identifierQuery` (protocol-06 §5.8): which local user a query names ([`candidate`], pure),
//! and the provider's answer, which looks the candidate up among its registered users
//! ([`Provider::identifier_query`]).
//!
//! **What a handle is here.** Our users have no profiles, only the name they registered with
//! (`POST /client/v1/register {"user": "alice", …}`), which is the user part of their MIMI user
//! URI `mimi://<domain>/u/alice` (docs/DESIGN.md §3.3). That name is the user's handle:
//! - `handle` matches the entire handle URI `im:alice@<domain>` (the form of the draft's
//!   examples) or the user's MIMI URI `mimi://<domain>/u/alice`, exactly;
//! - `nick` matches the user part `alice`, exactly;
//! - every other search type (`email`, `phone`, `partialName`, `wholeProfile`, `oidcStdClaim`,
//!   `vcardField`) is `unsupportedField`: we hold no such data.
//!
//! The elements combine with AND: every element must name the same user. A query with no
//! element is `ambiguous` (nothing to match exactly); a handle of another domain is `notFound`
//! (the query goes straight to the target provider, never through a hub, so it never asks us
//! about users we do not serve). A match answers `success` with the user's URI and a profile
//! holding only its `stableUri`.

use mimi_appsync::uri::UserUri;

use crate::provider::{Provider, ProviderError};
use crate::store::Store;
use mimi_protocol::identifier::{
    IdentifierQueryCode, IdentifierRequest, IdentifierResponse, QueryElement, SearchField, UserProfile,
};
use mimi_protocol::IdentifierUri;

/// The user named by `element` at provider `ours`: `Ok(Some)` a well-formed local user (who may
/// still not exist), `Ok(None)` nobody of ours, `Err` an unsupported search type.
pub fn element_names(ours: &str, element: &QueryElement) -> Result<Option<UserUri>, IdentifierQueryCode> {
    let value = element.search_value.as_str();
    let local = |name: &str| UserUri::new(ours, name).ok();
    match &element.search {
        SearchField::Nick => Ok(local(value)),
        SearchField::Handle => {
            if let Some(rest) = value.strip_prefix("im:") {
                let named = rest.rsplit_once('@').filter(|(_, domain)| domain.eq_ignore_ascii_case(ours));
                Ok(named.and_then(|(name, _)| local(name)))
            } else {
                Ok(UserUri::parse(value).ok().filter(|u| u.domain() == ours))
            }
        }
        _ => Err(IdentifierQueryCode::UnsupportedField),
    }
}

/// The one local user all of `request`'s elements name, or the code to answer instead.
pub fn candidate(ours: &str, request: &IdentifierRequest) -> Result<UserUri, IdentifierQueryCode> {
    let mut found: Option<UserUri> = None;
    if request.query_elements.is_empty() {
        return Err(IdentifierQueryCode::Ambiguous);
    }
    for element in &request.query_elements {
        let user = element_names(ours, element)?.ok_or(IdentifierQueryCode::NotFound)?;
        match &found {
            Some(f) if f != &user => return Err(IdentifierQueryCode::NotFound),
            _ => found = Some(user),
        }
    }
    found.ok_or(IdentifierQueryCode::NotFound)
}

impl<S: Store> Provider<S> {
    /// `/identifierQuery` for this provider's users: the [`candidate`] if it is registered.
    pub async fn identifier_query(&self, request: &IdentifierRequest) -> Result<IdentifierResponse, ProviderError> {
        let respond = |response_code, users: Vec<UserUri>| IdentifierResponse {
            response_code,
            uri: users.iter().map(|u| IdentifierUri::new(u.as_str())).collect(),
            found_profiles: users
                .iter()
                .map(|u| UserProfile { stable_uri: IdentifierUri::new(u.as_str()), fields: Vec::new() })
                .collect(),
            id_response_extensions: Default::default(),
        };
        Ok(match candidate(self.domain(), request) {
            Ok(user) if self.store().user_exists(user.as_str()).await? => {
                respond(IdentifierQueryCode::Success, vec![user])
            }
            Ok(_) => respond(IdentifierQueryCode::NotFound, Vec::new()),
            Err(code) => respond(code, Vec::new()),
        })
    }
}

#[cfg(test)]
mod tests {
    use openmls::extensions::AppDataDictionary;
    use tls_codec::VLBytes;

    use super::*;
    use mimi_protocol::Utf8String;

    fn element(search: SearchField, value: &str) -> QueryElement {
        QueryElement { search, search_value: Utf8String::from(value) }
    }

    fn query(elements: Vec<QueryElement>) -> IdentifierRequest {
        IdentifierRequest { query_elements: elements, id_request_extensions: AppDataDictionary::new() }
    }

    #[test]
    fn handles_and_nicks_name_local_users() {
        let alice = UserUri::new("a.example", "alice").unwrap();
        let q = |e| candidate("a.example", &query(e));
        assert_eq!(q(vec![element(SearchField::Handle, "im:alice@a.example")]), Ok(alice.clone()));
        assert_eq!(q(vec![element(SearchField::Handle, "mimi://a.example/u/alice")]), Ok(alice.clone()));
        assert_eq!(q(vec![element(SearchField::Nick, "alice")]), Ok(alice.clone()));
        assert_eq!(
            q(vec![element(SearchField::Nick, "alice"), element(SearchField::Handle, "im:alice@a.example")]),
            Ok(alice)
        );
        // AND: two different users match nobody; another domain's handle is not ours.
        let both = vec![element(SearchField::Nick, "alice"), element(SearchField::Nick, "bob")];
        assert_eq!(q(both), Err(IdentifierQueryCode::NotFound));
        assert_eq!(q(vec![element(SearchField::Handle, "im:alice@b.example")]), Err(IdentifierQueryCode::NotFound));
        assert_eq!(
            q(vec![element(SearchField::Handle, "mimi://b.example/u/alice")]),
            Err(IdentifierQueryCode::NotFound)
        );
        assert_eq!(q(vec![element(SearchField::Email, "alice@a.example")]), Err(IdentifierQueryCode::UnsupportedField));
        let claim = SearchField::OidcStdClaim { claim_name: VLBytes::from(b"email".to_vec()) };
        assert_eq!(q(vec![element(claim, "x")]), Err(IdentifierQueryCode::UnsupportedField));
        assert_eq!(q(vec![]), Err(IdentifierQueryCode::Ambiguous));
    }
}
