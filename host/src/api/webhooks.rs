//! `/api/v1/webhooks`: a tenant's webhook endpoints, their deliveries, test messages and
//! redeliveries (owner or admin only: an endpoint's URL may carry the receiver's token). How
//! deliveries are signed, retried and kept safe: [`crate::webhooks`].

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::pagination::{Page, decode_cursor, limit};
use super::{Json, PathId, PathIds, Query, nullable};
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::events::EventType;
use crate::store::events::NewDelivery;
use crate::store::webhooks::{DeliveryRecord, WebhookChanges, WebhookRecord};
use crate::webhooks::target::check_url;

/// The type of a test message.
pub const TEST_EVENT: &str = "webhook.test";
const MAX_DESCRIPTION: usize = 500;

/// `POST /webhooks` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// Where to `POST`: `https://` and a public host (at most 2048 characters).
    #[schema(max_length = 2048, example = "https://example.com/hooks/stock")]
    pub url: String,
    /// Event types to send; at least one.
    #[schema(min_items = 1)]
    pub events: Vec<EventType>,
    /// At most 500 characters.
    #[schema(max_length = 500)]
    pub description: Option<String>,
}

/// `PATCH /webhooks/{id}` body: any subset.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookRequest {
    #[schema(max_length = 2048)]
    pub url: Option<String>,
    #[schema(min_items = 1)]
    pub events: Option<Vec<EventType>>,
    /// At most 500 characters; null clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 500)]
    pub description: Option<Option<String>>,
    /// `true` resumes an endpoint the service disabled (and forgets its failures).
    pub enabled: Option<bool>,
}

/// An endpoint as served (never its secret, except right after creation or rotation).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    pub webhook_id: Uuid,
    pub url: String,
    pub description: Option<String>,
    pub events: Vec<EventType>,
    pub enabled: bool,
    /// Why the service disabled it (410 from the endpoint, or too many failed deliveries).
    pub disabled_reason: Option<String>,
    /// Until when the secret before the last rotation still signs beside the current one.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<WebhookRecord> for WebhookView {
    fn from(w: WebhookRecord) -> Self {
        let now = Utc::now();
        WebhookView {
            webhook_id: w.webhook_id,
            url: w.url,
            description: w.description,
            events: w.events.0.iter().filter_map(|t| EventType::parse(t)).collect(),
            enabled: w.enabled,
            disabled_reason: w.disabled_reason,
            previous_secret_expires_at: w.previous_secret_expires_at.filter(|until| *until > now),
            created_at: w.created_at,
            updated_at: w.updated_at,
        }
    }
}

/// An endpoint with its signing secret: answered on creation and rotation only.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookWithSecret {
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// `whsec_` + base64 of 32 random bytes: verify `webhook-signature` with it. Not shown again.
    pub secret: String,
}

/// A delivery of one message to one endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    pub delivery_id: Uuid,
    pub webhook_id: Uuid,
    /// The event delivered (null for a test message).
    pub event_id: Option<Uuid>,
    /// The `webhook-id` header: the same on every attempt and redelivery of the message.
    pub message_id: String,
    pub event_type: String,
    /// `pending` (being attempted), `succeeded` or `failed` (every attempt failed, or the
    /// endpoint was disabled).
    #[schema(example = "pending")]
    pub status: String,
    pub attempts: i32,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    /// The start of the endpoint's last answer (at most 256 bytes).
    pub last_response: Option<String>,
    /// While pending after a failed attempt: when the next one is due.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<DeliveryRecord> for DeliveryView {
    fn from(d: DeliveryRecord) -> Self {
        DeliveryView {
            delivery_id: d.delivery_id,
            webhook_id: d.webhook_id,
            event_id: d.event_id,
            message_id: d.message_id,
            event_type: d.event_type,
            status: d.status,
            attempts: d.attempts,
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            last_response: d.last_response,
            next_attempt_at: d.next_attempt_at,
            created_at: d.created_at,
            finished_at: d.finished_at,
        }
    }
}

/// Where a delivery is.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Pending,
    Succeeded,
    Failed,
}

impl DeliveryStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }
}

/// `GET /webhooks/{id}/deliveries` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListDeliveriesQuery {
    /// Only deliveries in this state.
    #[param(inline)]
    pub status: Option<DeliveryStatus>,
    /// 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

fn checked_url(app: &crate::App, url: &str) -> Result<String, ApiError> {
    check_url(url.trim(), &app.config.webhooks).map(|u| u.to_string()).map_err(|why| ApiError::invalid("url", why))
}

fn checked_events(events: &[EventType]) -> Result<Vec<String>, ApiError> {
    if events.is_empty() {
        return Err(ApiError::invalid("events", "name at least one event type"));
    }
    let mut names: Vec<String> = events.iter().map(|t| t.as_str().to_owned()).collect();
    names.sort();
    names.dedup();
    Ok(names)
}

fn checked_description(description: Option<String>) -> Result<Option<String>, ApiError> {
    let description = description.map(|d| d.trim().to_owned()).filter(|d| !d.is_empty());
    if description.as_ref().is_some_and(|d| d.chars().count() > MAX_DESCRIPTION) {
        return Err(ApiError::invalid("description", format!("must be at most {MAX_DESCRIPTION} characters")));
    }
    Ok(description)
}

/// `POST /api/v1/webhooks`: adds an endpoint; the answer holds its secret, shown this once.
#[utoipa::path(post, path = "/webhooks", tag = "webhooks", security(("bearer" = [])), request_body = CreateWebhookRequest,
    responses((status = 201, description = "The endpoint, with its signing secret (shown this once)", body = WebhookWithSecret),
              (status = 403, description = "Needs the owner or admin role", body = ErrorBody),
              (status = 409, description = "`too_many_webhooks`: the tenant has 20", body = ErrorBody)))]
pub async fn create_webhook(
    axum::extract::State(app): AppState,
    user: AuthUser,
    Json(body): Json<CreateWebhookRequest>,
) -> Result<(StatusCode, Json<WebhookWithSecret>), ApiError> {
    user.require_manager()?;
    let url = checked_url(&app, &body.url)?;
    let events = checked_events(&body.events)?;
    let description = checked_description(body.description)?;
    let (record, secret) = crate::webhooks::create(&app, user.tenant_id, &url, description.as_deref(), &events).await?;
    tracing::info!(tenant.id = %user.tenant_id, webhook.id = %record.webhook_id, "webhook endpoint added");
    Ok((StatusCode::CREATED, Json(WebhookWithSecret { webhook: record.into(), secret })))
}

/// `GET /api/v1/webhooks`: every endpoint of the tenant (at most 20), oldest first.
#[utoipa::path(get, path = "/webhooks", tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, description = "Endpoints, oldest first", body = Page<WebhookView>),
              (status = 403, description = "Needs the owner or admin role", body = ErrorBody)))]
pub async fn list_webhooks(
    axum::extract::State(app): AppState,
    user: AuthUser,
) -> Result<Json<Page<WebhookView>>, ApiError> {
    user.require_manager()?;
    let rows = app.store.list_webhooks(user.tenant_id).await?;
    Ok(Json(Page::all(rows).map(Into::into)))
}

/// `GET /api/v1/webhooks/{id}`.
#[utoipa::path(get, path = "/webhooks/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The endpoint id")),
    responses((status = 200, description = "The endpoint", body = WebhookView),
              (status = 403, description = "Needs the owner or admin role", body = ErrorBody)))]
pub async fn get_webhook(
    axum::extract::State(app): AppState,
    user: AuthUser,
    PathId(id): PathId,
) -> Result<Json<WebhookView>, ApiError> {
    user.require_manager()?;
    Ok(Json(app.store.webhook(user.tenant_id, id).await?.into()))
}

/// `PATCH /api/v1/webhooks/{id}`: URL, event types, description, enabled.
#[utoipa::path(patch, path = "/webhooks/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The endpoint id")), request_body = UpdateWebhookRequest,
    responses((status = 200, description = "The endpoint as changed", body = WebhookView),
              (status = 403, description = "Needs the owner or admin role", body = ErrorBody)))]
pub async fn update_webhook(
    axum::extract::State(app): AppState,
    user: AuthUser,
    PathId(id): PathId,
    Json(body): Json<UpdateWebhookRequest>,
) -> Result<Json<WebhookView>, ApiError> {
    user.require_manager()?;
    let changes = WebhookChanges {
        url: body.url.as_deref().map(|u| checked_url(&app, u)).transpose()?,
        events: body.events.as_deref().map(checked_events).transpose()?,
        description: body.description.map(checked_description).transpose()?,
        enabled: body.enabled,
    };
    Ok(Json(app.store.update_webhook(user.tenant_id, id, &changes).await?.into()))
}

/// `DELETE /api/v1/webhooks/{id}`: the endpoint and its delivery history; pending deliveries
/// are not sent.
#[utoipa::path(delete, path = "/webhooks/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The endpoint id")),
    responses((status = 204, description = "Deleted"),
              (status = 403, description = "Needs the owner or admin role", body = ErrorBody)))]
pub async fn delete_webhook(
    axum::extract::State(app): AppState,
    user: AuthUser,
    PathId(id): PathId,
) -> Result<StatusCode, ApiError> {
    user.require_manager()?;
    app.store.delete_webhook(user.tenant_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/webhooks/{id}/rotate-secret`: a new secret (shown this once); the old one
/// keeps signing beside it for 24 hours.
#[utoipa::path(post, path = "/webhooks/{id}/rotate-secret", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The endpoint id")),
    responses((status = 200, description = "The endpoint with its new secret (shown this once)", body = WebhookWithSecret),
              (status = 403, description = "Needs the owner or admin role", body = ErrorBody)))]
pub async fn rotate_webhook_secret(
    axum::extract::State(app): AppState,
    user: AuthUser,
    PathId(id): PathId,
) -> Result<Json<WebhookWithSecret>, ApiError> {
    user.require_manager()?;
    let (record, secret) = crate::webhooks::rotate_secret(&app, user.tenant_id, id).await?;
    tracing::info!(tenant.id = %user.tenant_id, webhook.id = %id, "webhook secret rotated");
    Ok(Json(WebhookWithSecret { webhook: record.into(), secret }))
}

/// `POST /api/v1/webhooks/{id}/test`: sends a `webhook.test` message (as a delivery, retried
/// like any other).
#[utoipa::path(post, path = "/webhooks/{id}/test", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The endpoint id")),
    responses((status = 202, description = "The test delivery, pending", body = DeliveryView),
              (status = 403, description = "Needs the owner or admin role", body = ErrorBody),
              (status = 409, description = "`webhook_disabled`: enable the endpoint first", body = ErrorBody)))]
pub async fn test_webhook(
    axum::extract::State(app): AppState,
    user: AuthUser,
    PathId(id): PathId,
) -> Result<(StatusCode, Json<DeliveryView>), ApiError> {
    user.require_manager()?;
    let webhook = app.store.webhook(user.tenant_id, id).await?;
    enabled(&webhook)?;
    let message_id = crate::store::events::message_id(Uuid::now_v7());
    let body = json!({
        "type": TEST_EVENT,
        "timestamp": crate::store::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": { "webhook_id": id, "message": "A test message from Stock Tracker." },
    })
    .to_string();
    let delivery = NewDelivery::new(id, None, message_id, TEST_EVENT, body);
    queue(&app, user.tenant_id, &delivery).await
}

/// `GET /api/v1/webhooks/{id}/deliveries`: newest first.
#[utoipa::path(get, path = "/webhooks/{id}/deliveries", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The endpoint id"), ListDeliveriesQuery),
    responses((status = 200, description = "Deliveries, newest first", body = Page<DeliveryView>),
              (status = 403, description = "Needs the owner or admin role", body = ErrorBody)))]
pub async fn list_deliveries(
    axum::extract::State(app): AppState,
    user: AuthUser,
    PathId(id): PathId,
    Query(q): Query<ListDeliveriesQuery>,
) -> Result<Json<Page<DeliveryView>>, ApiError> {
    user.require_manager()?;
    let limit = limit(q.limit)?;
    let before = decode_cursor::<Uuid>(q.cursor.as_deref())?;
    app.store.webhook(user.tenant_id, id).await?;
    let rows =
        app.store.list_deliveries(user.tenant_id, id, q.status.map(DeliveryStatus::as_str), before, limit + 1).await?;
    Ok(Json(Page::from_rows(rows, limit, |d| d.delivery_id).map(Into::into)))
}

/// `POST /api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver`: sends the same message
/// again (same `webhook-id` and body) as a new delivery.
#[utoipa::path(post, path = "/webhooks/{id}/deliveries/{delivery_id}/redeliver", tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The endpoint id"), ("delivery_id" = Uuid, Path, description = "The delivery to send again")),
    responses((status = 202, description = "The new delivery, pending", body = DeliveryView),
              (status = 403, description = "Needs the owner or admin role", body = ErrorBody),
              (status = 409, description = "`webhook_disabled`: enable the endpoint first", body = ErrorBody)))]
pub async fn redeliver(
    axum::extract::State(app): AppState,
    user: AuthUser,
    PathIds(id, delivery_id): PathIds,
) -> Result<(StatusCode, Json<DeliveryView>), ApiError> {
    user.require_manager()?;
    let webhook = app.store.webhook(user.tenant_id, id).await?;
    let original = app.store.delivery(user.tenant_id, delivery_id).await?;
    if original.webhook_id != id {
        return Err(ApiError::NotFound);
    }
    enabled(&webhook)?;
    let delivery = NewDelivery::new(id, original.event_id, original.message_id, &original.event_type, original.body);
    queue(&app, user.tenant_id, &delivery).await
}

fn enabled(webhook: &WebhookRecord) -> Result<(), ApiError> {
    if webhook.enabled {
        return Ok(());
    }
    Err(ApiError::Conflict {
        code: "webhook_disabled",
        message: "the endpoint is disabled; PATCH enabled: true first".into(),
    })
}

async fn queue(
    app: &crate::App,
    tenant_id: Uuid,
    delivery: &NewDelivery,
) -> Result<(StatusCode, Json<DeliveryView>), ApiError> {
    let record = app.store.insert_delivery(tenant_id, delivery, app.config.webhooks.attempts()).await?;
    app.job_wakeup.notify_one();
    Ok((StatusCode::ACCEPTED, Json(record.into())))
}
