//! `/api/v1/stocks`: low, out and warehouse filters, and keyset pages.

use super::*;

both_backends! {
    async fn filters_match_the_seeded_quantities(app) {
        let t = app.register("stocks@example.com").await;
        let warehouses = ["Коледино", "Подольск", "Казань"];
        seed_catalogue(&app, &t, 30, &warehouses).await;
        // seed_catalogue puts (i*7 + w*3) % 20 in warehouse w of product i; the threshold is 5.
        let qty = |i: usize, w: usize| ((i * 7 + w * 3) % 20) as i64;
        let all: Vec<(usize, usize)> = (0..30).flat_map(|i| (0..3).map(move |w| (i, w))).collect();
        let token = &t.access_token;

        let everything = collect_pages(&app, token, "/api/v1/stocks?limit=7").await;
        assert_eq!(everything.len(), 90);
        let mut keys: Vec<(String, String)> = everything.iter()
            .map(|s| (s["product_id"].as_str().unwrap().to_owned(), s["warehouse"].as_str().unwrap().to_owned())).collect();
        let in_order = keys.clone();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 90, "no row twice");
        assert_eq!(in_order, keys, "stable (product, warehouse) order");

        let low = collect_pages(&app, token, "/api/v1/stocks?low=true&limit=4").await;
        assert_eq!(low.len(), all.iter().filter(|(i, w)| qty(*i, *w) <= 5).count());
        assert!(low.iter().all(|s| s["available"].as_i64().unwrap() <= s["low_stock_threshold"].as_i64().unwrap()));

        let out = collect_pages(&app, token, "/api/v1/stocks?out=true").await;
        assert_eq!(out.len(), all.iter().filter(|(i, w)| qty(*i, *w) == 0).count());
        assert!(out.iter().all(|s| s["available"] == 0));

        let kazan = collect_pages(&app, token, "/api/v1/stocks?warehouse=%D0%9A%D0%B0%D0%B7%D0%B0%D0%BD%D1%8C").await;
        assert_eq!(kazan.len(), 30);
        assert!(kazan.iter().all(|s| s["warehouse"] == "Казань"));
        let kazan_low = collect_pages(&app, token, "/api/v1/stocks?warehouse=%D0%9A%D0%B0%D0%B7%D0%B0%D0%BD%D1%8C&low=true").await;
        assert_eq!(kazan_low.len(), (0..30).filter(|i| qty(*i, 2) <= 5).count());
        assert!(app.get("/api/v1/stocks?warehouse=Nowhere", token).await.body["items"].as_array().unwrap().is_empty());
    }
}

/// Tenants differ by orders of magnitude: a tenant's list is planned for its own parameters on
/// every run, never kept as a prepared statement that PostgreSQL would plan generically for the
/// average tenant after five runs (a deep low-stock page of a large tenant took ten times longer;
/// docs/BENCHMARKS.md, "List latency").
#[tokio::test]
async fn postgres_plans_a_tenants_list_for_that_tenant() {
    let Some(app) = TestApp::try_new(stock_tracker_tests::Backend::Postgres).await else { return };
    let t = app.register("plans@example.com").await;
    for _ in 0..6 {
        assert_eq!(app.get("/api/v1/stocks?low=true", &t.access_token).await.status, StatusCode::OK);
    }
    // What every open connection of the pool keeps prepared (each is held while it is read).
    let stock_tracker::store::Pool::Postgres(pool) = app.app.store.pool() else { panic!("a PostgreSQL app") };
    let (mut held, mut kept) = (Vec::new(), Vec::<String>::new());
    for _ in 0..pool.size() {
        let mut conn = pool.acquire().await.unwrap();
        let sql = "SELECT statement FROM pg_prepared_statements";
        kept.extend(sqlx::query_scalar::<_, String>(sql).fetch_all(&mut *conn).await.unwrap());
        held.push(conn);
    }
    assert!(kept.iter().any(|s| s.starts_with("INSERT INTO tenant")), "other statements stay prepared: {kept:?}");
    assert!(!kept.iter().any(|s| s.contains("FROM stock_level s JOIN product p")), "the list is not kept: {kept:?}");
}

/// A sync rewrites every level it sees (`updated_at` is when it was last observed). On
/// PostgreSQL each page of levels keeps room for its rows' next versions, so a rewrite moves no
/// row to another page: heap-only updates, which add no index entries (the indexes would
/// otherwise grow by an entry a level a sync until vacuumed, and the write take ~25 % longer:
/// docs/BENCHMARKS.md, "Sync"). Checked over two rewrites: the second reuses the room the first
/// one's old versions leave.
#[tokio::test]
async fn postgres_rewrites_levels_on_their_own_pages() {
    let Some(app) = TestApp::try_new(stock_tracker_tests::Backend::Postgres).await else { return };
    let t = app.register("pages@example.com").await;
    let (_, ids) = seed_catalogue(&app, &t, 500, &["Коледино", "Подольск", "Казань"]).await;
    let stock_tracker::store::Pool::Postgres(pool) = app.app.store.pool() else { panic!("a PostgreSQL app") };
    let pages = || async {
        let sql = "SELECT (ctid::text::point)[0]::bigint FROM stock_level WHERE tenant_id = $1 \
                   ORDER BY product_id, warehouse";
        sqlx::query_scalar::<_, i64>(sql).bind(t.tenant_id).fetch_all(pool).await.unwrap()
    };
    let before = pages().await;
    assert_eq!(before.len(), 1500);
    for round in 1..=2 {
        let observed: Vec<stock_tracker::store::stocks::ObservedStock> = ids
            .iter()
            .flat_map(|(_, id)| {
                ["Коледино", "Подольск", "Казань"].map(|w| stock_tracker::store::stocks::ObservedStock {
                    product_id: *id,
                    warehouse: w.to_owned(),
                    available: 1000 * round,
                    kind: stock_tracker::store::stocks::WarehouseKind::Marketplace,
                    warehouse_id: None,
                })
            })
            .collect();
        let changed = app.app.store.record_stock_levels(t.tenant_id, &observed, None).await.unwrap();
        assert_eq!(changed, 1500, "every level changed");
        let after = pages().await;
        let moved = before.iter().zip(&after).filter(|(b, a)| b != a).count();
        assert!(moved <= before.len() / 50, "rewrite {round}: {moved} of 1500 levels moved to another page");
    }
}
