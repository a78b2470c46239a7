//! How a ratchet tree travels next to a GroupInfo or Welcome that omits it, and the partial GroupInfo a
//! committer may send instead of a full one: draft-mahy-mls-ratchet-tree-options-03, referenced by
//! protocol-06 §5.3, §5.5 and §5.6.

use openmls::prelude::{Extension, RatchetTreeIn};
use tls_codec::{TlsDeserialize, TlsSerialize, TlsSize, VLBytes};

/// `enum { reserved(0), full(1), httpsUri(2), outOfBand(3), distributionService(4), (255) }
/// RatchetTreeRepresentation;` (ratchet-tree-options-03).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, TlsSerialize, TlsDeserialize, TlsSize)]
#[repr(u8)]
pub enum RatchetTreeRepresentation {
    /// The whole tree is included.
    Full = 1,
    /// The tree can be fetched from an HTTPS URL.
    HttpsUri = 2,
    /// The receiver already has the tree by other means.
    OutOfBand = 3,
    /// The distribution service (the hub) rebuilds the tree from the handshakes it saw.
    DistributionService = 4,
}

/// `RatchetTreeOption` (ratchet-tree-options-03): the select on [`RatchetTreeRepresentation`].
///
/// For `full`, the draft writes `Node ratchet_tree<V>`; a tree with blank nodes needs the RFC 9420
/// `ratchet_tree` extension encoding `optional<Node> ratchet_tree<V>`, which is what openmls'
/// [`RatchetTreeIn`] is and what we use. The select names the `httpsUri(2)` case `httpsUrl`; same value.
#[derive(Debug, Clone, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
#[repr(u8)]
pub enum RatchetTreeOption {
    /// `full`: the tree itself.
    #[tls_codec(discriminant = "RatchetTreeRepresentation::Full")]
    Full {
        /// `ratchet_tree`: the nodes, as in the RFC 9420 `ratchet_tree` extension.
        ratchet_tree: RatchetTreeIn,
    },
    /// `httpsUri`: where to fetch it, and the signature over it.
    #[tls_codec(discriminant = "RatchetTreeRepresentation::HttpsUri")]
    HttpsUri {
        /// `ratchet_tree_url`: an HTTPS URL.
        ratchet_tree_url: VLBytes,
        /// `tree_signature`: signature over the tree, per ratchet-tree-options.
        tree_signature: VLBytes,
    },
    /// `outOfBand`: the receiver has the tree already.
    #[tls_codec(discriminant = "RatchetTreeRepresentation::OutOfBand")]
    OutOfBand {
        /// `tree_signature`: signature over the tree, per ratchet-tree-options.
        tree_signature: VLBytes,
    },
    /// `distributionService`: the hub provides the tree (only possible when every handshake was a
    /// PublicMessage, which this hub requires of every handshake).
    #[tls_codec(discriminant = "RatchetTreeRepresentation::DistributionService")]
    DistributionService,
}

impl RatchetTreeOption {
    /// The representation code this option is sent with.
    pub fn representation(&self) -> RatchetTreeRepresentation {
        match self {
            RatchetTreeOption::Full { .. } => RatchetTreeRepresentation::Full,
            RatchetTreeOption::HttpsUri { .. } => RatchetTreeRepresentation::HttpsUri,
            RatchetTreeOption::OutOfBand { .. } => RatchetTreeRepresentation::OutOfBand,
            RatchetTreeOption::DistributionService => RatchetTreeRepresentation::DistributionService,
        }
    }
}

/// `enum { no_ratchet_tree(0), present(1), removed(2), added(3), (255) } RatchetTreePresence;`
/// (ratchet-tree-options-03): whether the GroupInfo the committer signed carried a `ratchet_tree`
/// extension, so the hub can rebuild the exact signed GroupInfo from a [`PartialGroupInfo`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, TlsSerialize, TlsDeserialize, TlsSize)]
#[repr(u8)]
pub enum RatchetTreePresence {
    /// The signed GroupInfo had no `ratchet_tree` extension.
    NoRatchetTree = 0,
    /// It had one, as before this commit.
    Present = 1,
    /// The extension was removed by this commit.
    Removed = 2,
    /// The extension was added by this commit.
    Added = 3,
}

/// `PartialGroupInfo` (ratchet-tree-options-03): what the hub needs besides its own tracked state to
/// reconstruct the committer's signed GroupInfo.
#[derive(Debug, Clone, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct PartialGroupInfo {
    /// `ratchet_tree_presence`.
    pub ratchet_tree_presence: RatchetTreePresence,
    /// `group_info_extensions`: the GroupInfo extensions excluding `ratchet_tree`.
    pub group_info_extensions: Vec<Extension>,
    /// `signature`: the committer's signature over the full GroupInfo.
    pub signature: VLBytes,
}
