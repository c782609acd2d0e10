//! `dump`: the effective merged policy, as oslopolicy-policy-generator prints it.

use serde_json::json;

use super::{Format, Report};
use crate::ruleset::{value_text, RuleSet};

/// Prints file rules (in file order) then the defaults no file overrides.
pub fn dump(rules: &RuleSet, format: Format) -> Report {
    let mut entries: Vec<(String, String)> = Vec::new();
    for f in &rules.files {
        for (name, v) in &f.rules {
            let text = match v {
                crate::PyValue::Str(s) => s.to_string(),
                other => other.py_str(),
            };
            match entries.iter_mut().find(|(n, _)| n == name) {
                Some(slot) => slot.1 = text,
                None => entries.push((name.clone(), text)),
            }
        }
    }
    for d in &rules.defaults {
        if !entries.iter().any(|(n, _)| *n == d.name) {
            entries.push((d.name.clone(), d.check_str.clone()));
        }
    }
    let _ = value_text;
    match format {
        Format::Json => {
            let m: serde_json::Map<String, serde_json::Value> =
                entries.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
            Report::json(&serde_json::Value::Object(m), 0)
        }
        Format::Text => {
            let mut out = String::new();
            for (k, v) in entries {
                out.push_str(&format!("\"{k}\": \"{v}\"\n"));
            }
            Report { text: out, exit: 0 }
        }
    }
}
