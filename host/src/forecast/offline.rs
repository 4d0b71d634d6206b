//! `stock-tracker forecast`: the engine on a CSV of stock history, for planning and for checking
//! it by hand. One JSON object per SKU×warehouse on standard output (§5.4's fields; numbers
//! unrounded, infinity as `"inf"`, unknown as null).
//!
//! The CSV's header is `sku,warehouse,observed_at,available,in_transit_inbound,complete`;
//! `observed_at` is RFC 3339, or a date meaning that day's close (the end of the day in
//! `--timezone`); `complete` is `true` or `false`. A bad row is an error naming its line.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::{Value, json};

use super::allocation::{Demand, allocate};
use super::cover::{self, Cover, Settings};
use super::history::{self, Params, Snapshot};
use super::incidents::{Input, Notification, Outcome, Policy, Rule, State, step_all};

/// `forecast` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct ForecastArgs {
    /// The stock history, CSV: sku,warehouse,observed_at,available,in_transit_inbound,complete.
    #[arg(long, value_name = "FILE.csv")]
    pub history: PathBuf,
    /// The day to evaluate at its end (YYYY-MM-DD, in --timezone).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub as_of: NaiveDate,
    /// L: days from shipping to sellable at the warehouse.
    #[arg(long, default_value_t = 7.0)]
    pub lead_time_days: f64,
    /// B: a warning at cover ≤ L + B.
    #[arg(long, default_value_t = 7.0)]
    pub warning_buffer_days: f64,
    /// T: days of cover to ship for, after arrival.
    #[arg(long, default_value_t = 28.0)]
    pub target_cover_days: f64,
    /// z of the cycle service level (1.645: 95 %).
    #[arg(long, default_value_t = 1.645)]
    pub service_z: f64,
    /// Shipments are whole packs of this many units.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub pack: u32,
    /// A shipment is at least this many units.
    #[arg(long, default_value_t = 0)]
    pub moq: u32,
    /// Units on their way to the warehouse (default: the last snapshot's in_transit_inbound).
    #[arg(long, value_name = "N")]
    pub pipeline: Option<i64>,
    /// A fixed sales rate, units a day, instead of the estimate (what-if planning).
    #[arg(long, value_name = "X")]
    pub ads: Option<f64>,
    /// The tenant's time zone: day boundaries and dates.
    #[arg(long, default_value = "Europe/Moscow")]
    pub timezone: String,
    /// Step the alert incident state machine at every snapshot instead, one line per evaluation.
    #[arg(long)]
    pub alerts: bool,
}

#[derive(Debug, Deserialize)]
struct Row {
    sku: String,
    warehouse: String,
    observed_at: String,
    available: i64,
    in_transit_inbound: i64,
    complete: String,
}

/// One SKU×warehouse's snapshots, with the inbound pipeline each saw.
type Series = BTreeMap<(String, String), Vec<(Snapshot, i64)>>;

/// Reads the CSV, naming the line of a bad row.
pub fn read_history(path: &std::path::Path, tz: Tz) -> anyhow::Result<Series> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let expected = ["sku", "warehouse", "observed_at", "available", "in_transit_inbound", "complete"];
    let headers = reader.headers().context("no header line")?.clone();
    if headers.iter().collect::<Vec<_>>() != expected {
        bail!("{}: the header must be `{}`", path.display(), expected.join(","));
    }
    let mut series = Series::new();
    for (i, row) in reader.deserialize::<Row>().enumerate() {
        let line = i + 2;
        let row = row.with_context(|| format!("{} line {line}", path.display()))?;
        let at = parse_time(&row.observed_at, tz)
            .with_context(|| format!("{} line {line}: observed_at `{}`", path.display(), row.observed_at))?;
        let complete = match row.complete.as_str() {
            "true" => true,
            "false" => false,
            other => bail!("{} line {line}: complete must be true or false, not `{other}`", path.display()),
        };
        if row.available < 0 || row.in_transit_inbound < 0 {
            bail!("{} line {line}: available and in_transit_inbound are counts (≥ 0)", path.display());
        }
        let snapshot = Snapshot { at, available: row.available, from_client: None, complete };
        series.entry((row.sku, row.warehouse)).or_default().push((snapshot, row.in_transit_inbound));
    }
    Ok(series)
}

/// RFC 3339, or a date meaning that day's close (the start of the next local day).
fn parse_time(text: &str, tz: Tz) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").context("expected RFC 3339 or YYYY-MM-DD")?;
    day_end(date, tz)
}

/// The end of local day `date`: the start of the next one.
fn day_end(date: NaiveDate, tz: Tz) -> anyhow::Result<DateTime<Utc>> {
    let next = date.succ_opt().context("date out of range")?.and_hms_opt(0, 0, 0).context("midnight")?;
    let at = tz.from_local_datetime(&next).earliest().context("no such local time")?;
    Ok(at.with_timezone(&Utc))
}

/// The planning settings the arguments give.
fn settings(args: &ForecastArgs) -> Settings {
    Settings {
        lead_time_days: args.lead_time_days,
        warning_buffer_days: args.warning_buffer_days,
        target_cover_days: args.target_cover_days,
        service_z: args.service_z,
        pack: args.pack,
        moq: args.moq,
    }
}

/// One SKU×warehouse: its snapshots up to the end of `as_of` and their intervals (transfers
/// paired across the warehouses of the SKU).
struct Pair<'a> {
    sku: &'a str,
    warehouse: &'a str,
    snapshots: Vec<(Snapshot, i64)>,
    intervals: Vec<history::Interval>,
}

fn pairs<'a>(series: &'a Series, end: DateTime<Utc>, params: &Params) -> Vec<Pair<'a>> {
    let mut by_sku: BTreeMap<&str, Vec<Pair<'a>>> = BTreeMap::new();
    for ((sku, warehouse), snaps) in series {
        let mut snapshots: Vec<(Snapshot, i64)> = snaps.iter().copied().filter(|(s, _)| s.at <= end).collect();
        snapshots.sort_by_key(|(s, _)| s.at);
        let seen: Vec<Snapshot> = snapshots.iter().map(|(s, _)| *s).collect();
        let intervals = history::intervals(&seen, params);
        by_sku.entry(sku).or_default().push(Pair { sku, warehouse, snapshots, intervals });
    }
    let mut out = Vec::new();
    for (_, mut warehouses) in by_sku {
        let mut lists: Vec<Vec<history::Interval>> =
            warehouses.iter_mut().map(|p| std::mem::take(&mut p.intervals)).collect();
        history::pair_transfers(&mut lists, params);
        for (pair, intervals) in warehouses.iter_mut().zip(lists) {
            pair.intervals = intervals;
        }
        out.extend(warehouses);
    }
    out
}

/// The pair evaluated at instant `at` (its local date is the `as_of`), from what was known then.
fn cover_at(pair: &Pair<'_>, at: DateTime<Utc>, args: &ForecastArgs, tz: Tz, params: &Params) -> Cover {
    let known: Vec<history::Interval> = pair.intervals.iter().filter(|i| i.to <= at).cloned().collect();
    let days = history::days(&known, params, tz);
    let as_of = cover::as_of(at, tz);
    let rate = cover::rate(&days, as_of, args.ads);
    let last = pair.snapshots.iter().rfind(|(s, _)| s.complete && s.at <= at);
    let (available, seen_pipeline) = last.map_or((0, 0), |(s, p)| (s.available, *p));
    cover::cover(as_of, rate, available, args.pipeline.unwrap_or(seen_pipeline), &settings(args))
}

/// Every SKU×warehouse evaluated at the end of `as_of`, in (sku, warehouse) order.
pub fn evaluate(series: &Series, args: &ForecastArgs, tz: Tz) -> anyhow::Result<Vec<(String, String, Cover)>> {
    let end = day_end(args.as_of, tz)?;
    let params = Params::default();
    Ok(pairs(series, end, &params)
        .iter()
        .map(|p| (p.sku.to_owned(), p.warehouse.to_owned(), cover_at(p, end, args, tz, &params)))
        .collect())
}

/// `--alerts`: the incident state machine stepped at every snapshot of every SKU×warehouse up
/// to the end of `as_of`; per evaluation, the outcome that says the most of its two rules (a
/// push over the digest over nothing, then a change, then `oos`).
pub fn alerts(series: &Series, args: &ForecastArgs, tz: Tz) -> anyhow::Result<Vec<Value>> {
    let end = day_end(args.as_of, tz)?;
    let params = Params::default();
    let policy = Policy { tz, ..Policy::default() };
    let settings = settings(args);
    let mut out = Vec::new();
    for pair in pairs(series, end, &params) {
        let mut states: [State; 2] = Default::default();
        for (snapshot, _) in &pair.snapshots {
            let c = cover_at(&pair, snapshot.at, args, tz, &params);
            // Offline, each SKU×warehouse is stepped alone: no SKU-wide inhibition.
            let input = Input {
                at: snapshot.at,
                fresh: snapshot.complete,
                cover: &c,
                settings: &settings,
                muted: false,
                sku_out_everywhere: false,
            };
            let outcomes = step_all(&mut states, &input, &policy);
            let rank = |o: &Outcome| {
                let n = match o.notification {
                    Notification::Push => 2,
                    Notification::Digest => 1,
                    Notification::None => 0,
                };
                (n, o.change.is_some(), o.rule == Rule::Oos)
            };
            let said = outcomes.iter().max_by_key(|o| rank(o)).copied().unwrap_or(outcomes[0]);
            let level = states.iter().map(|s| s.level).max().unwrap_or_default();
            let incident = said.seq.map(|seq| format!("{}:{}:{}#{seq}", pair.sku, pair.warehouse, said.rule.as_str()));
            out.push(json!({
                "sku": pair.sku, "warehouse": pair.warehouse, "at": snapshot.at, "level": level.as_str(),
                "incident": incident, "rule": said.rule, "change": said.change,
                "notification": said.notification, "suppressed_by": said.suppressed_by,
            }));
        }
    }
    Ok(out)
}

/// `restock-plan` arguments: the forecast's, and the seller's stock to split.
#[derive(Debug, Clone, clap::Args)]
pub struct RestockArgs {
    #[command(flatten)]
    pub forecast: ForecastArgs,
    /// Units of each SKU the seller has to ship, split across its warehouses.
    #[arg(long, value_name = "N")]
    pub seller_stock: u32,
}

/// Runs `restock-plan`: per SKU×warehouse, its need and its share of the seller's stock.
pub fn run_restock(args: &RestockArgs) -> anyhow::Result<()> {
    let (tz, series) = prepare(&args.forecast)?;
    let covers = evaluate(&series, &args.forecast, tz)?;
    let mut by_sku: BTreeMap<&str, Vec<&(String, String, Cover)>> = BTreeMap::new();
    for c in &covers {
        by_sku.entry(&c.0).or_default().push(c);
    }
    for rows in by_sku.values() {
        let demands: Vec<Demand> = rows
            .iter()
            .map(|(_, _, c)| Demand {
                ads: c.rate.ads.unwrap_or(0.0),
                position: c.available as f64,
                pipeline: c.pipeline as f64,
                lead_time_days: args.forecast.lead_time_days,
                need: c.suggested_qty,
            })
            .collect();
        let shares = allocate(&demands, args.seller_stock, args.forecast.pack);
        for ((sku, warehouse, c), units) in rows.iter().zip(shares) {
            let after =
                c.rate.ads.filter(|a| *a > 0.0).map(|a| (c.available + c.pipeline + i64::from(units)) as f64 / a);
            let line = json!({
                "sku": sku, "warehouse": warehouse, "as_of": c.as_of, "ads": cover::number(c.rate.ads),
                "available": c.available, "pipeline": c.pipeline, "need": c.suggested_qty, "allocated": units,
                "cover_days_after": cover::number(after.or(c.rate.ads.map(|_| f64::INFINITY))), "ship_by": c.ship_by,
            });
            println!("{line}");
        }
    }
    Ok(())
}

/// The time zone and the history, with the arguments checked.
fn prepare(args: &ForecastArgs) -> anyhow::Result<(Tz, Series)> {
    let tz: Tz = args
        .timezone
        .parse()
        .map_err(|_| anyhow::anyhow!("--timezone `{}` is not an IANA time zone", args.timezone))?;
    if let Some(ads) = args.ads.filter(|a| !a.is_finite() || *a < 0.0) {
        bail!("--ads {ads}: a rate is a finite number ≥ 0");
    }
    for (name, v) in [
        ("--lead-time-days", args.lead_time_days),
        ("--target-cover-days", args.target_cover_days),
        ("--warning-buffer-days", args.warning_buffer_days),
    ] {
        if !v.is_finite() || v < 0.0 {
            bail!("{name} {v}: days are a finite number ≥ 0");
        }
    }
    Ok((tz, read_history(&args.history, tz)?))
}

/// Runs `forecast`: one line of JSON per SKU×warehouse.
pub fn run(args: &ForecastArgs) -> anyhow::Result<()> {
    let (tz, series) = prepare(args)?;
    if args.alerts {
        for line in alerts(&series, args, tz)? {
            println!("{line}");
        }
        return Ok(());
    }
    for (sku, warehouse, cover) in evaluate(&series, args, tz)? {
        println!("{}", cover.to_json(&sku, &warehouse));
    }
    Ok(())
}
