//! The rule language: tokenising, oslo's greedy shift-reduce parser, the
//! legacy list-of-lists form, and the check tree they build.
//!
//! ```
//! use heatgate_policy::check::parse_rule;
//!
//! let parsed = parse_rule("role:admin or (role:member and project_id:%(project_id)s)");
//! assert!(parsed.issues.is_empty());
//! // Printed exactly as oslo.policy's str(check).
//! assert_eq!(
//!     parsed.check.to_string(),
//!     "(role:admin or (role:member and project_id:%(project_id)s))"
//! );
//!
//! // A structural error makes the whole rule False, and says where.
//! let bad = parse_rule("role:admin or");
//! assert_eq!(bad.check.to_string(), "!");
//! assert_eq!(bad.issues[0].position, 11);
//! ```

use std::fmt;

use crate::py::PyValue;

/// A parsed check, shaped exactly as oslo.policy's `BaseCheck` tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// `TrueCheck` (`@`, the empty rule).
    True,
    /// `FalseCheck` (`!`, an atom without a colon, a rule that failed to parse).
    False,
    /// `not X`.
    Not(Box<Check>),
    /// `(a and b ...)`.
    And(Vec<Check>),
    /// `(a or b ...)`.
    Or(Vec<Check>),
    /// An atom `kind:match`.
    Atom(Atom),
}

/// The kind of an atom decides how it is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AtomKind {
    /// `rule:NAME`.
    Rule,
    /// `role:NAME` (case-insensitive).
    Role,
    /// `http:` remote check.
    Http,
    /// `https:` remote check.
    Https,
    /// Any other kind: a literal or a path into the credentials.
    Generic,
}

/// One `kind:match` atom.
#[derive(Debug, Clone, PartialEq)]
pub struct Atom {
    /// How the atom is evaluated.
    pub kind: AtomKind,
    /// The text before the first colon.
    pub kind_text: String,
    /// The text after the first colon.
    pub match_text: String,
}

impl Atom {
    fn new(kind_text: &str, match_text: &str) -> Atom {
        let kind = match kind_text {
            "http" => AtomKind::Http,
            "https" => AtomKind::Https,
            "rule" => AtomKind::Rule,
            "role" => AtomKind::Role,
            _ => AtomKind::Generic,
        };
        Atom {
            kind,
            kind_text: kind_text.to_string(),
            match_text: match_text.to_string(),
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Check::True => f.write_str("@"),
            Check::False => f.write_str("!"),
            Check::Not(c) => write!(f, "not {c}"),
            Check::And(cs) | Check::Or(cs) => {
                let sep = if matches!(self, Check::And(_)) {
                    " and "
                } else {
                    " or "
                };
                f.write_str("(")?;
                for (i, c) in cs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(sep)?;
                    }
                    write!(f, "{c}")?;
                }
                f.write_str(")")
            }
            Check::Atom(a) => write!(f, "{}:{}", a.kind_text, a.match_text),
        }
    }
}

impl Check {
    /// Visits every atom of the tree.
    pub fn atoms(&self) -> Vec<&Atom> {
        let mut out = Vec::new();
        self.collect_atoms(&mut out);
        out
    }

    fn collect_atoms<'a>(&'a self, out: &mut Vec<&'a Atom>) {
        match self {
            Check::Atom(a) => out.push(a),
            Check::Not(c) => c.collect_atoms(out),
            Check::And(cs) | Check::Or(cs) => cs.iter().for_each(|c| c.collect_atoms(out)),
            Check::True | Check::False => {}
        }
    }

    /// Names referenced with `rule:`.
    pub fn rule_refs(&self) -> Vec<&str> {
        self.atoms()
            .into_iter()
            .filter(|a| a.kind == AtomKind::Rule)
            .map(|a| a.match_text.as_str())
            .collect()
    }
}

/// How severe a parse finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IssueLevel {
    /// The whole rule failed to parse and is False.
    Error,
    /// One atom is False (no colon, not a string); the rest of the rule stands.
    Warning,
}

/// A problem found while parsing a rule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ParseIssue {
    /// Error (whole rule False) or warning (one atom False).
    pub level: IssueLevel,
    /// Character offset in the rule text (for list rules: index of the atom).
    pub position: usize,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for ParseIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at position {}", self.message, self.position)
    }
}

/// A parsed rule and what the parser had to say about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The check tree (False if the rule failed to parse).
    pub check: Check,
    /// Findings, in order.
    pub issues: Vec<ParseIssue>,
}

/// Python's `str.isspace()` / `re` `\s` for one character.
pub fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// Parses one atom (`kind:match`, `@`, `!`) like `_parse_check`.
fn parse_atom(text: &str, position: usize, issues: &mut Vec<ParseIssue>) -> Check {
    match text {
        "!" => Check::False,
        "@" => Check::True,
        _ => match text.split_once(':') {
            Some((k, m)) => Check::Atom(Atom::new(k, m)),
            None => {
                issues.push(ParseIssue {
                    level: IssueLevel::Warning,
                    position,
                    message: format!("atom '{text}' has no ':' and is always False"),
                });
                Check::False
            }
        },
    }
}

#[derive(Debug)]
enum Tok {
    Check(Check),
    AndExpr(Vec<Check>),
    OrExpr(Vec<Check>),
    And(String),
    Or(String),
    Not(String),
    LParen,
    RParen,
    Str(String),
}

struct Shifted {
    tok: Tok,
    pos: usize,
}

fn reduce(stack: &mut Vec<Shifted>) {
    loop {
        let n = stack.len();
        if n >= 3 {
            let (a, b, c) = (&stack[n - 3].tok, &stack[n - 2].tok, &stack[n - 1].tok);
            let pos = stack[n - 3].pos;
            let rule = match (a, b, c) {
                (Tok::LParen, Tok::Check(_) | Tok::AndExpr(_) | Tok::OrExpr(_), Tok::RParen) => 1,
                (Tok::Check(_), Tok::And(_), Tok::Check(_)) => 2,
                (Tok::AndExpr(_), Tok::And(_), Tok::Check(_)) => 3,
                (Tok::OrExpr(_), Tok::And(_), Tok::Check(_)) => 4,
                (Tok::Check(_) | Tok::AndExpr(_), Tok::Or(_), Tok::Check(_)) => 5,
                (Tok::OrExpr(_), Tok::Or(_), Tok::Check(_)) => 6,
                _ => 0,
            };
            if rule != 0 {
                let c = stack.pop().map(|s| s.tok);
                let b = stack.pop().map(|s| s.tok);
                let a = stack.pop().map(|s| s.tok);
                let (Some(a), Some(b), Some(c)) = (a, b, c) else {
                    return;
                };
                let tok = match rule {
                    1 => {
                        let _ = (a, c);
                        Tok::Check(into_check(b))
                    }
                    2 => Tok::AndExpr(vec![into_check(a), into_check(c)]),
                    3 => match a {
                        Tok::AndExpr(mut v) => {
                            v.push(into_check(c));
                            Tok::AndExpr(v)
                        }
                        _ => return,
                    },
                    4 => match a {
                        Tok::OrExpr(mut v) => {
                            let last = v.pop();
                            let and = match last {
                                Some(Check::And(mut inner)) => {
                                    inner.push(into_check(c));
                                    Check::And(inner)
                                }
                                Some(other) => Check::And(vec![other, into_check(c)]),
                                None => Check::And(vec![into_check(c)]),
                            };
                            v.push(and);
                            Tok::OrExpr(v)
                        }
                        _ => return,
                    },
                    5 => Tok::OrExpr(vec![into_check(a), into_check(c)]),
                    _ => match a {
                        Tok::OrExpr(mut v) => {
                            v.push(into_check(c));
                            Tok::OrExpr(v)
                        }
                        _ => return,
                    },
                };
                stack.push(Shifted { tok, pos });
                continue;
            }
        }
        if n >= 2
            && matches!(
                (&stack[n - 2].tok, &stack[n - 1].tok),
                (Tok::Not(_), Tok::Check(_))
            )
        {
            let c = stack.pop().map(|s| s.tok);
            let pos = stack.pop().map(|s| s.pos).unwrap_or(0);
            if let Some(c) = c {
                stack.push(Shifted {
                    tok: Tok::Check(Check::Not(Box::new(into_check(c)))),
                    pos,
                });
            }
            continue;
        }
        return;
    }
}

fn into_check(t: Tok) -> Check {
    match t {
        Tok::Check(c) => c,
        Tok::AndExpr(v) => Check::And(v),
        Tok::OrExpr(v) => Check::Or(v),
        _ => Check::False,
    }
}

/// Splits on Python whitespace, keeping each token's character offset.
fn split_ws(rule: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start: Option<(usize, usize)> = None; // (byte, char)
    for (ci, (bi, c)) in rule.char_indices().enumerate() {
        if is_py_space(c) {
            if let Some((b, cpos)) = start.take() {
                out.push((cpos, &rule[b..bi]));
            }
        } else if start.is_none() {
            start = Some((bi, ci));
        }
    }
    if let Some((b, cpos)) = start {
        out.push((cpos, &rule[b..]));
    }
    out
}

/// Parses a rule written in the policy language (`_parse_text_rule`).
pub fn parse_text_rule(rule: &str) -> Parsed {
    let mut issues = Vec::new();
    if rule.is_empty() {
        return Parsed {
            check: Check::True,
            issues,
        };
    }
    let mut stack: Vec<Shifted> = Vec::new();
    for (pos, raw) in split_ws(rule) {
        let clean = raw.trim_start_matches('(');
        let lead = raw.chars().count() - clean.chars().count();
        for i in 0..lead {
            stack.push(Shifted {
                tok: Tok::LParen,
                pos: pos + i,
            });
            reduce(&mut stack);
        }
        if clean.is_empty() {
            continue;
        }
        let tok = clean;
        let cpos = pos + lead;
        let clean = tok.trim_end_matches(')');
        let trail = tok.chars().count() - clean.chars().count();
        let lowered = clean.to_ascii_lowercase();
        let keyword = clean.is_ascii() || clean.chars().count() <= 3;
        let shifted = if keyword && lowered == "and" {
            Some(Tok::And(clean.to_string()))
        } else if keyword && lowered == "or" {
            Some(Tok::Or(clean.to_string()))
        } else if keyword && lowered == "not" {
            Some(Tok::Not(clean.to_string()))
        } else if !clean.is_empty() {
            let chars: Vec<char> = tok.chars().collect();
            if chars.len() >= 2
                && ((chars[0] == '"' && chars[chars.len() - 1] == '"')
                    || (chars[0] == '\'' && chars[chars.len() - 1] == '\''))
            {
                Some(Tok::Str(chars[1..chars.len() - 1].iter().collect()))
            } else {
                Some(Tok::Check(parse_atom(clean, cpos, &mut issues)))
            }
        } else {
            None
        };
        if let Some(t) = shifted {
            stack.push(Shifted { tok: t, pos: cpos });
            reduce(&mut stack);
        }
        let rpos = cpos + clean.chars().count();
        for i in 0..trail {
            stack.push(Shifted {
                tok: Tok::RParen,
                pos: rpos + i,
            });
            reduce(&mut stack);
        }
    }
    if stack.len() == 1
        && matches!(
            stack[0].tok,
            Tok::Check(_) | Tok::AndExpr(_) | Tok::OrExpr(_)
        )
    {
        let only = stack
            .pop()
            .map(|s| s.tok)
            .unwrap_or(Tok::Check(Check::False));
        return Parsed {
            check: into_check(only),
            issues,
        };
    }
    issues.push(structural_issue(&stack, rule));
    Parsed {
        check: Check::False,
        issues,
    }
}

fn structural_issue(stack: &[Shifted], rule: &str) -> ParseIssue {
    let describe = |t: &Tok| -> String {
        match t {
            Tok::And(s) | Tok::Or(s) | Tok::Not(s) => format!("operator '{s}'"),
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::Str(s) => format!("quoted string '{s}'"),
            Tok::Check(c) => format!("check '{c}'"),
            Tok::AndExpr(v) => format!("check '{}'", Check::And(v.clone())),
            Tok::OrExpr(v) => format!("check '{}'", Check::Or(v.clone())),
        }
    };
    let (pos, message) = if stack.is_empty() {
        (0, "rule has no checks".to_string())
    } else if let Some(s) = stack.iter().find(|s| matches!(s.tok, Tok::Str(_))) {
        (
            s.pos,
            format!(
                "{} is not allowed (quoted tokens never parse)",
                describe(&s.tok)
            ),
        )
    } else if let Some(s) = stack.iter().find(|s| matches!(s.tok, Tok::RParen)) {
        (s.pos, "unbalanced ')'".to_string())
    } else if let Some(s) = stack.iter().find(|s| matches!(s.tok, Tok::LParen)) {
        (s.pos, "unbalanced '(' never closed".to_string())
    } else if let Some(s) = stack
        .iter()
        .rev()
        .find(|s| matches!(s.tok, Tok::And(_) | Tok::Or(_) | Tok::Not(_)))
    {
        if std::ptr::eq(s, stack.last().unwrap_or(s)) {
            (
                s.pos,
                format!("dangling {} with nothing after it", describe(&s.tok)),
            )
        } else {
            (s.pos, format!("misplaced {}", describe(&s.tok)))
        }
    } else {
        let s = &stack[1.min(stack.len() - 1)];
        (
            s.pos,
            format!("{} is not joined to the rest by and/or", describe(&s.tok)),
        )
    };
    let _ = rule;
    ParseIssue {
        level: IssueLevel::Error,
        position: pos,
        message: format!("failed to parse rule: {message}"),
    }
}

/// Parses a rule given as a JSON/YAML value (`parse_rule`): a string in the
/// policy language, or the legacy list-of-lists form.
///
/// Returns `Err` where oslo.policy itself would crash while loading (a truthy
/// number or boolean where a list is expected).
pub fn parse_rule_value(value: &PyValue) -> Result<Parsed, String> {
    match value {
        PyValue::Str(s) => Ok(parse_text_rule(s)),
        other => parse_list_rule(other),
    }
}

/// Parses the legacy list-of-lists form (`_parse_list_rule`).
pub fn parse_list_rule(value: &PyValue) -> Result<Parsed, String> {
    let mut issues = Vec::new();
    if !value.truthy() {
        return Ok(Parsed {
            check: Check::True,
            issues,
        });
    }
    let outer = iterate(value)?;
    let mut or_list = Vec::new();
    for (i, inner) in outer.iter().enumerate() {
        if !inner.truthy() {
            continue;
        }
        let atoms: Vec<PyValue> = match inner {
            PyValue::Str(_) => vec![inner.clone()],
            other => iterate(other)?,
        };
        let mut and_list = Vec::new();
        for a in &atoms {
            match a {
                PyValue::Str(s) => and_list.push(parse_atom(s, i, &mut issues)),
                other => {
                    issues.push(ParseIssue {
                        level: IssueLevel::Warning,
                        position: i,
                        message: format!(
                            "atom {} is not a string and is always False",
                            other.py_repr()
                        ),
                    });
                    and_list.push(Check::False);
                }
            }
        }
        if and_list.len() == 1 {
            or_list.extend(and_list);
        } else {
            or_list.push(Check::And(and_list));
        }
    }
    let check = match or_list.len() {
        0 => Check::False,
        1 => or_list.pop().unwrap_or(Check::False),
        _ => Check::Or(or_list),
    };
    Ok(Parsed { check, issues })
}

/// Python iteration over a value: list elements, dict keys, string characters.
fn iterate(v: &PyValue) -> Result<Vec<PyValue>, String> {
    match v {
        PyValue::List(l) => Ok(l.clone()),
        PyValue::Dict(d) => {
            let mut keys: Vec<PyValue> = Vec::new();
            for (k, _) in d {
                let k = PyValue::Str(k.clone());
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
            Ok(keys)
        }
        PyValue::Str(s) => Ok(s
            .chars()
            .map(|c| PyValue::Str(c.to_string().into()))
            .collect()),
        other => Err(format!("'{}' object is not iterable", other.type_name())),
    }
}

/// Parses a rule string (the common case) — alias of [`parse_text_rule`].
pub fn parse_rule(rule: &str) -> Parsed {
    parse_text_rule(rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(rule: &str) -> String {
        parse_rule(rule).check.to_string()
    }

    #[test]
    fn precedence_and_flattening_follow_oslo() {
        assert_eq!(s("a:1 or b:2 and c:3"), "(a:1 or (b:2 and c:3))");
        assert_eq!(
            s("a:1 and b:2 or c:3 and d:4"),
            "((a:1 and b:2) or (c:3 and d:4))"
        );
        assert_eq!(
            s("a:1 or b:2 and c:3 and d:4"),
            "(a:1 or (b:2 and c:3 and d:4))"
        );
        assert_eq!(s("(a:1 and b:2) and c:3"), "((a:1 and b:2) and c:3)");
        // oslo's add_check mutates a parenthesised AndCheck popped from an OrCheck.
        assert_eq!(
            s("a:1 or (b:2 and c:3) and d:4"),
            "(a:1 or (b:2 and c:3 and d:4))"
        );
        assert_eq!(s("not a:1 or b:2"), "(not a:1 or b:2)");
        assert_eq!(s("not (a:1 or b:2)"), "not (a:1 or b:2)");
        assert_eq!(s("not not a:1"), "not not a:1");
        assert_eq!(s("A:1 AND b:2 Or c:3"), "((A:1 and b:2) or c:3)");
        assert_eq!(s("((a:1)))"), "!");
        assert_eq!(s("(((a:1)))"), "a:1");
    }

    #[test]
    fn constants_and_atoms() {
        assert_eq!(parse_rule("").check, Check::True);
        assert_eq!(s("@"), "@");
        assert_eq!(s("!"), "!");
        let p = parse_rule("foo or @");
        assert_eq!(p.check.to_string(), "(! or @)");
        assert_eq!(p.issues.len(), 1);
        assert_eq!(p.issues[0].level, IssueLevel::Warning);
        assert_eq!(s("role:a:b"), "role:a:b");
    }

    #[test]
    fn structural_errors_make_the_rule_false() {
        for (rule, pos) in [
            ("role:a or", 7),
            ("role:a not role:b", 7),
            ("not", 0),
            ("(role:a", 0),
            ("role:a)", 6),
            ("'role:a'", 0),
            ("role:a role:b", 7),
            ("and role:a", 0),
        ] {
            let p = parse_rule(rule);
            assert_eq!(p.check, Check::False, "{rule}");
            let err = p
                .issues
                .iter()
                .find(|i| i.level == IssueLevel::Error)
                .expect(rule);
            assert_eq!(err.position, pos, "{rule}: {err}");
        }
    }

    #[test]
    fn python_whitespace_splits_tokens() {
        assert_eq!(s("role:a\x1cor\u{a0}role:b"), "(role:a or role:b)");
        assert_eq!(s("  role:a \t\n and   role:b  "), "(role:a and role:b)");
    }

    #[test]
    fn list_of_lists() {
        let v = |j: &str| PyValue::from_json(j).unwrap();
        assert_eq!(parse_list_rule(&v("[]")).unwrap().check, Check::True);
        assert_eq!(parse_list_rule(&v("[[]]")).unwrap().check, Check::False);
        assert_eq!(
            parse_list_rule(&v(r#"[["role:admin"],[]]"#))
                .unwrap()
                .check
                .to_string(),
            "role:admin"
        );
        assert_eq!(
            parse_list_rule(&v(r#"[["role:a","role:b"],"role:c"]"#))
                .unwrap()
                .check
                .to_string(),
            "((role:a and role:b) or role:c)"
        );
        assert_eq!(parse_rule_value(&v("null")).unwrap().check, Check::True);
        assert!(parse_rule_value(&v("5")).is_err());
        assert_eq!(
            parse_list_rule(&v(r#"[[1, "role:a"]]"#))
                .unwrap()
                .check
                .to_string(),
            "(! and role:a)"
        );
    }

    /// Property: for rules that parse cleanly, oslo's printed form parses back
    /// to the same tree (random token soups from a small vocabulary).
    #[test]
    fn printed_rules_round_trip() {
        const VOCAB: &[&str] = &[
            "role:a",
            "ROLE:b",
            "rule:x",
            "a.b:%(k)s",
            "'x':y",
            "@",
            "!",
            "and",
            "AND",
            "or",
            "Or",
            "not",
            "NOT",
            "(",
            ")",
            "((",
            "))",
            "(role:c",
            "role:d)",
            "http://h/%(p)s",
            "k:(v",
            "True:True",
        ];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut clean = 0;
        for _ in 0..20_000 {
            let n = 1 + (next() % 9) as usize;
            let rule: Vec<&str> = (0..n)
                .map(|_| VOCAB[(next() % VOCAB.len() as u64) as usize])
                .collect();
            let rule = rule.join(" ");
            let p = parse_rule(&rule);
            if !p.issues.is_empty() {
                if p.issues.iter().any(|i| i.level == IssueLevel::Error) {
                    assert_eq!(p.check, Check::False, "{rule:?}");
                }
                continue;
            }
            clean += 1;
            let printed = p.check.to_string();
            let again = parse_rule(&printed);
            assert!(
                again.issues.is_empty(),
                "{rule:?} printed as {printed:?}: {:?}",
                again.issues
            );
            assert_eq!(again.check.to_string(), printed, "{rule:?}");
        }
        assert!(clean > 1_000, "only {clean} clean rules generated");
    }
}
