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

/// The table every service keeps in its own schema. `refusal` holds a terminal refusal
/// ([`Refusal`]) in place of a response.
pub const TABLE_SQL: &str = include_str!("../sql/idempotency.sql");

/// A refusal as recorded: replayed to every repeat of its request id.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Refusal {
    /// The gRPC code.
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// The message (never holds a secret).
    #[prost(string, tag = "2")]
    pub message: String,
    /// The encoded `google.rpc.Status` details.
    #[prost(bytes = "vec", tag = "3")]
    pub details: Vec<u8>,
}

impl Refusal {
    /// The refusal of `status`.
    pub fn of(status: &Status) -> Refusal {
        Refusal {
            code: status.code() as i32,
            message: status.message().to_owned(),
            details: status.details().to_vec(),
        }
    }

    /// The status it stands for.
    pub fn status(&self) -> Status {
        Status::with_details(
            tonic::Code::from_i32(self.code),
            self.message.clone(),
            self.details.clone().into(),
        )
    }
}

/// True for a refusal that decides the request for good, so its request id answers it
/// forever (a later retry must not succeed where the first was refused: a saga that
/// compensated a refused hold must never meet that hold created after all). Not recorded:
/// bad input (nothing is claimed for it), and failures that invite a retry (the service,
/// a peer or the database failed, a conflict, a deadline).
pub fn is_terminal_refusal(status: &Status) -> bool {
    use tonic::Code;
    match status.code() {
        Code::FailedPrecondition
        | Code::NotFound
        | Code::AlreadyExists
        | Code::PermissionDenied
        | Code::OutOfRange => true,
        Code::ResourceExhausted => crate::outbound::answered(status),
        _ => false,
    }
}

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
    /// The request's fingerprint, for recording a refusal under the claim.
    hash: [u8; 32],
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
        return Ok(Begin::Fresh(Key {
            request_id: id,
            hash,
        }));
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

/// A record as read: method, request fingerprint, response, refusal.
type StoredRow = (String, Vec<u8>, Option<Vec<u8>>, Option<Vec<u8>>);

/// The record of `id`: None if there is none, Some(None) if it has no response yet.
async fn stored<Resp: Message + Default>(
    conn: &mut PgConnection,
    domain: ErrorDomain,
    method: &str,
    request_id: &str,
    id: Uuid,
    hash: &[u8; 32],
) -> Result<Option<Option<Resp>>, Status> {
    let row: Option<StoredRow> = sqlx::query_as(
        "SELECT method, request_hash, response, refusal FROM idempotency_records WHERE request_id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(internal)?;
    let Some((stored_method, stored_hash, response, refusal)) = row else {
        return Ok(None);
    };
    if stored_method != method || stored_hash != hash {
        return Err(domain.idempotency_key_reused(request_id));
    }
    // A recorded refusal is the answer, again.
    if let Some(bytes) = refusal {
        return Err(Refusal::decode(bytes.as_slice())
            .map_err(internal)?
            .status());
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
/// A refusal (an `Err`) rolls the work back; a terminal one ([`is_terminal_refusal`]) is
/// then recorded under the request id and replayed to every repeat, so a refused request
/// never succeeds later. Bad input and failures that invite a retry leave nothing.
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
    let (response, mut tx) = match work(tx).await {
        Ok(done) => done,
        Err(status) => {
            // The work's transaction is gone with everything it wrote; the refusal is
            // recorded on its own, so every repeat of the request id answers it.
            if is_terminal_refusal(&status) {
                record_refusal(pool, method, &key, &status).await?;
            }
            return Err(status);
        }
    };
    key.complete(&mut tx, &response).await?;
    tx.commit().await.map_err(internal)?;
    Ok(response)
}

/// Records `status` as the answer to `key`'s request (unless a concurrent repeat
/// recorded an answer first).
async fn record_refusal(
    pool: &sqlx::PgPool,
    method: &str,
    key: &Key,
    status: &Status,
) -> Result<(), Status> {
    sqlx::query(
        "INSERT INTO idempotency_records (request_id, method, request_hash, refusal)
         VALUES ($1, $2, $3, $4) ON CONFLICT (request_id) DO NOTHING",
    )
    .bind(key.request_id)
    .bind(method)
    .bind(&key.hash[..])
    .bind(Refusal::of(status).encode_to_vec())
    .execute(pool)
    .await
    .map_err(internal)?;
    Ok(())
}
