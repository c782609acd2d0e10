//! `check`: oslopolicy-checker, line for line.
//!
//! Credentials are the `token` of a Keystone v3 token body with `roles`
//! reduced to names and `user_id`, `project_id`, `system_scope`, `is_admin`
//! added; rules come from one policy file whose default rule is `default`;
//! each rule whose name contains `:` is called directly (no scope check) and
//! printed as `passed: NAME`, `failed: NAME`, or, when it raises, the
//! exception text followed by `exception: <rule>`.

use serde_json::json;

use super::{Format, Report};
use crate::check::parse_rule_value;
use crate::creds::{Credentials, Target};
use crate::enforcer::{EnforceError, Enforcer};
use crate::py::PyValue;
use crate::remote::RemoteError;
use crate::ruleset::{parse_policy_text, DefaultRule, RuleSet};

/// Inputs of `check`.
#[derive(Debug, Clone, Default)]
pub struct CheckArgs {
    /// The policy file's text.
    pub policy_text: String,
    /// Name of the policy file (for messages).
    pub policy_origin: String,
    /// The access file's text (a Keystone v3 token body).
    pub access_text: String,
    /// Only this rule.
    pub rule: Option<String>,
    /// The target file's text (flattened to dotted keys).
    pub target_text: Option<String>,
    /// `--is_admin`.
    pub is_admin: bool,
}

fn dict_get<'a>(d: &'a PyValue, k: &str) -> Option<&'a PyValue> {
    d.get(k)
}

fn set(d: &mut Vec<(Box<str>, PyValue)>, k: &str, v: PyValue) {
    match d.iter_mut().find(|(k2, _)| &**k2 == k) {
        Some(slot) => slot.1 = v,
        None => d.push((k.into(), v)),
    }
}

/// Builds the checker's credentials from a token body.
pub fn access_credentials(access_text: &str, is_admin: bool) -> Result<Credentials, String> {
    let v = PyValue::from_json(access_text).map_err(|e| format!("access file: {e}"))?;
    let token = dict_get(&v, "token")
        .ok_or("access file: no 'token' object")?
        .clone();
    let PyValue::Dict(mut d) = token else {
        return Err("access file: 'token' is not an object".into());
    };
    let token_v = PyValue::Dict(d.clone());
    let roles = match dict_get(&token_v, "roles") {
        Some(PyValue::List(l)) => l
            .iter()
            .map(|r| {
                r.get("name")
                    .cloned()
                    .ok_or("access file: a role has no 'name'")
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err("access file: token has no 'roles' list".into()),
    };
    set(&mut d, "roles", PyValue::List(roles));
    let user_id = token_v
        .get("user")
        .and_then(|u| u.get("id"))
        .cloned()
        .ok_or("access file: token has no user id")?;
    set(&mut d, "user_id", user_id);
    if let Some(p) = token_v.get("project").filter(|p| p.truthy()) {
        let pid = p
            .get("id")
            .cloned()
            .ok_or("access file: project has no id")?;
        set(&mut d, "project_id", pid);
    }
    if token_v.get("system").is_some_and(PyValue::truthy) {
        set(&mut d, "system_scope", PyValue::Str("all".into()));
    }
    set(&mut d, "is_admin", PyValue::Bool(is_admin));
    Ok(Credentials::from_pairs_raw(d))
}

fn exception_text(e: &EnforceError) -> String {
    match e {
        // The checker's FakeEnforcer has no configuration for remote checks.
        EnforceError::Remote(RemoteError::NotConfigured(_)) => {
            "'NoneType' object has no attribute 'oslo_policy'".into()
        }
        EnforceError::Remote(r) => r.to_string(),
        EnforceError::Python(p) => p.message.clone(),
        other => other.to_string(),
    }
}

/// Runs the checker.
pub fn check(args: &CheckArgs, format: Format) -> Report {
    let file = match parse_policy_text(&args.policy_origin, &args.policy_text) {
        Ok(f) => f,
        Err(e) => return Report::usage_error(e),
    };
    let creds = match access_credentials(&args.access_text, args.is_admin) {
        Ok(c) => c,
        Err(e) => return Report::usage_error(e),
    };
    let target = match &args.target_text {
        Some(t) => match Target::from_json_flattened(t) {
            Ok(t) => t,
            Err(e) => return Report::usage_error(format!("target file: {e}")),
        },
        None => {
            let mut t = Target::new();
            if let Some(u) = creds.get("user_id") {
                t = t.with_value("user_id", u.clone());
            }
            if let Some(p) = creds.get("project_id") {
                t = t.with_value("project_id", p.clone());
            }
            t
        }
    };
    let texts: Vec<(String, String)> = file
        .rules
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                parse_rule_value(v)
                    .map(|p| p.check.to_string())
                    .unwrap_or_default(),
            )
        })
        .collect();
    let rs = RuleSet {
        files: vec![file],
        ..RuleSet::new()
    }
    .with_default_rule(DefaultRule::Name("default".into()));
    let enforcer = Enforcer::new(rs);
    let names: Vec<String> = match &args.rule {
        Some(r) => {
            if !enforcer.contains(r) && !enforcer.contains("default") {
                return Report::usage_error(format!(
                    "rule '{r}' is not defined and there is no 'default' rule"
                ));
            }
            vec![r.clone()]
        }
        None => enforcer
            .rule_names()
            .filter(|n| n.contains(':'))
            .map(String::from)
            .collect(),
    };
    let mut lines = Vec::new();
    let mut results = Vec::new();
    let mut all_passed = true;
    for name in &names {
        let (res, shown) = match enforcer.check_rule(name, &target, &creds) {
            Some(r) => (
                r,
                texts
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, t)| t.clone())
                    .unwrap_or_default(),
            ),
            None => {
                let d = enforcer
                    .effective()
                    .get("default")
                    .map(|r| r.check.to_string())
                    .unwrap_or_default();
                (
                    enforcer
                        .check_default(name, &target, &creds)
                        .unwrap_or(Ok(false)),
                    d,
                )
            }
        };
        match res {
            Ok(true) => {
                lines.push(format!("passed: {name}"));
                results.push(json!({"rule": name, "result": "passed"}));
            }
            Ok(false) => {
                all_passed = false;
                lines.push(format!("failed: {name}"));
                results.push(json!({"rule": name, "result": "failed"}));
            }
            Err(e) => {
                all_passed = false;
                let msg = exception_text(&e);
                lines.push(msg.clone());
                lines.push(format!("exception: {shown}"));
                results.push(json!({"rule": name, "result": "exception", "error": msg, "class": e.python_class()}));
            }
        }
    }
    let exit = if all_passed { 0 } else { 1 };
    match format {
        Format::Json => Report::json(&json!({"results": results}), exit),
        Format::Text => {
            let mut text = lines.join("\n");
            if !text.is_empty() {
                text.push('\n');
            }
            Report { text, exit }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = r#"{"token": {"user": {"id": "u1"}, "project": {"id": "p1"},
        "roles": [{"id": "r1", "name": "member"}], "methods": ["password"]}}"#;

    #[test]
    fn prints_like_oslopolicy_checker() {
        let args = CheckArgs {
            policy_text: r#"{"a:x": "role:member", "b:y": "role:admin", "plain": "@", "c:z": "project_id:%(project_id)s", "d:w": "user_id.x:1"}"#.into(),
            policy_origin: "p.json".into(),
            access_text: TOKEN.into(),
            ..CheckArgs::default()
        };
        let r = check(&args, Format::Text);
        assert_eq!(
            r.text,
            "passed: a:x\nfailed: b:y\npassed: c:z\nstring indices must be integers, not 'str'\nexception: user_id.x:1\n"
        );
        assert_eq!(r.exit, 1);
    }
}
