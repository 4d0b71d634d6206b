//! `stock-tracker plugin check <file.wasm>`: loads a component in the real sandbox (the host's
//! engine, limits and egress policy) and checks the adapter contract against a marketplace fake,
//! printing a readable report; any failed check makes the command exit non-zero, for CI.
//!
//! Every request goes through a proxy of the checker's ([`proxy`]) in front of the fake: the
//! plugin is given the proxy as `settings.base_url` and may reach nothing else (its manifest's
//! hosts are production and stay closed), so a request that ignores `base_url` shows as refused.
//! The checks:
//! - the component loads, and `info()` is sane (id, version, marketplace, credential fields,
//!   settings, capabilities);
//! - the credentials are accepted, and refused as `invalid-credentials` when a secret one is
//!   wrong or any is missing;
//! - every listing the adapter declares (products, stocks, seller stocks, prices, sales) ends,
//!   never repeats a cursor, and names only SKUs of the product listing;
//! - the marketplace's rate-limit answer maps to `rate-limited` with a wait, an outage (503) to
//!   `transient`;
//! - no request went anywhere but `base_url`; memory and time per call stayed within limits.

mod proxy;
mod upstream;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

use self::proxy::{Inject, Proxy};
use self::upstream::Upstream;
use super::bindings::{AdapterError, AdapterInfo, CallContext, Capability, PageRequest, ProductRef};
use super::manifest::{Manifest, valid_id};
use super::runtime::{LoadedPlugin, Runtime, Scope};
use super::{CallError, PluginConfig};

/// `plugin check` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    /// The component to check (`cargo build --target wasm32-wasip2 --release` makes it).
    pub wasm: PathBuf,
    /// Its manifest (default: `plugin.toml` beside the component, else the component's path
    /// with `.toml`).
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// The marketplace API to run against, a fake or a sandbox (default: the built-in fake of the
    /// plugin's marketplace: wildberries, ozon, yandex_market or example).
    #[arg(long, value_name = "URL")]
    pub fake: Option<String>,
    /// Credentials the API accepts, a JSON object of strings (default: the built-in fake's).
    #[arg(long, value_name = "JSON")]
    pub credentials: Option<String>,
    /// Connection settings, a JSON object of strings (`base_url` is the checker's).
    #[arg(long, value_name = "JSON")]
    pub settings: Option<String>,
    /// Pages a listing may take before it counts as endless.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub max_pages: u32,
}

/// One check's outcome.
#[derive(Debug, Clone)]
pub struct Finding {
    pub check: &'static str,
    pub ok: bool,
    pub detail: String,
}

/// What `plugin check` found.
#[derive(Debug, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
}

impl Report {
    fn add(&mut self, check: &'static str, result: Result<String, String>) {
        let (ok, detail) = match result {
            Ok(d) => (true, d),
            Err(d) => (false, d),
        };
        println!("{} {check:<14} {detail}", if ok { "PASS" } else { "FAIL" });
        self.findings.push(Finding { check, ok, detail });
    }

    /// Checks that failed.
    pub fn failed(&self) -> usize {
        self.findings.iter().filter(|f| !f.ok).count()
    }
}

/// Runs every check, printing each as it ends; the report says which failed.
pub async fn run(args: CheckArgs, config: PluginConfig) -> anyhow::Result<Report> {
    let wasm = std::fs::read(&args.wasm).with_context(|| format!("cannot read {}", args.wasm.display()))?;
    let manifest_path = manifest_path(&args)?;
    let text = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("cannot read the manifest {}", manifest_path.display()))?;
    let mut manifest = Manifest::parse(&text)?;
    let declared = std::mem::take(&mut manifest.allowed_hosts);
    let credentials = args.credentials.as_deref().map(|j| string_map(j, "--credentials")).transpose()?;
    let settings = args.settings.as_deref().map(|j| string_map(j, "--settings")).transpose()?.unwrap_or_default();

    let proxy = Proxy::start().await?;
    let cache = tempfile::tempdir()?;
    let config = PluginConfig { plugin_extra_hosts: Some(proxy.base_url()), plugin_max_instances: 4, ..config };
    let timeout = Duration::from_millis(manifest.limits.timeout_ms.unwrap_or(u64::MAX).min(config.plugin_timeout_ms));
    let runtime = Arc::new(Runtime::new(config, cache.path(), Arc::new(crate::telemetry::Metrics::new()))?);
    println!("stock-tracker plugin check {} (manifest {})", args.wasm.display(), manifest_path.display());

    let mut report = Report::default();
    let plugin = match runtime.load(wasm.clone(), manifest).await {
        Ok(plugin) => plugin,
        Err(e) => {
            report.add("load", Err(e.to_string()));
            return Ok(report);
        }
    };
    let info = plugin.info.clone();
    report.add(
        "load",
        Ok(format!(
            "{} {} ({}, marketplace {}), WIT {}, {} KiB",
            info.id,
            info.version,
            info.name,
            info.marketplace,
            plugin.wit_version,
            wasm.len() / 1024
        )),
    );
    report.add("info", check_info(&info, &plugin.manifest));
    report.add("hosts declared", check_declared(&declared));

    let upstream = Upstream::start(&info.marketplace, args.fake.as_deref()).await?;
    proxy.set_target(&upstream.base_url(), &info.marketplace);
    let Some(credentials) = credentials.or_else(|| upstream.credentials().map(|c| pairs(&c))) else {
        bail!("--fake given without --credentials: pass the credentials that API accepts");
    };
    println!("     upstream       {} (through the checker's proxy at {})", upstream.describe(), proxy.base_url());
    let mut all_settings: Vec<(String, String)> = settings.into_iter().filter(|(k, _)| k != "base_url").collect();
    all_settings.push(("base_url".into(), proxy.base_url()));
    let checker =
        Checker { runtime: &runtime, plugin: &plugin, max_pages: args.max_pages, timeout, slowest: Default::default() };
    let ctx = CallContext { credentials: credentials.clone(), settings: all_settings };

    report.add("credentials", checker.accepted(&ctx).await);
    report.add("refusal", checker.refused(&ctx, &info).await);
    checker.listings(&ctx, &mut report).await;
    report.add("rate limit", checker.injected(&ctx, &proxy, Inject::RateLimit).await);
    report.add("outage", checker.injected(&ctx, &proxy, Inject::Outage).await);
    report.add("egress", checker.egress(&proxy));
    report.add("limits", checker.limits());
    let failed = report.failed();
    println!("{} checks, {failed} failed", report.findings.len());
    Ok(report)
}

/// The manifest: as given, else `plugin.toml` beside the component, else `<component>.toml`.
fn manifest_path(args: &CheckArgs) -> anyhow::Result<PathBuf> {
    if let Some(path) = &args.manifest {
        return Ok(path.clone());
    }
    let beside = args.wasm.parent().unwrap_or(Path::new(".")).join("plugin.toml");
    let renamed = args.wasm.with_extension("toml");
    [beside, renamed]
        .into_iter()
        .find(|p| p.is_file())
        .context("no manifest found beside the component: pass --manifest <plugin.toml>")
}

/// A JSON object of strings as pairs.
fn string_map(json: &str, flag: &str) -> anyhow::Result<Vec<(String, String)>> {
    let value: Value = serde_json::from_str(json).with_context(|| format!("{flag} is not JSON"))?;
    let Some(object) = value.as_object() else { bail!("{flag} must be a JSON object") };
    object
        .iter()
        .map(|(k, v)| match v.as_str() {
            Some(s) => Ok((k.clone(), s.to_owned())),
            None => bail!("{flag}: `{k}` must be a string"),
        })
        .collect()
}

fn pairs(value: &Value) -> Vec<(String, String)> {
    value.as_object().into_iter().flatten().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect()
}

/// `info()` against the rules the host and its API rely on.
fn check_info(info: &AdapterInfo, manifest: &Manifest) -> Result<String, String> {
    let mut problems = Vec::new();
    if info.name.trim().is_empty() {
        problems.push("name is empty".to_owned());
    }
    let semver = info.version.split('.').count() == 3
        && info.version.split(['.', '-', '+']).take(3).all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if !semver {
        problems.push(format!("version `{}` is not MAJOR.MINOR.PATCH", info.version));
    }
    if info.version != manifest.version {
        problems.push(format!("version `{}` differs from the manifest's `{}`", info.version, manifest.version));
    }
    if !valid_id(&info.marketplace) {
        problems.push(format!("marketplace `{}` is not 1-64 of a-z, 0-9, - or _", info.marketplace));
    }
    let mut names = HashSet::new();
    for f in &info.credential_fields {
        if !valid_id(&f.name) || !names.insert(f.name.as_str()) {
            problems.push(format!("credential field `{}` is not a unique lower-case name", f.name));
        }
        if f.label.trim().is_empty() {
            problems.push(format!("credential field `{}` has no label", f.name));
        }
    }
    if info.credential_fields.is_empty() {
        problems.push("declares no credential fields".into());
    }
    let mut settings = HashSet::new();
    for s in &info.settings {
        if !settings.insert(s.name.as_str()) {
            problems.push(format!("setting `{}` is declared twice", s.name));
        }
    }
    let capabilities: HashSet<_> = info.capabilities.iter().map(capability_name).collect();
    if capabilities.len() != info.capabilities.len() {
        problems.push("a capability is declared twice".into());
    }
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    let caps: Vec<&str> = info.capabilities.iter().map(capability_name).collect();
    Ok(format!(
        "{} credential field(s), {} setting(s), capabilities: {}",
        info.credential_fields.len(),
        info.settings.len(),
        if caps.is_empty() { "none".into() } else { caps.join(", ") }
    ))
}

fn capability_name(c: &Capability) -> &'static str {
    match c {
        Capability::Sales => "sales",
        Capability::SellerStock => "seller-stock",
        Capability::Prices => "prices",
    }
}

/// The manifest's hosts: HTTPS origins.
fn check_declared(declared: &[String]) -> Result<String, String> {
    let bad: Vec<&String> =
        declared.iter().filter(|h| super::egress::Origin::parse(h).is_err() || !h.starts_with("https://")).collect();
    if !bad.is_empty() {
        return Err(format!("allowed_hosts must be https origins: {bad:?}"));
    }
    Ok(if declared.is_empty() { "none (only base_url and operator grants)".into() } else { declared.join(", ") })
}

/// What the listings saw, for the checks after them.
#[derive(Default)]
struct Seen {
    skus: HashSet<String>,
    refs: Vec<ProductRef>,
}

struct Checker<'a> {
    runtime: &'a Arc<Runtime>,
    plugin: &'a LoadedPlugin,
    max_pages: u32,
    timeout: Duration,
    /// The slowest page call of the listings.
    slowest: std::cell::Cell<Duration>,
}

impl Checker<'_> {
    async fn accepted(&self, ctx: &CallContext) -> Result<String, String> {
        match self.runtime.verify_credentials(self.plugin, ctx.clone()).await {
            Ok(account) => Ok(format!("accepted: {}", account.description)),
            Err(e) => Err(format!("the credentials were not accepted: {e}")),
        }
    }

    async fn refused(&self, ctx: &CallContext, info: &AdapterInfo) -> Result<String, String> {
        let mut tried = Vec::new();
        for field in &info.credential_fields {
            let mut variants = vec![("missing", without(ctx, &field.name))];
            if field.secret {
                variants.push(("wrong", with_wrong(ctx, &field.name)));
            }
            for (how, bad) in variants {
                match self.runtime.verify_credentials(self.plugin, bad).await {
                    Err(CallError::Adapter(AdapterError::InvalidCredentials(_))) => {
                        tried.push(format!("{how} `{}`", field.name))
                    }
                    Ok(_) => return Err(format!("credentials with {how} `{}` were accepted", field.name)),
                    Err(e) => {
                        return Err(format!(
                            "credentials with {how} `{}` gave `{}`, not invalid-credentials: {e}",
                            field.name,
                            e.kind()
                        ));
                    }
                }
            }
        }
        if tried.is_empty() {
            return Err("no credential field to refuse".into());
        }
        Ok(format!("invalid-credentials for {}", tried.join(", ")))
    }

    /// Every declared listing, walked to its end.
    async fn listings(&self, ctx: &CallContext, report: &mut Report) {
        let (rt, plugin) = (self.runtime, self.plugin);
        let scope = Scope::once();
        let mut seen = Seen::default();
        let walked = self
            .walk(
                async |req| rt.list_products(plugin, scope, ctx.clone(), req).await,
                |page| (page.next_cursor.clone(), page.items.len()),
                |page| {
                    for p in page.items {
                        if let Some(variant_id) = p.variant_id.clone() {
                            seen.refs.push(ProductRef { sku: p.sku.clone(), variant_id });
                        }
                        seen.skus.insert(p.sku);
                    }
                },
            )
            .await;
        let no_products = seen.skus.is_empty();
        report.add(
            "products",
            walked.and_then(|w| if no_products { Err(format!("{w}, but no products")) } else { Ok(w) }),
        );

        let mut unknown = Vec::new();
        let levels = |page: super::bindings::StockPage, unknown: &mut Vec<String>| {
            unknown.extend(page.items.into_iter().map(|l| l.sku).filter(|s| !seen.skus.contains(s)));
        };
        let walked = self
            .walk(
                async |req| rt.fetch_stocks(plugin, scope, ctx.clone(), req).await,
                |page| (page.next_cursor.clone(), page.items.len()),
                |page| levels(page, &mut unknown),
            )
            .await;
        report.add("stocks", known_skus(walked, &unknown));

        if plugin.can(Capability::SellerStock) {
            let mut unknown = Vec::new();
            let batch: Vec<ProductRef> = seen.refs.iter().take(1000).cloned().collect();
            let walked = self
                .walk(
                    async |req| rt.fetch_seller_stocks(plugin, scope, ctx.clone(), req, batch.clone()).await,
                    |page| (page.next_cursor.clone(), page.items.len()),
                    |page| levels(page, &mut unknown),
                )
                .await;
            report.add(
                "seller stocks",
                known_skus(walked.map(|w| format!("{w} for {} variants", batch.len())), &unknown),
            );
        }
        if plugin.can(Capability::Prices) {
            let mut unknown = Vec::new();
            let walked = self
                .walk(
                    async |req| rt.fetch_prices(plugin, scope, ctx.clone(), req).await,
                    |page| (page.next_cursor.clone(), page.items.len()),
                    |page| unknown.extend(page.items.into_iter().map(|p| p.sku).filter(|s| !seen.skus.contains(s))),
                )
                .await;
            report.add("prices", known_skus(walked, &unknown));
        }
        if plugin.can(Capability::Sales) {
            let walked = self
                .walk(
                    async |req| rt.fetch_sales(plugin, scope, ctx.clone(), req).await,
                    |page| (page.more.then(|| page.cursor.clone()), page.items.len()),
                    |_| {},
                )
                .await;
            report.add("sales", walked);
        }
        rt.release(scope);
    }

    /// Calls page after page until the cursor ends, as the host's sync does (a rate-limited page
    /// is asked again after the wait, up to 3 times); fails on an error, a repeated cursor, or
    /// more than `max_pages` pages.
    async fn walk<T>(
        &self,
        mut call: impl AsyncFnMut(PageRequest) -> Result<T, CallError>,
        next: impl Fn(&T) -> (Option<String>, usize),
        mut take: impl FnMut(T),
    ) -> Result<String, String> {
        let mut cursors = HashSet::new();
        let (mut cursor, mut pages, mut items, mut waits) = (None::<String>, 0u32, 0usize, 0u32);
        let mut resume = None;
        loop {
            if pages >= self.max_pages {
                return Err(format!("did not end after {pages} pages (--max-pages)"));
            }
            let req = PageRequest { cursor: cursor.clone(), page_size: 100, resume: resume.take() };
            let started = Instant::now();
            let result = call(req).await;
            self.slowest.set(self.slowest.get().max(started.elapsed()));
            match result {
                Ok(page) => {
                    pages += 1;
                    let (next_cursor, n) = next(&page);
                    items += n;
                    take(page);
                    match next_cursor {
                        None => break,
                        Some(c) if !cursors.insert(c.clone()) => {
                            return Err(format!(
                                "page {pages} handed back cursor `{}` again",
                                super::runtime::shown(&c)
                            ));
                        }
                        Some(c) => cursor = Some(c),
                    }
                }
                Err(CallError::Adapter(AdapterError::RateLimited(r))) if waits < 3 => {
                    waits += 1;
                    resume = r.resume;
                    tokio::time::sleep(Duration::from_secs(r.retry_after_secs.min(10))).await;
                }
                Err(e) => return Err(format!("page {} failed ({}): {e}", pages + 1, e.kind())),
            }
        }
        Ok(format!(
            "{items} item(s) in {pages} page(s), no cursor repeated{}",
            if waits > 0 { format!(", {waits} rate-limit wait(s)") } else { String::new() }
        ))
    }

    /// The proxy answers the next request as told; the first product page must map it.
    async fn injected(&self, ctx: &CallContext, proxy: &Proxy, inject: Inject) -> Result<String, String> {
        proxy.inject_next(inject);
        let req = PageRequest { cursor: None, page_size: 100, resume: None };
        let result = self.runtime.list_products(self.plugin, Scope::once(), ctx.clone(), req).await;
        if proxy.pending() {
            proxy.inject_next_cancel();
            return Err("the first product page made no request to base_url".into());
        }
        match (inject, result) {
            (Inject::RateLimit, Err(CallError::Adapter(AdapterError::RateLimited(r))))
                if (1..=3600).contains(&r.retry_after_secs) =>
            {
                Ok(format!("the marketplace's rate-limit answer became rate-limited, wait {} s", r.retry_after_secs))
            }
            (Inject::RateLimit, Err(CallError::Adapter(AdapterError::RateLimited(r)))) => {
                Err(format!("rate-limited, but with a wait of {} s (the answer said 1 s)", r.retry_after_secs))
            }
            (Inject::Outage, Err(CallError::Adapter(AdapterError::Transient(_)))) => {
                Ok("a 503 became transient".into())
            }
            (_, Ok(_)) => Err("the refused page was answered as a success".into()),
            (inject, Err(e)) => Err(format!(
                "{} became `{}`, expected `{}`: {e}",
                if inject == Inject::RateLimit { "the marketplace's rate-limit answer" } else { "a 503" },
                e.kind(),
                if inject == Inject::RateLimit { "rate_limited" } else { "transient" }
            )),
        }
    }

    /// Every request went through the proxy, none was refused.
    fn egress(&self, proxy: &Proxy) -> Result<String, String> {
        let stats = &self.plugin.stats;
        let sent = stats.http_requests.load(std::sync::atomic::Ordering::Relaxed);
        let denied = stats.http_denied.load(std::sync::atomic::Ordering::Relaxed);
        if denied > 0 {
            return Err(format!(
                "{denied} of {sent} request(s) went to a host other than settings.base_url and were refused \
                 (when base_url is set, every request must use it)"
            ));
        }
        Ok(format!("{sent} request(s), all to base_url ({} reached it)", proxy.requests()))
    }

    fn limits(&self) -> Result<String, String> {
        let summary = self.plugin.summary();
        Ok(format!(
            "largest call memory {:.1} MiB of {} MiB; slowest page {} ms of the {} ms deadline",
            summary.memory_peak_bytes as f64 / (1 << 20) as f64,
            summary.memory_limit_bytes >> 20,
            self.slowest.get().as_millis(),
            self.timeout.as_millis()
        ))
    }
}

/// A walk that also named SKUs the product listing does not have fails.
fn known_skus(walked: Result<String, String>, unknown: &[String]) -> Result<String, String> {
    let walked = walked?;
    match unknown.first() {
        None => Ok(walked),
        Some(first) => {
            Err(format!("{walked}, but {} row(s) name SKUs the product listing lacks (`{first}`)", unknown.len()))
        }
    }
}

fn without(ctx: &CallContext, field: &str) -> CallContext {
    CallContext { credentials: ctx.credentials.iter().filter(|(k, _)| k != field).cloned().collect(), ..ctx.clone() }
}

fn with_wrong(ctx: &CallContext, field: &str) -> CallContext {
    let credentials = ctx
        .credentials
        .iter()
        .map(
            |(k, v)| {
                if k == field { (k.clone(), format!("{}wrong", &v[..v.len() / 2])) } else { (k.clone(), v.clone()) }
            },
        )
        .collect();
    CallContext { credentials, ..ctx.clone() }
}
