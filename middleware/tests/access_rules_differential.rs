//! Application-credential access rules against keystonemiddleware 13.0.1
//! itself (the `.keystone` venv): `_path_matches` on ~3000 seeded (pattern,
//! path) pairs, and webob's `request.path` on seeded raw paths; then the
//! answers where ours deliberately differs (stricter, or a rule read as its
//! text rather than as regex syntax), checked against what the reference says.
//!
//! Skipped (with a message) only when `.keystone/venv` does not exist. The
//! seed is fixed and printed; `HEATGATE_ACCESS_RULES_SEED` replaces it.

use std::path::PathBuf;
use std::process::Command;

use heatgate_keystone::TokenBody;
use heatgate_middleware::auth_token::{AccessRuleRefusal, AccessRules};
use http::Method;
use serde_json::json;

const DEFAULT_SEED: u64 = 0x5eed_ac1e_5501_2024;
const SERVICE: &str = "orchestration";

/// keystonemiddleware's `_path_matches(path, pattern)`, one `[pattern, path]`
/// JSON line in, one 0/1 line out.
const PATH_MATCHES: &str = r#"
import json, sys
from keystonemiddleware.auth_token import _path_matches
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        pattern, path = json.loads(line)
        print(1 if _path_matches(path, pattern) else 0)
"#;

/// webob's `request.path` (on keystonemiddleware's request class) for a raw
/// path that eventlet unquoted into PATH_INFO; `null` when webob cannot
/// decode it.
const WEBOB_PATH: &str = r#"
import json, sys
from urllib.parse import unquote_to_bytes
from keystonemiddleware.auth_token._request import _AuthTokenRequest
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        raw = json.loads(line)
        req = _AuthTokenRequest.blank("/")
        req.environ["SCRIPT_NAME"] = ""
        req.environ["PATH_INFO"] = unquote_to_bytes(raw.encode("utf-8")).decode("latin-1")
        try:
            print(json.dumps(req.path))
        except UnicodeDecodeError:
            print("null")
"#;

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// The reference's python, or `None` (with a message) when it is not installed.
fn keystone_python() -> Option<PathBuf> {
    let venv = workspace_root().join(".keystone/venv");
    if !venv.exists() {
        eprintln!(
            "SKIPPED: {} does not exist (keystonemiddleware 13.0.1 is installed there)",
            venv.display()
        );
        return None;
    }
    Some(venv.join("bin/python3"))
}

/// Runs `script` over `lines` (written as JSON lines to a temporary file):
/// one output line per input line.
fn run_reference(python: &PathBuf, name: &str, script: &str, lines: &[String]) -> Vec<String> {
    let file = std::env::temp_dir().join(format!(
        "heatgate-access-rules-{}-{name}.jsonl",
        std::process::id()
    ));
    let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&file, input).expect("write the cases");
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "the reference failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let answers: Vec<String> = String::from_utf8(out.stdout)
        .expect("utf-8 answers")
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(answers.len(), lines.len(), "one answer per case");
    answers
}

fn seed() -> u64 {
    let seed = std::env::var("HEATGATE_ACCESS_RULES_SEED")
        .map(|s| s.parse().expect("HEATGATE_ACCESS_RULES_SEED must be a u64"))
        .unwrap_or(DEFAULT_SEED);
    println!("HEATGATE_ACCESS_RULES_SEED={seed}");
    eprintln!("HEATGATE_ACCESS_RULES_SEED={seed}");
    seed
}

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        // xorshift's state must not be 0.
        Rng(seed | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// A token restricted to one rule, `GET pattern` on [`SERVICE`].
fn one_rule(pattern: &str) -> AccessRules {
    let body: TokenBody = serde_json::from_value(json!({
        "expires_at": "2030-01-01T00:00:00Z",
        "user": {"id": "u1"},
        "catalog": [{"type": SERVICE, "endpoints": []}],
        "application_credential": {"id": "ac1", "access_rules": [
            {"service": SERVICE, "method": "GET", "path": pattern}]},
    }))
    .expect("token");
    AccessRules::from_token(&body).expect("restricted")
}

/// Ours, through the public API.
fn ours(pattern: &str, raw_path: &str) -> Result<(), AccessRuleRefusal> {
    one_rule(pattern).allows(Some(SERVICE), &Method::GET, raw_path, false)
}

/// Literal segments: no regex metacharacter, so the reference's unescaped
/// literals mean what ours do.
const LITERALS: &[&str] = &["v1", "stacks", "a", "b_c", "x-y", "Z9", "resources", ""];
/// Pattern-only segments.
const WILD: &[&str] = &[
    "*", "**", "***", "****", "{id}", "{}", "{a/b}", "a*", "*b", "x{id}", "{", "}", "{{x}", "a}b",
];

fn random_segment(rng: &mut Rng) -> String {
    const CHARS: &[u8] = b"abcxyz019-_";
    let len = 1 + rng.below(4);
    (0..len).map(|_| char::from(*rng.pick(CHARS))).collect()
}

/// A path meant to match `segments` (a guess: the reference decides).
fn instantiate(rng: &mut Rng, segments: &[&str]) -> String {
    let parts: Vec<String> = segments
        .iter()
        .map(|s| match *s {
            "*" | "{id}" | "{}" | "{a/b}" => random_segment(rng),
            "**" | "****" => (0..rng.below(3))
                .map(|_| random_segment(rng))
                .collect::<Vec<_>>()
                .join("/"),
            "***" => {
                let head: Vec<String> = (0..rng.below(3)).map(|_| random_segment(rng)).collect();
                let sep = if head.is_empty() { "" } else { "/" };
                format!("{}{sep}{}", head.join("/"), random_segment(rng))
            }
            "a*" => format!("a{}", random_segment(rng)),
            "*b" => format!("{}b", random_segment(rng)),
            "x{id}" => format!("x{}", random_segment(rng)),
            "{" | "}" => String::new(),
            "{{x}" => random_segment(rng),
            "a}b" => "ab".to_owned(),
            literal => literal.to_owned(),
        })
        .collect();
    parts.join("/")
}

/// A small change that may or may not still match.
fn mutate(rng: &mut Rng, path: &str) -> String {
    let mut chars: Vec<char> = path.chars().collect();
    match rng.below(5) {
        0 if !chars.is_empty() => {
            chars.remove(rng.below(chars.len()));
        }
        1 => chars.insert(rng.below(chars.len() + 1), '/'),
        2 => chars.insert(rng.below(chars.len() + 1), *rng.pick(&['a', '-', '9'])),
        3 => chars.push('/'),
        _ => return format!("/v1{path}"),
    }
    chars.into_iter().collect()
}

#[test]
fn path_matching_agrees_with_keystonemiddleware() {
    let Some(python) = keystone_python() else {
        return;
    };
    let mut rng = Rng::new(seed());
    let mut cases: Vec<(String, String)> = Vec::new();
    for _ in 0..3000 {
        let len = 1 + rng.below(5);
        let segments: Vec<&str> = (0..len)
            .map(|_| {
                if rng.chance(45) {
                    *rng.pick(WILD)
                } else {
                    *rng.pick(LITERALS)
                }
            })
            .collect();
        let lead = if rng.chance(85) { "/" } else { "" };
        let pattern = format!("{lead}{}", segments.join("/"));
        let path = match rng.below(3) {
            0 => format!("{lead}{}", instantiate(&mut rng, &segments)),
            1 => {
                let p = format!("{lead}{}", instantiate(&mut rng, &segments));
                mutate(&mut rng, &p)
            }
            _ => {
                let n = rng.below(6);
                let parts: Vec<String> = (0..n)
                    .map(|_| {
                        if rng.chance(50) {
                            (*rng.pick(LITERALS)).to_owned()
                        } else {
                            random_segment(&mut rng)
                        }
                    })
                    .collect();
                format!("/{}", parts.join("/"))
            }
        };
        cases.push((pattern, path));
    }
    let lines: Vec<String> = cases
        .iter()
        .map(|(pattern, path)| json!([pattern, path]).to_string())
        .collect();
    let reference = run_reference(&python, "path-matches", PATH_MATCHES, &lines);

    let mut disagreements = Vec::new();
    let mut matched = 0;
    for ((pattern, path), answer) in cases.iter().zip(&reference) {
        let theirs = answer == "1";
        matched += usize::from(theirs);
        let mine = match ours(pattern, path) {
            Ok(()) => true,
            Err(AccessRuleRefusal::NoMatchingRule) => false,
            Err(other) => panic!("{pattern:?} {path:?}: unexpected {other:?}"),
        };
        if mine != theirs {
            disagreements.push(format!(
                "pattern {pattern:?} path {path:?}: reference {theirs}, ours {mine}"
            ));
        }
    }
    println!(
        "{} cases, {matched} matching per the reference",
        cases.len()
    );
    assert!(
        disagreements.is_empty(),
        "{} disagreements, e.g.:\n{}",
        disagreements.len(),
        disagreements[..disagreements.len().min(20)].join("\n")
    );
    // Both answers must be well represented for the comparison to mean much.
    assert!(matched > cases.len() / 5, "only {matched} matches");
    assert!(matched < cases.len() * 4 / 5, "{matched} matches");
}

#[test]
fn request_paths_agree_with_webob() {
    let Some(python) = keystone_python() else {
        return;
    };
    let mut rng = Rng::new(seed() ^ 0x0077_eb0b);
    // No `*` (raw or `%2A`): webob leaves it as is, and our pattern below
    // would read it as a wildcard. `{` and `}` always come out encoded.
    // Pieces may join into escapes (`%` then `%41`, `%2` then `a`): good.
    const PIECES: &[&str] = &[
        "/",
        "/",
        "a",
        "Z",
        "9",
        "-",
        "_",
        ".",
        "~",
        "!",
        "$",
        "&",
        "'",
        "(",
        ")",
        "+",
        ",",
        ";",
        "=",
        ":",
        "@",
        " ",
        "\"",
        "<",
        "[",
        "]",
        "^",
        "|",
        "\\",
        "{",
        "}",
        "é",
        "€",
        "\u{1}",
        "%",
        "%2",
        "%zz",
        "%41",
        "%7e",
        "%2F",
        "%2f",
        "%20",
        "%25",
        "%2541",
        "%7B",
        "%7d",
        "%3F",
        "%23",
        "%0A",
        "%00",
        "%C3%A9",
        "%c3%a9",
        "%E2%82%AC",
        "%FF",
        "%C3",
        "%80",
        "%ED%A0%80",
    ];
    let raws: Vec<String> = (0..1500)
        .map(|_| {
            let n = 1 + rng.below(8);
            let body: String = (0..n).map(|_| *rng.pick(PIECES)).collect();
            format!("/{body}")
        })
        .collect();
    let lines: Vec<String> = raws.iter().map(|r| json!(r).to_string()).collect();
    let reference = run_reference(&python, "webob-path", WEBOB_PATH, &lines);

    let (mut undecodable, mut wild) = (0, 0);
    for (raw, answer) in raws.iter().zip(&reference) {
        let theirs: Option<String> = serde_json::from_str(answer).expect("json answer");
        match theirs {
            None => {
                undecodable += 1;
                assert_eq!(
                    ours("**", raw),
                    Err(AccessRuleRefusal::UndecodablePath),
                    "{raw:?}: webob cannot decode it"
                );
            }
            Some(path) if path.contains('*') => {
                // `%2` then `a` is `%2a`, a `*`, which no pattern can spell.
                wild += 1;
            }
            Some(path) => {
                // A pattern of literals only matches exactly its own text: so
                // our request path is webob's. (webob encodes braces.)
                assert!(!path.contains(['{', '}']), "{path:?}");
                assert_eq!(
                    ours(&path, raw),
                    Ok(()),
                    "{raw:?}: webob's path is {path:?}"
                );
                assert_eq!(
                    ours(&format!("{path}x"), raw),
                    Err(AccessRuleRefusal::NoMatchingRule),
                    "{raw:?}"
                );
            }
        }
    }
    println!(
        "{} raw paths, {undecodable} undecodable, {wild} with a `*` (not compared)",
        raws.len()
    );
    assert!(undecodable > 0 && undecodable + wild < raws.len() / 2);
}

#[test]
fn where_ours_is_stricter_than_keystonemiddleware() {
    let Some(python) = keystone_python() else {
        return;
    };
    // (pattern, path): the reference matches each; ours does not.
    let cases: &[(&str, &str)] = &[
        // Its literals are regex syntax: `.` is any character...
        ("/v2.1/servers", "/v2x1/servers"),
        ("/v1/stacks/*.json", "/v1/stacks/s_json"),
        // ... `|` is an alternation (of `^/a` and `/b$`)...
        ("/a|/b", "/azzz"),
        // ... and its `$` also accepts a trailing newline (our end is the end;
        // besides, webob's path never has a raw newline: it is `%0A`).
        ("/v1/stacks", "/v1/stacks\n"),
    ];
    let lines: Vec<String> = cases
        .iter()
        .map(|(p, q)| json!([p, q]).to_string())
        .collect();
    let reference = run_reference(&python, "stricter", PATH_MATCHES, &lines);
    for ((pattern, path), answer) in cases.iter().zip(&reference) {
        assert_eq!(answer, "1", "the reference matches {path:?} to {pattern:?}");
        assert_eq!(
            ours(pattern, path),
            Err(AccessRuleRefusal::NoMatchingRule),
            "ours refuses {path:?} for {pattern:?}"
        );
    }
    // And a dot matches a dot in both.
    assert_eq!(ours("/v2.1/servers", "/v2.1/servers"), Ok(()));
}

#[test]
fn where_ours_reads_a_rule_as_its_text() {
    let Some(python) = keystone_python() else {
        return;
    };
    // (pattern, path): the path is the rule's text, which webob leaves as is
    // (these characters are in its safe set), so ours matches; the
    // reference's regex reads the rule as regex syntax and does not.
    let cases: &[(&str, &str)] = &[
        ("/v1/a+", "/v1/a+"),
        ("/v1/(a)", "/v1/(a)"),
        ("/v1/a$", "/v1/a$"),
    ];
    let lines: Vec<String> = cases
        .iter()
        .map(|(p, q)| json!([p, q]).to_string())
        .collect();
    let reference = run_reference(&python, "literal", PATH_MATCHES, &lines);
    for ((pattern, path), answer) in cases.iter().zip(&reference) {
        assert_eq!(
            answer, "0",
            "the reference refuses {path:?} for {pattern:?}"
        );
        assert_eq!(
            ours(pattern, path),
            Ok(()),
            "ours allows {path:?} for {pattern:?}"
        );
    }
}
