//! Log lines on stderr, as text or JSON (`[gateway] log_format`), filtered by
//! `RUST_LOG` (default `info`); text is coloured only on a terminal.
//!
//! In JSON, each line is one object with `timestamp`, `level`, `target`,
//! `fields` (the event's, `message` included), `span` (the innermost span's
//! fields) and `spans` (every enclosing span's): a request's lines carry its
//! `request_id` there. No layer logs headers, tokens, passwords or signatures
//! (end-to-end tests check the logs for them).

use std::io::IsTerminal;
use std::path::Path;

use tracing_subscriber::EnvFilter;

use crate::config::{Config, ConfigError, LogFormat};

/// Starts logging in `format` (once per process; later calls do nothing).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours for a terminal only: log files and collectors get plain text.
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Loads the configuration (file and `HEATGATE_*` environment) and starts
/// logging in its `log_format`. The configuration is read once without logging
/// to learn the format, then again with it, so that its own warnings (unknown
/// options) are written in that format too.
pub fn load_config_and_init(path: Option<&Path>) -> Result<Config, ConfigError> {
    load_layers_and_init(None, path)
}

/// [`load_config_and_init`] with a heat.conf under the TOML file (see
/// [`Config::load_layers`]).
pub fn load_layers_and_init(
    heat_conf: Option<&Path>,
    path: Option<&Path>,
) -> Result<Config, ConfigError> {
    let format =
        tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::new(), || {
            Config::load_layers(heat_conf, path, std::env::vars())
        })
        .map(|c| c.gateway.log_format)
        .unwrap_or_default();
    init(format);
    Config::load_layers(heat_conf, path, std::env::vars())
}
