//! Prints the mean time of one `enforce` over Heat's rules x the persona
//! matrix, as JSON (used by benches/policy_vs_oslo.py; the criterion bench
//! in benches/benches/policy.rs is the reference measurement).
//!
//! cargo run --release -p heatgate-policy --example enforce_timing [modern|pike]

use std::hint::black_box;
use std::time::Instant;

use heatgate_policy::heat::{self, Profile};
use heatgate_policy::{Credentials, Enforcer, Target};

fn main() {
    let profile = std::env::args()
        .nth(1)
        .and_then(|p| Profile::from_name(&p))
        .unwrap_or(Profile::Modern);
    let enforcer = heat::enforcer(profile, true);
    let base = |roles: &[&str]| {
        Credentials::builder()
            .user_id("u1")
            .project_id("p-owner")
            .roles(roles.iter().copied())
    };
    let people = vec![
        base(&["admin", "member", "reader"]).is_admin(true).build(),
        base(&["member", "reader"]).is_admin(false).build(),
        base(&["reader"]).is_admin(false).build(),
        base(&["heat_stack_user"]).is_admin(false).build(),
        Credentials::builder()
            .user_id("su")
            .project_id("p-other")
            .roles(["heat_stack_user"])
            .is_admin(false)
            .build(),
        base(&[]).is_admin(false).build(),
        Credentials::builder()
            .user_id("sys")
            .system_scope("all")
            .roles(["reader"])
            .is_admin(false)
            .build(),
    ];
    let rules: Vec<String> = enforcer
        .rule_names()
        .filter(|r| r.contains(':'))
        .map(String::from)
        .collect();
    let target = Target::new().with("project_id", "p-owner");
    let checks = rules.len() * people.len();
    let run = |n: usize| {
        let mut allowed = 0usize;
        for _ in 0..n {
            for r in &rules {
                for p in &people {
                    if let Ok(true) =
                        enforcer.enforce(black_box(r), black_box(&target), black_box(p))
                    {
                        allowed += 1;
                    }
                }
            }
        }
        allowed
    };
    run(200); // warm up
    let rounds = 2000;
    let t = Instant::now();
    let allowed = run(rounds);
    let per_check = t.elapsed().as_nanos() as f64 / (rounds * checks) as f64;
    let t = Instant::now();
    let loads = 200;
    for _ in 0..loads {
        black_box(Enforcer::new(heat::rule_set(profile, true)));
    }
    let load_us = t.elapsed().as_secs_f64() * 1e6 / loads as f64;
    println!(
        "{{\"profile\": \"{}\", \"rules\": {}, \"personas\": {}, \"checks_per_round\": {checks}, \"allowed_per_round\": {}, \"ns_per_check\": {per_check:.1}, \"load_compile_us\": {load_us:.1}}}",
        profile.name(),
        rules.len(),
        people.len(),
        allowed / rounds
    );
}
