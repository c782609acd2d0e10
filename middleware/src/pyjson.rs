//! Python's `json.dumps` string form, for headers the reference writes with it
//! (`X-Service-Catalog`, `X-Auth-EC2-Creds`): byte-identical output matters to
//! consumers that compare or re-sign them.

/// Appends `s` as a JSON string with Python's default `ensure_ascii` escaping
/// (everything outside `' '..='~'` escaped, as `json.dumps` does).
///
/// ```
/// let mut out = String::new();
/// heatgate_middleware::pyjson::push_py_str(&mut out, "caf\u{e9} \"x\"\n\u{7f}");
/// assert_eq!(out, r#""caf\u00e9 \"x\"\n\u007f""#);
/// ```
pub fn push_py_str(out: &mut String, s: &str) {
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
