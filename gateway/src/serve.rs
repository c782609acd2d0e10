//! `heatgate serve`: the gateway and the embedded engine in one process.
//!
//! The listeners are [`compose::rest`] and [`compose::cfn`] in front of the
//! engine's routers: REST: auth_token (or auth_password) -> per-route policy
//! -> stack_lookup -> engine. CFN: ec2token -> action dispatch -> lookup ->
//! policy (`cloudformation:<Action>`, target = the resolved project) ->
//! engine; the pre-signed wait condition and signal URLs go through ec2token
//! and the dual-path lookup only.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use heatgate_engine::store::Store;
use heatgate_engine::{DeferredAuth, Engine, EngineConfig};
use heatgate_keystone::Secret;
use heatgate_middleware::policy::{spawn_reloader, EnforcerSource};
use heatgate_policy::reload::{PolicySources, PolicyStore};
use url::Url;

use crate::compose;
use crate::config::{read_secret_file, Config, ConfigError};
use crate::observability::logging::load_layers_and_init;
use crate::observability::{label_routes, metrics_app, Health};
use crate::server::{config_error, runtime, serve_with, App, Listener, ServeOptions};

/// Arguments of `heatgate serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Configuration file (TOML, heat.conf option names).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// An existing heat.conf to read the same options from; `--config` and
    /// `HEATGATE_*` variables override it.
    #[arg(long, value_name = "FILE")]
    pub heat_conf: Option<PathBuf>,
    /// REST listen address (overrides [gateway] listen; port 0 picks one).
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
    /// CFN listen address (overrides [gateway] cfn_listen).
    #[arg(long)]
    pub cfn_listen: Option<std::net::SocketAddr>,
}

pub(crate) fn secret(
    value: &Option<Secret>,
    file: &Option<PathBuf>,
    what: &str,
) -> Result<Option<Secret>, ConfigError> {
    match (value, file) {
        (Some(v), _) => Ok(Some(v.clone())),
        (None, Some(path)) => Ok(Some(read_secret_file(path, &format!("{what}_file"))?)),
        (None, None) => Ok(None),
    }
}

/// Builds the engine's configuration from `[heat]`, `[engine]` and
/// `[keystone_authtoken]`, with the public URLs of the bound listeners.
pub fn engine_config(
    config: &Config,
    rest: std::net::SocketAddr,
    cfn: std::net::SocketAddr,
) -> Result<EngineConfig, ConfigError> {
    let heat = &config.heat;
    let service = config.keystone_authtoken.client_config()?;
    if service.service_auth.is_none() {
        return Err(ConfigError(
            "[keystone_authtoken] username, password and project_name are required (the heat service user)".into(),
        ));
    }
    let stack_user_domain_id = heat
        .stack_user_domain_id
        .clone()
        .ok_or_else(|| ConfigError("[heat] stack_user_domain_id is required".into()))?;
    let stack_domain_admin = heat
        .stack_domain_admin
        .clone()
        .ok_or_else(|| ConfigError("[heat] stack_domain_admin is required".into()))?;
    let stack_domain_admin_password = secret(
        &heat.stack_domain_admin_password,
        &heat.stack_domain_admin_password_file,
        "[heat] stack_domain_admin_password",
    )?
    .ok_or_else(|| ConfigError("[heat] stack_domain_admin_password is required".into()))?;
    let auth_encryption_key = secret(
        &heat.auth_encryption_key,
        &heat.auth_encryption_key_file,
        "[heat] auth_encryption_key",
    )?
    .ok_or_else(|| ConfigError("[heat] auth_encryption_key is required".into()))?;
    if auth_encryption_key.expose().len() < heatgate_engine::crypt::MIN_KEY_LEN {
        return Err(ConfigError(format!(
            "[heat] auth_encryption_key must be at least {} characters",
            heatgate_engine::crypt::MIN_KEY_LEN
        )));
    }
    let deferred_auth_method = match heat.deferred_auth_method.as_str() {
        "trusts" => DeferredAuth::Trusts,
        "password" => DeferredAuth::Password,
        other => {
            return Err(ConfigError(format!(
                "[heat] deferred_auth_method: {other:?} is not \"trusts\" or \"password\""
            )))
        }
    };
    let url = |value: &Option<String>, default: String, key: &str| -> Result<Url, ConfigError> {
        value
            .clone()
            .unwrap_or(default)
            .parse()
            .map_err(|e| ConfigError(format!("[gateway] {key}: {e}")))
    };
    // The listeners speak HTTPS when the gateway has a certificate.
    let scheme = if config.gateway.cert_file.is_some() {
        "https"
    } else {
        "http"
    };
    let data_dir = config
        .engine
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(".heatgate"));
    Ok(EngineConfig {
        database: config
            .engine
            .database
            .clone()
            .unwrap_or_else(|| data_dir.join("engine.db")),
        service,
        stack_user_domain_id,
        stack_domain_admin,
        stack_domain_admin_password,
        heat_stack_user_role: heat.heat_stack_user_role.clone(),
        deferred_auth_method,
        trusts_delegated_roles: heat.trusts_delegated_roles.clone(),
        auth_encryption_key,
        retired_encryption_keys: Vec::new(),
        public_url: url(
            &config.gateway.public_url,
            format!("{scheme}://{rest}/v1"),
            "public_url",
        )?,
        cfn_public_url: url(
            &config.gateway.cfn_public_url,
            format!("{scheme}://{cfn}/v1"),
            "cfn_public_url",
        )?,
        heat_waitcondition_server_url: heat.heat_waitcondition_server_url.clone(),
    })
}

/// The policy rules: Heat's defaults, `[oslo_policy]` overrides, reloaded
/// when the files change.
pub fn policy_store(config: &Config) -> Result<Arc<PolicyStore>, ConfigError> {
    let section = &config.oslo_policy;
    let sources = PolicySources {
        policy_file: section.policy_file.clone(),
        policy_dirs: section.policy_dirs.clone(),
        enforce_new_defaults: section.enforce_new_defaults,
        ..PolicySources::heat_modern()
    };
    PolicyStore::new(sources)
        .map(Arc::new)
        .map_err(|e| ConfigError(format!("[oslo_policy] {e}")))
}

/// Starts the engine and returns its REST and CFN routers (policy and the
/// dual-path lookup composed in, no authentication) and its database, with
/// the policy files watched for changes.
pub(crate) async fn engine_routers(
    config: &Config,
    engine_config: EngineConfig,
) -> Result<(axum::Router, axum::Router, Store), ConfigError> {
    let policy = policy_store(config)?;
    spawn_reloader(policy.clone(), Duration::from_secs(2));
    let engine = Engine::start(engine_config)
        .await
        .map_err(|e| ConfigError(format!("engine: {e}")))?;
    let source: Arc<dyn EnforcerSource> = policy;
    let store = engine.store().clone();
    let rest = heatgate_engine::api::rest::router(engine.clone(), source.clone());
    let cfn = heatgate_engine::api::cfn::router(engine, source);
    Ok((rest, cfn, store))
}

/// `heatgate serve`.
pub fn run_serve(args: ServeArgs) -> ExitCode {
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
    let runtime = match runtime(config.gateway.worker_threads) {
        Ok(r) => r,
        Err(e) => return config_error(format!("cannot start the runtime: {e}")),
    };
    let options = match ServeOptions::from_config(&config.gateway) {
        Ok(o) => o,
        Err(e) => return config_error(e),
    };
    runtime.block_on(async move {
        let rest_listener = match tokio::net::TcpListener::bind(config.gateway.listen).await {
            Ok(l) => l,
            Err(e) => {
                return config_error(format!("cannot listen on {}: {e}", config.gateway.listen))
            }
        };
        let cfn_listener = match tokio::net::TcpListener::bind(config.gateway.cfn_listen()).await {
            Ok(l) => l,
            Err(e) => {
                return config_error(format!(
                    "cannot listen on {}: {e}",
                    config.gateway.cfn_listen()
                ))
            }
        };
        let rest_addr = rest_listener.local_addr().unwrap_or(config.gateway.listen);
        let cfn_addr = cfn_listener
            .local_addr()
            .unwrap_or(config.gateway.cfn_listen());
        let engine_config = match engine_config(&config, rest_addr, cfn_addr) {
            Ok(c) => c,
            Err(e) => return config_error(e),
        };
        let (rest, cfn, store) = match engine_routers(&config, engine_config).await {
            Ok(started) => started,
            Err(e) => return config_error(e),
        };
        let health = match Health::with_database(&config.keystone_authtoken, store) {
            Ok(h) => h,
            Err(e) => return config_error(e),
        };
        let rest = match compose::rest(&config, &health, label_routes(rest)) {
            Ok(app) => app,
            Err(e) => return config_error(e),
        };
        let cfn = match compose::cfn(&config, label_routes(cfn)) {
            Ok(app) => app,
            Err(e) => return config_error(e),
        };
        let mut listeners = vec![
            Listener {
                name: "rest",
                addr: rest_addr,
                app: App::new(rest),
                bound: Some(rest_listener),
            },
            Listener {
                name: "cfn",
                addr: cfn_addr,
                app: App::new(cfn),
                bound: Some(cfn_listener),
            },
        ];
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
