//! From stock snapshots to per-day demand and exposure (§3.2, §5.3.1 of the forecasting spec).
//!
//! Only complete snapshots count (a row missing from an incomplete sync is unknown, never zero),
//! and only consecutive complete ones at most `max_gap` apart make an interval; a longer gap
//! leaves its days unobserved. Per interval `dQ = Q_i − Q_{i−1}`:
//! - `dQ < 0`: a transfer out when another warehouse of the SKU gains exactly as much within
//!   `transfer_window`; else a bulk outflow when at least `bulk_threshold`; else sales;
//! - `dQ > 0`: a transfer in when paired so; else returns up to what left the "from client"
//!   counter (`max(0, −dF)`), inbound for the rest;
//! - exposure: 1 if the stock was above zero at both ends, 0 if zero at both, 0.5 if mixed.
//!
//! Intervals are then split across the tenant's local days uniformly by time: flows and exposure
//! in proportion to the overlap, so each day keeps `Q_end − Q_start = inbound + returns +
//! transfer_in − sales − bulk − transfer_out` and `0 ≤ exposure ≤ observed ≤ 1`.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

/// One observation of one SKU in one warehouse.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Snapshot {
    pub at: DateTime<Utc>,
    pub available: i64,
    /// Units on their way back from buyers, where the marketplace counts them.
    pub from_client: Option<i64>,
    /// Whether the sync that saw it finished (all pages, no errors).
    pub complete: bool,
}

/// How intervals are classified.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// Longer gaps between complete snapshots leave their days unobserved (72 h).
    pub max_gap: Duration,
    /// A single decrement this large is a bulk outflow (write-off, correction), not demand (20).
    pub bulk_threshold: i64,
    /// An equal and opposite move at another warehouse within this is a transfer (6 h).
    pub transfer_window: Duration,
}

impl Default for Params {
    fn default() -> Self {
        Self { max_gap: Duration::hours(72), bulk_threshold: 20, transfer_window: Duration::hours(6) }
    }
}

/// Units moved, by kind (fractional once split across days).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Flows {
    pub sales: f64,
    pub returns: f64,
    pub inbound: f64,
    pub bulk_outflow: f64,
    pub transfer_in: f64,
    pub transfer_out: f64,
}

impl Flows {
    /// The change of the stock these flows make.
    pub fn net(&self) -> f64 {
        self.inbound + self.returns + self.transfer_in - self.sales - self.bulk_outflow - self.transfer_out
    }

    fn add_scaled(&mut self, other: &Flows, k: f64) {
        self.sales += other.sales * k;
        self.returns += other.returns * k;
        self.inbound += other.inbound * k;
        self.bulk_outflow += other.bulk_outflow * k;
        self.transfer_in += other.transfer_in * k;
        self.transfer_out += other.transfer_out * k;
    }
}

/// Two consecutive complete snapshots of one SKU×warehouse.
#[derive(Debug, Clone, PartialEq)]
pub struct Interval {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub start: i64,
    pub end: i64,
    /// Change of the "from client" counter, 0 when not counted.
    pub d_from_client: i64,
    /// 1, 0.5 or 0 (see the module docs).
    pub exposure: f64,
    /// Set by [`pair_transfers`]: the move is a transfer between warehouses.
    pub transfer: bool,
}

impl Interval {
    pub fn delta(&self) -> i64 {
        self.end - self.start
    }

    /// What moved, by kind.
    pub fn flows(&self, params: &Params) -> Flows {
        let d = self.delta();
        let mut f = Flows::default();
        if d < 0 {
            let out = -d as f64;
            if self.transfer {
                f.transfer_out = out;
            } else if -d >= params.bulk_threshold {
                f.bulk_outflow = out;
            } else {
                f.sales = out;
            }
        } else if d > 0 {
            if self.transfer {
                f.transfer_in = d as f64;
            } else {
                let returned = d.min((-self.d_from_client).max(0));
                f.returns = returned as f64;
                f.inbound = (d - returned) as f64;
            }
        }
        f
    }
}

/// The intervals of one SKU×warehouse's snapshots (in any order): consecutive complete ones at
/// most `max_gap` apart.
pub fn intervals(snapshots: &[Snapshot], params: &Params) -> Vec<Interval> {
    let mut complete: Vec<&Snapshot> = snapshots.iter().filter(|s| s.complete).collect();
    complete.sort_by_key(|s| s.at);
    complete
        .windows(2)
        .filter(|w| w[1].at > w[0].at && w[1].at - w[0].at <= params.max_gap)
        .map(|w| {
            let (a, b) = (w[0], w[1]);
            let exposure = match (a.available > 0, b.available > 0) {
                (true, true) => 1.0,
                (false, false) => 0.0,
                _ => 0.5,
            };
            Interval {
                from: a.at,
                to: b.at,
                start: a.available,
                end: b.available,
                d_from_client: b.from_client.unwrap_or(0) - a.from_client.unwrap_or(0),
                exposure,
                transfer: false,
            }
        })
        .collect()
}

/// Marks transfers between the warehouses of one SKU: a decrement at one warehouse and an equal
/// increment at another whose intervals end within `transfer_window` of each other, each move
/// paired at most once (nearest in time first).
pub fn pair_transfers(warehouses: &mut [Vec<Interval>], params: &Params) {
    let mut moves: Vec<(usize, usize, DateTime<Utc>, i64)> = Vec::new();
    for (w, list) in warehouses.iter().enumerate() {
        for (i, interval) in list.iter().enumerate() {
            if interval.delta() != 0 {
                moves.push((w, i, interval.to, interval.delta()));
            }
        }
    }
    let mut candidates: Vec<(Duration, usize, usize)> = Vec::new();
    for (a, out) in moves.iter().enumerate().filter(|(_, m)| m.3 < 0) {
        for (b, into) in moves.iter().enumerate().filter(|(_, m)| m.3 > 0) {
            let apart = (into.2 - out.2).abs();
            if out.0 != into.0 && into.3 == -out.3 && apart <= params.transfer_window {
                candidates.push((apart, a, b));
            }
        }
    }
    candidates.sort_by_key(|c| (c.0, c.1, c.2));
    let mut used = vec![false; moves.len()];
    for (_, a, b) in candidates {
        if used[a] || used[b] {
            continue;
        }
        used[a] = true;
        used[b] = true;
        for m in [moves[a], moves[b]] {
            warehouses[m.0][m.1].transfer = true;
        }
    }
}

/// One local day of one SKU×warehouse.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Day {
    pub flows: Flows,
    /// In-stock share of the day.
    pub exposure: f64,
    /// Observed share of the day (covered by intervals).
    pub observed: f64,
}

/// The local day `date` in `tz`, as UTC instants.
fn day_bounds(date: NaiveDate, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = |d: NaiveDate| {
        let midnight = d.and_hms_opt(0, 0, 0).expect("midnight exists");
        // A midnight skipped by a DST change starts the day at the first instant after it.
        tz.from_local_datetime(&midnight)
            .earliest()
            .or_else(|| tz.from_local_datetime(&(midnight + Duration::hours(1))).earliest())
            .expect("a local day has a start")
            .with_timezone(&Utc)
    };
    (start(date), start(date + Duration::days(1)))
}

/// Per-day totals of intervals, split across the local days of `tz` uniformly by time.
pub fn days(intervals: &[Interval], params: &Params, tz: Tz) -> BTreeMap<NaiveDate, Day> {
    let mut out: BTreeMap<NaiveDate, Day> = BTreeMap::new();
    for interval in intervals {
        let flows = interval.flows(params);
        let total = (interval.to - interval.from).num_milliseconds() as f64;
        let mut date = interval.from.with_timezone(&tz).date_naive();
        loop {
            let (start, end) = day_bounds(date, tz);
            if start >= interval.to {
                break;
            }
            let overlap = (end.min(interval.to) - start.max(interval.from)).num_milliseconds() as f64;
            if overlap > 0.0 {
                let day_length = (end - start).num_milliseconds() as f64;
                let day = out.entry(date).or_default();
                day.flows.add_scaled(&flows, overlap / total);
                day.exposure += interval.exposure * overlap / day_length;
                day.observed += overlap / day_length;
            }
            date += Duration::days(1);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOSCOW: Tz = chrono_tz::Europe::Moscow;

    /// A complete snapshot at Moscow `date` `hour`:00.
    fn snap(date: &str, hour: u32, available: i64) -> Snapshot {
        let local = NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap().and_hms_opt(hour, 0, 0).unwrap();
        let at = MOSCOW.from_local_datetime(&local).unwrap().with_timezone(&Utc);
        Snapshot { at, available, from_client: None, complete: true }
    }

    fn day(date: &str) -> NaiveDate {
        NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap()
    }

    fn totals(days: &BTreeMap<NaiveDate, Day>) -> Flows {
        let mut f = Flows::default();
        for d in days.values() {
            f.add_scaled(&d.flows, 1.0);
        }
        f
    }

    #[test]
    fn decrements_are_sales_increments_inbound_and_days_are_exposed() {
        let p = Params::default();
        let s =
            [snap("2026-11-01", 0, 10), snap("2026-11-02", 0, 8), snap("2026-11-03", 0, 7), snap("2026-11-04", 0, 50)];
        let days = days(&intervals(&s, &p), &p, MOSCOW);
        assert_eq!(days.keys().copied().collect::<Vec<_>>(), [day("2026-11-01"), day("2026-11-02"), day("2026-11-03")]);
        assert_eq!(days[&day("2026-11-01")].flows.sales, 2.0);
        assert_eq!(days[&day("2026-11-03")].flows.inbound, 43.0, "a supply nets the day's sales (daily closes)");
        assert!(days.values().all(|d| d.exposure == 1.0 && d.observed == 1.0));
    }

    #[test]
    fn returns_bulk_outflows_and_stock_outs() {
        let p = Params::default();
        let mut s =
            [snap("2026-11-01", 0, 5), snap("2026-11-01", 6, 6), snap("2026-11-01", 12, 40), snap("2026-11-01", 18, 0)];
        s[0].from_client = Some(3);
        s[1].from_client = Some(2);
        s[2].from_client = Some(2);
        let flows: Vec<Flows> = intervals(&s, &p).iter().map(|i| i.flows(&p)).collect();
        assert_eq!((flows[0].returns, flows[0].inbound), (1.0, 0.0), "a unit back from a buyer");
        assert_eq!(flows[1].inbound, 34.0);
        assert_eq!((flows[2].bulk_outflow, flows[2].sales), (40.0, 0.0), "40 at once is no demand");
        let ivs = intervals(&s, &p);
        assert_eq!(ivs[2].exposure, 0.5, "in stock at one end only");
        let zero = intervals(&[snap("2026-11-02", 0, 0), snap("2026-11-03", 0, 0)], &p);
        assert_eq!(zero[0].exposure, 0.0);
    }

    #[test]
    fn incomplete_snapshots_and_long_gaps_are_unknown_not_zero() {
        let p = Params::default();
        let mut missing = snap("2026-11-02", 0, 0);
        missing.complete = false;
        let s = [snap("2026-11-01", 0, 10), missing, snap("2026-11-03", 0, 9)];
        let ivs = intervals(&s, &p);
        assert_eq!(ivs.len(), 1);
        assert_eq!((ivs[0].start, ivs[0].end, ivs[0].exposure), (10, 9, 1.0), "the incomplete zero is skipped");
        let gap = [snap("2026-11-01", 0, 10), snap("2026-11-05", 0, 4)];
        assert!(intervals(&gap, &p).is_empty(), "96 h apart: unobserved, not 6 sales");
    }

    #[test]
    fn an_interval_across_midnight_is_split_by_time() {
        let p = Params::default();
        let s = [snap("2026-11-01", 22, 10), snap("2026-11-02", 2, 6)];
        let per_day = days(&intervals(&s, &p), &p, MOSCOW);
        let (a, b) = (per_day[&day("2026-11-01")], per_day[&day("2026-11-02")]);
        assert_eq!((a.flows.sales, b.flows.sales), (2.0, 2.0));
        assert!((a.observed - 2.0 / 24.0).abs() < 1e-12 && (b.exposure - 2.0 / 24.0).abs() < 1e-12);
        // Another time zone, other days: all of it on 1 November in Vladivostok (UTC+10).
        let vladivostok = days(&intervals(&s, &p), &p, chrono_tz::Asia::Vladivostok);
        assert_eq!(vladivostok.len(), 1);
    }

    #[test]
    fn equal_opposite_moves_between_warehouses_are_transfers() {
        let p = Params::default();
        let mut warehouses = vec![
            intervals(&[snap("2026-11-01", 0, 30), snap("2026-11-01", 8, 5)], &p),
            intervals(&[snap("2026-11-01", 0, 0), snap("2026-11-01", 12, 25)], &p),
            intervals(&[snap("2026-11-01", 0, 0), snap("2026-11-02", 0, 25)], &p),
        ];
        pair_transfers(&mut warehouses, &p);
        let f = |w: usize| warehouses[w][0].flows(&p);
        assert_eq!((f(0).transfer_out, f(0).bulk_outflow), (25.0, 0.0));
        assert_eq!((f(1).transfer_in, f(1).inbound), (25.0, 0.0), "4 h apart: the transfer");
        assert_eq!(f(2).inbound, 25.0, "16 h apart and the move already paired: inbound");
    }

    #[test]
    fn every_day_conserves_stock() {
        let p = Params::default();
        let s = [
            snap("2026-11-01", 20, 10),
            snap("2026-11-02", 3, 7),
            snap("2026-11-02", 9, 60),
            snap("2026-11-03", 1, 2),
            snap("2026-11-03", 23, 0),
            snap("2026-11-04", 5, 3),
        ];
        let ivs = intervals(&s, &p);
        let per_day = days(&ivs, &p, MOSCOW);
        let total = totals(&per_day);
        assert!((total.net() - (3.0 - 10.0)).abs() < 1e-9, "{total:?}");
        for d in per_day.values() {
            assert!(d.exposure >= 0.0 && d.exposure <= d.observed + 1e-12 && d.observed <= 1.0 + 1e-12, "{d:?}");
        }
    }
}
