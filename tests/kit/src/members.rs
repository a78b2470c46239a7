//! The real members of a test room, as a slice of clients a test owns: what happens at each of them once the hub has sequenced a handshake, so that
//! every harness (a `PublicGroup` mirror, the hub's `Room`, a whole provider) delivers it the same way.
//!
//! Delivery follows hub order: after the hub accepted a commit, every other active member processes it
//! (with the policy check a member runs, [`TestClient::process`]), the committer merges its pending
//! commit, and the clients the Welcome names join; an accepted standalone proposal is stored by every
//! other member.

use openmls::prelude::*;

use crate::client::{Incoming, TestClient};
use crate::error::KitError;
use crate::mirror::protocol_message;

/// Indices of the clients that are active members.
pub fn active(clients: &[TestClient]) -> Vec<usize> {
    (0..clients.len()).filter(|&i| clients[i].is_member()).collect()
}

/// Delivers a commit of `clients[from]` that the hub accepted, with its Welcome if it adds clients.
pub fn deliver_commit(
    clients: &mut [TestClient],
    from: usize,
    commit: &MlsMessageOut,
    welcome: Option<&Welcome>,
) -> Result<(), KitError> {
    let message = protocol_message(commit)?;
    for i in active(clients).into_iter().filter(|&i| i != from) {
        match clients[i].process(message.clone())? {
            Incoming::Commit { .. } => {}
            _ => return Err(KitError::Unexpected { what: "deliver commit", expected: "a commit" }),
        }
    }
    clients[from].merge_pending()?;
    if let Some(welcome) = welcome {
        for c in clients.iter_mut() {
            c.join_if_invited(welcome)?;
        }
    }
    Ok(())
}

/// Delivers a standalone proposal of `clients[from]` that the hub accepted: every other active member
/// stores it.
pub fn deliver_proposal(clients: &mut [TestClient], from: usize, proposal: &MlsMessageOut) -> Result<(), KitError> {
    let message = protocol_message(proposal)?;
    for i in active(clients).into_iter().filter(|&i| i != from) {
        match clients[i].process(message.clone())? {
            Incoming::Proposal => {}
            _ => return Err(KitError::Unexpected { what: "deliver proposal", expected: "a proposal" }),
        }
    }
    Ok(())
}
