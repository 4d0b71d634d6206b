//! Stock-out forecast alerts and the daily digest, in Russian or English (§4.5, §5.6 of the
//! forecasting spec): per item the level, marketplace and warehouse, the product, what is on
//! hand, the sales rate with its window, the days of cover and the stock-out date, the suggested
//! shipment and its ship-by date, the lost sales, and the incident number. One alert lists at
//! most [`MAX_ITEMS`] items, out of stock first, then critical, then warning, each by cover;
//! the rest are counted with where to find them.

use std::collections::BTreeMap;

use serde_json::Value;

use super::messages::Lang;
use crate::store::forecast::StoredIncident;

/// Items one alert lists.
pub const MAX_ITEMS: usize = 10;

fn marketplace(lang: Lang, id: &str) -> String {
    match id {
        "wildberries" => "WB".into(),
        "ozon" => "Ozon".into(),
        "yandex_market" => lang.pick("Яндекс Маркет", "Yandex Market").into(),
        other => other.into(),
    }
}

fn level_head(lang: Lang, level: &str) -> String {
    match level {
        "oos" => format!("⛔ {}", lang.pick("Нет в наличии", "Out of stock")),
        "critical" => format!("🔴 {}", lang.pick("Критично", "Critical")),
        "warning" => format!("🟡 {}", lang.pick("Внимание", "Warning")),
        _ => format!("✅ {}", lang.pick("Норма", "OK")),
    }
}

/// `dd.mm` of a `YYYY-MM-DD` date.
fn day(date: &Value) -> Option<String> {
    let d = date.as_str()?;
    let (_, rest) = d.split_once('-')?;
    let (m, dd) = rest.split_once('-')?;
    Some(format!("{dd}.{m}"))
}

fn days(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if s == "inf" => Some("∞".into()),
        Value::Number(n) => n.as_f64().map(|d| format!("{d:.1}")),
        _ => None,
    }
}

/// Sort rank of an item: out of stock, critical, warning, then the rest; then by cover.
fn rank(d: &Value) -> (u8, f64) {
    let level = match d["level"].as_str() {
        Some("oos") => 0,
        Some("critical") => 1,
        Some("warning") => 2,
        _ => 3,
    };
    let cover = match &d["cover_days_total"] {
        Value::Number(n) => n.as_f64().unwrap_or(f64::MAX),
        _ => f64::MAX,
    };
    (level, cover)
}

/// One item of an alert.
fn item(lang: Lang, d: &Value) -> String {
    let s = |k: &str| d[k].as_str().unwrap_or_default().to_owned();
    let n = |k: &str| d[k].as_i64().unwrap_or_default();
    let seq = s("incident_id").rsplit('#').next().unwrap_or_default().to_owned();
    let head = match s("change").as_str() {
        "resolved" => format!("✅ {}", lang.pick("Решено", "Resolved")),
        "deescalated" => format!("↘ {}", level_head(lang, &s("level"))),
        _ => level_head(lang, &s("level")),
    };
    let mut lines = vec![
        format!("{head} · {} · {}", marketplace(lang, &s("marketplace")), s("warehouse")),
        format!("{} ({} {})", s("name"), lang.pick("арт.", "SKU"), s("sku")),
    ];
    let mut state = format!("{} {} {}", lang.pick("Остаток", "On hand"), n("available"), lang.pick("шт", "pcs"));
    if let Some(ads) = d["ads"].as_f64() {
        state += &match lang {
            Lang::Ru => format!(" · продажи {ads:.1}/дн ({} дн, без дней без остатка)", n("ads_window_days")),
            Lang::En => format!(" · sells {ads:.1}/day ({} days, in-stock days only)", n("ads_window_days")),
        };
    }
    if let Some(cover) = days(&d["cover_days"]) {
        state += &match lang {
            Lang::Ru => format!(" · хватит на {cover} дн"),
            Lang::En => format!(" · lasts {cover} days"),
        };
        if let Some(out) = day(&d["stockout_date"]) {
            state += &match lang {
                Lang::Ru => format!(" → закончится ~{out}"),
                Lang::En => format!(" → runs out ~{out}"),
            };
        }
    }
    lines.push(state);
    if n("pipeline") > 0 {
        lines.push(format!("{}: {}", lang.pick("В пути на склад", "On its way to the warehouse"), n("pipeline")));
    }
    let qty = n("suggested_qty");
    if qty > 0 && s("change") != "resolved" {
        let by = day(&d["ship_by"]).unwrap_or_else(|| "—".into());
        lines.push(match lang {
            Lang::Ru => format!("Рекомендуем отгрузить {qty} шт до {by}"),
            Lang::En => format!("Ship {qty} pcs by {by}"),
        });
    }
    if let Some(lost) = d["lost_units_est"].as_f64().filter(|l| *l >= 0.5) {
        lines.push(match lang {
            Lang::Ru => format!("Упущено за {} дн: ~{lost:.0} шт", n("ads_window_days")),
            Lang::En => format!("Lost in {} days: ~{lost:.0} pcs", n("ads_window_days")),
        });
    }
    lines.push(format!("#inc {seq} · {}", s("rule")));
    lines.join("\n")
}

/// One item for a SKU out of stock in several warehouses.
fn out_everywhere(lang: Lang, group: &[&Value]) -> String {
    let d = group[0];
    let s = |k: &str| d[k].as_str().unwrap_or_default().to_owned();
    let warehouses: Vec<&str> = group.iter().map(|d| d["warehouse"].as_str().unwrap_or_default()).collect();
    let incidents: Vec<&str> = group
        .iter()
        .map(|d| d["incident_id"].as_str().unwrap_or_default().rsplit('#').next().unwrap_or_default())
        .collect();
    [
        format!(
            "⛔ {} · {} · {}",
            lang.pick("Нет в наличии ни на одном складе", "Out of stock in every warehouse"),
            marketplace(lang, &s("marketplace")),
            warehouses.join(", ")
        ),
        format!("{} ({} {})", s("name"), lang.pick("арт.", "SKU"), s("sku")),
        format!("#inc {} · oos", incidents.join(", ")),
    ]
    .join("\n")
}

/// The alert lines of a batch's pushed incident changes: per marketplace, the most urgent
/// [`MAX_ITEMS`] items, then how many more and where they are.
pub fn alert_items(lang: Lang, changes: &[&Value]) -> Vec<String> {
    let mut by_marketplace: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for d in changes {
        by_marketplace.entry(d["marketplace"].as_str().unwrap_or_default()).or_default().push(d);
    }
    let mut out = Vec::new();
    for (_, mut items) in by_marketplace {
        items.sort_by(|a, b| rank(a).partial_cmp(&rank(b)).unwrap_or(std::cmp::Ordering::Equal));
        // A SKU out of stock in several warehouses at once is one item.
        let mut out_of_stock: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
        for d in items.iter().filter(|d| d["level"] == "oos" && d["change"] != "resolved") {
            out_of_stock.entry(d["sku"].as_str().unwrap_or_default()).or_default().push(d);
        }
        out_of_stock.retain(|_, group| group.len() >= 2);
        let mut said = std::collections::BTreeSet::new();
        let lines: Vec<String> = items
            .iter()
            .filter_map(|d| {
                let sku = d["sku"].as_str().unwrap_or_default();
                match out_of_stock.get(sku) {
                    Some(group) if d["level"] == "oos" && d["change"] != "resolved" => {
                        said.insert(sku).then(|| out_everywhere(lang, group))
                    }
                    _ => Some(item(lang, d)),
                }
            })
            .collect();
        let more = lines.len().saturating_sub(MAX_ITEMS);
        out.extend(lines.into_iter().take(MAX_ITEMS));
        if more > 0 {
            out.push(match lang {
                Lang::Ru => format!("…и ещё {more}: GET /api/v1/incidents"),
                Lang::En => format!("…and {more} more: GET /api/v1/incidents"),
            });
        }
    }
    out
}

/// The daily digest (§5.6): counts by level, deferred opens, the most urgent by ship-by date,
/// resolved since the last digest, and the shipment plan per warehouse.
pub fn digest(lang: Lang, tenant: &str, d: &Value) -> String {
    let n = |v: &Value| v.as_i64().unwrap_or_default();
    let counts = &d["open"];
    let mut lines = vec![
        match lang {
            Lang::Ru => format!("Stock Tracker — «{tenant}»: сводка за день"),
            Lang::En => format!("Stock Tracker — “{tenant}”: daily digest"),
        },
        match lang {
            Lang::Ru => format!(
                "Открыто: ⛔ {} · 🔴 {} · 🟡 {}",
                n(&counts["oos"]),
                n(&counts["critical"]),
                n(&counts["warning"])
            ),
            Lang::En => {
                format!("Open: ⛔ {} · 🔴 {} · 🟡 {}", n(&counts["oos"]), n(&counts["critical"]), n(&counts["warning"]))
            }
        },
    ];
    let list = |title: &str, key: &str, lines: &mut Vec<String>| {
        let items = d[key].as_array().cloned().unwrap_or_default();
        if !items.is_empty() {
            lines.push(title.to_owned());
            for i in &items {
                let by = day(&i["ship_by"]).map(|b| format!(" · {} {b}", lang.pick("до", "by"))).unwrap_or_default();
                lines.push(format!(
                    "• {} · {} {} — {}{by}",
                    level_head(lang, i["level"].as_str().unwrap_or("ok")),
                    i["sku"].as_str().unwrap_or_default(),
                    i["name"].as_str().unwrap_or_default(),
                    i["warehouse"].as_str().unwrap_or_default()
                ));
            }
        }
    };
    list(lang.pick("Отложено ночью:", "Deferred overnight:"), "deferred", &mut lines);
    list(lang.pick("Срочнее всего:", "Most urgent:"), "top", &mut lines);
    list(lang.pick("Решено:", "Resolved:"), "resolved", &mut lines);
    if let Some(plan) = d["shipments"].as_object().filter(|p| !p.is_empty()) {
        lines.push(lang.pick("План отгрузок:", "Shipment plan:").to_owned());
        for (warehouse, units) in plan {
            lines.push(format!("• {warehouse}: {} {}", n(units), lang.pick("шт", "pcs")));
        }
    }
    lines.join("\n")
}

/// An incident row of the digest as a JSON item.
pub fn digest_item(i: &StoredIncident, forecast: Option<&Value>) -> Value {
    serde_json::json!({
        "rule": i.row.rule, "level": i.row.level, "sku": i.sku, "name": i.name, "warehouse": i.row.warehouse,
        "marketplace": i.marketplace, "seq": i.row.seq,
        "ship_by": forecast.map_or(Value::Null, |f| f["ship_by"].clone()),
        "suggested_qty": forecast.map_or(Value::Null, |f| f["suggested_qty"].clone()),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn change(level: &str, cover: f64, sku: &str) -> Value {
        json!({
            "incident_id": "t:wildberries:A:Коледино:stock_cover#3", "rule": "stock_cover", "change": "opened",
            "level": level, "marketplace": "wildberries", "warehouse": "Коледино", "sku": sku,
            "name": "Кроссовки Runner 42", "available": 20, "ads": 6.0, "ads_window_days": 28,
            "cover_days": cover, "cover_days_total": cover, "stockout_date": "2026-03-18", "ship_by": "2026-03-13",
            "suggested_qty": 93, "lost_units_est": 22.0, "pipeline": 0,
        })
    }

    #[test]
    fn an_item_says_what_and_by_when_in_both_languages() {
        let c = change("critical", 3.3, "ART001");
        let ru = item(Lang::Ru, &c);
        assert_eq!(
            ru,
            "🔴 Критично · WB · Коледино\nКроссовки Runner 42 (арт. ART001)\n\
             Остаток 20 шт · продажи 6.0/дн (28 дн, без дней без остатка) · хватит на 3.3 дн → закончится ~18.03\n\
             Рекомендуем отгрузить 93 шт до 13.03\nУпущено за 28 дн: ~22 шт\n#inc 3 · stock_cover"
        );
        let en = item(Lang::En, &c);
        assert!(en.starts_with("🔴 Critical · WB · Коледино\n") && en.contains("Ship 93 pcs by 13.03"), "{en}");
    }

    #[test]
    fn a_sku_out_everywhere_is_one_item() {
        let mut a = change("oos", 0.0, "X");
        let mut b = change("oos", 0.0, "X");
        b["warehouse"] = json!("Казань");
        b["incident_id"] = json!("t:wildberries:X:Казань:oos#2");
        a["rule"] = json!("oos");
        let other = change("critical", 1.0, "Y");
        let lines = alert_items(Lang::En, &[&a, &b, &other]);
        assert_eq!(lines.len(), 2, "{lines:#?}");
        assert_eq!(
            lines[0],
            "⛔ Out of stock in every warehouse · WB · Коледино, Казань\nКроссовки Runner 42 (SKU X)\n#inc 3, 2 · oos"
        );
        assert!(lines[1].contains("SKU Y"));
    }

    #[test]
    fn at_most_ten_items_most_urgent_first() {
        let mut all: Vec<Value> = (0..12).map(|i| change("warning", 10.0 + f64::from(i), &format!("W{i}"))).collect();
        all.push(change("oos", 0.0, "OUT"));
        all.push(change("critical", 2.0, "CRIT"));
        let refs: Vec<&Value> = all.iter().collect();
        let lines = alert_items(Lang::En, &refs);
        assert_eq!(lines.len(), 11);
        assert!(lines[0].contains("SKU OUT") && lines[1].contains("SKU CRIT") && lines[2].contains("SKU W0"));
        assert_eq!(lines[10], "…and 4 more: GET /api/v1/incidents");
    }
}
