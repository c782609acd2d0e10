//! ec2token options (`[ec2authtoken]`), with Heat's names where Heat has them.

use std::time::Duration;

use serde::Deserialize;

/// Who verifies signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VerifyMode {
    /// Every signed request goes to Keystone's `/v3/ec2tokens` (Heat's behaviour).
    #[default]
    Keystone,
    /// Credentials are fetched once and signatures verified here; Keystone is
    /// asked for a token only when the cached one runs out.
    Local,
}

/// Options of the ec2token layer.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub struct Ec2TokenConfig {
    /// The Keystone URI sent downstream as `X-Auth-URL` (Heat's `auth_uri`);
    /// default: the Keystone client's `auth_url`.
    pub auth_uri: Option<String>,
    /// `keystone` (default) or `local`.
    pub verify: VerifyMode,
    /// Largest request body read (bytes): bodies are hashed for SigV4 and may
    /// carry form parameters. Larger ones get 400 `RequestLimitExceeded`.
    /// Default 114688, Heat's (and Keystone's) `max_request_body_size`: Keystone
    /// refuses larger `/v3/ec2tokens` documents anyway.
    pub max_body_size: usize,
    /// Time stamps older than this are refused (seconds; Keystone's `auth_ttl`: 900).
    pub max_age: u64,
    /// Time stamps further in the future than this are refused (seconds; 900).
    pub max_clock_skew: u64,
    /// Local mode: how long a credential (or its absence) fetched from Keystone is
    /// trusted (seconds). A credential deleted in Keystone keeps working at most
    /// this long.
    pub credential_cache_time: u64,
    /// How long a refusal is remembered (seconds; 0: never): in local mode an
    /// unknown access key; in keystone mode Keystone's refusal of an access
    /// key, or of one exact signed request. Keystone being unavailable is
    /// never remembered.
    pub negative_cache_time: u64,
    /// Local mode: the longest a token from `/v3/ec2tokens` is reused (seconds).
    pub token_cache_time: u64,
    /// Local mode: a cached token is not reused when fewer than this many
    /// seconds of its life remain.
    pub token_expiry_margin: u64,
    /// Local mode: bound on cached credentials and tokens (entries each).
    pub cache_max_entries: u64,
}

impl Default for Ec2TokenConfig {
    fn default() -> Self {
        Self {
            auth_uri: None,
            verify: VerifyMode::Keystone,
            max_body_size: 114_688,
            max_age: 15 * 60,
            max_clock_skew: 15 * 60,
            credential_cache_time: 60,
            negative_cache_time: 5,
            token_cache_time: 300,
            token_expiry_margin: 120,
            cache_max_entries: 10_000,
        }
    }
}

impl Ec2TokenConfig {
    pub(crate) fn freshness(&self) -> super::signature::Freshness {
        super::signature::Freshness {
            max_age: secs(self.max_age),
            max_skew: secs(self.max_clock_skew),
            ..Default::default()
        }
    }
}

fn secs(s: u64) -> time::Duration {
    time::Duration::try_from(Duration::from_secs(s)).unwrap_or(time::Duration::MAX)
}
