//! The hub's identity checks (`hub.trust.*`, second part): a member of the room (the suite's bob,
//! relayed by the suite as his provider) sends validly signed handshakes that assert what the hub
//! must not believe, and each must be refused. They run last, on the room the other checks leave
//! behind: a hub that accepts one has moved its room where the suite's members did not follow.
//!
//! - `hub.trust.leaf-identity` (RFC 9420 §5.3.1: a new credential must be a valid successor of the
//!   old one): a commit whose path gives bob's leaf the credential of a client of the hub's domain,
//!   and the same as a standalone Update proposal.
//! - `hub.trust.welcome-matches-adds` (§5.3, the hub routes Welcomes by KeyPackageRef): an empty
//!   commit carrying a Welcome for a KeyPackage it does not add. Optional: the draft does not say
//!   the hub compares them; a hub that does not would queue Welcomes for strangers.
//! - `hub.trust.group-info-verified` (§5.3, §5.6: the hub hands the committed GroupInfo to external
//!   joiners): a commit carrying the current epoch's GroupInfo, or the new one with its signature
//!   broken. Optional for the same reason (RFC 9420 has joiners verify it).
//! - `hub.trust.external-join-listed` (room-policy-04 §5): an external commit by a client of a
//!   user who is neither a participant nor preauthorised, in a room without open join.
//! - `hub.trust.leaf-components` (mls-extensions-10, "Negotiating Extensions and Components"): in a
//!   room whose GroupContext requires `app_components`, a commit whose path leaf carries no
//!   `app_data_dictionary`, so supports none of them. Optional: -10 says what a GroupContext list
//!   means, not that the DS enforces it. Not applicable in a room that requires none.
//!
//! A refusal is any answer but `success`: a `notAllowed` (or another error outcome) or a 4xx.

use mimi_appsync::ops::UserOperation;
use mimi_appsync::uri::ClientUri;
use mimi_protocol::components_list::{required, APP_COMPONENTS_COMPONENT_ID};
use mimi_protocol::update::{HandshakeBundle, UpdateRoomOutcome, UpdateRoomResponse};
use mimi_testkit::attack::{self, GroupInfoEdit};
use mimi_testkit::client::TestClient;
use openmls::prelude::{Extensions, OpenMlsProvider as _};

use super::{decode_answer, shown, Hub, DEVICE, MALLORY};
use crate::suite::member::Member;
use crate::suite::net::Call;
use crate::suite::{Outcome, SuiteError};

/// The checks of this module, in the order they run.
pub const CHECKS: [&str; 5] = [
    "hub.trust.leaf-identity",
    "hub.trust.welcome-matches-adds",
    "hub.trust.group-info-verified",
    "hub.trust.external-join-listed",
    "hub.trust.leaf-components",
];

/// The suite's member that sends the handshakes (bob).
const BOB: usize = 0;

/// `None` if the hub refused `call`'s handshake, else why that fails the check.
fn accepted(call: &Call, what: &str) -> Option<Outcome> {
    match decode_answer::<UpdateRoomResponse>(call) {
        Ok(UpdateRoomResponse { outcome: UpdateRoomOutcome::Success { .. }, .. }) => Some(Outcome::fail_with(
            format!("{what} must be refused, but the hub answered success"),
            shown::<UpdateRoomResponse>(call),
        )),
        Ok(_) => None,
        Err(_) if call.answer.as_ref().is_ok_and(|a| (400..500).contains(&a.status)) => None,
        Err(e) => Some(Outcome::fail_with(format!("{what}: {e}"), call.exchange_text())),
    }
}

impl Hub {
    /// Runs the selected identity checks (module docs) in the room.
    pub(super) async fn identity_trust_checks(&mut self) -> Result<(), SuiteError> {
        if !self.run.selection.any(&CHECKS) {
            return Ok(());
        }
        let Some(room) = self.room.clone() else {
            self.not_applicable(&CHECKS, "our users are not in a room of this hub (see hub.notify.welcome)");
            return Ok(());
        };
        self.sync(&room)?;
        if !self.follower.lock().members[BOB].is_member() {
            self.not_applicable(&CHECKS, "the suite's bob is no longer in the room");
            return Ok(());
        }
        let hub = self.run.target.domain.clone();
        if self.selects(CHECKS[0]) {
            let outcome = self.leaf_identity(&room, &format!("mimi://{hub}/d/interop-alice/{DEVICE}")).await?;
            self.record(CHECKS[0], outcome);
        }
        if self.selects(CHECKS[1]) {
            let outcome = self.welcome_matches_adds(&room).await?;
            self.record(CHECKS[1], outcome);
        }
        if self.selects(CHECKS[2]) {
            let outcome = self.group_info_verified(&room).await?;
            self.record(CHECKS[2], outcome);
        }
        if self.selects(CHECKS[3]) {
            let outcome = self.external_join_listed(&room).await?;
            self.record(CHECKS[3], outcome);
        }
        if self.selects(CHECKS[4]) {
            let requires = self.follower.lock().members[BOB].group.as_ref().is_some_and(|group| {
                matches!(required(group.extensions(), APP_COMPONENTS_COMPONENT_ID), Ok(Some(ids)) if !ids.is_empty())
            });
            if requires {
                let outcome = self.leaf_components(&room).await?;
                self.record(CHECKS[4], outcome);
            } else {
                self.not_applicable(&CHECKS[4..], "the room's GroupContext requires no app_components");
            }
        }
        Ok(())
    }

    async fn leaf_components(&self, room: &str) -> Result<Outcome, SuiteError> {
        let bob = self.uri(BOB);
        let commit = attack::commit_with_leaf_extensions(&mut self.follower.lock().members[BOB], Extensions::empty())?;
        let call = self.try_commit(room, HandshakeBundle::from_commit(&commit)?).await?;
        let what = format!("a commit giving {bob}'s leaf no app_components in a room that requires them");
        Ok(accepted(&call, &what).unwrap_or(Outcome::Pass))
    }

    /// Submits bob's pending commit `bundle`, then drops it at bob whatever the answer.
    async fn try_commit(&self, room: &str, bundle: HandshakeBundle) -> Result<Call, SuiteError> {
        let call = self.post_update(room, bundle).await?;
        self.follower.lock().members[BOB].clear_pending()?;
        Ok(call)
    }

    async fn leaf_identity(&self, room: &str, impostor: &str) -> Result<Outcome, SuiteError> {
        let bob = self.uri(BOB);
        let commit = attack::commit_as(&mut self.follower.lock().members[BOB], impostor)?;
        let call = self.try_commit(room, HandshakeBundle::from_commit(&commit)?).await?;
        if let Some(failure) = accepted(&call, &format!("a commit turning {bob}'s leaf into {impostor}")) {
            return Ok(failure);
        }
        let update = attack::propose_update_as(&mut self.follower.lock().members[BOB], impostor)?;
        let call = self.post_update(room, HandshakeBundle::from_proposals(&[update])?).await?;
        {
            let mut follower = self.follower.lock();
            let bob: &mut TestClient = &mut follower.members[BOB];
            let TestClient { group, provider, .. } = bob;
            if let Some(group) = group.as_mut() {
                group.clear_pending_proposals(provider.storage()).map_err(|e| SuiteError::mls("proposals", e))?;
            }
        }
        Ok(accepted(&call, &format!("an Update proposal turning {bob}'s leaf into {impostor}"))
            .unwrap_or(Outcome::Pass))
    }

    async fn welcome_matches_adds(&self, room: &str) -> Result<Outcome, SuiteError> {
        // A KeyPackage of a client of the suite's own domain (its users need no claim through the
        // hub): the Welcome of a commit adding it, never sent, on an empty commit.
        let ours = self.ours();
        let ghost = Member::new(
            ClientUri::parse(&format!("mimi://{ours}/d/interop-ghost/{DEVICE}"))
                .map_err(|e| SuiteError::mls("URI", e))?,
        )?;
        let key_package = ghost.issue_key_package()?;
        let welcome = {
            let mut follower = self.follower.lock();
            let bob = &mut follower.members[BOB];
            let adding = bob.commit(mimi_appsync::ops::add_own_device(vec![key_package]))?.1;
            bob.clear_pending()?;
            adding.welcome().cloned()
        };
        let empty = self.commit(BOB, UserOperation::default())?;
        let call = self.try_commit(room, attack::with_welcome(&empty, welcome)?).await?;
        Ok(accepted(&call, "an empty commit carrying a Welcome for a KeyPackage it does not add")
            .unwrap_or(Outcome::Pass))
    }

    async fn group_info_verified(&self, room: &str) -> Result<Outcome, SuiteError> {
        let current = self.follower.lock().members[BOB].group_info()?;
        let commit = self.commit(BOB, UserOperation::default())?;
        self.follower.lock().members[BOB].clear_pending()?;
        let stale = attack::with_group_info(&commit, &current)?;
        let call = self.try_commit(room, stale).await?;
        if let Some(failure) = accepted(&call, "a commit carrying the current epoch's GroupInfo instead of the new one")
        {
            return Ok(failure);
        }
        let forged = attack::with_group_info_bytes(&commit, GroupInfoEdit::Signature)?;
        let call = self.try_commit(room, forged).await?;
        Ok(accepted(&call, "a commit carrying a GroupInfo whose signature does not verify").unwrap_or(Outcome::Pass))
    }

    async fn external_join_listed(&self, room: &str) -> Result<Outcome, SuiteError> {
        let ours = self.ours();
        let mallory = format!("mimi://{ours}/d/{MALLORY}/{DEVICE}");
        let mut joiner = Member::new(ClientUri::parse(&mallory).map_err(|e| SuiteError::mls("URI", e))?)?;
        let group_info = self.follower.lock().members[BOB].group_info()?;
        let join = joiner.join_by_external_commit(&group_info)?;
        let call = self.post_update(room, HandshakeBundle::from_commit(&join)?).await?;
        let what = format!("an external commit by {mallory}, whose user is neither listed nor preauthorised,");
        Ok(accepted(&call, &what).unwrap_or(Outcome::Pass))
    }
}
