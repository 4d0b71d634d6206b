//! Splitting limited seller stock across warehouses by equal projected cover (§5.3.7 of the
//! forecasting spec): each warehouse's projected stock at arrival is
//! `p = max(0, position + pipeline − ads·L)`; the split is `x = min(need, max(0, ads·c − p))` for
//! the one cover level `c` (found by bisection) at which the shares add up to what there is.
//! Whole units (or whole packs) are then handed out by largest remainder. With enough stock every
//! warehouse gets its need.

/// One warehouse's side of the split.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Demand {
    pub ads: f64,
    pub position: f64,
    pub pipeline: f64,
    pub lead_time_days: f64,
    /// What the warehouse should get (its suggested shipment).
    pub need: u32,
}

impl Demand {
    fn projected(&self) -> f64 {
        (self.position + self.pipeline - self.ads * self.lead_time_days).max(0.0)
    }

    fn share(&self, cover: f64) -> f64 {
        (self.ads * cover - self.projected()).max(0.0).min(f64::from(self.need))
    }
}

/// Units per warehouse, in `demands`' order: `Σ = min(available, Σ need)` (in whole packs of
/// `pack` when more than 1), none above its need.
pub fn allocate(demands: &[Demand], available: u32, pack: u32) -> Vec<u32> {
    let total_need: u64 = demands.iter().map(|d| u64::from(d.need)).sum();
    if u64::from(available) >= total_need {
        return demands.iter().map(|d| d.need).collect();
    }
    let target = f64::from(available);
    let sum = |c: f64| demands.iter().map(|d| d.share(c)).sum::<f64>();
    // The largest cover any share needs to reach its cap bounds the search.
    let mut high = demands
        .iter()
        .filter(|d| d.ads > 0.0)
        .map(|d| (f64::from(d.need) + d.projected()) / d.ads)
        .fold(1.0_f64, f64::max);
    while sum(high) < target && high < 1e12 {
        high *= 2.0;
    }
    let mut low = 0.0;
    for _ in 0..200 {
        let mid = (low + high) / 2.0;
        if sum(mid) < target {
            low = mid;
        } else {
            high = mid;
        }
    }
    let shares: Vec<f64> = demands.iter().map(|d| d.share(high)).collect();
    round(&shares, demands, available, pack.max(1))
}

/// Whole units (packs) by largest remainder, never above a need, adding up to the available
/// units (whole packs of them).
fn round(shares: &[f64], demands: &[Demand], available: u32, pack: u32) -> Vec<u32> {
    let pack_f = f64::from(pack);
    let caps: Vec<u32> = demands.iter().map(|d| d.need / pack).collect();
    let mut packs: Vec<u32> =
        shares.iter().zip(&caps).map(|(s, cap)| ((s / pack_f).floor() as u32).min(*cap)).collect();
    let mut left = (available / pack).saturating_sub(packs.iter().sum());
    let mut order: Vec<usize> = (0..shares.len()).collect();
    order.sort_by(|a, b| {
        let frac = |i: usize| shares[i] / pack_f - f64::from(packs[i]);
        frac(*b).total_cmp(&frac(*a)).then(a.cmp(b))
    });
    while left > 0 {
        let before = left;
        for &i in &order {
            if left > 0 && packs[i] < caps[i] {
                packs[i] += 1;
                left -= 1;
            }
        }
        if left == before {
            break;
        }
    }
    packs.iter().map(|p| p * pack).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(ads: f64, position: f64, need: u32) -> Demand {
        Demand { ads, position, pipeline: 0.0, lead_time_days: 7.0, need }
    }

    #[test]
    fn enough_stock_ships_every_need() {
        assert_eq!(allocate(&[d(1.0, 0.0, 30), d(2.0, 10.0, 50)], 200, 1), [30, 50]);
    }

    #[test]
    fn short_stock_equalises_projected_cover() {
        // Both empty, one sells twice as fast: it gets twice as much.
        assert_eq!(allocate(&[d(1.0, 0.0, 100), d(2.0, 0.0, 100)], 60, 1), [20, 40]);
        // One already has 20 days after arrival (27 units − 7 sold): the other is filled first.
        let x = allocate(&[d(1.0, 27.0, 100), d(1.0, 0.0, 100)], 10, 1);
        assert_eq!(x, [0, 10]);
        let x = allocate(&[d(1.0, 27.0, 100), d(1.0, 0.0, 100)], 30, 1);
        assert_eq!(x, [5, 25], "both reach 25 days: 20 + 5 and 0 + 25");
    }

    #[test]
    fn whole_units_and_packs_add_up_and_never_exceed_a_need() {
        let x = allocate(&[d(1.0, 0.0, 100), d(1.0, 0.0, 100), d(1.0, 0.0, 100)], 10, 1);
        assert_eq!(x.iter().sum::<u32>(), 10);
        assert!(x.iter().all(|v| (3..=4).contains(v)), "{x:?}");
        let x = allocate(&[d(1.0, 0.0, 12), d(3.0, 0.0, 120)], 100, 12);
        assert!(x.iter().all(|v| v % 12 == 0) && x[0] <= 12 && x.iter().sum::<u32>() == 96, "{x:?}");
        assert_eq!(allocate(&[d(0.0, 0.0, 0), d(1.0, 0.0, 5)], 3, 1), [0, 3]);
        assert_eq!(allocate(&[], 10, 1), Vec::<u32>::new());
    }
}
