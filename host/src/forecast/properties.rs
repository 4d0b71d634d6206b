//! The forecasting spec's invariants (§5.8) as property tests over generated histories.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;

use super::allocation::{Demand, allocate};
use super::cover::{Settings, cover, rate};
use super::history::{Day, Flows, Params, Snapshot, days, intervals};

const TZ: chrono_tz::Tz = chrono_tz::Europe::Moscow;

/// Snapshots from minutes apart, levels, "from client" counts and completeness.
fn snapshots() -> impl Strategy<Value = Vec<Snapshot>> {
    prop::collection::vec((1u32..3000, 0i64..60, 0i64..5, prop::bool::weighted(0.9)), 2..40).prop_map(|rows| {
        let mut at = Utc.with_ymd_and_hms(2026, 11, 1, 7, 30, 0).unwrap();
        rows.into_iter()
            .map(|(gap, available, from_client, complete)| {
                at += Duration::minutes(i64::from(gap));
                Snapshot { at, available, from_client: Some(from_client), complete }
            })
            .collect()
    })
}

fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 28).unwrap()
}

/// A per-day history of the 40 days to `as_of`: (sales, exposure) per day, some days unobserved.
fn day_history() -> impl Strategy<Value = BTreeMap<NaiveDate, Day>> {
    prop::collection::vec(prop::option::weighted(0.8, (0u8..6, 0u8..=4)), 40).prop_map(|days| {
        days.into_iter()
            .enumerate()
            .filter_map(|(i, d)| {
                let (sales, quarters) = d?;
                let exposure = f64::from(quarters) / 4.0;
                let sales = if exposure == 0.0 { 0.0 } else { f64::from(sales) };
                let day = Day { flows: Flows { sales, ..Flows::default() }, exposure, observed: 1.0 };
                Some((as_of() - Duration::days(i as i64), day))
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn conservation_and_exposure_bounds(snaps in snapshots()) {
        let p = Params::default();
        let ivs = intervals(&snaps, &p);
        for iv in &ivs {
            prop_assert_eq!(iv.flows(&p).net(), iv.delta() as f64);
        }
        let per_day = days(&ivs, &p, TZ);
        let net: f64 = per_day.values().map(|d| d.flows.net()).sum();
        let delta: i64 = ivs.iter().map(|iv| iv.delta()).sum();
        prop_assert!((net - delta as f64).abs() < 1e-6, "{} vs {}", net, delta);
        for d in per_day.values() {
            prop_assert!(d.exposure >= 0.0 && d.exposure <= d.observed + 1e-9 && d.observed <= 1.0 + 1e-9, "{:?}", d);
        }
    }

    #[test]
    fn out_of_stock_days_are_inert(history in day_history()) {
        let before = rate(&history, as_of(), None).ads;
        let mut padded = history.clone();
        for i in 0..40 {
            padded.entry(as_of() - Duration::days(i)).or_insert(Day { flows: Flows::default(), exposure: 0.0, observed: 1.0 });
        }
        prop_assert_eq!(rate(&padded, as_of(), None).ads, before);
    }

    #[test]
    fn cover_and_shipments_move_the_right_way(
        ads in 0.01f64..20.0, more in 0.0f64..5.0, position in 0i64..500, extra in 0i64..100,
        pipeline in 0i64..100, pack in 1u32..24, moq in 0u32..100,
    ) {
        let s = Settings { pack, moq, ..Settings::default() };
        let at = |ads: f64, position: i64| cover(as_of(), rate(&BTreeMap::new(), as_of(), Some(ads)), position, pipeline, &s);
        let (c, faster, fuller) = (at(ads, position), at(ads + more, position), at(ads, position + extra));
        prop_assert!(faster.cover_days.unwrap() <= c.cover_days.unwrap());
        prop_assert!(fuller.cover_days.unwrap() >= c.cover_days.unwrap());
        prop_assert!(c.stockout_date.unwrap() >= as_of());
        prop_assert_eq!(c.suggested_qty % pack, 0);
        prop_assert!(c.suggested_qty == 0 || c.suggested_qty >= moq);
        prop_assert!(fuller.suggested_qty <= c.suggested_qty);
    }

    #[test]
    fn allocation_ships_what_there_is_and_no_more_than_needed(
        warehouses in prop::collection::vec((0.0f64..10.0, 0.0f64..100.0, 0u32..200), 1..6), stock in 0u32..600,
    ) {
        let demands: Vec<Demand> = warehouses
            .iter()
            .map(|(ads, position, need)| Demand { ads: *ads, position: *position, pipeline: 0.0, lead_time_days: 7.0, need: *need })
            .collect();
        let x = allocate(&demands, stock, 1);
        let needs: u32 = demands.iter().map(|d| d.need).sum();
        prop_assert_eq!(x.iter().sum::<u32>(), stock.min(needs));
        for (units, d) in x.iter().zip(&demands) {
            prop_assert!(*units <= d.need);
        }
    }
}

/// Evaluations an hour or more apart: (hours since the last, units on hand, fresh).
fn evaluations() -> impl Strategy<Value = Vec<(u32, i64, bool)>> {
    prop::collection::vec((1u32..30, 0i64..40, prop::bool::weighted(0.9)), 1..80)
}

proptest! {
    #[test]
    fn pushes_respect_the_repeat_interval_quiet_hours_and_incident_numbers(evals in evaluations()) {
        use super::cover::Level;
        use super::incidents::{Change, Input, Notification, Policy, State, step_all};
        let (policy, settings) = (Policy::default(), Settings::default());
        let mut states: [State; 2] = Default::default();
        let mut at = Utc.with_ymd_and_hms(2026, 11, 1, 6, 0, 0).unwrap();
        // Per rule: the last push (time, level), and the last resolved incident number.
        let mut last_push: [Option<(chrono::DateTime<Utc>, Level)>; 2] = [None, None];
        let mut resolved: [Option<u32>; 2] = [None, None];
        for (hours, available, fresh) in evals {
            at += Duration::hours(i64::from(hours));
            let c = cover(as_of(), rate(&BTreeMap::new(), as_of(), Some(1.0)), available, 0, &settings);
            let input = Input { at, fresh, cover: &c, settings: &settings, muted: false, sku_out_everywhere: false };
            let outcomes = step_all(&mut states, &input, &policy);
            for (i, o) in outcomes.iter().enumerate() {
                if o.notification == Notification::Push {
                    let urgent = o.level >= Level::Critical;
                    prop_assert!(urgent || !policy.is_quiet(at), "a non-urgent push in quiet hours: {:?}", o);
                    if let Some((t, level)) = last_push[i] {
                        let increased = o.level > level;
                        let resolve = o.change == Some(Change::Resolved);
                        prop_assert!(increased || resolve || level == Level::Ok || at - t >= policy.repeat,
                            "pushed again after {:?}: {:?}", at - t, o);
                    }
                    last_push[i] = Some((at, o.level));
                }
                if o.change == Some(Change::Resolved) {
                    resolved[i] = o.seq;
                    last_push[i] = None;
                }
                if o.change == Some(Change::Opened) {
                    prop_assert_eq!(o.seq, Some(resolved[i].unwrap_or(0) + 1), "a new incident number after a resolve");
                }
            }
        }
    }
}
