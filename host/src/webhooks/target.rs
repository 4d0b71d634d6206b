//! Where a webhook may point, and the client that calls it. By default: `https` only, no
//! credentials in the URL, and never a private, loopback, link-local or otherwise non-public
//! address: an IP literal is judged when the URL is given and again before each attempt, and a
//! name is resolved through [`PublicOnly`], which drops every non-public address at connection
//! time (so a DNS answer that changes after the check cannot steer the call inward). Redirects
//! are not followed (a 3xx is a failed attempt), no proxy is used, and every attempt has a
//! deadline. `WEBHOOK_ALLOW_PRIVATE=true` lifts the address and scheme rules (tests).

use std::net::IpAddr;

use url::{Host, Url};

use super::WebhookConfig;
use crate::plugins::egress::address::{PublicOnly, is_public};

/// Longest URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// Checks a webhook URL; the error says what is wrong with it.
pub fn check_url(raw: &str, config: &WebhookConfig) -> Result<Url, String> {
    if raw.len() > MAX_URL_LEN {
        return Err(format!("must be at most {MAX_URL_LEN} characters"));
    }
    let url = Url::parse(raw).map_err(|e| format!("not a URL ({e})"))?;
    match url.scheme() {
        "https" => {}
        "http" if config.webhook_allow_private => {}
        _ => return Err("must be an https:// URL".into()),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials (user:password@); put a token in the path or query".into());
    }
    let host = url.host().ok_or("must name a host")?;
    if !config.webhook_allow_private {
        let ip = match host {
            Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
            Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
            Host::Domain(name) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if name == "localhost" || name.ends_with(".localhost") || !name.contains('.') {
                    return Err("must name a public host".into());
                }
                None
            }
        };
        if ip.is_some_and(|ip| !is_public(ip)) {
            return Err("must not point at a private, loopback or link-local address".into());
        }
    }
    Ok(url)
}

/// The HTTP client for deliveries under `config`.
pub fn client(config: &WebhookConfig) -> reqwest::Client {
    crate::plugins::egress::ensure_tls_provider();
    let builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(config.timeout())
        .connect_timeout(config.timeout().min(std::time::Duration::from_secs(5)))
        .user_agent(concat!("stock-tracker-webhooks/", env!("CARGO_PKG_VERSION")));
    let builder = if config.webhook_allow_private { builder } else { builder.dns_resolver(PublicOnly) };
    builder.build().expect("an HTTP client with static settings")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_https_targets_by_default() {
        let strict = WebhookConfig::default();
        assert!(check_url("https://hooks.example.com/in?token=abc", &strict).is_ok());
        for bad in [
            "http://hooks.example.com/in",
            "ftp://hooks.example.com/",
            "https://user:pw@hooks.example.com/",
            "https://127.0.0.1/x",
            "https://10.0.0.5/x",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/x",
            "https://[::ffff:192.168.0.1]/x",
            "https://localhost/x",
            "https://api.localhost/x",
            "https://intranet/x",
            "not a url",
        ] {
            assert!(check_url(bad, &strict).is_err(), "{bad} refused");
        }
        let open = WebhookConfig { webhook_allow_private: true, ..WebhookConfig::default() };
        assert!(check_url("http://127.0.0.1:8080/in", &open).is_ok());
        assert!(check_url("ftp://127.0.0.1/", &open).is_err());
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_at_connection_time() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = tokio::spawn(async move { listener.accept().await.is_ok() });
        // `localhost` passes no URL check here: the client's resolver alone must refuse it.
        let err = client(&WebhookConfig::default()).get(format!("http://localhost:{port}/")).send().await.unwrap_err();
        assert!(crate::plugins::egress::resolved_to_no_public_address(&err), "{err:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(!accepted.is_finished(), "no connection was made");
        accepted.abort();
        // With private targets allowed, the same call connects.
        let open = WebhookConfig { webhook_allow_private: true, ..WebhookConfig::default() };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = tokio::spawn(async move { listener.accept().await.is_ok() });
        let _ = tokio::time::timeout(
            std::time::Duration::from_millis(300),
            client(&open).get(format!("http://localhost:{port}/")).send(),
        )
        .await;
        assert!(accepted.await.unwrap());
    }
}
