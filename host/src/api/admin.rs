//! `/api/v1/admin`: the operator API (bearer `OPERATOR_TOKEN`), for hot-loading plugins.
//!
//! - `GET /admin/plugins`: every plugin with id, version, content hash, load time, call and
//!   failure counts, and the version kept for rollback.
//! - `PUT /admin/plugins/{id}`: multipart upload of `manifest` (TOML) and `component` (`.wasm`).
//!   The version is compiled and checked, then swapped in atomically; calls in flight finish on
//!   the old one. A rejected upload changes nothing and says why (422 `plugin_rejected`).
//! - `POST /admin/plugins/{id}/rollback`: the previous version serves again.
//! - `DELETE /admin/plugins/{id}`: unloads it (and removes its files from `PLUGINS_DIR`).

use std::sync::Arc;

use axum::extract::{FromRequestParts, Multipart, Path};
use axum::http::StatusCode;
use axum::http::request::Parts;
use secrecy::ExposeSecret;
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::Json;
use super::pagination::Page;
use crate::App;
use crate::app::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::plugins::manifest::{Manifest, valid_id};
use crate::plugins::registry::Installed;
use crate::plugins::runtime::PluginSummary;
use crate::ratelimit::ScopeKey;
use crate::ratelimit::layer::{client_ip, client_key};
use crate::ratelimit::throttle::OPERATOR_PER_IP;

/// Largest accepted upload (manifest and component together).
pub const MAX_UPLOAD_BYTES: usize = 64 * 1024 * 1024;

/// The caller presented the operator token.
#[derive(Debug, Clone, Copy)]
pub struct Operator;

impl FromRequestParts<Arc<App>> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let expected = app
            .config
            .secrets
            .operator_token()
            .ok_or(ApiError::Forbidden("the operator API is disabled: set OPERATOR_TOKEN to enable it"))?;
        let client = client_ip(&parts.extensions, &parts.headers, &app.trusted_proxies)
            .map_or_else(|| ScopeKey::from("unknown"), client_key);
        OPERATOR_PER_IP.admit(app, &client).await?;
        let presented = crate::auth::Bearer::from_headers(&parts.headers).token().unwrap_or_default();
        // Compare digests, so the comparison time says nothing about the token.
        if Sha256::digest(presented) == Sha256::digest(expected.expose_secret().trim().as_bytes()) {
            return Ok(Operator);
        }
        OPERATOR_PER_IP.failed(app, &client).await?;
        tracing::warn!(client = %client, "operator API: wrong or missing operator token");
        Err(ApiError::Unauthorized("missing or invalid operator token"))
    }
}

/// A plugin id from the path, checked by the manifest's rule before anything else sees it:
/// `..%2F..%2Fx` and absolute paths are a 404, like any id that is not loaded.
#[derive(Debug)]
pub struct PluginId(pub String);

impl FromRequestParts<Arc<App>> for PluginId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let Path(id) = Path::<String>::from_request_parts(parts, app).await.map_err(|_| ApiError::NotFound)?;
        if valid_id(&id) { Ok(Self(id)) } else { Err(ApiError::NotFound) }
    }
}

/// A loaded plugin: the serving version, and the one kept for rollback.
#[derive(Debug, Serialize, ToSchema)]
pub struct PluginView {
    #[serde(flatten)]
    pub current: PluginSummary,
    pub previous: Option<PluginSummary>,
}

/// The version an upload left serving.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadedPlugin {
    #[serde(flatten)]
    pub summary: PluginSummary,
    /// False when the upload was the version already serving.
    pub changed: bool,
}

/// `PUT /admin/plugins/{id}` body (multipart/form-data).
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // describes the multipart form for the document; parts are read one by one
pub struct PluginUpload {
    /// The manifest, TOML.
    manifest: String,
    /// The component, `.wasm` (up to 64 MiB with the manifest).
    #[schema(value_type = String, format = Binary)]
    component: Vec<u8>,
}

/// `GET /api/v1/admin/plugins`
#[utoipa::path(get, path = "/admin/plugins", tag = "admin", security(("operator" = [])),
    responses((status = 200, description = "Every loaded plugin (never paged)", body = Page<PluginView>),
              (status = 403, description = "The operator API is off (no OPERATOR_TOKEN)", body = ErrorBody)))]
pub async fn list_plugins(axum::extract::State(app): AppState, _: Operator) -> Json<Page<PluginView>> {
    let items = app.plugins.list().into_iter().map(|(current, previous)| PluginView { current, previous }).collect();
    Json(Page::all(items))
}

/// `PUT /api/v1/admin/plugins/{id}`
#[utoipa::path(put, path = "/admin/plugins/{id}", tag = "admin", security(("operator" = [])),
    params(("id" = String, Path, description = "The plugin id (a-z, 0-9, `-`, `_`)")),
    request_body(content = PluginUpload, content_type = "multipart/form-data"),
    responses((status = 200, description = "Loaded and serving (or already serving)", body = UploadedPlugin),
              (status = 403, description = "The operator API is off (no OPERATOR_TOKEN)", body = ErrorBody)))]
pub async fn put_plugin(
    axum::extract::State(app): AppState,
    _: Operator,
    PluginId(id): PluginId,
    mut multipart: Multipart,
) -> Result<Json<UploadedPlugin>, ApiError> {
    let (mut manifest_text, mut component) = (None, None);
    while let Some(field) =
        multipart.next_field().await.map_err(|e| ApiError::invalid("body", format!("bad multipart body: {e}")))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        let bytes = field.bytes().await.map_err(|e| match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(MAX_UPLOAD_BYTES),
            _ => ApiError::invalid(name.clone(), format!("cannot read: {e}")),
        })?;
        match name.as_str() {
            "manifest" => {
                manifest_text =
                    Some(String::from_utf8(bytes.to_vec()).map_err(|_| ApiError::invalid("manifest", "not UTF-8"))?)
            }
            "component" => component = Some(bytes.to_vec()),
            other => return Err(ApiError::invalid(other, "unknown part; expected `manifest` and `component`")),
        }
    }
    let manifest_text = manifest_text.ok_or_else(|| ApiError::invalid("manifest", "missing part"))?;
    let component = component.ok_or_else(|| ApiError::invalid("component", "missing part"))?;
    let manifest = Manifest::parse(&manifest_text).map_err(|e| rejected(e.to_string()))?;
    if manifest.id != id {
        return Err(rejected(format!("the manifest's id `{}` does not match the URL's `{id}`", manifest.id)));
    }
    let (outcome, loaded) = app.plugins.upload(component, manifest).await.map_err(|e| rejected(e.0))?;
    Ok(Json(UploadedPlugin { summary: loaded.summary(), changed: outcome == Installed::Swapped }))
}

/// `POST /api/v1/admin/plugins/{id}/rollback`
#[utoipa::path(post, path = "/admin/plugins/{id}/rollback", tag = "admin", security(("operator" = [])),
    params(("id" = String, Path, description = "The plugin id")),
    responses((status = 200, description = "The previous version serves again", body = PluginSummary),
              (status = 403, description = "The operator API is off (no OPERATOR_TOKEN)", body = ErrorBody),
              (status = 409, description = "`no_previous_version`", body = ErrorBody)))]
pub async fn rollback_plugin(
    axum::extract::State(app): AppState,
    _: Operator,
    PluginId(id): PluginId,
) -> Result<Json<PluginSummary>, ApiError> {
    if app.plugins.get(&id).is_none() {
        return Err(ApiError::NotFound);
    }
    let restored = app
        .plugins
        .rollback(&id)
        .await
        .map_err(|e| ApiError::Conflict { code: "no_previous_version", message: e.0 })?;
    Ok(Json(restored.summary()))
}

/// `DELETE /api/v1/admin/plugins/{id}`
#[utoipa::path(delete, path = "/admin/plugins/{id}", tag = "admin", security(("operator" = [])),
    params(("id" = String, Path, description = "The plugin id")),
    responses((status = 204, description = "Unloaded; its files removed"),
              (status = 403, description = "The operator API is off (no OPERATOR_TOKEN)", body = ErrorBody)))]
pub async fn delete_plugin(
    axum::extract::State(app): AppState,
    _: Operator,
    PluginId(id): PluginId,
) -> Result<StatusCode, ApiError> {
    if !app.plugins.remove(&id).await {
        return Err(ApiError::NotFound);
    }
    Ok(StatusCode::NO_CONTENT)
}

fn rejected(reason: String) -> ApiError {
    ApiError::InvalidField { field: "component".into(), message: format!("plugin rejected: {reason}") }
}
