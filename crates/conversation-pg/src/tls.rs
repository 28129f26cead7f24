//! TLS to PostgreSQL with rustls, as the connection string asks for it in libpq's words:
//! `sslmode` (`disable`, `allow`, `prefer`, `require`, `verify-ca`, `verify-full`) and
//! `sslrootcert`, in either form of the string. tokio-postgres reads neither the verifying modes
//! nor `sslrootcert`, so they are taken out here and the rest is left to it.
//!
//! As libpq does: `prefer` and `require` encrypt without checking the server's certificate
//! (unless a CA file is given or found, which makes `require` check it as `verify-ca` does);
//! `verify-ca` checks that a trusted CA signed it; `verify-full` also that it names the host.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use conversation_store::{StoreError, StoreResult};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// What the connection string asks of TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsSettings {
    pub check: Check,
    pub root_cert: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// Encrypted or not, the server's certificate unchecked.
    Nothing,
    /// Signed by a CA of `sslrootcert`.
    Ca,
    /// Signed by a CA of `sslrootcert`, and naming the host.
    Full,
}

fn bad(reason: String) -> StoreError {
    StoreError::InvalidInput { field: "POSTGRES_URL", reason }
}

/// Splits the TLS settings out of a connection string; the rest, with `sslmode` as tokio-postgres
/// knows it, goes to tokio-postgres.
pub(crate) fn split(url: &str) -> StoreResult<(String, TlsSettings)> {
    let (pairs, is_url) = match url.split_once("://") {
        Some((scheme, rest)) if scheme == "postgres" || scheme == "postgresql" => {
            let (base, query) = rest.split_once('?').unwrap_or((rest, ""));
            let pairs = query
                .split('&')
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                    (key.to_owned(), percent_decode(value))
                })
                .collect();
            (Some((format!("{scheme}://{base}"), pairs)), true)
        }
        _ => (None, false),
    };
    let (base, pairs) = match pairs {
        Some(found) => found,
        None => (String::new(), key_values(url)?),
    };
    let mut settings = TlsSettings { check: Check::Nothing, root_cert: None };
    let mut mode = None;
    let mut kept = Vec::new();
    for (key, value) in pairs {
        match key.as_str() {
            "sslmode" => mode = Some(value),
            "sslrootcert" => settings.root_cert = Some(PathBuf::from(value)),
            _ => kept.push((key, value)),
        }
    }
    // As libpq: the string's settings, else PGSSLMODE and PGSSLROOTCERT, else its default CA
    // file, whose presence makes `require` check the server's certificate too.
    let env = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    let mode = mode.or_else(|| env("PGSSLMODE"));
    let default_root = std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".postgresql/root.crt"))
        .filter(|path| path.exists());
    let root_cert = settings.root_cert.clone().or_else(|| env("PGSSLROOTCERT").map(PathBuf::from)).or(default_root);
    let driver_mode = match mode.as_deref().unwrap_or("prefer") {
        "disable" => "disable",
        "allow" | "prefer" => "prefer",
        "require" => {
            if root_cert.is_some() {
                settings.check = Check::Ca;
            }
            "require"
        }
        "verify-ca" => {
            settings.check = Check::Ca;
            "require"
        }
        "verify-full" => {
            settings.check = Check::Full;
            "require"
        }
        other => {
            return Err(bad(format!(
                "sslmode `{other}` is none of disable, allow, prefer, require, verify-ca, verify-full"
            )))
        }
    };
    if settings.check != Check::Nothing {
        settings.root_cert = Some(root_cert.ok_or_else(|| {
            bad("sslmode verify-ca and verify-full need the CA certificates: sslrootcert=<PEM file> (or PGSSLROOTCERT)"
                .to_owned())
        })?);
    }
    kept.push(("sslmode".to_owned(), driver_mode.to_owned()));
    let rest = if is_url {
        let query: Vec<String> = kept.iter().map(|(key, value)| format!("{key}={}", percent_encode(value))).collect();
        format!("{base}?{}", query.join("&"))
    } else {
        let pairs: Vec<String> = kept.iter().map(|(key, value)| format!("{key}={}", quote(value))).collect();
        pairs.join(" ")
    };
    Ok((rest, settings))
}

/// The `key=value` pairs of a libpq connection string: values bare or in single quotes, with
/// backslash escapes.
fn key_values(text: &str) -> StoreResult<Vec<(String, String)>> {
    let unreadable = || bad("the connection string (not shown) cannot be read".to_owned());
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(unreadable());
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next().ok_or_else(unreadable)? {
                    '\'' => break,
                    '\\' => value.push(chars.next().ok_or_else(unreadable)?),
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.push(chars.next().ok_or_else(unreadable)?);
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push((key, value));
    }
}

fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |at: usize| bytes.get(at).and_then(|b| (*b as char).to_digit(16));
        match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => (byte as char).to_string(),
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// The rustls configuration the settings ask for.
pub(crate) fn client_config(settings: &TlsSettings) -> StoreResult<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|error| bad(format!("TLS: {error}")))?;
    let config = match (settings.check, &settings.root_cert) {
        (Check::Nothing, _) | (_, None) => {
            builder.dangerous().with_custom_certificate_verifier(Arc::new(Unchecked(provider))).with_no_client_auth()
        }
        (check, Some(path)) => {
            let roots = Arc::new(roots(path)?);
            let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|error| bad(format!("TLS: {error}")))?;
            let verifier: Arc<dyn ServerCertVerifier> =
                if check == Check::Full { webpki } else { Arc::new(AnyName(webpki)) };
            builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth()
        }
    };
    Ok(config)
}

fn roots(path: &Path) -> StoreResult<rustls::RootCertStore> {
    let unreadable = |reason: String| bad(format!("sslrootcert {}: {reason}", path.display()));
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|error| unreadable(error.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| unreadable(error.to_string()))?;
    if certificates.is_empty() {
        return Err(unreadable("no PEM certificate in it".to_owned()));
    }
    let mut roots = rustls::RootCertStore::empty();
    for certificate in certificates {
        roots.add(certificate).map_err(|error| unreadable(error.to_string()))?;
    }
    Ok(roots)
}

/// `prefer` and `require`: the certificate is not checked, the handshake's signatures are.
#[derive(Debug)]
struct Unchecked(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain is checked, the name is not.
#[derive(Debug)]
struct AnyName(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForNameContext { .. })) => {
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_settings_come_out_of_both_forms_of_the_string() {
        let (rest, settings) =
            split("host=db user=app password='a b\\'c' sslmode=verify-full sslrootcert=/ca.pem").unwrap();
        assert_eq!(rest, "host='db' user='app' password='a b\\'c' sslmode='require'");
        assert_eq!(settings, TlsSettings { check: Check::Full, root_cert: Some("/ca.pem".into()) });
        let parsed: tokio_postgres::Config = rest.parse().unwrap();
        assert_eq!(parsed.get_password(), Some(&b"a b'c"[..]));

        let (rest, settings) = split(
            "postgres://app:p%40ss@db:5432/chat?sslmode=verify-ca&sslrootcert=%2Ftmp%2Fca.pem&application_name=x",
        )
        .unwrap();
        assert_eq!(rest, "postgres://app:p%40ss@db:5432/chat?application_name=x&sslmode=require");
        assert_eq!(settings, TlsSettings { check: Check::Ca, root_cert: Some("/tmp/ca.pem".into()) });

        let (rest, settings) = split("postgres://db/chat").unwrap();
        assert_eq!(rest, "postgres://db/chat?sslmode=prefer");
        assert_eq!(settings.check, Check::Nothing);
        assert_eq!(split("host=db sslmode=require").unwrap().1.check, Check::Nothing);
        assert_eq!(split("host=db sslmode=require sslrootcert=/ca.pem").unwrap().1.check, Check::Ca);
        assert!(split("host=db sslmode=sometimes").is_err());
        assert!(split("host=db sslmode=verify-full").is_err() || std::env::var_os("PGSSLROOTCERT").is_some());
        assert!(split("host='db").is_err());
    }
}
