//! `/api/v1/connections`: a tenant's marketplace accounts. Credentials go in sealed and never come
//! out: responses list only the credential field names.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::pagination::Page;
use super::sync_runs::SyncRunView;
use super::{Json, PathId};
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::plugins::LoadedPlugin;
use crate::plugins::bindings::{Account, CallContext};
use crate::store::connections::{ConnectionChanges, ConnectionRecord, Schedule};
use crate::sync::SyncConfig;

/// The marketplaces the service ships adapters for (an operator may load adapters for others).
pub const MARKETPLACES: [&str; 3] = ["wildberries", "ozon", "yandex_market"];
const MAX_CREDENTIAL_BYTES: usize = 16 * 1024;

/// Credential values by field name; never logged, never returned.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct Credentials(pub BTreeMap<String, String>);

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

/// `POST /connections` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConnectionRequest {
    /// `wildberries`, `ozon`, `yandex_market`, or the marketplace of an adapter the operator
    /// loaded; an adapter for it must be loaded.
    #[schema(pattern = "^[a-z0-9_-]{1,64}$", example = "wildberries")]
    pub marketplace: String,
    /// 1 to 100 characters, unique in the tenant.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// The adapter's credential fields, e.g. `{"token": "…"}`; sealed at rest, never returned.
    #[schema(value_type = BTreeMap<String, String>)]
    pub credentials: Credentials,
    /// At most 8 KiB; only keys the adapter declares, plus `base_url` where the operator allows.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub settings: Option<serde_json::Map<String, Value>>,
}

/// `PATCH /connections/{id}` body: any subset.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateConnectionRequest {
    /// 1 to 100 characters, unique in the tenant.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub credentials: Option<Credentials>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub settings: Option<serde_json::Map<String, Value>>,
    /// Whether the schedule syncs it; `true` also resumes a schedule the service paused.
    #[serde(default)]
    pub sync_enabled: Option<bool>,
    /// Seconds between scheduled syncs, at least `SYNC_MIN_INTERVAL_SECS` (300 by default), at
    /// most a week.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 604800)]
    pub sync_interval_seconds: Option<u32>,
}

/// A connection as served.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionView {
    pub connection_id: Uuid,
    pub marketplace: String,
    pub name: String,
    #[schema(value_type = Object)]
    pub settings: Value,
    /// Names of the stored credential fields (the values are never returned).
    pub credential_fields: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Whether the schedule syncs it.
    pub sync_enabled: bool,
    /// Seconds between scheduled syncs (the service's default unless set).
    pub sync_interval_seconds: u32,
    /// When the schedule syncs it next; null while the schedule is off. A new connection is
    /// due at once.
    pub next_sync_at: Option<DateTime<Utc>>,
    /// Why the service switched the schedule off (the marketplace refused the credentials run
    /// after run); new credentials or `sync_enabled: true` resume it.
    pub paused_reason: Option<String>,
    /// The latest run, if any.
    pub last_run: Option<SyncRunView>,
    /// When the credentials stop working, as the marketplace said when they were last checked
    /// (WB: the token's expiry); null if it does not say. The seller is told 14 days before
    /// (event `connection.credentials_expiring`).
    pub credentials_expire_at: Option<DateTime<Utc>>,
}

/// A marketplace name as adapters declare them (`field` marketplace of a 422 otherwise). Whether
/// an adapter serves it is the registry's answer: an operator may load one for a marketplace the
/// service does not ship.
pub(super) fn check_marketplace(marketplace: &str) -> Result<(), ApiError> {
    if crate::plugins::manifest::valid_id(marketplace) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "marketplace",
            format!("must be 1-64 of a-z, 0-9, - or _ ({} are built in)", MARKETPLACES.join(", ")),
        ))
    }
}

/// `POST /api/v1/connections`
#[utoipa::path(post, path = "/connections", tag = "connections", security(("bearer" = [])),
    request_body = CreateConnectionRequest,
    responses((status = 201, description = "Created; the marketplace accepted the credentials", body = ConnectionView),
              (status = 403, description = "Owners and admins only", body = ErrorBody),
              (status = 409, description = "`name_taken`", body = ErrorBody),
              (status = 502, description = "The marketplace or its adapter failed", body = ErrorBody),
              (status = 503, description = "The marketplace asks to wait (`Retry-After`)", body = ErrorBody)))]
pub async fn create_connection(
    axum::extract::State(app): AppState,
    user: AuthUser,
    Json(body): Json<CreateConnectionRequest>,
) -> Result<(StatusCode, Json<ConnectionView>), ApiError> {
    user.require_manager()?;
    check_marketplace(&body.marketplace)?;
    let name = check_name(&body.name)?;
    let plaintext = check_credentials(&body.credentials)?;
    let plugin = adapter(&app, &body.marketplace)?;
    let settings = body.settings.unwrap_or_default();
    crate::plugins::settings::check(&app.config.plugins, &plugin.info, user.tenant_id, &settings)?;
    let settings = Value::Object(settings);
    let account = verify(&app, &plugin, &body.credentials.0, &settings).await?;
    let connection_id = Uuid::now_v7();
    let mut record = app
        .keyring
        .write_sealed(&app.store, user.tenant_id, connection_id, &plaintext, |sealed| {
            let (app, marketplace, name, settings) = (&app, &body.marketplace, &name, &settings);
            async move {
                app.store.insert_connection(user.tenant_id, connection_id, marketplace, name, settings, &sealed).await
            }
        })
        .await?;
    record.credentials_expire_at = expiry(&account);
    app.store.set_credentials_expiry(user.tenant_id, connection_id, record.credentials_expire_at).await?;
    tracing::info!(tenant.id = %user.tenant_id, connection.id = %connection_id, marketplace = %body.marketplace, "connection {connection_id} created");
    Ok((StatusCode::CREATED, Json(view(&app, &record).await)))
}

/// `GET /api/v1/connections`
#[utoipa::path(get, path = "/connections", tag = "connections", security(("bearer" = [])),
    responses((status = 200, description = "Every connection, oldest first (never paged)", body = Page<ConnectionView>)))]
pub async fn list_connections(
    axum::extract::State(app): AppState,
    user: AuthUser,
) -> Result<Json<Page<ConnectionView>>, ApiError> {
    let records = app.store.list_connections(user.tenant_id).await?;
    let mut items = Vec::with_capacity(records.len());
    for record in &records {
        items.push(view(&app, record).await);
    }
    Ok(Json(Page::all(items)))
}

/// `GET /api/v1/connections/{id}`
#[utoipa::path(get, path = "/connections/{id}", tag = "connections", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The connection id")),
    responses((status = 200, description = "The connection", body = ConnectionView)))]
pub async fn get_connection(
    axum::extract::State(app): AppState,
    user: AuthUser,
    PathId(id): PathId,
) -> Result<Json<ConnectionView>, ApiError> {
    let record = app.store.connection(user.tenant_id, id).await?;
    Ok(Json(view(&app, &record).await))
}

/// `PATCH /api/v1/connections/{id}`
#[utoipa::path(patch, path = "/connections/{id}", tag = "connections", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The connection id")), request_body = UpdateConnectionRequest,
    responses((status = 200, description = "Changed; new credentials or settings were checked first", body = ConnectionView),
              (status = 403, description = "Owners and admins only", body = ErrorBody),
              (status = 409, description = "`name_taken`", body = ErrorBody),
              (status = 502, description = "The marketplace or its adapter failed", body = ErrorBody),
              (status = 503, description = "The marketplace asks to wait (`Retry-After`)", body = ErrorBody)))]
pub async fn update_connection(
    axum::extract::State(app): AppState,
    user: AuthUser,
    PathId(id): PathId,
    Json(body): Json<UpdateConnectionRequest>,
) -> Result<Json<ConnectionView>, ApiError> {
    user.require_manager()?;
    // Look the connection up first, so another tenant's id is a 404 before any validation runs.
    let current = app.store.connection(user.tenant_id, id).await?;
    let mut checked = None;
    if body.credentials.is_some() || body.settings.is_some() {
        let plugin = adapter(&app, &current.marketplace)?;
        if let Some(settings) = &body.settings {
            crate::plugins::settings::check(&app.config.plugins, &plugin.info, user.tenant_id, settings)?;
        }
        let credentials = match &body.credentials {
            Some(c) => c.0.clone(),
            None => open_credentials(&app, &current).await?,
        };
        let settings = body.settings.clone().map(Value::Object).unwrap_or_else(|| current.settings.0.clone());
        checked = Some(verify(&app, &plugin, &credentials, &settings).await?);
    }
    let name = body.name.as_deref().map(check_name).transpose()?;
    let schedule = schedule_change(&app.config.sync, &current, &body)?;
    let settings = body.settings.map(Value::Object);
    let record = match body.credentials.as_ref().map(check_credentials).transpose()? {
        Some(plaintext) => {
            app.keyring
                .write_sealed(&app.store, user.tenant_id, id, &plaintext, |sealed| {
                    let changes = ConnectionChanges {
                        name: name.clone(),
                        settings: settings.clone(),
                        credentials: Some(sealed),
                        schedule: schedule.clone(),
                    };
                    let store = &app.store;
                    async move { store.update_connection(user.tenant_id, id, changes).await }
                })
                .await?
        }
        None => {
            let changes = ConnectionChanges { name, settings, credentials: None, schedule };
            app.store.update_connection(user.tenant_id, id, changes).await?
        }
    };
    let mut record = record;
    if let Some(account) = checked {
        record.credentials_expire_at = expiry(&account);
        app.store.set_credentials_expiry(user.tenant_id, id, record.credentials_expire_at).await?;
    }
    Ok(Json(view(&app, &record).await))
}

/// `DELETE /api/v1/connections/{id}`: removes it with its products, stock and history.
#[utoipa::path(delete, path = "/connections/{id}", tag = "connections", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The connection id")),
    responses((status = 204, description = "Removed with its products, stock, history and runs"),
              (status = 403, description = "Owners and admins only", body = ErrorBody)))]
pub async fn delete_connection(
    axum::extract::State(app): AppState,
    user: AuthUser,
    PathId(id): PathId,
) -> Result<StatusCode, ApiError> {
    user.require_manager()?;
    app.store.delete_connection(user.tenant_id, id).await?;
    crate::cache::invalidation::invalidate(&app, user.tenant_id).await;
    tracing::info!(tenant.id = %user.tenant_id, connection.id = %id, "connection {id} deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// The adapter loaded for `marketplace`.
fn adapter(app: &crate::App, marketplace: &str) -> Result<std::sync::Arc<LoadedPlugin>, ApiError> {
    app.plugins.for_marketplace(marketplace).ok_or_else(|| {
        ApiError::invalid("marketplace", format!("no adapter for `{marketplace}` is loaded on this server"))
    })
}

/// When the account's credentials expire, if the adapter said (and it is a time).
fn expiry(account: &Account) -> Option<DateTime<Utc>> {
    account.expires_at.and_then(|secs| DateTime::from_timestamp(i64::try_from(secs).ok()?, 0))
}

/// Checks credentials and settings with the marketplace through its adapter.
async fn verify(
    app: &crate::App,
    plugin: &std::sync::Arc<LoadedPlugin>,
    credentials: &BTreeMap<String, String>,
    settings: &Value,
) -> Result<Account, ApiError> {
    let ctx = CallContext {
        credentials: credentials.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        settings: crate::sync::settings_pairs(settings),
    };
    Ok(app.plugins.runtime().verify_credentials(plugin, ctx).await?)
}

/// Opens a connection's credentials (to check them again with new settings).
async fn open_credentials(app: &crate::App, record: &ConnectionRecord) -> Result<BTreeMap<String, String>, ApiError> {
    app.keyring
        .open_credentials(&app.store, record)
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("connection {}: {e}", record.connection_id)))
}

/// The served form. Credentials that no longer open (a key removed too early) show no fields
/// rather than failing the whole list; the cause is logged.
async fn view(app: &crate::App, record: &ConnectionRecord) -> ConnectionView {
    let credential_fields = match open_credentials(app, record).await {
        Ok(credentials) => credentials.into_keys().collect(),
        Err(err) => {
            tracing::error!(tenant.id = %record.tenant_id, connection.id = %record.connection_id, error = %err_detail(&err), "credentials do not open");
            Vec::new()
        }
    };
    let last_run = match app.store.list_sync_runs(record.tenant_id, Some(record.connection_id), None, 1).await {
        Ok(mut runs) => runs.pop().map(SyncRunView::from),
        Err(err) => {
            tracing::error!(connection.id = %record.connection_id, error = %err, "cannot read the last run");
            None
        }
    };
    ConnectionView {
        connection_id: record.connection_id,
        marketplace: record.marketplace.clone(),
        name: record.name.clone(),
        settings: record.settings.0.clone(),
        credential_fields,
        created_at: record.created_at,
        updated_at: record.updated_at,
        sync_enabled: record.schedule.sync_enabled,
        sync_interval_seconds: interval_of(&app.config.sync, record),
        next_sync_at: record.schedule.next_sync_at.filter(|_| record.schedule.sync_enabled),
        paused_reason: record.schedule.paused_reason.clone(),
        last_run,
        credentials_expire_at: record.credentials_expire_at,
    }
}

fn interval_of(config: &SyncConfig, record: &ConnectionRecord) -> u32 {
    record
        .schedule
        .sync_interval_seconds
        .and_then(|s| u32::try_from(s).ok())
        .unwrap_or(config.sync_default_interval_secs)
}

/// The schedule after a PATCH, or `None` when the PATCH does not touch it. Switching the
/// schedule on (or new credentials while the service had paused it) makes the connection due
/// at once; a shorter interval brings the next sync no later than one new interval from now.
fn schedule_change(
    config: &SyncConfig,
    current: &ConnectionRecord,
    body: &UpdateConnectionRequest,
) -> Result<Option<Schedule>, ApiError> {
    if body.sync_enabled.is_none() && body.sync_interval_seconds.is_none() && body.credentials.is_none() {
        return Ok(None);
    }
    let now = crate::store::now();
    let mut schedule = current.schedule.clone();
    if let Some(seconds) = body.sync_interval_seconds {
        let (min, max) = (config.sync_min_interval_secs, crate::sync::MAX_INTERVAL_SECS);
        if !(min..=max).contains(&seconds) {
            return Err(ApiError::invalid("sync_interval_seconds", format!("must be {min} to {max} seconds")));
        }
        schedule.sync_interval_seconds = Some(seconds as i32);
        let latest = now + chrono::Duration::seconds(i64::from(seconds));
        schedule.next_sync_at = Some(schedule.next_sync_at.map_or(latest, |next| next.min(latest)));
    }
    let paused_by_us = current.schedule.paused_reason.is_some();
    let resume = match body.sync_enabled {
        Some(enabled) => enabled && (!current.schedule.sync_enabled || paused_by_us),
        None => body.credentials.is_some() && paused_by_us,
    };
    if body.credentials.is_some() {
        schedule.credential_failures = 0;
    }
    if resume {
        schedule = Schedule {
            sync_enabled: true,
            next_sync_at: Some(now),
            paused_reason: None,
            credential_failures: 0,
            ..schedule
        };
    } else if body.sync_enabled == Some(false) {
        schedule.sync_enabled = false;
    }
    Ok(Some(schedule))
}

fn err_detail(err: &ApiError) -> String {
    match err {
        ApiError::Internal(e) => e.to_string(),
        other => other.to_string(),
    }
}

fn check_name(raw: &str) -> Result<String, ApiError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid("name", "must be 1 to 100 characters"));
    }
    Ok(name.to_owned())
}

/// Checks the credential map and serializes it for sealing.
fn check_credentials(credentials: &Credentials) -> Result<Vec<u8>, ApiError> {
    if credentials.0.is_empty() {
        return Err(ApiError::invalid("credentials", "must hold at least one field, e.g. {\"token\": \"…\"}"));
    }
    if let Some((field, _)) = credentials.0.iter().find(|(k, v)| k.is_empty() || v.is_empty()) {
        return Err(ApiError::invalid(format!("credentials.{field}"), "must not be empty"));
    }
    let plaintext = serde_json::to_vec(&credentials.0).expect("a string map serializes");
    if plaintext.len() > MAX_CREDENTIAL_BYTES {
        return Err(ApiError::invalid("credentials", format!("must be at most {MAX_CREDENTIAL_BYTES} bytes")));
    }
    Ok(plaintext)
}
