//! authbench: the load target of the side-by-side benchmark.
//!
//! A minimal axum service answering 200 `ok` on every path, with the auth_token
//! layer in front (`--layer`) or without, on the runtime `heatgate` builds for
//! `--worker-threads` (default 1) and with its allocator (mimalloc), with and
//! without the layer alike. Prints one line `listening on http://ADDR` on
//! stdout once it accepts connections, and stops on SIGTERM or Ctrl-C.
//!
//! ```text
//! OS_AUTH_URL=http://127.0.0.1:5000/v3 OS_PASSWORD=... \
//!     authbench --layer --listen 127.0.0.1:0
//! ```

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use heatgate_benches::{app, KeystoneArgs};

// As in the `heatgate` binary, so that (b) and (c) are set up as `heatgate`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A 200 `ok` service, with or without the auth_token layer, for load tests.
#[derive(Debug, Parser)]
#[command(name = "authbench")]
struct Args {
    /// Put the auth_token layer in front (needs the Keystone options).
    #[arg(long)]
    layer: bool,
    /// Listen address (loopback; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Runtime worker threads, as `[gateway] worker_threads` (1: tokio's
    /// current-thread scheduler).
    #[arg(long, default_value_t = 1)]
    worker_threads: usize,
    #[command(flatten)]
    keystone: KeystoneArgs,
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("authbench: {message}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let layer = if args.layer {
        match args.keystone.layer() {
            Ok(layer) => Some(layer),
            Err(e) => return fail(e),
        }
    } else {
        None
    };
    let runtime = match heatgate::server::runtime(Some(args.worker_threads)) {
        Ok(r) => r,
        Err(e) => return fail(format!("cannot start the runtime: {e}")),
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(args.listen).await {
            Ok(l) => l,
            Err(e) => return fail(format!("cannot listen on {}: {e}", args.listen)),
        };
        let bound = listener.local_addr().unwrap_or(args.listen);
        println!("listening on http://{bound}");
        let _ = std::io::stdout().flush();
        let server = axum::serve(listener, app(layer)).with_graceful_shutdown(shutdown());
        match server.await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(format!("server failed: {e}")),
        }
    })
}

async fn shutdown() {
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
        () = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
