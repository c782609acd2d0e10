//! Running the listeners: runtime, layers, graceful shutdown.

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::Router;
use futures_util::future::BoxFuture;
use heatgate_keystone::Client;
use heatgate_middleware::auth_password::{AuthPasswordConfig, AuthPasswordLayer};
use heatgate_middleware::auth_token::AuthTokenLayer;
use heatgate_middleware::ec2token::Ec2TokenLayer;
use heatgate_middleware::identity_assertion::{AssertionKey, SignAssertion, SignAssertionLayer};
use http::header::{HeaderName, AUTHORIZATION};
use http::{Request, Response};
use tokio_rustls::TlsAcceptor;
use tower::util::Either;
use tower::Layer;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;

use crate::config::{Config, ConfigError, Flavor, GatewaySection};
use crate::listen::{accept_loop, Served};
use crate::observability::logging::load_layers_and_init;
use crate::observability::{metrics_app, observed_as, registry, Health, UNMATCHED};
use crate::proxy::Proxy;

pub(crate) fn config_error(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("heatgate: {e}");
    ExitCode::from(2)
}

/// The runtime for `[gateway] worker_threads` (default: one worker per core).
///
/// One worker is tokio's current-thread scheduler: every task then runs on the
/// thread that started the server, with no hand-off between a worker and the
/// I/O driver, which serves about a third more requests per second on that
/// one core than a multi-thread scheduler limited to one worker.
pub fn runtime(worker_threads: Option<usize>) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = match worker_threads {
        Some(0 | 1) => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(n);
            builder
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    builder.enable_all().build()
}

/// Headers never to print (tokens, passwords, signatures).
static SENSITIVE_HEADERS: [HeaderName; 6] = [
    HeaderName::from_static("x-auth-token"),
    HeaderName::from_static("x-subject-token"),
    HeaderName::from_static("x-service-token"),
    HeaderName::from_static("x-storage-token"),
    HeaderName::from_static("x-auth-key"),
    AUTHORIZATION,
];

/// [`SENSITIVE_HEADERS`], for `SetSensitiveRequestHeadersLayer`.
fn sensitive_headers() -> [HeaderName; 6] {
    SENSITIVE_HEADERS.clone()
}

/// Marks the [`SENSITIVE_HEADERS`] of `request` sensitive, as
/// `SetSensitiveRequestHeadersLayer` does, in one pass over its headers (the
/// layer looks each name up in turn, which costs more than the few headers of
/// a request).
fn mark_sensitive(mut request: Request<Body>) -> Request<Body> {
    for (name, value) in request.headers_mut().iter_mut() {
        if SENSITIVE_HEADERS.contains(name) {
            value.set_sensitive(true);
        }
    }
    request
}

/// The REST listener's authentication layer for `[gateway] flavor`; its
/// Keystone client and token cache counters are exported in the process's
/// metrics.
fn auth_layer(config: &Config) -> Result<Either<AuthTokenLayer, AuthPasswordLayer>, ConfigError> {
    let section = &config.keystone_authtoken;
    let client = Client::new(section.client_config()?).map_err(|e| ConfigError(e.to_string()))?;
    Ok(match config.gateway.flavor {
        Flavor::Keystone => {
            if client.config().service_auth.is_none() {
                return Err(ConfigError(
                    "[keystone_authtoken] username, password and project_name are required to validate tokens".into(),
                ));
            }
            let layer = AuthTokenLayer::new(section.layer_config(), client)
                .map_err(|e| ConfigError(format!("[keystone_authtoken] {e}")))?;
            registry().keystone_client("auth_token", layer.validator().client());
            registry().auth_token(layer.validator());
            Either::Left(layer)
        }
        Flavor::Standalone => {
            let auth_url = section.auth_url()?;
            let mut layer_config = AuthPasswordConfig::new(auth_url);
            if !config.auth_password.allowed_auth_uris.is_empty() {
                layer_config.allowed_auth_uris = config.auth_password.allowed_auth_uris.clone();
            }
            if let Some(secs) = config.auth_password.cache_time {
                layer_config.cache_time = Duration::from_secs(secs);
            }
            registry().keystone_client("auth_password", &client);
            Either::Right(AuthPasswordLayer::new(layer_config, client))
        }
    })
}

/// The REST listener's authentication in front of `inner`; its Keystone client
/// and token cache counters are exported in the process's metrics.
pub fn authenticated(config: &Config, inner: Router) -> Result<Router, ConfigError> {
    let router = match auth_layer(config)? {
        Either::Left(layer) => inner.layer(layer),
        Either::Right(layer) => inner.layer(layer),
    };
    Ok(router.layer(SetSensitiveRequestHeadersLayer::new(sensitive_headers())))
}

/// [`authenticated`] around a service that routes nothing itself (the
/// proxy's upstream), stacked as one service: a router would box each layer
/// separately and clone the whole chain for every request (and look up a
/// route that is never there). Its responses carry no route label: serve it
/// with [`App::unlabelled_as`].
fn authenticated_service<S>(
    config: &Config,
    inner: S,
) -> Result<
    impl tower::Service<
            Request<Body>,
            Response = Response<Body>,
            Error = Infallible,
            Future = impl Send + 'static,
        > + Clone
        + Send
        + Sync
        + 'static,
    ConfigError,
>
where
    S: tower::Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let service = tower::ServiceBuilder::new()
        .map_request(mark_sensitive)
        .layer(auth_layer(config)?)
        .service(inner);
    Ok(service)
}

/// Arguments of `heatgate proxy`.
#[derive(Debug, clap::Args)]
pub struct ProxyArgs {
    /// The service behind the proxy (http://host:port[/base]).
    #[arg(long)]
    pub upstream: String,
    /// Configuration file (TOML, heat.conf option names).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// An existing heat.conf to read the same options from; `--config` and
    /// `HEATGATE_*` variables override it.
    #[arg(long, value_name = "FILE")]
    pub heat_conf: Option<PathBuf>,
    /// Listen address (overrides [gateway] listen; port 0 picks a free port).
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
    /// A CFN-style service to put behind the CFN listener, with ec2token in
    /// front (overrides [gateway] cfn_upstream).
    #[arg(long)]
    pub cfn_upstream: Option<String>,
    /// CFN listen address (overrides [gateway] cfn_listen).
    #[arg(long)]
    pub cfn_listen: Option<std::net::SocketAddr>,
}

/// `heatgate proxy`.
pub fn run_proxy(args: ProxyArgs) -> ExitCode {
    let mut config = match load_layers_and_init(args.heat_conf.as_deref(), args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => return config_error(e),
    };
    if let Some(listen) = args.listen {
        config.gateway.listen = listen;
    }
    if let Some(listen) = args.cfn_listen {
        config.gateway.cfn_listen = listen;
    }
    if args.cfn_upstream.is_some() {
        config.gateway.cfn_upstream = args.cfn_upstream.clone();
    }
    let upstream: http::Uri = match args.upstream.parse() {
        Ok(u) => u,
        Err(e) => return config_error(format!("--upstream {}: {e}", args.upstream)),
    };
    let runtime = match runtime(config.gateway.worker_threads) {
        Ok(r) => r,
        Err(e) => return config_error(format!("cannot start the runtime: {e}")),
    };
    // With a shared key, this proxy is the gateway of a separate engine.
    let assertion_key = match crate::engine_cmd::assertion_key(&config) {
        Ok(key) => key,
        Err(e) => return config_error(e),
    };
    let options = match ServeOptions::from_config(&config.gateway) {
        Ok(o) => o,
        Err(e) => return config_error(e),
    };
    let upstream_tls =
        match crate::tls::upstream_client_config(config.gateway.upstream_cafile.as_deref()) {
            Ok(t) => t,
            Err(e) => return config_error(e),
        };
    runtime.block_on(async move {
        let timeout = Duration::from_secs(config.gateway.upstream_timeout.max(1));
        let proxy = match Proxy::with_tls(&upstream, timeout, upstream_tls.clone()) {
            Ok(p) => p.with_body_limit(config.gateway.max_request_body_size),
            Err(e) => return config_error(format!("--upstream {}: {e}", args.upstream)),
        };
        let proxy = match upstream_service(proxy, &upstream, assertion_key.as_ref()) {
            Ok(r) => r,
            Err(e) => return config_error(format!("--upstream {}: {e}", args.upstream)),
        };
        let app = match authenticated_service(&config, proxy) {
            Ok(app) => app,
            Err(e) => return config_error(e),
        };
        let health = match Health::new(&config.keystone_authtoken) {
            Ok(h) => h,
            Err(e) => return config_error(e),
        };
        let mut listeners = vec![Listener {
            name: "rest",
            addr: config.gateway.listen,
            // Everything but /healthcheck (labelled by its route) is the upstream's.
            app: App::unlabelled_as(health.front_of(app), "upstream"),
            bound: None,
        }];
        if let Some(cfn) = &config.gateway.cfn_upstream {
            let upstream = cfn
                .parse::<http::Uri>()
                .map_err(|e| e.to_string())
                .and_then(|u| Proxy::with_tls(&u, timeout, upstream_tls.clone()))
                .map(|p| p.with_body_limit(config.gateway.max_request_body_size));
            let upstream = upstream.and_then(|p| {
                upstream_router(p, &cfn.parse().unwrap_or_default(), assertion_key.as_ref())
            });
            let upstream = match upstream {
                Ok(p) => p,
                Err(e) => return config_error(format!("cfn upstream {cfn}: {e}")),
            };
            match signed(&config, upstream) {
                Ok(app) => listeners.push(Listener {
                    name: "cfn",
                    addr: config.gateway.cfn_listen,
                    // The upstream's, all of it (no route is labelled).
                    app: App::unlabelled_as(app, "upstream"),
                    bound: None,
                }),
                Err(e) => return config_error(e),
            }
        }
        if let Some(addr) = config.gateway.metrics_listen {
            listeners.push(Listener {
                name: "metrics",
                addr,
                app: metrics_app(&health).into(),
                bound: None,
            });
        }
        serve_with(listeners, options).await
    })
}

/// Everything to `proxy`; with an assertion key, every forwarded request
/// carries the signed identity assertion (after authentication, so it vouches
/// for what the layers verified). The assertion is bound to the path the
/// engine sees, so the upstream URL may not add a base path then.
fn upstream_router(
    proxy: Proxy,
    upstream: &http::Uri,
    assertion_key: Option<&AssertionKey>,
) -> Result<Router, String> {
    upstream_service(proxy, upstream, assertion_key).map(|s| Router::new().fallback_service(s))
}

/// [`upstream_router`]'s service, without the router.
fn upstream_service(
    proxy: Proxy,
    upstream: &http::Uri,
    assertion_key: Option<&AssertionKey>,
) -> Result<Either<Proxy, SignAssertion<Proxy>>, String> {
    match assertion_key {
        None => Ok(Either::Left(proxy)),
        Some(_) if !upstream.path().trim_matches('/').is_empty() => {
            Err("an engine upstream (with [engine] assertion_key) cannot have a base path".into())
        }
        Some(key) => Ok(Either::Right(
            SignAssertionLayer::new(key.clone()).layer(proxy),
        )),
    }
}

/// The CFN listener's authentication (ec2token) in front of `inner`; its
/// Keystone client's counters are exported in the process's metrics.
pub fn signed(config: &Config, inner: Router) -> Result<Router, ConfigError> {
    let client = Client::new(config.keystone_authtoken.client_config()?)
        .map_err(|e| ConfigError(e.to_string()))?;
    if client.config().service_auth.is_none() {
        return Err(ConfigError(
            "[keystone_authtoken] username, password and project_name are required to check EC2 signatures".into(),
        ));
    }
    registry().keystone_client("ec2token", &client);
    let layer = Ec2TokenLayer::new(config.ec2authtoken.clone(), client)
        .map_err(|e| ConfigError(format!("[ec2authtoken] {e}")))?;
    Ok(inner
        .layer(layer)
        .layer(SetSensitiveRequestHeadersLayer::new(sensitive_headers())))
}

/// One listener: a name for the logs, an address, and what it serves.
#[derive(Debug)]
pub struct Listener {
    /// `rest`, `cfn` or `metrics` (also the `listener` label of its metrics).
    pub name: &'static str,
    /// Where to listen (port 0 picks one).
    pub addr: SocketAddr,
    /// The service.
    pub app: App,
    /// A socket already bound to `addr` (when the caller needed the port first).
    pub bound: Option<tokio::net::TcpListener>,
}

/// What a [`Listener`] serves: a router or any other service, kept with its
/// own type. Only its accept loop is boxed, once, so that a request goes
/// through no boxed service or future on its way in.
///
/// ```
/// use std::convert::Infallible;
///
/// use axum::body::Body;
/// use heatgate::server::{App, Listener};
///
/// let hello = tower::service_fn(|_request: http::Request<Body>| async {
///     Ok::<_, Infallible>(http::Response::new(Body::from("hello")))
/// });
/// let rest = Listener {
///     name: "rest",
///     addr: "127.0.0.1:0".parse().unwrap(),
///     app: App::new(hello),
///     bound: None,
/// };
/// // An axum router converts too.
/// let metrics = Listener {
///     name: "metrics",
///     addr: "127.0.0.1:0".parse().unwrap(),
///     app: axum::Router::new().into(),
///     bound: None,
/// };
/// # let _ = (rest, metrics);
/// ```
pub struct App(Box<dyn FnOnce(AcceptArgs) -> BoxFuture<'static, ()> + Send>);

/// What [`serve_with`] hands an [`App`]'s accept loop.
struct AcceptArgs {
    listener: tokio::net::TcpListener,
    name: &'static str,
    tls: Option<TlsAcceptor>,
    max_connections: usize,
    stop: tokio::sync::watch::Receiver<bool>,
}

impl App {
    /// Serves `service`, with request ids, metrics and the access log
    /// ([`observed`](crate::observability::observed)) around it.
    pub fn new<S: Served>(service: S) -> Self {
        Self::unlabelled_as(service, UNMATCHED)
    }

    /// [`new`](Self::new), with the responses that carry no route label
    /// counted under `label` rather than as unmatched (a proxy's: then they
    /// need no label each).
    pub fn unlabelled_as<S: Served>(service: S, label: &'static str) -> Self {
        Self(Box::new(move |args: AcceptArgs| {
            Box::pin(accept_loop(
                args.listener,
                observed_as(service, args.name, label),
                args.tls,
                args.max_connections,
                args.stop,
            ))
        }))
    }
}

impl From<Router> for App {
    fn from(router: Router) -> Self {
        Self::new(router)
    }
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").finish_non_exhaustive()
    }
}

/// How [`serve_with`] runs its listeners.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// How long in-flight requests may take to finish after SIGTERM.
    pub grace: Duration,
    /// TLS for every listener but `metrics` (which stays plain HTTP).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Connections each listener serves at once; more wait in the backlog.
    pub max_connections: usize,
}

impl ServeOptions {
    /// `[gateway]`'s `shutdown_grace`, `cert_file` / `key_file` and
    /// `max_connections`.
    pub fn from_config(gateway: &GatewaySection) -> Result<Self, ConfigError> {
        if gateway.max_connections == 0 {
            return Err(ConfigError(
                "[gateway] max_connections must be at least 1".into(),
            ));
        }
        Ok(Self {
            grace: Duration::from_secs(gateway.shutdown_grace),
            tls: crate::tls::server_config(gateway)?,
            max_connections: gateway.max_connections,
        })
    }
}

/// [`serve_with`] plain HTTP and the default connection limit.
pub async fn serve(listeners: Vec<Listener>, grace: Duration) -> ExitCode {
    let options = ServeOptions {
        grace,
        tls: None,
        max_connections: GatewaySection::default().max_connections,
    };
    serve_with(listeners, options).await
}

/// Serves every listener until SIGTERM or Ctrl-C, then lets in-flight requests
/// finish for at most `options.grace`. Prints one `listening on` line per
/// listener on stdout (the REST one first; `https://` on TLS listeners), for
/// scripts and tests. Every listener gets request ids, request metrics and an
/// access log ([`observe`]).
pub async fn serve_with(listeners: Vec<Listener>, options: ServeOptions) -> ExitCode {
    let grace = options.grace;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut servers = tokio::task::JoinSet::new();
    for Listener {
        name,
        addr,
        app,
        bound,
    } in listeners
    {
        let listener = match bound {
            Some(l) => l,
            None => match tokio::net::TcpListener::bind(addr).await {
                Ok(l) => l,
                Err(e) => return config_error(format!("cannot listen on {addr} ({name}): {e}")),
            },
        };
        let bound = listener.local_addr().unwrap_or(addr);
        let tls = match &options.tls {
            Some(config) if name != "metrics" => Some(TlsAcceptor::from(config.clone())),
            _ => None,
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        tracing::info!(%bound, listener = name, scheme, "listening");
        if name == "rest" {
            println!("listening on {scheme}://{bound}");
        } else {
            println!("{name} listening on {scheme}://{bound}");
        }
        let _ = std::io::stdout().flush();
        servers.spawn((app.0)(AcceptArgs {
            listener,
            name,
            tls,
            max_connections: options.max_connections,
            stop: stop_rx.clone(),
        }));
    }
    tokio::select! {
        Some(result) = servers.join_next() => {
            tracing::error!(?result, "a listener stopped");
            return ExitCode::FAILURE;
        }
        () = shutdown_signal() => {}
    }
    tracing::info!(?grace, "shutting down: draining in-flight requests");
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(grace, async {
        while servers.join_next().await.is_some() {}
    })
    .await;
    match drained {
        Ok(()) => tracing::info!("drained"),
        Err(_) => tracing::warn!("grace period over; closing the remaining connections"),
    }
    ExitCode::SUCCESS
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_of_a_sensitive_header_is_marked_and_only_those() {
        let request = Request::get("/")
            .header("X-Auth-Token", "a")
            .header("x-auth-token", "b")
            .header(AUTHORIZATION, "c")
            .header("x-auth-key", "d")
            .header("x-project-id", "e")
            .body(Body::empty())
            .unwrap();
        let request = mark_sensitive(request);
        for (name, value) in request.headers() {
            assert_eq!(
                value.is_sensitive(),
                name != "x-project-id",
                "{name}: {value:?}"
            );
        }
        assert_eq!(request.headers().len(), 5);
    }
}
