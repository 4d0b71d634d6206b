//! Events: what happened, for the seller. Recorded once, listed by `GET /api/v1/events`, and
//! fanned out to webhooks ([`crate::webhooks`]) and Telegram ([`crate::telegram`]) in the same
//! transaction ([`crate::store::events`]).
//!
//! Stock events come from a complete sync: each level of the connection's active products is
//! `ok`, `low` (at or below its product's threshold, else the tenant's) or `out` (nothing
//! available). A level that changes state emits one event: `stock.low`, `stock.out`, or
//! `stock.restocked` (back above the threshold after low or out); nothing while the state holds.
//! The first evaluation of a level sets its state without an event (nothing was crossed). A
//! failed sync evaluates nothing: its data may be partial. A threshold changed through the API
//! takes effect at the connection's next sync.

use serde_json::json;
use uuid::Uuid;

use crate::App;
use crate::store::StoreError;
use crate::store::connections::ConnectionRecord;
use crate::store::events::{Fanout, NewEvent, StockTransition};
use crate::store::sync_runs::SyncRun;

/// The types of event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub enum EventType {
    /// A level fell to or below its threshold (but not to zero).
    #[serde(rename = "stock.low")]
    StockLow,
    /// A level reached zero.
    #[serde(rename = "stock.out")]
    StockOut,
    /// A level rose above its threshold after being low or out.
    #[serde(rename = "stock.restocked")]
    StockRestocked,
    /// A sync run succeeded.
    #[serde(rename = "sync.completed")]
    SyncCompleted,
    /// A sync run failed for good.
    #[serde(rename = "sync.failed")]
    SyncFailed,
    /// A connection's credentials stop working within 14 days (the marketplace said when).
    #[serde(rename = "connection.credentials_expiring")]
    CredentialsExpiring,
    /// A stock-out forecast incident opened (a warning, critical or out-of-stock level confirmed).
    #[serde(rename = "stock.forecast.opened")]
    ForecastOpened,
    /// An open incident rose to a higher level.
    #[serde(rename = "stock.forecast.escalated")]
    ForecastEscalated,
    /// A critical or out-of-stock incident still open a day after it was last told.
    #[serde(rename = "stock.forecast.repeated")]
    ForecastRepeated,
    /// An open incident fell to a lower level (past the hysteresis margin).
    #[serde(rename = "stock.forecast.deescalated")]
    ForecastDeescalated,
    /// An incident resolved.
    #[serde(rename = "stock.forecast.resolved")]
    ForecastResolved,
    /// The daily digest of a tenant's incidents and shipment plan.
    #[serde(rename = "stock.forecast.digest")]
    ForecastDigest,
}

impl EventType {
    pub const ALL: [Self; 12] = [
        Self::StockLow,
        Self::StockOut,
        Self::StockRestocked,
        Self::SyncCompleted,
        Self::SyncFailed,
        Self::CredentialsExpiring,
        Self::ForecastOpened,
        Self::ForecastEscalated,
        Self::ForecastRepeated,
        Self::ForecastDeescalated,
        Self::ForecastResolved,
        Self::ForecastDigest,
    ];

    /// The wire name (`stock.low`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StockLow => "stock.low",
            Self::StockOut => "stock.out",
            Self::StockRestocked => "stock.restocked",
            Self::SyncCompleted => "sync.completed",
            Self::SyncFailed => "sync.failed",
            Self::CredentialsExpiring => "connection.credentials_expiring",
            Self::ForecastOpened => "stock.forecast.opened",
            Self::ForecastEscalated => "stock.forecast.escalated",
            Self::ForecastRepeated => "stock.forecast.repeated",
            Self::ForecastDeescalated => "stock.forecast.deescalated",
            Self::ForecastResolved => "stock.forecast.resolved",
            Self::ForecastDigest => "stock.forecast.digest",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Whether a Telegram alert tells of it (stock events and failed syncs; a completed sync
    /// is no news).
    pub fn is_alert(self) -> bool {
        !matches!(self, Self::SyncCompleted)
    }

    /// An incident change, which Telegram tells only when the alert policy pushes it (webhooks
    /// get every change).
    pub fn is_incident_change(self) -> bool {
        matches!(
            self,
            Self::ForecastOpened
                | Self::ForecastEscalated
                | Self::ForecastRepeated
                | Self::ForecastDeescalated
                | Self::ForecastResolved
        )
    }
}

/// Whether the batch's Telegram alert tells of `event` at once: an alert type other than an
/// incident change (those wait for the tenant's next forecast alert: [`is_forecast_push`]).
pub fn tells_telegram(event: &NewEvent) -> bool {
    EventType::parse(event.event_type).is_some_and(|t| t.is_alert() && !t.is_incident_change())
}

/// Whether `event` is an incident change the alert policy pushes (one that waits for the digest,
/// or was suppressed, is not): it goes out with the tenant's next forecast alert, at most one per
/// `TELEGRAM_GROUP_INTERVAL_SECS`.
pub fn is_forecast_push(event: &NewEvent) -> bool {
    EventType::parse(event.event_type).is_some_and(|t| t.is_incident_change()) && event.data["notification"] == "push"
}

/// The job kind that sends the Telegram alert of one batch of events.
pub const ALERT_JOB: &str = "telegram_alert";
/// The job kind that sends a tenant's waiting forecast alerts.
pub const FORECAST_ALERT_JOB: &str = "telegram_forecast_alert";

/// How events fan out with this configuration.
pub fn fanout(app: &App) -> Fanout {
    Fanout {
        webhook_attempts: app.config.webhooks.attempts(),
        alert_kind: ALERT_JOB,
        forecast_alert_kind: FORECAST_ALERT_JOB,
        group_interval: chrono::Duration::seconds(i64::from(app.config.telegram.telegram_group_interval_secs)),
    }
}

/// The event a transition emits; `None` for a level's first evaluation.
pub fn stock_event(t: &StockTransition) -> Option<NewEvent> {
    let previous = t.previous_state.as_deref()?;
    let event_type = match t.state.as_str() {
        "out" => EventType::StockOut,
        "low" => EventType::StockLow,
        _ => EventType::StockRestocked,
    };
    Some(NewEvent {
        event_type: event_type.as_str(),
        data: json!({
            "connection_id": t.connection_id,
            "product_id": t.product_id,
            "sku": t.sku,
            "name": t.name,
            "warehouse": t.warehouse,
            "available": t.available,
            "threshold": t.threshold,
            "previous_state": previous,
            "state": t.state,
        }),
    })
}

/// After a complete sync of `connection`: the stock events of its levels' transitions, and the
/// new states stored. Returns how many events.
pub async fn evaluate_stock(app: &App, connection: &ConnectionRecord) -> Result<usize, StoreError> {
    let (tenant_id, connection_id) = (connection.tenant_id, connection.connection_id);
    let transitions = app.store.stock_transitions(tenant_id, connection_id).await?;
    if transitions.is_empty() {
        return Ok(0);
    }
    let events: Vec<NewEvent> = transitions.iter().filter_map(stock_event).collect();
    record(app, tenant_id, &events, Some(connection_id)).await?;
    Ok(events.len())
}

/// `sync.completed` or `sync.failed` for a finished run.
pub async fn sync_finished(app: &App, connection: &ConnectionRecord, run: &SyncRun) -> Result<(), StoreError> {
    let event_type = match run.status {
        crate::store::sync_runs::SyncStatus::Succeeded => EventType::SyncCompleted,
        crate::store::sync_runs::SyncStatus::Failed => EventType::SyncFailed,
        _ => return Ok(()),
    };
    let event = NewEvent {
        event_type: event_type.as_str(),
        data: json!({
            "connection_id": connection.connection_id,
            "connection_name": connection.name,
            "marketplace": connection.marketplace,
            "sync_run_id": run.sync_run_id,
            "trigger": run.trigger,
            "attempts": run.attempts,
            "products_seen": run.products_seen,
            "stocks_seen": run.stocks_seen,
            "stock_changes": run.stock_changes,
            "error": run.error,
            "finished_at": run.finished_at,
        }),
    };
    record(app, connection.tenant_id, &[event], None).await.map(drop)
}

/// How long before credentials expire the seller is told.
pub const EXPIRY_NOTICE: chrono::Duration = chrono::Duration::days(14);

/// `connection.credentials_expiring` for every connection whose credentials expire within
/// [`EXPIRY_NOTICE`] and whose seller was not yet told of this expiry. Each connection is claimed
/// with a compare-and-set first, so of several instances only one tells. Returns how many.
pub async fn credentials_expiring(app: &App) -> Result<usize, StoreError> {
    let now = crate::store::now();
    let expiring = app.store.claim_expiring_credentials(now, now + EXPIRY_NOTICE).await?;
    for c in &expiring {
        let event = NewEvent {
            event_type: EventType::CredentialsExpiring.as_str(),
            data: json!({
                "connection_id": c.connection_id,
                "connection_name": c.name,
                "marketplace": c.marketplace,
                "expires_at": c.credentials_expire_at,
            }),
        };
        record(app, c.tenant_id, &[event], None).await?;
    }
    Ok(expiring.len())
}

/// Records events (and, with `alert_states_of`, that connection's new alert states) with their
/// fan-out, counts them, and wakes a worker for the deliveries.
pub async fn record(
    app: &App,
    tenant_id: Uuid,
    events: &[NewEvent],
    alert_states_of: Option<Uuid>,
) -> Result<Vec<Uuid>, StoreError> {
    let ids = app.store.record_events(tenant_id, events, alert_states_of, &fanout(app)).await?;
    for event in events {
        app.metrics.events.with_label_values(&[event.event_type]).inc();
    }
    if !events.is_empty() {
        app.job_wakeup.notify_waiters();
        app.job_wakeup.notify_one();
    }
    Ok(ids)
}
