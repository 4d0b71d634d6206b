//! Invalidation that is not lost: when Redis does not take a tenant's invalidation, a durable
//! job ([`super::INVALIDATE_JOB`], one per tenant) tries again every second until it does, on
//! whichever instance reaches Redis first.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::INVALIDATE_JOB;
use crate::App;
use crate::jobs::{Handler, Outcome};
use crate::store::jobs::{ClaimedJob, NewJob};

/// How often a queued invalidation is tried again while Redis refuses it.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// Forgets the tenant's cached answers now, or queues the job that will.
pub async fn invalidate(app: &App, tenant_id: Uuid) {
    if app.cache.invalidate(tenant_id).await {
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
            if app.cache.invalidate(tenant_id).await {
                Outcome::Done
            } else {
                Outcome::Defer { after: RETRY_EVERY, reason: "Redis did not take the invalidation".into() }
            }
        }
    }
}
