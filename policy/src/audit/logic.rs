//! Rules as boolean formulas over their atoms: inlining `rule:` references,
//! exhaustive truth tables and minimal sum-of-products forms.

use std::collections::BTreeSet;

use crate::check::{Atom, AtomKind, Check};
use crate::py::{classify_kind, KindClass, PyFormat};
use crate::ruleset::{DefaultRule, Effective};

/// A boolean formula whose variables are distinct atoms.
#[derive(Debug, Clone, PartialEq)]
pub enum Formula {
    /// Constant.
    Const(bool),
    /// Variable index into [`Atoms`].
    Var(usize),
    /// Negation.
    Not(Box<Formula>),
    /// Conjunction.
    And(Vec<Formula>),
    /// Disjunction.
    Or(Vec<Formula>),
}

/// The distinct atoms of one or more formulas (role names compared lower-cased).
#[derive(Debug, Clone, Default)]
pub struct Atoms {
    /// Display forms, by variable index.
    pub names: Vec<String>,
    /// The atoms themselves.
    pub atoms: Vec<Atom>,
}

impl Atoms {
    fn var(&mut self, a: &Atom) -> usize {
        let key = atom_key(a);
        if let Some(i) = self.names.iter().position(|n| *n == key) {
            return i;
        }
        self.names.push(key);
        self.atoms.push(a.clone());
        self.names.len() - 1
    }
}

/// The canonical text of an atom (roles lower-cased, as they compare).
pub fn atom_key(a: &Atom) -> String {
    match a.kind {
        AtomKind::Role if PyFormat::parse(&a.match_text).literal().is_some() => {
            format!("role:{}", a.match_text.to_lowercase())
        }
        _ => format!("{}:{}", a.kind_text, a.match_text),
    }
}

/// The value of an atom that does not depend on the request, if any
/// (`'x':x` is always True; `True:False` always False).
fn constant_atom(a: &Atom) -> Option<bool> {
    if a.kind != AtomKind::Generic {
        return None;
    }
    let lit = PyFormat::parse(&a.match_text).literal()?.to_string();
    match classify_kind(&a.kind_text) {
        KindClass::Literal(s) => Some(s == lit),
        _ => None,
    }
}

/// Builds the formula of `check`, inlining `rule:` references (a cycle or a
/// depth over 64 becomes an opaque variable).
pub fn formula(
    check: &Check,
    effective: &Effective,
    default: &DefaultRule,
    atoms: &mut Atoms,
) -> Formula {
    build(check, effective, default, atoms, &mut Vec::new())
}

fn build(
    check: &Check,
    eff: &Effective,
    default: &DefaultRule,
    atoms: &mut Atoms,
    stack: &mut Vec<String>,
) -> Formula {
    match check {
        Check::True => Formula::Const(true),
        Check::False => Formula::Const(false),
        Check::Not(c) => Formula::Not(Box::new(build(c, eff, default, atoms, stack))),
        Check::And(cs) => Formula::And(
            cs.iter()
                .map(|c| build(c, eff, default, atoms, stack))
                .collect(),
        ),
        Check::Or(cs) => Formula::Or(
            cs.iter()
                .map(|c| build(c, eff, default, atoms, stack))
                .collect(),
        ),
        Check::Atom(a) => {
            if a.kind == AtomKind::Rule {
                let target = match eff.get(&a.match_text) {
                    Some(r) => Some((a.match_text.clone(), r.check.clone())),
                    None => match default {
                        DefaultRule::Name(n) => eff.get(n).map(|r| (n.clone(), r.check.clone())),
                        DefaultRule::Check(s) => {
                            Some((String::from("<default>"), crate::check::parse_rule(s).check))
                        }
                        DefaultRule::None => None,
                    },
                };
                return match target {
                    None => Formula::Const(false),
                    Some((name, c)) => {
                        if stack.contains(&name) || stack.len() > 64 {
                            Formula::Var(atoms.var(a))
                        } else {
                            stack.push(name);
                            let f = build(&c, eff, default, atoms, stack);
                            stack.pop();
                            f
                        }
                    }
                };
            }
            match constant_atom(a) {
                Some(b) => Formula::Const(b),
                None => Formula::Var(atoms.var(a)),
            }
        }
    }
}

impl Formula {
    /// Evaluates under an assignment (bit i = variable i).
    pub fn eval(&self, bits: u64) -> bool {
        match self {
            Formula::Const(b) => *b,
            Formula::Var(i) => bits >> i & 1 == 1,
            Formula::Not(f) => !f.eval(bits),
            Formula::And(fs) => fs.iter().all(|f| f.eval(bits)),
            Formula::Or(fs) => fs.iter().any(|f| f.eval(bits)),
        }
    }

    /// Variables that occur.
    pub fn vars(&self, out: &mut BTreeSet<usize>) {
        match self {
            Formula::Const(_) => {}
            Formula::Var(i) => {
                out.insert(*i);
            }
            Formula::Not(f) => f.vars(out),
            Formula::And(fs) | Formula::Or(fs) => fs.iter().for_each(|f| f.vars(out)),
        }
    }
}

/// At most this many variables are enumerated (2^n assignments).
pub const MAX_VARS: usize = 16;

/// Truth table over `nvars` variables, or `None` if too many.
pub fn truth_table(f: &Formula, nvars: usize) -> Option<Vec<bool>> {
    if nvars > MAX_VARS {
        return None;
    }
    Some((0..1u64 << nvars).map(|b| f.eval(b)).collect())
}

/// A product term: variables required true and required false.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Term {
    /// Must hold.
    pub pos: BTreeSet<usize>,
    /// Must not hold.
    pub neg: BTreeSet<usize>,
}

/// Prime implicants of `f` (Quine–McCluskey), i.e. the minimal sets of
/// conditions that pass it; `None` if there are too many variables.
pub fn minimal_terms(f: &Formula, nvars: usize) -> Option<Vec<Term>> {
    let table = truth_table(f, nvars)?;
    // Implicants as (value bits, care mask).
    let mut current: BTreeSet<(u64, u64)> = BTreeSet::new();
    let full = if nvars == 64 {
        u64::MAX
    } else {
        (1u64 << nvars) - 1
    };
    for (m, &t) in table.iter().enumerate() {
        if t {
            current.insert((m as u64, full));
        }
    }
    let mut primes: BTreeSet<(u64, u64)> = BTreeSet::new();
    while !current.is_empty() {
        let mut next = BTreeSet::new();
        let mut used = BTreeSet::new();
        let items: Vec<(u64, u64)> = current.iter().copied().collect();
        for i in 0..items.len() {
            for j in i + 1..items.len() {
                let (v1, c1) = items[i];
                let (v2, c2) = items[j];
                if c1 != c2 {
                    continue;
                }
                let diff = (v1 ^ v2) & c1;
                if diff.count_ones() == 1 {
                    next.insert((v1 & !diff, c1 & !diff));
                    used.insert(items[i]);
                    used.insert(items[j]);
                }
            }
        }
        for it in items {
            if !used.contains(&it) {
                primes.insert(it);
            }
        }
        current = next;
    }
    let mut terms: Vec<Term> = primes
        .into_iter()
        .map(|(v, c)| {
            let mut t = Term {
                pos: BTreeSet::new(),
                neg: BTreeSet::new(),
            };
            for i in 0..nvars {
                if c >> i & 1 == 1 {
                    if v >> i & 1 == 1 {
                        t.pos.insert(i);
                    } else {
                        t.neg.insert(i);
                    }
                }
            }
            t
        })
        .collect();
    terms.sort_by(|a, b| (a.pos.len() + a.neg.len(), a).cmp(&(b.pos.len() + b.neg.len(), b)));
    Some(terms)
}

/// Renames variables so that only those occurring are numbered (0..n).
pub fn compact(f: &Formula, atoms: &Atoms) -> (Formula, Atoms) {
    let mut used = BTreeSet::new();
    f.vars(&mut used);
    let map: Vec<usize> = used.iter().copied().collect();
    fn re(f: &Formula, map: &[usize]) -> Formula {
        match f {
            Formula::Const(b) => Formula::Const(*b),
            Formula::Var(i) => Formula::Var(map.iter().position(|m| m == i).unwrap_or(0)),
            Formula::Not(x) => Formula::Not(Box::new(re(x, map))),
            Formula::And(xs) => Formula::And(xs.iter().map(|x| re(x, map)).collect()),
            Formula::Or(xs) => Formula::Or(xs.iter().map(|x| re(x, map)).collect()),
        }
    }
    let mut out = Atoms::default();
    for &i in &map {
        out.names.push(atoms.names[i].clone());
        out.atoms.push(atoms.atoms[i].clone());
    }
    (re(f, &map), out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::parse_rule;

    #[test]
    fn prime_implicants() {
        let eff = Effective::default();
        let mut atoms = Atoms::default();
        let f = formula(
            &parse_rule("role:a or (role:A and role:b) or (role:c and not role:c)").check,
            &eff,
            &DefaultRule::None,
            &mut atoms,
        );
        let (f, atoms) = compact(&f, &atoms);
        let terms = minimal_terms(&f, atoms.names.len()).unwrap();
        assert_eq!(terms.len(), 1);
        assert_eq!(
            atoms.names[terms[0].pos.iter().next().copied().unwrap()],
            "role:a"
        );
    }

    #[test]
    fn constants_are_found() {
        let eff = Effective::default();
        let mut atoms = Atoms::default();
        let f = formula(
            &parse_rule("role:x or not role:X").check,
            &eff,
            &DefaultRule::None,
            &mut atoms,
        );
        assert_eq!(
            truth_table(&f, atoms.names.len()).unwrap(),
            vec![true, true]
        );
        let g = formula(
            &parse_rule("'a':a and True:False").check,
            &eff,
            &DefaultRule::None,
            &mut atoms,
        );
        assert!(!g.eval(0));
    }
}
