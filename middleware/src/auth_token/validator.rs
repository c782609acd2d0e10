//! Token validation with a bounded cache and request coalescing.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use heatgate_keystone::{Client, ValidateOptions, Validation};
use moka::future::Cache;
use moka::Expiry;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use http::{HeaderMap, HeaderValue};

use super::access_rules::AccessRules;
use super::config::AuthTokenConfig;
use super::headers::{IdentityHeaders, IDENTITY_STATUS, SERVICE_CATALOG};
use super::jws::{JwsKeyError, JwsKeys, JwsVerdict};
use crate::context::IdentityData;

/// A token Keystone confirmed, with everything derived from it computed once.
#[derive(Debug)]
pub struct ValidToken {
    /// The identity.
    pub identity: Arc<IdentityData>,
    /// The headers to set downstream.
    pub headers: IdentityHeaders,
    /// Until when the cache may answer for the token: min(token_cache_time,
    /// the token's expiry) from when Keystone confirmed it.
    pub cached_until: Instant,
    /// The access rules of a restricted application credential's token
    /// (`None`: the token may be used for any request).
    pub access_rules: Option<AccessRules>,
}

impl ValidToken {
    /// Sets the headers auth_token sets downstream for a confirmed user
    /// token: `X-Identity-Status: Confirmed`, the identity attributes, roles and
    /// their deprecated copies, and `X-Service-Catalog` when `with_catalog`.
    pub fn insert_user_headers(&self, headers: &mut HeaderMap, with_catalog: bool) {
        headers.insert(IDENTITY_STATUS, HeaderValue::from_static("Confirmed"));
        for (name, value) in self.headers.user() {
            headers.insert(name.clone(), value.clone());
        }
        if with_catalog {
            if let Some(catalog) = self.headers.catalog() {
                headers.insert(SERVICE_CATALOG, catalog.clone());
            }
        }
    }
}

/// Why a token could not be confirmed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TokenRejection {
    /// Keystone (or the local checks) said the token is not valid.
    #[error("the token is not valid")]
    Invalid,
    /// Keystone could not be asked; the caller must not decide.
    #[error("keystone is unavailable: {0}")]
    Unavailable(Arc<heatgate_keystone::Error>),
}

/// Cache and coalescing counters.
#[derive(Debug, Default)]
pub struct ValidatorStats {
    /// Answers served from the cache.
    pub hits: AtomicU64,
    /// Validations that had to ask Keystone (one per coalesced group).
    pub misses: AtomicU64,
    /// Requests that waited for another request's validation of the same token.
    pub coalesced: AtomicU64,
    /// Tokens refused without asking Keystone (size, characters, JWS).
    pub refused_locally: AtomicU64,
    /// Tokens refused because Keystone had just said they are not valid (the
    /// invalid-token cache).
    pub invalid_hits: AtomicU64,
}

/// Moka expires each entry at its token's `cached_until`.
struct UntilCachedUntil;

impl Expiry<[u8; 32], Arc<ValidToken>> for UntilCachedUntil {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &Arc<ValidToken>,
        now: Instant,
    ) -> Option<Duration> {
        Some(value.cached_until.saturating_duration_since(now))
    }
}

/// Validates tokens through Keystone, caching confirmed ones by the sha256 of
/// the token (never the token itself) for min(token_cache_time, token expiry),
/// and making concurrent requests with the same uncached token share ONE call.
#[derive(Clone)]
pub struct TokenValidator {
    client: Client,
    cache: Cache<[u8; 32], Arc<ValidToken>>,
    /// token_cache_time (zero: nothing is cached).
    cache_time: Duration,
    include_catalog: bool,
    max_token_size: usize,
    jws: Option<Arc<JwsKeys>>,
    stats: Arc<ValidatorStats>,
    catalogs: Arc<CatalogInterner>,
    /// Send `OpenStack-Identity-Access-Rules` (see `with_access_rules`).
    access_rules: bool,
    /// Tokens Keystone said are not valid, by sha256, for a short time (see
    /// `with_invalid_token_cache`); `None`: not remembered.
    invalid: Option<Cache<[u8; 32], ()>>,
}

/// How long, by default, a token Keystone refused is refused without asking
/// again.
pub const INVALID_TOKEN_CACHE_TIME: Duration = Duration::from_secs(10);
/// How many refused tokens are remembered at most.
const INVALID_TOKEN_CACHE_ENTRIES: u64 = 10_000;

fn invalid_cache(time: Duration) -> Option<Cache<[u8; 32], ()>> {
    (!time.is_zero()).then(|| {
        Cache::builder()
            .max_capacity(INVALID_TOKEN_CACHE_ENTRIES)
            .time_to_live(time)
            .build()
    })
}

/// One copy of each distinct `X-Service-Catalog` value: the tokens of a
/// deployment share a handful of catalogs (often one), and the value is the
/// largest part of a cached token (kilobytes), so cached tokens point at a
/// shared copy instead of holding their own. Bounded: when full it starts
/// over (entries already cached keep their copy).
#[derive(Debug, Default)]
struct CatalogInterner {
    values: std::sync::Mutex<std::collections::HashMap<Vec<u8>, http::HeaderValue>>,
}

impl CatalogInterner {
    const MAX_DISTINCT: usize = 256;

    fn intern(&self, value: http::HeaderValue) -> http::HeaderValue {
        let mut values = self.values.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(shared) = values.get(value.as_bytes()) {
            return shared.clone();
        }
        if values.len() >= Self::MAX_DISTINCT {
            values.clear();
        }
        values.insert(value.as_bytes().to_vec(), value.clone());
        value
    }
}

impl std::fmt::Debug for TokenValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenValidator")
            .field("cached", &self.cache.entry_count())
            .field("include_catalog", &self.include_catalog)
            .finish_non_exhaustive()
    }
}

impl TokenValidator {
    /// A validator over `client`.
    ///
    /// `cache_time` `None` disables caching (concurrent requests still share a call).
    pub fn new(
        client: Client,
        cache_time: Option<Duration>,
        max_entries: u64,
        include_catalog: bool,
        max_token_size: usize,
        jws: Option<JwsKeys>,
    ) -> Self {
        let cache = Cache::builder()
            .max_capacity(max_entries)
            .expire_after(UntilCachedUntil)
            .build();
        Self {
            client,
            cache,
            cache_time: cache_time.unwrap_or(Duration::ZERO),
            include_catalog,
            max_token_size,
            jws: jws.map(Arc::new),
            stats: Arc::default(),
            catalogs: Arc::default(),
            access_rules: false,
            invalid: invalid_cache(INVALID_TOKEN_CACHE_TIME),
        }
    }

    /// How long a token Keystone said is not valid is refused without asking
    /// Keystone again (default [`INVALID_TOKEN_CACHE_TIME`]; zero: never).
    /// A token never becomes valid later, so this only saves Keystone the
    /// same question: a client repeating a bad token costs one call per
    /// period. Keystone being unavailable is never remembered. At most
    /// 10,000 tokens are remembered (by sha256).
    pub fn with_invalid_token_cache(mut self, time: Duration) -> Self {
        self.invalid = invalid_cache(time);
        self
    }

    /// The validator an auth_token layer configured with `config` uses: its
    /// cache times and bounds, its JWS key repository, access rules enforced
    /// when `service_type` is set.
    pub fn from_config(client: Client, config: &AuthTokenConfig) -> Result<Self, JwsKeyError> {
        let jws = match &config.jws_public_key_repository {
            Some(dir) => Some(JwsKeys::load(dir)?),
            None => None,
        };
        let cache_time = u64::try_from(config.token_cache_time)
            .ok()
            .map(Duration::from_secs);
        Ok(Self::new(
            client,
            cache_time,
            config.token_cache_max_entries,
            config.include_service_catalog,
            config.max_token_size,
            jws,
        )
        .with_access_rules(config.service_type.is_some())
        .with_invalid_token_cache(Duration::from_secs(config.invalid_token_cache_time)))
    }

    /// Whether whoever uses this validator's answers enforces application
    /// credential access rules (see [`AccessRules`]). Only then does it tell
    /// Keystone so (`OpenStack-Identity-Access-Rules`), and Keystone confirms
    /// the tokens of restricted application credentials; otherwise Keystone
    /// refuses them (404), as it must for a service that would not enforce
    /// their rules.
    pub fn with_access_rules(mut self, enforced: bool) -> Self {
        self.access_rules = enforced;
        self
    }

    /// The Keystone client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Cache and coalescing counters.
    pub fn stats(&self) -> &ValidatorStats {
        &self.stats
    }

    /// Number of cached tokens (approximate).
    pub fn cached_tokens(&self) -> u64 {
        self.cache.entry_count()
    }

    /// Whether `token` is acceptable as a token at all (size, visible ASCII).
    pub fn is_well_formed(&self, token: &[u8]) -> bool {
        // Branch-free over the bytes so that it vectorises: it runs on every request.
        !token.is_empty()
            && token.len() <= self.max_token_size
            && token
                .iter()
                .fold(true, |visible, b| visible & (0x21..=0x7e).contains(b))
    }

    /// Validates `token`. One that is not well-formed is refused here
    /// (counted as refused locally); the cache is keyed by the sha256 of the
    /// others.
    pub async fn validate(&self, token: &[u8]) -> Result<Arc<ValidToken>, TokenRejection> {
        if !self.is_well_formed(token) {
            self.stats.refused_locally.fetch_add(1, Ordering::Relaxed);
            return Err(TokenRejection::Invalid);
        }
        let key: [u8; 32] = Sha256::digest(token).into();
        let now = OffsetDateTime::now_utc();
        if let Some(hit) = self.cache.get(&key).await {
            if !hit.identity.is_expired_at(now) {
                self.stats.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(hit);
            }
            Box::pin(self.cache.invalidate(&key)).await;
        }
        if let Some(invalid) = &self.invalid {
            if invalid.contains_key(&key) {
                self.stats.invalid_hits.fetch_add(1, Ordering::Relaxed);
                return Err(TokenRejection::Invalid);
            }
        }
        // The miss path is boxed: its future (a Keystone call) is several kB,
        // and inline it would make every cached request allocate and move it.
        Box::pin(self.validate_uncached(key, token, now)).await
    }

    /// Validates a token that is not in the cache (JWS pre-check, then one
    /// Keystone call shared by every concurrent request for the same token).
    async fn validate_uncached(
        &self,
        key: [u8; 32],
        token: &[u8],
        now: OffsetDateTime,
    ) -> Result<Arc<ValidToken>, TokenRejection> {
        // Checked to be visible ASCII by `validate`.
        let token = std::str::from_utf8(token).map_err(|_| TokenRejection::Invalid)?;
        if let Some(jws) = &self.jws {
            if jws.precheck(token, now.unix_timestamp()) == JwsVerdict::Refused {
                self.stats.refused_locally.fetch_add(1, Ordering::Relaxed);
                return Err(TokenRejection::Invalid);
            }
        }
        let ran = AtomicBool::new(false);
        let outcome = self
            .cache
            .try_get_with(key, async {
                ran.store(true, Ordering::Relaxed);
                self.stats.misses.fetch_add(1, Ordering::Relaxed);
                let options = ValidateOptions {
                    include_catalog: self.include_catalog,
                    allow_expired: false,
                    access_rules: self.access_rules,
                };
                match self.client.validate(token, options).await {
                    Ok(Validation::Valid(body)) => {
                        let identity = IdentityData::from_token(&body);
                        let mut headers = IdentityHeaders::new(&identity, body.catalog.as_deref());
                        let catalog = headers.catalog().map(|c| self.catalogs.intern(c.clone()));
                        headers.set_catalog(catalog);
                        let wall = OffsetDateTime::now_utc();
                        if identity.is_expired_at(wall) {
                            return Err(TokenRejection::Invalid);
                        }
                        let remaining = Duration::try_from(identity.expires_at - wall)
                            .unwrap_or(Duration::ZERO);
                        Ok(Arc::new(ValidToken {
                            access_rules: AccessRules::from_token(&body),
                            cached_until: Instant::now() + self.cache_time.min(remaining),
                            identity: Arc::new(identity),
                            headers,
                        }))
                    }
                    Ok(Validation::Invalid) => Err(TokenRejection::Invalid),
                    Err(e) => {
                        tracing::error!(error = %e, "unable to validate token");
                        Err(TokenRejection::Unavailable(Arc::new(e)))
                    }
                }
            })
            .await;
        if !ran.load(Ordering::Relaxed) {
            self.stats.coalesced.fetch_add(1, Ordering::Relaxed);
        }
        let outcome = outcome.map_err(|e| (*e).clone());
        if let (Err(TokenRejection::Invalid), Some(invalid)) = (&outcome, &self.invalid) {
            // Keystone's own "no" (a 503 is never remembered).
            Box::pin(invalid.insert(key, ())).await;
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_catalogs_share_one_copy() {
        let interner = CatalogInterner::default();
        let a = interner.intern(http::HeaderValue::from_str("[{\"type\": \"identity\"}]").unwrap());
        let b = interner.intern(http::HeaderValue::from_str("[{\"type\": \"identity\"}]").unwrap());
        let c = interner.intern(http::HeaderValue::from_str("[]").unwrap());
        assert_eq!(a, b);
        assert_eq!(
            a.as_bytes().as_ptr(),
            b.as_bytes().as_ptr(),
            "one shared copy"
        );
        assert_ne!(a, c);
    }

    /// Every request allocates the future of `validate`; the Keystone call
    /// (several kB of future) must stay out of it, behind a box.
    #[test]
    fn the_cached_path_does_not_carry_the_keystone_call() {
        let url = "http://127.0.0.1:9/v3".parse().expect("a URL");
        let client = Client::new(heatgate_keystone::ClientConfig::new(url)).expect("a client");
        let validator =
            TokenValidator::new(client, Some(Duration::from_secs(300)), 10, true, 64, None);
        let uncached = validator.validate_uncached([0; 32], b"token", OffsetDateTime::now_utc());
        let cached = validator.validate(b"token");
        assert!(
            std::mem::size_of_val(&cached) < 2048
                && std::mem::size_of_val(&cached) < std::mem::size_of_val(&uncached),
            "validate's future is {} bytes, the miss path's {}",
            std::mem::size_of_val(&cached),
            std::mem::size_of_val(&uncached),
        );
    }
}
