//! Where data lives: the data directory, the database URL, Redis.

use std::path::PathBuf;

use secrecy::SecretString;

use super::ConfigError;

/// The database and the data directory.
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseConfig {
    /// Directory for the embedded database and generated keys (created if missing).
    #[arg(long, env = "DATA_DIR", value_name = "DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// `sqlite://path` or `postgres://user:pass@host/db`. Default: SQLite file in DATA_DIR.
    #[arg(long, env = "DATABASE_URL", value_name = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Maximum pooled database connections.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", value_name = "DATABASE_MAX_CONNECTIONS", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_connections: u32,
}

/// Redis, optional.
#[derive(Debug, Clone, clap::Args)]
pub struct RedisConfig {
    /// `redis://[user:pass@]host:port[/db]`. Unset: nothing uses Redis.
    #[arg(long, env = "REDIS_URL", value_name = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
}

/// Which database backend a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    /// The embedded default.
    Sqlite,
    /// Production.
    Postgres,
}

impl DatabaseConfig {
    /// The database URL to connect to (a secret: it may hold a password) and its kind.
    pub fn resolve(&self) -> Result<(SecretString, DatabaseKind), ConfigError> {
        let Some(url) = self.database_url.as_deref().map(str::trim).filter(|u| !u.is_empty()) else {
            let path = self.data_dir.join("stock-tracker.db");
            return Ok((format!("sqlite://{}", path.display()).into(), DatabaseKind::Sqlite));
        };
        let kind = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            DatabaseKind::Postgres
        } else if url.starts_with("sqlite:") {
            DatabaseKind::Sqlite
        } else {
            let scheme = url.split_once("://").map_or("(none)", |(s, _)| s);
            return Err(ConfigError::new(
                "DATABASE_URL",
                format!("unsupported scheme `{scheme}`; use postgres://… or sqlite://…"),
            ));
        };
        if kind == DatabaseKind::Postgres {
            url::Url::parse(url).map_err(|e| ConfigError::new("DATABASE_URL", format!("not a valid URL ({e})")))?;
        }
        Ok((url.to_owned().into(), kind))
    }
}

impl RedisConfig {
    /// The Redis URL, checked for shape, if one is configured.
    pub fn resolve(&self) -> Result<Option<SecretString>, ConfigError> {
        let Some(url) = self.redis_url.as_deref().map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        let parsed =
            url::Url::parse(url).map_err(|e| ConfigError::new("REDIS_URL", format!("not a valid URL ({e})")))?;
        if !matches!(parsed.scheme(), "redis" | "rediss" | "redis-cluster" | "redis-sentinel") {
            return Err(ConfigError::new(
                "REDIS_URL",
                format!("unsupported scheme `{}`; use redis://…", parsed.scheme()),
            ));
        }
        Ok(Some(url.to_owned().into()))
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn db(url: Option<&str>) -> DatabaseConfig {
        DatabaseConfig { data_dir: "/var/lib/st".into(), database_url: url.map(Into::into), max_connections: 10 }
    }

    #[test]
    fn default_is_sqlite_in_data_dir() {
        let (url, kind) = db(None).resolve().unwrap();
        assert_eq!(kind, DatabaseKind::Sqlite);
        assert_eq!(url.expose_secret(), "sqlite:///var/lib/st/stock-tracker.db");
    }

    #[test]
    fn postgres_is_selected_by_scheme() {
        let (_, kind) = db(Some("postgres://u:p@127.0.0.1/st")).resolve().unwrap();
        assert_eq!(kind, DatabaseKind::Postgres);
    }

    #[test]
    fn bad_urls_name_the_variable_and_hide_the_value() {
        let err = db(Some("mysql://root:hunter2@db/x")).resolve().unwrap_err();
        assert_eq!(err.to_string(), "DATABASE_URL: unsupported scheme `mysql`; use postgres://… or sqlite://…");
        let err = db(Some("postgres://u:hunter2@[::1/x")).resolve().unwrap_err();
        assert!(err.to_string().starts_with("DATABASE_URL: not a valid URL"), "{err}");
        assert!(!err.to_string().contains("hunter2"));
        let err = RedisConfig { redis_url: Some("http://x".into()) }.resolve().unwrap_err();
        assert!(err.to_string().starts_with("REDIS_URL: unsupported scheme"), "{err}");
    }
}
