//! Where rules come from: in-code defaults, a policy file, policy directories.
//!
//! Precedence follows oslo.policy's `load_rules`: the policy file replaces
//! every rule, each file of each `policy_dirs` entry (sorted, dotfiles skipped)
//! updates them, and registered defaults fill the names still missing (with
//! deprecated rules merged per `enforce_new_defaults`).
//!
//! ```
//! use heatgate_policy::{DefaultRule, RuleDefault, RuleSet};
//!
//! let rules = RuleSet::new()
//!     .with_defaults([RuleDefault::new("stacks:index", "role:reader")])
//!     .with_file_text("override.yaml", "stacks:index: role:admin\n")
//!     .unwrap()
//!     .with_default_rule(DefaultRule::Check("!".into()));
//! let effective = rules.effective();
//! assert_eq!(effective.get("stacks:index").unwrap().text, "role:admin");
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::check::{parse_rule_value, parse_text_rule, Check, ParseIssue};
use crate::py::PyValue;

/// An operation a documented default protects (`# METHOD path` in samples).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    /// HTTP method.
    pub method: String,
    /// URL path template.
    pub path: String,
}

/// The rule a default replaces (`oslo_policy.policy.DeprecatedRule`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeprecatedRule {
    /// The old name (often the same as the new one).
    pub name: String,
    /// The old check string.
    pub check_str: String,
    /// Why it was deprecated.
    #[serde(default)]
    pub deprecated_reason: Option<String>,
    /// Release that deprecated it.
    #[serde(default)]
    pub deprecated_since: Option<String>,
}

/// A rule registered in code (`oslo_policy.policy.RuleDefault`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleDefault {
    /// Rule name.
    pub name: String,
    /// Check string in the policy language.
    pub check_str: String,
    /// Description for operators.
    #[serde(default)]
    pub description: Option<String>,
    /// Token scopes allowed (`None`: no scope check).
    #[serde(default)]
    pub scope_types: Option<Vec<String>>,
    /// The rule this one replaces.
    #[serde(default)]
    pub deprecated_rule: Option<DeprecatedRule>,
    /// Planned for removal.
    #[serde(default)]
    pub deprecated_for_removal: bool,
    /// Why (when deprecated for removal).
    #[serde(default)]
    pub deprecated_reason: Option<String>,
    /// Since when (when deprecated for removal).
    #[serde(default)]
    pub deprecated_since: Option<String>,
    /// API operations it protects.
    #[serde(default)]
    pub operations: Vec<Operation>,
}

impl RuleDefault {
    /// A plain default with a name and a check string.
    pub fn new(name: impl Into<String>, check_str: impl Into<String>) -> RuleDefault {
        RuleDefault {
            name: name.into(),
            check_str: check_str.into(),
            description: None,
            scope_types: None,
            deprecated_rule: None,
            deprecated_for_removal: false,
            deprecated_reason: None,
            deprecated_since: None,
            operations: Vec::new(),
        }
    }

    /// Sets the scope types.
    pub fn with_scope_types<I, S>(mut self, scopes: I) -> RuleDefault
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scope_types = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Sets the deprecated rule this default replaces.
    pub fn with_deprecated(
        mut self,
        name: impl Into<String>,
        check_str: impl Into<String>,
    ) -> RuleDefault {
        self.deprecated_rule = Some(DeprecatedRule {
            name: name.into(),
            check_str: check_str.into(),
            deprecated_reason: None,
            deprecated_since: None,
        });
        self
    }
}

/// What a name that is not defined resolves to (`Rules.default_rule`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum DefaultRule {
    /// No default: unknown names are False.
    #[default]
    None,
    /// The name of another rule (oslo's `policy_default_rule`, "default").
    Name(String),
    /// A check string used directly (Heat passes `FalseCheck`, i.e. `"!"`).
    Check(String),
}

/// One policy file's rules, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyFile {
    /// Where it came from (a path or a label).
    pub origin: String,
    /// Rules as written (strings or legacy lists).
    pub rules: Vec<(String, PyValue)>,
}

/// A configuration problem: the file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read.
    #[error("{path}: {message}")]
    Io {
        /// File.
        path: String,
        /// OS error.
        message: String,
    },
    /// The YAML/JSON is malformed or not a mapping of rules.
    #[error("{path}: {message}")]
    Malformed {
        /// File.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A `policy_dirs` entry is not a directory.
    #[error("{0} is not a directory")]
    NotADirectory(String),
}

/// Parses policy file text (YAML; JSON is accepted as YAML).
pub fn parse_policy_text(origin: &str, text: &str) -> Result<PolicyFile, LoadError> {
    let malformed = |message: String| LoadError::Malformed {
        path: origin.to_string(),
        message,
    };
    let value: PyValue = if text.trim().is_empty() {
        PyValue::None
    } else {
        match serde_yaml::from_str::<PyValue>(text) {
            Ok(v) => v,
            Err(e) => {
                // A JSON document that YAML rejects (e.g. tabs) is still a policy file.
                serde_json::from_str::<PyValue>(text).map_err(|_| malformed(e.to_string()))?
            }
        }
    };
    let rules = match value {
        PyValue::None => Vec::new(),
        v if !v.truthy() && !matches!(v, PyValue::Dict(_)) => Vec::new(),
        PyValue::Dict(d) => {
            let mut out: Vec<(String, PyValue)> = Vec::new();
            for (k, v) in d {
                if let PyValue::List(_) | PyValue::Dict(_) | PyValue::Str(_) | PyValue::None = v {
                } else if v.truthy() {
                    return Err(malformed(format!(
                        "rule '{k}' has a {} value; expected a string or a list",
                        v.type_name()
                    )));
                }
                if let Err(e) = parse_rule_value(&v) {
                    return Err(malformed(format!("rule '{k}': {e}")));
                }
                match out.iter_mut().find(|(k2, _)| **k2 == *k) {
                    Some(slot) => slot.1 = v,
                    None => out.push((k.to_string(), v)),
                }
            }
            out
        }
        other => {
            return Err(malformed(format!(
                "expected a mapping of rule names, found {}",
                other.type_name()
            )))
        }
    };
    Ok(PolicyFile {
        origin: origin.to_string(),
        rules,
    })
}

/// Reads and parses one policy file.
pub fn load_policy_file(path: &Path) -> Result<PolicyFile, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|e| LoadError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    parse_policy_text(&path.display().to_string(), &text)
}

/// The files of a policy directory in load order (sorted, no dotfiles, no subdirectories).
pub fn policy_dir_files(dir: &Path) -> Result<Vec<PathBuf>, LoadError> {
    if !dir.is_dir() {
        return Err(LoadError::NotADirectory(dir.display().to_string()));
    }
    let rd = std::fs::read_dir(dir).map_err(|e| LoadError::Io {
        path: dir.display().to_string(),
        message: e.to_string(),
    })?;
    let mut names: Vec<String> = Vec::new();
    for entry in rd.flatten() {
        let is_file = entry.file_type().map(|t| !t.is_dir()).unwrap_or(false);
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_file && !name.starts_with('.') {
            names.push(name);
        }
    }
    names.sort();
    Ok(names.into_iter().map(|n| dir.join(n)).collect())
}

/// Where an effective rule came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleOrigin {
    /// A registered default.
    Default,
    /// A registered default merged with its deprecated check (`enforce_new_defaults = false`).
    DefaultOrDeprecated,
    /// A deprecated name's override carried to the new name.
    DeprecatedOverride(String),
    /// A policy file (path or label).
    File(String),
}

/// One effective rule after merging.
#[derive(Debug, Clone, PartialEq)]
pub struct EffectiveRule {
    /// Rule name.
    pub name: String,
    /// The rule's text as written (list rules are printed as JSON).
    pub text: String,
    /// The parsed check.
    pub check: Check,
    /// Findings from the parser.
    pub issues: Vec<ParseIssue>,
    /// Scope types of the registered default of that name.
    pub scope_types: Option<Vec<String>>,
    /// Whether a default of that name is registered (scope checks apply only then).
    pub registered: bool,
    /// Where it came from.
    pub origin: RuleOrigin,
}

/// The merged rules, by name.
#[derive(Debug, Clone, Default)]
pub struct Effective {
    /// Rules by name (sorted).
    pub rules: BTreeMap<String, EffectiveRule>,
}

impl Effective {
    /// A rule by name.
    pub fn get(&self, name: &str) -> Option<&EffectiveRule> {
        self.rules.get(name)
    }
}

/// Inputs to an [`Enforcer`](crate::Enforcer): defaults, files, options.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    /// Registered in-code defaults.
    pub defaults: Vec<RuleDefault>,
    /// Policy files, the policy file first, then each policy_dirs file.
    pub files: Vec<PolicyFile>,
    /// What unknown names resolve to.
    pub default_rule: DefaultRule,
    /// oslo's `enforce_new_defaults` (default true).
    pub enforce_new_defaults: bool,
}

/// Text of a file rule value (list rules as JSON).
pub fn value_text(v: &PyValue) -> String {
    match v {
        PyValue::Str(s) => s.to_string(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

impl RuleSet {
    /// An empty set: no defaults, no files, no default rule, new defaults enforced.
    pub fn new() -> RuleSet {
        RuleSet {
            enforce_new_defaults: true,
            ..RuleSet::default()
        }
    }

    /// Adds registered defaults.
    pub fn with_defaults(mut self, defaults: impl IntoIterator<Item = RuleDefault>) -> RuleSet {
        self.defaults.extend(defaults);
        self
    }

    /// Adds a policy file given as text.
    pub fn with_file_text(mut self, origin: &str, text: &str) -> Result<RuleSet, LoadError> {
        self.files.push(parse_policy_text(origin, text)?);
        Ok(self)
    }

    /// Adds a policy file from disk.
    pub fn with_file(mut self, path: &Path) -> Result<RuleSet, LoadError> {
        self.files.push(load_policy_file(path)?);
        Ok(self)
    }

    /// Adds every file of a policy directory, sorted.
    pub fn with_dir(mut self, dir: &Path) -> Result<RuleSet, LoadError> {
        for f in policy_dir_files(dir)? {
            self.files.push(load_policy_file(&f)?);
        }
        Ok(self)
    }

    /// Adds rules given as (name, check string) pairs, as one file.
    pub fn with_rules<I, K, V>(mut self, origin: &str, rules: I) -> RuleSet
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.files.push(PolicyFile {
            origin: origin.to_string(),
            rules: rules
                .into_iter()
                .map(|(k, v)| (k.into(), PyValue::Str(v.into().into())))
                .collect(),
        });
        self
    }

    /// Sets the default rule.
    pub fn with_default_rule(mut self, d: DefaultRule) -> RuleSet {
        self.default_rule = d;
        self
    }

    /// Sets `enforce_new_defaults`.
    pub fn with_enforce_new_defaults(mut self, v: bool) -> RuleSet {
        self.enforce_new_defaults = v;
        self
    }

    /// Merges everything into the effective rules, as oslo's `load_rules` does.
    pub fn effective(&self) -> Effective {
        let mut rules: BTreeMap<String, EffectiveRule> = BTreeMap::new();
        // file name -> parsed check (later files win)
        let mut file_rules: BTreeMap<String, Check> = BTreeMap::new();
        let registered: BTreeMap<&str, &RuleDefault> = {
            let mut m = BTreeMap::new();
            for d in &self.defaults {
                m.insert(d.name.as_str(), d);
            }
            m
        };
        for f in &self.files {
            for (name, v) in &f.rules {
                let parsed = match parse_rule_value(v) {
                    Ok(p) => p,
                    Err(_) => continue, // rejected when the file was parsed
                };
                file_rules.insert(name.clone(), parsed.check.clone());
                let reg = registered.get(name.as_str());
                rules.insert(
                    name.clone(),
                    EffectiveRule {
                        name: name.clone(),
                        text: value_text(v),
                        check: parsed.check,
                        issues: parsed.issues,
                        scope_types: reg.and_then(|d| d.scope_types.clone()),
                        registered: reg.is_some(),
                        origin: RuleOrigin::File(f.origin.clone()),
                    },
                );
            }
        }
        for d in registered.values() {
            if rules.contains_key(&d.name) {
                continue;
            }
            let parsed = parse_text_rule(&d.check_str);
            let mut check = parsed.check.clone();
            let mut text = d.check_str.clone();
            let mut issues = parsed.issues.clone();
            let mut origin = RuleOrigin::Default;
            if let Some(dep) = &d.deprecated_rule {
                let dep_parsed = parse_text_rule(&dep.check_str);
                let mut handled = false;
                if dep.name != d.name {
                    if let Some(file_check) = file_rules.get(&dep.name) {
                        if *file_check != dep_parsed.check
                            && file_check.to_string() != format!("rule:{}", d.name)
                            && !file_rules.contains_key(&d.name)
                        {
                            check = file_check.clone();
                            text = rules
                                .get(&dep.name)
                                .map(|r| r.text.clone())
                                .unwrap_or_default();
                            origin = RuleOrigin::DeprecatedOverride(dep.name.clone());
                            handled = true;
                        }
                    }
                }
                if !handled
                    && !self.enforce_new_defaults
                    && dep.check_str != d.check_str
                    && !file_rules.contains_key(&d.name)
                {
                    check = Check::Or(vec![parsed.check.clone(), dep_parsed.check.clone()]);
                    text = format!("({}) or ({})", d.check_str, dep.check_str);
                    issues.extend(dep_parsed.issues);
                    origin = RuleOrigin::DefaultOrDeprecated;
                }
            }
            rules.insert(
                d.name.clone(),
                EffectiveRule {
                    name: d.name.clone(),
                    text,
                    check,
                    issues,
                    scope_types: d.scope_types.clone(),
                    registered: true,
                    origin,
                },
            );
        }
        Effective { rules }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_files_win_and_defaults_fill_gaps() {
        let rs = RuleSet::new()
            .with_defaults([
                RuleDefault::new("a", "role:x"),
                RuleDefault::new("b", "role:y"),
            ])
            .with_file_text("f1", r#"{"a": "role:f1", "c": "@"}"#)
            .unwrap()
            .with_file_text("f2", "a: role:f2\n")
            .unwrap();
        let e = rs.effective();
        assert_eq!(e.get("a").unwrap().text, "role:f2");
        assert_eq!(e.get("b").unwrap().text, "role:y");
        assert_eq!(e.get("c").unwrap().check, Check::True);
        assert!(e.get("a").unwrap().registered);
    }

    #[test]
    fn deprecated_rules_follow_enforce_new_defaults() {
        let d = RuleDefault::new("s:i", "role:reader").with_deprecated("s:i", "rule:deny");
        let new = RuleSet::new().with_defaults([d.clone()]).effective();
        assert_eq!(new.get("s:i").unwrap().check.to_string(), "role:reader");
        let old = RuleSet::new()
            .with_defaults([d])
            .with_enforce_new_defaults(false)
            .effective();
        assert_eq!(
            old.get("s:i").unwrap().check.to_string(),
            "(role:reader or rule:deny)"
        );
    }

    #[test]
    fn renamed_deprecated_override_moves_to_the_new_name() {
        let d = RuleDefault::new("new", "role:reader").with_deprecated("old", "role:x");
        let e = RuleSet::new()
            .with_defaults([d])
            .with_file_text("f", "old: role:custom")
            .unwrap()
            .effective();
        assert_eq!(e.get("new").unwrap().check.to_string(), "role:custom");
    }

    #[test]
    fn malformed_files_are_errors() {
        assert!(parse_policy_text("f", "a: [").is_err());
        assert!(parse_policy_text("f", "- a\n- b\n").is_err());
        assert!(parse_policy_text("f", "a: 5\n").is_err());
        assert!(parse_policy_text("f", "").unwrap().rules.is_empty());
        assert!(parse_policy_text("f", "{\n\t\"a\": \"@\"\n}").is_ok());
    }
}
