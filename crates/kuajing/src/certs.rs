//! Development certificates for mutual TLS between the services: one CA and, for each
//! service (and `operator`), a certificate naming it, for both ends of a connection.
//! `kuajing certs` writes a set to a directory; `kuajing up --tls` and the tests make one
//! in memory. A production deployment brings its own from its certificate issuer, with
//! the same shape (see the README's "Mutual TLS").

use std::path::Path;

use anyhow::Context;
use kuajing_platform::tls::MutualTls;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// The callers certificates are made for: the six services, operators and the bank
/// adapter (the sandbox bank of `kuajing up --tls`, or a real one).
pub const CALLERS: [&str; 8] = [
    "edge",
    "identity",
    "wallet",
    "authorization",
    "order",
    "fx",
    kuajing_platform::auth::OPERATOR,
    "bank",
];

/// A CA and the certificates it issued, in PEM.
#[derive(Clone)]
pub struct DevCertificates {
    ca_pem: String,
    issued: Vec<Issued>,
}

#[derive(Clone)]
struct Issued {
    name: String,
    cert_pem: String,
    key_pem: String,
}

impl std::fmt::Debug for DevCertificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevCertificates")
            .field(
                "names",
                &self.issued.iter().map(|i| &i.name).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl DevCertificates {
    /// A new CA and a certificate for each of `names`, valid for a year, each carrying
    /// its name and every one of `hosts` (DNS names or IP addresses the services are
    /// reached by) as subject alternative names, usable as server and as client.
    pub fn generate(names: &[&str], hosts: &[String]) -> anyhow::Result<DevCertificates> {
        let until = chrono::Utc::now() + chrono::Duration::days(365);
        let not_after = {
            use chrono::Datelike;
            rcgen::date_time_ymd(until.year(), until.month() as u8, until.day() as u8)
        };
        let ca_key = KeyPair::generate().context("CA key")?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca.distinguished_name
            .push(DnType::CommonName, "Kuajing development CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca.not_after = not_after;
        let ca_pem = ca.self_signed(&ca_key).context("CA certificate")?.pem();
        let issuer = Issuer::new(ca, ca_key);

        let mut issued = Vec::new();
        for name in names {
            let sans: Vec<String> = std::iter::once((*name).to_owned())
                .chain(hosts.iter().cloned())
                .collect();
            let mut leaf = CertificateParams::new(sans)
                .with_context(|| format!("{name}: subject alternative names"))?;
            leaf.distinguished_name.push(DnType::CommonName, *name);
            leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            leaf.extended_key_usages = vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ];
            leaf.not_after = not_after;
            let key = KeyPair::generate().with_context(|| format!("{name}: key"))?;
            let cert = leaf
                .signed_by(&key, &issuer)
                .with_context(|| format!("{name}: certificate"))?;
            issued.push(Issued {
                name: (*name).to_owned(),
                cert_pem: cert.pem(),
                key_pem: key.serialize_pem(),
            });
        }
        Ok(DevCertificates { ca_pem, issued })
    }

    /// A set for local use: every caller, reachable as `localhost` and 127.0.0.1.
    pub fn local() -> anyhow::Result<DevCertificates> {
        Self::generate(&CALLERS, &["localhost".to_owned(), "127.0.0.1".to_owned()])
    }

    /// The CA certificate (PEM).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// `name`'s side of mutual TLS, if a certificate was issued to it.
    pub fn tls_for(&self, name: &str) -> Option<MutualTls> {
        self.issued.iter().find(|i| i.name == name).map(|i| {
            MutualTls::from_pem(
                i.cert_pem.as_bytes(),
                i.key_pem.as_bytes(),
                self.ca_pem.as_bytes(),
            )
        })
    }

    /// Writes `ca.pem` and `<name>.pem`, `<name>.key` for each name into `dir` (keys
    /// readable by their owner only).
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        write_file(&dir.join("ca.pem"), &self.ca_pem, false)?;
        for i in &self.issued {
            write_file(&dir.join(format!("{}.pem", i.name)), &i.cert_pem, false)?;
            write_file(&dir.join(format!("{}.key", i.name)), &i.key_pem, true)?;
        }
        Ok(())
    }
}

fn write_file(path: &Path, text: &str, secret: bool) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = secret;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_certificate_names_its_caller_and_no_other() {
        let set = DevCertificates::local().unwrap();
        for name in CALLERS {
            let tls = set.tls_for(name).expect("issued");
            let der = tls.certificate_der().expect("one certificate");
            assert!(
                kuajing_platform::tls::certificate_names(&der, name),
                "{name}"
            );
            assert!(kuajing_platform::tls::certificate_names(&der, "localhost"));
            let other = if name == "wallet" { "order" } else { "wallet" };
            assert!(
                !kuajing_platform::tls::certificate_names(&der, other),
                "{name}"
            );
        }
        assert!(set.tls_for("logistics").is_none());
    }

    #[test]
    fn written_keys_are_private() {
        let dir = std::env::temp_dir().join(format!("kj-certs-{}", std::process::id()));
        DevCertificates::local().unwrap().write(&dir).unwrap();
        assert!(dir.join("ca.pem").exists());
        assert!(dir.join("operator.pem").exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("wallet.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "key readable by others: {mode:o}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
