//! No Add without a claim: the hub accepts the Add of a client only with a KeyPackage claimed
//! through it for this room, by the committer's provider, not used before (protocol-06 §5.2: a
//! KeyPackage is "designed for use in a single room and may not be reused"). The one exception is
//! a follower's own users, whose KeyPackages that provider serves itself: the hub takes the
//! follower's word for them. A client of the hub's own domain is always checked, whoever adds it,
//! and its KeyPackage must also be one that client uploaded to the hub's directory: the hub is the
//! identity authority for its domain, so a KeyPackage a member made up for
//! `mimi://<hub>/d/alice/tablet` is nobody's.

use mimi_appsync::uri::ClientUri;
use openmls::prelude::{Proposal, ProposalOrRefType, QueuedProposal};
use openmls_traits::crypto::OpenMlsCrypto;

use super::submit::hub_of;
use super::{Fault, HubFacts, Internal, KeyPackageClaim, Ruling};
use crate::hub::Accepted;

/// Why the hub refuses an Add (see [`add_is_vouched`]); answered as `notAllowed`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddRefusal {
    /// No claim through this hub is recorded for the KeyPackageRef (e.g. obtained out of band).
    #[error("the KeyPackage of {added} was not claimed through the hub")]
    NotClaimed {
        /// The added client.
        added: String,
    },
    /// The claim came from another provider than the added client's.
    #[error("the KeyPackage of {added} was claimed from {provider}, not from its own provider")]
    OtherProvider {
        /// The added client.
        added: String,
        /// The provider the claim was served by.
        provider: String,
    },
    /// The claim was for another room.
    #[error("the KeyPackage of {added} was claimed through the hub for {claimed_for}, not for this room")]
    OtherRoom {
        /// The added client.
        added: String,
        /// The room the claim named.
        claimed_for: String,
    },
    /// The claim was made by another provider than the committer's.
    #[error("the KeyPackage of {added} was claimed through the hub by {requester}, not by {committer}")]
    OtherRequester {
        /// The added client.
        added: String,
        /// The provider that claimed it.
        requester: String,
        /// The committer's provider.
        committer: String,
    },
    /// An accepted Add already used the claim.
    #[error("the KeyPackage of {added} claimed through the hub was already used in an Add")]
    AlreadyUsed {
        /// The added client.
        added: String,
    },
    /// A client of the hub's domain added with a KeyPackage it did not upload to the directory.
    #[error("the KeyPackage of {added} is not one that client uploaded to the hub")]
    NotInDirectory {
        /// The added client.
        added: String,
    },
}

/// Whether the hub may accept the Add of client `added` in a handshake of `room` from a client of
/// `committer_domain`. `claim`: what this hub recorded for the added KeyPackageRef when it served
/// (our users) or relayed (others') the claim; `owner`: the local client that uploaded it to the
/// hub's directory, looked up for clients of the hub's domain only.
///
/// A follower serves claims for its own users itself, so an added client of the committer's own
/// domain that is not the hub's needs nothing here (`Ok(false)`). Any other Add needs a claim
/// through this hub for this room, from the added client's provider, requested by the
/// committer's provider, and not used by an accepted Add yet: `Ok(true)`, and the caller marks it
/// used in the transaction that accepts the handshake. For a client of the hub's domain the
/// KeyPackage must moreover be that client's upload. A KeyPackage obtained out of band, made up,
/// claimed for another room or by another provider, or used before is refused. Only
/// authenticated submissions (client API and `/v1/update`) are checked.
pub fn add_is_vouched(
    room: &str,
    committer_domain: &str,
    added: &ClientUri,
    claim: Option<&KeyPackageClaim>,
    owner: Option<&str>,
) -> Result<bool, AddRefusal> {
    let domain = added.domain();
    let hub = hub_of(room).unwrap_or_default();
    if domain == committer_domain && domain != hub {
        return Ok(false);
    }
    let name = || added.as_str().to_owned();
    let Some(claim) = claim else { return Err(AddRefusal::NotClaimed { added: name() }) };
    let scope = &claim.scope;
    if scope.provider != domain {
        return Err(AddRefusal::OtherProvider { added: name(), provider: scope.provider.clone() });
    }
    if scope.room != room {
        return Err(AddRefusal::OtherRoom { added: name(), claimed_for: scope.room.clone() });
    }
    if scope.requester != committer_domain {
        return Err(AddRefusal::OtherRequester {
            added: name(),
            requester: scope.requester.clone(),
            committer: committer_domain.to_owned(),
        });
    }
    if claim.used {
        return Err(AddRefusal::AlreadyUsed { added: name() });
    }
    if domain == hub && owner != Some(added.as_str()) {
        return Err(AddRefusal::NotInDirectory { added: name() });
    }
    Ok(true)
}

/// Checks every Add by value (in a commit or a proposal bundle) of a handshake of `room_id` per
/// [`add_is_vouched`], with the claims (and, for the hub's own clients, the directory) looked up
/// in `facts`; `committer`: the handshake's sender. Returns the KeyPackageRefs whose claims the
/// handshake uses (to be marked used when it is accepted), or the first refusal. An Add by
/// reference was checked, and its claim used, when the hub accepted the proposal.
pub async fn vouch_adds<F: HubFacts>(
    crypto: &impl OpenMlsCrypto,
    facts: &F,
    room_id: &str,
    committer: &ClientUri,
    accepted: &Accepted,
) -> Ruling<Vec<Vec<u8>>, AddRefusal, F::Error> {
    let queued: Vec<&QueuedProposal> = match accepted {
        Accepted::Commit { staged, .. } => staged.queued_proposals().collect(),
        Accepted::Proposals(queued) => queued.iter().collect(),
        Accepted::Application => Vec::new(),
    };
    let hub = hub_of(room_id);
    let mut used = Vec::new();
    for proposal in queued {
        let Proposal::Add(add) = proposal.proposal() else { continue };
        if proposal.proposal_or_ref_type() == ProposalOrRefType::Reference {
            continue;
        }
        let key_package = add.key_package();
        let Ok(added) = mimi_appsync::adapter::client_of(key_package.leaf_node().credential(), &|| "Add".into()) else {
            return Ok(Err(AddRefusal::NotClaimed { added: "a KeyPackage naming no client".into() }));
        };
        // The KeyPackage was validated with the handshake: hashing it can only fail in the
        // crypto library.
        let reference = key_package.hash_ref(crypto).map_err(|e| Internal::new("KeyPackageRef of an Add", e))?;
        let claim = facts.key_package_claim(reference.as_slice()).await.map_err(Fault::Facts)?;
        let owner = match hub {
            Some(hub) if added.domain() == hub => {
                facts.key_package_owner(reference.as_slice()).await.map_err(Fault::Facts)?
            }
            _ => None,
        };
        match add_is_vouched(room_id, committer.domain(), &added, claim.as_ref(), owner.as_deref()) {
            Ok(true) => used.push(reference.as_slice().to_vec()),
            Ok(false) => {}
            Err(refusal) => {
                tracing::info!(room = room_id, committer = %committer, added = %added, %refusal, "Add refused");
                return Ok(Err(refusal));
            }
        }
    }
    Ok(Ok(used))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::admission::memory::{MemoryFacts, TestRoom};
    use crate::hub::admission::ClaimScope;

    fn claim(provider: &str, room: &str, requester: &str, used: bool) -> KeyPackageClaim {
        KeyPackageClaim {
            scope: ClaimScope { provider: provider.into(), room: room.into(), requester: requester.into() },
            used,
        }
    }

    #[test]
    fn adds_need_an_unused_claim_through_the_hub_for_this_room_by_the_committers_provider() {
        let cathy = ClientUri::parse("mimi://c.example/d/cathy/phone").unwrap();
        let alice = ClientUri::parse("mimi://a.example/d/alice/phone").unwrap();
        let (r1, r2) = ("mimi://a.example/r/one", "mimi://a.example/r/two");
        // b adds c's Cathy at hub a in r1: only with a claim a relayed to c for r1, asked by b.
        let ok = claim("c.example", r1, "b.example", false);
        assert_eq!(add_is_vouched(r1, "b.example", &cathy, Some(&ok), None), Ok(true));
        assert!(matches!(add_is_vouched(r1, "b.example", &cathy, None, None), Err(AddRefusal::NotClaimed { .. })));
        let refused = |c: KeyPackageClaim| add_is_vouched(r1, "b.example", &cathy, Some(&c), None).unwrap_err();
        assert!(matches!(refused(claim("b.example", r1, "b.example", false)), AddRefusal::OtherProvider { .. }));
        // Claimed for r2, used in r1.
        assert!(matches!(refused(claim("c.example", r2, "b.example", false)), AddRefusal::OtherRoom { .. }));
        // Claimed by d for r1, used by b.
        assert!(matches!(refused(claim("c.example", r1, "d.example", false)), AddRefusal::OtherRequester { .. }));
        // Used once already.
        assert!(matches!(refused(claim("c.example", r1, "b.example", true)), AddRefusal::AlreadyUsed { .. }));
        // b adds a's Alice: a claim a served from its own directory to b for r1, of a KeyPackage
        // Alice's phone uploaded.
        let served = claim("a.example", r1, "b.example", false);
        let phone = Some(alice.as_str());
        assert_eq!(add_is_vouched(r1, "b.example", &alice, Some(&served), phone), Ok(true));
        assert!(add_is_vouched(r1, "b.example", &alice, None, phone).is_err());
        assert!(add_is_vouched(r2, "b.example", &alice, Some(&served), phone).is_err());
        // Claimed, but not that client's upload (made up, or another device's).
        for owner in [None, Some("mimi://a.example/d/alice/pc")] {
            assert_eq!(
                add_is_vouched(r1, "b.example", &alice, Some(&served), owner),
                Err(AddRefusal::NotInDirectory { added: alice.as_str().into() })
            );
        }
        // A follower's own users (served by it) need no claim here, and use none.
        assert_eq!(add_is_vouched(r1, "c.example", &cathy, None, None), Ok(false));
        // The hub's own users always do, even when the hub's own client adds them.
        let local = claim("a.example", r1, "a.example", false);
        assert!(matches!(add_is_vouched(r1, "a.example", &alice, None, phone), Err(AddRefusal::NotClaimed { .. })));
        assert_eq!(add_is_vouched(r1, "a.example", &alice, Some(&local), phone), Ok(true));
        assert!(matches!(
            add_is_vouched(r1, "a.example", &alice, Some(&local), None),
            Err(AddRefusal::NotInDirectory { .. })
        ));
        // The hub's client adds c's Cathy: claimed a → c for r1 by a.
        assert_eq!(
            add_is_vouched(r1, "a.example", &cathy, Some(&claim("c.example", r1, "a.example", false)), None),
            Ok(true)
        );
        assert!(add_is_vouched(r1, "a.example", &cathy, None, None).is_err());
        // The refusal names the reason (the hub's notAllowed description).
        let text = refused(claim("c.example", r2, "b.example", false)).to_string();
        assert!(text.contains(r2) && text.contains("not for this room"), "{text}");
        assert!(AddRefusal::NotClaimed { added: cathy.as_str().into() }
            .to_string()
            .contains("not claimed through the hub"));
    }

    #[tokio::test]
    async fn the_adds_of_a_real_commit_are_vouched_by_the_recorded_claims() {
        let mut t = TestRoom::new();
        let cathy = t.client("c.example", "cathy", "phone");
        let alice_local = t.client("a.example", "alice", "pc");
        let decided = t.decide_adds(&[&cathy, &alice_local]);
        let (accepted, refs) = (&decided.accepted, &decided.refs);
        let (cathy_ref, local_ref) = (refs[0].clone(), refs[1].clone());
        let alice = t.alice_uri();
        let room = t.room.id().to_owned();
        let vouch = async |facts: &MemoryFacts| vouch_adds(&t.crypto, facts, &room, &alice, accepted).await.unwrap();

        // Cathy's KeyPackage was not claimed through the hub: refused; nor was Alice's pc's.
        let mut facts = MemoryFacts::default();
        assert!(matches!(vouch(&facts).await, Err(AddRefusal::NotClaimed { added }) if added == cathy.uri.as_str()));
        facts.claims.insert(cathy_ref.clone(), claim("c.example", &room, "a.example", false));
        assert!(
            matches!(vouch(&facts).await, Err(AddRefusal::NotClaimed { added }) if added == alice_local.uri.as_str())
        );
        // Claimed from the directory, but the pc never uploaded it (a KeyPackage made up for it).
        facts.claims.insert(local_ref.clone(), claim("a.example", &room, "a.example", false));
        assert!(matches!(vouch(&facts).await, Err(AddRefusal::NotInDirectory { .. })));
        // Claimed a → c for this room, and the pc's own upload claimed for it: both claims spent.
        facts.owners.insert(local_ref.clone(), alice_local.uri.as_str().to_owned());
        let before = facts.lookups();
        assert_eq!(vouch(&facts).await, Ok(vec![cathy_ref.clone(), local_ref.clone()]));
        assert_eq!(facts.lookups() - before, 3, "a claim per Add, and the directory for the hub's own client");
        assert!(!refs.contains(&Vec::new()) && local_ref != cathy_ref);
        // Spent already, or claimed for another room: refused.
        facts.claims.insert(cathy_ref.clone(), claim("c.example", &room, "a.example", true));
        assert!(matches!(vouch(&facts).await, Err(AddRefusal::AlreadyUsed { .. })));
        facts.claims.insert(cathy_ref.clone(), claim("c.example", "mimi://a.example/r/other", "a.example", false));
        assert!(matches!(vouch(&facts).await, Err(AddRefusal::OtherRoom { .. })));
        // A failing lookup is a fault, not a refusal.
        facts.fail = true;
        assert!(matches!(vouch_adds(&t.crypto, &facts, &room, &alice, accepted).await, Err(Fault::Facts(_))));
        // Application messages add nobody.
        facts.fail = false;
        assert_eq!(vouch_adds(&t.crypto, &facts, &room, &alice, &Accepted::Application).await.unwrap(), Ok(Vec::new()));
    }
}
