//! Rotating credential keys while instances run: `stock-tracker rotate-credentials-key`, then,
//! as a separate and explicit step, `stock-tracker retire-credentials-keys`.
//!
//! **Rotate** ([`rotate`]) makes a new data key current and keeps the old one (retired) in the
//! database, so every instance can still open what it sealed, then re-seals every connection
//! under the new key. Running instances pick the new key up without a restart (see
//! [`super::keys`]); one that seals under the old key meanwhile is refused by the database and
//! seals again. With the embedded default's key file, rotate also puts a new master key in front
//! of the file (the old one stays, retired). With `CREDENTIALS_KEY` from the environment, a new
//! master key is the operator's: give every instance the new `CREDENTIALS_KEY` with the old one in
//! `CREDENTIALS_KEYS_RETIRED` (restarting them), then rotate: data keys are re-wrapped under it.
//!
//! **Retire** ([`retire`]) re-seals any row still under a retired key, deletes the retired data
//! keys no row needs, and refuses (an error, exit code 1) while any row still needs one. With the
//! key file it then drops the retired master keys from it, unless a data key is still wrapped
//! under one; with the environment it says when `CREDENTIALS_KEYS_RETIRED` can go.

use anyhow::Context;

use super::keys::{Keys, MasterSource};
use super::{key_id, random_key};
use crate::config::secrets::{generate_key_text, write_secret_file};
use crate::store::Store;

/// What re-sealing did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ResealReport {
    /// Rows now sealed under the current data key.
    pub resealed: usize,
    /// Rows changed by someone else meanwhile (a later pass takes them).
    pub skipped: usize,
    /// Rows whose key is not available: they stay as they are.
    pub unreadable: usize,
}

/// What [`retire`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RetireReport {
    /// Re-sealing of rows still under a retired key.
    pub reseal: ResealReport,
    /// Retired data keys deleted.
    pub deleted_data_keys: u64,
    /// Retired master keys removed from the key file (embedded default).
    pub removed_master_keys: usize,
    /// Retired master keys configured in the environment that are no longer needed.
    pub unneeded_master_keys: Vec<String>,
}

/// Makes a new data key current (and, with the key file, a new master key), then re-seals every
/// connection. Returns the new data key's id and the re-sealing report.
pub async fn rotate(store: &Store, keys: &Keys) -> anyhow::Result<(String, ResealReport)> {
    if let MasterSource::File(path) = keys.source() {
        let existing = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        write_secret_file(path, &format!("{}\n{existing}", generate_key_text()), false)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let masters = keys.source().masters()?;
    let mut rewrapped = Vec::new();
    for record in store.data_keys().await? {
        if record.master_key_id != masters.current_id() {
            match masters.unwrap(&record.key_id, &record.master_key_id, &record.wrapped) {
                Ok(key) => rewrapped.push((record.key_id.clone(), masters.wrap(&key).1)),
                Err(err) => {
                    tracing::error!(key_id = %record.key_id, error = %err, "data key {} does not unwrap; left as it is", record.key_id)
                }
            }
        }
    }
    let key = random_key();
    let (master_id, wrapped) = masters.wrap(&key);
    let new_id = key_id(&key);
    store.rotate_data_key(&new_id, &master_id, &wrapped, &rewrapped).await?;
    keys.reload(store).await?;
    tracing::info!(key_id = %new_id, "credential data key {new_id} is now current");
    Ok((new_id, reseal_all(store, keys).await?))
}

/// Re-seals every connection's credentials and every webhook's secrets not sealed under the
/// current data key.
pub async fn reseal_all(store: &Store, keys: &Keys) -> anyhow::Result<ResealReport> {
    let mut report = ResealReport::default();
    let current = keys.current().current_key_id().to_owned();
    for record in store.connections_not_sealed_under(&current).await? {
        let old = record.sealed();
        let Ok(plaintext) = keys.open(store, record.tenant_id, record.connection_id, &old).await else {
            tracing::error!(tenant.id = %record.tenant_id, connection.id = %record.connection_id, key_id = %old.key_id,
                "credentials of connection {} do not open with any available key", record.connection_id);
            report.unreadable += 1;
            continue;
        };
        let sealed = keys.current().seal(record.tenant_id, record.connection_id, &plaintext);
        if store.reseal_connection(record.tenant_id, record.connection_id, &old, &sealed).await? {
            report.resealed += 1;
        } else {
            report.skipped += 1;
        }
    }
    for record in store.webhooks_not_sealed_under(&current).await? {
        let old = record.sealed();
        let Ok(plaintext) = keys.open(store, record.tenant_id, record.webhook_id, &old).await else {
            tracing::error!(tenant.id = %record.tenant_id, webhook.id = %record.webhook_id, key_id = %old.key_id,
                "secrets of webhook {} do not open with any available key", record.webhook_id);
            report.unreadable += 1;
            continue;
        };
        let sealed = keys.current().seal(record.tenant_id, record.webhook_id, &plaintext);
        if store.replace_webhook_secrets(record.tenant_id, record.webhook_id, &old, &sealed, None).await? {
            report.resealed += 1;
        } else {
            report.skipped += 1;
        }
    }
    Ok(report)
}

/// Removes what no row needs any more; refuses while a row still needs a retired key.
pub async fn retire(store: &Store, keys: &Keys) -> anyhow::Result<RetireReport> {
    keys.reload(store).await?;
    let reseal = reseal_all(store, keys).await?;
    let deleted_data_keys = store.delete_unused_retired_keys().await?;
    let usage = store.credential_key_usage().await?;
    if usage.retired + usage.legacy > 0 {
        anyhow::bail!(
            "{} connection(s) are still sealed under a retired key ({} unreadable now); nothing they need was removed. \
             Run rotate-credentials-key again once every key is configured, then retire",
            usage.retired + usage.legacy,
            reseal.unreadable
        );
    }
    let masters = keys.source().masters()?;
    let still_wrapping: Vec<String> =
        store.data_keys().await?.into_iter().map(|k| k.master_key_id).filter(|id| id != masters.current_id()).collect();
    if let Some(id) = still_wrapping.first() {
        anyhow::bail!(
            "a data key is still wrapped under the retired master key {id}; run rotate-credentials-key first"
        );
    }
    let retired_masters: Vec<String> = masters.ids().skip(1).map(str::to_owned).collect();
    let mut report = RetireReport { reseal, deleted_data_keys, ..Default::default() };
    match keys.source() {
        MasterSource::File(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            let first = text.lines().find(|l| !l.trim().is_empty()).context("the key file holds no key")?;
            write_secret_file(path, &format!("{}\n", first.trim()), false)
                .with_context(|| format!("cannot write {}", path.display()))?;
            report.removed_master_keys = retired_masters.len();
        }
        MasterSource::Fixed(_) => report.unneeded_master_keys = retired_masters,
    }
    keys.reload(store).await?;
    Ok(report)
}
