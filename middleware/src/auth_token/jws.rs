//! Local pre-check of Keystone JWS tokens (provider `jws`, ES256, no `kid`).
//!
//! A forged or expired JWS is refused without a call to Keystone; a token that
//! passes is still validated by Keystone (roles and revocation live there).

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;

/// What the pre-check concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwsVerdict {
    /// Not shaped like a JWS: leave it to Keystone.
    NotJws,
    /// Signed by one of the keys and not expired: Keystone must still validate it.
    Plausible,
    /// Forged, malformed or expired: refuse without asking Keystone.
    Refused,
}

/// Keystone's JWS public keys.
#[derive(Debug, Clone)]
pub struct JwsKeys {
    keys: Vec<VerifyingKey>,
}

/// A key repository that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("JWS public key repository {path}: {reason}")]
pub struct JwsKeyError {
    path: String,
    reason: String,
}

impl JwsKeys {
    /// Loads every `*.pem` public key in `dir`.
    pub fn load(dir: &Path) -> Result<Self, JwsKeyError> {
        let err = |reason: String| JwsKeyError {
            path: dir.display().to_string(),
            reason,
        };
        let mut keys = Vec::new();
        let entries = std::fs::read_dir(dir).map_err(|e| err(e.to_string()))?;
        let mut paths: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "pem"))
            .collect();
        paths.sort();
        for path in paths {
            let pem = std::fs::read_to_string(&path).map_err(|e| err(e.to_string()))?;
            let key = VerifyingKey::from_public_key_pem(&pem)
                .map_err(|e| err(format!("{}: {e}", path.display())))?;
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(err("no *.pem public key found".into()));
        }
        Ok(Self { keys })
    }

    /// Keys given directly.
    pub fn from_keys(keys: Vec<VerifyingKey>) -> Self {
        Self { keys }
    }

    /// Checks shape, signature (any key) and `exp` against `now` (unix seconds).
    pub fn precheck(&self, token: &str, now: i64) -> JwsVerdict {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return JwsVerdict::NotJws;
        };
        let Ok(header_json) = URL_SAFE_NO_PAD.decode(header) else {
            return JwsVerdict::NotJws;
        };
        let Ok(header_value) = serde_json::from_slice::<serde_json::Value>(&header_json) else {
            return JwsVerdict::NotJws;
        };
        if header_value.get("alg").and_then(|a| a.as_str()) != Some("ES256") {
            return JwsVerdict::Refused;
        }
        let Ok(sig_bytes) = URL_SAFE_NO_PAD.decode(signature) else {
            return JwsVerdict::Refused;
        };
        let Ok(sig) = Signature::from_slice(&sig_bytes) else {
            return JwsVerdict::Refused;
        };
        let signed = &token.as_bytes()[..header.len() + 1 + payload.len()];
        if !self.keys.iter().any(|k| k.verify(signed, &sig).is_ok()) {
            return JwsVerdict::Refused;
        }
        let Ok(claims) = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| ())
            .and_then(|p| serde_json::from_slice::<serde_json::Value>(&p).map_err(|_| ()))
        else {
            return JwsVerdict::Refused;
        };
        match claims.get("exp").and_then(|e| e.as_i64()) {
            Some(exp) if exp > now => JwsVerdict::Plausible,
            _ => JwsVerdict::Refused,
        }
    }
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
}
