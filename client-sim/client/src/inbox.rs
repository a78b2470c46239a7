//! Reading what the provider has for a client: the room log and the Welcome queue.
//!
//! Each room has a cursor over its log. Entries are processed in hub order, each once: proposals
//! are stored, others' commits merged (resolving app-data commits with
//! `mimi_appsync::reducer::fill_updater`), application messages decrypted into the room's
//! [`Delivered`](crate::Delivered) transcript. The provider leaves the client's own submissions out
//! of what it returns, but the cursor still moves over them, so every skipped log position is one
//! of the client's own accepted submissions, in submission order: that is where an own commit is
//! merged and an own message takes its place in the transcript. A submission whose answer was lost
//! (the connection broke) is *in doubt*: the next catch-up reads the log to its head, and a
//! skipped position left for it means it was accepted; otherwise it was not (an in-doubt commit
//! is then cleared). A client submits one thing at a time and resolves doubt before the next
//! submission, which keeps that matching exact. Welcomes arrive in the client's queue; an
//! external joiner reads the log from its start and skips entries of epochs before its own.
//!
//! The free functions here ([`fanout_messages`], [`process_incoming`], [`join_from_welcome`]) do
//! not depend on the transport: the interop suite's own members, which receive fanout directly
//! as a follower would, use them too.

use std::time::Duration;

use mimi_appsync::group::join_config;
use mimi_protocol::notify::{FanoutFraming, FanoutMessage};
use openmls::prelude::*;

use crate::client::Client;
use crate::error::ClientError;
use crate::room::Room;

/// The MLS messages of one fanout, in order: its message, then a proposal bundle's further proposals.
pub fn fanout_messages(fanout: FanoutMessage) -> impl Iterator<Item = MlsMessageIn> {
    let more = match fanout.framing {
        FanoutFraming::Proposal { more_proposals } => more_proposals,
        _ => Vec::new(),
    };
    std::iter::once(fanout.message).chain(more)
}

/// What [`process_incoming`] did with another member's (or the hub's) message.
#[derive(Debug)]
pub enum Incoming {
    /// An application message: its sender's credential and the plaintext.
    Application {
        /// The sender's credential (its identity is the client URI).
        credential: Credential,
        /// The decrypted plaintext.
        content: Vec<u8>,
    },
    /// A proposal, now in the group's proposal store.
    Proposal,
    /// A commit, merged: the group is at the next epoch.
    Commit {
        /// Whether a pending commit of this client's own (which lost the epoch) was cleared first.
        dropped_pending: bool,
    },
    /// Anything else openmls made of the message, left untouched.
    Other(ProcessedMessageContent),
}

/// Processes one message of another member (or the hub) at the group's current epoch: proposals
/// are stored, commits merged (a pending own commit cleared first; app-data commits resolved with
/// `mimi_appsync::reducer::fill_updater`, the reducer the hub runs), application messages
/// decrypted once their authenticated data is framed as the room requires (one `SafeAAD` in a
/// room holding `safe_aad`, `mimi_protocol::safe_aad`; the rule the hub applies).
pub fn process_incoming<P: OpenMlsProvider>(
    group: &mut MlsGroup,
    provider: &P,
    message: ProtocolMessage,
) -> Result<Incoming, ClientError> {
    check_aad(group, &message)?;
    let processed = group.process_message(provider, message).map_err(|e| ClientError::mls("process", e))?;
    let credential = processed.credential().clone();
    let staged = match processed.into_content() {
        ProcessedMessageContent::ApplicationMessage(m) => {
            return Ok(Incoming::Application { credential, content: m.into_bytes() })
        }
        ProcessedMessageContent::ProposalMessage(q) | ProcessedMessageContent::ExternalJoinProposalMessage(q) => {
            group.store_pending_proposal(provider.storage(), *q).map_err(|e| ClientError::mls("store", e))?;
            return Ok(Incoming::Proposal);
        }
        ProcessedMessageContent::StagedCommitMessage(staged) => {
            let dropped_pending = drop_pending_commit(group, provider)?;
            group.merge_staged_commit(provider, *staged).map_err(|e| ClientError::mls("merge", e))?;
            return Ok(Incoming::Commit { dropped_pending });
        }
        ProcessedMessageContent::UnresolvedAppDataCommit(unresolved) => unresolved,
        other => return Ok(Incoming::Other(other)),
    };
    let dropped_pending = drop_pending_commit(group, provider)?;
    let mut updater = group.app_data_dictionary_updater();
    mimi_appsync::reducer::fill_updater(&mut updater, staged.app_data_update_proposals())?;
    let changes = updater.changes();
    let staged = group
        .stage_app_data_commit(provider, *staged, changes)
        .map_err(|e| ClientError::mls("stage app-data commit", e))?;
    group.merge_staged_commit(provider, staged).map_err(|e| ClientError::mls("merge", e))?;
    Ok(Incoming::Commit { dropped_pending })
}

/// Checks an application message's `authenticated_data` against the room's Safe AAD framing
/// (`mimi_protocol::safe_aad::check_framing`, the rule the hub applies at `submitMessage`): on
/// receipt, and before sending.
pub(crate) fn check_aad(group: &MlsGroup, message: &ProtocolMessage) -> Result<(), ClientError> {
    if let ProtocolMessage::PrivateMessage(private) = message {
        mimi_protocol::safe_aad::check_framing(group.extensions(), private.aad())
            .map_err(|source| ClientError::Wire { what: "authenticated_data".into(), source })?;
    }
    Ok(())
}

/// Clears the group's pending commit, if any; whether there was one.
fn drop_pending_commit<P: OpenMlsProvider>(group: &mut MlsGroup, provider: &P) -> Result<bool, ClientError> {
    if group.pending_commit().is_none() {
        return Ok(false);
    }
    group.clear_pending_commit(provider.storage()).map_err(|e| ClientError::mls("clear pending commit", e))?;
    Ok(true)
}

/// The group a Welcome joins (with the MIMI join settings of `mimi_appsync::group::join_config`).
pub fn join_from_welcome<P: OpenMlsProvider>(provider: &P, welcome: Welcome) -> Result<MlsGroup, ClientError> {
    StagedWelcome::build_from_welcome(provider, &join_config(), welcome)
        .map_err(|e| ClientError::mls("Welcome", e))?
        .build()
        .map_err(|e| ClientError::mls("Welcome", e))?
        .into_group(provider)
        .map_err(|e| ClientError::mls("Welcome", e))
}

impl<P: OpenMlsProvider> Client<P> {
    /// Reads one page of the room log (waiting up to `wait` for something new) and processes
    /// it. Returns the number of log positions examined.
    pub async fn sync(&mut self, room_id: &str, wait: Duration) -> Result<u64, ClientError> {
        let room = self.room(room_id)?;
        if room.evicted {
            return Ok(0);
        }
        let page = match self.session.read_log(room_id, room.cursor, wait).await {
            Ok(page) => page,
            Err(ClientError::Http { status: 403, .. }) => {
                if let Some(r) = self.rooms.get_mut(room_id) {
                    r.evicted = true;
                }
                return Ok(0);
            }
            Err(e) => return Err(e),
        };
        let Client { rooms, provider, session, .. } = self;
        let room = rooms.get_mut(room_id).ok_or_else(|| ClientError::NotInRoom(room_id.to_owned()))?;
        Ok(room.apply(room_id, session.client(), provider, page)?.advanced)
    }

    /// Syncs `room_id` (long-polling a second at a time, while a member) until `done` holds,
    /// for at most `timeout`: how a follower's client waits for the hub's asynchronous fanout.
    pub async fn sync_until(
        &mut self,
        room_id: &str,
        what: &str,
        timeout: Duration,
        done: impl Fn(&Client<P>) -> bool,
    ) -> Result<(), ClientError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if done(self) {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(self.timeout(what, timeout));
            }
            if self.is_member(room_id) {
                self.sync(room_id, Duration::from_secs(1)).await?;
            } else {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    /// Waits (at most `timeout`) until a Welcome into `room_id` has been accepted.
    pub async fn await_welcome(&mut self, room_id: &str, timeout: Duration) -> Result<(), ClientError> {
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.is_member(room_id) {
            if tokio::time::Instant::now() > deadline {
                return Err(self.timeout(&format!("a Welcome into {room_id}"), timeout));
            }
            self.accept_welcomes(Duration::from_secs(1)).await?;
        }
        Ok(())
    }

    fn timeout(&self, what: &str, after: Duration) -> ClientError {
        ClientError::Timeout { client: self.uri().to_string(), what: what.to_owned(), after }
    }

    /// Processes the room log up to its current head, then settles own submissions whose answer
    /// was lost (module docs).
    pub async fn catch_up(&mut self, room_id: &str) -> Result<(), ClientError> {
        while self.sync(room_id, Duration::ZERO).await? > 0 {}
        let Client { rooms, provider, .. } = self;
        let room = rooms.get_mut(room_id).ok_or_else(|| ClientError::NotInRoom(room_id.to_owned()))?;
        room.settle_at_head(room_id, provider)
    }

    /// Joins what waits in the client's queue, then catches up with every room it is in (what
    /// a device does when it comes online).
    pub async fn catch_up_all(&mut self) -> Result<(), ClientError> {
        self.accept_welcomes(Duration::ZERO).await?;
        let rooms: Vec<String> = self.rooms().filter(|r| self.is_member(r)).map(str::to_owned).collect();
        for room in rooms {
            self.catch_up(&room).await?;
        }
        Ok(())
    }

    /// Joins the rooms of the Welcomes in the client's queue (waiting up to `wait` for one).
    /// Returns the rooms joined.
    pub async fn accept_welcomes(&mut self, wait: Duration) -> Result<Vec<String>, ClientError> {
        let queue = self.session.read_queue(self.queue_cursor, wait).await?;
        let mut joined = Vec::new();
        for item in queue.items {
            let room_id = item.room.as_str().to_owned();
            if let Some(old) = self.rooms.get(&room_id) {
                // Still a member past the commit that added it: the Welcome is stale. A client
                // is never added while it is a member, so a Welcome from after the cursor means
                // it was removed (while offline, say) and added again: it replaces the old group.
                if old.group.is_active() && !old.evicted && item.after_seq <= old.cursor {
                    self.queue_cursor = item.seq;
                    continue;
                }
                // Re-invited after a removal: forget the old group.
                if let Some(mut old) = self.rooms.remove(&room_id) {
                    old.group.delete(self.provider.storage()).map_err(|e| ClientError::mls("delete group", e))?;
                }
            }
            let MlsMessageBodyIn::Welcome(welcome) = item.welcome.extract() else {
                return Err(ClientError::Protocol { what: "queue".into(), why: "item is not a Welcome".into() });
            };
            let group = join_from_welcome(&self.provider, welcome)?;
            self.rooms.insert(room_id.clone(), Room::new(group, item.after_seq));
            self.queue_cursor = item.seq;
            joined.push(room_id);
        }
        Ok(joined)
    }
}

#[cfg(test)]
mod tests {
    use mimi_appsync::presets::administered_roles::ORDINARY_USER;
    use mimi_testkit::prelude::{invite_all, ClientExt as _, Invitee, RoomSetup, TestClient, CS, DOMAIN};
    use openmls::framing::SafeAadItem;
    use openmls::prelude::MlsMessageIn;

    use super::{process_incoming, Incoming};

    /// Bob reads alice's messages in a room of ours (its GroupContext holds `safe_aad`): one whose
    /// authenticated data is not exactly one SafeAAD is refused before decryption.
    #[test]
    fn a_message_not_framed_as_the_room_requires_is_refused_on_receipt() {
        let hub = openmls_basic_credential::SignatureKeyPair::new(CS.signature_algorithm()).unwrap();
        let mut alice = TestClient::at(DOMAIN, "alice", "phone");
        alice.create_room(&RoomSetup::cooperative(DOMAIN, &hub.to_public_vec())).unwrap();
        let mut bob = TestClient::at(DOMAIN, "bob", "phone");
        let invitee = Invitee { uri: bob.uri.clone(), key_package: bob.key_package() };
        let commit = alice.commit(invite_all(&[invitee], ORDINARY_USER).unwrap());
        alice.merge();
        bob.join(commit.welcome().unwrap().clone());
        let receive = |bob: &mut TestClient, message: MlsMessageIn| {
            let (group, provider, _) = bob.parts();
            process_incoming(group, provider, message.try_into_protocol_message().unwrap())
        };

        // The -09 layout: an (empty) SafeAAD, then other bytes.
        alice.group().set_aad(b"tail".to_vec());
        let tail = alice.message(b"hi");
        let refused = receive(&mut bob, tail).unwrap_err();
        assert!(refused.to_string().starts_with("authenticated_data: SafeAAD: 4 trailing bytes"), "{refused}");
        // Exactly one SafeAAD: decrypted.
        alice.group().set_safe_aad(vec![SafeAadItem::new(0x8001, vec![1])]).unwrap();
        let framed = alice.message(b"hello");
        match receive(&mut bob, framed).unwrap() {
            Incoming::Application { content, .. } => assert_eq!(content, b"hello"),
            other => panic!("{other:?}"),
        }
    }
}
