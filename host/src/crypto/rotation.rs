//! Re-sealing every stored credential under the current key (`stock-tracker rotate-credentials-key`).
//!
//! With keys from the environment: put the old key in `CREDENTIALS_KEYS_RETIRED`, the new one in
//! `CREDENTIALS_KEY`, run the command, then drop the retired key. With the generated key file of
//! the embedded default, the command does all of it: it adds a fresh key in front of the file,
//! re-seals, and then removes the old keys from the file. The service may keep running throughout:
//! both keys open during the rotation, and each row is replaced only if it did not change meanwhile.

use std::path::Path;

use anyhow::Context;

use super::Keyring;
use crate::config::secrets::{generate_key_text, parse_key, write_secret_file};
use crate::store::Store;

/// What a rotation did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RotationReport {
    /// Rows now sealed under the current key.
    pub resealed: usize,
    /// Rows changed by someone else during the rotation (already under the current key).
    pub skipped: usize,
    /// Rows whose key is not configured: they stay as they are.
    pub unreadable: usize,
}

/// Re-seals every connection not sealed under the keyring's current key.
pub async fn reseal_all(store: &Store, keyring: &Keyring) -> anyhow::Result<RotationReport> {
    let mut report = RotationReport::default();
    for record in store.connections_not_sealed_under(keyring.current_key_id()).await? {
        let old = record.sealed();
        let Ok(plaintext) = keyring.open(record.tenant_id, record.connection_id, &old) else {
            tracing::error!(tenant.id = %record.tenant_id, connection.id = %record.connection_id, key_id = %old.key_id,
                "credentials of connection {} do not open with any configured key", record.connection_id);
            report.unreadable += 1;
            continue;
        };
        let new = keyring.seal(record.tenant_id, record.connection_id, &plaintext);
        if store.reseal_connection(record.tenant_id, record.connection_id, &old, &new).await? {
            report.resealed += 1;
        } else {
            report.skipped += 1;
        }
    }
    Ok(report)
}

/// The key file flow: prepend a fresh key, re-seal, then keep only the fresh key. Returns the
/// report and the keyring now in force.
pub async fn rotate_key_file(store: &Store, path: &Path) -> anyhow::Result<(RotationReport, Keyring)> {
    let existing = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let new_key = generate_key_text();
    write_secret_file(path, &format!("{new_key}\n{existing}"), false)
        .with_context(|| format!("cannot write {}", path.display()))?;
    let current = parse_key("CREDENTIALS_KEY", &new_key)?;
    let retired = existing
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| parse_key("CREDENTIALS_KEY", l))
        .collect::<Result<Vec<_>, _>>()?;
    let keyring = Keyring::new(&current, &retired);
    let report = reseal_all(store, &keyring).await?;
    if report.unreadable == 0 {
        write_secret_file(path, &format!("{new_key}\n"), false)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok((report, Keyring::new(&current, &[])))
    } else {
        Ok((report, keyring))
    }
}
