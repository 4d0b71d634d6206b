//! Benchmark: forecasts for 100,000 SKU × warehouse levels with 90 days of history each, on each
//! backend (issue 15): time and memory of one evaluation of the whole connection, as after a
//! sync.
//!
//! The connection holds 50,000 products in 2 warehouses. Its history is what 90 days of syncs
//! every 3 hours leave (720 observations, 1 in 40 incomplete): each level changes on about two
//! days in three (sales of 1 to 3 units, a restock of 40 when it would run out), about 6 million
//! change rows, written straight into the tables. The clock is set to the last observation; the
//! first evaluation meets levels (incidents pending), the second, 3 hours on, opens them (events).
//!
//! Baseline, in the same process and loop: reading the same history rows (one `SELECT` of every
//! change of the connection's products, decoded), i.e. only fetching the evaluation's input. The
//! figure is evaluation ÷ that read. Memory is the peak of heap bytes live during the evaluation
//! above those live before it (a counting global allocator), so it is the evaluation's own
//! (the baseline read, which holds every row at once, is measured the same way for comparison).
//!
//! ```sh
//! TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p stock-tracker-tests --bench forecast
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use sqlx::QueryBuilder;
use stock_tracker::on_pool;
use stock_tracker::store::products::NewProduct;
use stock_tracker_tests::{Backend, TestApp};
use uuid::Uuid;

const PRODUCTS: usize = 50_000;
const WAREHOUSES: [&str; 2] = ["Коледино", "Казань"];
const DAYS: i64 = 90;
const PER_DAY: i64 = 8;

/// A small deterministic hash (no RNG crate needed for repeatable data).
fn mix(a: u64, b: u64) -> u64 {
    let mut x = a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    x ^= x >> 33;
    x = x.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    x ^ (x >> 29)
}

/// The system allocator, counting the bytes live and their peak: what an evaluation holds at
/// once, whatever the allocator keeps of memory freed before it (the resident set would show
/// the baseline's freed rows, not the evaluation's).
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Resets the peak to what is live now; returns that.
fn reset_peak() -> usize {
    let live = LIVE.load(Ordering::Relaxed);
    PEAK.store(live, Ordering::Relaxed);
    live
}

/// The resident set now and its peak since the process started, MiB (context).
fn rss() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// A change row: product, warehouse, before, after, run, when.
type Change = (Uuid, &'static str, i64, i64, Uuid, DateTime<Utc>);

struct Seeded {
    tenant_id: Uuid,
    connection_id: Uuid,
    last: DateTime<Utc>,
    history_rows: usize,
}

async fn seed(app: &TestApp) -> Seeded {
    let t = app.register("forecast-bench@example.com").await;
    let connection_id = app.create_connection(&t, "WB", "bench-token").await;
    let store = &app.app.store;
    let products: Vec<NewProduct> =
        (0..PRODUCTS).map(|i| NewProduct::named(format!("F-{i:06}"), i.to_string(), format!("Product {i}"))).collect();
    let mut ids = Vec::new();
    for chunk in products.chunks(5_000) {
        ids.extend(
            store.upsert_products(t.tenant_id, connection_id, chunk).await.unwrap().into_iter().map(|(_, id)| id),
        );
    }
    // The observation grid.
    let start = Utc.with_ymd_and_hms(2026, 8, 1, 0, 0, 0).unwrap();
    let grid: Vec<(Uuid, DateTime<Utc>)> =
        (0..DAYS * PER_DAY).map(|i| (Uuid::now_v7(), start + chrono::Duration::hours(i * 24 / PER_DAY))).collect();
    for (i, (run, at)) in grid.iter().enumerate() {
        store.record_observation(t.tenant_id, connection_id, *run, *at, i % 40 != 39).await.unwrap();
    }
    // Each level's history, then its final quantity.
    let mut history: Vec<Change> = Vec::new();
    let mut levels: Vec<(Uuid, &str, i64)> = Vec::new();
    for (p, id) in ids.iter().enumerate() {
        for (w, warehouse) in WAREHOUSES.iter().enumerate() {
            let key = (p * 2 + w) as u64;
            let mut q = 10 + (mix(key, 0) % 50) as i64;
            for day in 0..DAYS {
                let h = mix(key, day as u64 + 1);
                if h.is_multiple_of(3) {
                    continue;
                }
                let sold = 1 + (h >> 8) as i64 % 3;
                let next = if q - sold <= 0 { q + 40 } else { q - sold };
                let (run, at) = grid[(day * PER_DAY + (h >> 16) as i64 % PER_DAY) as usize];
                history.push((*id, warehouse, q, next, run, at));
                q = next;
            }
            levels.push((*id, warehouse, q));
        }
    }
    let first_run = grid[0].0;
    on_pool!(store.pool(), pool => {
        for chunk in levels.chunks(3_000) {
            let mut q = QueryBuilder::new("INSERT INTO stock_level (tenant_id, product_id, warehouse, available, \
                warehouse_kind, updated_at, first_sync_run_id) ");
            q.push_values(chunk, |mut row, (id, w, a)| {
                row.push_bind(t.tenant_id).push_bind(*id).push_bind(*w).push_bind(*a).push_bind("marketplace")
                    .push_bind(Utc::now()).push_bind(first_run);
            });
            q.build().execute(pool).await.unwrap();
        }
        for chunk in history.chunks(3_000) {
            let mut q = QueryBuilder::new("INSERT INTO stock_history (tenant_id, stock_history_id, product_id, \
                warehouse, previous_available, available, sync_run_id, recorded_at) ");
            q.push_values(chunk, |mut row, (id, w, before, after, run, at)| {
                row.push_bind(t.tenant_id).push_bind(Uuid::now_v7()).push_bind(*id).push_bind(*w).push_bind(*before)
                    .push_bind(*after).push_bind(*run).push_bind(*at);
            });
            q.build().execute(pool).await.unwrap();
        }
    });
    Seeded { tenant_id: t.tenant_id, connection_id, last: grid.last().unwrap().1, history_rows: history.len() }
}

/// The baseline: every change row of the tenant read and decoded; its time, rows and heap peak
/// (MiB).
async fn read_history(app: &TestApp, s: &Seeded) -> (Duration, usize, f64) {
    let before = reset_peak();
    let start = Instant::now();
    let rows = app
        .app
        .store
        .level_changes(s.tenant_id, Uuid::nil(), Uuid::max(), s.last - chrono::Duration::days(DAYS + 5))
        .await
        .unwrap();
    let took = start.elapsed();
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(before);
    (took, rows.len(), peak as f64 / (1024.0 * 1024.0))
}

/// One evaluation at `at`: its time, peak memory above the start (MiB), and what it did.
async fn evaluate(
    app: &TestApp,
    s: &Seeded,
    at: DateTime<Utc>,
) -> (Duration, f64, stock_tracker::forecast::service::Evaluated) {
    let connection = app.app.store.connection(s.tenant_id, s.connection_id).await.unwrap();
    app.app.clock.set(at);
    let before = reset_peak();
    let start = Instant::now();
    let done = stock_tracker::forecast::service::evaluate_connection(&app.app, &connection, at).await.unwrap();
    let took = start.elapsed();
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(before);
    (took, peak as f64 / (1024.0 * 1024.0), done)
}

async fn run(backend: Backend) {
    let Some(app) = TestApp::try_new(backend).await else {
        println!("{backend:?}: skipped (set TEST_POSTGRES_URL)");
        return;
    };
    let seeding = Instant::now();
    let s = seed(&app).await;
    println!(
        "{backend:?}: seeded {} levels, {} change rows, {} observations in {:.0} s",
        PRODUCTS * WAREHOUSES.len(),
        s.history_rows,
        DAYS * PER_DAY,
        seeding.elapsed().as_secs_f64()
    );
    for round in 0..2 {
        let (read, rows, read_mib) = read_history(&app, &s).await;
        let at = s.last + chrono::Duration::hours(3 * round);
        let (took, peak_mib, done) = evaluate(&app, &s, at).await;
        let (rss_now, rss_peak) = rss();
        println!(
            "{backend:?} evaluation {}: {} levels in {:.1} s ({:.0} levels/s), heap peak +{peak_mib:.0} MiB, {} events; \
             baseline read of {rows} rows {:.1} s, heap peak +{read_mib:.0} MiB; evaluation ÷ read = {:.2} \
             (process RSS {rss_now:.0} MiB, \
             high-water {rss_peak:.0} MiB)",
            round + 1,
            done.levels,
            took.as_secs_f64(),
            done.levels as f64 / took.as_secs_f64(),
            done.events,
            read.as_secs_f64(),
            took.as_secs_f64() / read.as_secs_f64()
        );
    }
}

fn main() {
    stock_tracker_tests::bench::on_both_backends(run);
}
