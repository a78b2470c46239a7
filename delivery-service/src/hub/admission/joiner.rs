//! Who may join a room of this hub by external commit, as far as the joiner's identity goes: a
//! joiner whose client URI is of the hub's own domain must be one of the hub's registered devices
//! that is not revoked. This provider is the identity authority for its domain, so a credential
//! naming `mimi://<hub>/d/<user>/<device>` that it never registered (or revoked) is nobody's, however
//! validly it is signed; refused, the commit gets `notAllowed`. A joiner of another domain is
//! vouched for by the provider that submits it (see [`super::submit`]), and the room's policy
//! judges every joiner.

use mimi_appsync::uri::ClientUri;
use openmls::prelude::Proposal;

use super::submit::hub_of;
use super::{Fault, HubFacts, Ruling};
use crate::hub::Accepted;

/// Why the hub refuses an external commit's joiner.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinerRefusal {
    /// The joiner names a client of the hub's domain that is not a registered, unrevoked device.
    #[error("{joiner} is not a registered client of {hub}")]
    NotRegistered {
        /// The joiner's client URI.
        joiner: String,
        /// The hub's domain.
        hub: String,
    },
}

/// Whether an accepted handshake is an external commit (a commit with an ExternalInit proposal,
/// which only a new member's commit carries).
pub fn is_external_commit(accepted: &Accepted) -> bool {
    match accepted {
        Accepted::Commit { staged, .. } => {
            staged.queued_proposals().any(|p| matches!(p.proposal(), Proposal::ExternalInit(_)))
        }
        _ => false,
    }
}

/// The joiner rule (module docs) for the accepted handshake `accepted` of `room_id`, sent by
/// `sender`: admitted unless it is an external commit whose joiner is a client of the room's hub
/// that the facts do not know as registered and unrevoked.
pub async fn admit_joiner<F: HubFacts>(
    facts: &F,
    room_id: &str,
    sender: &ClientUri,
    accepted: &Accepted,
) -> Ruling<(), JoinerRefusal, F::Error> {
    let Some(hub) = hub_of(room_id) else { return Ok(Ok(())) };
    if sender.domain() != hub || !is_external_commit(accepted) {
        return Ok(Ok(()));
    }
    match facts.is_registered_client(sender.as_str()).await {
        Ok(true) => Ok(Ok(())),
        Ok(false) => Ok(Err(JoinerRefusal::NotRegistered { joiner: sender.to_string(), hub: hub.to_owned() })),
        Err(e) => Err(Fault::Facts(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::admission::memory::{MemoryFacts, TestRoom};

    #[tokio::test]
    async fn an_external_joiner_of_the_hubs_domain_must_be_registered_and_unrevoked() {
        let t = TestRoom::new();
        let room = t.room.id().to_owned();
        let mut ghost = t.client("a.example", "alice", "ghost");
        let join = t.external_join(&mut ghost);
        let decision = t.room.decide_update(&t.crypto, &join, 1);
        let (_, accepted) = decision.accepted.expect("the sequencer accepts the external commit");
        assert!(is_external_commit(&accepted));
        let mut facts = MemoryFacts::default();
        let refused = admit_joiner(&facts, &room, &ghost.uri, &accepted).await.unwrap();
        assert_eq!(
            refused,
            Err(JoinerRefusal::NotRegistered { joiner: ghost.uri.to_string(), hub: "a.example".into() })
        );
        assert_eq!(refused.unwrap_err().to_string(), format!("{} is not a registered client of a.example", ghost.uri));
        facts.registered.insert(ghost.uri.to_string());
        assert_eq!(admit_joiner(&facts, &room, &ghost.uri, &accepted).await.unwrap(), Ok(()));
        facts.fail = true;
        assert!(admit_joiner(&facts, &room, &ghost.uri, &accepted).await.is_err(), "a failed lookup decides nothing");

        // A joiner of another domain than the room's hub, and anything but an external commit,
        // are not looked up here.
        let facts = MemoryFacts::default();
        let elsewhere = "mimi://b.example/r/club";
        assert_eq!(admit_joiner(&facts, elsewhere, &ghost.uri, &accepted).await.unwrap(), Ok(()));
        assert_eq!(admit_joiner(&facts, &room, &ghost.uri, &Accepted::Application).await.unwrap(), Ok(()));
        assert_eq!(facts.lookups(), 0);
    }
}
