//! The `webhook` job: one attempt of one delivery (see [`super`] for the rules).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde::Deserialize;
use uuid::Uuid;

use super::{WebhookConfig, open_secrets, signing, target};
use crate::App;
use crate::jobs::{Handler, Outcome};
use crate::store::StoreError;
use crate::store::jobs::ClaimedJob;
use crate::store::webhooks::{AttemptResult, DeliveryRecord, WebhookRecord};

/// Bytes of an endpoint's answer kept with the delivery (for the seller to see why it failed).
pub const RESPONSE_KEPT: usize = 256;

#[derive(Deserialize)]
struct Payload {
    tenant_id: Uuid,
    delivery_id: Uuid,
}

/// The handler of [`crate::store::events::WEBHOOK_JOB`] jobs; one HTTP client for all of them.
pub fn handler(app: Arc<App>) -> impl Handler {
    let client = target::client(&app.config.webhooks);
    move |job: ClaimedJob| {
        let (app, client) = (app.clone(), client.clone());
        async move {
            match run(&app, &client, &job).await {
                Ok(outcome) => outcome,
                Err(err) => Outcome::retry(job.attempt, format!("database: {err}")),
            }
        }
    }
}

/// How an attempt ended, before it is recorded.
enum Sent {
    Delivered(u16, String),
    Gone(String),
    Failed { code: Option<u16>, error: String, response: Option<String>, retry_after: Option<Duration> },
}

async fn run(app: &App, client: &reqwest::Client, job: &ClaimedJob) -> Result<Outcome, StoreError> {
    let Ok(Payload { tenant_id, delivery_id }) = serde_json::from_value(job.payload.0.clone()) else {
        return Ok(Outcome::Fail("not a webhook job payload".into()));
    };
    let delivery = match app.store.delivery(tenant_id, delivery_id).await {
        Ok(d) if d.status == "pending" => d,
        // Done already, or gone with its endpoint.
        Ok(_) | Err(StoreError::NotFound) => return Ok(Outcome::Done),
        Err(err) => return Err(err),
    };
    let webhook = match app.store.webhook(tenant_id, delivery.webhook_id).await {
        Ok(w) => w,
        Err(StoreError::NotFound) => return Ok(Outcome::Done),
        Err(err) => return Err(err),
    };
    let config = &app.config.webhooks;
    let attempt = job.attempt;
    if !webhook.enabled {
        let reason = webhook.disabled_reason.clone().unwrap_or_else(|| "disabled".into());
        let result = failed(attempt, None, format!("the endpoint is disabled: {reason}"), None);
        app.store.record_delivery_attempt(tenant_id, delivery_id, &result).await?;
        app.metrics.webhook_deliveries.with_label_values(&["failed"]).inc();
        return Ok(Outcome::Done);
    }
    let sent = send(app, client, config, &webhook, &delivery).await?;
    let last = attempt >= job.max_attempts;
    let (result, outcome, counted) = match sent {
        Sent::Delivered(code, response) => {
            let latency = (Utc::now() - delivery.created_at).to_std().unwrap_or_default();
            app.metrics.webhook_delivery_seconds.observe(latency.as_secs_f64());
            let result = AttemptResult {
                attempt,
                status: "succeeded",
                status_code: Some(i32::from(code)),
                error: None,
                response: Some(response),
                next_attempt_at: None,
            };
            app.store
                .webhook_delivery_ended(tenant_id, webhook.webhook_id, true, config.webhook_disable_after_failures)
                .await?;
            (result, Outcome::Done, "success")
        }
        Sent::Gone(response) => {
            let reason = "the endpoint answered 410 Gone; PATCH enabled: true to resume";
            app.store.disable_webhook(tenant_id, webhook.webhook_id, reason).await?;
            tracing::warn!(tenant.id = %tenant_id, webhook.id = %webhook.webhook_id, "webhook disabled: {reason}");
            (
                failed(attempt, Some(410), "410 Gone: endpoint disabled".into(), Some(response)),
                Outcome::Done,
                "disabled",
            )
        }
        Sent::Failed { code, error, response, retry_after } if !last => {
            let base = config.retry_after(attempt);
            // A longer Retry-After is honoured, up to twice the scheduled wait.
            let after = retry_after.map_or(base, |asked| asked.clamp(base, base * 2));
            let mut result = failed(attempt, code, error.clone(), response);
            result.status = "pending";
            result.next_attempt_at = Some(crate::store::now() + chrono::Duration::from_std(after).unwrap_or_default());
            (result, Outcome::Retry { error, after }, "retry")
        }
        Sent::Failed { code, error, response, .. } => {
            let disabled = app
                .store
                .webhook_delivery_ended(tenant_id, webhook.webhook_id, false, config.webhook_disable_after_failures)
                .await?;
            if disabled {
                tracing::warn!(tenant.id = %tenant_id, webhook.id = %webhook.webhook_id,
                    "webhook disabled after {} failed deliveries in a row", config.webhook_disable_after_failures);
            }
            let error = format!("{error} (after {attempt} attempts)");
            (
                failed(attempt, code, error.clone(), response),
                Outcome::Fail(error),
                if disabled { "disabled" } else { "failed" },
            )
        }
    };
    app.store.record_delivery_attempt(tenant_id, delivery_id, &result).await?;
    app.metrics.webhook_deliveries.with_label_values(&[counted]).inc();
    Ok(outcome)
}

fn failed(attempt: i32, code: Option<u16>, error: String, response: Option<String>) -> AttemptResult {
    AttemptResult {
        attempt,
        status: "failed",
        status_code: code.map(i32::from),
        error: Some(error),
        response,
        next_attempt_at: None,
    }
}

/// One signed `POST` of the delivery's body.
async fn send(
    app: &App,
    client: &reqwest::Client,
    config: &WebhookConfig,
    webhook: &WebhookRecord,
    delivery: &DeliveryRecord,
) -> Result<Sent, StoreError> {
    let refused = |error: String| Sent::Failed { code: None, error, response: None, retry_after: None };
    let url = match target::check_url(&webhook.url, config) {
        Ok(url) => url,
        Err(why) => return Ok(refused(format!("the URL is refused: {why}"))),
    };
    let secrets = open_secrets(app, webhook).await?;
    let at = Utc::now();
    let timestamp = at.timestamp();
    let signature = signing::signature_header(
        secrets.signing(webhook.previous_secret_expires_at, at),
        &delivery.message_id,
        timestamp,
        delivery.body.as_bytes(),
    );
    let request = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &delivery.message_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(delivery.body.clone());
    let mut response = match request.send().await {
        Ok(response) => response,
        Err(err) => return Ok(refused(describe(err))),
    };
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = read_prefix(&mut response).await;
    Ok(if status.is_success() {
        Sent::Delivered(status.as_u16(), body)
    } else if status == reqwest::StatusCode::GONE {
        Sent::Gone(body)
    } else {
        let error = if status.is_redirection() {
            format!("answered {status}: redirects are not followed")
        } else {
            format!("answered {status}")
        };
        Sent::Failed { code: Some(status.as_u16()), error, response: Some(body), retry_after }
    })
}

/// At most [`RESPONSE_KEPT`] bytes of the answer, as text; the rest is not read.
async fn read_prefix(response: &mut reqwest::Response) -> String {
    let mut kept = Vec::new();
    while kept.len() < RESPONSE_KEPT {
        match tokio::time::timeout(Duration::from_secs(2), response.chunk()).await {
            Ok(Ok(Some(chunk))) => kept.extend_from_slice(&chunk[..chunk.len().min(RESPONSE_KEPT - kept.len())]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

/// What went wrong with a request, without the URL (it may carry the receiver's token).
fn describe(err: reqwest::Error) -> String {
    let err = err.without_url();
    if crate::plugins::egress::resolved_to_no_public_address(&err) {
        return "the host resolves to no public address: refused".into();
    }
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    format!("{kind}: {}", crate::plugins::egress::root_cause(&err))
}
