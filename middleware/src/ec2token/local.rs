//! The local verification mode: credentials fetched once through Keystone's
//! credentials API with the service identity, signatures verified here with
//! the same code Keystone runs, and the project-scoped token from
//! `/v3/ec2tokens` reused until shortly before it expires.
//!
//! Bounds: a credential (or the absence of one) is trusted for
//! `credential_cache_time` (`negative_cache_time`), so a credential deleted in
//! Keystone stops working within that time; a token is reused for at most
//! `token_cache_time` and never within `token_expiry_margin` of its expiry. A
//! token is only ever handed to a request whose signature was verified against
//! the current credential.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use heatgate_keystone::{Client, Ec2Credential, Ec2Outcome, Secret, TokenBody};
use moka::future::Cache;
use moka::Expiry;
use time::OffsetDateTime;

use super::config::Ec2TokenConfig;
use super::error::Ec2Error;
use super::signature::{verify_cached, Ec2Credentials, Prepared, SigningKeyCache};
use super::Verified;

/// Counters of the local mode.
#[derive(Debug, Default)]
pub struct LocalStats {
    /// Credentials read from Keystone.
    pub credential_fetches: AtomicU64,
    /// Tokens asked of `/v3/ec2tokens`.
    pub token_requests: AtomicU64,
    /// Requests answered without any Keystone call.
    pub local_hits: AtomicU64,
}

#[derive(Debug)]
enum Known {
    Credential(Ec2Credential, SigningKeyCache),
    Unknown,
}

struct CredentialExpiry {
    positive: Duration,
    negative: Duration,
}

impl Expiry<String, Arc<Known>> for CredentialExpiry {
    fn expire_after_create(&self, _: &String, v: &Arc<Known>, _: Instant) -> Option<Duration> {
        Some(match **v {
            Known::Credential(..) => self.positive,
            Known::Unknown => self.negative,
        })
    }
}

#[derive(Debug)]
struct CachedToken {
    token: Secret,
    body: Arc<TokenBody>,
}

struct TokenExpiry {
    max: Duration,
    margin: Duration,
}

impl Expiry<String, Arc<CachedToken>> for TokenExpiry {
    fn expire_after_create(
        &self,
        _: &String,
        v: &Arc<CachedToken>,
        _: Instant,
    ) -> Option<Duration> {
        let remaining = Duration::try_from(v.body.expires_at - OffsetDateTime::now_utc())
            .unwrap_or_default()
            .saturating_sub(self.margin);
        Some(self.max.min(remaining))
    }
}

/// Verifies signatures locally (see the module docs).
pub(crate) struct LocalVerifier {
    client: Client,
    credentials: Cache<String, Arc<Known>>,
    tokens: Cache<String, Arc<CachedToken>>,
    stats: LocalStats,
}

impl std::fmt::Debug for LocalVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalVerifier")
            .field("credentials", &self.credentials.entry_count())
            .field("tokens", &self.tokens.entry_count())
            .finish()
    }
}

impl LocalVerifier {
    pub(crate) fn new(client: Client, config: &Ec2TokenConfig) -> Self {
        let credentials = Cache::builder()
            .max_capacity(config.cache_max_entries)
            .expire_after(CredentialExpiry {
                positive: Duration::from_secs(config.credential_cache_time),
                negative: Duration::from_secs(config.negative_cache_time),
            })
            .build();
        let tokens = Cache::builder()
            .max_capacity(config.cache_max_entries)
            .expire_after(TokenExpiry {
                max: Duration::from_secs(config.token_cache_time),
                margin: Duration::from_secs(config.token_expiry_margin),
            })
            .build();
        Self {
            client,
            credentials,
            tokens,
            stats: LocalStats::default(),
        }
    }

    pub(crate) fn stats(&self) -> &LocalStats {
        &self.stats
    }

    async fn credential(&self, access: &str) -> Result<Arc<Known>, Ec2Error> {
        let fetched = self
            .credentials
            .try_get_with(access.to_owned(), async {
                self.stats
                    .credential_fetches
                    .fetch_add(1, Ordering::Relaxed);
                match self.client.ec2_credential(access).await {
                    Ok(Some(c)) => Ok(Arc::new(Known::Credential(c, SigningKeyCache::default()))),
                    Ok(None) => Ok(Arc::new(Known::Unknown)),
                    Err(e) => Err(e),
                }
            })
            .await;
        fetched.map_err(|e| {
            if e.is_unavailable() {
                tracing::warn!(error = %e, "cannot read an EC2 credential from keystone");
                Ec2Error::Unavailable
            } else {
                // The service identity may not read credentials: a deployment fault.
                tracing::error!(error = %e, "keystone refused to show an EC2 credential to the service user");
                Ec2Error::Internal
            }
        })
    }

    /// Verifies `creds` (already prepared and within their time limits).
    pub(crate) async fn verify(
        &self,
        creds: &Ec2Credentials,
        prepared: &Prepared,
    ) -> Result<Verified, Ec2Error> {
        let known = self.credential(&creds.access).await?;
        let (credential, keys) = match &*known {
            Known::Unknown => return Err(Ec2Error::UnknownAccessKey),
            Known::Credential(c, keys) => (c, keys),
        };
        if !verify_cached(prepared, creds, credential.secret.expose().as_bytes(), keys) {
            return Err(Ec2Error::SignatureMismatch);
        }
        let mut asked = false;
        let token = self
            .tokens
            .try_get_with(creds.access.clone(), async {
                asked = true;
                self.stats.token_requests.fetch_add(1, Ordering::Relaxed);
                match self.client.ec2_tokens(creds).await {
                    Ok(Ec2Outcome::Accepted(a)) => {
                        let a = *a;
                        Ok(Arc::new(CachedToken {
                            token: a.token,
                            body: Arc::new(a.body),
                        }))
                    }
                    Ok(Ec2Outcome::UnknownAccessKey) => Err(Ec2Error::UnknownAccessKey),
                    Ok(other) => Err(super::keystone_refusal(&other)),
                    Err(e) if e.is_unavailable() => Err(Ec2Error::Unavailable),
                    Err(_) => Err(Ec2Error::AccessDenied("keystone refused the request")),
                }
            })
            .await
            .map_err(|e| {
                let e = (*e).clone();
                if matches!(
                    e,
                    Ec2Error::UnknownAccessKey
                        | Ec2Error::SignatureMismatch
                        | Ec2Error::AccessDenied(_)
                ) {
                    // Keystone disagrees with what we cached: read the credential again next time.
                    let credentials = self.credentials.clone();
                    let access = creds.access.clone();
                    tokio::spawn(async move { credentials.invalidate(&access).await });
                }
                e
            })?;
        if !asked {
            self.stats.local_hits.fetch_add(1, Ordering::Relaxed);
        }
        if token.body.project.as_ref().map(|p| p.id.as_str())
            != Some(credential.project_id.as_str())
        {
            self.tokens.invalidate(&creds.access).await;
            return Err(Ec2Error::AccessDenied(
                "token not scoped to the credential's project",
            ));
        }
        Ok(Verified {
            token: token.token.clone(),
            body: token.body.clone(),
        })
    }
}
