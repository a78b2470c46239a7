//! `preauth_list` (0x0026): preauthorized roles for non-participants (room-policy-04 §3).
//!
//! Consulted only for (a) an external join or external proposal by someone not in the participant
//! list and (b) a participant changing its *own* role; the first entry whose claims all match
//! wins. An AppDataUpdate `update` (`PreAuthUpdate`) replaces the whole list.
//!
//! Claims: room-policy-04 leaves claim matching as a TODO. Our convention for Basic credentials
//! (credential type 1), the only kind this project uses, is a claim `id` of `identity` (the
//! value is the exact credential identity, a client URI or, for an external sender such as the
//! hub, e.g. `mimi://a.example`), `user` (the user URI of a client identity) or `domain` (the
//! provider domain of a client or provider identity). Claims of any other credential type or id
//! never match.

use tls_codec::{TlsDeserializeBytes, TlsSerialize, TlsSize};

use super::roles::Role;
use super::{Component, PREAUTH_LIST};
use crate::uri::ClientUri;

/// MLS credential type code of Basic credentials (RFC 9420 §17.5).
pub const BASIC_CREDENTIAL_TYPE: u16 = 0x0001;

/// Which claim: room-policy-04 §3 `ClaimId`.
#[derive(Debug, Clone, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct ClaimId {
    /// MLS `CredentialType` of the claim.
    pub credential_type: u16,
    /// The claim's name in that credential type (see the module doc for Basic credentials).
    pub id: Vec<u8>,
}

/// One required claim value: room-policy-04 §3 `Claim`.
#[derive(Debug, Clone, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct Claim {
    /// The claim.
    pub claim_id: ClaimId,
    /// The value it must have exactly.
    pub claim_value: Vec<u8>,
}

/// One rule: room-policy-04 §3 `PreAuthRoleEntry`.
///
/// The draft embeds a whole `Role`; only its `role_index` is used, and the capabilities and
/// constraints of that index are read from `roles_list` (the authoritative definition).
#[derive(Debug, Clone, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct PreAuthRoleEntry {
    /// All of these must match.
    pub claimset: Vec<Claim>,
    /// The role a matching requester may take.
    pub target_role: Role,
}

/// The component data and update: room-policy-04 §3 `PreAuthData` (= `PreAuthUpdate`).
#[derive(Debug, Clone, PartialEq, Eq, Default, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct PreAuthData {
    /// The rules, in priority order.
    pub preauthorized_entries: Vec<PreAuthRoleEntry>,
}

impl Component for PreAuthData {
    const ID: u16 = PREAUTH_LIST;
}

impl Claim {
    /// A Basic-credential claim `id` = `value`.
    pub fn basic(id: &str, value: &str) -> Self {
        Self {
            claim_id: ClaimId { credential_type: BASIC_CREDENTIAL_TYPE, id: id.as_bytes().to_vec() },
            claim_value: value.as_bytes().to_vec(),
        }
    }

    /// Whether the claim holds for a Basic credential with this `identity`.
    pub fn matches(&self, identity: &[u8]) -> bool {
        if self.claim_id.credential_type != BASIC_CREDENTIAL_TYPE {
            return false;
        }
        let value = self.claim_value.as_slice();
        let client = ClientUri::from_bytes(identity).ok();
        match self.claim_id.id.as_slice() {
            b"identity" => identity == value,
            b"user" => client.is_some_and(|c| c.user().as_bytes() == value),
            b"domain" => match &client {
                Some(c) => c.domain().as_bytes() == value,
                None => provider_domain(identity) == Some(value),
            },
            _ => false,
        }
    }
}

/// The domain of a provider URI `mimi://<domain>`.
fn provider_domain(identity: &[u8]) -> Option<&[u8]> {
    let domain = identity.strip_prefix(b"mimi://")?;
    (!domain.is_empty() && !domain.contains(&b'/')).then_some(domain)
}

impl PreAuthData {
    /// The role index of the first entry all of whose claims match the Basic credential
    /// `identity` (an entry with no claims matches everyone).
    pub fn first_match(&self, identity: &[u8]) -> Option<u32> {
        self.preauthorized_entries
            .iter()
            .find(|e| e.claimset.iter().all(|c| c.matches(identity)))
            .map(|e| e.target_role.role_index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presets;

    #[test]
    fn first_matching_entry_wins() {
        let roles = presets::strictly_administered().roles;
        let entry = |claims: Vec<Claim>, role: u32| PreAuthRoleEntry {
            claimset: claims,
            target_role: roles.role(role).unwrap().clone(),
        };
        let data = PreAuthData {
            preauthorized_entries: vec![
                entry(vec![Claim::basic("user", "mimi://b.example/u/boss")], 3),
                entry(vec![Claim::basic("domain", "b.example")], 2),
            ],
        };
        let boss = ClientUri::parse("mimi://b.example/d/boss/pc").unwrap();
        let staff = ClientUri::parse("mimi://b.example/d/carol/pc").unwrap();
        let outsider = ClientUri::parse("mimi://c.example/d/eve/pc").unwrap();
        assert_eq!(data.first_match(boss.as_bytes()), Some(3));
        assert_eq!(data.first_match(staff.as_bytes()), Some(2));
        assert_eq!(data.first_match(outsider.as_bytes()), None);
        assert_eq!(data.first_match(b"mimi://b.example"), Some(2));
        let bytes = data.encode().unwrap();
        assert_eq!(PreAuthData::decode(&bytes).unwrap(), data);
    }
}
