//! Failure throttles: budgets that only failed attempts spend (wrong passwords, wrong operator
//! tokens), kept in the same limiter as the request limits (Redis when configured, so every
//! instance shares them).
//!
//! An attempt first looks at its budget without spending it ([`Throttle::admit`]): once the
//! budget is spent, the attempt is refused with a 429 before the secret is even compared, so a
//! guesser learns nothing more until the window passes. Only a failure spends
//! ([`Throttle::failed`]). When the limiter cannot answer, the attempt is refused (503): these
//! guard secrets, so they fail closed.

use std::time::Duration;

use super::headers::{epoch_secs, retry_secs};
use super::layer::DECISION_BUDGET;
use super::{Decision, LimiterError, Scope};
use crate::App;
use crate::error::ApiError;

/// A failure budget: `limit` failures per `window` per key.
#[derive(Debug, Clone, Copy)]
pub struct Throttle {
    /// Scope name in the 429 body and the limiter's key space.
    pub name: &'static str,
    pub limit: u64,
    pub window: Duration,
}

/// Failed logins per email (known or not: an unknown email is throttled exactly like a known one).
pub const LOGIN_PER_ACCOUNT: Throttle = Throttle { name: "login_account", limit: 10, window: Duration::from_secs(900) };

/// Failed operator-token attempts per client address.
pub const OPERATOR_PER_IP: Throttle = Throttle { name: "operator_auth", limit: 10, window: Duration::from_secs(900) };

impl Throttle {
    fn scope(&self, key: &str) -> [Scope; 1] {
        [Scope { name: self.name, key: key.to_owned().into(), limit: self.limit, window: self.window }]
    }

    /// Refuses (429) when `key` has spent its budget; charges nothing.
    pub async fn admit(&self, app: &App, key: &str) -> Result<(), ApiError> {
        let decision = decide(app.limiter.peek(&self.scope(key))).await?;
        if decision.allowed {
            return Ok(());
        }
        Err(ApiError::RateLimited {
            scope: self.name,
            retry_after_secs: retry_secs(decision.retry_after),
            reset_at: epoch_secs(decision.scopes[0].reset_after),
        })
    }

    /// Spends one failure of `key`'s budget.
    pub async fn failed(&self, app: &App, key: &str) -> Result<(), ApiError> {
        decide(app.limiter.check(&self.scope(key))).await.map(drop)
    }
}

async fn decide(decision: impl Future<Output = Result<Decision, LimiterError>>) -> Result<Decision, ApiError> {
    match tokio::time::timeout(DECISION_BUDGET, decision).await {
        Ok(Ok(decision)) => Ok(decision),
        failure => {
            let reason = match failure {
                Ok(Err(e)) => e.to_string(),
                _ => "timed out".into(),
            };
            tracing::warn!(reason = %reason, "failure throttle unavailable; refusing the attempt");
            Err(ApiError::Unavailable {
                code: "rate_limiter_unavailable",
                message: "the rate limiter is unavailable; try again shortly".into(),
                retry_after: Some(1),
            })
        }
    }
}
