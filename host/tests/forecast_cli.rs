//! `stock-tracker forecast` as a planner uses it: a CSV of stock history in, one JSON object per
//! SKU×warehouse out, with the forecasting spec's worked examples; bad input is one clear error.

use serde_json::Value;

mod common;

use common::{command, temp_dir};

/// Runs `forecast` on `csv` with `args`; the objects printed, or the error line.
fn forecast(csv: &str, args: &[&str]) -> Result<Vec<Value>, String> {
    let dir = temp_dir();
    let path = dir.join("history.csv");
    std::fs::write(&path, csv).unwrap();
    let out = command(&dir).arg("forecast").arg("--history").arg(&path).args(args).output().unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect())
}

const HEADER: &str = "sku,warehouse,observed_at,available,in_transit_inbound,complete\n";

/// Daily closes from 31 October: `levels[i]` at the close of 31 Oct + i days.
fn daily(sku: &str, warehouse: &str, levels: &[i64], inbound_last: i64) -> String {
    let start = chrono::NaiveDate::from_ymd_opt(2026, 10, 31).unwrap();
    levels
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let inbound = if i + 1 == levels.len() { inbound_last } else { 0 };
            format!("{sku},{warehouse},{},{q},{inbound},true\n", start + chrono::Duration::days(i as i64))
        })
        .collect()
}

/// Stock that falls by `sold[i]` on day i (1 Nov + i) from `start`.
fn levels(start: i64, sold: impl Fn(usize) -> i64) -> Vec<i64> {
    let mut q = start;
    let mut out = vec![q];
    for i in 0..28 {
        q -= sold(i);
        out.push(q);
    }
    out
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap()
}

#[test]
fn a_slow_mover_and_a_stock_out_as_the_spec_works_them() {
    // 10 units on 6 of 28 in-stock days, 5 left: 0.357 a day, 14 days of cover (a selling-day
    // average would say 1.667 and 3 days, a false critical).
    let slow = levels(15, |i| match i {
        2 | 7 | 11 | 16 => 2,
        20 | 25 => 1,
        _ => 0,
    });
    // 1 a day for 14 days, then out of stock for 14: 1 a day, not the calendar 0.5.
    let out = levels(14, |i| i64::from(i < 14));
    let csv = format!("{HEADER}{}{}", daily("SLOW", "Коледино", &slow, 0), daily("\"OUT,1\"", "Казань", &out, 10));
    let rows = forecast(&csv, &["--as-of", "2026-11-28"]).unwrap();
    assert_eq!(rows.len(), 2);
    let (o, s) = (&rows[0], &rows[1]);
    assert_eq!(
        (s["sku"].as_str(), s["confidence"].as_str(), s["ads_window_days"].as_i64()),
        (Some("SLOW"), Some("high"), Some(28))
    );
    assert!((f(&s["ads"]) - 10.0 / 28.0).abs() < 1e-12, "{s}");
    assert!((f(&s["cover_days"]) - 14.0).abs() < 1e-9, "{s}");
    assert_eq!((s["stockout_date"].as_str(), s["ship_by"].as_str()), (Some("2026-12-12"), Some("2026-12-05")));
    assert_eq!((s["status"].as_str(), s["level"].as_str()), (Some("ok"), Some("warning")));
    assert_eq!(s["exposure_days"], 28.0);

    assert_eq!(o["sku"], "OUT,1", "a quoted SKU keeps its comma");
    // Day 14 goes from 1 to 0: half a day in stock.
    assert!((f(&o["ads"]) - 14.0 / 13.5).abs() < 1e-12, "{o}");
    assert_eq!(
        (o["status"].as_str(), o["level"].as_str(), o["available"].as_i64()),
        (Some("oos"), Some("oos"), Some(0))
    );
    assert_eq!((o["cover_days"].as_f64(), o["stockout_date"].as_str()), (Some(0.0), Some("2026-11-28")));
    assert_eq!(o["pipeline"], 10, "the last snapshot's inbound");
    assert!((f(&o["lost_units_est"]) - 14.0 / 13.5 * 14.5).abs() < 1e-9, "{o}");
}

#[test]
fn what_if_rates_pipelines_packs_and_moq() {
    let slow = levels(40, |_| 1);
    let csv = format!("{HEADER}{}", daily("A", "W", &slow, 0));
    let base = forecast(&csv, &["--as-of", "2026-11-28"]).unwrap().remove(0);
    assert_eq!(base["ads"], 1.0);
    assert_eq!(base["sigma_daily"], 0.0, "28 full days selling exactly 1");
    let planned =
        forecast(&csv, &["--as-of", "2026-11-28", "--ads", "2", "--pipeline", "30", "--pack", "12", "--moq", "48"])
            .unwrap()
            .remove(0);
    assert_eq!((planned["ads"].as_f64(), planned["pipeline"].as_i64()), (Some(2.0), Some(30)));
    // need = 2·28 + 0 − max(0, 12 + 30 − 14) = 28 → 3 packs of 12 = 36 < MOQ 48 → 48.
    assert_eq!(planned["suggested_qty"], 48);
    assert_eq!(planned["cover_days_total"], 21.0);
    let none = forecast(&csv, &["--as-of", "2026-11-28", "--ads", "0"]).unwrap().remove(0);
    assert_eq!(
        (none["cover_days"].as_str(), none["status"].as_str(), none["stockout_date"].clone()),
        (Some("inf"), Some("no_sales"), Value::Null)
    );
}

#[test]
fn thin_or_incomplete_history_is_unknown_not_zero() {
    // Two complete days, then a sync that failed midway (the row reads 0): collecting data.
    let csv = format!("{HEADER}B,W,2026-11-26,5,0,true\nB,W,2026-11-27,4,0,true\nB,W,2026-11-28,0,0,false\n");
    let row = forecast(&csv, &["--as-of", "2026-11-28"]).unwrap().remove(0);
    assert_eq!(
        (row["status"].as_str(), row["confidence"].as_str(), row["ads"].clone()),
        (Some("collecting_data"), Some("none"), Value::Null)
    );
    assert_eq!(row["available"], 4, "the incomplete zero is not stock");
    assert_eq!((row["cover_days"].clone(), row["level"].as_str()), (Value::Null, Some("ok")));
    // RFC 3339 times work as well as dates; later rows than --as-of are ignored.
    let csv = format!("{HEADER}C,W,2026-11-27T10:00:00+03:00,5,0,true\nC,W,2026-12-01T10:00:00+03:00,1,0,true\n");
    assert_eq!(forecast(&csv, &["--as-of", "2026-11-28"]).unwrap()[0]["available"], 5);
}

#[test]
fn bad_input_is_one_clear_error() {
    let cases = [
        ("sku,warehouse,when\n", "the header must be"),
        (
            "sku,warehouse,observed_at,available,in_transit_inbound,complete\nA,W,yesterday,1,0,true\n",
            "line 2: observed_at `yesterday`",
        ),
        (
            "sku,warehouse,observed_at,available,in_transit_inbound,complete\nA,W,2026-11-01,1,0,yes\n",
            "line 2: complete must be true or false",
        ),
        (
            "sku,warehouse,observed_at,available,in_transit_inbound,complete\nA,W,2026-11-01,-3,0,true\n",
            "line 2: available",
        ),
        ("sku,warehouse,observed_at,available,in_transit_inbound,complete\nA,W,2026-11-01,x,0,true\n", "line 2"),
    ];
    for (csv, says) in cases {
        let err = forecast(csv, &["--as-of", "2026-11-28"]).unwrap_err();
        assert!(err.contains(says), "{says}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    let ok = format!("{HEADER}A,W,2026-11-01,1,0,true\n");
    assert!(
        forecast(&ok, &["--as-of", "2026-11-28", "--timezone", "Mars/Olympus"]).unwrap_err().contains("--timezone")
    );
    assert!(forecast(&ok, &["--as-of", "2026-11-28", "--ads=-1"]).unwrap_err().contains("--ads"));
    assert!(forecast(&ok, &["--as-of", "28.11.2026"]).is_err());
}

#[test]
fn restock_plan_splits_short_seller_stock_by_equal_cover() {
    let dir = temp_dir();
    let path = dir.join("history.csv");
    // One SKU in two warehouses, both empty now: one sold 1 a day, the other 2.
    let slow = levels(28, |_| 1);
    let fast = levels(56, |_| 2);
    std::fs::write(&path, format!("{HEADER}{}{}", daily("S", "A", &slow, 0), daily("S", "B", &fast, 0))).unwrap();
    let run = |stock: &str| -> Vec<Value> {
        let out = command(&dir)
            .args(["restock-plan", "--as-of", "2026-11-28", "--seller-stock", stock, "--history"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    let short = run("60");
    let (a, b) = (&short[0], &short[1]);
    assert_eq!((a["warehouse"].as_str(), b["warehouse"].as_str()), (Some("A"), Some("B")));
    assert_eq!((a["allocated"].as_u64(), b["allocated"].as_u64()), (Some(20), Some(40)), "{short:?}");
    assert_eq!(a["cover_days_after"], b["cover_days_after"], "equal cover after the shipment");
    // Plenty: every warehouse gets its need.
    let plenty = run("100000");
    for row in &plenty {
        assert_eq!(row["allocated"], row["need"], "{row}");
    }
}

#[test]
fn alerts_open_escalate_repeat_and_resolve_incidents_as_the_spec_says() {
    // Selling 1 a day (fixed), L 7, B 7; Moscow time. Each row: when, on hand, complete.
    let rows = [
        ("2026-11-20T12:00:00+03:00", 30, true),
        ("2026-11-20T13:00:00+03:00", 14, true),
        ("2026-11-20T14:00:00+03:00", 14, true),
        ("2026-11-20T23:00:00+03:00", 6, true),
        ("2026-11-20T23:30:00+03:00", 6, true),
        ("2026-11-21T00:00:00+03:00", 0, false),
        ("2026-11-21T01:00:00+03:00", 0, true),
        ("2026-11-21T02:00:00+03:00", 0, true),
        ("2026-11-21T10:00:00+03:00", 40, true),
        ("2026-11-21T22:30:00+03:00", 12, true),
        ("2026-11-21T23:00:00+03:00", 12, true),
        ("2026-11-22T09:00:00+03:00", 12, true),
    ];
    let csv: String = rows.iter().map(|(at, q, complete)| format!("A1,Коледино,{at},{q},0,{complete}\n")).collect();
    let out = forecast(&format!("{HEADER}{csv}"), &["--as-of", "2026-11-22", "--ads", "1", "--alerts"]).unwrap();
    let seen: Vec<(&str, Option<&str>, &str, Option<&str>)> = out
        .iter()
        .map(|v| {
            (
                v["level"].as_str().unwrap(),
                v["incident"].as_str(),
                v["notification"].as_str().unwrap(),
                v["suppressed_by"].as_str(),
            )
        })
        .collect();
    let (cover1, cover2, oos1) =
        (Some("A1:Коледино:stock_cover#1"), Some("A1:Коледино:stock_cover#2"), Some("A1:Коледино:oos#1"));
    assert_eq!(
        seen,
        [
            ("ok", None, "none", None),
            ("ok", None, "none", Some("pending")),
            ("warning", cover1, "push", None),
            ("warning", cover1, "none", Some("pending")),
            ("critical", cover1, "push", None),
            ("critical", cover1, "none", Some("stale_data")),
            ("critical", None, "none", Some("pending")),
            ("oos", oos1, "push", None),
            ("ok", oos1, "push", None),
            ("ok", None, "none", Some("pending")),
            ("warning", cover2, "digest", Some("quiet_hours")),
            ("warning", cover2, "none", Some("repeat_interval")),
        ],
        "{out:#?}"
    );
    assert_eq!((out[8]["rule"].as_str(), out[8]["change"].as_str()), (Some("oos"), Some("resolved")));
    assert_eq!(out[2]["at"], "2026-11-20T11:00:00Z");
}
