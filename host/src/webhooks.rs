//! Webhooks per the Standard Webhooks spec: a tenant's endpoints receive its events as signed
//! `POST`s, each delivery a durable job retried on a schedule.
//!
//! - **Messages.** The body is `{"type", "timestamp", "data"}`, stored with the delivery and sent
//!   byte for byte on every attempt, with `webhook-id` (stable across retries and redeliveries),
//!   `webhook-timestamp` (the attempt's, unix seconds) and `webhook-signature`
//!   (`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, [`signing`]).
//! - **Secrets** are `whsec_` + 32 random bytes, shown on creation and rotation only, sealed at
//!   rest. After a rotation the previous secret signs beside the new one for 24 hours (two
//!   signatures in the header), so a receiver can switch without losing messages.
//! - **Attempts** ([`deliver`]): a 2xx delivers. 410 disables the endpoint at once. Anything
//!   else (3xx included: redirects are not followed; timeouts; refused targets) is retried after
//!   the next wait of `WEBHOOK_RETRY_SCHEDULE` (±20 %; a `Retry-After` longer than the wait is
//!   honoured up to twice it). A delivery that fails every attempt is `failed`, and
//!   `WEBHOOK_DISABLE_AFTER_FAILURES` such deliveries in a row disable the endpoint with the
//!   reason. Deliveries can be redelivered by hand.
//! - **Outbound safety** ([`target`]): https only, public addresses only (judged after DNS
//!   resolution), no redirects, no proxy, short deadlines, at most [`deliver::RESPONSE_KEPT`]
//!   bytes of an answer kept.

mod config;
pub mod deliver;
pub mod signing;
pub mod target;

pub use config::WebhookConfig;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::App;
use crate::store::StoreError;
use crate::store::webhooks::WebhookRecord;

/// How long the previous secret keeps signing after a rotation.
pub const ROTATION_OVERLAP: chrono::Duration = chrono::Duration::hours(24);

/// An endpoint's secrets, as sealed.
#[derive(Serialize, Deserialize)]
pub struct Secrets {
    pub current: String,
    #[serde(default)]
    pub previous: Option<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(..)")
    }
}

impl Secrets {
    /// The secrets that sign at `at`: the current one, and the previous one within its overlap.
    pub fn signing(&self, previous_until: Option<DateTime<Utc>>, at: DateTime<Utc>) -> Vec<&str> {
        let previous = self.previous.as_deref().filter(|_| previous_until.is_some_and(|until| at < until));
        std::iter::once(self.current.as_str()).chain(previous).collect()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("strings serialize")
    }
}

/// Opens an endpoint's secrets.
pub async fn open_secrets(app: &App, webhook: &WebhookRecord) -> Result<Secrets, StoreError> {
    let plain = app
        .keyring
        .open(&app.store, webhook.tenant_id, webhook.webhook_id, &webhook.sealed())
        .await
        .map_err(|e| StoreError::Corrupt(format!("webhook secrets do not open: {e}")))?;
    serde_json::from_slice(&plain).map_err(|_| StoreError::Corrupt("webhook secrets do not decode".into()))
}

/// Creates an endpoint with a fresh secret; returns it and the secret (shown this once).
pub async fn create(
    app: &App,
    tenant_id: Uuid,
    url: &str,
    description: Option<&str>,
    events: &[String],
) -> Result<(WebhookRecord, String), StoreError> {
    let webhook_id = Uuid::now_v7();
    let secrets = Secrets { current: signing::generate_secret(), previous: None };
    let record = app
        .keyring
        .write_sealed(&app.store, tenant_id, webhook_id, &secrets.to_bytes(), |sealed| async move {
            app.store.insert_webhook(tenant_id, webhook_id, url, description, events, &sealed).await
        })
        .await?;
    Ok((record, secrets.current))
}

/// Replaces an endpoint's secret; the old one keeps signing for [`ROTATION_OVERLAP`]. Returns
/// the endpoint and the new secret (shown this once).
pub async fn rotate_secret(
    app: &App,
    tenant_id: Uuid,
    webhook_id: Uuid,
) -> Result<(WebhookRecord, String), StoreError> {
    for _ in 0..5 {
        let webhook = app.store.webhook(tenant_id, webhook_id).await?;
        let old = open_secrets(app, &webhook).await?;
        let secrets = Secrets { current: signing::generate_secret(), previous: Some(old.current) };
        let until = crate::store::now() + ROTATION_OVERLAP;
        let expected = webhook.sealed();
        let replaced = app
            .keyring
            .write_sealed(&app.store, tenant_id, webhook_id, &secrets.to_bytes(), |sealed| {
                let expected = expected.clone();
                async move {
                    match app
                        .store
                        .replace_webhook_secrets(tenant_id, webhook_id, &expected, &sealed, Some(until))
                        .await?
                    {
                        true => Ok(()),
                        false => Err(StoreError::KeyNotCurrent),
                    }
                }
            })
            .await;
        match replaced {
            Ok(()) => return Ok((app.store.webhook(tenant_id, webhook_id).await?, secrets.current)),
            // Rotated meanwhile (by a key rotation or a concurrent call): read again.
            Err(StoreError::KeyNotCurrent) => continue,
            Err(err) => return Err(err),
        }
    }
    Err(StoreError::Conflict { code: "busy", message: "the secret is being changed concurrently; try again".into() })
}
