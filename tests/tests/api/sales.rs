//! `GET /api/v1/sales`: daily totals by the tenant's day, from events stored idempotently.

use chrono::{TimeZone, Utc};
use stock_tracker::store::sales::{NewSale, SaleKind};

use super::*;

fn sale(
    id: &str,
    kind: SaleKind,
    product_id: Uuid,
    warehouse: Option<&str>,
    quantity: i64,
    at: (u32, u32, u32),
) -> NewSale {
    NewSale {
        event_id: id.to_owned(),
        kind,
        product_id,
        warehouse: warehouse.map(str::to_owned),
        quantity,
        price_minor: Some(150_000),
        occurred_at: Utc.with_ymd_and_hms(2026, 11, at.0, at.1, at.2, 0).unwrap(),
    }
}

/// `(date, sku, warehouse, orders, sales, returns, cancels)` of every row.
async fn totals(app: &TestApp, t: &TestTenant, query: &str) -> Vec<(String, String, Value, i64, i64, i64, i64)> {
    collect_pages(app, &t.access_token, &format!("/api/v1/sales?limit=2&{query}"))
        .await
        .iter()
        .map(|r| {
            let n = |k: &str| r[k].as_i64().unwrap();
            (
                r["date"].as_str().unwrap().to_owned(),
                r["sku"].as_str().unwrap().to_owned(),
                r["warehouse"].clone(),
                n("orders"),
                n("sales"),
                n("returns"),
                n("cancels"),
            )
        })
        .collect()
}

both_backends! {
    async fn daily_totals_follow_the_tenants_day_and_events_are_stored_once(app) {
        let t = app.register("sales@example.com").await;
        let (connection_id, products) = seed_catalogue(&app, &t, 2, &["Коледино"]).await;
        let (a, b) = (products[0].1, products[1].1);
        let events = [
            // 2026-11-10 in Moscow (UTC+3) from 21:00 UTC on the 9th.
            sale("o1", SaleKind::Order, a, Some("Коледино"), 1, (9, 21, 30)),
            sale("o2", SaleKind::Order, a, Some("Коледино"), 1, (10, 12, 0)),
            sale("o3", SaleKind::Order, a, Some("Подольск"), 1, (10, 13, 0)),
            sale("s1", SaleKind::Sale, a, Some("Коледино"), 1, (10, 20, 59)),
            sale("o1", SaleKind::Cancel, a, Some("Коледино"), 1, (10, 22, 0)), // the 11th in Moscow
            sale("r1", SaleKind::Return, b, None, 1, (11, 8, 0)),
            sale("o4", SaleKind::Order, b, None, 2, (11, 9, 0)),
        ];
        let store = &app.app.store;
        assert_eq!(store.record_sales(t.tenant_id, connection_id, &events).await.unwrap(), 7);
        let range = "from=2026-11-09&to=2026-11-12";
        let expected = vec![
            ("2026-11-10".to_owned(), "SKU-0000".to_owned(), json!("Коледино"), 2, 1, 0, 0),
            ("2026-11-10".into(), "SKU-0000".into(), json!("Подольск"), 1, 0, 0, 0),
            ("2026-11-11".into(), "SKU-0000".into(), json!("Коледино"), 0, 0, 0, 1),
            ("2026-11-11".into(), "SKU-0001".into(), Value::Null, 2, 0, 1, 0),
        ];
        let mut got = totals(&app, &t, range).await;
        got.sort_by(|x, y| (&x.0, &x.1, x.2.to_string()).cmp(&(&y.0, &y.1, y.2.to_string())));
        assert_eq!(got, expected);

        // The same events again (a second sync) change nothing; a corrected one replaces itself.
        store.record_sales(t.tenant_id, connection_id, &events).await.unwrap();
        assert_eq!(totals(&app, &t, range).await.len(), 4);
        let mut sorted = totals(&app, &t, range).await;
        sorted.sort_by(|x, y| (&x.0, &x.1, x.2.to_string()).cmp(&(&y.0, &y.1, y.2.to_string())));
        assert_eq!(sorted, expected);
        // Given twice in one page (a marketplace corrected a row within its answer), the later wins.
        let twice = [sale("o4", SaleKind::Order, b, None, 3, (11, 9, 0)), sale("o4", SaleKind::Order, b, None, 5, (11, 9, 0))];
        assert_eq!(store.record_sales(t.tenant_id, connection_id, &twice).await.unwrap(), 1);
        let b_only = totals(&app, &t, &format!("{range}&product_id={b}")).await;
        assert_eq!(b_only, [("2026-11-11".into(), "SKU-0001".into(), Value::Null, 5, 0, 1, 0)]);
        let kol = totals(&app, &t, &format!("{range}&warehouse=%D0%9A%D0%BE%D0%BB%D0%B5%D0%B4%D0%B8%D0%BD%D0%BE")).await;
        assert_eq!(kol.len(), 2);

        // In Yekaterinburg (UTC+5) the sale at 20:59 UTC falls on the next day too.
        app.call(Method::PATCH, "/api/v1/tenant", Some(&t.access_token), Some(json!({"timezone": "Asia/Yekaterinburg"}))).await;
        let shifted = totals(&app, &t, &format!("{range}&product_id={a}&warehouse=%D0%9A%D0%BE%D0%BB%D0%B5%D0%B4%D0%B8%D0%BD%D0%BE")).await;
        assert_eq!(shifted, [("2026-11-10".into(), "SKU-0000".into(), json!("Коледино"), 2, 0, 0, 0),
                             ("2026-11-11".into(), "SKU-0000".into(), json!("Коледино"), 0, 1, 0, 1)]);
        // One day only.
        assert_eq!(totals(&app, &t, "from=2026-11-12&to=2026-11-12").await, vec![]);

        // Bad ranges are refused; other tenants see nothing.
        for (query, field) in [("from=2026-11-12&to=2026-11-01", "from"), ("from=2025-01-01&to=2026-11-01", "to"),
                               ("from=yesterday", "from"), ("product_id=nope", "product_id")] {
            let res = app.get(&format!("/api/v1/sales?{query}"), &t.access_token).await;
            assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {:?}", res.body);
            assert_field(&res.body, field);
        }
        let other = app.register("sales-other@example.com").await;
        assert_eq!(totals(&app, &other, range).await, vec![]);
        assert_eq!(totals(&app, &other, &format!("{range}&product_id={a}")).await, vec![]);
    }
}
