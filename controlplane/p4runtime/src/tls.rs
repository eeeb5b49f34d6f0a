//! The TLS files of P4Runtime's server and client (`docs/p4runtime.md`):
//! PEM certificates and private keys, read and checked before any
//! connection, so that a wrong file is named and said to be wrong.

use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::{InconsistentKeys, RootCertStore};
use std::path::{Path, PathBuf};
use tonic::transport::{Certificate, Identity};

/// Who a server or a client is: its certificate and private key, PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityFiles {
    /// The certificate, then the certificates of any intermediate CAs.
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl IdentityFiles {
    /// Reads both files and checks that the key is the certificate's.
    pub fn load(&self) -> Result<Identity, String> {
        let (cert_pem, chain) = read_certificates(&self.cert, "certificate")?;
        let key_pem = read(&self.key, "private key")?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|error| match error {
            rustls::pki_types::pem::Error::NoItemsFound if holds_certificate(&key_pem) => {
                format!("private key {}: holds a certificate, not a private key", self.key.display())
            }
            rustls::pki_types::pem::Error::NoItemsFound => format!(
                "private key {}: holds no private key (expected PEM: -----BEGIN PRIVATE KEY-----, or an RSA or EC key)",
                self.key.display()
            ),
            error => format!("private key {}: not a PEM file ({error})", self.key.display()),
        })?;
        let signing_key =
            any_supported_type(&key).map_err(|e| format!("private key {}: unusable: {e}", self.key.display()))?;
        match CertifiedKey::new(chain, signing_key).keys_match() {
            Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => {}
            Err(rustls::Error::InconsistentKeys(_)) => {
                return Err(format!(
                    "private key {} does not belong to certificate {}: give the key the certificate was made for",
                    self.key.display(),
                    self.cert.display()
                ))
            }
            Err(error) => return Err(format!("certificate {}: not a valid certificate: {error}", self.cert.display())),
        }
        Ok(Identity::from_pem(cert_pem, key_pem))
    }
}

/// Reads the certificates of the CAs (PEM) that a peer's certificate must be signed by.
pub fn load_ca(path: &Path) -> Result<Certificate, String> {
    let (pem, certificates) = read_certificates(path, "CA certificate")?;
    let (_, invalid) = RootCertStore::empty().add_parsable_certificates(certificates);
    if invalid > 0 {
        return Err(format!("CA certificate {}: {invalid} of its certificates are not valid X.509", path.display()));
    }
    Ok(Certificate::from_pem(pem))
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{what} {}: cannot read it: {e}", path.display()))
}

/// The file's text and the certificates in it (at least one).
fn read_certificates(path: &Path, what: &str) -> Result<(Vec<u8>, Vec<CertificateDer<'static>>), String> {
    let pem = read(path, what)?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{what} {}: not a PEM file ({e})", path.display()))?;
    if certificates.is_empty() {
        return Err(match PrivateKeyDer::from_pem_slice(&pem) {
            Ok(_) => format!("{what} {}: holds a private key, not a certificate", path.display()),
            Err(_) => {
                format!("{what} {}: holds no certificate (expected PEM: -----BEGIN CERTIFICATE-----)", path.display())
            }
        });
    }
    Ok((pem, certificates))
}

fn holds_certificate(pem: &[u8]) -> bool {
    CertificateDer::pem_slice_iter(pem).next().is_some_and(|c| c.is_ok())
}
