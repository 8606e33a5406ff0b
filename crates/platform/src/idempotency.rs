//! Idempotency records: every mutating RPC is idempotent by its `request_id`.
//!
//! The record is written in the same transaction as the effect it guards:
//!
//! ```text
//! let mut tx = pool.begin().await?;
//! match idempotency::begin(&mut tx, DOMAIN, "CreateTransfer", &req.request_id, &req).await? {
//!     Replay(response) => return Ok(response),          // the first answer, again
//!     Fresh(key) => {
//!         let response = /* the effect, in `tx` */;
//!         key.complete(&mut tx, &response).await?;
//!         tx.commit().await?;
//!     }
//! }
//! ```
//!
//! A concurrent duplicate blocks on the first one's uncommitted row, then sees it
//! committed and replays its answer; if the first rolled back, the duplicate runs fresh.
//! Each service's schema holds its own `idempotency_records` table (created by the SQL in
//! [`TABLE_SQL`], which every service's first migration includes).

use prost::Message;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use tonic::Status;
use uuid::Uuid;

use crate::error::{ErrorDomain, internal, invalid_field};

/// The table every service keeps in its own schema.
pub const TABLE_SQL: &str = "CREATE TABLE IF NOT EXISTS idempotency_records (
    request_id   uuid        PRIMARY KEY,
    method       text        NOT NULL,
    request_hash bytea       NOT NULL,
    response     bytea,
    created_at   timestamptz NOT NULL DEFAULT now()
)";

/// What `begin` found.
pub enum Begin<R> {
    /// The same request ran before: its first response.
    Replay(R),
    /// A new request: do the work, then `complete` the key in the same transaction.
    Fresh(Key),
}

/// A claimed, not yet completed idempotency key.
#[derive(Debug)]
pub struct Key {
    request_id: Uuid,
}

impl Key {
    /// Stores the response beside the claim; commit the transaction afterwards.
    pub async fn complete<R: Message>(
        self,
        conn: &mut PgConnection,
        response: &R,
    ) -> Result<(), Status> {
        sqlx::query("UPDATE idempotency_records SET response = $2 WHERE request_id = $1")
            .bind(self.request_id)
            .bind(response.encode_to_vec())
            .execute(conn)
            .await
            .map_err(internal)?;
        Ok(())
    }
}

/// Parses a `request_id` field: a UUID is required.
pub fn parse_request_id(request_id: &str) -> Result<Uuid, Status> {
    if request_id.is_empty() {
        return Err(invalid_field(
            "request_id",
            "is required (a UUID chosen by the caller)",
        ));
    }
    Uuid::try_parse(request_id).map_err(|_| {
        invalid_field(
            "request_id",
            "must be a UUID such as 0193b0c4-8a52-7c8e-9d7a-1f2e3d4c5b6a",
        )
    })
}

/// Claims `request_id` for `method` with this request body, or finds the earlier claim.
pub async fn begin<Req: Message, Resp: Message + Default>(
    conn: &mut PgConnection,
    domain: ErrorDomain,
    method: &str,
    request_id: &str,
    request: &Req,
) -> Result<Begin<Resp>, Status> {
    begin_hashed(
        conn,
        domain,
        method,
        request_id,
        request_hash(method, request),
    )
    .await
}

/// As [`begin`], with the request's fingerprint computed by the caller: a service whose
/// requests carry secrets (passwords, PINs, codes) passes a keyed MAC of the request, so
/// that the stored fingerprint can't be checked against guesses of the secret offline.
pub async fn begin_hashed<Resp: Message + Default>(
    conn: &mut PgConnection,
    domain: ErrorDomain,
    method: &str,
    request_id: &str,
    hash: [u8; 32],
) -> Result<Begin<Resp>, Status> {
    let id = parse_request_id(request_id)?;
    let inserted = sqlx::query(
        "INSERT INTO idempotency_records (request_id, method, request_hash)
         VALUES ($1, $2, $3) ON CONFLICT (request_id) DO NOTHING",
    )
    .bind(id)
    .bind(method)
    .bind(&hash[..])
    .execute(&mut *conn)
    .await
    .map_err(internal)?
    .rows_affected();
    if inserted == 1 {
        return Ok(Begin::Fresh(Key { request_id: id }));
    }
    match stored(conn, domain, method, request_id, id, &hash).await? {
        Some(Some(response)) => Ok(Begin::Replay(response)),
        Some(None) => Err(internal("idempotency record committed without a response")),
        None => Err(internal("idempotency record vanished after a conflict")),
    }
}

/// The answer recorded for a finished `request_id`, read without claiming it or waiting:
/// None when no committed record exists (a concurrent first attempt is not waited for; the
/// claim in `begin` still orders the two). IDEMPOTENCY_KEY_REUSED on another body. For a
/// cheap early replay where running again would only repeat reads.
pub async fn recorded<Req: Message, Resp: Message + Default>(
    conn: &mut PgConnection,
    domain: ErrorDomain,
    method: &str,
    request_id: &str,
    request: &Req,
) -> Result<Option<Resp>, Status> {
    let id = parse_request_id(request_id)?;
    let hash = request_hash(method, request);
    Ok(stored(conn, domain, method, request_id, id, &hash)
        .await?
        .flatten())
}

/// The record of `id`: None if there is none, Some(None) if it has no response yet.
async fn stored<Resp: Message + Default>(
    conn: &mut PgConnection,
    domain: ErrorDomain,
    method: &str,
    request_id: &str,
    id: Uuid,
    hash: &[u8; 32],
) -> Result<Option<Option<Resp>>, Status> {
    let row: Option<(String, Vec<u8>, Option<Vec<u8>>)> = sqlx::query_as(
        "SELECT method, request_hash, response FROM idempotency_records WHERE request_id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(internal)?;
    let Some((stored_method, stored_hash, response)) = row else {
        return Ok(None);
    };
    if stored_method != method || stored_hash != hash {
        return Err(domain.idempotency_key_reused(request_id));
    }
    response
        .map(|bytes| Resp::decode(bytes.as_slice()).map_err(internal))
        .transpose()
        .map(Some)
}

/// SHA-256 over the method name and the request's protobuf encoding. Anyone can compute
/// it: a request carrying a secret must not be fingerprinted this way (see
/// [`begin_hashed`]), or must have the secret cleared first.
pub fn request_hash<Req: Message>(method: &str, request: &Req) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update([0]);
    h.update(request.encode_to_vec());
    h.finalize().into()
}

/// A transaction handed to the work of an idempotent request.
pub type Tx = sqlx::Transaction<'static, sqlx::Postgres>;

/// Runs `work` once per `request_id`: opens a transaction, claims the key (or replays the
/// first answer), runs the work in the same transaction, stores its answer, commits.
/// A refusal (an `Err`) rolls everything back, the claim included, so a retry after the
/// cause is fixed (funds arrived, say) runs afresh; only successes are replayed.
pub async fn run<Req, Resp, F, Fut>(
    pool: &sqlx::PgPool,
    domain: ErrorDomain,
    method: &str,
    request_id: &str,
    request: &Req,
    work: F,
) -> Result<Resp, Status>
where
    Req: Message,
    Resp: Message + Default,
    F: FnOnce(Tx) -> Fut,
    Fut: std::future::Future<Output = Result<(Resp, Tx), Status>>,
{
    let mut tx = pool.begin().await.map_err(internal)?;
    let key = match begin::<Req, Resp>(&mut tx, domain, method, request_id, request).await? {
        Begin::Replay(response) => return Ok(response),
        Begin::Fresh(key) => key,
    };
    let (response, mut tx) = work(tx).await?;
    key.complete(&mut tx, &response).await?;
    tx.commit().await.map_err(internal)?;
    Ok(response)
}
