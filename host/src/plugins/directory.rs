//! `PLUGINS_DIR`: plugins as files (`<id>.wasm` + `<id>.toml`), scanned at start and watched.
//!
//! Operators deploy a version by copying both files in (manifest last, or both at once: changes
//! are debounced). Uploads through the admin API are written here too, so they survive a restart.
//! A file that fails to load is logged with the reason and leaves the running version in place.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

use super::Registry;
use super::manifest::{Manifest, valid_id};
use super::runtime::LoadError;

/// Quiet time after the last change before a changed plugin is reloaded.
const DEBOUNCE: Duration = Duration::from_millis(300);

/// Reads `<dir>/<id>.wasm` and `<dir>/<id>.toml`.
pub async fn read(dir: &Path, id: &str) -> Result<(Vec<u8>, Manifest), LoadError> {
    if !valid_id(id) {
        return Err(LoadError(format!("`{id}` is not a plugin id (a-z, 0-9, `-`, `_`)")));
    }
    let manifest_path = dir.join(format!("{id}.toml"));
    let wasm_path = dir.join(format!("{id}.wasm"));
    let text = tokio::fs::read_to_string(&manifest_path)
        .await
        .map_err(|e| LoadError(format!("{}: {e}", manifest_path.display())))?;
    let manifest = Manifest::parse(&text).map_err(|e| LoadError(e.to_string()))?;
    if manifest.id != id {
        return Err(LoadError(format!(
            "{} declares id `{}`; the file must be named {}.toml",
            manifest_path.display(),
            manifest.id,
            manifest.id
        )));
    }
    let wasm = tokio::fs::read(&wasm_path).await.map_err(|e| LoadError(format!("{}: {e}", wasm_path.display())))?;
    Ok((wasm, manifest))
}

/// Ids with a manifest in `dir`.
pub fn ids_in(dir: &Path) -> BTreeSet<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return BTreeSet::new() };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let path = e.path();
            (path.extension()? == "toml").then(|| path.file_stem()?.to_str().map(str::to_owned))?
        })
        .filter(|id| valid_id(id))
        .collect()
}

/// Loads every plugin in `dir`, logging (not failing on) the ones that do not load.
pub async fn scan(registry: &Registry, dir: &Path) {
    for id in ids_in(dir) {
        if let Err(err) = registry.reload_from_dir(&id).await {
            tracing::error!(plugin.id = %id, error = %err, "plugin {id} in {} not loaded: {err}", dir.display());
        }
    }
}

/// Writes a version into `dir` atomically (wasm first, then the manifest).
pub async fn persist(dir: &Path, manifest: &Manifest, wasm: &[u8]) -> std::io::Result<()> {
    tokio::fs::create_dir_all(dir).await?;
    let text = toml::to_string(manifest).map_err(std::io::Error::other)?;
    write_atomic(&dir.join(format!("{}.wasm", manifest.id)), wasm).await?;
    write_atomic(&dir.join(format!("{}.toml", manifest.id)), text.as_bytes()).await
}

/// Removes a plugin's files (nothing for a string that is not a plugin id).
pub async fn forget(dir: &Path, id: &str) {
    if !valid_id(id) {
        return;
    }
    for ext in ["toml", "wasm"] {
        let _ = tokio::fs::remove_file(dir.join(format!("{id}.{ext}"))).await;
    }
}

async fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("partial");
    tokio::fs::write(&tmp, bytes).await?;
    tokio::fs::rename(&tmp, path).await
}

/// Watches `dir` and reloads plugins whose files change, for as long as the registry lives.
pub fn watch(registry: Arc<Registry>, dir: PathBuf) -> anyhow::Result<()> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            for path in event.paths {
                let _ = tx.send(path);
            }
        }
    })?;
    watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    let weak = Arc::downgrade(&registry);
    drop(registry);
    tokio::spawn(async move {
        let _watcher = watcher;
        while let Some(first) = rx.recv().await {
            let mut changed = BTreeSet::new();
            let mut note = |p: PathBuf| {
                if matches!(p.extension().and_then(|e| e.to_str()), Some("wasm" | "toml"))
                    && let Some(stem) = p.file_stem().and_then(|s| s.to_str())
                {
                    changed.insert(stem.to_owned());
                }
            };
            note(first);
            while let Ok(Some(p)) = tokio::time::timeout(DEBOUNCE, rx.recv()).await {
                note(p);
            }
            let Some(registry) = weak.upgrade() else { break };
            for id in changed {
                if !dir.join(format!("{id}.toml")).exists() {
                    continue;
                }
                match registry.reload_from_dir(&id).await {
                    Ok(_) => {}
                    Err(err) => {
                        tracing::error!(plugin.id = %id, error = %err, "changed plugin {id} not loaded; the running version stays: {err}")
                    }
                }
            }
        }
    });
    Ok(())
}
