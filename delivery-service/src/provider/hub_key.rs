//! The hub's own key: its external-sender signing key (listed in every room's
//! `external_senders`, signing groupInfo responses) and, derived from it, the franking agent.

use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::{BasicCredential, Ciphersuite, Credential};
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::RustCrypto;

use super::{Provider, ProviderError};
use crate::hub::franking::{derive_mac_key, Franker};
use crate::store::Store;
use mimi_protocol::franking::FrankingAgentData;
use mimi_protocol::group_info::{ExternalSender as WireExternalSender, GroupInfoRequest};
use openmls_traits::crypto::OpenMlsCrypto as _;

/// The ciphersuite of the hub key and of franking.
const HUB_CIPHERSUITE: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;

/// Loads the hub's external-sender key from `path`, or creates and saves one (owner-only
/// permissions) the first time. Every room lists this key, so it must survive restarts.
pub fn load_or_create_hub_key(path: &std::path::Path) -> Result<SignatureKeyPair, ProviderError> {
    let file = |e: &dyn std::fmt::Display| ProviderError::internal("hub key file", format!("{}: {e}", path.display()));
    if path.exists() {
        let bytes = std::fs::read(path).map_err(|e| file(&e))?;
        return SignatureKeyPair::tls_deserialize_exact(&bytes).map_err(|e| file(&e));
    }
    let key = SignatureKeyPair::new(HUB_CIPHERSUITE.signature_algorithm())
        .map_err(|e| ProviderError::internal("hub key generation", format!("{e:?}")))?;
    let bytes = key.tls_serialize_detached().map_err(|e| ProviderError::internal("hub key encoding", e))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| file(&e))?;
    }
    let tmp = path.with_extension("tmp");
    {
        use std::io::Write as _;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp).map_err(|e| file(&e))?;
        f.write_all(&bytes).map_err(|e| file(&e))?;
        f.sync_all().map_err(|e| file(&e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| file(&e))?;
    Ok(key)
}

/// The credential of the hub of `domain` (identity `mimi://<domain>`), as external sender and
/// franking agent.
fn hub_credential_of(domain: &str) -> Credential {
    BasicCredential::new(format!("mimi://{domain}").into_bytes()).into()
}

/// The franking agent of the hub of `domain` with `hub_key` (see [`crate::hub::franking`]).
pub(super) fn franker(crypto: &RustCrypto, domain: &str, hub_key: &SignatureKeyPair) -> Result<Franker, ProviderError> {
    let secret = hub_key.tls_serialize_detached().map_err(|e| ProviderError::internal("hub key encoding", e))?;
    let mac_key = derive_mac_key(crypto, &secret).map_err(|e| ProviderError::internal("franking key", e))?;
    let agent = FrankingAgentData {
        franking_signature_key: hub_key.to_public_vec().into(),
        credential: hub_credential_of(domain),
    };
    Ok(Franker::new(agent, mac_key, HUB_CIPHERSUITE))
}

impl<S: Store> Provider<S> {
    /// The hub's external-sender public key, for rooms' `external_senders`.
    pub fn hub_signature_key(&self) -> Vec<u8> {
        self.hub_key.to_public_vec()
    }

    /// The hub's external-sender credential (identity `mimi://<domain>`).
    pub fn hub_credential(&self) -> Credential {
        hub_credential_of(&self.domain)
    }

    /// The `franking_agent` value (component 0x0021) of rooms this hub franks: its
    /// external-sender key and credential.
    pub fn franking_agent(&self) -> &FrankingAgentData {
        self.franker.agent()
    }

    /// The hub's `ExternalSender` (key and credential), as every room of this hub lists it in
    /// `external_senders` and as it signs groupInfo responses.
    pub fn hub_external_sender(&self) -> WireExternalSender {
        WireExternalSender { signature_key: self.hub_signature_key().into(), credential: self.hub_credential() }
    }

    /// A `GroupInfoRequest` of this provider itself (protocol-06 §5.6): under its credential
    /// `mimi://<domain>`, signed with the hub key, with a fresh HPKE key; and the private half
    /// of that key, which opens the answer. A follower asks the hub of a room it mirrors with it
    /// for the room's state (see [`crate::federation::follower`]).
    pub fn provider_group_info_request(&self) -> Result<(GroupInfoRequest, Vec<u8>), ProviderError> {
        let mut ikm = [0u8; 32];
        getrandom::fill(&mut ikm).map_err(|e| ProviderError::internal("randomness", e))?;
        let keys = self
            .crypto
            .derive_hpke_keypair(HUB_CIPHERSUITE.hpke_config(), &ikm)
            .map_err(|e| ProviderError::internal("HPKE key generation", format!("{e:?}")))?;
        let request = GroupInfoRequest::sign(
            HUB_CIPHERSUITE,
            self.hub_credential(),
            self.hub_signature_key().into(),
            keys.public.into(),
            tls_codec::VLBytes::new(Vec::new()),
            &self.hub_key,
        )
        .map_err(|e| ProviderError::internal("groupInfo request", e))?;
        Ok((request, keys.private.to_vec()))
    }
}
