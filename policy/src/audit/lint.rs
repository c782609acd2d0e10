//! `lint`: what oslopolicy-validator and oslopolicy-list-redundant report,
//! plus rules that are always true, always false or equivalent (found by
//! exhaustive evaluation over the finite atoms each rule mentions).

use std::collections::BTreeMap;

use serde_json::json;

use super::logic::{compact, formula, truth_table, Atoms, Formula};
use super::{Format, Report};
use crate::check::{parse_rule_value, Check, IssueLevel};
use crate::enforcer::{Diagnostic, Enforcer};
use crate::ruleset::{RuleOrigin, RuleSet};

/// One lint finding.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// `error`, `warning` or `info` (info does not fail the run).
    pub level: &'static str,
    /// Short code: parse-error, bad-atom, undefined-rule, cycle, unknown-rule,
    /// redundant, always-true, always-false, equivalent.
    pub code: &'static str,
    /// Rule name.
    pub rule: String,
    /// Explanation.
    pub message: String,
}

/// Lints a rule set (file rules checked against the registered defaults).
pub fn lint(rules: &RuleSet, format: Format) -> Report {
    let enforcer = Enforcer::new(rules.clone());
    let mut findings = Vec::new();
    for d in enforcer.diagnostics() {
        findings.push(match d {
            Diagnostic::Parse { rule, issue } => Finding {
                level: if issue.level == IssueLevel::Error {
                    "error"
                } else {
                    "warning"
                },
                code: if issue.level == IssueLevel::Error {
                    "parse-error"
                } else {
                    "bad-atom"
                },
                rule: rule.clone(),
                message: format!(
                    "Failed to parse rule: {} ({issue})",
                    text_of(&enforcer, rule)
                ),
            },
            Diagnostic::UndefinedRule { rule, target } => Finding {
                level: "error",
                code: "undefined-rule",
                rule: rule.clone(),
                message: format!("references undefined rule '{target}'"),
            },
            Diagnostic::Cycle { rule, path } => Finding {
                level: "error",
                code: "cycle",
                rule: rule.clone(),
                message: format!("cyclic reference {}", path.join(" -> ")),
            },
        });
    }
    if !rules.defaults.is_empty() {
        for f in &rules.files {
            for (name, v) in &f.rules {
                match rules.defaults.iter().find(|d| d.name == *name) {
                    None => {
                        let deprecated_alias = rules
                            .defaults
                            .iter()
                            .any(|d| d.deprecated_rule.as_ref().is_some_and(|r| r.name == *name));
                        if !deprecated_alias {
                            findings.push(Finding {
                                level: "warning",
                                code: "unknown-rule",
                                rule: name.clone(),
                                message: format!(
                                    "Unknown rule found in policy file: {name} ({})",
                                    f.origin
                                ),
                            });
                        }
                    }
                    Some(d) => {
                        let file_check =
                            parse_rule_value(v).map(|p| p.check).unwrap_or(Check::False);
                        if file_check.to_string()
                            == crate::parse_rule(&d.check_str).check.to_string()
                        {
                            findings.push(Finding {
                                level: "warning",
                                code: "redundant",
                                rule: name.clone(),
                                message: format!(
                                    "same as the default \"{}\" ({})",
                                    d.check_str, f.origin
                                ),
                            });
                        }
                    }
                }
            }
        }
    }
    // Exhaustive evaluation.
    let eff = enforcer.effective();
    let mut tables: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, r) in &eff.rules {
        if matches!(r.check, Check::True | Check::False) {
            continue; // "@", "" and "!" say what they mean
        }
        let mut atoms = Atoms::default();
        let f = formula(&r.check, eff, enforcer.default_rule(), &mut atoms);
        let (f, atoms) = compact(&f, &atoms);
        let Some(table) = truth_table(&f, atoms.names.len()) else {
            continue;
        };
        let intentional = matches!(f, Formula::Const(_))
            && r.check
                .atoms()
                .iter()
                .all(|a| a.kind == crate::check::AtomKind::Rule);
        if table.iter().all(|b| *b) && !intentional {
            findings.push(Finding {
                level: "warning",
                code: "always-true",
                rule: name.clone(),
                message: format!("\"{}\" passes for every request", r.text),
            });
        } else if table.iter().all(|b| !*b) && !intentional {
            findings.push(Finding {
                level: "warning",
                code: "always-false",
                rule: name.clone(),
                message: format!("\"{}\" never passes", r.text),
            });
        } else if !table.iter().all(|b| *b) && !table.iter().all(|b| !*b) {
            // signature: the set of satisfying assignments, by atom name
            let sig: Vec<String> = (0..table.len())
                .filter(|&m| table[m])
                .map(|m| {
                    (0..atoms.names.len())
                        .map(|i| {
                            format!(
                                "{}{}",
                                if m >> i & 1 == 1 { "+" } else { "-" },
                                atoms.names[i]
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .collect();
            let key = format!("{}|{}", atoms.names.join(","), sig.join(";"));
            if r.check
                .atoms()
                .iter()
                .any(|a| a.kind == crate::check::AtomKind::Rule)
                || r.origin != RuleOrigin::Default
            {
                tables.entry(key).or_default().push(name.clone());
            }
        }
    }
    for group in tables.values().filter(|g| g.len() > 1) {
        // Only report equivalence that is not textual identity.
        let texts: std::collections::BTreeSet<String> = group
            .iter()
            .filter_map(|n| eff.get(n))
            .map(|r| r.check.to_string())
            .collect();
        if texts.len() > 1 {
            findings.push(Finding {
                level: "info",
                code: "equivalent",
                rule: group[0].clone(),
                message: format!("equivalent rules written differently: {}", group.join(", ")),
            });
        }
    }
    let failing = findings.iter().any(|f| f.level != "info");
    let exit = if failing { 1 } else { 0 };
    match format {
        Format::Json => Report::json(&json!({"findings": findings, "ok": !failing}), exit),
        Format::Text => {
            let mut out = String::new();
            if findings
                .iter()
                .any(|f| f.code == "parse-error" || f.code == "unknown-rule")
            {
                out.push_str("Invalid rules found\n");
            }
            for f in &findings {
                out.push_str(&format!(
                    "{}: {}: [{}] {}\n",
                    f.level, f.rule, f.code, f.message
                ));
            }
            if findings.is_empty() {
                out.push_str("no findings\n");
            }
            Report { text: out, exit }
        }
    }
}

fn text_of(e: &Enforcer, rule: &str) -> String {
    e.effective()
        .get(rule)
        .map(|r| r.text.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heat::{self, Profile};

    #[test]
    fn finds_problems() {
        let rs = heat::rule_set(Profile::Modern, true)
            .with_file_text(
                "f.yaml",
                "stacks:index: role:reader and project_id:%(project_id)s\nfoo:bar: role:a or\nx:y: rule:nope\nc:1: role:x or not role:X\nstacks:create: rule:stacks:delete\n",
            )
            .unwrap();
        let r = lint(&rs, Format::Text);
        assert_eq!(r.exit, 1);
        for code in [
            "redundant",
            "parse-error",
            "undefined-rule",
            "always-true",
            "unknown-rule",
        ] {
            assert!(
                r.text.contains(&format!("[{code}]")),
                "{code} missing in\n{}",
                r.text
            );
        }
        let clean = lint(&heat::rule_set(Profile::Modern, true), Format::Text);
        assert_eq!(clean.exit, 0, "{}", clean.text);
    }
}
