//! A deterministic openmls provider, so that the MLS objects inside the published vectors (KeyPackages,
//! commits, Welcomes, GroupInfos, PrivateMessages, HPKE ciphertexts) are the same bytes on every run.
//!
//! [`SeededProvider`] is openmls' own RustCrypto back end with every source of randomness replaced by one
//! ChaCha20 stream from a fixed seed:
//! - `OpenMlsRand` (group IDs, epoch and path secrets, KeyPackage init keys, reuse guards) draws from it;
//! - HPKE encryption (Welcome group secrets, UpdatePath, the GroupInfo response) runs hpke-rs with
//!   [`SeededHpke`], whose ephemeral keys come from the same stream;
//! - signature keys are made by [`SeededProvider::signer`] from the stream (Ed25519 signing itself is
//!   deterministic).
//!
//! Everything else (hashing, HKDF, AEAD, signing, verification, HPKE decryption) is RustCrypto unchanged,
//! so the objects are ordinary, valid MLS and any implementation can process them. This is for generating
//! test vectors only: a predictable RNG must never protect real traffic.

use std::cell::RefCell;
use std::sync::Mutex;

use hpke_rs::{Hpke, HpkePublicKey, Mode};
use hpke_rs_crypto::error::Error as HpkeCryptoError;
use hpke_rs_crypto::types::{AeadAlgorithm, KdfAlgorithm, KemAlgorithm};
use hpke_rs_crypto::{HpkeCrypto, HpkeTestRng};
use hpke_rs_rust_crypto::HpkeRustCrypto;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::{MemoryStorage, RustCrypto};
use openmls_traits::crypto::OpenMlsCrypto;
use openmls_traits::random::OpenMlsRand;
use openmls_traits::types::{
    AeadType, Ciphersuite, CryptoError, ExporterSecret, HashType, HpkeAeadType, HpkeCiphertext, HpkeConfig,
    HpkeKdfType, HpkeKemType, HpkeKeyPair, SignatureScheme,
};
use openmls_traits::OpenMlsProvider;
use rand_chacha::rand_core::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use tls_codec::SecretVLBytes;

use crate::Error;

/// The seeded RNG shared by randomness, HPKE and key generation.
#[derive(Debug)]
struct Stream(Mutex<ChaCha20Rng>);

impl Stream {
    fn fill(&self, out: &mut [u8]) -> Result<(), StreamPoisoned> {
        self.0.lock().map_err(|_| StreamPoisoned)?.fill_bytes(out);
        Ok(())
    }
}

/// The RNG's lock was poisoned by a panic elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the seeded RNG's lock is poisoned")]
pub struct StreamPoisoned;

/// The `OpenMlsCrypto` and `OpenMlsRand` of [`SeededProvider`].
#[derive(Debug)]
pub struct SeededCrypto {
    inner: RustCrypto,
    stream: Stream,
}

/// An openmls provider whose randomness is a ChaCha20 stream from a fixed seed (see the module docs).
#[derive(Debug)]
pub struct SeededProvider {
    crypto: SeededCrypto,
    storage: MemoryStorage,
}

impl SeededProvider {
    /// A provider whose stream starts from `seed`.
    pub fn new(seed: [u8; 32]) -> Self {
        Self {
            crypto: SeededCrypto {
                inner: RustCrypto::default(),
                stream: Stream(Mutex::new(ChaCha20Rng::from_seed(seed))),
            },
            storage: MemoryStorage::default(),
        }
    }

    /// A signature key pair for `scheme` (Ed25519 only) drawn from the stream.
    pub fn signer(&self, scheme: SignatureScheme) -> Result<SignatureKeyPair, Error> {
        if scheme != SignatureScheme::ED25519 {
            return Err(Error::Unsupported("signature schemes other than Ed25519"));
        }
        let mut secret = [0u8; 32];
        self.crypto.stream.fill(&mut secret).map_err(|e| Error::Generate(e.to_string()))?;
        let public = ed25519_dalek::SigningKey::from_bytes(&secret).verifying_key().to_bytes();
        Ok(SignatureKeyPair::from_raw(scheme, secret.to_vec(), public.to_vec()))
    }
}

impl OpenMlsProvider for SeededProvider {
    type CryptoProvider = SeededCrypto;
    type RandProvider = SeededCrypto;
    type StorageProvider = MemoryStorage;

    fn storage(&self) -> &Self::StorageProvider {
        &self.storage
    }

    fn crypto(&self) -> &Self::CryptoProvider {
        &self.crypto
    }

    fn rand(&self) -> &Self::RandProvider {
        &self.crypto
    }
}

impl OpenMlsRand for SeededCrypto {
    type Error = StreamPoisoned;

    fn random_array<const N: usize>(&self) -> Result<[u8; N], Self::Error> {
        let mut out = [0u8; N];
        self.stream.fill(&mut out)?;
        Ok(out)
    }

    fn random_vec(&self, len: usize) -> Result<Vec<u8>, Self::Error> {
        let mut out = vec![0u8; len];
        self.stream.fill(&mut out)?;
        Ok(out)
    }
}

impl SeededCrypto {
    /// An hpke-rs instance for `config` whose ephemeral randomness is seeded from the stream.
    fn hpke(&self, config: HpkeConfig) -> Result<Hpke<SeededHpke>, CryptoError> {
        let mut seed = [0u8; 32];
        self.stream.fill(&mut seed).map_err(|_| CryptoError::InsufficientRandomness)?;
        NEXT_HPKE_SEED.with(|next| *next.borrow_mut() = Some(seed));
        let kem = match config.0 {
            HpkeKemType::DhKem25519 => KemAlgorithm::DhKem25519,
            _ => return Err(CryptoError::UnsupportedKdf),
        };
        let kdf = match config.1 {
            HpkeKdfType::HkdfSha256 => KdfAlgorithm::HkdfSha256,
            HpkeKdfType::HkdfSha384 => KdfAlgorithm::HkdfSha384,
            HpkeKdfType::HkdfSha512 => KdfAlgorithm::HkdfSha512,
        };
        let aead = match config.2 {
            HpkeAeadType::AesGcm128 => AeadAlgorithm::Aes128Gcm,
            HpkeAeadType::AesGcm256 => AeadAlgorithm::Aes256Gcm,
            HpkeAeadType::ChaCha20Poly1305 => AeadAlgorithm::ChaCha20Poly1305,
            HpkeAeadType::Export => AeadAlgorithm::HpkeExport,
        };
        Ok(Hpke::new(Mode::Base, kem, kdf, aead))
    }
}

impl OpenMlsCrypto for SeededCrypto {
    fn supports(&self, ciphersuite: Ciphersuite) -> Result<(), CryptoError> {
        match ciphersuite {
            Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
            | Ciphersuite::MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519 => Ok(()),
            _ => Err(CryptoError::UnsupportedCiphersuite),
        }
    }

    fn supported_ciphersuites(&self) -> Vec<Ciphersuite> {
        vec![
            Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519,
            Ciphersuite::MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519,
        ]
    }

    fn hkdf_extract(&self, hash_type: HashType, salt: &[u8], ikm: &[u8]) -> Result<SecretVLBytes, CryptoError> {
        self.inner.hkdf_extract(hash_type, salt, ikm)
    }

    fn hmac(&self, hash_type: HashType, key: &[u8], message: &[u8]) -> Result<SecretVLBytes, CryptoError> {
        self.inner.hmac(hash_type, key, message)
    }

    fn hkdf_expand(
        &self,
        hash_type: HashType,
        prk: &[u8],
        info: &[u8],
        okm_len: usize,
    ) -> Result<SecretVLBytes, CryptoError> {
        self.inner.hkdf_expand(hash_type, prk, info, okm_len)
    }

    fn hash(&self, hash_type: HashType, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.inner.hash(hash_type, data)
    }

    fn aead_encrypt(
        &self,
        alg: AeadType,
        key: &[u8],
        data: &[u8],
        nonce: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        self.inner.aead_encrypt(alg, key, data, nonce, aad)
    }

    fn aead_decrypt(
        &self,
        alg: AeadType,
        key: &[u8],
        ct_tag: &[u8],
        nonce: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        self.inner.aead_decrypt(alg, key, ct_tag, nonce, aad)
    }

    fn signature_key_gen(&self, alg: SignatureScheme) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
        if alg != SignatureScheme::ED25519 {
            return Err(CryptoError::UnsupportedSignatureScheme);
        }
        let mut secret = [0u8; 32];
        self.stream.fill(&mut secret).map_err(|_| CryptoError::InsufficientRandomness)?;
        let public = ed25519_dalek::SigningKey::from_bytes(&secret).verifying_key().to_bytes();
        Ok((secret.to_vec(), public.to_vec()))
    }

    fn verify_signature(
        &self,
        alg: SignatureScheme,
        data: &[u8],
        pk: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        self.inner.verify_signature(alg, data, pk, signature)
    }

    fn sign(&self, alg: SignatureScheme, data: &[u8], key: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.inner.sign(alg, data, key)
    }

    fn hpke_seal(
        &self,
        config: HpkeConfig,
        pk_r: &[u8],
        info: &[u8],
        aad: &[u8],
        ptxt: &[u8],
    ) -> Result<HpkeCiphertext, CryptoError> {
        let (kem_output, ciphertext) = self
            .hpke(config)?
            .seal(&HpkePublicKey::from(pk_r), info, aad, ptxt, None, None, None)
            .map_err(|_| CryptoError::HpkeEncryptionError)?;
        Ok(HpkeCiphertext { kem_output: kem_output.into(), ciphertext: ciphertext.into() })
    }

    fn hpke_open(
        &self,
        config: HpkeConfig,
        input: &HpkeCiphertext,
        sk_r: &[u8],
        info: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        self.inner.hpke_open(config, input, sk_r, info, aad)
    }

    fn hpke_setup_sender_and_export(
        &self,
        config: HpkeConfig,
        pk_r: &[u8],
        info: &[u8],
        exporter_context: &[u8],
        exporter_length: usize,
    ) -> Result<(Vec<u8>, ExporterSecret), CryptoError> {
        let (kem_output, context) = self
            .hpke(config)?
            .setup_sender(&HpkePublicKey::from(pk_r), info, None, None, None)
            .map_err(|_| CryptoError::SenderSetupError)?;
        let secret = context.export(exporter_context, exporter_length).map_err(|_| CryptoError::ExporterError)?;
        Ok((kem_output, secret.into()))
    }

    fn hpke_setup_receiver_and_export(
        &self,
        config: HpkeConfig,
        enc: &[u8],
        sk_r: &[u8],
        info: &[u8],
        exporter_context: &[u8],
        exporter_length: usize,
    ) -> Result<ExporterSecret, CryptoError> {
        self.inner.hpke_setup_receiver_and_export(config, enc, sk_r, info, exporter_context, exporter_length)
    }

    fn derive_hpke_keypair(&self, config: HpkeConfig, ikm: &[u8]) -> Result<HpkeKeyPair, CryptoError> {
        self.inner.derive_hpke_keypair(config, ikm)
    }
}

thread_local! {
    /// The seed of the next [`SeededHpke::prng`], set by [`SeededCrypto`] right before it creates an hpke-rs
    /// instance on this thread (hpke-rs asks its crypto back end for a PRNG through a function without
    /// arguments, so the seed travels beside the call).
    static NEXT_HPKE_SEED: RefCell<Option<[u8; 32]>> = const { RefCell::new(None) };
}

/// hpke-rs back end: RustCrypto's, except that its PRNG (used only for ephemeral KEM keys) is seeded by
/// [`SeededCrypto`]. X25519 only.
#[derive(Debug)]
pub struct SeededHpke;

/// The PRNG of [`SeededHpke`].
pub struct SeededHpkePrng(ChaCha20Rng);

impl hpke_rs_crypto::TryRng for SeededHpkePrng {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.0.next_u32())
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(self.0.next_u64())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.0.fill_bytes(dst);
        Ok(())
    }
}

impl hpke_rs_crypto::TryCryptoRng for SeededHpkePrng {}

impl HpkeTestRng for SeededHpkePrng {
    type Error = core::convert::Infallible;

    fn try_fill_test_bytes(&mut self, dest: &mut [u8]) -> Result<(), Self::Error> {
        self.0.fill_bytes(dest);
        Ok(())
    }

    fn seed(&mut self, seed: &[u8]) {
        let mut full = [0u8; 32];
        for (d, s) in full.iter_mut().zip(seed) {
            *d = *s;
        }
        self.0 = ChaCha20Rng::from_seed(full);
    }
}

impl zeroize::Zeroize for SeededHpkePrng {
    fn zeroize(&mut self) {
        // Test-vector randomness is public by design; nothing to wipe.
    }
}

impl HpkeCrypto for SeededHpke {
    type HpkePrng = SeededHpkePrng;

    fn name() -> String {
        "SeededHpke (RustCrypto, seeded ephemeral keys)".to_owned()
    }

    fn supports_kdf(alg: KdfAlgorithm) -> Result<(), HpkeCryptoError> {
        HpkeRustCrypto::supports_kdf(alg)
    }

    fn supports_kem(alg: KemAlgorithm) -> Result<(), HpkeCryptoError> {
        match alg {
            KemAlgorithm::DhKem25519 => Ok(()),
            _ => Err(HpkeCryptoError::UnknownKemAlgorithm),
        }
    }

    fn supports_aead(alg: AeadAlgorithm) -> Result<(), HpkeCryptoError> {
        HpkeRustCrypto::supports_aead(alg)
    }

    fn prng() -> Self::HpkePrng {
        let seed = NEXT_HPKE_SEED.with(|next| next.borrow_mut().take()).unwrap_or_default();
        SeededHpkePrng(ChaCha20Rng::from_seed(seed))
    }

    fn kdf_extract(alg: KdfAlgorithm, salt: &[u8], ikm: &[u8]) -> Result<Vec<u8>, HpkeCryptoError> {
        HpkeRustCrypto::kdf_extract(alg, salt, ikm)
    }

    fn kdf_expand(alg: KdfAlgorithm, prk: &[u8], info: &[u8], output_size: usize) -> Result<Vec<u8>, HpkeCryptoError> {
        HpkeRustCrypto::kdf_expand(alg, prk, info, output_size)
    }

    fn dh(alg: KemAlgorithm, pk: &[u8], sk: &[u8]) -> Result<Vec<u8>, HpkeCryptoError> {
        HpkeRustCrypto::dh(alg, pk, sk)
    }

    fn secret_to_public(alg: KemAlgorithm, sk: &[u8]) -> Result<Vec<u8>, HpkeCryptoError> {
        HpkeRustCrypto::secret_to_public(alg, sk)
    }

    fn kem_key_gen(alg: KemAlgorithm, prng: &mut Self::HpkePrng) -> Result<(Vec<u8>, Vec<u8>), HpkeCryptoError> {
        if alg != KemAlgorithm::DhKem25519 {
            return Err(HpkeCryptoError::UnknownKemAlgorithm);
        }
        let mut secret = vec![0u8; 32];
        prng.0.fill_bytes(&mut secret);
        let public = HpkeRustCrypto::secret_to_public(alg, &secret)?;
        Ok((public, secret))
    }

    fn kem_key_gen_derand(alg: KemAlgorithm, seed: &[u8]) -> Result<(Vec<u8>, Vec<u8>), HpkeCryptoError> {
        HpkeRustCrypto::kem_key_gen_derand(alg, seed)
    }

    fn kem_encaps(
        _alg: KemAlgorithm,
        _pk_r: &[u8],
        _prng: &mut Self::HpkePrng,
    ) -> Result<(Vec<u8>, Vec<u8>), HpkeCryptoError> {
        // Only the post-quantum KEMs use this; DHKEM encapsulates with `kem_key_gen` and `dh`.
        Err(HpkeCryptoError::UnsupportedKemOperation)
    }

    fn kem_decaps(alg: KemAlgorithm, ct: &[u8], sk_r: &[u8]) -> Result<Vec<u8>, HpkeCryptoError> {
        HpkeRustCrypto::kem_decaps(alg, ct, sk_r)
    }

    fn dh_validate_sk(alg: KemAlgorithm, sk: &[u8]) -> Result<Vec<u8>, HpkeCryptoError> {
        HpkeRustCrypto::dh_validate_sk(alg, sk)
    }

    fn aead_seal(
        alg: AeadAlgorithm,
        key: &[u8],
        nonce: &[u8],
        aad: &[u8],
        msg: &[u8],
    ) -> Result<Vec<u8>, HpkeCryptoError> {
        HpkeRustCrypto::aead_seal(alg, key, nonce, aad, msg)
    }

    fn aead_open(
        alg: AeadAlgorithm,
        key: &[u8],
        nonce: &[u8],
        aad: &[u8],
        msg: &[u8],
    ) -> Result<Vec<u8>, HpkeCryptoError> {
        HpkeRustCrypto::aead_open(alg, key, nonce, aad, msg)
    }
}
