//! Development certificates: a CA and, per provider domain, one certificate for both server and client
//! authentication, so mutual TLS between providers works out of the box (docs/DESIGN.md §7,
//! `mimi-ds dev-pki --domains a.example,b.example --out ./pki`).
//!
//! Files written to the output directory (all PEM):
//!
//! | file            | content                                                                    |
//! |-----------------|----------------------------------------------------------------------------|
//! | `ca.pem`        | the CA certificate: the trust anchor every provider configures as `tls.ca` |
//! | `ca.key`        | the CA's private key (kept so later runs can add domains to the same CA)   |
//! | `<domain>.pem`  | the provider's certificate (`tls.cert`)                                    |
//! | `<domain>.key`  | its private key, PKCS#8 (`tls.key`)                                        |
//!
//! These are exactly the defaults of [`crate::config::TlsPaths::dev_pki`]. If `ca.pem` and `ca.key`
//! already exist, the CA is reused and only the domain certificates are (re)written; otherwise a new CA is
//! made. Keys are ECDSA P-256; private key files are created with mode 0600 on Unix.
//!
//! A provider certificate has subject alternative names `DNS:<domain>` and `IP:127.0.0.1`, key usage
//! digitalSignature and extended key usages serverAuth and clientAuth. The DNS name is what identifies the
//! provider to its peers ([`crate::tls::PeerIdentity`]); the IP address only lets tools such as
//! `curl --cacert pki/ca.pem https://127.0.0.1:8443/healthz` connect without a name override (IP SANs are
//! never read as an identity). Validity is 2025-01-01 to 2075-01-01: these are for development only.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

use crate::config::validate_domain;

/// File name of the CA certificate.
pub const CA_CERT_FILE: &str = "ca.pem";
/// File name of the CA key.
pub const CA_KEY_FILE: &str = "ca.key";
/// Common name of the development CA.
const CA_NAME: &str = "mimi-ds development CA";

/// An error making development certificates.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A requested domain is not a valid lowercase DNS name.
    #[error("invalid domain: {0}")]
    Domain(String),
    /// No domain was requested.
    #[error("no domains given")]
    NoDomains,
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Generating or parsing a key or certificate failed.
    #[error("{what}: {source}")]
    Cert {
        /// What was being made or read.
        what: String,
        /// The rcgen error.
        source: rcgen::Error,
    },
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevPki {
    /// The CA certificate file.
    pub ca_cert: PathBuf,
    /// Whether the CA was newly made (`false`: an existing `ca.pem`/`ca.key` was reused).
    pub ca_created: bool,
    /// Per domain, its certificate and key files.
    pub domains: Vec<DomainFiles>,
}

/// A provider's certificate and key files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainFiles {
    /// The domain named in the certificate.
    pub domain: String,
    /// `<domain>.pem`.
    pub cert: PathBuf,
    /// `<domain>.key`.
    pub key: PathBuf,
}

/// Writes (or reuses) the CA and writes one certificate and key per domain into `out` (created if
/// missing). Duplicate domains are written once.
pub fn generate(out: &Path, domains: &[String]) -> Result<DevPki, PkiError> {
    if domains.is_empty() {
        return Err(PkiError::NoDomains);
    }
    for domain in domains {
        validate_domain(domain).map_err(PkiError::Domain)?;
    }
    fs::create_dir_all(out).map_err(|source| PkiError::Io { path: out.to_owned(), source })?;

    let ca_cert_path = out.join(CA_CERT_FILE);
    let ca_key_path = out.join(CA_KEY_FILE);
    let (issuer, ca_created) = if ca_cert_path.exists() && ca_key_path.exists() {
        (load_ca(&ca_cert_path, &ca_key_path)?, false)
    } else {
        (make_ca(&ca_cert_path, &ca_key_path)?, true)
    };

    let mut written: Vec<DomainFiles> = Vec::new();
    for domain in domains {
        if written.iter().any(|d| &d.domain == domain) {
            continue;
        }
        let files = DomainFiles {
            domain: domain.clone(),
            cert: out.join(format!("{domain}.pem")),
            key: out.join(format!("{domain}.key")),
        };
        let key = KeyPair::generate().map_err(|source| cert_err(format!("generating the key for {domain}"), source))?;
        let cert = leaf_params(domain)
            .signed_by(&key, &issuer)
            .map_err(|source| cert_err(format!("signing the certificate for {domain}"), source))?;
        write_file(&files.cert, cert.pem().as_bytes(), false)?;
        write_file(&files.key, key.serialize_pem().as_bytes(), true)?;
        written.push(files);
    }
    Ok(DevPki { ca_cert: ca_cert_path, ca_created, domains: written })
}

fn cert_err(what: String, source: rcgen::Error) -> PkiError {
    PkiError::Cert { what, source }
}

/// The CA's parameters. They are fixed, so a CA can be rebuilt from its key alone: certificates issued
/// by the rebuilt issuer carry the same issuer name and authority key identifier as the original `ca.pem`
/// and verify against it (reading the certificate back would need an X.509 parser).
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = name(CA_NAME);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    set_validity(&mut params);
    params
}

fn make_ca(cert_path: &Path, key_path: &Path) -> Result<Issuer<'static, KeyPair>, PkiError> {
    let key = KeyPair::generate().map_err(|source| cert_err("generating the CA key".into(), source))?;
    let params = ca_params();
    let cert = params.self_signed(&key).map_err(|source| cert_err("self-signing the CA".into(), source))?;
    write_file(key_path, key.serialize_pem().as_bytes(), true)?;
    write_file(cert_path, cert.pem().as_bytes(), false)?;
    Ok(Issuer::new(params, key))
}

fn load_ca(cert_path: &Path, key_path: &Path) -> Result<Issuer<'static, KeyPair>, PkiError> {
    let read = |path: &Path| fs::read_to_string(path).map_err(|source| PkiError::Io { path: path.to_owned(), source });
    let key = KeyPair::from_pem(&read(key_path)?)
        .map_err(|source| cert_err(format!("reading the CA key {}", key_path.display()), source))?;
    // Only checks that the certificate file is there and readable; see `ca_params`.
    read(cert_path)?;
    Ok(Issuer::new(ca_params(), key))
}

fn leaf_params(domain: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = name(domain);
    // `domain` passed `validate_domain`, so it is ASCII and a valid IA5String.
    let mut sans = Vec::with_capacity(2);
    if let Ok(dns) = domain.try_into() {
        sans.push(SanType::DnsName(dns));
    }
    sans.push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    params.subject_alt_names = sans;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params);
    params
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}

fn set_validity(params: &mut CertificateParams) {
    params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    params.not_after = rcgen::date_time_ymd(2075, 1, 1);
}

fn write_file(path: &Path, contents: &[u8], private: bool) -> Result<(), PkiError> {
    let io_err = |source| PkiError::Io { path: path.to_owned(), source };
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(path).map_err(io_err)?;
    file.write_all(contents).map_err(io_err)?;
    file.sync_all().map_err(io_err)
}
