//! `explain`: how a rule decided, node by node, with the atoms that decided.

use serde_json::{json, Value};

use super::{Format, Report};
use crate::check::{AtomKind, Check};
use crate::creds::{Credentials, Target};
use crate::enforcer::{EnforceError, Enforcer};
use crate::ruleset::DefaultRule;

/// One evaluated node.
#[derive(Debug, Clone)]
pub struct Node {
    /// The check as oslo prints it.
    pub text: String,
    /// `Some(result)` if evaluated, `None` if short-circuited.
    pub result: Option<Result<bool, String>>,
    /// Whether this node decided its parent's result.
    pub decisive: bool,
    /// Children (a `rule:` atom has the referenced rule as its child).
    pub children: Vec<Node>,
}

struct Explainer<'a> {
    enforcer: &'a Enforcer,
    rule: &'a str,
    target: &'a Target,
    creds: &'a Credentials,
}

impl Explainer<'_> {
    fn node(&self, c: &Check, depth: usize) -> Node {
        match c {
            Check::True | Check::False => Node {
                text: c.to_string(),
                result: Some(Ok(matches!(c, Check::True))),
                decisive: false,
                children: vec![],
            },
            Check::Not(inner) => {
                let mut child = self.node(inner, depth);
                child.decisive = true;
                let result = child.result.clone().map(|r| r.map(|b| !b));
                Node {
                    text: c.to_string(),
                    result,
                    decisive: false,
                    children: vec![child],
                }
            }
            Check::And(cs) | Check::Or(cs) => {
                let is_and = matches!(c, Check::And(_));
                let mut children = Vec::new();
                let mut result: Result<bool, String> = Ok(is_and);
                let mut done = false;
                for sub in cs {
                    if done {
                        children.push(Node {
                            text: sub.to_string(),
                            result: None,
                            decisive: false,
                            children: vec![],
                        });
                        continue;
                    }
                    let n = self.node(sub, depth);
                    match n.result.clone().unwrap_or(Ok(false)) {
                        Err(e) => {
                            result = Err(e);
                            done = true;
                        }
                        Ok(b) if b != is_and => {
                            result = Ok(b);
                            done = true;
                        }
                        Ok(_) => {}
                    }
                    children.push(n);
                }
                // Short-circuit: the last evaluated child decided; otherwise all did.
                if done {
                    if let Some(last) = children.iter_mut().rev().find(|n| n.result.is_some()) {
                        last.decisive = true;
                    }
                } else {
                    children.iter_mut().for_each(|n| n.decisive = true);
                }
                Node {
                    text: c.to_string(),
                    result: Some(result),
                    decisive: false,
                    children,
                }
            }
            Check::Atom(a) => {
                let result = self
                    .enforcer
                    .eval_atom(a, self.rule, self.target, self.creds)
                    .map_err(|e| describe(&e));
                let mut children = vec![];
                if a.kind == AtomKind::Rule && depth < 32 {
                    let referenced = match self.enforcer.effective().get(&a.match_text) {
                        Some(r) => Some(r.check.clone()),
                        None => match self.enforcer.default_rule() {
                            DefaultRule::Name(n) => {
                                self.enforcer.effective().get(n).map(|r| r.check.clone())
                            }
                            DefaultRule::Check(s) => Some(crate::check::parse_rule(s).check),
                            DefaultRule::None => None,
                        },
                    };
                    if let Some(rc) = referenced {
                        let mut child = self.node(&rc, depth + 1);
                        child.decisive = true;
                        children.push(child);
                    }
                }
                Node {
                    text: c.to_string(),
                    result: Some(result),
                    decisive: false,
                    children,
                }
            }
        }
    }
}

fn describe(e: &EnforceError) -> String {
    format!("{} ({})", e, e.python_class())
}

fn deciding_atoms(n: &Node, out: &mut Vec<String>) {
    let decisive_children: Vec<&Node> = n.children.iter().filter(|c| c.decisive).collect();
    if n.children.is_empty() {
        out.push(n.text.clone());
        return;
    }
    for c in decisive_children {
        deciding_atoms(c, out);
    }
}

fn render(n: &Node, prefix: &str, last: bool, top: bool, out: &mut String) {
    let status = match &n.result {
        None => "not evaluated".to_string(),
        Some(Ok(true)) => "true".into(),
        Some(Ok(false)) => "false".into(),
        Some(Err(e)) => format!("error: {e}"),
    };
    let mark = if n.decisive { "  <- decided" } else { "" };
    let branch = if top {
        ""
    } else if last {
        "`- "
    } else {
        "|- "
    };
    out.push_str(&format!("{prefix}{branch}{}  [{status}]{mark}\n", n.text));
    let child_prefix = if top {
        prefix.to_string()
    } else {
        format!("{prefix}{}", if last { "   " } else { "|  " })
    };
    for (i, c) in n.children.iter().enumerate() {
        render(c, &child_prefix, i + 1 == n.children.len(), false, out);
    }
}

fn to_json(n: &Node) -> Value {
    json!({
        "check": n.text,
        "result": match &n.result { None => Value::Null, Some(Ok(b)) => json!(b), Some(Err(e)) => json!({"error": e}) },
        "decisive": n.decisive,
        "children": n.children.iter().map(to_json).collect::<Vec<_>>(),
    })
}

/// Explains `rule` for these credentials and target.
pub fn explain(
    enforcer: &Enforcer,
    rule: &str,
    target: &Target,
    creds: &Credentials,
    format: Format,
) -> Report {
    let decision = enforcer.enforce(rule, target, creds);
    let (check, source) = match enforcer.effective().get(rule) {
        Some(r) => (r.check.clone(), format!("{:?}", r.origin)),
        None => match enforcer.default_rule() {
            DefaultRule::Name(n) => match enforcer.effective().get(n) {
                Some(r) => (r.check.clone(), format!("undefined; default rule '{n}'")),
                None => (Check::False, "undefined; no default rule".into()),
            },
            DefaultRule::Check(s) => (
                crate::check::parse_rule(s).check,
                format!("undefined; default rule \"{s}\""),
            ),
            DefaultRule::None => (Check::False, "undefined; no default rule".into()),
        },
    };
    let ex = Explainer {
        enforcer,
        rule,
        target,
        creds,
    };
    let tree = ex.node(&check, 0);
    let mut deciding = Vec::new();
    deciding_atoms(&tree, &mut deciding);
    let scope = enforcer
        .effective()
        .get(rule)
        .and_then(|r| r.scope_types.clone());
    let (verdict, exit) = match &decision {
        Ok(true) => ("ALLOW".to_string(), 0),
        Ok(false) => ("DENY".to_string(), 1),
        Err(EnforceError::InvalidScope { token_scope, .. }) => {
            (format!("DENY (InvalidScope: token scope {token_scope})"), 1)
        }
        Err(e) => (format!("ERROR ({})", describe(e)), 1),
    };
    match format {
        Format::Json => Report::json(
            &json!({"rule": rule, "decision": verdict, "source": source, "scope_types": scope,
                    "token_scope": creds.scope().as_str(), "tree": to_json(&tree), "deciding_atoms": deciding}),
            exit,
        ),
        Format::Text => {
            let mut out = format!("{rule}: {verdict}\n  source: {source}\n");
            match &scope {
                Some(s) => out.push_str(&format!(
                    "  scope_types: {} (token scope: {})\n",
                    s.join(", "),
                    creds.scope().as_str()
                )),
                None => out.push_str("  scope_types: none\n"),
            }
            render(&tree, "  ", true, true, &mut out);
            out.push_str(&format!("  decided by: {}\n", deciding.join(", ")));
            Report { text: out, exit }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heat::{self, Profile};

    #[test]
    fn explains_the_deciding_atom() {
        let e = heat::enforcer(Profile::Modern, true);
        let creds = Credentials::builder()
            .project_id("p1")
            .roles(["reader"])
            .build();
        let r = explain(
            &e,
            "stacks:create",
            &Target::new().with("project_id", "p1"),
            &creds,
            Format::Text,
        );
        assert_eq!(r.exit, 1);
        assert!(r.text.starts_with("stacks:create: DENY"));
        assert!(r.text.contains("decided by: role:member"), "{}", r.text);
    }
}
