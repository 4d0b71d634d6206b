//! What both fakes share: serving a router on 127.0.0.1 until dropped, and injected faults.

use std::net::SocketAddr;
use std::sync::Mutex;

/// A server on 127.0.0.1; stops when dropped.
pub struct Running {
    pub addr: SocketAddr,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

/// Serves `router` on 127.0.0.1:`port` (0: any free port) until the result is dropped.
pub async fn serve(port: u16, router: axum::Router) -> std::io::Result<Running> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    Ok(Running { addr, _shutdown: tx })
}

/// Faults to inject, by path, and the paths served so far.
#[derive(Debug, Default)]
pub struct Faults {
    /// `(path, times left, seconds to say)`: answer with the marketplace's rate-limit refusal.
    rate_limits: Mutex<Vec<(String, u32, u64)>>,
    /// `(path, times left, status)`: answer with a failure.
    failures: Mutex<Vec<(String, u32, u16)>>,
    requests: Mutex<Vec<String>>,
}

impl Faults {
    /// The next `times` requests to `path` are refused as over the rate limit, saying to wait
    /// `retry_after` seconds where the marketplace says so.
    pub fn rate_limit_next(&self, path: &str, times: u32, retry_after: u64) {
        self.rate_limits.lock().unwrap().push((path.to_owned(), times, retry_after));
    }

    /// The next `times` requests to `path` fail with `status`.
    pub fn fail_next(&self, path: &str, times: u32, status: u16) {
        self.failures.lock().unwrap().push((path.to_owned(), times, status));
    }

    /// Requests served to `path` so far (refused ones included).
    pub fn requests(&self, path: &str) -> usize {
        self.requests.lock().unwrap().iter().filter(|p| *p == path).count()
    }

    /// Records a request; the fault to answer with, if one is due.
    pub(crate) fn take(&self, path: &str) -> Option<Fault> {
        self.requests.lock().unwrap().push(path.to_owned());
        if let Some(secs) = take_one(&self.rate_limits, path) {
            return Some(Fault::RateLimited(secs));
        }
        take_one(&self.failures, path).map(Fault::Status)
    }
}

fn take_one<T: Copy>(list: &Mutex<Vec<(String, u32, T)>>, path: &str) -> Option<T> {
    let mut list = list.lock().unwrap();
    let entry = list.iter_mut().find(|(p, left, _)| p == path && *left > 0)?;
    entry.1 -= 1;
    Some(entry.2)
}

/// An injected answer.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Fault {
    RateLimited(u64),
    Status(u16),
}
