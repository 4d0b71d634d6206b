//! The host side of adapter pagination for one phase: which page to ask for next, the guards
//! against a cursor that never ends or repeats, and the retries of one page (rate limits with
//! the adapter's resume value, passing failures with backoff).

use std::collections::HashSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{MAX_PAGES, Progress, SyncError};
use crate::App;
use crate::plugins::CallError;
use crate::plugins::bindings::{AdapterError, PageRequest};

/// Where a phase stands: saved with a deferred run, so the next attempt continues there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct PagerState {
    pub(super) cursor: Option<String>,
    pub(super) resume: Option<String>,
    pub(super) pages: usize,
}

pub(super) struct Pager {
    phase: &'static str,
    page_size: u32,
    pub(super) state: PagerState,
    seen: HashSet<String>,
    done: bool,
}

impl Pager {
    #[cfg(test)]
    pub(super) fn new(phase: &'static str, page_size: u32) -> Self {
        Self::resume(phase, page_size, PagerState::default())
    }

    /// A pager that continues from a saved state.
    pub(super) fn resume(phase: &'static str, page_size: u32, state: PagerState) -> Self {
        Self { phase, page_size, state, seen: HashSet::new(), done: false }
    }

    /// The next page to request, or `None` once the adapter returned no cursor.
    pub(super) fn next_request(&self) -> Option<PageRequest> {
        (!self.done).then(|| PageRequest {
            cursor: self.state.cursor.clone(),
            page_size: self.page_size,
            resume: self.state.resume.clone(),
        })
    }

    /// Pages fetched so far.
    pub(super) fn pages(&self) -> usize {
        self.state.pages
    }

    /// Takes the cursor the adapter returned for the page just fetched.
    pub(super) fn advance(&mut self, next: Option<String>) -> Result<(), SyncError> {
        self.state.pages += 1;
        self.state.resume = None;
        match next {
            None => self.done = true,
            Some(_) if self.state.pages >= MAX_PAGES => return Err(SyncError::TooManyPages(self.phase)),
            Some(next) if !self.seen.insert(next.clone()) => return Err(SyncError::CursorLoop(self.phase)),
            Some(next) => self.state.cursor = Some(next),
        }
        Ok(())
    }

    /// Calls `call` with the next request until it answers: waits out rate limits within the
    /// attempt's budget (handing the adapter's resume value back), retries passing failures
    /// `SYNC_PAGE_RETRIES` times with backoff.
    pub(super) async fn fetch<T, F, Fut>(
        &mut self,
        app: &App,
        progress: &mut Progress,
        mut call: F,
    ) -> Result<T, SyncError>
    where
        F: FnMut(PageRequest) -> Fut,
        Fut: Future<Output = Result<T, SyncError>>,
    {
        let budget = app.config.sync.sync_max_rate_limit_wait_secs;
        let retries = app.config.sync.sync_page_retries;
        let mut failures = 0u32;
        loop {
            let Some(request) = self.next_request() else {
                unreachable!("fetch is called only while pages remain");
            };
            match call(request).await {
                Err(SyncError::Plugin(CallError::Adapter(AdapterError::RateLimited(limit)))) => {
                    if limit.resume.is_some() {
                        self.state.resume = limit.resume;
                    }
                    let wait = limit.retry_after_secs.max(1);
                    if progress.rate_limit_waited + wait > budget {
                        return Err(SyncError::RateLimited(wait));
                    }
                    progress.rate_limit_waited += wait;
                    tracing::info!(phase = self.phase, wait_s = wait, "marketplace rate limit: waiting {wait} s");
                    tokio::time::sleep(Duration::from_secs(wait)).await;
                }
                Err(err) if err.is_transient() && failures < retries => {
                    let wait = page_backoff(failures);
                    failures += 1;
                    tracing::info!(phase = self.phase, error = %err, attempt = failures,
                        "page failed in passing; retrying in {} ms", wait.as_millis());
                    tokio::time::sleep(wait).await;
                }
                other => return other,
            }
        }
    }
}

/// 0.5 s, 1.5 s, 4.5 s … (×3), at most 30 s.
fn page_backoff(failures: u32) -> Duration {
    Duration::from_millis(500u64.saturating_mul(3u64.saturating_pow(failures))).min(Duration::from_secs(30))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pager_follows_cursors_and_stops_loops() {
        let mut pager = Pager::new("products", 100);
        assert_eq!(pager.next_request().unwrap().cursor, None);
        pager.advance(Some("a".into())).unwrap();
        assert_eq!(pager.next_request().unwrap().cursor.as_deref(), Some("a"));
        pager.advance(Some("b".into())).unwrap();
        assert!(matches!(pager.advance(Some("a".into())), Err(SyncError::CursorLoop("products"))));
        let mut pager = Pager::new("stocks", 100);
        pager.advance(None).unwrap();
        assert!(pager.next_request().is_none());
    }

    #[test]
    fn a_resumed_pager_asks_for_the_saved_page_with_the_resume_value_until_one_succeeds() {
        let state = PagerState { cursor: Some("p7".into()), resume: Some("task:42".into()), pages: 7 };
        let mut pager = Pager::resume("stocks", 100, state);
        let request = pager.next_request().unwrap();
        assert_eq!((request.cursor.as_deref(), request.resume.as_deref()), (Some("p7"), Some("task:42")));
        pager.advance(Some("p8".into())).unwrap();
        assert_eq!(pager.next_request().unwrap().resume, None, "a page that succeeded clears it");
        assert_eq!(pager.pages(), 8);
    }

    #[test]
    fn page_backoff_grows_and_is_capped() {
        assert_eq!(page_backoff(0), Duration::from_millis(500));
        assert_eq!(page_backoff(2), Duration::from_millis(4500));
        assert_eq!(page_backoff(20), Duration::from_secs(30));
    }
}
