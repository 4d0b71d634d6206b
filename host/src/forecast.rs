//! Stock-out forecasting (issue: "what to restock, where, and by when"), following the spec in
//! `reference/stockout-forecasting-and-alerts.md` §5. Pure functions over stock history, shared
//! by the service and the offline `stock-tracker forecast` command.
//!
//! - [`history`]: consecutive complete snapshots of one SKU×warehouse become intervals, classified
//!   as sales, returns, inbound, bulk outflows and transfers (§3.2), with in-stock exposure; then
//!   per-day totals in the tenant's time zone (§5.3.1).
//! - [`cover`]: the sales rate over in-stock exposure, days of cover, stock-out and ship-by
//!   dates, reorder point, shipment size, status and level of one evaluation (§5.3.2–§5.5).
//! - [`allocation`]: limited seller stock split across warehouses by equal projected cover
//!   (§5.3.7).
//! - [`offline`]: `stock-tracker forecast` (and `--alerts`) and `restock-plan`, the engine on a
//!   CSV of stock history.
//!
//! - [`incidents`]: the alert incident state machine (§5.6): levels with hysteresis, pending
//!   evaluations, dedup keys and incident numbers, repeats, quiet hours, inhibition and the
//!   `suppressed_by` reasons.

pub mod allocation;
pub mod cover;
pub mod digest;
pub mod history;
pub mod incidents;
pub mod offline;
pub mod service;

#[cfg(test)]
mod properties;

/// The serde name of a unit variant (`quiet_hours`, `stock_cover`, …), as stored and served.
pub fn wire_name<T: serde::Serialize>(v: T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}
