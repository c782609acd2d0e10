//! auth_password: Heat's standalone mode, where the caller sends a user name and
//! password (`X-Auth-User`, `X-Auth-Key`) instead of a token, and the layer
//! authenticates them with Keystone, scoped to the project in the URL
//! (`/v1/{project_id}/...`).
//!
//! Beyond the reference: the identity URL named by `X-Auth-Url` must be in an
//! allow-list (by default only the configured `auth_url`), so the layer never
//! posts a caller's password to a server the caller chose; and a successful
//! authentication may be cached briefly, keyed by a salted hash of
//! (url, domain, user, project, password), never by the password itself.
//!
//! Every identity header ([`identity_headers`](crate::identity_headers)) is
//! removed before the layer sets its own. The two a caller chooses as
//! credentials, not identity (`X-Auth-Url` within the allow-list, and the
//! user's domain `X-User-Domain-Id`, as Heat's auth_password reads them), are
//! read first: from the request, or from what a listener's strip layer set
//! aside ([`ClientSent`](crate::identity_headers::ClientSent)).
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use heatgate_keystone::{Client, ClientConfig};
//! use heatgate_middleware::auth_password::{AuthPasswordConfig, AuthPasswordLayer};
//! use heatgate_middleware::context::Identity;
//!
//! # fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let auth_url: url::Url = "http://127.0.0.1:5000/v3".parse()?;
//! let client = Client::new(ClientConfig::new(auth_url.clone()))?;
//! let layer = AuthPasswordLayer::new(AuthPasswordConfig::new(auth_url), client);
//! let app: Router = Router::new()
//!     .route("/v1/{tenant}/whoami", get(|id: Identity| async move { id.user_id.clone() }))
//!     .layer(layer);
//! # Ok(()) }
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use futures_util::future::BoxFuture;
use heatgate_keystone::{Client, DomainRef, PasswordAuth, ScopeRequest, Secret, UserRef};
use hmac::{Hmac, Mac};
use http::{header, HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use moka::future::Cache;
use moka::Expiry;
use sha2::Sha256;
use time::OffsetDateTime;
use tower::{Layer, Service};
use url::Url;

use crate::auth_token::{IDENTITY_STATUS, SERVICE_CATALOG};
use crate::context::{AuthMethod, AuthStatus, Identity, IdentityData};
use crate::identity_headers::{is_identity_header, remove_where, ClientSent};
use crate::BoxError;

const AUTH_USER: HeaderName = HeaderName::from_static("x-auth-user");
const AUTH_KEY: HeaderName = HeaderName::from_static("x-auth-key");
const AUTH_URL: HeaderName = HeaderName::from_static("x-auth-url");
const USER_DOMAIN_ID: HeaderName = HeaderName::from_static("x-user-domain-id");

/// Options of the auth_password layer.
#[derive(Debug, Clone)]
pub struct AuthPasswordConfig {
    /// The identity URL used when the caller names none, sent in `WWW-Authenticate`.
    pub auth_url: Url,
    /// Identity URLs a caller may name in `X-Auth-Url` (default: only `auth_url`).
    pub allowed_auth_uris: Vec<Url>,
    /// Path prefix before the project id (default `/v1`).
    pub path_prefix: String,
    /// How long a successful authentication is reused (zero disables).
    pub cache_time: Duration,
    /// Bound on cached authentications.
    pub cache_max_entries: u64,
}

impl AuthPasswordConfig {
    /// Defaults for `auth_url`: only it is allowed, 30 s cache.
    pub fn new(auth_url: Url) -> Self {
        Self {
            allowed_auth_uris: vec![auth_url.clone()],
            auth_url,
            path_prefix: "/v1".into(),
            cache_time: Duration::from_secs(30),
            cache_max_entries: 10_000,
        }
    }
}

/// Counters.
#[derive(Debug, Default)]
pub struct AuthPasswordStats {
    /// Authentications answered from the cache.
    pub hits: AtomicU64,
    /// Authentications sent to Keystone.
    pub keystone_calls: AtomicU64,
}

struct Authenticated {
    identity: Arc<IdentityData>,
    token: Secret,
    catalog: Option<HeaderValue>,
}

struct ByExpiry(Duration);

impl Expiry<[u8; 32], Arc<Authenticated>> for ByExpiry {
    fn expire_after_create(
        &self,
        _: &[u8; 32],
        v: &Arc<Authenticated>,
        _: Instant,
    ) -> Option<Duration> {
        let remaining = Duration::try_from(v.identity.expires_at - OffsetDateTime::now_utc())
            .unwrap_or_default();
        Some(self.0.min(remaining))
    }
}

struct Shared {
    config: AuthPasswordConfig,
    client: Client,
    www_authenticate: HeaderValue,
    salt: [u8; 32],
    cache: Cache<[u8; 32], Arc<Authenticated>>,
    stats: AuthPasswordStats,
}

/// Authenticates `X-Auth-User` / `X-Auth-Key` with Keystone (see the module docs).
#[derive(Clone)]
pub struct AuthPasswordLayer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for AuthPasswordLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthPasswordLayer")
            .field("auth_url", &self.shared.config.auth_url.as_str())
            .finish()
    }
}

impl AuthPasswordLayer {
    /// Builds the layer; `client` needs no service credentials.
    pub fn new(config: AuthPasswordConfig, client: Client) -> Self {
        let mut salt = [0u8; 32];
        // Without an OS random source the cache cannot be keyed safely: disable it.
        let cache_time = if getrandom::getrandom(&mut salt).is_ok() {
            config.cache_time
        } else {
            Duration::ZERO
        };
        let www_authenticate =
            HeaderValue::from_str(&format!("Keystone uri='{}'", config.auth_url))
                .unwrap_or_else(|_| HeaderValue::from_static("Keystone"));
        let cache = Cache::builder()
            .max_capacity(config.cache_max_entries)
            .expire_after(ByExpiry(cache_time))
            .build();
        Self {
            shared: Arc::new(Shared {
                config,
                client,
                www_authenticate,
                salt,
                cache,
                stats: Default::default(),
            }),
        }
    }

    /// Counters.
    pub fn stats(&self) -> &AuthPasswordStats {
        &self.shared.stats
    }
}

impl<S> Layer<S> for AuthPasswordLayer {
    type Service = AuthPassword<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AuthPassword {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service built by [`AuthPasswordLayer`].
#[derive(Clone)]
pub struct AuthPassword<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for AuthPassword<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthPassword")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

crate::inner_accessors!(AuthPassword);

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for AuthPassword<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let mut inner = crate::take_ready(&mut self.inner);
        let shared = self.shared.clone();
        Box::pin(async move {
            if let Err(denial) = shared.authenticate(&mut request).await {
                return Ok(denial);
            }
            Ok(inner.call(request).await?.map(Body::new))
        })
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

impl Shared {
    fn reject(&self, headers: &HeaderMap) -> Response<Body> {
        let mut r = crate::webob::error_response(
            StatusCode::UNAUTHORIZED,
            "This server could not verify that you are authorized to access the document you requested. Either you supplied the wrong credentials (e.g., bad password), or your browser does not understand how to supply the credentials required.",
            "Authentication required",
            headers,
        );
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, self.www_authenticate.clone());
        r
    }

    fn cache_key(
        &self,
        url: &Url,
        domain: &str,
        user: &str,
        project: &str,
        password: &str,
    ) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.salt).expect("any key length");
        for part in [url.as_str(), domain, user, project, password] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac.finalize().into_bytes().into()
    }

    async fn authenticate<B>(&self, request: &mut Request<B>) -> Result<(), Response<Body>> {
        let path = request.uri().path().to_owned();
        // The identity URL and the user's domain are the caller's to choose
        // (the URL within the allow-list), as credentials to check, never as
        // identity. Read before the identity headers go: from what a
        // listener's strip layer set aside, or from the request itself.
        let (named_url, named_domain) = {
            let sent = request
                .extensions()
                .get::<ClientSent>()
                .map(|c| &c.0)
                .unwrap_or(request.headers());
            let owned = |name| header_str(sent, name).map(str::to_owned);
            (owned(&AUTH_URL), owned(&USER_DOMAIN_ID))
        };
        let headers = request.headers_mut();
        remove_where(headers, is_identity_header);
        let (Some(project), Some(user), Some(password)) = (
            crate::policy::tenant_from_path(&path, &self.config.path_prefix),
            header_str(headers, &AUTH_USER),
            header_str(headers, &AUTH_KEY),
        ) else {
            return Err(self.reject(headers));
        };
        let auth_url = match named_url.as_deref() {
            None => self.config.auth_url.clone(),
            Some(named) => {
                let allowed = Url::parse(named).ok().filter(|u| {
                    self.config
                        .allowed_auth_uris
                        .iter()
                        .any(|a| same_endpoint(a, u))
                });
                match allowed {
                    Some(u) => u,
                    None => {
                        tracing::warn!("refused an X-Auth-Url that is not in allowed_auth_uris");
                        return Err(self.reject(headers));
                    }
                }
            }
        };
        let domain = named_domain.unwrap_or_else(|| "default".to_owned());
        let key = self.cache_key(&auth_url, &domain, user, project, password);
        let auth = PasswordAuth {
            user: UserRef::Name {
                name: user.to_owned(),
                domain: DomainRef::Id(domain.clone()),
            },
            password: Secret::new(password),
            scope: ScopeRequest::ProjectId(project.to_owned()),
        };
        let mut asked = false;
        let outcome = self
            .cache
            .try_get_with(key, async {
                asked = true;
                self.stats.keystone_calls.fetch_add(1, Ordering::Relaxed);
                let a = self.client.authenticate_at(&auth_url, &auth).await?;
                let identity = IdentityData::from_token(&a.body);
                let catalog = a
                    .body
                    .catalog
                    .as_ref()
                    .and_then(|c| serde_json::to_string(&v3_catalog(c)).ok())
                    .and_then(|s| HeaderValue::from_str(&s).ok());
                Ok::<_, heatgate_keystone::Error>(Arc::new(Authenticated {
                    identity: Arc::new(identity),
                    token: a.token,
                    catalog,
                }))
            })
            .await;
        if !asked {
            self.stats.hits.fetch_add(1, Ordering::Relaxed);
        }
        let authenticated = match outcome {
            Ok(a) => a,
            Err(e) if e.is_unavailable() => {
                tracing::error!(error = %e, "keystone unavailable for password authentication");
                return Err(crate::auth_token::response::keystone_unavailable(headers));
            }
            Err(_) => return Err(self.reject(headers)),
        };
        set_headers(headers, &authenticated, &domain);
        request.extensions_mut().insert(AuthStatus {
            user_confirmed: true,
            service_confirmed: None,
        });
        request.extensions_mut().insert(Identity::new(
            authenticated.identity.clone(),
            authenticated.token.clone(),
            AuthMethod::Password,
        ));
        Ok(())
    }
}

/// The same endpoint, ignoring a trailing slash.
fn same_endpoint(a: &Url, b: &Url) -> bool {
    a.as_str().trim_end_matches('/') == b.as_str().trim_end_matches('/')
}

fn set_headers(headers: &mut HeaderMap, a: &Authenticated, user_domain_id: &str) {
    let id = &a.identity;
    let put = |headers: &mut HeaderMap, name: &'static str, value: Option<&str>| {
        if let Some(v) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
            headers.insert(HeaderName::from_static(name), v);
        }
    };
    headers.insert(IDENTITY_STATUS, HeaderValue::from_static("Confirmed"));
    let roles = id.roles.join(",");
    for (name, value) in [
        ("x-project-id", id.project_id()),
        ("x-project-name", id.project_name()),
        ("x-user-id", Some(id.user_id.as_str())),
        ("x-user-name", id.user_name.as_deref()),
        ("x-roles", Some(roles.as_str())),
        ("x-auth-token", Some(a.token.expose())),
        ("x-user-domain-id", Some(user_domain_id)),
        ("x-user", id.user_name.as_deref()),
        ("x-tenant-id", id.project_id()),
        ("x-tenant-name", id.project_name()),
        ("x-tenant", id.project_name()),
        ("x-role", Some(roles.as_str())),
    ] {
        put(headers, name, value);
    }
    if let Some(c) = &a.catalog {
        headers.insert(SERVICE_CATALOG, c.clone());
    }
}

fn v3_catalog(catalog: &[heatgate_keystone::token::CatalogEntry]) -> serde_json::Value {
    serde_json::Value::Array(
        catalog
            .iter()
            .map(|s| {
                serde_json::json!({
                    "type": s.service_type,
                    "name": s.name,
                    "endpoints": s.endpoints.iter().map(|e| serde_json::json!({
                        "interface": e.interface, "url": e.url, "region_id": e.region_id, "region": e.region_id,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_comes_from_the_first_segment_after_the_prefix() {
        use crate::policy::tenant_from_path as project_from_path;
        assert_eq!(project_from_path("/v1/p1/stacks", "/v1"), Some("p1"));
        assert_eq!(project_from_path("/v1/p1", "/v1/"), Some("p1"));
        assert_eq!(project_from_path("/v1/", "/v1"), None);
        assert_eq!(project_from_path("/v1", "/v1"), None);
        assert_eq!(project_from_path("/v2/p1", "/v1"), None);
        assert_eq!(project_from_path("/v1p1/x", "/v1"), None);
    }

    #[tokio::test]
    async fn refuses_without_credentials_or_with_a_foreign_auth_url() {
        let auth_url: Url = "http://127.0.0.1:9/v3".parse().unwrap();
        let client = Client::new(heatgate_keystone::ClientConfig::new(auth_url.clone())).unwrap();
        let layer = AuthPasswordLayer::new(AuthPasswordConfig::new(auth_url), client);
        let svc = tower::service_fn(|_req: Request<Body>| async {
            Ok::<_, std::convert::Infallible>(Response::new(Body::empty()))
        });
        let mut svc = layer.layer(svc);
        use tower::ServiceExt;
        let no_password = Request::get("/v1/p1/stacks")
            .header("x-auth-user", "demo")
            .body(Body::empty())
            .unwrap();
        let r = svc.ready().await.unwrap().call(no_password).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            r.headers()[header::WWW_AUTHENTICATE],
            "Keystone uri='http://127.0.0.1:9/v3'"
        );
        let foreign = Request::get("/v1/p1/stacks")
            .header("x-auth-user", "demo")
            .header("x-auth-key", "pw")
            .header("x-auth-url", "http://attacker.example/v3")
            .body(Body::empty())
            .unwrap();
        let r = svc.ready().await.unwrap().call(foreign).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            layer.stats().keystone_calls.load(Ordering::Relaxed),
            0,
            "no password was sent anywhere"
        );
    }
}
