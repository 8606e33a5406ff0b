//! authorization's own settings: the limits, the mandate validity and the buyer regions.
//! Each is an environment variable and a flag of the `kuajing-authorization` binary
//! (listed by `--help` under "Authorization"); inside `kuajing up` or the testkit
//! authorization reads them from its options and the environment. A malformed value is an
//! error at start, never a silent default.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::domain::buyer_region::BuyerRegions;
use crate::domain::limits::Limits;

/// The seed's validity end: 2036-12-31 08:00:00 China time.
pub const DEFAULT_EXPIRE_TIME: &str = "2036-12-31T00:00:00Z";
/// The agreement version in force unless configured.
pub const DEFAULT_AGREEMENT_VERSION: &str = "kjb-2023-02";

/// authorization's options (flags and environment variables).
#[derive(clap::Args, Clone, Debug)]
#[command(next_help_heading = "Authorization")]
pub struct AuthzArgs {
    /// Largest USD equivalent of one payment.
    #[arg(long, env = "KJ_AUTHZ_PER_TRANSACTION_LIMIT_USD", default_value = "10000000.00",
          value_parser = parse_usd)]
    pub per_transaction_limit_usd: Decimal,
    /// Largest USD equivalent a buyer's wallet may pay per day, across its mandates.
    #[arg(long, env = "KJ_AUTHZ_PER_DAY_LIMIT_USD", default_value = "100000000.00",
          value_parser = parse_usd)]
    pub per_day_limit_usd: Decimal,
    /// Regions whose buyers may authorise cross-border pay: "*" (every region but mainland
    /// China) or a list such as "SG,MY,US"; never CN.
    #[arg(long, env = "KJ_AUTHZ_BUYER_REGIONS", default_value = "*",
          value_parser = BuyerRegions::parse)]
    pub buyer_regions: BuyerRegions,
    /// IANA time zone whose calendar days the daily limit counts.
    #[arg(long, env = "KJ_AUTHZ_LIMIT_TIME_ZONE", default_value = "Asia/Shanghai",
          value_parser = parse_zone)]
    pub limit_time_zone: String,
    /// Validity end of a mandate created without one, RFC 3339.
    #[arg(long, env = "KJ_AUTHZ_DEFAULT_EXPIRE_TIME", default_value = DEFAULT_EXPIRE_TIME,
          value_parser = parse_time)]
    pub default_expire_time: DateTime<Utc>,
    /// Latest allowed validity end, in days from creation.
    #[arg(long, env = "KJ_AUTHZ_MAX_VALIDITY_DAYS", default_value_t = 7305,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_validity_days: u32,
    /// The current cross-border pay agreement version (ActivateMandate accepts only it).
    #[arg(long, env = "KJ_AUTHZ_AGREEMENT_VERSION", default_value = DEFAULT_AGREEMENT_VERSION,
          value_parser = parse_version)]
    pub agreement_version: String,
    /// How often mandates past their end are stored EXPIRED (seconds).
    #[arg(long, env = "KJ_AUTHZ_EXPIRY_SWEEP_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub expiry_sweep_secs: u64,
}

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

impl AuthzArgs {
    /// The settings these options describe.
    pub fn settings(&self) -> Settings {
        Settings {
            limits: Limits {
                per_transaction: self.per_transaction_limit_usd,
                per_day: self.per_day_limit_usd,
            },
            time_zone: self.limit_time_zone.clone(),
            default_expire_time: self.default_expire_time,
            max_validity: chrono::Duration::days(i64::from(self.max_validity_days)),
            agreement_version: self.agreement_version.clone(),
            expiry_sweep: Duration::from_secs(self.expiry_sweep_secs),
            buyer_regions: self.buyer_regions.clone(),
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
/// authorization) over the environment's (with defaults).
pub fn current(options: &[String]) -> anyhow::Result<Settings> {
    SETTINGS.current("kuajing-authorization", options, |a: AuthzArgs| {
        Ok(a.settings())
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(options: &[&str]) -> anyhow::Result<Settings> {
        let options: Vec<String> = options.iter().map(|s| (*s).to_owned()).collect();
        kuajing_platform::config::OwnSettings::new().current(
            "kuajing-authorization",
            &options,
            |a: AuthzArgs| Ok(a.settings()),
        )
    }

    #[test]
    fn defaults_are_the_seeds_numbers() {
        let s = parse(&[]).unwrap();
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
        assert!(parse(&["--max-validity-days=0"]).is_err());
        assert!(parse(&["--per-day-limit-usd=1e9"]).is_err());
        assert!(parse(&["--buyer-regions=CN"]).is_err());
        let s = parse(&["--expiry-sweep-secs=5", "--buyer-regions=SG,MY"]).unwrap();
        assert_eq!(s.expiry_sweep, Duration::from_secs(5));
        assert_eq!(
            s.buyer_regions,
            BuyerRegions::Only(["MY", "SG"].map(str::to_owned).into())
        );
    }
}
