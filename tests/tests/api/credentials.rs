//! Credentials at rest: sealed, bound to their row, and readable across a key rotation.

use stock_tracker::api::connections::open_credentials;
use stock_tracker::crypto::rotation;
use stock_tracker::on_pool;

use super::*;

/// The raw stored `(credentials_key_id, credentials_sealed)` of a connection.
async fn stored_row(app: &TestApp, tenant_id: Uuid, connection_id: Uuid) -> (String, Vec<u8>) {
    let sql = "SELECT credentials_key_id, credentials_sealed FROM marketplace_connection WHERE tenant_id = $1 AND connection_id = $2";
    on_pool!(app.app.store.pool(), p => sqlx::query_as(sql).bind(tenant_id).bind(connection_id).fetch_one(p).await.unwrap())
}

both_backends! {
    async fn stored_row_holds_no_plaintext(app) {
        let t = app.register("sealed@example.com").await;
        let id = app.create_connection(&t, "WB", "plain-text-marker-0123456789").await;
        let (key_id, blob) = stored_row(&app, t.tenant_id, id).await;
        assert_eq!(key_id, app.app.keyring.current_key_id());
        assert!(!blob.windows(12).any(|w| w == b"plain-text-m"), "plaintext in the stored ciphertext");
        assert!(!blob.windows(5).any(|w| w == b"token"), "field name in the stored ciphertext");
        let record = app.app.store.connection(t.tenant_id, id).await.unwrap();
        let opened = open_credentials(&app.app, &record).unwrap();
        assert_eq!(opened["token"], "plain-text-marker-0123456789");
    }

    async fn ciphertext_moved_to_another_row_does_not_open(app) {
        let t = app.register("moved@example.com").await;
        let a = app.create_connection(&t, "A", "token-of-a").await;
        let b = app.create_connection(&t, "B", "token-of-b").await;
        let (_, blob_a) = stored_row(&app, t.tenant_id, a).await;
        let sql = "UPDATE marketplace_connection SET credentials_sealed = $3 WHERE tenant_id = $1 AND connection_id = $2";
        on_pool!(app.app.store.pool(), p => sqlx::query(sql).bind(t.tenant_id).bind(b).bind(&blob_a).execute(p).await.unwrap().rows_affected());
        let record_b = app.app.store.connection(t.tenant_id, b).await.unwrap();
        assert!(open_credentials(&app.app, &record_b).is_err(), "A's ciphertext opened as B's");
        // The API still answers (without fields) instead of failing or leaking.
        let res = app.get(&format!("/api/v1/connections/{b}"), &t.access_token).await;
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(res.body["credential_fields"], json!([]));
        assert!(!res.body.to_string().contains("token-of-a"));
    }

    async fn key_rotation_keeps_every_connection_readable(app) {
        let t = app.register("rotation@example.com").await;
        let mut ids = Vec::new();
        for i in 0..3 {
            ids.push(app.create_connection(&t, &format!("C{i}"), &format!("secret-{i}")).await);
        }
        let old_key_id = app.app.keyring.current_key_id().to_owned();
        let old_key = base64_of(&app, &old_key_id);
        let new_key = stock_tracker::config::secrets::generate_key_text();

        // Mid-rotation: new key current, old key retired.
        let rotating = app.restart(|c| {
            c.secrets.credentials_key = Some(new_key.clone().into());
            c.secrets.credentials_keys_retired = Some(old_key.clone().into());
        }).await;
        let report = rotation::reseal_all(&rotating.app.store, &rotating.app.keyring).await.unwrap();
        assert_eq!((report.resealed, report.skipped, report.unreadable), (3, 0, 0));
        let report = rotation::reseal_all(&rotating.app.store, &rotating.app.keyring).await.unwrap();
        assert_eq!(report.resealed, 0, "a second run has nothing left to do");

        // After: only the new key is configured, and everything still opens.
        let after = app.restart(|c| {
            c.secrets.credentials_key = Some(new_key.clone().into());
            c.secrets.credentials_keys_retired = None;
        }).await;
        for (i, id) in ids.iter().enumerate() {
            let (key_id, _) = stored_row(&after, t.tenant_id, *id).await;
            assert_ne!(key_id, old_key_id);
            let record = after.app.store.connection(t.tenant_id, *id).await.unwrap();
            assert_eq!(open_credentials(&after.app, &record).unwrap()["token"], format!("secret-{i}"));
        }
    }
}

/// The base64 text of the key with this id, from wherever this app's key came from.
fn base64_of(app: &TestApp, key_id: &str) -> String {
    let candidates = match &app.config.secrets.credentials_key {
        Some(k) => vec![secrecy::ExposeSecret::expose_secret(k).to_owned()],
        None => std::fs::read_to_string(app.data_dir.0.join("credentials.key"))
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect(),
    };
    candidates
        .into_iter()
        .find(|k| {
            let key = stock_tracker::config::secrets::parse_key("CREDENTIALS_KEY", k).unwrap();
            stock_tracker::crypto::key_id(secrecy::ExposeSecret::expose_secret(&key)) == key_id
        })
        .expect("the key of this id")
}

#[tokio::test]
async fn embedded_key_file_rotation_replaces_the_key_and_keeps_data() {
    let app = TestApp::try_new(stock_tracker_tests::Backend::Sqlite).await.unwrap();
    let t = app.register("keyfile@example.com").await;
    let id = app.create_connection(&t, "WB", "file-secret").await;
    let path = app.data_dir.0.join("credentials.key");
    let before = std::fs::read_to_string(&path).unwrap();

    let (report, keyring) = rotation::rotate_key_file(&app.app.store, &path).await.unwrap();
    assert_eq!(report.resealed, 1);
    let after = std::fs::read_to_string(&path).unwrap();
    assert_ne!(before, after);
    assert_eq!(after.lines().count(), 1, "old key removed once everything is re-sealed");
    assert_eq!(keyring.current_key_id(), stored_row(&app, t.tenant_id, id).await.0);

    let restarted = app.restart(|_| {}).await;
    let record = restarted.app.store.connection(t.tenant_id, id).await.unwrap();
    assert_eq!(open_credentials(&restarted.app, &record).unwrap()["token"], "file-secret");
}
