//! Alert incidents (§5.6 of the forecasting spec): one state machine per dedup key
//! `{tenant}:{marketplace}:{sku}:{warehouse}:{rule}`, stepped once per evaluation.
//!
//! - **Rules:** `oos` (nothing on hand while it sells, or sold in the last 90 days while the rate
//!   is still unknown) and `stock_cover` (cover with the pipeline at or below `L + B`: warning;
//!   at or below `L`: critical). Entering compares inclusively (≤); leaving needs the cover
//!   strictly above `1.25 ×` the threshold (hysteresis).
//! - **Escalation** (a higher level than the incident's) needs two consecutive evaluations that
//!   meet a higher level, and fires the lowest level met on both; **de-escalation** is immediate.
//!   Incomplete or stale data changes nothing (and does not break the consecutive count).
//! - **Incidents:** the key + `#` + a sequence that grows after each resolve; level changes update
//!   the same incident.
//! - **Notifications:** an open pushes, except a warning in quiet hours (to the digest); an
//!   escalation pushes, unless the incident fell and came back to a level already pushed less
//!   than 24 h ago (digest); critical or out-of-stock repeats after 24 h; a de-escalation goes
//!   to the digest; a resolve pushes only after a critical or out-of-stock level and outside quiet hours.
//!   Urgent (critical, out of stock) pushes bypass quiet hours when the tenant allows it (the
//!   default). A push not made records why (`suppressed_by`): `pending`, `quiet_hours`,
//!   `repeat_interval`, `inhibited` (an open `oos` incident of the same SKU×warehouse silences
//!   `stock_cover`), `muted`, `stale_data`, or `already_shipped` (the pipeline covers the lead
//!   time's sales: digest only).

use chrono::{DateTime, Duration, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::cover::{Cover, Level, Settings, Status};

/// How incidents are raised and told (§5.2's alert parameters and the tenant's quiet hours).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// Leaving a level needs the cover above this × its entry threshold (1.25).
    pub hysteresis: f64,
    /// Consecutive evaluations that must meet a higher level before it fires (2).
    pub pending_evals: usize,
    /// Critical and out-of-stock incidents are pushed again after this (24 h).
    pub repeat: Duration,
    /// Local hours `[from, to)` (wrapping midnight) in which non-urgent pushes wait for the
    /// digest; `None`: no quiet hours.
    pub quiet_hours: Option<(u32, u32)>,
    /// Whether critical and out-of-stock pushes go out in quiet hours.
    pub urgent_bypass_quiet: bool,
    pub tz: Tz,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            hysteresis: 1.25,
            pending_evals: 2,
            repeat: Duration::hours(24),
            quiet_hours: Some((22, 9)),
            urgent_bypass_quiet: true,
            tz: chrono_tz::Europe::Moscow,
        }
    }
}

impl Policy {
    /// Whether `at` falls in the tenant's quiet hours.
    pub fn is_quiet(&self, at: DateTime<Utc>) -> bool {
        let Some((from, to)) = self.quiet_hours else { return false };
        let hour = at.with_timezone(&self.tz).hour();
        if from <= to { (from..to).contains(&hour) } else { hour >= from || hour < to }
    }
}

/// What an incident is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    Oos,
    StockCover,
}

impl Rule {
    pub const ALL: [Self; 2] = [Self::Oos, Self::StockCover];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Oos => "oos",
            Self::StockCover => "stock_cover",
        }
    }
}

/// What an evaluation did to its incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// A higher level is met but not yet confirmed.
    Pending,
    Opened,
    Escalated,
    /// Still open at the same level, not told again.
    Unchanged,
    /// Still open at the same critical or out-of-stock level, told again after the interval.
    Repeated,
    Deescalated,
    Resolved,
}

/// Where the evaluation goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Notification {
    Push,
    Digest,
    None,
}

/// Why a push was not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Suppressed {
    Pending,
    QuietHours,
    RepeatInterval,
    Inhibited,
    Muted,
    StaleData,
    AlreadyShipped,
}

/// One dedup key's state between evaluations (stored per SKU×warehouse×rule).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// The number of the current (or last) incident; 0 before the first.
    pub seq: u32,
    /// The open incident's level; `Ok` when none is open.
    pub level: Level,
    /// The highest level the open (or last) incident reached.
    pub max_level: Level,
    /// Levels met by consecutive evaluations above the incident's level, oldest first.
    #[serde(default)]
    pub pending: Vec<Level>,
    pub opened_at: Option<DateTime<Utc>>,
    /// When the incident was last told (pushed or put in the digest).
    pub last_told: Option<DateTime<Utc>>,
    /// When the open incident was last pushed, and at which level: a level that falls back and
    /// escalates again to one already pushed is not pushed again within `repeat` (no flapping
    /// pushes: at most one per key per repeat interval unless the level increased).
    #[serde(default)]
    pub last_pushed: Option<(DateTime<Utc>, Level)>,
}

/// What one SKU×warehouse looks like at an evaluation.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub at: DateTime<Utc>,
    /// False when the data is incomplete or older than twice the expected refresh.
    pub fresh: bool,
    pub cover: &'a Cover,
    pub settings: &'a Settings,
    /// The seller muted this SKU×warehouse (or snoozed it past `at`).
    pub muted: bool,
    /// The SKU is out of stock in every warehouse it has (two or more) while it sells: its
    /// `stock_cover` pushes are silenced, the out-of-stock ones go in one item.
    pub sku_out_everywhere: bool,
}

/// The result of stepping one rule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Outcome {
    pub rule: Rule,
    /// `None`: no incident and nothing pending.
    pub change: Option<Change>,
    /// The incident's level after the evaluation (`ok` once resolved).
    pub level: Level,
    /// The incident's sequence number (`key#seq`); `None` when there is none to speak of.
    pub seq: Option<u32>,
    pub notification: Notification,
    pub suppressed_by: Option<Suppressed>,
}

/// The level `rule` meets on entry thresholds, and the one it holds given the current `level`.
fn target(rule: Rule, level: Level, input: &Input<'_>, policy: &Policy) -> (Level, Level) {
    let c = input.cover;
    match rule {
        Rule::Oos => {
            let sells = match c.rate.ads {
                Some(ads) => ads > 0.0,
                None => c.rate.sales_in_window > 0.0,
            };
            let met = if c.available <= 0 && sells { Level::Oos } else { Level::Ok };
            let held = if level == Level::Oos && c.available <= 0 { Level::Oos } else { Level::Ok };
            (met, held)
        }
        Rule::StockCover => {
            let cover = match (c.status, c.cover_days_total) {
                (Status::Ok | Status::Oos, Some(cover)) => cover,
                _ => return (Level::Ok, Level::Ok),
            };
            let l = input.settings.lead_time_days;
            let thresholds = [(Level::Critical, l), (Level::Warning, l + input.settings.warning_buffer_days)];
            let met = thresholds.iter().find(|(_, t)| cover <= *t).map_or(Level::Ok, |(lv, _)| *lv);
            let held = thresholds
                .iter()
                .find(|(lv, t)| *lv <= level && cover <= policy.hysteresis * t)
                .map_or(Level::Ok, |(lv, _)| *lv);
            (met, held)
        }
    }
}

/// Steps `rule`'s state by one evaluation. `inhibited`: another rule silences this one (an open
/// `oos` incident silences `stock_cover`).
pub fn step(state: &mut State, rule: Rule, input: &Input<'_>, inhibited: bool, policy: &Policy) -> Outcome {
    let open = |s: &State| (s.level > Level::Ok).then_some(s.seq);
    if !input.fresh {
        let pending = !state.pending.is_empty();
        let change = if state.level > Level::Ok { Some(Change::Unchanged) } else { pending.then_some(Change::Pending) };
        let suppressed = (change.is_some()).then_some(Suppressed::StaleData);
        return Outcome {
            rule,
            change,
            level: state.level,
            seq: open(state),
            notification: Notification::None,
            suppressed_by: suppressed,
        };
    }
    let (met, held) = target(rule, state.level, input, policy);
    let wanted = met.max(held);
    let at = input.at;
    let change = if wanted > state.level {
        state.pending.push(met);
        if state.pending.len() < policy.pending_evals {
            return Outcome {
                rule,
                change: Some(Change::Pending),
                level: state.level,
                seq: open(state),
                notification: Notification::None,
                suppressed_by: Some(Suppressed::Pending),
            };
        }
        let fired = state.pending.iter().rev().take(policy.pending_evals).copied().min().unwrap_or(met);
        state.pending.clear();
        let change = if state.level == Level::Ok {
            state.seq += 1;
            state.opened_at = Some(at);
            state.max_level = fired;
            Change::Opened
        } else {
            state.max_level = state.max_level.max(fired);
            Change::Escalated
        };
        state.level = fired;
        change
    } else {
        state.pending.clear();
        if wanted < state.level {
            state.level = wanted;
            if wanted == Level::Ok { Change::Resolved } else { Change::Deescalated }
        } else if state.level == Level::Ok {
            return Outcome {
                rule,
                change: None,
                level: Level::Ok,
                seq: None,
                notification: Notification::None,
                suppressed_by: None,
            };
        } else if state.level >= Level::Critical
            && state.last_told.or(state.opened_at).is_none_or(|t| at - t >= policy.repeat)
        {
            Change::Repeated
        } else {
            Change::Unchanged
        }
    };
    let (notification, mut suppressed_by) = policy_for(change, state, at, policy);
    let mut notification = notification;
    if notification != Notification::None {
        let downgrade = if input.muted {
            Some((Notification::None, Suppressed::Muted))
        } else if inhibited && change != Change::Resolved {
            Some((Notification::None, Suppressed::Inhibited))
        } else if notification == Notification::Push && change != Change::Resolved && already_shipped(input) {
            Some((Notification::Digest, Suppressed::AlreadyShipped))
        } else {
            None
        };
        if let Some((n, why)) = downgrade {
            notification = n;
            suppressed_by = Some(why);
        }
    }
    if notification == Notification::Push
        && change == Change::Escalated
        && state.last_pushed.is_some_and(|(t, level)| level >= state.level && at - t < policy.repeat)
    {
        // Back up to a level pushed less than `repeat` ago (it had fallen in between).
        notification = Notification::Digest;
        suppressed_by = Some(Suppressed::RepeatInterval);
    }
    if notification != Notification::None {
        state.last_told = Some(at);
    }
    if change == Change::Resolved {
        state.last_pushed = None;
    } else if notification == Notification::Push {
        state.last_pushed = Some((at, state.level));
    }
    Outcome { rule, change: Some(change), level: state.level, seq: Some(state.seq), notification, suppressed_by }
}

/// §5.6's notification policy for a change at `at`.
fn policy_for(change: Change, state: &State, at: DateTime<Utc>, policy: &Policy) -> (Notification, Option<Suppressed>) {
    let quiet = policy.is_quiet(at);
    let urgent = state.level >= Level::Critical;
    let push_unless_quiet = |urgent: bool| {
        if quiet && !(urgent && policy.urgent_bypass_quiet) {
            (Notification::Digest, Some(Suppressed::QuietHours))
        } else {
            (Notification::Push, None)
        }
    };
    match change {
        Change::Opened | Change::Escalated | Change::Repeated => push_unless_quiet(urgent),
        Change::Unchanged => (Notification::None, Some(Suppressed::RepeatInterval)),
        Change::Deescalated => (Notification::Digest, None),
        Change::Resolved if state.max_level < Level::Critical => (Notification::Digest, None),
        Change::Resolved if quiet => (Notification::Digest, Some(Suppressed::QuietHours)),
        Change::Resolved => (Notification::Push, None),
        Change::Pending => (Notification::None, Some(Suppressed::Pending)),
    }
}

/// "Already shipped": what is on its way covers the lead time's sales.
fn already_shipped(input: &Input<'_>) -> bool {
    let c = input.cover;
    c.pipeline > 0 && c.rate.ads.is_some_and(|ads| c.pipeline as f64 >= ads * input.settings.lead_time_days)
}

/// Steps both rules of one SKU×warehouse: `oos` first, whose open incident inhibits
/// `stock_cover` (as does the SKU being out everywhere).
pub fn step_all(states: &mut [State; 2], input: &Input<'_>, policy: &Policy) -> [Outcome; 2] {
    let oos = step(&mut states[0], Rule::Oos, input, false, policy);
    let inhibited = states[0].level == Level::Oos || input.sku_out_everywhere;
    let cover = step(&mut states[1], Rule::StockCover, input, inhibited, policy);
    [oos, cover]
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::{NaiveDate, TimeZone};

    use super::*;
    use crate::forecast::cover::{cover, rate};

    /// Moscow local time on 2026-11-`day` at `hour`.
    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        chrono_tz::Europe::Moscow.with_ymd_and_hms(2026, 11, day, hour, 0, 0).unwrap().with_timezone(&Utc)
    }

    /// One SKU×warehouse selling 1 a day (L 7, B 7), evaluated with its states.
    struct Pair {
        states: [State; 2],
        policy: Policy,
        settings: Settings,
    }

    impl Pair {
        fn new() -> Self {
            Self { states: Default::default(), policy: Policy::default(), settings: Settings::default() }
        }

        fn eval(&mut self, when: DateTime<Utc>, available: i64, pipeline: i64) -> [Outcome; 2] {
            self.eval_with(when, available, pipeline, true, false)
        }

        fn eval_with(
            &mut self,
            when: DateTime<Utc>,
            available: i64,
            pipeline: i64,
            fresh: bool,
            muted: bool,
        ) -> [Outcome; 2] {
            let day = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
            let c = cover(day, rate(&BTreeMap::new(), day, Some(1.0)), available, pipeline, &self.settings);
            let input =
                Input { at: when, fresh, cover: &c, settings: &self.settings, muted, sku_out_everywhere: false };
            step_all(&mut self.states, &input, &self.policy)
        }
    }

    fn said(o: &Outcome) -> (Option<Change>, Level, Notification, Option<Suppressed>) {
        (o.change, o.level, o.notification, o.suppressed_by)
    }

    #[test]
    fn a_run_down_to_zero_and_a_supply() {
        let mut p = Pair::new();
        assert_eq!(said(&p.eval(at(1, 12), 30, 0)[1]), (None, Level::Ok, Notification::None, None));
        // Cover 14 = L + B: warning met, pending on the first evaluation, opened on the second.
        let [_, c] = p.eval(at(1, 13), 14, 0);
        assert_eq!(said(&c), (Some(Change::Pending), Level::Ok, Notification::None, Some(Suppressed::Pending)));
        let [_, c] = p.eval(at(1, 14), 14, 0);
        assert_eq!(said(&c), (Some(Change::Opened), Level::Warning, Notification::Push, None));
        assert_eq!(c.seq, Some(1));
        // 15 days: above the entry, inside the hysteresis band (17.5): still a warning, not told again.
        let [_, c] = p.eval(at(1, 15), 15, 0);
        assert_eq!(
            said(&c),
            (Some(Change::Unchanged), Level::Warning, Notification::None, Some(Suppressed::RepeatInterval))
        );
        // 7 = L: critical, after two evaluations, the same incident.
        p.eval(at(1, 16), 7, 0);
        let [_, c] = p.eval(at(1, 17), 7, 0);
        assert_eq!(said(&c), (Some(Change::Escalated), Level::Critical, Notification::Push, None));
        assert_eq!(c.seq, Some(1));
        // Out of stock: `oos` opens after two evaluations and inhibits `stock_cover`.
        let [o, c] = p.eval(at(1, 18), 0, 0);
        assert_eq!(said(&o), (Some(Change::Pending), Level::Ok, Notification::None, Some(Suppressed::Pending)));
        assert_eq!(c.change, Some(Change::Unchanged));
        let [o, _] = p.eval(at(1, 19), 0, 0);
        assert_eq!(said(&o), (Some(Change::Opened), Level::Oos, Notification::Push, None));
        // A day later both would repeat; `stock_cover` is inhibited by the open `oos`.
        let [o, c] = p.eval(at(2, 19), 0, 0);
        assert_eq!(said(&o), (Some(Change::Repeated), Level::Oos, Notification::Push, None));
        assert_eq!(
            said(&c),
            (Some(Change::Repeated), Level::Critical, Notification::None, Some(Suppressed::Inhibited))
        );
        // A supply of 30: both resolve at once; both reached critical or worse, so both push.
        let [o, c] = p.eval(at(2, 20), 30, 0);
        assert_eq!(said(&o), (Some(Change::Resolved), Level::Ok, Notification::Push, None));
        assert_eq!(said(&c), (Some(Change::Resolved), Level::Ok, Notification::Push, None));
        // The next run-down opens incident #2.
        p.eval(at(3, 12), 10, 0);
        let [_, c] = p.eval(at(3, 13), 10, 0);
        assert_eq!((c.change, c.seq), (Some(Change::Opened), Some(2)));
    }

    #[test]
    fn boundaries_enter_inclusive_and_leave_strict() {
        let mut p = Pair::new();
        p.eval(at(1, 12), 7, 0);
        assert_eq!(p.eval(at(1, 13), 7, 0)[1].level, Level::Critical, "7 ≤ L = 7");
        // 8.75 = 1.25 × L is not above it: still critical; 9 is.
        assert_eq!(p.eval(at(1, 14), 8, 0)[1].level, Level::Critical);
        let mut q = Pair::new();
        q.settings.lead_time_days = 8.0;
        q.eval(at(1, 12), 8, 0);
        q.eval(at(1, 13), 8, 0);
        assert_eq!(q.eval(at(1, 14), 10, 0)[1].level, Level::Critical, "10 = 1.25 × 8 is not above it");
        let c = q.eval(at(1, 15), 11, 0)[1];
        assert_eq!(said(&c), (Some(Change::Deescalated), Level::Warning, Notification::Digest, None));
        // A warning leaves strictly above 1.25 × (L + B) = 18.75; the incident was critical, so
        // its resolve is pushed.
        assert_eq!(q.eval(at(1, 16), 18, 0)[1].level, Level::Warning);
        let c = q.eval(at(1, 17), 19, 0)[1];
        assert_eq!(said(&c), (Some(Change::Resolved), Level::Ok, Notification::Push, None));
    }

    #[test]
    fn differing_evaluations_fire_the_lowest_level_met_on_both() {
        let mut p = Pair::new();
        assert_eq!(p.eval(at(1, 12), 5, 0)[1].change, Some(Change::Pending));
        let c = p.eval(at(1, 13), 12, 0)[1];
        assert_eq!((c.change, c.level), (Some(Change::Opened), Level::Warning));
        // An incident that never reached critical resolves into the digest.
        let c = p.eval(at(1, 14), 40, 0)[1];
        assert_eq!(said(&c), (Some(Change::Resolved), Level::Ok, Notification::Digest, None));
    }

    #[test]
    fn quiet_hours_defer_warnings_but_not_urgent_pushes() {
        let mut p = Pair::new();
        p.eval(at(1, 22), 12, 0);
        let c = p.eval(at(1, 23), 12, 0)[1];
        assert_eq!(
            said(&c),
            (Some(Change::Opened), Level::Warning, Notification::Digest, Some(Suppressed::QuietHours))
        );
        p.eval(at(2, 1), 3, 0);
        let c = p.eval(at(2, 2), 3, 0)[1];
        assert_eq!(said(&c), (Some(Change::Escalated), Level::Critical, Notification::Push, None), "urgent bypasses");
        // Without the bypass, it waits for the digest too; a resolve in quiet hours as well.
        let mut q = Pair::new();
        q.policy.urgent_bypass_quiet = false;
        q.eval(at(1, 23), 3, 0);
        let c = q.eval(at(2, 0), 3, 0)[1];
        assert_eq!(
            said(&c),
            (Some(Change::Opened), Level::Critical, Notification::Digest, Some(Suppressed::QuietHours))
        );
        let c = q.eval(at(2, 8), 40, 0)[1];
        assert_eq!(said(&c), (Some(Change::Resolved), Level::Ok, Notification::Digest, Some(Suppressed::QuietHours)));
    }

    #[test]
    fn a_level_that_falls_and_comes_back_is_not_pushed_twice_in_a_day() {
        let mut p = Pair::new();
        let critical = |p: &mut Pair, day, hour| {
            p.eval(at(day, hour), 6, 0);
            p.eval(at(day, hour + 1), 6, 0)[1]
        };
        let opened = critical(&mut p, 1, 12);
        assert_eq!(said(&opened), (Some(Change::Opened), Level::Critical, Notification::Push, None));
        // Cover 10 > 1.25 × 7: down to warning (digest), then back to critical two hours later.
        assert_eq!(p.eval(at(1, 14), 10, 0)[1].change, Some(Change::Deescalated));
        let again = critical(&mut p, 1, 15);
        assert_eq!(
            said(&again),
            (Some(Change::Escalated), Level::Critical, Notification::Digest, Some(Suppressed::RepeatInterval)),
            "the seller was told of this critical level two hours ago"
        );
        assert_eq!(again.seq, opened.seq, "the same incident");
        // A day after that push, the same fall and rise pushes again.
        assert_eq!(p.eval(at(2, 14), 10, 0)[1].change, Some(Change::Deescalated));
        assert_eq!(
            said(&critical(&mut p, 2, 15)),
            (Some(Change::Escalated), Level::Critical, Notification::Push, None)
        );
    }

    #[test]
    fn repeats_once_a_day_and_stale_data_changes_nothing() {
        let mut p = Pair::new();
        p.eval(at(1, 10), 3, 0);
        assert_eq!(p.eval(at(1, 11), 3, 0)[1].notification, Notification::Push);
        let c = p.eval(at(2, 10), 3, 0)[1];
        assert_eq!((c.change, c.suppressed_by), (Some(Change::Unchanged), Some(Suppressed::RepeatInterval)), "23 h");
        let c = p.eval(at(2, 11), 3, 0)[1];
        assert_eq!((c.change, c.notification), (Some(Change::Repeated), Notification::Push), "24 h");
        // Stale data: no change, even with plenty on hand; the pending count survives it.
        let c = p.eval_with(at(2, 12), 100, 0, false, false)[1];
        assert_eq!(
            said(&c),
            (Some(Change::Unchanged), Level::Critical, Notification::None, Some(Suppressed::StaleData))
        );
        let mut q = Pair::new();
        q.eval(at(1, 10), 3, 0);
        q.eval_with(at(1, 11), 3, 0, false, false);
        assert_eq!(q.eval(at(1, 12), 3, 0)[1].change, Some(Change::Opened));
    }

    #[test]
    fn muted_and_already_shipped_pairs_stay_quiet() {
        let mut p = Pair::new();
        p.eval_with(at(1, 10), 3, 0, true, true);
        let c = p.eval_with(at(1, 11), 3, 0, true, true)[1];
        assert_eq!(said(&c), (Some(Change::Opened), Level::Critical, Notification::None, Some(Suppressed::Muted)));
        // 0 on hand, 7 on the way (= ads × L): the incident opens, into the digest only.
        let mut q = Pair::new();
        q.eval(at(1, 10), 0, 7);
        let o = q.eval(at(1, 11), 0, 7)[0];
        assert_eq!(
            said(&o),
            (Some(Change::Opened), Level::Oos, Notification::Digest, Some(Suppressed::AlreadyShipped))
        );
    }

    #[test]
    fn nothing_sold_raises_nothing() {
        let mut p = Pair::new();
        let day = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
        let c = cover(day, rate(&BTreeMap::new(), day, Some(0.0)), 0, 0, &p.settings);
        for h in 10..14 {
            let input = Input {
                at: at(1, h),
                fresh: true,
                cover: &c,
                settings: &p.settings,
                muted: false,
                sku_out_everywhere: false,
            };
            let [o, s] = step_all(&mut p.states, &input, &p.policy);
            assert_eq!((o.change, s.change), (None, None));
        }
    }
}
