//! SQLite's WAL checkpoints, off the writers' path.
//!
//! In WAL mode a commit appends the pages it changed to the `-wal` file, and a checkpoint copies
//! them back into the database file. By default SQLite runs that checkpoint inside the commit that
//! takes the log past 1,000 pages: on the writer's thread, while it holds the write lock, so a
//! sync writing 100,000 levels spent a fifth to a quarter of its write time copying pages
//! (docs/BENCHMARKS.md, "Sync"), and every other writer waited for it.
//!
//! Here a task with a connection of its own does it, on SQLite's own rule: once the log holds
//! [`THRESHOLD_PAGES`] pages not yet copied back. It looks after each large write
//! ([`Checkpoints::nudge`]) and every [`PERIOD`] otherwise, reading the two counts from the
//! header of the log's index (`<db>-shm`, whose layout is part of SQLite's documented file
//! format), so looking costs no statement; then it runs `PRAGMA wal_checkpoint(PASSIVE)`, which
//! copies what is committed without waiting for readers or writers and without blocking them. A
//! checkpoint syncs the database file, so checkpointing after every small write would cost more
//! than it saves. The pool's connections still checkpoint on their own once the log passes
//! [`BACKSTOP_PAGES`], should this task fall behind or fail, and a log that grew past
//! [`LOG_LIMIT_BYTES`] is cut back to it once checkpointed. The task ends when the store is
//! closed (or dropped), closing its connection last, so SQLite's final checkpoint runs and
//! removes the `-wal` file.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, SqliteConnection};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How often the task looks at the log when nothing wakes it.
pub const PERIOD: Duration = Duration::from_secs(1);

/// Pages not yet copied back at which the task checkpoints (SQLite's default rule).
pub const THRESHOLD_PAGES: u32 = 1_000;

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
        let task = tokio::spawn(run(conn, log_index(options.get_filename()), woken));
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

async fn run(mut conn: SqliteConnection, index: PathBuf, mut woken: mpsc::Receiver<()>) {
    loop {
        // A closed channel (the store stopped or dropped) ends the task; a wake-up or a quiet
        // period looks at the log.
        if let Ok(None) = tokio::time::timeout(PERIOD, woken.recv()).await {
            break;
        }
        if log_pages(&index).is_some_and(|(written, copied)| written.saturating_sub(copied) < THRESHOLD_PAGES) {
            continue;
        }
        if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&mut conn).await {
            tracing::warn!(%error, "SQLite checkpoint failed; writers checkpoint themselves past the backstop");
        }
    }
    if let Err(error) = conn.close().await {
        tracing::warn!(%error, "closing the SQLite checkpoint connection");
    }
}

/// The index of the database file `db`'s log (`<db>-shm`).
pub fn log_index(db: &Path) -> PathBuf {
    let mut index = db.as_os_str().to_owned();
    index.push("-shm");
    PathBuf::from(index)
}

/// Pages written to the log and pages of them copied back into the database file, from the header
/// of the log's index (<https://sqlite.org/walformat.html>, in the machine's byte order):
/// `mxFrame` at byte 16, `nBackfill` at byte 96. Reading it does not checkpoint. `None` when it
/// cannot be read (then the task checkpoints anyway). A read that races a writer may see a count
/// off by one commit; the next look corrects it. A blocking read, on purpose: 100 bytes of a file
/// SQLite keeps mapped, so always in the page cache (microseconds, less than a hop to the blocking
/// pool).
pub fn log_pages(index: &Path) -> Option<(u32, u32)> {
    use std::io::Read;
    let mut header = [0u8; 100];
    std::fs::File::open(index).ok()?.read_exact(&mut header).ok()?;
    let word = |at: usize| u32::from_ne_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]]);
    Some((word(16), word(96)))
}
