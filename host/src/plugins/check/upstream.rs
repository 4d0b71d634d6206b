//! Where the checked plugin's requests go: a URL the author gives (`--fake`), or the built-in
//! fake of the plugin's marketplace (the same fakes the tests and the demo use), with credentials
//! it accepts.

use anyhow::{Context, bail};
use fake_marketplaces::example::FakeExample;
use fake_marketplaces::ozon::{FakeOzon, OzonConfig};
use fake_marketplaces::yandex_market::{FakeYandexMarket, YandexConfig};
use fake_wildberries::{FakeConfig, FakeWildberries};
use serde_json::{Value, json};

/// A running fake; stops when dropped.
pub(super) enum Upstream {
    External(String),
    Wildberries(FakeWildberries),
    Ozon(FakeOzon),
    YandexMarket(FakeYandexMarket),
    Example(FakeExample),
}

impl Upstream {
    /// The given URL, or the built-in fake of `marketplace`.
    pub(super) async fn start(marketplace: &str, url: Option<&str>) -> anyhow::Result<Self> {
        if let Some(url) = url {
            let parsed = url::Url::parse(url).with_context(|| format!("--fake `{url}` is not a URL"))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                bail!("--fake `{url}`: expected an http(s) URL");
            }
            return Ok(Self::External(url.trim_end_matches('/').to_owned()));
        }
        Ok(match marketplace {
            "wildberries" => Self::Wildberries(FakeWildberries::start(FakeConfig::default()).await?),
            "ozon" => Self::Ozon(FakeOzon::start(OzonConfig::default()).await?),
            "yandex_market" => Self::YandexMarket(FakeYandexMarket::start(YandexConfig::default()).await?),
            "example" => Self::Example(FakeExample::start(120).await?),
            other => bail!(
                "there is no built-in fake of marketplace `{other}` (there are for wildberries, ozon, yandex_market and \
                 example): pass --fake <url> and --credentials <json>"
            ),
        })
    }

    pub(super) fn base_url(&self) -> String {
        match self {
            Self::External(url) => url.clone(),
            Self::Wildberries(f) => f.base_url(),
            Self::Ozon(f) => f.base_url(),
            Self::YandexMarket(f) => f.base_url(),
            Self::Example(f) => f.base_url(),
        }
    }

    /// What it is, for the report.
    pub(super) fn describe(&self) -> String {
        match self {
            Self::External(url) => format!("{url} (--fake)"),
            _ => format!("the built-in fake at {}", self.base_url()),
        }
    }

    /// Credentials the built-in fake accepts.
    pub(super) fn credentials(&self) -> Option<Value> {
        match self {
            Self::External(_) => None,
            Self::Wildberries(f) => Some(json!({ "token": f.token() })),
            Self::Ozon(f) => Some(f.credentials()),
            Self::YandexMarket(f) => Some(f.credentials()),
            Self::Example(f) => Some(f.credentials()),
        }
    }
}
