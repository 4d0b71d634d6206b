//! What a connection's sync carries from one run (or attempt) to the next, by name: the sales
//! cursor, and a deferred run's position. Small values, written rarely.

use uuid::Uuid;

use super::{Store, StoreError, now, on_pool};

impl Store {
    /// The value stored under `name` for a connection.
    pub async fn sync_state(
        &self,
        tenant_id: Uuid,
        connection_id: Uuid,
        name: &str,
    ) -> Result<Option<String>, StoreError> {
        let sql = "SELECT value FROM sync_state WHERE tenant_id = $1 AND connection_id = $2 AND name = $3";
        let row: Option<(String,)> = on_pool!(self.pool(), p => sqlx::query_as(sql).bind(tenant_id).bind(connection_id)
            .bind(name).fetch_optional(p).await?);
        Ok(row.map(|(v,)| v))
    }

    /// Stores `value` under `name` (`None` removes it).
    pub async fn set_sync_state(
        &self,
        tenant_id: Uuid,
        connection_id: Uuid,
        name: &str,
        value: Option<&str>,
    ) -> Result<(), StoreError> {
        match value {
            Some(value) => {
                let sql = "INSERT INTO sync_state (tenant_id, connection_id, name, value, updated_at) \
                           VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, connection_id, name) \
                           DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";
                on_pool!(self.pool(), p => {
                    sqlx::query(sql).bind(tenant_id).bind(connection_id).bind(name).bind(value).bind(now())
                        .execute(p).await?;
                });
            }
            None => {
                let sql = "DELETE FROM sync_state WHERE tenant_id = $1 AND connection_id = $2 AND name = $3";
                on_pool!(self.pool(), p => {
                    sqlx::query(sql).bind(tenant_id).bind(connection_id).bind(name).execute(p).await?;
                });
            }
        }
        Ok(())
    }
}
