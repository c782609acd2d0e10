//! A small regular expression engine for `allowed_pattern` constraints, with
//! Python's `re` syntax and semantics for the part templates use: literals,
//! `.`, classes (`[a-z]`, `[^...]`, `\d \w \s` and their negations),
//! anchors (`^ $ \A \Z \b \B`), groups (`(...)`, `(?:...)`, `(?P<n>...)`),
//! alternation and greedy or lazy quantifiers (`* + ? {m} {m,} {,n} {m,n}`).
//! Back-references, look-around and inline flags are refused at parse time.
//!
//! Heat checks `re.match(pattern, value)` and then that the match ends at the
//! end of the value; [`Pattern::matches_whole`] does the same: the first match
//! in Python's priority order, anchored at the start, must span the value.
//! Matching is a backtracking machine with a visited set over (instruction,
//! position), so it runs in time proportional to pattern size times value
//! length, never exponentially.

use std::fmt;

/// How many instructions a compiled pattern may have (counted repetitions are
/// expanded).
const MAX_PROGRAM: usize = 20_000;
/// How many (instruction, position) states a match may visit.
const MAX_STATES: usize = 1 << 27;

#[derive(Debug, Clone, PartialEq, Eq)]
enum ClassItem {
    Range(char, char),
    Digit(bool),
    Word(bool),
    Space(bool),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Class {
    negated: bool,
    items: Vec<ClassItem>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Assertion {
    Start,
    End,
    StartText,
    EndText,
    WordBoundary,
    NotWordBoundary,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Empty,
    Char(char),
    Any,
    Class(Class),
    Assert(Assertion),
    Concat(Vec<Node>),
    Alt(Vec<Node>),
    Repeat {
        node: Box<Node>,
        min: u32,
        max: Option<u32>,
        greedy: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Inst {
    Char(char),
    Any,
    Class(usize),
    Assert(Assertion),
    /// Try the first target, then the second.
    Split(usize, usize),
    Jmp(usize),
    Match,
}

/// Why a pattern was refused (Python's `re.error` text where it has one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PatternError(pub(crate) String);

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    source: String,
    prog: Vec<Inst>,
    classes: Vec<Class>,
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Pattern {
    /// Compile `source`.
    pub(crate) fn new(source: &str) -> Result<Self, PatternError> {
        let mut parser = Parser {
            chars: source.chars().collect(),
            pos: 0,
        };
        let node = parser.parse_alt()?;
        if parser.pos < parser.chars.len() {
            return Err(PatternError(format!(
                "unbalanced parenthesis at position {}",
                parser.pos
            )));
        }
        let mut c = Compiler {
            prog: Vec::new(),
            classes: Vec::new(),
        };
        c.emit(&node)?;
        c.push(Inst::Match)?;
        Ok(Self {
            source: source.to_string(),
            prog: c.prog,
            classes: c.classes,
        })
    }

    /// The pattern as written.
    pub(crate) fn as_str(&self) -> &str {
        &self.source
    }

    /// Python's `re.match(p, value)` ending at the end of `value`. `None` when
    /// the value is too long to match within the state budget.
    pub(crate) fn matches_whole(&self, value: &str) -> Option<bool> {
        let input: Vec<char> = value.chars().collect();
        let width = input.len() + 1;
        let states = self.prog.len().checked_mul(width)?;
        if states > MAX_STATES {
            return None;
        }
        let mut visited = vec![0u64; states.div_ceil(64)];
        let mut stack: Vec<(usize, usize)> = vec![(0, 0)];
        while let Some((mut pc, mut pos)) = stack.pop() {
            loop {
                let state = pc * width + pos;
                let (word, bit) = (state / 64, 1u64 << (state % 64));
                if visited[word] & bit != 0 {
                    break;
                }
                visited[word] |= bit;
                match &self.prog[pc] {
                    Inst::Char(c) => {
                        if input.get(pos) == Some(c) {
                            pc += 1;
                            pos += 1;
                        } else {
                            break;
                        }
                    }
                    Inst::Any => {
                        if input.get(pos).is_some_and(|c| *c != '\n') {
                            pc += 1;
                            pos += 1;
                        } else {
                            break;
                        }
                    }
                    Inst::Class(i) => {
                        if input
                            .get(pos)
                            .is_some_and(|c| class_matches(&self.classes[*i], *c))
                        {
                            pc += 1;
                            pos += 1;
                        } else {
                            break;
                        }
                    }
                    Inst::Assert(a) => {
                        if assertion_holds(*a, &input, pos) {
                            pc += 1;
                        } else {
                            break;
                        }
                    }
                    Inst::Split(first, second) => {
                        stack.push((*second, pos));
                        pc = *first;
                    }
                    Inst::Jmp(target) => pc = *target,
                    Inst::Match => return Some(pos == input.len()),
                }
            }
        }
        Some(false)
    }
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_digit(c: char) -> bool {
    c.is_ascii_digit() || (!c.is_ascii() && c.is_numeric())
}

fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn class_matches(class: &Class, c: char) -> bool {
    let hit = class.items.iter().any(|item| match item {
        ClassItem::Range(lo, hi) => (*lo..=*hi).contains(&c),
        ClassItem::Digit(neg) => is_digit(c) != *neg,
        ClassItem::Word(neg) => is_word(c) != *neg,
        ClassItem::Space(neg) => is_space(c) != *neg,
    });
    hit != class.negated
}

fn assertion_holds(a: Assertion, input: &[char], pos: usize) -> bool {
    let n = input.len();
    match a {
        Assertion::Start | Assertion::StartText => pos == 0,
        Assertion::End => pos == n || (pos + 1 == n && input[pos] == '\n'),
        Assertion::EndText => pos == n,
        Assertion::WordBoundary | Assertion::NotWordBoundary => {
            let before = pos > 0 && is_word(input[pos - 1]);
            let after = pos < n && is_word(input[pos]);
            (before != after) == (a == Assertion::WordBoundary)
        }
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn err<T>(&self, what: &str) -> Result<T, PatternError> {
        Err(PatternError(format!("{what} at position {}", self.pos)))
    }

    fn parse_alt(&mut self) -> Result<Node, PatternError> {
        let mut branches = vec![self.parse_concat()?];
        while self.peek() == Some('|') {
            self.pos += 1;
            branches.push(self.parse_concat()?);
        }
        Ok(if branches.len() == 1 {
            branches.remove(0)
        } else {
            Node::Alt(branches)
        })
    }

    fn parse_concat(&mut self) -> Result<Node, PatternError> {
        let mut items = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.parse_atom()?;
            items.push(self.parse_quantifiers(atom)?);
        }
        Ok(match items.len() {
            0 => Node::Empty,
            1 => items.remove(0),
            _ => Node::Concat(items),
        })
    }

    /// `{m}`, `{m,}`, `{,n}`, `{m,n}` at the current position, or `None`
    /// when the brace is a literal (as Python treats it).
    fn parse_braces(&mut self) -> Result<Option<(u32, Option<u32>)>, PatternError> {
        let start = self.pos;
        let mut end = start + 1;
        while end < self.chars.len() && self.chars[end] != '}' {
            end += 1;
        }
        if end >= self.chars.len() {
            return Ok(None);
        }
        let body: String = self.chars[start + 1..end].iter().collect();
        let parse = |s: &str| -> Option<Option<u32>> {
            if s.is_empty() {
                Some(None)
            } else if s.chars().all(|c| c.is_ascii_digit()) {
                s.parse::<u32>().ok().map(Some)
            } else {
                None
            }
        };
        let (min, max) = match body.split_once(',') {
            None => match parse(&body) {
                Some(Some(n)) => (n, Some(n)),
                _ => return Ok(None),
            },
            Some((a, b)) => match (parse(a), parse(b)) {
                (Some(a), Some(b)) => (a.unwrap_or(0), b),
                _ => return Ok(None),
            },
        };
        if let Some(max) = max {
            if max < min {
                self.pos = start + 1;
                return self.err("min repeat greater than max repeat");
            }
        }
        self.pos = end + 1;
        Ok(Some((min, max)))
    }

    fn parse_quantifiers(&mut self, atom: Node) -> Result<Node, PatternError> {
        let mut node = atom;
        let mut quantified = false;
        loop {
            let at = self.pos;
            let (min, max) = match self.peek() {
                Some('*') => {
                    self.pos += 1;
                    (0, None)
                }
                Some('+') => {
                    self.pos += 1;
                    (1, None)
                }
                Some('?') => {
                    self.pos += 1;
                    (0, Some(1))
                }
                Some('{') => match self.parse_braces()? {
                    Some(q) => q,
                    None => return Ok(node),
                },
                _ => return Ok(node),
            };
            if quantified {
                self.pos = at;
                return self.err("multiple repeat");
            }
            if matches!(node, Node::Assert(_)) {
                self.pos = at;
                return self.err("nothing to repeat");
            }
            let greedy = if self.peek() == Some('?') {
                self.pos += 1;
                false
            } else {
                true
            };
            node = Node::Repeat {
                node: Box::new(node),
                min,
                max,
                greedy,
            };
            quantified = true;
        }
    }

    fn parse_atom(&mut self) -> Result<Node, PatternError> {
        let Some(c) = self.peek() else {
            return self.err("unexpected end of pattern");
        };
        self.pos += 1;
        match c {
            '.' => Ok(Node::Any),
            '^' => Ok(Node::Assert(Assertion::Start)),
            '$' => Ok(Node::Assert(Assertion::End)),
            '*' | '+' | '?' => {
                self.pos -= 1;
                self.err("nothing to repeat")
            }
            '{' => {
                let start = self.pos - 1;
                self.pos = start;
                if self.parse_braces()?.is_some() {
                    self.pos = start;
                    return self.err("nothing to repeat");
                }
                self.pos = start + 1;
                Ok(Node::Char('{'))
            }
            '(' => {
                let open = self.pos - 1;
                if self.peek() == Some('?') {
                    self.pos += 1;
                    match self.peek() {
                        Some(':') => self.pos += 1,
                        Some('P') if self.chars.get(self.pos + 1) == Some(&'<') => {
                            self.pos += 2;
                            while let Some(c) = self.peek() {
                                self.pos += 1;
                                if c == '>' {
                                    break;
                                }
                                if !is_word(c) {
                                    return self.err("bad character in group name");
                                }
                            }
                        }
                        _ => {
                            return self
                                .err("unsupported group syntax (look-around, flags or references)")
                        }
                    }
                }
                let inner = self.parse_alt()?;
                if self.peek() != Some(')') {
                    self.pos = open;
                    return self.err("missing ), unterminated subpattern");
                }
                self.pos += 1;
                Ok(inner)
            }
            ')' => {
                self.pos -= 1;
                self.err("unbalanced parenthesis")
            }
            '[' => self.parse_class(),
            '\\' => self.parse_escape(false).map(|e| match e {
                Escaped::Char(c) => Node::Char(c),
                Escaped::Item(item) => Node::Class(Class {
                    negated: false,
                    items: vec![item],
                }),
                Escaped::Assert(a) => Node::Assert(a),
            }),
            c => Ok(Node::Char(c)),
        }
    }

    fn parse_hex(&mut self, digits: usize) -> Result<char, PatternError> {
        let text: String = self.chars.iter().skip(self.pos).take(digits).collect();
        if text.len() != digits || !text.chars().all(|c| c.is_ascii_hexdigit()) {
            return self.err("incomplete escape");
        }
        self.pos += digits;
        u32::from_str_radix(&text, 16)
            .ok()
            .and_then(char::from_u32)
            .map_or_else(|| self.err("bad escape"), Ok)
    }

    fn parse_escape(&mut self, in_class: bool) -> Result<Escaped, PatternError> {
        let Some(c) = self.peek() else {
            return self.err("bad escape (end of pattern)");
        };
        self.pos += 1;
        Ok(match c {
            'd' => Escaped::Item(ClassItem::Digit(false)),
            'D' => Escaped::Item(ClassItem::Digit(true)),
            'w' => Escaped::Item(ClassItem::Word(false)),
            'W' => Escaped::Item(ClassItem::Word(true)),
            's' => Escaped::Item(ClassItem::Space(false)),
            'S' => Escaped::Item(ClassItem::Space(true)),
            'n' => Escaped::Char('\n'),
            't' => Escaped::Char('\t'),
            'r' => Escaped::Char('\r'),
            'f' => Escaped::Char('\u{c}'),
            'v' => Escaped::Char('\u{b}'),
            'a' => Escaped::Char('\u{7}'),
            'b' if in_class => Escaped::Char('\u{8}'),
            'b' => Escaped::Assert(Assertion::WordBoundary),
            'B' if !in_class => Escaped::Assert(Assertion::NotWordBoundary),
            'A' if !in_class => Escaped::Assert(Assertion::StartText),
            'Z' if !in_class => Escaped::Assert(Assertion::EndText),
            'x' => Escaped::Char(self.parse_hex(2)?),
            'u' => Escaped::Char(self.parse_hex(4)?),
            'U' => Escaped::Char(self.parse_hex(8)?),
            '0' => Escaped::Char('\0'),
            c if c.is_ascii_digit() => {
                self.pos -= 1;
                return self.err("back-references are not supported");
            }
            c if c.is_ascii_alphanumeric() => {
                self.pos -= 2;
                return self.err(&format!("bad escape \\{c}"));
            }
            c => Escaped::Char(c),
        })
    }

    fn parse_class(&mut self) -> Result<Node, PatternError> {
        let start = self.pos - 1;
        let negated = if self.peek() == Some('^') {
            self.pos += 1;
            true
        } else {
            false
        };
        let mut items = Vec::new();
        let mut first = true;
        loop {
            let Some(c) = self.peek() else {
                self.pos = start;
                return self.err("unterminated character set");
            };
            if c == ']' && !first {
                self.pos += 1;
                break;
            }
            first = false;
            self.pos += 1;
            let lo = if c == '\\' {
                match self.parse_escape(true)? {
                    Escaped::Char(c) => c,
                    Escaped::Item(item) => {
                        items.push(item);
                        continue;
                    }
                    Escaped::Assert(_) => return self.err("bad escape in character set"),
                }
            } else {
                c
            };
            if self.peek() == Some('-') && self.chars.get(self.pos + 1).is_some_and(|c| *c != ']') {
                self.pos += 1;
                let c = self.chars[self.pos];
                self.pos += 1;
                let hi = if c == '\\' {
                    match self.parse_escape(true)? {
                        Escaped::Char(c) => c,
                        _ => return self.err("bad character range"),
                    }
                } else {
                    c
                };
                if hi < lo {
                    return self.err("bad character range");
                }
                items.push(ClassItem::Range(lo, hi));
            } else {
                items.push(ClassItem::Range(lo, lo));
            }
        }
        Ok(Node::Class(Class { negated, items }))
    }
}

enum Escaped {
    Char(char),
    Item(ClassItem),
    Assert(Assertion),
}

struct Compiler {
    prog: Vec<Inst>,
    classes: Vec<Class>,
}

impl Compiler {
    fn push(&mut self, inst: Inst) -> Result<usize, PatternError> {
        if self.prog.len() >= MAX_PROGRAM {
            return Err(PatternError("pattern too large".into()));
        }
        self.prog.push(inst);
        Ok(self.prog.len() - 1)
    }

    fn emit(&mut self, node: &Node) -> Result<(), PatternError> {
        match node {
            Node::Empty => {}
            Node::Char(c) => {
                self.push(Inst::Char(*c))?;
            }
            Node::Any => {
                self.push(Inst::Any)?;
            }
            Node::Class(class) => {
                self.classes.push(class.clone());
                self.push(Inst::Class(self.classes.len() - 1))?;
            }
            Node::Assert(a) => {
                self.push(Inst::Assert(*a))?;
            }
            Node::Concat(items) => {
                for item in items {
                    self.emit(item)?;
                }
            }
            Node::Alt(branches) => {
                let mut jumps = Vec::new();
                for (i, branch) in branches.iter().enumerate() {
                    if i + 1 < branches.len() {
                        let split = self.push(Inst::Split(0, 0))?;
                        self.emit(branch)?;
                        jumps.push(self.push(Inst::Jmp(0))?);
                        let next = self.prog.len();
                        self.prog[split] = Inst::Split(split + 1, next);
                    } else {
                        self.emit(branch)?;
                    }
                }
                let end = self.prog.len();
                for j in jumps {
                    self.prog[j] = Inst::Jmp(end);
                }
            }
            Node::Repeat {
                node,
                min,
                max,
                greedy,
            } => {
                for _ in 0..*min {
                    self.emit(node)?;
                }
                match max {
                    None => {
                        let split = self.push(Inst::Split(0, 0))?;
                        self.emit(node)?;
                        self.push(Inst::Jmp(split))?;
                        let exit = self.prog.len();
                        self.prog[split] = self.split(split + 1, exit, *greedy);
                    }
                    Some(max) => {
                        let mut splits = Vec::new();
                        for _ in *min..*max {
                            splits.push(self.push(Inst::Split(0, 0))?);
                            self.emit(node)?;
                        }
                        let exit = self.prog.len();
                        for s in splits {
                            self.prog[s] = self.split(s + 1, exit, *greedy);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn split(&self, body: usize, exit: usize, greedy: bool) -> Inst {
        if greedy {
            Inst::Split(body, exit)
        } else {
            Inst::Split(exit, body)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(p: &str, v: &str) -> bool {
        Pattern::new(p).unwrap().matches_whole(v).unwrap()
    }

    fn refused(p: &str) -> String {
        Pattern::new(p).unwrap_err().0
    }

    #[test]
    fn basics() {
        assert!(whole("[a-zA-Z0-9]+", "abc123"));
        assert!(!whole("[a-zA-Z0-9]+", "abc-123"));
        assert!(!whole("[a-z]+", ""));
        assert!(whole("[a-z]*", ""));
        assert!(whole("^[a-z][a-z0-9-]*$", "web-01"));
        // `$` matches before a final newline, so the match ends there: Heat
        // refuses the value.
        assert!(!whole("^[a-z][a-z0-9-]*$", "web-01\n"));
        assert!(whole("^[a-z][a-z0-9-]*$\n", "web-01\n"));
        assert!(!whole("^[a-z][a-z0-9-]*\\Z", "web-01\n"));
        assert!(whole("\\d{3}-\\d{4}", "555-1234"));
        assert!(!whole("\\d{3}-\\d{4}", "555-12345"));
        assert!(whole("a{2,}", "aaaa"));
        assert!(whole("a{,2}b", "aab"));
        assert!(whole("a{2,3}", "aaa"));
        assert!(!whole("a{2,3}", "aaaa"));
        assert!(
            whole("x{a}", "x{a}"),
            "a brace that is not a quantifier is a literal"
        );
        assert!(whole("(?:ab|cd)+", "abcdab"));
        assert!(whole(
            "(?P<name>[\\w.]+)@example\\.com",
            "john.doe@example.com"
        ));
        assert!(whole("[^\\s]+", "no-spaces"));
        assert!(!whole("[^\\s]+", "a space"));
        assert!(whole("[]a]+", "]a]"));
        assert!(whole("[a-]+", "a-a"));
        assert!(whole(".*", "anything at all"));
        assert!(!whole(".*", "two\nlines"));
        assert!(whole("\\bword\\b", "word"));
        assert!(whole("caf\\u00e9|\\x41", "café"));
        assert!(whole("[\\w]+", "überschön"));
    }

    #[test]
    fn first_match_must_span_the_value_as_in_heat() {
        // Python's re.match("a|ab", "ab") matches "a" only, so Heat refuses "ab".
        assert!(!whole("a|ab", "ab"));
        assert!(whole("ab|a", "ab"));
        // lazy quantifiers stop early
        assert!(!whole("a+?", "aaa"));
        assert!(whole("a+?b", "aaab"));
    }

    #[test]
    fn no_exponential_blowup() {
        let p = Pattern::new("(a*)*b").unwrap();
        assert_eq!(p.matches_whole(&"a".repeat(5000)), Some(false));
        let p = Pattern::new("(a|aa)+$").unwrap();
        assert_eq!(p.matches_whole(&"a".repeat(5000)), Some(true));
    }

    #[test]
    fn refusals() {
        assert_eq!(refused("*a"), "nothing to repeat at position 0");
        assert_eq!(refused("a**"), "multiple repeat at position 2");
        assert_eq!(
            refused("(ab"),
            "missing ), unterminated subpattern at position 0"
        );
        assert_eq!(refused("ab)"), "unbalanced parenthesis at position 2");
        assert_eq!(refused("[ab"), "unterminated character set at position 0");
        assert_eq!(refused("\\q"), "bad escape \\q at position 0");
        assert_eq!(
            refused("a{3,1}"),
            "min repeat greater than max repeat at position 2"
        );
        assert_eq!(refused("^*"), "nothing to repeat at position 1");
        assert_eq!(refused("{2}"), "nothing to repeat at position 0");
        assert!(refused("(?=a)").contains("unsupported"));
        assert!(refused("(a)\\1").contains("back-references"));
        assert_eq!(refused("(?:a{1000}){1000}"), "pattern too large");
        assert_eq!(Pattern::new("a+").unwrap().as_str(), "a+");
    }
}
