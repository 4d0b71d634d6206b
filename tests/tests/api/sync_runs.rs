//! `/api/v1/sync-runs`: newest first, filters, detail.

use stock_tracker::store::sync_runs::SyncStatus;

use super::*;

both_backends! {
    async fn runs_list_newest_first_and_show_outcomes(app) {
        let t = app.register("runs@example.com").await;
        let c1 = app.create_connection(&t, "one", "tok").await;
        let c2 = app.create_connection(&t, "two", "tok").await;
        let store = &app.app.store;
        // One active run per connection: each c1 run finishes before the next starts.
        let mut ids = Vec::new();
        for (c, finish) in [(c1, Some(SyncStatus::Failed)), (c2, None), (c1, Some(SyncStatus::Succeeded)), (c1, None)] {
            let id = store.insert_sync_run(t.tenant_id, c).await.unwrap().sync_run_id;
            if let Some(status) = finish {
                store.update_sync_run(t.tenant_id, id, SyncStatus::Running, (0, 0, 0), None).await.unwrap();
                let error = (status == SyncStatus::Failed).then_some("upstream: 500");
                let done = store.update_sync_run(t.tenant_id, id, status, (10, 20, 3), error).await.unwrap();
                assert!(done.duration_ms.is_some());
            }
            ids.push(id);
        }
        assert_eq!(store.active_sync_run(t.tenant_id, c1).await.unwrap().unwrap().sync_run_id, ids[3]);

        let all = collect_pages(&app, &t.access_token, "/api/v1/sync-runs?limit=3").await;
        let listed: Vec<String> = all.iter().map(|r| r["sync_run_id"].as_str().unwrap().to_owned()).collect();
        let expected: Vec<String> = ids.iter().rev().map(Uuid::to_string).collect();
        assert_eq!(listed, expected);

        let only_c2 = app.get(&format!("/api/v1/sync-runs?connection_id={c2}"), &t.access_token).await;
        assert_eq!(only_c2.body["items"].as_array().unwrap().len(), 1);

        let one = app.get(&format!("/api/v1/sync-runs/{}", ids[0]), &t.access_token).await;
        assert_eq!(one.status, StatusCode::OK);
        assert_eq!(one.body["status"], "failed");
        assert_eq!(one.body["error"], "upstream: 500");
        assert_eq!((one.body["products_seen"].as_i64(), one.body["stocks_seen"].as_i64(), one.body["stock_changes"].as_i64()), (Some(10), Some(20), Some(3)));
        let queued = app.get(&format!("/api/v1/sync-runs/{}", ids[1]), &t.access_token).await;
        assert_eq!((queued.body["status"].as_str(), queued.body["trigger"].as_str(), queued.body["attempts"].as_i64()), (Some("queued"), Some("manual"), Some(0)));
        assert_eq!(app.get(&format!("/api/v1/sync-runs/{}", Uuid::now_v7()), &t.access_token).await.status, StatusCode::NOT_FOUND);
    }
}
