//! `diff`: every rule whose decision changes between two policies, each with
//! a witness (the conditions under which the answers differ, and when it can
//! be built, concrete credentials and target verified against both).

use std::collections::BTreeSet;

use serde_json::json;

use super::logic::{compact, formula, Atoms, Formula, MAX_VARS};
use super::{Format, Report};
use crate::check::AtomKind;
use crate::creds::{Credentials, Target};
use crate::enforcer::Enforcer;
use crate::py::PyFormat;
use crate::ruleset::RuleSet;

/// One changed rule.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Change {
    /// Rule name.
    pub rule: String,
    /// Text in A (None: absent).
    pub a: Option<String>,
    /// Text in B.
    pub b: Option<String>,
    /// Conditions under which A and B decide differently.
    pub witness: Vec<String>,
    /// A's and B's answer under the witness.
    pub decisions: (bool, bool),
    /// Concrete credentials and target, when one could be built and verified.
    pub example: Option<serde_json::Value>,
}

fn formula_for(e: &Enforcer, rule: &str, atoms: &mut Atoms) -> Formula {
    let check = match e.effective().get(rule) {
        Some(r) => r.check.clone(),
        None => crate::check::Check::Atom(crate::check::Atom {
            kind: AtomKind::Rule,
            kind_text: "rule".into(),
            match_text: rule.into(),
        }),
    };
    formula(&check, e.effective(), e.default_rule(), atoms)
}

/// Builds credentials and a target that realise an assignment, if the atoms
/// are simple (roles, `key:literal`, `key:%(key)s`).
fn realise(atoms: &Atoms, bits: u64) -> Option<(Credentials, Target)> {
    let mut roles = Vec::new();
    let mut b = Credentials::builder()
        .user_id("witness-user")
        .project_id("witness-project");
    let mut target = Target::new().with("project_id", "witness-project");
    let mut extra: Vec<(String, String)> = Vec::new();
    for (i, a) in atoms.atoms.iter().enumerate() {
        let on = bits >> i & 1 == 1;
        match a.kind {
            AtomKind::Role => {
                let lit = PyFormat::parse(&a.match_text).literal()?.to_string();
                if on {
                    roles.push(lit);
                }
            }
            AtomKind::Generic => {
                let f = PyFormat::parse(&a.match_text);
                if let Some(lit) = f.literal() {
                    extra.push((
                        a.kind_text.clone(),
                        if on {
                            lit.to_string()
                        } else {
                            format!("not-{lit}")
                        },
                    ));
                } else {
                    let keys: Vec<&str> = f.keys().collect();
                    if keys.len() != 1 || a.match_text != format!("%({})s", keys[0]) {
                        return None;
                    }
                    target = target.with(keys[0], "witness-value");
                    extra.push((
                        a.kind_text.clone(),
                        if on {
                            "witness-value".into()
                        } else {
                            "other-value".into()
                        },
                    ));
                }
            }
            _ => return None,
        }
    }
    b = b.roles(roles);
    for (k, v) in extra {
        if k.contains('.') {
            return None;
        }
        let value = match v.as_str() {
            "True" => crate::PyValue::Bool(true),
            "False" => crate::PyValue::Bool(false),
            _ => crate::PyValue::Str(v.clone().into()),
        };
        b = b.extra(k, value);
    }
    Some((b.build(), target))
}

/// Compares two policies rule by rule.
pub fn diff(a: &RuleSet, b: &RuleSet, format: Format) -> Report {
    let ea = Enforcer::new(a.clone());
    let eb = Enforcer::new(b.clone());
    let names: BTreeSet<String> = ea
        .rule_names()
        .chain(eb.rule_names())
        .map(String::from)
        .collect();
    let mut changes = Vec::new();
    let mut undecided = Vec::new();
    for name in &names {
        let ra = ea.effective().get(name);
        let rb = eb.effective().get(name);
        let mut atoms = Atoms::default();
        let fa = formula_for(&ea, name, &mut atoms);
        let fb = formula_for(&eb, name, &mut atoms);
        let both = Formula::Or(vec![fa.clone(), fb.clone()]);
        let (_, compact_atoms) = compact(&both, &atoms);
        if compact_atoms.names.len() > MAX_VARS {
            undecided.push(name.clone());
            continue;
        }
        // Evaluate over the original numbering restricted to used vars.
        let used: Vec<usize> = {
            let mut s = BTreeSet::new();
            both.vars(&mut s);
            s.into_iter().collect()
        };
        let mut found = None;
        for m in 0..1u64 << used.len() {
            let mut bits = 0u64;
            for (j, &v) in used.iter().enumerate() {
                if m >> j & 1 == 1 {
                    bits |= 1 << v;
                }
            }
            let (x, y) = (fa.eval(bits), fb.eval(bits));
            if x != y {
                found = Some((bits, x, y));
                break;
            }
        }
        let Some((bits, x, y)) = found else { continue };
        let witness: Vec<String> = used
            .iter()
            .map(|&v| {
                format!(
                    "{}{}",
                    if bits >> v & 1 == 1 { "" } else { "NOT " },
                    atoms.names[v]
                )
            })
            .collect();
        let example = realise(&atoms, bits).and_then(|(c, t)| {
            let da = ea.enforce(name, &t, &c).ok()?;
            let db = eb.enforce(name, &t, &c).ok()?;
            (da == x && db == y).then(|| {
                json!({"credentials": serde_json::from_str::<serde_json::Value>(&c.to_json()).unwrap_or_default(),
                       "target": crate::PyValue::Dict(t.pairs().to_vec())})
            })
        });
        changes.push(Change {
            rule: name.clone(),
            a: ra.map(|r| r.text.clone()),
            b: rb.map(|r| r.text.clone()),
            witness,
            decisions: (x, y),
            example,
        });
    }
    let exit = if changes.is_empty() { 0 } else { 1 };
    match format {
        Format::Json => Report::json(
            &json!({"changes": changes, "too_large_to_compare": undecided}),
            exit,
        ),
        Format::Text => {
            let mut out = String::new();
            let show = |v: bool| if v { "allow" } else { "deny" };
            for c in &changes {
                out.push_str(&format!(
                    "{}: A {} / B {}\n  A: {}\n  B: {}\n  when: {}\n",
                    c.rule,
                    show(c.decisions.0),
                    show(c.decisions.1),
                    c.a.as_deref().unwrap_or("(undefined)"),
                    c.b.as_deref().unwrap_or("(undefined)"),
                    if c.witness.is_empty() {
                        "always".to_string()
                    } else {
                        c.witness.join(" AND ")
                    },
                ));
                if let Some(e) = &c.example {
                    out.push_str(&format!("  example: {e}\n"));
                }
            }
            for u in &undecided {
                out.push_str(&format!(
                    "{u}: too many conditions to compare exhaustively\n"
                ));
            }
            if changes.is_empty() && undecided.is_empty() {
                out.push_str("no decision changes\n");
            }
            Report { text: out, exit }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heat::{self, Profile};

    #[test]
    fn pike_to_modern_changes_are_witnessed() {
        let a = heat::rule_set(Profile::Pike, true);
        let b = heat::rule_set(Profile::Modern, true);
        let r = diff(&a, &b, Format::Text);
        assert_eq!(r.exit, 1);
        assert!(
            r.text.contains("stacks:create: A allow / B deny"),
            "{}",
            r.text
        );
        assert!(r.text.contains("example:"));
        let same = diff(&b, &b, Format::Text);
        assert_eq!(same.exit, 0);
    }
}
