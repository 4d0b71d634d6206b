//! The scheduler: starts each connection's sync when its `next_sync_at` comes.
//!
//! Any number of instances run it (`SYNC_SCHEDULER`, default on); they need not agree on who
//! does. A tick reads the due connections and, for each, moves `next_sync_at` one interval on
//! and starts a run in the same transaction, the move being a compare-and-set on the value read:
//! of two instances that read the same row, one moves it and the other finds it moved and does
//! nothing. A connection with an active sync job (a long run, a run deferred by the
//! marketplace) gets no second one ([`crate::store::Store::enqueue_scheduled_sync`]).
//!
//! Start times are spread, so that 10,000 connections do not fire at once: a connection that
//! has never been placed (one that existed before schedules) is placed at a random point of
//! its first interval, and a connection found overdue by more than an interval (the service was
//! down) is placed at a random point of the second half of the next one. A new connection is
//! due at once, so a seller sees data right after connecting.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::App;
use crate::store::StoreError;
use crate::store::connections::DueConnection;

/// How often each instance looks for due connections (±20 %).
pub const TICK: Duration = Duration::from_secs(5);
/// How often the scheduler looks for credentials about to expire and daily digests due.
const EXPIRY_CHECK: Duration = Duration::from_secs(60);
/// Connections one read takes; a tick reads again while reads come back full.
const BATCH: u32 = 500;
/// Reads one tick makes at most (the rest wait for the next tick).
const MAX_BATCHES: usize = 20;

/// What one tick did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// Runs started.
    pub started: u64,
    /// Connections placed on the schedule for the first time.
    pub placed: u64,
    /// Connections due that already had an active sync (moved on, nothing started).
    pub busy: u64,
}

/// Runs ticks until `stopped` turns true.
pub async fn run(app: Arc<App>, mut stopped: watch::Receiver<bool>) {
    let mut last_expiry_check = std::time::Instant::now() - EXPIRY_CHECK;
    while !crate::background::stop_requested(&stopped) {
        if last_expiry_check.elapsed() >= EXPIRY_CHECK {
            last_expiry_check = std::time::Instant::now();
            match crate::events::credentials_expiring(&app).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(connections = n, "told {n} seller(s) their credentials expire soon"),
                Err(err) => tracing::warn!(error = %err, "cannot check credentials about to expire"),
            }
            // Daily digests are due by the hour: a minute's check is plenty (each one reads every
            // tenant with incidents).
            match crate::forecast::digest::send_due(&app).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(tenants = n, "sent {n} daily stock digest(s)"),
                Err(err) => tracing::warn!(error = %err, "cannot send the daily stock digests"),
            }
        }
        match tick(&app).await {
            Ok(t) if t.started > 0 || t.placed > 0 => {
                tracing::debug!(started = t.started, placed = t.placed, busy = t.busy, "scheduler tick")
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "scheduler tick failed"),
        }
        let pause = TICK.mul_f64(0.8 + rand::random::<f64>() * 0.4);
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = stopped.changed() => {}
        }
    }
}

/// One pass over the due connections.
pub async fn tick(app: &Arc<App>) -> Result<Tick, StoreError> {
    let mut report = Tick::default();
    let default_interval = app.config.sync.sync_default_interval_secs;
    let max_attempts = app.config.sync.sync_max_attempts;
    for _ in 0..MAX_BATCHES {
        let now = crate::store::now();
        let due = app.store.due_connections(now, BATCH).await?;
        let full = due.len() == BATCH as usize;
        for DueConnection { tenant_id, connection_id, sync_interval_seconds, next_sync_at } in due {
            let interval = interval(sync_interval_seconds, default_interval);
            let Some(due_at) = next_sync_at else {
                let first =
                    now + chrono::Duration::milliseconds((interval.as_millis() as f64 * rand::random::<f64>()) as i64);
                report.placed += u64::from(app.store.place_next_sync(tenant_id, connection_id, None, first).await?);
                continue;
            };
            let next = next_after(due_at, interval, now);
            match app.store.enqueue_scheduled_sync(tenant_id, connection_id, max_attempts, Some(due_at), next).await? {
                (true, Some(_)) => report.started += 1,
                (true, None) => report.busy += 1,
                (false, _) => {}
            }
        }
        if !full {
            break;
        }
    }
    if report.started > 0 {
        app.job_wakeup.notify_waiters();
    }
    Ok(report)
}

fn interval(own: Option<i32>, default: u32) -> Duration {
    let secs = own.and_then(|s| u64::try_from(s).ok()).filter(|s| *s > 0).unwrap_or(u64::from(default));
    Duration::from_secs(secs)
}

/// One interval after the slot just taken (so the cadence holds even when a tick comes late),
/// or, when the slot is more than an interval old (the service was down), a random point of the
/// second half of the next interval.
fn next_after(due_at: DateTime<Utc>, interval: Duration, now: DateTime<Utc>) -> DateTime<Utc> {
    let interval = chrono::Duration::from_std(interval).unwrap_or(chrono::Duration::days(7));
    if now - due_at < interval {
        due_at + interval
    } else {
        let spread = interval.num_milliseconds() as f64 * (0.5 + rand::random::<f64>() * 0.5);
        now + chrono::Duration::milliseconds(spread as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cadence_holds_and_a_backlog_is_spread() {
        let now = crate::store::now();
        let interval = Duration::from_secs(1800);
        let due = now - chrono::Duration::seconds(3);
        assert_eq!(next_after(due, interval, now), due + interval, "on time: exactly one interval on");
        let overdue = now - chrono::Duration::hours(5);
        let spread: std::collections::BTreeSet<_> = (0..20).map(|_| next_after(overdue, interval, now)).collect();
        assert!(spread.len() > 10);
        assert!(spread.iter().all(|t| *t >= now + chrono::Duration::seconds(900) && *t <= now + interval));
        assert_eq!(super::interval(None, 1800), interval);
        assert_eq!(super::interval(Some(300), 1800), Duration::from_secs(300));
    }
}
