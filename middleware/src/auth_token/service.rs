//! The auth_token layer and service.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use futures_util::future::BoxFuture;
use heatgate_keystone::{Client, Secret};
use http::{header, HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::config::AuthTokenConfig;
use super::headers::{
    strip_spoofable, AUTH_TOKEN, IDENTITY_STATUS, SERVICE_IDENTITY_STATUS, SERVICE_TOKEN,
    STORAGE_TOKEN,
};
use super::hot::{self, HotKey};
use super::jws::JwsKeyError;
use super::response;
use super::validator::{TokenRejection, TokenValidator, ValidToken};
use crate::context::{AuthMethod, AuthStatus, Identity, ServiceIdentity};
use crate::BoxError;

const CONFIRMED: HeaderValue = HeaderValue::from_static("Confirmed");
const INVALID: HeaderValue = HeaderValue::from_static("Invalid");

/// Why the layer could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthTokenError {
    /// The JWS key repository is unusable.
    #[error(transparent)]
    JwsKeys(#[from] JwsKeyError),
    /// `www_authenticate_uri` cannot be a header value.
    #[error("www_authenticate_uri is not a valid header value")]
    WwwAuthenticateUri,
}

#[derive(Debug)]
struct Shared {
    /// Distinguishes this layer's hot tokens from other layers' (see `hot`).
    id: u64,
    config: AuthTokenConfig,
    validator: TokenValidator,
    www_authenticate: Option<HeaderValue>,
}

/// Validates Keystone tokens in front of a service, exactly as
/// keystonemiddleware's auth_token does (see the module docs).
#[derive(Debug, Clone)]
pub struct AuthTokenLayer {
    shared: Arc<Shared>,
}

impl AuthTokenLayer {
    /// Builds the layer: `client` must carry the service credentials.
    pub fn new(config: AuthTokenConfig, client: Client) -> Result<Self, AuthTokenError> {
        let validator = TokenValidator::from_config(client, &config)?;
        Self::with_validator(config, validator)
    }

    /// Builds the layer around an existing validator (to share its cache;
    /// see [`TokenValidator::with_access_rules`]).
    pub fn with_validator(
        config: AuthTokenConfig,
        validator: TokenValidator,
    ) -> Result<Self, AuthTokenError> {
        let uri = config
            .www_authenticate_uri
            .clone()
            .unwrap_or_else(|| validator.client().config().auth_url.to_string());
        let www_authenticate =
            Some(response::www_authenticate(&uri).ok_or(AuthTokenError::WwwAuthenticateUri)?);
        static LAYERS: AtomicU64 = AtomicU64::new(0);
        Ok(Self {
            shared: Arc::new(Shared {
                id: LAYERS.fetch_add(1, Ordering::Relaxed),
                config,
                validator,
                www_authenticate,
            }),
        })
    }

    /// The validator (cache statistics, the Keystone client).
    pub fn validator(&self) -> &TokenValidator {
        &self.shared.validator
    }
}

impl<S> Layer<S> for AuthTokenLayer {
    type Service = AuthToken<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthToken {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service built by [`AuthTokenLayer`].
#[derive(Debug, Clone)]
pub struct AuthToken<S> {
    inner: S,
    shared: Arc<Shared>,
}

crate::inner_accessors!(AuthToken);

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for AuthToken<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // Before anything else, once: only what this layer sets may reach the
        // service behind it.
        strip_spoofable(request.headers_mut());
        if self.shared.authenticate_hot(&mut request) {
            // Decided already: straight to the inner service.
            return ResponseFuture {
                state: State::Hot {
                    inner: self.inner.call(request),
                    shared: self.shared.clone(),
                },
            };
        }
        let mut inner = crate::take_ready(&mut self.inner);
        let shared = self.shared.clone();
        ResponseFuture {
            state: State::Checked {
                inner: Box::pin(async move {
                    if let Err(denial) = shared.authenticate(&mut request).await {
                        return Ok(denial);
                    }
                    let response = inner.call(request).await?;
                    Ok(shared.challenge(response.map(Body::new)))
                }),
            },
        }
    }
}

pin_project! {
    /// The response future of [`AuthToken`].
    pub struct ResponseFuture<F, E> {
        #[pin]
        state: State<F, E>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, E> {
        /// A hot token, decided in `call`: the inner service's own future.
        Hot {
            #[pin]
            inner: F,
            shared: Arc<Shared>,
        },
        /// Everything else: the token check, then the inner service.
        Checked {
            inner: BoxFuture<'static, Result<Response<Body>, E>>,
        },
    }
}

impl<F, E> std::fmt::Debug for ResponseFuture<F, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F, E>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Hot { inner, shared } => {
                let response = std::task::ready!(inner.poll(cx))?;
                Poll::Ready(Ok(shared.challenge(response.map(Body::new))))
            }
            StateProj::Checked { inner } => inner.as_mut().poll(cx),
        }
    }
}

/// What a token header holds.
pub(crate) enum TokenHeader {
    Absent,
    One(HeaderValue),
    /// Repeated with different values: never guess which one counts.
    Conflicting,
}

/// The token in the first of `names` that the request carries (trimmed).
pub(crate) fn read_token(headers: &HeaderMap, names: &[HeaderName]) -> TokenHeader {
    for name in names {
        let mut values = headers.get_all(name).iter();
        let Some(first) = values.next() else { continue };
        let trimmed = first.as_bytes().trim_ascii();
        if values.any(|v| v.as_bytes().trim_ascii() != trimmed) {
            return TokenHeader::Conflicting;
        }
        if trimmed.is_empty() {
            return TokenHeader::Absent;
        }
        return if trimmed.len() == first.len() {
            TokenHeader::One(first.clone())
        } else {
            HeaderValue::from_bytes(trimmed).map_or(TokenHeader::Conflicting, TokenHeader::One)
        };
    }
    TokenHeader::Absent
}

/// A token's verdict: `None` when no token was sent.
type Verdict = Option<Result<Arc<ValidToken>, TokenRejection>>;

impl Shared {
    /// Boxed where it calls the validator: a token check's future (a cache
    /// lookup, maybe a Keystone call) is most of a kilobyte, and inline it
    /// would make every request's future that much larger to allocate and
    /// move, token or not (and a hot token needs none).
    async fn check(&self, token: &TokenHeader) -> Verdict {
        match token {
            TokenHeader::Absent => None,
            TokenHeader::Conflicting => Some(Err(TokenRejection::Invalid)),
            TokenHeader::One(v) => Some(Box::pin(self.validator.validate(v.as_bytes())).await),
        }
    }

    /// The user token's verdict. With `hot` (no service token was sent), a
    /// confirmed token is offered to this thread's hot tokens (see `hot`).
    async fn check_user(&self, token: &TokenHeader, hot: bool) -> Verdict {
        let verdict = self.check(token).await;
        if let (TokenHeader::One(value), Some(Ok(valid)), true) = (token, &verdict, hot) {
            if valid.access_rules.is_some() {
                // Decided per request (method and path): never hot.
                return verdict;
            }
            let key = HotKey {
                layer: self.id,
                token: value.as_bytes(),
            };
            // What `set_headers` sets for a confirmed user token alone.
            hot::offer(&key, valid, |headers| {
                self.insert_user_headers(headers, valid)
            });
        }
        verdict
    }

    /// Decides for a hot token (see `hot`) without waiting for anything:
    /// when no service token was sent and the user token is hot on this
    /// thread, the request gets its headers and extensions now, as
    /// `authenticate` would give them, and this returns true. Otherwise the
    /// request is left, unchanged, for `authenticate`. The request must be
    /// stripped of spoofable headers already (see `call`).
    fn authenticate_hot<B>(&self, request: &mut Request<B>) -> bool {
        let headers = request.headers_mut();
        if headers.contains_key(&SERVICE_TOKEN) {
            return false;
        }
        let TokenHeader::One(value) = read_token(headers, &[AUTH_TOKEN, STORAGE_TOKEN]) else {
            return false;
        };
        let key = HotKey {
            layer: self.id,
            token: value.as_bytes(),
        };
        let Some((token, prebuilt)) = hot::lookup(&key) else {
            return false;
        };
        self.validator.stats().hits.fetch_add(1, Ordering::Relaxed);
        hot::merge_into(headers, prebuilt.headers);
        let extensions = request.extensions_mut();
        extensions.insert(AuthStatus {
            user_confirmed: true,
            service_confirmed: None,
        });
        extensions.insert(Identity::new(
            token.identity.clone(),
            prebuilt.secret,
            AuthMethod::Token,
        ));
        true
    }

    /// `response`, with `WWW-Authenticate` when the service behind refused
    /// the request with a 401 (keystonemiddleware adds it to every 401).
    fn challenge(&self, mut response: Response<Body>) -> Response<Body> {
        if response.status() == StatusCode::UNAUTHORIZED {
            if let Some(v) = &self.www_authenticate {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, v.clone());
            }
        }
        response
    }

    /// The user token's `X-*` headers (and `X-Service-Catalog`, if configured).
    fn insert_user_headers(&self, headers: &mut HeaderMap, token: &ValidToken) {
        token.insert_user_headers(headers, self.config.include_service_catalog);
    }

    fn unauthorized(&self) -> Response<Body> {
        response::unauthorized(self.www_authenticate.as_ref())
    }

    /// Decides; on success the request carries the downstream headers and
    /// extensions. The request must be stripped of spoofable headers already
    /// (see `call`).
    async fn authenticate<B>(&self, request: &mut Request<B>) -> Result<(), Response<Body>> {
        let delay = self.config.delay_auth_decision;
        // For access rules (cheap copies: a method is a small enum, a URI
        // shares its bytes).
        let (method, uri) = (request.method().clone(), request.uri().clone());
        let headers = request.headers_mut();

        // 1. The service token, first.
        let service_header = read_token(headers, std::slice::from_ref(&SERVICE_TOKEN));
        let service_value = match &service_header {
            TokenHeader::One(v) => Some(v.clone()),
            _ => None,
        };
        let service = match self.check(&service_header).await {
            None => None,
            Some(Ok(token)) => {
                let has_role = self
                    .config
                    .service_token_roles
                    .iter()
                    .any(|role| token.identity.has_role(role));
                if !has_role {
                    tracing::warn!(
                        user_id = %token.identity.user_id,
                        "a service token without any of service_token_roles was sent"
                    );
                }
                let counts = has_role || !self.config.service_token_roles_required;
                Some(counts.then_some(token))
            }
            Some(Err(TokenRejection::Invalid)) => Some(None),
            Some(Err(TokenRejection::Unavailable(_))) if delay => Some(None),
            Some(Err(TokenRejection::Unavailable(_))) => {
                return Err(response::keystone_unavailable(headers))
            }
        };
        if matches!(service, Some(None)) && !delay {
            return Err(self.unauthorized());
        }

        // 2. The user token.
        let user_header = read_token(headers, &[AUTH_TOKEN, STORAGE_TOKEN]);
        let user_value = match &user_header {
            TokenHeader::One(v) => Some(v.clone()),
            _ => None,
        };
        let user = match self.check_user(&user_header, service.is_none()).await {
            None | Some(Err(TokenRejection::Invalid)) => None,
            Some(Ok(token)) => match &token.access_rules {
                None => Some(token),
                Some(rules) => {
                    let service_confirmed = matches!(service, Some(Some(_)));
                    match rules.allows(
                        self.config.service_type.as_deref(),
                        &method,
                        uri.path(),
                        service_confirmed,
                    ) {
                        Ok(()) => Some(token),
                        Err(refusal) => {
                            tracing::info!(%refusal, "application credential access rules refuse the request");
                            None
                        }
                    }
                }
            },
            Some(Err(TokenRejection::Unavailable(_))) if delay => None,
            Some(Err(TokenRejection::Unavailable(_))) => {
                return Err(response::keystone_unavailable(headers))
            }
        };

        // 3. Decide.
        if user.is_none() && !delay {
            return Err(self.unauthorized());
        }
        self.set_headers(headers, user.as_deref(), service.as_ref());
        let status = AuthStatus {
            user_confirmed: user.is_some(),
            service_confirmed: service.as_ref().map(Option::is_some),
        };
        let extensions = request.extensions_mut();
        extensions.insert(status);
        if let (Some(token), Some(value)) = (user, user_value) {
            extensions.insert(Identity::new(
                token.identity.clone(),
                secret_of(&value),
                AuthMethod::Token,
            ));
        }
        if let (Some(Some(token)), Some(value)) = (service, service_value) {
            extensions.insert(ServiceIdentity(Identity::new(
                token.identity.clone(),
                secret_of(&value),
                AuthMethod::Token,
            )));
        }
        Ok(())
    }

    /// Sets the downstream headers one by one (a hot token's come prebuilt:
    /// see `check_user`).
    fn set_headers(
        &self,
        headers: &mut HeaderMap,
        user: Option<&ValidToken>,
        service: Option<&Option<Arc<ValidToken>>>,
    ) {
        // Room for every header set below at once, instead of growing the map
        // (and rehashing it) several times while inserting them one by one.
        // Only a hint: a map that cannot grow fails below exactly as before.
        let _ = headers.try_reserve(
            2 + user.map_or(0, |t| {
                t.headers.user().len() + usize::from(t.headers.catalog().is_some())
            }) + match service {
                Some(Some(t)) => t.headers.service().len(),
                _ => 0,
            },
        );
        headers.insert(
            IDENTITY_STATUS,
            if user.is_some() { CONFIRMED } else { INVALID },
        );
        if let Some(service) = service {
            headers.insert(
                SERVICE_IDENTITY_STATUS,
                if service.is_some() {
                    CONFIRMED
                } else {
                    INVALID
                },
            );
        }
        if let Some(token) = user {
            self.insert_user_headers(headers, token);
        }
        if let Some(Some(token)) = service {
            for (name, value) in token.headers.service() {
                headers.insert(name.clone(), value.clone());
            }
        }
    }
}

fn secret_of(value: &HeaderValue) -> Secret {
    // Validated tokens are visible ASCII.
    Secret::new(value.to_str().unwrap_or_default())
}
