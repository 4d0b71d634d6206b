//! Webhook settings (`WEBHOOK_*`).

use std::time::Duration;

use crate::config::ConfigError;

/// The default retry schedule, seconds after each failed attempt: Svix's (5 s, 5 min, 30 min,
/// 2 h, 5 h, 10 h, 10 h; about 28 hours in all), each ±20 %.
pub(super) const DEFAULT_SCHEDULE: &str = "5,300,1800,7200,18000,36000,36000";

/// Webhook settings.
#[derive(Debug, Clone, clap::Args)]
pub struct WebhookConfig {
    /// Waits between delivery attempts, seconds, comma-separated: one retry per entry (each
    /// ±20 %). E.g. `1,2,4` in tests.
    #[arg(long, env = "WEBHOOK_RETRY_SCHEDULE", value_name = "WEBHOOK_RETRY_SCHEDULE",
          default_value = DEFAULT_SCHEDULE)]
    pub webhook_retry_schedule: String,

    /// Allows plain-http URLs and private, loopback and link-local targets (tests, a receiver on
    /// the operator's own network). Off by default: a tenant could otherwise make the service
    /// call into the network it runs in.
    #[arg(long, env = "WEBHOOK_ALLOW_PRIVATE", value_name = "WEBHOOK_ALLOW_PRIVATE", default_value_t = false,
          action = clap::ArgAction::Set)]
    pub webhook_allow_private: bool,

    /// How long one delivery attempt may take (connect, send, answer), seconds.
    #[arg(long, env = "WEBHOOK_TIMEOUT_SECS", value_name = "WEBHOOK_TIMEOUT_SECS", default_value_t = 15,
          value_parser = clap::value_parser!(u64).range(1..=60))]
    pub webhook_timeout_secs: u64,

    /// Deliveries in a row that fail every attempt before the endpoint is disabled (with the
    /// reason); a delivered one resets the count.
    #[arg(long, env = "WEBHOOK_DISABLE_AFTER_FAILURES", value_name = "WEBHOOK_DISABLE_AFTER_FAILURES",
          default_value_t = 5, value_parser = clap::value_parser!(i32).range(1..=10_000))]
    pub webhook_disable_after_failures: i32,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            webhook_retry_schedule: DEFAULT_SCHEDULE.into(),
            webhook_allow_private: false,
            webhook_timeout_secs: 15,
            webhook_disable_after_failures: 5,
        }
    }
}

impl WebhookConfig {
    /// The parsed retry schedule.
    pub fn schedule(&self) -> Result<Vec<Duration>, ConfigError> {
        let bad = |why: &str| ConfigError::new("WEBHOOK_RETRY_SCHEDULE", why.to_owned());
        let waits: Vec<Duration> = self
            .webhook_retry_schedule
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| match s.parse::<f64>() {
                Ok(secs) if secs.is_finite() && secs > 0.0 && secs <= 7.0 * 86_400.0 => {
                    Ok(Duration::from_secs_f64(secs))
                }
                _ => Err(bad("each entry must be a number of seconds between 0 and 604800, e.g. `5,300,1800`")),
            })
            .collect::<Result<_, _>>()?;
        if waits.len() > 20 {
            return Err(bad("at most 20 retries"));
        }
        Ok(waits)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.schedule().map(drop)
    }

    /// Attempts a delivery gets: the first, then one per schedule entry.
    pub fn attempts(&self) -> i32 {
        self.schedule().map_or(1, |s| s.len() as i32 + 1)
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.webhook_timeout_secs)
    }

    /// The wait after failed attempt `attempt` (from 1), ±20 %.
    pub fn retry_after(&self, attempt: i32) -> Duration {
        let schedule = self.schedule().unwrap_or_default();
        let base =
            schedule.get((attempt.max(1) - 1) as usize).or(schedule.last()).copied().unwrap_or(Duration::from_secs(5));
        base.mul_f64(0.8 + rand::random::<f64>() * 0.4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_parses_and_refuses_nonsense() {
        let mut c = WebhookConfig::default();
        assert_eq!(c.schedule().unwrap().len(), 7);
        assert_eq!(c.attempts(), 8);
        c.webhook_retry_schedule = "1, 2,4".into();
        assert_eq!(c.schedule().unwrap(), vec![Duration::from_secs(1), Duration::from_secs(2), Duration::from_secs(4)]);
        let wait = c.retry_after(2).as_secs_f64();
        assert!((1.6..=2.4).contains(&wait), "{wait}");
        let beyond = c.retry_after(9).as_secs_f64();
        assert!((3.2..=4.8).contains(&beyond), "past the schedule, its last wait: {beyond}");
        for bad in ["x", "1,-2", "0", "1e9"] {
            c.webhook_retry_schedule = bad.into();
            assert!(c.validate().is_err(), "{bad}");
        }
        c.webhook_retry_schedule = String::new();
        assert_eq!(c.attempts(), 1, "no retries");
    }
}
