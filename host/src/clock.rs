//! The time forecasting and alerting see: the system clock, or one a test sets and moves (a week
//! of syncs played in seconds). Only what depends on the time of day or on days passing reads it:
//! when a sync observed stock, when incidents change, quiet hours, the daily digest.

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};

/// A clock shared by everything of one [`crate::App`].
#[derive(Debug, Clone, Default)]
pub struct Clock {
    manual: Arc<RwLock<Option<DateTime<Utc>>>>,
}

impl Clock {
    /// Now: the set time, or the system's (truncated like [`crate::store::now`]).
    pub fn now(&self) -> DateTime<Utc> {
        match *self.manual.read().unwrap_or_else(|e| e.into_inner()) {
            Some(at) => at,
            None => crate::store::now(),
        }
    }

    /// Stops the clock at `at` (tests).
    pub fn set(&self, at: DateTime<Utc>) {
        use chrono::SubsecRound;
        *self.manual.write().unwrap_or_else(|e| e.into_inner()) = Some(at.trunc_subsecs(6));
    }

    /// Moves a set clock on by `by` (tests); a system clock is set first.
    pub fn advance(&self, by: chrono::Duration) {
        self.set(self.now() + by);
    }
}
