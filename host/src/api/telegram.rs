//! `/api/v1/telegram`: linking Telegram chats to the tenant, and the bot's webhook (how the bot
//! works: [`crate::telegram`]).

use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::Serialize;
use subtle::ConstantTimeEq;
use utoipa::ToSchema;
use uuid::Uuid;

use super::Json;
use super::pagination::Page;
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::store::jobs::NewJob;
use crate::store::telegram::ChatRecord;
use crate::telegram::commands::UPDATE_JOB;
use crate::telegram::jobs::code_hash;

/// How long a link code works.
pub const CODE_LIFETIME: chrono::Duration = chrono::Duration::minutes(10);
/// The header Telegram sends the webhook secret in.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// A one-time link code.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkCode {
    /// Send `/start <code>` to the bot (the `url` does it in one tap).
    pub code: String,
    /// `https://t.me/<bot>?start=<code>`.
    pub url: String,
    /// The code works once, until then (10 minutes).
    pub expires_at: DateTime<Utc>,
}

/// A linked chat.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatView {
    pub chat_id: i64,
    /// Who linked it.
    pub linked_by: Uuid,
    /// `ru` or `en`: the language of its messages (the last user's Telegram language).
    pub language: String,
    /// Alerts are held back until then (`/mute`).
    pub muted_until: Option<DateTime<Utc>>,
    pub linked_at: DateTime<Utc>,
}

impl From<ChatRecord> for ChatView {
    fn from(c: ChatRecord) -> Self {
        ChatView {
            chat_id: c.chat_id,
            linked_by: c.user_id,
            language: c.language,
            muted_until: c.muted_until,
            linked_at: c.linked_at,
        }
    }
}

fn telegram(app: &crate::App) -> Result<&crate::telegram::Telegram, ApiError> {
    // A 409, not a 5xx: nothing is failing; this service runs without a bot.
    app.telegram.as_ref().ok_or(ApiError::Conflict {
        code: "telegram_not_configured",
        message: "the Telegram bot is not configured on this service (TELEGRAM_BOT_TOKEN)".into(),
    })
}

/// `POST /api/v1/telegram/link`: a one-time code that links a chat to the tenant.
#[utoipa::path(post, path = "/telegram/link", tag = "telegram", security(("bearer" = [])),
    responses((status = 201, description = "A code and its t.me link, valid 10 minutes", body = LinkCode),
              (status = 502, description = "Telegram did not answer `getMe`", body = ErrorBody),
              (status = 409, description = "`telegram_not_configured`: this service runs without a bot", body = ErrorBody)))]
pub async fn create_link(
    axum::extract::State(app): AppState,
    user: AuthUser,
) -> Result<(StatusCode, Json<LinkCode>), ApiError> {
    let telegram = telegram(&app)?;
    let username = telegram.username().await.map_err(|e| ApiError::BadGateway {
        code: "telegram_unavailable",
        message: format!("cannot ask Telegram for the bot's name: {e}"),
    })?;
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes);
    let code = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes);
    let expires_at = crate::store::now() + CODE_LIFETIME;
    app.store.insert_link_code(user.tenant_id, user.user_id, &code_hash(&code), expires_at).await?;
    let url = format!("https://t.me/{username}?start={code}");
    Ok((StatusCode::CREATED, Json(LinkCode { code, url, expires_at })))
}

/// `GET /api/v1/telegram/chats`: the tenant's linked chats.
#[utoipa::path(get, path = "/telegram/chats", tag = "telegram", security(("bearer" = [])),
    responses((status = 200, description = "Linked chats, oldest first", body = Page<ChatView>)))]
pub async fn list_chats(axum::extract::State(app): AppState, user: AuthUser) -> Result<Json<Page<ChatView>>, ApiError> {
    let chats = app.store.chats_of_tenant(user.tenant_id).await?;
    Ok(Json(Page::all(chats).map(Into::into)))
}

/// `DELETE /api/v1/telegram/chats/{chat_id}`: unlinks a chat (owner, admin, or whoever linked it).
#[utoipa::path(delete, path = "/telegram/chats/{chat_id}", tag = "telegram", security(("bearer" = [])),
    params(("chat_id" = i64, Path, description = "The Telegram chat id")),
    responses((status = 204, description = "Unlinked"),
              (status = 403, description = "Needs the owner or admin role, or to have linked it", body = ErrorBody)))]
pub async fn delete_chat(
    axum::extract::State(app): AppState,
    user: AuthUser,
    axum::extract::Path(raw): axum::extract::Path<String>,
) -> Result<StatusCode, ApiError> {
    let chat_id: i64 = raw.parse().map_err(|_| ApiError::NotFound)?;
    let chat = app.store.chat(chat_id).await?.filter(|c| c.tenant_id == user.tenant_id).ok_or(ApiError::NotFound)?;
    if chat.user_id != user.user_id {
        user.require_manager()?;
    }
    app.store.unlink_chat(user.tenant_id, chat_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/telegram/webhook`: an update from Telegram. Checked against
/// `TELEGRAM_WEBHOOK_SECRET` in constant time before the body is read, taken in once (by
/// `update_id`) with its job, and acknowledged at once. Not rate-limited (see the route table).
#[utoipa::path(post, path = "/telegram/webhook", tag = "telegram",
    request_body(content = Object, description = "A Telegram `Update`", content_type = "application/json"),
    responses((status = 200, description = "Taken in (or a repeat, already taken in)"),
              (status = 401, description = "Missing or wrong `X-Telegram-Bot-Api-Secret-Token`", body = ErrorBody),
              (status = 409, description = "`telegram_not_configured`: this service runs without a bot", body = ErrorBody)))]
pub async fn telegram_webhook(
    axum::extract::State(app): AppState,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<StatusCode, ApiError> {
    telegram(&app)?;
    let expected = app.config.telegram.telegram_webhook_secret.as_ref().map(|s| s.expose_secret().as_bytes());
    let given = headers.get(SECRET_HEADER).map(|v| v.as_bytes()).unwrap_or_default();
    let matches = expected.is_some_and(|expected| bool::from(expected.ct_eq(given)));
    if !matches {
        return Err(ApiError::Unauthorized("missing or wrong X-Telegram-Bot-Api-Secret-Token"));
    }
    // Read only now, after the secret matched.
    let body = axum::body::to_bytes(body, super::MAX_BODY_BYTES)
        .await
        .map_err(|_| ApiError::PayloadTooLarge(super::MAX_BODY_BYTES))?;
    let update: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    let Some(update_id) = update["update_id"].as_i64() else {
        return Err(ApiError::invalid("update_id", "required (an integer)"));
    };
    let job = NewJob {
        kind: UPDATE_JOB,
        tenant_id: None,
        unique_key: None,
        payload: update,
        max_attempts: 5,
        run_at: crate::store::now(),
    };
    if app.store.take_update(update_id, &job).await? {
        app.job_wakeup.notify_one();
    }
    Ok(StatusCode::OK)
}
