"""Batch oracle: oslo.policy's answers for cases read as JSON lines.

Each input line is one JSON object:

  {"op": "ruleset", "id": ID, "files": [{name: value}, ...],
   "defaults": [RuleDefault dicts] | "heat", "default_rule": null | {"name": N} | {"check": S},
   "enforce_new_defaults": bool}
      Declares a rule set. files[0] becomes policy_file, the rest files of one
      policy_dirs directory (loaded in order). "heat" registers the real
      heat.policies.list_rules().
  {"op": "enforce", "rs": ID, "rule": NAME, "target": {...}, "creds": {...}}
      -> "T", "F" or "E:<ExceptionClass>" (InvalidScope included).
  {"op": "parse", "value": RULE}
      -> str(oslo_policy._parser.parse_rule(value)) or "E:<ExceptionClass>".
  {"op": "heat_defaults"}
      -> the JSON dump of heat.policies (gen_heat_defaults.dump()).

One output line per input line, in order. http:/https: checks never leave the
process: requests.post is replaced by a fake whose answer depends on the URL
(see fake_post), mirrored by the Rust test's RemoteCheck.
"""
import json
import logging
import os
import sys
import tempfile
import warnings

import requests
from oslo_config import cfg
from oslo_policy import _external, _parser, policy

logging.disable(logging.CRITICAL)
warnings.simplefilter("ignore")
sys.setrecursionlimit(1000)


class FakeResponse:
    def __init__(self, text):
        self.text = text

    def close(self):
        pass


def fake_post(url, json=None, data=None, timeout=None, **kwargs):
    last = url.rstrip("/").rsplit("/", 1)[-1]
    if "/timeout" in url:
        raise requests.exceptions.Timeout("timeout")
    if "/connerr" in url:
        raise requests.exceptions.ConnectionError("refused")
    bodies = {"true": "True", "qtrue": '"True"', "false": "False", "lower": "true", "qqtrue": '""True""'}
    return FakeResponse(bodies.get(last, last))


_external.requests.post = fake_post

TMP = tempfile.mkdtemp(prefix="oslo-oracle-")
RULESETS = {}


def build_ruleset(spec):
    rid = spec["id"]
    d = os.path.join(TMP, str(rid))
    os.makedirs(d, exist_ok=True)
    files = spec.get("files") or []
    conf = cfg.ConfigOpts()
    conf([], project="oracle")
    policy_file = os.path.join(d, "policy.yaml")
    dirs = []
    if files:
        with open(policy_file, "w") as f:
            f.write(json.dumps(files[0]))
        if len(files) > 1:
            pd = os.path.join(d, "policy.d")
            os.makedirs(pd, exist_ok=True)
            for i, extra in enumerate(files[1:]):
                with open(os.path.join(pd, "%03d.yaml" % i), "w") as f:
                    f.write(json.dumps(extra))
            dirs = [pd]
    enf_kwargs = {}
    dr = spec.get("default_rule")
    policy.Enforcer(conf)  # registers the [oslo_policy] options
    conf.set_override("policy_file", policy_file, "oslo_policy")
    conf.set_override("policy_dirs", dirs, "oslo_policy")
    conf.set_override("enforce_new_defaults", bool(spec.get("enforce_new_defaults", True)), "oslo_policy")
    if dr is None:
        conf.set_override("policy_default_rule", "", "oslo_policy")
    elif "name" in dr:
        enf_kwargs["default_rule"] = dr["name"]
    else:
        enf_kwargs["default_rule"] = _parser.parse_rule(dr["check"])
    enforcer = policy.Enforcer(conf, **enf_kwargs)
    enforcer.suppress_deprecation_warnings = True
    enforcer.suppress_default_change_warnings = True
    defaults = spec.get("defaults") or []
    if defaults == "heat":
        import heat.policies
        enforcer.register_defaults(heat.policies.list_rules())
    else:
        for r in defaults:
            dep = r.get("deprecated_rule")
            kwargs = {}
            if dep:
                kwargs["deprecated_rule"] = policy.DeprecatedRule(
                    name=dep["name"], check_str=dep["check_str"],
                    deprecated_reason=dep.get("deprecated_reason") or "r",
                    deprecated_since=dep.get("deprecated_since") or "s")
            enforcer.register_default(policy.RuleDefault(
                r["name"], r["check_str"], scope_types=r.get("scope_types"), **kwargs))
    RULESETS[rid] = enforcer


def enforce(case):
    enforcer = RULESETS[case["rs"]]
    try:
        ok = enforcer.enforce(case["rule"], case["target"], case["creds"], do_raise=True)
    except policy.PolicyNotAuthorized:
        return "F"
    except policy.InvalidScope:
        return "E:InvalidScope"
    except requests.exceptions.ConnectionError:
        return "E:ConnectionError"
    except RecursionError:
        return "E:RecursionError"
    except TypeError as e:
        # inspect.getfullargspec turns a RecursionError (a rule cycle) into
        # TypeError('unsupported callable'); which frame hits the limit first is
        # a CPython detail, so report the cause.
        if str(e) == "unsupported callable" and isinstance(e.__cause__, RecursionError):
            return "E:RecursionError"
        return "E:TypeError"
    except Exception as e:  # noqa: BLE001 - the class is the answer
        return "E:" + type(e).__name__
    return "T" if ok else "F"


def parse(case):
    try:
        return str(_parser.parse_rule(case["value"]))
    except Exception as e:  # noqa: BLE001
        return "E:" + type(e).__name__


def main():
    out = sys.stdout
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        case = json.loads(line)
        op = case["op"]
        if op == "ruleset":
            try:
                build_ruleset(case)
                res = "ok"
            except Exception as e:  # noqa: BLE001
                res = "E:" + type(e).__name__
        elif op == "enforce":
            res = enforce(case)
        elif op == "parse":
            res = parse(case)
        elif op == "heat_defaults":
            sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
            import gen_heat_defaults
            res = json.dumps(gen_heat_defaults.dump())
        else:
            res = "E:UnknownOp"
        out.write(res + "\n")
    out.flush()


if __name__ == "__main__":
    main()
