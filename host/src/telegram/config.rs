//! Telegram settings (`TELEGRAM_*`).

use secrecy::{ExposeSecret, SecretString};

use crate::config::ConfigError;

/// Telegram bot settings. Without `TELEGRAM_BOT_TOKEN` the bot is off.
#[derive(Clone, clap::Args)]
pub struct TelegramConfig {
    /// The bot's token from @BotFather. Never logged.
    #[arg(long, env = "TELEGRAM_BOT_TOKEN", value_name = "TELEGRAM_BOT_TOKEN", hide_env_values = true,
          value_parser = crate::config::secrets::secret)]
    pub telegram_bot_token: Option<SecretString>,

    /// Compared (in constant time) with `X-Telegram-Bot-Api-Secret-Token` on every update; 1 to
    /// 256 characters of `A-Z a-z 0-9 _ -`. Required with a bot token.
    #[arg(long, env = "TELEGRAM_WEBHOOK_SECRET", value_name = "TELEGRAM_WEBHOOK_SECRET", hide_env_values = true,
          value_parser = crate::config::secrets::secret)]
    pub telegram_webhook_secret: Option<SecretString>,

    /// The Bot API base URL.
    #[arg(long, env = "TELEGRAM_API_URL", value_name = "TELEGRAM_API_URL", default_value = "https://api.telegram.org")]
    pub telegram_api_url: String,

    /// This service's public URL of `POST /api/v1/telegram/webhook`; when set, the bot's webhook is
    /// pointed at it (`setWebhook`) at start.
    #[arg(long, env = "TELEGRAM_WEBHOOK_URL", value_name = "TELEGRAM_WEBHOOK_URL")]
    pub telegram_webhook_url: Option<String>,

    /// Forecast alerts of a tenant go out at most once per this many seconds: what comes within
    /// it waits and goes out together (the alerting spec's `group_interval`, 30 minutes).
    #[arg(
        long,
        env = "TELEGRAM_GROUP_INTERVAL_SECS",
        value_name = "TELEGRAM_GROUP_INTERVAL_SECS",
        default_value_t = 1800
    )]
    pub telegram_group_interval_secs: u32,
}

impl std::fmt::Debug for TelegramConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |s: &Option<SecretString>| if s.is_some() { "[set]" } else { "[unset]" };
        f.debug_struct("TelegramConfig")
            .field("telegram_bot_token", &set(&self.telegram_bot_token))
            .field("telegram_webhook_secret", &set(&self.telegram_webhook_secret))
            .field("telegram_api_url", &self.telegram_api_url)
            .field("telegram_webhook_url", &self.telegram_webhook_url)
            .field("telegram_group_interval_secs", &self.telegram_group_interval_secs)
            .finish()
    }
}

impl Default for TelegramConfig {
    fn default() -> Self {
        Self {
            telegram_bot_token: None,
            telegram_webhook_secret: None,
            telegram_api_url: "https://api.telegram.org".into(),
            telegram_webhook_url: None,
            telegram_group_interval_secs: 1800,
        }
    }
}

impl TelegramConfig {
    /// Whether the bot is on.
    pub fn enabled(&self) -> bool {
        self.telegram_bot_token.as_ref().is_some_and(|t| !t.expose_secret().trim().is_empty())
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.enabled() {
            return Ok(());
        }
        let token = self.telegram_bot_token.as_ref().map(|t| t.expose_secret().trim()).unwrap_or_default();
        if token.contains('/') || token.chars().any(char::is_whitespace) {
            return Err(ConfigError::new("TELEGRAM_BOT_TOKEN", "not a bot token (expected `<id>:<secret>`)"));
        }
        let secret = self.telegram_webhook_secret.as_ref().map(|s| s.expose_secret().to_owned()).unwrap_or_default();
        if secret.is_empty()
            || secret.len() > 256
            || !secret.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(ConfigError::new(
                "TELEGRAM_WEBHOOK_SECRET",
                "required with TELEGRAM_BOT_TOKEN: 1 to 256 characters of A-Z, a-z, 0-9, _ and -",
            ));
        }
        url::Url::parse(&self.telegram_api_url)
            .map_err(|e| ConfigError::new("TELEGRAM_API_URL", format!("not a URL: {e}")))?;
        if let Some(hook) = &self.telegram_webhook_url {
            let url = url::Url::parse(hook)
                .map_err(|e| ConfigError::new("TELEGRAM_WEBHOOK_URL", format!("not a URL: {e}")))?;
            if url.scheme() != "https" {
                return Err(ConfigError::new("TELEGRAM_WEBHOOK_URL", "Telegram calls https:// URLs only"));
            }
        }
        Ok(())
    }
}
