//! `heatgate policy check` output against the real oslopolicy-checker on the
//! same policy files, tokens and targets: byte-for-byte identical.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use heatgate_policy::audit::{cli, dump, Format};
use heatgate_policy::heat::{self, Profile, PIKE_POLICY_JSON};

fn checker() -> PathBuf {
    let py = common::oracle_python();
    let bin = py
        .parent()
        .map(|d| d.join("oslopolicy-checker"))
        .unwrap_or_default();
    assert!(
        bin.exists(),
        "{} missing: run `scripts/oracles install`",
        bin.display()
    );
    bin
}

fn token(user: &str, project: Option<&str>, roles: &[&str], system: bool) -> String {
    let roles: Vec<serde_json::Value> = roles
        .iter()
        .enumerate()
        .map(|(i, r)| serde_json::json!({"id": format!("r{i}"), "name": r}))
        .collect();
    let mut t = serde_json::json!({
        "methods": ["password"],
        "user": {"id": user, "name": user, "domain": {"id": "default", "name": "Default"}},
        "roles": roles,
        "expires_at": "2030-01-01T00:00:00.000000Z",
        "issued_at": "2029-12-31T00:00:00.000000Z",
        "audit_ids": ["abc"],
        "is_domain": false,
    });
    if let Some(p) = project {
        t["project"] =
            serde_json::json!({"id": p, "name": p, "domain": {"id": "default", "name": "Default"}});
    }
    if system {
        t["system"] = serde_json::json!({"all": true});
    }
    serde_json::json!({"token": t}).to_string()
}

struct Case {
    name: &'static str,
    policy: String,
    access: String,
    rule: Option<&'static str>,
    target: Option<String>,
    is_admin: bool,
}

fn run_both(dir: &Path, c: &Case) {
    let policy = dir.join(format!("{}-policy.yaml", c.name));
    let access = dir.join(format!("{}-token.json", c.name));
    std::fs::write(&policy, &c.policy).unwrap();
    std::fs::write(&access, &c.access).unwrap();
    let target = c.target.as_ref().map(|t| {
        let p = dir.join(format!("{}-target.json", c.name));
        std::fs::write(&p, t).unwrap();
        p
    });
    let mut cmd = Command::new(checker());
    cmd.arg("--policy")
        .arg(&policy)
        .arg("--access")
        .arg(&access);
    if let Some(r) = c.rule {
        cmd.arg("--rule").arg(r);
    }
    if let Some(t) = &target {
        cmd.arg("--target").arg(t);
    }
    if c.is_admin {
        cmd.arg("--is_admin");
    }
    let out = cmd.output().expect("run oslopolicy-checker");
    assert!(
        out.status.success(),
        "{}: oslopolicy-checker failed: {}",
        c.name,
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs = String::from_utf8(out.stdout).unwrap();
    let ours = cli::run_check(
        &policy,
        &access,
        c.rule,
        target.as_deref(),
        c.is_admin,
        Format::Text,
    );
    assert!(!theirs.is_empty(), "{}: no output", c.name);
    if ours.text != theirs {
        let a: Vec<&str> = ours.text.lines().collect();
        let b: Vec<&str> = theirs.lines().collect();
        for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
            if x != y {
                panic!(
                    "{}: line {} differs:\n  ours: {x}\n  oslo: {y}",
                    c.name,
                    i + 1
                );
            }
        }
        panic!("{}: {} lines vs {} lines", c.name, a.len(), b.len());
    }
    let passed = theirs.lines().filter(|l| l.starts_with("passed: ")).count();
    println!(
        "{}: {} lines identical ({} passed)",
        c.name,
        theirs.lines().count(),
        passed
    );
}

#[test]
fn check_output_matches_oslopolicy_checker() {
    let dir = std::env::temp_dir().join(format!("heatgate-checker-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let modern = dump::dump(&heat::rule_set(Profile::Modern, true), Format::Text).text;
    let custom = r#"{
        "default": "role:admin",
        "a:list": [["role:member", "project_id:%(project_id)s"], ["role:admin"]],
        "a:bad": "role:member or",
        "a:noatom": "foo or role:member",
        "a:generic": "is_admin:True or user.domain.id:default",
        "a:literal": "'member':%(project_id)s",
        "a:typeerror": "user_id.x:1",
        "a:remote": "http://127.0.0.1:1/check",
        "a:nested_target": "project_id:%(stack.project)s",
        "a:missing_ref": "rule:nope",
        "a:case": "ROLE:member or Role:Member or role:MEMBER",
        "a:not": "not role:heat_stack_user and not (role:admin or role:reader)",
        "a:quoted": "'role:member'",
        "plain": "@"
    }"#;
    let cases = [
        Case {
            name: "modern-member",
            policy: modern.clone(),
            access: token("u1", Some("p1"), &["member", "reader"], false),
            rule: None,
            target: None,
            is_admin: false,
        },
        Case {
            name: "modern-reader-other-target",
            policy: modern.clone(),
            access: token("u1", Some("p1"), &["reader"], false),
            rule: None,
            target: Some(r#"{"project_id": "p2"}"#.into()),
            is_admin: false,
        },
        Case {
            name: "modern-admin",
            policy: modern.clone(),
            access: token("adm", Some("p1"), &["admin"], false),
            rule: None,
            target: None,
            is_admin: true,
        },
        Case {
            name: "pike-stack-user",
            policy: PIKE_POLICY_JSON.into(),
            access: token("su", Some("p9"), &["heat_stack_user"], false),
            rule: None,
            target: None,
            is_admin: false,
        },
        Case {
            name: "pike-no-roles",
            policy: PIKE_POLICY_JSON.into(),
            access: token("nobody", Some("p1"), &[], false),
            rule: None,
            target: None,
            is_admin: false,
        },
        Case {
            name: "pike-system-reader",
            policy: PIKE_POLICY_JSON.into(),
            access: token("sys", None, &["reader"], true),
            rule: None,
            target: None,
            is_admin: false,
        },
        Case {
            name: "custom-member",
            policy: custom.into(),
            access: token("u1", Some("p1"), &["Member"], false),
            rule: None,
            target: Some(r#"{"project_id": "p1", "stack": {"project": "p1"}}"#.into()),
            is_admin: false,
        },
        Case {
            name: "custom-one-rule",
            policy: custom.into(),
            access: token("u1", Some("p1"), &["admin"], false),
            rule: Some("a:list"),
            target: None,
            is_admin: false,
        },
        Case {
            name: "custom-undefined-rule-uses-default",
            policy: custom.into(),
            access: token("u1", Some("p1"), &["admin"], false),
            rule: Some("x:undefined"),
            target: None,
            is_admin: false,
        },
    ];
    for c in &cases {
        run_both(&dir, c);
    }
    std::fs::remove_dir_all(&dir).ok();
}
