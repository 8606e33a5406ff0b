//! Edge's own settings: rate limits, trusted proxies, deadlines, token leeway, key
//! refresh and browser origins. Every one is an environment variable (and a flag of the `kuajing-edge` binary,
//! listed by `--help` under "Edge") with the contract's default.
//!
//! Inside `kuajing up` or the testkit edge reads them from the environment; the binary
//! parses them with its other flags and installs them first.

use std::time::Duration;

use crate::domain::client_ip::TrustedProxies;
use crate::domain::rate::Rate;

/// Edge's options (flags and environment variables).
#[derive(clap::Args, Clone, Debug)]
#[command(next_help_heading = "Edge")]
pub struct EdgeArgs {
    /// Requests per second per caller (the token's subject); 0 disables the limit.
    #[arg(long, env = "KJ_EDGE_CALLER_RATE", default_value_t = 20)]
    pub caller_rate: u32,
    /// Burst per caller.
    #[arg(long, env = "KJ_EDGE_CALLER_BURST", default_value_t = 40)]
    pub caller_burst: u32,
    /// Requests per second per client IP; 0 disables the limit.
    #[arg(long, env = "KJ_EDGE_IP_RATE", default_value_t = 50)]
    pub ip_rate: u32,
    /// Burst per client IP.
    #[arg(long, env = "KJ_EDGE_IP_BURST", default_value_t = 100)]
    pub ip_burst: u32,
    /// Onboarding requests (RegisterAccount, Login, RefreshToken, and SendVerificationCode
    /// and ConfirmContact without a token) per minute per client IP; also the burst.
    #[arg(long, env = "KJ_EDGE_ONBOARDING_PER_MINUTE", default_value_t = 10)]
    pub onboarding_per_minute: u32,
    /// Login attempts per minute per identifier, and SendVerificationCode / ConfirmContact
    /// per minute per account; also the burst.
    #[arg(long, env = "KJ_EDGE_IDENTIFIER_PER_MINUTE", default_value_t = 10)]
    pub identifier_per_minute: u32,
    /// Money-moving requests (CreateTransfer, CreateWithdrawal, ExecuteQuote, PayOrders,
    /// PayArrears) per second per caller; also the burst.
    #[arg(long, env = "KJ_EDGE_MONEY_RATE", default_value_t = 5)]
    pub money_rate: u32,
    /// Proxies whose X-Forwarded-For names the client: comma-separated addresses or CIDR
    /// networks (e.g. "10.0.0.0/8"). Empty: the peer address is the client.
    #[arg(long, env = "KJ_EDGE_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: String,
    /// Budget of each downstream call, milliseconds (the client's own deadline, less 50 ms,
    /// wins when shorter).
    #[arg(long, env = "KJ_EDGE_CALL_TIMEOUT_MS", default_value_t = 5_000)]
    pub call_timeout_ms: u64,
    /// Budget of the order service's PayOrders saga, milliseconds. Keep KJ_REQUEST_TIMEOUT_MS
    /// (edge's own request timeout) above it.
    #[arg(long, env = "KJ_EDGE_PAY_ORDERS_TIMEOUT_MS", default_value_t = 20_000)]
    pub pay_orders_timeout_ms: u64,
    /// Retries of an idempotent downstream call whose service did not answer.
    #[arg(long, env = "KJ_EDGE_CALL_RETRIES", default_value_t = 2)]
    pub call_retries: u32,
    /// Clock leeway on access tokens' nbf and exp, seconds.
    #[arg(long, env = "KJ_EDGE_TOKEN_LEEWAY_SECS", default_value_t = 30)]
    pub token_leeway_secs: u32,
    /// Least time between two refetches of identity's keys prompted by an unknown key id,
    /// milliseconds.
    #[arg(
        long,
        env = "KJ_EDGE_KEY_REFRESH_MIN_INTERVAL_MS",
        default_value_t = 10_000
    )]
    pub key_refresh_min_interval_ms: u64,
    /// Where the rate limits of every edge replica are kept, so that N replicas allow the
    /// limit once, not N times: a Redis URL (`redis://host:6379`). Unset: each process
    /// keeps its own (right for one edge, as in `kuajing up`). If the store stops
    /// answering, each process falls back to its own buckets until it answers again.
    #[arg(long, env = "KJ_EDGE_RATE_LIMIT_URL")]
    pub rate_limit_url: Option<String>,
    /// Prefix of the shared limits' keys (deployments sharing one store keep apart).
    #[arg(long, env = "KJ_EDGE_RATE_LIMIT_PREFIX", default_value = "kuajing")]
    pub rate_limit_prefix: String,
    /// Browser origins allowed to call edge with gRPC-Web, comma-separated, each exactly
    /// as the browser sends it (e.g. "https://app.example.com,http://localhost:3000"; no
    /// wildcard). Empty: gRPC-Web is off and edge answers plain gRPC only.
    #[arg(long, env = "KJ_EDGE_WEB_ORIGINS", default_value = "")]
    pub web_origins: String,
}

/// The validated settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Per caller.
    pub caller_rate: Rate,
    /// Per client IP.
    pub ip_rate: Rate,
    /// Onboarding per client IP.
    pub onboarding_rate: Rate,
    /// Per login identifier or account (onboarding).
    pub identifier_rate: Rate,
    /// Money-moving RPCs per caller.
    pub money_rate: Rate,
    /// Proxies whose X-Forwarded-For is believed.
    pub trusted_proxies: TrustedProxies,
    /// Per downstream call.
    pub call_budget: Duration,
    /// PayOrders' downstream call.
    pub checkout_budget: Duration,
    /// Retries of an unanswered idempotent call.
    pub call_retries: u32,
    /// Token clock leeway.
    pub token_leeway: chrono::Duration,
    /// Least time between unknown-key refetches.
    pub key_refresh_min_interval: Duration,
    /// The shared rate-limit store (host and port of a Redis server) and key prefix.
    pub shared_limits: Option<(String, String)>,
    /// Browser origins served gRPC-Web; empty: none (gRPC-Web off).
    pub web_origins: Vec<String>,
}

impl EdgeArgs {
    /// Checks the options and turns them into settings.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        anyhow::ensure!(self.call_timeout_ms > 0, "the call budget must be positive");
        anyhow::ensure!(
            self.pay_orders_timeout_ms > 0,
            "the PayOrders budget must be positive"
        );
        let trusted_proxies = self
            .trusted_proxies
            .parse()
            .map_err(|e| anyhow::anyhow!("KJ_EDGE_TRUSTED_PROXIES: {e}"))?;
        let web_origins = crate::domain::origins::parse(&self.web_origins)
            .map_err(|e| anyhow::anyhow!("KJ_EDGE_WEB_ORIGINS: {e}"))?;
        Ok(Settings {
            web_origins,
            caller_rate: Rate::per_second(self.caller_rate, self.caller_burst.max(1)),
            ip_rate: Rate::per_second(self.ip_rate, self.ip_burst.max(1)),
            onboarding_rate: Rate::per_minute(
                self.onboarding_per_minute,
                self.onboarding_per_minute.max(1),
            ),
            identifier_rate: Rate::per_minute(
                self.identifier_per_minute,
                self.identifier_per_minute.max(1),
            ),
            money_rate: Rate::per_second(self.money_rate, self.money_rate.max(1)),
            trusted_proxies,
            call_budget: Duration::from_millis(self.call_timeout_ms),
            checkout_budget: Duration::from_millis(self.pay_orders_timeout_ms),
            call_retries: self.call_retries,
            token_leeway: chrono::Duration::seconds(i64::from(self.token_leeway_secs)),
            key_refresh_min_interval: Duration::from_millis(self.key_refresh_min_interval_ms),
            shared_limits: match &self.rate_limit_url {
                None => None,
                Some(url) if url.trim().is_empty() => None,
                Some(url) => Some((
                    crate::shared_limits::address_of(url)
                        .map_err(|e| anyhow::anyhow!("KJ_EDGE_RATE_LIMIT_URL: {e}"))?,
                    self.rate_limit_prefix.clone(),
                )),
            },
        })
    }
}

/// Parses only the environment (no command line): edge inside `kuajing up` or tests.
static SETTINGS: kuajing_platform::config::OwnSettings<Settings> =
    kuajing_platform::config::OwnSettings::new();

/// Makes `settings` the ones the service uses (the binary calls this after parsing its
/// flags). Only the first call counts.
pub fn install(settings: Settings) {
    SETTINGS.install(settings);
}

/// The installed settings, else those of `options` (command-line arguments, e.g. of an
/// embedded edge) over the environment's (with defaults).
pub fn current(options: &[String]) -> anyhow::Result<Settings> {
    SETTINGS.current("kuajing-edge", options, |a: EdgeArgs| a.settings())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct FromEnv {
        #[command(flatten)]
        args: EdgeArgs,
    }

    #[test]
    fn defaults_are_the_contracts() {
        let s = FromEnv::try_parse_from(["x"])
            .unwrap()
            .args
            .settings()
            .unwrap();
        assert_eq!(s.caller_rate, Rate::per_second(20, 40));
        assert_eq!(s.ip_rate.count, 50);
        assert_eq!(s.onboarding_rate, Rate::per_minute(10, 10));
        assert_eq!(s.money_rate, Rate::per_second(5, 5));
        assert_eq!(s.call_budget, Duration::from_secs(5));
        assert_eq!(s.checkout_budget, Duration::from_secs(20));
        assert_eq!(s.token_leeway, chrono::Duration::seconds(30));
        assert!(s.trusted_proxies.is_empty());
        assert!(
            s.web_origins.is_empty(),
            "gRPC-Web is off unless configured"
        );
    }

    #[test]
    fn bad_values_are_refused() {
        let bad = FromEnv::try_parse_from(["x", "--trusted-proxies", "10.0.0.0/99"]).unwrap();
        assert!(bad.args.settings().is_err());
        let bad = FromEnv::try_parse_from(["x", "--call-timeout-ms", "0"]).unwrap();
        assert!(bad.args.settings().is_err());
        let bad = FromEnv::try_parse_from(["x", "--web-origins", "*"]).unwrap();
        assert!(bad.args.settings().is_err());
        let ok =
            FromEnv::try_parse_from(["x", "--trusted-proxies", "127.0.0.1,10.0.0.0/8"]).unwrap();
        assert!(!ok.args.settings().unwrap().trusted_proxies.is_empty());
    }
}
