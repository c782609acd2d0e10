//! Every rule of Heat's built-in profiles over a persona matrix, decided by
//! this crate and by oslo.policy 6.0.1 with the real heat.policies defaults
//! (openstack-heat 27.0.1) or Heat 9.0.0's policy.json: 100% agreement.

mod common;

use common::run_oracle;
use heatgate_policy::heat::{self, Profile, PIKE_POLICY_JSON};
use heatgate_policy::{Credentials, Target};
use serde_json::{json, Value};

/// (name, credentials as Heat's context.to_policy_values() + is_admin)
fn personas() -> Vec<(&'static str, Credentials)> {
    let owner = "p-owner";
    let base = |roles: &[&str]| {
        Credentials::builder()
            .user_id("u1")
            .user_domain_id("default")
            .project_id(owner)
            .project_domain_id("default")
            .roles(roles.iter().copied())
    };
    vec![
        (
            "admin in admin project",
            base(&["admin", "member", "reader"]).is_admin(true).build(),
        ),
        (
            "admin outside the admin project",
            base(&["admin"])
                .is_admin_project(false)
                .is_admin(false)
                .build(),
        ),
        (
            "member",
            base(&["member", "reader"]).is_admin(false).build(),
        ),
        ("reader", base(&["reader"]).is_admin(false).build()),
        (
            "heat_stack_user in owner project",
            base(&["heat_stack_user"]).is_admin(false).build(),
        ),
        (
            "stack user of another project",
            Credentials::builder()
                .user_id("su")
                .project_id("p-stack-domain")
                .roles(["heat_stack_user"])
                .is_admin(false)
                .build(),
        ),
        ("no roles", base(&[]).is_admin(false).build()),
        (
            "system-scoped reader",
            Credentials::builder()
                .user_id("sys")
                .system_scope("all")
                .roles(["reader"])
                .is_admin(false)
                .build(),
        ),
        (
            "domain-scoped admin",
            Credentials::builder()
                .user_id("dom")
                .domain_id("d1")
                .roles(["admin"])
                .is_admin(false)
                .build(),
        ),
        (
            "Mixed-case Member",
            base(&["Member", "READER"]).is_admin(false).build(),
        ),
    ]
}

fn targets() -> Vec<Target> {
    vec![
        Target::new().with("project_id", "p-owner"),
        Target::new().with("project_id", "p-other"),
        // The CFN API regression: no target at all.
        Target::new(),
    ]
}

fn answer(r: Result<bool, heatgate_policy::EnforceError>) -> String {
    match r {
        Ok(true) => "T".into(),
        Ok(false) => "F".into(),
        Err(e) => format!("E:{}", e.python_class()),
    }
}

fn matrix(profile: Profile, enforce_new_defaults: bool) {
    let enforcer = heat::enforcer(profile, enforce_new_defaults);
    let spec = match profile {
        Profile::Modern => json!({"op": "ruleset", "id": 0, "files": [], "defaults": "heat",
                                  "default_rule": {"check": "!"}, "enforce_new_defaults": enforce_new_defaults}),
        Profile::Pike => {
            let file: Value = serde_json::from_str(PIKE_POLICY_JSON).expect("pike json");
            json!({"op": "ruleset", "id": 0, "files": [file], "defaults": [],
                   "default_rule": {"check": "!"}, "enforce_new_defaults": enforce_new_defaults})
        }
    };
    let mut lines = vec![spec.to_string()];
    let mut ours = vec!["ok".to_string()];
    let mut what = vec!["ruleset".to_string()];
    let mut names: Vec<String> = enforcer.rule_names().map(String::from).collect();
    names.push("stacks:not_a_rule".into());
    for (pname, creds) in personas() {
        for t in targets() {
            for rule in &names {
                let creds_json: Value = serde_json::from_str(&creds.to_json()).expect("creds");
                let target_json: Value =
                    serde_json::to_value(heatgate_policy::PyValue::Dict(t.pairs().to_vec()))
                        .expect("t");
                lines.push(json!({"op": "enforce", "rs": 0, "rule": rule, "target": target_json, "creds": creds_json}).to_string());
                ours.push(answer(enforcer.enforce(rule, &t, &creds)));
                what.push(format!("{profile:?} new_defaults={enforce_new_defaults} persona={pname:?} target={target_json} rule={rule}"));
            }
        }
    }
    let theirs = run_oracle("oslo_eval.py", &lines);
    let bad: Vec<usize> = (0..lines.len()).filter(|&i| ours[i] != theirs[i]).collect();
    for &i in bad.iter().take(10) {
        eprintln!(
            "DISAGREEMENT {}: ours {} oslo {}",
            what[i], ours[i], theirs[i]
        );
    }
    let allowed = ours.iter().filter(|a| *a == "T").count();
    println!("{profile:?} enforce_new_defaults={enforce_new_defaults}: {} decisions, {allowed} allowed, {} disagreements", lines.len() - 1, bad.len());
    assert!(allowed > 0);
    assert!(bad.is_empty(), "{} disagreements", bad.len());
}

#[test]
fn modern_defaults_agree_with_oslo() {
    matrix(Profile::Modern, true);
}

#[test]
fn modern_defaults_with_old_defaults_agree_with_oslo() {
    matrix(Profile::Modern, false);
}

#[test]
fn pike_policy_agrees_with_oslo() {
    matrix(Profile::Pike, true);
}

#[test]
fn embedded_heat_defaults_match_heat_policies() {
    let theirs = run_oracle(
        "oslo_eval.py",
        &[json!({"op": "heat_defaults"}).to_string()],
    );
    let theirs: Value = serde_json::from_str(&theirs[0]).expect("heat dump");
    let ours: Value = serde_json::from_str(heat::HEAT_DEFAULTS_JSON).expect("embedded dump");
    assert_eq!(
        ours, theirs,
        "policy/data/heat-defaults.json differs from heat.policies: regenerate it"
    );
}

#[test]
fn pike_stack_user_passes_exactly_six_rules() {
    let e = heat::enforcer(Profile::Pike, true);
    let su = Credentials::builder()
        .project_id("p")
        .roles(["heat_stack_user"])
        .build();
    let t = Target::new().with("project_id", "p");
    let passed: Vec<&str> = e
        .rule_names()
        .filter(|r| r.contains(':') && e.enforce(r, &t, &su).unwrap())
        .collect();
    assert_eq!(
        passed,
        [
            "cloudformation:DescribeStackResource",
            "cloudwatch:PutMetricData",
            "resource:metadata",
            "resource:signal",
            "software_deployments:metadata",
            "stacks:lookup"
        ]
    );
}
