//! Times the card-list mapping natively on a recorded page: `map_page <page.json> [runs]` prints
//! `median_ms min_ms`. The mapping benchmark (`tests/benches/plugins.rs`) runs it built with the
//! guest's compiler flags, as a control for the wasm-vs-native ratio.

use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: map_page <page.json> [runs]");
    let runs: usize = args.next().map_or(15, |r| r.parse().expect("runs: a number"));
    let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut times: Vec<f64> = (0..runs.max(1))
        .map(|_| {
            let start = Instant::now();
            let (items, _) = wildberries_adapter::mapping::parse_products_page(&body, u32::MAX).expect("a card list");
            std::hint::black_box(&items);
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!("{:.3} {:.3}", times[times.len() / 2], times[0]);
}
