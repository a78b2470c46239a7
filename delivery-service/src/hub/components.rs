//! What mls-extensions-10 component negotiation asks of the hub: every leaf that enters or
//! changes in a room supports the components the room requires, and, in a room that frames its
//! authenticated data as Safe AAD, every application message's `authenticated_data` is exactly
//! one `SafeAAD`.
//!
//! The rules themselves are `mimi_protocol::components_list::check_leaf` and
//! `mimi_protocol::safe_aad::check_framing` (which our clients apply too); this module finds the
//! leaves a handshake brings (the KeyPackage leaf of each Add, the leaf of each Update, a commit's
//! path leaf, a member's or an external joiner's) and judges them against the GroupContext they
//! will live in. A room whose GroupContext names neither list (a room created by a peer that does
//! not advertise them) requires nothing, so such peers keep working in their rooms.

use mimi_appsync::adapter::client_of;
use mimi_protocol::components_list::{check_leaf, LeafComponentsError};
use openmls::prelude::*;

/// Why the hub refuses a handshake for its leaves' components; answered as `notAllowed` with this
/// text as `errorDescription`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{what} of {client}: {why}")]
pub struct ComponentsRefusal {
    /// Which leaf: "the Add", "the Update", "the commit's path leaf".
    pub what: &'static str,
    /// The client its credential names (the raw identity if it names none).
    pub client: String,
    /// What is missing or malformed (boxed: a decoding error is large).
    pub why: Box<LeafComponentsError>,
}

/// A leaf of a room with these GroupContext extensions (`what` names it in the refusal).
pub fn judge(context: &Extensions<GroupContext>, what: &'static str, leaf: &LeafNode) -> Result<(), ComponentsRefusal> {
    check_leaf(context, leaf).map_err(|why| {
        let client = client_of(leaf.credential(), &|| "leaf".into())
            .map(|c| c.to_string())
            .unwrap_or_else(|_| String::from_utf8_lossy(leaf.credential().serialized_content()).into_owned());
        ComponentsRefusal { what, client, why: Box::new(why) }
    })
}

/// The leaf a standalone Add or Update proposal brings, judged against the room as it is.
pub fn check_proposal(group: &PublicGroup, proposal: &QueuedProposal) -> Result<(), ComponentsRefusal> {
    let context = group.group_context().extensions();
    match proposal.proposal() {
        Proposal::Add(add) => judge(context, "the Add", add.key_package().leaf_node()),
        Proposal::Update(update) => judge(context, "the Update", update.leaf_node()),
        _ => Ok(()),
    }
}

/// Every leaf a commit brings (its Adds, its Updates, its path leaf), judged against the
/// GroupContext after the commit.
pub fn check_commit(staged: &StagedCommit) -> Result<(), ComponentsRefusal> {
    let context = staged.group_context().extensions();
    for add in staged.add_proposals() {
        judge(context, "the Add", add.add_proposal().key_package().leaf_node())?;
    }
    for update in staged.update_proposals() {
        judge(context, "the Update", update.update_proposal().leaf_node())?;
    }
    match staged.update_path_leaf_node() {
        Some(leaf) => judge(context, "the commit's path leaf", leaf),
        None => Ok(()),
    }
}

/// Whether a PrivateMessage's `authenticated_data` is framed as the room requires (module docs);
/// the reason if not.
pub fn check_aad(group: &PublicGroup, authenticated_data: &[u8]) -> Result<(), String> {
    mimi_protocol::safe_aad::check_framing(group.group_context().extensions(), authenticated_data)
        .map(drop)
        .map_err(|e| format!("the room frames authenticated data as one SafeAAD: {e}"))
}
