//! GroupInfo for an external join: `POST /groupInfo/{roomId}` (protocol-06 §5.6), follower → hub.
//!
//! The requesting client signs a [`GroupInfoRequest`] (`SignWithLabel(requestingSignatureKey,
//! "GroupInfoRequestTBS", …)`) and supplies an HPKE public key. On success the hub encrypts a
//! [`GroupInfoRatchetTreeTBE`] — the GroupInfo, how to get the tree, and the proposals it accepted this
//! epoch — to that key (`EncryptWithLabel(groupInfoPublicKey, "GroupInfo and ratchet_tree encryption",
//! room_id, …)`) and signs the [`GroupInfoResponse`] with its external-sender key
//! (`SignWithLabel(hub_sender.signature_key, "GroupInfoResponseTBS", …)`). `cipher_suite` fixes the
//! signature and HPKE algorithms of both directions.
//!
//! Ambiguity in the draft: `GroupInfoRequestTBS` has `optional opaque joiningCode<V>` while
//! the request has a plain `opaque joiningCode<V>`. We keep both as written and map an empty joining code
//! on the wire to an absent one in the TBS. Whether `hub_sender` is really the room's external sender is
//! for the caller to check against the decrypted GroupInfo's `external_senders`.

use openmls::messages::group_info::VerifiableGroupInfo;
use openmls::prelude::{Ciphersuite, Credential, MlsMessageIn, SignaturePublicKey};
use openmls_traits::crypto::OpenMlsCrypto;
use openmls_traits::signatures::Signer;
use openmls_traits::types::HpkeCiphertext;
use tls_codec::{TlsDeserialize, TlsSerialize, TlsSize, VLBytes};

use super::labeled::{decrypt_with_label, encrypt_with_label, sign_with_label, verify_with_label};
use super::mls_message::require_public_proposals;
use super::ratchet_tree::RatchetTreeOption;
use super::{Body, Protocol, WireError};

/// Label of the request signature.
pub const GROUP_INFO_REQUEST_LABEL: &str = "GroupInfoRequestTBS";
/// Label of the response signature.
pub const GROUP_INFO_RESPONSE_LABEL: &str = "GroupInfoResponseTBS";
/// Label of the GroupInfo encryption.
pub const GROUP_INFO_ENCRYPTION_LABEL: &str = "GroupInfo and ratchet_tree encryption";

/// `GroupInfoRequestTBS` (protocol-06 §5.6): what the requester signs.
#[derive(Debug, Clone, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct GroupInfoRequestTBS {
    /// `protocol`: only `mls10`.
    pub protocol: Protocol,
    /// `cipher_suite`.
    pub cipher_suite: Ciphersuite,
    /// `requestingSignatureKey`.
    pub requesting_signature_key: SignaturePublicKey,
    /// `requestingCredential`.
    pub requesting_credential: Credential,
    /// `groupInfoPublicKey`.
    pub group_info_public_key: VLBytes,
    /// `joiningCode`: `optional opaque joiningCode<V>`; absent when the request's is empty.
    pub joining_code: Option<VLBytes>,
}

/// `GroupInfoRequest` (protocol-06 §5.6).
#[derive(Debug, Clone, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct GroupInfoRequest {
    /// `protocol`: only `mls10`; the remaining fields are its select arm.
    pub protocol: Protocol,
    /// `cipher_suite`: a suite shared with the hub; sets the signature and HPKE algorithms.
    pub cipher_suite: Ciphersuite,
    /// `requestingSignatureKey`: the key the signature verifies under (and the later external commit's).
    pub requesting_signature_key: SignaturePublicKey,
    /// `requestingCredential`: the requesting client's credential, correlated with its external commit.
    pub requesting_credential: Credential,
    /// `groupInfoPublicKey`: HPKE key the response is encrypted to.
    pub group_info_public_key: VLBytes,
    /// `joiningCode`: proof of permission for non-participants; empty if none.
    pub joining_code: VLBytes,
    /// `signature`: `SignWithLabel(requestingSignatureKey, "GroupInfoRequestTBS", GroupInfoRequestTBS)`.
    pub signature: VLBytes,
}

impl Body for GroupInfoRequest {
    const NAME: &'static str = "GroupInfoRequest";
}

impl GroupInfoRequest {
    /// Builds and signs a request.
    pub fn sign(
        cipher_suite: Ciphersuite,
        requesting_credential: Credential,
        requesting_signature_key: SignaturePublicKey,
        group_info_public_key: VLBytes,
        joining_code: VLBytes,
        signer: &impl Signer,
    ) -> Result<Self, WireError> {
        let mut request = Self {
            protocol: Protocol::Mls10,
            cipher_suite,
            requesting_signature_key,
            requesting_credential,
            group_info_public_key,
            joining_code,
            signature: VLBytes::new(vec![]),
        };
        request.signature = sign_with_label(signer, GROUP_INFO_REQUEST_LABEL, "GroupInfoRequestTBS", &request.tbs())?;
        Ok(request)
    }

    /// The signed part.
    pub fn tbs(&self) -> GroupInfoRequestTBS {
        GroupInfoRequestTBS {
            protocol: self.protocol,
            cipher_suite: self.cipher_suite,
            requesting_signature_key: self.requesting_signature_key.clone(),
            requesting_credential: self.requesting_credential.clone(),
            group_info_public_key: self.group_info_public_key.clone(),
            joining_code: (!self.joining_code.as_slice().is_empty()).then(|| self.joining_code.clone()),
        }
    }

    /// Verifies the signature under `requestingSignatureKey` with `cipher_suite`'s algorithm.
    pub fn verify(&self, crypto: &impl OpenMlsCrypto) -> Result<(), WireError> {
        verify_with_label(
            crypto,
            self.cipher_suite.signature_algorithm(),
            self.requesting_signature_key.as_slice(),
            GROUP_INFO_REQUEST_LABEL,
            "GroupInfoRequestTBS",
            &self.tbs(),
            self.signature.as_slice(),
        )
    }
}

/// `struct { SignaturePublicKey signature_key; Credential credential; } ExternalSender;` (RFC 9420
/// §12.1.8.1), as `hub_sender` uses it. Declared here because openmls keeps the fields of its own
/// `ExternalSender` private; the encodings are identical and [`From`] converts to openmls' type for
/// comparison with a group's `external_senders`.
#[derive(Debug, Clone, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct ExternalSender {
    /// `signature_key`: the hub's external-sender signature key.
    pub signature_key: SignaturePublicKey,
    /// `credential`: the hub's credential.
    pub credential: Credential,
}

impl From<ExternalSender> for openmls::prelude::ExternalSender {
    fn from(sender: ExternalSender) -> Self {
        openmls::prelude::ExternalSender::new(sender.signature_key, sender.credential)
    }
}

/// `enum { reserved(0), success(1), notAuthorized(2), noSuchRoom(3), (255) } GroupInfoCode;`
/// (protocol-06 §5.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, TlsSerialize, TlsDeserialize, TlsSize)]
#[repr(u8)]
pub enum GroupInfoCode {
    /// The encrypted GroupInfo and tree follow.
    Success = 1,
    /// The requester may not have the GroupInfo (also used to hide whether the room exists).
    NotAuthorized = 2,
    /// No such room.
    NoSuchRoom = 3,
}

/// `struct { MLSMessage proposal; uint64 hub_accepted_time; } PendingProposal;` (protocol-06 §5.6).
#[derive(Debug, Clone, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct PendingProposal {
    /// `proposal`: a PublicMessage proposal the hub accepted in the current epoch.
    pub proposal: MlsMessageIn,
    /// `hub_accepted_time`: when, in milliseconds since the UNIX epoch.
    pub hub_accepted_time: u64,
}

/// `GroupInfoRatchetTreeTBE` (protocol-06 §5.6): the plaintext encrypted to the requester.
#[derive(Debug, Clone, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct GroupInfoRatchetTreeTBE {
    /// `groupInfo`: the bare RFC 9420 GroupInfo, without the `ratchet_tree` extension.
    pub group_info: VerifiableGroupInfo,
    /// `ratchetTreeOption`: how to get the tree (usually `full`).
    pub ratchet_tree_option: RatchetTreeOption,
    /// `pending_proposals`: valid proposals the hub accepted this epoch (e.g. SelfRemoves), which the
    /// external commit must include.
    pub pending_proposals: Vec<PendingProposal>,
}

impl Body for GroupInfoRatchetTreeTBE {
    const NAME: &'static str = "GroupInfoRatchetTreeTBE";

    fn check(&self) -> Result<(), WireError> {
        require_public_proposals(self.pending_proposals.iter().map(|p| &p.proposal), Self::NAME)
    }
}

/// `GroupInfoResponseTBS` (protocol-06 §5.6): what the hub signs; the success fields without the
/// signature, preceded by version, room and status.
#[derive(Debug, Clone, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct GroupInfoResponseTBS {
    /// `version`.
    pub version: Protocol,
    /// `room_id`.
    pub room_id: VLBytes,
    /// `status`.
    pub status: GroupInfoCode,
    /// `cipher_suite`.
    pub cipher_suite: Ciphersuite,
    /// `hub_sender`.
    pub hub_sender: ExternalSender,
    /// `encrypted_groupinfo_and_tree`.
    pub encrypted_groupinfo_and_tree: HpkeCiphertext,
}

/// The `select (status) { case success: … }` fields of a successful [`GroupInfoResponse`].
#[derive(Debug, Clone, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct GroupInfoSuccess {
    /// `cipher_suite`: the request's suite.
    pub cipher_suite: Ciphersuite,
    /// `hub_sender`: the hub's external-sender entry; its key made the signature.
    pub hub_sender: ExternalSender,
    /// `encrypted_groupinfo_and_tree`: the sealed [`GroupInfoRatchetTreeTBE`].
    pub encrypted_groupinfo_and_tree: HpkeCiphertext,
    /// `signature`: over [`GroupInfoResponseTBS`].
    pub signature: VLBytes,
}

/// `GroupInfoCode status` and the data it selects (`default: struct{}`).
#[derive(Debug, Clone, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
#[repr(u8)]
pub enum GroupInfoStatus {
    /// `success`.
    #[tls_codec(discriminant = "GroupInfoCode::Success")]
    Success(GroupInfoSuccess),
    /// `notAuthorized`: nothing follows.
    #[tls_codec(discriminant = "GroupInfoCode::NotAuthorized")]
    NotAuthorized,
    /// `noSuchRoom`: nothing follows.
    #[tls_codec(discriminant = "GroupInfoCode::NoSuchRoom")]
    NoSuchRoom,
}

/// `GroupInfoResponse` (protocol-06 §5.6). The draft declares `Protocol version` but selects on
/// `protocol`; the field is named `version` and only `mls10` exists.
#[derive(Debug, Clone, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct GroupInfoResponse {
    /// `version`.
    pub version: Protocol,
    /// `room_id`: the room's URI bytes (also the encryption context).
    pub room_id: VLBytes,
    /// `status` with its selected data.
    pub status: GroupInfoStatus,
}

impl Body for GroupInfoResponse {
    const NAME: &'static str = "GroupInfoResponse";
}

impl GroupInfoResponse {
    /// The hub's side: encrypts `tbe` to the request's `groupInfoPublicKey` and signs with `signer`, the
    /// private half of `hub_sender`.
    pub fn seal_and_sign(
        crypto: &impl OpenMlsCrypto,
        signer: &impl Signer,
        request: &GroupInfoRequest,
        room_id: &[u8],
        hub_sender: ExternalSender,
        tbe: &GroupInfoRatchetTreeTBE,
    ) -> Result<Self, WireError> {
        Self::seal_and_sign_encoded(crypto, signer, request, room_id, hub_sender, &tbe.encode()?)
    }

    /// [`GroupInfoResponse::seal_and_sign`] of a `GroupInfoRatchetTreeTBE` already encoded
    /// (`plaintext`): a hub answering many requests for one room state encodes it once.
    pub fn seal_and_sign_encoded(
        crypto: &impl OpenMlsCrypto,
        signer: &impl Signer,
        request: &GroupInfoRequest,
        room_id: &[u8],
        hub_sender: ExternalSender,
        plaintext: &[u8],
    ) -> Result<Self, WireError> {
        let encrypted_groupinfo_and_tree = encrypt_with_label(
            crypto,
            request.cipher_suite.hpke_config(),
            request.group_info_public_key.as_slice(),
            GROUP_INFO_ENCRYPTION_LABEL,
            room_id,
            plaintext,
            GroupInfoRatchetTreeTBE::NAME,
        )?;
        let tbs = GroupInfoResponseTBS {
            version: Protocol::Mls10,
            room_id: room_id.into(),
            status: GroupInfoCode::Success,
            cipher_suite: request.cipher_suite,
            hub_sender,
            encrypted_groupinfo_and_tree,
        };
        let signature = sign_with_label(signer, GROUP_INFO_RESPONSE_LABEL, "GroupInfoResponseTBS", &tbs)?;
        Ok(Self {
            version: tbs.version,
            room_id: tbs.room_id,
            status: GroupInfoStatus::Success(GroupInfoSuccess {
                cipher_suite: tbs.cipher_suite,
                hub_sender: tbs.hub_sender,
                encrypted_groupinfo_and_tree: tbs.encrypted_groupinfo_and_tree,
                signature,
            }),
        })
    }

    /// The requester's side: verifies the hub's signature under `hub_sender.signature_key`, decrypts with
    /// the private key matching `groupInfoPublicKey`, and decodes the plaintext (at most `max_len` bytes).
    /// A non-success status is returned as [`WireError::Inconsistent`].
    pub fn verify_and_open(
        &self,
        crypto: &impl OpenMlsCrypto,
        group_info_private_key: &[u8],
        max_len: usize,
    ) -> Result<GroupInfoRatchetTreeTBE, WireError> {
        let GroupInfoStatus::Success(success) = &self.status else {
            return Err(WireError::Inconsistent { what: Self::NAME, rule: "status is not success" });
        };
        let tbs = GroupInfoResponseTBS {
            version: self.version,
            room_id: self.room_id.clone(),
            status: GroupInfoCode::Success,
            cipher_suite: success.cipher_suite,
            hub_sender: success.hub_sender.clone(),
            encrypted_groupinfo_and_tree: success.encrypted_groupinfo_and_tree.clone(),
        };
        verify_with_label(
            crypto,
            success.cipher_suite.signature_algorithm(),
            success.hub_sender.signature_key.as_slice(),
            GROUP_INFO_RESPONSE_LABEL,
            "GroupInfoResponseTBS",
            &tbs,
            success.signature.as_slice(),
        )?;
        let plaintext = decrypt_with_label(
            crypto,
            success.cipher_suite.hpke_config(),
            group_info_private_key,
            GROUP_INFO_ENCRYPTION_LABEL,
            self.room_id.as_slice(),
            &success.encrypted_groupinfo_and_tree,
            GroupInfoRatchetTreeTBE::NAME,
        )?;
        GroupInfoRatchetTreeTBE::decode(&plaintext, max_len)
    }
}
