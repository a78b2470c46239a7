//! A commit's Welcome: that it names exactly the clients the commit adds, and where it goes — to
//! the local clients whose KeyPackages it names (through their queues), and to the other
//! providers those KeyPackages were claimed from (by fanout, after the commit).
//!
//! The hub cannot read a Welcome (its secrets are encrypted to the joiners), but it can read whom
//! it is for: each `EncryptedGroupSecrets` names a KeyPackageRef. A Welcome naming a
//! KeyPackageRef the commit does not add would land in a stranger's queue and be fanned out to a
//! provider the commit never involved, so the hub requires the set of names to be exactly the set
//! of the commit's Adds ([`check_welcome`]).

use std::collections::BTreeSet;

use mimi_appsync::uri::ClientUri;
use openmls::prelude::{Proposal, Welcome};
use openmls_traits::crypto::OpenMlsCrypto;

use super::{HubFacts, Internal};
use crate::hub::Accepted;

/// Why the hub refuses a commit for its Welcome; answered as `notAllowed`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WelcomeRefusal {
    /// The commit adds clients but carries no Welcome for them.
    #[error("the commit adds {adds} client(s) but carries no Welcome")]
    Missing {
        /// How many clients the commit adds.
        adds: usize,
    },
    /// The Welcome names KeyPackageRefs the commit does not add, or misses some it adds.
    #[error("the Welcome names {named} KeyPackage(s), {extra} of them not added by the commit, and misses {missing} the commit adds")]
    Mismatch {
        /// How many KeyPackageRefs the Welcome names (a name given twice counts twice).
        named: usize,
        /// Named but not added.
        extra: usize,
        /// Added but not named.
        missing: usize,
    },
}

/// Whether `welcome` (the bundle's, if any) names exactly the KeyPackageRefs `accepted` adds
/// (module docs). Anything but a commit, and a commit that adds nobody and carries no Welcome,
/// passes. The Adds were validated with the commit: hashing them can only fail in the crypto
/// library ([`Internal`]).
pub fn check_welcome(
    crypto: &impl OpenMlsCrypto,
    accepted: &Accepted,
    welcome: Option<&Welcome>,
) -> Result<Result<(), WelcomeRefusal>, Internal> {
    let Accepted::Commit { staged, .. } = accepted else { return Ok(Ok(())) };
    let mut added = BTreeSet::new();
    for proposal in staged.queued_proposals() {
        if let Proposal::Add(add) = proposal.proposal() {
            let reference =
                add.key_package().hash_ref(crypto).map_err(|e| Internal::new("KeyPackageRef of an Add", e))?;
            added.insert(reference.as_slice().to_vec());
        }
    }
    let Some(welcome) = welcome else {
        return Ok(if added.is_empty() { Ok(()) } else { Err(WelcomeRefusal::Missing { adds: added.len() }) });
    };
    let named: BTreeSet<Vec<u8>> = welcome.secrets().iter().map(|s| s.new_member().as_slice().to_vec()).collect();
    if named == added && named.len() == welcome.secrets().len() {
        return Ok(Ok(()));
    }
    Ok(Err(WelcomeRefusal::Mismatch {
        named: welcome.secrets().len(),
        extra: named.difference(&added).count(),
        missing: added.difference(&named).count(),
    }))
}

/// The recipients of one Welcome.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WelcomeRouting {
    /// Local clients it adds (client URIs), in the Welcome's order.
    pub local: Vec<String>,
    /// Other providers it goes to (domains, sorted, once each).
    pub remote: Vec<String>,
}

/// Routes `welcome` of a commit by `committer` (the commit's sender, a client URI) at the hub of
/// `hub_domain`, by the KeyPackageRefs it names:
///
/// - claimed through this hub from another provider: to that provider;
/// - uploaded here: to the local client that owns it;
/// - neither: claimed by the committer's own provider from its own users (a follower serves
///   claims for its users itself), so to that provider, which routes it by its own directory.
///   A KeyPackage of nobody known, committed by a local client, has no recipient (the Add check
///   refuses such Adds of other providers' clients before it comes to this).
pub async fn welcome_routing<F: HubFacts>(
    hub_domain: &str,
    committer: &str,
    welcome: &Welcome,
    facts: &F,
) -> Result<WelcomeRouting, F::Error> {
    let mut routing = WelcomeRouting::default();
    // The committer is the commit's validated sender; one whose credential names no client has
    // no provider to hand unknown KeyPackages to.
    let committer_provider =
        ClientUri::parse(committer).ok().map(|c| c.domain().to_owned()).filter(|d| d != hub_domain);
    for secret in welcome.secrets() {
        let reference = secret.new_member();
        if let Some(claim) = facts.key_package_claim(reference.as_slice()).await? {
            if claim.scope.provider != hub_domain {
                routing.remote.push(claim.scope.provider);
                continue;
            }
        }
        match facts.key_package_owner(reference.as_slice()).await? {
            Some(client) => routing.local.push(client),
            None => routing.remote.extend(committer_provider.clone()),
        }
    }
    routing.remote.sort();
    routing.remote.dedup();
    Ok(routing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::admission::memory::{MemoryFacts, TestRoom};
    use crate::hub::admission::{ClaimScope, KeyPackageClaim};

    fn claim(provider: &str) -> KeyPackageClaim {
        KeyPackageClaim {
            scope: ClaimScope {
                provider: provider.into(),
                room: "mimi://a.example/r/club".into(),
                requester: "a.example".into(),
            },
            used: false,
        }
    }

    #[tokio::test]
    async fn welcomes_go_to_local_owners_and_to_the_providers_claims_came_from() {
        let mut t = TestRoom::new();
        let cathy = t.client("c.example", "cathy", "phone");
        let dora = t.client("d.example", "dora", "phone");
        let alice_pc = t.client("a.example", "alice", "pc");
        let bob = t.client("b.example", "bob", "phone");
        let d = t.decide_adds(&[&cathy, &dora, &alice_pc, &bob]);
        let [cathy_ref, dora_ref, alice_ref, bob_ref] = [0, 1, 2, 3].map(|i| d.refs[i].clone());
        let mut facts = MemoryFacts::default();
        facts.claims.insert(cathy_ref.clone(), claim("c.example"));
        facts.claims.insert(dora_ref, claim("d.example"));
        // A claim the hub served from its own directory: routed by the owner.
        facts.claims.insert(alice_ref.clone(), claim("a.example"));
        facts.owners.insert(alice_ref, alice_pc.uri.as_str().to_owned());
        let alice = t.alice.uri.as_str().to_owned();

        // Bob's KeyPackage is neither claimed nor ours; a local committer has no provider to send it to.
        let routing = welcome_routing("a.example", &alice, &d.welcome, &facts).await.unwrap();
        assert_eq!(routing.local, vec![alice_pc.uri.as_str().to_owned()]);
        assert_eq!(routing.remote, vec!["c.example".to_owned(), "d.example".to_owned()]);

        // A commit by a follower's client: what the hub does not know goes to the follower.
        let routing = welcome_routing("a.example", bob.uri.as_str(), &d.welcome, &facts).await.unwrap();
        assert_eq!(routing.remote, vec!["b.example".to_owned(), "c.example".to_owned(), "d.example".to_owned()]);
        // Once each, sorted: a second KeyPackage claimed from c adds no second c.
        facts.claims.insert(bob_ref, claim("c.example"));
        let routing = welcome_routing("a.example", &alice, &d.welcome, &facts).await.unwrap();
        assert_eq!(routing.remote, vec!["c.example".to_owned(), "d.example".to_owned()]);
        // A committer that names no client adds no provider.
        facts.claims.remove(&cathy_ref);
        let routing = welcome_routing("a.example", "", &d.welcome, &facts).await.unwrap();
        assert_eq!(routing.remote, vec!["c.example".to_owned(), "d.example".to_owned()]);

        facts.fail = true;
        assert!(welcome_routing("a.example", &alice, &d.welcome, &facts).await.is_err());
    }
}
