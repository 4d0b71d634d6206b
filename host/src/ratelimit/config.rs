//! Rate-limit settings, with the seed's names and defaults.

use std::net::IpAddr;
use std::time::Duration;

use crate::config::ConfigError;

/// `RATE_LIMIT_*` and `TRUSTED_PROXIES`.
#[derive(Debug, Clone, clap::Args)]
pub struct RateLimitConfig {
    /// Whether requests are rate limited at all.
    #[arg(long, env = "RATE_LIMIT_ENABLED", value_name = "RATE_LIMIT_ENABLED", default_value_t = true,
          action = clap::ArgAction::Set)]
    pub rate_limit_enabled: bool,

    /// Requests per window across all clients (per instance group sharing REDIS_URL).
    #[arg(long, env = "RATE_LIMIT_GLOBAL", value_name = "RATE_LIMIT_GLOBAL", default_value_t = 1000)]
    pub rate_limit_global: u64,

    /// Window of the global limit, seconds.
    #[arg(long, env = "RATE_LIMIT_GLOBAL_WINDOW", value_name = "RATE_LIMIT_GLOBAL_WINDOW", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub rate_limit_global_window: u64,

    /// Requests per window per tenant.
    #[arg(long, env = "RATE_LIMIT_TENANT", value_name = "RATE_LIMIT_TENANT", default_value_t = 100)]
    pub rate_limit_tenant: u64,

    /// Window of the tenant limit, seconds.
    #[arg(long, env = "RATE_LIMIT_TENANT_WINDOW", value_name = "RATE_LIMIT_TENANT_WINDOW", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub rate_limit_tenant_window: u64,

    /// Unauthenticated requests per window per client IP (IPv6: per /64), checked before the
    /// global limit so that no one address can use the budget every tenant shares.
    #[arg(long, env = "RATE_LIMIT_ANON", value_name = "RATE_LIMIT_ANON", default_value_t = 60)]
    pub rate_limit_anon: u64,

    /// Window of the unauthenticated per-IP limit, seconds.
    #[arg(long, env = "RATE_LIMIT_ANON_WINDOW", value_name = "RATE_LIMIT_ANON_WINDOW", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub rate_limit_anon_window: u64,

    /// Proxies whose `X-Forwarded-For` is believed, comma-separated IPs. Unset: the socket's peer.
    #[arg(long, env = "TRUSTED_PROXIES", value_name = "TRUSTED_PROXIES")]
    pub trusted_proxies: Option<String>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            rate_limit_enabled: true,
            rate_limit_global: 1000,
            rate_limit_global_window: 60,
            rate_limit_tenant: 100,
            rate_limit_tenant_window: 60,
            rate_limit_anon: 60,
            rate_limit_anon_window: 60,
            trusted_proxies: None,
        }
    }
}

impl RateLimitConfig {
    /// The parsed `TRUSTED_PROXIES`.
    pub fn trusted(&self) -> Result<Vec<IpAddr>, ConfigError> {
        self.trusted_proxies
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().map_err(|_| ConfigError::new("TRUSTED_PROXIES", format!("`{s}` is not an IP address"))))
            .collect()
    }

    pub fn global_window(&self) -> Duration {
        Duration::from_secs(self.rate_limit_global_window)
    }

    pub fn anon_window(&self) -> Duration {
        Duration::from_secs(self.rate_limit_anon_window)
    }

    pub fn tenant_window(&self) -> Duration {
        Duration::from_secs(self.rate_limit_tenant_window)
    }
}
