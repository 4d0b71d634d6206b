//! The service's forecasting: after each complete sync, every level of the connection's active
//! products is evaluated from stored history at the sync's observation instant ([`App::clock`]),
//! its forecast stored, and its alert incidents stepped; incident changes become
//! `stock.forecast.*` events (webhooks get all of them, Telegram the pushes).
//!
//! **History as the sync saw it.** Each run records the instant it observed the connection and
//! whether it completed ([`Store::record_observation`]); a level's history rows take their run's
//! instant, and between changes a level holds its value at every complete observation. Rebuilding
//! every observation of 90 days (48 a day at a 30-minute schedule) for each level would be
//! thousands of snapshots per level, so only those that matter are rebuilt: each change and the
//! observation before it, the level's first, the last, and enough in between that consecutive
//! ones stay within `max_gap` wherever the syncs did (a real gap stays a gap). Merged intervals
//! of an unchanged level split across days exactly as the fine ones would.
//!
//! **Demand** is the stock-derived sales of §3 (a decrement of at least `max(20, 10 × the level's
//! previous rate)` is a bulk outflow, not demand), or, for a level whose marketplace reports orders
//! with their warehouse, the orders less cancellations of each observed day.
//!
//! Levels are read and written in batches of products, so memory stays bounded however many a
//! connection has.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde_json::json;
use uuid::Uuid;

use super::cover::{self, Cover, Level, Settings};
use super::history::{self, Day, Interval, Params, Snapshot};
use super::incidents::{Change, Input, Notification, Outcome, Policy, Rule, State, step_all};
use crate::App;
use crate::store::StoreError;
use crate::store::connections::ConnectionRecord;
use crate::store::events::NewEvent;
use crate::store::forecast::{ForecastLevel, ForecastRow, ForecastSettings, IncidentRow, LevelChange, Override};

/// Days of history an evaluation reads (the widest ADS window).
pub const HISTORY_DAYS: i64 = 90;
/// Products per batch.
const BATCH_PRODUCTS: usize = 1000;

/// What one evaluation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Evaluated {
    pub levels: usize,
    pub events: usize,
}

/// After a complete run `run_id` of `connection`: records its observation now and evaluates.
pub async fn after_sync(app: &App, connection: &ConnectionRecord, run_id: Uuid) -> Result<Evaluated, StoreError> {
    let at = app.clock.now();
    let (tenant_id, connection_id) = (connection.tenant_id, connection.connection_id);
    app.store.record_observation(tenant_id, connection_id, run_id, at, true).await?;
    evaluate_connection(app, connection, at).await
}

/// The tenant's alert policy.
pub fn policy(s: &ForecastSettings, tz: Tz) -> Policy {
    let quiet_hours = match (s.quiet_from, s.quiet_to) {
        (Some(from), Some(to)) if from != to => Some((from as u32, to as u32)),
        _ => None,
    };
    Policy { quiet_hours, urgent_bypass_quiet: s.urgent_bypass_quiet, tz, ..Policy::default() }
}

/// The planning settings of one level: the tenant's, with the level's overrides.
pub fn settings_of(s: &ForecastSettings, o: Option<&Override>) -> Settings {
    Settings {
        lead_time_days: o.and_then(|o| o.lead_time_days).unwrap_or(s.lead_time_days),
        warning_buffer_days: s.warning_buffer_days,
        target_cover_days: s.target_cover_days,
        service_z: s.service_z,
        pack: o.and_then(|o| o.pack_size).map_or(1, |p| p.clamp(1, i64::from(u32::MAX)) as u32),
        moq: o.and_then(|o| o.moq).map_or(0, |m| m.clamp(0, i64::from(u32::MAX)) as u32),
    }
}

/// The tenant's time zone (Moscow if the stored name no longer parses).
pub fn tz_of(name: &str) -> Tz {
    name.parse().unwrap_or(chrono_tz::Europe::Moscow)
}

/// Evaluates every level of `connection` at `at`. Returns how many levels and events.
pub async fn evaluate_connection(
    app: &App,
    connection: &ConnectionRecord,
    at: DateTime<Utc>,
) -> Result<Evaluated, StoreError> {
    let (tenant_id, connection_id) = (connection.tenant_id, connection.connection_id);
    let tz = tz_of(&app.store.tenant(tenant_id).await?.timezone);
    let settings = app.store.forecast_settings(tenant_id).await?;
    let params = Params::default();
    let since = at - Duration::days(HISTORY_DAYS + 1) - params.max_gap;
    let grid = Grid::new(app.store.complete_observations(tenant_id, connection_id, since, at).await?, params.max_gap);
    let levels = app.store.forecast_levels(tenant_id, connection_id).await?;
    let overrides = app.store.forecast_overrides(tenant_id, Some(connection_id)).await?;
    let ctx = Context { connection, at, tz, settings: &settings, policy: policy(&settings, tz), params, grid: &grid };
    let mut events = Vec::new();
    for batch in batches(&levels) {
        let (first, last) = (batch[0].product_id, batch[batch.len() - 1].product_id);
        let changes = app.store.level_changes(tenant_id, first, last, since - Duration::days(1)).await?;
        let orders = app.store.level_orders(tenant_id, connection_id, first, last, since).await?;
        let mut order_days: HashMap<(Uuid, &str), BTreeMap<chrono::NaiveDate, f64>> = HashMap::new();
        for o in &orders {
            let day = cover::as_of(o.occurred_at, tz);
            *order_days.entry((o.product_id, o.warehouse.as_str())).or_default().entry(day).or_default() +=
                o.quantity as f64;
        }
        let stored = app.store.incident_rows(tenant_id, first, last).await?;
        let previous = app.store.previous_rates(tenant_id, first, last).await?;
        let covers = evaluate_batch(&ctx, batch, &changes, &overrides, &order_days, &previous);
        let mut forecasts = Vec::with_capacity(covers.len());
        let mut collected = Collected::default();
        let out_everywhere = out_everywhere(batch, &covers);
        for (level, c) in batch.iter().zip(&covers) {
            let o = overrides.get(&(level.product_id, level.warehouse.clone()));
            forecasts.push(ForecastRow {
                product_id: level.product_id,
                warehouse: level.warehouse.clone(),
                level: c.level.as_str(),
                status: c.status.as_str(),
                ship_by: c.ship_by.map(|d| d.to_string()),
                result: c.to_json(&level.sku, &level.warehouse).to_string(),
            });
            let everywhere = out_everywhere.contains(&level.product_id);
            step_level(&ctx, level, c, o, everywhere, &stored, &mut collected);
        }
        app.store.save_evaluation(tenant_id, connection_id, at, &forecasts, &collected.rows).await?;
        events.append(&mut collected.events);
    }
    if !events.is_empty() {
        crate::events::record(app, tenant_id, &events, None).await?;
    }
    Ok(Evaluated { levels: levels.len(), events: events.len() })
}

/// What every level of one evaluation shares.
struct Context<'a> {
    connection: &'a ConnectionRecord,
    at: DateTime<Utc>,
    tz: Tz,
    settings: &'a ForecastSettings,
    policy: Policy,
    params: Params,
    grid: &'a Grid,
}

/// Batches of levels that never split a product (transfers pair across its warehouses).
fn batches(levels: &[ForecastLevel]) -> Vec<&[ForecastLevel]> {
    let mut out = Vec::new();
    let (mut start, mut products) = (0, 0);
    for i in 0..levels.len() {
        if i == 0 || levels[i].product_id != levels[i - 1].product_id {
            if products == BATCH_PRODUCTS {
                out.push(&levels[start..i]);
                (start, products) = (i, 0);
            }
            products += 1;
        }
    }
    if start < levels.len() {
        out.push(&levels[start..]);
    }
    out
}

/// The covers of one batch's levels, in order.
fn evaluate_batch(
    ctx: &Context<'_>,
    batch: &[ForecastLevel],
    changes: &[LevelChange],
    overrides: &HashMap<(Uuid, String), Override>,
    order_days: &HashMap<(Uuid, &str), BTreeMap<chrono::NaiveDate, f64>>,
    previous: &HashMap<(Uuid, String), f64>,
) -> Vec<Cover> {
    let mut by_level: HashMap<(Uuid, &str), Vec<&LevelChange>> = HashMap::new();
    for c in changes.iter().filter(|c| c.at <= ctx.at) {
        by_level.entry((c.product_id, c.warehouse.as_str())).or_default().push(c);
    }
    let as_of = cover::as_of(ctx.at, ctx.tz);
    let mut out = Vec::with_capacity(batch.len());
    let mut start = 0;
    while start < batch.len() {
        let end = start + batch[start..].iter().take_while(|l| l.product_id == batch[start].product_id).count();
        let product = &batch[start..end];
        // Each level's value at its last complete observation, and its intervals.
        let mut last_seen = Vec::with_capacity(product.len());
        let mut lists: Vec<Vec<Interval>> = product
            .iter()
            .map(|l| {
                let changes = by_level.get(&(l.product_id, l.warehouse.as_str())).map_or(&[][..], Vec::as_slice);
                let snapshots = ctx.grid.snapshots(l, changes);
                last_seen.push(snapshots.last().map_or(l.available, |s| s.available));
                history::intervals(&snapshots, &ctx.params)
            })
            .collect();
        history::pair_transfers(&mut lists, &ctx.params);
        for ((level, intervals), available) in product.iter().zip(&lists).zip(last_seen) {
            let params = bulk_params(&ctx.params, previous.get(&(level.product_id, level.warehouse.clone())).copied());
            let mut days = history::days(intervals, &params, ctx.tz);
            if let Some(orders) = order_days.get(&(level.product_id, level.warehouse.as_str())) {
                orders_as_sales(&mut days, orders);
            }
            let o = overrides.get(&(level.product_id, level.warehouse.clone()));
            let rate = cover::rate(&days, as_of, None);
            let pipeline = o.and_then(|o| o.in_transit).unwrap_or(0);
            out.push(cover::cover(as_of, rate, available, pipeline, &settings_of(ctx.settings, o)));
        }
        start = end;
    }
    out
}

/// §5.2: a single decrement is a bulk outflow from `max(20, 10 × the previous rate)` units, so a
/// fast seller's busy hour is not a write-off.
fn bulk_params(params: &Params, previous_ads: Option<f64>) -> Params {
    let adaptive = previous_ads.filter(|a| a.is_finite()).map_or(0, |a| (10.0 * a).ceil() as i64);
    Params { bulk_threshold: params.bulk_threshold.max(adaptive), ..*params }
}

/// Observed days take the orders less cancellations of the day as their sales.
fn orders_as_sales(days: &mut BTreeMap<chrono::NaiveDate, Day>, orders: &BTreeMap<chrono::NaiveDate, f64>) {
    for (date, day) in days.iter_mut() {
        day.flows.sales = orders.get(date).copied().unwrap_or(0.0).max(0.0);
    }
}

/// The connection's complete observations, and the ones that keep consecutive kept ones within
/// `max_gap` where the syncs did.
struct Grid {
    at: Vec<DateTime<Utc>>,
    skeleton: Vec<usize>,
}

impl Grid {
    fn new(at: Vec<DateTime<Utc>>, max_gap: Duration) -> Self {
        let mut skeleton = Vec::new();
        if let Some(first) = at.first() {
            skeleton.push(0);
            let mut last = *first;
            for i in 1..at.len() {
                let next_too_far = at.get(i + 1).is_some_and(|next| *next - last > max_gap);
                if next_too_far || i + 1 == at.len() {
                    skeleton.push(i);
                    last = at[i];
                }
            }
        }
        Self { at, skeleton }
    }

    /// The snapshots of `level` that matter (see the module docs), with `changes` in order.
    fn snapshots(&self, level: &ForecastLevel, changes: &[&LevelChange]) -> Vec<Snapshot> {
        let n = self.at.len();
        let start = level.first_observed_at.map_or(0, |t| self.at.partition_point(|g| *g < t));
        if start >= n {
            return Vec::new();
        }
        let indexed: Vec<(usize, i64)> =
            changes.iter().map(|c| (self.at.partition_point(|g| *g < c.at), c.available)).collect();
        let mut keep: Vec<usize> = self.skeleton.iter().copied().filter(|i| *i >= start).collect();
        keep.push(start);
        for (j, _) in &indexed {
            if *j < n {
                keep.push(*j);
                if *j > start {
                    keep.push(j - 1);
                }
            }
        }
        keep.sort_unstable();
        keep.dedup();
        let mut value = match changes.first() {
            Some(c) => c.previous_available,
            None => Some(level.available),
        };
        let mut k = 0;
        let mut out = Vec::with_capacity(keep.len());
        for i in keep {
            while k < indexed.len() && indexed[k].0 <= i {
                value = Some(indexed[k].1);
                k += 1;
            }
            if let Some(available) = value {
                out.push(Snapshot { at: self.at[i], available, from_client: None, complete: true });
            }
        }
        out
    }
}

/// The products of a batch out of stock in every one of their (two or more) warehouses while
/// they sell somewhere.
fn out_everywhere(batch: &[ForecastLevel], covers: &[Cover]) -> std::collections::HashSet<Uuid> {
    let mut by_product: HashMap<Uuid, (usize, bool, bool)> = HashMap::new();
    for (level, c) in batch.iter().zip(covers) {
        let e = by_product.entry(level.product_id).or_insert((0, true, false));
        e.0 += 1;
        e.1 &= c.available <= 0;
        e.2 |= c.rate.ads.is_some_and(|a| a > 0.0);
    }
    by_product.into_iter().filter(|(_, (n, out, sells))| *n >= 2 && *out && *sells).map(|(id, _)| id).collect()
}

/// What stepping a batch's levels collects: incident rows to write, events to record.
#[derive(Default)]
struct Collected {
    rows: Vec<IncidentRow>,
    events: Vec<NewEvent>,
}

/// Steps the level's two rules into `out`.
fn step_level(
    ctx: &Context<'_>,
    level: &ForecastLevel,
    c: &Cover,
    o: Option<&Override>,
    sku_out_everywhere: bool,
    stored: &HashMap<(Uuid, String, String), IncidentRow>,
    out: &mut Collected,
) {
    let row_of = |rule: Rule| stored.get(&(level.product_id, level.warehouse.clone(), rule.as_str().to_owned()));
    let mut states: [State; 2] =
        Rule::ALL.map(|rule| row_of(rule).and_then(|r| serde_json::from_str(&r.state).ok()).unwrap_or_default());
    let before = states.clone();
    let settings = settings_of(ctx.settings, o);
    let muted = o.and_then(|o| o.muted_until).is_some_and(|until| until > ctx.at);
    let input = Input { at: ctx.at, fresh: true, cover: c, settings: &settings, muted, sku_out_everywhere };
    let outcomes = step_all(&mut states, &input, &ctx.policy);
    for (i, outcome) in outcomes.iter().enumerate() {
        let rule = Rule::ALL[i];
        let old = row_of(rule);
        if states[i] == before[i] && outcome.change.is_none_or(|ch| ch == Change::Unchanged) {
            continue;
        }
        // A change the seller hears of (a repeat only when it is actually told again).
        let told = match outcome.change {
            Some(Change::Opened | Change::Escalated | Change::Deescalated | Change::Resolved) => true,
            Some(Change::Repeated) => outcome.notification != Notification::None,
            _ => false,
        };
        let state = &states[i];
        out.rows.push(IncidentRow {
            product_id: level.product_id,
            warehouse: level.warehouse.clone(),
            rule: rule.as_str().to_owned(),
            connection_id: ctx.connection.connection_id,
            state: serde_json::to_string(state).expect("a state serializes"),
            seq: i64::from(state.seq),
            level: state.level.as_str().to_owned(),
            max_level: state.max_level.as_str().to_owned(),
            opened_at: state.opened_at,
            resolved_at: match outcome.change {
                Some(Change::Resolved) => Some(ctx.at),
                Some(Change::Opened) => None,
                _ => old.and_then(|r| r.resolved_at),
            },
            last_change: outcome.change.map(super::wire_name).or(old.and_then(|r| r.last_change.clone())),
            last_notification: Some(super::wire_name(outcome.notification)),
            suppressed_by: outcome.suppressed_by.map(super::wire_name),
            changed_at: if told { ctx.at } else { old.map_or(ctx.at, |r| r.changed_at) },
            // The digest tells what went to it, and every resolve since the last one.
            digest_pending: old.is_some_and(|r| r.digest_pending)
                || outcome.notification == Notification::Digest
                || outcome.change == Some(Change::Resolved),
        });
        if told {
            out.events.push(incident_event(ctx, level, c, outcome, before[i].level, state));
        }
    }
}

/// The dedup key of a level's rule: `{tenant}:{marketplace}:{sku}:{warehouse}:{rule}`.
pub fn dedup_key(tenant_id: Uuid, marketplace: &str, sku: &str, warehouse: &str, rule: &str) -> String {
    format!("{tenant_id}:{marketplace}:{sku}:{warehouse}:{rule}")
}

fn incident_event(
    ctx: &Context<'_>,
    level: &ForecastLevel,
    c: &Cover,
    outcome: &Outcome,
    previous: Level,
    state: &State,
) -> NewEvent {
    let change = outcome.change.unwrap_or(Change::Unchanged);
    let connection = ctx.connection;
    let key =
        dedup_key(connection.tenant_id, &connection.marketplace, &level.sku, &level.warehouse, outcome.rule.as_str());
    let mut data = json!({
        "incident_id": format!("{key}#{}", state.seq),
        "dedup_key": key,
        "rule": outcome.rule.as_str(),
        "change": change,
        "level": outcome.level.as_str(),
        "previous_level": previous.as_str(),
        "max_level": state.max_level.as_str(),
        "notification": outcome.notification,
        "suppressed_by": outcome.suppressed_by,
        "connection_id": connection.connection_id,
        "marketplace": connection.marketplace,
        "product_id": level.product_id,
        "name": level.name,
        "data_at": ctx.at,
    });
    if let (Some(obj), serde_json::Value::Object(fields)) =
        (data.as_object_mut(), c.to_json(&level.sku, &level.warehouse))
    {
        for (k, v) in fields {
            obj.entry(k).or_insert(v);
        }
    }
    NewEvent { event_type: event_type(change), data }
}

/// The event type of an incident change.
pub fn event_type(change: Change) -> &'static str {
    match change {
        Change::Opened => "stock.forecast.opened",
        Change::Escalated => "stock.forecast.escalated",
        Change::Repeated => "stock.forecast.repeated",
        Change::Deescalated => "stock.forecast.deescalated",
        Change::Resolved | Change::Pending | Change::Unchanged => "stock.forecast.resolved",
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn t(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap() + Duration::hours(h)
    }

    fn level(first: Option<i64>, available: i64) -> ForecastLevel {
        ForecastLevel {
            product_id: Uuid::nil(),
            warehouse: "W".into(),
            sku: "A".into(),
            name: "A".into(),
            available,
            first_observed_at: first.map(t),
        }
    }

    fn change(h: i64, before: i64, after: i64) -> LevelChange {
        LevelChange {
            product_id: Uuid::nil(),
            warehouse: "W".into(),
            at: t(h),
            previous_available: Some(before),
            available: after,
        }
    }

    #[test]
    fn the_rebuilt_snapshots_give_the_days_every_observation_would() {
        // Hourly syncs for 10 days with a 4-day hole (days 4 to 8), changes at hours 30, 31 and 200.
        let grid: Vec<DateTime<Utc>> = (0..240).filter(|h| !(96..192).contains(h)).map(t).collect();
        let changes = [change(30, 10, 8), change(31, 8, 0), change(200, 0, 25)];
        let refs: Vec<&LevelChange> = changes.iter().collect();
        let params = Params::default();
        let g = Grid::new(grid.clone(), params.max_gap);
        let sparse = g.snapshots(&level(Some(2), 25), &refs);
        assert!(sparse.len() < 20, "{} snapshots", sparse.len());
        // Every observation, the slow way.
        let full: Vec<Snapshot> = grid
            .iter()
            .filter(|at| **at >= t(2))
            .map(|at| {
                let available = changes.iter().rev().find(|c| c.at <= *at).map_or(10, |c| c.available);
                Snapshot { at: *at, available, from_client: None, complete: true }
            })
            .collect();
        let tz = chrono_tz::Europe::Moscow;
        let (a, b) = (
            history::days(&history::intervals(&sparse, &params), &params, tz),
            history::days(&history::intervals(&full, &params), &params, tz),
        );
        assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
        for (day, x) in &a {
            let y = &b[day];
            assert!(
                (x.exposure - y.exposure).abs() < 1e-9 && (x.observed - y.observed).abs() < 1e-9,
                "{day}: {x:?} {y:?}"
            );
            assert!((x.flows.sales - y.flows.sales).abs() < 1e-9 && (x.flows.inbound - y.flows.inbound).abs() < 1e-9);
        }
    }

    #[test]
    fn the_bulk_threshold_grows_with_the_previous_rate() {
        let p = Params::default();
        let at = |ads| bulk_params(&p, ads).bulk_threshold;
        assert_eq!((at(None), at(Some(1.5)), at(Some(2.01)), at(Some(7.0))), (20, 20, 21, 70));
    }

    #[test]
    fn batches_never_split_a_product() {
        let mut levels = Vec::new();
        for p in 0..2500u128 {
            for w in ["A", "B"] {
                levels.push(ForecastLevel { product_id: Uuid::from_u128(p), warehouse: w.into(), ..level(None, 1) });
            }
        }
        let b = batches(&levels);
        assert_eq!(b.iter().map(|b| b.len()).collect::<Vec<_>>(), [2000, 2000, 1000]);
    }
}
