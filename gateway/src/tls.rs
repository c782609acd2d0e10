//! TLS with rustls and the ring provider (the one reqwest already uses): the
//! listeners' server configuration from `[gateway] cert_file` / `key_file`,
//! and the client configuration for https upstreams (webpki roots, or
//! `[gateway] upstream_cafile`).

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::config::{read_private_file, ConfigError, GatewaySection};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The listeners' TLS configuration: `None` when neither `cert_file` nor
/// `key_file` is set (plain HTTP), an error when only one of them is, or when
/// they cannot be read, parsed or do not match. The key file is a secret: it
/// must not be readable by group or others, and its content never appears in
/// an error.
pub fn server_config(gateway: &GatewaySection) -> Result<Option<Arc<ServerConfig>>, ConfigError> {
    let (cert_file, key_file) =
        match (&gateway.cert_file, &gateway.key_file) {
            (None, None) => return Ok(None),
            (Some(c), Some(k)) => (c, k),
            (Some(_), None) | (None, Some(_)) => return Err(ConfigError(
                "[gateway] cert_file and key_file go together: set both (HTTPS) or neither (HTTP)"
                    .into(),
            )),
        };
    let certs = read_certificates(cert_file, "[gateway] cert_file")?;
    let key = read_private_file(key_file, "[gateway] key_file")?;
    let key = PrivateKeyDer::from_pem_slice(&key).map_err(|_| {
        ConfigError(format!(
            "[gateway] key_file: {} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)",
            key_file.display()
        ))
    })?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError(format!("[gateway] TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ConfigError(format!("[gateway] cert_file and key_file: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(Arc::new(config)))
}

/// The TLS configuration for https upstreams: the certificates of
/// `upstream_cafile` when given, the webpki roots otherwise.
pub fn upstream_client_config(cafile: Option<&Path>) -> Result<Arc<ClientConfig>, ConfigError> {
    let mut roots = RootCertStore::empty();
    match cafile {
        Some(path) => {
            for cert in read_certificates(path, "[gateway] upstream_cafile")? {
                roots.add(cert).map_err(|e| {
                    ConfigError(format!(
                        "[gateway] upstream_cafile: {}: {e}",
                        path.display()
                    ))
                })?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError(format!("[gateway] TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Every certificate of a PEM file (at least one).
fn read_certificates(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let pem = std::fs::read(path)
        .map_err(|e| ConfigError(format!("{what}: cannot read {}: {e}", path.display())))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ConfigError(format!("{what}: {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(ConfigError(format!(
            "{what}: {} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("heatgate-tls-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn no_cert_no_key_is_plain_http() {
        assert!(server_config(&GatewaySection::default()).unwrap().is_none());
    }

    #[test]
    fn cert_and_key_go_together() {
        let d = dir("pair");
        for (cert, key) in [(Some(d.join("c.pem")), None), (None, Some(d.join("k.pem")))] {
            let gateway = GatewaySection {
                cert_file: cert,
                key_file: key,
                ..GatewaySection::default()
            };
            let e = server_config(&gateway).unwrap_err().to_string();
            assert!(e.contains("cert_file") && e.contains("key_file"), "{e}");
        }
    }

    #[test]
    fn a_file_without_certificates_is_refused_by_name() {
        let d = dir("empty");
        let file = d.join("ca.pem");
        std::fs::write(&file, "not a certificate\n").unwrap();
        let e = upstream_client_config(Some(&file)).unwrap_err().to_string();
        assert!(e.starts_with("[gateway] upstream_cafile:"), "{e}");
        assert!(e.contains("no PEM certificate"), "{e}");
        let e = upstream_client_config(Some(&d.join("missing.pem")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot read"), "{e}");
        assert!(!e.contains('\n'));
    }

    #[test]
    fn the_webpki_roots_are_the_default() {
        assert!(upstream_client_config(None).is_ok());
    }
}
