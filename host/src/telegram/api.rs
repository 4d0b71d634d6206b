//! A small Bot API client: `POST {TELEGRAM_API_URL}/bot{token}/{method}` with a JSON body, and
//! the answer's `ok` / `result` / `error_code` / `parameters` read back. Our own rather than a
//! crate's: we call three methods, and the crates either bring a second reqwest (teloxide) or
//! an unusual licence (frankenstein). Errors never carry the URL (it holds the token).

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use super::TelegramConfig;

/// How a call failed.
#[derive(Debug, thiserror::Error)]
pub enum BotError {
    /// 429: wait this long before sending again.
    #[error("Telegram asks to wait {0} s")]
    RetryAfter(u64),
    /// The chat can no longer be written to (the bot was blocked or removed, the user is gone,
    /// the chat does not exist): unlink it.
    #[error("the chat is gone: {0}")]
    ChatGone(String),
    /// A group became a supergroup with this id.
    #[error("the chat moved to {0}")]
    Migrated(i64),
    /// Another refusal (a bad request): sending it again will not help.
    #[error("Telegram refused the call: {0}")]
    Refused(String),
    /// Telegram failed or could not be reached: try again later.
    #[error("Telegram is unavailable: {0}")]
    Unavailable(String),
}

#[derive(Deserialize)]
struct Answer {
    ok: bool,
    #[serde(default)]
    result: Value,
    #[serde(default)]
    error_code: Option<u16>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<Parameters>,
}

#[derive(Deserialize)]
struct Parameters {
    retry_after: Option<u64>,
    migrate_to_chat_id: Option<i64>,
}

/// The bot.
#[derive(Clone)]
pub struct Bot {
    client: reqwest::Client,
    base: String,
    token: SecretString,
}

impl std::fmt::Debug for Bot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bot").field("base", &self.base).finish_non_exhaustive()
    }
}

impl Bot {
    /// The bot of `config`, if it is on.
    pub fn new(config: &TelegramConfig) -> Option<Self> {
        let token = config.telegram_bot_token.clone().filter(|_| config.enabled())?;
        crate::plugins::egress::ensure_tls_provider();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .expect("an HTTP client with static settings");
        Some(Self { client, base: config.telegram_api_url.trim_end_matches('/').to_owned(), token })
    }

    /// Calls `method` with `params`; the `result` on success.
    pub async fn call(&self, method: &str, params: &Value) -> Result<Value, BotError> {
        let url = format!("{}/bot{}/{method}", self.base, self.token.expose_secret().trim());
        let response = self
            .client
            .post(url)
            .json(params)
            .send()
            .await
            .map_err(|e| BotError::Unavailable(crate::plugins::egress::root_cause(&e.without_url())))?;
        let status = response.status();
        let answer: Answer = match response.json().await {
            Ok(answer) => answer,
            Err(_) if status.is_server_error() => return Err(BotError::Unavailable(format!("HTTP {status}"))),
            Err(_) => return Err(BotError::Refused(format!("HTTP {status} without a Bot API answer"))),
        };
        if answer.ok {
            return Ok(answer.result);
        }
        let description = answer.description.unwrap_or_default();
        let parameters = answer.parameters;
        let code = answer.error_code.unwrap_or(status.as_u16());
        if let Some(to) = parameters.as_ref().and_then(|p| p.migrate_to_chat_id) {
            return Err(BotError::Migrated(to));
        }
        Err(match code {
            429 => BotError::RetryAfter(parameters.and_then(|p| p.retry_after).unwrap_or(5).max(1)),
            403 => BotError::ChatGone(description),
            400 if description.contains("chat not found") => BotError::ChatGone(description),
            500.. => BotError::Unavailable(format!("{code} {description}")),
            _ => BotError::Refused(format!("{code} {description}")),
        })
    }

    /// `sendMessage` of plain text.
    pub async fn send_message(&self, chat_id: i64, text: &str) -> Result<(), BotError> {
        let params = serde_json::json!({
            "chat_id": chat_id,
            "text": text,
            "link_preview_options": { "is_disabled": true },
        });
        self.call("sendMessage", &params).await.map(drop)
    }
}
