//! order's own settings: timeouts, the saga's lease, fee months and drafting limits. Each is
//! an environment variable and a flag of the `kuajing-order` binary (listed by `--help`
//! under "Order"); inside `kuajing up` or the testkit order reads them from its options and
//! the environment. A malformed value is an error at start, never a silent default. Tables
//! (fee tiers, payment methods, export fees, inspection prices, refused destinations,
//! mainland email domains) are data in the `orders` schema, loaded by the migration and
//! read at start (see `ops::rules`).

use std::time::Duration;

use chrono::FixedOffset;
use kuajing_platform::{Currency, Money};

use crate::domain::calendar;

/// order's options (flags and environment variables).
#[derive(clap::Args, Clone, Debug)]
#[command(next_help_heading = "Order")]
pub struct OrderArgs {
    /// Receipt is confirmed automatically this many days after SHIPPED.
    #[arg(long, env = "KJ_ORDER_AUTO_CONFIRM_DAYS", default_value_t = 10,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub auto_confirm_days: u16,
    /// An UNPAID marketplace order closes after this many hours; 0 = never.
    #[arg(long, env = "KJ_ORDER_PAYMENT_TIMEOUT_HOURS", default_value_t = 72)]
    pub payment_timeout_hours: u32,
    /// The buyer may review a COMPLETED order for this many days.
    #[arg(long, env = "KJ_ORDER_REVIEW_WINDOW_DAYS", default_value_t = 30)]
    pub review_window_days: u16,
    /// A supplier may draft with an uploaded contract only after this many days.
    #[arg(
        long,
        env = "KJ_ORDER_CONTRACT_MIN_SUPPLIER_AGE_DAYS",
        default_value_t = 0
    )]
    pub contract_min_supplier_age_days: u16,
    /// A supplier may draft with an uploaded contract only once it has completed an order
    /// (seed 002: new sellers have no file-upload option).
    #[arg(long, env = "KJ_ORDER_CONTRACT_NEEDS_COMPLETED_ORDER", default_value = "on",
          value_parser = ["on", "off"])]
    pub contract_needs_completed_order: String,
    /// Wallet currency PayOrders pays CNY orders in, at par.
    #[arg(long, env = "KJ_ORDER_SETTLEMENT_CURRENCY", default_value = "CNH",
          value_parser = parse_currency)]
    pub settlement_currency: Currency,
    /// Least prepayment unless 100 %.
    #[arg(long, env = "KJ_ORDER_PREPAYMENT_MINIMUM", default_value = "USD 1.00",
          value_parser = money)]
    pub prepayment_minimum: Money,
    /// Largest order total for convenient shipping.
    #[arg(long, env = "KJ_ORDER_CONVENIENT_SHIPPING_LIMIT", default_value = "USD 5000.00",
          value_parser = money)]
    pub convenient_shipping_limit: Money,
    /// Longest note to the buyer, in characters.
    #[arg(long, env = "KJ_ORDER_NOTE_MAX_CHARS", default_value_t = 2000)]
    pub note_max_chars: usize,
    /// UTC offset of the calendar months of the fee tiers.
    #[arg(long, env = "KJ_ORDER_FEE_MONTH_UTC_OFFSET", default_value = "+08:00",
          value_parser = parse_offset, allow_hyphen_values = true)]
    pub fee_month_utc_offset: FixedOffset,
    /// Most complete months averaged for the fee tier.
    #[arg(long, env = "KJ_ORDER_FEE_MONTHS_AVERAGED", default_value_t = 12,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub fee_months_averaged: u16,
    /// How long PayOrders waits for its saga before answering IN_PROGRESS (milliseconds).
    #[arg(long, env = "KJ_ORDER_PAY_WAIT_MS", default_value_t = 8000)]
    pub pay_wait_ms: u64,
    /// A saga driver's lease (seconds); a payment whose lease lapsed is recovered.
    #[arg(long, env = "KJ_ORDER_SAGA_LEASE_SECS", default_value_t = 15,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub saga_lease_secs: u32,
    /// A payment not past MARK_ORDERS_PAID after this long is compensated (seconds).
    #[arg(long, env = "KJ_ORDER_SAGA_TIMEOUT_SECS", default_value_t = 120,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub saga_timeout_secs: u32,
    /// How often the background loops run: recovery, auto-confirmation, payment timeout,
    /// wallet operations (milliseconds).
    #[arg(long, env = "KJ_ORDER_SWEEP_INTERVAL_MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub sweep_interval_ms: u64,
    /// Honour test fault plans (table payment_fault_plans) [default: on in debug builds,
    /// off in release builds].
    #[arg(long, env = "KJ_ORDER_FAULT_INJECTION", value_parser = ["on", "off"])]
    pub fault_injection: Option<String>,
}

/// order settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Days after SHIPPED before receipt is confirmed automatically.
    pub auto_confirm_after: chrono::Duration,
    /// How long an UNPAID marketplace order waits for payment; `None` = forever.
    pub payment_timeout: Option<chrono::Duration>,
    /// How long after completion the buyer may review.
    pub review_window: chrono::Duration,
    /// Minimum age of a supplier (profile) before it may draft with a contract.
    pub contract_min_supplier_age: chrono::Duration,
    /// Whether a supplier needs a completed order before it may draft with a contract.
    pub contract_needs_completed_order: bool,
    /// The wallet currency CNY orders are paid in (at par).
    pub settlement_currency: Currency,
    /// Least prepayment unless 100 %.
    pub prepayment_minimum: Money,
    /// Largest total for convenient shipping.
    pub convenient_shipping_limit: Money,
    /// Longest note, in code points.
    pub note_max_chars: usize,
    /// Offset of the fee tiers' calendar months.
    pub fee_month_offset: FixedOffset,
    /// Most months averaged for the fee tier.
    pub fee_months_averaged: i32,
    /// How long PayOrders waits for the saga.
    pub pay_wait: Duration,
    /// Saga driver lease.
    pub saga_lease: chrono::Duration,
    /// Saga timeout before the point of no return.
    pub saga_timeout: chrono::Duration,
    /// Background loop interval.
    pub sweep_interval: Duration,
    /// Whether fault plans are honoured.
    pub fault_injection: bool,
}

impl OrderArgs {
    /// The settings these options describe.
    pub fn settings(&self) -> Settings {
        Settings {
            auto_confirm_after: chrono::Duration::days(i64::from(self.auto_confirm_days)),
            payment_timeout: (self.payment_timeout_hours > 0)
                .then(|| chrono::Duration::hours(i64::from(self.payment_timeout_hours))),
            review_window: chrono::Duration::days(i64::from(self.review_window_days)),
            contract_min_supplier_age: chrono::Duration::days(i64::from(
                self.contract_min_supplier_age_days,
            )),
            contract_needs_completed_order: self.contract_needs_completed_order == "on",
            settlement_currency: self.settlement_currency,
            prepayment_minimum: self.prepayment_minimum,
            convenient_shipping_limit: self.convenient_shipping_limit,
            note_max_chars: self.note_max_chars,
            fee_month_offset: self.fee_month_utc_offset,
            fee_months_averaged: i32::from(self.fee_months_averaged),
            pay_wait: Duration::from_millis(self.pay_wait_ms),
            saga_lease: chrono::Duration::seconds(i64::from(self.saga_lease_secs)),
            saga_timeout: chrono::Duration::seconds(i64::from(self.saga_timeout_secs)),
            sweep_interval: Duration::from_millis(self.sweep_interval_ms),
            fault_injection: self
                .fault_injection
                .as_deref()
                .map_or(cfg!(debug_assertions), |v| v == "on"),
        }
    }
}

static SETTINGS: kuajing_platform::config::OwnSettings<Settings> =
    kuajing_platform::config::OwnSettings::new();

/// Makes `settings` the ones the service uses (the binary calls this after parsing its
/// flags). Only the first call counts.
pub fn install(settings: Settings) {
    SETTINGS.install(settings);
}

/// The installed settings, else those of `options` (command-line arguments of an embedded
/// order service, e.g. `--saga-lease-secs=2`) over the environment's (with defaults).
pub fn current(options: &[String]) -> anyhow::Result<Settings> {
    SETTINGS.current("kuajing-order", options, |a: OrderArgs| Ok(a.settings()))
}

/// Parses "USD 5000.00".
fn money(text: &str) -> Result<Money, String> {
    Money::parse_written(text)
}

fn parse_currency(text: &str) -> Result<Currency, String> {
    text.trim().parse()
}

fn parse_offset(text: &str) -> Result<FixedOffset, String> {
    calendar::parse_offset(text).ok_or_else(|| format!("{text:?}: expected e.g. +08:00"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(options: &[&str]) -> anyhow::Result<Settings> {
        let options: Vec<String> = options.iter().map(|s| (*s).to_owned()).collect();
        kuajing_platform::config::OwnSettings::new().current(
            "kuajing-order",
            &options,
            |a: OrderArgs| Ok(a.settings()),
        )
    }

    #[test]
    fn defaults_are_the_seeds() {
        let s = parse(&[]).unwrap();
        assert_eq!(s.prepayment_minimum.to_string(), "USD 1.00");
        assert_eq!(s.convenient_shipping_limit.to_string(), "USD 5000.00");
        assert_eq!(s.note_max_chars, 2000);
        assert_eq!(s.fee_month_offset.local_minus_utc(), 8 * 3600);
        assert!(money("USD5000").is_err());
        assert!(money("XXX 1").is_err());
        assert_eq!(s.payment_timeout, Some(chrono::Duration::hours(72)));
        assert_eq!(s.fault_injection, cfg!(debug_assertions));
        let s = parse(&[
            "--saga-lease-secs=2",
            "--payment-timeout-hours=0",
            "--fee-month-utc-offset=-05:00",
            "--fault-injection=off",
        ])
        .unwrap();
        assert_eq!(s.saga_lease, chrono::Duration::seconds(2));
        assert_eq!(s.payment_timeout, None);
        assert_eq!(s.fee_month_offset.local_minus_utc(), -5 * 3600);
        assert!(!s.fault_injection);
        assert!(parse(&["--saga-lease-secs=0"]).is_err());
        assert!(parse(&["--settlement-currency=XXX"]).is_err());
        assert!(parse(&["--fault-injection=maybe"]).is_err());
    }
}
