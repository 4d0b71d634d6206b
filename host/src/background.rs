//! What runs beside the HTTP server in `serve`, and alone in `stock-tracker worker`: the job
//! workers ([`crate::jobs`]) with every job kind's handler, the sync scheduler
//! ([`crate::sync::schedule`]), and, for an in-process cache on PostgreSQL, the listener of the
//! other instances' cache invalidations ([`crate::cache::invalidation::listen`]).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::App;
use crate::jobs::{Handlers, Workers};
use crate::store::sync_runs::SYNC_JOB;

/// Whether a background loop should stop: it was told to, or whoever could tell it is gone (a
/// closed channel's `changed()` returns at once, so a loop that only checked the value would spin
/// at full speed once its [`Background`] was dropped).
pub fn stop_requested(stopped: &watch::Receiver<bool>) -> bool {
    *stopped.borrow() || stopped.has_changed().is_err()
}

/// The running background work of one process.
pub struct Background {
    /// `None` once [`Background::shutdown`] has taken them.
    workers: Option<Workers>,
    scheduler: Option<(watch::Sender<bool>, JoinHandle<()>)>,
    listener: Option<(watch::Sender<bool>, JoinHandle<()>)>,
}

impl Background {
    /// Starts the workers (`JOBS_WORKERS`) and, unless `SYNC_SCHEDULER=false`, the scheduler.
    pub fn start(app: &Arc<App>) -> Self {
        let handlers = Handlers::default()
            .with(SYNC_JOB, crate::sync::job::handler(app.clone()))
            .with(crate::cache::INVALIDATE_JOB, crate::cache::invalidation::handler(app.clone()))
            .with(crate::store::events::WEBHOOK_JOB, crate::webhooks::deliver::handler(app.clone()))
            .with(crate::telegram::commands::UPDATE_JOB, crate::telegram::commands::handler(app.clone()))
            .with(crate::events::ALERT_JOB, crate::telegram::jobs::alert_handler(app.clone()))
            .with(crate::events::FORECAST_ALERT_JOB, crate::telegram::jobs::forecast_alert_handler(app.clone()))
            .with(crate::telegram::jobs::SEND_JOB, crate::telegram::jobs::send_handler(app.clone()));
        if app.telegram.is_some() && app.config.telegram.telegram_webhook_url.is_some() {
            let app = app.clone();
            tokio::spawn(async move {
                if let Some(telegram) = &app.telegram {
                    telegram.set_webhook(&app.config.telegram).await;
                }
            });
        }
        let workers =
            Workers::start(app.store.clone(), handlers, &app.config.jobs, app.job_wakeup.clone(), app.metrics.clone());
        let scheduler = app.config.sync.sync_scheduler.then(|| {
            let (stop, stopped) = watch::channel(false);
            (stop, tokio::spawn(crate::sync::schedule::run(app.clone(), stopped)))
        });
        // An in-process cache on PostgreSQL hears the other instances' invalidations.
        let listener = app.cache.announces().then(|| {
            let (stop, stopped) = watch::channel(false);
            (stop, tokio::spawn(crate::cache::invalidation::listen(app.clone(), stopped)))
        });
        tracing::info!(
            workers = app.config.jobs.jobs_workers,
            scheduler = scheduler.is_some(),
            "background jobs started"
        );
        Self { workers: Some(workers), scheduler, listener }
    }

    /// Stops scheduling and claiming, waits up to `grace` for running jobs, then hands back
    /// the claims of those still running.
    pub async fn shutdown(mut self, grace: Duration) {
        for (stop, task) in [self.scheduler.take(), self.listener.take()].into_iter().flatten() {
            let _ = stop.send(true);
            let _ = task.await;
        }
        if let Some(workers) = self.workers.take() {
            workers.shutdown(grace).await;
        }
    }
}

impl Drop for Background {
    /// Dropped without [`Background::shutdown`] (an app that goes away, as in tests): the
    /// scheduler and the listener are told to stop, so they do not run on holding the app, and
    /// the workers' tasks end with their set.
    fn drop(&mut self) {
        for (stop, _) in [&self.scheduler, &self.listener].into_iter().flatten() {
            let _ = stop.send(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loop_stops_when_told_or_when_no_one_can_tell_it_any_more() {
        let (stop, stopped) = watch::channel(false);
        assert!(!stop_requested(&stopped));
        stop.send(true).unwrap();
        assert!(stop_requested(&stopped));

        let (stop, stopped) = watch::channel(false);
        drop(stop);
        assert!(stop_requested(&stopped), "a dropped sender: `changed()` would return at once forever");
    }
}
