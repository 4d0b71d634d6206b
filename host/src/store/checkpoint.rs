//! SQLite's WAL checkpoints, off the writers' path.
//!
//! In WAL mode a commit appends the pages it changed to the `-wal` file, and a checkpoint copies
//! them back into the database file. By default SQLite runs that checkpoint inside the commit that
//! takes the log past 1,000 pages: on the writer's thread, while it holds the write lock, so a
//! sync writing 100,000 levels spent a fifth to a quarter of its write time copying pages
//! (docs/BENCHMARKS.md, "Sync"), and every other writer waited for it.
//!
//! Here a task with a connection of its own does it: woken after each large write
//! ([`Checkpoints::nudge`]) and every [`PERIOD`] otherwise, it runs
//! `PRAGMA wal_checkpoint(PASSIVE)`, which copies what is committed without waiting for readers or
//! writers and without blocking them. The pool's connections still checkpoint on their own once
//! the log passes [`BACKSTOP_PAGES`], should this task fall behind or fail, and a log that grew
//! past [`LOG_LIMIT_BYTES`] is cut back to it once checkpointed. The task ends when the store is
//! closed (or dropped), closing its connection last, so SQLite's final checkpoint runs and
//! removes the `-wal` file.

use std::sync::Mutex;
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, SqliteConnection};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How often the task checkpoints when nothing wakes it.
pub const PERIOD: Duration = Duration::from_secs(1);

/// Pages in the log past which a committing connection checkpoints itself (SQLite's
/// `wal_autocheckpoint`; 256 MiB of 4 KiB pages). Only reached when the task is not keeping up.
pub const BACKSTOP_PAGES: u32 = 65_536;

/// Bytes the `-wal` file is cut back to once checkpointed (`journal_size_limit`).
pub const LOG_LIMIT_BYTES: u64 = 64 << 20;

/// The checkpoint task of one SQLite store.
#[derive(Debug, Default)]
pub struct Checkpoints {
    /// The task's wake-up channel and handle; `None` once stopped, or when the database has no
    /// log to checkpoint (an in-memory one).
    task: Mutex<Option<(mpsc::Sender<()>, JoinHandle<()>)>>,
}

impl Checkpoints {
    /// Starts the task on a connection of its own, if the database keeps a write-ahead log.
    pub async fn start(options: &SqliteConnectOptions) -> Result<Self, sqlx::Error> {
        let mut conn = options.connect().await?;
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut conn).await?;
        if !mode.eq_ignore_ascii_case("wal") {
            conn.close().await?;
            return Ok(Self::default());
        }
        // One wake-up pending at most: a nudge during a checkpoint runs one more after it.
        let (wake, woken) = mpsc::channel(1);
        let task = tokio::spawn(run(conn, woken));
        Ok(Self { task: Mutex::new(Some((wake, task))) })
    }

    /// Asks for a checkpoint now (after a large write), without waiting for it.
    pub fn nudge(&self) {
        if let Some((wake, _)) = &*self.task.lock().unwrap_or_else(|e| e.into_inner()) {
            let _ = wake.try_send(());
        }
    }

    /// Stops the task and waits until its connection is closed.
    pub async fn stop(&self) {
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some((wake, task)) = task {
            drop(wake);
            let _ = task.await;
        }
    }
}

async fn run(mut conn: SqliteConnection, mut woken: mpsc::Receiver<()>) {
    loop {
        // A closed channel (the store stopped or dropped) ends the task; a wake-up or a quiet
        // period checkpoints.
        if let Ok(None) = tokio::time::timeout(PERIOD, woken.recv()).await {
            break;
        }
        if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&mut conn).await {
            tracing::warn!(%error, "SQLite checkpoint failed; writers checkpoint themselves past the backstop");
        }
    }
    if let Err(error) = conn.close().await {
        tracing::warn!(%error, "closing the SQLite checkpoint connection");
    }
}
