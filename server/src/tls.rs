//! HTTPS on the listener itself (rustls with the *ring* provider), for a deployment without
//! a TLS-terminating reverse proxy. Errors name the file and what is wrong with it, because
//! a bad certificate is found at start, by whoever installs the server.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::Settings;

/// The server TLS configuration when `tls_cert` and `tls_key` are both set; `None` when
/// neither is (plain HTTP); an error when only one is, or a file is unusable.
pub fn server_config(settings: &Settings) -> anyhow::Result<Option<ServerConfig>> {
    match (&settings.tls_cert, &settings.tls_key) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => load(cert, key).map(Some),
        _ => bail!("tls_cert and tls_key must be set together (证书和私钥需同时配置)"),
    }
}

fn load(cert_path: &Path, key_path: &Path) -> anyhow::Result<ServerConfig> {
    let certs = CertificateDer::pem_file_iter(cert_path)
        .with_context(|| format!("reading TLS certificate {}", cert_path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("TLS certificate {} is not valid PEM", cert_path.display()))?;
    if certs.is_empty() {
        bail!(
            "TLS certificate {} holds no CERTIFICATE block",
            cert_path.display()
        );
    }
    let key = PrivateKeyDer::from_pem_file(key_path).with_context(|| {
        format!(
            "TLS key {} is missing, unreadable or holds no private key in PEM",
            key_path.display()
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .with_context(|| {
            format!(
                "TLS key {} does not fit certificate {} (or is of an unsupported type)",
                key_path.display(),
                cert_path.display()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(cert: Option<&Path>, key: Option<&Path>) -> Settings {
        Settings {
            tls_cert: cert.map(Path::to_path_buf),
            tls_key: key.map(Path::to_path_buf),
            ..Settings::default()
        }
    }

    #[test]
    fn bad_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        assert!(server_config(&settings(None, None)).unwrap().is_none());
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        let err = server_config(&settings(Some(&cert), None)).unwrap_err();
        assert!(err.to_string().contains("together"), "{err}");

        let err = server_config(&settings(Some(&cert), Some(&key))).unwrap_err();
        assert!(format!("{err:#}").contains("cert.pem"), "{err:#}");

        std::fs::write(&cert, "not a certificate\n").unwrap();
        std::fs::write(&key, "not a key\n").unwrap();
        let err = server_config(&settings(Some(&cert), Some(&key))).unwrap_err();
        assert!(format!("{err:#}").contains("no CERTIFICATE"), "{err:#}");

        let pair = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        std::fs::write(&cert, pair.cert.pem()).unwrap();
        let err = server_config(&settings(Some(&cert), Some(&key))).unwrap_err();
        assert!(format!("{err:#}").contains("key.pem"), "{err:#}");

        let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        std::fs::write(&key, other.signing_key.serialize_pem()).unwrap();
        let err = server_config(&settings(Some(&cert), Some(&key))).unwrap_err();
        assert!(format!("{err:#}").contains("does not fit"), "{err:#}");

        std::fs::write(&key, pair.signing_key.serialize_pem()).unwrap();
        assert!(
            server_config(&settings(Some(&cert), Some(&key)))
                .unwrap()
                .is_some()
        );
    }
}
