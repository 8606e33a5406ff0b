//! `orders`: each order's document (the `Order` message, encoded) and the columns beside it
//! that filters and the background loops read, rewritten together.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgExecutor;
use uuid::Uuid;

/// The filter columns of an order, derived from its document.
pub struct OrderColumns {
    pub buyer_account_id: Option<Uuid>,
    pub buyer_email: String,
    pub buyer_name: String,
    pub buyer_member_id: String,
    pub buyer_region_code: String,
    pub marketplace_code: i16,
    pub external_order_id: String,
    pub currency: String,
    pub total: Decimal,
    pub destination: String,
    pub export_method: i16,
    pub shipping_method: i16,
    pub payment_method: i16,
    pub salesperson: String,
    pub product_text: String,
    pub pending_payment_id: Option<Uuid>,
    pub paid_at: Option<DateTime<Utc>>,
    pub auto_confirm_at: Option<DateTime<Utc>>,
    pub expire_at: Option<DateTime<Utc>>,
    pub ship_by_at: Option<DateTime<Utc>>,
    pub first_shipped_at: Option<DateTime<Utc>>,
}

/// What identifies a new order beside its columns.
pub struct NewOrder<'a> {
    pub order_id: Uuid,
    pub order_number: &'a str,
    /// `kuajing.order.v1.OrderKind`.
    pub kind: i16,
    /// `kuajing.order.v1.OrderStatus`.
    pub status: i16,
    pub supplier_account_id: Uuid,
    /// The buyer's region when the document has none (a marketplace order's).
    pub buyer_region_code: &'a str,
    pub at: DateTime<Utc>,
    pub doc: Vec<u8>,
}

/// A changed order: its new status, version (the etag), time and document.
pub struct Saved {
    pub order_id: Uuid,
    pub status: i16,
    pub version: i64,
    pub at: DateTime<Utc>,
    pub doc: Vec<u8>,
}

/// The order filters of ListOrders and CountOrdersByStatus; `None`, "" and empty are "any".
#[derive(Default)]
pub struct OrderFilter {
    pub supplier: Option<Uuid>,
    pub buyer: Option<Uuid>,
    /// An order number prefix, a buyer's email, or part of a buyer's name or member id or of
    /// the goods.
    pub query: String,
    pub kinds: Vec<i16>,
    pub salespeople: Vec<String>,
    pub destinations: Vec<String>,
    pub buyer_regions: Vec<String>,
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub amount_currency: Option<String>,
    pub amount_min: Option<Decimal>,
    pub amount_max: Option<Decimal>,
    pub currencies: Vec<String>,
    pub export_methods: Vec<i16>,
    pub shipping_methods: Vec<i16>,
    pub payment_methods: Vec<i16>,
}

/// An order document with its place in a list.
pub struct Listed {
    pub order_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub doc: Vec<u8>,
}

/// The orders of one status matching a filter, with how many shipped on time and late.
pub struct StatusCountRow {
    pub status: i16,
    pub n: i64,
    pub on_time: i64,
    pub late: i64,
}

/// A month's total of a buyer's payments (`month` set), or the time of the buyer's first
/// payment (`month` unset).
pub struct MonthRow {
    pub month: Option<i32>,
    pub total: Option<Decimal>,
    pub first: Option<DateTime<Utc>>,
}

/// `query!`/`query_as!` over the orders an [`OrderFilter`] matches: `$head` (the SELECT up
/// to WHERE), the filter as `$1`-`$16`, then `$tail` and its own arguments from `$17`.
macro_rules! filtered {
    ($query:ident ($($row:ident,)?) $head:literal, $f:expr, $tail:literal $(, $arg:expr)*) => {
        sqlx::$query!(
            $($row,)?
            $head
                + " ($1::uuid IS NULL OR supplier_account_id = $1)
              AND ($2::uuid IS NULL OR buyer_account_id = $2)
              AND ($3 = '' OR left(order_number, length($3)) = $3 OR buyer_email = lower($3)
                   OR strpos(buyer_name, lower($3)) > 0 OR strpos(buyer_member_id, lower($3)) > 0
                   OR strpos(product_text, lower($3)) > 0)
              AND (cardinality($4::int2[]) = 0 OR kind = ANY($4))
              AND (cardinality($5::text[]) = 0 OR salesperson = ANY($5))
              AND (cardinality($6::text[]) = 0 OR destination_region_code = ANY($6))
              AND (cardinality($7::text[]) = 0 OR buyer_region_code = ANY($7))
              AND ($8::timestamptz IS NULL OR created_at >= $8)
              AND ($9::timestamptz IS NULL OR created_at < $9)
              AND ($10::text IS NULL OR currency = $10)
              AND ($11::numeric IS NULL OR total_amount >= $11)
              AND ($12::numeric IS NULL OR total_amount <= $12)
              AND (cardinality($13::text[]) = 0 OR currency = ANY($13))
              AND (cardinality($14::int2[]) = 0 OR export_method = ANY($14))
              AND (cardinality($15::int2[]) = 0 OR shipping_method = ANY($15))
              AND (cardinality($16::int2[]) = 0 OR payment_method = ANY($16)) "
                + $tail,
            $f.supplier,
            $f.buyer,
            $f.query,
            &$f.kinds,
            &$f.salespeople,
            &$f.destinations,
            &$f.buyer_regions,
            $f.from,
            $f.until,
            $f.amount_currency,
            $f.amount_min,
            $f.amount_max,
            &$f.currencies,
            &$f.export_methods,
            &$f.shipping_methods,
            &$f.payment_methods
            $(, $arg)*
        )
    };
}

/// An order's document, the row locked until the transaction ends.
pub async fn doc_for_update(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Vec<u8>>> {
    sqlx::query_scalar!("SELECT doc FROM orders WHERE order_id = $1 FOR UPDATE", id)
        .fetch_optional(db)
        .await
}

/// An order's document.
pub async fn doc(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Vec<u8>>> {
    sqlx::query_scalar!("SELECT doc FROM orders WHERE order_id = $1", id)
        .fetch_optional(db)
        .await
}

/// The document of the order with this number.
pub async fn doc_by_number(db: impl PgExecutor<'_>, number: &str) -> sqlx::Result<Option<Vec<u8>>> {
    sqlx::query_scalar!("SELECT doc FROM orders WHERE order_number = $1", number)
        .fetch_optional(db)
        .await
}

/// The next value of the order number sequence.
pub async fn next_number(db: impl PgExecutor<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar!(r#"SELECT nextval('order_number_seq') AS "n!""#)
        .fetch_one(db)
        .await
}

/// Inserts a new order (version 1).
pub async fn insert(
    db: impl PgExecutor<'_>,
    o: &NewOrder<'_>,
    c: &OrderColumns,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO orders (order_id, order_number, kind, status, supplier_account_id,
             buyer_account_id, buyer_email, buyer_name, buyer_member_id, buyer_region_code,
             marketplace_code, external_order_id, currency, total_amount, destination_region_code,
             export_method, shipping_method, payment_method, salesperson, product_text,
             pending_payment_id, paid_at, auto_confirm_at, expire_at, version, created_at,
             updated_at, doc)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
             $19, $20, $21, $22, $23, $24, 1, $25, $25, $26)",
        o.order_id,
        o.order_number,
        o.kind,
        o.status,
        o.supplier_account_id,
        c.buyer_account_id,
        c.buyer_email,
        c.buyer_name,
        c.buyer_member_id,
        o.buyer_region_code,
        c.marketplace_code,
        c.external_order_id,
        c.currency,
        c.total,
        c.destination,
        c.export_method,
        c.shipping_method,
        c.payment_method,
        c.salesperson,
        c.product_text,
        c.pending_payment_id,
        c.paid_at,
        c.auto_confirm_at,
        c.expire_at,
        o.at,
        o.doc
    )
    .execute(db)
    .await
    .map(drop)
}

/// Rewrites a changed order's document and columns (a buyer region left empty is kept).
pub async fn update(db: impl PgExecutor<'_>, s: &Saved, c: &OrderColumns) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE orders SET status = $2, buyer_account_id = $3, buyer_email = $4, buyer_name = $5,
             buyer_region_code = CASE WHEN $6 = '' THEN buyer_region_code ELSE $6 END,
             currency = $7, total_amount = $8, destination_region_code = $9, export_method = $10,
             shipping_method = $11, payment_method = $12, salesperson = $13, product_text = $14,
             pending_payment_id = $15, paid_at = $16, auto_confirm_at = $17, expire_at = $18,
             version = $19, updated_at = $20, doc = $21, ship_by_at = $22, first_shipped_at = $23
         WHERE order_id = $1",
        s.order_id,
        s.status,
        c.buyer_account_id,
        c.buyer_email,
        c.buyer_name,
        c.buyer_region_code,
        c.currency,
        c.total,
        c.destination,
        c.export_method,
        c.shipping_method,
        c.payment_method,
        c.salesperson,
        c.product_text,
        c.pending_payment_id,
        c.paid_at,
        c.auto_confirm_at,
        c.expire_at,
        s.version,
        s.at,
        s.doc,
        c.ship_by_at,
        c.first_shipped_at
    )
    .execute(db)
    .await
    .map(drop)
}

/// The order mirroring a marketplace's order, if any.
pub async fn of_marketplace(
    db: impl PgExecutor<'_>,
    marketplace: i16,
    external_order_id: &str,
) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!(
        "SELECT order_id FROM orders WHERE marketplace_code = $1 AND external_order_id = $2",
        marketplace,
        external_order_id
    )
    .fetch_optional(db)
    .await
}

/// The buyer region stored beside an order.
pub async fn buyer_region(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<String> {
    sqlx::query_scalar!(
        "SELECT buyer_region_code FROM orders WHERE order_id = $1",
        id
    )
    .fetch_one(db)
    .await
}

/// Up to 100 orders in `unpaid` whose payment window closed by `now`, none being paid.
pub async fn unpaid_expired(
    db: impl PgExecutor<'_>,
    unpaid: i16,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "SELECT order_id FROM orders WHERE expire_at IS NOT NULL AND expire_at <= $1
           AND status = $2 AND pending_payment_id IS NULL ORDER BY expire_at LIMIT 100",
        now,
        unpaid
    )
    .fetch_all(db)
    .await
}

/// Up to 50 orders in one of `shipped` whose receipt confirms itself by `now`.
pub async fn auto_confirm_due(
    db: impl PgExecutor<'_>,
    shipped: (i16, i16),
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "SELECT order_id FROM orders WHERE auto_confirm_at IS NOT NULL AND auto_confirm_at <= $1
           AND status IN ($2, $3) ORDER BY auto_confirm_at LIMIT 50",
        now,
        shipped.0,
        shipped.1
    )
    .fetch_all(db)
    .await
}

/// A buyer's payments by `method`: the time of the first (a row without month), and the
/// total of each month (local months, `offset_secs` from UTC) paid in [`from`, `until`).
pub async fn monthly_totals(
    db: impl PgExecutor<'_>,
    (buyer, method): (Uuid, i16),
    offset_secs: i32,
    (from, until): (DateTime<Utc>, DateTime<Utc>),
) -> sqlx::Result<Vec<MonthRow>> {
    sqlx::query_as!(
        MonthRow,
        r#"SELECT NULL::int4 AS "month?", NULL::numeric AS "total?", MIN(paid_at) AS "first?"
           FROM orders WHERE buyer_account_id = $1 AND payment_method = $2 AND paid_at IS NOT NULL
           UNION ALL
           SELECT (EXTRACT(YEAR FROM l.at) * 12 + EXTRACT(MONTH FROM l.at) - 1)::int4, SUM(l.total),
                  NULL
           FROM (SELECT (paid_at AT TIME ZONE 'UTC') + $3::int4 * interval '1 second' AS at,
                        total_amount AS total
                 FROM orders
                 WHERE buyer_account_id = $1 AND payment_method = $2
                   AND paid_at >= $4 AND paid_at < $5) l
           GROUP BY 1"#,
        buyer,
        method,
        offset_secs,
        from,
        until
    )
    .fetch_all(db)
    .await
}

/// Orders matching `f` in one of `statuses` (empty: any) newest first, after the cursor
/// (`created_at`, `order_id`), at most `limit`.
pub async fn list(
    db: impl PgExecutor<'_>,
    f: &OrderFilter,
    statuses: &[i16],
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> sqlx::Result<Vec<Listed>> {
    filtered!(
        query_as(Listed,) "SELECT order_id, created_at, doc FROM orders WHERE",
        f,
        "AND (cardinality($17::int2[]) = 0 OR status = ANY($17))
         AND ($18::timestamptz IS NULL OR (created_at, order_id) < ($18, $19))
         ORDER BY created_at DESC, order_id DESC LIMIT $20",
        statuses,
        after.map(|a| a.0),
        after.map(|a| a.1),
        limit
    )
    .fetch_all(db)
    .await
}

/// Per status, how many orders match `f`, with the on-time shipment counts in the same
/// pass.
pub async fn count_by_status(
    db: impl PgExecutor<'_>,
    f: &OrderFilter,
) -> sqlx::Result<Vec<StatusCountRow>> {
    filtered!(
        query_as(StatusCountRow,)
        r#"SELECT status, count(*) AS "n!",
                  count(*) FILTER (WHERE first_shipped_at <= ship_by_at) AS "on_time!",
                  count(*) FILTER (WHERE first_shipped_at > ship_by_at) AS "late!"
           FROM orders WHERE"#,
        f,
        "GROUP BY status ORDER BY status"
    )
    .fetch_all(db)
    .await
}

/// The documents of the orders `ids` that exist.
pub async fn docs(db: impl PgExecutor<'_>, ids: &[Uuid]) -> sqlx::Result<Vec<(Uuid, Vec<u8>)>> {
    let rows = sqlx::query!(
        "SELECT order_id, doc FROM orders WHERE order_id = ANY($1)",
        ids
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.order_id, r.doc)).collect())
}

/// Whether the supplier has an order in `status` (its first completed order makes it
/// established).
pub async fn supplier_has(
    db: impl PgExecutor<'_>,
    supplier: Uuid,
    status: i16,
) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM orders WHERE supplier_account_id = $1 AND status = $2)
               AS "exists!""#,
        supplier,
        status
    )
    .fetch_one(db)
    .await
}

/// What a buyer's other orders of `kind` paid by `method` this month (from the start of the
/// UTC month of `now`) total per currency, closed ones and `except` left out.
pub async fn month_totals_of_buyer(
    db: impl PgExecutor<'_>,
    (kind, method, buyer_email): (i16, i16, &str),
    (closed, except): (i16, Uuid),
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<(String, Decimal)>> {
    let rows = sqlx::query!(
        r#"SELECT currency, sum(total_amount) AS "total!" FROM orders
           WHERE kind = $1 AND payment_method = $2 AND buyer_email = $3 AND status <> $4
             AND order_id <> $5
             AND created_at >= date_trunc('month', $6 AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
           GROUP BY currency"#,
        kind,
        method,
        buyer_email,
        closed,
        except,
        now
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.currency, r.total)).collect())
}

/// Serialises the drafts counting one buyer's monthly use of a method (until the
/// transaction ends).
pub async fn lock_month_use(db: impl PgExecutor<'_>, key: &str) -> sqlx::Result<()> {
    sqlx::query!("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key)
        .execute(db)
        .await
        .map(drop)
}
