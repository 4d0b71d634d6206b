//! The database: SQLite for the embedded default, PostgreSQL in production, one code path.
//!
//! Every statement is written once, in the SQL both backends understand (`$1` placeholders,
//! `ON CONFLICT`, row-value comparisons, `RETURNING`), and run through [`on_pool!`], which expands
//! the same body for each backend so each arm is type-checked against its own driver. The API test
//! suite runs against both, so every statement here is exercised on both.
//!
//! Repository functions take `tenant_id` first and filter by it; a row of another tenant is
//! indistinguishable from a missing one ([`StoreError::NotFound`]).
//!
//! Tenant-sized lists (stocks, products, events, …) are not kept as prepared statements
//! (`persistent(false)`): PostgreSQL plans a kept statement generically after five runs, for the
//! average tenant, and tenants differ by orders of magnitude (a deep page of a 500,000-row
//! tenant's low-stock list took 37 ms on the generic plan, 2.4–3.8 ms planned for its own
//! parameters; docs/BENCHMARKS.md, "List latency"). Everything else stays prepared: a custom plan
//! for every run would cost the statements that carry 60,000-element arrays (sync writes) far
//! more than it saves.
//!
//! Migrations live in `migrations/sqlite` and `migrations/postgres` and are embedded in the binary.

pub mod checkpoint;
pub mod connections;
pub mod credential_keys;
pub mod events;
pub mod forecast;
pub mod invitations;
pub mod jobs;
pub mod products;
pub mod sales;
pub mod stocks;
pub mod sync_runs;
pub mod sync_state;
pub mod telegram;
pub mod tenants;
pub mod tokens;
pub mod webhooks;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

use self::checkpoint::Checkpoints;
use crate::config::DatabaseKind;

/// Errors from the store, specific enough for the API to answer precisely.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such row for this tenant.
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was broken; `code` and `message` are safe to show.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// Anything the database reported.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// Stored bytes that do not decode (a sealed value that does not open, a bad enum).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// Credentials were sealed under a data key that is no longer current (a rotation happened
    /// meanwhile): nothing was written; reload the keys and seal again.
    #[error("the credential key was rotated meanwhile")]
    KeyNotCurrent,
}

/// The connection pool of whichever backend is configured.
#[derive(Clone, Debug)]
pub enum Pool {
    /// The embedded default.
    Sqlite(SqlitePool),
    /// Production.
    Postgres(PgPool),
}

/// Runs the same body against whichever pool is configured; `$conn` is bound to that pool.
#[macro_export]
#[doc(hidden)]
macro_rules! on_pool {
    ($pool:expr, $conn:ident => $body:expr) => {
        match $pool {
            $crate::store::Pool::Sqlite($conn) => $body,
            $crate::store::Pool::Postgres($conn) => $body,
        }
    };
}
pub use on_pool;

/// Handle to the database, cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    /// SQLite's WAL checkpoints, run beside the writers ([`checkpoint`]); nothing on PostgreSQL.
    checkpoints: Arc<Checkpoints>,
}

impl Store {
    /// Connects (creating the SQLite file if needed). Does not run migrations.
    pub async fn connect(url: &SecretString, kind: DatabaseKind, max_connections: u32) -> Result<Self, sqlx::Error> {
        let (pool, checkpoints) = match kind {
            DatabaseKind::Sqlite => {
                let options = SqliteConnectOptions::from_str(url.expose_secret())?;
                // Password hashes live in it: 0600 before SQLite creates it with the umask's mode.
                crate::config::files::private_database(options.get_filename()).map_err(|e| {
                    sqlx::Error::Configuration(format!("{}: {e}", options.get_filename().display()).into())
                })?;
                let options = options
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(5))
                    // Up to 32 MiB of pages per connection (SQLite's default is 2 MiB): a sync
                    // of 100,000 levels touches more than that, and every page that falls out
                    // is read back from the file (12 % of its write time, docs/BENCHMARKS.md).
                    .pragma("cache_size", "-32768")
                    // Checkpoints run beside the writers ([`checkpoint`]); these are the limits
                    // for when that task falls behind.
                    .pragma("wal_autocheckpoint", checkpoint::BACKSTOP_PAGES.to_string())
                    .pragma("journal_size_limit", checkpoint::LOG_LIMIT_BYTES.to_string());
                let pool = SqlitePoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_with(options.clone())
                    .await?;
                (Pool::Sqlite(pool), Checkpoints::start(&options).await?)
            }
            DatabaseKind::Postgres => {
                let options = PgConnectOptions::from_str(url.expose_secret())?.application_name("stock-tracker");
                let pool = PgPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_with(options)
                    .await?;
                (Pool::Postgres(pool), Checkpoints::default())
            }
        };
        Ok(Self { pool, checkpoints: Arc::new(checkpoints) })
    }

    /// Applies every pending migration of this backend.
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        match &self.pool {
            Pool::Sqlite(p) => sqlx::migrate!("../migrations/sqlite").run(p).await,
            Pool::Postgres(p) => sqlx::migrate!("../migrations/postgres").run(p).await,
        }
    }

    /// The underlying pool, for repository modules and tests.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Which backend this is.
    pub fn kind(&self) -> DatabaseKind {
        match self.pool {
            Pool::Sqlite(_) => DatabaseKind::Sqlite,
            Pool::Postgres(_) => DatabaseKind::Postgres,
        }
    }

    /// A round trip to the database (readiness). Reads a real table, so a locked or missing
    /// SQLite file is noticed, not only a dead connection.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        on_pool!(&self.pool, p => sqlx::query("SELECT 1 FROM tenant LIMIT 1").fetch_optional(p).await.map(drop))
    }

    /// Closes every connection (at shutdown); on SQLite the checkpoint task's last, so its
    /// final checkpoint leaves the database whole in its one file.
    pub async fn close(&self) {
        on_pool!(&self.pool, p => p.close().await);
        self.checkpoints.stop().await;
    }

    /// Asks for a WAL checkpoint after a large write (SQLite; nothing on PostgreSQL).
    pub(crate) fn written(&self) {
        self.checkpoints.nudge();
    }
}

/// Begins a transaction that writes. On SQLite that is `BEGIN IMMEDIATE`: a deferred
/// transaction that reads first takes the write lock only at its first write, and when another
/// connection committed in between, SQLite refuses it at once with "database is locked" (the busy
/// timeout does not apply). Taking the lock up front makes concurrent writers wait their turn.
pub(crate) trait BeginWrite {
    type Db: sqlx::Database;
    fn begin_write(&self) -> impl Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>> + Send;
}

impl BeginWrite for SqlitePool {
    type Db = sqlx::Sqlite;
    fn begin_write(&self) -> impl Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>> + Send {
        self.begin_with("BEGIN IMMEDIATE")
    }
}

impl BeginWrite for PgPool {
    type Db = sqlx::Postgres;
    fn begin_write(&self) -> impl Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>> + Send {
        self.begin()
    }
}

/// Maps a unique-constraint violation to a [`StoreError::Conflict`], anything else to `Database`.
pub(crate) fn conflict_on_unique(err: sqlx::Error, code: &'static str, message: &str) -> StoreError {
    match err.as_database_error() {
        Some(db) if db.is_unique_violation() => StoreError::Conflict { code, message: message.to_owned() },
        _ => StoreError::Database(err),
    }
}

/// Current time, truncated to microseconds so both backends store and return the same value.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::{SubsecRound, Utc};
    Utc::now().trunc_subsecs(6)
}
