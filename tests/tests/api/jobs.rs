//! Durable jobs on both backends: one active job per key, claims that never overlap, fencing of a
//! worker whose lease was taken over, durable backoff and a last attempt, deferrals that spend no
//! attempt, rescue of expired leases, graceful shutdown, pruning.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use stock_tracker::jobs::{Handlers, JobsConfig, Outcome, Workers};
use stock_tracker::store::jobs::NewJob;

use super::*;

fn job(kind: &'static str, key: Option<&str>, max_attempts: i32) -> NewJob {
    NewJob {
        kind,
        tenant_id: None,
        unique_key: key.map(str::to_owned),
        payload: json!({ "n": 1 }),
        max_attempts,
        run_at: Utc::now() - chrono::Duration::seconds(1),
    }
}

fn lease() -> chrono::DateTime<Utc> {
    Utc::now() + chrono::Duration::seconds(60)
}

both_backends! {
    async fn one_active_job_per_key_and_fenced_finishing(app) {
        let store = &app.app.store;
        let first = store.enqueue_job(&job("test", Some("test:c1"), 5)).await.unwrap().expect("enqueued");
        assert!(store.enqueue_job(&job("test", Some("test:c1"), 5)).await.unwrap().is_none(), "queued: coalesced");
        let claimed = store.claim_jobs("w1", &["test"], 10, lease()).await.unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!((claimed[0].job_id, claimed[0].attempt), (first, 1));
        assert_eq!(claimed[0].payload.0, json!({ "n": 1 }));
        assert!(store.enqueue_job(&job("test", Some("test:c1"), 5)).await.unwrap().is_none(), "running: coalesced");
        assert!(store.claim_jobs("w2", &["test"], 10, lease()).await.unwrap().is_empty(), "nothing else is due");
        assert!(store.claim_jobs("w2", &["other"], 10, lease()).await.unwrap().is_empty());
        assert!(store.heartbeat_job(first, "w1", 1, lease()).await.unwrap());
        assert!(!store.complete_job(first, "w2", 1).await.unwrap(), "another worker cannot finish it");
        assert!(!store.complete_job(first, "w1", 2).await.unwrap(), "nor another attempt");
        assert!(store.complete_job(first, "w1", 1).await.unwrap());
        assert_eq!(store.job(first).await.unwrap().state, "completed");
        assert!(store.enqueue_job(&job("test", Some("test:c1"), 5)).await.unwrap().is_some(), "the key is free again");
        assert_eq!(store.prune_jobs(Utc::now() + chrono::Duration::seconds(1)).await.unwrap(), 1, "the finished one goes");
    }

    async fn retries_wait_durably_and_the_last_attempt_fails_for_good(app) {
        let store = &app.app.store;
        let id = store.enqueue_job(&job("flaky", None, 2)).await.unwrap().unwrap();
        let c = store.claim_jobs("w1", &["flaky"], 1, lease()).await.unwrap().remove(0);
        let later = Utc::now() + chrono::Duration::minutes(10);
        assert!(store.fail_job(id, "w1", c.attempt, "upstream 502", Some(later)).await.unwrap());
        let r = store.job(id).await.unwrap();
        assert_eq!((r.state.as_str(), r.attempt, r.last_error.as_deref()), ("retryable", 1, Some("upstream 502")));
        assert!(r.run_at > Utc::now() + chrono::Duration::minutes(9), "the retry is a row in the future");
        assert!(store.claim_jobs("w1", &["flaky"], 1, lease()).await.unwrap().is_empty(), "not before its time");
        // Make it due, as the clock would.
        let sql = "UPDATE job SET run_at = $1";
        stock_tracker::on_pool!(store.pool(), p => sqlx::query(sql).bind(Utc::now() - chrono::Duration::seconds(1)).execute(p).await.unwrap().rows_affected());
        let c = store.claim_jobs("w2", &["flaky"], 1, lease()).await.unwrap().remove(0);
        assert_eq!(c.attempt, 2);
        assert!(store.fail_job(id, "w2", 2, "upstream 502 again", Some(later)).await.unwrap());
        let r = store.job(id).await.unwrap();
        assert_eq!((r.state.as_str(), r.last_error.as_deref()), ("failed", Some("upstream 502 again")), "no third attempt");
    }

    async fn the_queue_is_sampled_by_kind(app) {
        let store = &app.app.store;
        for _ in 0..3 {
            store.enqueue_job(&job("sampled", None, 3)).await.unwrap();
        }
        let mut later = job("sampled", None, 3);
        later.run_at = Utc::now() + chrono::Duration::hours(1);
        store.enqueue_job(&later).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let sample = store.sample_job_queue().await.unwrap();
        let (due, oldest) = sample["sampled"];
        assert_eq!(due, 3, "due jobs only: {sample:?}");
        assert!((0.25..60.0).contains(&oldest), "the oldest has waited about 0.3 s: {oldest}");
        let metrics = &app.app.metrics;
        metrics.jobs_sampled(&["sampled", "idle"], &sample);
        assert_eq!(metrics.jobs_queued.with_label_values(&["sampled"]).get(), 3);
        assert_eq!(metrics.jobs_queued.with_label_values(&["idle"]).get(), 0, "a kind with nothing due reads 0");
    }

    async fn deferrals_spend_no_attempt_and_expired_leases_are_taken_back(app) {
        let store = &app.app.store;
        let id = store.enqueue_job(&job("test", Some("test:c2"), 3)).await.unwrap().unwrap();
        let c = store.claim_jobs("w1", &["test"], 1, lease()).await.unwrap().remove(0);
        assert!(store.defer_job(id, "w1", c.attempt, "rate limited for 3600 s", Utc::now() - chrono::Duration::seconds(1)).await.unwrap());
        let r = store.job(id).await.unwrap();
        assert_eq!((r.state.as_str(), r.attempt, r.deferrals), ("available", 0, 1));

        // Claimed with a lease that has already run out: the worker "died".
        let dead = store.claim_jobs("w1", &["test"], 1, Utc::now() - chrono::Duration::seconds(1)).await.unwrap().remove(0);
        assert_eq!(dead.attempt, 1);
        // Meanwhile another job becomes due; the one taken back still goes first (it was due first).
        tokio::time::sleep(Duration::from_millis(20)).await;
        let later = store.enqueue_job(&job("test", Some("test:c3"), 3)).await.unwrap().unwrap();
        // The app's own maintenance loop may take it back first (it runs every third of a lease);
        // either way it is taken back exactly once and becomes retryable.
        assert!(store.rescue_expired_jobs().await.unwrap() <= 1);
        assert_eq!(store.rescue_expired_jobs().await.unwrap(), 0, "taken back once");
        let rescued = store.job(id).await.unwrap();
        assert_eq!((rescued.state.as_str(), rescued.last_error.as_deref()), ("retryable", Some("lease expired (the worker stopped or hung)")));
        let taken = store.claim_jobs("w2", &["test"], 1, lease()).await.unwrap().remove(0);
        assert_eq!((taken.job_id, taken.attempt), (id, 2), "the job taken back is claimed before the later one");
        assert_eq!(store.claim_jobs("w2", &["test"], 1, lease()).await.unwrap().remove(0).job_id, later);
        assert!(!store.heartbeat_job(id, "w1", 1, lease()).await.unwrap(), "the dead worker learns it lost the job");
        assert!(!store.complete_job(id, "w1", 1).await.unwrap(), "and cannot record anything");
        assert!(store.complete_job(id, "w2", 2).await.unwrap());
    }

    async fn concurrent_claims_never_overlap(app) {
        let store = app.app.store.clone();
        for _ in 0..60 {
            store.enqueue_job(&job("bulk", None, 3)).await.unwrap();
        }
        let mut tasks = Vec::new();
        for w in 0..4 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let batch = store.claim_jobs(&format!("w{w}"), &["bulk"], 5, lease()).await.unwrap();
                    if batch.is_empty() {
                        return mine;
                    }
                    mine.extend(batch.into_iter().map(|j| j.job_id));
                }
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        let unique: std::collections::HashSet<_> = all.iter().collect();
        assert_eq!((all.len(), unique.len()), (60, 60), "every job claimed exactly once");
    }

    async fn workers_run_jobs_and_hand_back_what_they_could_not_finish(app) {
        let store = app.app.store.clone();
        let done = Arc::new(AtomicUsize::new(0));
        let counter = done.clone();
        let handlers = Handlers::default()
            .with("count", move |_job| {
                let counter = counter.clone();
                async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                    Outcome::Done
                }
            })
            .with("slow", |_job| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Outcome::Done
            });
        let config = JobsConfig { jobs_workers: 2, jobs_lease_secs: 3, shutdown_grace_secs: 1 };
        let metrics = app.app.metrics.clone();
        let workers = Workers::start(store.clone(), handlers, &config, Arc::new(tokio::sync::Notify::new()), metrics.clone());
        for _ in 0..20 {
            store.enqueue_job(&job("count", None, 3)).await.unwrap();
        }
        let start = std::time::Instant::now();
        while done.load(Ordering::SeqCst) < 20 {
            assert!(start.elapsed() < Duration::from_secs(30), "only {} of 20 ran", done.load(Ordering::SeqCst));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let slow = store.enqueue_job(&job("slow", None, 3)).await.unwrap().unwrap();
        let due = store.job(slow).await.unwrap().run_at;
        while store.job(slow).await.unwrap().state != "running" {
            assert!(start.elapsed() < Duration::from_secs(30), "the slow job was never claimed");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Its lease is renewed while it runs (3 s lease, renewed every second).
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert_eq!(store.rescue_expired_jobs().await.unwrap(), 0, "a working job's lease does not expire");
        workers.shutdown(Duration::from_millis(200)).await;
        let r = store.job(slow).await.unwrap();
        assert_eq!((r.state.as_str(), r.attempt, r.locked_by), ("available", 0, None), "handed back, no attempt spent");
        assert_eq!(r.run_at, due, "and keeps its place in the queue");
        assert_eq!(done.load(Ordering::SeqCst), 20, "each ran once");
        assert_eq!(metrics.jobs.with_label_values(&["count", "success"]).get(), 20, "counted by kind and outcome");
    }
}
