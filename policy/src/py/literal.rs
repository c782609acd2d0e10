//! `ast.literal_eval(kind)` as oslo.policy's generic check uses it.
//!
//! The generic check first tries to read its kind as a Python literal: a
//! literal is compared as `str(literal)`; a valid expression that is not a
//! literal (`ValueError`) makes the check walk the credentials; text that is not
//! a Python expression at all raises `SyntaxError` out of `enforce`. This module
//! tokenises and parses the expression grammar far enough to tell those three
//! apart and to print a literal's `str()`.

use super::value::{float_repr_opts, in_ranges, repr_str};
use super::{tables, PyError, PyErrorKind};

/// What a generic check's kind is.
#[derive(Debug, Clone, PartialEq)]
pub enum KindClass {
    /// A Python literal; the payload is `str(literal)`.
    Literal(String),
    /// Not a literal: walk the credentials along `kind.split('.')`.
    Path,
    /// `ast.literal_eval` raises (usually `SyntaxError`).
    Error(PyError),
}

/// Classifies a generic check's kind like `ast.literal_eval`.
pub fn classify_kind(kind: &str) -> KindClass {
    let src = kind.trim_start_matches([' ', '\t']);
    if src.contains('\0') {
        return KindClass::Error(PyError::syntax(
            "source code string cannot contain null bytes",
        ));
    }
    let toks = match tokenize(src) {
        Ok(t) => t,
        Err(e) => return KindClass::Error(e),
    };
    let mut p = Parser {
        toks: &toks,
        pos: 0,
    };
    let node = match p.eval_input() {
        Ok(n) => n,
        Err(e) => return KindClass::Error(e),
    };
    match convert(&node) {
        Ok(v) => KindClass::Literal(v.to_str()),
        Err(Conv::Malformed) => KindClass::Path,
        Err(Conv::Error(e)) => KindClass::Error(e),
    }
}

// ---------------------------------------------------------------- tokens

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    Num(Num),
    Str(StrLit),
    Op(&'static str),
    Newline,
    End,
}

#[derive(Debug, Clone, PartialEq)]
enum Num {
    /// Decimal digits of a non-negative integer.
    Int(String),
    Float(f64),
    Imag(f64),
}

#[derive(Debug, Clone, PartialEq)]
enum StrLit {
    Str(String),
    Bytes(Vec<u8>),
    FStr,
    /// Decoding is not modelled (`\N{...}`).
    Unsupported,
}

const OPS: &[&str] = &[
    "**=", "//=", ">>=", "<<=", "...", "->", ":=", "**", "//", "<<", ">>", "<=", ">=", "==", "!=",
    "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "@=", "+", "-", "*", "/", "%", "@", "&", "|",
    "^", "~", "<", ">", "(", ")", "[", "]", "{", "}", ",", ".", ";", "=", ":",
];

const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

fn id_start(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic() || (!c.is_ascii() && in_ranges(tables::ID_START, c as u32))
}

fn id_continue(c: char) -> bool {
    c == '_'
        || c.is_ascii_alphanumeric()
        || (!c.is_ascii() && in_ranges(tables::ID_CONTINUE, c as u32))
}

fn invalid_char(c: char) -> PyError {
    if super::value::is_printable(c) && c != ' ' {
        PyError::syntax(format!("invalid character '{}' (U+{:04X})", c, c as u32))
    } else {
        PyError::syntax(format!(
            "invalid non-printable character U+{:04X}",
            c as u32
        ))
    }
}

fn tokenize(src: &str) -> Result<Vec<Tok>, PyError> {
    let cs: Vec<char> = src.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    let mut depth: Vec<char> = Vec::new();
    while i < cs.len() {
        let c = cs[i];
        match c {
            ' ' | '\t' | '\x0c' => i += 1,
            '\n' | '\r' => {
                if depth.is_empty() && !matches!(out.last(), None | Some(Tok::Newline)) {
                    out.push(Tok::Newline);
                }
                i += 1;
            }
            '#' => {
                while i < cs.len() && cs[i] != '\n' && cs[i] != '\r' {
                    i += 1;
                }
            }
            '\\' => {
                if i + 1 < cs.len() && (cs[i + 1] == '\n' || cs[i + 1] == '\r') {
                    i += 2;
                } else if i + 1 >= cs.len() {
                    return Err(PyError::syntax("unexpected EOF while parsing"));
                } else {
                    return Err(PyError::syntax(
                        "unexpected character after line continuation character",
                    ));
                }
            }
            '\'' | '"' => {
                let (lit, n) = read_string(&cs, i, "")?;
                out.push(Tok::Str(lit));
                i = n;
            }
            c if c.is_ascii_digit()
                || (c == '.' && i + 1 < cs.len() && cs[i + 1].is_ascii_digit()) =>
            {
                let (num, n) = read_number(&cs, i)?;
                out.push(Tok::Num(num));
                i = n;
            }
            c if id_start(c) || (!c.is_ascii() && id_continue(c)) => {
                if !id_start(c) {
                    return Err(invalid_char(c));
                }
                let s = i;
                while i < cs.len() {
                    if id_continue(cs[i]) {
                        i += 1;
                    } else if !cs[i].is_ascii() {
                        return Err(invalid_char(cs[i]));
                    } else {
                        break;
                    }
                }
                let name: String = cs[s..i].iter().collect();
                if i < cs.len() && (cs[i] == '\'' || cs[i] == '"') {
                    let lower = name.to_ascii_lowercase();
                    if ["r", "u", "f", "b", "br", "rb", "fr", "rf"].contains(&lower.as_str()) {
                        let (lit, n) = read_string(&cs, i, &lower)?;
                        out.push(Tok::Str(lit));
                        i = n;
                        continue;
                    }
                }
                out.push(Tok::Name(name));
            }
            _ => {
                let rest: String = cs[i..cs.len().min(i + 3)].iter().collect();
                let op = OPS.iter().find(|op| rest.starts_with(**op));
                match op {
                    Some(op) => {
                        match *op {
                            "(" | "[" | "{" => depth.push(op.chars().next().unwrap_or('(')),
                            ")" | "]" | "}" => {
                                let want = match *op {
                                    ")" => '(',
                                    "]" => '[',
                                    _ => '{',
                                };
                                match depth.pop() {
                                    Some(o) if o == want => {}
                                    Some(o) => {
                                        return Err(PyError::syntax(format!(
                                            "closing parenthesis '{}' does not match opening parenthesis '{}'",
                                            op, o
                                        )))
                                    }
                                    None => return Err(PyError::syntax(format!("unmatched '{}'", op))),
                                }
                            }
                            _ => {}
                        }
                        out.push(Tok::Op(op));
                        i += op.chars().count();
                    }
                    None => {
                        if c.is_ascii() && !c.is_ascii_control() && c != '\x7f' {
                            return Err(PyError::syntax("invalid syntax"));
                        }
                        return Err(invalid_char(c));
                    }
                }
            }
        }
    }
    if let Some(o) = depth.last() {
        return Err(PyError::syntax(format!("'{}' was never closed", o)));
    }
    out.push(Tok::End);
    Ok(out)
}

fn read_number(cs: &[char], start: usize) -> Result<(Num, usize), PyError> {
    let mut i = start;
    let invalid = |what: &str| PyError::syntax(format!("invalid {what} literal"));
    let digits_run = |i: &mut usize, ok: &dyn Fn(char) -> bool| -> Result<String, ()> {
        // digits with single underscores between them
        let mut s = String::new();
        let mut last_us = true;
        let mut any = false;
        while *i < cs.len() && (ok(cs[*i]) || cs[*i] == '_') {
            if cs[*i] == '_' {
                if last_us {
                    return Err(());
                }
                last_us = true;
            } else {
                s.push(cs[*i]);
                last_us = false;
                any = true;
            }
            *i += 1;
        }
        if last_us && any {
            return Err(());
        }
        Ok(s)
    };
    let after_check = |i: usize, what: &str| -> Result<(), PyError> {
        if i < cs.len() && (id_continue(cs[i]) || cs[i] == '_') {
            // "1if x else y" is allowed (with a warning) before these keywords.
            let rest: String = cs[i..].iter().take(6).collect();
            for kw in ["and", "else", "for", "if", "in", "is", "not", "or"] {
                if rest.starts_with(kw) {
                    return Ok(());
                }
            }
            return Err(invalid(what));
        }
        Ok(())
    };
    if cs[i] == '0' && i + 1 < cs.len() && "xXoObB".contains(cs[i + 1]) {
        let (radix, what) = match cs[i + 1].to_ascii_lowercase() {
            'x' => (16, "hexadecimal"),
            'o' => (8, "octal"),
            _ => (2, "binary"),
        };
        i += 2;
        if i < cs.len() && cs[i] == '_' {
            i += 1;
        }
        let d = digits_run(&mut i, &|c: char| c.is_digit(radix)).map_err(|_| invalid(what))?;
        if d.is_empty() {
            return Err(invalid(what));
        }
        if i < cs.len() && cs[i].is_ascii_digit() {
            return Err(PyError::syntax(format!(
                "invalid digit '{}' in {} literal",
                cs[i], what
            )));
        }
        after_check(i, what)?;
        return Ok((Num::Int(radix_to_decimal(&d, radix)), i));
    }
    let int_part =
        digits_run(&mut i, &|c: char| c.is_ascii_digit()).map_err(|_| invalid("decimal"))?;
    let mut is_float = false;
    let mut text = int_part.clone();
    if i < cs.len() && cs[i] == '.' {
        is_float = true;
        text.push('.');
        i += 1;
        if i < cs.len() && cs[i].is_ascii_digit() {
            let f = digits_run(&mut i, &|c: char| c.is_ascii_digit())
                .map_err(|_| invalid("decimal"))?;
            text.push_str(&f);
        } else if i < cs.len() && cs[i] == '_' {
            return Err(invalid("decimal"));
        }
    }
    if i < cs.len() && (cs[i] == 'e' || cs[i] == 'E') {
        let save = i;
        let mut j = i + 1;
        let mut exp = String::from("e");
        if j < cs.len() && (cs[j] == '+' || cs[j] == '-') {
            exp.push(cs[j]);
            j += 1;
        }
        if j < cs.len() && cs[j].is_ascii_digit() {
            let e = digits_run(&mut j, &|c: char| c.is_ascii_digit())
                .map_err(|_| invalid("decimal"))?;
            exp.push_str(&e);
            text.push_str(&exp);
            is_float = true;
            i = j;
        } else {
            // "1else": the keyword check below decides.
            i = save;
        }
    }
    if i < cs.len() && (cs[i] == 'j' || cs[i] == 'J') {
        i += 1;
        after_check(i, "imaginary")?;
        let f: f64 = text.parse().unwrap_or(f64::INFINITY);
        return Ok((Num::Imag(f), i));
    }
    after_check(i, "decimal")?;
    if is_float {
        let f: f64 = text.parse().unwrap_or(f64::INFINITY);
        return Ok((Num::Float(f), i));
    }
    if int_part.len() > 1 && int_part.starts_with('0') {
        if int_part.chars().all(|c| c == '0') {
            return Ok((Num::Int("0".into()), i));
        }
        return Err(PyError::syntax(
            "leading zeros in decimal integer literals are not permitted; use an 0o prefix for octal integers",
        ));
    }
    Ok((Num::Int(int_part), i))
}

/// Converts digits in `radix` to decimal digits (arbitrary size).
fn radix_to_decimal(digits: &str, radix: u32) -> String {
    // little-endian base 1e9 limbs
    let mut limbs: Vec<u64> = vec![0];
    for c in digits.chars() {
        let mut carry = u64::from(c.to_digit(radix).unwrap_or(0));
        for l in limbs.iter_mut() {
            let v = *l * u64::from(radix) + carry;
            *l = v % 1_000_000_000;
            carry = v / 1_000_000_000;
        }
        while carry > 0 {
            limbs.push(carry % 1_000_000_000);
            carry /= 1_000_000_000;
        }
    }
    let mut s = format!("{}", limbs.last().copied().unwrap_or(0));
    for l in limbs.iter().rev().skip(1) {
        s.push_str(&format!("{l:09}"));
    }
    s
}

fn read_string(cs: &[char], start: usize, prefix: &str) -> Result<(StrLit, usize), PyError> {
    let raw = prefix.contains('r');
    let bytes = prefix.contains('b');
    let fstr = prefix.contains('f');
    let q = cs[start];
    let triple = start + 2 < cs.len() && cs[start + 1] == q && cs[start + 2] == q;
    let mut i = start + if triple { 3 } else { 1 };
    let body_start = i;
    loop {
        if i >= cs.len() {
            return Err(if triple {
                PyError::syntax("unterminated triple-quoted string literal (detected at line 1)")
            } else {
                PyError::syntax("unterminated string literal (detected at line 1)")
            });
        }
        let c = cs[i];
        if c == '\\' {
            i += 2;
            continue;
        }
        if !triple && (c == '\n' || c == '\r') {
            return Err(PyError::syntax(
                "unterminated string literal (detected at line 1)",
            ));
        }
        if c == q && (!triple || (i + 2 < cs.len() && cs[i + 1] == q && cs[i + 2] == q)) {
            break;
        }
        i += 1;
    }
    let body: String = cs[body_start..i.min(cs.len())].iter().collect();
    let end = i + if triple { 3 } else { 1 };
    if bytes && !body.is_ascii() {
        return Err(PyError::syntax(
            "bytes can only contain ASCII literal characters",
        ));
    }
    if fstr {
        return Ok((StrLit::FStr, end));
    }
    let lit = if raw {
        if bytes {
            StrLit::Bytes(body.bytes().collect())
        } else {
            StrLit::Str(body)
        }
    } else {
        match unescape(&body, bytes)? {
            Some(Unescaped::Str(s)) => StrLit::Str(s),
            Some(Unescaped::Bytes(b)) => StrLit::Bytes(b),
            None => StrLit::Unsupported,
        }
    };
    Ok((lit, end))
}

enum Unescaped {
    Str(String),
    Bytes(Vec<u8>),
}

fn unescape(body: &str, bytes: bool) -> Result<Option<Unescaped>, PyError> {
    let cs: Vec<char> = body.chars().collect();
    let mut out: Vec<u32> = Vec::new();
    let mut i = 0;
    let codec = if bytes {
        ""
    } else {
        "(unicode error) 'unicodeescape' codec can't decode bytes"
    };
    while i < cs.len() {
        let c = cs[i];
        if c != '\\' || i + 1 >= cs.len() {
            out.push(c as u32);
            i += 1;
            continue;
        }
        let e = cs[i + 1];
        i += 2;
        match e {
            '\n' => {}
            '\r' => {
                if i < cs.len() && cs[i] == '\n' {
                    i += 1;
                }
            }
            '\\' => out.push('\\' as u32),
            '\'' => out.push('\'' as u32),
            '"' => out.push('"' as u32),
            'a' => out.push(7),
            'b' => out.push(8),
            'f' => out.push(12),
            'n' => out.push(10),
            'r' => out.push(13),
            't' => out.push(9),
            'v' => out.push(11),
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                let mut k = 0;
                while k < 2 && i < cs.len() && cs[i].is_digit(8) {
                    v = v * 8 + cs[i].to_digit(8).unwrap_or(0);
                    i += 1;
                    k += 1;
                }
                if bytes && v > 0o377 {
                    return Ok(None);
                }
                out.push(v);
            }
            'x' | 'u' | 'U' if !(bytes && e != 'x') => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = cs[i..(i + n).min(cs.len())].iter().collect();
                if hex.len() < n || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(if bytes {
                        PyError::new(
                            PyErrorKind::SyntaxError,
                            format!("(value error) invalid \\x escape at position {} (<unknown>, line 1)", i - 2),
                        )
                    } else {
                        PyError::syntax(format!(
                            "{codec} in position {}-{}: truncated \\{}{} escape",
                            i - 2,
                            i - 1 + hex.len().min(n),
                            e,
                            "X".repeat(n)
                        ))
                    });
                }
                let v = u32::from_str_radix(&hex, 16).unwrap_or(0);
                if v > 0x10FFFF {
                    return Err(PyError::syntax(format!(
                        "{codec} in position {}-{}: illegal Unicode character",
                        i - 2,
                        i + n - 1
                    )));
                }
                out.push(v);
                i += n;
            }
            'N' if !bytes => return Ok(None),
            other => {
                out.push('\\' as u32);
                out.push(other as u32);
            }
        }
    }
    if bytes {
        Ok(Some(Unescaped::Bytes(
            out.into_iter().map(|v| v as u8).collect(),
        )))
    } else {
        // Lone surrogates cannot live in a Rust string; leave that corner out.
        let mut s = String::new();
        for v in out {
            match char::from_u32(v) {
                Some(c) => s.push(c),
                None => return Ok(None),
            }
        }
        Ok(Some(Unescaped::Str(s)))
    }
}

// ---------------------------------------------------------------- parser

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Const(Value),
    Tuple(Vec<Node>),
    List(Vec<Node>),
    Set(Vec<Node>),
    EmptyDict,
    SetCall,
    BinAddSub(bool, Box<Node>, Box<Node>),
    Unary(char, Box<Node>),
    /// Any valid expression literal_eval rejects.
    Other,
    /// A constant whose value this module does not compute.
    Unsupported,
}

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Int(bool, String),
    Float(f64),
    Complex(f64, f64),
    Str(String),
    Bytes(Vec<u8>),
    Bool(bool),
    None,
    Ellipsis,
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict,
    EmptySet,
}

struct Parser<'a> {
    toks: &'a [Tok],
    pos: usize,
}

type PResult = Result<Node, PyError>;

fn invalid_syntax() -> PyError {
    PyError::syntax("invalid syntax")
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos.min(self.toks.len() - 1)]
    }
    fn peek2(&self) -> &Tok {
        &self.toks[(self.pos + 1).min(self.toks.len() - 1)]
    }
    fn bump(&mut self) -> Tok {
        let t = self.peek().clone();
        self.pos += 1;
        t
    }
    fn is_op(&self, op: &str) -> bool {
        matches!(self.peek(), Tok::Op(o) if *o == op)
    }
    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Tok::Name(n) if n == kw)
    }
    fn eat_op(&mut self, op: &str) -> bool {
        if self.is_op(op) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expect_op(&mut self, op: &str) -> Result<(), PyError> {
        if self.eat_op(op) {
            Ok(())
        } else {
            Err(invalid_syntax())
        }
    }

    fn eval_input(&mut self) -> PResult {
        if matches!(self.peek(), Tok::End | Tok::Newline) {
            return Err(PyError::new(
                PyErrorKind::SyntaxError,
                "invalid syntax (<unknown>, line 0)",
            ));
        }
        let n = self.expressions()?;
        while matches!(self.peek(), Tok::Newline) {
            self.pos += 1;
        }
        if !matches!(self.peek(), Tok::End) {
            return Err(invalid_syntax());
        }
        Ok(n)
    }

    /// `expressions`: a comma list becomes a tuple.
    fn expressions(&mut self) -> PResult {
        let first = self.star_or_expr()?;
        if !self.is_op(",") {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.eat_op(",") {
            if self.starts_expr() {
                items.push(self.star_or_expr()?);
            } else {
                break;
            }
        }
        Ok(Node::Tuple(items))
    }

    fn starts_expr(&self) -> bool {
        match self.peek() {
            Tok::Name(n) => {
                !KEYWORDS.contains(&n.as_str())
                    || ["True", "False", "None", "not", "lambda", "await"].contains(&n.as_str())
            }
            Tok::Num(_) | Tok::Str(_) => true,
            Tok::Op(o) => ["(", "[", "{", "-", "+", "~", "*", "..."].contains(o),
            _ => false,
        }
    }

    fn star_or_expr(&mut self) -> PResult {
        if self.eat_op("*") {
            self.bitor()?;
            return Ok(Node::Other);
        }
        self.expression()
    }

    fn expression(&mut self) -> PResult {
        if self.is_kw("lambda") {
            return Err(invalid_syntax());
        }
        let n = self.disjunction()?;
        if self.eat_kw("if") {
            self.disjunction()?;
            if !self.eat_kw("else") {
                return Err(PyError::syntax("expected 'else' after 'if' expression"));
            }
            self.expression()?;
            return Ok(Node::Other);
        }
        Ok(n)
    }

    fn disjunction(&mut self) -> PResult {
        let n = self.conjunction()?;
        if self.is_kw("or") {
            while self.eat_kw("or") {
                self.conjunction()?;
            }
            return Ok(Node::Other);
        }
        Ok(n)
    }

    fn conjunction(&mut self) -> PResult {
        let n = self.inversion()?;
        if self.is_kw("and") {
            while self.eat_kw("and") {
                self.inversion()?;
            }
            return Ok(Node::Other);
        }
        Ok(n)
    }

    fn inversion(&mut self) -> PResult {
        if self.eat_kw("not") {
            self.inversion()?;
            return Ok(Node::Other);
        }
        self.comparison()
    }

    fn comparison(&mut self) -> PResult {
        let n = self.bitor()?;
        let mut any = false;
        loop {
            let is_cmp = ["==", "!=", "<", ">", "<=", ">="]
                .iter()
                .any(|o| self.is_op(o));
            if is_cmp || self.is_kw("in") {
                self.pos += 1;
            } else if self.is_kw("not") && matches!(self.peek2(), Tok::Name(n) if n == "in") {
                self.pos += 2;
            } else if self.is_kw("is") {
                self.pos += 1;
                self.eat_kw("not");
            } else {
                break;
            }
            any = true;
            self.bitor()?;
        }
        Ok(if any { Node::Other } else { n })
    }

    fn binary_level(&mut self, level: usize) -> PResult {
        const LEVELS: &[&[&str]] = &[
            &["|"],
            &["^"],
            &["&"],
            &["<<", ">>"],
            &["+", "-"],
            &["*", "/", "//", "%", "@"],
        ];
        if level >= LEVELS.len() {
            return self.factor();
        }
        let mut left = self.binary_level(level + 1)?;
        loop {
            let op = LEVELS[level].iter().find(|o| self.is_op(o)).copied();
            match op {
                Some(op) => {
                    self.pos += 1;
                    let right = self.binary_level(level + 1)?;
                    left = if op == "+" || op == "-" {
                        Node::BinAddSub(op == "+", Box::new(left), Box::new(right))
                    } else {
                        Node::Other
                    };
                }
                None => return Ok(left),
            }
        }
    }

    fn bitor(&mut self) -> PResult {
        self.binary_level(0)
    }

    fn factor(&mut self) -> PResult {
        for op in ["+", "-", "~"] {
            if self.eat_op(op) {
                let operand = self.factor()?;
                return Ok(Node::Unary(
                    op.chars().next().unwrap_or('+'),
                    Box::new(operand),
                ));
            }
        }
        self.power()
    }

    fn power(&mut self) -> PResult {
        let awaited = self.eat_kw("await");
        let n = self.primary()?;
        if self.eat_op("**") {
            self.factor()?;
            return Ok(Node::Other);
        }
        Ok(if awaited { Node::Other } else { n })
    }

    fn primary(&mut self) -> PResult {
        let bare_set = matches!(self.peek(), Tok::Name(n) if n == "set");
        let mut n = self.atom()?;
        let mut first = true;
        loop {
            if self.eat_op(".") {
                match self.bump() {
                    Tok::Name(name) if !KEYWORDS.contains(&name.as_str()) => n = Node::Other,
                    _ => return Err(invalid_syntax()),
                }
            } else if self.eat_op("(") {
                let empty = self.is_op(")");
                self.call_args()?;
                n = if bare_set && first && empty {
                    Node::SetCall
                } else {
                    Node::Other
                };
            } else if self.eat_op("[") {
                if self.is_op("]") {
                    return Err(invalid_syntax());
                }
                self.expressions()?;
                self.expect_op("]")?;
                n = Node::Other;
            } else {
                return Ok(n);
            }
            first = false;
        }
    }

    fn call_args(&mut self) -> Result<(), PyError> {
        if self.eat_op(")") {
            return Ok(());
        }
        loop {
            if self.eat_op("**") || self.eat_op("*") {
                self.expression()?;
            } else if matches!(self.peek(), Tok::Name(n) if !KEYWORDS.contains(&n.as_str()))
                && matches!(self.peek2(), Tok::Op("="))
            {
                self.pos += 2;
                self.expression()?;
            } else {
                self.expression()?;
                if self.is_kw("for") || self.is_kw("async") {
                    self.comp_for()?;
                }
            }
            if self.eat_op(",") {
                if self.eat_op(")") {
                    return Ok(());
                }
                continue;
            }
            return self.expect_op(")");
        }
    }

    fn comp_for(&mut self) -> Result<(), PyError> {
        while self.is_kw("for") || self.is_kw("async") {
            self.eat_kw("async");
            if !self.eat_kw("for") {
                return Err(invalid_syntax());
            }
            // targets
            loop {
                self.eat_op("*");
                self.bitor()?;
                if !self.eat_op(",") {
                    break;
                }
                if self.is_kw("in") {
                    break;
                }
            }
            if !self.eat_kw("in") {
                return Err(invalid_syntax());
            }
            self.disjunction()?;
            while self.eat_kw("if") {
                self.disjunction()?;
            }
        }
        Ok(())
    }

    /// Elements of `( )`, `[ ]` or `{ }` after the opening bracket.
    fn bracket_items(&mut self, close: &str) -> Result<(Vec<Node>, bool, bool), PyError> {
        // (items, saw_comma, is_comprehension)
        let mut items = Vec::new();
        let mut comma = false;
        if self.eat_op(close) {
            return Ok((items, false, false));
        }
        let first = self.star_or_expr()?;
        if self.is_kw("for") || self.is_kw("async") {
            self.comp_for()?;
            self.expect_op(close)?;
            return Ok((vec![first], false, true));
        }
        items.push(first);
        while self.eat_op(",") {
            comma = true;
            if self.is_op(close) {
                break;
            }
            items.push(self.star_or_expr()?);
        }
        self.expect_op(close)?;
        Ok((items, comma, false))
    }

    fn atom(&mut self) -> PResult {
        match self.bump() {
            Tok::Name(n) => match n.as_str() {
                "True" => Ok(Node::Const(Value::Bool(true))),
                "False" => Ok(Node::Const(Value::Bool(false))),
                "None" => Ok(Node::Const(Value::None)),
                n if KEYWORDS.contains(&n) => Err(invalid_syntax()),
                _ => Ok(Node::Other),
            },
            Tok::Num(Num::Int(d)) => Ok(Node::Const(Value::Int(false, d))),
            Tok::Num(Num::Float(f)) => Ok(Node::Const(Value::Float(f))),
            Tok::Num(Num::Imag(f)) => Ok(Node::Const(Value::Complex(0.0, f))),
            Tok::Str(first) => {
                let mut parts = vec![first];
                while let Tok::Str(_) = self.peek() {
                    if let Tok::Str(s) = self.bump() {
                        parts.push(s);
                    }
                }
                let any_bytes = parts.iter().any(|p| matches!(p, StrLit::Bytes(_)));
                let all_bytes = parts.iter().all(|p| matches!(p, StrLit::Bytes(_)));
                if any_bytes && !all_bytes {
                    return Err(PyError::syntax("cannot mix bytes and nonbytes literals"));
                }
                if parts.iter().any(|p| matches!(p, StrLit::FStr)) {
                    return Ok(Node::Other);
                }
                if parts.iter().any(|p| matches!(p, StrLit::Unsupported)) {
                    return Ok(Node::Unsupported);
                }
                if all_bytes {
                    let mut b = Vec::new();
                    for p in parts {
                        if let StrLit::Bytes(x) = p {
                            b.extend(x);
                        }
                    }
                    Ok(Node::Const(Value::Bytes(b)))
                } else {
                    let mut s = String::new();
                    for p in parts {
                        if let StrLit::Str(x) = p {
                            s.push_str(&x);
                        }
                    }
                    Ok(Node::Const(Value::Str(s)))
                }
            }
            Tok::Op("...") => Ok(Node::Const(Value::Ellipsis)),
            Tok::Op("(") => {
                if self.is_kw("yield") {
                    return Err(PyError::new(PyErrorKind::Unsupported, "yield expression"));
                }
                let (items, comma, comp) = self.bracket_items(")")?;
                if comp {
                    return Ok(Node::Other);
                }
                if items.is_empty() {
                    return Ok(Node::Tuple(items));
                }
                if !comma && items.len() == 1 {
                    // A parenthesised starred expression alone is an error.
                    return Ok(items.into_iter().next().unwrap_or(Node::Other));
                }
                Ok(Node::Tuple(items))
            }
            Tok::Op("[") => {
                let (items, _, comp) = self.bracket_items("]")?;
                Ok(if comp { Node::Other } else { Node::List(items) })
            }
            Tok::Op("{") => {
                if self.eat_op("}") {
                    return Ok(Node::EmptyDict);
                }
                if self.is_op("**") {
                    // {**a}: dict display with unpacking
                    let (_, _, _) = self.bracket_items("}")?;
                    return Ok(Node::Other);
                }
                let (items, _, comp) = self.bracket_items("}")?;
                Ok(if comp { Node::Other } else { Node::Set(items) })
            }
            _ => Err(invalid_syntax()),
        }
    }
}

// ---------------------------------------------------------------- literal_eval

enum Conv {
    Malformed,
    Error(PyError),
}

fn convert(n: &Node) -> Result<Value, Conv> {
    match n {
        Node::Const(v) => Ok(v.clone()),
        Node::Tuple(items) => Ok(Value::Tuple(
            items.iter().map(convert).collect::<Result<_, _>>()?,
        )),
        Node::List(items) => Ok(Value::List(
            items.iter().map(convert).collect::<Result<_, _>>()?,
        )),
        Node::Set(items) => {
            // Element conversion errors come first; printing a set's order is not modelled.
            for i in items {
                convert(i)?;
            }
            Err(Conv::Error(PyError::new(
                PyErrorKind::Unsupported,
                "set literal kinds are not supported",
            )))
        }
        Node::SetCall => Ok(Value::EmptySet),
        Node::EmptyDict => Ok(Value::Dict),
        Node::BinAddSub(add, l, r) => {
            let left = signed_num(l)?;
            let right = num(r)?;
            match (&left, &right) {
                (Value::Int(..) | Value::Float(_), Value::Complex(rr, ri)) => {
                    let lf = to_f64(&left)?;
                    Ok(if *add {
                        Value::Complex(lf + rr, 0.0 + ri)
                    } else {
                        Value::Complex(lf - rr, 0.0 - ri)
                    })
                }
                _ => Err(Conv::Malformed),
            }
        }
        Node::Unsupported => Err(Conv::Error(PyError::new(
            PyErrorKind::Unsupported,
            "\\N{...} escapes are not supported",
        ))),
        other => signed_num(other),
    }
}

fn to_f64(v: &Value) -> Result<f64, Conv> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(neg, d) => {
            let f: f64 = d.parse().unwrap_or(f64::INFINITY);
            if f.is_infinite() {
                return Err(Conv::Error(PyError::overflow(
                    "int too large to convert to float",
                )));
            }
            Ok(if *neg { -f } else { f })
        }
        _ => Err(Conv::Malformed),
    }
}

fn num(n: &Node) -> Result<Value, Conv> {
    match n {
        Node::Const(v @ (Value::Int(..) | Value::Float(_) | Value::Complex(..))) => Ok(v.clone()),
        _ => Err(Conv::Malformed),
    }
}

fn signed_num(n: &Node) -> Result<Value, Conv> {
    match n {
        Node::Unary(op @ ('+' | '-'), operand) => {
            let v = num(operand)?;
            if *op == '+' {
                return Ok(v);
            }
            Ok(match v {
                Value::Int(neg, d) => {
                    if d == "0" {
                        Value::Int(false, d)
                    } else {
                        Value::Int(!neg, d)
                    }
                }
                Value::Float(f) => Value::Float(-f),
                Value::Complex(r, i) => Value::Complex(-r, -i),
                other => other,
            })
        }
        other => num(other),
    }
}

fn complex_part(f: f64, sign: bool) -> String {
    let s = float_repr_opts(f, false);
    if sign && !s.starts_with('-') {
        format!("+{s}")
    } else {
        s
    }
}

impl Value {
    fn to_str(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            other => other.repr(),
        }
    }

    fn repr(&self) -> String {
        match self {
            Value::Int(neg, d) => {
                if *neg {
                    format!("-{d}")
                } else {
                    d.clone()
                }
            }
            Value::Float(f) => float_repr_opts(*f, true),
            Value::Complex(r, i) => {
                if *r == 0.0 && r.is_sign_positive() {
                    format!("{}j", complex_part(*i, false))
                } else {
                    format!("({}{}j)", complex_part(*r, false), complex_part(*i, true))
                }
            }
            Value::Str(s) => {
                let mut out = String::new();
                repr_str(s, &mut out);
                out
            }
            Value::Bytes(b) => {
                let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
                    '"'
                } else {
                    '\''
                };
                let mut out = String::from("b");
                out.push(quote);
                for &c in b {
                    match c {
                        b'\\' => out.push_str("\\\\"),
                        b'\n' => out.push_str("\\n"),
                        b'\r' => out.push_str("\\r"),
                        b'\t' => out.push_str("\\t"),
                        c if c as char == quote => {
                            out.push('\\');
                            out.push(c as char);
                        }
                        0x20..=0x7e => out.push(c as char),
                        c => out.push_str(&format!("\\x{c:02x}")),
                    }
                }
                out.push(quote);
                out
            }
            Value::Bool(true) => "True".into(),
            Value::Bool(false) => "False".into(),
            Value::None => "None".into(),
            Value::Ellipsis => "Ellipsis".into(),
            Value::Tuple(items) => {
                let inner: Vec<String> = items.iter().map(Value::repr).collect();
                if inner.len() == 1 {
                    format!("({},)", inner[0])
                } else {
                    format!("({})", inner.join(", "))
                }
            }
            Value::List(items) => {
                let inner: Vec<String> = items.iter().map(Value::repr).collect();
                format!("[{}]", inner.join(", "))
            }
            Value::Dict => "{}".into(),
            Value::EmptySet => "set()".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(k: &str) -> String {
        match classify_kind(k) {
            KindClass::Literal(s) => s,
            other => panic!("{k:?}: {other:?}"),
        }
    }

    fn syntax(k: &str) -> bool {
        matches!(classify_kind(k), KindClass::Error(e) if e.kind == PyErrorKind::SyntaxError)
    }

    #[test]
    fn literals_print_like_python() {
        assert_eq!(lit("True"), "True");
        assert_eq!(lit("None"), "None");
        assert_eq!(lit("'admin'"), "admin");
        assert_eq!(lit("\"x\""), "x");
        assert_eq!(lit("0x1F"), "31");
        assert_eq!(lit("1_000"), "1000");
        assert_eq!(lit("00"), "0");
        assert_eq!(lit("1e400"), "inf");
        assert_eq!(lit("-1j"), "(-0-1j)");
        assert_eq!(lit("1+2j"), "(1+2j)");
        assert_eq!(lit("set()"), "set()");
        assert_eq!(lit("1,"), "(1,)");
        assert_eq!(lit("b'x'"), "b'x'");
        assert_eq!(lit("[1,'a',2.0]"), "[1, 'a', 2.0]");
        assert_eq!(lit("(1)"), "1");
        assert_eq!(lit("0b101"), "5");
        assert_eq!(
            lit("0xffffffffffffffffffffffff"),
            "79228162514264337593543950335"
        );
    }

    #[test]
    fn non_literals_walk_the_credentials() {
        for k in [
            "a#b",
            "-True",
            "--1",
            "not(x)",
            "1if 1else 2",
            "f'x'",
            "user.id",
            "project-id",
            "is_admin",
            "a[0]",
            "é",
        ] {
            assert_eq!(classify_kind(k), KindClass::Path, "{k}");
        }
    }

    #[test]
    fn syntax_errors_raise() {
        for k in [
            "", "a\0b", "'a' b'x'", "a.1", "€", "01", "1__0", "'x", "1abc", "a!", "and", "not",
            "x)", "(x", "a..b", "$x", "a\nb",
        ] {
            assert!(syntax(k), "{k:?}: {:?}", classify_kind(k));
        }
    }
}
