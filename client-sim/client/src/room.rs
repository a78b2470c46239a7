//! [`Room`]: what a client keeps of one room it is in: the MLS group, the cursor over the room
//! log, its own submissions whose log position is not known yet, and the transcript.
//!
//! A page of the log ([`Room::apply`]) is processed in hub order, each entry once. The provider
//! leaves the client's own submissions out of what it returns, but the cursor still moves over
//! them, so every skipped log position is one of the client's own accepted submissions, in
//! submission order ([`Own`]): that is where an own commit is merged and an own message takes its
//! place in the transcript (see [`crate::inbox`]).

use std::collections::{BTreeMap, VecDeque};

use mimi_appsync::uri::ClientUri;
use mimi_protocol::client_api::{RoomEntries, RoomEntry};
use openmls::prelude::*;

use crate::error::ClientError;
use crate::inbox::{fanout_messages, process_incoming, Incoming};
use crate::messages::Delivered;

/// An own submission not yet located in the room log.
#[derive(Debug)]
pub(crate) enum Own {
    /// A commit: pending in the group until its log position is reached (already merged for an
    /// external join).
    Commit {
        /// Whether it is merged already.
        merged: bool,
        /// Whether its answer was lost.
        in_doubt: bool,
    },
    /// An application message and its plaintext.
    Message {
        /// The plaintext, for the transcript.
        content: Vec<u8>,
        /// The epoch it was encrypted in.
        epoch: u64,
        /// Whether its answer was lost.
        in_doubt: bool,
    },
    /// Proposals (one bundle, one log position), already in the group's proposal store.
    Proposals {
        /// Whether its answer was lost.
        in_doubt: bool,
    },
}

impl Own {
    fn in_doubt(&self) -> bool {
        match self {
            Own::Commit { in_doubt, .. } | Own::Message { in_doubt, .. } | Own::Proposals { in_doubt } => *in_doubt,
        }
    }
}

/// A room the client is in.
pub(crate) struct Room {
    /// The MLS group.
    pub(crate) group: MlsGroup,
    /// The last log position processed.
    pub(crate) cursor: u64,
    /// Entries of epochs before this one predate the client's membership and are skipped.
    pub(crate) joined_epoch: u64,
    /// Own accepted (or in-doubt) submissions whose log position has not been reached yet.
    pub(crate) own: VecDeque<Own>,
    /// Application messages, in hub order.
    pub(crate) transcript: Vec<Delivered>,
    /// The provider refused to show the log (403): the client is no longer in the room, even if
    /// it has not seen the commit that removed it.
    pub(crate) evicted: bool,
}

/// Result of applying one page of the log.
pub(crate) struct Page {
    /// Log positions examined.
    pub(crate) advanced: u64,
}

impl Room {
    pub(crate) fn new(group: MlsGroup, cursor: u64) -> Room {
        let joined_epoch = group.epoch().as_u64();
        Room { group, cursor, joined_epoch, own: VecDeque::new(), transcript: Vec::new(), evicted: false }
    }

    fn inbox_error(id: &str, why: String) -> ClientError {
        ClientError::Inbox { room: id.to_owned(), why }
    }

    /// Applies one `RoomEntries` answer: entries and the own positions between them.
    pub(crate) fn apply<P: OpenMlsProvider>(
        &mut self,
        id: &str,
        me: &ClientUri,
        provider: &P,
        page: RoomEntries,
    ) -> Result<Page, ClientError> {
        let start = self.cursor;
        for entry in page.entries {
            if entry.seq <= self.cursor {
                return Err(Self::inbox_error(id, format!("entry {} repeated (cursor {})", entry.seq, self.cursor)));
            }
            for seq in self.cursor + 1..entry.seq {
                self.own_at(id, me, provider, seq)?;
            }
            self.process(id, provider, entry)?;
        }
        for seq in self.cursor + 1..=page.next_after {
            self.own_at(id, me, provider, seq)?;
        }
        Ok(Page { advanced: self.cursor - start })
    }

    /// Log position `seq` was left out as the client's own: it is the oldest outstanding own
    /// submission.
    fn own_at<P: OpenMlsProvider>(
        &mut self,
        id: &str,
        me: &ClientUri,
        provider: &P,
        seq: u64,
    ) -> Result<(), ClientError> {
        let own = self.own.pop_front().ok_or_else(|| {
            Self::inbox_error(
                id,
                format!("log position {seq} was left out as ours, but nothing of ours is outstanding"),
            )
        })?;
        match own {
            Own::Commit { merged: false, .. } => {
                self.group.merge_pending_commit(provider).map_err(|e| ClientError::mls("merge own commit", e))?;
            }
            Own::Commit { merged: true, .. } => {}
            Own::Message { content, epoch, .. } => {
                self.transcript.push(Delivered { seq, sender: me.clone(), epoch, content })
            }
            Own::Proposals { .. } => {}
        }
        self.cursor = seq;
        Ok(())
    }

    /// Processes another client's (or the hub's) entry.
    fn process<P: OpenMlsProvider>(&mut self, id: &str, provider: &P, entry: RoomEntry) -> Result<(), ClientError> {
        self.cursor = entry.seq;
        if !self.group.is_active() || entry.epoch < self.joined_epoch {
            return Ok(());
        }
        let epoch = self.group.epoch().as_u64();
        if entry.epoch != epoch {
            return Err(Self::inbox_error(
                id,
                format!("entry {} is of epoch {} but the group is at {epoch}", entry.seq, entry.epoch),
            ));
        }
        let seq = entry.seq;
        for message in fanout_messages(entry.fanout) {
            self.process_one(id, provider, seq, entry.epoch, message)?;
        }
        Ok(())
    }

    /// Processes one MLS message of the entry at `seq` (of `epoch`).
    fn process_one<P: OpenMlsProvider>(
        &mut self,
        id: &str,
        provider: &P,
        seq: u64,
        epoch: u64,
        message: MlsMessageIn,
    ) -> Result<(), ClientError> {
        let message =
            message.try_into_protocol_message().map_err(|e| Self::inbox_error(id, format!("entry {seq}: {e:?}")))?;
        match process_incoming(&mut self.group, provider, message)? {
            Incoming::Application { credential, content } => {
                let sender = mimi_appsync::adapter::client_of(&credential, &|| format!("sender of {seq}"))?;
                self.transcript.push(Delivered { seq, sender, epoch, content });
            }
            Incoming::Proposal => {}
            Incoming::Commit { dropped_pending } => {
                // Another commit won the epoch: a pending commit of ours (only possible if in
                // doubt) lost.
                if dropped_pending && matches!(self.own.back(), Some(Own::Commit { merged: false, in_doubt: true })) {
                    self.own.pop_back();
                }
            }
            Incoming::Other(other) => {
                return Err(Self::inbox_error(id, format!("entry {seq}: unexpected {other:?}")));
            }
        }
        Ok(())
    }

    /// Forgets own proposals the hub did not accept.
    pub(crate) fn clear_proposals<P: OpenMlsProvider>(&mut self, provider: &P) -> Result<(), ClientError> {
        self.group
            .clear_pending_proposals(provider.storage())
            .map_err(|e| ClientError::mls("clear pending proposals", e))
    }

    pub(crate) fn clear_pending<P: OpenMlsProvider>(&mut self, provider: &P) -> Result<(), ClientError> {
        self.group.clear_pending_commit(provider.storage()).map_err(|e| ClientError::mls("clear pending commit", e))
    }

    /// At the log's head: in-doubt submissions still outstanding were not accepted; an
    /// acknowledged one still outstanding is an error (the hub lost it).
    pub(crate) fn settle_at_head<P: OpenMlsProvider>(&mut self, id: &str, provider: &P) -> Result<(), ClientError> {
        while self.own.back().is_some_and(Own::in_doubt) {
            match self.own.pop_back() {
                Some(Own::Commit { merged: false, .. }) => self.clear_pending(provider)?,
                Some(Own::Proposals { .. }) => self.clear_proposals(provider)?,
                _ => {}
            }
        }
        if !self.own.is_empty() {
            return Err(Self::inbox_error(
                id,
                format!(
                    "{} acknowledged submission(s) missing from the log at position {}",
                    self.own.len(),
                    self.cursor
                ),
            ));
        }
        Ok(())
    }
}

/// The state of `room_id` if the client is still in it (an active group it was not evicted
/// from): what every operation that encrypts or commits in the room needs.
pub(crate) fn member_room<'a>(
    rooms: &'a mut BTreeMap<String, Room>,
    room_id: &str,
) -> Result<&'a mut Room, ClientError> {
    match rooms.get_mut(room_id) {
        Some(room) if room.group.is_active() && !room.evicted => Ok(room),
        _ => Err(ClientError::NotInRoom(room_id.to_owned())),
    }
}
