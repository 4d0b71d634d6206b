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
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::Json;
use crate::App;
use crate::app::AppState;
use crate::error::ApiError;
use crate::plugins::manifest::{Manifest, valid_id};
use crate::plugins::registry::Installed;
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
            .map_or_else(|| "unknown".to_owned(), client_key);
        OPERATOR_PER_IP.admit(app, &client).await?;
        let presented = crate::auth::Bearer::from_headers(&parts.headers).token().unwrap_or_default();
        // Compare digests, so the comparison time says nothing about the token.
        if Sha256::digest(presented.as_bytes()) == Sha256::digest(expected.expose_secret().trim().as_bytes()) {
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

/// `GET /api/v1/admin/plugins`
pub async fn list_plugins(axum::extract::State(app): AppState, _: Operator) -> Json<Value> {
    let items: Vec<Value> = app
        .plugins
        .list()
        .into_iter()
        .map(|(current, previous)| {
            let mut v = serde_json::to_value(current).expect("summaries serialize");
            v["previous"] = serde_json::to_value(previous).expect("summaries serialize");
            v
        })
        .collect();
    Json(json!({ "items": items }))
}

/// `PUT /api/v1/admin/plugins/{id}`
pub async fn put_plugin(
    axum::extract::State(app): AppState,
    _: Operator,
    PluginId(id): PluginId,
    mut multipart: Multipart,
) -> Result<Json<Value>, ApiError> {
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
    let mut body = serde_json::to_value(loaded.summary()).expect("summaries serialize");
    body["changed"] = (outcome == Installed::Swapped).into();
    Ok(Json(body))
}

/// `POST /api/v1/admin/plugins/{id}/rollback`
pub async fn rollback_plugin(
    axum::extract::State(app): AppState,
    _: Operator,
    PluginId(id): PluginId,
) -> Result<Json<Value>, ApiError> {
    if app.plugins.get(&id).is_none() {
        return Err(ApiError::NotFound);
    }
    let restored = app
        .plugins
        .rollback(&id)
        .await
        .map_err(|e| ApiError::Conflict { code: "no_previous_version", message: e.0 })?;
    Ok(Json(serde_json::to_value(restored.summary()).expect("summaries serialize")))
}

/// `DELETE /api/v1/admin/plugins/{id}`
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
