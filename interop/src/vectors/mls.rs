//! The MLS objects embedded in the wire vectors, made by real openmls groups on a
//! [`SeededProvider`](super::deterministic::SeededProvider), so every run yields the same bytes.
//!
//! Alice (`mimi://a.example/d/alice/1`) creates a group with `MIXED_PLAINTEXT_WIRE_FORMAT_POLICY` (so the hub can validate handshakes)
//! and adds Bob (`mimi://b.example/d/bob/1`); the commit, the Welcome, the new epoch's GroupInfo and ratchet
//! tree, an application message and two standalone proposals (a Remove and an Update) with their
//! ProposalRefs follow. The hub (`mimi://a.example`) has its own signature key for franking and GroupInfo
//! responses, and a requester has an HPKE key pair for the GroupInfo encryption.

use mimi_protocol::mls_message::reparse;
use openmls::ciphersuite::hash_ref::ProposalRef;
use openmls::messages::group_info::VerifiableGroupInfo;
use openmls::prelude::tls_codec::{Deserialize, Serialize};
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_traits::crypto::OpenMlsCrypto;
use openmls_traits::types::HpkeKeyPair;
use openmls_traits::OpenMlsProvider;

use super::deterministic::SeededProvider;
use crate::Error;

/// The ciphersuite of every vector (0x0001, the one every MIMI client must support).
pub const CS: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;

/// The seed of the provider that makes every MLS object in the vectors.
pub const SEED: [u8; 32] = *b"mimi-interop vectors, seed no. 1";

/// The second seed, of Bob's own provider (his KeyPackage's private keys stay there, so he can join).
pub const BOB_SEED: [u8; 32] = *b"mimi-interop vectors, seed no. 2";

/// Every leaf's lifetime: 2023-11-14T22:13:20Z to 2036-01-01T00:00:00Z. Fixed, so that the bytes do not
/// depend on the clock (openmls' default is "now" plus a margin); valid for years.
pub fn lifetime() -> Lifetime {
    Lifetime::init(1_700_000_000, 2_082_758_400)
}

/// The objects (see the module docs).
pub struct MlsObjects {
    /// The provider they were made with (its stream continues for later signatures and HPKE).
    pub provider: SeededProvider,
    /// Bob's provider, holding the private keys of his KeyPackage.
    pub bob_provider: SeededProvider,
    /// Alice's signer.
    pub alice_signer: SignatureKeyPair,
    /// Alice's credential.
    pub alice_credential: Credential,
    /// Alice's signature key.
    pub alice_key: SignaturePublicKey,
    /// The hub's signer (franking and GroupInfo responses).
    pub hub_signer: SignatureKeyPair,
    /// The hub's credential (`mimi://a.example`).
    pub hub_credential: Credential,
    /// The hub's signature key.
    pub hub_key: SignaturePublicKey,
    /// Bob's KeyPackage (bare).
    pub key_package: KeyPackageIn,
    /// The commit adding Bob (a PublicMessage).
    pub commit: MlsMessageIn,
    /// The Welcome for Bob (bare).
    pub welcome: Welcome,
    /// The Welcome as an MLSMessage.
    pub welcome_message: MlsMessageIn,
    /// The GroupInfo of epoch 1 (bare, without the tree).
    pub group_info: VerifiableGroupInfo,
    /// The ratchet tree of epoch 1.
    pub ratchet_tree: RatchetTreeIn,
    /// An application message of epoch 1 (a PrivateMessage).
    pub application: MlsMessageIn,
    /// Standalone proposals of epoch 1 (PublicMessages): Remove of Bob, Update by Alice.
    pub proposals: Vec<MlsMessageIn>,
    /// Their ProposalRefs.
    pub proposal_refs: Vec<ProposalRef>,
    /// Capabilities of a client, for `nothingCompatible`.
    pub capabilities: Capabilities,
    /// The requester's HPKE key pair for GroupInfo encryption.
    pub group_info_keys: HpkeKeyPair,
}

fn failed(what: &str) -> impl Fn(String) -> Error + '_ {
    move |e| Error::Generate(format!("{what}: {e}"))
}

fn client(provider: &SeededProvider, identity: &str) -> Result<(SignatureKeyPair, CredentialWithKey), Error> {
    let signer = provider.signer(CS.signature_algorithm())?;
    let credential = CredentialWithKey {
        credential: BasicCredential::new(identity.as_bytes().to_vec()).into(),
        signature_key: signer.to_public_vec().into(),
    };
    Ok((signer, credential))
}

impl MlsObjects {
    /// Builds every object from [`SEED`].
    pub fn build() -> Result<Self, Error> {
        let provider = SeededProvider::new(SEED);
        let (alice_signer, alice) = client(&provider, "mimi://a.example/d/alice/1")?;
        let bob_provider = SeededProvider::new(BOB_SEED);
        let (bob_signer, bob) = client(&bob_provider, "mimi://b.example/d/bob/1")?;
        let (hub_signer, hub) = client(&provider, "mimi://a.example")?;

        let bob_kp = KeyPackage::builder()
            .key_package_lifetime(lifetime())
            .build(CS, &bob_provider, &bob_signer, bob)
            .map_err(|e| failed("key package")(e.to_string()))?;
        let kp_bytes =
            bob_kp.key_package().tls_serialize_detached().map_err(|e| failed("key package")(e.to_string()))?;
        let key_package =
            KeyPackageIn::tls_deserialize_exact(kp_bytes).map_err(|e| failed("key package")(e.to_string()))?;

        let mut group = MlsGroup::builder()
            .ciphersuite(CS)
            .with_wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
            .use_ratchet_tree_extension(false)
            .lifetime(lifetime())
            .build(&provider, &alice_signer, alice.clone())
            .map_err(|e| failed("group")(e.to_string()))?;
        let (commit, welcome_out, _) = group
            .add_members(&provider, &alice_signer, &[bob_kp.key_package().clone()])
            .map_err(|e| failed("add")(e.to_string()))?;
        group.merge_pending_commit(&provider).map_err(|e| failed("merge")(e.to_string()))?;
        let welcome_message = reparse(&welcome_out)?;
        let MlsMessageBodyIn::Welcome(welcome) = welcome_message.clone().extract() else {
            return Err(Error::Generate("add_members returned no Welcome".into()));
        };
        let group_info_out = group
            .export_group_info(provider.crypto(), &alice_signer, false)
            .map_err(|e| failed("group info")(e.to_string()))?;
        let MlsMessageBodyIn::GroupInfo(group_info) = reparse(&group_info_out)?.extract() else {
            return Err(Error::Generate("export_group_info returned no GroupInfo".into()));
        };
        let tree_bytes =
            group.export_ratchet_tree().tls_serialize_detached().map_err(|e| failed("tree")(e.to_string()))?;
        let ratchet_tree =
            RatchetTreeIn::tls_deserialize_exact(tree_bytes).map_err(|e| failed("tree")(e.to_string()))?;
        let application = reparse(
            &group.create_message(&provider, &alice_signer, b"hello").map_err(|e| failed("message")(e.to_string()))?,
        )?;
        let (remove, remove_ref) = group
            .propose_remove_member(&provider, &alice_signer, LeafNodeIndex::new(1))
            .map_err(|e| failed("remove")(e.to_string()))?;
        let (update, update_ref) = group
            .propose_self_update(&provider, &alice_signer, LeafNodeParameters::default())
            .map_err(|e| failed("update")(e.to_string()))?;
        let group_info_keys = provider
            .crypto()
            .derive_hpke_keypair(CS.hpke_config(), b"mimi-interop GroupInfo requester")
            .map_err(|e| failed("hpke key")(e.to_string()))?;
        Ok(Self {
            alice_signer,
            alice_credential: alice.credential,
            alice_key: alice.signature_key,
            hub_signer,
            hub_credential: hub.credential,
            hub_key: hub.signature_key,
            key_package,
            commit: reparse(&commit)?,
            welcome,
            welcome_message,
            group_info,
            ratchet_tree,
            application,
            proposals: vec![reparse(&remove)?, reparse(&update)?],
            proposal_refs: vec![remove_ref, update_ref],
            capabilities: Capabilities::new(None, Some(&[CS]), None, None, None),
            group_info_keys,
            provider,
            bob_provider,
        })
    }
}
