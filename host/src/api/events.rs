//! `/api/v1/events`: what happened in the tenant (stock crossing thresholds, syncs ending), as a
//! feed: oldest first, paged with a cursor, so a client can poll from where it stopped.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::pagination::{Page, decode_cursor, limit};
use super::{Json, Query};
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::events::EventType;
use crate::store::events::EventRecord;

/// `GET /events` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListEventsQuery {
    /// Only events of this type.
    #[serde(rename = "type")]
    #[param(rename = "type", value_type = Option<EventType>)]
    pub event_type: Option<String>,
    /// Only events at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// An event as served (the `data` is the same as in its webhook).
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    pub event_id: Uuid,
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// The event's details: for stock events `connection_id`, `product_id`, `sku`, `name`,
    /// `warehouse`, `available`, `threshold`, `previous_state`, `state`; for sync events the
    /// run's `sync_run_id`, counts and `error`.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

impl TryFrom<EventRecord> for EventView {
    type Error = ApiError;
    fn try_from(e: EventRecord) -> Result<Self, ApiError> {
        let event_type = EventType::parse(&e.event_type)
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("stored event type `{}`", e.event_type)))?;
        Ok(EventView { event_id: e.event_id, event_type, data: e.data.0, created_at: e.created_at })
    }
}

/// Parses an event type named in a request.
pub fn parse_type(field: &str, name: &str) -> Result<EventType, ApiError> {
    EventType::parse(name).ok_or_else(|| {
        let known: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
        ApiError::invalid(field, format!("unknown event type `{name}`; one of {}", known.join(", ")))
    })
}

/// `GET /api/v1/events`: the tenant's events, oldest first.
#[utoipa::path(get, path = "/events", tag = "events", security(("bearer" = [])), params(ListEventsQuery),
    responses((status = 200, description = "Events, oldest first", body = Page<EventView>)))]
pub async fn list_events(
    axum::extract::State(app): AppState,
    user: AuthUser,
    Query(q): Query<ListEventsQuery>,
) -> Result<Json<Page<EventView>>, ApiError> {
    let limit = limit(q.limit)?;
    let after = decode_cursor::<Uuid>(q.cursor.as_deref())?;
    let event_type = q.event_type.as_deref().map(|t| parse_type("type", t)).transpose()?;
    let rows =
        app.store.list_events(user.tenant_id, event_type.map(EventType::as_str), q.since, after, limit + 1).await?;
    let page = Page::from_rows(rows, limit, |e| e.event_id);
    let items = page.items.into_iter().map(EventView::try_from).collect::<Result<_, _>>()?;
    Ok(Json(Page { items, next_cursor: page.next_cursor }))
}
