//! The live key set of a process ([`Keys`]): master keys from the configuration, data keys from
//! the database, swapped atomically when they change.
//!
//! Nothing polls. A process reloads when it meets a key it does not hold (a row sealed under a
//! data key created by another instance's rotation), and when the database refuses a write
//! because the data key it sealed under is no longer current (the guard in
//! [`crate::store::credential_keys`]); it then seals again under the new key. So an instance that
//! was running through a rotation never writes under a retired key, and never fails to open a row
//! that a rotation re-sealed. With the embedded default's `credentials.key`, a reload also re-reads
//! that file, so a new master key written by `rotate-credentials-key` is picked up too.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use arc_swap::ArcSwap;
use uuid::Uuid;

use super::{CryptoError, Keyring, MasterKeys, Sealed, random_key};
use crate::config::secrets::parse_key;
use crate::store::connections::ConnectionRecord;
use crate::store::{Store, StoreError};

/// Where the master keys come from.
#[derive(Debug)]
pub enum MasterSource {
    /// `CREDENTIALS_KEY` and `CREDENTIALS_KEYS_RETIRED`, fixed for the life of the process.
    Fixed(Arc<MasterKeys>),
    /// The embedded default's key file (first line current), re-read on every reload.
    File(PathBuf),
}

impl MasterSource {
    /// The master keys as of now.
    pub fn masters(&self) -> anyhow::Result<Arc<MasterKeys>> {
        match self {
            Self::Fixed(keys) => Ok(keys.clone()),
            Self::File(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
                let keys = text
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| parse_key("CREDENTIALS_KEY", l))
                    .collect::<Result<Vec<_>, _>>()?;
                let (current, retired) =
                    keys.split_first().with_context(|| format!("{} holds no key", path.display()))?;
                Ok(Arc::new(MasterKeys::new(current, retired)))
            }
        }
    }
}

/// The keys a process seals and opens credentials with.
pub struct Keys {
    source: MasterSource,
    ring: ArcSwap<Keyring>,
    reloading: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys").field("ring", &*self.ring.load()).finish_non_exhaustive()
    }
}

/// Attempts at sealing under the current key before giving up (each failure means a rotation
/// happened between sealing and writing; two in a row are already unlikely).
const SEAL_ATTEMPTS: usize = 4;

impl Keys {
    /// Loads the keys, creating the first data key if the database has none yet.
    pub async fn load(store: &Store, source: MasterSource) -> anyhow::Result<Self> {
        let masters = source.masters()?;
        if !store.data_keys().await?.iter().any(|k| k.is_current()) {
            let key = random_key();
            let (master_id, wrapped) = masters.wrap(&key);
            if store.insert_first_data_key(&super::key_id(&key), &master_id, &wrapped).await? {
                tracing::info!(key_id = %super::key_id(&key), "created the first credential data key");
            }
        }
        let ring = build(store, masters).await?;
        Ok(Self { source, ring: ArcSwap::from_pointee(ring), reloading: tokio::sync::Mutex::new(()) })
    }

    /// The key set as of the last load.
    pub fn current(&self) -> Arc<Keyring> {
        self.ring.load_full()
    }

    /// Where the master keys come from.
    pub fn source(&self) -> &MasterSource {
        &self.source
    }

    /// Reads the keys again (the database's data keys, and the key file's masters).
    pub async fn reload(&self, store: &Store) -> anyhow::Result<Arc<Keyring>> {
        let _one_at_a_time = self.reloading.lock().await;
        let ring = Arc::new(build(store, self.source.masters()?).await?);
        self.ring.store(ring.clone());
        tracing::info!(key_id = %ring.current_key_id(), "credential keys reloaded");
        Ok(ring)
    }

    /// Opens `sealed`, reloading the keys first if it was sealed under one this process does not
    /// hold yet.
    pub async fn open(
        &self,
        store: &Store,
        tenant_id: Uuid,
        connection_id: Uuid,
        sealed: &Sealed,
    ) -> Result<Vec<u8>, CryptoError> {
        let mut ring = self.current();
        if !ring.knows(sealed) {
            match self.reload(store).await {
                Ok(fresh) => ring = fresh,
                Err(err) => tracing::error!(error = %err, "cannot reload credential keys"),
            }
        }
        ring.open(tenant_id, connection_id, sealed)
    }

    /// Opens a connection's credentials: field name → value, for its adapter. The result must
    /// not be logged or returned.
    pub async fn open_credentials(
        &self,
        store: &Store,
        record: &ConnectionRecord,
    ) -> Result<BTreeMap<String, String>, CryptoError> {
        let plaintext = self.open(store, record.tenant_id, record.connection_id, &record.sealed()).await?;
        serde_json::from_slice(&plaintext).map_err(|_| CryptoError::Open)
    }

    /// Seals `plaintext` under the current data key and hands it to `write`; when the database
    /// refuses because the key was rotated meanwhile, reloads and seals again.
    pub async fn write_sealed<T, Fut>(
        &self,
        store: &Store,
        tenant_id: Uuid,
        connection_id: Uuid,
        plaintext: &[u8],
        mut write: impl FnMut(Sealed) -> Fut,
    ) -> Result<T, StoreError>
    where
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let mut ring = self.current();
        for _ in 0..SEAL_ATTEMPTS {
            match write(ring.seal(tenant_id, connection_id, plaintext)).await {
                Err(StoreError::KeyNotCurrent) => {
                    ring =
                        self.reload(store).await.map_err(|e| StoreError::Corrupt(format!("credential keys: {e:#}")))?;
                }
                other => return other,
            }
        }
        Err(StoreError::KeyNotCurrent)
    }
}

/// Unwraps every data key it can. The current one must unwrap; a retired one that does not is
/// logged and left out (the rows under it stay unreadable until its master key is configured).
async fn build(store: &Store, masters: Arc<MasterKeys>) -> anyhow::Result<Keyring> {
    let records = store.data_keys().await?;
    let mut current = None;
    let mut others = Vec::new();
    for record in &records {
        match masters.unwrap(&record.key_id, &record.master_key_id, &record.wrapped) {
            Ok(key) if record.is_current() => current = Some(key),
            Ok(key) => others.push(key),
            Err(err) if record.is_current() => {
                anyhow::bail!(crate::config::ConfigError::new(
                    "CREDENTIALS_KEY",
                    format!(
                        "the current credential data key {} is wrapped under master key {}, which does not open it ({err}); \
                         configure that key (CREDENTIALS_KEY or CREDENTIALS_KEYS_RETIRED)",
                        record.key_id, record.master_key_id
                    ),
                ));
            }
            Err(err) => tracing::error!(key_id = %record.key_id, master_key_id = %record.master_key_id, error = %err,
                "retired credential data key {} does not unwrap; rows under it cannot be opened", record.key_id),
        }
    }
    let current = current.context("the database holds no current credential data key")?;
    Ok(Keyring::new(&current, &others, masters))
}
