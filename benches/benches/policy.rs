//! Policy enforcement: Heat's rules over the persona matrix, and loading +
//! compiling Heat's full policy. Compare with `benches/policy_vs_oslo.py`.
#![allow(missing_docs)] // criterion_main! generates an undocumented `main`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use heatgate_policy::heat::{self, Profile};
use heatgate_policy::{Credentials, Enforcer, Target};

fn personas() -> Vec<Credentials> {
    let base = |roles: &[&str]| {
        Credentials::builder()
            .user_id("u1")
            .project_id("p-owner")
            .roles(roles.iter().copied())
    };
    vec![
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
    ]
}

/// Every (rule, persona) pair, enforced once per iteration; reports per check.
fn matrix(c: &mut Criterion, name: &str, enforcer: &Enforcer) {
    let rules: Vec<String> = enforcer
        .rule_names()
        .filter(|r| r.contains(':'))
        .map(String::from)
        .collect();
    let people = personas();
    let target = Target::new().with("project_id", "p-owner");
    let checks = (rules.len() * people.len()) as u64;
    let mut g = c.benchmark_group(name);
    g.throughput(criterion::Throughput::Elements(checks));
    g.bench_function(format!("{checks} checks (rules x personas)"), |b| {
        b.iter(|| {
            let mut allowed = 0u32;
            for r in &rules {
                for p in &people {
                    if let Ok(true) =
                        enforcer.enforce(black_box(r), black_box(&target), black_box(p))
                    {
                        allowed += 1;
                    }
                }
            }
            allowed
        })
    });
    g.finish();
}

fn enforce(c: &mut Criterion) {
    matrix(
        c,
        "enforce/heat-modern",
        &heat::enforcer(Profile::Modern, true),
    );
    matrix(c, "enforce/heat-pike", &heat::enforcer(Profile::Pike, true));
    let e = heat::enforcer(Profile::Modern, true);
    let member = Credentials::builder()
        .project_id("p-owner")
        .roles(["member", "reader"])
        .build();
    let t = Target::new().with("project_id", "p-owner");
    c.bench_function("enforce/single stacks:create member", |b| {
        b.iter(|| {
            e.enforce(
                black_box("stacks:create"),
                black_box(&t),
                black_box(&member),
            )
        })
    });
}

fn load(c: &mut Criterion) {
    c.bench_function("load+compile/heat-modern (100 defaults)", |b| {
        b.iter(|| Enforcer::new(heat::rule_set(Profile::Modern, black_box(true))))
    });
    c.bench_function("load+compile/heat-pike (policy.json)", |b| {
        b.iter(|| Enforcer::new(heat::rule_set(Profile::Pike, black_box(true))))
    });
}

criterion_group!(benches, enforce, load);
criterion_main!(benches);
