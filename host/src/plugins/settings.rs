//! Connection settings: what a tenant may set on a connection, checked when it is created or
//! changed, and again before every sync (the operator's grants may have changed since).
//!
//! - At most [`MAX_SETTINGS_BYTES`] of JSON: settings are stored, returned on every list and
//!   handed to the adapter on every call.
//! - Only keys the adapter declares (its `info().settings`; for a WIT 0.1.0 adapter, its
//!   manifest's `settings = [...]`), with one of the values it allows where it names them, plus
//!   [`BASE_URL`].
//! - [`BASE_URL`] points the adapter, with the seller's token, at another host. Which hosts a
//!   plugin may reach at all is the operator's grant (`PLUGIN_EXTRA_HOSTS`), and so is who may
//!   use this: only the tenants listed in `PLUGIN_BASE_URL_TENANTS`.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::PluginConfig;
use super::bindings::AdapterInfo;
use crate::error::ApiError;

/// Largest settings object, in bytes of JSON.
pub const MAX_SETTINGS_BYTES: usize = 8 * 1024;

/// The setting that replaces every marketplace host (for fakes and sandboxes).
pub const BASE_URL: &str = "base_url";

/// Checks `settings` for a connection of `tenant_id` served by the adapter `info` describes.
pub fn check(
    config: &PluginConfig,
    info: &AdapterInfo,
    tenant_id: Uuid,
    settings: &Map<String, Value>,
) -> Result<(), ApiError> {
    let size = serde_json::to_vec(settings).map_or(usize::MAX, |v| v.len());
    if size > MAX_SETTINGS_BYTES {
        return Err(ApiError::invalid("settings", format!("must be at most {MAX_SETTINGS_BYTES} bytes of JSON")));
    }
    for (key, value) in settings {
        if key == BASE_URL {
            if !config.base_url_allowed(tenant_id) {
                return Err(ApiError::invalid(
                    "settings.base_url",
                    "not allowed for this tenant: the operator decides where adapters connect (PLUGIN_BASE_URL_TENANTS)",
                ));
            }
        } else if let Some(field) = info.settings.iter().find(|f| f.name == *key) {
            let text = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
            if !field.allowed.is_empty() && !field.allowed.contains(&text) {
                return Err(ApiError::invalid(
                    format!("settings.{key}"),
                    format!("must be one of: {}", field.allowed.join(", ")),
                ));
            }
        } else {
            let known: Vec<&str> = info.settings.iter().map(|f| f.name.as_str()).collect();
            let known = if known.is_empty() { "none".to_owned() } else { known.join(", ") };
            // The key is echoed only in its first 64 characters: it is the tenant's own input.
            let shown: String = key.chars().take(64).collect();
            return Err(ApiError::invalid(
                format!("settings.{shown}"),
                format!("unknown setting for the `{}` adapter (it knows: {known})", info.id),
            ));
        }
    }
    Ok(())
}
