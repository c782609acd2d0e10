//! From text to an order-keeping document: JSON first, then YAML, as Heat's
//! `template_format.parse` does.

use std::fmt;

use indexmap::IndexMap;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::error::{ErrorKind, TemplateError};

/// Heat's default `max_template_size`, in bytes.
pub const MAX_TEMPLATE_SIZE: usize = 524_288;

/// A parsed document that keeps the order of mapping keys (the template's
/// sections need it; `serde_json::Value` sorts its maps). A repeated key keeps
/// its first position and its last value, like a Python dict.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Doc {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Doc>),
    Map(IndexMap<String, Doc>),
}

impl Doc {
    /// Python's truth value of the document.
    pub(crate) fn truthy(&self) -> bool {
        match self {
            Doc::Null => false,
            Doc::Bool(b) => *b,
            Doc::Int(i) => *i != 0,
            Doc::UInt(u) => *u != 0,
            Doc::Float(f) => *f != 0.0,
            Doc::Str(s) => !s.is_empty(),
            Doc::Seq(v) => !v.is_empty(),
            Doc::Map(m) => !m.is_empty(),
        }
    }

    /// Python's `type(x)` name.
    pub(crate) fn py_type(&self) -> &'static str {
        match self {
            Doc::Null => "NoneType",
            Doc::Bool(_) => "bool",
            Doc::Int(_) | Doc::UInt(_) => "int",
            Doc::Float(_) => "float",
            Doc::Str(_) => "str",
            Doc::Seq(_) => "list",
            Doc::Map(_) => "dict",
        }
    }

    /// The document as JSON. Fails on a non-finite number, which JSON cannot
    /// hold.
    pub(crate) fn to_json(&self) -> Result<Value, TemplateError> {
        Ok(match self {
            Doc::Null => Value::Null,
            Doc::Bool(b) => Value::Bool(*b),
            Doc::Int(i) => Value::from(*i),
            Doc::UInt(u) => Value::from(*u),
            Doc::Float(f) => match serde_json::Number::from_f64(*f) {
                Some(n) => Value::Number(n),
                None => {
                    return Err(TemplateError::new(
                        ErrorKind::TemplateFormat,
                        "",
                        format!(
                            "The template contains the number {f}, which JSON cannot represent."
                        ),
                    ))
                }
            },
            Doc::Str(s) => Value::String(s.clone()),
            Doc::Seq(v) => Value::Array(v.iter().map(Doc::to_json).collect::<Result<_, _>>()?),
            Doc::Map(m) => {
                let mut out = serde_json::Map::new();
                for (k, v) in m {
                    out.insert(k.clone(), v.to_json()?);
                }
                Value::Object(out)
            }
        })
    }
}

impl<'de> Deserialize<'de> for Doc {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DocVisitor)
    }
}

struct DocVisitor;

impl<'de> Visitor<'de> for DocVisitor {
    type Value = Doc;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON or YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Doc, E> {
        Ok(Doc::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Doc, E> {
        Ok(Doc::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Doc, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => Doc::Int(i),
            Err(_) => Doc::UInt(v),
        })
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Doc, E> {
        Ok(Doc::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Doc, E> {
        Ok(Doc::Str(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Doc, E> {
        Ok(Doc::Str(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Doc, E> {
        Ok(Doc::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Doc, E> {
        Ok(Doc::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Doc, D::Error> {
        Doc::deserialize(d)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Doc, D::Error> {
        Doc::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Doc, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element::<Doc>()? {
            out.push(item);
        }
        Ok(Doc::Seq(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Doc, A::Error> {
        let mut out = IndexMap::new();
        while let Some(key) = map.next_key::<Doc>()? {
            let key = match key {
                Doc::Str(s) => s,
                Doc::Int(i) => i.to_string(),
                Doc::UInt(u) => u.to_string(),
                Doc::Float(f) => f.to_string(),
                Doc::Bool(b) => b.to_string(),
                Doc::Null => "null".to_string(),
                Doc::Seq(_) | Doc::Map(_) => {
                    return Err(de::Error::custom(
                        "found unhashable key (a list or a mapping)",
                    ))
                }
            };
            let value = map.next_value::<Doc>()?;
            out.insert(key, value);
        }
        Ok(Doc::Map(out))
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Doc, A::Error> {
        let (tag, _value): (String, _) = data.variant()?;
        let tag = tag.trim_start_matches('!');
        Err(de::Error::custom(format!(
            "could not determine a constructor for the tag '!{tag}'"
        )))
    }
}

/// Heat's `template_format.parse` on `text`: the size limit, JSON or else
/// YAML (an empty document is an empty mapping), a mapping, with a version key.
pub(crate) fn parse_text(text: &str) -> Result<IndexMap<String, Doc>, TemplateError> {
    if text.len() > MAX_TEMPLATE_SIZE {
        return Err(TemplateError::new(
            ErrorKind::RequestLimitExceeded,
            "",
            format!(
                "Template size ({} bytes) exceeds maximum allowed size ({MAX_TEMPLATE_SIZE} bytes).",
                text.len()
            ),
        ));
    }
    let doc = match serde_json::from_str::<Doc>(text) {
        Ok(doc) => doc,
        Err(_) if text.trim().is_empty() => Doc::Null,
        Err(_) => match serde_yaml::from_str::<Doc>(text) {
            Ok(doc) => doc,
            Err(e) => {
                return Err(TemplateError::new(
                    ErrorKind::TemplateFormat,
                    "",
                    format!("Error parsing template [root stack] {e}"),
                ))
            }
        },
    };
    let map = match doc {
        Doc::Null => IndexMap::new(),
        Doc::Map(m) => m,
        _ => {
            return Err(TemplateError::new(
                ErrorKind::TemplateFormat,
                "",
                "The template is not a JSON object or YAML mapping.",
            ))
        }
    };
    if ![
        "HeatTemplateFormatVersion",
        "heat_template_version",
        "AWSTemplateFormatVersion",
    ]
    .iter()
    .any(|k| map.contains_key(*k))
    {
        return Err(TemplateError::new(
            ErrorKind::TemplateFormat,
            "",
            "Template format version not found.",
        ));
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind_msg(text: &str) -> (ErrorKind, String) {
        let e = parse_text(text).unwrap_err();
        (e.kind, e.message)
    }

    #[test]
    fn json_and_yaml() {
        let m =
            parse_text(r#"{"AWSTemplateFormatVersion": "2010-09-09", "b": 1, "a": 2}"#).unwrap();
        assert_eq!(
            m.keys().collect::<Vec<_>>(),
            ["AWSTemplateFormatVersion", "b", "a"]
        );
        let m =
            parse_text("heat_template_version: 2013-05-23\nz: 1\ny: [1, 2.5, true, ~]\n").unwrap();
        // the date stays a string, as Heat's loader keeps it
        assert_eq!(m["heat_template_version"], Doc::Str("2013-05-23".into()));
        assert_eq!(
            m.keys().collect::<Vec<_>>(),
            ["heat_template_version", "z", "y"]
        );
        assert_eq!(
            m["y"],
            Doc::Seq(vec![
                Doc::Int(1),
                Doc::Float(2.5),
                Doc::Bool(true),
                Doc::Null
            ])
        );
    }

    #[test]
    fn repeated_keys_keep_first_place_last_value() {
        let m = parse_text("heat_template_version: 2013-05-23\na: 1\nb: 2\na: 3\n").unwrap();
        assert_eq!(
            m.keys().collect::<Vec<_>>(),
            ["heat_template_version", "a", "b"]
        );
        assert_eq!(m["a"], Doc::Int(3));
        let m = parse_text(r#"{"heat_template_version": "2013-05-23", "a": 1, "b": 2, "a": 3}"#)
            .unwrap();
        assert_eq!(m["a"], Doc::Int(3));
    }

    #[test]
    fn not_a_template() {
        let not_map = "The template is not a JSON object or YAML mapping.";
        assert_eq!(
            kind_msg("[1, 2]"),
            (ErrorKind::TemplateFormat, not_map.into())
        );
        assert_eq!(
            kind_msg("- a\n- b\n"),
            (ErrorKind::TemplateFormat, not_map.into())
        );
        assert_eq!(
            kind_msg("just text"),
            (ErrorKind::TemplateFormat, not_map.into())
        );
        let no_version = "Template format version not found.";
        assert_eq!(kind_msg(""), (ErrorKind::TemplateFormat, no_version.into()));
        assert_eq!(
            kind_msg("# only a comment\n"),
            (ErrorKind::TemplateFormat, no_version.into())
        );
        assert_eq!(
            kind_msg("{}"),
            (ErrorKind::TemplateFormat, no_version.into())
        );
        assert_eq!(
            kind_msg("resources: {}\n"),
            (ErrorKind::TemplateFormat, no_version.into())
        );
        let (kind, msg) = kind_msg("heat_template_version: [\n");
        assert_eq!(kind, ErrorKind::TemplateFormat);
        assert!(
            msg.starts_with("Error parsing template [root stack] "),
            "{msg}"
        );
        let (kind, msg) = kind_msg("heat_template_version: 2013-05-23\nx: !Ref y\n");
        assert_eq!(kind, ErrorKind::TemplateFormat);
        assert_eq!(
            msg,
            "Error parsing template [root stack] x: could not determine a constructor for the tag \
             '!Ref' at line 2 column 4"
        );
        let (kind, msg) = kind_msg("heat_template_version: 2013-05-23\n? [a]\n: b\n");
        assert_eq!(kind, ErrorKind::TemplateFormat);
        assert!(msg.contains("unhashable"), "{msg}");
    }

    #[test]
    fn size_limit() {
        let mut text = String::from("heat_template_version: 2013-05-23\ndescription: '");
        text.push_str(&"x".repeat(MAX_TEMPLATE_SIZE - text.len() - 2));
        text.push_str("'\n");
        assert_eq!(text.len(), MAX_TEMPLATE_SIZE);
        assert!(parse_text(&text).is_ok());
        text.push(' ');
        let e = parse_text(&text).unwrap_err();
        assert_eq!(e.kind, ErrorKind::RequestLimitExceeded);
        assert_eq!(
            e.message,
            "Template size (524289 bytes) exceeds maximum allowed size (524288 bytes)."
        );
    }

    #[test]
    fn to_json_rejects_non_finite() {
        let m = parse_text("heat_template_version: 2013-05-23\nx: .nan\n").unwrap();
        assert!(m["x"].to_json().is_err());
        assert_eq!(
            m["heat_template_version"].to_json().unwrap(),
            Value::from("2013-05-23")
        );
    }
}
