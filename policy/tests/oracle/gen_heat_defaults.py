"""Regenerate policy/data/heat-defaults.json from an installed openstack-heat.

    .oracles/venv/bin/python policy/tests/oracle/gen_heat_defaults.py > policy/data/heat-defaults.json

The file is checked in; the differential tests compare it with heat.policies
whenever openstack-heat is importable in the oracle environment.
"""
import json
import sys
from importlib.metadata import version

import heat.policies


def dump():
    out = []
    for r in heat.policies.list_rules():
        dep = r.deprecated_rule
        out.append({
            "name": r.name,
            "check_str": r.check_str,
            "description": r.description,
            "scope_types": r.scope_types,
            "deprecated_rule": None if dep is None else {
                "name": dep.name,
                "check_str": dep.check_str,
                "deprecated_reason": dep.deprecated_reason,
                "deprecated_since": dep.deprecated_since,
            },
            "deprecated_for_removal": r.deprecated_for_removal,
            "deprecated_reason": r.deprecated_reason,
            "deprecated_since": r.deprecated_since,
            "operations": list(getattr(r, "operations", None) or []),
        })
    return {"source": "openstack-heat " + version("openstack-heat"), "rules": out}


if __name__ == "__main__":
    json.dump(dump(), sys.stdout, indent=1, sort_keys=False)
    sys.stdout.write("\n")
