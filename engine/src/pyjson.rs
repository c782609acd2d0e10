//! Python's `json.dumps` form (`", "` and `": "` separators, `ensure_ascii`),
//! for the attribute values Heat returns as text it made with
//! `jsonutils.dumps` (a wait condition's `data` / `Data`), so they are
//! byte-identical to Heat's.

use serde_json::Value;

/// `json.dumps(value)`.
#[cfg(test)]
fn dumps(value: &Value) -> String {
    let mut out = String::new();
    push_value(&mut out, value);
    out
}

/// `json.dumps(dict)` for a dict built in this order.
pub(crate) fn dumps_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a Value)>) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in pairs.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        push_str(&mut out, k);
        out.push_str(": ");
        push_value(&mut out, v);
    }
    out.push('}');
    out
}

fn push_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => push_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                push_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => out.push_str(&dumps_pairs(map.iter().map(|(k, v)| (k.as_str(), v)))),
    }
}

fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn separators_escapes_and_order_are_pythons() {
        // python3 -c 'import json; print(json.dumps({"2": "b", "1": {"x": [1, 2.5, None, True]}, "é": "\t"}))'
        let a = json!("b");
        let b = json!({"x": [1, 2.5, null, true]});
        let c = json!("\t");
        assert_eq!(
            dumps_pairs([("2", &a), ("1", &b), ("é", &c)]),
            r#"{"2": "b", "1": {"x": [1, 2.5, null, true]}, "\u00e9": "\t"}"#
        );
        assert_eq!(dumps(&json!("😀")), r#""\ud83d\ude00""#);
        assert_eq!(dumps_pairs([]), "{}");
    }
}
