//! `stock-tracker serve --demo`: a fake Wildberries in-process, a demo tenant connected to it, one
//! sync, and a login to try, so a newcomer sees real-looking stock within seconds of the first
//! start. Everything stays on loopback; running it again reuses the same tenant and connection.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use fake_wildberries::{FakeConfig, FakeWildberries};
use serde_json::json;

use crate::store::sync_runs::SyncStatus;
use crate::{App, Config};

/// The demo login.
pub const DEMO_EMAIL: &str = "demo@stock-tracker.local";
/// The demo password (a local demo: printed at start).
pub const DEMO_PASSWORD: &str = "demo-password";
const CONNECTION_NAME: &str = "Demo Wildberries";

/// Starts the fake marketplace, grants plugins its origin and tenants `settings.base_url`. Keep the result alive while serving.
pub async fn prepare(config: &mut Config) -> anyhow::Result<FakeWildberries> {
    let fake = FakeWildberries::start(FakeConfig {
        products: 300,
        warehouses: 5,
        token: "demo-wb-token".into(),
        ..FakeConfig::default()
    })
    .await
    .context("cannot start the demo marketplace on 127.0.0.1")?;
    let grants = config.plugins.plugin_extra_hosts.get_or_insert_with(String::new);
    if !grants.is_empty() {
        grants.push(',');
    }
    grants.push_str(&fake.origin());
    // The demo connection reaches the fake through `settings.base_url`, which only the tenants
    // the operator lists may set; a demo lists them all unless told otherwise.
    config.plugins.plugin_base_url_tenants.get_or_insert_with(|| "*".into());
    Ok(fake)
}

/// Creates (or finds) the demo tenant and its connection, syncs once, and prints how to look.
pub async fn seed(app: &Arc<App>, fake: &FakeWildberries) -> anyhow::Result<()> {
    let membership = match app.store.find_user_by_email(DEMO_EMAIL).await? {
        Some(user) => {
            app.store.memberships_of_user(user.user_id).await?.into_iter().next().context("demo user without tenant")?
        }
        None => {
            let hash = crate::auth::password::hash(DEMO_PASSWORD.into()).await?;
            app.store.create_tenant_with_owner("Demo Seller", DEMO_EMAIL, &hash).await?
        }
    };
    let tenant_id = membership.tenant_id;
    let settings = json!({ "base_url": fake.base_url() });
    let credentials = serde_json::to_vec(&json!({ "token": fake.token() }))?;
    let existing = app.store.list_connections(tenant_id).await?.into_iter().find(|c| c.name == CONNECTION_NAME);
    let connection_id = match existing {
        // The fake listens on a new port each start: point the connection at it.
        Some(c) => {
            let changes =
                crate::store::connections::ConnectionChanges { settings: Some(settings), ..Default::default() };
            app.store.update_connection(tenant_id, c.connection_id, changes).await?.connection_id
        }
        None => {
            let id = uuid::Uuid::now_v7();
            app.keyring
                .write_sealed(&app.store, tenant_id, id, &credentials, |sealed| {
                    let (store, settings) = (&app.store, &settings);
                    async move {
                        store.insert_connection(tenant_id, id, "wildberries", CONNECTION_NAME, settings, &sealed).await
                    }
                })
                .await?
                .connection_id
        }
    };

    let started = Instant::now();
    let (run, _) =
        crate::sync::start(app, tenant_id, connection_id, crate::store::sync_runs::SyncTrigger::Manual).await?;
    let run = loop {
        let run = app.store.sync_run(tenant_id, run.sync_run_id).await?;
        if matches!(run.status, SyncStatus::Succeeded | SyncStatus::Failed) {
            break run;
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(120), "the demo sync did not finish in 2 minutes");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    if run.status == SyncStatus::Failed {
        anyhow::bail!("the demo sync failed: {}", run.error.unwrap_or_default());
    }
    let base = format!("http://{}", app.config.http.bind_addr);
    println!(
        "\nDemo ready: synced {} products and {} stock rows from a fake Wildberries at {} in {:.1} s.\n\
         Log in as {DEMO_EMAIL} / {DEMO_PASSWORD}:\n\n  \
         TOKEN=$(curl -s -X POST {base}/api/v1/auth/login -H 'content-type: application/json' \\\n    \
         -d '{{\"email\":\"{DEMO_EMAIL}\",\"password\":\"{DEMO_PASSWORD}\"}}' | jq -r .access_token)\n  \
         curl -s \"{base}/api/v1/stocks?low=true\" -H \"authorization: Bearer $TOKEN\" | jq .\n",
        run.products_seen,
        run.stocks_seen,
        fake.base_url(),
        started.elapsed().as_secs_f64(),
    );
    Ok(())
}
