//! The auditor: the library behind `heatgate policy ...`.
//!
//! Every tool returns a [`Report`]: the text to print (`--format text|json`)
//! and the exit code (0 ok, 1 findings or denied, 2 usage or configuration
//! error). The CLI is a thin wrapper that prints the report.
//!
//! ```
//! use heatgate_policy::audit::{self, Format};
//! use heatgate_policy::heat::{self, Profile};
//!
//! let enforcer = heat::enforcer(Profile::Modern, true);
//! let report = audit::whocan::who_can(&enforcer, "stacks:index", Format::Text);
//! assert_eq!(report.exit, 0);
//! assert!(report.text.contains("role:reader AND project_id:%(project_id)s"));
//! ```

pub mod check;
pub mod cli;
pub mod diff;
pub mod dump;
pub mod explain;
pub mod lint;
pub mod logic;
pub mod whocan;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Human-readable text (and, for `check`, oslopolicy-checker's lines).
    #[default]
    Text,
    /// One JSON document.
    Json,
}

impl Format {
    /// Parses `text` / `json`.
    pub fn from_name(s: &str) -> Option<Format> {
        match s {
            "text" => Some(Format::Text),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// What a tool prints and how the process should exit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Text for stdout (ends with a newline unless empty).
    pub text: String,
    /// 0 ok, 1 findings/denied, 2 usage or configuration error.
    pub exit: u8,
}

impl Report {
    /// A usage or configuration error: one line, exit 2.
    pub fn usage_error(reason: impl std::fmt::Display) -> Report {
        Report {
            text: format!("error: {reason}\n"),
            exit: 2,
        }
    }

    pub(crate) fn json(value: &serde_json::Value, exit: u8) -> Report {
        let mut text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "{}".into());
        text.push('\n');
        Report { text, exit }
    }
}
