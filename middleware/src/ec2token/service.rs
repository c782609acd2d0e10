//! The ec2token layer and service.

use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use heatgate_keystone::{Client, Ec2Outcome, Secret};
use http::header::CONTENT_LENGTH;
use http::{HeaderName, HeaderValue, Request, Response};
use http_body_util::{BodyExt, Limited};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tower::{Layer, Service};

use super::config::{Ec2TokenConfig, VerifyMode};
use super::error::Ec2Error;
use super::local::{LocalStats, LocalVerifier};
use super::request::{read_request, FormKind, Head, InputError, Reading};
use super::signature::{check_freshness, prepare, Ec2Credentials, Freshness};
use super::{keystone_refusal, Verified};
use crate::auth_token::service::{read_token, TokenHeader};
use crate::auth_token::{AccessRules, TokenRejection, TokenValidator, STORAGE_TOKEN};
use crate::body_deadline::BodyTimedOut;
use crate::context::{AuthMethod, AuthStatus, Identity, IdentityData};
use crate::identity_headers::{is_identity_header, remove_where};
use crate::BoxError;

const AUTH_TOKEN: HeaderName = HeaderName::from_static("x-auth-token");
const TENANT_NAME: HeaderName = HeaderName::from_static("x-tenant-name");
const TENANT_ID: HeaderName = HeaderName::from_static("x-tenant-id");
const ROLES: HeaderName = HeaderName::from_static("x-roles");
const AUTH_URL: HeaderName = HeaderName::from_static("x-auth-url");
const EC2_CREDS: HeaderName = HeaderName::from_static("x-auth-ec2-creds");
const AUTH_USER: HeaderName = HeaderName::from_static("x-auth-user");

/// The headers the layer sets for the service behind it (and removes from
/// every signed request first).
pub const DOWNSTREAM_HEADERS: [HeaderName; 6] = [
    AUTH_TOKEN,
    TENANT_NAME,
    TENANT_ID,
    ROLES,
    AUTH_URL,
    EC2_CREDS,
];

/// Why the layer could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Ec2TokenLayerError {
    /// `auth_uri` cannot be a header value.
    #[error("ec2authtoken auth_uri is not a valid header value")]
    AuthUri,
}

enum Verifier {
    /// Keystone verifies every signature; its refusals are remembered for
    /// `negative_cache_time` (see [`Refusals`]).
    Keystone(Refusals),
    Local(Box<LocalVerifier>),
}

/// Keystone's recent refusals, so a client repeating a refused request (or
/// an unknown access key) costs Keystone one call per `negative_cache_time`,
/// not one per request. Keys are sha256s: of the access key for an unknown
/// key (any signature with it fails), of everything Keystone was shown for
/// any other refusal (that exact request fails again). Not of the signature
/// alone: a pre-signed URL replayed with another `Host` is refused, and must
/// not make the URL's own requests refused for a while. Keystone being
/// unavailable is never remembered.
struct Refusals {
    cache: Option<moka::future::Cache<[u8; 32], Ec2Error>>,
}

impl Refusals {
    fn new(config: &Ec2TokenConfig) -> Self {
        let time = std::time::Duration::from_secs(config.negative_cache_time);
        Self {
            cache: (!time.is_zero()).then(|| {
                moka::future::Cache::builder()
                    .max_capacity(config.cache_max_entries)
                    .time_to_live(time)
                    .build()
            }),
        }
    }

    /// The key of an access key.
    fn of_access(access: &str) -> [u8; 32] {
        Sha256::digest(access.as_bytes()).into()
    }

    /// The key of a whole request as Keystone sees it.
    fn of_request(creds: &Ec2Credentials) -> [u8; 32] {
        let shown = serde_json::to_vec(creds).unwrap_or_default();
        let mut hash = Sha256::new();
        hash.update([1]);
        hash.update(&shown);
        hash.finalize().into()
    }

    async fn get(&self, creds: &Ec2Credentials) -> Option<Ec2Error> {
        let cache = self.cache.as_ref()?;
        if let Some(e) = cache.get(&Self::of_access(&creds.access)).await {
            return Some(e);
        }
        cache.get(&Self::of_request(creds)).await
    }

    async fn remember(&self, creds: &Ec2Credentials, refusal: &Ec2Error) {
        let Some(cache) = &self.cache else { return };
        let key = match refusal {
            Ec2Error::UnknownAccessKey => Self::of_access(&creds.access),
            _ => Self::of_request(creds),
        };
        cache.insert(key, refusal.clone()).await;
    }
}

struct Shared {
    config: Ec2TokenConfig,
    freshness: Freshness,
    client: Client,
    auth_url: HeaderValue,
    verifier: Verifier,
}

/// What the layer does with a request that carries no signature (or no
/// access key) but an `X-Auth-User` header. Heat's ec2token passes such a
/// request on untouched, for the auth_token layer behind it in Heat's
/// pipeline to validate its `X-Auth-Token`; a layer with nothing behind it
/// must not.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
// Built once per layer and kept behind an `Arc`: its size costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Unsigned {
    /// Refused as if it had no `X-Auth-User` (400 `IncompleteSignature` or 403
    /// `MissingAuthenticationToken`). The default: nothing behind the layer
    /// is assumed to check anything.
    #[default]
    Refuse,
    /// Passed on, without identity headers, as Heat's ec2token does: only in
    /// front of a service that validates `X-Auth-Token` itself (an auth_token
    /// layer).
    PassOn,
    /// Its `X-Auth-Token` (or `X-Storage-Token`) validated here, as Heat's
    /// auth_token behind ec2token would: admitted with the token's identity
    /// and keystonemiddleware's headers, or refused with an AWS error (403
    /// `MissingAuthenticationToken` without a token, 403
    /// `InvalidClientTokenId` for an invalid one, 503 when Keystone cannot be
    /// asked).
    ValidateToken {
        /// The validator (its cache may be shared with an auth_token layer).
        validator: TokenValidator,
        /// Set `X-Service-Catalog` too (auth_token's `include_service_catalog`).
        include_service_catalog: bool,
    },
}

/// Verifies EC2-signed requests in front of a service (see the module docs).
#[derive(Clone)]
pub struct Ec2TokenLayer {
    shared: Arc<Shared>,
    unsigned: Arc<Unsigned>,
    /// `[keystone_authtoken] service_type`: what application-credential
    /// access rules are checked against.
    service_type: Option<Arc<str>>,
}

impl std::fmt::Debug for Ec2TokenLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ec2TokenLayer")
            .field("verify", &self.shared.config.verify)
            .finish_non_exhaustive()
    }
}

impl Ec2TokenLayer {
    /// Builds the layer: `client` must carry the service credentials (Keystone
    /// wants an admin or service role for `/v3/ec2tokens`).
    pub fn new(config: Ec2TokenConfig, client: Client) -> Result<Self, Ec2TokenLayerError> {
        let uri = config
            .auth_uri
            .clone()
            .unwrap_or_else(|| client.config().auth_url.to_string());
        let auth_url = HeaderValue::from_str(&uri).map_err(|_| Ec2TokenLayerError::AuthUri)?;
        let verifier = match config.verify {
            VerifyMode::Keystone => Verifier::Keystone(Refusals::new(&config)),
            VerifyMode::Local => {
                Verifier::Local(Box::new(LocalVerifier::new(client.clone(), &config)))
            }
        };
        Ok(Self {
            shared: Arc::new(Shared {
                freshness: config.freshness(),
                config,
                client,
                auth_url,
                verifier,
            }),
            unsigned: Arc::new(Unsigned::Refuse),
            service_type: None,
        })
    }

    /// What to do with a request without a signature but with `X-Auth-User`
    /// (default [`Unsigned::Refuse`]).
    pub fn unsigned(mut self, unsigned: Unsigned) -> Self {
        self.unsigned = Arc::new(unsigned);
        self
    }

    /// The service type that application-credential access rules name for
    /// this service (keystonemiddleware's `service_type`). Without one, a
    /// token of a restricted application credential is refused.
    pub fn service_type(mut self, service_type: Option<String>) -> Self {
        self.service_type = service_type.map(Arc::from);
        self
    }

    /// The local mode's counters (`None` in keystone mode).
    pub fn local_stats(&self) -> Option<&LocalStats> {
        match &self.shared.verifier {
            Verifier::Local(l) => Some(l.stats()),
            Verifier::Keystone(_) => None,
        }
    }

    /// The Keystone client.
    pub fn client(&self) -> &Client {
        &self.shared.client
    }
}

impl<S> Layer<S> for Ec2TokenLayer {
    type Service = Ec2Token<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Ec2Token {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service built by [`Ec2TokenLayer`]. The service behind it receives an
/// [`axum::body::Body`] (the body the layer read, or the original one).
#[derive(Clone)]
pub struct Ec2Token<S> {
    inner: S,
    layer: Ec2TokenLayer,
}

impl<S: std::fmt::Debug> std::fmt::Debug for Ec2Token<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ec2Token")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

crate::inner_accessors!(Ec2Token);

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Ec2Token<S>
where
    S: Service<Request<Body>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: http_body::Body<Data = Bytes> + Send + 'static,
    ReqBody::Error: Into<BoxError>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let mut inner = crate::take_ready(&mut self.inner);
        let layer = self.layer.clone();
        Box::pin(async move {
            let request = match layer.authenticate(request).await {
                Ok(request) => request,
                Err(denial) => {
                    tracing::info!(code = denial.code(), reason = %denial, "EC2 signature refused");
                    return Ok(denial.response());
                }
            };
            Ok(inner.call(request).await?.map(Body::new))
        })
    }
}

fn input_error(e: InputError) -> Ec2Error {
    match e {
        InputError::RepeatedHeader(_) | InputError::NoHost => Ec2Error::Malformed(e.to_string()),
        other => Ec2Error::InvalidQuery(other.to_string()),
    }
}

impl Ec2TokenLayer {
    async fn authenticate<B>(&self, request: Request<B>) -> Result<Request<Body>, Ec2Error>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let (mut parts, body) = request.into_parts();
        // Nothing a client claims is identity: what goes on is only what this
        // layer verified.
        remove_where(&mut parts.headers, is_identity_header);
        let head = Head::read(&parts).map_err(input_error)?;
        let password_user = parts.headers.contains_key(AUTH_USER);

        // Nothing to read in the body: decide now and keep the body streaming.
        if head.form == FormKind::None && !head.has_signature() {
            if password_user {
                return self
                    .admit_unsigned(parts, Body::new(body), Ec2Error::NoSignature)
                    .await;
            }
            return Err(Ec2Error::NoSignature);
        }

        let limit = self.shared.config.max_body_size;
        let declared = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(Ec2Error::TooLarge);
        }
        let bytes = match Limited::new(body, limit).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(Ec2Error::TooLarge),
            Err(e) if BodyTimedOut::caused(&*e) => return Err(Ec2Error::BodyTimeout),
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the request body");
                return Err(Ec2Error::InvalidQuery("unreadable body".into()));
            }
        };

        let signed = match read_request(&parts, &head, &bytes).map_err(input_error)? {
            Reading::Signed(s) => s,
            Reading::NoSignature if password_user => {
                return self
                    .admit_unsigned(parts, Body::from(bytes), Ec2Error::NoSignature)
                    .await
            }
            Reading::NoSignature => return Err(Ec2Error::NoSignature),
            Reading::NoAccessKey if password_user => {
                return self
                    .admit_unsigned(parts, Body::from(bytes), Ec2Error::NoAccessKey)
                    .await
            }
            Reading::NoAccessKey => return Err(Ec2Error::NoAccessKey),
        };
        let creds = signed.credentials;
        let verified = self.shared.verify(&creds).await?;
        self.check_access_rules(AccessRules::from_token(&verified.body).as_ref(), &parts)?;

        let headers = &mut parts.headers;
        for name in &DOWNSTREAM_HEADERS {
            headers.remove(name);
        }
        let body = &verified.body;
        let project = body
            .project
            .as_ref()
            .ok_or(Ec2Error::AccessDenied("the token is not project-scoped"))?;
        let set = |headers: &mut http::HeaderMap, name: HeaderName, value: &str| {
            match HeaderValue::from_bytes(value.as_bytes()) {
                Ok(v) => {
                    headers.insert(name, v);
                }
                Err(_) => tracing::warn!(header = %name, "value cannot be sent as a header"),
            }
        };
        set(headers, AUTH_TOKEN, verified.token.expose());
        set(
            headers,
            TENANT_NAME,
            project.name.as_deref().unwrap_or_default(),
        );
        set(headers, TENANT_ID, &project.id);
        let roles: Vec<&str> = body.role_names().collect();
        set(headers, ROLES, &roles.join(","));
        headers.insert(AUTH_URL, self.shared.auth_url.clone());
        set(
            headers,
            EC2_CREDS,
            &ec2_creds_json(&creds.access, &creds.signature),
        );
        let identity = Identity::new(
            Arc::new(IdentityData::from_token(body)),
            verified.token.clone(),
            AuthMethod::Ec2Signature,
        )
        .with_ec2_access(creds.access.as_str());
        parts.extensions.insert(identity);
        Ok(Request::from_parts(parts, Body::from(bytes)))
    }

    /// A request without a signature but with `X-Auth-User`: see [`Unsigned`].
    /// `refusal` is the answer it would get without `X-Auth-User`.
    async fn admit_unsigned(
        &self,
        mut parts: http::request::Parts,
        body: Body,
        refusal: Ec2Error,
    ) -> Result<Request<Body>, Ec2Error> {
        let (validator, include_service_catalog) = match &*self.unsigned {
            Unsigned::Refuse => return Err(refusal),
            Unsigned::PassOn => return Ok(Request::from_parts(parts, body)),
            Unsigned::ValidateToken {
                validator,
                include_service_catalog,
            } => (validator, *include_service_catalog),
        };
        let value = match read_token(&parts.headers, &[AUTH_TOKEN, STORAGE_TOKEN]) {
            TokenHeader::Absent => return Err(Ec2Error::NoToken),
            TokenHeader::Conflicting => return Err(Ec2Error::InvalidToken),
            TokenHeader::One(value) => value,
        };
        let token = match validator.validate(value.as_bytes()).await {
            Ok(token) => token,
            Err(TokenRejection::Invalid) => return Err(Ec2Error::InvalidToken),
            Err(TokenRejection::Unavailable(e)) => {
                tracing::warn!(error = %e, "keystone cannot validate a token on the CFN listener");
                return Err(Ec2Error::Unavailable);
            }
        };
        self.check_access_rules(token.access_rules.as_ref(), &parts)?;
        token.insert_user_headers(&mut parts.headers, include_service_catalog);
        parts.extensions.insert(AuthStatus {
            user_confirmed: true,
            service_confirmed: None,
        });
        // Validated tokens are visible ASCII.
        let secret = Secret::new(value.to_str().unwrap_or_default());
        parts.extensions.insert(Identity::new(
            token.identity.clone(),
            secret,
            AuthMethod::Token,
        ));
        Ok(Request::from_parts(parts, body))
    }

    /// Refuses a token of a restricted application credential (`rules`)
    /// unless its access rules allow this request (403 `AccessDenied`).
    fn check_access_rules(
        &self,
        rules: Option<&AccessRules>,
        parts: &http::request::Parts,
    ) -> Result<(), Ec2Error> {
        let Some(rules) = rules else { return Ok(()) };
        let service_type = self.service_type.as_deref();
        rules
            .allows(service_type, &parts.method, parts.uri.path(), false)
            .map_err(|refusal| {
                tracing::info!(%refusal, "application credential access rules refuse the request");
                Ec2Error::AccessDenied("application credential access rules")
            })
    }
}

impl Shared {
    async fn verify(&self, creds: &Ec2Credentials) -> Result<Verified, Ec2Error> {
        let prepared = prepare(creds).map_err(|e| Ec2Error::Malformed(e.to_string()))?;
        check_freshness(creds, OffsetDateTime::now_utc(), &self.freshness)
            .map_err(|_| Ec2Error::AccessDenied("time stamp out of bounds"))?;
        match &self.verifier {
            Verifier::Local(local) => local.verify(creds, &prepared).await,
            Verifier::Keystone(refusals) => {
                if let Some(refusal) = refusals.get(creds).await {
                    return Err(refusal);
                }
                self.ask_keystone(creds, refusals).await
            }
        }
    }

    /// `/v3/ec2tokens`, remembering a refusal (never an unavailable Keystone).
    async fn ask_keystone(
        &self,
        creds: &Ec2Credentials,
        refusals: &Refusals,
    ) -> Result<Verified, Ec2Error> {
        match self.client.ec2_tokens(creds).await {
            Ok(Ec2Outcome::Accepted(a)) => {
                let a = *a;
                Ok(Verified {
                    token: a.token,
                    body: Arc::new(a.body),
                })
            }
            Ok(other) => {
                let refusal = keystone_refusal(&other);
                refusals.remember(creds, &refusal).await;
                Err(refusal)
            }
            Err(e) if e.is_unavailable() => {
                tracing::warn!(error = %e, "keystone cannot verify an EC2 signature");
                Err(Ec2Error::Unavailable)
            }
            Err(e) => {
                tracing::warn!(error = %e, "keystone refused an EC2 signature");
                Err(Ec2Error::AccessDenied("keystone refused the request"))
            }
        }
    }
}

/// `json.dumps({"ec2Credentials": {"access": ..., "signature": ...}})`, byte for
/// byte as Python writes it (`", "` and `": "` separators, ASCII escapes).
pub(crate) fn ec2_creds_json(access: &str, signature: &str) -> String {
    format!(
        "{{\"ec2Credentials\": {{\"access\": {}, \"signature\": {}}}}}",
        py_json_str(access),
        py_json_str(signature)
    )
}

fn py_json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    crate::pyjson::push_py_str(&mut out, s);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_test::mock;

    fn layer() -> Ec2TokenLayer {
        let client = Client::new(heatgate_keystone::ClientConfig::new(
            "http://127.0.0.1:9/v3".parse().unwrap(),
        ))
        .unwrap();
        Ec2TokenLayer::new(Ec2TokenConfig::default(), client).unwrap()
    }

    #[tokio::test]
    async fn readiness_is_the_inner_service_s() {
        let (mut service, mut handle) =
            mock::spawn_layer::<Request<Body>, Response<Body>, _>(layer());
        handle.allow(0);
        assert!(service.poll_ready::<Request<Body>>().is_pending());
        handle.allow(1);
        assert!(service.poll_ready::<Request<Body>>().is_ready());
        // Refused without reaching the inner service (no signature, no X-Auth-User).
        let response = service
            .call(
                Request::get("/v1/?Action=ListStacks")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        assert_eq!(
            response.headers()[http::header::CONTENT_TYPE],
            "application/xml"
        );
        // X-Auth-User without a signature: refused by default (nothing
        // behind this layer is assumed to check the token).
        handle.allow(1);
        assert!(service.poll_ready::<Request<Body>>().is_ready());
        let response = service
            .call(
                Request::put("/v1/x")
                    .header("x-auth-user", "demo")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
    }

    #[tokio::test]
    async fn pass_on_leaves_an_unsigned_request_to_the_service_behind() {
        let (mut service, mut handle) = mock::spawn_layer::<Request<Body>, Response<Body>, _>(
            layer().unsigned(Unsigned::PassOn),
        );
        // X-Auth-User without a signature goes through, without identity
        // headers, body streaming.
        handle.allow(1);
        assert!(service.poll_ready::<Request<Body>>().is_ready());
        // The layer's future runs only when polled: spawn it.
        let call = tokio::spawn(
            service.call(
                Request::put("/v1/x")
                    .header("x-auth-user", "demo")
                    .header("x-roles", "admin")
                    .header("x-auth-ec2-creds", "{}")
                    .body(Body::from("payload"))
                    .unwrap(),
            ),
        );
        let (request, send) = handle.next_request().await.unwrap();
        assert_eq!(request.headers()["x-auth-user"], "demo");
        assert!(request.headers().get("x-roles").is_none());
        assert!(request.headers().get("x-auth-ec2-creds").is_none());
        let body = http_body_util::BodyExt::collect(request.into_body())
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(body, "payload");
        send.send_response(Response::new(Body::from("ok")));
        assert_eq!(call.await.unwrap().unwrap().status(), 200);
    }

    #[test]
    fn ec2_creds_header_is_python_json() {
        assert_eq!(
            ec2_creds_json("AK", "a/b+c="),
            r#"{"ec2Credentials": {"access": "AK", "signature": "a/b+c="}}"#
        );
        assert_eq!(py_json_str("é\"\u{1}"), r#""\u00e9\"\u0001""#);
        assert_eq!(py_json_str("\u{1F600}"), r#""\ud83d\ude00""#);
    }
}
