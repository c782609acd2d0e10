//! Local pre-check of Keystone JWS tokens (provider `jws`, ES256, no `kid`).
//!
//! A forged or expired JWS is refused without a call to Keystone; a token that
//! passes is still validated by Keystone (roles and revocation live there).
//!
//! Keystone's public keys are read from its key repository
//! (`jws_public_key_repository`), and read again when it changes: a token
//! whose signature no loaded key verifies makes the layer look at the
//! repository (the names, sizes and times of its `*.pem` files, a cheap
//! look), and reload it when that changed, so keys Keystone rotated in are
//! used at once. Reloads are at most one per [`RELOAD_INTERVAL`]; a token
//! that arrives while a changed repository waits for its reload, or while
//! the repository cannot be read, goes to Keystone rather than being refused:
//! the pre-check never refuses a token Keystone would accept.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;

/// The least time between two reloads of the key repository.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// What the pre-check concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwsVerdict {
    /// Not shaped like a JWS (or not checkable now): leave it to Keystone.
    NotJws,
    /// Signed by one of the keys and not expired: Keystone must still validate it.
    Plausible,
    /// Forged, malformed or expired: refuse without asking Keystone.
    Refused,
}

/// What one look at a token with the loaded keys found.
enum Check {
    Verdict(JwsVerdict),
    /// Well formed, but no loaded key verifies its signature.
    UnknownSigner,
}

/// The `*.pem` files of a repository, as (path, size, modification time).
type Fingerprint = Vec<(PathBuf, u64, Option<SystemTime>)>;

/// Keystone's JWS public keys, kept in step with its key repository.
#[derive(Debug)]
pub struct JwsKeys {
    /// The repository (`None`: keys given directly, never reloaded).
    dir: Option<PathBuf>,
    loaded: RwLock<Loaded>,
    /// When the repository was last reloaded.
    reloaded: Mutex<Option<Instant>>,
}

#[derive(Debug)]
struct Loaded {
    keys: Vec<VerifyingKey>,
    fingerprint: Fingerprint,
}

/// A key repository that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("JWS public key repository {path}: {reason}")]
pub struct JwsKeyError {
    path: String,
    reason: String,
}

fn pem_files(dir: &Path) -> std::io::Result<Fingerprint> {
    let mut files: Fingerprint = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "pem"))
        .map(|p| {
            let meta = std::fs::metadata(&p).ok();
            let len = meta.as_ref().map_or(0, std::fs::Metadata::len);
            let modified = meta.and_then(|m| m.modified().ok());
            (p, len, modified)
        })
        .collect();
    files.sort();
    Ok(files)
}

fn read_keys(dir: &Path) -> Result<Loaded, JwsKeyError> {
    let err = |reason: String| JwsKeyError {
        path: dir.display().to_string(),
        reason,
    };
    let fingerprint = pem_files(dir).map_err(|e| err(e.to_string()))?;
    let mut keys = Vec::new();
    for (path, _, _) in &fingerprint {
        let pem = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let key = VerifyingKey::from_public_key_pem(&pem)
            .map_err(|e| err(format!("{}: {e}", path.display())))?;
        keys.push(key);
    }
    if keys.is_empty() {
        return Err(err("no *.pem public key found".into()));
    }
    Ok(Loaded { keys, fingerprint })
}

impl JwsKeys {
    /// Loads every `*.pem` public key in `dir` (and reloads them when the
    /// repository changes; see the module docs).
    pub fn load(dir: &Path) -> Result<Self, JwsKeyError> {
        Ok(Self {
            loaded: RwLock::new(read_keys(dir)?),
            dir: Some(dir.to_path_buf()),
            reloaded: Mutex::new(None),
        })
    }

    /// Keys given directly (never reloaded).
    pub fn from_keys(keys: Vec<VerifyingKey>) -> Self {
        Self {
            dir: None,
            loaded: RwLock::new(Loaded {
                keys,
                fingerprint: Vec::new(),
            }),
            reloaded: Mutex::new(None),
        }
    }

    /// Checks shape, signature (any key) and `exp` against `now` (unix
    /// seconds), with the repository's current keys.
    pub fn precheck(&self, token: &str, now: i64) -> JwsVerdict {
        match self.check(token, now) {
            Check::Verdict(v) => v,
            Check::UnknownSigner => match self.refresh() {
                Refresh::Current => JwsVerdict::Refused,
                Refresh::Reloaded => match self.check(token, now) {
                    Check::Verdict(v) => v,
                    Check::UnknownSigner => JwsVerdict::Refused,
                },
                Refresh::Unknown => JwsVerdict::NotJws,
            },
        }
    }

    fn check(&self, token: &str, now: i64) -> Check {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Check::Verdict(JwsVerdict::NotJws);
        };
        let Ok(header_json) = URL_SAFE_NO_PAD.decode(header) else {
            return Check::Verdict(JwsVerdict::NotJws);
        };
        let Ok(header_value) = serde_json::from_slice::<serde_json::Value>(&header_json) else {
            return Check::Verdict(JwsVerdict::NotJws);
        };
        if header_value.get("alg").and_then(|a| a.as_str()) != Some("ES256") {
            return Check::Verdict(JwsVerdict::Refused);
        }
        let Ok(sig_bytes) = URL_SAFE_NO_PAD.decode(signature) else {
            return Check::Verdict(JwsVerdict::Refused);
        };
        let Ok(sig) = Signature::from_slice(&sig_bytes) else {
            return Check::Verdict(JwsVerdict::Refused);
        };
        let signed = &token.as_bytes()[..header.len() + 1 + payload.len()];
        let verified = {
            let loaded = self.loaded.read().unwrap_or_else(|p| p.into_inner());
            loaded.keys.iter().any(|k| k.verify(signed, &sig).is_ok())
        };
        if !verified {
            return Check::UnknownSigner;
        }
        let Ok(claims) = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| ())
            .and_then(|p| serde_json::from_slice::<serde_json::Value>(&p).map_err(|_| ()))
        else {
            return Check::Verdict(JwsVerdict::Refused);
        };
        Check::Verdict(match claims.get("exp").and_then(|e| e.as_i64()) {
            Some(exp) if exp > now => JwsVerdict::Plausible,
            _ => JwsVerdict::Refused,
        })
    }

    /// Looks at the repository, and reloads it when it changed (at most once
    /// per [`RELOAD_INTERVAL`]).
    fn refresh(&self) -> Refresh {
        let Some(dir) = &self.dir else {
            return Refresh::Current;
        };
        let Ok(now_files) = pem_files(dir) else {
            tracing::warn!(dir = %dir.display(), "the JWS key repository cannot be read");
            return Refresh::Unknown;
        };
        {
            let loaded = self.loaded.read().unwrap_or_else(|p| p.into_inner());
            if loaded.fingerprint == now_files {
                return Refresh::Current;
            }
        }
        let mut reloaded = self.reloaded.lock().unwrap_or_else(|p| p.into_inner());
        if reloaded.is_some_and(|at| at.elapsed() < RELOAD_INTERVAL) {
            return Refresh::Unknown;
        }
        *reloaded = Some(Instant::now());
        match read_keys(dir) {
            Ok(fresh) => {
                tracing::info!(keys = fresh.keys.len(), "reloaded the JWS public keys");
                *self.loaded.write().unwrap_or_else(|p| p.into_inner()) = fresh;
                Refresh::Reloaded
            }
            Err(e) => {
                tracing::warn!(error = %e, "the JWS key repository cannot be reloaded; keeping the keys loaded");
                Refresh::Unknown
            }
        }
    }
}

/// What looking at the repository found.
enum Refresh {
    /// The loaded keys are the repository's.
    Current,
    /// The repository changed and was reloaded.
    Reloaded,
    /// It changed but cannot be reloaded now (too soon, or unreadable).
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Signer;
    use p256::ecdsa::SigningKey;

    fn jws(key: &SigningKey, exp: i64) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(format!(r#"{{"sub":"u","exp":{exp}}}"#));
        let signed = format!("{header}.{payload}");
        let sig: Signature = key.sign(signed.as_bytes());
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
    }

    #[test]
    fn verdicts() {
        let key = SigningKey::from_slice(&[7u8; 32]).unwrap();
        let other = SigningKey::from_slice(&[9u8; 32]).unwrap();
        let keys = JwsKeys::from_keys(vec![*other.verifying_key(), *key.verifying_key()]);
        assert_eq!(keys.precheck(&jws(&key, 2000), 1000), JwsVerdict::Plausible);
        assert_eq!(
            keys.precheck(&jws(&key, 500), 1000),
            JwsVerdict::Refused,
            "expired"
        );
        let forged = JwsKeys::from_keys(vec![*other.verifying_key()]);
        assert_eq!(
            forged.precheck(&jws(&key, 2000), 1000),
            JwsVerdict::Refused,
            "wrong key"
        );
        let mut tampered = jws(&key, 2000);
        tampered.replace_range(40..41, "A");
        assert_ne!(keys.precheck(&tampered, 1000), JwsVerdict::Plausible);
        assert_eq!(keys.precheck("gAAAAABfernet", 1000), JwsVerdict::NotJws);
        assert_eq!(keys.precheck("a.b.c", 1000), JwsVerdict::NotJws);
    }

    fn pem(key: &SigningKey) -> String {
        use p256::pkcs8::EncodePublicKey;
        key.verifying_key()
            .to_public_key_pem(p256::pkcs8::LineEnding::LF)
            .unwrap()
    }

    #[test]
    fn keys_rotated_into_the_repository_are_used_at_once() {
        let dir = std::env::temp_dir().join(format!("heatgate-jws-rotate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let old = SigningKey::from_slice(&[7u8; 32]).unwrap();
        let new = SigningKey::from_slice(&[9u8; 32]).unwrap();
        std::fs::write(dir.join("0.pem"), pem(&old)).unwrap();
        let keys = JwsKeys::load(&dir).unwrap();
        assert_eq!(keys.precheck(&jws(&old, 2000), 1000), JwsVerdict::Plausible);
        // Not yet in the repository: a forgery as far as anyone can tell.
        assert_eq!(keys.precheck(&jws(&new, 2000), 1000), JwsVerdict::Refused);
        // Keystone rotates: the new key is picked up on the next token, even
        // within the reload interval of the last look (no reload happened).
        std::fs::write(dir.join("1.pem"), pem(&new)).unwrap();
        assert_eq!(keys.precheck(&jws(&new, 2000), 1000), JwsVerdict::Plausible);
        assert_eq!(keys.precheck(&jws(&old, 2000), 1000), JwsVerdict::Plausible);
        // A second change within the reload interval: not refused, left to
        // Keystone, until the interval has passed.
        let newer = SigningKey::from_slice(&[11u8; 32]).unwrap();
        std::fs::write(dir.join("2.pem"), pem(&newer)).unwrap();
        assert_eq!(keys.precheck(&jws(&newer, 2000), 1000), JwsVerdict::NotJws);
        std::thread::sleep(RELOAD_INTERVAL);
        assert_eq!(
            keys.precheck(&jws(&newer, 2000), 1000),
            JwsVerdict::Plausible
        );
        // A forgery is still refused once the keys are current.
        let forger = SigningKey::from_slice(&[13u8; 32]).unwrap();
        assert_eq!(
            keys.precheck(&jws(&forger, 2000), 1000),
            JwsVerdict::Refused
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
