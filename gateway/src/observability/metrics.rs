//! The process's metrics in Prometheus' text exposition format (version 0.0.4),
//! written by hand (a few counters need no client library).
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `heatgate_build_info` | gauge | `version` |
//! | `heatgate_http_requests_total` | counter | `listener`, `method`, `route`, `status_class` |
//! | `heatgate_http_request_duration_seconds` | histogram | `listener`, `method`, `route` |
//! | `heatgate_keystone_requests_total` | counter | `client` |
//! | `heatgate_keystone_request_failures_total` | counter | `client` |
//! | `heatgate_keystone_request_duration_seconds` | summary | `client` |
//! | `heatgate_keystone_busy_total` | counter | `client` |
//! | `heatgate_keystone_token_validations_total` | counter | `client` |
//! | `heatgate_keystone_service_authentications_total` | counter | `client` |
//! | `heatgate_auth_token_cache_hits_total` | counter | |
//! | `heatgate_auth_token_cache_misses_total` | counter | |
//! | `heatgate_auth_token_coalesced_total` | counter | |
//! | `heatgate_auth_token_refused_locally_total` | counter | |
//! | `heatgate_auth_token_invalid_cache_hits_total` | counter | |
//! | `heatgate_auth_token_cached_tokens` | gauge | |
//! | `heatgate_policy_denials_total` | counter | `rule` |
//! | `heatgate_panics_total` | counter | `listener` |
//!
//! `route` is the axum route template (`/v1/{tenant}/stacks`), `upstream` for
//! everything the proxy forwards, `unmatched` when the request was answered
//! before a route matched it (no such route, or refused by authentication,
//! which runs in front of the router); never the path itself. `method` is one of the standard methods or `other`. Latency
//! runs until the response headers (not while a body streams). `client` names
//! the Keystone client: `auth_token`, `auth_password`, `ec2token`, `healthcheck`.

use std::collections::HashMap;
use std::fmt::{Display, Write as _};
use std::future::Future;
use std::hash::{BuildHasherDefault, Hasher};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::response::IntoResponse;
use heatgate_keystone::Client;
use heatgate_middleware::auth_token::TokenValidator;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::{Route, UNMATCHED};

/// The exposition's content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other",
];
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
/// Upper bounds of the latency buckets, in seconds (and as labels).
const BUCKETS: [(f64, &str); 11] = [
    (0.005, "0.005"),
    (0.01, "0.01"),
    (0.025, "0.025"),
    (0.05, "0.05"),
    (0.1, "0.1"),
    (0.25, "0.25"),
    (0.5, "0.5"),
    (1.0, "1"),
    (2.5, "2.5"),
    (5.0, "5"),
    (10.0, "10"),
];

fn method_index(method: &Method) -> usize {
    match *method {
        Method::GET => 0,
        Method::HEAD => 1,
        Method::POST => 2,
        Method::PUT => 3,
        Method::PATCH => 4,
        Method::DELETE => 5,
        Method::OPTIONS => 6,
        _ => 7,
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Requests of one (listener, route, method).
#[derive(Debug, Default, Clone)]
struct Series {
    by_class: [u64; CLASSES.len()],
    /// Observations per bucket (not cumulative; above the last bound: none).
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Series {
    fn observe(&mut self, status: StatusCode, seconds: f64) {
        let class = usize::from(status.as_u16() / 100).clamp(1, CLASSES.len()) - 1;
        self.by_class[class] += 1;
        if let Some(i) = BUCKETS.iter().position(|(bound, _)| seconds <= *bound) {
            self.buckets[i] += 1;
        }
        self.sum += seconds;
        self.count += 1;
    }
}

/// FNV-1a, for the route labels: a handful of short strings that come from
/// the code (route templates, fixed names), never from a request, so they need
/// no protection against collisions chosen by a client; SipHash would cost
/// more than the rest of the bookkeeping of a request.
#[derive(Debug, Clone, Copy)]
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Series by route label.
type Routes = HashMap<Box<str>, [Series; METHODS.len()], BuildHasherDefault<Fnv>>;

/// The request counters of one listener.
#[derive(Debug)]
pub struct ListenerMetrics {
    name: &'static str,
    routes: Mutex<Routes>,
    panics: std::sync::atomic::AtomicU64,
}

impl ListenerMetrics {
    /// Counts a request whose handling panicked (answered 500 all the same).
    pub fn panicked(&self) {
        self.panics.fetch_add(1, Ordering::Relaxed);
    }

    fn observe(&self, method: usize, route: &str, status: StatusCode, seconds: f64) {
        let mut routes = lock(&self.routes);
        match routes.get_mut(route) {
            Some(series) => series[method].observe(status, seconds),
            None => {
                let mut series: [Series; METHODS.len()] = Default::default();
                series[method].observe(status, seconds);
                routes.insert(route.into(), series);
            }
        }
    }
}

/// Everything the process counts (one per process: [`registry`]).
#[derive(Debug, Default)]
pub struct Registry {
    listeners: Mutex<Vec<Arc<ListenerMetrics>>>,
    keystone: Mutex<Vec<(&'static str, Client)>>,
    auth_token: Mutex<Option<TokenValidator>>,
}

/// The process's registry.
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::default)
}

impl Registry {
    /// The counters of the listener `name` (created on first use).
    pub fn listener(&self, name: &'static str) -> Arc<ListenerMetrics> {
        let mut listeners = lock(&self.listeners);
        if let Some(l) = listeners.iter().find(|l| l.name == name) {
            return l.clone();
        }
        let l = Arc::new(ListenerMetrics {
            name,
            routes: Mutex::default(),
            panics: Default::default(),
        });
        listeners.push(l.clone());
        l
    }

    /// Exports `client`'s counters under `client="<label>"` (replacing a
    /// client registered before under the same label).
    pub fn keystone_client(&self, label: &'static str, client: &Client) {
        let mut clients = lock(&self.keystone);
        clients.retain(|(l, _)| *l != label);
        clients.push((label, client.clone()));
    }

    /// Exports the auth_token cache counters of `validator`.
    pub fn auth_token(&self, validator: &TokenValidator) {
        *lock(&self.auth_token) = Some(validator.clone());
    }

    /// The exposition.
    pub fn render(&self) -> String {
        let mut out = Exposition::default();
        out.family(
            "heatgate_build_info",
            "gauge",
            "The running heatgate's version.",
        );
        out.sample(
            "heatgate_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))],
            1,
        );
        self.render_http(&mut out);
        self.render_panics(&mut out);
        self.render_keystone(&mut out);
        self.render_auth_token(&mut out);
        out.family(
            "heatgate_policy_denials_total",
            "counter",
            "Requests refused by a policy rule, by rule.",
        );
        for (rule, n) in heatgate_middleware::policy::denials().snapshot() {
            out.sample("heatgate_policy_denials_total", &[("rule", &rule)], n);
        }
        out.text
    }

    fn render_http(&self, out: &mut Exposition) {
        let mut snapshot = Vec::new();
        for listener in lock(&self.listeners).iter() {
            let routes = lock(&listener.routes);
            let mut routes: Vec<_> = routes
                .iter()
                .map(|(route, series)| (route.clone(), series.clone()))
                .collect();
            routes.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            snapshot.push((listener.name, routes));
        }
        let series = || {
            snapshot.iter().flat_map(|(listener, routes)| {
                routes.iter().flat_map(move |(route, by_method)| {
                    by_method
                        .iter()
                        .zip(METHODS)
                        .filter(|(s, _)| s.count > 0)
                        .map(move |(s, method)| (*listener, &**route, method, s))
                })
            })
        };
        let requests = "heatgate_http_requests_total";
        out.family(
            requests,
            "counter",
            "Requests answered, by listener, method, route template and status class.",
        );
        for (listener, route, method, s) in series() {
            for (class, n) in CLASSES.iter().zip(s.by_class).filter(|(_, n)| *n > 0) {
                let labels = [
                    ("listener", listener),
                    ("method", method),
                    ("route", route),
                    ("status_class", class),
                ];
                out.sample(requests, &labels, n);
            }
        }
        let duration = "heatgate_http_request_duration_seconds";
        out.family(
            duration,
            "histogram",
            "Time to answer a request (until its response headers), in seconds.",
        );
        for (listener, route, method, s) in series() {
            let labels = [("listener", listener), ("method", method), ("route", route)];
            let mut cumulative = 0;
            for ((_, le), n) in BUCKETS.iter().zip(s.buckets) {
                cumulative += n;
                out.sample_with_le(&format!("{duration}_bucket"), &labels, le, cumulative);
            }
            out.sample_with_le(&format!("{duration}_bucket"), &labels, "+Inf", s.count);
            out.sample(&format!("{duration}_sum"), &labels, s.sum);
            out.sample(&format!("{duration}_count"), &labels, s.count);
        }
    }

    fn render_panics(&self, out: &mut Exposition) {
        let name = "heatgate_panics_total";
        out.family(
            name,
            "counter",
            "Requests whose handling panicked (answered 500), by listener.",
        );
        for listener in lock(&self.listeners).iter() {
            let n = listener.panics.load(Ordering::Relaxed);
            out.sample(name, &[("listener", listener.name)], n);
        }
    }

    fn render_keystone(&self, out: &mut Exposition) {
        let clients = lock(&self.keystone).clone();
        let counter =
            |out: &mut Exposition, name: &str, help: &str, read: &dyn Fn(&Client) -> u64| {
                out.family(name, "counter", help);
                for (label, client) in &clients {
                    out.sample(name, &[("client", label)], read(client));
                }
            };
        counter(
            out,
            "heatgate_keystone_requests_total",
            "HTTP calls to Keystone (retries included), by client.",
            &|c| c.stats().calls.load(Ordering::Relaxed),
        );
        counter(
            out,
            "heatgate_keystone_request_failures_total",
            "Calls to Keystone that got no complete answer (refused, timed out, cut), by client.",
            &|c| c.stats().failures.load(Ordering::Relaxed),
        );
        let duration = "heatgate_keystone_request_duration_seconds";
        out.family(
            duration,
            "summary",
            "Time of the calls to Keystone, in seconds, by client.",
        );
        for (label, client) in &clients {
            let stats = client.stats();
            let micros = stats.latency_micros.load(Ordering::Relaxed);
            let calls = stats.calls.load(Ordering::Relaxed);
            out.sample(
                &format!("{duration}_sum"),
                &[("client", label)],
                micros as f64 / 1e6,
            );
            out.sample(&format!("{duration}_count"), &[("client", label)], calls);
        }
        counter(
            out,
            "heatgate_keystone_busy_total",
            "Calls refused without reaching Keystone: every one of max_concurrent_keystone_calls stayed in use for the whole wait, by client.",
            &|c| c.stats().busy.load(Ordering::Relaxed),
        );
        counter(
            out,
            "heatgate_keystone_token_validations_total",
            "Token validations asked of Keystone, by client.",
            &|c| c.stats().validations.load(Ordering::Relaxed),
        );
        counter(
            out,
            "heatgate_keystone_service_authentications_total",
            "Authentications of the service user, by client.",
            &|c| c.stats().service_authentications.load(Ordering::Relaxed),
        );
    }

    fn render_auth_token(&self, out: &mut Exposition) {
        let Some(validator) = lock(&self.auth_token).clone() else {
            return;
        };
        let stats = validator.stats();
        for (name, help, value) in [
            (
                "heatgate_auth_token_cache_hits_total",
                "Tokens found valid in the cache.",
                &stats.hits,
            ),
            (
                "heatgate_auth_token_cache_misses_total",
                "Token validations that asked Keystone (one per burst of the same token).",
                &stats.misses,
            ),
            (
                "heatgate_auth_token_coalesced_total",
                "Requests that waited for another request's validation of the same token.",
                &stats.coalesced,
            ),
            (
                "heatgate_auth_token_refused_locally_total",
                "Tokens refused without asking Keystone (size, characters, JWS).",
                &stats.refused_locally,
            ),
            (
                "heatgate_auth_token_invalid_cache_hits_total",
                "Tokens refused because Keystone had just refused them (invalid_token_cache_time).",
                &stats.invalid_hits,
            ),
        ] {
            out.family(name, "counter", help);
            out.sample(name, &[], value.load(Ordering::Relaxed));
        }
        let cached = "heatgate_auth_token_cached_tokens";
        out.family(cached, "gauge", "Tokens in the cache (approximate).");
        out.sample(cached, &[], validator.cached_tokens());
    }
}

/// Text exposition format 0.0.4.
#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn labels(&mut self, labels: &[(&str, &str)], le: Option<&str>) {
        let all = labels.iter().copied().chain(le.map(|le| ("le", le)));
        for (i, (name, value)) in all.enumerate() {
            self.text.push(if i == 0 { '{' } else { ',' });
            self.text.push_str(name);
            self.text.push_str("=\"");
            for c in value.chars() {
                match c {
                    '\\' => self.text.push_str("\\\\"),
                    '"' => self.text.push_str("\\\""),
                    '\n' => self.text.push_str("\\n"),
                    c => self.text.push(c),
                }
            }
            self.text.push('"');
        }
        if !labels.is_empty() || le.is_some() {
            self.text.push('}');
        }
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.text.push_str(name);
        self.labels(labels, None);
        let _ = writeln!(self.text, " {value}");
    }

    fn sample_with_le(&mut self, name: &str, labels: &[(&str, &str)], le: &str, value: u64) {
        self.text.push_str(name);
        self.labels(labels, Some(le));
        let _ = writeln!(self.text, " {value}");
    }
}

/// `GET /metrics`.
pub async fn exposition() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        registry().render(),
    )
}

/// Counts a listener's requests and logs one line per answered request,
/// each under the [`Route`] label of its response.
#[derive(Debug, Clone)]
pub struct HttpMetricsLayer {
    listener: Arc<ListenerMetrics>,
    unlabelled: &'static str,
}

impl HttpMetricsLayer {
    /// Counts into `listener`; a response without a label counts as
    /// [`UNMATCHED`].
    pub fn new(listener: Arc<ListenerMetrics>) -> Self {
        Self {
            listener,
            unlabelled: UNMATCHED,
        }
    }

    /// Counts a response without a label under `label` instead (for a
    /// service that answers everything the same way, such as a proxy: its
    /// responses then need no label each).
    pub fn unlabelled_as(mut self, label: &'static str) -> Self {
        self.unlabelled = label;
        self
    }
}

impl<S> Layer<S> for HttpMetricsLayer {
    type Service = HttpMetrics<S>;

    fn layer(&self, inner: S) -> HttpMetrics<S> {
        HttpMetrics {
            inner,
            listener: self.listener.clone(),
            unlabelled: self.unlabelled,
        }
    }
}

/// The service built by [`HttpMetricsLayer`].
#[derive(Debug, Clone)]
pub struct HttpMetrics<S> {
    inner: S,
    listener: Arc<ListenerMetrics>,
    unlabelled: &'static str,
}

impl<S> HttpMetrics<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for HttpMetrics<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        ResponseFuture {
            method: method_index(request.method()),
            started: Instant::now(),
            listener: self.listener.clone(),
            unlabelled: self.unlabelled,
            inner: self.inner.call(request),
        }
    }
}

pin_project! {
    /// The response future of [`HttpMetrics`].
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        method: usize,
        started: Instant,
        listener: Arc<ListenerMetrics>,
        unlabelled: &'static str,
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = std::task::ready!(this.inner.poll(cx))?;
        let elapsed = this.started.elapsed();
        let status = response.status();
        let route = response
            .extensions()
            .get::<Route>()
            .map_or(*this.unlabelled, Route::as_str);
        this.listener
            .observe(*this.method, route, status, elapsed.as_secs_f64());
        if matches!(route, "/healthcheck" | "/metrics") {
            tracing::debug!(status = status.as_u16(), route, latency = ?elapsed, "answered");
        } else {
            tracing::info!(status = status.as_u16(), route, latency = ?elapsed, "answered");
        }
        Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::body::Body;
    use tower::ServiceExt;

    use super::*;

    /// Checks the exposition's grammar: HELP then TYPE once per family, before
    /// its samples; samples `name{labels} value` of a declared family.
    /// A sample: name, labels, value.
    type Sample = (String, Vec<(String, String)>, f64);

    fn parse(text: &str) -> Vec<Sample> {
        let mut families: Vec<(String, String)> = Vec::new();
        let mut samples = Vec::new();
        let mut help: Option<String> = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap().to_owned();
                assert!(help.is_none(), "two HELP lines in a row: {line}");
                help = Some(name);
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert_eq!(
                    help.take().as_deref(),
                    Some(name),
                    "TYPE without HELP: {line}"
                );
                assert!(
                    ["counter", "gauge", "histogram", "summary"].contains(&kind),
                    "{line}"
                );
                assert!(
                    !families.iter().any(|(n, _)| n == name),
                    "{name} declared twice"
                );
                families.push((name.to_owned(), kind.to_owned()));
            } else {
                assert!(!line.starts_with('#') && !line.is_empty(), "{line:?}");
                let (series, value) = line.rsplit_once(' ').unwrap();
                let value: f64 = if value == "+Inf" {
                    f64::INFINITY
                } else {
                    value.parse().unwrap()
                };
                let (name, labels) = match series.split_once('{') {
                    Some((name, rest)) => {
                        let rest = rest.strip_suffix('}').unwrap();
                        let labels = rest
                            .split("\",")
                            .map(|kv| {
                                let (k, v) = kv.split_once("=\"").unwrap();
                                (k.to_owned(), v.trim_end_matches('"').to_owned())
                            })
                            .collect();
                        (name.to_owned(), labels)
                    }
                    None => (series.to_owned(), Vec::new()),
                };
                let (family, kind) = families.last().expect("a sample before any TYPE");
                let suffixes: &[&str] = match kind.as_str() {
                    "histogram" => &["_bucket", "_sum", "_count"],
                    "summary" => &["_sum", "_count", ""],
                    _ => &[""],
                };
                assert!(
                    suffixes.iter().any(|s| name == format!("{family}{s}")),
                    "{name} is not of family {family}"
                );
                samples.push((name, labels, value));
            }
        }
        samples
    }

    fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        samples
            .iter()
            .find(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|s| s.2)
    }

    #[tokio::test]
    async fn requests_are_counted_by_route_method_and_status_class() {
        let registry = Registry::default();
        let listener = registry.listener("rest");
        let svc = HttpMetricsLayer::new(listener).layer(tower::service_fn(
            |request: Request<Body>| async move {
                let status = match request.uri().path() {
                    "/ok" => StatusCode::OK,
                    "/slow" => {
                        tokio::time::sleep(Duration::from_millis(30)).await;
                        StatusCode::OK
                    }
                    _ => StatusCode::FORBIDDEN,
                };
                let mut response = Response::new(Body::empty());
                *response.status_mut() = status;
                if request.uri().path() != "/nowhere" {
                    response
                        .extensions_mut()
                        .insert(Route::Fixed("/route/{id}"));
                }
                Ok::<_, std::convert::Infallible>(response)
            },
        ));
        for (method, path) in [
            ("GET", "/ok"),
            ("GET", "/ok"),
            ("GET", "/slow"),
            ("DELETE", "/denied"),
            ("BREW", "/nowhere"),
        ] {
            let request = Request::builder()
                .method(method)
                .uri(path)
                .body(Body::empty())
                .unwrap();
            svc.clone().oneshot(request).await.unwrap();
        }
        let text = registry.render();
        let samples = parse(&text);
        let count = |method: &str, route: &str, class: &str| {
            value(
                &samples,
                "heatgate_http_requests_total",
                &[
                    ("listener", "rest"),
                    ("method", method),
                    ("route", route),
                    ("status_class", class),
                ],
            )
        };
        assert_eq!(count("GET", "/route/{id}", "2xx"), Some(3.0), "{text}");
        assert_eq!(count("DELETE", "/route/{id}", "4xx"), Some(1.0), "{text}");
        assert_eq!(count("other", UNMATCHED, "4xx"), Some(1.0), "{text}");
        assert_eq!(count("GET", "/route/{id}", "4xx"), None, "no empty series");

        let h = "heatgate_http_request_duration_seconds";
        let get = [("method", "GET"), ("route", "/route/{id}")];
        let bucket = |le: &str| {
            let mut labels = get.to_vec();
            labels.push(("le", le));
            value(&samples, &format!("{h}_bucket"), &labels).unwrap()
        };
        assert_eq!(value(&samples, &format!("{h}_count"), &get), Some(3.0));
        assert_eq!(bucket("+Inf"), 3.0);
        assert_eq!(bucket("10"), 3.0);
        assert!(
            bucket("0.025") <= 2.0,
            "the slow request is above 25 ms: {text}"
        );
        let mut previous = 0.0;
        for (_, le) in BUCKETS {
            assert!(bucket(le) >= previous, "buckets are cumulative: {text}");
            previous = bucket(le);
        }
        assert!(value(&samples, &format!("{h}_sum"), &get).unwrap() >= 0.03);

        // Counted under another name, the unlabelled are no longer unmatched.
        let proxied = HttpMetricsLayer::new(registry.listener("rest"))
            .unlabelled_as("upstream")
            .layer(svc.into_inner());
        for path in ["/nowhere", "/ok"] {
            let request = Request::get(path).body(Body::empty()).unwrap();
            proxied.clone().oneshot(request).await.unwrap();
        }
        let samples = parse(&registry.render());
        let total =
            |labels: &[(&str, &str)]| value(&samples, "heatgate_http_requests_total", labels);
        assert_eq!(total(&[("route", "upstream")]), Some(1.0), "GET 4xx");
        let labelled = [("route", "/route/{id}"), ("status_class", "2xx")];
        assert_eq!(total(&labelled), Some(4.0), "a label counts");
        assert_eq!(total(&[("route", UNMATCHED)]), Some(1.0), "as before");
    }

    #[test]
    fn label_values_are_escaped_and_keystone_clients_exported() {
        let registry = Registry::default();
        let url = "http://127.0.0.1:9/v3".parse().unwrap();
        let client = Client::new(heatgate_keystone::ClientConfig::new(url)).unwrap();
        registry.keystone_client("auth_token", &client);
        registry.keystone_client("auth_token", &client);
        registry
            .listener("rest")
            .observe(0, "/a\"b\\c\nd", StatusCode::OK, 0.001);
        let text = registry.render();
        assert!(text.contains(r#"route="/a\"b\\c\nd""#), "{text}");
        let samples = parse(&text);
        assert_eq!(
            value(
                &samples,
                "heatgate_keystone_requests_total",
                &[("client", "auth_token")]
            ),
            Some(0.0)
        );
        assert_eq!(
            samples
                .iter()
                .filter(|s| s.0 == "heatgate_keystone_requests_total")
                .count(),
            1,
            "one client per label"
        );
        assert_eq!(value(&samples, "heatgate_build_info", &[]), Some(1.0));
        assert!(text.contains("# TYPE heatgate_policy_denials_total counter\n"));
        assert!(
            !text.contains("heatgate_auth_token_"),
            "no validator, no cache metrics"
        );
    }
}
