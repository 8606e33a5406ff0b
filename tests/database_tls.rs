//! The services' database connections verify the server (`sslmode=verify-full` with
//! `sslrootcert`, as the prod overlay's URLs do against CloudNativePG's CA): on a private
//! Postgres serving TLS with a certificate our own CA issued for 127.0.0.1, a service's
//! pool connects encrypted; a client trusting another CA is refused, and so is a server
//! certificate issued for another name (which `verify-ca` would have accepted).

use std::path::Path;

use kuajing::certs::DevCertificates;
use kuajing::pgcluster::Cluster;
use kuajing_platform::db::{self, PoolSettings};
use sqlx::{Connection, PgConnection};

/// Serves TLS with `certs`' certificate for `name` (its key readable by the server only).
async fn serve_tls(cluster: &Cluster, certs: &DevCertificates, name: &str) -> anyhow::Result<()> {
    // Written where the server (the postgres user, when run as root) may read them.
    let dir = cluster.data_dir().join(format!("tls-{name}"));
    certs.write(&dir)?;
    let (cert, key) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    cluster.hand_over(&dir)?;
    let mut admin = PgConnection::connect_with(&cluster.admin_options()).await?;
    for (setting, value) in [("ssl_cert_file", &cert), ("ssl_key_file", &key)] {
        let sql = format!("ALTER SYSTEM SET {setting} = '{}'", value.display());
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut admin)
            .await?;
    }
    for sql in ["ALTER SYSTEM SET ssl = on", "SELECT pg_reload_conf()"] {
        sqlx::raw_sql(sql).execute(&mut admin).await?;
    }
    // The reload is asynchronous: wait until a new session sees the certificate in force.
    for _ in 0..50 {
        let mut probe = PgConnection::connect_with(&cluster.admin_options()).await?;
        let file: String = sqlx::query_scalar("SHOW ssl_cert_file")
            .fetch_one(&mut probe)
            .await?;
        if Path::new(&file) == cert {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    anyhow::bail!("the server did not take its certificate")
}

fn url(port: u16, mode: &str, ca: &Path) -> String {
    format!(
        "postgres://postgres@127.0.0.1:{port}/postgres?sslmode={mode}&sslrootcert={}",
        ca.display()
    )
}

async fn pool(url: &str) -> anyhow::Result<sqlx::PgPool> {
    let options = db::parse_url(url)?;
    db::connect(&options, "public", "kuajing-test", &PoolSettings::default()).await
}

#[tokio::test]
async fn database_connections_verify_the_server_certificate_and_its_name() -> anyhow::Result<()> {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let dir = std::env::temp_dir().join(format!("kj-pg-tls-{}", std::process::id()));
    let cluster = Cluster::new(&dir, port)?;
    cluster.discard()?;
    cluster.init()?;
    cluster.start()?;
    let result = async {
        // Our CA issued the server's certificate for the address the URL names.
        let ours = DevCertificates::generate(&["postgres"], &["127.0.0.1".to_owned()])?;
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, ours.ca_pem())?;
        serve_tls(&cluster, &ours, "postgres").await?;

        let p = pool(&url(port, "verify-full", &ca)).await?;
        let encrypted: bool =
            sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                .fetch_one(&p)
                .await?;
        assert!(encrypted, "the service's session is encrypted");
        p.close().await;

        // A client that trusts another CA refuses the server.
        let other = DevCertificates::generate(&["postgres"], &["127.0.0.1".to_owned()])?;
        let other_ca = dir.join("other-ca.pem");
        std::fs::write(&other_ca, other.ca_pem())?;
        let refused = pool(&url(port, "verify-full", &other_ca)).await;
        let refused = refused.err().map(|e| format!("{e:#}")).unwrap_or_default();
        assert!(
            refused.contains("certificate"),
            "a server our CA did not vouch for is refused: {refused}"
        );

        // A certificate from the trusted CA but for another name: verify-ca would take it,
        // verify-full refuses it.
        let elsewhere = DevCertificates::generate(&["db.elsewhere.example"], &[])?;
        let elsewhere_ca = dir.join("elsewhere-ca.pem");
        std::fs::write(&elsewhere_ca, elsewhere.ca_pem())?;
        serve_tls(&cluster, &elsewhere, "db.elsewhere.example").await?;
        pool(&url(port, "verify-ca", &elsewhere_ca))
            .await?
            .close()
            .await;
        let wrong_name = pool(&url(port, "verify-full", &elsewhere_ca)).await;
        let wrong_name = wrong_name
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert!(
            wrong_name.contains("certificate"),
            "a certificate for another host is refused under verify-full: {wrong_name}"
        );
        anyhow::Ok(())
    }
    .await;
    cluster.stop()?;
    cluster.discard()?;
    result
}
