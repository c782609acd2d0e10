//! The Keystone v3 client: service token, validation, password authentication.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use time::OffsetDateTime;
use url::Url;

use crate::config::{v3_url, ClientConfig, PasswordAuth};
use crate::token::{TokenBody, TokenEnvelope};
use crate::{Error, Secret};

#[path = "admin.rs"]
pub(crate) mod admin;
#[path = "ec2.rs"]
pub(crate) mod ec2;

/// The service token is refreshed when fewer than this many seconds remain.
const REFRESH_MARGIN: Duration = Duration::from_secs(120);

/// A token obtained by password authentication.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The token id (from `X-Subject-Token`).
    pub token: Secret,
    /// The token body.
    pub body: TokenBody,
}

/// The outcome of validating a user token.
#[derive(Debug, Clone)]
pub enum Validation {
    /// Keystone accepted the token.
    Valid(Box<TokenBody>),
    /// Keystone does not know the token, or it expired or was revoked.
    Invalid,
}

/// Options for [`Client::validate`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ValidateOptions {
    /// Ask Keystone for the service catalog (otherwise `?nocatalog`).
    pub include_catalog: bool,
    /// Accept expired tokens (`allow_expired=1`).
    pub allow_expired: bool,
    /// Send `OpenStack-Identity-Access-Rules: 1`: the caller enforces the
    /// access rules of application credentials, so Keystone may confirm
    /// their tokens (without it, Keystone refuses them).
    pub access_rules: bool,
}

/// A raw answer from Keystone.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

impl Answer {
    /// Parses the body as JSON of type `T`.
    pub fn json<T: serde::de::DeserializeOwned>(&self, what: &'static str) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|e| Error::InvalidResponse {
            what,
            reason: format!("body is not the expected JSON: {e}"),
        })
    }

    /// Keystone's error message (`{"error": {"message": ...}}`), if any.
    pub fn error_message(&self) -> Option<String> {
        let v: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        v.get("error")?.get("message")?.as_str().map(str::to_owned)
    }
}

/// Counters of what the client did, for metrics and tests.
#[derive(Debug, Default)]
pub struct ClientStats {
    /// HTTP calls that reached (or tried to reach) Keystone, retries included,
    /// counted when they end (so that `latency_micros / calls` is their mean).
    pub calls: AtomicU64,
    /// Those of the calls that got no complete answer (refused, timed out, cut).
    pub failures: AtomicU64,
    /// Token validations asked of Keystone.
    pub validations: AtomicU64,
    /// Password authentications of the service user.
    pub service_authentications: AtomicU64,
    /// Sum of call latencies, in microseconds.
    pub latency_micros: AtomicU64,
    /// Calls that found every one of `max_concurrent_calls` in use for the
    /// whole wait, and were refused without reaching Keystone.
    pub busy: AtomicU64,
}

#[derive(Debug)]
struct ServiceToken {
    token: Secret,
    body: TokenBody,
    identity_url: Url,
}

impl ServiceToken {
    fn is_fresh(&self, now: OffsetDateTime) -> bool {
        let remaining = self.body.expires_at - now;
        let lifetime = self
            .body
            .issued_at
            .map(|issued| self.body.expires_at - issued)
            .unwrap_or(time::Duration::hours(1));
        // Keystones with short token lifetimes (tests) would otherwise re-authenticate always.
        let half = Duration::try_from(lifetime / 2_i32).unwrap_or(REFRESH_MARGIN);
        let margin = REFRESH_MARGIN.min(half);
        remaining > margin
    }
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    config: ClientConfig,
    service: Mutex<Option<Arc<ServiceToken>>>,
    refresh: tokio::sync::Mutex<()>,
    stats: ClientStats,
    /// `max_concurrent_calls` permits (`None`: unbounded).
    permits: Option<tokio::sync::Semaphore>,
}

/// A typed async Keystone v3 client. Cheap to clone.
///
/// Every call is bounded by `http_connect_timeout` (connect, send and read the
/// whole answer); connection errors are retried `http_request_max_retries`
/// times, answers never are.
///
/// ```no_run
/// # async fn demo() -> Result<(), heatgate_keystone::Error> {
/// use heatgate_keystone::{Client, ClientConfig, PasswordAuth, ScopeRequest, UserRef, DomainRef, Secret};
/// let mut config = ClientConfig::new("http://127.0.0.1:5000/v3".parse().unwrap());
/// config.service_auth = Some(PasswordAuth {
///     user: UserRef::Name { name: "heat".into(), domain: DomainRef::default_domain() },
///     password: Secret::new("secret"),
///     scope: ScopeRequest::ProjectName { name: "service".into(), domain: DomainRef::default_domain() },
/// });
/// let client = Client::new(config)?;
/// let _outcome = client.validate("gAAAA...", Default::default()).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl Client {
    /// Builds a client (no network I/O yet).
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(config.http_connect_timeout)
            .timeout(config.http_connect_timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("heatgate/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &config.cafile {
            let pem = std::fs::read(path).map_err(|e| {
                Error::Config(format!("cannot read cafile {}: {e}", path.display()))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| Error::Config(format!("invalid cafile {}: {e}", path.display())))?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        if config.insecure {
            builder = builder.danger_accept_invalid_certs(true);
        }
        let http = builder
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                service: Mutex::new(None),
                refresh: tokio::sync::Mutex::new(()),
                stats: ClientStats::default(),
                permits: (config.max_concurrent_calls > 0)
                    .then(|| tokio::sync::Semaphore::new(config.max_concurrent_calls)),
                config,
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// What the client has done so far.
    pub fn stats(&self) -> &ClientStats {
        &self.inner.stats
    }

    /// Asks for `auth_url` itself (Keystone's version document) with no token:
    /// a cheap check that Keystone answers, for health checks. Any answer is
    /// `Ok` with its status; the transport policy is that of every call.
    pub async fn probe(&self) -> Result<StatusCode, Error> {
        let url = self.inner.config.auth_url.clone();
        let answer = self
            .call("version document", || self.inner.http.get(url.clone()))
            .await?;
        Ok(answer.status)
    }

    /// Authenticates a user with a password at the configured `auth_url`.
    ///
    /// A refusal (bad password, unknown user or scope) is [`Error::Rejected`].
    pub async fn authenticate(&self, auth: &PasswordAuth) -> Result<Authenticated, Error> {
        self.authenticate_at(&self.inner.config.auth_url, auth)
            .await
    }

    /// Authenticates a user with a password at another identity URL.
    pub async fn authenticate_at(
        &self,
        auth_url: &Url,
        auth: &PasswordAuth,
    ) -> Result<Authenticated, Error> {
        let url = v3_url(auth_url, "auth/tokens");
        let body = auth.to_json();
        let answer = self
            .call("password authentication", || {
                self.inner.http.post(url.clone()).json(&body)
            })
            .await?;
        match answer.status.as_u16() {
            200 | 201 => {
                let token = answer
                    .headers
                    .get("x-subject-token")
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| Error::InvalidResponse {
                        what: "password authentication",
                        reason: "no X-Subject-Token header".into(),
                    })?;
                let envelope: TokenEnvelope = answer.json("password authentication")?;
                Ok(Authenticated {
                    token: Secret::new(token),
                    body: envelope.token,
                })
            }
            s if s >= 500 => Err(Error::ServerError {
                status: s,
                what: "password authentication",
            }),
            s => Err(Error::Rejected {
                status: s,
                what: "password authentication",
                message: answer.error_message(),
            }),
        }
    }

    /// Validates a user token with the service token.
    ///
    /// `Ok(Validation::Invalid)` means Keystone said no (404); an `Err` means
    /// Keystone could not answer and the caller must not decide either way.
    pub async fn validate(
        &self,
        subject: &str,
        options: ValidateOptions,
    ) -> Result<Validation, Error> {
        let Ok(subject) = HeaderValue::from_str(subject) else {
            return Ok(Validation::Invalid);
        };
        self.inner.stats.validations.fetch_add(1, Ordering::Relaxed);
        let mut query = Vec::new();
        if !options.include_catalog {
            query.push("nocatalog");
        }
        if options.allow_expired {
            query.push("allow_expired=1");
        }
        let answer = self
            .service_call(
                Method::GET,
                "auth/tokens",
                &query.join("&"),
                None,
                "token validation",
                |b| {
                    let b = b.header("X-Subject-Token", subject.clone());
                    if options.access_rules {
                        b.header("OpenStack-Identity-Access-Rules", "1")
                    } else {
                        b
                    }
                },
            )
            .await?;
        match answer.status.as_u16() {
            200 => {
                let envelope: TokenEnvelope = answer.json("token validation")?;
                Ok(Validation::Valid(Box::new(envelope.token)))
            }
            400 | 404 => Ok(Validation::Invalid),
            s if s >= 500 => Err(Error::ServerError {
                status: s,
                what: "token validation",
            }),
            s => Err(Error::Rejected {
                status: s,
                what: "token validation",
                message: answer.error_message(),
            }),
        }
    }

    /// Sends `method` to `{identity}/v3/{path}` with the service token, and
    /// re-authenticates once if Keystone answers 401.
    ///
    /// Returns every answer but a second 401 (which is [`Error::ServiceAuthRejected`]).
    pub async fn service_call(
        &self,
        method: Method,
        path: &str,
        query: &str,
        json: Option<&serde_json::Value>,
        what: &'static str,
        decorate: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Result<Answer, Error> {
        for retried in [false, true] {
            let service = self.service_token().await?;
            let mut url = v3_url(&service.identity_url, path);
            if !query.is_empty() {
                url.set_query(Some(query));
            }
            let answer = self
                .call(what, || {
                    let mut b = self
                        .inner
                        .http
                        .request(method.clone(), url.clone())
                        .header("X-Auth-Token", service.token.expose());
                    if let Some(body) = json {
                        b = b.json(body);
                    }
                    decorate(b)
                })
                .await?;
            if answer.status == StatusCode::UNAUTHORIZED {
                self.forget_service_token(&service);
                if !retried {
                    tracing::info!(
                        what,
                        "keystone rejected the service token; re-authenticating once"
                    );
                    continue;
                }
                return Err(Error::ServiceAuthRejected { status: 401 });
            }
            return Ok(answer);
        }
        unreachable!("the loop returns on its second pass")
    }

    /// The service user's token body (authenticating if needed).
    pub async fn service_identity(&self) -> Result<TokenBody, Error> {
        Ok(self.service_token().await?.body.clone())
    }

    /// The service token itself, for calls the client does not wrap.
    pub async fn service_token_value(&self) -> Result<Secret, Error> {
        Ok(self.service_token().await?.token.clone())
    }

    /// The identity endpoint used for validation (from the catalog or `auth_url`).
    pub async fn identity_url(&self) -> Result<Url, Error> {
        Ok(self.service_token().await?.identity_url.clone())
    }

    async fn service_token(&self) -> Result<Arc<ServiceToken>, Error> {
        if let Some(t) = self.cached_service_token() {
            return Ok(t);
        }
        let _refreshing = self.inner.refresh.lock().await;
        if let Some(t) = self.cached_service_token() {
            return Ok(t);
        }
        let auth = self
            .inner
            .config
            .service_auth
            .as_ref()
            .ok_or_else(|| Error::Config("no service credentials are configured".into()))?;
        self.inner
            .stats
            .service_authentications
            .fetch_add(1, Ordering::Relaxed);
        let authenticated = match self.authenticate(auth).await {
            Ok(a) => a,
            Err(Error::Rejected { status, .. }) => {
                tracing::error!(status, "keystone rejected the service credentials");
                return Err(Error::ServiceAuthRejected { status });
            }
            Err(e) => return Err(e),
        };
        let identity_url = match self.inner.config.interface {
            None => self.inner.config.auth_url.clone(),
            Some(interface) => {
                let found = authenticated
                    .body
                    .endpoint_url(
                        "identity",
                        interface.as_str(),
                        self.inner.config.region_name.as_deref(),
                    )
                    .ok_or_else(|| {
                        Error::Config(format!(
                            "no identity endpoint with interface {} in the catalog",
                            interface.as_str()
                        ))
                    })?;
                found
                    .parse()
                    .map_err(|e| Error::Config(format!("catalog identity URL is invalid: {e}")))?
            }
        };
        let token = Arc::new(ServiceToken {
            token: authenticated.token,
            body: authenticated.body,
            identity_url,
        });
        *self.inner.service.lock().unwrap_or_else(|p| p.into_inner()) = Some(token.clone());
        Ok(token)
    }

    fn cached_service_token(&self) -> Option<Arc<ServiceToken>> {
        let guard = self.inner.service.lock().unwrap_or_else(|p| p.into_inner());
        guard
            .as_ref()
            .filter(|t| t.is_fresh(OffsetDateTime::now_utc()))
            .cloned()
    }

    fn forget_service_token(&self, stale: &Arc<ServiceToken>) {
        let mut guard = self.inner.service.lock().unwrap_or_else(|p| p.into_inner());
        if guard.as_ref().is_some_and(|t| Arc::ptr_eq(t, stale)) {
            *guard = None;
        }
    }

    /// Sends one request with the transport policy: bounded time, retries on
    /// connection errors, one retry of a request that was sent on a connection
    /// that closed before any answer.
    async fn call(
        &self,
        what: &'static str,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Answer, Error> {
        let config = &self.inner.config;
        // At most `max_concurrent_calls` at once, retries included: a flood of
        // requests (distinct garbage tokens, random access keys) waits here
        // instead of piling onto Keystone, and fails as unavailable when no
        // call ends within the bound.
        let _permit = match &self.inner.permits {
            None => None,
            Some(permits) => {
                match tokio::time::timeout(config.http_connect_timeout, permits.acquire()).await {
                    Ok(Ok(permit)) => Some(permit),
                    _ => {
                        self.inner.stats.busy.fetch_add(1, Ordering::Relaxed);
                        return Err(Error::Busy {
                            limit: config.max_concurrent_calls,
                            waited: config.http_connect_timeout,
                        });
                    }
                }
            }
        };
        let mut connect_failures = 0u32;
        let mut resent = false;
        loop {
            let started = std::time::Instant::now();
            let outcome = async {
                let response = build().send().await?;
                let status = response.status();
                let headers = response.headers().clone();
                let body = response.bytes().await?;
                Ok::<_, reqwest::Error>(Answer {
                    status,
                    headers,
                    body,
                })
            }
            .await;
            let stats = &self.inner.stats;
            stats
                .latency_micros
                .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
            stats.calls.fetch_add(1, Ordering::Relaxed);
            let err = match outcome {
                Ok(answer) => return Ok(answer),
                Err(err) => err,
            };
            stats.failures.fetch_add(1, Ordering::Relaxed);
            let endpoint = err
                .url()
                .map(|u| {
                    format!("{}://{}", u.scheme(), u.host_str().unwrap_or("?"))
                        + &u.port().map(|p| format!(":{p}")).unwrap_or_default()
                })
                .unwrap_or_else(|| "keystone".into());
            if err.is_connect() {
                if connect_failures < config.http_request_max_retries {
                    connect_failures += 1;
                    let backoff = Duration::from_millis(50 << connect_failures.min(5));
                    tracing::warn!(what, %endpoint, attempt = connect_failures, "cannot connect to keystone; retrying");
                    tokio::time::sleep(backoff).await;
                    continue;
                }
                return Err(Error::Unreachable {
                    endpoint,
                    reason: describe(&err),
                });
            }
            if err.is_timeout() {
                return Err(Error::Timeout {
                    endpoint,
                    after: config.http_connect_timeout,
                });
            }
            if err.is_body() || err.is_decode() {
                return Err(Error::InvalidResponse {
                    what,
                    reason: "truncated or unreadable body".into(),
                });
            }
            if err.is_request() && !resent {
                // A pooled connection the peer had closed: the request never got an answer.
                resent = true;
                continue;
            }
            return Err(Error::Unreachable {
                endpoint,
                reason: describe(&err),
            });
        }
    }
}

/// The error chain without URLs (which could carry query secrets).
fn describe(err: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(err);
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    if parts.is_empty() {
        "transport error".into()
    } else {
        parts.join(": ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DomainRef, ScopeRequest, UserRef};

    fn body(issued: OffsetDateTime, expires: OffsetDateTime) -> TokenBody {
        let fmt = |t: OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339)
                .unwrap()
        };
        serde_json::from_value(serde_json::json!({
            "user": {"id": "u"}, "issued_at": fmt(issued), "expires_at": fmt(expires)
        }))
        .unwrap()
    }

    fn service(issued: OffsetDateTime, expires: OffsetDateTime) -> ServiceToken {
        ServiceToken {
            token: Secret::new("t"),
            body: body(issued, expires),
            identity_url: "http://k/v3".parse().unwrap(),
        }
    }

    #[test]
    fn the_service_token_is_refreshed_when_fewer_than_120_seconds_remain() {
        let now = OffsetDateTime::now_utc();
        let hour = time::Duration::hours(1);
        assert!(service(now - hour, now + time::Duration::seconds(121)).is_fresh(now));
        assert!(!service(now - hour, now + time::Duration::seconds(119)).is_fresh(now));
        // A 10 s token lifetime (tests): refreshed in its second half, not always.
        let short = service(now, now + time::Duration::seconds(10));
        assert!(short.is_fresh(now + time::Duration::seconds(4)));
        assert!(!short.is_fresh(now + time::Duration::seconds(6)));
    }

    fn client_to(addr: std::net::SocketAddr, retries: u32, timeout: Duration) -> Client {
        let mut config = ClientConfig::new(format!("http://{addr}/v3").parse().unwrap());
        config.http_request_max_retries = retries;
        config.http_connect_timeout = timeout;
        config.service_auth = Some(PasswordAuth {
            user: UserRef::Name {
                name: "heat".into(),
                domain: DomainRef::default_domain(),
            },
            password: Secret::new("pw"),
            scope: ScopeRequest::ProjectName {
                name: "service".into(),
                domain: DomainRef::default_domain(),
            },
        });
        Client::new(config).unwrap()
    }

    #[tokio::test]
    async fn connection_errors_are_retried_and_then_unavailable() {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let client = client_to(addr, 2, Duration::from_secs(2));
        let err = client
            .validate("token", ValidateOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Unreachable { .. }), "{err}");
        assert!(err.is_unavailable());
        assert_eq!(
            client.stats().calls.load(Ordering::Relaxed),
            3,
            "one try and two retries"
        );
        assert_eq!(client.stats().failures.load(Ordering::Relaxed), 3);
    }

    #[tokio::test]
    async fn a_silent_keystone_is_a_timeout_bounded_per_call_and_not_retried() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                held.push(s);
            }
        });
        let client = client_to(addr, 3, Duration::from_millis(300));
        let started = std::time::Instant::now();
        let err = client
            .validate("token", ValidateOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(client.stats().calls.load(Ordering::Relaxed), 1);
        assert!(!err.to_string().contains("token"), "{err}");
    }

    #[tokio::test]
    async fn a_probe_asks_for_the_version_document_without_a_token() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.ends_with(b"\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                assert!(n > 0);
                request.extend_from_slice(&buf[..n]);
            }
            let body = r#"{"version": {"id": "v3.14", "status": "stable"}}"#;
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(answer.as_bytes()).await.unwrap();
            String::from_utf8(request).unwrap()
        });
        let client = client_to(addr, 0, Duration::from_secs(2));
        assert_eq!(client.probe().await.unwrap(), StatusCode::OK);
        let request = server.await.unwrap().to_ascii_lowercase();
        assert!(request.starts_with("get /v3 http/1.1\r\n"), "{request}");
        assert!(!request.contains("x-auth-token"), "{request}");
        assert_eq!(client.stats().calls.load(Ordering::Relaxed), 1);
        assert_eq!(client.stats().failures.load(Ordering::Relaxed), 0);
        assert_eq!(
            client
                .stats()
                .service_authentications
                .load(Ordering::Relaxed),
            0
        );

        // Nobody there: unavailable, after the configured retries.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let client = client_to(closed, 0, Duration::from_secs(2));
        let err = client.probe().await.unwrap_err();
        assert!(err.is_unavailable(), "{err}");
        assert_eq!(client.stats().failures.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn calls_beyond_the_bound_wait_then_fail_as_busy_without_reaching_keystone() {
        use std::sync::atomic::AtomicUsize;
        // A Keystone that accepts and never answers, counting connections.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                held.push(s);
            }
        });
        let mut config = client_to(addr, 0, Duration::from_secs(1)).config().clone();
        config.max_concurrent_calls = 2;
        let client = Client::new(config).unwrap();
        let started = std::time::Instant::now();
        // Probes: calls that need no service token (validations wait for the
        // one service authentication first, under its own lock).
        let calls: Vec<_> = (0..8)
            .map(|_| {
                let client = client.clone();
                tokio::spawn(async move { client.probe().await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 2, "two calls at once");
        let mut busy = 0;
        for call in calls {
            let err = call.await.unwrap().unwrap_err();
            assert!(err.is_unavailable(), "{err}");
            if matches!(err, Error::Busy { limit: 2, .. }) {
                busy += 1;
            }
        }
        // The first two time out at 1 s; two more may start then; the rest
        // waited a whole bound for a call and never reached Keystone.
        assert!(busy >= 4, "{busy}");
        assert!(accepted.load(Ordering::SeqCst) <= 4);
        assert_eq!(client.stats().busy.load(Ordering::Relaxed), busy);
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_token_that_is_not_a_header_value_is_invalid_without_a_call() {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let client = client_to(addr, 0, Duration::from_secs(1));
        assert!(matches!(
            client.validate("a\nb", ValidateOptions::default()).await,
            Ok(Validation::Invalid)
        ));
        assert_eq!(client.stats().calls.load(Ordering::Relaxed), 0);
    }
}
