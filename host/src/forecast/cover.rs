//! Sales rate, days of cover, stock-out and ship-by dates, reorder point and shipment size of one
//! SKU×warehouse (§5.2–§5.5 of the forecasting spec).
//!
//! - ADS: over observed days of the window ending at `as_of`, `sales / exposure`; the first of
//!   28, 56, 90 days with at least 7 exposure-days gives it (confidence high at 28, medium
//!   wider); else at least 3 exposure-days in 90 give it with low confidence; else unknown.
//! - σ: the sample standard deviation of daily sales over fully in-stock days of that window
//!   when there are at least 7, else the Poisson fallback `√ads`.
//! - Cover `position / ads` (0 with nothing on hand, infinite when nothing sells, unknown without
//!   ADS); stock-out `as_of + ceil(cover)`; ship-by `stock-out − ceil(L)`; `ROP = ads·L + z·σ·√L`;
//!   shipment `need = ads·T + z·σ·√(L+T) − max(0, position + pipeline − ads·L)`, rounded up to
//!   whole packs and at least the MOQ (itself rounded up to whole packs, so a shipment is always
//!   whole packs).

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};

use super::history::Day;

/// Windows tried, shortest first (days).
pub const WINDOWS: [i64; 3] = [28, 56, 90];
/// Exposure-days for a confident ADS, and for any.
pub const MIN_EXPOSURE_DAYS: f64 = 7.0;
pub const MIN_ANY_EXPOSURE_DAYS: f64 = 3.0;

/// Planning parameters of one SKU×warehouse.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// L: days from shipping to sellable at the warehouse.
    pub lead_time_days: f64,
    /// B: warning at cover ≤ L + B.
    pub warning_buffer_days: f64,
    /// T: cover to ship for, after arrival.
    pub target_cover_days: f64,
    /// z of the cycle service level (1.645: 95 %).
    pub service_z: f64,
    pub pack: u32,
    pub moq: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            lead_time_days: 7.0,
            warning_buffer_days: 7.0,
            target_cover_days: 28.0,
            service_z: 1.645,
            pack: 1,
            moq: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confidence {
    High,
    Medium,
    Low,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    NoSales,
    CollectingData,
    Oos,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    #[default]
    Ok,
    Warning,
    Critical,
    Oos,
}

/// The sales rate and what it rests on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub ads: Option<f64>,
    pub window_days: i64,
    pub exposure_days: f64,
    pub sales_in_window: f64,
    pub confidence: Confidence,
    pub sigma_daily: Option<f64>,
    /// Demand missed while out of stock: `ads × (observed days − exposure days)`.
    pub lost_units_est: Option<f64>,
}

/// The rate from per-day history, as of the end of `as_of` (or `fixed_ads`, for what-if plans).
pub fn rate(days: &BTreeMap<NaiveDate, Day>, as_of: NaiveDate, fixed_ads: Option<f64>) -> Rate {
    let window = |w: i64| days.range(as_of - Duration::days(w - 1)..=as_of).map(|(_, d)| d);
    let sums =
        |w: i64| window(w).fold((0.0, 0.0, 0.0), |(e, s, o), d| (e + d.exposure, s + d.flows.sales, o + d.observed));
    let chosen = WINDOWS
        .iter()
        .find(|w| sums(**w).0 >= MIN_EXPOSURE_DAYS)
        .map(|w| (*w, if *w == WINDOWS[0] { Confidence::High } else { Confidence::Medium }))
        .or_else(|| (sums(90).0 >= MIN_ANY_EXPOSURE_DAYS).then_some((90, Confidence::Low)));
    let (window_days, confidence) = chosen.unwrap_or((90, Confidence::None));
    let (exposure_days, sales_in_window, observed) = sums(window_days);
    let ads = match (fixed_ads, chosen) {
        (Some(ads), _) => Some(ads),
        (None, Some(_)) => Some(sales_in_window / exposure_days),
        (None, None) => None,
    };
    let full: Vec<f64> = window(window_days).filter(|d| d.exposure >= 1.0 - 1e-9).map(|d| d.flows.sales).collect();
    let sigma_daily = ads.map(|ads| {
        if full.len() >= MIN_EXPOSURE_DAYS as usize {
            let mean = full.iter().sum::<f64>() / full.len() as f64;
            (full.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (full.len() - 1) as f64).sqrt()
        } else {
            ads.sqrt()
        }
    });
    let lost_units_est = ads.map(|ads| ads * (observed - exposure_days));
    Rate { ads, window_days, exposure_days, sales_in_window, confidence, sigma_daily, lost_units_est }
}

/// Everything §5.4 says about one SKU×warehouse.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cover {
    pub as_of: NaiveDate,
    pub rate: Rate,
    pub available: i64,
    pub pipeline: i64,
    /// `f64::INFINITY` when nothing sells.
    pub cover_days: Option<f64>,
    pub cover_days_total: Option<f64>,
    pub stockout_date: Option<NaiveDate>,
    pub ship_by: Option<NaiveDate>,
    pub rop: Option<f64>,
    pub reorder: bool,
    pub suggested_qty: u32,
    pub status: Status,
    pub level: Level,
}

/// Days `units` last at `ads`: 0 with nothing, infinite when nothing sells, unknown without a rate.
fn days_of(units: i64, ads: Option<f64>) -> Option<f64> {
    let ads = ads?;
    Some(if units <= 0 {
        0.0
    } else if ads <= 0.0 {
        f64::INFINITY
    } else {
        units as f64 / ads
    })
}

/// The whole evaluation, from the rate and what is on hand and on its way.
pub fn cover(as_of: NaiveDate, rate: Rate, available: i64, pipeline: i64, s: &Settings) -> Cover {
    let (l, t, z) = (s.lead_time_days, s.target_cover_days, s.service_z);
    let cover_days = days_of(available, rate.ads);
    let cover_days_total = days_of(available + pipeline, rate.ads);
    let stockout_date = cover_days.filter(|c| c.is_finite()).map(|c| as_of + Duration::days(c.ceil() as i64));
    let ship_by = stockout_date.map(|d| d - Duration::days(l.ceil() as i64));
    let (ads, sigma) = (rate.ads.unwrap_or(0.0), rate.sigma_daily.unwrap_or(0.0));
    let rop = rate.ads.map(|_| ads * l + z * sigma * l.sqrt());
    let position = (available + pipeline) as f64;
    let reorder = rop.is_some_and(|rop| position <= rop);
    let suggested_qty = match rate.ads {
        None => 0,
        Some(_) => {
            let need = ads * t + z * sigma * (l + t).sqrt() - (position - ads * l).max(0.0);
            if need <= 0.0 {
                0
            } else {
                // The MOQ in whole packs too, so a shipment is always whole packs.
                let pack = f64::from(s.pack.max(1));
                let moq = (f64::from(s.moq) / pack).ceil() * pack;
                ((need / pack).ceil() * pack).max(moq).min(f64::from(u32::MAX)) as u32
            }
        }
    };
    let status = match rate.ads {
        None => Status::CollectingData,
        Some(a) if a <= 0.0 => Status::NoSales,
        Some(_) if available <= 0 => Status::Oos,
        Some(_) => Status::Ok,
    };
    let level = match (status, cover_days_total) {
        (Status::Oos, _) => Level::Oos,
        (Status::Ok, Some(c)) if c <= l => Level::Critical,
        (Status::Ok, Some(c)) if c <= l + s.warning_buffer_days => Level::Warning,
        _ => Level::Ok,
    };
    Cover {
        as_of,
        rate,
        available,
        pipeline,
        cover_days,
        cover_days_total,
        stockout_date,
        ship_by,
        rop,
        reorder,
        suggested_qty,
        status,
        level,
    }
}

/// A number as the outputs write it: `"inf"` for infinity, null for unknown.
pub fn number(value: Option<f64>) -> serde_json::Value {
    match value {
        None => serde_json::Value::Null,
        Some(v) if v.is_infinite() => serde_json::json!("inf"),
        Some(v) => serde_json::json!(v),
    }
}

/// The day an instant is evaluated as of, in `tz`: an instant belongs to the day it ends, so the
/// close (local midnight) is the previous day's.
pub fn as_of(at: chrono::DateTime<chrono::Utc>, tz: chrono_tz::Tz) -> NaiveDate {
    (at - Duration::milliseconds(1)).with_timezone(&tz).date_naive()
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::High => "high",
            Self::Medium => "medium",
            Self::Low => "low",
            Self::None => "none",
        }
    }
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::NoSales => "no_sales",
            Self::CollectingData => "collecting_data",
            Self::Oos => "oos",
        }
    }
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warning => "warning",
            Self::Critical => "critical",
            Self::Oos => "oos",
        }
    }
}

impl Cover {
    /// This evaluation as §5.4's JSON object (numbers unrounded, infinity as `"inf"`, unknown as
    /// null).
    pub fn to_json(&self, sku: &str, warehouse: &str) -> serde_json::Value {
        let c = self;
        serde_json::json!({
            "sku": sku, "warehouse": warehouse, "as_of": c.as_of,
            "ads": number(c.rate.ads), "ads_window_days": c.rate.window_days, "confidence": c.rate.confidence.as_str(),
            "exposure_days": c.rate.exposure_days, "sales_in_window": c.rate.sales_in_window,
            "sigma_daily": number(c.rate.sigma_daily), "lost_units_est": number(c.rate.lost_units_est),
            "available": c.available, "pipeline": c.pipeline,
            "cover_days": number(c.cover_days), "cover_days_total": number(c.cover_days_total),
            "stockout_date": c.stockout_date, "ship_by": c.ship_by, "rop": number(c.rop), "reorder": c.reorder,
            "suggested_qty": c.suggested_qty, "status": c.status.as_str(), "level": c.level.as_str(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::history::Flows;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// `n` days ending at `as_of`, each from `f(i)` = (sales, exposure), i = 0 the oldest.
    fn history(as_of: &str, n: i64, f: impl Fn(i64) -> (f64, f64)) -> BTreeMap<NaiveDate, Day> {
        (0..n)
            .map(|i| {
                let (sales, exposure) = f(i);
                let day = Day { flows: Flows { sales, ..Flows::default() }, exposure, observed: 1.0 };
                (date(as_of) - Duration::days(n - 1 - i), day)
            })
            .collect()
    }

    #[test]
    fn a_slow_mover_sells_per_in_stock_day_not_per_selling_day() {
        // 10 units on 6 of 28 in-stock days: 0.357 a day (not 1.667 per selling day).
        let days = history("2026-11-28", 28, |i| {
            (if [2, 7, 11, 16, 20, 25].contains(&i) { if i < 20 { 2.0 } else { 1.0 } } else { 0.0 }, 1.0)
        });
        let r = rate(&days, date("2026-11-28"), None);
        assert_eq!((r.window_days, r.confidence, r.sales_in_window), (28, Confidence::High, 10.0));
        assert!((r.ads.unwrap() - 10.0 / 28.0).abs() < 1e-12);
        let c = cover(date("2026-11-28"), r, 5, 0, &Settings::default());
        assert!((c.cover_days.unwrap() - 14.0).abs() < 1e-9);
        assert_eq!(c.stockout_date, Some(date("2026-12-12")));
        assert_eq!(c.ship_by, Some(date("2026-12-05")));
        assert_eq!((c.status, c.level), (Status::Ok, Level::Warning), "14 ≤ L + B");
    }

    #[test]
    fn stock_out_days_are_not_zero_demand() {
        // 1 a day for 14 in-stock days, then 14 days out of stock: 1.0 a day, not 0.5.
        let days = history("2026-11-28", 28, |i| if i < 14 { (1.0, 1.0) } else { (0.0, 0.0) });
        let r = rate(&days, date("2026-11-28"), None);
        assert_eq!(r.ads, Some(1.0));
        assert_eq!(r.lost_units_est, Some(14.0));
        let c = cover(date("2026-11-28"), r, 0, 0, &Settings::default());
        assert_eq!(
            (c.status, c.level, c.cover_days, c.stockout_date),
            (Status::Oos, Level::Oos, Some(0.0), Some(date("2026-11-28")))
        );
        // Adding more out-of-stock days changes nothing.
        let longer = history("2026-11-28", 40, |i| if (12..26).contains(&i) { (1.0, 1.0) } else { (0.0, 0.0) });
        assert_eq!(rate(&longer, date("2026-11-28"), None).ads, Some(1.0));
    }

    #[test]
    fn thin_history_widens_the_window_then_gives_up() {
        let five = history("2026-11-28", 90, |i| if i % 18 == 0 { (1.0, 1.0) } else { (0.0, 0.0) });
        let r = rate(&five, date("2026-11-28"), None);
        assert_eq!((r.window_days, r.confidence, r.exposure_days), (90, Confidence::Low, 5.0));
        let eight = history("2026-11-28", 56, |i| if i % 7 == 0 { (1.0, 1.0) } else { (0.0, 0.0) });
        assert_eq!(rate(&eight, date("2026-11-28"), None).confidence, Confidence::Medium);
        let two = history("2026-11-28", 90, |i| if i > 87 { (1.0, 1.0) } else { (0.0, 0.0) });
        let r = rate(&two, date("2026-11-28"), None);
        assert_eq!((r.ads, r.confidence), (None, Confidence::None));
        let c = cover(date("2026-11-28"), r, 3, 0, &Settings::default());
        assert_eq!((c.status, c.level, c.cover_days, c.suggested_qty), (Status::CollectingData, Level::Ok, None, 0));
    }

    #[test]
    fn shipment_rop_and_what_if_rates() {
        // Fixed 2 a day, σ = √2 (no in-stock history), L 7, T 28, z 1.645.
        let r = rate(&BTreeMap::new(), date("2026-11-28"), Some(2.0));
        assert!((r.sigma_daily.unwrap() - 2f64.sqrt()).abs() < 1e-12);
        let s = Settings { pack: 12, moq: 24, ..Settings::default() };
        let c = cover(date("2026-11-28"), r, 20, 10, &s);
        let need = 56.0 + 1.645 * 2f64.sqrt() * 35f64.sqrt() - (30.0 - 14.0);
        assert_eq!(c.suggested_qty, ((need / 12.0).ceil() * 12.0) as u32);
        assert_eq!(c.suggested_qty % 12, 0);
        let rop = 14.0 + 1.645 * 2f64.sqrt() * 7f64.sqrt();
        assert!((c.rop.unwrap() - rop).abs() < 1e-12);
        assert!(!c.reorder, "30 on hand and on the way > ROP {rop}");
        // Plenty on hand: nothing to ship; the MOQ only applies to a shipment.
        assert_eq!(cover(date("2026-11-28"), r, 500, 0, &s).suggested_qty, 0);
        let small = cover(date("2026-11-28"), r, 90, 0, &Settings { moq: 50, ..Settings::default() });
        assert!(small.suggested_qty == 0 || small.suggested_qty >= 50);
        // Nothing sells: infinite cover, no stock-out date.
        let none = cover(date("2026-11-28"), rate(&BTreeMap::new(), date("2026-11-28"), Some(0.0)), 5, 0, &s);
        assert_eq!((none.status, none.cover_days, none.stockout_date), (Status::NoSales, Some(f64::INFINITY), None));
    }

    #[test]
    fn levels_enter_at_inclusive_bounds() {
        let r = rate(&BTreeMap::new(), date("2026-11-28"), Some(1.0));
        let level = |units| cover(date("2026-11-28"), r, units, 0, &Settings::default()).level;
        assert_eq!(
            (level(7), level(8), level(14), level(15)),
            (Level::Critical, Level::Warning, Level::Warning, Level::Ok)
        );
    }
}
