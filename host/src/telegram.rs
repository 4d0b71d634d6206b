//! The Telegram bot, in webhook mode on the same server.
//!
//! - **Updates** arrive at `POST /api/v1/telegram/webhook` ([`crate::api::telegram`]), checked
//!   against `TELEGRAM_WEBHOOK_SECRET` in constant time, taken in once by `update_id` together
//!   with their job in one transaction, and acknowledged at once; the `telegram_update` job
//!   answers them ([`commands`]). A crash loses none: what was acknowledged is in the database.
//! - **Linking**: `POST /api/v1/telegram/link` gives a one-time code (10 minutes; stored as a
//!   digest) and `https://t.me/<bot>?start=<code>`; `/start <code>` links the chat to the tenant.
//! - **Commands**: `/stocks`, `/low`, `/sync`, `/mute <hours>`, `/unmute`, `/help`, answered in
//!   English for users whose `language_code` is English, else in Russian.
//! - **Alerts**: the events of one batch (one sync) become one alert per linked chat that is not
//!   muted ([`jobs`]), split under 4096 characters, each message a `telegram_send` job.
//! - **Sending** ([`jobs`]): a 429 waits Telegram's `retry_after` (no attempt spent); a chat that
//!   blocked the bot or is gone (403, "chat not found") is unlinked; a group that became a
//!   supergroup follows its new id; other failures retry with backoff.

pub mod api;
pub mod commands;
mod config;
pub mod forecast;
pub mod jobs;
pub mod messages;

pub use config::TelegramConfig;

use secrecy::ExposeSecret;
use tokio::sync::OnceCell;

use api::{Bot, BotError};

/// The bot and what it learned about itself.
#[derive(Debug)]
pub struct Telegram {
    pub bot: Bot,
    username: OnceCell<String>,
}

impl Telegram {
    /// The bot of `config`, if it is on.
    pub fn new(config: &TelegramConfig) -> Option<Self> {
        Bot::new(config).map(|bot| Self { bot, username: OnceCell::new() })
    }

    /// The bot's username (`getMe`, asked once).
    pub async fn username(&self) -> Result<&str, BotError> {
        self.username
            .get_or_try_init(|| async {
                let me = self.bot.call("getMe", &serde_json::json!({})).await?;
                me["username"]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| BotError::Refused("getMe answered without a username".into()))
            })
            .await
            .map(String::as_str)
    }

    /// Points the bot's webhook at `TELEGRAM_WEBHOOK_URL` (at start; retried a few times).
    pub async fn set_webhook(&self, config: &TelegramConfig) {
        let Some(url) = &config.telegram_webhook_url else { return };
        let secret = config.telegram_webhook_secret.as_ref().map(|s| s.expose_secret().to_owned()).unwrap_or_default();
        let params = serde_json::json!({ "url": url, "secret_token": secret, "allowed_updates": ["message"] });
        for attempt in 1..=5u32 {
            match self.bot.call("setWebhook", &params).await {
                Ok(_) => {
                    tracing::info!(url = %url, "Telegram webhook set");
                    return;
                }
                Err(err) => {
                    tracing::warn!(error = %err, attempt, "cannot set the Telegram webhook");
                    tokio::time::sleep(std::time::Duration::from_secs(u64::from(attempt * attempt))).await;
                }
            }
        }
    }
}
