//! authorization configuration, from the environment (listed in `kuajing-authorization --help`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::domain::buyer_region::BuyerRegions;
use crate::domain::limits::Limits;

/// Environment variables authorization reads, for `--help`.
pub const ENV_HELP: &str = "authorization settings (environment):
  KJ_AUTHZ_PER_TRANSACTION_LIMIT_USD  largest USD equivalent of one payment [default: 10000000.00]
  KJ_AUTHZ_PER_DAY_LIMIT_USD          largest USD equivalent a buyer's wallet may pay per day, across its mandates [default: 100000000.00]
  KJ_AUTHZ_BUYER_REGIONS              regions whose buyers may authorise cross-border pay: \"*\" or a list such as \"SG,MY,US\"; never CN [default: * (every region but mainland China)]
  KJ_AUTHZ_LIMIT_TIME_ZONE            IANA time zone whose calendar days the daily limit counts [default: Asia/Shanghai]
  KJ_AUTHZ_DEFAULT_EXPIRE_TIME        validity end of a mandate created without one, RFC 3339 [default: 2036-12-31T00:00:00Z]
  KJ_AUTHZ_MAX_VALIDITY_DAYS          latest allowed validity end, in days from creation [default: 7305]
  KJ_AUTHZ_AGREEMENT_VERSION          the current cross-border pay agreement version [default: kjb-2023-02]
  KJ_AUTHZ_EXPIRY_SWEEP_SECS          how often mandates past their end are stored EXPIRED [default: 60]";

/// The seed's validity end: 2036-12-31 08:00:00 China time.
pub const DEFAULT_EXPIRE_TIME: &str = "2036-12-31T00:00:00Z";
/// The agreement version in force unless configured.
pub const DEFAULT_AGREEMENT_VERSION: &str = "kjb-2023-02";

/// authorization settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The per-transaction and per-day limits (USD).
    pub limits: Limits,
    /// IANA time zone of a limit day (checked against Postgres' zone list at start).
    pub time_zone: String,
    /// Validity end of a mandate created without one.
    pub default_expire_time: DateTime<Utc>,
    /// Longest validity from creation.
    pub max_validity: chrono::Duration,
    /// The agreement version ActivateMandate accepts.
    pub agreement_version: String,
    /// How often the expiry sweeper runs.
    pub expiry_sweep: Duration,
    /// Where a buyer must be registered to authorise cross-border pay.
    pub buyer_regions: BuyerRegions,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            limits: Limits::default(),
            time_zone: "Asia/Shanghai".to_owned(),
            default_expire_time: parse_time(DEFAULT_EXPIRE_TIME).unwrap_or_default(),
            max_validity: chrono::Duration::days(7305),
            agreement_version: DEFAULT_AGREEMENT_VERSION.to_owned(),
            expiry_sweep: Duration::from_secs(60),
            buyer_regions: BuyerRegions::AllButMainland,
        }
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("{text:?} is not an RFC 3339 time such as 2036-12-31T00:00:00Z"))
}

fn parse_usd(text: &str) -> Result<Decimal, String> {
    let d = kuajing_platform::money::parse_decimal(text.trim())?;
    if d <= Decimal::ZERO || d.scale() > 2 {
        return Err(format!(
            "{text:?}: a limit is a positive USD amount with at most 2 decimals"
        ));
    }
    kuajing_platform::Money::new(kuajing_platform::Currency::USD, d)?;
    Ok(d)
}

fn parse_version(text: &str) -> Result<String, String> {
    let v = text.trim();
    if v.is_empty()
        || v.chars().count() > 32
        || v.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(format!(
            "{v:?}: 1 to 32 characters without spaces or control characters"
        ));
    }
    Ok(v.to_owned())
}

fn parse_zone(text: &str) -> Result<String, String> {
    let z = text.trim();
    let ok = !z.is_empty()
        && z.len() <= 64
        && z.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_+-".contains(&b));
    if !ok {
        return Err(format!("{z:?} is not an IANA time zone name"));
    }
    Ok(z.to_owned())
}

impl Settings {
    /// Reads the environment; a malformed value is an error, not a silent default.
    pub fn from_env() -> anyhow::Result<Settings> {
        let d = Settings::default();
        let get = |name: &str| var(name).map(|v| (name.to_owned(), v));
        let err = |name: String| move |e: String| anyhow::anyhow!("{name}: {e}");
        let per_transaction = match get("KJ_AUTHZ_PER_TRANSACTION_LIMIT_USD") {
            None => d.limits.per_transaction,
            Some((n, v)) => parse_usd(&v).map_err(err(n))?,
        };
        let per_day = match get("KJ_AUTHZ_PER_DAY_LIMIT_USD") {
            None => d.limits.per_day,
            Some((n, v)) => parse_usd(&v).map_err(err(n))?,
        };
        let time_zone = match get("KJ_AUTHZ_LIMIT_TIME_ZONE") {
            None => d.time_zone,
            Some((n, v)) => parse_zone(&v).map_err(err(n))?,
        };
        let default_expire_time = match get("KJ_AUTHZ_DEFAULT_EXPIRE_TIME") {
            None => d.default_expire_time,
            Some((n, v)) => parse_time(&v).map_err(err(n))?,
        };
        let max_validity = match get("KJ_AUTHZ_MAX_VALIDITY_DAYS") {
            None => d.max_validity,
            Some((n, v)) => match v.trim().parse::<u32>() {
                Ok(days) if days > 0 => chrono::Duration::days(i64::from(days)),
                _ => return Err(anyhow::anyhow!("{n}: a positive whole number of days")),
            },
        };
        let agreement_version = match get("KJ_AUTHZ_AGREEMENT_VERSION") {
            None => d.agreement_version,
            Some((n, v)) => parse_version(&v).map_err(err(n))?,
        };
        let expiry_sweep = match get("KJ_AUTHZ_EXPIRY_SWEEP_SECS") {
            None => d.expiry_sweep,
            Some((n, v)) => match v.trim().parse::<u64>() {
                Ok(s) if s > 0 => Duration::from_secs(s),
                _ => return Err(anyhow::anyhow!("{n}: a positive whole number of seconds")),
            },
        };
        let buyer_regions = match get("KJ_AUTHZ_BUYER_REGIONS") {
            None => d.buyer_regions,
            Some((n, v)) => BuyerRegions::parse(&v).map_err(err(n))?,
        };
        Ok(Settings {
            buyer_regions,
            limits: Limits {
                per_transaction,
                per_day,
            },
            time_zone,
            default_expire_time,
            max_validity,
            agreement_version,
            expiry_sweep,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_seeds_numbers() {
        let s = Settings::default();
        assert_eq!(s.limits.per_transaction, Decimal::new(10_000_000, 0));
        assert_eq!(s.limits.per_day, Decimal::new(100_000_000, 0));
        assert_eq!(
            s.default_expire_time.to_rfc3339(),
            "2036-12-31T00:00:00+00:00"
        );
        assert_eq!(s.time_zone, "Asia/Shanghai");
        assert_eq!(s.agreement_version, "kjb-2023-02");
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(parse_usd("0").is_err());
        assert!(parse_usd("-5").is_err());
        assert!(parse_usd("1.001").is_err());
        assert!(parse_usd("1e6").is_err());
        assert_eq!(parse_usd("2500.50"), Ok(Decimal::new(250_050, 2)));
        assert!(parse_time("2036-12-31").is_err());
        assert!(parse_zone("Asia/Shanghai; DROP").is_err());
        assert!(parse_zone("Etc/GMT-8").is_ok());
        assert!(parse_version("").is_err());
        assert!(parse_version(&"v".repeat(33)).is_err());
        assert!(parse_version("kjb 2023").is_err());
    }
}
