//! The compiled rules and their evaluation.
//!
//! [`Enforcer::new`] merges a [`RuleSet`], parses every rule once and compiles
//! it into a flat node array: rule names are interned to indices, `rule:`
//! references resolved, `%(key)s` formats pre-split and literal kinds
//! pre-evaluated. [`Enforcer::enforce`] then walks that array without
//! allocating (for string targets and ASCII role names).
//!
//! ```
//! use heatgate_policy::{Credentials, DefaultRule, Enforcer, RuleSet, Target};
//!
//! let rules = RuleSet::new()
//!     .with_rules("inline", [
//!         ("admin_or_owner", "role:admin or project_id:%(project_id)s"),
//!         ("stacks:index", "rule:admin_or_owner"),
//!     ])
//!     .with_default_rule(DefaultRule::Check("!".into()));
//! let enforcer = Enforcer::new(rules);
//! let creds = Credentials::builder().project_id("p1").roles(["member"]).build();
//! assert!(enforcer.enforce("stacks:index", &Target::new().with("project_id", "p1"), &creds).unwrap());
//! assert!(!enforcer.enforce("stacks:index", &Target::new().with("project_id", "p2"), &creds).unwrap());
//! // Unknown actions fall to the default rule ("!").
//! assert!(!enforcer.enforce("stacks:nope", &Target::new(), &creds).unwrap());
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::check::{AtomKind, Check, ParseIssue};
use crate::creds::{py_lower, Credentials, Target, TokenScope};
use crate::py::pyfmt::{Formatted, PyFormat};
use crate::py::{classify_kind, KindClass, PyError, PyErrorKind, PyValue};
use crate::remote::{RemoteCheck, RemoteError, RemoteRequest};
use crate::ruleset::{DefaultRule, Effective, RuleSet};

/// Why `enforce` could not give a yes/no answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EnforceError {
    /// The token's scope is not in the rule's `scope_types` (oslo `InvalidScope`).
    #[error(
        "{rule} requires a scope of {scope_types:?}, request was made with {token_scope} scope"
    )]
    InvalidScope {
        /// The rule.
        rule: String,
        /// Allowed scopes.
        scope_types: Vec<String>,
        /// The token's scope.
        token_scope: &'static str,
    },
    /// A remote (`http:`/`https:`) check failed to answer.
    #[error("remote check: {0}")]
    Remote(#[from] RemoteError),
    /// Evaluation raised a Python exception in oslo.policy (bad format string,
    /// a kind that is not a Python expression, a rule cycle, ...).
    #[error("{0}")]
    Python(PyError),
}

impl EnforceError {
    /// The Python exception class oslo.policy would raise.
    pub fn python_class(&self) -> &'static str {
        match self {
            EnforceError::InvalidScope { .. } => "InvalidScope",
            EnforceError::Remote(RemoteError::Timeout) => "RuntimeError",
            EnforceError::Remote(_) => "ConnectionError",
            EnforceError::Python(e) => e.kind.name(),
        }
    }
}

type NodeId = u32;

#[derive(Debug, Clone)]
enum RoleMatch {
    /// A literal role, lower-cased at compile time.
    Fixed(Box<str>),
    Fmt(PyFormat),
}

#[derive(Debug, Clone)]
enum Generic {
    Literal(Box<str>),
    Path(Box<[Box<str>]>),
    Error(PyError),
}

#[derive(Debug, Clone)]
enum Node {
    True,
    False,
    Not(NodeId),
    And(u32, u32),
    Or(u32, u32),
    /// Index into `rules`, or `u32::MAX` for an undefined name.
    Rule(u32),
    Role(RoleMatch),
    Generic(Generic, PyFormat),
    Remote(&'static str, PyFormat),
}

const MISSING: u32 = u32::MAX;

#[derive(Debug, Clone)]
struct CompiledRule {
    root: NodeId,
    scope_types: Option<Box<[Box<str>]>>,
}

/// Compiled rules, ready to enforce. Cheap to share (`Arc` inside).
#[derive(Clone)]
pub struct Enforcer {
    inner: Arc<Inner>,
}

struct Inner {
    index: HashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
    rules: Vec<CompiledRule>,
    nodes: Vec<Node>,
    children: Vec<NodeId>,
    /// What an undefined name resolves to.
    default: Option<NodeId>,
    effective: Effective,
    default_rule: DefaultRule,
    diagnostics: Vec<Diagnostic>,
    remote: Option<Arc<dyn RemoteCheck>>,
}

impl fmt::Debug for Enforcer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Enforcer")
            .field("rules", &self.inner.names.len())
            .finish_non_exhaustive()
    }
}

/// A finding made while loading rules.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Diagnostic {
    /// A rule failed to parse (whole rule False) or has a False atom.
    Parse {
        /// Rule name.
        rule: String,
        /// The parser's finding.
        issue: ParseIssue,
    },
    /// `rule:NAME` names a rule that does not exist.
    UndefinedRule {
        /// The referring rule.
        rule: String,
        /// The missing name.
        target: String,
    },
    /// The rule takes part in a reference cycle (enforcing it raises).
    Cycle {
        /// The rule.
        rule: String,
        /// The cycle, first name repeated at the end.
        path: Vec<String>,
    },
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Diagnostic::Parse { rule, issue } => write!(f, "{rule}: {issue}"),
            Diagnostic::UndefinedRule { rule, target } => {
                write!(f, "{rule}: references undefined rule '{target}'")
            }
            Diagnostic::Cycle { rule, path } => {
                write!(f, "{rule}: cyclic reference {}", path.join(" -> "))
            }
        }
    }
}

struct Ctx<'a> {
    inner: &'a Inner,
    target: &'a Target,
    creds: &'a Credentials,
    rule: Option<&'a str>,
}

impl Enforcer {
    /// Merges and compiles a rule set.
    pub fn new(rules: RuleSet) -> Enforcer {
        Enforcer::build(&rules, None)
    }

    /// Like [`Enforcer::new`], with a remote checker for `http:`/`https:` atoms.
    pub fn with_remote(rules: RuleSet, remote: Arc<dyn RemoteCheck>) -> Enforcer {
        Enforcer::build(&rules, Some(remote))
    }

    fn build(rules: &RuleSet, remote: Option<Arc<dyn RemoteCheck>>) -> Enforcer {
        let effective = rules.effective();
        let mut c = Compiler::default();
        for name in effective.rules.keys() {
            let idx = c.names.len() as u32;
            c.names.push(name.as_str().into());
            c.index.insert(name.as_str().into(), idx);
        }
        let mut compiled = Vec::with_capacity(effective.rules.len());
        for r in effective.rules.values() {
            let root = c.compile(&r.check);
            compiled.push(CompiledRule {
                root,
                scope_types: r
                    .scope_types
                    .as_ref()
                    .map(|v| v.iter().map(|s| s.as_str().into()).collect()),
            });
        }
        let default = match &rules.default_rule {
            DefaultRule::None => None,
            DefaultRule::Name(n) if n.is_empty() => None,
            DefaultRule::Name(n) => c
                .index
                .get(n.as_str())
                .copied()
                .map(|i| compiled[i as usize].root),
            DefaultRule::Check(s) => Some(c.compile(&crate::check::parse_text_rule(s).check)),
        };
        let diagnostics = diagnose(&effective);
        Enforcer {
            inner: Arc::new(Inner {
                index: c.index,
                names: c.names,
                rules: compiled,
                nodes: c.nodes,
                children: c.children,
                default,
                effective,
                default_rule: rules.default_rule.clone(),
                diagnostics,
                remote,
            }),
        }
    }

    /// Enforces `rule` (oslo `Enforcer.enforce(rule, target, creds, do_raise=True)`).
    ///
    /// `Ok(false)` is a denial; `Err(InvalidScope)` a scope mismatch for a
    /// registered rule; other errors are failures oslo would raise.
    pub fn enforce(
        &self,
        rule: &str,
        target: &Target,
        creds: &Credentials,
    ) -> Result<bool, EnforceError> {
        let inner = &*self.inner;
        if inner.rules.is_empty() {
            return Ok(false);
        }
        let ctx = Ctx {
            inner,
            target,
            creds,
            rule: Some(rule),
        };
        match inner.index.get(rule) {
            Some(&i) => {
                let r = &inner.rules[i as usize];
                if let Some(scopes) = &r.scope_types {
                    check_scope(rule, scopes, creds.scope())?;
                }
                ctx.eval(r.root, 0)
            }
            None => match inner.default {
                Some(d) => ctx.eval(d, 0),
                None => Ok(false),
            },
        }
    }

    /// Evaluates a rule's check directly, without the scope check and without
    /// falling back to the default rule for the top-level name (how
    /// `oslopolicy-checker` calls a rule).
    pub fn check_rule(
        &self,
        rule: &str,
        target: &Target,
        creds: &Credentials,
    ) -> Option<Result<bool, EnforceError>> {
        let inner = &*self.inner;
        let &i = inner.index.get(rule)?;
        let ctx = Ctx {
            inner,
            target,
            creds,
            rule: Some(rule),
        };
        Some(ctx.eval(inner.rules[i as usize].root, 0))
    }

    /// Evaluates the default rule (what an undefined name resolves to).
    pub fn check_default(
        &self,
        rule: &str,
        target: &Target,
        creds: &Credentials,
    ) -> Option<Result<bool, EnforceError>> {
        let inner = &*self.inner;
        let d = inner.default?;
        let ctx = Ctx {
            inner,
            target,
            creds,
            rule: Some(rule),
        };
        Some(ctx.eval(d, 0))
    }

    /// Heat's `is_admin`: the result of `context_is_admin` (False if it raises).
    pub fn is_admin(&self, creds: &Credentials) -> bool {
        matches!(
            self.enforce("context_is_admin", &Target::new(), creds),
            Ok(true)
        )
    }

    /// What undefined names resolve to.
    pub fn default_rule(&self) -> &DefaultRule {
        &self.inner.default_rule
    }

    /// Evaluates one atom on its own (a `rule:` atom follows the reference).
    /// Used by the auditor; compiles the atom, so it allocates.
    pub fn eval_atom(
        &self,
        atom: &crate::check::Atom,
        rule: &str,
        target: &Target,
        creds: &Credentials,
    ) -> Result<bool, EnforceError> {
        let mut c = Compiler {
            index: self.inner.index.clone(),
            ..Compiler::default()
        };
        let base = self.inner.nodes.len() as u32;
        let base_children = self.inner.children.len() as u32;
        let local = c.compile(&Check::Atom(atom.clone()));
        // Splice the one-node program after the existing nodes.
        let mut nodes = self.inner.nodes.clone();
        let children = self.inner.children.clone();
        let _ = base_children;
        nodes.extend(c.nodes);
        let inner = Inner {
            index: HashMap::new(),
            names: Vec::new(),
            rules: self.inner.rules.clone(),
            nodes,
            children,
            default: self.inner.default,
            effective: Effective::default(),
            default_rule: DefaultRule::None,
            diagnostics: Vec::new(),
            remote: self.inner.remote.clone(),
        };
        let ctx = Ctx {
            inner: &inner,
            target,
            creds,
            rule: Some(rule),
        };
        ctx.eval(base + local, 0)
    }

    /// The merged rules this enforcer was built from.
    pub fn effective(&self) -> &Effective {
        &self.inner.effective
    }

    /// Parse errors, undefined references and cycles found at load time.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.inner.diagnostics
    }

    /// Names of all rules, sorted.
    pub fn rule_names(&self) -> impl Iterator<Item = &str> {
        self.inner.names.iter().map(|s| &**s)
    }

    /// Whether a rule of that name exists.
    pub fn contains(&self, rule: &str) -> bool {
        self.inner.index.contains_key(rule)
    }
}

fn check_scope(rule: &str, scopes: &[Box<str>], token: TokenScope) -> Result<(), EnforceError> {
    if scopes.is_empty() || scopes.iter().any(|s| &**s == token.as_str()) {
        return Ok(());
    }
    Err(EnforceError::InvalidScope {
        rule: rule.to_string(),
        scope_types: scopes.iter().map(|s| s.to_string()).collect(),
        token_scope: token.as_str(),
    })
}

#[derive(Default)]
struct Compiler {
    index: HashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
    nodes: Vec<Node>,
    children: Vec<NodeId>,
}

impl Compiler {
    fn push(&mut self, n: Node) -> NodeId {
        self.nodes.push(n);
        (self.nodes.len() - 1) as NodeId
    }

    fn compile(&mut self, c: &Check) -> NodeId {
        match c {
            Check::True => self.push(Node::True),
            Check::False => self.push(Node::False),
            Check::Not(inner) => {
                let i = self.compile(inner);
                self.push(Node::Not(i))
            }
            Check::And(cs) | Check::Or(cs) => {
                let ids: Vec<NodeId> = cs.iter().map(|c| self.compile(c)).collect();
                let start = self.children.len() as u32;
                self.children.extend(ids);
                let len = cs.len() as u32;
                self.push(if matches!(c, Check::And(_)) {
                    Node::And(start, len)
                } else {
                    Node::Or(start, len)
                })
            }
            Check::Atom(a) => match a.kind {
                AtomKind::Rule => {
                    let i = self
                        .index
                        .get(a.match_text.as_str())
                        .copied()
                        .unwrap_or(MISSING);
                    self.push(Node::Rule(i))
                }
                AtomKind::Role => {
                    let f = PyFormat::parse(&a.match_text);
                    let m = match f.literal() {
                        Some(l) => RoleMatch::Fixed(py_lower(l).into_boxed_str()),
                        None => RoleMatch::Fmt(f),
                    };
                    self.push(Node::Role(m))
                }
                AtomKind::Http | AtomKind::Https => {
                    let scheme = if a.kind == AtomKind::Http {
                        "http"
                    } else {
                        "https"
                    };
                    self.push(Node::Remote(
                        scheme,
                        PyFormat::parse(&format!("{}:{}", scheme, a.match_text)),
                    ))
                }
                AtomKind::Generic => {
                    let g = match classify_kind(&a.kind_text) {
                        KindClass::Literal(s) => Generic::Literal(s.into_boxed_str()),
                        KindClass::Path => {
                            Generic::Path(a.kind_text.split('.').map(Into::into).collect())
                        }
                        KindClass::Error(e) => Generic::Error(e),
                    };
                    self.push(Node::Generic(g, PyFormat::parse(&a.match_text)))
                }
            },
        }
    }
}

/// Deeper than every rule nested once: the evaluation has looped (Python's
/// RecursionError; CPython may surface it as `TypeError('unsupported
/// callable')` from `inspect`, depending on which frame hits the limit).
fn recursion_error() -> EnforceError {
    EnforceError::Python(PyError::new(
        PyErrorKind::RecursionError,
        "maximum recursion depth exceeded (rule reference cycle)",
    ))
}

/// `RuleCheck` catches `KeyError` raised by the rule it refers to (a remote
/// check's URL naming a missing target key) and answers False.
fn swallow_key_error(r: Result<bool, EnforceError>) -> Result<bool, EnforceError> {
    match r {
        Err(EnforceError::Python(e)) if e.kind == PyErrorKind::KeyError => Ok(false),
        other => other,
    }
}

impl Ctx<'_> {
    fn eval(&self, id: NodeId, depth: u32) -> Result<bool, EnforceError> {
        let inner = self.inner;
        match &inner.nodes[id as usize] {
            Node::True => Ok(true),
            Node::False => Ok(false),
            Node::Not(c) => Ok(!self.eval(*c, depth)?),
            Node::And(s, n) => {
                for &c in &inner.children[*s as usize..(*s + *n) as usize] {
                    if !self.eval(c, depth)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Node::Or(s, n) => {
                for &c in &inner.children[*s as usize..(*s + *n) as usize] {
                    if self.eval(c, depth)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Node::Rule(i) => {
                if depth as usize > inner.rules.len() + 1 {
                    return Err(recursion_error());
                }
                if *i != MISSING {
                    return swallow_key_error(self.eval(inner.rules[*i as usize].root, depth + 1));
                }
                match inner.default {
                    Some(d) => swallow_key_error(self.eval(d, depth + 1)),
                    None => Ok(false),
                }
            }
            Node::Role(m) => match m {
                RoleMatch::Fixed(lower) => self
                    .creds
                    .role_matches_lower(lower)
                    .map_err(EnforceError::Python),
                RoleMatch::Fmt(f) => match f
                    .apply(self.target.pairs())
                    .map_err(EnforceError::Python)?
                {
                    Formatted::MissingKey(_) => Ok(false),
                    Formatted::Text(t) => self.creds.role_matches(&t).map_err(EnforceError::Python),
                },
            },
            Node::Generic(g, f) => {
                let m = match f.apply(self.target.pairs()).map_err(EnforceError::Python)? {
                    Formatted::MissingKey(_) => return Ok(false),
                    Formatted::Text(t) => t,
                };
                match g {
                    Generic::Literal(s) => Ok(**s == *m),
                    Generic::Error(e) => Err(EnforceError::Python(e.clone())),
                    Generic::Path(segs) => {
                        walk_dict(self.creds.pairs(), segs, &m).map_err(EnforceError::Python)
                    }
                }
            }
            Node::Remote(scheme, f) => {
                let url = match f.apply(self.target.pairs()).map_err(EnforceError::Python)? {
                    Formatted::Text(t) => t,
                    Formatted::MissingKey(k) => {
                        return Err(EnforceError::Python(PyError::new(
                            PyErrorKind::KeyError,
                            format!("'{k}'"),
                        )))
                    }
                };
                let remote = inner.remote.as_ref().ok_or_else(|| {
                    EnforceError::Remote(RemoteError::NotConfigured(url.to_string()))
                })?;
                let req = RemoteRequest {
                    scheme,
                    url: &url,
                    rule: self.rule,
                    target: self.target,
                    credentials: self.creds,
                };
                Ok(remote.check(&req)?)
            }
        }
    }
}

/// `GenericCheck._find_in_dict` starting at the credentials dict.
fn walk_dict(dict: &[(Box<str>, PyValue)], segs: &[Box<str>], m: &str) -> Result<bool, PyError> {
    let Some((key, rest)) = segs.split_first() else {
        // str(creds) == match: the whole dict printed.
        return Ok(PyValue::Dict(dict.to_vec()).str_eq(m));
    };
    match dict.iter().rev().find(|(k, _)| **k == **key) {
        None => Ok(false),
        Some((_, v)) => walk_value_after_index(v, rest, m),
    }
}

fn walk_value_after_index(v: &PyValue, rest: &[Box<str>], m: &str) -> Result<bool, PyError> {
    if let PyValue::List(items) = v {
        for item in items {
            if walk(item, rest, m)? {
                return Ok(true);
            }
        }
        return Ok(false);
    }
    walk(v, rest, m)
}

fn walk(v: &PyValue, segs: &[Box<str>], m: &str) -> Result<bool, PyError> {
    let Some((key, rest)) = segs.split_first() else {
        return Ok(v.str_eq(m));
    };
    match v {
        PyValue::Dict(d) => match d.iter().rev().find(|(k, _)| **k == **key) {
            None => Ok(false),
            Some((_, inner)) => walk_value_after_index(inner, rest, m),
        },
        PyValue::Str(_) => Err(PyError::type_error(
            "string indices must be integers, not 'str'",
        )),
        PyValue::List(_) => Err(PyError::type_error(
            "list indices must be integers or slices, not str",
        )),
        other => Err(PyError::type_error(format!(
            "'{}' object is not subscriptable",
            other.type_name()
        ))),
    }
}

fn diagnose(effective: &Effective) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (name, r) in &effective.rules {
        for issue in &r.issues {
            out.push(Diagnostic::Parse {
                rule: name.clone(),
                issue: issue.clone(),
            });
        }
        for target in r.check.rule_refs() {
            if !effective.rules.contains_key(target) {
                out.push(Diagnostic::UndefinedRule {
                    rule: name.clone(),
                    target: target.to_string(),
                });
            }
        }
    }
    // Cycles: DFS over rule references (every reference, as oslo's check_rules).
    for name in effective.rules.keys() {
        let mut path = vec![name.clone()];
        if let Some(cycle) = find_cycle(effective, name, &mut path) {
            out.push(Diagnostic::Cycle {
                rule: name.clone(),
                path: cycle,
            });
        }
    }
    out
}

fn find_cycle(effective: &Effective, current: &str, path: &mut Vec<String>) -> Option<Vec<String>> {
    let r = effective.rules.get(current)?;
    for t in r.check.rule_refs() {
        if path.first().map(|s| s.as_str()) == Some(t) {
            let mut p = path.clone();
            p.push(t.to_string());
            return Some(p);
        }
        if path.iter().any(|p| p == t) || !effective.rules.contains_key(t) {
            continue;
        }
        path.push(t.to_string());
        if let Some(c) = find_cycle(effective, t, path) {
            return Some(c);
        }
        path.pop();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ruleset::RuleDefault;

    fn enf(rules: &[(&str, &str)]) -> Enforcer {
        Enforcer::new(RuleSet::new().with_rules("t", rules.iter().copied()))
    }

    #[test]
    fn generic_checks_walk_credentials() {
        let e = enf(&[
            ("a", "is_admin:True"),
            ("b", "is_admin:true"),
            ("c", "token.roles.name:admin"),
            ("d", "'x':%(k)s"),
            ("e", "True:%(flag)s"),
            ("f", "user_id:%(missing)s"),
            ("g", "user_id.x:y"),
        ]);
        let creds = Credentials::from_json(
            r#"{"is_admin": true, "user_id": "u", "token": {"roles": [{"name": "member"}, {"name": "admin"}]}}"#,
        )
        .unwrap();
        let t = Target::new().with("k", "x").with("flag", "True");
        assert!(e.enforce("a", &t, &creds).unwrap());
        assert!(!e.enforce("b", &t, &creds).unwrap());
        assert!(e.enforce("c", &t, &creds).unwrap());
        assert!(e.enforce("d", &t, &creds).unwrap());
        assert!(e.enforce("e", &t, &creds).unwrap());
        assert!(!e.enforce("f", &t, &creds).unwrap());
        assert_eq!(
            e.enforce("g", &t, &creds).unwrap_err().python_class(),
            "TypeError"
        );
    }

    #[test]
    fn cycles_are_reported_and_raise_only_when_reached() {
        let e = enf(&[("a", "rule:b"), ("b", "rule:a"), ("c", "@ or rule:c")]);
        assert!(e
            .diagnostics()
            .iter()
            .any(|d| matches!(d, Diagnostic::Cycle { rule, .. } if rule == "a")));
        assert_eq!(
            e.enforce("a", &Target::new(), &Credentials::builder().build())
                .unwrap_err()
                .python_class(),
            "RecursionError"
        );
        assert!(e
            .enforce("c", &Target::new(), &Credentials::builder().build())
            .unwrap());
    }

    #[test]
    fn scope_types_raise_invalid_scope() {
        let e = Enforcer::new(
            RuleSet::new()
                .with_defaults([RuleDefault::new("r", "@").with_scope_types(["project"])]),
        );
        let sys = Credentials::builder().system_scope("all").build();
        assert!(matches!(
            e.enforce("r", &Target::new(), &sys),
            Err(EnforceError::InvalidScope { .. })
        ));
        assert!(e
            .enforce("r", &Target::new(), &Credentials::builder().build())
            .unwrap());
    }

    #[test]
    fn default_rule_and_undefined_references() {
        let rs = RuleSet::new()
            .with_rules("t", [("a", "rule:nope"), ("default", "role:x")])
            .with_default_rule(DefaultRule::Name("default".into()));
        let e = Enforcer::new(rs);
        let x = Credentials::builder().roles(["X"]).build();
        assert!(e.enforce("a", &Target::new(), &x).unwrap());
        assert!(e.enforce("unknown", &Target::new(), &x).unwrap());
        assert!(e
            .diagnostics()
            .iter()
            .any(|d| matches!(d, Diagnostic::UndefinedRule { target, .. } if target == "nope")));
    }
}
