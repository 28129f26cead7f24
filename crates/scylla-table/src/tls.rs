//! TLS to the cluster (the `tls` feature): rustls, trusting the CA certificates of a PEM file.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::error::{Error, Result};

/// A rustls client configuration that trusts exactly the CA certificates in `ca_pem`.
pub(crate) fn client_config(ca_pem: &Path) -> Result<Arc<rustls::ClientConfig>> {
    let bad = |reason: String| Error::Config(format!("TLS CA file {}: {reason}", ca_pem.display()));
    let certificates = CertificateDer::pem_file_iter(ca_pem)
        .map_err(|error| bad(error.to_string()))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|error| bad(error.to_string()))?;
    if certificates.is_empty() {
        return Err(bad("no PEM certificate in it".into()));
    }
    let mut roots = rustls::RootCertStore::empty();
    for certificate in certificates {
        roots.add(certificate).map_err(|error| bad(error.to_string()))?;
    }
    Ok(Arc::new(rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth()))
}
