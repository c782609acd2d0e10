//! heatgate: OpenStack Heat's authentication and authorization model as a
//! gateway, a reverse proxy and an auditor CLI.
//!
//! Exit codes: 0 ok, 1 findings or denied (policy tools), 2 usage or
//! configuration error (with a one-line reason).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use heatgate::demo::{self, DemoArgs};
use heatgate::engine_cmd::{self, EngineArgs};
use heatgate::policy_cmd::{self, PolicyCommand};
use heatgate::serve::{self, ServeArgs};
use heatgate::server::{self, ProxyArgs};

// A gateway allocates a little for every request (header maps, futures,
// buffers); mimalloc does that in about half the CPU of glibc's malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// OpenStack Heat's authentication and authorization, rebuilt as Tower layers.
#[derive(Debug, Parser)]
#[command(name = "heatgate", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway and the embedded engine (REST and CFN APIs).
    Serve(ServeArgs),
    /// Walk through the whole auth model on a local Keystone (installed and
    /// started through scripts/keystone), with real HTTP calls.
    Demo(DemoArgs),
    /// Put the authentication layers in front of any HTTP service (with
    /// `[engine] assertion_key`: the gateway of a separate `heatgate engine`).
    Proxy(ProxyArgs),
    /// Run the engine alone; it accepts only requests its gateway signed.
    Engine(EngineArgs),
    /// Audit policy files: check, lint, explain, who-can, diff, dump.
    Policy {
        /// What to do.
        #[command(subcommand)]
        command: PolicyCommand,
    },
}

fn main() -> ExitCode {
    heatgate::compose::install_panic_hook();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let usage_error = e.use_stderr();
            let _ = e.print();
            return if usage_error {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Command::Serve(args) => serve::run_serve(args),
        Command::Demo(args) => demo::run_demo(args),
        Command::Proxy(args) => server::run_proxy(args),
        Command::Engine(args) => engine_cmd::run_engine(args),
        Command::Policy { command } => policy_cmd::run(command),
    }
}
