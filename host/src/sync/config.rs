//! Sync and schedule settings (`SYNC_*`).

/// Sync and schedule settings.
#[derive(Debug, Clone, clap::Args)]
pub struct SyncConfig {
    /// Longest total wait on marketplace rate limits within one attempt, seconds; a longer wait
    /// defers the run instead.
    #[arg(
        long,
        env = "SYNC_MAX_RATE_LIMIT_WAIT_SECS",
        value_name = "SYNC_MAX_RATE_LIMIT_WAIT_SECS",
        default_value_t = 300
    )]
    pub sync_max_rate_limit_wait_secs: u64,

    /// Retries of a page the marketplace failed in passing (5xx, timeout, reset) within one
    /// attempt, waiting 0.5 s, 1.5 s, 4.5 s … between them; then the attempt fails and the job retries
    /// the run later.
    #[arg(long, env = "SYNC_PAGE_RETRIES", value_name = "SYNC_PAGE_RETRIES", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(0..=10))]
    pub sync_page_retries: u32,

    /// Products requested per adapter call (a hint; marketplaces cap it).
    #[arg(long, env = "SYNC_PAGE_SIZE", value_name = "SYNC_PAGE_SIZE", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub sync_page_size: u32,

    /// Attempts a run gets when it fails for a passing reason (a marketplace error, a timeout).
    #[arg(long, env = "SYNC_MAX_ATTEMPTS", value_name = "SYNC_MAX_ATTEMPTS", default_value_t = 5,
          value_parser = clap::value_parser!(i32).range(1..=100))]
    pub sync_max_attempts: i32,

    /// Whether this instance runs the scheduler (any number of instances may).
    #[arg(long, env = "SYNC_SCHEDULER", value_name = "SYNC_SCHEDULER", default_value_t = true,
          action = clap::ArgAction::Set)]
    pub sync_scheduler: bool,

    /// Interval of a connection that has not set its own, seconds (the marketplaces refresh
    /// stock about every 30 minutes).
    #[arg(long, env = "SYNC_DEFAULT_INTERVAL_SECS", value_name = "SYNC_DEFAULT_INTERVAL_SECS",
          default_value_t = 1800, value_parser = clap::value_parser!(u32).range(1..=604_800))]
    pub sync_default_interval_secs: u32,

    /// Shortest interval a connection may set, seconds.
    #[arg(long, env = "SYNC_MIN_INTERVAL_SECS", value_name = "SYNC_MIN_INTERVAL_SECS",
          default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..=604_800))]
    pub sync_min_interval_secs: u32,

    /// Runs in a row whose credentials the marketplace refuses before the schedule is paused.
    #[arg(long, env = "SYNC_PAUSE_AFTER_REFUSALS", value_name = "SYNC_PAUSE_AFTER_REFUSALS",
          default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=1000))]
    pub sync_pause_after_refusals: i32,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            sync_max_rate_limit_wait_secs: 300,
            sync_page_retries: 3,
            sync_page_size: 100,
            sync_max_attempts: 5,
            sync_scheduler: true,
            sync_default_interval_secs: 1800,
            sync_min_interval_secs: 300,
            sync_pause_after_refusals: 3,
        }
    }
}

impl SyncConfig {
    /// The default interval must itself be allowed.
    pub fn validate(&self) -> Result<(), crate::config::ConfigError> {
        if self.sync_default_interval_secs < self.sync_min_interval_secs {
            return Err(crate::config::ConfigError::new(
                "SYNC_DEFAULT_INTERVAL_SECS",
                format!("must be at least SYNC_MIN_INTERVAL_SECS ({})", self.sync_min_interval_secs),
            ));
        }
        Ok(())
    }
}

/// Longest interval a connection may set: a week.
pub const MAX_INTERVAL_SECS: u32 = 604_800;
