//! Credentials at rest: sealed, bound to their row, and never lost to a key rotation, even one
//! that happens while other instances run, sync and create connections.

use fake_wildberries::Endpoint;
use stock_tracker::crypto::rotation;
use stock_tracker::on_pool;

use super::*;

/// The raw stored `(credentials_key_id, credentials_sealed)` of a connection.
async fn stored_row(app: &TestApp, tenant_id: Uuid, connection_id: Uuid) -> (String, Vec<u8>) {
    let sql = "SELECT credentials_key_id, credentials_sealed FROM marketplace_connection WHERE tenant_id = $1 AND connection_id = $2";
    on_pool!(app.app.store.pool(), p => sqlx::query_as(sql).bind(tenant_id).bind(connection_id).fetch_one(p).await.unwrap())
}

/// `(key_id, state)` of every data key.
async fn data_keys(app: &TestApp) -> Vec<(String, String)> {
    let sql = "SELECT key_id, state FROM credential_key ORDER BY created_at, key_id";
    on_pool!(app.app.store.pool(), p => sqlx::query_as(sql).fetch_all(p).await.unwrap())
}

/// The credential `token` of a connection as `app` opens it.
async fn token_of(app: &TestApp, tenant_id: Uuid, connection_id: Uuid) -> String {
    let record = app.app.store.connection(tenant_id, connection_id).await.unwrap();
    app.app.keyring.open_credentials(&app.app.store, &record).await.expect("credentials open")["token"].clone()
}

both_backends! {
    async fn stored_row_holds_no_plaintext(app) {
        let t = app.register("sealed@example.com").await;
        let id = app.create_connection(&t, "WB", "plain-text-marker-0123456789").await;
        let (key_id, blob) = stored_row(&app, t.tenant_id, id).await;
        assert_eq!(key_id, app.app.keyring.current().current_key_id());
        assert!(!blob.windows(12).any(|w| w == b"plain-text-m"), "plaintext in the stored ciphertext");
        assert!(!blob.windows(5).any(|w| w == b"token"), "field name in the stored ciphertext");
        assert_eq!(token_of(&app, t.tenant_id, id).await, "plain-text-marker-0123456789");
        // The data key is stored wrapped, never in the clear.
        assert_eq!(data_keys(&app).await, [(key_id, "current".to_owned())]);
    }

    async fn ciphertext_moved_to_another_row_does_not_open(app) {
        let t = app.register("moved@example.com").await;
        let a = app.create_connection(&t, "A", "token-of-a").await;
        let b = app.create_connection(&t, "B", "token-of-b").await;
        let (_, blob_a) = stored_row(&app, t.tenant_id, a).await;
        let sql = "UPDATE marketplace_connection SET credentials_sealed = $3 WHERE tenant_id = $1 AND connection_id = $2";
        on_pool!(app.app.store.pool(), p => sqlx::query(sql).bind(t.tenant_id).bind(b).bind(&blob_a).execute(p).await.unwrap().rows_affected());
        let record_b = app.app.store.connection(t.tenant_id, b).await.unwrap();
        assert!(app.app.keyring.open_credentials(&app.app.store, &record_b).await.is_err(), "A's ciphertext opened as B's");
        // The API still answers (without fields) instead of failing or leaking.
        let res = app.get(&format!("/api/v1/connections/{b}"), &t.access_token).await;
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(res.body["credential_fields"], json!([]));
        assert!(!res.body.to_string().contains("token-of-a"));
    }

    async fn rotation_while_another_instance_syncs_and_writes_loses_nothing(app) {
        let t = app.register("rotation@example.com").await;
        let mut ids = Vec::new();
        for i in 0..3 {
            ids.push((app.create_connection(&t, &format!("C{i}"), &format!("secret-{i}")).await, format!("secret-{i}")));
        }
        let old_key = app.app.keyring.current().current_key_id().to_owned();
        // A second instance on the same database (and data directory): it runs the commands.
        let operator = app.restart(|_| {}).await;

        // This instance starts a sync that will still be running when the key changes.
        app.fake.rate_limit_next(Endpoint::Stocks, 1, 2);
        let stocks_before = app.fake.requests(Endpoint::Stocks);
        let run = app.post(&format!("/api/v1/connections/{}/sync", ids[0].0), Some(&t.access_token), json!({})).await;
        assert_eq!(run.status, StatusCode::ACCEPTED);
        // Rotate once the sync holds its credentials and waits out the marketplace's 429 (had it
        // opened them after the re-seal, it would already have picked up the new key).
        let waiting = std::time::Instant::now();
        while app.fake.requests(Endpoint::Stocks) == stocks_before {
            assert!(waiting.elapsed() < Duration::from_secs(30), "the sync never reached stocks");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (new_key, report) = rotation::rotate(&operator.app.store, &operator.app.keyring).await.unwrap();
        assert_ne!(new_key, old_key);
        assert_eq!((report.resealed, report.unreadable), (3, 0));
        assert_eq!(app.app.keyring.current().current_key_id(), old_key, "this instance has not looked yet");

        // Mid-rotation, this instance (still holding the old key as current) creates a connection
        // and changes another's credentials: the database refuses the old key, the instance
        // reloads and seals under the new one.
        let created = app.create_connection(&t, "created mid-rotation", "secret-mid").await;
        assert_eq!(stored_row(&app, t.tenant_id, created).await.0, new_key);
        assert_eq!(app.app.keyring.current().current_key_id(), new_key, "picked up without a restart");
        ids.push((created, "secret-mid".into()));
        app.fake.add_token("secret-1-changed");
        let res = app.call(Method::PATCH, &format!("/api/v1/connections/{}", ids[1].0), Some(&t.access_token),
            Some(json!({ "credentials": { "token": "secret-1-changed" } }))).await;
        assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
        ids[1].1 = "secret-1-changed".into();
        let run = finished_run(&app, &t.access_token, run.body["sync_run_id"].as_str().unwrap()).await;
        assert_eq!(run["status"], "succeeded", "the sync across the rotation: {run:?}");

        // The retired key goes only by the explicit step, and only once nothing needs it.
        assert_eq!(data_keys(&app).await.len(), 2);
        let report = rotation::retire(&operator.app.store, &operator.app.keyring).await.unwrap();
        assert_eq!(report.deleted_data_keys, 1);
        assert_eq!(data_keys(&app).await, [(new_key.clone(), "current".to_owned())]);
        if app.backend == stock_tracker_tests::Backend::Sqlite {
            let file = std::fs::read_to_string(app.data_dir.0.join("credentials.key")).unwrap();
            assert_eq!(file.lines().count(), 1, "the key file's retired master key is gone too");
            assert_eq!(report.removed_master_keys, 1);
        }

        // Every instance, and a fresh one, opens everything.
        let fresh = app.restart(|_| {}).await;
        for instance in [&app, &operator, &fresh] {
            for (id, secret) in &ids {
                assert_eq!(stored_row(instance, t.tenant_id, *id).await.0, new_key);
                assert_eq!(&token_of(instance, t.tenant_id, *id).await, secret);
            }
        }
    }

    async fn retiring_refuses_while_a_row_still_needs_the_key(app) {
        let t = app.register("refuse@example.com").await;
        let id = app.create_connection(&t, "WB", "needed-secret").await;
        let old_key = app.app.keyring.current().current_key_id().to_owned();
        // A row left under the old key that cannot be re-sealed (its bytes do not open), as if
        // written by an instance that sealed under it: retiring must keep that key.
        let (_, blob) = stored_row(&app, t.tenant_id, id).await;
        rotation::rotate(&app.app.store, &app.app.keyring).await.unwrap();
        let mut broken = blob.clone();
        *broken.last_mut().unwrap() ^= 1;
        let sql = "UPDATE marketplace_connection SET credentials_key_id = $3, credentials_sealed = $4 WHERE tenant_id = $1 AND connection_id = $2";
        on_pool!(app.app.store.pool(), p => sqlx::query(sql).bind(t.tenant_id).bind(id).bind(&old_key).bind(&broken).execute(p).await.unwrap().rows_affected());
        let err = rotation::retire(&app.app.store, &app.app.keyring).await.unwrap_err().to_string();
        assert!(err.contains("1 connection(s) are still sealed under a retired key"), "{err}");
        assert!(data_keys(&app).await.iter().any(|(k, state)| *k == old_key && state == "retired"), "the old key stays");
        // Put the real bytes back: now it re-seals and the key can go.
        on_pool!(app.app.store.pool(), p => sqlx::query(sql).bind(t.tenant_id).bind(id).bind(&old_key).bind(&blob).execute(p).await.unwrap().rows_affected());
        let report = rotation::retire(&app.app.store, &app.app.keyring).await.unwrap();
        assert_eq!((report.reseal.resealed, report.deleted_data_keys), (1, 1));
        assert_eq!(token_of(&app, t.tenant_id, id).await, "needed-secret");
    }
}

/// With keys from the environment (PostgreSQL requires them), a new master key is the
/// operator's: every instance gets it with the old one retired, rotate re-wraps the data keys
/// under it, and retire says when the old one can go.
#[tokio::test]
async fn master_key_rotation_from_the_environment() {
    let Some(app) = TestApp::try_new(stock_tracker_tests::Backend::Postgres).await else { return };
    let t = app.register("master@example.com").await;
    let id = app.create_connection(&t, "WB", "master-secret").await;
    let old_master = stock_tracker_tests::TEST_CREDENTIALS_KEY.to_owned();
    let new_master = stock_tracker::config::secrets::generate_key_text();
    let both = app
        .restart(|c| {
            c.secrets.credentials_key = Some(new_master.clone().into());
            c.secrets.credentials_keys_retired = Some(old_master.clone().into());
        })
        .await;
    rotation::rotate(&both.app.store, &both.app.keyring).await.unwrap();
    let report = rotation::retire(&both.app.store, &both.app.keyring).await.unwrap();
    assert_eq!(report.unneeded_master_keys.len(), 1, "{report:?}");
    let only_new = app
        .restart(|c| {
            c.secrets.credentials_key = Some(new_master.clone().into());
            c.secrets.credentials_keys_retired = None;
        })
        .await;
    assert_eq!(token_of(&only_new, t.tenant_id, id).await, "master-secret");
}

/// A master key that does not open the current data key stops start-up with a clear error,
/// instead of serving connections that can never be opened.
#[tokio::test]
async fn a_wrong_master_key_is_refused_at_start() {
    let Some(app) = TestApp::try_new(stock_tracker_tests::Backend::Postgres).await else { return };
    let mut config = app.config.clone();
    config.secrets.credentials_key = Some(stock_tracker::config::secrets::generate_key_text().into());
    let err = stock_tracker::App::build(config).await.unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("CREDENTIALS_KEY") && text.contains("does not open it"), "{text}");
}

#[tokio::test]
async fn embedded_rotation_with_the_service_running_needs_no_restart() {
    let app = TestApp::try_new(stock_tracker_tests::Backend::Sqlite).await.unwrap();
    let t = app.register("keyfile@example.com").await;
    let id = app.create_connection(&t, "WB", "file-secret").await;
    let path = app.data_dir.0.join("credentials.key");
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
    let operator = app.restart(|_| {}).await;
    let (new_key, report) = rotation::rotate(&operator.app.store, &operator.app.keyring).await.unwrap();
    assert_eq!(report.resealed, 1);
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2, "new master in front, old one kept");
    // The running instance opens the re-sealed row (new data key, under the new master) at once.
    assert_eq!(token_of(&app, t.tenant_id, id).await, "file-secret");
    assert_eq!(app.app.keyring.current().current_key_id(), new_key);
    let listed = app.get(&format!("/api/v1/connections/{id}"), &t.access_token).await;
    assert_eq!(listed.body["credential_fields"], json!(["token"]));
}
