//! Python's printf-style `str % mapping`, as oslo.policy applies it to a check's
//! match string with the target dict (`"project_id:%(project_id)s" % target`).
//!
//! The format string is split once ([`PyFormat::parse`]); applying it looks keys
//! up in order, so a missing key (Python `KeyError`, which oslo turns into a
//! False check) is reported before a later malformed specifier, exactly as
//! CPython does.

use std::borrow::Cow;
use std::fmt::Write as _;

use super::value::{ascii_str, float_repr, PyValue};
use super::{PyError, PyErrorKind};

/// The target a format is applied to: Python's `dict` (ordered keys).
pub type Mapping = [(Box<str>, PyValue)];

/// Looks a key up in a mapping (the last duplicate wins, like `dict`).
pub fn lookup<'a>(map: &'a Mapping, key: &str) -> Option<&'a PyValue> {
    map.iter().rev().find(|(k, _)| &**k == key).map(|(_, v)| v)
}

#[derive(Debug, Clone, PartialEq)]
enum Width {
    Num(usize),
    Star,
}

#[derive(Debug, Clone, PartialEq, Default)]
struct Flags {
    left: bool,
    plus: bool,
    space: bool,
    alt: bool,
    zero: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Lit(Box<str>),
    Spec {
        key: Option<Box<str>>,
        flags: Flags,
        width: Option<Width>,
        prec: Option<Width>,
        /// The conversion character, or the error raised when it is reached.
        conv: Result<char, PyError>,
    },
    /// A specifier that fails while its key is being read.
    Fail(PyError),
}

/// A pre-split `%`-format string.
#[derive(Debug, Clone, PartialEq)]
pub struct PyFormat {
    segs: Box<[Seg]>,
}

/// The outcome of applying a format to a mapping.
#[derive(Debug, Clone, PartialEq)]
pub enum Formatted<'a> {
    /// The formatted text.
    Text(Cow<'a, str>),
    /// A key was missing (Python `KeyError`): oslo's checks answer False.
    MissingKey(Box<str>),
}

impl PyFormat {
    /// Splits a format string into literal text and specifiers.
    pub fn parse(fmt: &str) -> PyFormat {
        let mut segs = Vec::new();
        let mut lit = String::new();
        let chars: Vec<(usize, char)> = fmt.char_indices().collect();
        // CPython reports positions in code points.
        let mut i = 0;
        let n = chars.len();
        while i < n {
            let c = chars[i].1;
            if c != '%' {
                lit.push(c);
                i += 1;
                continue;
            }
            let start = i;
            i += 1;
            if i >= n {
                flush(&mut segs, &mut lit);
                segs.push(Seg::Fail(PyError::value("incomplete format")));
                break;
            }
            if chars[i].1 == '%' {
                lit.push('%');
                i += 1;
                continue;
            }
            flush(&mut segs, &mut lit);
            let mut key = None;
            if chars[i].1 == '(' {
                let mut depth = 1;
                i += 1;
                let kstart = i;
                while i < n && depth > 0 {
                    match chars[i].1 {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    i += 1;
                }
                if depth > 0 {
                    segs.push(Seg::Fail(PyError::value("incomplete format key")));
                    return PyFormat { segs: segs.into() };
                }
                let k: String = chars[kstart..i - 1].iter().map(|(_, c)| *c).collect();
                key = Some(k.into_boxed_str());
            }
            let mut flags = Flags::default();
            while i < n {
                match chars[i].1 {
                    '-' => flags.left = true,
                    '+' => flags.plus = true,
                    ' ' => flags.space = true,
                    '#' => flags.alt = true,
                    '0' => flags.zero = true,
                    _ => break,
                }
                i += 1;
            }
            let mut width = None;
            if i < n && chars[i].1 == '*' {
                width = Some(Width::Star);
                i += 1;
            } else {
                let mut w: Option<usize> = None;
                while i < n && chars[i].1.is_ascii_digit() {
                    let d = chars[i].1 as usize - '0' as usize;
                    w = Some(w.unwrap_or(0).saturating_mul(10).saturating_add(d));
                    i += 1;
                }
                width = w.map(Width::Num).or(width);
            }
            let mut prec = None;
            if i < n && chars[i].1 == '.' {
                i += 1;
                if i < n && chars[i].1 == '*' {
                    prec = Some(Width::Star);
                    i += 1;
                } else {
                    let mut p = 0usize;
                    while i < n && chars[i].1.is_ascii_digit() {
                        p = p
                            .saturating_mul(10)
                            .saturating_add(chars[i].1 as usize - '0' as usize);
                        i += 1;
                    }
                    prec = Some(Width::Num(p));
                }
            }
            if i < n && matches!(chars[i].1, 'h' | 'l' | 'L') {
                i += 1;
            }
            let conv = if i >= n {
                Err(PyError::value("incomplete format"))
            } else {
                let c = chars[i].1;
                i += 1;
                if "sradiuoxXeEfFgGc".contains(c) {
                    Ok(c)
                } else {
                    let _ = start;
                    Err(PyError::value(format!(
                        "unsupported format character '{}' (0x{:x}) at index {}",
                        c,
                        c as u32,
                        i - 1
                    )))
                }
            };
            let failed = conv.is_err();
            segs.push(Seg::Spec {
                key,
                flags,
                width,
                prec,
                conv,
            });
            if failed {
                break;
            }
        }
        flush(&mut segs, &mut lit);
        PyFormat { segs: segs.into() }
    }

    /// The format string has no specifier (`fmt % mapping == fmt`, `%%` aside).
    pub fn literal(&self) -> Option<&str> {
        match &*self.segs {
            [] => Some(""),
            [Seg::Lit(s)] => Some(s),
            _ => None,
        }
    }

    /// Keys the format reads from the target, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.segs.iter().filter_map(|s| match s {
            Seg::Spec { key: Some(k), .. } => Some(&**k),
            _ => None,
        })
    }

    /// Applies the format to `map`, borrowing when the result is one literal or one
    /// plain `%(key)s` of a string value (the hot path: no allocation).
    pub fn apply<'a>(&'a self, map: &'a Mapping) -> Result<Formatted<'a>, PyError> {
        // Fast paths.
        match &*self.segs {
            [] => return Ok(Formatted::Text(Cow::Borrowed(""))),
            [Seg::Lit(s)] => return Ok(Formatted::Text(Cow::Borrowed(s))),
            [Seg::Spec {
                key: Some(k),
                flags,
                width: None,
                prec: None,
                conv: Ok('s'),
            }] if *flags == Flags::default() => {
                return match lookup(map, k) {
                    None => Ok(Formatted::MissingKey(k.clone())),
                    Some(PyValue::Str(s)) => Ok(Formatted::Text(Cow::Borrowed(s))),
                    Some(v) => Ok(Formatted::Text(Cow::Owned(v.py_str()))),
                };
            }
            _ => {}
        }
        let mut out = String::new();
        // CPython hands an unkeyed specifier the whole mapping, once; a keyed one
        // replaces the argument with the value it read, which it then consumes.
        let mut consumed = false;
        for seg in self.segs.iter() {
            match seg {
                Seg::Lit(s) => out.push_str(s),
                Seg::Fail(e) => return Err(e.clone()),
                Seg::Spec {
                    key,
                    flags,
                    width,
                    prec,
                    conv,
                } => {
                    let whole;
                    let value: &PyValue = match key {
                        Some(k) => match lookup(map, k) {
                            Some(v) => {
                                consumed = false;
                                v
                            }
                            None => return Ok(Formatted::MissingKey(k.clone())),
                        },
                        None => {
                            whole = PyValue::Dict(map.to_vec());
                            &whole
                        }
                    };
                    // CPython refuses widths past ssize_t and precisions past int
                    // while parsing ("... too big"); widths it would try to
                    // allocate but cannot are a MemoryError. Bound them here so a
                    // policy file cannot make a check allocate gigabytes.
                    if let Some(Width::Num(w)) = width {
                        if *w > isize::MAX as usize {
                            return Err(PyError {
                                kind: PyErrorKind::ValueError,
                                message: "width too big".into(),
                            });
                        }
                        if *w > MAX_PADDED_WIDTH {
                            return Err(PyError {
                                kind: PyErrorKind::MemoryError,
                                message: String::new(),
                            });
                        }
                    }
                    if let Some(Width::Num(p)) = prec {
                        if *p > i32::MAX as usize {
                            return Err(PyError {
                                kind: PyErrorKind::ValueError,
                                message: "precision too big".into(),
                            });
                        }
                        if *p > MAX_PADDED_WIDTH && conv.as_ref().is_ok_and(|c| is_numeric_conv(*c))
                        {
                            return Err(PyError {
                                kind: PyErrorKind::MemoryError,
                                message: String::new(),
                            });
                        }
                    }
                    if matches!(width, Some(Width::Star)) || matches!(prec, Some(Width::Star)) {
                        if consumed || matches!(value, PyValue::Int(_) | PyValue::Bool(_)) {
                            return Err(PyError::type_error(
                                "not enough arguments for format string",
                            ));
                        }
                        return Err(PyError::type_error("* wants int"));
                    }
                    let width = match width {
                        Some(Width::Num(w)) => Some(*w),
                        _ => None,
                    };
                    let prec = match prec {
                        Some(Width::Num(p)) => Some(*p),
                        _ => None,
                    };
                    let conv = match conv {
                        Ok(c) => *c,
                        Err(e) if e.message.starts_with("incomplete") => return Err(e.clone()),
                        Err(e) if !consumed => return Err(e.clone()),
                        Err(_) => {
                            return Err(PyError::type_error(
                                "not enough arguments for format string",
                            ))
                        }
                    };
                    if consumed {
                        return Err(PyError::type_error(
                            "not enough arguments for format string",
                        ));
                    }
                    consumed = true;
                    let body = convert(value, conv, flags, prec)?;
                    pad(&mut out, &body, width, flags, conv);
                }
            }
        }
        Ok(Formatted::Text(Cow::Owned(out)))
    }
}

fn flush(segs: &mut Vec<Seg>, lit: &mut String) {
    if !lit.is_empty() {
        segs.push(Seg::Lit(std::mem::take(lit).into_boxed_str()));
    }
}

/// Widths (and numeric precisions) above this are answered with `MemoryError`
/// instead of being allocated (CPython would try, and fail for the huge ones).
const MAX_PADDED_WIDTH: usize = 1 << 24;

fn is_numeric_conv(c: char) -> bool {
    "diuoxXeEfFgG".contains(c)
}

fn pad(out: &mut String, body: &str, width: Option<usize>, flags: &Flags, conv: char) {
    let len = body.chars().count();
    let w = width.unwrap_or(0);
    if len >= w {
        out.push_str(body);
        return;
    }
    let fill = w - len;
    if flags.left {
        out.push_str(body);
        out.extend(std::iter::repeat_n(' ', fill));
    } else if flags.zero
        && is_numeric_conv(conv)
        && !body.ends_with("inf")
        && !body.ends_with("nan")
        && !body.ends_with("INF")
        && !body.ends_with("NAN")
    {
        // Zeros go after the sign and any 0x/0o prefix.
        let mut prefix_len = 0;
        let b = body.as_bytes();
        if !b.is_empty() && (b[0] == b'-' || b[0] == b'+' || b[0] == b' ') {
            prefix_len = 1;
        }
        if b.len() >= prefix_len + 2
            && b[prefix_len] == b'0'
            && matches!(b[prefix_len + 1], b'x' | b'X' | b'o')
        {
            prefix_len += 2;
        }
        out.push_str(&body[..prefix_len]);
        out.extend(std::iter::repeat_n('0', fill));
        out.push_str(&body[prefix_len..]);
    } else {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(body);
    }
}

fn sign_prefix(neg: bool, flags: &Flags) -> &'static str {
    if neg {
        "-"
    } else if flags.plus {
        "+"
    } else if flags.space {
        " "
    } else {
        ""
    }
}

fn as_int(value: &PyValue, conv: char) -> Result<i128, PyError> {
    match value {
        PyValue::Int(i) => Ok(*i),
        PyValue::Bool(b) => Ok(i128::from(*b)),
        PyValue::Float(f) if matches!(conv, 'd' | 'i' | 'u') => {
            if f.is_nan() {
                Err(PyError::value("cannot convert float NaN to integer"))
            } else if f.is_infinite() {
                Err(PyError::overflow(
                    "cannot convert float infinity to integer",
                ))
            } else {
                Ok(f.trunc() as i128)
            }
        }
        other => Err(PyError::type_error(if matches!(conv, 'd' | 'i' | 'u') {
            format!(
                "%{conv} format: a real number is required, not {}",
                other.type_name()
            )
        } else {
            format!(
                "%{conv} format: an integer is required, not {}",
                other.type_name()
            )
        })),
    }
}

fn convert(
    value: &PyValue,
    conv: char,
    flags: &Flags,
    prec: Option<usize>,
) -> Result<String, PyError> {
    match conv {
        's' | 'r' | 'a' => {
            let s = match conv {
                's' => value.py_str(),
                'r' => value.py_repr(),
                _ => {
                    let mut out = String::new();
                    match value {
                        PyValue::Str(s) => ascii_str(s, &mut out),
                        other => ascii_str_of_repr(&other.py_repr(), &mut out),
                    }
                    out
                }
            };
            Ok(match prec {
                Some(p) => s.chars().take(p).collect(),
                None => s,
            })
        }
        'c' => match value {
            PyValue::Int(_) | PyValue::Bool(_) => {
                let i = as_int(value, 'd')?;
                match u32::try_from(i).ok().filter(|u| *u < 0x110000) {
                    Some(u) => Ok(char::from_u32(u)
                        .map(String::from)
                        .unwrap_or_else(|| "\u{fffd}".into())),
                    None => Err(PyError::overflow("%c arg not in range(0x110000)")),
                }
            }
            PyValue::Str(s) if s.chars().count() == 1 => Ok(s.to_string()),
            _ => Err(PyError::type_error("%c requires int or char")),
        },
        'd' | 'i' | 'u' | 'o' | 'x' | 'X' => {
            let i = as_int(value, conv)?;
            let mag = i.unsigned_abs();
            let mut digits = match conv {
                'o' => format!("{mag:o}"),
                'x' => format!("{mag:x}"),
                'X' => format!("{mag:X}"),
                _ => format!("{mag}"),
            };
            if let Some(p) = prec {
                while digits.len() < p {
                    digits.insert(0, '0');
                }
            }
            let prefix = if flags.alt {
                match conv {
                    'o' => "0o",
                    'x' => "0x",
                    'X' => "0X",
                    _ => "",
                }
            } else {
                ""
            };
            Ok(format!("{}{}{}", sign_prefix(i < 0, flags), prefix, digits))
        }
        _ => {
            let f = match value {
                PyValue::Float(f) => *f,
                PyValue::Int(i) => *i as f64,
                PyValue::Bool(b) => f64::from(u8::from(*b)),
                other => {
                    return Err(PyError::type_error(format!(
                        "must be real number, not {}",
                        other.type_name()
                    )));
                }
            };
            Ok(format_float(f, conv, flags, prec.unwrap_or(6)))
        }
    }
}

fn ascii_str_of_repr(repr: &str, out: &mut String) {
    for c in repr.chars() {
        let u = c as u32;
        if u < 0x80 {
            out.push(c);
        } else if u < 0x100 {
            let _ = write!(out, "\\x{u:02x}");
        } else if u < 0x10000 {
            let _ = write!(out, "\\u{u:04x}");
        } else {
            let _ = write!(out, "\\U{u:08x}");
        }
    }
}

fn exp_form(f: f64, prec: usize, upper: bool) -> String {
    let s = format!("{:.*e}", prec, f.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let e: i32 = exp.parse().unwrap_or(0);
    format!(
        "{}{}{}{:02}",
        mant,
        if upper { 'E' } else { 'e' },
        if e < 0 { '-' } else { '+' },
        e.abs()
    )
}

/// `%e`, `%f`, `%g` (and upper-case forms) like Python.
fn format_float(f: f64, conv: char, flags: &Flags, prec: usize) -> String {
    let upper = conv.is_ascii_uppercase();
    let neg = f.is_sign_negative() && !f.is_nan();
    let sign = sign_prefix(neg, flags);
    if !f.is_finite() {
        let s = if f.is_nan() { "nan" } else { "inf" };
        return format!(
            "{sign}{}",
            if upper {
                s.to_uppercase()
            } else {
                s.to_string()
            }
        );
    }
    let body = match conv.to_ascii_lowercase() {
        'f' => {
            let mut s = format!("{:.*}", prec, f.abs());
            if flags.alt && prec == 0 {
                s.push('.');
            }
            s
        }
        'e' => {
            let mut s = exp_form(f, prec, upper);
            if flags.alt && prec == 0 {
                if let Some(pos) = s.find(['e', 'E']) {
                    s.insert(pos, '.');
                }
            }
            s
        }
        _ => {
            let p = if prec == 0 { 1 } else { prec };
            let probe = format!("{:.*e}", p - 1, f.abs());
            let x: i32 = probe
                .split_once('e')
                .map(|(_, e)| e.parse().unwrap_or(0))
                .unwrap_or(0);
            let mut s = if f == 0.0 {
                format!("{:.*}", p - 1, 0.0)
            } else if -4 <= x && x < p as i32 {
                format!("{:.*}", (p as i32 - 1 - x) as usize, f.abs())
            } else {
                exp_form(f, p - 1, upper)
            };
            if !flags.alt {
                let (m, e) = match s.find(['e', 'E']) {
                    Some(pos) => (s[..pos].to_string(), s[pos..].to_string()),
                    None => (s.clone(), String::new()),
                };
                let m = if m.contains('.') {
                    m.trim_end_matches('0').trim_end_matches('.').to_string()
                } else {
                    m
                };
                s = m + &e;
            } else if !s.contains('.') {
                match s.find(['e', 'E']) {
                    Some(pos) => s.insert(pos, '.'),
                    None => s.push('.'),
                }
            }
            s
        }
    };
    let _ = float_repr;
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, PyValue)]) -> Vec<(Box<str>, PyValue)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), v.clone()))
            .collect()
    }

    fn run(fmt: &str, m: &Mapping) -> Result<String, PyError> {
        match PyFormat::parse(fmt).apply(m)? {
            Formatted::Text(t) => Ok(t.into_owned()),
            Formatted::MissingKey(k) => Ok(format!("<missing {k}>")),
        }
    }

    #[test]
    fn matches_python_percent_formatting() {
        let m = map(&[("a", PyValue::Str("x".into())), ("n", PyValue::Int(5))]);
        assert_eq!(run("%(a)s", &m).unwrap(), "x");
        assert_eq!(run("p-%(a)s-%(n)s", &m).unwrap(), "p-x-5");
        assert_eq!(run("%(a)5s|%(a)-3s|", &m).unwrap(), "    x|x  |");
        assert_eq!(
            run("%(n)03d %(n)+d %(n)x %(n)#o", &m).unwrap(),
            "005 +5 5 0o5"
        );
        assert_eq!(run("%(a)r", &m).unwrap(), "'x'");
        assert_eq!(run("%s", &m).unwrap(), "{'a': 'x', 'n': 5}");
        assert_eq!(run("100%%", &m).unwrap(), "100%");
        assert_eq!(run("%(zz)s", &m).unwrap(), "<missing zz>");
        assert_eq!(
            run("%(n).2f %(n)e %(n)g", &m).unwrap(),
            "5.00 5.000000e+00 5"
        );
    }

    /// Found by the parse_rule fuzz target: a width Python would try (and fail)
    /// to allocate must not make a policy check allocate gigabytes.
    #[test]
    fn huge_widths_and_precisions_are_errors_like_python() {
        let m = map(&[("x", PyValue::Int(1))]);
        let kind = |f: &str| run(f, &m).unwrap_err();
        assert_eq!(
            kind("%(x)99999999999999999999999s").kind,
            PyErrorKind::ValueError
        );
        assert_eq!(
            kind("%(x)99999999999999999999999s").message,
            "width too big"
        );
        assert_eq!(kind("%(x)3333333333333s").kind, PyErrorKind::MemoryError);
        assert_eq!(kind("%(x).99999999999s").message, "precision too big");
        assert_eq!(kind("%(x).3333333333f").message, "precision too big");
        assert_eq!(run("%(x)5s", &m).unwrap(), "    1");
    }

    #[test]
    fn errors_match_python() {
        let m = map(&[("a", PyValue::Str("x".into()))]);
        assert_eq!(
            run("abc%", &m).unwrap_err().kind,
            super::super::PyErrorKind::ValueError
        );
        assert_eq!(run("%(a", &m).unwrap_err().message, "incomplete format key");
        assert_eq!(
            run("%(a)%", &m).unwrap_err().message,
            "unsupported format character '%' (0x25) at index 4"
        );
        assert_eq!(
            run("%(a)d", &m).unwrap_err().message,
            "%d format: a real number is required, not str"
        );
        assert_eq!(
            run("%(a)s%s%s", &m).unwrap_err().message,
            "not enough arguments for format string"
        );
        // A missing key is found before a later bad specifier.
        assert_eq!(run("%(zz)s%q", &m).unwrap(), "<missing zz>");
    }
}
