//! The embedded database's upkeep: its write-ahead log is checkpointed beside the writers (not in
//! their commits), and nothing is left in the log once the service has shut down.

use stock_tracker::store::checkpoint::{log_index, log_pages};
use stock_tracker::store::{Pool, Store};
use stock_tracker_tests::Backend;

use super::*;

#[tokio::test]
async fn large_writes_are_checkpointed_beside_the_writer_and_the_log_is_empty_after_shutdown() {
    let app = TestApp::try_new(Backend::Sqlite).await.unwrap();
    let db = app.data_dir.0.join("stock-tracker.db");
    let log_frames = || log_pages(&log_index(&db)).expect("the log's index");
    let Pool::Sqlite(pool) = app.app.store.pool() else { unreachable!() };
    let backstop: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint").fetch_one(pool).await.unwrap();
    assert_eq!(backstop, 65_536, "the pool's writers checkpoint only when the task falls far behind");

    let t = app.register("wal@example.com").await;
    let warehouses = ["Коледино", "Подольск", "Казань", "Электросталь", "Тула"];
    seed_catalogue(&app, &t, 10_000, &warehouses).await;
    // The writers left their pages in the log (they checkpoint only past the backstop); past
    // SQLite's usual 1,000 pages the task copies them back, with nothing else writing.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (frames, copied) = loop {
        let (frames, copied) = log_frames();
        if frames > 0 && copied == frames || Instant::now() > deadline {
            break (frames, copied);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(copied, frames, "every committed page copied back by the checkpoint task");
    assert!(frames >= 1_000, "the seeding's last write took {frames} pages of log");

    // A small write stays in the log: a checkpoint syncs the database file, which is not worth it
    // for a few pages (the task looks again every second).
    app.register("small@example.com").await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let (frames, copied) = log_frames();
    assert!(frames > copied, "a few pages are left in the log ({copied} of {frames} copied)");

    // Shut down: the task's connection closes last, and SQLite's final checkpoint removes the log.
    app.app.store.close().await;
    assert!(!db.with_extension("db-wal").exists(), "no log left beside the database after shutdown");
    let url: secrecy::SecretString = format!("sqlite://{}", db.display()).into();
    let reopened = Store::connect(&url, stock_tracker::config::DatabaseKind::Sqlite, 2).await.unwrap();
    let Pool::Sqlite(pool) = reopened.pool() else { unreachable!() };
    let levels: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM stock_level").fetch_one(pool).await.unwrap();
    assert_eq!(levels, 10_000 * 5, "every level written is in the database file");
    reopened.close().await;
}
