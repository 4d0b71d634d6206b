//! Refresh tokens: stored as SHA-256 digests, rotated on every use, revoked by family.
//!
//! A login starts a family. Each refresh marks the presented token used and issues the next one
//! in the same family. Presenting a token that was already used means it leaked (or the client
//! raced itself): the whole family is revoked, so the thief's copy stops working too.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{BeginWrite, Store, StoreError, now, on_pool};

/// What happened to a presented refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// Valid: it is now spent and the successor is stored. Carries the user.
    Rotated { user_id: Uuid },
    /// Already spent: the family has been revoked.
    Reused,
    /// Revoked (logout or earlier reuse) or expired.
    Dead,
    /// No such token in this tenant.
    Unknown,
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    family_id: Uuid,
    user_id: Uuid,
    expires_at: DateTime<Utc>,
    used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Stores the first token of a new family (at login or registration).
    pub async fn insert_refresh_token(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
        token_hash: &[u8],
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO refresh_token (tenant_id, token_hash, family_id, user_id, expires_at, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6)";
        on_pool!(self.pool(), p => sqlx::query(sql)
            .bind(tenant_id).bind(token_hash).bind(Uuid::now_v7()).bind(user_id).bind(expires_at).bind(now())
            .execute(p).await?.rows_affected());
        Ok(())
    }

    /// Spends `old_hash` and stores `new_hash` as its successor, or detects reuse and revokes.
    pub async fn rotate_refresh_token(
        &self,
        tenant_id: Uuid,
        old_hash: &[u8],
        new_hash: &[u8],
        new_expires_at: DateTime<Utc>,
    ) -> Result<Rotation, StoreError> {
        let at = now();
        let outcome = on_pool!(self.pool(), pool => {
            let mut tx = pool.begin_write().await?;
            let row: Option<TokenRow> = sqlx::query_as(
                "SELECT family_id, user_id, expires_at, used_at, revoked_at FROM refresh_token \
                 WHERE tenant_id = $1 AND token_hash = $2")
                .bind(tenant_id).bind(old_hash).fetch_optional(&mut *tx).await?;
            let outcome = match row {
                None => Rotation::Unknown,
                Some(row) if row.revoked_at.is_some() || row.expires_at <= at => Rotation::Dead,
                Some(row) => {
                    // The `used_at IS NULL` guard makes two concurrent refreshes with the same
                    // token resolve to one winner; the loser is treated as reuse.
                    let spent = if row.used_at.is_some() {
                        0
                    } else {
                        sqlx::query("UPDATE refresh_token SET used_at = $3 \
                                     WHERE tenant_id = $1 AND token_hash = $2 AND used_at IS NULL")
                            .bind(tenant_id).bind(old_hash).bind(at)
                            .execute(&mut *tx).await?.rows_affected()
                    };
                    if spent == 1 {
                        sqlx::query("INSERT INTO refresh_token (tenant_id, token_hash, family_id, user_id, expires_at, created_at) \
                                     VALUES ($1, $2, $3, $4, $5, $6)")
                            .bind(tenant_id).bind(new_hash).bind(row.family_id).bind(row.user_id)
                            .bind(new_expires_at).bind(at)
                            .execute(&mut *tx).await?;
                        Rotation::Rotated { user_id: row.user_id }
                    } else {
                        sqlx::query("UPDATE refresh_token SET revoked_at = $3 \
                                     WHERE tenant_id = $1 AND family_id = $2 AND revoked_at IS NULL")
                            .bind(tenant_id).bind(row.family_id).bind(at)
                            .execute(&mut *tx).await?;
                        Rotation::Reused
                    }
                }
            };
            tx.commit().await?;
            outcome
        });
        Ok(outcome)
    }

    /// Revokes the family of a token (logout). Returns whether the token was known.
    pub async fn revoke_refresh_family(&self, tenant_id: Uuid, token_hash: &[u8]) -> Result<bool, StoreError> {
        let sql = "UPDATE refresh_token SET revoked_at = $3 WHERE tenant_id = $1 AND revoked_at IS NULL AND family_id = \
                   (SELECT family_id FROM refresh_token WHERE tenant_id = $1 AND token_hash = $2)";
        let n = on_pool!(self.pool(), p => sqlx::query(sql).bind(tenant_id).bind(token_hash).bind(now()).execute(p).await?.rows_affected());
        Ok(n > 0)
    }
}
