//! Marketplace connections. Credentials are stored only sealed (see [`crate::crypto`]); this
//! module never sees them in the clear.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use super::credential_keys::current_key_guard;
use super::{Store, StoreError, conflict_on_unique, now, on_pool};
use crate::crypto::Sealed;

/// A connection row, credentials still sealed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConnectionRecord {
    pub tenant_id: Uuid,
    pub connection_id: Uuid,
    pub marketplace: String,
    pub name: String,
    pub settings: Json<Value>,
    pub credentials_key_id: String,
    pub credentials_sealed: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the credentials stop working, as the marketplace said at the last check.
    pub credentials_expire_at: Option<DateTime<Utc>>,
    #[sqlx(flatten)]
    pub schedule: Schedule,
}

impl ConnectionRecord {
    /// The sealed credentials as [`crate::crypto::Keyring::open`] takes them.
    pub fn sealed(&self) -> Sealed {
        Sealed { key_id: self.credentials_key_id.clone(), blob: self.credentials_sealed.clone() }
    }
}

/// Fields of a connection to change; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct ConnectionChanges {
    pub name: Option<String>,
    pub settings: Option<Value>,
    pub credentials: Option<Sealed>,
    pub schedule: Option<Schedule>,
}

/// A connection's schedule.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Schedule {
    /// Whether the scheduler syncs it.
    pub sync_enabled: bool,
    /// Its own interval; `None`: the service's default.
    pub sync_interval_seconds: Option<i32>,
    /// When the scheduler syncs it next; `None`: not placed yet.
    pub next_sync_at: Option<DateTime<Utc>>,
    /// Why the service switched its schedule off.
    pub paused_reason: Option<String>,
    /// Runs in a row whose credentials the marketplace refused.
    pub credential_failures: i32,
}

/// A connection the scheduler found due.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DueConnection {
    pub tenant_id: Uuid,
    pub connection_id: Uuid,
    pub sync_interval_seconds: Option<i32>,
    pub next_sync_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "tenant_id, connection_id, marketplace, name, settings, credentials_key_id, \
                       credentials_sealed, created_at, updated_at, sync_enabled, sync_interval_seconds, \
                       next_sync_at, paused_reason, credential_failures, credentials_expire_at";
const NAME_TAKEN: &str = "a connection with this name already exists";

/// Moves a connection's `next_sync_at` from `$3` (compare) to `$4` (set): the scheduler's
/// compare-and-set, shared by [`Store::place_next_sync`] and the scheduled start of a sync.
pub(crate) const PLACE_NEXT_SYNC: &str = "UPDATE marketplace_connection SET next_sync_at = $4 \
     WHERE tenant_id = $1 AND connection_id = $2 AND next_sync_at IS NOT DISTINCT FROM $3";

impl Store {
    /// Stores a new connection. `connection_id` is chosen by the caller, because the sealed
    /// credentials are bound to it. [`StoreError::KeyNotCurrent`] when `credentials` are sealed
    /// under a data key that is no longer current (nothing is written).
    pub async fn insert_connection(
        &self,
        tenant_id: Uuid,
        connection_id: Uuid,
        marketplace: &str,
        name: &str,
        settings: &Value,
        credentials: &Sealed,
    ) -> Result<ConnectionRecord, StoreError> {
        let at = now();
        let sql = sqlx::AssertSqlSafe(format!(
            "INSERT INTO marketplace_connection (tenant_id, connection_id, marketplace, name, settings, \
             credentials_key_id, credentials_sealed, created_at, updated_at, next_sync_at) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $8, $8 WHERE {}",
            current_key_guard(self.kind(), "$6")
        ));
        let n = on_pool!(self.pool(), p => sqlx::query(sql)
            .bind(tenant_id).bind(connection_id).bind(marketplace).bind(name).bind(Json(settings))
            .bind(&credentials.key_id).bind(&credentials.blob).bind(at)
            .execute(p).await
            .map_err(|e| conflict_on_unique(e, "name_taken", NAME_TAKEN))?.rows_affected());
        if n == 0 {
            return Err(StoreError::KeyNotCurrent);
        }
        self.connection(tenant_id, connection_id).await
    }

    /// One connection of the tenant.
    pub async fn connection(&self, tenant_id: Uuid, connection_id: Uuid) -> Result<ConnectionRecord, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM marketplace_connection WHERE tenant_id = $1 AND connection_id = $2"
        ));
        let row = on_pool!(self.pool(), p => sqlx::query_as(sql).bind(tenant_id).bind(connection_id).fetch_optional(p).await?);
        row.ok_or(StoreError::NotFound)
    }

    /// Every connection of the tenant, oldest first (a tenant has a handful, so no paging).
    pub async fn list_connections(&self, tenant_id: Uuid) -> Result<Vec<ConnectionRecord>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM marketplace_connection WHERE tenant_id = $1 ORDER BY created_at, connection_id"
        ));
        Ok(on_pool!(self.pool(), p => sqlx::query_as(sql).bind(tenant_id).fetch_all(p).await?))
    }

    /// Applies `changes` to one connection. Credentials are written only when they change, and
    /// then only under the current data key ([`StoreError::KeyNotCurrent`] otherwise), so an edit
    /// never writes back a sealing a key rotation has replaced meanwhile.
    pub async fn update_connection(
        &self,
        tenant_id: Uuid,
        connection_id: Uuid,
        changes: ConnectionChanges,
    ) -> Result<ConnectionRecord, StoreError> {
        let current = self.connection(tenant_id, connection_id).await?;
        let schedule = changes.schedule.unwrap_or(current.schedule);
        let name = changes.name.unwrap_or(current.name);
        let settings = changes.settings.unwrap_or(current.settings.0);
        let (key_id, blob) = changes.credentials.map(|s| (s.key_id, s.blob)).unzip();
        let sql = sqlx::AssertSqlSafe(format!(
            "UPDATE marketplace_connection SET name = $3, settings = $4, \
             credentials_key_id = COALESCE($5, credentials_key_id), \
             credentials_sealed = COALESCE($6, credentials_sealed), updated_at = $7, \
             sync_enabled = $8, sync_interval_seconds = $9, next_sync_at = $10, paused_reason = $11, \
             credential_failures = $12 \
             WHERE tenant_id = $1 AND connection_id = $2 AND ($5 IS NULL OR {})",
            current_key_guard(self.kind(), "$5")
        ));
        let n = on_pool!(self.pool(), p => sqlx::query(sql)
            .bind(tenant_id).bind(connection_id).bind(&name).bind(Json(&settings))
            .bind(&key_id).bind(&blob).bind(now())
            .bind(schedule.sync_enabled).bind(schedule.sync_interval_seconds).bind(schedule.next_sync_at)
            .bind(&schedule.paused_reason).bind(schedule.credential_failures)
            .execute(p).await
            .map_err(|e| conflict_on_unique(e, "name_taken", NAME_TAKEN))?.rows_affected());
        if n == 0 {
            // Gone meanwhile, or sealed under a key rotated away.
            self.connection(tenant_id, connection_id).await?;
            return Err(StoreError::KeyNotCurrent);
        }
        self.connection(tenant_id, connection_id).await
    }

    /// Records when a connection's credentials expire (as the marketplace just said); a new date
    /// lets the seller be told again before it.
    pub async fn set_credentials_expiry(
        &self,
        tenant_id: Uuid,
        connection_id: Uuid,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE marketplace_connection SET credentials_expire_at = $3, \
                   credentials_expiry_notified_at = CASE WHEN credentials_expire_at IS NOT DISTINCT FROM $3 \
                     THEN credentials_expiry_notified_at ELSE NULL END \
                   WHERE tenant_id = $1 AND connection_id = $2";
        on_pool!(self.pool(), p => {
            sqlx::query(sql).bind(tenant_id).bind(connection_id).bind(expires_at).execute(p).await?;
        });
        Ok(())
    }

    /// Connections whose credentials expire before `before` (and have not yet), not yet told:
    /// each is marked told at `now` by a compare-and-set, so only one caller gets it.
    pub async fn claim_expiring_credentials(
        &self,
        now: DateTime<Utc>,
        before: DateTime<Utc>,
    ) -> Result<Vec<ConnectionRecord>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM marketplace_connection WHERE credentials_expire_at IS NOT NULL \
             AND credentials_expire_at > $1 AND credentials_expire_at <= $2 \
             AND credentials_expiry_notified_at IS NULL LIMIT 500"
        ));
        let due: Vec<ConnectionRecord> =
            on_pool!(self.pool(), p => sqlx::query_as(sql).bind(now).bind(before).fetch_all(p).await?);
        let mut claimed = Vec::with_capacity(due.len());
        let claim = "UPDATE marketplace_connection SET credentials_expiry_notified_at = $3 \
                     WHERE tenant_id = $1 AND connection_id = $2 AND credentials_expiry_notified_at IS NULL";
        for c in due {
            let n = on_pool!(self.pool(), p => sqlx::query(claim).bind(c.tenant_id).bind(c.connection_id).bind(now)
                .execute(p).await?.rows_affected());
            if n == 1 {
                claimed.push(c);
            }
        }
        Ok(claimed)
    }

    /// Deletes a connection with its products, stock and runs.
    pub async fn delete_connection(&self, tenant_id: Uuid, connection_id: Uuid) -> Result<(), StoreError> {
        let sql = "DELETE FROM marketplace_connection WHERE tenant_id = $1 AND connection_id = $2";
        let n = on_pool!(self.pool(), p => sqlx::query(sql).bind(tenant_id).bind(connection_id).execute(p).await?.rows_affected());
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Every connection of every tenant whose credentials are not sealed under `key_id`
    /// (for key rotation).
    pub async fn connections_not_sealed_under(&self, key_id: &str) -> Result<Vec<ConnectionRecord>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM marketplace_connection WHERE credentials_key_id <> $1 ORDER BY tenant_id, connection_id"
        ));
        Ok(on_pool!(self.pool(), p => sqlx::query_as(sql).bind(key_id).fetch_all(p).await?))
    }

    /// Replaces sealed credentials if they are still the ones read (`expected`), so a concurrent
    /// credential change is never overwritten, and only under the current data key. Returns
    /// whether the row changed.
    pub async fn reseal_connection(
        &self,
        tenant_id: Uuid,
        connection_id: Uuid,
        expected: &Sealed,
        resealed: &Sealed,
    ) -> Result<bool, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "UPDATE marketplace_connection SET credentials_key_id = $5, credentials_sealed = $6 \
             WHERE tenant_id = $1 AND connection_id = $2 AND credentials_key_id = $3 AND credentials_sealed = $4 AND {}",
            current_key_guard(self.kind(), "$5")
        ));
        let n = on_pool!(self.pool(), p => sqlx::query(sql)
            .bind(tenant_id).bind(connection_id).bind(&expected.key_id).bind(&expected.blob)
            .bind(&resealed.key_id).bind(&resealed.blob)
            .execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    /// Connections whose scheduled sync is due at `at` (or not yet placed), earliest first.
    pub async fn due_connections(&self, at: DateTime<Utc>, limit: u32) -> Result<Vec<DueConnection>, StoreError> {
        let sql = "SELECT tenant_id, connection_id, sync_interval_seconds, next_sync_at FROM marketplace_connection \
                   WHERE sync_enabled = TRUE AND (next_sync_at IS NULL OR next_sync_at <= $1) \
                   ORDER BY next_sync_at NULLS FIRST LIMIT $2";
        Ok(on_pool!(self.pool(), p => sqlx::query_as(sql).bind(at).bind(i64::from(limit)).fetch_all(p).await?))
    }

    /// Moves a connection's next scheduled sync from `expected` to `next`, unless someone else
    /// moved it first (another instance's scheduler, an edit). Returns whether it moved.
    pub async fn place_next_sync(
        &self,
        tenant_id: Uuid,
        connection_id: Uuid,
        expected: Option<DateTime<Utc>>,
        next: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n = on_pool!(self.pool(), p => sqlx::query(PLACE_NEXT_SYNC).bind(tenant_id).bind(connection_id).bind(expected).bind(next)
            .execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    /// Records whether the marketplace accepted a connection's credentials in a run. The
    /// `pause_after`-th refusal in a row switches its schedule off with `reason`; an acceptance
    /// resets the count. Returns whether this call paused it.
    pub async fn record_credential_check(
        &self,
        tenant_id: Uuid,
        connection_id: Uuid,
        refused: bool,
        pause_after: i32,
        reason: &str,
    ) -> Result<bool, StoreError> {
        if !refused {
            let sql = "UPDATE marketplace_connection SET credential_failures = 0 \
                       WHERE tenant_id = $1 AND connection_id = $2 AND credential_failures <> 0";
            on_pool!(self.pool(), p => sqlx::query(sql).bind(tenant_id).bind(connection_id).execute(p).await?.rows_affected());
            return Ok(false);
        }
        let sql = "UPDATE marketplace_connection SET credential_failures = credential_failures + 1, \
                     sync_enabled = CASE WHEN credential_failures + 1 >= $3 THEN FALSE ELSE sync_enabled END, \
                     paused_reason = CASE WHEN credential_failures + 1 >= $3 AND sync_enabled = TRUE THEN $4 \
                       ELSE paused_reason END \
                   WHERE tenant_id = $1 AND connection_id = $2 \
                   RETURNING credential_failures, paused_reason";
        let row: Option<(i32, Option<String>)> = on_pool!(self.pool(), p => sqlx::query_as(sql)
            .bind(tenant_id).bind(connection_id).bind(pause_after).bind(reason).fetch_optional(p).await?);
        Ok(matches!(row, Some((n, Some(r))) if n == pause_after && r == reason))
    }
}
