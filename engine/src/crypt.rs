//! Encryption at rest with `auth_encryption_key`: AES-256-GCM, a random 96-bit
//! nonce per value, and a key id in every ciphertext so keys can rotate.
//!
//! Stored form: `hg1:<key id>:<base64(nonce || ciphertext || tag)>`, where the
//! key id is the first 8 hex characters of sha256("heatgate key id" || key).
//! Decryption picks the key by id among the current key and the retired ones;
//! a value sealed with a key that is not configured, or altered, is a clear
//! error, never garbage.
//!
//! ```
//! use heatgate_engine::crypt::Keyring;
//! use heatgate_keystone::Secret;
//!
//! let keyring = Keyring::new(&Secret::new("0123456789abcdef0123456789abcdef"), &[]).unwrap();
//! let sealed = keyring.encrypt(b"trust id").unwrap();
//! assert!(!sealed.contains("trust id"));
//! assert_eq!(keyring.decrypt(&sealed).unwrap(), b"trust id");
//! ```

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use heatgate_keystone::Secret;
use sha2::{Digest, Sha256};

const PREFIX: &str = "hg1";
/// Heat requires `auth_encryption_key` to be 32 characters; so do we.
pub const MIN_KEY_LEN: usize = 32;

/// Why a value could not be sealed or opened. Never carries the value or a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptError {
    /// A configured key is too short.
    #[error("auth_encryption_key must be at least {MIN_KEY_LEN} characters")]
    KeyTooShort,
    /// The value is not in the stored form.
    #[error("the stored value is not an encrypted heatgate value")]
    Malformed,
    /// The value was sealed with a key that is not configured.
    #[error("the stored value was encrypted with key {key_id}, which is not configured (was auth_encryption_key changed without keeping the old key?)")]
    UnknownKey {
        /// The key id found in the value.
        key_id: String,
    },
    /// The key id matched but authentication failed: altered data.
    #[error("the stored value failed authentication with key {key_id}: it was altered")]
    Tampered {
        /// The key id.
        key_id: String,
    },
    /// The operating system gave no randomness.
    #[error("no random source for a nonce")]
    NoRandomness,
}

struct Key {
    id: String,
    cipher: Aes256Gcm,
}

impl Key {
    fn new(secret: &Secret) -> Result<Key, CryptError> {
        let bytes = secret.expose().as_bytes();
        if bytes.len() < MIN_KEY_LEN {
            return Err(CryptError::KeyTooShort);
        }
        let material = Sha256::digest(bytes);
        let id = hex::encode(
            &Sha256::new()
                .chain_update(b"heatgate key id")
                .chain_update(bytes)
                .finalize()[..4],
        );
        let cipher = Aes256Gcm::new_from_slice(&material).map_err(|_| CryptError::KeyTooShort)?;
        Ok(Key { id, cipher })
    }
}

/// The current key (encrypts) and retired keys (still decrypt).
pub struct Keyring {
    current: Key,
    retired: Vec<Key>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current.id)
            .field(
                "retired",
                &self
                    .retired
                    .iter()
                    .map(|k| k.id.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Keyring {
    /// A keyring from the configured key and any retired ones.
    pub fn new(current: &Secret, retired: &[Secret]) -> Result<Keyring, CryptError> {
        Ok(Keyring {
            current: Key::new(current)?,
            retired: retired.iter().map(Key::new).collect::<Result<_, _>>()?,
        })
    }

    /// The id of the key that encrypts.
    pub fn current_key_id(&self) -> &str {
        &self.current.id
    }

    /// Seals `plaintext`.
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<String, CryptError> {
        let mut nonce = [0u8; 12];
        getrandom::getrandom(&mut nonce).map_err(|_| CryptError::NoRandomness)?;
        let sealed = self
            .current
            .cipher
            .encrypt(&Nonce::from(nonce), plaintext)
            .map_err(|_| CryptError::NoRandomness)?;
        let mut blob = Vec::with_capacity(12 + sealed.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&sealed);
        Ok(format!(
            "{PREFIX}:{}:{}",
            self.current.id,
            STANDARD.encode(blob)
        ))
    }

    /// Opens a value sealed by [`Keyring::encrypt`] with any configured key.
    pub fn decrypt(&self, stored: &str) -> Result<Vec<u8>, CryptError> {
        let mut parts = stored.splitn(3, ':');
        let (Some(PREFIX), Some(key_id), Some(blob)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(CryptError::Malformed);
        };
        let blob = STANDARD.decode(blob).map_err(|_| CryptError::Malformed)?;
        if blob.len() < 12 + 16 {
            return Err(CryptError::Malformed);
        }
        let key = std::iter::once(&self.current)
            .chain(&self.retired)
            .find(|k| k.id == key_id)
            .ok_or_else(|| CryptError::UnknownKey {
                key_id: key_id.to_owned(),
            })?;
        let (nonce, sealed) = blob.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| CryptError::Malformed)?;
        key.cipher
            .decrypt(&Nonce::from(nonce), sealed)
            .map_err(|_| CryptError::Tampered {
                key_id: key_id.to_owned(),
            })
    }

    /// [`Keyring::decrypt`] into a [`Secret`] (UTF-8 values).
    pub fn decrypt_secret(&self, stored: &str) -> Result<Secret, CryptError> {
        let bytes = self.decrypt(stored)?;
        String::from_utf8(bytes)
            .map(Secret::new)
            .map_err(|_| CryptError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: char) -> Secret {
        Secret::new(std::iter::repeat_n(c, 32).collect::<String>())
    }

    #[test]
    fn round_trip_with_fresh_nonces() {
        let k = Keyring::new(&key('a'), &[]).unwrap();
        let one = k.encrypt(b"s3cret").unwrap();
        let two = k.encrypt(b"s3cret").unwrap();
        assert_ne!(one, two, "a nonce is never reused");
        assert!(one.starts_with(&format!("hg1:{}:", k.current_key_id())));
        assert_eq!(k.decrypt(&one).unwrap(), b"s3cret");
        assert_eq!(k.decrypt_secret(&two).unwrap().expose(), "s3cret");
    }

    #[test]
    fn keys_rotate() {
        let old = Keyring::new(&key('a'), &[]).unwrap();
        let sealed = old.encrypt(b"v").unwrap();
        let rotated = Keyring::new(&key('b'), &[key('a')]).unwrap();
        assert_eq!(rotated.decrypt(&sealed).unwrap(), b"v");
        assert_ne!(rotated.current_key_id(), old.current_key_id());
        let fresh = rotated.encrypt(b"v").unwrap();
        assert!(fresh.contains(rotated.current_key_id()));
    }

    #[test]
    fn a_wrong_key_is_a_clear_error_not_garbage() {
        let sealed = Keyring::new(&key('a'), &[]).unwrap().encrypt(b"v").unwrap();
        let other = Keyring::new(&key('b'), &[]).unwrap();
        let err = other.decrypt(&sealed).unwrap_err();
        assert!(matches!(err, CryptError::UnknownKey { .. }));
        assert!(err.to_string().contains("not configured"));
        assert_eq!(
            Keyring::new(&Secret::new("short"), &[]).unwrap_err(),
            CryptError::KeyTooShort
        );
    }

    #[test]
    fn tampering_and_malformed_values_are_refused() {
        let k = Keyring::new(&key('a'), &[]).unwrap();
        let sealed = k.encrypt(b"value").unwrap();
        let (head, blob) = sealed.rsplit_once(':').unwrap();
        let mut raw = STANDARD.decode(blob).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        let tampered = format!("{head}:{}", STANDARD.encode(raw));
        assert!(matches!(
            k.decrypt(&tampered),
            Err(CryptError::Tampered { .. })
        ));
        for bad in [
            "",
            "value",
            "hg1:x",
            "hg2:abcd:AAAA",
            "hg1:abcd:not base64!",
            "hg1:abcd:AAAA",
        ] {
            assert!(k.decrypt(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_and_debug_never_show_keys() {
        let k = Keyring::new(&key('z'), &[]).unwrap();
        assert!(!format!("{k:?}").contains("zzzz"));
    }
}
