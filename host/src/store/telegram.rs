//! Telegram: chats linked to tenants, the one-time codes that link them, and the updates taken
//! in (each taken once, with its job, in one transaction).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::jobs::NewJob;
use super::{BeginWrite, Store, StoreError, now, on_pool};

/// A linked chat.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChatRecord {
    pub tenant_id: Uuid,
    pub chat_id: i64,
    /// Who linked it.
    pub user_id: Uuid,
    /// `ru` or `en`.
    pub language: String,
    pub muted_until: Option<DateTime<Utc>>,
    pub linked_at: DateTime<Utc>,
}

impl ChatRecord {
    /// Whether alerts are held back at `at`.
    pub fn muted_at(&self, at: DateTime<Utc>) -> bool {
        self.muted_until.is_some_and(|until| until > at)
    }
}

/// Finished webhook deliveries are kept this long (to look into and redeliver).
pub const DELIVERY_RETENTION: chrono::Duration = chrono::Duration::days(30);
/// Events are kept this long.
pub const EVENT_RETENTION: chrono::Duration = chrono::Duration::days(90);
/// How long sync observations are kept: past the widest forecast window and its gap margin.
pub const OBSERVATION_RETENTION: chrono::Duration = chrono::Duration::days(120);

const COLUMNS: &str = "tenant_id, chat_id, user_id, language, muted_until, linked_at";

impl Store {
    /// Stores a link code (its digest) for `user_id` of `tenant_id`.
    pub async fn insert_link_code(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
        code_hash: &[u8],
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO telegram_link_code (code_hash, tenant_id, user_id, expires_at, created_at) \
                   VALUES ($1, $2, $3, $4, $5)";
        on_pool!(self.pool(), p => sqlx::query(sql).bind(code_hash).bind(tenant_id).bind(user_id).bind(expires_at)
            .bind(now()).execute(p).await.map(drop)?);
        Ok(())
    }

    /// Uses a link code once, if it is unused and unexpired, and links `chat_id` to its tenant
    /// (moving the chat from any other tenant), in one transaction. Returns the linked chat.
    pub async fn link_chat(&self, code_hash: &[u8], chat_id: i64, language: &str) -> Result<ChatRecord, StoreError> {
        let at = now();
        on_pool!(self.pool(), pool => {
            let mut tx = pool.begin_write().await?;
            let used: Option<(Uuid, Uuid)> = sqlx::query_as(
                "UPDATE telegram_link_code SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2 \
                 RETURNING tenant_id, user_id")
                .bind(code_hash).bind(at).fetch_optional(&mut *tx).await?;
            let Some((tenant_id, user_id)) = used else {
                return Err(StoreError::NotFound);
            };
            sqlx::query("DELETE FROM telegram_chat WHERE chat_id = $1").bind(chat_id).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO telegram_chat (tenant_id, chat_id, user_id, language, linked_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(tenant_id).bind(chat_id).bind(user_id).bind(language).bind(at)
                .execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(ChatRecord { tenant_id, chat_id, user_id, language: language.to_owned(), muted_until: None, linked_at: at })
        })
    }

    /// The chat's link, if it is linked.
    pub async fn chat(&self, chat_id: i64) -> Result<Option<ChatRecord>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM telegram_chat WHERE chat_id = $1"));
        Ok(on_pool!(self.pool(), p => sqlx::query_as(sql).bind(chat_id).fetch_optional(p).await?))
    }

    /// The tenant's linked chats, oldest first.
    pub async fn chats_of_tenant(&self, tenant_id: Uuid) -> Result<Vec<ChatRecord>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM telegram_chat WHERE tenant_id = $1 ORDER BY linked_at, chat_id"
        ));
        Ok(on_pool!(self.pool(), p => sqlx::query_as(sql).bind(tenant_id).fetch_all(p).await?))
    }

    /// Sets a chat's language and mute (`None` for a field leaves it; `Some(None)` unmutes).
    pub async fn update_chat(
        &self,
        chat_id: i64,
        language: Option<&str>,
        muted_until: Option<Option<DateTime<Utc>>>,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE telegram_chat SET language = COALESCE($2, language), \
                   muted_until = CASE WHEN $4 THEN $3 ELSE muted_until END WHERE chat_id = $1";
        on_pool!(self.pool(), p => sqlx::query(sql).bind(chat_id).bind(language).bind(muted_until.flatten())
            .bind(muted_until.is_some()).execute(p).await.map(drop)?);
        Ok(())
    }

    /// Unlinks a chat of the tenant ([`StoreError::NotFound`] when it is not the tenant's).
    pub async fn unlink_chat(&self, tenant_id: Uuid, chat_id: i64) -> Result<(), StoreError> {
        let n = on_pool!(self.pool(), p => sqlx::query("DELETE FROM telegram_chat WHERE tenant_id = $1 AND chat_id = $2")
            .bind(tenant_id).bind(chat_id).execute(p).await?.rows_affected());
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Forgets a chat whatever its tenant (the bot was blocked, the chat is gone).
    pub async fn forget_chat(&self, chat_id: i64) -> Result<(), StoreError> {
        on_pool!(self.pool(), p => sqlx::query("DELETE FROM telegram_chat WHERE chat_id = $1").bind(chat_id)
            .execute(p).await.map(drop)?);
        Ok(())
    }

    /// A group became a supergroup: its chat id changed.
    pub async fn move_chat(&self, from: i64, to: i64) -> Result<(), StoreError> {
        on_pool!(self.pool(), p => sqlx::query("UPDATE telegram_chat SET chat_id = $2 WHERE chat_id = $1").bind(from).bind(to)
            .execute(p).await.map(drop)?);
        Ok(())
    }

    /// Takes an update in: records its id and adds `job`, in one transaction. `false` when the
    /// update was taken in before (nothing added).
    pub async fn take_update(&self, update_id: i64, job: &NewJob) -> Result<bool, StoreError> {
        let at = now();
        on_pool!(self.pool(), pool => {
            let mut tx = pool.begin_write().await?;
            let fresh = sqlx::query("INSERT INTO telegram_update (update_id, received_at) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(update_id).bind(at).execute(&mut *tx).await?.rows_affected() == 1;
            if fresh {
                let mut q = sqlx::QueryBuilder::new(super::jobs::JOB_INSERT);
                q.push_values([job], |mut row, job| { super::jobs::push_job!(row, job, at); });
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(fresh)
        })
    }

    /// Forgets what is no longer needed: Telegram updates and link codes older than a day
    /// (Telegram keeps an update a day, so no repeat can come later), finished webhook
    /// deliveries after [`DELIVERY_RETENTION`], events after [`EVENT_RETENTION`], sync
    /// observations after [`OBSERVATION_RETENTION`].
    pub async fn prune_history(&self, at: DateTime<Utc>) -> Result<(), StoreError> {
        let day = at - chrono::Duration::days(1);
        let deliveries = at - DELIVERY_RETENTION;
        let events = at - EVENT_RETENTION;
        on_pool!(self.pool(), p => {
            sqlx::query("DELETE FROM telegram_update WHERE received_at < $1").bind(day).execute(p).await?;
            sqlx::query("DELETE FROM telegram_link_code WHERE expires_at < $1").bind(day).execute(p).await?;
            sqlx::query("DELETE FROM webhook_delivery WHERE status <> 'pending' AND finished_at < $1")
                .bind(deliveries).execute(p).await?;
            sqlx::query("DELETE FROM event WHERE created_at < $1").bind(events).execute(p).await?;
            // Observations past any forecast window (their history rows keep their own time).
            sqlx::query("DELETE FROM stock_observation WHERE observed_at < $1")
                .bind(at - OBSERVATION_RETENTION).execute(p).await?;
        });
        Ok(())
    }
}

impl Store {
    /// Takes the tenant's waiting forecast pushes for alert job `job_id` (those no other job took,
    /// and those this one took before a retry), and records that the tenant is told at `at`.
    /// Returns their event ids.
    pub async fn claim_forecast_alerts(
        &self,
        tenant_id: Uuid,
        job_id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<Vec<Uuid>, StoreError> {
        on_pool!(self.pool(), p => {
            let mut tx = p.begin_write().await?;
            let ids: Vec<Uuid> = sqlx::query_scalar(
                "UPDATE forecast_alert_pending SET claimed_by = $2 WHERE tenant_id = $1 \
                 AND (claimed_by IS NULL OR claimed_by = $2) RETURNING event_id")
                .bind(tenant_id).bind(job_id).fetch_all(&mut *tx).await?;
            if !ids.is_empty() {
                sqlx::query("INSERT INTO forecast_alert_sent (tenant_id, sent_at) VALUES ($1, $2) \
                             ON CONFLICT (tenant_id) DO UPDATE SET sent_at = excluded.sent_at")
                    .bind(tenant_id).bind(at).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(ids)
        })
    }

    /// Forgets the forecast pushes job `job_id` took (their messages are queued).
    pub async fn forget_forecast_alerts(&self, tenant_id: Uuid, job_id: Uuid) -> Result<(), StoreError> {
        let sql = "DELETE FROM forecast_alert_pending WHERE tenant_id = $1 AND claimed_by = $2";
        on_pool!(self.pool(), p => sqlx::query(sql).bind(tenant_id).bind(job_id).execute(p).await.map(drop)?);
        Ok(())
    }
}
