//! The registry: which version of each plugin serves new calls.
//!
//! An atomically swapped map from plugin id to a slot holding the current version and the one
//! before it (for rollback). A call takes an `Arc` of the current version and keeps it to the
//! end, so a swap never disturbs calls in flight: they finish on the version they started with.
//! A new version is fully compiled and checked before the swap; a failed load leaves the map as
//! it was. Loads are serialised so two uploads of the same id cannot interleave.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::directory;
use super::manifest::Manifest;
use super::runtime::{LoadError, LoadedPlugin, PluginSummary, Runtime};

/// One plugin id's versions.
#[derive(Debug, Clone)]
pub struct Slot {
    pub current: Arc<LoadedPlugin>,
    pub previous: Option<Arc<LoadedPlugin>>,
}

/// What an install did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Installed {
    /// A new version now serves.
    Swapped,
    /// The same bytes and manifest were already current: nothing changed.
    Unchanged,
}

/// Plugins by id.
pub struct Registry {
    runtime: Arc<Runtime>,
    slots: ArcSwap<BTreeMap<String, Slot>>,
    loading: tokio::sync::Mutex<()>,
    /// Where installed versions are persisted (`<id>.wasm` + `<id>.toml`), if anywhere.
    dir: Option<PathBuf>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("plugins", &self.slots.load().keys().collect::<Vec<_>>()).finish()
    }
}

impl Registry {
    pub fn new(runtime: Arc<Runtime>, dir: Option<PathBuf>) -> Self {
        Self { runtime, slots: ArcSwap::default(), loading: tokio::sync::Mutex::new(()), dir }
    }

    /// The runtime that loads and calls plugins.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// The plugins directory, if configured.
    pub fn dir(&self) -> Option<&PathBuf> {
        self.dir.as_ref()
    }

    /// The current version of a plugin.
    pub fn get(&self, id: &str) -> Option<Arc<LoadedPlugin>> {
        self.slots.load().get(id).map(|s| s.current.clone())
    }

    /// The current version of the plugin serving `marketplace` (lowest id first).
    pub fn for_marketplace(&self, marketplace: &str) -> Option<Arc<LoadedPlugin>> {
        self.slots.load().values().find(|s| s.current.info.marketplace == marketplace).map(|s| s.current.clone())
    }

    /// Every plugin, by id.
    pub fn list(&self) -> Vec<(PluginSummary, Option<PluginSummary>)> {
        self.slots.load().values().map(|s| (s.current.summary(), s.previous.as_ref().map(|p| p.summary()))).collect()
    }

    /// Loads and checks `wasm`, then makes it the current version of `manifest.id`; the version
    /// it replaces becomes the rollback target. On error nothing changes. Not persisted (for
    /// built-in plugins); see [`Registry::upload`].
    pub async fn install(
        &self,
        wasm: Vec<u8>,
        manifest: Manifest,
    ) -> Result<(Installed, Arc<LoadedPlugin>), LoadError> {
        let _guard = self.loading.lock().await;
        self.install_locked(wasm, manifest).await
    }

    /// [`Registry::install`], then writes the version into the plugins directory, all under the
    /// registry lock, so the directory watcher can never reload an older file over it.
    pub async fn upload(&self, wasm: Vec<u8>, manifest: Manifest) -> Result<(Installed, Arc<LoadedPlugin>), LoadError> {
        let _guard = self.loading.lock().await;
        let (outcome, loaded) = self.install_locked(wasm, manifest).await?;
        self.persist(&loaded).await?;
        Ok((outcome, loaded))
    }

    /// Loads `<dir>/<id>.wasm` with `<dir>/<id>.toml` (the files are read under the registry lock).
    pub async fn reload_from_dir(&self, id: &str) -> Result<(Installed, Arc<LoadedPlugin>), LoadError> {
        let _guard = self.loading.lock().await;
        let dir = self.dir.as_ref().ok_or_else(|| LoadError("no plugins directory".into()))?;
        let (wasm, manifest) = directory::read(dir, id).await?;
        self.install_locked(wasm, manifest).await
    }

    async fn persist(&self, plugin: &LoadedPlugin) -> Result<(), LoadError> {
        if let Some(dir) = &self.dir {
            directory::persist(dir, &plugin.manifest, &plugin.source)
                .await
                .map_err(|e| LoadError(format!("loaded, but cannot write it to {}: {e}", dir.display())))?;
        }
        Ok(())
    }

    async fn install_locked(
        &self,
        wasm: Vec<u8>,
        manifest: Manifest,
    ) -> Result<(Installed, Arc<LoadedPlugin>), LoadError> {
        let id = manifest.id.clone();
        let hash = super::cache::content_hash(&wasm);
        if let Some(current) = self.get(&id)
            && current.content_hash == hash
            && current.manifest == manifest
        {
            return Ok((Installed::Unchanged, current));
        }
        let loaded = Arc::new(self.runtime.load(wasm, manifest).await?);
        let mut slots = BTreeMap::clone(&self.slots.load());
        let previous = slots.get(&id).map(|s| s.current.clone());
        slots.insert(id.clone(), Slot { current: loaded.clone(), previous });
        self.slots.store(Arc::new(slots));
        tracing::info!(plugin.id = %id, version = %loaded.info.version, hash = %loaded.content_hash,
            cached = loaded.from_cache, "plugin {id} {} now serving", loaded.info.version);
        Ok((Installed::Swapped, loaded))
    }

    /// Makes the previous version current again (and the current one the previous).
    pub async fn rollback(&self, id: &str) -> Result<Arc<LoadedPlugin>, LoadError> {
        let _guard = self.loading.lock().await;
        let mut slots = BTreeMap::clone(&self.slots.load());
        let slot = slots.get_mut(id).ok_or_else(|| LoadError(format!("no plugin `{id}`")))?;
        let previous =
            slot.previous.take().ok_or_else(|| LoadError(format!("plugin `{id}` has no previous version")))?;
        slot.previous = Some(std::mem::replace(&mut slot.current, previous.clone()));
        self.slots.store(Arc::new(slots));
        self.persist(&previous).await?;
        tracing::info!(plugin.id = %id, version = %previous.info.version, "plugin {id} rolled back to {}", previous.info.version);
        Ok(previous)
    }

    /// Unloads a loaded plugin and removes its files; calls in flight finish. Returns whether it
    /// was loaded: the files of an id that is not loaded are never touched.
    pub async fn remove(&self, id: &str) -> bool {
        let _guard = self.loading.lock().await;
        let mut slots = BTreeMap::clone(&self.slots.load());
        if slots.remove(id).is_none() {
            return false;
        }
        self.slots.store(Arc::new(slots));
        if let Some(dir) = &self.dir {
            directory::forget(dir, id).await;
        }
        true
    }
}
