//! Running the listeners: runtime, layers, graceful shutdown.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use futures_util::future::BoxFuture;
use heatgate_middleware::identity_assertion::{AssertionKey, SignAssertion, SignAssertionLayer};
use tokio_rustls::TlsAcceptor;
use tower::util::Either;
use tower::Layer;

use crate::compose;
use crate::config::{ConfigError, GatewaySection};
use crate::listen::{accept_loop, Served};
use crate::observability::logging::load_layers_and_init;
use crate::observability::{metrics_app, observed_as, Health, UNMATCHED};
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
        config.gateway.cfn_listen = Some(listen);
    }
    if args.cfn_upstream.is_some() {
        config.gateway.cfn_upstream = args.cfn_upstream.clone();
    }
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
        let forward = |url: &str| {
            let uri = url.parse::<http::Uri>().map_err(|e| e.to_string())?;
            let proxy = Proxy::with_tls(&uri, timeout, upstream_tls.clone())?
                .with_body_limit(config.gateway.max_request_body_size);
            upstream_service(proxy, &uri, assertion_key.as_ref())
        };
        let upstream = match forward(&args.upstream) {
            Ok(u) => u,
            Err(e) => return config_error(format!("--upstream {}: {e}", args.upstream)),
        };
        if config.gateway.cfn_listen.is_some() && config.gateway.cfn_upstream.is_none() {
            return config_error(
                "[gateway] cfn_listen is set but there is no CFN upstream to put behind it: give --cfn-upstream (or [gateway] cfn_upstream), or remove cfn_listen",
            );
        }
        let health = match Health::new(&config.keystone_authtoken) {
            Ok(h) => h,
            Err(e) => return config_error(e),
        };
        let rest = match compose::rest(&config, &health, upstream) {
            Ok(app) => app,
            Err(e) => return config_error(e),
        };
        let mut listeners = vec![Listener {
            name: "rest",
            addr: config.gateway.listen,
            // Everything but /healthcheck (labelled by its route) is the upstream's.
            app: App::unlabelled_as(rest, "upstream"),
            bound: None,
        }];
        if let Some(cfn) = &config.gateway.cfn_upstream {
            let upstream = match forward(cfn) {
                Ok(u) => u,
                Err(e) => return config_error(format!("cfn upstream {cfn}: {e}")),
            };
            match compose::cfn(&config, upstream) {
                Ok(app) => listeners.push(Listener {
                    name: "cfn",
                    addr: config.gateway.cfn_listen(),
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
