#!/usr/bin/env python3
"""Heat's rules over the persona matrix: oslo.policy's Enforcer.enforce vs
heatgate-policy, side by side.

    scripts/oracles install
    .oracles/venv/bin/python benches/policy_vs_oslo.py [modern|pike]

Both sides run the same checks: every rule of the profile whose name contains
":" for each of 7 personas, target {"project_id": "p-owner"}, Heat's default
rule "!" (enforce with do_raise=False, as a boolean decision). The Rust figure
comes from `cargo run --release -p heatgate-policy --example enforce_timing`.
"""
import json
import logging
import os
import subprocess
import sys
import time
import warnings

from oslo_config import cfg
from oslo_policy import _parser, policy

logging.disable(logging.CRITICAL)
warnings.simplefilter("ignore")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def personas():
    def base(roles, is_admin=False):
        return {"user_id": "u1", "user_domain_id": None, "system_scope": None, "domain_id": None,
                "project_id": "p-owner", "project_domain_id": None, "roles": roles,
                "is_admin_project": True, "service_user_id": None, "service_user_domain_id": None,
                "service_project_id": None, "service_project_domain_id": None, "service_roles": [],
                "is_admin": is_admin}
    other = base(["heat_stack_user"])
    other.update(user_id="su", project_id="p-other")
    system = base(["reader"])
    system.update(user_id="sys", project_id=None, system_scope="all")
    return [base(["admin", "member", "reader"], True), base(["member", "reader"]), base(["reader"]),
            base(["heat_stack_user"]), other, base([]), system]


def oslo_enforcer(profile):
    conf = cfg.ConfigOpts()
    conf([], project="bench")
    policy.Enforcer(conf)
    if profile == "pike":
        path = os.path.join(ROOT, "policy/data/heat-pike-policy.json")
    else:
        path = "/nonexistent/policy.yaml"
    conf.set_override("policy_file", path, "oslo_policy")
    e = policy.Enforcer(conf, default_rule=_parser.parse_rule("!"))
    e.suppress_deprecation_warnings = True
    if profile == "modern":
        import heat.policies
        e.register_defaults(heat.policies.list_rules())
    e.load_rules()
    return e


def main():
    profile = sys.argv[1] if len(sys.argv) > 1 else "modern"
    e = oslo_enforcer(profile)
    rules = sorted(r for r in e.rules if ":" in r)
    people = personas()
    target = {"project_id": "p-owner"}
    checks = [(r, p) for r in rules for p in people]

    def run():
        allowed = 0
        for r, p in checks:
            try:
                if e.enforce(r, target, dict(p)):
                    allowed += 1
            except policy.InvalidScope:
                pass
        return allowed

    run()
    rounds = 20
    t0 = time.perf_counter()
    for _ in range(rounds):
        allowed = run()
    oslo_ns = (time.perf_counter() - t0) * 1e9 / (rounds * len(checks))

    out = subprocess.run(
        ["cargo", "run", "--quiet", "--release", "-p", "heatgate-policy", "--example", "enforce_timing", profile],
        cwd=ROOT, check=True, capture_output=True, text=True,
        env=dict(os.environ, CARGO_TARGET_DIR=os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))),
    )
    rust = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"profile: {profile}  rules: {len(rules)}  personas: {len(people)}  checks per round: {len(checks)}")
    print(f"oslo.policy 6.0.1 Enforcer.enforce: {oslo_ns / 1000:10.2f} us per check ({allowed} allowed per round)")
    print(f"heatgate-policy Enforcer::enforce:  {rust['ns_per_check'] / 1000:10.4f} us per check "
          f"({rust['allowed_per_round']} allowed per round)")
    print(f"ratio: {oslo_ns / rust['ns_per_check']:.0f}x")
    print(f"heatgate-policy load+compile of the {profile} policy: {rust['load_compile_us']:.1f} us")
    if allowed != rust["allowed_per_round"]:
        print("WARNING: the two sides allowed a different number of checks", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
