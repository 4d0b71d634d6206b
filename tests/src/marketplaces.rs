//! An app whose plugins may reach fakes of all three marketplaces: the Wildberries fake every
//! [`TestApp`] has, plus a fake Ozon and a fake Yandex Market ([`fake_marketplaces`]).

use std::ops::Deref;
use std::sync::Arc;

use axum::http::StatusCode;
use fake_marketplaces::ozon::{FakeOzon, OzonConfig};
use fake_marketplaces::yandex_market::{FakeYandexMarket, YandexConfig};
use fake_wildberries::FakeConfig;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{Backend, TestApp, TestTenant};

/// A [`TestApp`] with fake Ozon and Yandex Market beside its fake Wildberries.
pub struct MarketApp {
    pub app: TestApp,
    pub ozon: Arc<FakeOzon>,
    pub yandex: Arc<FakeYandexMarket>,
}

/// How to build the fakes of a [`MarketApp`].
#[derive(Debug, Clone, Default)]
pub struct Fakes {
    pub ozon: OzonConfig,
    pub yandex: YandexConfig,
}

impl Deref for MarketApp {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

impl MarketApp {
    /// A fresh app on `backend` with default fakes, or `None` when PostgreSQL is not available.
    pub async fn try_new(backend: Backend) -> Option<Self> {
        Self::try_with(backend, Fakes::default()).await
    }

    /// A fresh app with fakes built from `fakes`.
    pub async fn try_with(backend: Backend, fakes: Fakes) -> Option<Self> {
        let ozon = Arc::new(FakeOzon::start(fakes.ozon).await.expect("fake Ozon starts"));
        let yandex = Arc::new(FakeYandexMarket::start(fakes.yandex).await.expect("fake Yandex Market starts"));
        let grants = format!("{},{}", ozon.base_url(), yandex.base_url());
        let app = TestApp::try_with(backend, FakeConfig::default(), |c| {
            c.plugins.plugin_extra_hosts = Some(grants);
        })
        .await?;
        Some(Self { app, ozon, yandex })
    }

    /// Connects `tenant` to the fake Ozon through the API; returns the connection id.
    pub async fn connect_ozon(&self, tenant: &TestTenant, name: &str) -> Uuid {
        let body = json!({ "marketplace": "ozon", "name": name, "credentials": self.ozon.credentials(),
                           "settings": { "base_url": self.ozon.base_url() } });
        created(self.post("/api/v1/connections", Some(&tenant.access_token), body).await)
    }
}

impl MarketApp {
    /// Connects `tenant` to the fake Yandex Market through the API; returns the connection id.
    pub async fn connect_yandex(&self, tenant: &TestTenant, name: &str) -> Uuid {
        let body = json!({ "marketplace": "yandex_market", "name": name, "credentials": self.yandex.credentials(),
                           "settings": { "base_url": self.yandex.base_url() } });
        created(self.post("/api/v1/connections", Some(&tenant.access_token), body).await)
    }
}

fn created(res: crate::TestResponse) -> Uuid {
    assert_eq!(res.status, StatusCode::CREATED, "create connection: {:?}", res.body);
    let id: &Value = &res.body["connection_id"];
    id.as_str().unwrap().parse().unwrap()
}
