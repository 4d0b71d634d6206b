//! Sealing marketplace credentials at rest with XChaCha20-Poly1305.
//!
//! A sealed value is `nonce (24 bytes) || ciphertext || tag (16 bytes)`, stored with the id of the
//! key that sealed it. The key id is the first 8 bytes of SHA-256 over the key, in hex: it names a
//! key without revealing it, so keys can be rotated (`stock-tracker rotate-credentials-key`)
//! while old rows stay readable. The associated data binds each ciphertext to its tenant and
//! connection, so a ciphertext copied into another row does not open.

pub mod rotation;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::config::secrets::CredentialKey;

const NONCE_LEN: usize = 24;
const AAD_DOMAIN: &[u8] = b"stock-tracker:credentials:v1";

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
    #[error("credentials are sealed under key {0}, which is not configured")]
    UnknownKey(String),
    /// Wrong key, tampered bytes, or a ciphertext that belongs to another row.
    #[error("credentials failed to open (tampered or moved)")]
    Open,
}

/// The current sealing key plus retired keys that still open.
pub struct Keyring {
    current: (String, XChaCha20Poly1305),
    retired: Vec<(String, XChaCha20Poly1305)>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let retired: Vec<&str> = self.retired.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("Keyring").field("current", &self.current.0).field("retired", &retired).finish()
    }
}

/// The public id of a key: 16 hex characters of its SHA-256.
pub fn key_id(key: &[u8; 32]) -> String {
    let digest = Sha256::digest(key);
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

impl Keyring {
    /// A keyring sealing with `current` and also opening with each of `retired`.
    pub fn new(current: &CredentialKey, retired: &[CredentialKey]) -> Self {
        let entry = |k: &CredentialKey| {
            let bytes = k.expose_secret();
            (key_id(bytes), XChaCha20Poly1305::new_from_slice(bytes).expect("32-byte key"))
        };
        Self { current: entry(current), retired: retired.iter().map(entry).collect() }
    }

    /// The id of the key that seals.
    pub fn current_key_id(&self) -> &str {
        &self.current.0
    }

    /// Seals `plaintext` for one connection of one tenant.
    pub fn seal(&self, tenant_id: Uuid, connection_id: Uuid, plaintext: &[u8]) -> Sealed {
        let mut nonce = [0u8; NONCE_LEN];
        rand::fill(&mut nonce);
        let aad = associated_data(tenant_id, connection_id);
        let ciphertext = self
            .current
            .1
            .encrypt(&XNonce::from(nonce), Payload { msg: plaintext, aad: &aad })
            .expect("XChaCha20-Poly1305 encryption does not fail for in-memory buffers");
        let mut blob = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ciphertext);
        Sealed { key_id: self.current.0.clone(), blob }
    }

    /// Opens a value sealed for this tenant and connection.
    pub fn open(&self, tenant_id: Uuid, connection_id: Uuid, sealed: &Sealed) -> Result<Vec<u8>, CryptoError> {
        let cipher = std::iter::once(&self.current)
            .chain(&self.retired)
            .find(|(id, _)| *id == sealed.key_id)
            .map(|(_, c)| c)
            .ok_or_else(|| CryptoError::UnknownKey(sealed.key_id.clone()))?;
        if sealed.blob.len() < NONCE_LEN {
            return Err(CryptoError::Open);
        }
        let (nonce, ciphertext) = sealed.blob.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).map_err(|_| CryptoError::Open)?;
        let aad = associated_data(tenant_id, connection_id);
        cipher.decrypt(&nonce, Payload { msg: ciphertext, aad: &aad }).map_err(|_| CryptoError::Open)
    }
}

fn associated_data(tenant_id: Uuid, connection_id: Uuid) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_DOMAIN.len() + 32);
    aad.extend_from_slice(AAD_DOMAIN);
    aad.extend_from_slice(tenant_id.as_bytes());
    aad.extend_from_slice(connection_id.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use secrecy::SecretBox;

    use super::*;

    fn key(byte: u8) -> CredentialKey {
        SecretBox::new(Box::new([byte; 32]))
    }

    #[test]
    fn round_trip_and_no_plaintext_in_blob() {
        let ring = Keyring::new(&key(1), &[]);
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
        let ring = Keyring::new(&key(1), &[]);
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
    fn retired_keys_open_but_do_not_seal() {
        let (t, c) = (Uuid::now_v7(), Uuid::now_v7());
        let old = Keyring::new(&key(1), &[]).seal(t, c, b"secret");
        let rotated = Keyring::new(&key(2), &[key(1)]);
        assert_eq!(rotated.open(t, c, &old).unwrap(), b"secret");
        assert_eq!(rotated.seal(t, c, b"secret").key_id, key_id(&[2; 32]));
        let forgotten = Keyring::new(&key(2), &[]);
        assert_eq!(forgotten.open(t, c, &old), Err(CryptoError::UnknownKey(key_id(&[1; 32]))));
    }
}
