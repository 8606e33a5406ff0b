//! Mutual TLS between the services, when configured (`KJ_TLS_CERT`, `KJ_TLS_KEY`,
//! `KJ_TLS_CA`): each service serves TLS with its own certificate and requires its
//! callers to present one signed by the same CA; it dials its peers over TLS with that
//! certificate. Edge, the public entry, serves TLS but asks no client certificate.
//!
//! Certificates are renewed without a restart: the three files are checked for changes
//! (every `KJ_KEY_RELOAD_SECS`, like the key files) and a set that parses, whose key
//! matches its certificate, is put in force for every handshake from then on, on both
//! sides (connections already open keep the certificates they were made with). A set
//! that does not parse (files caught half replaced) leaves the one in force and is tried
//! again at the next check. To change CA: first a CA file holding both CAs everywhere,
//! then certificates from the new CA, then the new CA alone.
//!
//! A service's certificate carries its short name (`wallet`, `order`, ...; `operator` for
//! an operator) as a DNS name, beside the host names it is reached by. The credential
//! check ([`crate::auth::check`]) then binds the two: a service token is accepted only on
//! a connection whose client certificate names the same caller, so a stolen token is
//! useless without that service's key, and one service's certificate can't carry
//! another's token.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{PrivateKeyDer, ServerName};
use tokio::net::{TcpListener, TcpStream};
use tonic::transport::{Certificate, CertificateDer, Channel, ClientTlsConfig, Endpoint, Identity};

/// The three PEM files of mutual TLS, given together or not at all.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct TlsArgs {
    /// This service's certificate chain (PEM). With --tls-key and --tls-ca it turns on
    /// mutual TLS: the service serves TLS, requires callers to present a certificate
    /// signed by the CA (edge excepted), and dials its peers over TLS whatever scheme
    /// their URLs show. The three files are reloaded when they change (every
    /// KJ_KEY_RELOAD_SECS). `kuajing certs` writes a development set.
    #[arg(long, env = "KJ_TLS_CERT", requires_all = ["tls_key", "tls_ca"])]
    pub tls_cert: Option<PathBuf>,
    /// This service's private key (PEM, PKCS#8).
    #[arg(long, env = "KJ_TLS_KEY", requires_all = ["tls_cert", "tls_ca"])]
    pub tls_key: Option<PathBuf>,
    /// The CA that signs every service's certificate (PEM; several while a CA changes).
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

/// One service's side of mutual TLS: its certificate and key, and the CAs it trusts, as
/// they are now (a clone shares the set in force, so a reload reaches every user).
#[derive(Clone)]
pub struct MutualTls {
    in_force: Arc<RwLock<Arc<Material>>>,
    /// Certificate, key and CA files, when the set came from files (and can be reloaded).
    files: Option<Arc<[PathBuf; 3]>>,
}

/// One set of PEM texts, and the TLS configurations made from it once.
struct Material {
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
    ca_pem: Vec<u8>,
    /// Serving, requiring a client certificate the CAs signed.
    server_mutual: Arc<rustls::ServerConfig>,
    /// Serving anyone (edge).
    server_open: Arc<rustls::ServerConfig>,
    /// Dialling a peer: the CAs for its certificate, ours presented.
    client: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for MutualTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MutualTls")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

fn read(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("{what}: {}", path.display()))
}

/// The ALPN protocol of gRPC (HTTP/2), and HTTP/1.1 for edge's browsers.
const H2: &[u8] = b"h2";
const HTTP1: &[u8] = b"http/1.1";
/// Longest a TLS handshake may take before its connection is dropped: a client that
/// opens a socket and says nothing cannot hold the server's resources.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl Material {
    /// Checks the three texts (certificates, a key that matches the first, at least one
    /// CA) and builds the configurations from them.
    fn build(cert_pem: Vec<u8>, key_pem: Vec<u8>, ca_pem: Vec<u8>) -> anyhow::Result<Material> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!("KJ_TLS_CERT is not PEM: {e}"))?;
        anyhow::ensure!(!chain.is_empty(), "KJ_TLS_CERT holds no certificate");
        let key = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|e| anyhow::anyhow!("KJ_TLS_KEY holds no private key: {e}"))?;
        let mut roots = rustls::RootCertStore::empty();
        for ca in CertificateDer::pem_slice_iter(&ca_pem) {
            let ca = ca.map_err(|e| anyhow::anyhow!("KJ_TLS_CA is not PEM: {e}"))?;
            roots
                .add(ca)
                .map_err(|e| anyhow::anyhow!("KJ_TLS_CA: {e}"))?;
        }
        anyhow::ensure!(!roots.is_empty(), "KJ_TLS_CA holds no certificate");
        let roots = Arc::new(roots);
        let versions = |e: rustls::Error| anyhow::anyhow!("TLS: {e}");
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            roots.clone(),
            provider.clone(),
        )
        .build()
        .map_err(|e| anyhow::anyhow!("KJ_TLS_CA: {e}"))?;
        // `with_single_cert` refuses a key that is not the certificate's.
        let mismatch =
            |e: rustls::Error| anyhow::anyhow!("KJ_TLS_KEY does not go with KJ_TLS_CERT: {e}");
        let mut server_mutual = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(versions)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(mismatch)?;
        server_mutual.alpn_protocols = vec![H2.to_vec()];
        let mut server_open = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(versions)?
            .with_no_client_auth()
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(mismatch)?;
        server_open.alpn_protocols = vec![H2.to_vec(), HTTP1.to_vec()];
        let mut client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(versions)?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(mismatch)?;
        client.alpn_protocols = vec![H2.to_vec()];
        Ok(Material {
            cert_pem,
            key_pem,
            ca_pem,
            server_mutual: Arc::new(server_mutual),
            server_open: Arc::new(server_open),
            client: Arc::new(client),
        })
    }
}

impl MutualTls {
    fn of(material: Material, files: Option<[PathBuf; 3]>) -> Self {
        MutualTls {
            in_force: Arc::new(RwLock::new(Arc::new(material))),
            files: files.map(Arc::new),
        }
    }

    /// From PEM text already in memory (never reloaded). Panics on text that is not a
    /// certificate, its key and a CA: for sets made in memory by `kuajing`.
    pub fn from_pem(
        cert: impl Into<Vec<u8>>,
        key: impl Into<Vec<u8>>,
        ca: impl Into<Vec<u8>>,
    ) -> Self {
        let material = Material::build(cert.into(), key.into(), ca.into())
            .expect("a certificate, its key and a CA in PEM");
        Self::of(material, None)
    }

    /// Reads the three PEM files (and, with [`MutualTls::watch`], reads them again when
    /// they change).
    pub fn load(cert: &Path, key: &Path, ca: &Path) -> anyhow::Result<Self> {
        let material = Material::build(
            read(cert, "KJ_TLS_CERT")?,
            read(key, "KJ_TLS_KEY")?,
            read(ca, "KJ_TLS_CA")?,
        )
        .with_context(|| {
            format!(
                "TLS files {}, {}, {}",
                cert.display(),
                key.display(),
                ca.display()
            )
        })?;
        Ok(Self::of(
            material,
            Some([cert.to_owned(), key.to_owned(), ca.to_owned()]),
        ))
    }

    fn material(&self) -> Arc<Material> {
        self.in_force
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Checks the files every `every` and puts a changed set in force (see the module's
    /// notes), until the runtime stops; `None` for a set made in memory.
    pub fn watch(&self, every: Duration) -> Option<tokio::task::JoinHandle<()>> {
        let files = self.files.clone()?;
        let now = self.material();
        let in_force = vec![
            now.cert_pem.clone(),
            now.key_pem.clone(),
            now.ca_pem.clone(),
        ];
        let tls = self.clone();
        Some(crate::key_files::on_change(
            files.to_vec(),
            in_force,
            every,
            move |contents| {
                let built = match <[Vec<u8>; 3]>::try_from(contents) {
                    Ok([cert, key, ca]) => Material::build(cert, key, ca),
                    Err(_) => Err(anyhow::anyhow!("three TLS files expected")),
                };
                let tls = tls.clone();
                async move {
                    let material = built?;
                    *tls.in_force.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(material);
                    tracing::info!("TLS certificate, key and CA reloaded");
                    Ok(())
                }
            },
        ))
    }

    /// This side's own (leaf) certificate in DER, as in force now.
    pub fn certificate_der(&self) -> Option<CertificateDer<'static>> {
        CertificateDer::pem_slice_iter(&self.material().cert_pem)
            .next()?
            .ok()
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

    /// The connections `listener` accepts, each after a TLS handshake with the set in
    /// force at that moment: when `require_client`, callers must present a certificate
    /// the CAs signed (the handshake refuses them otherwise). Handshakes run side by side,
    /// so a slow one holds up no other; a failed one is dropped (and logged). Accepting
    /// stops when the stream is dropped.
    pub fn incoming(
        &self,
        listener: TcpListener,
        require_client: bool,
    ) -> impl futures_util::Stream<
        Item = Result<tokio_rustls::server::TlsStream<TcpStream>, std::io::Error>,
    > + Send
    + 'static {
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let tls = self.clone();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    () = tx.closed() => return,
                };
                let (tcp, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: try again shortly.
                        tracing::warn!(error = %e, "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                // An answer is several small HTTP/2 frames: no Nagle.
                let _ = tcp.set_nodelay(true);
                let material = tls.material();
                let config = if require_client {
                    material.server_mutual.clone()
                } else {
                    material.server_open.clone()
                };
                let tx = tx.clone();
                tokio::spawn(async move {
                    let acceptor = tokio_rustls::TlsAcceptor::from(config);
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            let _ = tx.send(Ok(stream)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|stream| (stream, rx))
        })
    }

    /// A channel to `endpoint` (an `http://` URL: the TLS is ours) whose every new
    /// connection is made with the set in force then, expecting the peer's certificate to
    /// carry `peer` (its short name) and presenting this side's.
    pub fn channel(&self, endpoint: Endpoint, peer: &str) -> anyhow::Result<Channel> {
        let name = ServerName::try_from(peer.to_owned())
            .map_err(|e| anyhow::anyhow!("peer name {peer:?}: {e}"))?;
        Ok(endpoint.connect_with_connector_lazy(Dial {
            tls: self.clone(),
            name,
        }))
    }

    /// tonic's client side, from the set in force now (for one-off clients: tests).
    pub fn client(&self) -> ClientTlsConfig {
        let m = self.material();
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&m.ca_pem))
            .identity(Identity::from_pem(&m.cert_pem, &m.key_pem))
    }
}

/// Makes a peer's connections: TCP, then TLS with the set in force.
#[derive(Clone)]
struct Dial {
    tls: MutualTls,
    name: ServerName<'static>,
}

type Dialled = hyper_util::rt::TokioIo<tokio_rustls::client::TlsStream<TcpStream>>;

impl tower::Service<http::Uri> for Dial {
    type Response = Dialled;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Dialled, std::io::Error>> + Send>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let connector = tokio_rustls::TlsConnector::from(self.tls.material().client.clone());
        let name = self.name.clone();
        Box::pin(async move {
            let host = uri
                .host()
                .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_owned())
                .ok_or_else(|| std::io::Error::other(format!("no host in {uri}")))?;
            let port = uri.port_u16().unwrap_or(443);
            let tcp = TcpStream::connect((host.as_str(), port)).await?;
            tcp.set_nodelay(true)?;
            let stream = connector.connect(name, tcp).await?;
            Ok(hyper_util::rt::TokioIo::new(stream))
        })
    }
}

/// `url` dialled in plain text by tonic (its TLS is [`MutualTls::channel`]'s): an
/// `https://` URL becomes `http://`.
pub fn plain_url(url: &str) -> String {
    match url.strip_prefix("https://") {
        Some(rest) => format!("http://{rest}"),
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
    fn our_tls_is_dialled_as_plain_urls() {
        assert_eq!(plain_url("https://wallet:50052"), "http://wallet:50052");
        assert_eq!(plain_url("http://wallet:50052"), "http://wallet:50052");
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
