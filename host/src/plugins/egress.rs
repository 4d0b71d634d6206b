//! The `http` host import: the host performs the plugin's requests, and only to allowed origins.
//!
//! A request is allowed when its origin (scheme, host, port) is in the plugin manifest's
//! `allowed_hosts` or in the operator's grants (`PLUGIN_EXTRA_HOSTS`). Manifests may only list
//! https origins; plain http (a loopback fake, a sandbox) needs an operator grant. Redirects are
//! followed by the host, each hop re-checked. A manifest origin must also lead to a public
//! address, checked at connection time ([`address`]). Connect and total timeouts apply, and the
//! response body is capped. A refusal is an `http-error` the guest sees, never a trap.

pub(crate) mod address;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use reqwest::redirect::Policy;
use url::Url;

/// A normalised origin: scheme, lower-case host, explicit port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl Origin {
    /// Parses `scheme://host[:port]` (no path, query or credentials).
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = Url::parse(text.trim()).map_err(|e| e.to_string())?;
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err("an origin has no path, query or fragment".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("an origin has no credentials".into());
        }
        Self::of(&url)
    }

    /// The origin of a URL.
    pub fn of(url: &Url) -> Result<Self, String> {
        let scheme = url.scheme().to_owned();
        if scheme != "http" && scheme != "https" {
            return Err(format!("scheme `{scheme}` is not http or https"));
        }
        let host = url.host_str().ok_or("no host")?.to_ascii_lowercase();
        let port = url.port_or_known_default().ok_or("no port")?;
        Ok(Self { scheme, host, port })
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// Host-wide HTTP settings for plugins.
#[derive(Debug, Clone)]
pub struct EgressConfig {
    /// Origins every plugin may call in addition to its manifest (`PLUGIN_EXTRA_HOSTS`).
    pub extra_origins: Vec<Origin>,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub max_response_bytes: usize,
    pub max_redirects: usize,
}

/// Why a request was not answered (mirrors the WIT `http-error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressError {
    #[error("origin {0} is not allowed for this plugin")]
    Denied(String),
    #[error("timed out")]
    Timeout,
    #[error("connection failed: {0}")]
    Connection(String),
    #[error("response body over the cap")]
    TooLarge,
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

/// One request a plugin makes, as the WIT record has it, with what governs it: the origins its
/// manifest allows and the call's deadline.
#[derive(Debug, Clone, Copy)]
pub struct Outbound<'a> {
    pub allowed: &'a [Origin],
    pub method: &'a str,
    pub url: &'a str,
    pub headers: &'a [(String, String)],
    pub body: Option<&'a [u8]>,
    pub deadline: Instant,
}

/// A completed response.
#[derive(Debug)]
pub struct EgressResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Performs plugin requests under one policy (shared by every plugin; the allowed set is passed
/// per call).
#[derive(Debug, Clone)]
pub struct Egress {
    /// For manifest origins: resolves to public addresses only ([`address::PublicOnly`]).
    public: reqwest::Client,
    /// For the operator's grants, which may be private (fakes, sandboxes, proxies).
    granted: reqwest::Client,
    config: EgressConfig,
}

/// Installs the process's TLS provider (rustls with ring, which sqlx uses too) if none is yet.
pub fn ensure_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Egress {
    pub fn new(config: EgressConfig) -> Self {
        ensure_tls_provider();
        let builder = || {
            reqwest::Client::builder()
                .redirect(Policy::none())
                .connect_timeout(config.connect_timeout)
                .user_agent(concat!("stock-tracker/", env!("CARGO_PKG_VERSION")))
        };
        let public = builder().dns_resolver(address::PublicOnly).build().expect("an HTTP client with static settings");
        let granted = builder().build().expect("an HTTP client with static settings");
        Self { public, granted, config }
    }

    /// Whether `origin` may be called by a plugin whose manifest allows `allowed`.
    pub fn allows(&self, allowed: &[Origin], origin: &Origin) -> bool {
        self.config.extra_origins.contains(origin) || (origin.scheme == "https" && allowed.contains(origin))
    }

    /// Sends a request, following redirects (each re-checked), within its deadline; the body comes
    /// back in memory, at most `max_body` bytes (and the host's response cap).
    pub async fn send(&self, req: Outbound<'_>, max_body: usize) -> Result<EgressResponse, EgressError> {
        let mut sink = Sink::Memory(Vec::new(), max_body.min(self.config.max_response_bytes));
        let (status, headers) = self.exchange(req, &mut sink).await?;
        let Sink::Memory(body, _) = sink else { unreachable!("a memory sink stays one") };
        Ok(EgressResponse { status, headers, body })
    }

    /// Sends a request like [`Egress::send`], writing the body to `file` (up to the host's
    /// response cap) instead of memory; returns the status, headers and the body's length.
    pub async fn send_to_file(
        &self,
        req: Outbound<'_>,
        file: std::fs::File,
    ) -> Result<(u16, Vec<(String, String)>, u64), EgressError> {
        let file = tokio::io::BufWriter::with_capacity(256 * 1024, tokio::fs::File::from_std(file));
        let mut sink = Sink::File(file, 0, self.config.max_response_bytes as u64);
        let (status, headers) = self.exchange(req, &mut sink).await?;
        let Sink::File(mut file, written, _) = sink else { unreachable!("a file sink stays one") };
        tokio::io::AsyncWriteExt::flush(&mut file).await.map_err(|e| EgressError::Connection(format!("spool: {e}")))?;
        Ok((status, headers, written))
    }

    async fn exchange(&self, req: Outbound<'_>, sink: &mut Sink) -> Result<(u16, Vec<(String, String)>), EgressError> {
        let Outbound { allowed, method, url, headers, body, deadline } = req;
        let mut method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| EgressError::InvalidRequest(format!("method `{method}`")))?;
        let mut url = Url::parse(url).map_err(|e| EgressError::InvalidRequest(format!("url: {e}")))?;
        let mut body = body.map(<[u8]>::to_vec);
        for _hop in 0..=self.config.max_redirects {
            let origin = Origin::of(&url).map_err(EgressError::InvalidRequest)?;
            if !self.allows(allowed, &origin) {
                return Err(EgressError::Denied(origin.to_string()));
            }
            let granted = self.config.extra_origins.contains(&origin);
            let literal = match url.host() {
                Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
                _ => None,
            };
            if !granted && literal.is_some_and(|ip| !address::is_public(ip)) {
                return Err(EgressError::Denied(format!("{origin} (not a public address)")));
            }
            let client = if granted { &self.granted } else { &self.public };
            let remaining = deadline.saturating_duration_since(Instant::now()).min(self.config.request_timeout);
            if remaining.is_zero() {
                return Err(EgressError::Timeout);
            }
            let mut req = client.request(method.clone(), url.clone()).timeout(remaining);
            for (name, value) in headers {
                req = req.header(name.as_str(), value.as_str());
            }
            if let Some(b) = &body {
                req = req.body(b.clone());
            }
            let mut resp = match tokio::time::timeout(remaining, req.send()).await {
                Err(_) => return Err(EgressError::Timeout),
                Ok(Err(e)) if e.is_timeout() => return Err(EgressError::Timeout),
                Ok(Err(e)) if e.is_builder() => return Err(EgressError::InvalidRequest(e.to_string())),
                Ok(Err(e)) if resolved_to_no_public_address(&e) => {
                    return Err(EgressError::Denied(format!("{origin} (resolves to no public address)")));
                }
                Ok(Err(e)) => return Err(EgressError::Connection(root_cause(&e))),
                Ok(Ok(r)) => r,
            };
            let status = resp.status();
            if status.is_redirection()
                && let Some(location) = resp.headers().get(reqwest::header::LOCATION).and_then(|l| l.to_str().ok())
            {
                url = url.join(location).map_err(|e| EgressError::Connection(format!("bad redirect: {e}")))?;
                if matches!(status.as_u16(), 301..=303) {
                    method = reqwest::Method::GET;
                    body = None;
                }
                continue;
            }
            let headers = resp
                .headers()
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                .collect();
            loop {
                let remaining = deadline.saturating_duration_since(Instant::now());
                match tokio::time::timeout(remaining, resp.chunk()).await {
                    Err(_) => return Err(EgressError::Timeout),
                    Ok(Err(e)) if e.is_timeout() => return Err(EgressError::Timeout),
                    Ok(Err(e)) => return Err(EgressError::Connection(root_cause(&e))),
                    Ok(Ok(None)) => break,
                    Ok(Ok(Some(chunk))) => sink.push(&chunk).await?,
                }
            }
            return Ok((status.as_u16(), headers));
        }
        Err(EgressError::Connection(format!("more than {} redirects", self.config.max_redirects)))
    }
}

/// Where a response body goes, each with its cap.
enum Sink {
    Memory(Vec<u8>, usize),
    File(tokio::io::BufWriter<tokio::fs::File>, u64, u64),
}

impl Sink {
    async fn push(&mut self, chunk: &[u8]) -> Result<(), EgressError> {
        match self {
            Self::Memory(bytes, cap) => {
                if bytes.len() + chunk.len() > *cap {
                    return Err(EgressError::TooLarge);
                }
                bytes.extend_from_slice(chunk);
            }
            Self::File(file, written, cap) => {
                if *written + chunk.len() as u64 > *cap {
                    return Err(EgressError::TooLarge);
                }
                tokio::io::AsyncWriteExt::write_all(file, chunk)
                    .await
                    .map_err(|e| EgressError::Connection(format!("spool: {e}")))?;
                *written += chunk.len() as u64;
            }
        }
        Ok(())
    }
}

/// Whether the request failed because [`address::PublicOnly`] refused every address.
pub(crate) fn resolved_to_no_public_address(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(err);
    while let Some(e) = source {
        if e.is::<address::NonPublic>() {
            return true;
        }
        source = e.source();
    }
    false
}

pub(crate) fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = err;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(s: &str) -> Origin {
        Origin::parse(s).unwrap()
    }

    /// A bodiless GET.
    fn get<'a>(allowed: &'a [Origin], url: &'a str, deadline: Instant) -> Outbound<'a> {
        Outbound { allowed, method: "GET", url, headers: &[], body: None, deadline }
    }

    #[test]
    fn origins_normalise_ports_and_case() {
        assert_eq!(o("https://API.example.com"), o("https://api.example.com:443"));
        assert_ne!(o("http://127.0.0.1:9100"), o("http://127.0.0.1:9101"));
        assert!(Origin::parse("https://a.example/x").is_err());
        assert!(Origin::parse("https://u:p@a.example").is_err());
        assert!(Origin::parse("ftp://a.example").is_err());
    }

    /// A loopback server: `/redirect` sends to `target`, `/big` answers 64 KiB, `/` answers "ok".
    async fn server(target: String) -> String {
        use axum::routing::get;
        let app = axum::Router::new()
            .route("/", get(|| async { "ok" }))
            .route("/big", get(|| async { "x".repeat(64 * 1024) }))
            .route("/redirect", get(move || async move { axum::response::Redirect::temporary(&target) }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn redirects_are_rechecked_and_bodies_capped() {
        let outside = server("unused".into()).await;
        let inside = server(format!("{outside}/")).await;
        let egress = Egress::new(EgressConfig {
            extra_origins: vec![o(&inside)],
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(2),
            max_response_bytes: 1024,
            max_redirects: 3,
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        let ok = egress.send(get(&[], &format!("{inside}/"), deadline), usize::MAX).await.unwrap();
        assert_eq!((ok.status, ok.body.as_slice()), (200, b"ok".as_slice()));
        let redirected = egress.send(get(&[], &format!("{inside}/redirect"), deadline), usize::MAX).await;
        assert_eq!(
            redirected.unwrap_err(),
            EgressError::Denied(o(&outside).to_string()),
            "the redirect target is checked too"
        );
        let big = egress.send(get(&[], &format!("{inside}/big"), deadline), usize::MAX).await;
        assert_eq!(big.unwrap_err(), EgressError::TooLarge);
        let denied = egress.send(get(&[], &format!("{outside}/"), deadline), usize::MAX).await;
        assert!(matches!(denied, Err(EgressError::Denied(_))));
        let bad = egress.send(get(&[], "not a url", deadline), usize::MAX).await;
        assert!(matches!(bad, Err(EgressError::InvalidRequest(_))));
    }

    #[tokio::test]
    async fn manifest_origins_must_lead_to_public_addresses_grants_need_not() {
        let granted = server(String::new()).await;
        let egress = Egress::new(EgressConfig {
            extra_origins: vec![o(&granted)],
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(2),
            max_response_bytes: 1 << 20,
            max_redirects: 3,
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        // A name that resolves to loopback, and literal private addresses, all in the manifest.
        let manifest =
            [o("https://localhost:9"), o("https://169.254.169.254"), o("https://[::1]:9"), o("https://10.0.0.1")];
        for (url, why) in [
            ("https://localhost:9/", "resolves to no public address"),
            ("https://169.254.169.254/latest/meta-data/", "not a public address"),
            ("https://[::1]:9/", "not a public address"),
            ("https://10.0.0.1/", "not a public address"),
        ] {
            let err = egress.send(get(&manifest, url, deadline), usize::MAX).await.unwrap_err();
            assert!(matches!(&err, EgressError::Denied(d) if d.contains(why)), "{url}: {err:?}");
        }
        // The operator's grant reaches loopback.
        let ok = egress.send(get(&[], &format!("{granted}/"), deadline), usize::MAX).await.unwrap();
        assert_eq!((ok.status, ok.body.as_slice()), (200, &b"ok"[..]));
    }

    #[test]
    fn policy_is_manifest_https_or_operator_grant() {
        let egress = Egress::new(EgressConfig {
            extra_origins: vec![o("http://127.0.0.1:9100")],
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(1),
            max_response_bytes: 10,
            max_redirects: 3,
        });
        let manifest = [o("https://api.example.com"), o("http://plain.example.com")];
        assert!(egress.allows(&manifest, &o("https://api.example.com")));
        assert!(!egress.allows(&manifest, &o("http://plain.example.com")), "http needs a grant");
        assert!(egress.allows(&[], &o("http://127.0.0.1:9100")), "operator grant");
        assert!(!egress.allows(&manifest, &o("https://evil.example.com")));
        assert!(!egress.allows(&manifest, &o("https://api.example.com:8443")));
    }
}
