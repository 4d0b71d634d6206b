//! Benchmarks of the plugin runtime (issue #3, issue 16), in one run so the ratios are side by
//! side; every figure is a ratio against a baseline measured in the same loop:
//!
//! 1. Per-call cycle: fresh store + WASI context + limits + deadline + instantiate from
//!    `InstancePre` + one call + drop, against a minimal pooled instantiate + call of the same
//!    component on the same engine (no WASI context, no limiter, no deadline callback, no
//!    metrics): small calls (`info()`, a 3-item `list-products`) and calls that touch more memory
//!    (card pages of 100 to 10,000 cards through the mapping fixture), each under three pool
//!    choices side by side: the product's (lean pool, resident pool once a function's last call
//!    grew its memory), nothing kept resident, and 16 MiB kept resident for every call.
//! 2. The Wildberries mapping code on one 10,000-card page, received as the adapter receives it
//!    (the body of a `POST` through the host's `http` import, served on loopback): the component
//!    (`tests/fixtures/wb-mapping`) against the same code built natively fetching the same page
//!    from the same server; beside it the component without each guest-side speed-up, and as a
//!    control the native code built with the guest's inlining flag
//!    (`plugins/wildberries/examples/map_page.rs`, a process per round, parsing from a file).
//! 3. Start-up with three plugins in `PLUGINS_DIR` whose compiled code is cached: `App::build`
//!    until `/health/ready` answers 200, in-process (cold cache shown beside it).
//!
//! ```sh
//! cargo bench -p stock-tracker-tests --bench plugins
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stock_tracker::plugins::PluginConfig;
use stock_tracker::plugins::bindings::stock_tracker::marketplace::types::{CallContext, PageRequest};
use stock_tracker::plugins::bindings::{AdapterPlugin, AdapterPluginPre};
use stock_tracker::plugins::manifest::Manifest;
use stock_tracker::plugins::runtime::{LoadedPlugin, Runtime, Scope};
use stock_tracker::{App, Config};
use stock_tracker_tests::TempDir;
use stock_tracker_tests::fixtures::{component, manifest, nested_cargo, target_base};
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};

stock_tracker::product_allocator!();

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

fn us(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    percentile(&v, 0.5)
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

/// Card pages on loopback, as WB's content API answers `POST /content/v2/get/cards/list`:
/// `POST /cards/{n}` returns the page of `n` cards. Returns the server's origin.
async fn serve_pages(sizes: &[usize]) -> (String, Arc<HashMap<usize, axum::body::Bytes>>) {
    let pages: Arc<HashMap<usize, axum::body::Bytes>> =
        Arc::new(sizes.iter().map(|&n| (n, axum::body::Bytes::from(cards_payload(n)))).collect());
    let served = pages.clone();
    let app = axum::Router::new().route(
        "/cards/{n}",
        axum::routing::post(move |axum::extract::Path(n): axum::extract::Path<usize>| {
            let page = served[&n].clone();
            async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], page) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), pages)
}

/// A runtime whose resident pool keeps `keep_resident_mb` of a slot's dirty memory between calls,
/// used for every call when `always`, else as the product chooses; plugins may reach `origin`.
fn runtime(dir: &TempDir, keep_resident_mb: u64, always: bool, origin: &str) -> Arc<Runtime> {
    let config = PluginConfig {
        plugin_keep_resident_mb: keep_resident_mb,
        plugin_extra_hosts: Some(origin.to_owned()),
        ..PluginConfig::default()
    };
    let rt = Runtime::new(config, &dir.0.join("cache"), Arc::default()).expect("runtime");
    Arc::new(if always { rt.resident_for_every_call() } else { rt })
}

async fn load(rt: &Arc<Runtime>, wasm: Vec<u8>, fixture: &str) -> LoadedPlugin {
    rt.load(wasm, Manifest::parse(&manifest(fixture)).unwrap()).await.expect("load")
}

/// The pool choices compared: (label, keep-resident MiB, resident for every call).
const POOLS: [(&str, u64, bool); 3] = [
    ("product: resident once the function's last call grew its memory", 16, false),
    ("nothing kept resident", 0, false),
    ("16 MiB kept resident for every call", 16, true),
];

/// The baseline: the same component instantiated from a pre-linked instance on the same pooled
/// engine and called, with nothing else: a unit store, every import a trap (the small calls
/// import nothing they use), a deadline never reached.
struct Minimal {
    engine: Engine,
    pre: AdapterPluginPre<()>,
}

impl Minimal {
    fn new(engine: &Engine, wasm: &[u8]) -> Self {
        let component = Component::new(engine, wasm).expect("compiles");
        let mut linker: Linker<()> = Linker::new(engine);
        linker.define_unknown_imports_as_traps(&component).unwrap();
        let pre = AdapterPluginPre::new(linker.instantiate_pre(&component).unwrap()).unwrap();
        Self { engine: engine.clone(), pre }
    }

    async fn call(&self, info: bool, ctx: &CallContext, page: &PageRequest) {
        let mut store = Store::new(&self.engine, ());
        store.set_epoch_deadline(1 << 40);
        let instance: AdapterPlugin = self.pre.instantiate_async(&mut store).await.unwrap();
        let adapter = instance.stock_tracker_marketplace_adapter();
        if info {
            std::hint::black_box(adapter.call_info(&mut store).await.unwrap());
        } else {
            std::hint::black_box(adapter.call_list_products(&mut store, ctx, page).await.unwrap().unwrap());
        }
    }
}

async fn per_call_cycle() {
    let sizes = [100, 1_000, 3_000, 10_000];
    let (origin, pages) = serve_pages(&sizes).await;
    let dir = TempDir::new("st-bench-calls");
    let versioned = component("fixture-versioned", &[]);
    let mapping = component("fixture-wb-mapping", &[]);
    let mut setups = Vec::new();
    for (label, mb, from) in POOLS {
        let rt = runtime(&dir, mb, from, &origin);
        let v = load(&rt, versioned.clone(), "versioned").await;
        let m = load(&rt, mapping.clone(), "wb-mapping").await;
        setups.push((label, rt, v, m));
    }
    let minimal = Minimal::new(setups[0].1.engine(), &versioned);
    let ctx = CallContext { credentials: vec![("token".into(), "t".into())], settings: Vec::new() };
    let page = PageRequest { cursor: None, page_size: 10, resume: None };

    println!("\n## Per-call cycle: small calls, 5,000 each after 500 warm-up, alternating blocks of 500\n");
    println!("| call | cycle | p50 µs | p90 µs | p99 µs | p50 ÷ baseline p50 |");
    println!("|---|---|---|---|---|---|");
    for call in ["info()", "list-products (3 items)"] {
        let info = call == "info()";
        let mut base = Vec::with_capacity(5_000);
        let mut times = vec![Vec::with_capacity(5_000); setups.len()];
        for block in 0..11 {
            for _ in 0..500 {
                let start = Instant::now();
                minimal.call(info, &ctx, &page).await;
                if block > 0 {
                    base.push(start.elapsed());
                }
            }
            for ((_, rt, plugin, _), times) in setups.iter().zip(&mut times) {
                for _ in 0..500 {
                    let start = Instant::now();
                    if info {
                        rt.info(plugin).await.unwrap();
                    } else {
                        rt.list_products(plugin, Scope::once(), ctx.clone(), page.clone()).await.unwrap();
                    }
                    if block > 0 {
                        times.push(start.elapsed());
                    }
                }
            }
        }
        base.sort();
        let b = percentile(&base, 0.5);
        let row = |what: &str, t: &[Duration]| {
            let p50 = percentile(t, 0.5);
            format!(
                "| {call} | {what} | {} | {} | {} | {:.2} |",
                us(p50),
                us(percentile(t, 0.9)),
                us(percentile(t, 0.99)),
                p50.as_secs_f64() / b.as_secs_f64()
            )
        };
        println!("{}", row("baseline: minimal instantiate + call, same engine", &base));
        for ((label, ..), mut times) in setups.iter().zip(times) {
            times.sort();
            println!("{}", row(&format!("full, {label}"), &times));
        }
    }

    println!("\n## Per-call cycle: calls that touch more memory (the mapping fixture, page fetched over `http`)\n");
    println!(
        "| card page | body KiB | call's memory MiB | {} | best ÷ product |",
        POOLS.map(|p| format!("{} p50 ms", p.0)).join(" | ")
    );
    println!("|---|---|---|---|---|---|---|");
    for n in sizes {
        let rounds = (3_000_000 / (n * 100).max(10_000)).clamp(30, 300);
        let mut times = vec![Vec::new(); setups.len()];
        for round in 0..rounds + 3 {
            for ((_, rt, _, plugin), times) in setups.iter().zip(&mut times) {
                let settings = vec![("url".into(), format!("{origin}/cards/{n}"))];
                let ctx = CallContext { credentials: Vec::new(), settings };
                let page = PageRequest { cursor: None, page_size: n as u32, resume: None };
                let start = Instant::now();
                let out = rt.list_products(plugin, Scope::once(), ctx, page).await.unwrap();
                if round >= 3 {
                    times.push(start.elapsed());
                }
                assert_eq!(out.items.len(), n);
            }
        }
        let peak = setups[0].3.summary().memory_peak_bytes as f64 / 1048576.0;
        let medians: Vec<Duration> = times.into_iter().map(median).collect();
        let best = medians.iter().min().unwrap();
        println!(
            "| {n} cards | {} | {peak:.1} | {} | {:.2} |",
            pages[&n].len() / 1024,
            medians.iter().map(|m| format!("{:.3}", m.as_secs_f64() * 1e3)).collect::<Vec<_>>().join(" | "),
            best.as_secs_f64() / medians[0].as_secs_f64()
        );
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
    const CARDS: usize = 10_000;
    let (origin, pages) = serve_pages(&[CARDS]).await;
    let url = format!("{origin}/cards/{CARDS}");
    let payload = pages[&CARDS].clone();
    let dir = TempDir::new("st-bench-mapping");
    let rt = runtime(&dir, PluginConfig::default().plugin_keep_resident_mb, false, &origin);
    let rt0 = runtime(&dir, 0, false, &origin);
    let mut plugins = Vec::new();
    for (_, sdk_allocator, inlining) in GUEST_BUILDS {
        plugins.push(load(&rt, mapping_component(sdk_allocator, inlining), "wb-mapping").await);
    }
    let plugin0 = load(&rt0, mapping_component(true, true), "wb-mapping").await;
    let call = |rt: &Arc<Runtime>, plugin, mode: Option<&str>| {
        let rt = rt.clone();
        let mut settings = vec![("url".to_owned(), url.clone())];
        settings.extend(mode.map(|m| ("mode".to_owned(), m.to_owned())));
        async move {
            let ctx = CallContext { credentials: Vec::new(), settings };
            let start = Instant::now();
            let page = rt
                .list_products(
                    plugin,
                    Scope::once(),
                    ctx,
                    PageRequest { cursor: None, page_size: CARDS as u32, resume: None },
                )
                .await
                .unwrap();
            (start.elapsed(), page.items.len())
        }
    };
    // The native side fetches the same page from the same server, as the host's egress would
    // for the adapter (a reqwest client), then parses and maps it.
    let client = reqwest::Client::new();
    let native_call = || async {
        let start = Instant::now();
        let body = client.post(&url).json(&json!({})).send().await.unwrap().bytes().await.unwrap();
        let (items, _) = wildberries_adapter::mapping::parse_products_page(&body, CARDS as u32).unwrap();
        std::hint::black_box(&items);
        assert_eq!(items.len(), CARDS);
        start.elapsed()
    };
    // The control: native builds of the same code outside this process, with default flags and
    // with the guest's inlining (which speeds native code up too), parsing from a file, timed in
    // the same loop.
    let file = dir.0.join("cards.json");
    std::fs::write(&file, &payload).unwrap();
    let examples = [native_example(""), native_example(GUEST_INLINING)];
    let mut control = [Vec::new(), Vec::new()];
    const RUNS: usize = 15;
    let (mut native, mut native_parse) = (Vec::new(), Vec::new());
    let mut wasm = vec![Vec::new(); GUEST_BUILDS.len()];
    let mut wasm0 = Vec::new();
    // One unmeasured round first: the product pool choice learns the call's memory.
    for round in 0..=RUNS {
        // Side by side, alternating, so machine noise hits every build.
        let fetched = native_call().await;
        let start = Instant::now();
        let (items, _) = wildberries_adapter::mapping::parse_products_page(&payload, CARDS as u32).unwrap();
        std::hint::black_box(&items);
        let parsed = start.elapsed();
        let mut builds = Vec::new();
        for plugin in &plugins {
            let (t, n) = call(&rt, plugin, None).await;
            assert_eq!(n, CARDS);
            builds.push(t);
        }
        let (t0, n) = call(&rt0, &plugin0, None).await;
        assert_eq!(n, CARDS);
        let controls: Vec<Duration> = examples.iter().map(|e| time_example(e, &file, 3)).collect();
        if round == 0 {
            continue;
        }
        native.push(fetched);
        native_parse.push(parsed);
        wasm.iter_mut().zip(builds).for_each(|(times, t)| times.push(t));
        wasm0.push(t0);
        control.iter_mut().zip(controls).for_each(|(times, t)| times.push(t));
    }
    // Where the product build's time goes: receiving the page only, and parsing + mapping without
    // returning the products.
    let mut split = Vec::new();
    for mode in ["noop", "map"] {
        let mut times = Vec::new();
        for _ in 0..RUNS {
            times.push(call(&rt, &plugins[0], Some(mode)).await.0);
        }
        split.push((mode, median(times)));
    }
    let n = median(native.clone());
    println!(
        "\n## WB mapping of one {CARDS}-card page ({:.1} MiB of JSON, fetched over loopback), median of {RUNS}\n",
        payload.len() as f64 / 1048576.0
    );
    println!("| build | median ms | min ms | ÷ native |");
    println!("|---|---|---|---|");
    let ratio = |t: Duration| t.as_secs_f64() / n.as_secs_f64();
    let row = |what: &str, times: &[Duration]| {
        let m = median(times.to_vec());
        let min = times.iter().min().unwrap();
        println!("| {what} | {} | {} | {:.2} |", ms(m), ms(*min), ratio(m));
    };
    row("native: fetch (reqwest) + parse + map (this bench's release build)", &native);
    for ((what, ..), times) in GUEST_BUILDS.iter().zip(&wasm) {
        row(&format!("component, whole call (fetch through `http`, parse, map, 10,000 products out): {what}"), times);
    }
    row("product build, nothing kept resident in the pool", &wasm0);
    for (mode, t) in split {
        let what = if mode == "noop" { "receive the page only" } else { "receive + parse + map, return nothing" };
        println!("| product build: {what} | {} | | {:.2} |", ms(t), ratio(t));
    }
    row("native: parse + map only (the page already in memory)", &native_parse);
    for (what, times) in ["default flags", "the guest's inlining"].iter().zip(&control) {
        row(&format!("control: native example binary, parse + map from a file, {what}"), times);
    }
    let product = median(wasm[0].clone());
    println!("\nratio component ÷ native (medians, both fetching the page): {:.2}", ratio(product));
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
        let from_cache = ["wildberries", "versioned", "misbehaving"]
            .iter()
            .filter(|id| app.plugins.get(id).expect("loaded from PLUGINS_DIR").from_cache)
            .count();
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
