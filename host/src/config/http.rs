//! HTTP listener, CORS and log settings.

use std::net::SocketAddr;

use super::ConfigError;

/// How the service is reached and how it logs.
#[derive(Debug, Clone, clap::Args)]
pub struct HttpConfig {
    /// Address to listen on.
    #[arg(long, env = "BIND_ADDR", value_name = "BIND_ADDR", default_value = "127.0.0.1:8000")]
    pub bind_addr: SocketAddr,

    /// Origins allowed by CORS: comma-separated (`https://app.example.com`), or `*`. Unset: no CORS.
    #[arg(long, env = "CORS_ORIGINS", value_name = "CORS_ORIGINS")]
    pub cors_origins: Option<String>,

    /// Log line format.
    #[arg(long, env = "LOG_FORMAT", value_name = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self { bind_addr: SocketAddr::from(([127, 0, 0, 1], 8000)), cors_origins: None, log_format: LogFormat::Text }
    }
}

/// Log line format (`LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// The parsed `CORS_ORIGINS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// No cross-origin access (the default).
    None,
    /// `*`: any origin (without credentials).
    Any,
    /// Exactly these origins.
    List(Vec<axum::http::HeaderValue>),
}

impl HttpConfig {
    /// Parses `CORS_ORIGINS` into origins, naming the variable on a bad entry.
    pub fn cors(&self) -> Result<CorsOrigins, ConfigError> {
        let Some(raw) = self.cors_origins.as_deref().map(str::trim).filter(|s| !s.is_empty()) else {
            return Ok(CorsOrigins::None);
        };
        if raw == "*" {
            return Ok(CorsOrigins::Any);
        }
        let mut origins = Vec::new();
        for entry in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let url = url::Url::parse(entry).map_err(|e| {
                ConfigError::new(
                    "CORS_ORIGINS",
                    format!("`{entry}` is not an origin ({e}); expected e.g. https://app.example.com"),
                )
            })?;
            let origin = url.origin().ascii_serialization();
            if !matches!(url.scheme(), "http" | "https") || url.path() != "/" || origin != entry.trim_end_matches('/') {
                return Err(ConfigError::new(
                    "CORS_ORIGINS",
                    format!("`{entry}` is not a bare origin (scheme://host[:port], no path)"),
                ));
            }
            origins.push(
                axum::http::HeaderValue::from_str(&origin)
                    .map_err(|_| ConfigError::new("CORS_ORIGINS", format!("`{entry}` is not a valid header value")))?,
            );
        }
        Ok(CorsOrigins::List(origins))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(origins: &str) -> HttpConfig {
        HttpConfig { cors_origins: Some(origins.into()), ..HttpConfig::default() }
    }

    #[test]
    fn cors_origins_parse() {
        assert_eq!(HttpConfig::default().cors().unwrap(), CorsOrigins::None);
        assert_eq!(with("*").cors().unwrap(), CorsOrigins::Any);
        let CorsOrigins::List(list) = with("https://a.example, http://127.0.0.1:3000").cors().unwrap() else {
            panic!("expected a list");
        };
        assert_eq!(list, ["https://a.example", "http://127.0.0.1:3000"]);
    }

    #[test]
    fn cors_rejects_paths_and_junk_naming_the_variable() {
        for bad in ["https://a.example/app", "not a url", "ftp://x.example"] {
            let err = with(bad).cors().unwrap_err();
            assert_eq!(err.variable, "CORS_ORIGINS", "{bad}");
            assert!(err.to_string().starts_with("CORS_ORIGINS: "), "{err}");
        }
    }
}
