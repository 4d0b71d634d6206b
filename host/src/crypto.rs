//! Sealing marketplace credentials at rest with XChaCha20-Poly1305, under data keys that rotate
//! while the service runs.
//!
//! Two levels of keys (envelope encryption, as a KMS does it):
//! - **Master keys** come from the configuration (`CREDENTIALS_KEY`, plus
//!   `CREDENTIALS_KEYS_RETIRED`; or `credentials.key` in `DATA_DIR` on the embedded default, first
//!   line current). They only wrap data keys.
//! - **Data keys** seal credentials. They are random, stored in the database wrapped under the
//!   current master key (`credential_key`), so every instance sees the same set. Exactly one is
//!   current; retired ones still open until no row needs them.
//!
//! A sealed value is `nonce (24 bytes) || ciphertext || tag (16 bytes)`, stored with the id of the
//! key that sealed it. A key id is the first 8 bytes of SHA-256 over the key, in hex: it names a
//! key without revealing it. The associated data binds each ciphertext to its tenant and
//! connection, so a ciphertext copied into another row does not open. Rows written before data
//! keys existed are sealed directly under a master key and still open ("legacy"); a rotation
//! re-seals them.
//!
//! [`keys::Keys`] is the live key set of a process (reloaded when it meets a key it does not
//! know, or when the database refuses a write under a key that is no longer current);
//! [`rotation`] is `rotate-credentials-key` and `retire-credentials-keys`.

pub mod keys;
pub mod rotation;

use std::collections::HashMap;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::config::secrets::CredentialKey;

const NONCE_LEN: usize = 24;
const AAD_DOMAIN: &[u8] = b"stock-tracker:credentials:v1";
const WRAP_DOMAIN: &[u8] = b"stock-tracker:data-key:v1";

/// Credentials sealed under one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Which key sealed it (see the module docs).
    pub key_id: String,
    /// Nonce, ciphertext and tag.
    pub blob: Vec<u8>,
}

/// Why a sealed value did not open. Deliberately vague: no detail about the key or plaintext.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// Sealed under a key this process does not hold (retired and removed, or never configured).
    #[error("sealed under key {0}, which is not available")]
    UnknownKey(String),
    /// Wrong key, tampered bytes, or a ciphertext that belongs to another row.
    #[error("failed to open (tampered or moved)")]
    Open,
}

/// The public id of a key: 16 hex characters of its SHA-256.
pub fn key_id(key: &[u8; 32]) -> String {
    hex::encode(&Sha256::digest(key)[..8])
}

/// A key with its id.
struct NamedKey {
    id: String,
    cipher: XChaCha20Poly1305,
}

impl NamedKey {
    fn new(bytes: &[u8; 32]) -> Self {
        Self { id: key_id(bytes), cipher: XChaCha20Poly1305::new_from_slice(bytes).expect("32-byte key") }
    }

    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::fill(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(&XNonce::from(nonce), Payload { msg: plaintext, aad })
            .expect("XChaCha20-Poly1305 encryption does not fail for in-memory buffers");
        let mut blob = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ciphertext);
        blob
    }

    fn open(&self, aad: &[u8], blob: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if blob.len() < NONCE_LEN {
            return Err(CryptoError::Open);
        }
        let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).map_err(|_| CryptoError::Open)?;
        self.cipher.decrypt(&nonce, Payload { msg: ciphertext, aad }).map_err(|_| CryptoError::Open)
    }
}

/// The master keys: the first wraps, all unwrap.
pub struct MasterKeys {
    keys: Vec<NamedKey>,
}

impl std::fmt::Debug for MasterKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.keys.iter().map(|k| &k.id)).finish()
    }
}

impl MasterKeys {
    /// `current` wraps; `retired` only unwrap.
    pub fn new(current: &CredentialKey, retired: &[CredentialKey]) -> Self {
        let keys = std::iter::once(current).chain(retired).map(|k| NamedKey::new(k.expose_secret())).collect();
        Self { keys }
    }

    /// The id of the master key that wraps.
    pub fn current_id(&self) -> &str {
        &self.keys[0].id
    }

    /// Ids of every master key held.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.id.as_str())
    }

    /// Wraps a data key under the current master key: `(master key id, wrapped bytes)`.
    pub fn wrap(&self, data_key: &[u8; 32]) -> (String, Vec<u8>) {
        let id = key_id(data_key);
        (self.keys[0].id.clone(), self.keys[0].seal(&wrap_aad(&id), data_key))
    }

    /// Unwraps the data key `key_id`, wrapped under the master key `master_key_id`.
    pub fn unwrap(&self, key_id: &str, master_key_id: &str, wrapped: &[u8]) -> Result<[u8; 32], CryptoError> {
        let master = self
            .keys
            .iter()
            .find(|k| k.id == master_key_id)
            .ok_or_else(|| CryptoError::UnknownKey(master_key_id.into()))?;
        let bytes = master.open(&wrap_aad(key_id), wrapped)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::Open)?;
        if self::key_id(&key) != key_id { Err(CryptoError::Open) } else { Ok(key) }
    }
}

/// A snapshot of the keys a process seals and opens with: the current data key, every other data
/// key it could unwrap, and the master keys (for rows sealed before data keys existed).
pub struct Keyring {
    current: NamedKey,
    data: HashMap<String, NamedKey>,
    masters: std::sync::Arc<MasterKeys>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let retired: Vec<&str> = self.data.keys().filter(|id| **id != self.current.id).map(String::as_str).collect();
        f.debug_struct("Keyring")
            .field("current", &self.current.id)
            .field("retired", &retired)
            .field("masters", &self.masters)
            .finish()
    }
}

impl Keyring {
    /// A keyring sealing with the data key `current` and opening with it, the `others` and the
    /// master keys.
    pub fn new(current: &[u8; 32], others: &[[u8; 32]], masters: std::sync::Arc<MasterKeys>) -> Self {
        let data = others.iter().chain(std::iter::once(current)).map(|k| (key_id(k), NamedKey::new(k))).collect();
        Self { current: NamedKey::new(current), data, masters }
    }

    /// The id of the data key that seals.
    pub fn current_key_id(&self) -> &str {
        &self.current.id
    }

    /// The master keys this keyring was unwrapped with.
    pub fn masters(&self) -> &std::sync::Arc<MasterKeys> {
        &self.masters
    }

    /// Seals `plaintext` for one connection of one tenant under the current data key.
    pub fn seal(&self, tenant_id: Uuid, connection_id: Uuid, plaintext: &[u8]) -> Sealed {
        let blob = self.current.seal(&associated_data(tenant_id, connection_id), plaintext);
        Sealed { key_id: self.current.id.clone(), blob }
    }

    /// Whether this keyring holds the key that sealed `sealed`.
    pub fn knows(&self, sealed: &Sealed) -> bool {
        self.data.contains_key(&sealed.key_id) || self.masters.keys.iter().any(|k| k.id == sealed.key_id)
    }

    /// Opens a value sealed for this tenant and connection.
    pub fn open(&self, tenant_id: Uuid, connection_id: Uuid, sealed: &Sealed) -> Result<Vec<u8>, CryptoError> {
        let key = self
            .data
            .get(&sealed.key_id)
            .or_else(|| self.masters.keys.iter().find(|k| k.id == sealed.key_id))
            .ok_or_else(|| CryptoError::UnknownKey(sealed.key_id.clone()))?;
        key.open(&associated_data(tenant_id, connection_id), &sealed.blob)
    }
}

/// A fresh random 32-byte key.
pub fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    rand::fill(&mut key);
    key
}

fn associated_data(tenant_id: Uuid, connection_id: Uuid) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_DOMAIN.len() + 32);
    aad.extend_from_slice(AAD_DOMAIN);
    aad.extend_from_slice(tenant_id.as_bytes());
    aad.extend_from_slice(connection_id.as_bytes());
    aad
}

fn wrap_aad(key_id: &str) -> Vec<u8> {
    [WRAP_DOMAIN, key_id.as_bytes()].concat()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use secrecy::SecretBox;

    use super::*;

    fn master(byte: u8) -> CredentialKey {
        SecretBox::new(Box::new([byte; 32]))
    }

    fn ring(current: u8, others: &[u8]) -> Keyring {
        let others: Vec<[u8; 32]> = others.iter().map(|b| [*b; 32]).collect();
        Keyring::new(&[current; 32], &others, Arc::new(MasterKeys::new(&master(9), &[])))
    }

    #[test]
    fn round_trip_and_no_plaintext_in_blob() {
        let ring = ring(1, &[]);
        let (t, c) = (Uuid::now_v7(), Uuid::now_v7());
        let sealed = ring.seal(t, c, b"{\"token\":\"wb-secret-token\"}");
        assert_eq!(sealed.key_id, key_id(&[1; 32]));
        assert!(!sealed.blob.windows(15).any(|w| w == b"wb-secret-token"));
        assert_eq!(ring.open(t, c, &sealed).unwrap(), b"{\"token\":\"wb-secret-token\"}");
        // Two seals of the same text differ (fresh nonce).
        assert_ne!(ring.seal(t, c, b"x").blob, ring.seal(t, c, b"x").blob);
    }

    #[test]
    fn moved_or_tampered_ciphertext_does_not_open() {
        let ring = ring(1, &[]);
        let (t, c) = (Uuid::now_v7(), Uuid::now_v7());
        let sealed = ring.seal(t, c, b"secret");
        assert_eq!(ring.open(t, Uuid::now_v7(), &sealed), Err(CryptoError::Open));
        assert_eq!(ring.open(Uuid::now_v7(), c, &sealed), Err(CryptoError::Open));
        let mut tampered = sealed.clone();
        *tampered.blob.last_mut().unwrap() ^= 1;
        assert_eq!(ring.open(t, c, &tampered), Err(CryptoError::Open));
        let truncated = Sealed { key_id: sealed.key_id.clone(), blob: vec![0; 10] };
        assert_eq!(ring.open(t, c, &truncated), Err(CryptoError::Open));
    }

    #[test]
    fn retired_data_keys_open_but_do_not_seal() {
        let (t, c) = (Uuid::now_v7(), Uuid::now_v7());
        let old = ring(1, &[]).seal(t, c, b"secret");
        let rotated = ring(2, &[1]);
        assert_eq!(rotated.open(t, c, &old).unwrap(), b"secret");
        assert_eq!(rotated.seal(t, c, b"secret").key_id, key_id(&[2; 32]));
        let forgotten = ring(2, &[]);
        assert!(!forgotten.knows(&old));
        assert_eq!(forgotten.open(t, c, &old), Err(CryptoError::UnknownKey(key_id(&[1; 32]))));
    }

    #[test]
    fn data_keys_wrap_under_the_current_master_and_unwrap_under_any() {
        let old = MasterKeys::new(&master(1), &[]);
        let data = random_key();
        let (master_id, wrapped) = old.wrap(&data);
        assert_eq!(master_id, key_id(&[1; 32]));
        assert!(!wrapped.windows(32).any(|w| w == data), "the data key is not in the clear");
        let id = key_id(&data);
        assert_eq!(old.unwrap(&id, &master_id, &wrapped).unwrap(), data);
        let rotated = MasterKeys::new(&master(2), &[master(1)]);
        assert_eq!(rotated.unwrap(&id, &master_id, &wrapped).unwrap(), data);
        let without = MasterKeys::new(&master(2), &[]);
        assert_eq!(without.unwrap(&id, &master_id, &wrapped), Err(CryptoError::UnknownKey(master_id.clone())));
        // A wrapping stored under another key id does not unwrap.
        assert_eq!(old.unwrap(&key_id(&random_key()), &master_id, &wrapped), Err(CryptoError::Open));
    }

    #[test]
    fn legacy_rows_sealed_under_a_master_still_open() {
        let (t, c) = (Uuid::now_v7(), Uuid::now_v7());
        let legacy_key = NamedKey::new(&[9; 32]);
        let legacy = Sealed { key_id: legacy_key.id.clone(), blob: legacy_key.seal(&associated_data(t, c), b"old") };
        assert_eq!(ring(1, &[]).open(t, c, &legacy).unwrap(), b"old");
    }
}
