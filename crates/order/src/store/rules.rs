//! The rule tables order loads at start (seeded by its migrations from the sources): fee
//! tiers, payment method schedules, export fees, inspection prices, refused and warned
//! destinations, mainland email domains.

use rust_decimal::Decimal;
use sqlx::PgExecutor;

/// A cross-border pay fee tier.
pub struct TierRow {
    pub lower_bound: Decimal,
    pub upper_bound: Option<Decimal>,
    pub rate_percent: Decimal,
}

/// A payment method's schedule row.
pub struct MethodRow {
    pub payment_method: i16,
    pub variant: String,
    pub order_kinds: Vec<i16>,
    pub settlement: i16,
    pub payment_currencies: Vec<String>,
    pub local_currency_only: bool,
    pub per_payment_limit: Option<Decimal>,
    pub monthly_limit: Option<Decimal>,
    pub limit_currency: String,
    pub fee_percent: Option<Decimal>,
    pub fee_fixed_min: Option<Decimal>,
    pub fee_fixed_max: Option<Decimal>,
    pub fee_cap: Option<Decimal>,
    pub fee_currency: String,
    pub fee_cap_condition: String,
    pub bank_dependent: bool,
    pub tiered: bool,
    pub processing_time: String,
    pub buyer_region_codes: Vec<String>,
    pub enabled: bool,
}

/// An export fee rule.
pub struct ExportFeeRow {
    pub export_method: i16,
    pub membership: i16,
    pub rate_percent: Decimal,
    pub cap_amount: Option<Decimal>,
    pub cap_currency: String,
}

/// An inspection provider's price.
pub struct InspectionPriceRow {
    pub provider_code: String,
    pub price: Decimal,
    pub currency: String,
}

/// A destination orders are refused for.
pub struct RefusedRow {
    pub region_code: String,
    pub subdivision_code: String,
}

/// A destination orders are warned about.
pub struct WarningRow {
    pub region_code: String,
    pub code: String,
    pub message: String,
}

/// The fee tiers.
pub async fn tiers(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<TierRow>> {
    sqlx::query_as!(
        TierRow,
        "SELECT lower_bound, upper_bound, rate_percent FROM fee_tiers"
    )
    .fetch_all(db)
    .await
}

/// The payment method schedules in their order.
pub async fn methods(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<MethodRow>> {
    sqlx::query_as!(
        MethodRow,
        "SELECT payment_method, variant, order_kinds, settlement, payment_currencies,
             local_currency_only, per_payment_limit, monthly_limit, limit_currency, fee_percent,
             fee_fixed_min, fee_fixed_max, fee_cap, fee_currency, fee_cap_condition,
             bank_dependent, tiered, processing_time, buyer_region_codes, enabled
         FROM payment_method_schedules ORDER BY position"
    )
    .fetch_all(db)
    .await
}

/// The export fee rules.
pub async fn export_fees(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<ExportFeeRow>> {
    sqlx::query_as!(
        ExportFeeRow,
        "SELECT export_method, membership, rate_percent, cap_amount, cap_currency
         FROM export_fee_rules ORDER BY export_method, membership"
    )
    .fetch_all(db)
    .await
}

/// The inspection prices.
pub async fn inspection_prices(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<InspectionPriceRow>> {
    sqlx::query_as!(
        InspectionPriceRow,
        "SELECT provider_code, price, currency FROM inspection_prices"
    )
    .fetch_all(db)
    .await
}

/// The refused destinations.
pub async fn refused_destinations(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<RefusedRow>> {
    sqlx::query_as!(
        RefusedRow,
        "SELECT region_code, subdivision_code FROM refused_destinations"
    )
    .fetch_all(db)
    .await
}

/// The destination warnings.
pub async fn destination_warnings(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<WarningRow>> {
    sqlx::query_as!(
        WarningRow,
        "SELECT region_code, code, message FROM destination_warnings"
    )
    .fetch_all(db)
    .await
}

/// The email domains of mainland China.
pub async fn mainland_email_domains(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!("SELECT domain FROM mainland_email_domains")
        .fetch_all(db)
        .await
}
