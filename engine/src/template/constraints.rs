//! Constraints on parameter and property values (Heat's `constraints.py`)
//! and the value conversions they rely on.

use serde_json::{Number, Value};

use super::pyfmt::{json_dumps, number, py_eq, py_str, py_type, str_repr};
use super::regex::Pattern;

/// The data types constraints know (parameter types map onto them:
/// `comma_delimited_list` is a list, `json` a map).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SchemaType {
    String,
    Integer,
    Number,
    Boolean,
    Map,
    List,
    Any,
}

/// A compiled `allowed_pattern`.
#[derive(Debug, Clone, PartialEq)]
pub struct AllowedPattern(pub(crate) Pattern);

impl AllowedPattern {
    /// The pattern as written in the template.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// What a constraint requires.
#[derive(Debug, Clone, PartialEq)]
pub enum ConstraintKind {
    /// The length (characters, items or keys) is within bounds.
    Length {
        /// Inclusive lower bound.
        min: Option<Number>,
        /// Inclusive upper bound.
        max: Option<Number>,
    },
    /// The number is within bounds.
    Range {
        /// Inclusive lower bound.
        min: Option<Number>,
        /// Inclusive upper bound.
        max: Option<Number>,
    },
    /// `value % step == offset` (HOT 2017-02-24 and later).
    Modulo {
        /// The step.
        step: Number,
        /// The offset.
        offset: Number,
    },
    /// The value (every item, for a list) is one of these.
    AllowedValues(Vec<Value>),
    /// The whole value matches this regular expression.
    AllowedPattern(AllowedPattern),
    /// A named check against a cloud service (e.g. `nova.flavor`). This
    /// engine keeps records, not clouds: it is accepted and not checked.
    Custom(String),
}

/// One constraint, with the description that replaces the error message when
/// the constraint fails.
#[derive(Debug, Clone, PartialEq)]
pub struct Constraint {
    /// What is required.
    pub kind: ConstraintKind,
    /// The template's description of the constraint.
    pub description: Option<String>,
}

/// Why Python's `int()` / `float()` refused a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NumError {
    /// A `ValueError`.
    Value(String),
    /// A `TypeError`.
    Type(String),
}

impl NumError {
    pub(crate) fn message(self) -> String {
        match self {
            NumError::Value(m) | NumError::Type(m) => m,
        }
    }
}

fn strip_underscores(s: &str) -> Option<String> {
    let chars: Vec<char> = s.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if *c == '_' {
            let ok = i > 0
                && i + 1 < chars.len()
                && chars[i - 1].is_ascii_alphanumeric()
                && chars[i + 1].is_ascii_alphanumeric();
            if !ok {
                return None;
            }
        }
    }
    Some(s.replace('_', ""))
}

/// Python's `int(text)`.
pub(crate) fn py_int(text: &str) -> Option<Value> {
    let t = strip_underscores(text.trim())?;
    let digits = t.strip_prefix(['+', '-']).unwrap_or(&t);
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if let Ok(i) = t.parse::<i64>() {
        return Some(Value::from(i));
    }
    if let Ok(u) = t.trim_start_matches('+').parse::<u64>() {
        return Some(Value::from(u));
    }
    t.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Value::Number)
}

/// Python's `float(text)`, finite values only (JSON has no others).
pub(crate) fn py_float(text: &str) -> Option<f64> {
    let t = strip_underscores(text.trim())?;
    let body = t.strip_prefix(['+', '-']).unwrap_or(&t);
    if body.is_empty()
        || !body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
    {
        return None;
    }
    t.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Heat's `Schema.str_to_num`: numbers (and bools) as they are, text through
/// `int()` then `float()`.
pub(crate) fn str_to_num(v: &Value) -> Result<Value, NumError> {
    match v {
        Value::Number(_) | Value::Bool(_) => Ok(v.clone()),
        Value::String(s) => py_int(s)
            .or_else(|| py_float(s).and_then(Number::from_f64).map(Value::Number))
            .ok_or_else(|| {
                NumError::Value(format!(
                    "could not convert string to float: {}",
                    str_repr(s)
                ))
            }),
        other => Err(NumError::Type(format!(
            "int() argument must be a string, a bytes-like object or a real number, not '{}'",
            py_type(other)
        ))),
    }
}

/// A number (or bool) as f64.
pub(crate) fn as_f64(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::Bool(b) => f64::from(u8::from(*b)),
        _ => f64::NAN,
    }
}

/// oslo's `bool_from_string(subject, strict=True)`.
pub(crate) fn bool_from_string(v: &Value) -> Result<bool, String> {
    if let Value::Bool(b) = v {
        return Ok(*b);
    }
    let subject = py_str(v);
    match subject.trim().to_lowercase().as_str() {
        "1" | "t" | "true" | "on" | "y" | "yes" => Ok(true),
        "0" | "f" | "false" | "off" | "n" | "no" => Ok(false),
        _ => Err(format!(
            "Unrecognized value '{subject}', acceptable values are: '0', '1', 'f', 'false', 'n', \
             'no', 'off', 'on', 't', 'true', 'y', 'yes'"
        )),
    }
}

/// Heat's `Schema.to_schema_type`; `label` is the type's name in messages.
pub(crate) fn to_schema_type(v: &Value, ty: SchemaType, label: &str) -> Result<Value, String> {
    let invalid = || {
        format!(
            "Value \"{}\" is invalid for data type \"{label}\".",
            py_str(v)
        )
    };
    match ty {
        SchemaType::Integer => match str_to_num(v) {
            Ok(Value::Number(n)) if n.is_f64() => Err(invalid()),
            Ok(n) => Ok(n),
            Err(NumError::Value(_)) => Err(invalid()),
            Err(e) => Err(e.message()),
        },
        SchemaType::Number => match str_to_num(v) {
            Ok(n) => Ok(n),
            Err(NumError::Value(_)) => Err(invalid()),
            Err(e) => Err(e.message()),
        },
        SchemaType::String => Ok(Value::String(py_str(v))),
        SchemaType::Boolean => bool_from_string(v).map(Value::Bool).map_err(|_| invalid()),
        SchemaType::Map | SchemaType::List | SchemaType::Any => Ok(v.clone()),
    }
}

fn opt_num(n: &Option<Number>) -> String {
    n.as_ref().map_or_else(|| "None".to_string(), number)
}

fn py_len(v: &Value) -> Result<usize, String> {
    match v {
        Value::String(s) => Ok(s.chars().count()),
        Value::Array(a) => Ok(a.len()),
        Value::Object(m) => Ok(m.len()),
        other => Err(format!("object of type '{}' has no len()", py_type(other))),
    }
}

fn in_range(x: f64, min: &Option<Number>, max: &Option<Number>) -> bool {
    let below = min.as_ref().and_then(Number::as_f64).is_some_and(|m| x < m);
    let above = max.as_ref().and_then(Number::as_f64).is_some_and(|m| x > m);
    !(below || above)
}

impl Constraint {
    /// Heat's class name, for "X constraint invalid for type".
    pub(crate) fn class_name(&self) -> &'static str {
        match self.kind {
            ConstraintKind::Length { .. } => "Length",
            ConstraintKind::Range { .. } => "Range",
            ConstraintKind::Modulo { .. } => "Modulo",
            ConstraintKind::AllowedValues(_) => "AllowedValues",
            ConstraintKind::AllowedPattern(_) => "AllowedPattern",
            ConstraintKind::Custom(_) => "CustomConstraint",
        }
    }

    /// Whether Heat allows this constraint on values of type `ty`.
    pub(crate) fn valid_for(&self, ty: SchemaType) -> bool {
        use SchemaType as T;
        match self.kind {
            ConstraintKind::Range { .. } | ConstraintKind::Modulo { .. } => {
                matches!(ty, T::Integer | T::Number)
            }
            ConstraintKind::Length { .. } => matches!(ty, T::String | T::List | T::Map),
            ConstraintKind::AllowedValues(_) | ConstraintKind::Custom(_) => {
                matches!(
                    ty,
                    T::String | T::Integer | T::Number | T::Boolean | T::List
                )
            }
            ConstraintKind::AllowedPattern(_) => ty == T::String,
        }
    }

    /// Check `value` (of type `ty`, named `label` in messages); the error is
    /// Heat's message (or the constraint's description).
    pub(crate) fn check(&self, value: &Value, ty: SchemaType, label: &str) -> Result<(), String> {
        let ok = match &self.kind {
            ConstraintKind::Range { min, max } => {
                let x = str_to_num(value).map_err(NumError::message)?;
                in_range(as_f64(&x), min, max)
            }
            ConstraintKind::Length { min, max } => in_range(py_len(value)? as f64, min, max),
            ConstraintKind::Modulo { step, offset } => {
                let x = as_f64(&str_to_num(value).map_err(NumError::message)?);
                let s = step.as_f64().unwrap_or(1.0);
                let r = x - s * (x / s).floor();
                r == offset.as_f64().unwrap_or(0.0)
            }
            ConstraintKind::AllowedValues(allowed) => match value {
                Value::Array(items) => items.iter().all(|v| allowed.iter().any(|a| py_eq(v, a))),
                _ => {
                    let mine = to_schema_type(value, ty, label)?;
                    let mut found = false;
                    for a in allowed {
                        if py_eq(&to_schema_type(a, ty, label)?, &mine) {
                            found = true;
                            break;
                        }
                    }
                    found
                }
            },
            ConstraintKind::AllowedPattern(p) => match p.0.matches_whole(&py_str(value)) {
                Some(m) => m,
                None => return Err("The value is too long to check against allowed_pattern".into()),
            },
            ConstraintKind::Custom(_) => true,
        };
        if ok {
            return Ok(());
        }
        if let Some(d) = self.description.as_deref().filter(|d| !d.is_empty()) {
            return Err(d.to_string());
        }
        Err(match &self.kind {
            ConstraintKind::Range { min, max } => format!(
                "{} is out of range (min: {}, max: {})",
                py_str(value),
                opt_num(min),
                opt_num(max)
            ),
            ConstraintKind::Length { min, max } => format!(
                "length ({}) is out of range (min: {}, max: {})",
                py_len(value)?,
                opt_num(min),
                opt_num(max)
            ),
            ConstraintKind::Modulo { step, offset } => format!(
                "{} is not a multiple of {} with an offset of {}",
                py_str(value),
                number(step),
                number(offset)
            ),
            ConstraintKind::AllowedValues(allowed) => format!(
                "{} is not an allowed value [{}]",
                json_dumps(value),
                allowed
                    .iter()
                    .map(json_dumps)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            ConstraintKind::AllowedPattern(p) => {
                format!(
                    "\"{}\" does not match pattern \"{}\"",
                    py_str(value),
                    p.as_str()
                )
            }
            ConstraintKind::Custom(name) => {
                format!("\"{}\" does not validate {name}", py_str(value))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn c(kind: ConstraintKind) -> Constraint {
        Constraint {
            kind,
            description: None,
        }
    }

    fn num(v: Value) -> Option<Number> {
        match v {
            Value::Number(n) => Some(n),
            _ => None,
        }
    }

    #[test]
    fn conversions_like_python() {
        assert_eq!(str_to_num(&json!(" 12 ")), Ok(json!(12)));
        assert_eq!(str_to_num(&json!("1_000")), Ok(json!(1000)));
        assert_eq!(str_to_num(&json!("1.5")), Ok(json!(1.5)));
        assert_eq!(str_to_num(&json!("1e3")), Ok(json!(1000.0)));
        assert_eq!(
            str_to_num(&json!("abc")),
            Err(NumError::Value(
                "could not convert string to float: 'abc'".into()
            ))
        );
        assert_eq!(
            str_to_num(&json!("1__0")),
            Err(NumError::Value(
                "could not convert string to float: '1__0'".into()
            ))
        );
        assert_eq!(
            str_to_num(&json!([1])),
            Err(NumError::Type(
                "int() argument must be a string, a bytes-like object or a real number, not 'list'"
                    .into()
            ))
        );
        assert_eq!(bool_from_string(&json!(" Yes ")), Ok(true));
        assert_eq!(bool_from_string(&json!(0)), Ok(false));
        assert_eq!(
            bool_from_string(&json!("maybe")),
            Err(
                "Unrecognized value 'maybe', acceptable values are: '0', '1', 'f', 'false', 'n', \
                 'no', 'off', 'on', 't', 'true', 'y', 'yes'"
                    .into()
            )
        );
        assert_eq!(
            to_schema_type(&json!("1.5"), SchemaType::Integer, "Integer"),
            Err("Value \"1.5\" is invalid for data type \"Integer\".".into())
        );
        assert_eq!(
            to_schema_type(&json!(5), SchemaType::String, "string"),
            Ok(json!("5"))
        );
    }

    #[test]
    fn heat_messages() {
        let range = c(ConstraintKind::Range {
            min: num(json!(1)),
            max: None,
        });
        assert_eq!(
            range.check(&json!(0), SchemaType::Integer, "Integer"),
            Err("0 is out of range (min: 1, max: None)".into())
        );
        assert_eq!(
            range.check(&json!("5"), SchemaType::Number, "number"),
            Ok(())
        );
        let range = c(ConstraintKind::Range {
            min: num(json!(1.5)),
            max: num(json!(43200)),
        });
        assert_eq!(
            range.check(&json!("50000"), SchemaType::Number, "number"),
            Err("50000 is out of range (min: 1.5, max: 43200)".into())
        );
        let len = c(ConstraintKind::Length {
            min: num(json!(2)),
            max: num(json!(3)),
        });
        assert_eq!(
            len.check(&json!("héllo"), SchemaType::String, "string"),
            Err("length (5) is out of range (min: 2, max: 3)".into())
        );
        assert_eq!(
            len.check(&json!(["a", "b"]), SchemaType::List, "comma_delimited_list"),
            Ok(())
        );
        let allowed = c(ConstraintKind::AllowedValues(vec![
            json!("m1.small"),
            json!("m1.large"),
        ]));
        assert_eq!(
            allowed.check(&json!("m1.huge"), SchemaType::String, "string"),
            Err("\"m1.huge\" is not an allowed value [\"m1.small\", \"m1.large\"]".into())
        );
        assert_eq!(
            allowed.check(&json!(["m1.small"]), SchemaType::List, "List"),
            Ok(())
        );
        let numbers = c(ConstraintKind::AllowedValues(vec![json!(1), json!("2")]));
        assert_eq!(
            numbers.check(&json!("2.0"), SchemaType::Number, "number"),
            Ok(())
        );
        let pattern = c(ConstraintKind::AllowedPattern(AllowedPattern(
            Pattern::new("[a-z]+").unwrap(),
        )));
        assert_eq!(
            pattern.check(&json!("ab1"), SchemaType::String, "string"),
            Err("\"ab1\" does not match pattern \"[a-z]+\"".into())
        );
        let modulo = c(ConstraintKind::Modulo {
            step: Number::from(2),
            offset: Number::from(1),
        });
        assert_eq!(
            modulo.check(&json!(-7), SchemaType::Number, "number"),
            Ok(())
        );
        assert_eq!(
            modulo.check(&json!(4), SchemaType::Number, "number"),
            Err("4 is not a multiple of 2 with an offset of 1".into())
        );
        let described = Constraint {
            kind: ConstraintKind::Length {
                min: num(json!(8)),
                max: None,
            },
            description: Some("At least 8 characters".into()),
        };
        assert_eq!(
            described.check(&json!("short"), SchemaType::String, "string"),
            Err("At least 8 characters".into())
        );
        assert!(!range.valid_for(SchemaType::String));
        assert_eq!(range.class_name(), "Range");
    }
}
