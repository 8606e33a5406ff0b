//! fx configuration, from the environment (listed in `kuajing-fx --help`).

use std::time::Duration;

use kuajing_platform::Currency;
use rust_decimal::Decimal;

use crate::domain::quote::SpreadTier;

/// The default rate table: mid rates against USD (quote-currency units per USD). Operators
/// replace any of them with SetRate; `KJ_FX_RATES` or `KJ_FX_RATES_FILE` replace the table.
pub const DEFAULT_RATES: &str = "USD/CNH=7.12,USD/CNY=7.115,USD/SGD=1.34,USD/HKD=7.8,USD/GBP=0.79,\
USD/EUR=0.92,USD/AUD=1.52,USD/JPY=150,USD/NZD=1.66,USD/CAD=1.37,USD/MYR=4.7,USD/THB=36,\
USD/IDR=15800,USD/PHP=56.5";

/// Environment variables fx reads, for `--help`.
pub const ENV_HELP: &str = "fx settings (environment):
  KJ_FX_RATES              default rate table, e.g. \"USD/CNH=7.12,USD/SGD=1.34\" [default: a built-in table of 14 pairs against USD]
  KJ_FX_RATES_FILE         the same table read from a file (one PAIR=RATE per line or comma separated)
  KJ_FX_MAX_RATE_AGE_SECS  a rate older than this is stale: quotes and equivalents refuse it [default: 86400]
  KJ_FX_QUOTE_TTL_SECS     how long a quote may be executed [default: 30]
  KJ_FX_SPREAD_TIERS       spread by the sell amount's USD value, FROM_USD:BPS pairs [default: 0:50,10000:30,100000:20]
  KJ_FX_FEE_BPS            fee on top of the sell amount, basis points [default: 0]
  KJ_FX_CROSS_CURRENCY     currency pairs without a direct rate are crossed through [default: USD]";

/// One row of the rate table: (base, quote) and the mid rate.
pub type TableRate = ((Currency, Currency), Decimal);

/// fx settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The configured table: ((base, quote), mid).
    pub table: Vec<TableRate>,
    /// A rate older than this is stale.
    pub max_rate_age: Duration,
    /// Default quote lifetime.
    pub quote_ttl: Duration,
    /// Spread tiers.
    pub spread_tiers: Vec<SpreadTier>,
    /// Fee in basis points of the sell amount.
    pub fee_bps: u32,
    /// Cross currency.
    pub cross: Currency,
}

fn parse_table(text: &str) -> Result<Vec<TableRate>, String> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty() && !s.starts_with('#'))
        .map(|entry| {
            let (pair, rate) = entry
                .split_once('=')
                .ok_or_else(|| format!("{entry:?}: expected BASE/QUOTE=RATE"))?;
            let (base, quote) = pair
                .trim()
                .split_once('/')
                .ok_or_else(|| format!("{pair:?}: expected BASE/QUOTE"))?;
            let base: Currency = base.trim().parse()?;
            let quote: Currency = quote.trim().parse()?;
            let mid = kuajing_platform::money::parse_decimal(rate.trim())
                .map_err(|e| format!("{pair}: rate {e}"))?;
            if mid <= Decimal::ZERO || base == quote {
                return Err(format!(
                    "{pair}: a rate must be positive and join two currencies"
                ));
            }
            Ok(((base, quote), mid))
        })
        .collect()
}

fn parse_tiers(text: &str) -> Result<Vec<SpreadTier>, String> {
    text.split(',')
        .map(|t| {
            let (from, bps) = t
                .trim()
                .split_once(':')
                .ok_or_else(|| format!("{t:?}: expected FROM_USD:BPS"))?;
            Ok(SpreadTier {
                from_usd: kuajing_platform::money::parse_decimal(from.trim())?,
                bps: bps
                    .trim()
                    .parse()
                    .map_err(|_| format!("{t:?}: bps must be a whole number"))?,
            })
        })
        .collect()
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn secs(name: &str, default: u64) -> anyhow::Result<Duration> {
    match var(name) {
        None => Ok(Duration::from_secs(default)),
        Some(v) => {
            Ok(Duration::from_secs(v.trim().parse().map_err(|_| {
                anyhow::anyhow!("{name}: not a number of seconds")
            })?))
        }
    }
}

impl Settings {
    /// Reads the environment; a malformed value is an error, not a silent default.
    pub fn from_env() -> anyhow::Result<Settings> {
        let table_text = match (var("KJ_FX_RATES"), var("KJ_FX_RATES_FILE")) {
            (Some(t), _) => t,
            (None, Some(path)) => std::fs::read_to_string(&path)
                .map_err(|e| anyhow::anyhow!("KJ_FX_RATES_FILE {path}: {e}"))?,
            (None, None) => DEFAULT_RATES.to_owned(),
        };
        let table = parse_table(&table_text).map_err(|e| anyhow::anyhow!("fx rate table: {e}"))?;
        let spread_tiers = parse_tiers(
            &var("KJ_FX_SPREAD_TIERS").unwrap_or_else(|| "0:50,10000:30,100000:20".to_owned()),
        )
        .map_err(|e| anyhow::anyhow!("KJ_FX_SPREAD_TIERS: {e}"))?;
        let fee_bps = match var("KJ_FX_FEE_BPS") {
            None => 0,
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| anyhow::anyhow!("KJ_FX_FEE_BPS: not a whole number"))?,
        };
        let cross = match var("KJ_FX_CROSS_CURRENCY") {
            None => Currency::USD,
            Some(c) => c
                .trim()
                .parse()
                .map_err(|e: String| anyhow::anyhow!("KJ_FX_CROSS_CURRENCY: {e}"))?,
        };
        Ok(Settings {
            table,
            max_rate_age: secs("KJ_FX_MAX_RATE_AGE_SECS", 86_400)?,
            quote_ttl: secs("KJ_FX_QUOTE_TTL_SECS", 30)?,
            spread_tiers,
            fee_bps,
            cross,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_table_parses_and_covers_every_currency() {
        let table = parse_table(DEFAULT_RATES).unwrap();
        assert_eq!(table.len(), 14);
        for c in Currency::ALL.iter().filter(|c| **c != Currency::USD) {
            assert!(table.iter().any(|((_, q), _)| q == c), "{c}");
        }
    }

    #[test]
    fn bad_tables_are_refused() {
        assert!(parse_table("USD/CNH=0").is_err());
        assert!(parse_table("USD/USD=1").is_err());
        assert!(parse_table("USDCNH=7").is_err());
        assert!(parse_table("USD/XXX=7").is_err());
        assert!(parse_table("USD/CNH=7e2").is_err());
        assert_eq!(parse_tiers("0:50, 10000:30").unwrap().len(), 2);
        assert!(parse_tiers("0:-5").is_err());
    }
}
