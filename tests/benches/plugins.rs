//! Benchmarks of the plugin runtime (issue #3), in one run so the ratios are side by side:
//!
//! 1. Per-call cycle: fresh store + WASI context + instantiate from `InstancePre` + one call + drop,
//!    for `info()` and for a small `list-products`, over 5,000 calls each.
//! 2. The Wildberries mapping code parsing and mapping one 10,000-card page: as a component
//!    (`tests/fixtures/wb-mapping`, the adapter's `mapping.rs` behind the adapter interface, the
//!    JSON passed in as the response body would be) against the same code built natively; beside
//!    it, the component without each guest-side speed-up, and as a control the native code built
//!    with the guest's inlining flag (`plugins/wildberries/examples/map_page.rs`, a process per
//!    round, in the same alternating loop).
//! 3. Start-up with three plugins in `PLUGINS_DIR` whose compiled code is cached: `App::build`
//!    until `/health/ready` answers 200, in-process (cold cache shown beside it).
//!
//! ```sh
//! cargo bench -p stock-tracker-tests --bench plugins
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stock_tracker::plugins::PluginConfig;
use stock_tracker::plugins::bindings::stock_tracker::marketplace::types::{CallContext, PageRequest};
use stock_tracker::plugins::manifest::Manifest;
use stock_tracker::plugins::runtime::Runtime;
use stock_tracker::{App, Config};
use stock_tracker_tests::TempDir;
use stock_tracker_tests::fixtures::{component, manifest, nested_cargo, target_base};

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

fn us(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

fn cards_payload(n: usize) -> String {
    let cards: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "nmID": 100_000_000 + i, "imtID": 7_000_000 + i, "nmUUID": "01bda0b1-5c0b-736c-b2be-d0a6543e9be",
                "subjectID": 7771, "subjectName": "Товары для дома", "vendorCode": format!("WB-{i:06}"),
                "brand": "Северный ветер", "title": format!("Футболка хлопковая №{i}"), "description": "Описание товара",
                "needKiz": false, "kizMarked": false, "photos": [{"big": "https://basket-01.wbbasket.ru/big/1.webp"}],
                "video": "", "wholesale": {"enabled": false, "quantum": 0},
                "dimensions": {"length": 10, "width": 10, "height": 10, "weightBrutto": 0.5, "isValid": true},
                "characteristics": [{"id": 14177449, "name": "Цвет", "value": ["красный"]}],
                "sizes": [{"chrtID": 200_000_000 + i, "techSize": "0", "wbSize": "", "skus": [format!("20{i:011}")]}],
                "tags": [], "createdAt": "2026-01-01T00:00:00.123456Z", "updatedAt": "2026-01-01T00:00:00.123456Z",
            })
        })
        .collect();
    json!({ "cards": cards, "cursor": { "updatedAt": "2026-01-01T00:00:00.123456Z", "nmID": 100_000_000 + n, "total": n } })
        .to_string()
}

async fn runtime(dir: &TempDir) -> Arc<Runtime> {
    runtime_keeping(dir, PluginConfig::default().plugin_keep_resident_mb).await
}

/// A runtime whose pool keeps `keep_resident_mb` of each slot's dirty memory between calls.
async fn runtime_keeping(dir: &TempDir, keep_resident_mb: u64) -> Arc<Runtime> {
    let config = PluginConfig { plugin_keep_resident_mb: keep_resident_mb, ..PluginConfig::default() };
    Arc::new(Runtime::new(config, &dir.0.join(format!("cache-{keep_resident_mb}")), Arc::default()).expect("runtime"))
}

/// Pool settings compared side by side: the default, and nothing kept resident (every call's
/// pages handed back to the kernel and faulted in again by the next call).
const KEEP_RESIDENT: [(u64, &str); 2] = [(16, "default, 16 MiB kept resident"), (0, "nothing kept resident")];

async fn per_call_cycle() {
    let dir = TempDir::new("st-bench-calls");
    let mut runtimes = Vec::new();
    for (mb, label) in KEEP_RESIDENT {
        let rt = runtime_keeping(&dir, mb).await;
        let plugin = rt
            .load(component("fixture-versioned", &[]), Manifest::parse(&manifest("versioned")).unwrap())
            .await
            .expect("load");
        runtimes.push((label, rt, plugin));
    }
    let ctx = || CallContext { credentials: vec![("token".into(), "t".into())], settings: Vec::new() };
    println!("\n## Per-call cycle (store + WASI ctx + instantiate + 1 call + drop), 5,000 calls after 500 warm-up\n");
    println!("| call | pool | p50 µs | p90 µs | p99 µs |");
    println!("|---|---|---|---|---|");
    for call in ["info()", "list-products (3 items)"] {
        // Alternating blocks of 500 calls, so both pool settings see the same machine noise.
        let mut times = vec![Vec::with_capacity(5_000); runtimes.len()];
        for block in 0..11 {
            for ((_, rt, plugin), times) in runtimes.iter().zip(&mut times) {
                for _ in 0..500 {
                    let start = Instant::now();
                    if call == "info()" {
                        rt.info(plugin).await.unwrap();
                    } else {
                        rt.list_products(
                            plugin,
                            stock_tracker::plugins::runtime::Scope::once(),
                            ctx(),
                            PageRequest { cursor: None, page_size: 10, resume: None },
                        )
                        .await
                        .unwrap();
                    }
                    if block > 0 {
                        times.push(start.elapsed());
                    }
                }
            }
        }
        for ((label, _, _), mut times) in runtimes.iter().zip(times) {
            times.sort();
            println!(
                "| {call} | {label} | {} | {} | {} |",
                us(percentile(&times, 0.5)),
                us(percentile(&times, 0.9)),
                us(percentile(&times, 0.99))
            );
        }
    }
}

/// The guest's extra inlining, as `.cargo/config.toml` sets it for `wasm32-wasip2`.
const GUEST_INLINING: &str = "-C llvm-args=-inline-threshold=2000";

/// Builds of the mapping component side by side, as (what, SDK allocator, guest inlining): the
/// product build, then with each of its two guest-side speed-ups taken back out.
const GUEST_BUILDS: [(&str, bool, bool); 4] = [
    ("product build (SDK allocator, inline threshold 2000)", true, true),
    ("wasi-libc malloc in place of the SDK allocator", false, true),
    ("LLVM's default inlining", true, false),
    ("both taken out (the build before)", false, false),
];

/// The mapping component: the product build as `.cargo/config.toml` makes it, or a variant whose
/// `RUSTFLAGS` (which replace the config's) leave a speed-up out.
fn mapping_component(sdk_allocator: bool, inlining: bool) -> Vec<u8> {
    if sdk_allocator && inlining {
        return component("fixture-wb-mapping", &[]);
    }
    let flags = [(inlining, GUEST_INLINING), (!sdk_allocator, "--cfg stock_tracker_system_allocator")];
    let rustflags: Vec<&str> = flags.iter().filter(|(on, _)| *on).map(|(_, flag)| *flag).collect();
    component("fixture-wb-mapping", &[("RUSTFLAGS", &rustflags.join(" "))])
}

/// Builds `plugins/wildberries/examples/map_page.rs` (the native mapping, timed) with `rustflags`
/// in its own target directory and returns the binary.
fn native_example(rustflags: &str) -> std::path::PathBuf {
    let target =
        target_base().join(if rustflags.is_empty() { "bench-native-default" } else { "bench-native-guest-inlining" });
    let out = nested_cargo(&target)
        .args(["build", "--quiet", "--release", "--locked", "-p", "wildberries-adapter", "--example", "map_page"])
        .env("RUSTFLAGS", rustflags)
        .output()
        .expect("run cargo");
    assert!(out.status.success(), "map_page: {}", String::from_utf8_lossy(&out.stderr));
    target.join("release/examples/map_page")
}

/// One process of the example: the median of `runs` mappings of `page`.
fn time_example(binary: &std::path::Path, page: &std::path::Path, runs: usize) -> Duration {
    let out = std::process::Command::new(binary).arg(page).arg(runs.to_string()).output().expect("run map_page");
    assert!(out.status.success(), "map_page: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let median: f64 = text.split_whitespace().next().and_then(|v| v.parse().ok()).expect("map_page prints its median");
    Duration::from_secs_f64(median / 1e3)
}

async fn mapping_ratio() {
    let config = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../.cargo/config.toml")).unwrap();
    assert!(config.contains("\"llvm-args=-inline-threshold=2000\""), ".cargo/config.toml and GUEST_INLINING disagree");
    let dir = TempDir::new("st-bench-mapping");
    let rt = runtime(&dir).await;
    let rt0 = runtime_keeping(&dir, 0).await;
    let mut plugins = Vec::new();
    for (_, sdk_allocator, inlining) in GUEST_BUILDS {
        let wasm = mapping_component(sdk_allocator, inlining);
        plugins.push(rt.load(wasm, Manifest::parse(&manifest("wb-mapping")).unwrap()).await.expect("load"));
    }
    let plugin0 =
        rt0.load(mapping_component(true, true), Manifest::parse(&manifest("wb-mapping")).unwrap()).await.expect("load");
    let payload = cards_payload(10_000);
    let call = |rt: &Arc<Runtime>, plugin, settings: Vec<(String, String)>| {
        let rt = rt.clone();
        async move {
            let ctx = CallContext { credentials: Vec::new(), settings };
            let start = Instant::now();
            let page = rt
                .list_products(
                    plugin,
                    stock_tracker::plugins::runtime::Scope::once(),
                    ctx,
                    PageRequest { cursor: None, page_size: 10_000, resume: None },
                )
                .await
                .unwrap();
            (start.elapsed(), page.items.len())
        }
    };
    // The control: native builds of the same code outside this process, with default flags and
    // with the guest's inlining (which speeds native code up too), timed in the same loop.
    let page = dir.0.join("cards.json");
    std::fs::write(&page, &payload).unwrap();
    let examples = [native_example(""), native_example(GUEST_INLINING)];
    let mut control = [Vec::new(), Vec::new()];
    const RUNS: usize = 15;
    let mut native = Vec::new();
    let mut wasm = vec![Vec::new(); GUEST_BUILDS.len()];
    let mut wasm0 = Vec::new();
    for _ in 0..RUNS {
        // Side by side, alternating, so machine noise hits every build.
        let start = Instant::now();
        let (items, _) = wildberries_adapter::mapping::parse_products_page(payload.as_bytes(), 10_000).unwrap();
        std::hint::black_box(&items);
        native.push(start.elapsed());
        assert_eq!(items.len(), 10_000);
        for (times, plugin) in wasm.iter_mut().zip(&plugins) {
            let (t, n) = call(&rt, plugin, vec![("payload".into(), payload.clone())]).await;
            assert_eq!(n, 10_000);
            times.push(t);
        }
        let (t, n) = call(&rt0, &plugin0, vec![("payload".into(), payload.clone())]).await;
        assert_eq!(n, 10_000);
        wasm0.push(t);
        for (times, example) in control.iter_mut().zip(&examples) {
            times.push(time_example(example, &page, 3));
        }
    }
    // Where the product build's time goes: receiving the JSON only, and parsing + mapping without
    // returning the products.
    let mut split = Vec::new();
    for mode in ["noop", "map"] {
        let mut times = Vec::new();
        for _ in 0..RUNS {
            let settings = vec![("payload".into(), payload.clone()), ("mode".into(), mode.into())];
            times.push(call(&rt, &plugins[0], settings).await.0);
        }
        times.sort();
        split.push((mode, percentile(&times, 0.5)));
    }
    native.sort();
    control.iter_mut().for_each(|t| t.sort());
    wasm0.sort();
    wasm.iter_mut().for_each(|t| t.sort());
    let n = percentile(&native, 0.5);
    println!(
        "\n## WB mapping of one 10,000-card page ({:.1} MiB of JSON), median of {RUNS}\n",
        payload.len() as f64 / 1048576.0
    );
    println!("| build | median ms | min ms | / native |");
    println!("|---|---|---|---|");
    println!("| native (this bench's release build) | {} | {} | 1.00 |", ms(n), ms(native[0]));
    let ratio = |t: Duration| t.as_secs_f64() / n.as_secs_f64();
    for ((what, ..), times) in GUEST_BUILDS.iter().zip(&wasm) {
        let m = percentile(times, 0.5);
        println!("| component, whole call: {what} | {} | {} | {:.2} |", ms(m), ms(times[0]), ratio(m));
    }
    let m0 = percentile(&wasm0, 0.5);
    println!("| product build, nothing kept resident in the pool | {} | {} | {:.2} |", ms(m0), ms(wasm0[0]), ratio(m0));
    for (mode, t) in split {
        let what = if mode == "noop" { "receive the JSON only" } else { "receive + parse + map, return nothing" };
        println!("| product build: {what} | {} | | |", ms(t));
    }
    for (what, times) in ["default flags", "the guest's inlining"].iter().zip(&control) {
        let m = percentile(times, 0.5);
        println!("| control: native example binary, {what} | {} | {} | {:.2} |", ms(m), ms(times[0]), ratio(m));
    }
    let product = percentile(&wasm[0], 0.5);
    println!("\nratio wasm / native (median): {:.2}", ratio(product));
    println!(
        "control, product build / native example with the same inlining: {:.2}",
        product.as_secs_f64() / percentile(&control[1], 0.5).as_secs_f64()
    );
}

async fn startup() {
    let dir = TempDir::new("st-bench-startup");
    let plugins_dir = dir.0.join("plugins");
    std::fs::create_dir_all(&plugins_dir).unwrap();
    let (wb_manifest, wb_wasm) = stock_tracker::plugins::bundled::BUNDLED[0];
    for (id, manifest_text, wasm) in [
        ("wildberries", wb_manifest.to_owned(), wb_wasm.to_vec()),
        ("versioned", manifest("versioned"), component("fixture-versioned", &[])),
        ("misbehaving", manifest("misbehaving"), component("fixture-misbehaving", &[])),
    ] {
        std::fs::write(plugins_dir.join(format!("{id}.toml")), manifest_text).unwrap();
        std::fs::write(plugins_dir.join(format!("{id}.wasm")), wasm).unwrap();
    }
    let mut config = Config::embedded(dir.0.join("data"), None);
    config.plugins.plugins_dir = Some(plugins_dir);
    config.plugins.plugin_cache_dir = Some(dir.0.join("cache"));
    println!("\n## Start-up to ready with three plugins in PLUGINS_DIR (in-process: App::build + GET /health/ready)\n");
    println!("| compiled-code cache | ms | plugins from cache |");
    println!("|---|---|---|");
    for label in ["cold (first start: compiles)", "warm (restart)", "warm (restart)", "warm (restart)"] {
        let start = Instant::now();
        let app = Arc::new(App::build(config.clone()).await.expect("app builds"));
        let router = stock_tracker::router::router(app.clone());
        let res = tower::ServiceExt::oneshot(
            router,
            axum::http::Request::get("/api/v1/health/ready").body(axum::body::Body::empty()).unwrap(),
        )
        .await
        .unwrap();
        let took = start.elapsed();
        assert_eq!(res.status(), 200);
        let cached = app.plugins.list().len();
        let from_cache = ["wildberries", "versioned", "misbehaving"]
            .iter()
            .filter(|id| app.plugins.get(id).unwrap().from_cache)
            .count();
        assert_eq!(cached, 3);
        println!("| {label} | {} | {from_cache}/3 |", ms(took));
        app.store.close().await;
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    // `BENCH_ONLY=cycle|mapping|startup` runs one part.
    let only = std::env::var("BENCH_ONLY").ok();
    let run = |part: &str| only.as_deref().is_none_or(|o| o == part);
    rt.block_on(async {
        if run("cycle") {
            per_call_cycle().await;
        }
        if run("mapping") {
            mapping_ratio().await;
        }
        if run("startup") {
            startup().await;
        }
    });
}
