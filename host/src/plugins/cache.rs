//! Compiled plugin code on disk, so a restart does not recompile.
//!
//! A compiled component is native code, so this module is the only place that loads one, and it
//! only loads files it wrote itself: `<dir>/<sha256 of the wasm>-<engine compatibility hash>.cwasm`,
//! written atomically (temp file + rename) with mode 0600 in a directory of mode 0700. Uploaded
//! bytes are always compiled from WebAssembly; a precompiled upload is refused before it gets here.
#![allow(unsafe_code)]

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The compiled-code cache.
#[derive(Debug, Clone)]
pub struct CodeCache {
    dir: PathBuf,
    engine_key: String,
}

/// Hex SHA-256 of plugin bytes: the content hash shown to operators and used as the cache key.
pub fn content_hash(wasm: &[u8]) -> String {
    hex::encode(Sha256::digest(wasm))
}

impl CodeCache {
    /// A cache in `dir` (created with mode 0700) for code compiled by `engine`.
    pub fn new(dir: &Path, engine: &Engine) -> anyhow::Result<Self> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create the plugin cache {}", dir.display()))?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(Self { dir: dir.to_owned(), engine_key: format!("{:016x}", hasher.finish()) })
    }

    fn path(&self, hash: &str) -> PathBuf {
        self.dir.join(format!("{hash}-{}.cwasm", self.engine_key))
    }

    /// The component for `wasm` (whose hash is `hash`): from the cache when present, else
    /// compiled and stored. Blocking: call it off the async runtime. Returns whether it was cached.
    pub fn load_or_compile(&self, engine: &Engine, hash: &str, wasm: &[u8]) -> anyhow::Result<(Component, bool)> {
        debug_assert_eq!(hash, content_hash(wasm));
        let path = self.path(hash);
        if path.is_file() {
            // SAFETY: `path` is derived from the content hash and this engine's compatibility
            // hash, inside a 0700 directory this process owns, and is only ever written by
            // `store` below with the output of `Engine::precompile_component` for exactly these
            // bytes. wasmtime checks the engine compatibility header again on load.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => return Ok((component, true)),
                Err(err) => {
                    tracing::warn!(path = %path.display(), error = %err, "discarding an unusable cached plugin build");
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        let compiled =
            engine.precompile_component(wasm).map_err(|e| anyhow::anyhow!("compiling the component: {e:#}"))?;
        if let Err(err) = self.store(&path, &compiled) {
            tracing::warn!(path = %path.display(), error = %err, "cannot cache the compiled plugin");
        }
        // SAFETY: these bytes were produced by `precompile_component` on this engine just now.
        let component = unsafe { Component::deserialize(engine, &compiled) }
            .map_err(|e| anyhow::anyhow!("loading the compiled component: {e:#}"))?;
        Ok((component, false))
    }

    fn store(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        // Unique per writer: two loads of the same bytes may race, and the rename settles it.
        let tmp = path.with_extension(format!("tmp-{}-{}", std::process::id(), uuid::Uuid::now_v7().simple()));
        let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    }
}
