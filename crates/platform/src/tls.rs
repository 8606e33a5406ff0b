//! Mutual TLS between the services, when configured (`KJ_TLS_CERT`, `KJ_TLS_KEY`,
//! `KJ_TLS_CA`): each service serves TLS with its own certificate and requires its
//! callers to present one signed by the same CA; it dials its peers over TLS with that
//! certificate. Edge, the public entry, serves TLS but asks no client certificate.
//!
//! A service's certificate carries its short name (`wallet`, `order`, ...; `operator` for
//! an operator) as a DNS name, beside the host names it is reached by. The credential
//! check ([`crate::auth::check`]) then binds the two: a service token is accepted only on
//! a connection whose client certificate names the same caller, so a stolen token is
//! useless without that service's key, and one service's certificate can't carry
//! another's token.

use std::path::{Path, PathBuf};

use anyhow::Context;
use tonic::transport::{Certificate, CertificateDer, ClientTlsConfig, Identity, ServerTlsConfig};

/// The three PEM files of mutual TLS, given together or not at all.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct TlsArgs {
    /// This service's certificate chain (PEM). With --tls-key and --tls-ca it turns on
    /// mutual TLS: the service serves TLS, requires callers to present a certificate
    /// signed by the CA (edge excepted), and dials its peers over TLS whatever scheme
    /// their URLs show. `kuajing certs` writes a development set.
    #[arg(long, env = "KJ_TLS_CERT", requires_all = ["tls_key", "tls_ca"])]
    pub tls_cert: Option<PathBuf>,
    /// This service's private key (PEM, PKCS#8).
    #[arg(long, env = "KJ_TLS_KEY", requires_all = ["tls_cert", "tls_ca"])]
    pub tls_key: Option<PathBuf>,
    /// The CA that signs every service's certificate (PEM).
    #[arg(long, env = "KJ_TLS_CA", requires_all = ["tls_cert", "tls_key"])]
    pub tls_ca: Option<PathBuf>,
}

impl TlsArgs {
    /// The configured mutual TLS, if any; an unreadable file is an error.
    pub fn load(&self) -> anyhow::Result<Option<MutualTls>> {
        match (&self.tls_cert, &self.tls_key, &self.tls_ca) {
            (Some(cert), Some(key), Some(ca)) => MutualTls::load(cert, key, ca).map(Some),
            (None, None, None) => Ok(None),
            _ => anyhow::bail!("KJ_TLS_CERT, KJ_TLS_KEY and KJ_TLS_CA go together"),
        }
    }
}

/// One service's side of mutual TLS: its certificate and key, and the CA it trusts.
#[derive(Clone)]
pub struct MutualTls {
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
    ca_pem: Vec<u8>,
}

impl std::fmt::Debug for MutualTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MutualTls").finish_non_exhaustive()
    }
}

fn read(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    let pem = std::fs::read(path).with_context(|| format!("{what}: {}", path.display()))?;
    anyhow::ensure!(
        String::from_utf8_lossy(&pem).contains("-----BEGIN "),
        "{what}: {} is not PEM",
        path.display()
    );
    Ok(pem)
}

impl MutualTls {
    /// From PEM text already in memory.
    pub fn from_pem(
        cert: impl Into<Vec<u8>>,
        key: impl Into<Vec<u8>>,
        ca: impl Into<Vec<u8>>,
    ) -> Self {
        MutualTls {
            cert_pem: cert.into(),
            key_pem: key.into(),
            ca_pem: ca.into(),
        }
    }

    /// Reads the three PEM files.
    pub fn load(cert: &Path, key: &Path, ca: &Path) -> anyhow::Result<Self> {
        let tls = MutualTls {
            cert_pem: read(cert, "KJ_TLS_CERT")?,
            key_pem: read(key, "KJ_TLS_KEY")?,
            ca_pem: read(ca, "KJ_TLS_CA")?,
        };
        anyhow::ensure!(
            tls.certificate_der().is_some(),
            "KJ_TLS_CERT: {} holds no certificate",
            cert.display()
        );
        Ok(tls)
    }

    /// This side's own (leaf) certificate in DER.
    pub fn certificate_der(&self) -> Option<CertificateDer<'static>> {
        use rustls_pki_types::pem::PemObject;
        CertificateDer::pem_slice_iter(&self.cert_pem).next()?.ok()
    }

    /// Refuses a certificate that does not carry `name` (the service's short name): its
    /// peers would refuse every call it makes (see [`crate::auth::check`]).
    pub fn ensure_names(&self, name: &str) -> anyhow::Result<()> {
        let named = self
            .certificate_der()
            .is_some_and(|der| certificate_names(&der, name));
        anyhow::ensure!(
            named,
            "KJ_TLS_CERT does not carry the DNS name {name}: every service's certificate must \
             name the service, so its peers can match it to its service token"
        );
        Ok(())
    }

    fn identity(&self) -> Identity {
        Identity::from_pem(&self.cert_pem, &self.key_pem)
    }

    /// The server side: this service's certificate, and, when `require_client`, callers
    /// must present a certificate the CA signed (the TLS handshake refuses them otherwise).
    pub fn server(&self, require_client: bool) -> ServerTlsConfig {
        let config = ServerTlsConfig::new().identity(self.identity());
        if require_client {
            config.client_ca_root(Certificate::from_pem(&self.ca_pem))
        } else {
            config
        }
    }

    /// The client side: trust the CA for the peer's certificate (checked against the host
    /// of the peer's URL) and present this service's own.
    pub fn client(&self) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca_pem))
            .identity(self.identity())
    }
}

/// `url` dialled over TLS: an `http://` URL becomes `https://` (so the default peer URLs
/// work unchanged once TLS is on); others are kept.
pub fn secure_url(url: &str) -> String {
    match url.strip_prefix("http://") {
        Some(rest) => format!("https://{rest}"),
        None => url.to_owned(),
    }
}

/// The certificates the caller presented on this request's connection, if it is a TLS
/// connection with a client certificate.
pub fn peer_certificates<B>(
    request: &http::Request<B>,
) -> Option<std::sync::Arc<Vec<CertificateDer<'static>>>> {
    use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
    request
        .extensions()
        .get::<TlsConnectInfo<TcpConnectInfo>>()
        .and_then(TlsConnectInfo::peer_certs)
}

/// Whether the leaf certificate `der` carries `name` as a DNS name. Its signature and
/// validity were checked by the TLS handshake; this only reads the names.
pub fn certificate_names(der: &CertificateDer<'_>, name: &str) -> bool {
    let Ok(cert) = webpki::EndEntityCert::try_from(der) else {
        return false;
    };
    let Ok(name) = rustls_pki_types::ServerName::try_from(name) else {
        return false;
    };
    cert.verify_is_valid_for_subject_name(&name).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_urls_are_dialled_over_tls() {
        assert_eq!(
            secure_url("http://127.0.0.1:50052"),
            "https://127.0.0.1:50052"
        );
        assert_eq!(secure_url("https://wallet:50052"), "https://wallet:50052");
    }

    #[test]
    fn the_three_files_go_together() {
        let args = TlsArgs {
            tls_cert: Some("/nonexistent/cert.pem".into()),
            ..TlsArgs::default()
        };
        assert!(args.load().is_err());
        assert!(TlsArgs::default().load().unwrap().is_none());
        let missing = TlsArgs {
            tls_cert: Some("/nonexistent/cert.pem".into()),
            tls_key: Some("/nonexistent/key.pem".into()),
            tls_ca: Some("/nonexistent/ca.pem".into()),
        };
        let err = missing.load().unwrap_err().to_string();
        assert!(err.contains("KJ_TLS_CERT"), "{err}");
    }

    #[test]
    fn garbage_names_nothing() {
        let der = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x00]);
        assert!(!certificate_names(&der, "wallet"));
    }
}
