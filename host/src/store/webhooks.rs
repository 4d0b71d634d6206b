//! Webhook endpoints and their deliveries. An endpoint's signing secrets are sealed like
//! marketplace credentials (under the current credential data key, bound to the tenant and the
//! endpoint), so key rotation re-seals them too.

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use sqlx::types::Json;
use uuid::Uuid;

use super::credential_keys::current_key_guard;
use super::events::{DELIVERY_INSERT, NewDelivery, push_delivery};
use super::{BeginWrite, Store, StoreError, now, on_pool};
use crate::crypto::Sealed;

/// Most endpoints one tenant may have.
pub const MAX_WEBHOOKS: i64 = 20;

/// An endpoint as stored (the sealed secrets included: never serialize this).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WebhookRecord {
    pub tenant_id: Uuid,
    pub webhook_id: Uuid,
    pub url: String,
    pub description: Option<String>,
    pub events: Json<Vec<String>>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub secrets_key_id: String,
    pub secrets_sealed: Vec<u8>,
    /// Until when the secret before the last rotation still signs.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub consecutive_failures: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl WebhookRecord {
    pub fn sealed(&self) -> Sealed {
        Sealed { key_id: self.secrets_key_id.clone(), blob: self.secrets_sealed.clone() }
    }
}

/// Changes to an endpoint; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct WebhookChanges {
    pub url: Option<String>,
    /// `Some(None)` clears it.
    pub description: Option<Option<String>>,
    pub events: Option<Vec<String>>,
    /// `true` also clears the reason it was disabled and its failure count.
    pub enabled: Option<bool>,
}

/// A delivery as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRecord {
    pub tenant_id: Uuid,
    pub delivery_id: Uuid,
    pub webhook_id: Uuid,
    pub event_id: Option<Uuid>,
    pub message_id: String,
    pub event_type: String,
    pub body: String,
    pub status: String,
    pub attempts: i32,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub last_response: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// How one attempt went, for [`Store::record_delivery_attempt`].
#[derive(Debug, Clone)]
pub struct AttemptResult {
    pub attempt: i32,
    /// `pending` (again at `next_attempt_at`), `succeeded` or `failed`.
    pub status: &'static str,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub response: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "tenant_id, webhook_id, url, description, events, enabled, disabled_reason, secrets_key_id, \
     secrets_sealed, previous_secret_expires_at, consecutive_failures, created_at, updated_at";
const DELIVERY_COLUMNS: &str = "tenant_id, delivery_id, webhook_id, event_id, message_id, event_type, body, status, \
     attempts, last_status_code, last_error, last_response, next_attempt_at, created_at, finished_at";

impl Store {
    /// Adds an endpoint, unless the tenant has [`MAX_WEBHOOKS`] (conflict `too_many_webhooks`).
    /// [`StoreError::KeyNotCurrent`] when `secrets` are sealed under a key no longer current.
    pub async fn insert_webhook(
        &self,
        tenant_id: Uuid,
        webhook_id: Uuid,
        url: &str,
        description: Option<&str>,
        events: &[String],
        secrets: &Sealed,
    ) -> Result<WebhookRecord, StoreError> {
        let count: i64 = on_pool!(self.pool(), p => sqlx::query_scalar("SELECT COUNT(*) FROM webhook_endpoint WHERE tenant_id = $1")
            .bind(tenant_id).fetch_one(p).await?);
        if count >= MAX_WEBHOOKS {
            return Err(StoreError::Conflict {
                code: "too_many_webhooks",
                message: format!("a tenant may have at most {MAX_WEBHOOKS} webhook endpoints"),
            });
        }
        let sql = sqlx::AssertSqlSafe(format!(
            "INSERT INTO webhook_endpoint (tenant_id, webhook_id, url, description, events, secrets_key_id, secrets_sealed, \
             created_at, updated_at) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $8 WHERE {}",
            current_key_guard(self.kind(), "$6")
        ));
        let n = on_pool!(self.pool(), p => sqlx::query(sql)
            .bind(tenant_id).bind(webhook_id).bind(url).bind(description).bind(Json(events))
            .bind(&secrets.key_id).bind(&secrets.blob).bind(now())
            .execute(p).await?.rows_affected());
        if n == 0 {
            return Err(StoreError::KeyNotCurrent);
        }
        self.webhook(tenant_id, webhook_id).await
    }

    /// One endpoint of the tenant.
    pub async fn webhook(&self, tenant_id: Uuid, webhook_id: Uuid) -> Result<WebhookRecord, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM webhook_endpoint WHERE tenant_id = $1 AND webhook_id = $2"
        ));
        let row =
            on_pool!(self.pool(), p => sqlx::query_as(sql).bind(tenant_id).bind(webhook_id).fetch_optional(p).await?);
        row.ok_or(StoreError::NotFound)
    }

    /// Every endpoint of the tenant, oldest first (at most [`MAX_WEBHOOKS`]).
    pub async fn list_webhooks(&self, tenant_id: Uuid) -> Result<Vec<WebhookRecord>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM webhook_endpoint WHERE tenant_id = $1 ORDER BY webhook_id"
        ));
        Ok(on_pool!(self.pool(), p => sqlx::query_as(sql).bind(tenant_id).fetch_all(p).await?))
    }

    /// Applies `changes` to an endpoint.
    pub async fn update_webhook(
        &self,
        tenant_id: Uuid,
        webhook_id: Uuid,
        changes: &WebhookChanges,
    ) -> Result<WebhookRecord, StoreError> {
        let sql = "UPDATE webhook_endpoint SET url = COALESCE($3, url), \
                   description = CASE WHEN $8 THEN $4 ELSE description END, \
                   events = COALESCE($5, events), enabled = COALESCE($6, enabled), \
                   disabled_reason = CASE WHEN $6 THEN NULL ELSE disabled_reason END, \
                   consecutive_failures = CASE WHEN $6 THEN 0 ELSE consecutive_failures END, \
                   updated_at = $7 WHERE tenant_id = $1 AND webhook_id = $2";
        let n = on_pool!(self.pool(), p => sqlx::query(sql).bind(tenant_id).bind(webhook_id).bind(&changes.url)
            .bind(changes.description.clone().flatten()).bind(changes.events.as_ref().map(Json)).bind(changes.enabled).bind(now())
            .bind(changes.description.is_some())
            .execute(p).await?.rows_affected());
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        self.webhook(tenant_id, webhook_id).await
    }

    /// Replaces the sealed secrets if they are still `expected` (a concurrent rotation or key
    /// rotation is never overwritten), under the current data key. `previous_until`: until when
    /// the previous secret in them still signs (`None` leaves it as it is). Returns whether the
    /// row changed.
    pub async fn replace_webhook_secrets(
        &self,
        tenant_id: Uuid,
        webhook_id: Uuid,
        expected: &Sealed,
        sealed: &Sealed,
        previous_until: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "UPDATE webhook_endpoint SET secrets_key_id = $5, secrets_sealed = $6, \
             previous_secret_expires_at = COALESCE($7, previous_secret_expires_at), updated_at = $8 \
             WHERE tenant_id = $1 AND webhook_id = $2 AND secrets_key_id = $3 AND secrets_sealed = $4 AND {}",
            current_key_guard(self.kind(), "$5")
        ));
        let n = on_pool!(self.pool(), p => sqlx::query(sql)
            .bind(tenant_id).bind(webhook_id).bind(&expected.key_id).bind(&expected.blob)
            .bind(&sealed.key_id).bind(&sealed.blob).bind(previous_until).bind(now())
            .execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    /// Deletes an endpoint and its deliveries (their pending jobs find nothing and end).
    pub async fn delete_webhook(&self, tenant_id: Uuid, webhook_id: Uuid) -> Result<(), StoreError> {
        let n = on_pool!(self.pool(), p => sqlx::query("DELETE FROM webhook_endpoint WHERE tenant_id = $1 AND webhook_id = $2")
            .bind(tenant_id).bind(webhook_id).execute(p).await?.rows_affected());
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Every endpoint of every tenant whose secrets are not sealed under `key_id` (key rotation).
    pub async fn webhooks_not_sealed_under(&self, key_id: &str) -> Result<Vec<WebhookRecord>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM webhook_endpoint WHERE secrets_key_id <> $1 ORDER BY tenant_id, webhook_id"
        ));
        Ok(on_pool!(self.pool(), p => sqlx::query_as(sql).bind(key_id).fetch_all(p).await?))
    }

    /// Switches an endpoint off with the reason.
    pub async fn disable_webhook(&self, tenant_id: Uuid, webhook_id: Uuid, reason: &str) -> Result<(), StoreError> {
        let sql = "UPDATE webhook_endpoint SET enabled = FALSE, disabled_reason = $3, updated_at = $4 \
                   WHERE tenant_id = $1 AND webhook_id = $2";
        on_pool!(self.pool(), p => sqlx::query(sql).bind(tenant_id).bind(webhook_id).bind(reason).bind(now())
            .execute(p).await.map(drop)?);
        Ok(())
    }

    /// Counts a delivery's end towards the endpoint's failure streak: a success resets it, a
    /// delivery that failed every attempt adds one, and at `disable_after` the endpoint is
    /// switched off with the reason. Returns whether this switched it off. (A success on an
    /// endpoint without failures writes nothing: deliveries to one endpoint do not queue on its
    /// row.)
    pub async fn webhook_delivery_ended(
        &self,
        tenant_id: Uuid,
        webhook_id: Uuid,
        delivered: bool,
        disable_after: i32,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE webhook_endpoint SET \
                     consecutive_failures = CASE WHEN $3 THEN 0 ELSE consecutive_failures + 1 END, \
                     enabled = CASE WHEN NOT $3 AND consecutive_failures + 1 >= $4 THEN FALSE ELSE enabled END, \
                     disabled_reason = CASE WHEN NOT $3 AND consecutive_failures + 1 >= $4 AND enabled THEN $5 \
                                       ELSE disabled_reason END \
                   WHERE tenant_id = $1 AND webhook_id = $2 AND (NOT $3 OR consecutive_failures <> 0) \
                   RETURNING enabled, consecutive_failures";
        let reason = format!("{disable_after} deliveries in a row failed every attempt; PATCH enabled: true to resume");
        let row: Option<(bool, i32)> = on_pool!(self.pool(), p => sqlx::query_as(sql).bind(tenant_id).bind(webhook_id)
            .bind(delivered).bind(disable_after).bind(reason).fetch_optional(p).await?);
        Ok(matches!(row, Some((false, n)) if n == disable_after))
    }

    /// One delivery of the tenant.
    pub async fn delivery(&self, tenant_id: Uuid, delivery_id: Uuid) -> Result<DeliveryRecord, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_delivery WHERE tenant_id = $1 AND delivery_id = $2"
        ));
        let row =
            on_pool!(self.pool(), p => sqlx::query_as(sql).bind(tenant_id).bind(delivery_id).fetch_optional(p).await?);
        row.ok_or(StoreError::NotFound)
    }

    /// Up to `limit` deliveries of an endpoint, newest first, before the delivery `before`.
    pub async fn list_deliveries(
        &self,
        tenant_id: Uuid,
        webhook_id: Uuid,
        status: Option<&str>,
        before: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        Ok(on_pool!(self.pool(), p => {
            let mut q = QueryBuilder::new(format!("SELECT {DELIVERY_COLUMNS} FROM webhook_delivery WHERE tenant_id = "));
            q.push_bind(tenant_id).push(" AND webhook_id = ").push_bind(webhook_id);
            if let Some(status) = status {
                q.push(" AND status = ").push_bind(status.to_owned());
            }
            if let Some(before) = before {
                q.push(" AND delivery_id < ").push_bind(before);
            }
            q.push(" ORDER BY delivery_id DESC LIMIT ").push_bind(i64::from(limit));
            // A tenant-sized list: planned for its tenant on every run (store docs).
            q.build_query_as().persistent(false).fetch_all(p).await?
        }))
    }

    /// Adds one delivery and its job (a test message, a redelivery), in one transaction.
    pub async fn insert_delivery(
        &self,
        tenant_id: Uuid,
        delivery: &NewDelivery,
        max_attempts: i32,
    ) -> Result<DeliveryRecord, StoreError> {
        let at = now();
        let job = delivery.job(tenant_id, max_attempts, at);
        on_pool!(self.pool(), pool => {
            let mut tx = pool.begin_write().await?;
            let mut q = QueryBuilder::new(DELIVERY_INSERT);
            q.push_values([delivery], |mut row, d| {
                push_delivery!(row, d, tenant_id, at);
            });
            q.build().execute(&mut *tx).await?;
            let mut q = QueryBuilder::new(super::jobs::JOB_INSERT);
            q.push_values([&job], |mut row, job| { super::jobs::push_job!(row, job, at); });
            q.build().execute(&mut *tx).await?;
            tx.commit().await?;
        });
        self.delivery(tenant_id, delivery.delivery_id).await
    }

    /// Records how an attempt of a delivery went.
    pub async fn record_delivery_attempt(
        &self,
        tenant_id: Uuid,
        delivery_id: Uuid,
        result: &AttemptResult,
    ) -> Result<(), StoreError> {
        let at = now();
        let finished = (result.status != "pending").then_some(at);
        let sql = "UPDATE webhook_delivery SET status = $3, attempts = $4, last_status_code = $5, last_error = $6, \
                   last_response = $7, next_attempt_at = $8, finished_at = $9 WHERE tenant_id = $1 AND delivery_id = $2";
        on_pool!(self.pool(), p => sqlx::query(sql).bind(tenant_id).bind(delivery_id).bind(result.status)
            .bind(result.attempt).bind(result.status_code).bind(&result.error).bind(&result.response)
            .bind(result.next_attempt_at).bind(finished)
            .execute(p).await.map(drop)?);
        Ok(())
    }
}
