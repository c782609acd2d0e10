//! Secrets that must never reach a log line or an error message.

use std::fmt;
use std::sync::Arc;

/// A secret string (a password, a token, an EC2 secret, a trust id).
///
/// `Debug` and `Display` print `***` followed by a short sha256 prefix, so two
/// log lines can be correlated without revealing the value.
///
/// ```
/// use heatgate_keystone::Secret;
/// let s = Secret::new("hunter2");
/// assert_eq!(s.expose(), "hunter2");
/// assert!(!format!("{s:?}").contains("hunter2"));
/// ```
///
/// Cloning one is cheap (the value is shared, not copied).
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Secret(Arc<str>);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into().into())
    }

    /// The value itself. Call this only where the value is sent to its owner.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A short, non-reversible fingerprint (first 8 hex chars of sha256) for logs.
    pub fn fingerprint(&self) -> String {
        fingerprint(self.0.as_bytes())
    }
}

/// The first 8 hex characters of the sha256 of `bytes`: safe to log.
pub fn fingerprint(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(bytes);
    hex::encode(&digest[..4])
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(***{})", self.fingerprint())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "***{}", self.fingerprint())
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value.into())
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.into())
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret::from)
    }
}
