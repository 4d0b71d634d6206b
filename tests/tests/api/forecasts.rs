//! Forecasts, the restock plan, incidents and their settings through the API, on both backends:
//! stock history written into the database as syncs write it gives exactly the offline
//! command's figures for the spec's worked examples; settings and overrides refuse bad input;
//! and ten days of syncs against the fake marketplace, played with a test clock, give exactly
//! the incidents and notifications the alerting spec says (quiet hours, escalation, repeat,
//! inhibition, resolve, the daily digest).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use fake_wildberries::FakeConfig;
use stock_tracker::forecast::offline::{ForecastArgs, evaluate, read_history};
use stock_tracker::on_pool;
use stock_tracker::store::products::NewProduct;
use stock_tracker::store::stocks::ObservedStock;
use stock_tracker_tests::Backend;
use stock_tracker_tests::fake_telegram::FakeTelegram;
use stock_tracker_tests::webhook_receiver::{Receiver, verify};

use super::*;

const MSK: chrono_tz::Tz = chrono_tz::Europe::Moscow;

/// The close of a Moscow day: the midnight after it.
fn close(date: NaiveDate) -> DateTime<Utc> {
    MSK.from_local_datetime(&date.succ_opt().unwrap().and_hms_opt(0, 0, 0).unwrap()).unwrap().with_timezone(&Utc)
}

/// `levels[i]` at the close of 31 October + i days.
fn daily(sku: &str, warehouse: &str, levels: &[i64]) -> Vec<(String, String, DateTime<Utc>, i64)> {
    let start = NaiveDate::from_ymd_opt(2026, 10, 31).unwrap();
    levels
        .iter()
        .enumerate()
        .map(|(i, q)| (sku.to_owned(), warehouse.to_owned(), close(start + chrono::Duration::days(i as i64)), *q))
        .collect()
}

/// Stock that falls by `sold(i)` on day i (1 November + i) from `start`.
fn levels(start: i64, sold: impl Fn(usize) -> i64) -> Vec<i64> {
    let mut q = start;
    let mut out = vec![q];
    for i in 0..28 {
        q -= sold(i);
        out.push(q);
    }
    out
}

/// Writes snapshots as syncs write them: per instant, one run's levels, then its observation.
/// Returns the product ids by SKU.
async fn write_history(
    app: &TestApp,
    t: &TestTenant,
    connection_id: Uuid,
    rows: &[(String, String, DateTime<Utc>, i64)],
) -> HashMap<String, Uuid> {
    let store = &app.app.store;
    let mut skus: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    skus.sort_unstable();
    skus.dedup();
    let products: Vec<NewProduct> =
        skus.iter().map(|sku| NewProduct::named(*sku, format!("mp-{sku}"), format!("Product {sku}"))).collect();
    let ids: HashMap<String, Uuid> =
        store.upsert_products(t.tenant_id, connection_id, &products).await.unwrap().into_iter().collect();
    let mut by_instant: BTreeMap<DateTime<Utc>, Vec<ObservedStock>> = BTreeMap::new();
    for (sku, warehouse, at, q) in rows {
        by_instant.entry(*at).or_default().push(ObservedStock::marketplace(ids[sku], warehouse, *q));
    }
    for (at, observed) in by_instant {
        let run = Uuid::now_v7();
        store.record_stock_levels(t.tenant_id, &observed, Some(run)).await.unwrap();
        store.record_observation(t.tenant_id, connection_id, run, at, true).await.unwrap();
    }
    ids
}

async fn evaluate_at(app: &TestApp, t: &TestTenant, connection_id: Uuid, at: DateTime<Utc>) {
    let c = app.app.store.connection(t.tenant_id, connection_id).await.unwrap();
    stock_tracker::forecast::service::evaluate_connection(&app.app, &c, at).await.unwrap();
}

/// The offline command's evaluation of the same history (CSV through the same reader).
fn offline(
    rows: &[(String, String, DateTime<Utc>, i64)],
    pipeline: &HashMap<&str, i64>,
    as_of: NaiveDate,
) -> Vec<Value> {
    let dir = stock_tracker_tests::TempDir::new("st-forecast");
    let path = dir.0.join("history.csv");
    let mut csv = String::from("sku,warehouse,observed_at,available,in_transit_inbound,complete\n");
    for (sku, warehouse, at, q) in rows {
        let inbound = pipeline.get(sku.as_str()).copied().unwrap_or(0);
        csv.push_str(&format!("\"{sku}\",{warehouse},{},{q},{inbound},true\n", at.to_rfc3339()));
    }
    std::fs::write(&path, csv).unwrap();
    let args = ForecastArgs {
        history: path.clone(),
        as_of,
        lead_time_days: 7.0,
        warning_buffer_days: 7.0,
        target_cover_days: 28.0,
        service_z: 1.645,
        pack: 1,
        moq: 0,
        pipeline: None,
        ads: None,
        timezone: "Europe/Moscow".into(),
        alerts: false,
    };
    let series = read_history(&path, MSK).unwrap();
    evaluate(&series, &args, MSK).unwrap().into_iter().map(|(sku, w, c)| c.to_json(&sku, &w)).collect()
}

const FIELDS: [&str; 19] = [
    "as_of",
    "ads",
    "ads_window_days",
    "confidence",
    "exposure_days",
    "sales_in_window",
    "sigma_daily",
    "lost_units_est",
    "available",
    "pipeline",
    "cover_days",
    "cover_days_total",
    "stockout_date",
    "ship_by",
    "rop",
    "reorder",
    "suggested_qty",
    "status",
    "level",
];

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap()
}

both_backends! {
    async fn worked_examples_give_the_offline_figures(app) {
        let t = app.register("forecast@example.com").await;
        let connection_id = app.create_connection(&t, "WB", "forecast-token").await;
        // 10 units on 6 of 28 in-stock days, 5 left; and 1 a day for 14 days, then 14 days out.
        let slow = levels(15, |i| match i {
            2 | 7 | 11 | 16 => 2,
            20 | 25 => 1,
            _ => 0,
        });
        let out = levels(14, |i| i64::from(i < 14));
        let mut rows = daily("SLOW", "Коледино", &slow);
        rows.extend(daily("OUT,1", "Казань", &out));
        let ids = write_history(&app, &t, connection_id, &rows).await;
        // 10 units the seller has shipped to Kazan (the CLI reads them as the last row's inbound).
        let res = app.call(Method::PUT, "/api/v1/forecast-overrides", Some(&t.access_token),
            Some(json!({ "product_id": ids["OUT,1"], "warehouse": "Казань", "in_transit": 10 }))).await;
        assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
        let as_of = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
        evaluate_at(&app, &t, connection_id, close(as_of)).await;
        // Read an hour later (the default interval is 30 minutes: fresh until an hour has passed).
        app.app.clock.set(close(as_of) + chrono::Duration::minutes(59));

        let items = collect_pages(&app, &t.access_token, "/api/v1/forecasts").await;
        assert_eq!(items.len(), 2);
        let (o, s) = (&items[0], &items[1]);
        assert_eq!((o["sku"].as_str(), s["sku"].as_str()), (Some("OUT,1"), Some("SLOW")), "soonest ship-by first");
        // The spec's figures: per in-stock day, not per selling day nor per calendar day.
        assert!((f(&s["ads"]) - 10.0 / 28.0).abs() < 1e-12, "{s}");
        assert!((f(&s["cover_days"]) - 14.0).abs() < 1e-9);
        assert_eq!((s["stockout_date"].as_str(), s["ship_by"].as_str()), (Some("2026-12-12"), Some("2026-12-05")));
        assert_eq!((s["status"].as_str(), s["level"].as_str(), s["confidence"].as_str()), (Some("ok"), Some("warning"), Some("high")));
        assert!((f(&o["ads"]) - 14.0 / 13.5).abs() < 1e-12, "{o}");
        assert_eq!((o["status"].as_str(), o["level"].as_str(), o["pipeline"].as_i64()), (Some("oos"), Some("oos"), Some(10)));
        assert_eq!((o["marketplace"].as_str(), o["warehouse"].as_str()), (Some("wildberries"), Some("Казань")));
        // Exactly the offline engine's figures for the same history.
        let cli = offline(&rows, &HashMap::from([("OUT,1", 10)]), as_of);
        let cli: HashMap<&str, &Value> = cli.iter().map(|c| (c["sku"].as_str().unwrap(), c)).collect();
        for item in &items {
            let c = cli[item["sku"].as_str().unwrap()];
            for field in FIELDS {
                assert_eq!(item[field], c[field], "{field} of {}", item["sku"]);
            }
        }

        // No complete sync for more than twice the interval: stale, whatever it said.
        app.app.clock.set(close(as_of) + chrono::Duration::minutes(61));
        let stale = app.get("/api/v1/forecasts", &t.access_token).await;
        assert_eq!((stale.body["items"][1]["status"].as_str(), stale.body["items"][1]["level"].as_str()), (Some("stale"), Some("warning")));
        app.app.clock.set(close(as_of));

        // Filters, and what is refused.
        let oos = app.get("/api/v1/forecasts?level=oos", &t.access_token).await;
        assert_eq!(oos.body["items"].as_array().unwrap().len(), 1);
        let ok = app.get(&format!("/api/v1/forecasts?status=ok&product_id={}", ids["SLOW"]), &t.access_token).await;
        assert_eq!(ok.body["items"][0]["sku"], "SLOW");
        let page = app.get("/api/v1/forecasts?limit=1", &t.access_token).await;
        assert_eq!(page.body["items"][0]["sku"], "OUT,1");
        let next = app.get(&format!("/api/v1/forecasts?limit=1&cursor={}", page.body["next_cursor"].as_str().unwrap()), &t.access_token).await;
        assert_eq!(next.body["items"][0]["sku"], "SLOW");
        for bad in ["level=bad", "status=stale", "limit=0", "cursor=xyz"] {
            let res = app.get(&format!("/api/v1/forecasts?{bad}"), &t.access_token).await;
            assert!(res.status.is_client_error(), "{bad}: {:?}", res.body);
        }
        // Another tenant sees none of it.
        let other = app.register("other-forecast@example.com").await;
        assert_eq!(app.get("/api/v1/forecasts", &other.access_token).await.body["items"], json!([]));

        // The restock plan of SLOW: one warehouse, so all the stock goes there up to its need.
        let plan = app.get(&format!("/api/v1/restock-plan?product_id={}&seller_stock=5", ids["SLOW"]), &t.access_token).await;
        assert_eq!(plan.status, StatusCode::OK, "{:?}", plan.body);
        let need = s["suggested_qty"].as_u64().unwrap();
        assert_eq!(plan.body["items"][0]["need"], need);
        assert_eq!(plan.body["allocated"], 5u64.min(need));
        let missing = app.get(&format!("/api/v1/restock-plan?product_id={}&seller_stock=5", Uuid::now_v7()), &t.access_token).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        let foreign = app.get(&format!("/api/v1/restock-plan?product_id={}&seller_stock=5", ids["SLOW"]), &other.access_token).await;
        assert_eq!(foreign.status, StatusCode::NOT_FOUND, "another tenant's product is not found");
        let negative = app.get(&format!("/api/v1/restock-plan?product_id={}&seller_stock=-1", ids["SLOW"]), &t.access_token).await;
        assert_field(&negative.body, "seller_stock");

        // Observations older than 120 days are pruned; younger ones stay.
        let sql = "SELECT COUNT(*) FROM stock_observation";
        let count = on_pool!(app.app.store.pool(), p => sqlx::query_scalar::<_, i64>(sql).fetch_one(p).await.unwrap());
        assert_eq!(count, 29, "one per day written");
        app.app.store.prune_history(close(as_of) + chrono::Duration::days(90)).await.unwrap();
        assert_eq!(on_pool!(app.app.store.pool(), p => sqlx::query_scalar::<_, i64>(sql).fetch_one(p).await.unwrap()), 29);
        app.app.store.prune_history(close(as_of) + chrono::Duration::days(121)).await.unwrap();
        assert_eq!(on_pool!(app.app.store.pool(), p => sqlx::query_scalar::<_, i64>(sql).fetch_one(p).await.unwrap()), 0);
    }

    async fn transfers_write_offs_and_gaps_are_not_sales(app) {
        let t = app.register("classify@example.com").await;
        let connection_id = app.create_connection(&t, "WB", "classify-token").await;
        // A sells 1 a day from 100; 25 are written off on 12 Nov at noon and 10 move from A to
        // B on 15 Nov (A at noon, B at 14:00); the syncs of 6 to 8 Nov failed (a 4-day gap).
        let date0 = NaiveDate::from_ymd_opt(2026, 10, 31).unwrap();
        let noon = |d: i64, h: u32| {
            MSK.from_local_datetime(&(date0 + chrono::Duration::days(d)).and_hms_opt(h, 0, 0).unwrap()).unwrap().with_timezone(&Utc)
        };
        let a = |d: i64| 100 - d - if d >= 12 { 25 } else { 0 } - if d >= 15 { 10 } else { 0 };
        let mut rows = Vec::new();
        for d in (0..=20).filter(|d| !(6..=8).contains(d)) {
            let at = close(date0 + chrono::Duration::days(d));
            rows.push(("T".to_owned(), "A".to_owned(), at, a(d)));
            rows.push(("T".to_owned(), "B".to_owned(), at, if d >= 15 { 15 } else { 5 }));
        }
        rows.push(("T".into(), "A".into(), noon(12, 12), 100 - 11 - 25));
        rows.push(("T".into(), "A".into(), noon(15, 12), 100 - 14 - 25 - 10));
        rows.push(("T".into(), "B".into(), noon(15, 14), 15));
        write_history(&app, &t, connection_id, &rows).await;
        let as_of = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        evaluate_at(&app, &t, connection_id, close(as_of)).await;
        app.app.clock.set(close(as_of));
        let items = collect_pages(&app, &t.access_token, "/api/v1/forecasts?warehouse=A").await;
        let a_row = &items[0];
        // 16 observed days, 16 units sold: neither the write-off nor the transfer is a sale.
        assert_eq!((a_row["sales_in_window"].as_f64(), a_row["exposure_days"].as_f64(), a_row["ads"].as_f64()), (Some(16.0), Some(16.0), Some(1.0)), "{a_row}");
        let b_row = &collect_pages(&app, &t.access_token, "/api/v1/forecasts?warehouse=B").await[0];
        assert_eq!((b_row["status"].as_str(), b_row["sales_in_window"].as_f64()), (Some("no_sales"), Some(0.0)), "{b_row}");
        let cli = offline(&rows, &HashMap::new(), as_of);
        for (item, c) in [(a_row, &cli[0]), (b_row, &cli[1])] {
            for field in FIELDS {
                assert_eq!(item[field], c[field], "{field} of {}", c["warehouse"]);
            }
        }
    }

    async fn a_sku_out_everywhere_is_told_once_per_warehouse_and_not_as_cover(app) {
        let t = app.register("everywhere@example.com").await;
        let connection_id = app.create_connection(&t, "WB", "everywhere-token").await;
        // Z sells 1 a day in A and in B from 30: 3 left in both on 27 November (critical: met
        // once), none on the 28th (critical confirmed; out of stock met once), none the day after
        // (out of stock confirmed). The SKU being out everywhere silences `stock_cover` before
        // `oos` confirms.
        let out = levels(30, |i| if i < 27 { 1 } else { 3 });
        let mut rows = daily("Z", "A", &out);
        rows.extend(daily("Z", "B", &out));
        write_history(&app, &t, connection_id, &rows).await;
        for day in [27, 28, 29] {
            evaluate_at(&app, &t, connection_id, close(NaiveDate::from_ymd_opt(2026, 11, day).unwrap())).await;
        }
        let events = collect_pages(&app, &t.access_token, "/api/v1/events?limit=500").await;
        let told: Vec<(String, String, String, String)> = events
            .iter()
            .filter(|e| e["type"].as_str().unwrap().starts_with("stock.forecast."))
            .map(|e| {
                let d = &e["data"];
                let s = |k: &str| d[k].as_str().unwrap_or("-").to_owned();
                (s("warehouse"), s("rule"), s("notification"), s("suppressed_by"))
            })
            .collect();
        let e = |w: &str, r: &str, n: &str, s: &str| (w.to_owned(), r.to_owned(), n.to_owned(), s.to_owned());
        assert_eq!(told, vec![
            e("A", "stock_cover", "none", "inhibited"),
            e("B", "stock_cover", "none", "inhibited"),
            e("A", "oos", "push", "-"),
            e("B", "oos", "push", "-"),
        ]);
    }

    async fn pushes_within_the_group_interval_wait_and_go_out_together(app) {
        let (app, bot) = super::telegram::with_bot(app).await;
        let app = app.replace(|c| c.telegram.telegram_group_interval_secs = 5).await;
        let t = app.register("grouped@example.com").await;
        let chat = 7101;
        super::telegram::link(&app, &bot, &t, chat, Some("en")).await;
        let connection_id = app.create_connection(&t, "WB", "grouped-token").await;
        // P runs low (critical on the 27th and 28th); Q and R have plenty, then drop to 1 on the
        // 29th and 30th.
        let mut rows = daily("P", "W", &levels(30, |_| 1));
        rows.extend(daily("Q", "W", &levels(60, |_| 1)));
        rows.extend(daily("R", "W", &levels(60, |_| 1)));
        write_history(&app, &t, connection_id, &rows).await;
        let day = |d: u32| close(NaiveDate::from_ymd_opt(2026, 11, d).unwrap());
        for d in [27, 28] {
            app.app.clock.set(day(d));
            evaluate_at(&app, &t, connection_id, day(d)).await;
        }
        let first = super::telegram::wait_for_messages(&bot, chat, 2).await;
        let told = Instant::now();
        assert!(first[1].contains("(SKU P)") && !first[1].contains("(SKU Q)"), "{first:#?}");
        let later: Vec<(String, String, DateTime<Utc>, i64)> = ["Q", "R"]
            .iter()
            .flat_map(|sku| [(sku.to_string(), "W".to_owned(), day(29), 1), (sku.to_string(), "W".to_owned(), day(30), 1)])
            .collect();
        write_history(&app, &t, connection_id, &later).await;
        for d in [29, 30] {
            app.app.clock.set(day(d));
            evaluate_at(&app, &t, connection_id, day(d)).await;
        }
        // Q and R opened within the interval: they wait for its end, then go out in one message.
        // (Measured from when P's message arrived, which is a little after the interval started.)
        tokio::time::sleep(Duration::from_millis(2500).saturating_sub(told.elapsed())).await;
        assert_eq!(bot.sent_to(chat).len(), 2, "nothing before the interval ends");
        let all = super::telegram::wait_for_messages(&bot, chat, 3).await;
        assert!(told.elapsed() >= Duration::from_millis(3000), "{:?}", told.elapsed());
        assert!(all[2].contains("(SKU Q)") && all[2].contains("(SKU R)"), "{all:#?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(bot.sent_to(chat).len(), 3, "one message for both");
    }

    async fn settings_and_overrides_are_checked_and_kept_apart(app) {
        let t = app.register("plan@example.com").await;
        let connection_id = app.create_connection(&t, "WB", "plan-token").await;
        let start = close(NaiveDate::from_ymd_opt(2026, 11, 1).unwrap());
        let ids = write_history(&app, &t, connection_id, &[("A".into(), "W".into(), start, 5)]).await;
        let defaults = app.get("/api/v1/forecast-settings", &t.access_token).await;
        assert_eq!(defaults.body, json!({
            "lead_time_days": 7.0, "warning_buffer_days": 7.0, "target_cover_days": 28.0, "service_z": 1.645,
            "quiet_from": 22, "quiet_to": 9, "urgent_bypass_quiet": true, "digest_hour": 9,
        }));
        let good = json!({
            "lead_time_days": 5.0, "warning_buffer_days": 3.0, "target_cover_days": 21.0, "service_z": 1.28,
            "quiet_from": null, "quiet_to": null, "urgent_bypass_quiet": false, "digest_hour": 8,
        });
        let put = |body: Value| {
            let (app, token) = (&app, t.access_token.clone());
            async move { app.call(Method::PUT, "/api/v1/forecast-settings", Some(&token), Some(body)).await }
        };
        for (field, value) in [("lead_time_days", json!(0)), ("lead_time_days", json!(400)), ("service_z", json!(-1)),
            ("target_cover_days", json!(0.5)), ("digest_hour", json!(24)), ("quiet_to", json!(7))] {
            let mut body = good.clone();
            body[field] = value;
            let res = put(body).await;
            assert!(res.status.is_client_error(), "{field}: {:?}", res.body);
            assert_field(&res.body, field);
        }
        let mut unknown = good.clone();
        unknown["surprise"] = json!(1);
        assert!(put(unknown).await.status.is_client_error());
        let res = put(good.clone()).await;
        assert_eq!((res.status, &res.body), (StatusCode::OK, &good));
        assert_eq!(app.get("/api/v1/forecast-settings", &t.access_token).await.body, good);
        // A member may read, not change.
        let member = app.join(&t, "member-plan@example.com", "member").await;
        assert_eq!(app.get("/api/v1/forecast-settings", &member.access_token).await.status, StatusCode::OK);
        let res = app.call(Method::PUT, "/api/v1/forecast-settings", Some(&member.access_token), Some(good.clone())).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN);

        // Overrides of one level.
        let path = format!("/api/v1/forecast-overrides?product_id={}&warehouse=W", ids["A"]);
        let none = app.get(&path, &t.access_token).await;
        assert_eq!((none.body["pack_size"].clone(), none.body["muted_until"].clone()), (Value::Null, Value::Null));
        let body = json!({ "product_id": ids["A"], "warehouse": "W", "lead_time_days": 3.5, "pack_size": 12,
            "moq": 24, "in_transit": 40, "muted_until": "2026-12-01T00:00:00Z" });
        let res = app.call(Method::PUT, "/api/v1/forecast-overrides", Some(&t.access_token), Some(body.clone())).await;
        assert_eq!((res.status, &res.body), (StatusCode::OK, &body));
        assert_eq!(app.get(&path, &t.access_token).await.body, body);
        for (field, value) in [("pack_size", json!(0)), ("moq", json!(-1)), ("in_transit", json!(20_000_000)), ("lead_time_days", json!(0))] {
            let mut bad = body.clone();
            bad[field] = value;
            let res = app.call(Method::PUT, "/api/v1/forecast-overrides", Some(&t.access_token), Some(bad)).await;
            assert_field(&res.body, field);
        }
        // Unknown levels, and another tenant's, are not found; members cannot change them.
        let other = app.register("other-plan@example.com").await;
        assert_eq!(app.get(&path, &other.access_token).await.status, StatusCode::NOT_FOUND);
        let res = app.call(Method::PUT, "/api/v1/forecast-overrides", Some(&other.access_token), Some(body.clone())).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND);
        let elsewhere = format!("/api/v1/forecast-overrides?product_id={}&warehouse=Nowhere", ids["A"]);
        assert_eq!(app.get(&elsewhere, &t.access_token).await.status, StatusCode::NOT_FOUND);
        let res = app.call(Method::PUT, "/api/v1/forecast-overrides", Some(&member.access_token), Some(body.clone())).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN);
        // All null: back to the tenant's.
        let cleared = json!({ "product_id": ids["A"], "warehouse": "W", "lead_time_days": null, "pack_size": null,
            "moq": null, "in_transit": null, "muted_until": null });
        let res = app.call(Method::PUT, "/api/v1/forecast-overrides", Some(&t.access_token), Some(cleared.clone())).await;
        assert_eq!(res.body, cleared);
    }
}

/// Ten days of syncs, four a day (03:00, 09:00, 15:00, 21:00 Moscow), of one product in one
/// warehouse selling 2 units a sync (8 a day) from 70, out of stock after sync 35, restocked to
/// 100 at sync 38; L 2 days, B 2 days (warning at ≤ 4 days of cover, critical at ≤ 2).
async fn a_week_of_syncs_gives_exactly_the_specified_alerts(backend: Backend) {
    let config = FakeConfig {
        products: 1,
        warehouses: 1,
        seller_warehouses: 0,
        selling_products: 0,
        multi_size_every: 0,
        ..FakeConfig::default()
    };
    let Some(app) = TestApp::try_with_fake(backend, config).await else { return };
    let (app, bot): (TestApp, FakeTelegram) = super::telegram::with_bot(app).await;
    let app = app
        .replace(|c| {
            c.webhooks.webhook_allow_private = true;
            // Pushes here are a sync apart in simulated time but a second apart in real time.
            c.telegram.telegram_group_interval_secs = 0;
        })
        .await;
    let t = app.register("week@example.com").await;
    let receiver = Receiver::start().await;
    let types = [
        "stock.forecast.opened",
        "stock.forecast.escalated",
        "stock.forecast.repeated",
        "stock.forecast.deescalated",
        "stock.forecast.resolved",
        "stock.forecast.digest",
    ];
    let res = app
        .post("/api/v1/webhooks", Some(&t.access_token), json!({ "url": receiver.url("/stock"), "events": types }))
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{:?}", res.body);
    let secret = res.body["secret"].as_str().unwrap().to_owned();
    let chat = 7001;
    super::telegram::link(&app, &bot, &t, chat, Some("ru")).await;
    let settings = json!({ "lead_time_days": 2.0, "warning_buffer_days": 2.0, "target_cover_days": 14.0,
        "service_z": 1.645, "quiet_from": 22, "quiet_to": 9, "urgent_bypass_quiet": true, "digest_hour": 9 });
    let res = app.call(Method::PUT, "/api/v1/forecast-settings", Some(&t.access_token), Some(settings)).await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
    let connection_id = app.create_connection(&t, "WB", "week-token").await;
    let (sku, warehouse) = {
        let catalogue = app.fake.catalogue();
        (catalogue.stocks[0].sku(), catalogue.stocks[0].warehouse.clone())
    };

    let first_day = NaiveDate::from_ymd_opt(2026, 11, 2).unwrap();
    let mut told = 0;
    for n in 0..42usize {
        let at = MSK
            .from_local_datetime(
                &(first_day + chrono::Duration::days((n / 4) as i64)).and_hms_opt([3, 9, 15, 21][n % 4], 0, 0).unwrap(),
            )
            .unwrap()
            .with_timezone(&Utc);
        app.app.clock.set(at);
        let quantity = if n >= 38 { 100 } else { (70 - 2 * n as i64).max(0) };
        app.fake.set_quantity(&sku, &warehouse, quantity);
        let run = sync_once(&app, &t, connection_id).await;
        assert_eq!(run["status"], "succeeded", "sync {n}: {run:?}");
        if n % 4 == 1 {
            stock_tracker::forecast::digest::send_due(&app.app).await.unwrap();
        }
        // Wait for what this step told the chat before the next, so messages keep their order.
        told = wait_for_forecast_messages(&bot, chat, told + step_messages(n)).await;
    }

    // The events, in order: (type, rule, level, notification, suppressed_by, incident number).
    let events = collect_pages(&app, &t.access_token, "/api/v1/events?limit=500").await;
    let forecast: Vec<(String, String, String, String, String, String)> = events
        .iter()
        .filter(|e| e["type"].as_str().unwrap().starts_with("stock.forecast."))
        .map(|e| {
            let d = &e["data"];
            let s = |k: &str| d[k].as_str().unwrap_or("-").to_owned();
            let seq = s("incident_id").rsplit('#').next().unwrap_or("-").to_owned();
            (
                e["type"].as_str().unwrap().trim_start_matches("stock.forecast.").to_owned(),
                s("rule"),
                s("level"),
                s("notification"),
                s("suppressed_by"),
                seq,
            )
        })
        .collect();
    let e = |t: &str, r: &str, l: &str, n: &str, s: &str, q: &str| {
        (t.into(), r.into(), l.into(), n.into(), s.into(), q.into())
    };
    let digest = || e("digest", "-", "-", "-", "-", "-");
    assert_eq!(
        forecast,
        vec![
            // Sync 19 (day 5, 21:00) meets the warning: pending. Sync 20 (day 6, 03:00) confirms it in
            // quiet hours: to the digest.
            e("opened", "stock_cover", "warning", "digest", "quiet_hours", "1"),
            digest(), // day 6, 09:00
            digest(), // day 7
            // Sync 27 (day 7, 21:00) meets critical: pending; sync 28 (day 8, 03:00) escalates,
            // pushed in quiet hours (urgent).
            e("escalated", "stock_cover", "critical", "push", "-", "1"),
            digest(),                                                   // day 8
            e("repeated", "stock_cover", "critical", "push", "-", "1"), // sync 32, 24 h on
            digest(),                                                   // day 9
            // Sync 35 (day 9, 21:00) reads zero: pending; sync 36 opens `oos`, which inhibits the
            // `stock_cover` repeat due then (no event).
            e("opened", "oos", "oos", "push", "-", "1"),
            digest(), // day 10
            // Sync 38 (day 10, 15:00): 100 arrive; both resolve, both had reached critical: pushed.
            e("resolved", "oos", "ok", "push", "-", "1"),
            e("resolved", "stock_cover", "ok", "push", "-", "1"),
            digest(), // day 11
        ]
    );
    let digests: Vec<&Value> =
        events.iter().filter(|e| e["type"] == "stock.forecast.digest").map(|e| &e["data"]).collect();
    assert_eq!(digests[0]["open"], json!({ "oos": 0, "critical": 0, "warning": 1 }));
    assert_eq!(digests[0]["deferred"][0]["level"], "warning", "the warning opened overnight");
    assert_eq!(digests[4]["open"], json!({ "oos": 1, "critical": 1, "warning": 0 }));
    assert_eq!(digests[5]["resolved"].as_array().unwrap().len(), 2);
    assert_eq!(digests[5]["open"], json!({ "oos": 0, "critical": 0, "warning": 0 }));

    // The chat heard the pushes and the digests, in Russian, nothing else of forecasting.
    let messages = forecast_messages(&bot.sent_to(chat));
    let heads: Vec<&str> = messages.iter().map(|m| m.lines().nth(1).unwrap_or_default()).collect();
    assert_eq!(messages.len(), 10, "{messages:#?}");
    assert!(messages[0].contains("сводка за день") && messages[0].contains("Отложено ночью:"), "{}", messages[0]);
    assert!(heads[2].starts_with("🔴 Критично · WB · "), "{heads:?}");
    assert!(
        messages[2].contains("Рекомендуем отгрузить") && messages[2].contains("#inc 1 · stock_cover"),
        "{}",
        messages[2]
    );
    assert!(heads[4].starts_with("🔴 Критично"), "the repeat: {heads:?}");
    assert!(heads[6].starts_with("⛔ Нет в наличии"), "{heads:?}");
    assert!(messages[8].contains("✅ Решено") && messages[8].matches("#inc 1").count() == 2, "{}", messages[8]);
    assert!(messages[9].contains("Решено:"), "{}", messages[9]);

    // The webhook got every one of them, signed.
    let start = Instant::now();
    while receiver.count() < forecast.len() {
        assert!(start.elapsed() < Duration::from_secs(30), "{} of {} deliveries", receiver.count(), forecast.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut delivered: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| {
            verify(&secret, r).unwrap();
            serde_json::from_str::<Value>(&r.body).unwrap()["type"].as_str().unwrap().to_owned()
        })
        .collect();
    let mut recorded: Vec<String> = forecast.iter().map(|e| format!("stock.forecast.{}", e.0)).collect();
    delivered.sort();
    recorded.sort();
    assert_eq!(delivered, recorded);

    // Both incidents, resolved, through the API.
    let all = collect_pages(&app, &t.access_token, "/api/v1/incidents?state=all").await;
    assert_eq!(all.len(), 2, "{all:?}");
    for i in &all {
        assert_eq!((i["level"].as_str(), i["seq"].as_i64()), (Some("ok"), Some(1)));
        assert!(
            i["incident_id"]
                .as_str()
                .unwrap()
                .ends_with(&format!(":{sku}:{warehouse}:{}#1", i["rule"].as_str().unwrap()))
        );
    }
    assert_eq!(app.get("/api/v1/incidents", &t.access_token).await.body["items"], json!([]), "none open");
    let max: Vec<&str> = all.iter().map(|i| i["max_level"].as_str().unwrap()).collect();
    assert!(max.contains(&"oos") && max.contains(&"critical"), "{max:?}");
}

/// Forecast messages a step sends: digests at 09:00 from day 6 on, and the pushes.
fn step_messages(n: usize) -> usize {
    let digest = usize::from(n % 4 == 1 && n >= 21);
    let push = usize::from(matches!(n, 28 | 32 | 36 | 38));
    digest + push
}

/// The chat's messages about forecasts (incident items and digests), in order.
fn forecast_messages(sent: &[String]) -> Vec<String> {
    sent.iter().filter(|m| m.contains("#inc ") || m.contains("сводка за день")).cloned().collect()
}

async fn wait_for_forecast_messages(bot: &FakeTelegram, chat: i64, n: usize) -> usize {
    let start = Instant::now();
    loop {
        let got = forecast_messages(&bot.sent_to(chat));
        if got.len() >= n {
            assert_eq!(got.len(), n, "more forecast messages than expected: {got:#?}");
            return n;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{} of {n} forecast messages: {got:#?}", got.len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_week_of_syncs_gives_exactly_the_specified_alerts_sqlite() {
    a_week_of_syncs_gives_exactly_the_specified_alerts(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_week_of_syncs_gives_exactly_the_specified_alerts_postgres() {
    a_week_of_syncs_gives_exactly_the_specified_alerts(Backend::Postgres).await;
}
