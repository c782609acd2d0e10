//! enginebench: the engine of `heatgate serve` without the authentication
//! layers, as a load target.
//!
//! Reads a `heatgate serve` configuration (`--config`, `HEATGATE_*`
//! overrides), starts the engine on its database, validates the token in
//! `--token-file` once with Keystone and serves the engine's REST router
//! (policy, stack lookup, handlers) with that identity injected into every
//! request, on the same runtime and server loop as serve (`[gateway]
//! worker_threads`, request ids, metrics and access log). What serve adds in
//! front (auth_token, route labels, health) is what a comparison with it
//! measures. Prints `listening on http://ADDR` once it accepts connections;
//! stops on SIGTERM or Ctrl-C.
//!
//! ```text
//! enginebench --config heatgate.toml --token-file demo-token --listen 127.0.0.1:0
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use heatgate::observability::logging::load_config_and_init;
use heatgate::server::{serve_with, Listener, ServeOptions};
use heatgate_benches::serve::{engine_router, identity_of, with_identity};
use heatgate_keystone::Secret;

// As in the `heatgate` binary that target (a) runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The engine's REST API with a fixed identity, for load tests.
#[derive(Debug, Parser)]
#[command(name = "enginebench")]
struct Args {
    /// The `heatgate serve` configuration (TOML).
    #[arg(long)]
    config: PathBuf,
    /// A file holding the token whose identity every request carries.
    #[arg(long)]
    token_file: PathBuf,
    /// Listen address (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("enginebench: {message}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args = Args::parse();
    // Logging as serve starts it (RUST_LOG, [gateway] log_format).
    let config = match load_config_and_init(Some(&args.config)) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let token = match std::fs::read_to_string(&args.token_file) {
        Ok(t) => Secret::new(t.trim()),
        Err(e) => return fail(format!("--token-file {}: {e}", args.token_file.display())),
    };
    let options = match ServeOptions::from_config(&config.gateway) {
        Ok(o) => o,
        Err(e) => return fail(e),
    };
    let runtime = match heatgate::server::runtime(config.gateway.worker_threads) {
        Ok(r) => r,
        Err(e) => return fail(format!("cannot start the runtime: {e}")),
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(args.listen).await {
            Ok(l) => l,
            Err(e) => return fail(format!("cannot listen on {}: {e}", args.listen)),
        };
        let addr = listener.local_addr().unwrap_or(args.listen);
        let (_engine, router) =
            match engine_router(&config, addr, config.gateway.cfn_listen()).await {
                Ok(r) => r,
                Err(e) => return fail(e),
            };
        let identity = match identity_of(&config, &token).await {
            Ok(i) => i,
            Err(e) => return fail(e),
        };
        let listeners = vec![Listener {
            name: "rest",
            addr,
            app: with_identity(router, identity).into(),
            bound: Some(listener),
        }];
        serve_with(listeners, options).await
    })
}
