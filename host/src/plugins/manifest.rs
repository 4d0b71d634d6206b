//! The plugin manifest (`plugin.toml` beside the `.wasm`): who the plugin is, which origins it may
//! call, and its per-call limits.
//!
//! ```toml
//! id = "wildberries"
//! version = "0.3.0"
//! wit = "0.2.0"
//! allowed_hosts = ["https://content-api.wildberries.ru"]
//! [limits]
//! memory_mb = 64
//! timeout_ms = 10000
//! ```

use serde::{Deserialize, Serialize};

use super::egress::Origin;

/// Parsed and validated manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Plugin id: lower-case letters, digits, `-` and `_`; equal to what `info()` reports.
    pub id: String,
    /// The plugin's version (semver).
    pub version: String,
    /// WIT package version the component targets.
    pub wit: String,
    /// Origins (`https://host[:port]`) the plugin may call.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// WIT 0.1.0 only: the connection settings the adapter reads (besides `base_url`, which the
    /// host governs); a connection may set no others. Since 0.2.0 `info()` declares them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub settings: Vec<String>,
    #[serde(default)]
    pub limits: ManifestLimits,
}

/// The plugin id rule: 1-64 of `a-z`, `0-9`, `-`, `_`. Every id that meets the file system
/// (`<id>.wasm`, `<id>.toml`) passes this first, so no id can name a path.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Per-call limits asked for by the plugin; the host caps them with its own maximums.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestLimits {
    pub memory_mb: Option<u64>,
    pub timeout_ms: Option<u64>,
}

/// Why a manifest is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("plugin manifest: {0}")]
pub struct ManifestError(pub String);

impl Manifest {
    /// Parses TOML and checks every field.
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| ManifestError(e.message().to_owned()))?;
        manifest.validate()?;
        Ok(manifest)
    }

    fn validate(&self) -> Result<(), ManifestError> {
        if !valid_id(&self.id) {
            return Err(ManifestError(format!("id `{}` must be 1-64 characters of a-z, 0-9, `-` or `_`", self.id)));
        }
        if self.version.trim().is_empty() {
            return Err(ManifestError("version is empty".into()));
        }
        for host in &self.allowed_hosts {
            let origin = Origin::parse(host).map_err(|e| ManifestError(format!("allowed_hosts: `{host}`: {e}")))?;
            if origin.scheme != "https" {
                return Err(ManifestError(format!(
                    "allowed_hosts: `{host}` is not https; plain http origins can only be granted by the operator (PLUGIN_EXTRA_HOSTS)"
                )));
            }
        }
        if let Some(bad) = self.settings.iter().find(|s| !valid_id(s) || s.as_str() == super::settings::BASE_URL) {
            return Err(ManifestError(format!(
                "settings: `{bad}` must be 1-64 characters of a-z, 0-9, `-` or `_`, and not base_url"
            )));
        }
        if self.limits.memory_mb == Some(0) || self.limits.timeout_ms == Some(0) {
            return Err(ManifestError("limits must be positive".into()));
        }
        Ok(())
    }

    /// The allowed origins, parsed.
    pub fn origins(&self) -> Vec<Origin> {
        self.allowed_hosts.iter().filter_map(|h| Origin::parse(h).ok()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_wildberries_manifest() {
        let m = Manifest::parse(include_str!("../../../plugins/wildberries/plugin.toml")).unwrap();
        assert_eq!(m.id, "wildberries");
        assert_eq!(m.wit, "0.2.0");
        assert_eq!(m.limits.memory_mb, None, "memory is left to PLUGIN_MEMORY_MB");
        assert_eq!(m.limits.timeout_ms, Some(60_000));
        assert_eq!(m.origins().len(), 5, "content, statistics, analytics, prices, marketplace");
        assert!(m.settings.is_empty(), "since WIT 0.2.0 settings are declared in info()");
    }

    #[test]
    fn ids_never_name_a_path() {
        for bad in ["", "..", "../x", "..%2F..%2Fx", "/etc/passwd", "a/b", "a\\b", ".hidden", "x.toml", "A", "é"] {
            assert!(!valid_id(bad), "{bad:?}");
        }
        assert!(valid_id("wildberries"));
        assert!(valid_id("yandex_market-2"));
    }

    #[test]
    fn refuses_bad_manifests_with_a_reason() {
        let cases = [
            ("id = \"Bad Id\"\nversion = \"1\"\nwit = \"0.1.0\"", "id `Bad Id`"),
            ("id = \"x\"\nversion = \"1\"\nwit = \"0.1.0\"\nallowed_hosts = [\"http://evil.example\"]", "not https"),
            (
                "id = \"x\"\nversion = \"1\"\nwit = \"0.1.0\"\nallowed_hosts = [\"https://a.example/path\"]",
                "allowed_hosts",
            ),
            ("id = \"x\"\nversion = \"1\"", "missing field `wit`"),
            ("id = \"x\"\nversion = \"1\"\nwit = \"0.1.0\"\nextra = 1", "unknown field"),
        ];
        for (text, expected) in cases {
            let err = Manifest::parse(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }
}
