//! The plugin sandbox and hot-loading: misbehaving components are contained, bad uploads are
//! refused while the old version keeps serving, and versions swap under load without a failed call
//! (each on SQLite and on PostgreSQL).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use stock_tracker::plugins::bindings::{CallContext, PageRequest};
use stock_tracker::plugins::manifest::Manifest;
use stock_tracker::plugins::runtime::Scope;
use stock_tracker_tests::fixtures::{component, manifest};
use stock_tracker_tests::{Backend, TEST_OPERATOR_TOKEN, TestTenant};

use super::*;

async fn wait_run(app: &TestApp, token: &str, run_id: &str) -> Value {
    let start = Instant::now();
    loop {
        let res = app.get(&format!("/api/v1/sync-runs/{run_id}"), token).await;
        if matches!(res.body["status"].as_str(), Some("succeeded" | "failed")) {
            return res.body;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "run did not finish: {:?}", res.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn start_sync(app: &TestApp, t: &TestTenant, connection_id: &str) -> String {
    let res = app.post(&format!("/api/v1/connections/{connection_id}/sync"), Some(&t.access_token), json!({})).await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{:?}", res.body);
    res.body["sync_run_id"].as_str().unwrap().to_owned()
}

async fn connection(app: &TestApp, t: &TestTenant, marketplace: &str, settings: Value) -> String {
    let body = json!({ "marketplace": marketplace, "name": format!("{marketplace}-{}", Uuid::now_v7()),
                       "credentials": { "token": "x" }, "settings": settings });
    let res = app.post("/api/v1/connections", Some(&t.access_token), body).await;
    assert_eq!(res.status, StatusCode::CREATED, "{:?}", res.body);
    res.body["connection_id"].as_str().unwrap().to_owned()
}

stock_tracker_tests::both_backends! {
    async fn a_wit_0_1_component_loads_and_syncs(app) {
        let res = app.put_plugin("legacy", &manifest("legacy-0.1"), &component("fixture-legacy", &[])).await;
        assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
        assert_eq!(res.body["wit_version"], "0.1.0");
        let t = app.register("legacy@example.com").await;
        // Its manifest declares the settings a 0.1 component reads; others are refused.
        let body = json!({ "marketplace": "yandex_market", "name": "L", "credentials": { "token": "x" },
                           "settings": { "unknown": "x" } });
        let refused = app.post("/api/v1/connections", Some(&t.access_token), body).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", refused.body);
        assert!(refused.body["error"]["message"].as_str().unwrap().contains("it knows: shelf"), "{:?}", refused.body);

        let connection_id = connection(&app, &t, "yandex_market", json!({ "shelf": "B" })).await;
        let run = wait_run(&app, &t.access_token, &start_sync(&app, &t, &connection_id).await).await;
        assert_eq!(run["status"], "succeeded", "{run:?}");
        let products = app.get("/api/v1/products", &t.access_token).await.body["items"].as_array().unwrap().clone();
        let shown: Vec<(&str, &Value, &Value)> =
            products.iter().map(|p| (p["sku"].as_str().unwrap(), &p["price"], &p["in_transit"])).collect();
        let price = |minor: i64| json!({ "base_minor": minor, "discounted_minor": null, "discount_percent": null, "currency": "RUB" });
        assert_eq!(
            shown,
            [
                ("L-1", &price(12_300), &json!({ "to_client": 3, "from_client": 1 })),
                ("L-2", &price(24_600), &json!({ "to_client": 0, "from_client": 0 })),
            ],
            "prices in roubles; in-transit per warehouse summed per product"
        );
        let stocks = app.get("/api/v1/stocks", &t.access_token).await.body["items"].as_array().unwrap().clone();
        let mut levels: Vec<(String, String, i64, String)> = stocks
            .iter()
            .map(|s| (s["sku"].as_str().unwrap().into(), s["warehouse"].as_str().unwrap().into(),
                      s["available"].as_i64().unwrap(), s["warehouse_kind"].as_str().unwrap().into()))
            .collect();
        levels.sort();
        let level = |sku: &str, w: &str, a| (sku.to_owned(), w.to_owned(), a, "marketplace".to_owned());
        assert_eq!(levels, [level("L-1", "North-B", 7), level("L-1", "South-B", 3), level("L-2", "North-B", 0)]);
    }

    async fn misbehaving_plugins_are_contained(app) {
        // An origin that accepts connections and never answers, for the guest that parks in host calls.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let silent_url = format!("http://{}", silent.local_addr().unwrap());
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = silent.accept().await {
                held.push(socket);
            }
        });
        let base = app;
        let grants = format!("{},{silent_url}", base.fake.origin());
        // One attempt: a retried timeout would only delay the failure this test looks at.
        let app = base.replace(|c| {
            c.plugins.plugin_extra_hosts = Some(grants);
            c.sync.sync_max_attempts = 1;
        }).await;
        let res = app.put_plugin("misbehaving", &manifest("misbehaving"), &component("fixture-misbehaving", &[])).await;
        assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);

        let victim = app.register("victim@example.com").await;
        let bystander = app.register("bystander@example.com").await;
        let wb = app.create_connection(&bystander, "WB", "bystander-token").await.to_string();

        let cases = [
            ("loop", "exceeded its 1s deadline"),
            ("sleep-in-host", "exceeded its 1s deadline"),
            ("memory", "memory limit of 16 MiB"),
            ("panic", "plugin trapped"),
            ("forbidden-host", "host denied the request"),
            ("huge-output", "plugin trapped"),
        ];
        for (behaviour, expected) in cases {
            let failures_before = app.app.plugins.get("misbehaving").unwrap().summary().failures;
            let bad = connection(&app, &victim, "ozon", json!({ "behaviour": behaviour, "slow_url": silent_url })).await;
            let started = Instant::now();
            let (bad_run, good_run) = (start_sync(&app, &victim, &bad).await, start_sync(&app, &bystander, &wb).await);
            let bad_run = wait_run(&app, &victim.access_token, &bad_run).await;
            let good_run = wait_run(&app, &bystander.access_token, &good_run).await;
            assert_eq!(bad_run["status"], "failed", "{behaviour}: {bad_run:?}");
            let error = bad_run["error"].as_str().unwrap();
            assert!(error.contains(expected), "{behaviour}: expected `{expected}` in `{error}`");
            assert!(started.elapsed() < Duration::from_secs(15), "{behaviour}: containment took {:?}", started.elapsed());
            assert_eq!(good_run["status"], "succeeded", "{behaviour}: another tenant's sync must complete: {good_run:?}");
            let live = app.call(Method::GET, "/api/v1/health/live", None, None).await;
            assert_eq!(live.status, StatusCode::OK, "{behaviour}: the host keeps serving");
            let summary = app.app.plugins.get("misbehaving").unwrap().summary();
            assert!(summary.failures > failures_before, "{behaviour}: the failure is counted");
            if behaviour == "forbidden-host" {
                assert!(summary.http_denied >= 1, "the denial is counted");
            }
            assert_eq!(summary.memory_limit_bytes, 16 << 20, "the manifest's 16 MiB");
            assert!(summary.memory_peak_bytes <= summary.memory_limit_bytes, "{behaviour}: no call grew past the cap");
            if behaviour == "memory" {
                assert!(summary.memory_peak_bytes > 8 << 20, "the bomb's growth up to the cap is seen");
            }
        }

        // A flood of log lines is cut, not fatal.
        let noisy = connection(&app, &victim, "ozon", json!({ "behaviour": "huge-log" })).await;
        let run = wait_run(&app, &victim.access_token, &start_sync(&app, &victim, &noisy).await).await;
        assert_eq!(run["status"], "succeeded", "{run:?}");
    }
}

stock_tracker_tests::both_backends! {
    async fn bad_uploads_are_refused_and_the_old_version_keeps_serving(app) {
        let v1 = component("fixture-versioned", &[("FIXTURE_VERSION", "1.0.0")]);
        assert_eq!(app.put_plugin("versioned", &manifest("versioned"), &v1).await.status, StatusCode::OK);

        let misbehaving = component("fixture-misbehaving", &[]);
        let impostor = manifest("misbehaving").replace("id = \"misbehaving\"", "id = \"impostor\"");
        let cases: Vec<(&str, String, Vec<u8>, &str)> = vec![
            ("versioned", manifest("versioned"), b"\0asm\x0d\0\x01\0garbage".to_vec(), "not a valid component"),
            ("versioned", manifest("versioned"), b"definitely not wasm".to_vec(), "not a WebAssembly file"),
            ("versioned", manifest("versioned"), v1[..v1.len() / 2].to_vec(), "not a valid component"),
            (
                "wrong-wit",
                manifest("wrong-wit"),
                component("fixture-wrong-wit", &[]),
                "targets WIT stock-tracker:marketplace@99.0.0; this host supports 0.1.0, 0.2.0",
            ),
            ("impostor", impostor, misbehaving.clone(), "info() reports id `misbehaving` but the manifest says `impostor`"),
            ("versioned", manifest("misbehaving"), misbehaving.clone(), "does not match the URL"),
            ("versioned", "id = \"versioned\"".into(), v1.clone(), "missing field"),
        ];
        for (id, manifest_text, wasm, expected) in cases {
            let res = app.put_plugin(id, &manifest_text, &wasm).await;
            assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{expected}: {:?}", res.body);
            let message = res.body["error"]["message"].as_str().unwrap();
            assert!(message.contains(expected), "expected `{expected}` in `{message}`");
        }
        let current = app.app.plugins.get("versioned").unwrap();
        assert_eq!(current.info.version, "1.0.0");
        assert!(app.app.plugins.get("impostor").is_none() && app.app.plugins.get("wrong-wit").is_none());
        let t = app.register("still@example.com").await;
        let c = connection(&app, &t, "yandex_market", json!({})).await;
        assert_eq!(wait_run(&app, &t.access_token, &start_sync(&app, &t, &c).await).await["status"], "succeeded");

        // The operator API wants the operator token.
        let list = app.call(Method::GET, "/api/v1/admin/plugins", None, None).await;
        assert_eq!(list.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            app.get("/api/v1/admin/plugins", &t.access_token).await.status,
            StatusCode::UNAUTHORIZED,
            "a tenant token is not an operator token"
        );
        let list = app.get("/api/v1/admin/plugins", TEST_OPERATOR_TOKEN).await;
        assert_eq!(list.status, StatusCode::OK);
        let versioned = list.body["items"].as_array().unwrap().iter().find(|p| p["id"] == "versioned").unwrap().clone();
        assert_eq!(versioned["version"], "1.0.0");
        assert_eq!(versioned["content_hash"].as_str().unwrap().len(), 64);
        assert!(versioned["calls"].as_u64().unwrap() >= 1);
        assert!(versioned["loaded_at"].as_str().is_some());
        // How close the version's calls came to its memory cap (the manifest's, capped by config).
        let (peak, limit) = (versioned["memory_peak_bytes"].as_u64().unwrap(), versioned["memory_limit_bytes"].as_u64().unwrap());
        assert!(peak > 0 && peak <= limit, "peak {peak} within the limit {limit}");
    }
}

stock_tracker_tests::both_backends! {
    async fn versions_swap_under_load_without_a_failed_call(app) {
        let versions = [
            component("fixture-versioned", &[("FIXTURE_VERSION", "1.0.0")]),
            component("fixture-versioned", &[("FIXTURE_VERSION", "2.0.0")]),
        ];
        let manifest_text = manifest("versioned");
        assert_eq!(app.put_plugin("versioned", &manifest_text, &versions[0]).await.status, StatusCode::OK);
        let t = app.register("load@example.com").await;
        let connection_id = connection(&app, &t, "yandex_market", json!({})).await;

        let stop = Arc::new(AtomicBool::new(false));
        let (calls, failed_calls, syncs, failed_syncs) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let app = Arc::new(app);
        let mut workers = Vec::new();
        for _ in 0..3 {
            let (app, stop, calls, failed) = (app.clone(), stop.clone(), calls.clone(), failed_calls.clone());
            workers.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let plugin = app.app.plugins.get("versioned").unwrap();
                    let ctx = CallContext { credentials: Vec::new(), settings: Vec::new() };
                    let page = PageRequest { cursor: None, page_size: 10, resume: None };
                    match app.app.plugins.runtime().list_products(&plugin, Scope::once(), ctx, page).await {
                        Ok(p) if p.items.len() == 3 => {}
                        other => {
                            eprintln!("failed call: {other:?}");
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    calls.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        {
            let (app, stop, syncs, failed, t, c) =
                (app.clone(), stop.clone(), syncs.clone(), failed_syncs.clone(), t.clone(), connection_id.clone());
            workers.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let run = wait_run(&app, &t.access_token, &start_sync(&app, &t, &c).await).await;
                    if run["status"] != "succeeded" {
                        eprintln!("failed sync: {run:?}");
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    syncs.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }

        for swap in 1..=20 {
            let next = &versions[swap % 2];
            let expected = if swap % 2 == 0 { "1.0.0" } else { "2.0.0" };
            let res = app.put_plugin("versioned", &manifest_text, next).await;
            assert_eq!(res.status, StatusCode::OK, "swap {swap}: {:?}", res.body);
            assert_eq!(res.body["version"], expected);
            // A call that starts after the swap reports the new version.
            let plugin = app.app.plugins.get("versioned").unwrap();
            let info = app.app.plugins.runtime().info(&plugin).await.unwrap();
            assert_eq!(info.version, expected, "swap {swap}");
            if swap == 10 {
                let corrupt = app.put_plugin("versioned", &manifest_text, &next[..next.len() - 100]).await;
                assert_eq!(corrupt.status, StatusCode::UNPROCESSABLE_ENTITY);
                assert_eq!(
                    app.app.plugins.get("versioned").unwrap().info.version,
                    expected,
                    "the old version keeps serving"
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            w.await.unwrap();
        }
        let (calls, syncs) = (calls.load(Ordering::Relaxed), syncs.load(Ordering::Relaxed));
        assert!(calls > 20 && syncs > 0, "the load ran: {calls} calls, {syncs} syncs");
        assert_eq!(failed_calls.load(Ordering::Relaxed), 0, "failed calls out of {calls}");
        assert_eq!(failed_syncs.load(Ordering::Relaxed), 0, "failed syncs out of {syncs}");

        // Rollback: the previous version serves again.
        let res = app.call(Method::POST, "/api/v1/admin/plugins/versioned/rollback", Some(TEST_OPERATOR_TOKEN), None).await;
        assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
        assert_eq!(res.body["version"], "2.0.0");
        // A restart finds every version in PLUGINS_DIR and its compiled code in the cache.
        let restarted = app.restart(|_| {}).await;
        let plugin = restarted.app.plugins.get("versioned").unwrap();
        assert_eq!(plugin.info.version, "2.0.0");
        assert!(plugin.from_cache, "compiled code came from the cache");
        let gone = restarted.call(Method::DELETE, "/api/v1/admin/plugins/versioned", Some(TEST_OPERATOR_TOKEN), None).await;
        assert_eq!(gone.status, StatusCode::NO_CONTENT);
        assert!(restarted.app.plugins.get("versioned").is_none());
        let _ = Manifest::parse(&manifest_text).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_dropped_into_plugins_dir_are_picked_up() {
    let app = TestApp::try_new(Backend::Sqlite).await.unwrap();
    let dir = app.app.plugins.dir().unwrap().clone();
    assert!(app.app.plugins.get("versioned").is_none());
    let v1 = component("fixture-versioned", &[("FIXTURE_VERSION", "1.0.0")]);
    let v2 = component("fixture-versioned", &[("FIXTURE_VERSION", "2.0.0")]);

    // An operator copies a version in: component first, manifest last.
    std::fs::write(dir.join("versioned.wasm"), &v1).unwrap();
    std::fs::write(dir.join("versioned.toml"), manifest("versioned")).unwrap();
    let loaded = |version: &'static str| {
        let app = &app;
        async move {
            let start = Instant::now();
            while app.app.plugins.get("versioned").map(|p| p.info.version.clone()).as_deref() != Some(version) {
                assert!(start.elapsed() < Duration::from_secs(10), "version {version} was not picked up");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    loaded("1.0.0").await;

    // A broken file is refused and the running version stays.
    std::fs::write(dir.join("versioned.wasm"), b"\0asm broken").unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(app.app.plugins.get("versioned").unwrap().info.version, "1.0.0");

    // A new version replaces it.
    std::fs::write(dir.join("versioned.wasm"), &v2).unwrap();
    loaded("2.0.0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_pool_slot_keeps_nothing_of_the_previous_call() {
    // One instance slot, so every call reuses the previous call's memory slot; once with pages
    // kept resident (reset in place) and once with none (handed back to the kernel).
    for keep_resident_mb in [16, 0] {
        let dir = stock_tracker_tests::TempDir::new("st-slot-reuse");
        let config = stock_tracker::plugins::PluginConfig {
            plugin_max_instances: 1,
            plugin_keep_resident_mb: keep_resident_mb,
            ..Default::default()
        };
        let runtime = Arc::new(
            stock_tracker::plugins::runtime::Runtime::new(config, &dir.0.join("cache"), Arc::default()).unwrap(),
        );
        let plugin = runtime
            .load(component("fixture-misbehaving", &[]), Manifest::parse(&manifest("misbehaving")).unwrap())
            .await
            .unwrap();
        let marker = "tenant-a-credential-7f3e9c1d";
        let reversed: String = marker.chars().rev().collect();
        let ctx = |behaviour: &str, key: &str, value: &str| CallContext {
            credentials: Vec::new(),
            settings: vec![("behaviour".into(), behaviour.into()), (key.into(), value.into())],
        };
        let page = || PageRequest { cursor: None, page_size: 10, resume: None };

        // The positive control: within one call, the scan finds what the call left.
        let err = runtime
            .list_products(&plugin, Scope::once(), ctx("remember-then-recall", "marker_reversed", &reversed), page())
            .await
            .expect_err("the scan must find a copy made in the same call");
        assert!(err.to_string().contains("copies of the marker"), "{err}");

        // One call leaves 4 MiB of copies behind; the next scans all of its memory: none.
        for _ in 0..5 {
            runtime.list_products(&plugin, Scope::once(), ctx("remember", "marker", marker), page()).await.unwrap();
            if let Err(e) =
                runtime.list_products(&plugin, Scope::once(), ctx("recall", "marker_reversed", &reversed), page()).await
            {
                panic!("keep_resident {keep_resident_mb} MiB: a call saw the previous call's memory: {e}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_setting_decides_the_wildberries_memory_cap() {
    // The WB manifest leaves memory to the host, so PLUGIN_MEMORY_MB alone lets a large
    // catalogue's stock report through; a manifest that names a cap keeps it below the setting.
    let (wb_manifest, wb_component) = stock_tracker::plugins::bundled::BUNDLED
        .iter()
        .find(|(m, _)| Manifest::parse(m).unwrap().id == "wildberries")
        .expect("the WB adapter is built in");
    for memory_mb in [64, 256] {
        let dir = stock_tracker_tests::TempDir::new("st-wb-memory");
        let config = stock_tracker::plugins::PluginConfig { plugin_memory_mb: memory_mb, ..Default::default() };
        let rt = Arc::new(
            stock_tracker::plugins::runtime::Runtime::new(config, &dir.0.join("cache"), Arc::default()).unwrap(),
        );
        let wb = rt.load(wb_component.to_vec(), Manifest::parse(wb_manifest).unwrap()).await.unwrap();
        assert_eq!(wb.summary().memory_limit_bytes, memory_mb << 20);
        let capped = rt.load(component("fixture-misbehaving", &[]), Manifest::parse(&manifest("misbehaving")).unwrap());
        assert_eq!(capped.await.unwrap().summary().memory_limit_bytes, 16 << 20, "its manifest's 16 MiB");
    }
}
