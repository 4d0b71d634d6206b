//! The credential data keys ([`crate::crypto`]): wrapped under a master key, one current, the
//! others retired until no connection needs them. Also the guard that keeps a connection from
//! being written under a key that is no longer current (see [`current_key_guard`]).

use chrono::{DateTime, Utc};

use super::{BeginWrite, Store, StoreError, now, on_pool};
use crate::config::DatabaseKind;

/// A data key as stored (still wrapped).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DataKeyRecord {
    pub key_id: String,
    pub master_key_id: String,
    pub wrapped: Vec<u8>,
    pub state: String,
    pub created_at: DateTime<Utc>,
}

impl DataKeyRecord {
    /// Whether this is the key that seals.
    pub fn is_current(&self) -> bool {
        self.state == "current"
    }
}

/// How many connections are sealed under keys other than the current data key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyUsage {
    /// Under a retired data key.
    pub retired: i64,
    /// Directly under a master key (written before data keys existed).
    pub legacy: i64,
}

/// The SQL condition (after `AND`/`WHERE`) that the data key `$param` is current. On PostgreSQL it
/// also takes a share lock on the key's row until the writing transaction ends, so a rotation's
/// `UPDATE … SET state = 'retired'` waits for writes already under way, and writes that come
/// after it see the key retired (SQLite serialises writers, so it needs no lock).
pub(crate) fn current_key_guard(kind: DatabaseKind, param: &str) -> String {
    let lock = if kind == DatabaseKind::Postgres { " FOR SHARE" } else { "" };
    format!("EXISTS (SELECT 1 FROM credential_key WHERE key_id = {param} AND state = 'current'{lock})")
}

impl Store {
    /// Every data key.
    pub async fn data_keys(&self) -> Result<Vec<DataKeyRecord>, StoreError> {
        let sql =
            "SELECT key_id, master_key_id, wrapped, state, created_at FROM credential_key ORDER BY created_at, key_id";
        Ok(on_pool!(self.pool(), p => sqlx::query_as(sql).fetch_all(p).await?))
    }

    /// Stores `key` as the current data key if there is none yet (first start; several instances
    /// may race, one wins). Returns whether this one was stored.
    pub async fn insert_first_data_key(
        &self,
        key_id: &str,
        master_key_id: &str,
        wrapped: &[u8],
    ) -> Result<bool, StoreError> {
        let sql = "INSERT INTO credential_key (key_id, master_key_id, wrapped, state, created_at) \
                   VALUES ($1, $2, $3, 'current', $4) ON CONFLICT DO NOTHING";
        let n = on_pool!(self.pool(), p => sqlx::query(sql).bind(key_id).bind(master_key_id).bind(wrapped).bind(now())
            .execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    /// Retires the current data key and makes `key_id` current, in one transaction; data keys
    /// wrapped under another master are re-wrapped as `rewrapped` gives them.
    pub async fn rotate_data_key(
        &self,
        key_id: &str,
        master_key_id: &str,
        wrapped: &[u8],
        rewrapped: &[(String, Vec<u8>)],
    ) -> Result<(), StoreError> {
        let at = now();
        on_pool!(self.pool(), pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("UPDATE credential_key SET state = 'retired', retired_at = $1 WHERE state = 'current'")
                .bind(at).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO credential_key (key_id, master_key_id, wrapped, state, created_at) VALUES ($1, $2, $3, 'current', $4)")
                .bind(key_id).bind(master_key_id).bind(wrapped).bind(at).execute(&mut *tx).await?;
            for (id, blob) in rewrapped {
                sqlx::query("UPDATE credential_key SET master_key_id = $2, wrapped = $3 WHERE key_id = $1")
                    .bind(id).bind(master_key_id).bind(blob).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Deletes the retired data keys no connection is sealed under. Returns how many went.
    pub async fn delete_unused_retired_keys(&self) -> Result<u64, StoreError> {
        let sql = "DELETE FROM credential_key WHERE state = 'retired' \
                   AND NOT EXISTS (SELECT 1 FROM marketplace_connection c WHERE c.credentials_key_id = credential_key.key_id) \
                   AND NOT EXISTS (SELECT 1 FROM webhook_endpoint w WHERE w.secrets_key_id = credential_key.key_id)";
        Ok(on_pool!(self.pool(), p => sqlx::query(sql).execute(p).await?.rows_affected()))
    }

    /// Sealed rows (connection credentials, webhook secrets) not under the current data key, by
    /// kind of key.
    pub async fn credential_key_usage(&self) -> Result<KeyUsage, StoreError> {
        let sql = "SELECT \
                     COUNT(*) FILTER (WHERE k.state = 'retired'), \
                     COUNT(*) FILTER (WHERE k.key_id IS NULL) \
                   FROM (SELECT credentials_key_id AS key_id FROM marketplace_connection \
                         UNION ALL SELECT secrets_key_id FROM webhook_endpoint) c \
                   LEFT JOIN credential_key k ON k.key_id = c.key_id";
        let (retired, legacy): (i64, i64) = on_pool!(self.pool(), p => sqlx::query_as(sql).fetch_one(p).await?);
        Ok(KeyUsage { retired, legacy })
    }
}
