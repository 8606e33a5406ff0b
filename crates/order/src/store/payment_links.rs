//! `payment_links`: signed, expiring links to pay orders, kept as the hash of their token.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgExecutor;
use uuid::Uuid;

/// A link as stored (a new one is written from the same shape and its token's hash).
pub struct LinkRow {
    pub payment_link_id: Uuid,
    pub order_ids: Vec<Uuid>,
    pub buyer_account_id: Uuid,
    pub creator_account_id: Option<Uuid>,
    pub total_amount: Decimal,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// `query_as!` of [`LinkRow`]: `$head`, the row's columns, then `$tail`
/// (which, or what the statement does first).
macro_rules! links {
    ($head:literal, $tail:literal $(, $arg:expr)*) => {
        sqlx::query_as!(
            LinkRow,
            $head
                + " payment_link_id, order_ids, buyer_account_id, creator_account_id,
                 total_amount, created_at, expires_at, revoked_at "
                + $tail
            $(, $arg)*
        )
    };
}

/// Records a link.
pub async fn insert(db: impl PgExecutor<'_>, l: &LinkRow, token_hash: &[u8]) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO payment_links (payment_link_id, token_hash, order_ids, buyer_account_id,
             creator_account_id, total_amount, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        l.payment_link_id,
        token_hash,
        &l.order_ids,
        l.buyer_account_id,
        l.creator_account_id,
        l.total_amount,
        l.created_at,
        l.expires_at
    )
    .execute(db)
    .await
    .map(drop)
}

/// The link whose token hashes to `token_hash`.
pub async fn by_token(db: impl PgExecutor<'_>, token_hash: &[u8]) -> sqlx::Result<Option<LinkRow>> {
    links!(
        "SELECT",
        "FROM payment_links WHERE token_hash = $1",
        token_hash
    )
    .fetch_optional(db)
    .await
}

/// One link, locked until the transaction ends.
pub async fn get_for_update(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<LinkRow>> {
    links!(
        "SELECT",
        "FROM payment_links WHERE payment_link_id = $1 FOR UPDATE",
        id
    )
    .fetch_optional(db)
    .await
}

/// Revokes a link at `at`.
pub async fn revoke(db: impl PgExecutor<'_>, id: Uuid, at: DateTime<Utc>) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE payment_links SET revoked_at = $2 WHERE payment_link_id = $1",
        id,
        at
    )
    .execute(db)
    .await
    .map(drop)
}
