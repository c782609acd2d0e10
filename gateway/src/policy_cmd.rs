//! `heatgate policy ...`: the policy auditor. A thin clap wrapper over
//! `heatgate_policy::audit::cli`, which does the work and renders the output.
//!
//! Exit codes: 0 ok, 1 findings or denied, 2 usage or configuration error.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use heatgate_policy::audit::cli::{self, Sources};
use heatgate_policy::audit::{Format, Report};
use heatgate_policy::heat::Profile;

/// Output format of the auditor.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum OutputFormat {
    /// Human-readable text.
    Text,
    /// JSON.
    Json,
}

impl From<OutputFormat> for Format {
    fn from(f: OutputFormat) -> Format {
        match f {
            OutputFormat::Text => Format::Text,
            OutputFormat::Json => Format::Json,
        }
    }
}

/// Built-in defaults a policy file is layered on.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ProfileArg {
    /// openstack-heat 27 policy-in-code defaults.
    Modern,
    /// Heat 9.0.0 (Pike) policy.json.
    Pike,
    /// No defaults: only the given files.
    None,
}

/// Which rules to audit.
#[derive(Debug, Clone, clap::Args)]
pub struct SourceArgs {
    /// Policy file (YAML or JSON) layered over the profile.
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// A policy_dirs directory (repeatable; files loaded sorted).
    #[arg(long = "policy-dir")]
    pub policy_dirs: Vec<PathBuf>,
    /// Built-in defaults.
    #[arg(long, value_enum, default_value = "modern")]
    pub profile: ProfileArg,
    /// oslo.policy's enforce_new_defaults.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub enforce_new_defaults: bool,
}

impl SourceArgs {
    fn sources(&self) -> Sources {
        Sources {
            profile: match self.profile {
                ProfileArg::Modern => Some(Profile::Modern),
                ProfileArg::Pike => Some(Profile::Pike),
                ProfileArg::None => None,
            },
            policy: self.policy.clone(),
            dirs: self.policy_dirs.clone(),
            enforce_new_defaults: self.enforce_new_defaults,
        }
    }
}

/// `heatgate policy` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum PolicyCommand {
    /// Evaluate every rule against a Keystone token, like oslopolicy-checker.
    Check {
        /// Policy file.
        #[arg(long)]
        policy: PathBuf,
        /// Keystone v3 token body (JSON).
        #[arg(long)]
        access: PathBuf,
        /// Only this rule.
        #[arg(long)]
        rule: Option<String>,
        /// Target (JSON; nested objects flattened to dotted keys).
        #[arg(long)]
        target: Option<PathBuf>,
        /// Set is_admin=True in the credentials.
        #[arg(long = "is_admin")]
        is_admin: bool,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: OutputFormat,
    },
    /// Parse errors, unknown or undefined rules, cycles, redundant, always-true/false rules.
    Lint {
        /// Rules to lint.
        #[command(flatten)]
        sources: SourceArgs,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: OutputFormat,
    },
    /// Show how a rule decides for a token, and which atoms decided.
    Explain {
        /// Rule name.
        rule: String,
        /// Keystone v3 token body (JSON).
        #[arg(long)]
        access: PathBuf,
        /// Target (JSON); default {"project_id": <token project>}.
        #[arg(long)]
        target: Option<PathBuf>,
        /// Rules.
        #[command(flatten)]
        sources: SourceArgs,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: OutputFormat,
    },
    /// The minimal sets of roles and conditions that pass a rule.
    WhoCan {
        /// Rule name.
        rule: String,
        /// Rules.
        #[command(flatten)]
        sources: SourceArgs,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: OutputFormat,
    },
    /// Every rule whose decision changes between two policy files, with a witness.
    Diff {
        /// Policy file A.
        a: PathBuf,
        /// Policy file B.
        b: PathBuf,
        /// Built-in defaults under both files.
        #[arg(long, value_enum, default_value = "modern")]
        profile: ProfileArg,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: OutputFormat,
    },
    /// The effective merged policy, like oslopolicy-policy-generator.
    Dump {
        /// Rules.
        #[command(flatten)]
        sources: SourceArgs,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: OutputFormat,
    },
}

/// Runs a policy subcommand, printing its report.
pub fn run(cmd: PolicyCommand) -> ExitCode {
    let report: Report = match cmd {
        PolicyCommand::Check {
            policy,
            access,
            rule,
            target,
            is_admin,
            format,
        } => cli::run_check(
            &policy,
            &access,
            rule.as_deref(),
            target.as_deref(),
            is_admin,
            format.into(),
        ),
        PolicyCommand::Lint { sources, format } => cli::run_lint(&sources.sources(), format.into()),
        PolicyCommand::Explain {
            rule,
            access,
            target,
            sources,
            format,
        } => cli::run_explain(
            &sources.sources(),
            &rule,
            &access,
            target.as_deref(),
            format.into(),
        ),
        PolicyCommand::WhoCan {
            rule,
            sources,
            format,
        } => cli::run_who_can(&sources.sources(), &rule, format.into()),
        PolicyCommand::Diff {
            a,
            b,
            profile,
            format,
        } => {
            let base = SourceArgs {
                policy: None,
                policy_dirs: Vec::new(),
                profile,
                enforce_new_defaults: true,
            };
            cli::run_diff(&base.sources(), &a, &b, format.into())
        }
        PolicyCommand::Dump { sources, format } => cli::run_dump(&sources.sources(), format.into()),
    };
    if report.exit == 2 {
        let _ = std::io::stderr().write_all(report.text.as_bytes());
    } else {
        let _ = std::io::stdout().write_all(report.text.as_bytes());
    }
    ExitCode::from(report.exit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: PolicyCommand,
    }

    #[test]
    fn subcommands_parse_and_run() {
        let who =
            Cli::try_parse_from(["policy", "who-can", "stacks:index", "--format", "json"]).unwrap();
        assert_eq!(run(who.cmd), ExitCode::SUCCESS);
        let lint = Cli::try_parse_from(["policy", "lint", "--profile", "pike"]).unwrap();
        assert_eq!(run(lint.cmd), ExitCode::SUCCESS);
        let missing =
            Cli::try_parse_from(["policy", "dump", "--policy", "/nonexistent/policy.yaml"])
                .unwrap();
        assert_eq!(run(missing.cmd), ExitCode::from(2));
        assert!(Cli::try_parse_from(["policy", "check", "--policy", "p"]).is_err());
    }
}
