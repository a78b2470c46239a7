//! Standalone proposals: the check the hub runs on a proposal that arrives on its own (a
//! `PublicMessage` of content type proposal), before it stores and fans it out.
//!
//! A standalone proposal is only a request; many legitimate ones are authorized by what is
//! committed together with them: the Add of an invited user's client needs the participant-list
//! update listing that user, the Removes of a leaving user's clients need its removal from the
//! list. So [`evaluate_proposal`] refuses only what no commit could make valid, and the commit
//! that carries the proposal is still evaluated in full by [`super::evaluate`]:
//!
//! 1. a member whose user is banned or not listed may propose only its own departure: a
//!    SelfRemove or a Remove of its own leaf (protocol-06 §7; docs/DESIGN.md: removed or banned
//!    users' clients may only send Remove/SelfRemove); a client asking to join
//!    (`NewMemberProposal`) is refused if its user is banned;
//! 2. an AppDataUpdate must reduce validly on its own against the current dictionary, and the
//!    changes it makes must be authorized for its proposer as in a commit (participant-list
//!    changes, component capabilities);
//! 3. GroupContextExtensions and ReInit need the proposer's capability as in a commit;
//! 4. Add, Remove, Update and the ungoverned proposals pass (beyond rule 1).

use super::commit::{Actor, CommitDescription, ProposalKind, Proposed};
use super::{authorize, reduce_commit, Refusal, Rule};
use crate::state::RoomState;

/// Decides whether a standalone proposal may be stored and fanned out in the room whose current
/// state is `before` (see the module documentation for the rules).
pub fn evaluate_proposal(before: &RoomState, proposal: &Proposed<ProposalKind>) -> Result<(), Refusal> {
    let actor = &proposal.proposer;
    if let Actor::Member(client) | Actor::NewMember(client) = actor {
        let own_departure = matches!(actor, Actor::Member(_))
            && match &proposal.item {
                ProposalKind::SelfRemove => true,
                ProposalKind::Remove(target) => target == client,
                _ => false,
            };
        let role = before.role_of(&client.user());
        if !own_departure {
            if role.is_some_and(|r| authorize::is_banned(before, r)) {
                return Err(Refusal::new(Rule::ActorBanned).by(actor));
            }
            if role.is_none() && matches!(actor, Actor::Member(_)) {
                return Err(Refusal::new(Rule::NotAParticipant).by(actor));
            }
        }
    }
    let mut alone = CommitDescription::new(actor.clone());
    alone.push(actor.clone(), proposal.item.clone());
    let (reduction, after) = reduce_commit(before, &alone)?;
    authorize::participant_changes(before, &alone, &reduction)?;
    authorize::component_changes(before, &after, &alone, &reduction)?;
    authorize::other_proposals(before, &alone)
}
