//! Schedules: the fields on a connection, the scheduler's cadence and its one-run-at-a-time rule,
//! and pausing a connection whose credentials the marketplace keeps refusing.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use stock_tracker::sync::schedule;

use super::*;

fn at(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap_or_else(|| panic!("not a timestamp: {v:?}")).parse().unwrap()
}

/// Every run of the tenant, by connection, oldest first.
async fn runs_by_connection(app: &TestApp, token: &str) -> BTreeMap<String, Vec<Value>> {
    let mut by: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for run in collect_pages(app, token, "/api/v1/sync-runs?limit=500").await.into_iter().rev() {
        by.entry(run["connection_id"].as_str().unwrap().to_owned()).or_default().push(run);
    }
    by
}

/// Ticks the scheduler by hand every 100 ms for `d` (the background one is off in tests).
async fn tick_for(app: &TestApp, d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        schedule::tick(&app.app).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

both_backends! {
    async fn the_schedule_is_answered_patched_and_checked(app) {
        let t = app.register("schedule@example.com").await;
        let id = app.create_connection(&t, "WB", "schedule-token").await;
        let path = format!("/api/v1/connections/{id}");
        let c = app.get(&path, &t.access_token).await.body;
        assert_eq!((c["sync_enabled"].as_bool(), c["sync_interval_seconds"].as_u64()), (Some(true), Some(1800)));
        assert!(at(&c["next_sync_at"]) <= Utc::now(), "a new connection is due at once: {c:?}");
        assert!(c["paused_reason"].is_null() && c["last_run"].is_null(), "{c:?}");

        for bad in [json!(299), json!(604_801), json!(-5), json!("600")] {
            let res = app.call(Method::PATCH, &path, Some(&t.access_token), Some(json!({ "sync_interval_seconds": bad }))).await;
            assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {:?}", res.body);
            assert_eq!(res.body["error"]["field"], "sync_interval_seconds", "{bad}: {:?}", res.body);
        }
        let res = app.call(Method::PATCH, &path, Some(&t.access_token), Some(json!({ "sync_interval_seconds": 600 }))).await;
        assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
        assert_eq!(res.body["sync_interval_seconds"], 600);
        let res = app.call(Method::PATCH, &path, Some(&t.access_token), Some(json!({ "sync_enabled": false }))).await;
        assert_eq!((res.body["sync_enabled"].as_bool(), res.body["next_sync_at"].is_null()), (Some(false), true), "{:?}", res.body);
        assert_eq!(res.body["sync_interval_seconds"], 600, "the interval is kept");
        // A switched-off connection is never scheduled, but still syncs on request.
        schedule::tick(&app.app).await.unwrap();
        assert!(app.get("/api/v1/sync-runs", &t.access_token).await.body["items"].as_array().unwrap().is_empty());
        let run = app.post(&format!("{path}/sync"), Some(&t.access_token), json!({})).await;
        finished_run(&app, &t.access_token, run.body["sync_run_id"].as_str().unwrap()).await;
        let c = app.get(&path, &t.access_token).await.body;
        assert_eq!((c["last_run"]["status"].as_str(), c["last_run"]["trigger"].as_str()), (Some("succeeded"), Some("manual")), "{c:?}");

        let res = app.call(Method::PATCH, &path, Some(&t.access_token), Some(json!({ "sync_enabled": true }))).await;
        assert!(at(&res.body["next_sync_at"]) <= Utc::now(), "switched on: due at once: {:?}", res.body);
        // Members read the schedule but do not change it.
        let member = app.join(&t, "schedule-member@example.com", "member").await;
        let res = app.call(Method::PATCH, &path, Some(&member.access_token), Some(json!({ "sync_enabled": false }))).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN);
    }

    async fn the_scheduler_syncs_each_connection_once_per_interval_one_run_at_a_time(app) {
        let app = app.replace(|c| c.sync.sync_min_interval_secs = 1).await;
        let t = app.register("cadence@example.com").await;
        let mut ids = Vec::new();
        for i in 0..5 {
            let id = app.create_connection(&t, &format!("WB {i}"), &format!("cadence-{i}")).await;
            let res = app.call(Method::PATCH, &format!("/api/v1/connections/{id}"), Some(&t.access_token),
                Some(json!({ "sync_interval_seconds": 2 }))).await;
            assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
            ids.push(id.to_string());
        }
        // Two "instances" tick at once for 7 s: due at 0, 2, 4, 6 s.
        tokio::join!(tick_for(&app, Duration::from_secs(7)), tick_for(&app, Duration::from_secs(7)));
        let start = Instant::now();
        while app.app.store.active_sync_run(t.tenant_id, ids[0].parse().unwrap()).await.unwrap().is_some() {
            assert!(start.elapsed() < Duration::from_secs(30));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let runs = runs_by_connection(&app, &t.access_token).await;
        for id in &ids {
            let runs = &runs[id];
            assert!((3..=4).contains(&runs.len()), "{id}: {} runs in 7 s at a 2 s interval", runs.len());
            assert!(runs.iter().all(|r| r["trigger"] == "schedule"), "{runs:?}");
            for pair in runs.windows(2) {
                let (a, b) = (&pair[0], &pair[1]);
                if a["status"] == "succeeded" && b["started_at"].is_string() {
                    assert!(at(&a["finished_at"]) <= at(&b["started_at"]), "overlapping runs: {a:?} {b:?}");
                }
            }
        }
    }

    async fn refused_credentials_pause_the_schedule_until_new_ones_come(app) {
        let app = app.replace(|c| {
            c.sync.sync_min_interval_secs = 1;
            c.sync.sync_pause_after_refusals = 3;
        }).await;
        let t = app.register("paused@example.com").await;
        let id = app.create_connection(&t, "WB", "soon-revoked").await;
        let path = format!("/api/v1/connections/{id}");
        app.call(Method::PATCH, &path, Some(&t.access_token), Some(json!({ "sync_interval_seconds": 1 }))).await;
        app.fake.revoke_token("soon-revoked");
        let start = Instant::now();
        loop {
            schedule::tick(&app.app).await.unwrap();
            let c = app.get(&path, &t.access_token).await.body;
            if c["sync_enabled"] == false {
                assert!(c["paused_reason"].as_str().unwrap().contains("refused the credentials in 3 run(s) in a row"), "{c:?}");
                assert!(c["next_sync_at"].is_null());
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "never paused: {c:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let runs = runs_by_connection(&app, &t.access_token).await.remove(&id.to_string()).unwrap();
        assert_eq!(runs.len(), 3, "{runs:?}");
        assert!(runs.iter().all(|r| r["status"] == "failed" && r["attempts"] == 1), "refusals are not retried: {runs:?}");
        // Paused: the marketplace is left alone.
        tick_for(&app, Duration::from_millis(1500)).await;
        assert_eq!(runs_by_connection(&app, &t.access_token).await[&id.to_string()].len(), 3);

        // New credentials resume it at once.
        app.fake.add_token("renewed");
        let res = app.call(Method::PATCH, &path, Some(&t.access_token), Some(json!({ "credentials": { "token": "renewed" } }))).await;
        assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
        assert_eq!((res.body["sync_enabled"].as_bool(), res.body["paused_reason"].is_null()), (Some(true), true), "{:?}", res.body);
        schedule::tick(&app.app).await.unwrap();
        let run = app.get(&path, &t.access_token).await.body["last_run"].clone();
        assert_eq!(finished_run(&app, &t.access_token, run["sync_run_id"].as_str().unwrap()).await["status"], "succeeded");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_scheduler_syncs_a_new_connection_at_once() {
    let app =
        TestApp::try_with_config(stock_tracker_tests::Backend::Sqlite, |c| c.sync.sync_scheduler = true).await.unwrap();
    let t = app.register("scheduled@example.com").await;
    let id = app.create_connection(&t, "WB", "scheduled-token").await;
    let start = Instant::now();
    let run = loop {
        let c = app.get(&format!("/api/v1/connections/{id}"), &t.access_token).await.body;
        if c["last_run"].is_object() {
            break c["last_run"].clone();
        }
        assert!(start.elapsed() < schedule::TICK * 2, "no scheduled run");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(run["trigger"], "schedule");
    assert_eq!(finished_run(&app, &t.access_token, run["sync_run_id"].as_str().unwrap()).await["status"], "succeeded");
    let next = at(&app.get(&format!("/api/v1/connections/{id}"), &t.access_token).await.body["next_sync_at"]);
    assert!(next > Utc::now() + chrono::Duration::minutes(29), "the next one, an interval on: {next}");
}
