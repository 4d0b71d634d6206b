//! `stock-tracker serve --demo`: fakes of Wildberries, Ozon and Yandex Market in-process, a demo
//! tenant connected to each, one sync of each, and a login to try, so a newcomer sees real-looking stock
//! from several marketplaces side by side within seconds of the first start. Everything stays on
//! loopback; running it again reuses the same tenant and connections.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use fake_marketplaces::ozon::{FakeOzon, OzonConfig};
use fake_marketplaces::yandex_market::{FakeYandexMarket, YandexConfig};
use fake_wildberries::{FakeConfig, FakeWildberries};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::store::sync_runs::SyncStatus;
use crate::{App, Config};

/// The demo login.
pub const DEMO_EMAIL: &str = "demo@stock-tracker.local";
/// The demo password (a local demo: printed at start).
pub const DEMO_PASSWORD: &str = "demo-password";

/// The fake marketplaces the demo connects to; they stop when dropped.
pub struct DemoFakes {
    wildberries: FakeWildberries,
    ozon: FakeOzon,
    yandex: FakeYandexMarket,
}

impl DemoFakes {
    /// `(marketplace, connection name, base URL, credentials)` of each.
    fn connections(&self) -> [(&'static str, &'static str, String, Value); 3] {
        [
            (
                "wildberries",
                "Demo Wildberries",
                self.wildberries.base_url(),
                json!({ "token": self.wildberries.token() }),
            ),
            ("ozon", "Demo Ozon", self.ozon.base_url(), self.ozon.credentials()),
            ("yandex_market", "Demo Yandex Market", self.yandex.base_url(), self.yandex.credentials()),
        ]
    }
}

/// Starts the fake marketplaces, grants plugins their origins and tenants `settings.base_url`.
/// Keep the result alive while serving.
pub async fn prepare(config: &mut Config) -> anyhow::Result<DemoFakes> {
    let wildberries = FakeWildberries::start(FakeConfig {
        products: 300,
        warehouses: 5,
        token: "demo-wb-token".into(),
        ..FakeConfig::default()
    })
    .await
    .context("cannot start the demo marketplace on 127.0.0.1")?;
    let ozon = FakeOzon::start(OzonConfig { products: 200, ..OzonConfig::default() })
        .await
        .context("cannot start the demo marketplace on 127.0.0.1")?;
    let yandex = FakeYandexMarket::start(YandexConfig { offers: 150, ..YandexConfig::default() })
        .await
        .context("cannot start the demo marketplace on 127.0.0.1")?;
    let grants = config.plugins.plugin_extra_hosts.get_or_insert_with(String::new);
    for origin in [wildberries.base_url(), ozon.base_url(), yandex.base_url()] {
        if !grants.is_empty() {
            grants.push(',');
        }
        grants.push_str(&origin);
    }
    // The demo connections reach the fakes through `settings.base_url`, which only the tenants
    // the operator lists may set; a demo lists them all unless told otherwise.
    config.plugins.plugin_base_url_tenants.get_or_insert_with(|| "*".into());
    Ok(DemoFakes { wildberries, ozon, yandex })
}

/// Creates (or finds) the demo tenant and its connections, syncs each once, and prints how to
/// look.
pub async fn seed(app: &Arc<App>, fakes: &DemoFakes) -> anyhow::Result<()> {
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
    let started = Instant::now();
    let mut lines = Vec::new();
    for (marketplace, name, base_url, credentials) in fakes.connections() {
        let connection_id = connection(app, tenant_id, marketplace, name, &base_url, &credentials).await?;
        let run = sync(app, tenant_id, connection_id).await.with_context(|| format!("the demo sync of {name}"))?;
        lines.push(format!(
            "  {name}: {} products, {} stock rows (fake at {base_url})",
            run.products_seen, run.stocks_seen
        ));
    }
    let base = format!("http://{}", app.config.http.bind_addr);
    println!(
        "\nDemo ready in {:.1} s:\n{}\n\
         Log in as {DEMO_EMAIL} / {DEMO_PASSWORD}:\n\n  \
         TOKEN=$(curl -s -X POST {base}/api/v1/auth/login -H 'content-type: application/json' \\\n    \
         -d '{{\"email\":\"{DEMO_EMAIL}\",\"password\":\"{DEMO_PASSWORD}\"}}' | jq -r .access_token)\n  \
         curl -s \"{base}/api/v1/stocks?low=true\" -H \"authorization: Bearer $TOKEN\" | jq .\n",
        started.elapsed().as_secs_f64(),
        lines.join("\n"),
    );
    Ok(())
}

/// The demo connection to one fake, created or (the fake listens on a new port each start)
/// pointed at it.
async fn connection(
    app: &Arc<App>,
    tenant_id: Uuid,
    marketplace: &str,
    name: &str,
    base_url: &str,
    credentials: &Value,
) -> anyhow::Result<Uuid> {
    let settings = json!({ "base_url": base_url });
    let existing = app.store.list_connections(tenant_id).await?.into_iter().find(|c| c.name == name);
    Ok(match existing {
        Some(c) => {
            let changes =
                crate::store::connections::ConnectionChanges { settings: Some(settings), ..Default::default() };
            app.store.update_connection(tenant_id, c.connection_id, changes).await?.connection_id
        }
        None => {
            let id = Uuid::now_v7();
            let sealed_credentials = serde_json::to_vec(credentials)?;
            app.keyring
                .write_sealed(&app.store, tenant_id, id, &sealed_credentials, |sealed| {
                    let (store, settings) = (&app.store, &settings);
                    async move { store.insert_connection(tenant_id, id, marketplace, name, settings, &sealed).await }
                })
                .await?
                .connection_id
        }
    })
}

/// One sync of the connection, waited for.
async fn sync(
    app: &Arc<App>,
    tenant_id: Uuid,
    connection_id: Uuid,
) -> anyhow::Result<crate::store::sync_runs::SyncRun> {
    let started = Instant::now();
    let (run, _) =
        crate::sync::start(app, tenant_id, connection_id, crate::store::sync_runs::SyncTrigger::Manual).await?;
    let run = loop {
        let run = app.store.sync_run(tenant_id, run.sync_run_id).await?;
        if matches!(run.status, SyncStatus::Succeeded | SyncStatus::Failed) {
            break run;
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(120), "it did not finish in 2 minutes");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    if run.status == SyncStatus::Failed {
        anyhow::bail!("it failed: {}", run.error.unwrap_or_default());
    }
    Ok(run)
}
