//! A JSON value that remembers key order and prints like Python's `str()`.
//!
//! oslo.policy compares `match == str(value)`; credentials and targets are
//! decoded from JSON, so their Python view is `None`, `bool`, `int`, `float`,
//! `str`, `list` and insertion-ordered `dict`.

use std::fmt::{self, Write as _};

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use super::tables;

/// A JSON value seen the way Python's `json.loads` would build it.
#[derive(Debug, Clone, PartialEq)]
pub enum PyValue {
    /// JSON `null`, Python `None`.
    None,
    /// A boolean.
    Bool(bool),
    /// An integer that fits in 64 bits (signed or unsigned).
    Int(i128),
    /// A floating point number.
    Float(f64),
    /// A string.
    Str(Box<str>),
    /// A list.
    List(Vec<PyValue>),
    /// An object, keys kept in document order (as a Python `dict`).
    Dict(Vec<(Box<str>, PyValue)>),
}

impl PyValue {
    /// Python truthiness (`bool(value)`).
    pub fn truthy(&self) -> bool {
        match self {
            PyValue::None => false,
            PyValue::Bool(b) => *b,
            PyValue::Int(i) => *i != 0,
            PyValue::Float(f) => *f != 0.0,
            PyValue::Str(s) => !s.is_empty(),
            PyValue::List(l) => !l.is_empty(),
            PyValue::Dict(d) => !d.is_empty(),
        }
    }

    /// Looks `key` up in a dict value (last duplicate wins, as in Python).
    pub fn get(&self, key: &str) -> Option<&PyValue> {
        match self {
            PyValue::Dict(d) => d.iter().rev().find(|(k, _)| &**k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Python's type name, as used in error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            PyValue::None => "NoneType",
            PyValue::Bool(_) => "bool",
            PyValue::Int(_) => "int",
            PyValue::Float(_) => "float",
            PyValue::Str(_) => "str",
            PyValue::List(_) => "list",
            PyValue::Dict(_) => "dict",
        }
    }

    /// `str(value)` as Python prints it.
    pub fn py_str(&self) -> String {
        let mut out = String::new();
        self.write_str(&mut out);
        out
    }

    /// `repr(value)` as Python prints it.
    pub fn py_repr(&self) -> String {
        let mut out = String::new();
        self.write_repr(&mut out);
        out
    }

    /// Appends `str(value)` to `out`.
    pub fn write_str(&self, out: &mut String) {
        match self {
            PyValue::Str(s) => out.push_str(s),
            other => other.write_repr(out),
        }
    }

    /// Appends `repr(value)` to `out`.
    pub fn write_repr(&self, out: &mut String) {
        match self {
            PyValue::None => out.push_str("None"),
            PyValue::Bool(true) => out.push_str("True"),
            PyValue::Bool(false) => out.push_str("False"),
            PyValue::Int(i) => {
                let _ = write!(out, "{i}");
            }
            PyValue::Float(f) => out.push_str(&float_repr(*f)),
            PyValue::Str(s) => repr_str(s, out),
            PyValue::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write_repr(out);
                }
                out.push(']');
            }
            PyValue::Dict(items) => {
                out.push('{');
                // A Python dict keeps the first position of a key and the last value.
                let mut first = true;
                for (i, (k, _)) in items.iter().enumerate() {
                    if items[..i].iter().any(|(k2, _)| k2 == k) {
                        continue;
                    }
                    if !first {
                        out.push_str(", ");
                    }
                    first = false;
                    repr_str(k, out);
                    out.push_str(": ");
                    let v = items.iter().rev().find(|(k2, _)| k2 == k).map(|(_, v)| v);
                    if let Some(v) = v {
                        v.write_repr(out);
                    }
                }
                out.push('}');
            }
        }
    }

    /// Whether `str(self) == s`, without allocating for the common kinds.
    pub fn str_eq(&self, s: &str) -> bool {
        match self {
            PyValue::Str(v) => &**v == s,
            PyValue::Bool(true) => s == "True",
            PyValue::Bool(false) => s == "False",
            PyValue::None => s == "None",
            other => other.py_str() == s,
        }
    }

    /// Parses JSON text keeping key order.
    pub fn from_json(text: &str) -> Result<PyValue, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Converts a `serde_json::Value` (its key order is whatever serde_json kept).
    pub fn from_json_value(v: &serde_json::Value) -> PyValue {
        match v {
            serde_json::Value::Null => PyValue::None,
            serde_json::Value::Bool(b) => PyValue::Bool(*b),
            serde_json::Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    PyValue::Int(i128::from(i))
                } else if let Some(u) = n.as_u64() {
                    PyValue::Int(i128::from(u))
                } else {
                    PyValue::Float(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            serde_json::Value::String(s) => PyValue::Str(s.as_str().into()),
            serde_json::Value::Array(a) => {
                PyValue::List(a.iter().map(PyValue::from_json_value).collect())
            }
            serde_json::Value::Object(o) => PyValue::Dict(
                o.iter()
                    .map(|(k, v)| (k.as_str().into(), PyValue::from_json_value(v)))
                    .collect(),
            ),
        }
    }
}

/// Python's `repr(float)`.
pub fn float_repr(f: f64) -> String {
    float_repr_opts(f, true)
}

/// Python's repr of a float; `dot0` adds ".0" to integral values (as float repr does,
/// but complex repr does not).
pub(crate) fn float_repr_opts(f: f64, dot0: bool) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    // Shortest round-trip digits and exponent from Rust's formatter.
    let sci = format!("{:e}", f.abs());
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let neg = f.is_sign_negative();
    let decpt = exp + 1; // value = 0.DIGITS * 10^decpt
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if f == 0.0 {
        out.push('0');
        if dot0 {
            out.push_str(".0");
        }
        return out;
    }
    if decpt > -4 && decpt <= 16 {
        let nd = digits.len() as i32;
        if decpt <= 0 {
            out.push_str("0.");
            for _ in 0..(-decpt) {
                out.push('0');
            }
            out.push_str(&digits);
        } else if decpt >= nd {
            out.push_str(&digits);
            for _ in 0..(decpt - nd) {
                out.push('0');
            }
            if dot0 {
                out.push_str(".0");
            }
        } else {
            out.push_str(&digits[..decpt as usize]);
            out.push('.');
            out.push_str(&digits[decpt as usize..]);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let e = decpt - 1;
        let _ = write!(out, "e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    out
}

/// Whether Python's `str.isprintable()` holds for `c`.
pub(crate) fn is_printable(c: char) -> bool {
    let u = c as u32;
    if u < 0x80 {
        return (0x20..0x7f).contains(&u);
    }
    !in_ranges(tables::NON_PRINTABLE, u)
}

pub(crate) fn in_ranges(ranges: &[(u32, u32)], u: u32) -> bool {
    ranges
        .binary_search_by(|&(lo, hi)| {
            if hi < u {
                std::cmp::Ordering::Less
            } else if lo > u {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// Python's `repr(str)`.
pub fn repr_str(s: &str, out: &mut String) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if is_printable(c) => out.push(c),
            c => {
                let u = c as u32;
                let _ = if u < 0x100 {
                    write!(out, "\\x{u:02x}")
                } else if u < 0x10000 {
                    write!(out, "\\u{u:04x}")
                } else {
                    write!(out, "\\U{u:08x}")
                };
            }
        }
    }
    out.push(quote);
}

/// Python's `ascii(str)`: `repr` with every non-ASCII character escaped.
pub(crate) fn ascii_str(s: &str, out: &mut String) {
    let mut r = String::new();
    repr_str(s, &mut r);
    for c in r.chars() {
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

impl fmt::Display for PyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.py_str())
    }
}

impl<'de> Deserialize<'de> for PyValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PyValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<PyValue, E> {
                Ok(PyValue::None)
            }
            fn visit_none<E: de::Error>(self) -> Result<PyValue, E> {
                Ok(PyValue::None)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<PyValue, D::Error> {
                PyValue::deserialize(d)
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<PyValue, E> {
                Ok(PyValue::Bool(b))
            }
            fn visit_i64<E: de::Error>(self, i: i64) -> Result<PyValue, E> {
                Ok(PyValue::Int(i128::from(i)))
            }
            fn visit_u64<E: de::Error>(self, u: u64) -> Result<PyValue, E> {
                Ok(PyValue::Int(i128::from(u)))
            }
            fn visit_f64<E: de::Error>(self, f: f64) -> Result<PyValue, E> {
                Ok(PyValue::Float(f))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<PyValue, E> {
                Ok(PyValue::Str(s.into()))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<PyValue, E> {
                Ok(PyValue::Str(s.into_boxed_str()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<PyValue, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = a.next_element()? {
                    v.push(x);
                }
                Ok(PyValue::List(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<PyValue, A::Error> {
                let mut v: Vec<(Box<str>, PyValue)> = Vec::new();
                while let Some((k, x)) = a.next_entry::<String, PyValue>()? {
                    v.push((k.into_boxed_str(), x));
                }
                Ok(PyValue::Dict(v))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for PyValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            PyValue::None => s.serialize_unit(),
            PyValue::Bool(b) => s.serialize_bool(*b),
            PyValue::Int(i) => {
                if let Ok(v) = i64::try_from(*i) {
                    s.serialize_i64(v)
                } else if let Ok(v) = u64::try_from(*i) {
                    s.serialize_u64(v)
                } else {
                    s.serialize_f64(*i as f64)
                }
            }
            PyValue::Float(f) => s.serialize_f64(*f),
            PyValue::Str(v) => s.serialize_str(v),
            PyValue::List(l) => {
                let mut seq = s.serialize_seq(Some(l.len()))?;
                for x in l {
                    seq.serialize_element(x)?;
                }
                seq.end()
            }
            PyValue::Dict(d) => {
                let mut m = s.serialize_map(Some(d.len()))?;
                for (k, v) in d {
                    m.serialize_entry(&**k, v)?;
                }
                m.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_repr_matches_python() {
        for (f, want) in [
            (1.0, "1.0"),
            (1.5, "1.5"),
            (1e16, "1e+16"),
            (1234567890123456.0, "1234567890123456.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-0.0, "-0.0"),
            (1.5e-7, "1.5e-07"),
            (123.456, "123.456"),
            (1e22, "1e+22"),
            (0.1, "0.1"),
        ] {
            assert_eq!(float_repr(f), want, "{f}");
        }
    }

    #[test]
    fn repr_and_str_match_python() {
        let v =
            PyValue::from_json(r#"{"b": [1, "x'y", true, null, 2.5], "a": {"c": "d\n"}}"#).unwrap();
        assert_eq!(
            v.py_str(),
            r#"{'b': [1, "x'y", True, None, 2.5], 'a': {'c': 'd\n'}}"#
        );
        let mut s = String::new();
        repr_str("a'\"b\u{7f}\u{e9}\u{200b}", &mut s);
        assert_eq!(s, r#"'a\'"b\x7fé\u200b'"#);
    }

    #[test]
    fn truthiness() {
        assert!(!PyValue::Str("".into()).truthy());
        assert!(PyValue::Str("x".into()).truthy());
        assert!(!PyValue::Int(0).truthy());
        assert!(!PyValue::List(vec![]).truthy());
        assert!(PyValue::Bool(true).truthy());
    }
}
