//! Postgres for one service: its own role and schema, a pool confined to that schema, and
//! its embedded migrations run under that role.
//!
//! Provisioning needs an administrative connection (a role that may create roles); it is
//! idempotent and safe to run from several processes at once. In production each service
//! is instead given a URL for its own, already provisioned role (see `k8s/`).

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool};

/// True for the identifiers we create: lower-case ASCII letters, digits and `_`.
fn is_plain_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() < 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !s.as_bytes()[0].is_ascii_digit()
}

/// Parses a `postgres://` URL.
pub fn parse_url(url: &str) -> anyhow::Result<PgConnectOptions> {
    PgConnectOptions::from_str(url).map_err(|e| anyhow::anyhow!("invalid database URL: {e}"))
}

/// The runtime role beside the owner role `owner`: `<owner>_app`.
pub fn runtime_role_of(owner: &str) -> String {
    format!("{owner}_app")
}

/// Creates (if missing) the login role `role`, the schema `schema` it owns, and the login
/// role its service serves as ([`runtime_role_of`]; its rights come with [`migrate`]), and
/// closes the schema to everyone else. Returns connect options for `role` on the same
/// server and database (the admin's password is kept; with trust or peer auth it is not
/// needed).
pub async fn provision(
    admin: &PgConnectOptions,
    schema: &str,
    role: &str,
) -> anyhow::Result<PgConnectOptions> {
    anyhow::ensure!(is_plain_identifier(schema), "bad schema name {schema:?}");
    anyhow::ensure!(is_plain_identifier(role), "bad role name {role:?}");
    let mut conn = PgConnection::connect_with(admin).await?;
    // Roles are cluster-wide: two databases provisioned at once race on CREATE ROLE, and
    // the loser sees duplicate_object or unique_violation. Both mean "it exists".
    let create_role = |name: &str| {
        format!(
            "DO $$ BEGIN CREATE ROLE {name} LOGIN; \
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        )
    };
    let statements = [
        create_role(role),
        create_role(&runtime_role_of(role)),
        format!("CREATE SCHEMA IF NOT EXISTS {schema} AUTHORIZATION {role}"),
        format!("ALTER SCHEMA {schema} OWNER TO {role}"),
        format!("REVOKE ALL ON SCHEMA {schema} FROM PUBLIC"),
    ];
    // Replicas start together (pods of one Deployment, their init containers): concurrent
    // GRANTs and ALTERs on one schema fail with "tuple concurrently updated".
    one_at_a_time(&mut conn, "kuajing.provision", statements).await?;
    conn.close().await?;
    Ok(admin.clone().username(role))
}

/// Pool settings for one service.
#[derive(Clone, Debug)]
pub struct PoolSettings {
    /// Upper bound on open connections.
    pub max_connections: u32,
    /// Postgres `statement_timeout` for every statement of the service.
    pub statement_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_connections: 8,
            statement_timeout: Duration::from_secs(30),
        }
    }
}

/// Opens a pool whose sessions see only `schema` (its `search_path`) and name the service
/// in `application_name`, so `pg_stat_activity` shows who is who.
///
/// The session's settings are the role's defaults in this database (`ALTER ROLE ... IN
/// DATABASE ... SET`), set here when they differ, never startup options: a transaction-mode
/// pooler (PgBouncer) refuses the `options` startup parameter and hands one client's
/// transactions to many server sessions, each of which must already be right. Behind such a
/// pooler, prepared statements need PgBouncer 1.21 or newer with `max_prepared_statements`
/// (docs/OPERATIONS.md).
pub async fn connect(
    options: &PgConnectOptions,
    schema: &str,
    application: &str,
    settings: &PoolSettings,
) -> anyhow::Result<PgPool> {
    anyhow::ensure!(is_plain_identifier(schema), "bad schema name {schema:?}");
    // No float travels (money is numeric), so no extra_float_digits for a pooler to refuse.
    let options = options
        .clone()
        .application_name(application)
        .extra_float_digits(None);
    settle_session_defaults(&options, schema, settings).await?;
    let pool = PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await?;
    Ok(pool)
}

/// Makes `schema` the role's `search_path` and the pool's statement timeout its
/// `statement_timeout` in the connected database, unless a session already has both.
async fn settle_session_defaults(
    options: &PgConnectOptions,
    schema: &str,
    settings: &PoolSettings,
) -> anyhow::Result<()> {
    let timeout = format!("{}ms", settings.statement_timeout.as_millis());
    let mut conn = PgConnection::connect_with(options).await?;
    let (path, current_timeout, database): (String, String, String) = sqlx::query_as(
        "SELECT current_setting('search_path'),
                current_setting('statement_timeout'),
                current_database()",
    )
    .fetch_one(&mut conn)
    .await?;
    // Postgres shows `30s` for 30000ms: compare what it would show for ours.
    let (wanted_timeout,): (String,) =
        sqlx::query_as("SELECT set_config('statement_timeout', $1, true)")
            .bind(&timeout)
            .fetch_one(&mut conn)
            .await?;
    if path == schema && current_timeout == wanted_timeout {
        return conn.close().await.map_err(Into::into);
    }
    anyhow::ensure!(
        is_plain_identifier(&database),
        "database name {database:?} is not a plain identifier"
    );
    // Replicas starting together would update one catalog row at once ("tuple
    // concurrently updated"). The timeout is a number of our own making.
    let statements = [
        format!("ALTER ROLE CURRENT_USER IN DATABASE {database} SET search_path TO {schema}"),
        format!(
            "ALTER ROLE CURRENT_USER IN DATABASE {database} SET statement_timeout TO '{timeout}'"
        ),
    ];
    one_at_a_time(&mut conn, "kuajing.session-defaults", statements).await?;
    conn.close().await?;
    Ok(())
}

/// Applies the platform's own tables (idempotency records, the operator audit log), then the service's embedded
/// migrations, all under the service's own role, then grants the runtime role
/// ([`runtime_role_of`] the pool's role, when it exists) the rows of the schema and nothing
/// more. Running it again is a no-op; concurrent runs serialise on sqlx's advisory lock.
pub async fn migrate(pool: &PgPool, migrator: &Migrator, schema: &str) -> anyhow::Result<()> {
    anyhow::ensure!(is_plain_identifier(schema), "bad schema name {schema:?}");
    // Pods of one Deployment migrate together (their init containers): two concurrent
    // CREATE TABLE IF NOT EXISTS collide in the catalog, so one at a time.
    let mut conn = pool.acquire().await?;
    let tables = [
        crate::idempotency::TABLE_SQL.to_owned(),
        crate::audit::TABLE_SQL.to_owned(),
    ];
    one_at_a_time(&mut conn, "kuajing.platform-tables", tables).await?;
    drop(conn);
    migrator.run(pool).await?;
    grant_runtime(pool, schema).await
}

/// Lets the runtime role beside the pool's role read and write every row of `schema`:
/// `SELECT`, `INSERT`, `UPDATE`, `DELETE` on its tables and the use of its sequences. Not
/// owning them, it can alter, drop or truncate nothing, nor drop a trigger. A deployment
/// without that role serves as the owner (logged).
async fn grant_runtime(pool: &PgPool, schema: &str) -> anyhow::Result<()> {
    let owner: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(pool)
        .await?;
    let runtime = runtime_role_of(&owner);
    anyhow::ensure!(is_plain_identifier(&runtime), "bad role name {runtime:?}");
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
            .bind(&runtime)
            .fetch_one(pool)
            .await?;
    if !exists {
        tracing::warn!(
            role = %runtime,
            "no runtime role: whoever serves with the owner's URL can change the schema"
        );
        return Ok(());
    }
    let statements = [
        format!("GRANT USAGE ON SCHEMA {schema} TO {runtime}"),
        format!(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {runtime}"
        ),
        format!("GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {schema} TO {runtime}"),
        // The record of which migrations ran is the owner's alone.
        format!("REVOKE ALL ON TABLE {schema}._sqlx_migrations FROM {runtime}"),
    ];
    // Replicas migrating together would update the same ACLs at once.
    let mut conn = pool.acquire().await?;
    one_at_a_time(&mut conn, "kuajing.grants", statements).await
}

/// Runs `statements` (DDL of our own making: identifiers checked by the caller, nothing
/// from a request) in one transaction, one such transaction per `lock` at a time on the
/// whole server (a transaction-scoped advisory lock, which a transaction pooler carries).
async fn one_at_a_time(
    conn: &mut PgConnection,
    lock: &str,
    statements: impl IntoIterator<Item = String>,
) -> anyhow::Result<()> {
    let mut tx = conn.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(lock)
        .execute(&mut *tx)
        .await?;
    for sql in statements {
        sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_checked() {
        assert!(is_plain_identifier("wallet"));
        assert!(is_plain_identifier("kj_order_2"));
        assert!(!is_plain_identifier("Wallet"));
        assert!(!is_plain_identifier("x; DROP"));
        assert!(!is_plain_identifier("1abc"));
        assert!(!is_plain_identifier(""));
    }
}
