//! Webhooks against a receiver on loopback that verifies every signature with its own
//! implementation of the Standard Webhooks algorithm: retries on schedule while it is down,
//! delivery once it is back, nothing lost, repeats only under the same `webhook-id`; rotation,
//! 410, failure streaks, and the targets refused by default.

use std::collections::{BTreeMap, BTreeSet};

use stock_tracker_tests::webhook_receiver::{Mode, Receiver, verify};

use super::*;

/// An app that may call loopback receivers, retrying after 1, 1, 1, 1 seconds.
async fn open_app(app: TestApp) -> TestApp {
    app.replace(|c| {
        c.webhooks.webhook_allow_private = true;
        c.webhooks.webhook_retry_schedule = "1,1,1,1".into();
        c.webhooks.webhook_disable_after_failures = 2;
    })
    .await
}

async fn create(app: &TestApp, t: &TestTenant, url: &str, events: &[&str]) -> (String, String) {
    let res = app
        .post("/api/v1/webhooks", Some(&t.access_token), json!({"url": url, "events": events, "description": "test"}))
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{:?}", res.body);
    let secret = res.body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    (res.body["webhook_id"].as_str().unwrap().to_owned(), secret)
}

async fn deliveries(app: &TestApp, t: &TestTenant, webhook_id: &str) -> Vec<Value> {
    collect_pages(app, &t.access_token, &format!("/api/v1/webhooks/{webhook_id}/deliveries?limit=2")).await
}

/// Waits up to 30 s for `check` on the endpoint's deliveries.
async fn deliveries_until(
    app: &TestApp,
    t: &TestTenant,
    webhook_id: &str,
    what: &str,
    check: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let list = deliveries(app, t, webhook_id).await;
        if check(&list) {
            return list;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "never: {what}: {list:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

both_backends! {
    async fn deliveries_are_signed_retried_on_schedule_and_none_lost(app) {
        let app = open_app(app).await;
        let receiver = Receiver::start().await;
        let t = app.register("hooks@example.com").await;
        let (webhook_id, secret) = create(&app, &t, &receiver.url("/in"), &["stock.low", "stock.out", "sync.completed"]).await;
        let listed = app.get(&format!("/api/v1/webhooks/{webhook_id}"), &t.access_token).await;
        assert_eq!(listed.body["enabled"], true);
        assert!(listed.body.get("secret").is_none(), "the secret is shown on creation only");
        assert_eq!(listed.body["events"], json!(["stock.low", "stock.out", "sync.completed"]));

        // The receiver is down while a baseline sync and a sync with two crossings happen.
        receiver.set_mode(Mode::Status(503));
        let connection_id = app.create_connection(&t, "WB", "hooks-token").await;
        app.fake.set_quantity("WB-000001", "Коледино", 50);
        app.fake.set_quantity("WB-000002", "Подольск", 50);
        sync_once(&app, &t, connection_id).await;
        app.fake.set_quantity("WB-000001", "Коледино", 3);
        app.fake.set_quantity("WB-000002", "Подольск", 0);
        sync_once(&app, &t, connection_id).await;
        let events = collect_pages(&app, &t.access_token, "/api/v1/events").await;
        assert_eq!(events.len(), 4, "two sync.completed, a stock.low, a stock.out: {events:#?}");

        // Retried while down: pending, with the failure and the next attempt shown.
        let waiting = deliveries_until(&app, &t, &webhook_id, "second attempts", |list| {
            list.len() == 4 && list.iter().all(|d| d["attempts"].as_i64().unwrap() >= 2)
        }).await;
        for d in &waiting {
            if d["status"] == "pending" {
                assert_eq!(d["last_status_code"], 503, "{d:?}");
                assert!(d["next_attempt_at"].as_str().is_some(), "{d:?}");
                assert!(d["last_response"].as_str().unwrap().len() <= 256, "only a prefix is kept");
            }
        }

        // Back up: everything arrives.
        receiver.set_mode(Mode::Up);
        let done = deliveries_until(&app, &t, &webhook_id, "all delivered", |list| {
            list.len() == 4 && list.iter().all(|d| d["status"] == "succeeded")
        }).await;
        assert!(done.iter().all(|d| d["last_status_code"] == 200 && d["attempts"].as_i64().unwrap() >= 2));

        let received = receiver.received();
        let mut by_id: BTreeMap<String, Vec<_>> = BTreeMap::new();
        for r in &received {
            verify(&secret, r).unwrap_or_else(|e| panic!("{e}: {r:?}"));
            assert_eq!(r.content_type, "application/json");
            let body: Value = serde_json::from_str(&r.body).unwrap();
            assert!(body["timestamp"].as_str().is_some() && body["data"].is_object(), "{body}");
            by_id.entry(r.id.clone()).or_default().push(r.clone());
        }
        // One message per event; every attempt of it the same id and the same bytes; one 200 each.
        let event_ids: BTreeSet<String> = events.iter().map(|e| format!("msg_{}", e["event_id"].as_str().unwrap().replace('-', ""))).collect();
        assert_eq!(by_id.keys().cloned().collect::<BTreeSet<_>>(), event_ids);
        for (id, attempts) in &by_id {
            assert!(attempts.len() >= 2, "{id} was retried");
            // On schedule: 1 s ± 20 % between attempts (the next claim may add a poll interval).
            for pair in attempts.windows(2) {
                let gap = pair[1].at - pair[0].at;
                assert!(gap >= Duration::from_millis(750) && gap < Duration::from_secs(4), "{id}: {gap:?} between attempts");
            }
            assert!(attempts.iter().all(|a| a.body == attempts[0].body), "{id}: the same body on every attempt");
            assert_eq!(attempts.iter().filter(|a| a.answered == 200).count(), 1, "{id} delivered once");
            assert_eq!(attempts.last().unwrap().answered, 200);
        }
        let types: BTreeSet<String> = by_id.values().map(|a| serde_json::from_str::<Value>(&a[0].body).unwrap()["type"].as_str().unwrap().to_owned()).collect();
        assert_eq!(types, ["stock.low", "stock.out", "sync.completed"].map(String::from).into_iter().collect());

        // A redelivery sends the same message (same id, same body) again, as a new delivery.
        let first = &done[0];
        let res = app.post(&format!("/api/v1/webhooks/{webhook_id}/deliveries/{}/redeliver", first["delivery_id"].as_str().unwrap()),
            Some(&t.access_token), json!({})).await;
        assert_eq!(res.status, StatusCode::ACCEPTED, "{:?}", res.body);
        assert_eq!(res.body["message_id"], first["message_id"]);
        assert_ne!(res.body["delivery_id"], first["delivery_id"]);
        deliveries_until(&app, &t, &webhook_id, "redelivered", |list| list.len() == 5 && list.iter().all(|d| d["status"] == "succeeded")).await;
        let again: Vec<_> = receiver.received().into_iter().filter(|r| r.id == first["message_id"].as_str().unwrap()).collect();
        assert_eq!(again.iter().filter(|r| r.answered == 200).count(), 2);
        assert_eq!(again.last().unwrap().body, again[0].body);

        // Filters and strangers.
        let pending = app.get(&format!("/api/v1/webhooks/{webhook_id}/deliveries?status=pending"), &t.access_token).await;
        assert_eq!(pending.body["items"], json!([]));
        assert_eq!(app.get(&format!("/api/v1/webhooks/{webhook_id}/deliveries?status=lost"), &t.access_token).await.status,
            StatusCode::UNPROCESSABLE_ENTITY);
        let other = app.register("hooks-other@example.com").await;
        assert_eq!(app.get(&format!("/api/v1/webhooks/{webhook_id}/deliveries"), &other.access_token).await.status, StatusCode::NOT_FOUND);
        let res = app.post(&format!("/api/v1/webhooks/{webhook_id}/deliveries/{}/redeliver", first["delivery_id"].as_str().unwrap()),
            Some(&other.access_token), json!({})).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND);
    }

    async fn deliveries_written_before_a_crash_are_sent_after_it(app) {
        let mut app = open_app(app).await;
        let receiver = Receiver::start().await;
        let t = app.register("crash-hooks@example.com").await;
        let (webhook_id, secret) = create(&app, &t, &receiver.url("/in"), &["stock.low"]).await;
        // The instance stops working (its workers gone) right after the events are recorded.
        app.stop_background(Duration::ZERO).await;
        let batch: Vec<_> = (0..5)
            .map(|i| stock_tracker::store::events::NewEvent { event_type: "stock.low", data: json!({"sku": format!("S{i}")}) })
            .collect();
        stock_tracker::events::record(&app.app, t.tenant_id, &batch, None).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(receiver.count(), 0);
        // The next instance sends all of them, once each.
        let app = app.replace(|_| {}).await;
        deliveries_until(&app, &t, &webhook_id, "sent after the restart", |l| l.len() == 5 && l.iter().all(|d| d["status"] == "succeeded")).await;
        let received = receiver.received();
        assert_eq!(received.len(), 5);
        assert_eq!(received.iter().map(|r| r.id.clone()).collect::<BTreeSet<_>>().len(), 5);
        assert!(received.iter().all(|r| verify(&secret, r).is_ok()));
    }

    async fn a_rotated_secret_signs_beside_the_old_one(app) {
        let app = open_app(app).await;
        let receiver = Receiver::start().await;
        let t = app.register("rotate@example.com").await;
        let (webhook_id, old) = create(&app, &t, &receiver.url("/in"), &["sync.failed"]).await;
        let res = app.post(&format!("/api/v1/webhooks/{webhook_id}/rotate-secret"), Some(&t.access_token), json!({})).await;
        assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
        let new = res.body["secret"].as_str().unwrap().to_owned();
        assert_ne!(new, old);
        assert!(res.body["previous_secret_expires_at"].as_str().is_some());

        let res = app.post(&format!("/api/v1/webhooks/{webhook_id}/test"), Some(&t.access_token), json!({})).await;
        assert_eq!(res.status, StatusCode::ACCEPTED, "{:?}", res.body);
        assert_eq!(res.body["event_type"], "webhook.test");
        deliveries_until(&app, &t, &webhook_id, "test delivered", |l| l.len() == 1 && l[0]["status"] == "succeeded").await;
        let r = &receiver.received()[0];
        assert_eq!(r.signature.split(' ').count(), 2, "two signatures: {}", r.signature);
        verify(&new, r).unwrap();
        verify(&old, r).unwrap();
        assert!(verify("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", r).is_err(), "a wrong secret does not verify");
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["type"], "webhook.test");
    }

    async fn gone_and_failure_streaks_disable_the_endpoint(app) {
        let app = open_app(app).await;
        let t = app.register("disable@example.com").await;

        // 410: disabled at once, with the reason.
        let gone = Receiver::start().await;
        gone.set_mode(Mode::Status(410));
        let (gone_id, _) = create(&app, &t, &gone.url("/in"), &["sync.completed"]).await;
        app.post(&format!("/api/v1/webhooks/{gone_id}/test"), Some(&t.access_token), json!({})).await;
        deliveries_until(&app, &t, &gone_id, "410", |l| l.len() == 1 && l[0]["status"] == "failed").await;
        let w = app.get(&format!("/api/v1/webhooks/{gone_id}"), &t.access_token).await.body;
        assert_eq!(w["enabled"], false);
        assert!(w["disabled_reason"].as_str().unwrap().contains("410"), "{w:?}");
        assert_eq!(gone.received().len(), 1, "not retried");
        let res = app.post(&format!("/api/v1/webhooks/{gone_id}/test"), Some(&t.access_token), json!({})).await;
        assert_eq!(res.status, StatusCode::CONFLICT);

        // Redirects are failures, and not followed; two deliveries failing every attempt disable it.
        let moved = Receiver::start().await;
        moved.set_mode(Mode::Redirect);
        let (moved_id, _) = create(&app, &t, &moved.url("/in"), &["sync.completed"]).await;
        for _ in 0..2 {
            app.post(&format!("/api/v1/webhooks/{moved_id}/test"), Some(&t.access_token), json!({})).await;
        }
        let list = deliveries_until(&app, &t, &moved_id, "exhausted", |l| l.len() == 2 && l.iter().all(|d| d["status"] == "failed")).await;
        assert!(list.iter().all(|d| d["attempts"] == 5 && d["last_status_code"] == 302), "{list:#?}");
        assert!(list[0]["last_error"].as_str().unwrap().contains("redirect"), "{list:#?}");
        assert!(moved.received().iter().all(|r| r.path == "/in"), "the redirect is not followed");
        let w = app.get(&format!("/api/v1/webhooks/{moved_id}"), &t.access_token).await.body;
        assert_eq!(w["enabled"], false);
        assert!(w["disabled_reason"].as_str().unwrap().contains("2 deliveries"), "{w:?}");

        // Enabled again by hand, it delivers.
        moved.set_mode(Mode::Up);
        let res = app.call(Method::PATCH, &format!("/api/v1/webhooks/{moved_id}"), Some(&t.access_token), Some(json!({"enabled": true}))).await;
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(res.body["disabled_reason"], Value::Null);
        app.post(&format!("/api/v1/webhooks/{moved_id}/test"), Some(&t.access_token), json!({})).await;
        deliveries_until(&app, &t, &moved_id, "delivered after enabling", |l| l.len() == 3 && l[0]["status"] == "succeeded").await;
    }

    async fn unsafe_targets_are_refused_by_default(app) {
        let t = app.register("ssrf@example.com").await;
        let receiver = Receiver::start().await;
        for url in [
            receiver.url("/in"),
            "https://127.0.0.1/in".into(),
            "https://10.1.2.3/in".into(),
            "https://169.254.169.254/latest/meta-data".into(),
            "https://[::1]/in".into(),
            "https://localhost/in".into(),
            "https://user:secret@hooks.example.com/in".into(),
            "hooks.example.com/in".into(),
        ] {
            let res = app.post("/api/v1/webhooks", Some(&t.access_token), json!({"url": url, "events": ["stock.low"]})).await;
            assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {:?}", res.body);
            assert_field(&res.body, "url");
        }
        assert_eq!(app.get("/api/v1/webhooks", &t.access_token).await.body["items"], json!([]));

        // An endpoint stored while private targets were allowed is refused once they are not:
        // the attempt fails without a request.
        let app = app.replace(|c| c.webhooks.webhook_allow_private = true).await;
        let (id, _) = create(&app, &t, &receiver.url("/in"), &["stock.low"]).await;
        let app = app.replace(|c| {
            c.webhooks.webhook_allow_private = false;
            c.webhooks.webhook_retry_schedule = "1".into();
        }).await;
        app.post(&format!("/api/v1/webhooks/{id}/test"), Some(&t.access_token), json!({})).await;
        let list = deliveries_until(&app, &t, &id, "refused", |l| l.len() == 1 && l[0]["status"] == "failed").await;
        assert!(list[0]["last_error"].as_str().unwrap().contains("refused"), "{list:?}");
        assert!(receiver.received().is_empty());
    }

    async fn webhook_input_is_checked_and_tenants_kept_apart(app) {
        let app = open_app(app).await;
        let t = app.register("hook-input@example.com").await;
        let url = "http://127.0.0.1:9/in";
        for (body, field) in [
            (json!({"url": url, "events": []}), "events"),
            (json!({"url": url, "events": ["stock.nope"]}), "events"),
            (json!({"url": url}), "events"),
            (json!({"url": url, "events": ["stock.low"], "description": "x".repeat(501)}), "description"),
            (json!({"url": "x".repeat(3000), "events": ["stock.low"]}), "url"),
            (json!({"url": url, "events": ["stock.low"], "secret": "mine"}), "secret"),
        ] {
            let res = app.post("/api/v1/webhooks", Some(&t.access_token), body.clone()).await;
            assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {:?}", res.body);
            assert_field(&res.body, field);
        }
        let (id, _) = create(&app, &t, url, &["stock.low", "stock.low", "sync.failed"]).await;
        let w = app.get(&format!("/api/v1/webhooks/{id}"), &t.access_token).await.body;
        assert_eq!(w["events"], json!(["stock.low", "sync.failed"]), "deduplicated");
        let res = app.call(Method::PATCH, &format!("/api/v1/webhooks/{id}"), Some(&t.access_token),
            Some(json!({"events": ["stock.out"], "description": null}))).await;
        assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
        assert_eq!(res.body["events"], json!(["stock.out"]));
        assert_eq!(res.body["description"], Value::Null);
        let res = app.call(Method::PATCH, &format!("/api/v1/webhooks/{id}"), Some(&t.access_token), Some(json!({"url": "ftp://x.example.com/"}))).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);

        // Members may not see endpoints (their URLs can hold tokens); other tenants get 404s.
        let member = app.join(&t, "hook-member@example.com", "member").await;
        assert_eq!(app.get("/api/v1/webhooks", &member.access_token).await.status, StatusCode::FORBIDDEN);
        let other = app.register("hook-other@example.com").await;
        assert_eq!(app.get(&format!("/api/v1/webhooks/{id}"), &other.access_token).await.status, StatusCode::NOT_FOUND);
        assert_eq!(app.call(Method::DELETE, &format!("/api/v1/webhooks/{id}"), Some(&other.access_token), None).await.status, StatusCode::NOT_FOUND);
        assert_eq!(app.post(&format!("/api/v1/webhooks/{id}/rotate-secret"), Some(&other.access_token), json!({})).await.status, StatusCode::NOT_FOUND);

        // At most 20 per tenant.
        for _ in 1..20 {
            create(&app, &t, url, &["stock.low"]).await;
        }
        let res = app.post("/api/v1/webhooks", Some(&t.access_token), json!({"url": url, "events": ["stock.low"]})).await;
        assert_eq!(res.status, StatusCode::CONFLICT);
        assert_eq!(app.get("/api/v1/webhooks", &t.access_token).await.body["items"].as_array().unwrap().len(), 20);
        assert_eq!(app.call(Method::DELETE, &format!("/api/v1/webhooks/{id}"), Some(&t.access_token), None).await.status, StatusCode::NO_CONTENT);
        assert_eq!(app.get(&format!("/api/v1/webhooks/{id}"), &t.access_token).await.status, StatusCode::NOT_FOUND);
    }
}
