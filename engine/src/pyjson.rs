//! Python's `json.dumps` form (`", "` and `": "` separators, `ensure_ascii`,
//! floats as Python's `repr`), for the text Heat makes with it: a wait
//! condition's `data` / `Data`, the CFN API's JSON bodies and `Metadata`, and
//! the values quoted in template errors, so they are byte-identical to Heat's.

use heatgate_middleware::pyjson::push_py_str as push_str;
use serde_json::Value;

use crate::template::pyfmt::number;

/// `json.dumps(value)`; a map in its own key order (sorted, as serde_json
/// keeps it, which is also what `sort_keys=True` gives).
pub(crate) fn dumps(value: &Value) -> String {
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
        Value::Number(n) => out.push_str(&number(n)),
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
        // python3 -c 'import json; print(json.dumps({"a": 1e16, "b": "\x7f\u00e9", "c": 1.5, "d": [1, None, True]}))'
        assert_eq!(
            dumps(&json!({"a": 1e16, "b": "\u{7f}\u{e9}", "c": 1.5, "d": [1, null, true]})),
            r#"{"a": 1e+16, "b": "\u007f\u00e9", "c": 1.5, "d": [1, null, true]}"#
        );
    }
}
