//! Invalidation that is not lost: when Redis does not take a tenant's invalidation (or, in
//! process on PostgreSQL, the announcement to the other instances fails), a durable job
//! ([`super::INVALIDATE_JOB`], one per tenant) tries again every second until it is taken, on
//! whichever instance gets there first. [`listen`] hears the other instances' announcements.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::sync::watch;
use uuid::Uuid;

use super::INVALIDATE_JOB;
use crate::App;
use crate::jobs::{Handler, Outcome};
use crate::store::Pool;
use crate::store::jobs::{ClaimedJob, NewJob};

/// How often a queued invalidation is tried again while Redis refuses it.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// The channel of invalidation announcements (payload: the tenant id).
const CHANNEL: &str = "stock_tracker_cache";

/// Forgets the tenant's cached answers (announcing it to the other instances when each keeps its
/// own), or queues the job that will.
pub async fn invalidate(app: &App, tenant_id: Uuid) {
    if taken(app, tenant_id).await {
        return;
    }
    let job = NewJob {
        kind: INVALIDATE_JOB,
        tenant_id: Some(tenant_id),
        unique_key: Some(format!("{INVALIDATE_JOB}:{tenant_id}")),
        payload: serde_json::json!({ "tenant_id": tenant_id }),
        max_attempts: 1,
        run_at: crate::store::now() + chrono::Duration::from_std(RETRY_EVERY).unwrap_or_default(),
    };
    if let Err(err) = app.store.enqueue_job(&job).await {
        tracing::error!(tenant.id = %tenant_id, error = %err, "cannot queue the cache invalidation; entries expire with their TTL");
    }
}

/// The handler of [`INVALIDATE_JOB`] jobs: deferred (no attempt spent) until Redis takes it.
pub fn handler(app: Arc<App>) -> impl Handler {
    move |job: ClaimedJob| {
        let app = app.clone();
        async move {
            let Some(tenant_id) = job.payload.0["tenant_id"].as_str().and_then(|t| t.parse().ok()) else {
                return Outcome::Fail("not a cache invalidation payload".into());
            };
            if taken(&app, tenant_id).await {
                Outcome::Done
            } else {
                Outcome::Defer { after: RETRY_EVERY, reason: "the invalidation was not taken".into() }
            }
        }
    }
}

async fn taken(app: &App, tenant_id: Uuid) -> bool {
    if !app.cache.invalidate(tenant_id).await {
        return false;
    }
    if !app.cache.announces() {
        return true;
    }
    let Pool::Postgres(pool) = app.store.pool() else { return true };
    match sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(tenant_id.to_string()).execute(pool).await {
        Ok(_) => true,
        Err(err) => {
            tracing::warn!(tenant.id = %tenant_id, error = %err, "cannot announce a cache invalidation");
            false
        }
    }
}

/// Hears the other instances' invalidations until `stopped` (only for an in-process cache on
/// PostgreSQL). Answers are served from the cache only while it hears them; a dropped
/// connection, after which some may have been missed, drops every entry.
pub async fn listen(app: Arc<App>, mut stopped: watch::Receiver<bool>) {
    let Pool::Postgres(pool) = app.store.pool().clone() else { return };
    while !crate::background::stop_requested(&stopped) {
        let listener = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            app.cache.listening(true, true);
            loop {
                match listener.try_recv().await? {
                    Some(note) => match note.payload().parse() {
                        Ok(tenant_id) => app.cache.heard(tenant_id),
                        Err(_) => tracing::warn!(payload = note.payload(), "not a tenant id on {CHANNEL}"),
                    },
                    // Lost and connected again: whatever was announced meanwhile is unknown.
                    None => app.cache.listening(true, true),
                }
            }
            #[allow(unreachable_code)]
            Ok::<(), sqlx::Error>(())
        };
        let result = tokio::select! {
            result = listener => result,
            _ = stopped.changed() => Ok(()),
        };
        app.cache.listening(false, true);
        if let Err(err) = result {
            tracing::warn!(error = %err, "not hearing cache invalidations; answering from the database");
            tokio::select! {
                () = tokio::time::sleep(RETRY_EVERY) => {}
                _ = stopped.changed() => {}
            }
        }
    }
}
