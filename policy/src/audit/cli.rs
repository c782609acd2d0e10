//! File-level entry points for `heatgate policy ...`: read the files named on
//! the command line, run a tool, return the [`Report`] (the CLI only prints
//! it and exits with its code).

use std::path::{Path, PathBuf};

use super::{check, diff, dump, explain, lint, whocan, Format, Report};
use crate::creds::{Credentials, Target};
use crate::enforcer::Enforcer;
use crate::heat::{self, Profile};
use crate::py::PyValue;
use crate::ruleset::{DefaultRule, RuleSet};

/// Where a policy comes from.
#[derive(Debug, Clone)]
pub struct Sources {
    /// Built-in defaults to start from (`None`: no defaults).
    pub profile: Option<Profile>,
    /// A policy file (YAML or JSON).
    pub policy: Option<PathBuf>,
    /// policy_dirs.
    pub dirs: Vec<PathBuf>,
    /// `enforce_new_defaults`.
    pub enforce_new_defaults: bool,
}

impl Default for Sources {
    fn default() -> Self {
        Sources {
            profile: Some(Profile::Modern),
            policy: None,
            dirs: Vec::new(),
            enforce_new_defaults: true,
        }
    }
}

impl Sources {
    /// Reads everything into a rule set (Heat's default rule `"!"`).
    pub fn load(&self) -> Result<RuleSet, String> {
        let mut rs = match self.profile {
            Some(p) => heat::rule_set(p, self.enforce_new_defaults),
            None => RuleSet::new()
                .with_default_rule(DefaultRule::Check("!".into()))
                .with_enforce_new_defaults(self.enforce_new_defaults),
        };
        if let Some(p) = &self.policy {
            rs = rs.with_file(p).map_err(|e| e.to_string())?;
        }
        for d in &self.dirs {
            rs = rs.with_dir(d).map_err(|e| e.to_string())?;
        }
        Ok(rs)
    }
}

fn read(path: &Path, what: &str) -> Result<String, Report> {
    std::fs::read_to_string(path)
        .map_err(|e| Report::usage_error(format!("cannot read {what} {}: {e}", path.display())))
}

/// `check --policy F --access TOKEN.json [--rule R] [--target T.json] [--is_admin]`.
pub fn run_check(
    policy: &Path,
    access: &Path,
    rule: Option<&str>,
    target: Option<&Path>,
    is_admin: bool,
    format: Format,
) -> Report {
    let args = (|| -> Result<check::CheckArgs, Report> {
        Ok(check::CheckArgs {
            policy_text: read(policy, "policy file")?,
            policy_origin: policy.display().to_string(),
            access_text: read(access, "access file")?,
            rule: rule.map(String::from),
            target_text: match target {
                Some(t) => Some(read(t, "target file")?),
                None => None,
            },
            is_admin,
        })
    })();
    match args {
        Ok(a) => check::check(&a, format),
        Err(r) => r,
    }
}

/// Heat's credentials (`context.to_policy_values()` + `is_admin`) from a
/// Keystone v3 token body.
pub fn heat_credentials_from_token(
    token_text: &str,
    enforcer: &Enforcer,
) -> Result<Credentials, String> {
    let v = PyValue::from_json(token_text).map_err(|e| format!("access file: {e}"))?;
    let t = v.get("token").ok_or("access file: no 'token' object")?;
    let s = |v: Option<&PyValue>| match v {
        Some(PyValue::Str(s)) => Some(s.to_string()),
        _ => None,
    };
    let mut b = Credentials::builder();
    if let Some(u) = t.get("user") {
        if let Some(id) = s(u.get("id")) {
            b = b.user_id(id);
        }
        if let Some(d) = s(u.get("domain").and_then(|d| d.get("id"))) {
            b = b.user_domain_id(d);
        }
    }
    if let Some(p) = t.get("project").filter(|p| p.truthy()) {
        if let Some(id) = s(p.get("id")) {
            b = b.project_id(id);
        }
        if let Some(d) = s(p.get("domain").and_then(|d| d.get("id"))) {
            b = b.project_domain_id(d);
        }
    }
    if let Some(d) = t.get("domain").filter(|d| d.truthy()) {
        if let Some(id) = s(d.get("id")) {
            b = b.domain_id(id);
        }
    }
    if t.get("system").is_some_and(PyValue::truthy) {
        b = b.system_scope("all");
    }
    let roles: Vec<String> = match t.get("roles") {
        Some(PyValue::List(l)) => l.iter().filter_map(|r| s(r.get("name"))).collect(),
        _ => Vec::new(),
    };
    b = b.roles(roles);
    if let Some(PyValue::Bool(a)) = t.get("is_admin_project") {
        b = b.is_admin_project(*a);
    }
    let pre = b.clone().build();
    Ok(b.is_admin(enforcer.is_admin(&pre)).build())
}

fn target_or_project(target: Option<&Path>, creds: &Credentials) -> Result<Target, Report> {
    match target {
        Some(p) => Target::from_json_flattened(&read(p, "target file")?)
            .map_err(|e| Report::usage_error(format!("target file {}: {e}", p.display()))),
        None => Ok(match creds.get("project_id") {
            Some(v @ PyValue::Str(_)) => Target::new().with_value("project_id", v.clone()),
            _ => Target::new(),
        }),
    }
}

/// `explain RULE --access TOKEN.json [--target T.json]`.
pub fn run_explain(
    sources: &Sources,
    rule: &str,
    access: &Path,
    target: Option<&Path>,
    format: Format,
) -> Report {
    let rs = match sources.load() {
        Ok(rs) => rs,
        Err(e) => return Report::usage_error(e),
    };
    let enforcer = Enforcer::new(rs);
    let token = match read(access, "access file") {
        Ok(t) => t,
        Err(r) => return r,
    };
    let creds = match heat_credentials_from_token(&token, &enforcer) {
        Ok(c) => c,
        Err(e) => return Report::usage_error(e),
    };
    let target = match target_or_project(target, &creds) {
        Ok(t) => t,
        Err(r) => return r,
    };
    explain::explain(&enforcer, rule, &target, &creds, format)
}

/// `who-can RULE`.
pub fn run_who_can(sources: &Sources, rule: &str, format: Format) -> Report {
    match sources.load() {
        Ok(rs) => whocan::who_can(&Enforcer::new(rs), rule, format),
        Err(e) => Report::usage_error(e),
    }
}

/// `lint`.
pub fn run_lint(sources: &Sources, format: Format) -> Report {
    match sources.load() {
        Ok(rs) => lint::lint(&rs, format),
        Err(e) => Report::usage_error(e),
    }
}

/// `dump`.
pub fn run_dump(sources: &Sources, format: Format) -> Report {
    match sources.load() {
        Ok(rs) => dump::dump(&rs, format),
        Err(e) => Report::usage_error(e),
    }
}

/// `diff A B`: both files over the same profile defaults.
pub fn run_diff(base: &Sources, a: &Path, b: &Path, format: Format) -> Report {
    let load = |p: &Path| {
        Sources {
            policy: Some(p.to_path_buf()),
            ..base.clone()
        }
        .load()
    };
    match (load(a), load(b)) {
        (Ok(x), Ok(y)) => diff::diff(&x, &y, format),
        (Err(e), _) | (_, Err(e)) => Report::usage_error(e),
    }
}
