//! `heatgate engine`: the engine alone, behind a gateway that runs elsewhere
//! (`heatgate proxy --upstream <engine REST> --cfn-upstream <engine CFN>`).
//!
//! The engine trusts no identity header from the network: every request must
//! carry the gateway's signed identity assertion
//! ([`identity_assertion`](heatgate_middleware::identity_assertion)), made
//! with the `[engine] assertion_key` both processes share; anything else is
//! answered 401 before any route, policy check or lookup runs. Links and
//! pre-signed URLs point at the gateway (`[gateway] public_url` /
//! `cfn_public_url`, by default its `listen` / `cfn_listen`), never at the
//! engine.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use heatgate_middleware::identity_assertion::AssertionKey;

use crate::compose::{self, ErrorForm};
use crate::config::{Config, ConfigError};
use crate::observability::label_routes;
use crate::observability::logging::load_config_and_init;
use crate::serve::{engine_config, engine_routers, secret};
use crate::server::{config_error, runtime, serve, App, Listener};

/// `heatgate engine`'s default REST listener.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8014);
/// `heatgate engine`'s default CFN listener.
pub const DEFAULT_CFN_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8010);

/// Arguments of `heatgate engine`.
#[derive(Debug, clap::Args)]
pub struct EngineArgs {
    /// Configuration file (TOML, heat.conf option names; the gateway's file
    /// serves too).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// REST listen address (overrides [engine] listen; port 0 picks one).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// CFN listen address (overrides [engine] cfn_listen).
    #[arg(long)]
    pub cfn_listen: Option<SocketAddr>,
}

/// The shared key from `[engine] assertion_key` or `assertion_key_file`.
pub fn assertion_key(config: &Config) -> Result<Option<AssertionKey>, ConfigError> {
    let Some(key) = secret(
        &config.engine.assertion_key,
        &config.engine.assertion_key_file,
        "[engine] assertion_key",
    )?
    else {
        return Ok(None);
    };
    AssertionKey::new(key.expose().as_bytes())
        .map(Some)
        .map_err(|e| ConfigError(format!("[engine] assertion_key: {e}")))
}

/// `heatgate engine`.
pub fn run_engine(args: EngineArgs) -> ExitCode {
    let config = match load_config_and_init(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => return config_error(e),
    };
    let key = match assertion_key(&config) {
        Ok(Some(key)) => key,
        Ok(None) => {
            return config_error(
                "[engine] assertion_key (or assertion_key_file) is required: the engine accepts only requests its gateway signed",
            )
        }
        Err(e) => return config_error(e),
    };
    let listen = args
        .listen
        .or(config.engine.listen)
        .unwrap_or(DEFAULT_LISTEN);
    let cfn_listen = args
        .cfn_listen
        .or(config.engine.cfn_listen)
        .unwrap_or(DEFAULT_CFN_LISTEN);
    let runtime = match runtime(config.gateway.worker_threads) {
        Ok(r) => r,
        Err(e) => return config_error(format!("cannot start the runtime: {e}")),
    };
    runtime.block_on(async move {
        // Clients reach the stacks through the gateway: links and signed
        // URLs are built from its addresses.
        let engine_config =
            match engine_config(&config, config.gateway.listen, config.gateway.cfn_listen()) {
                Ok(c) => c,
                Err(e) => return config_error(e),
            };
        let (rest, cfn, _store) = match engine_routers(&config, engine_config).await {
            Ok(started) => started,
            Err(e) => return config_error(e),
        };
        let listeners = vec![
            Listener {
                name: "rest",
                addr: listen,
                app: App::new(compose::engine(
                    &config,
                    "rest",
                    ErrorForm::Heat,
                    &key,
                    label_routes(rest),
                )),
                bound: None,
            },
            Listener {
                name: "cfn",
                addr: cfn_listen,
                app: App::new(compose::engine(
                    &config,
                    "cfn",
                    ErrorForm::Aws,
                    &key,
                    label_routes(cfn),
                )),
                bound: None,
            },
        ];
        serve(
            listeners,
            Duration::from_secs(config.gateway.shutdown_grace),
        )
        .await
    })
}
