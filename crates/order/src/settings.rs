//! order configuration from the environment (listed in `kuajing-order --help`). Tables
//! (fee tiers, payment methods, export fees, inspection prices, refused destinations,
//! mainland email domains) are data in the `orders` schema, loaded by the migration and
//! read at start (see `ops::rules`).

use std::time::Duration;

use chrono::FixedOffset;
use kuajing_platform::{Currency, Money};

use crate::domain::calendar;

/// Environment variables order reads, for `--help`.
pub const ENV_HELP: &str = "order settings (environment):
  KJ_ORDER_AUTO_CONFIRM_DAYS              receipt is confirmed automatically this many days after SHIPPED [default: 10]
  KJ_ORDER_PAYMENT_TIMEOUT_HOURS          an UNPAID marketplace order closes after this many hours; 0 = never [default: 72]
  KJ_ORDER_REVIEW_WINDOW_DAYS             the buyer may review a COMPLETED order for this many days [default: 30]
  KJ_ORDER_CONTRACT_MIN_SUPPLIER_AGE_DAYS a supplier may draft with an uploaded contract only after this many days [default: 0]
  KJ_ORDER_SETTLEMENT_CURRENCY            wallet currency PayOrders pays CNY orders in, at par [default: CNH]
  KJ_ORDER_PREPAYMENT_MINIMUM             least prepayment unless 100 % [default: USD 1.00]
  KJ_ORDER_CONVENIENT_SHIPPING_LIMIT      largest order total for convenient shipping [default: USD 5000.00]
  KJ_ORDER_NOTE_MAX_CHARS                 longest note to the buyer, in characters [default: 2000]
  KJ_ORDER_FEE_MONTH_UTC_OFFSET           UTC offset of the calendar months of the fee tiers [default: +08:00]
  KJ_ORDER_FEE_MONTHS_AVERAGED            most complete months averaged for the fee tier [default: 12]
  KJ_ORDER_PAY_WAIT_MS                    how long PayOrders waits for its saga before answering IN_PROGRESS [default: 8000]
  KJ_ORDER_SAGA_LEASE_SECS                a saga driver's lease; a payment whose lease lapsed is recovered [default: 15]
  KJ_ORDER_SAGA_TIMEOUT_SECS              a payment not past MARK_ORDERS_PAID after this long is compensated [default: 120]
  KJ_ORDER_SWEEP_INTERVAL_MS              how often the background loops run (recovery, auto-confirmation, payment timeout, wallet operations) [default: 1000]
  KJ_ORDER_FAULT_INJECTION                honour test fault plans (table payment_fault_plans): on|off [default: on in debug builds, off in release builds]";

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

impl Default for Settings {
    fn default() -> Self {
        Settings {
            auto_confirm_after: chrono::Duration::days(10),
            payment_timeout: Some(chrono::Duration::hours(72)),
            review_window: chrono::Duration::days(30),
            contract_min_supplier_age: chrono::Duration::zero(),
            settlement_currency: Currency::CNH,
            prepayment_minimum: money("USD 1.00").expect("valid default"),
            convenient_shipping_limit: money("USD 5000.00").expect("valid default"),
            note_max_chars: 2000,
            fee_month_offset: FixedOffset::east_opt(8 * 3600).expect("valid offset"),
            fee_months_averaged: 12,
            pay_wait: Duration::from_millis(8000),
            saga_lease: chrono::Duration::seconds(15),
            saga_timeout: chrono::Duration::seconds(120),
            sweep_interval: Duration::from_millis(1000),
            fault_injection: cfg!(debug_assertions),
        }
    }
}

/// Parses "USD 5000.00".
fn money(text: &str) -> Result<Money, String> {
    Money::parse_written(text)
}

/// Where settings are read: a service embedded in another process (the testkit, `kuajing
/// up`) is given `NAME=value` options that take precedence over the environment.
struct Source<'a>(&'a [String]);

impl Source<'_> {
    fn var(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .rev()
            .find_map(|o| o.strip_prefix(name)?.strip_prefix('=').map(str::to_owned))
            .or_else(|| std::env::var(name).ok())
            .filter(|v| !v.trim().is_empty())
    }

    fn number<T: std::str::FromStr>(&self, name: &str) -> anyhow::Result<Option<T>> {
        self.var(name)
            .map(|v| {
                v.trim()
                    .parse()
                    .map_err(|_| anyhow::anyhow!("{name}: not a whole number"))
            })
            .transpose()
    }
}

impl Settings {
    /// Reads the environment; a malformed value is an error, not a silent default.
    pub fn from_env() -> anyhow::Result<Settings> {
        Self::from_options(&[])
    }

    /// Reads `NAME=value` options (e.g. `KJ_ORDER_SAGA_LEASE_SECS=2`), then the
    /// environment; a malformed value is an error, not a silent default.
    pub fn from_options(options: &[String]) -> anyhow::Result<Settings> {
        let src = Source(options);
        let mut s = Settings::default();
        if let Some(d) = src.number::<i64>("KJ_ORDER_AUTO_CONFIRM_DAYS")? {
            anyhow::ensure!(d > 0, "KJ_ORDER_AUTO_CONFIRM_DAYS must be positive");
            s.auto_confirm_after = chrono::Duration::days(d);
        }
        if let Some(h) = src.number::<i64>("KJ_ORDER_PAYMENT_TIMEOUT_HOURS")? {
            anyhow::ensure!(
                h >= 0,
                "KJ_ORDER_PAYMENT_TIMEOUT_HOURS must not be negative"
            );
            s.payment_timeout = (h > 0).then(|| chrono::Duration::hours(h));
        }
        if let Some(d) = src.number::<i64>("KJ_ORDER_REVIEW_WINDOW_DAYS")? {
            s.review_window = chrono::Duration::days(d.max(0));
        }
        if let Some(d) = src.number::<i64>("KJ_ORDER_CONTRACT_MIN_SUPPLIER_AGE_DAYS")? {
            s.contract_min_supplier_age = chrono::Duration::days(d.max(0));
        }
        if let Some(c) = src.var("KJ_ORDER_SETTLEMENT_CURRENCY") {
            s.settlement_currency = c
                .trim()
                .parse()
                .map_err(|e: String| anyhow::anyhow!("KJ_ORDER_SETTLEMENT_CURRENCY: {e}"))?;
        }
        if let Some(m) = src.var("KJ_ORDER_PREPAYMENT_MINIMUM") {
            s.prepayment_minimum =
                money(&m).map_err(|e| anyhow::anyhow!("KJ_ORDER_PREPAYMENT_MINIMUM: {e}"))?;
        }
        if let Some(m) = src.var("KJ_ORDER_CONVENIENT_SHIPPING_LIMIT") {
            s.convenient_shipping_limit = money(&m)
                .map_err(|e| anyhow::anyhow!("KJ_ORDER_CONVENIENT_SHIPPING_LIMIT: {e}"))?;
        }
        if let Some(n) = src.number::<usize>("KJ_ORDER_NOTE_MAX_CHARS")? {
            s.note_max_chars = n;
        }
        if let Some(o) = src.var("KJ_ORDER_FEE_MONTH_UTC_OFFSET") {
            s.fee_month_offset = calendar::parse_offset(&o).ok_or_else(|| {
                anyhow::anyhow!("KJ_ORDER_FEE_MONTH_UTC_OFFSET: expected e.g. +08:00")
            })?;
        }
        if let Some(n) = src.number::<i32>("KJ_ORDER_FEE_MONTHS_AVERAGED")? {
            anyhow::ensure!(n > 0, "KJ_ORDER_FEE_MONTHS_AVERAGED must be positive");
            s.fee_months_averaged = n;
        }
        if let Some(ms) = src.number::<u64>("KJ_ORDER_PAY_WAIT_MS")? {
            s.pay_wait = Duration::from_millis(ms);
        }
        if let Some(secs) = src.number::<i64>("KJ_ORDER_SAGA_LEASE_SECS")? {
            anyhow::ensure!(secs > 0, "KJ_ORDER_SAGA_LEASE_SECS must be positive");
            s.saga_lease = chrono::Duration::seconds(secs);
        }
        if let Some(secs) = src.number::<i64>("KJ_ORDER_SAGA_TIMEOUT_SECS")? {
            anyhow::ensure!(secs > 0, "KJ_ORDER_SAGA_TIMEOUT_SECS must be positive");
            s.saga_timeout = chrono::Duration::seconds(secs);
        }
        if let Some(ms) = src.number::<u64>("KJ_ORDER_SWEEP_INTERVAL_MS")? {
            anyhow::ensure!(ms > 0, "KJ_ORDER_SWEEP_INTERVAL_MS must be positive");
            s.sweep_interval = Duration::from_millis(ms);
        }
        if let Some(v) = src.var("KJ_ORDER_FAULT_INJECTION") {
            s.fault_injection = match v.trim() {
                "on" => true,
                "off" => false,
                other => anyhow::bail!("KJ_ORDER_FAULT_INJECTION: {other:?} is not on or off"),
            };
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_seeds() {
        let s = Settings::default();
        assert_eq!(s.prepayment_minimum.to_string(), "USD 1.00");
        assert_eq!(s.convenient_shipping_limit.to_string(), "USD 5000.00");
        assert_eq!(s.note_max_chars, 2000);
        assert_eq!(s.fee_month_offset.local_minus_utc(), 8 * 3600);
        assert!(money("USD5000").is_err());
        assert!(money("XXX 1").is_err());
    }
}
