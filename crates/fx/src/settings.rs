//! fx's own settings: the rate table and the knobs. Each is an environment variable and a
//! flag of the `kuajing-fx` binary (listed by `--help` under "Fx"); inside `kuajing up` or
//! the testkit fx reads them from its options and the environment.

use std::time::Duration;

use kuajing_platform::Currency;
use rust_decimal::Decimal;

use crate::domain::quote::SpreadTier;

/// The default rate table: mid rates against USD (quote-currency units per USD). Operators
/// replace any of them with SetRate; `KJ_FX_RATES` or `KJ_FX_RATES_FILE` replace the table.
pub const DEFAULT_RATES: &str = "USD/CNH=7.12,USD/CNY=7.115,USD/SGD=1.34,USD/HKD=7.8,USD/GBP=0.79,\
USD/EUR=0.92,USD/AUD=1.52,USD/JPY=150,USD/NZD=1.66,USD/CAD=1.37,USD/MYR=4.7,USD/THB=36,\
USD/IDR=15800,USD/PHP=56.5";

/// fx's options (flags and environment variables).
#[derive(clap::Args, Clone, Debug)]
#[command(next_help_heading = "Fx")]
pub struct FxArgs {
    /// The default rate table, e.g. "USD/CNH=7.12,USD/SGD=1.34" (quote units per base
    /// unit) [default: a built-in table of 14 pairs against USD].
    #[arg(long, env = "KJ_FX_RATES")]
    pub rates: Option<String>,
    /// The same table read from a file (one PAIR=RATE per line, or comma separated).
    #[arg(long, env = "KJ_FX_RATES_FILE", conflicts_with = "rates")]
    pub rates_file: Option<std::path::PathBuf>,
    /// A rate older than this is stale: quotes and equivalents refuse it (seconds).
    #[arg(long, env = "KJ_FX_MAX_RATE_AGE_SECS", default_value_t = 86_400)]
    pub max_rate_age_secs: u64,
    /// How long a quote may be executed (seconds).
    #[arg(long, env = "KJ_FX_QUOTE_TTL_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub quote_ttl_secs: u64,
    /// Spread by the sell amount's USD value, FROM_USD:BPS pairs.
    #[arg(
        long,
        env = "KJ_FX_SPREAD_TIERS",
        default_value = "0:50,10000:30,100000:20"
    )]
    pub spread_tiers: String,
    /// Fee on top of the sell amount, basis points (at most 10,000).
    #[arg(long, env = "KJ_FX_FEE_BPS", default_value_t = 0,
          value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub fee_bps: u32,
    /// Pairs without a direct rate are crossed through this currency.
    #[arg(long, env = "KJ_FX_CROSS_CURRENCY", default_value = "USD")]
    pub cross_currency: String,
}

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

impl FxArgs {
    /// The settings these options describe; a malformed value is an error, not a silent
    /// default.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let table_text = match (&self.rates, &self.rates_file) {
            (Some(t), _) => t.clone(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("KJ_FX_RATES_FILE {}: {e}", path.display()))?,
            (None, None) => DEFAULT_RATES.to_owned(),
        };
        let table = parse_table(&table_text).map_err(|e| anyhow::anyhow!("fx rate table: {e}"))?;
        let spread_tiers = parse_tiers(&self.spread_tiers)
            .map_err(|e| anyhow::anyhow!("KJ_FX_SPREAD_TIERS: {e}"))?;
        let cross = self
            .cross_currency
            .trim()
            .parse()
            .map_err(|e: String| anyhow::anyhow!("KJ_FX_CROSS_CURRENCY: {e}"))?;
        Ok(Settings {
            table,
            max_rate_age: Duration::from_secs(self.max_rate_age_secs),
            quote_ttl: Duration::from_secs(self.quote_ttl_secs),
            spread_tiers,
            fee_bps: self.fee_bps,
            cross,
        })
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
/// fx) over the environment's (with defaults).
pub fn current(options: &[String]) -> anyhow::Result<Settings> {
    SETTINGS.current("kuajing-fx", options, |a: FxArgs| a.settings())
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
    fn options_parse_with_defaults_and_refuse_nonsense() {
        let parse = |a: &[&str]| {
            let options: Vec<String> = a.iter().map(|s| (*s).to_owned()).collect();
            kuajing_platform::config::OwnSettings::new().current(
                "kuajing-fx",
                &options,
                |f: FxArgs| f.settings(),
            )
        };
        let d = parse(&[]).unwrap();
        assert_eq!((d.fee_bps, d.cross, d.table.len()), (0, Currency::USD, 14));
        assert_eq!(d.quote_ttl, Duration::from_secs(30));
        assert_eq!(parse(&["--fee-bps", "25"]).unwrap().fee_bps, 25);
        assert!(parse(&["--fee-bps", "10001"]).is_err());
        assert!(parse(&["--cross-currency", "XXX"]).is_err());
        assert!(parse(&["--rates", "USD/CNH=0"]).is_err());
        assert!(parse(&["--quote-ttl-secs", "0"]).is_err());
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
