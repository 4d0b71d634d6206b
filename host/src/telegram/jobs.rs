//! The Telegram jobs that send: `telegram_alert` turns a batch of events into one alert per
//! linked, unmuted chat, `telegram_forecast_alert` does so for a tenant's waiting forecast pushes
//! (at most one per group interval), and `telegram_send` sends one message.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::api::BotError;
use super::messages::{self, Lang};
use crate::App;
use crate::jobs::{Handler, Outcome};
use crate::store::StoreError;
use crate::store::jobs::{ClaimedJob, NewJob};

/// The job kind that sends one message.
pub const SEND_JOB: &str = "telegram_send";
/// Attempts a message gets for failures other than 429 (which waits without spending one).
const SEND_ATTEMPTS: i32 = 8;

/// The digest a link code is stored under.
pub fn code_hash(code: &str) -> Vec<u8> {
    Sha256::digest(code.as_bytes()).to_vec()
}

#[derive(Serialize, Deserialize)]
struct Send {
    chat_id: i64,
    text: String,
}

/// A job that sends `text` to `chat_id` (`key`: at most one active job under it).
pub fn send_job(chat_id: i64, text: String, key: Option<String>) -> NewJob {
    NewJob {
        kind: SEND_JOB,
        tenant_id: None,
        unique_key: key,
        payload: serde_json::to_value(Send { chat_id, text }).expect("strings serialize"),
        max_attempts: SEND_ATTEMPTS,
        run_at: crate::store::now(),
    }
}

/// The handler of [`SEND_JOB`] jobs.
pub fn send_handler(app: Arc<App>) -> impl Handler {
    move |job: ClaimedJob| {
        let app = app.clone();
        async move { send(&app, &job).await.unwrap_or_else(|err| Outcome::retry(job.attempt, format!("database: {err}"))) }
    }
}

async fn send(app: &App, job: &ClaimedJob) -> Result<Outcome, StoreError> {
    let Ok(Send { chat_id, text }) = serde_json::from_value(job.payload.0.clone()) else {
        return Ok(Outcome::Fail("not a telegram_send payload".into()));
    };
    let Some(telegram) = &app.telegram else {
        return Ok(Outcome::Fail("the Telegram bot is not configured".into()));
    };
    let counted = |outcome: &str| app.metrics.telegram_messages.with_label_values(&[outcome]).inc();
    let (mut target, mut sent) = (chat_id, telegram.bot.send_message(chat_id, &text).await);
    // A group that became a supergroup: follow it once.
    if let Err(BotError::Migrated(to)) = sent {
        app.store.move_chat(chat_id, to).await?;
        target = to;
        sent = telegram.bot.send_message(to, &text).await;
    }
    Ok(match sent {
        Ok(()) => {
            counted("sent");
            Outcome::Done
        }
        Err(BotError::RetryAfter(secs)) => {
            counted("throttled");
            Outcome::Defer { after: Duration::from_secs(secs), reason: format!("Telegram asked to wait {secs} s") }
        }
        Err(BotError::ChatGone(why)) => {
            counted("failed");
            app.store.forget_chat(target).await?;
            tracing::info!(chat.id = target, "Telegram chat unlinked: {why}");
            Outcome::Done
        }
        Err(err @ BotError::Unavailable(_)) => {
            counted("failed");
            Outcome::retry(job.attempt, err.to_string())
        }
        Err(err) => {
            counted("failed");
            Outcome::Fail(err.to_string())
        }
    })
}

#[derive(Deserialize)]
struct Alert {
    tenant_id: Uuid,
    event_ids: Vec<Uuid>,
}

/// The handler of [`crate::events::ALERT_JOB`] jobs.
pub fn alert_handler(app: Arc<App>) -> impl Handler {
    move |job: ClaimedJob| {
        let app = app.clone();
        async move { alert(&app, &job).await.unwrap_or_else(|err| Outcome::retry(job.attempt, format!("database: {err}"))) }
    }
}

async fn alert(app: &App, job: &ClaimedJob) -> Result<Outcome, StoreError> {
    let Ok(Alert { tenant_id, event_ids }) = serde_json::from_value(job.payload.0.clone()) else {
        return Ok(Outcome::Fail("not a telegram_alert payload".into()));
    };
    tell_chats(app, job, tenant_id, &event_ids).await
}

#[derive(Deserialize)]
struct ForecastAlert {
    tenant_id: Uuid,
}

/// The handler of [`crate::events::FORECAST_ALERT_JOB`] jobs: the tenant's waiting forecast
/// pushes, together (one alert per group interval, `TELEGRAM_GROUP_INTERVAL_SECS`).
pub fn forecast_alert_handler(app: Arc<App>) -> impl Handler {
    move |job: ClaimedJob| {
        let app = app.clone();
        async move {
            forecast_alert(&app, &job)
                .await
                .unwrap_or_else(|err| Outcome::retry(job.attempt, format!("database: {err}")))
        }
    }
}

async fn forecast_alert(app: &App, job: &ClaimedJob) -> Result<Outcome, StoreError> {
    let Ok(ForecastAlert { tenant_id }) = serde_json::from_value(job.payload.0.clone()) else {
        return Ok(Outcome::Fail("not a telegram_forecast_alert payload".into()));
    };
    // Another alert job of the tenant may have taken them all already.
    let event_ids = app.store.claim_forecast_alerts(tenant_id, job.job_id, crate::store::now()).await?;
    if event_ids.is_empty() {
        return Ok(Outcome::Done);
    }
    let outcome = tell_chats(app, job, tenant_id, &event_ids).await?;
    app.store.forget_forecast_alerts(tenant_id, job.job_id).await?;
    Ok(outcome)
}

/// Queues the alert of `event_ids` to every linked chat of the tenant that is not muted.
async fn tell_chats(app: &App, job: &ClaimedJob, tenant_id: Uuid, event_ids: &[Uuid]) -> Result<Outcome, StoreError> {
    if app.telegram.is_none() {
        return Ok(Outcome::Done);
    }
    let events = app.store.events_by_id(tenant_id, event_ids).await?;
    let tenant = match app.store.tenant(tenant_id).await {
        Ok(t) => t,
        Err(StoreError::NotFound) => return Ok(Outcome::Done),
        Err(err) => return Err(err),
    };
    let at = crate::store::now();
    let mut sends = Vec::new();
    for chat in app.store.chats_of_tenant(tenant_id).await? {
        if chat.muted_at(at) {
            continue;
        }
        let lang = Lang::parse(&chat.language);
        for (part, text) in messages::alert(lang, &tenant.name, &events).into_iter().enumerate() {
            // Keyed by this job, chat and part: a rerun of this job adds nothing still pending.
            let key = format!("tg:{}:{}:{part}", job.job_id, chat.chat_id);
            sends.push(send_job(chat.chat_id, text, Some(key)));
        }
    }
    app.store.enqueue_jobs(&sends).await?;
    if !sends.is_empty() {
        app.job_wakeup.notify_one();
    }
    Ok(Outcome::Done)
}
