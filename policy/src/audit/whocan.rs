//! `who-can`: the minimal sets of conditions that pass a rule.

use serde_json::json;

use super::logic::{compact, formula, minimal_terms, Atoms, Term};
use super::{Format, Report};
use crate::enforcer::Enforcer;
use crate::ruleset::DefaultRule;

fn term_text(t: &Term, atoms: &Atoms) -> String {
    if t.pos.is_empty() && t.neg.is_empty() {
        return "anyone (no condition)".into();
    }
    let mut parts: Vec<String> = t.pos.iter().map(|&i| atoms.names[i].clone()).collect();
    parts.extend(t.neg.iter().map(|&i| format!("NOT {}", atoms.names[i])));
    parts.join(" AND ")
}

/// Lists who passes `rule`.
pub fn who_can(enforcer: &Enforcer, rule: &str, format: Format) -> Report {
    let eff = enforcer.effective();
    let (check, note) = match eff.get(rule) {
        Some(r) => (r.check.clone(), None),
        None => match enforcer.default_rule() {
            DefaultRule::Name(n) if eff.get(n).is_some() => (
                eff.get(n)
                    .map(|r| r.check.clone())
                    .unwrap_or(crate::Check::False),
                Some(format!("undefined: default rule '{n}' applies")),
            ),
            DefaultRule::Check(s) => (
                crate::parse_rule(s).check,
                Some(format!("undefined: default rule \"{s}\" applies")),
            ),
            _ => (
                crate::Check::False,
                Some("undefined and no default rule".to_string()),
            ),
        },
    };
    let mut atoms = Atoms::default();
    let f = formula(&check, eff, enforcer.default_rule(), &mut atoms);
    let (f, atoms) = compact(&f, &atoms);
    let Some(terms) = minimal_terms(&f, atoms.names.len()) else {
        return Report::usage_error(format!(
            "{rule} mentions {} conditions, more than can be enumerated",
            atoms.names.len()
        ));
    };
    let scope = eff.get(rule).and_then(|r| r.scope_types.clone());
    let lines: Vec<String> = terms.iter().map(|t| term_text(t, &atoms)).collect();
    match format {
        Format::Json => Report::json(
            &json!({"rule": rule, "scope_types": scope, "note": note, "any_of": lines}),
            0,
        ),
        Format::Text => {
            let mut out = rule.to_string();
            if let Some(s) = &scope {
                out.push_str(&format!(" (token scope: {})", s.join(" or ")));
            }
            out.push('\n');
            if let Some(n) = note {
                out.push_str(&format!("  {n}\n"));
            }
            if lines.is_empty() {
                out.push_str("  nobody\n");
            }
            for l in lines {
                out.push_str(&format!("  - {l}\n"));
            }
            Report { text: out, exit: 0 }
        }
    }
}
