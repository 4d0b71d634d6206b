//! Events (what happened, for the seller) and their fan-out, written together: recording an
//! event also writes, in the same transaction, a webhook delivery and its job for every enabled
//! endpoint subscribed to its type, and the Telegram alert job of the batch. So an event is either
//! stored with everything it owes or not at all: a crash loses none and sends none twice.
//!
//! Stock events come from alert states ([`Store::stock_transitions`]): after a complete sync each
//! level of the connection's active products is `ok`, `low` (at or below its threshold) or `out`
//! (nothing available); a level whose state differs from the stored one is a transition.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::QueryBuilder;
use sqlx::types::Json;
use uuid::Uuid;

use super::jobs::NewJob;
use super::{BeginWrite, Store, StoreError, now, on_pool};

/// An event to record.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_type: &'static str,
    pub data: Value,
}

/// A stored event.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRecord {
    pub event_id: Uuid,
    #[sqlx(rename = "type")]
    pub event_type: String,
    pub data: Json<Value>,
    pub created_at: DateTime<Utc>,
}

/// A level whose alert state changes: what it was (`None`: never evaluated) and what it is now.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StockTransition {
    pub product_id: Uuid,
    pub connection_id: Uuid,
    pub sku: String,
    pub name: String,
    pub warehouse: String,
    pub available: i64,
    pub threshold: i64,
    pub previous_state: Option<String>,
    pub state: String,
}

/// How recorded events fan out (from the webhook settings and the alert jobs).
#[derive(Debug, Clone)]
pub struct Fanout {
    /// Attempts a webhook delivery job has (the retry schedule's length plus the first).
    pub webhook_attempts: i32,
    /// The job that sends the Telegram alert of a batch, if the batch holds alerts: its kind and
    /// payload (the event ids are added).
    pub alert_kind: &'static str,
    /// The job that sends a tenant's waiting forecast pushes, and how long after the last one it
    /// may run.
    pub forecast_alert_kind: &'static str,
    pub group_interval: chrono::Duration,
}

/// The job kind that sends one webhook delivery.
pub const WEBHOOK_JOB: &str = "webhook";

/// The alert state of a level `s` of a product `p` of tenant `t`.
const STATE: &str = "CASE WHEN s.available <= 0 THEN 'out' \
                     WHEN s.available <= COALESCE(p.low_stock_threshold, t.low_stock_threshold) THEN 'low' ELSE 'ok' END";

/// Rows per multi-row insert.
const CHUNK: usize = 1000;

impl Store {
    /// The levels of a connection's active products whose alert state differs from the stored
    /// one.
    pub async fn stock_transitions(
        &self,
        tenant_id: Uuid,
        connection_id: Uuid,
    ) -> Result<Vec<StockTransition>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT s.product_id, p.connection_id, p.sku, p.name, s.warehouse, s.available, \
               COALESCE(p.low_stock_threshold, t.low_stock_threshold) AS threshold, \
               s.alert_state AS previous_state, {STATE} AS state \
             FROM stock_level s JOIN product p ON p.tenant_id = s.tenant_id AND p.product_id = s.product_id \
             JOIN tenant t ON t.tenant_id = s.tenant_id \
             WHERE s.tenant_id = $1 AND p.connection_id = $2 AND p.active AND s.alert_state IS DISTINCT FROM {STATE} \
             ORDER BY p.sku, s.warehouse"
        ));
        Ok(on_pool!(self.pool(), p => sqlx::query_as(sql).bind(tenant_id).bind(connection_id).fetch_all(p).await?))
    }

    /// Records `events` with their fan-out, and (when `connection_id` is given) stores the
    /// current alert state of that connection's levels, all in one transaction. Returns the
    /// events' ids, in order.
    pub async fn record_events(
        &self,
        tenant_id: Uuid,
        events: &[NewEvent],
        alert_states_of: Option<Uuid>,
        fanout: &Fanout,
    ) -> Result<Vec<Uuid>, StoreError> {
        let at = now();
        let ids: Vec<Uuid> = events.iter().map(|_| Uuid::now_v7()).collect();
        on_pool!(self.pool(), pool => {
            let mut tx = pool.begin_write().await?;
            if let Some(connection_id) = alert_states_of {
                let sql = sqlx::AssertSqlSafe(format!(
                    "UPDATE stock_level AS s SET alert_state = {STATE} \
                     FROM product p JOIN tenant t ON t.tenant_id = p.tenant_id \
                     WHERE p.tenant_id = s.tenant_id AND p.product_id = s.product_id \
                       AND s.tenant_id = $1 AND p.connection_id = $2 AND p.active \
                       AND s.alert_state IS DISTINCT FROM {STATE}"
                ));
                sqlx::query(sql).bind(tenant_id).bind(connection_id).execute(&mut *tx).await?;
            }
            if !events.is_empty() {
                for (chunk, ids) in events.chunks(CHUNK).zip(ids.chunks(CHUNK)) {
                    let mut q = QueryBuilder::new("INSERT INTO event (tenant_id, event_id, type, data, created_at) ");
                    q.push_values(chunk.iter().zip(ids), |mut row, (event, id)| {
                        row.push_bind(tenant_id).push_bind(*id).push_bind(event.event_type)
                            .push_bind(Json(&event.data)).push_bind(at);
                    });
                    q.build().execute(&mut *tx).await?;
                }
                let endpoints: Vec<(Uuid, Json<Vec<String>>)> = sqlx::query_as(
                    "SELECT webhook_id, events FROM webhook_endpoint WHERE tenant_id = $1 AND enabled ORDER BY webhook_id")
                    .bind(tenant_id).fetch_all(&mut *tx).await?;
                let mut deliveries = Vec::new();
                for (event, id) in events.iter().zip(&ids) {
                    let body = webhook_body(event, at);
                    for (webhook_id, subscribed) in &endpoints {
                        if subscribed.0.iter().any(|t| t == event.event_type) {
                            deliveries.push(NewDelivery::new(*webhook_id, Some(*id), message_id(*id), event.event_type, body.clone()));
                        }
                    }
                }
                for chunk in deliveries.chunks(CHUNK) {
                    let mut q = QueryBuilder::new(DELIVERY_INSERT);
                    q.push_values(chunk, |mut row, d| { push_delivery!(row, d, tenant_id, at); });
                    q.build().execute(&mut *tx).await?;
                    let jobs: Vec<NewJob> = chunk.iter().map(|d| d.job(tenant_id, fanout.webhook_attempts, at)).collect();
                    let mut q = QueryBuilder::new(super::jobs::JOB_INSERT);
                    q.push_values(&jobs, |mut row, job| { super::jobs::push_job!(row, job, at); });
                    q.build().execute(&mut *tx).await?;
                }
                let of = |keep: fn(&NewEvent) -> bool| -> Vec<Uuid> {
                    events.iter().zip(&ids).filter(|(e, _)| keep(e)).map(|(_, id)| *id).collect()
                };
                let (alerts, pushes) = (of(crate::events::tells_telegram), of(crate::events::is_forecast_push));
                let has_chats: Option<i64> = if alerts.is_empty() && pushes.is_empty() { None } else {
                    sqlx::query_scalar("SELECT chat_id FROM telegram_chat WHERE tenant_id = $1 LIMIT 1")
                        .bind(tenant_id).fetch_optional(&mut *tx).await?
                };
                let mut jobs = Vec::new();
                if has_chats.is_some() && !alerts.is_empty() {
                    jobs.push(NewJob {
                        kind: fanout.alert_kind,
                        tenant_id: Some(tenant_id),
                        unique_key: None,
                        payload: serde_json::json!({ "tenant_id": tenant_id, "event_ids": alerts }),
                        max_attempts: 10,
                        run_at: at,
                    });
                }
                if has_chats.is_some() && !pushes.is_empty() {
                    // They wait for the tenant's next forecast alert: at once, or one group
                    // interval after the last.
                    let mut q = QueryBuilder::new("INSERT INTO forecast_alert_pending (tenant_id, event_id) ");
                    q.push_values(&pushes, |mut row, id| { row.push_bind(tenant_id).push_bind(*id); });
                    q.build().execute(&mut *tx).await?;
                    let sent: Option<DateTime<Utc>> =
                        sqlx::query_scalar("SELECT sent_at FROM forecast_alert_sent WHERE tenant_id = $1")
                            .bind(tenant_id).fetch_optional(&mut *tx).await?;
                    jobs.push(NewJob {
                        kind: fanout.forecast_alert_kind,
                        tenant_id: Some(tenant_id),
                        unique_key: None,
                        payload: serde_json::json!({ "tenant_id": tenant_id }),
                        max_attempts: 10,
                        run_at: sent.map_or(at, |sent| at.max(sent + fanout.group_interval)),
                    });
                }
                if !jobs.is_empty() {
                    let mut q = QueryBuilder::new(super::jobs::JOB_INSERT);
                    q.push_values(&jobs, |mut row, job| { super::jobs::push_job!(row, job, at); });
                    q.build().execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
        });
        Ok(ids)
    }

    /// Up to `limit` events of the tenant, oldest first, after the event `after`; only of type
    /// `event_type` and created at or after `since` when given.
    pub async fn list_events(
        &self,
        tenant_id: Uuid,
        event_type: Option<&str>,
        since: Option<DateTime<Utc>>,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<EventRecord>, StoreError> {
        Ok(on_pool!(self.pool(), p => {
            let mut q = QueryBuilder::new("SELECT event_id, type, data, created_at FROM event WHERE tenant_id = ");
            q.push_bind(tenant_id);
            if let Some(event_type) = event_type {
                q.push(" AND type = ").push_bind(event_type.to_owned());
            }
            if let Some(since) = since {
                q.push(" AND created_at >= ").push_bind(since);
            }
            if let Some(after) = after {
                q.push(" AND event_id > ").push_bind(after);
            }
            q.push(" ORDER BY event_id LIMIT ").push_bind(i64::from(limit));
            // A tenant-sized list: planned for its tenant on every run (store docs).
            q.build_query_as().persistent(false).fetch_all(p).await?
        }))
    }

    /// Events of the tenant by id (those that exist), in id order.
    pub async fn events_by_id(&self, tenant_id: Uuid, ids: &[Uuid]) -> Result<Vec<EventRecord>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(on_pool!(self.pool(), p => {
            let mut q = QueryBuilder::new("SELECT event_id, type, data, created_at FROM event WHERE tenant_id = ");
            q.push_bind(tenant_id).push(" AND event_id IN (");
            let mut list = q.separated(", ");
            for id in ids {
                list.push_bind(*id);
            }
            q.push(") ORDER BY event_id");
            q.build_query_as().fetch_all(p).await?
        }))
    }
}

/// The `webhook-id` of an event: stable across retries and redeliveries, and free of `.` (the
/// signed content joins id, timestamp and body with dots).
pub fn message_id(event_id: Uuid) -> String {
    format!("msg_{}", event_id.simple())
}

/// The body of an event's webhook: `{"type", "timestamp", "data"}`, exactly as signed and sent.
pub fn webhook_body(event: &NewEvent, at: DateTime<Utc>) -> String {
    #[derive(Serialize)]
    struct Body<'a> {
        #[serde(rename = "type")]
        event_type: &'a str,
        timestamp: String,
        data: &'a Value,
    }
    let timestamp = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    serde_json::to_string(&Body { event_type: event.event_type, timestamp, data: &event.data })
        .expect("JSON values serialize")
}

/// A delivery to write.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub delivery_id: Uuid,
    pub webhook_id: Uuid,
    pub event_id: Option<Uuid>,
    pub message_id: String,
    pub event_type: String,
    pub body: String,
}

/// Pushes a [`NewDelivery`] as one `pending` row of a [`DELIVERY_INSERT`] (a macro, so each
/// backend's arm of [`on_pool!`] binds with its own driver).
macro_rules! push_delivery {
    ($row:expr, $d:expr, $tenant_id:expr, $at:expr) => {
        $row.push_bind($tenant_id)
            .push_bind($d.delivery_id)
            .push_bind($d.webhook_id)
            .push_bind($d.event_id)
            .push_bind($d.message_id.clone())
            .push_bind($d.event_type.clone())
            .push_bind($d.body.clone())
            .push_bind("pending")
            .push_bind($at)
    };
}
pub(crate) use push_delivery;

pub(crate) const DELIVERY_INSERT: &str = "INSERT INTO webhook_delivery (tenant_id, delivery_id, webhook_id, event_id, \
     message_id, event_type, body, status, created_at) ";

impl NewDelivery {
    pub fn new(webhook_id: Uuid, event_id: Option<Uuid>, message_id: String, event_type: &str, body: String) -> Self {
        Self { delivery_id: Uuid::now_v7(), webhook_id, event_id, message_id, event_type: event_type.to_owned(), body }
    }

    /// The job that sends it.
    pub fn job(&self, tenant_id: Uuid, max_attempts: i32, at: DateTime<Utc>) -> NewJob {
        NewJob {
            kind: WEBHOOK_JOB,
            tenant_id: Some(tenant_id),
            unique_key: Some(format!("webhook:{}", self.delivery_id)),
            payload: serde_json::json!({ "tenant_id": tenant_id, "delivery_id": self.delivery_id }),
            max_attempts,
            run_at: at,
        }
    }
}
