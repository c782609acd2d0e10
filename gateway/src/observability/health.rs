//! `/healthcheck`, as oslo.middleware's healthcheck answers it: `200 OK` with
//! the body `OK` when the gateway can serve, `503 Service Unavailable` with a
//! one-line reason when it cannot. `HEAD` answers the same status, bodiless.
//!
//! The gateway can serve when Keystone answers: a cheap GET of `auth_url`
//! (Keystone's version document, no token); with the engine in the same
//! process (`heatgate serve`), also when the engine's database answers a
//! read. The verdict is kept for
//! [`CACHE_TIME`], and concurrent checks share one probe, so that the
//! endpoint (unauthenticated) cannot be used to hammer Keystone. The reason
//! given to callers is generic; the detail (endpoint, error) is logged.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::future::Either;
use heatgate_engine::store::Store;
use heatgate_keystone::{Client, Error};
use http::{header, HeaderValue, Request, StatusCode};
use tower::Service;

use super::{label_routes, registry};
use crate::config::{ConfigError, KeystoneAuthtokenSection};

/// The health check's own Keystone client (exported as `healthcheck` in
/// the metrics): no service credentials, no retries, bounded probes.
fn probe_client(section: &KeystoneAuthtokenSection) -> Result<Client, ConfigError> {
    let mut config = section.client_config()?;
    config.service_auth = None;
    config.http_request_max_retries = 0;
    config.http_connect_timeout = config.http_connect_timeout.min(PROBE_TIMEOUT);
    let client = Client::new(config).map_err(|e| ConfigError(e.to_string()))?;
    registry().keystone_client("healthcheck", &client);
    Ok(client)
}

/// How long a verdict is reused.
pub const CACHE_TIME: Duration = Duration::from_secs(2);
/// The bound on one probe (lower than load balancers' usual timeouts).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The outcome of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Keystone answered.
    Healthy,
    /// It did not; the reason, for the caller.
    Unavailable(&'static str),
}

/// The health check (cheap to share: hold it in an `Arc`).
#[derive(Debug)]
pub struct Health {
    client: Client,
    cache_time: Duration,
    last: tokio::sync::Mutex<Option<(Instant, Verdict)>>,
    /// The engine's database, when the engine runs in this process.
    database: Option<Store>,
}

impl Health {
    /// A check of the Keystone at `[keystone_authtoken] auth_url` (its TLS
    /// options too), with no retries and at most [`PROBE_TIMEOUT`] per probe.
    pub fn new(section: &KeystoneAuthtokenSection) -> Result<Arc<Self>, ConfigError> {
        Ok(Arc::new(Self::with_client(
            probe_client(section)?,
            CACHE_TIME,
        )))
    }

    /// [`new`](Self::new), checking the engine's database `store` too.
    pub fn with_database(
        section: &KeystoneAuthtokenSection,
        store: Store,
    ) -> Result<Arc<Self>, ConfigError> {
        let health = Self::with_client(probe_client(section)?, CACHE_TIME);
        Ok(Arc::new(health.checking(store)))
    }

    /// A check through `client`, reusing verdicts for `cache_time`.
    pub fn with_client(client: Client, cache_time: Duration) -> Self {
        Self {
            client,
            cache_time,
            last: tokio::sync::Mutex::new(None),
            database: None,
        }
    }

    /// This check, with the engine's database `store` checked too.
    pub fn checking(mut self, store: Store) -> Self {
        self.database = Some(store);
        self
    }

    /// The current verdict (probing Keystone at most once per cache time).
    pub async fn check(&self) -> Verdict {
        // Held across the probe: concurrent checks wait for it and share its verdict.
        let mut last = self.last.lock().await;
        if let Some((at, verdict)) = &*last {
            if at.elapsed() < self.cache_time {
                return verdict.clone();
            }
        }
        let verdict = match self.client.probe().await {
            Ok(status) if status.is_server_error() => {
                tracing::warn!(
                    status = status.as_u16(),
                    "healthcheck: keystone answers with a server error"
                );
                Verdict::Unavailable("keystone answers with a server error")
            }
            Ok(_) => self.check_database().await,
            Err(e) => {
                tracing::warn!(error = %e, "healthcheck: keystone cannot be reached");
                Verdict::Unavailable(match e {
                    Error::Timeout { .. } => "keystone did not answer in time",
                    _ => "keystone is unreachable",
                })
            }
        };
        *last = Some((Instant::now(), verdict.clone()));
        verdict
    }

    /// The database's part of the verdict (healthy when there is none).
    async fn check_database(&self) -> Verdict {
        let Some(store) = &self.database else {
            return Verdict::Healthy;
        };
        match tokio::time::timeout(PROBE_TIMEOUT, store.ping()).await {
            Ok(Ok(())) => Verdict::Healthy,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "healthcheck: the engine database cannot be read");
                Verdict::Unavailable("the engine database is unavailable")
            }
            Err(_) => {
                tracing::warn!("healthcheck: the engine database did not answer in time");
                Verdict::Unavailable("the engine database did not answer in time")
            }
        }
    }

    /// `GET /healthcheck` (and `HEAD`) in front of `app` (a router or any
    /// service), without authentication; every other request goes to `app`.
    pub fn in_front_of<S>(self: &Arc<Self>, app: S) -> Router
    where
        S: tower::Service<Request<Body>, Error = Infallible> + Clone + Send + Sync + 'static,
        S::Response: IntoResponse,
        S::Future: Send + 'static,
    {
        self.router().fallback_service(app)
    }

    /// [`in_front_of`](Self::in_front_of) without a router in the way of
    /// everything else: the path is compared, and `app` is called directly
    /// (a router would look the path up, then box `app`'s future and clone
    /// `app` for every request).
    pub fn front_of<S>(self: &Arc<Self>, app: S) -> HealthFront<S> {
        HealthFront {
            health: self.router(),
            app,
        }
    }

    /// `/healthcheck` alone (other methods get axum's 405).
    fn router(self: &Arc<Self>) -> Router {
        label_routes(
            Router::new()
                .route(HEALTHCHECK, get(healthcheck))
                .with_state(self.clone()),
        )
    }
}

const HEALTHCHECK: &str = "/healthcheck";

/// `/healthcheck` in front of any service (see [`Health::front_of`]).
#[derive(Debug, Clone)]
pub struct HealthFront<S> {
    health: Router,
    app: S,
}

impl<S> Service<Request<Body>> for HealthFront<S>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<<Router as Service<Request<Body>>>::Future, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The router is always ready.
        self.app.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        // As the router matches: the path exactly as sent.
        if request.uri().path() == HEALTHCHECK {
            Either::Left(self.health.call(request))
        } else {
            Either::Right(self.app.call(request))
        }
    }
}

async fn healthcheck(State(health): State<Arc<Health>>) -> Response {
    let (status, body) = match health.check().await {
        Verdict::Healthy => (StatusCode::OK, "OK"),
        Verdict::Unavailable(reason) => (StatusCode::SERVICE_UNAVAILABLE, reason),
    };
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=UTF-8"),
        )],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use axum::body::Body;
    use tower::ServiceExt;

    use super::*;

    /// A Keystone stand-in answering `status` to everything.
    async fn keystone(status: StatusCode) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().fallback(move || async move { (status, "{}") });
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    fn client(addr: std::net::SocketAddr) -> Client {
        let mut config =
            heatgate_keystone::ClientConfig::new(format!("http://{addr}/v3").parse().unwrap());
        config.http_request_max_retries = 0;
        config.http_connect_timeout = Duration::from_secs(2);
        Client::new(config).unwrap()
    }

    async fn ask(app: Router, method: &str) -> (StatusCode, String) {
        let r = app
            .oneshot(
                http::Request::builder()
                    .method(method)
                    .uri("/healthcheck")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = r.status();
        let body = axum::body::to_bytes(r.into_body(), 1024).await.unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn ok_when_keystone_answers_and_probed_once_per_cache_time() {
        let client = client(keystone(StatusCode::OK).await);
        let health = Arc::new(Health::with_client(client.clone(), Duration::from_secs(60)));
        let behind = Router::new().fallback(|| async { StatusCode::UNAUTHORIZED });
        let app = health.in_front_of(behind);
        assert_eq!(ask(app.clone(), "GET").await, (StatusCode::OK, "OK".into()));
        assert_eq!(
            ask(app.clone(), "HEAD").await,
            (StatusCode::OK, String::new())
        );
        let burst: Vec<_> = (0..20).map(|_| ask(app.clone(), "GET")).collect();
        for (status, _) in futures_util::future::join_all(burst).await {
            assert_eq!(status, StatusCode::OK);
        }
        assert_eq!(client.stats().calls.load(Ordering::Relaxed), 1);
        // Everything else is the app's (authenticated) business.
        let r = app
            .oneshot(http::Request::get("/v1/x").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn unavailable_when_keystone_is_down_or_failing_then_probed_again() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let client = client(closed);
        let health = Arc::new(Health::with_client(
            client.clone(),
            Duration::from_millis(50),
        ));
        let app = health.in_front_of(Router::new());
        assert_eq!(
            ask(app.clone(), "GET").await,
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "keystone is unreachable".into()
            )
        );
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(ask(app, "HEAD").await.0, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(client.stats().calls.load(Ordering::Relaxed), 2);

        let failing = Health::with_client(
            self::client(keystone(StatusCode::INTERNAL_SERVER_ERROR).await),
            CACHE_TIME,
        );
        assert_eq!(
            failing.check().await,
            Verdict::Unavailable("keystone answers with a server error")
        );
        // A redirect or a refusal is an answer: Keystone is up.
        let redirecting = Health::with_client(
            self::client(keystone(StatusCode::MULTIPLE_CHOICES).await),
            CACHE_TIME,
        );
        assert_eq!(redirecting.check().await, Verdict::Healthy);
    }

    #[tokio::test]
    async fn unavailable_when_the_engine_database_cannot_be_read() {
        let store = Store::in_memory().await.unwrap();
        let health = Health::with_client(
            client(keystone(StatusCode::OK).await),
            Duration::from_millis(10),
        )
        .checking(store.clone());
        assert_eq!(health.check().await, Verdict::Healthy);
        store.close().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            health.check().await,
            Verdict::Unavailable("the engine database is unavailable")
        );
    }

    #[tokio::test]
    async fn front_of_answers_as_in_front_of_does() {
        let health = Arc::new(Health::with_client(
            client(keystone(StatusCode::OK).await),
            Duration::from_secs(60),
        ));
        let behind = tower::service_fn(|request: Request<Body>| async move {
            let mut r =
                (StatusCode::UNAUTHORIZED, format!("app {}", request.uri())).into_response();
            r.extensions_mut()
                .insert(super::super::Route::Fixed("upstream"));
            Ok::<_, Infallible>(r)
        });
        let routed = health.in_front_of(behind);
        let front = health.front_of(behind);
        for (method, uri) in [
            ("GET", "/healthcheck"),
            ("HEAD", "/healthcheck"),
            ("POST", "/healthcheck"),
            ("DELETE", "/healthcheck"),
            ("GET", "/healthcheck?verbose=1"),
            ("GET", "/healthcheck/"),
            ("GET", "/Healthcheck"),
            ("GET", "/%68ealthcheck"),
            ("GET", "//healthcheck"),
            ("GET", "/"),
            ("PUT", "/v1/x/stacks"),
        ] {
            let request = || {
                http::Request::builder()
                    .method(method)
                    .uri(uri)
                    .body(Body::empty())
                    .unwrap()
            };
            let a = routed.clone().oneshot(request()).await.unwrap();
            let b = front.clone().oneshot(request()).await.unwrap();
            assert_eq!(a.status(), b.status(), "{method} {uri}");
            let expected = match (method, uri) {
                ("GET" | "HEAD", "/healthcheck" | "/healthcheck?verbose=1") => StatusCode::OK,
                (_, "/healthcheck") => StatusCode::METHOD_NOT_ALLOWED,
                _ => StatusCode::UNAUTHORIZED,
            };
            assert_eq!(b.status(), expected, "{method} {uri}");
            assert_eq!(a.headers(), b.headers(), "{method} {uri}");
            assert_eq!(
                a.extensions()
                    .get::<super::super::Route>()
                    .map(|r| r.as_str().to_owned()),
                b.extensions()
                    .get::<super::super::Route>()
                    .map(|r| r.as_str().to_owned()),
                "{method} {uri}"
            );
            let a = axum::body::to_bytes(a.into_body(), 1024).await.unwrap();
            let b = axum::body::to_bytes(b.into_body(), 1024).await.unwrap();
            assert_eq!(a, b, "{method} {uri}");
        }
    }
}
