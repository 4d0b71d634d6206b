//! Benchmark: an end-to-end sync of 100,000 stock rows (20,000 products × 5 warehouses) from the
//! fake Wildberries, through the real adapter component, on each backend (issue #3; target
//! ≤ 10 s), with a row-at-a-time write of the same rows beside it as the baseline.
//!
//! Measured per backend, in one run:
//! - the first sync through the API (`POST /connections/{id}/sync` until the run succeeds);
//! - a second sync with five quantities changed (the steady state);
//! - a third, unchanged, through WB's stock report (the adapter's default source; the first two
//!   use the legacy statistics listing, paged by 60,000 rows);
//! - writing the 100,000 observed rows again with the batched `record_stock_levels` (per chunk: read
//!   the previous quantities, upsert the levels, record the changes), and the baseline doing the
//!   same per row (a read, an `INSERT … ON CONFLICT` and a change record each, in the same
//!   per-page transactions); every row changes on both. The ratio is the figure (goal ≥ 10×).
//!   The pair runs twice: on the host as it is (idle but for this program), then with every core
//!   kept busy by lowest-priority loops ([`BusyCores`]): the baseline is 300,000 hand-offs
//!   between threads or processes, whose cost on a virtual machine depends on whether the
//!   woken CPU was idle (docs/BENCHMARKS.md, "Sync"). On SQLite, a third baseline runs the same
//!   statements on the benchmark's own thread through SQLite's C API: row-at-a-time without
//!   any hand-off, what is left of the gain when threads cost nothing to wake. On PostgreSQL,
//!   the batched write on the levels' pages as the migrations lay them out (half free for the
//!   rows' next versions) against the same table packed full; on SQLite, the batched write with
//!   the log checkpointed beside the writers (the store's task) against the writers doing it in
//!   their commits (SQLite's default).
//! - Every measured write starts from the store the syncs left: the change records of earlier
//!   measured writes are deleted and the tables compacted first, so no write runs on a longer
//!   history than another. Last, the pair once more on a grown history (1,000,000 change records
//!   written first): the batched write slows as the history grows, the baseline less.
//!
//! ```sh
//! TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p stock-tracker-tests --bench sync
//! ```

use std::time::{Duration, Instant};

use fake_wildberries::FakeConfig;
use libsqlite3_sys as ffi;
use serde_json::json;
use stock_tracker::on_pool;
use stock_tracker::store::stocks::ObservedStock;
use stock_tracker_tests::bench::BusyCores;
use stock_tracker_tests::{Backend, TestApp};
use uuid::Uuid;

stock_tracker::product_allocator!();

const PRODUCTS: usize = 20_000;
const WAREHOUSES: usize = 5;

async fn wait(app: &TestApp, token: &str, run_id: &str) -> serde_json::Value {
    stock_tracker_tests::bench::finished_run(app, token, run_id, Duration::from_millis(20)).await
}

fn s(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64())
}

async fn run(backend: Backend) {
    // WB's warehouses only, as the figures before WIT 0.2 were: no seller warehouse, no sales.
    let fake = FakeConfig {
        products: PRODUCTS,
        warehouses: WAREHOUSES,
        multi_size_every: 0,
        seller_warehouses: 0,
        selling_products: 0,
        ..FakeConfig::default()
    };
    let Some(app) = TestApp::try_with_fake(backend, fake).await else { return };
    let t = app.register("bench@example.com").await;
    let connection_id = app.create_connection(&t, "WB", "bench-token").await;
    let path = format!("/api/v1/connections/{connection_id}/sync");

    let start = Instant::now();
    let res = app.post(&path, Some(&t.access_token), json!({})).await;
    let first = wait(&app, &t.access_token, res.body["sync_run_id"].as_str().unwrap()).await;
    let first_took = start.elapsed();
    assert_eq!(first["status"], "succeeded", "{first:?}");
    assert_eq!(first["stocks_seen"], (PRODUCTS * WAREHOUSES) as i64);

    for i in 0..5 {
        app.fake.set_quantity(&format!("WB-{:06}", i * 1000), "Коледино", 1000 + i as i64);
    }
    let start = Instant::now();
    let res = app.post(&path, Some(&t.access_token), json!({})).await;
    let second = wait(&app, &t.access_token, res.body["sync_run_id"].as_str().unwrap()).await;
    let second_took = start.elapsed();
    assert_eq!(second["stock_changes"], 5);
    let wb_peak = || app.app.plugins.get("wildberries").unwrap().summary().memory_peak_bytes as f64 / 1048576.0;
    let statistics_peak = wb_peak();

    // The same catalogue through WB's stock report (the adapter's default source): one download
    // of every row instead of 60,000-row statistics pages.
    let patch = json!({ "settings": { "base_url": app.fake.base_url() } });
    let res = app
        .call(
            axum::http::Method::PATCH,
            &format!("/api/v1/connections/{connection_id}"),
            Some(&t.access_token),
            Some(patch),
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    let start = Instant::now();
    let res = app.post(&path, Some(&t.access_token), json!({})).await;
    let report = wait(&app, &t.access_token, res.body["sync_run_id"].as_str().unwrap()).await;
    let report_took = start.elapsed();
    assert_eq!(report["status"], "succeeded", "{report:?}");
    assert_eq!(report["stock_changes"], 0, "same quantities through the other source");
    let report_peak = wb_peak();

    // The write path alone: the same rows batched, then one statement per row.
    let ids = app.app.store.product_ids_by_sku(t.tenant_id, connection_id).await.unwrap();
    let rows: Vec<ObservedStock> = app
        .fake
        .catalogue()
        .stocks
        .iter()
        .map(|r| ObservedStock {
            product_id: ids[&r.sku()],
            warehouse: r.warehouse.clone(),
            available: r.quantity,
            kind: stock_tracker::store::stocks::WarehouseKind::Marketplace,
            warehouse_id: None,
        })
        .collect();
    let idle = write_paths(&app, t.tenant_id, &rows, 1).await;
    let in_thread = match backend {
        Backend::Sqlite => Some(row_at_a_time_in_thread(&app, t.tenant_id, &rows, 3).await),
        Backend::Postgres => None,
    };
    let busy = {
        let _busy = BusyCores::start();
        write_paths(&app, t.tenant_id, &rows, 4).await
    };
    let layouts = match backend {
        Backend::Postgres => Some(page_room_pair(&app, t.tenant_id, &rows, 6).await),
        Backend::Sqlite => None,
    };
    let checkpoints = match backend {
        Backend::Sqlite => Some(checkpoint_pair(&app, t.tenant_id, &rows, 6).await),
        Backend::Postgres => None,
    };
    let (grown, grown_busy) = grown_history_pairs(&app, t.tenant_id, &rows, 10).await;

    println!("\n### {backend:?}: {PRODUCTS} products × {WAREHOUSES} warehouses = {} stock rows\n", rows.len());
    println!("| what | seconds |");
    println!("|---|---|");
    println!("| first sync, end to end (adapter + fake WB over loopback + database) | {} |", s(first_took));
    println!("| second sync, 5 quantities changed | {} |", s(second_took));
    println!("| third sync, nothing changed, through the stock report (default source) | {} |", s(report_took));
    for ((batched, row_at_a_time), host) in [(idle, "idle host"), (busy, "cores kept busy")] {
        println!(
            "| write {} rows, batched (`record_stock_levels`, as the sync does), {host} | {} |",
            rows.len(),
            s(batched)
        );
        println!(
            "| write {} rows row-at-a-time: read, upsert, change record per row (baseline), {host} | {} |",
            rows.len(),
            s(row_at_a_time)
        );
    }
    if let Some(in_thread) = in_thread {
        println!(
            "| write {} rows row-at-a-time on this thread through SQLite's C API (baseline without hand-offs), idle host | {} |",
            rows.len(),
            s(in_thread)
        );
    }
    if let Some((room, packed)) = layouts {
        println!(
            "| write {} rows, batched, levels' pages half free (the migrations' layout), best of 2 | {} |",
            rows.len(),
            s(room)
        );
        println!(
            "| write {} rows, batched, levels' pages packed full (fillfactor 100), best of 2 | {} |",
            rows.len(),
            s(packed)
        );
    }
    for ((batched, row_at_a_time), history, host) in
        [(grown, GROWN_HISTORY, "idle host"), (grown_busy, GROWN_HISTORY + 2 * rows.len(), "cores kept busy")]
    {
        println!(
            "| write {} rows row-at-a-time (baseline) on {history} earlier change records, {host} | {} |",
            rows.len(),
            s(row_at_a_time)
        );
        println!(
            "| write {} rows, batched, on {} earlier change records, {host} | {} |",
            rows.len(),
            history + rows.len(),
            s(batched)
        );
    }
    if let Some((own, task)) = checkpoints {
        println!(
            "| write {} rows, batched, writers checkpointing in their commits (SQLite's default), 2 writes | {} |",
            rows.len(),
            s(own)
        );
        println!(
            "| write {} rows, batched, checkpoints beside the writers (the store's task), 2 writes | {} |",
            rows.len(),
            s(task)
        );
    }
    println!(
        "\nlargest WB adapter call memory: {statistics_peak:.1} MiB after the statistics syncs, {report_peak:.1} MiB \
         after the report sync too"
    );
    for ((batched, row_at_a_time), host) in [
        (idle, "idle host"),
        (busy, "cores kept busy"),
        (grown, "grown history, idle host"),
        (grown_busy, "grown history, cores kept busy"),
    ] {
        let ratio = row_at_a_time.as_secs_f64() / batched.as_secs_f64();
        println!("{host}: batched is {ratio:.1}× faster than row-at-a-time");
    }
    if let Some((room, packed)) = layouts {
        let ratio = packed.as_secs_f64() / room.as_secs_f64();
        println!("room for the next versions: the batched write is {ratio:.2}× faster than on packed pages");
    }
    if let Some((own, task)) = checkpoints {
        let ratio = own.as_secs_f64() / task.as_secs_f64();
        println!(
            "checkpoints beside the writers: the batched write is {ratio:.2}× faster than checkpointing in commits"
        );
    }
    if let Some(in_thread) = in_thread {
        let ratio = in_thread.as_secs_f64() / idle.0.as_secs_f64();
        println!("without hand-offs: batched is {ratio:.1}× faster than row-at-a-time on the connection's thread");
    }
}

/// The write path alone, on `rows` as observed plus `step`: the rows batched (as a sync writes a
/// page), then the baseline doing per row what the batched path does per chunk (read the level's
/// previous quantity, upsert the level, record the change) with `step + 1`, each on the store the
/// syncs left ([`reset_history`]). Every row changes on both (asserted). Returns (batched,
/// row-at-a-time).
async fn write_paths(app: &TestApp, tenant_id: Uuid, rows: &[ObservedStock], step: i64) -> (Duration, Duration) {
    let rows = shifted(rows, step);
    reset_history(app).await;
    let batched = batched_write(app, tenant_id, &rows).await;
    reset_history(app).await;
    let row_at_a_time = row_at_a_time_write(app, tenant_id, &rows).await;
    (batched, row_at_a_time)
}

/// The baseline: per row of `rows` + 1, what the batched path does per chunk (read the level's
/// previous quantity, upsert the level, record the change), in the same per-page transactions;
/// every row must change (asserted).
async fn row_at_a_time_write(app: &TestApp, tenant_id: Uuid, rows: &[ObservedStock]) -> Duration {
    let start = Instant::now();
    let read = "SELECT available FROM stock_level WHERE tenant_id = $1 AND product_id = $2 AND warehouse = $3";
    let upsert = "INSERT INTO stock_level (tenant_id, product_id, warehouse, available, warehouse_kind, \
               warehouse_id, updated_at, first_sync_run_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
               ON CONFLICT (tenant_id, product_id, warehouse) \
               DO UPDATE SET available = excluded.available, warehouse_kind = excluded.warehouse_kind, \
               warehouse_id = excluded.warehouse_id, updated_at = excluded.updated_at";
    let change = "INSERT INTO stock_history (tenant_id, stock_history_id, product_id, warehouse, \
               previous_available, available, sync_run_id, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    let mut baseline_changes = 0;
    for page in rows.chunks(60_000) {
        on_pool!(app.app.store.pool(), pool => {
            let mut tx = pool.begin().await.unwrap();
            for r in page {
                let at = chrono::Utc::now();
                let available = r.available + 1;
                let before: Option<i64> = sqlx::query_scalar(read)
                    .bind(tenant_id).bind(r.product_id).bind(&r.warehouse)
                    .fetch_optional(&mut *tx).await.unwrap();
                sqlx::query(upsert)
                    .bind(tenant_id).bind(r.product_id).bind(&r.warehouse).bind(available)
                    .bind(r.kind.as_str()).bind(r.warehouse_id.as_deref()).bind(at).bind(None::<Uuid>)
                    .execute(&mut *tx).await.unwrap();
                if let Some(before) = before.filter(|b| *b != available) {
                    sqlx::query(change)
                        .bind(tenant_id).bind(Uuid::now_v7()).bind(r.product_id).bind(&r.warehouse)
                        .bind(before).bind(available).bind(None::<Uuid>).bind(at)
                        .execute(&mut *tx).await.unwrap();
                    baseline_changes += 1;
                }
            }
            tx.commit().await.unwrap();
        });
    }
    let took = start.elapsed();
    assert_eq!(baseline_changes, rows.len(), "every row changes on the baseline too");
    took
}

/// Change records the grown-history pair runs on.
const GROWN_HISTORY: usize = 1_000_000;

/// The pair on a history a connection of this size reaches in weeks ([`GROWN_HISTORY`] change
/// records, written batched first, untimed), on the idle host and then with the cores kept busy:
/// each time the baseline first, then the batched write, which so runs on 100,000 more records
/// than its baseline (the order that favours the baseline). The batched write slows as the
/// history grows (every change record takes its place in the per-product history index, so a
/// write touches all of that index's pages); the baseline, mostly hand-offs, less. Returns
/// (batched, row-at-a-time) for each host.
async fn grown_history_pairs(
    app: &TestApp,
    tenant_id: Uuid,
    rows: &[ObservedStock],
    step: i64,
) -> ((Duration, Duration), (Duration, Duration)) {
    reset_history(app).await;
    let fills = GROWN_HISTORY / rows.len();
    for i in 0..fills as i64 {
        batched_write(app, tenant_id, &shifted(rows, step + i)).await;
    }
    let mut step = step + fills as i64;
    let mut pair = async || {
        settle(app).await;
        let row_at_a_time = row_at_a_time_write(app, tenant_id, &shifted(rows, step)).await;
        settle(app).await;
        let batched = batched_write(app, tenant_id, &shifted(rows, step + 2)).await;
        step += 3;
        (batched, row_at_a_time)
    };
    let idle = pair().await;
    let _busy = BusyCores::start();
    (idle, pair().await)
}

/// Puts the store back to what the syncs left, before a measured write: the change records of
/// earlier measured writes deleted (they carry no sync run) and the tables compacted, so every
/// measured write runs on the same history whatever ran before it (how the batched write slows as
/// the history grows is [`grown_history_pairs`]' part).
async fn reset_history(app: &TestApp) {
    let delete = "DELETE FROM stock_history WHERE sync_run_id IS NULL";
    match app.app.store.pool() {
        stock_tracker::store::Pool::Sqlite(pool) => {
            sqlx::query(delete).execute(pool).await.unwrap();
            sqlx::query("VACUUM").execute(pool).await.unwrap();
        }
        stock_tracker::store::Pool::Postgres(pool) => {
            sqlx::query(delete).execute(pool).await.unwrap();
            sqlx::query("VACUUM FULL stock_history").execute(pool).await.unwrap();
            sqlx::query("VACUUM stock_level").execute(pool).await.unwrap();
        }
    }
    settle(app).await;
}

/// Lets the database finish what earlier writes left it to do before a measured write: on SQLite
/// the log checkpointed and emptied (else the store's checkpoint task would copy it during the
/// write), on PostgreSQL a checkpoint.
async fn settle(app: &TestApp) {
    match app.app.store.pool() {
        stock_tracker::store::Pool::Sqlite(pool) => {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(pool).await.unwrap();
        }
        stock_tracker::store::Pool::Postgres(pool) => {
            sqlx::query("CHECKPOINT").execute(pool).await.unwrap();
        }
    }
}

fn main() {
    stock_tracker_tests::bench::on_both_backends(run);
}

/// `rows` with every quantity moved by `by`.
fn shifted(rows: &[ObservedStock], by: i64) -> Vec<ObservedStock> {
    rows.iter().map(|r| ObservedStock { available: r.available + by, ..r.clone() }).collect()
}

/// Writes `rows` as a sync does (`record_stock_levels`, a page of 60,000 at a time) and returns
/// how long it took; every row must change (asserted).
async fn batched_write(app: &TestApp, tenant_id: Uuid, rows: &[ObservedStock]) -> Duration {
    let start = Instant::now();
    let mut changes = 0;
    for page in rows.chunks(60_000) {
        changes += app.app.store.record_stock_levels(tenant_id, page, None).await.unwrap();
    }
    let took = start.elapsed();
    assert_eq!(changes, rows.len() as u64, "every row changes on the batched path");
    took
}

/// PostgreSQL only: the batched write with half of each page of levels free for the rows' next
/// versions (`fillfactor = 50`, the migrations' layout), against the same table packed full
/// (`fillfactor = 100`, as before that migration), each right after `VACUUM FULL` has laid the
/// table out afresh in that layout; alternating, twice each. Returns the best of each (room,
/// packed); every row changes on every write.
async fn page_room_pair(app: &TestApp, tenant_id: Uuid, rows: &[ObservedStock], step: i64) -> (Duration, Duration) {
    let stock_tracker::store::Pool::Postgres(pool) = app.app.store.pool() else { unreachable!("PostgreSQL only") };
    let (mut room, mut packed) = (Duration::MAX, Duration::MAX);
    for round in 0..4 {
        let fillfactor = if round % 2 == 0 { 50 } else { 100 };
        let layout = format!("ALTER TABLE stock_level SET (fillfactor = {fillfactor})");
        sqlx::query(sqlx::AssertSqlSafe(layout)).execute(pool).await.unwrap();
        reset_history(app).await;
        sqlx::query("VACUUM FULL stock_level").execute(pool).await.unwrap();
        let took = batched_write(app, tenant_id, &shifted(rows, step + round)).await;
        let best = if fillfactor == 50 { &mut room } else { &mut packed };
        *best = (*best).min(took);
    }
    (room, packed)
}

/// SQLite only: the batched write with the pool's connections checkpointing the log in their
/// own commits (SQLite's default: past 1,000 pages) against the store as it is (a task
/// checkpoints beside them, `store::checkpoint`), in A B B A order (every write adds history,
/// so later ones are slower), each on an emptied log. Returns the sums (own, task).
async fn checkpoint_pair(app: &TestApp, tenant_id: Uuid, rows: &[ObservedStock], step: i64) -> (Duration, Duration) {
    let stock_tracker::store::Pool::Sqlite(pool) = app.app.store.pool() else { unreachable!("SQLite only") };
    let (mut own, mut task) = (Duration::ZERO, Duration::ZERO);
    for (round, in_commits) in [true, false, false, true].into_iter().enumerate() {
        // Every connection the pool may open, each told when to checkpoint.
        use stock_tracker::store::checkpoint::{BACKSTOP_PAGES, THRESHOLD_PAGES};
        let pages = if in_commits { THRESHOLD_PAGES } else { BACKSTOP_PAGES };
        let mut conns = Vec::new();
        for _ in 0..pool.options().get_max_connections() {
            conns.push(pool.acquire().await.unwrap());
        }
        for conn in &mut conns {
            let pragma = format!("PRAGMA wal_autocheckpoint = {pages}");
            sqlx::query(sqlx::AssertSqlSafe(pragma)).execute(&mut **conn).await.unwrap();
        }
        drop(conns);
        reset_history(app).await;
        let took = batched_write(app, tenant_id, &shifted(rows, step + round as i64)).await;
        *(if in_commits { &mut own } else { &mut task }) += took;
    }
    (own, task)
}

/// SQLite only: the baseline's three statements a row run on this thread through SQLite's C API,
/// on a pooled connection locked from sqlx, with the same values, per-page transactions and
/// per-execution work sqlx does (bind, step, reset, clear the bindings). What row-at-a-time
/// costs when no statement crosses threads: the batched path's gain without the hand-offs.
async fn row_at_a_time_in_thread(app: &TestApp, tenant_id: Uuid, rows: &[ObservedStock], step: i64) -> Duration {
    let stock_tracker::store::Pool::Sqlite(pool) = app.app.store.pool() else { unreachable!("SQLite only") };
    reset_history(app).await;
    let mut conn = pool.acquire().await.unwrap();
    let mut handle = conn.lock_handle().await.unwrap();
    let db = handle.as_raw_handle().as_ptr();
    let tenant = tenant_id.as_bytes();
    let start = Instant::now();
    let mut changes = 0;
    // SAFETY: `db` is a live connection that sqlx's worker does not touch while `handle` holds
    // its lock; every statement is prepared on it and finalized before the lock is released.
    unsafe {
        let read = Stmt::prepare(
            db,
            "SELECT available FROM stock_level WHERE tenant_id = ?1 AND product_id = ?2 AND warehouse = ?3",
        );
        let upsert = Stmt::prepare(
            db,
            "INSERT INTO stock_level (tenant_id, product_id, warehouse, available, warehouse_kind, warehouse_id, \
             updated_at, first_sync_run_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL) \
             ON CONFLICT (tenant_id, product_id, warehouse) \
             DO UPDATE SET available = excluded.available, warehouse_kind = excluded.warehouse_kind, \
             warehouse_id = excluded.warehouse_id, updated_at = excluded.updated_at",
        );
        let change = Stmt::prepare(
            db,
            "INSERT INTO stock_history (tenant_id, stock_history_id, product_id, warehouse, previous_available, \
             available, sync_run_id, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, ?7)",
        );
        for page in rows.chunks(60_000) {
            exec(db, "BEGIN IMMEDIATE");
            for r in page {
                // sqlx's encoding of a `DateTime<Utc>` on SQLite.
                let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false);
                let available = r.available + step;
                read.blob(1, tenant).blob(2, r.product_id.as_bytes()).text(3, &r.warehouse);
                let before = (read.step() == ffi::SQLITE_ROW).then(|| read.int_column(0));
                read.done();
                upsert.blob(1, tenant).blob(2, r.product_id.as_bytes()).text(3, &r.warehouse).int(4, available);
                upsert.text(5, r.kind.as_str()).null(6).text(7, &at);
                upsert.step();
                upsert.done();
                if let Some(before) = before.filter(|b| *b != available) {
                    change.blob(1, tenant).blob(2, Uuid::now_v7().as_bytes()).blob(3, r.product_id.as_bytes());
                    change.text(4, &r.warehouse).int(5, before).int(6, available).text(7, &at);
                    change.step();
                    change.done();
                    changes += 1;
                }
            }
            exec(db, "COMMIT");
        }
    }
    let took = start.elapsed();
    assert_eq!(changes, rows.len(), "every row changes on the in-thread baseline too");
    took
}

/// A prepared statement on a raw SQLite connection, finalized on drop.
struct Stmt(*mut ffi::sqlite3_stmt, *mut ffi::sqlite3);

impl Stmt {
    unsafe fn prepare(db: *mut ffi::sqlite3, sql: &str) -> Self {
        let sql = std::ffi::CString::new(sql).unwrap();
        let mut stmt = std::ptr::null_mut();
        let rc = unsafe { ffi::sqlite3_prepare_v2(db, sql.as_ptr(), -1, &mut stmt, std::ptr::null_mut()) };
        let stmt = Self(stmt, db);
        stmt.check(rc);
        stmt
    }

    /// `rc` when SQLite reported success (`OK`, or a step's `ROW` / `DONE`); panics with the
    /// connection's message otherwise.
    fn check(&self, rc: i32) -> i32 {
        if !matches!(rc, ffi::SQLITE_OK | ffi::SQLITE_ROW | ffi::SQLITE_DONE) {
            // SAFETY: the connection outlives its statements.
            let message = unsafe { std::ffi::CStr::from_ptr(ffi::sqlite3_errmsg(self.1)) };
            panic!("SQLite {rc}: {}", message.to_string_lossy());
        }
        rc
    }

    fn blob(&self, i: i32, value: &[u8]) -> &Self {
        let len = value.len() as i32;
        // SAFETY: SQLITE_TRANSIENT makes SQLite copy the value before the call returns.
        self.bound(unsafe { ffi::sqlite3_bind_blob(self.0, i, value.as_ptr().cast(), len, ffi::SQLITE_TRANSIENT()) })
    }

    fn text(&self, i: i32, value: &str) -> &Self {
        let len = value.len() as i32;
        // SAFETY: as in `blob`.
        self.bound(unsafe { ffi::sqlite3_bind_text(self.0, i, value.as_ptr().cast(), len, ffi::SQLITE_TRANSIENT()) })
    }

    fn int(&self, i: i32, value: i64) -> &Self {
        // SAFETY: a live statement.
        self.bound(unsafe { ffi::sqlite3_bind_int64(self.0, i, value) })
    }

    fn null(&self, i: i32) -> &Self {
        // SAFETY: a live statement.
        self.bound(unsafe { ffi::sqlite3_bind_null(self.0, i) })
    }

    fn bound(&self, rc: i32) -> &Self {
        self.check(rc);
        self
    }

    fn step(&self) -> i32 {
        // SAFETY: a live statement with every parameter bound.
        self.check(unsafe { ffi::sqlite3_step(self.0) })
    }

    fn int_column(&self, i: i32) -> i64 {
        // SAFETY: called after `step` returned a row.
        unsafe { ffi::sqlite3_column_int64(self.0, i) }
    }

    /// What sqlx does after each execution: reset the statement and clear its bindings.
    fn done(&self) {
        // SAFETY: a live statement.
        unsafe {
            ffi::sqlite3_reset(self.0);
            ffi::sqlite3_clear_bindings(self.0);
        }
    }
}

impl Drop for Stmt {
    fn drop(&mut self) {
        // SAFETY: finalized once, before the connection's lock is released.
        unsafe { ffi::sqlite3_finalize(self.0) };
    }
}

/// Runs `sql` (no parameters, no rows) on the raw connection.
unsafe fn exec(db: *mut ffi::sqlite3, sql: &str) {
    let sql = std::ffi::CString::new(sql).unwrap();
    let rc = unsafe { ffi::sqlite3_exec(db, sql.as_ptr(), None, std::ptr::null_mut(), std::ptr::null_mut()) };
    assert_eq!(rc, ffi::SQLITE_OK, "{sql:?}");
}
