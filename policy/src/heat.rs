//! Heat's policies, built in.
//!
//! * [`Profile::Modern`]: every rule of openstack-heat 27's `heat` policy
//!   namespace as registered defaults (scope types, deprecated rules), i.e.
//!   what `oslopolicy-policy-generator --namespace heat` prints.
//! * [`Profile::Pike`]: Heat 9.0.0's `etc/heat/policy.json`, the legacy
//!   file-only policy (no in-code defaults, no scopes).
//!
//! Heat's enforcer uses `"!"` as its default rule: unknown actions are denied.
//!
//! ```
//! use heatgate_policy::heat::{self, Profile};
//! use heatgate_policy::{Credentials, Target};
//!
//! let enforcer = heat::enforcer(Profile::Modern, true);
//! let reader = Credentials::builder().project_id("p1").roles(["reader"]).build();
//! let t = Target::new().with("project_id", "p1");
//! assert!(enforcer.enforce("stacks:index", &t, &reader).unwrap());
//! assert!(!enforcer.enforce("stacks:create", &t, &reader).unwrap());
//!
//! let pike = heat::enforcer(Profile::Pike, true);
//! let stack_user = Credentials::builder().project_id("p1").roles(["heat_stack_user"]).build();
//! assert!(pike.enforce("resource:signal", &t, &stack_user).unwrap());
//! assert!(!pike.enforce("stacks:index", &t, &stack_user).unwrap());
//! ```

use std::sync::OnceLock;

use crate::enforcer::Enforcer;
use crate::ruleset::{DefaultRule, RuleDefault, RuleSet};

/// The JSON dump of Heat 27's registered defaults (generated from heat.policies).
pub const HEAT_DEFAULTS_JSON: &str = include_str!("../data/heat-defaults.json");

/// Heat 9.0.0 (Pike) `etc/heat/policy.json`.
pub const PIKE_POLICY_JSON: &str = include_str!("../data/heat-pike-policy.json");

/// A named set of Heat rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    /// openstack-heat 27 policy-in-code defaults.
    Modern,
    /// Heat 9.0.0 (Pike) policy.json.
    Pike,
}

impl Profile {
    /// Parses `modern` / `pike` (also `heat`, `heat-27`, `heat-pike`).
    pub fn from_name(name: &str) -> Option<Profile> {
        match name {
            "modern" | "heat" | "heat-27" => Some(Profile::Modern),
            "pike" | "heat-pike" | "legacy" => Some(Profile::Pike),
            _ => None,
        }
    }

    /// The canonical name.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Modern => "modern",
            Profile::Pike => "pike",
        }
    }
}

#[derive(serde::Deserialize)]
struct Dump {
    rules: Vec<RuleDefault>,
}

/// Heat 27's registered defaults (parsed once).
pub fn modern_defaults() -> &'static [RuleDefault] {
    static CELL: OnceLock<Vec<RuleDefault>> = OnceLock::new();
    CELL.get_or_init(|| {
        serde_json::from_str::<Dump>(HEAT_DEFAULTS_JSON)
            .map(|d| d.rules)
            .unwrap_or_default()
    })
}

/// The rule set of a profile, with Heat's default rule (`"!"`).
pub fn rule_set(profile: Profile, enforce_new_defaults: bool) -> RuleSet {
    let base = RuleSet::new()
        .with_default_rule(DefaultRule::Check("!".into()))
        .with_enforce_new_defaults(enforce_new_defaults);
    match profile {
        Profile::Modern => base.with_defaults(modern_defaults().iter().cloned()),
        Profile::Pike => match base
            .clone()
            .with_file_text("heat-pike/policy.json", PIKE_POLICY_JSON)
        {
            Ok(rs) => rs,
            Err(_) => base,
        },
    }
}

/// A compiled enforcer for a profile.
pub fn enforcer(profile: Profile, enforce_new_defaults: bool) -> Enforcer {
    Enforcer::new(rule_set(profile, enforce_new_defaults))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modern_defaults_are_complete() {
        let d = modern_defaults();
        assert_eq!(d.len(), 100);
        let idx = d.iter().find(|r| r.name == "stacks:index").unwrap();
        assert_eq!(idx.check_str, "role:reader and project_id:%(project_id)s");
        assert_eq!(
            idx.scope_types.as_deref(),
            Some(&["project".to_string()][..])
        );
        assert_eq!(
            idx.deprecated_rule.as_ref().unwrap().check_str,
            "rule:deny_stack_user"
        );
        let e = enforcer(Profile::Modern, true);
        assert!(e.diagnostics().is_empty(), "{:?}", e.diagnostics());
    }

    #[test]
    fn pike_profile_loads() {
        let e = enforcer(Profile::Pike, true);
        assert!(e.contains("cloudwatch:PutMetricData"));
        assert!(e.contains("resource_types:OS::Keystone::*"));
        assert!(e.diagnostics().is_empty());
    }
}
