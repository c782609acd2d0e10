//! Differential test: seeded random rules, credentials and targets, decided by
//! this crate and by the real oslo.policy 6.0.1 (one batch run of the oracle);
//! every answer must agree.
//!
//! `HEATGATE_POLICY_SEED=<u64>` replays a run; `HEATGATE_POLICY_CASES=<n>`
//! changes the number of enforce cases (default 100,000).

mod common;

use common::{fake_remote, run_oracle, seed, Rng};
use heatgate_policy::check::parse_rule_value;
use heatgate_policy::ruleset::{DefaultRule, RuleDefault, RuleSet};
use heatgate_policy::{Credentials, Enforcer, PyValue, Target};
use serde_json::{json, Value};

const ROLE_NAMES: &[&str] = &[
    "admin",
    "Admin",
    "ADMIN",
    "member",
    "Member",
    "reader",
    "READER",
    "heat_stack_user",
    "Heat_Stack_User",
    "observer",
    "\u{e9}diteur",
    "\u{c9}DITEUR",
    "\u{130}stanbul",
    "i\u{307}stanbul",
    "\u{3a3}\u{3a3}",
    "\u{3c3}\u{3c2}",
    "stra\u{df}e",
    "STRASSE",
    "\u{212a}elvin",
    "kelvin",
];

const KINDS: &[&str] = &[
    "user_id",
    "project_id",
    "domain_id",
    "is_admin",
    "is_admin_project",
    "roles",
    "system",
    "system_scope",
    "token.user.id",
    "token.roles.name",
    "token.project.domain.id",
    "nested.list.x",
    "nums",
    "flt",
    "nothing",
    "user_id.x",
    "roles.name",
    "'admin'",
    "\"member\"",
    "True",
    "False",
    "None",
    "1",
    "-1",
    "+1",
    "1.5",
    "1e3",
    "0x10",
    "0o17",
    "0b11",
    "1_000",
    "00",
    "1j",
    "-1j",
    "2+3j",
    "1-0j",
    "b'x'",
    "u'x'",
    "r'a\\n'",
    "'a\\n'",
    "'\\x41'",
    "[1,'a']",
    "'a''b'",
    "...",
    "set()",
    "--1",
    "-True",
    "not(x)",
    "a#b",
    "Role",
    "ROLE",
    "user-id",
    "a.b",
    "1abc",
    "\u{20ac}",
    "",
    "a..b",
    "x'y",
    "'unterminated",
    "f'x'",
    "lambda",
    "and",
    "is",
    "x.if",
    "caf\u{e9}",
    "\u{3a3}x",
    "a()",
    "a[0]",
    "1if",
    "01",
    "1__0",
    "0x",
    "{}",
    "[]",
    "()",
    "\"q'\"",
    "'a' b'x'",
    "await",
    "1e400",
    "0.1",
    "-0.0",
    "1.0",
    "12345678901234567890",
];

const MATCHES: &[&str] = &[
    "%(project_id)s",
    "%(user_id)s",
    "%(missing)s",
    "%(a.b)s",
    "%(n)s",
    "%(n)d",
    "%(n)r",
    "%(x)r",
    "%(n)05d",
    "%(flag)s",
    "%(none)s",
    "%(lst)s",
    "%(f)s",
    "%(f).2f",
    "%(f)e",
    "%(f)g",
    "%(n)x",
    "%(x)5s",
    "%(x)-5s|",
    "%s",
    "%%",
    "100%",
    "%(x",
    "%(x)z",
    "p-%(project_id)s",
    "%(project_id)s%(user_id)s",
    "%(x)s%s",
    "%(n)c",
    "True",
    "False",
    "None",
    "admin",
    "member",
    "p1",
    "p2",
    "u1",
    "1",
    "1.5",
    "1000",
    "16",
    "15",
    "3",
    "inf",
    "(2+3j)",
    "(1+0j)",
    "1j",
    "(-0-1j)",
    "b'x'",
    "x",
    "a\\n",
    "a\n",
    "A",
    "[1, 'a']",
    "ab",
    "Ellipsis",
    "set()",
    "{}",
    "[]",
    "()",
    "-1",
    "0",
    "1000.0",
    "0.1",
    "-0.0",
    "1.0",
    "12345678901234567890",
    "d1",
    "all",
    "['admin', 'member']",
    "{'id': 'u1'}",
    "",
];

const SPACES: &[&str] = &[
    " ", " ", " ", "  ", "\t", "\n", "\x1c", "\u{a0}", "\u{3000}", " \r\n ",
];

fn kw(rng: &mut Rng, k: &str) -> String {
    match rng.below(6) {
        0 => k.to_uppercase(),
        1 => {
            let mut c = k.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        }
        _ => k.to_string(),
    }
}

fn atom(rng: &mut Rng, rule_names: &[String]) -> String {
    match rng.below(20) {
        0..=4 => format!("role:{}", rng.pick(ROLE_NAMES)),
        5 => format!("role:%({})s", rng.pick(&["role", "missing", "x", "n"])),
        6..=7 => {
            if rng.chance(80) && !rule_names.is_empty() {
                format!("rule:{}", rng.pick(rule_names))
            } else {
                format!(
                    "rule:{}",
                    rng.pick(&["undefined", "default", "Default", ""])
                )
            }
        }
        8..=14 => {
            let k = *rng.pick(KINDS);
            let m = *rng.pick(MATCHES);
            // Tokens cannot hold whitespace in the string syntax.
            let m: String = m.chars().filter(|c| !c.is_whitespace()).collect();
            format!("{k}:{m}")
        }
        15 => {
            let path = *rng.pick(&[
                "true",
                "qtrue",
                "false",
                "lower",
                "qqtrue",
                "timeout",
                "connerr",
                "%(project_id)s",
                "%(missing)s",
                "%(x)s",
                "True",
            ]);
            let scheme = if rng.chance(70) { "http" } else { "https" };
            format!("{scheme}://policy.invalid/check/{path}")
        }
        16 => rng.pick(&["@", "!", "@", "!"]).to_string(),
        17 => rng
            .pick(&[
                "foo",
                "role",
                "admin",
                "'role:admin'",
                "\"x\"",
                "''",
                "'a",
                "a:",
                ":",
                "::",
                "role:",
            ])
            .to_string(),
        18 => format!("is_admin:{}", rng.pick(&["True", "true", "1", "%(flag)s"])),
        _ => format!(
            "project_id:{}",
            rng.pick(&["%(project_id)s", "p1", "%(missing)s"])
        ),
    }
}

fn expr(rng: &mut Rng, depth: u32, names: &[String]) -> String {
    if depth == 0 || rng.chance(35) {
        return atom(rng, names);
    }
    match rng.below(10) {
        0..=3 => {
            let n = 2 + rng.below(3);
            let w = if rng.chance(50) { "and" } else { "or" };
            let op = kw(rng, w);
            let mixed = rng.chance(40);
            let mut s = expr(rng, depth - 1, names);
            for _ in 1..n {
                let w = if rng.chance(50) { "and" } else { "or" };
                let o = if mixed { kw(rng, w) } else { op.clone() };
                s = format!(
                    "{s}{}{o}{}{}",
                    rng.pick(SPACES),
                    rng.pick(SPACES),
                    expr(rng, depth - 1, names)
                );
            }
            s
        }
        4..=5 => format!(
            "{}{}{}",
            kw(rng, "not"),
            rng.pick(SPACES),
            expr(rng, depth - 1, names)
        ),
        6..=8 => {
            let inner = expr(rng, depth - 1, names);
            if rng.chance(50) {
                format!("({inner})")
            } else {
                format!("({}{inner}{})", rng.pick(SPACES), rng.pick(SPACES))
            }
        }
        _ => {
            // Something structurally wrong, or odd spacing.
            let e = expr(rng, depth - 1, names);
            match rng.below(9) {
                0 => format!("{e} {}", kw(rng, "or")),
                1 => format!("{} {e}", kw(rng, "and")),
                2 => format!("({e}"),
                3 => format!("{e})"),
                4 => format!("{e} {}", atom(rng, names)),
                5 => format!("{e} not {}", atom(rng, names)),
                6 => format!("'{e}'"),
                7 => format!("{}{e}{}", rng.pick(SPACES), rng.pick(SPACES)),
                _ => kw(rng, "not"),
            }
        }
    }
}

fn rule_value(rng: &mut Rng, names: &[String]) -> Value {
    match rng.below(30) {
        0 => json!(""),
        1 => {
            // legacy list-of-lists
            let n = rng.below(4);
            let mut outer = Vec::new();
            for _ in 0..n {
                match rng.below(5) {
                    0 => outer.push(json!(atom(rng, names))),
                    1 => outer.push(json!([])),
                    _ => {
                        let m = 1 + rng.below(3);
                        outer.push(Value::Array(
                            (0..m).map(|_| json!(atom(rng, names))).collect(),
                        ))
                    }
                }
            }
            Value::Array(outer)
        }
        2 => rng
            .pick(&[
                json!(null),
                json!([[]]),
                json!([[], []]),
                json!(false),
                json!(0),
                json!({"role:admin": 1}),
            ])
            .clone(),
        _ => json!(expr(rng, 3, names)),
    }
}

fn py_like_creds(rng: &mut Rng) -> Value {
    let mut m = serde_json::Map::new();
    let mut put = |k: &str, v: Value, rng: &mut Rng| {
        if rng.chance(85) {
            m.insert(k.into(), v);
        }
    };
    let uid = rng.pick(&["u1", "u2", "True", "1"]).to_string();
    put("user_id", json!(uid), rng);
    let pid = *rng.pick(&["p1", "p2", "p1", "d1"]);
    put("project_id", json!(pid), rng);
    let domain = if rng.chance(20) {
        json!(rng.pick(&["d1", ""]))
    } else {
        Value::Null
    };
    put("domain_id", domain, rng);
    let nroles = rng.below(4);
    let roles: Vec<Value> = (0..nroles).map(|_| json!(rng.pick(ROLE_NAMES))).collect();
    let roles = match rng.below(25) {
        0 => json!("admin"),
        1 => json!(["admin", 1]),
        2 => Value::Null,
        _ => Value::Array(roles),
    };
    put("roles", roles, rng);
    if rng.chance(15) {
        let v = json!(rng.pick(&["all", ""]));
        put("system_scope", v, rng);
    }
    let b = rng.chance(50);
    put(
        "is_admin",
        if rng.chance(10) {
            json!("True")
        } else {
            json!(b)
        },
        rng,
    );
    let b = rng.chance(70);
    put("is_admin_project", json!(b), rng);
    let tid = *rng.pick(&["u1", "u2"]);
    let rname = *rng.pick(ROLE_NAMES);
    put(
        "token",
        json!({"user": {"id": tid}, "roles": [{"name": "member"}, {"name": rname}], "project": {"domain": {"id": "d1"}}}),
        rng,
    );
    put(
        "nested",
        json!({"list": [{"x": "a"}, {"x": 1}, [1, 2], {"y": 2}]}),
        rng,
    );
    put("nums", json!([1, 1.5, 1000, 16]), rng);
    let f = *rng.pick(&[1.5, 0.1, 1e16, -0.0, 1000.0, 1e-7]);
    put("flt", json!(f), rng);
    put("nothing", Value::Null, rng);
    put("Role", json!("admin"), rng);
    put("user-id", json!("u1"), rng);
    put("a.b", json!("x"), rng);
    put("a", json!({"b": "x"}), rng);
    Value::Object(m)
}

fn target(rng: &mut Rng) -> Value {
    let mut m = serde_json::Map::new();
    let choices: &[(&str, &[Value])] = &[
        ("project_id", &[json!("p1"), json!("p2"), json!(1)]),
        ("user_id", &[json!("u1"), json!("u2")]),
        ("a.b", &[json!("x"), json!("y")]),
        (
            "n",
            &[
                json!(1000),
                json!(16),
                json!(-3),
                json!(true),
                json!(1.5),
                json!("s"),
            ],
        ),
        (
            "x",
            &[
                json!("x"),
                json!("a'b"),
                json!("\u{e9}"),
                json!(""),
                json!("admin"),
            ],
        ),
        ("flag", &[json!("True"), json!("true"), json!(true)]),
        ("none", &[Value::Null]),
        ("lst", &[json!([1, "a"]), json!([])]),
        ("f", &[json!(0.1), json!(1e16), json!(1.5), json!(3)]),
        ("role", &[json!("admin"), json!("ADMIN"), json!("reader")]),
    ];
    for (k, vals) in choices {
        if rng.chance(70) {
            m.insert((*k).into(), rng.pick(vals).clone());
        }
    }
    Value::Object(m)
}

struct Spec {
    files: Vec<Vec<(String, Value)>>,
    defaults: Vec<RuleDefault>,
    default_rule: DefaultRule,
    enforce_new_defaults: bool,
    names: Vec<String>,
}

fn ruleset_spec(rng: &mut Rng) -> Spec {
    let n = 1 + rng.below(6);
    let mut names: Vec<String> = (0..n).map(|i| format!("r{i}")).collect();
    if rng.chance(30) {
        names.push("default".into());
    }
    let nfiles = if rng.chance(25) { 2 } else { 1 };
    let mut files = Vec::new();
    for f in 0..nfiles {
        let mut rules = Vec::new();
        for name in &names {
            if f == 0 || rng.chance(40) {
                rules.push((name.clone(), rule_value(rng, &names)));
            }
        }
        files.push(rules);
    }
    let mut defaults = Vec::new();
    if rng.chance(40) {
        for i in 0..(1 + rng.below(3)) {
            let name = if rng.chance(50) {
                format!("r{i}")
            } else {
                format!("d{i}")
            };
            let check = match expr(rng, 2, &names) {
                s if s.is_empty() => "@".to_string(),
                s => s,
            };
            let mut d = RuleDefault::new(name.clone(), check);
            if rng.chance(60) {
                let scopes: &[&[&str]] = &[
                    &["project"],
                    &["system"],
                    &["domain", "project"],
                    &["system", "project"],
                ];
                d = d.with_scope_types(rng.pick(scopes).iter().copied());
            }
            if rng.chance(50) {
                let dep_name = if rng.chance(50) {
                    name.clone()
                } else {
                    format!("old_{name}")
                };
                d = d.with_deprecated(dep_name, atom(rng, &names));
            }
            if !defaults.iter().any(|x: &RuleDefault| x.name == d.name) {
                defaults.push(d);
            }
        }
    }
    let default_rule = match rng.below(6) {
        0 => DefaultRule::None,
        1 => DefaultRule::Name("default".into()),
        2 => DefaultRule::Name("r0".into()),
        3 => DefaultRule::Check("!".into()),
        4 => DefaultRule::Check("@".into()),
        _ => DefaultRule::Name("missing".into()),
    };
    let mut all = names.clone();
    for d in &defaults {
        all.push(d.name.clone());
        if let Some(dep) = &d.deprecated_rule {
            all.push(dep.name.clone());
        }
    }
    Spec {
        files,
        defaults,
        default_rule,
        enforce_new_defaults: rng.chance(60),
        names: all,
    }
}

fn spec_json(id: usize, s: &Spec) -> String {
    let files: Vec<Value> = s
        .files
        .iter()
        .map(|f| Value::Object(f.iter().map(|(k, v)| (k.clone(), v.clone())).collect()))
        .collect();
    let defaults: Vec<Value> = s
        .defaults
        .iter()
        .map(|d| serde_json::to_value(d).expect("default"))
        .collect();
    let dr = match &s.default_rule {
        DefaultRule::None => Value::Null,
        DefaultRule::Name(n) => json!({"name": n}),
        DefaultRule::Check(c) => json!({"check": c}),
    };
    json!({"op": "ruleset", "id": id, "files": files, "defaults": defaults, "default_rule": dr,
           "enforce_new_defaults": s.enforce_new_defaults})
    .to_string()
}

fn build(s: &Spec) -> Result<Enforcer, String> {
    let mut rs = RuleSet::new()
        .with_defaults(s.defaults.iter().cloned())
        .with_default_rule(s.default_rule.clone())
        .with_enforce_new_defaults(s.enforce_new_defaults);
    for (i, f) in s.files.iter().enumerate() {
        let text =
            Value::Object(f.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).to_string();
        rs = rs
            .with_file_text(&format!("file{i}"), &text)
            .map_err(|e| e.to_string())?;
    }
    Ok(Enforcer::with_remote(rs, fake_remote()))
}

fn answer(r: Result<bool, heatgate_policy::EnforceError>) -> String {
    match r {
        Ok(true) => "T".into(),
        Ok(false) => "F".into(),
        Err(e) => format!("E:{}", e.python_class()),
    }
}

#[test]
fn agrees_with_oslo_policy_on_random_cases() {
    let seed = seed();
    let total: usize = std::env::var("HEATGATE_POLICY_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let mut rng = Rng::new(seed);
    let mut lines: Vec<String> = Vec::new();
    let mut ours: Vec<String> = Vec::new();
    let mut what: Vec<String> = Vec::new();
    let mut enforce_cases = 0usize;
    let mut rs_id = 0usize;
    while enforce_cases < total {
        let spec = ruleset_spec(&mut rng);
        lines.push(spec_json(rs_id, &spec));
        let built = build(&spec);
        ours.push(if built.is_ok() {
            "ok".into()
        } else {
            "E:Load".into()
        });
        what.push(format!("ruleset {rs_id}: {}", spec_json(rs_id, &spec)));
        // Parser structure: str(check) for every rule value.
        for f in &spec.files {
            for (_, v) in f {
                let pv = PyValue::from_json_value(v);
                lines.push(json!({"op": "parse", "value": v}).to_string());
                ours.push(match parse_rule_value(&pv) {
                    Ok(p) => p.check.to_string(),
                    Err(_) => "E:TypeError".into(),
                });
                what.push(format!("parse {v}"));
            }
        }
        for _ in 0..25 {
            let rule = if rng.chance(90) {
                rng.pick(&spec.names).clone()
            } else {
                "unknown:rule".to_string()
            };
            let creds = py_like_creds(&mut rng);
            let tgt = target(&mut rng);
            lines.push(
                json!({"op": "enforce", "rs": rs_id, "rule": rule, "target": tgt, "creds": creds})
                    .to_string(),
            );
            let a = match &built {
                Ok(e) => {
                    let c = Credentials::from_json(&creds.to_string()).expect("creds");
                    let t = Target::from_json(&tgt.to_string()).expect("target");
                    answer(e.enforce(&rule, &t, &c))
                }
                Err(_) => "E:Load".into(),
            };
            ours.push(a);
            what.push(format!(
                "enforce rule={rule:?} target={tgt} creds={creds}\n  rules:  {}",
                spec_json(rs_id, &spec)
            ));
            enforce_cases += 1;
        }
        rs_id += 1;
    }
    let t0 = std::time::Instant::now();
    let theirs = run_oracle("oslo_eval.py", &lines);
    println!(
        "{} lines ({} enforce cases, {} rule sets) decided by oslo.policy in {:?}",
        lines.len(),
        enforce_cases,
        rs_id,
        t0.elapsed()
    );
    let mut bad = Vec::new();
    for i in 0..lines.len() {
        let ok = ours[i] == theirs[i]
            // A file oslo rejects only when the rules load: any exception on its side.
            || (ours[i] == "E:Load" && theirs[i].starts_with("E:"))
            || (ours[i] == "E:Load" && theirs[i] == "ok");
        if !ok {
            bad.push(i);
        }
    }
    for &i in bad.iter().take(8) {
        eprintln!(
            "DISAGREEMENT #{i}\n  case:   {}\n  ours:   {}\n  oslo:   {}",
            what[i], ours[i], theirs[i]
        );
    }
    // Tally of outcomes, so a run that only ever says "F" would be visible.
    let mut tally = std::collections::BTreeMap::new();
    for (i, l) in lines.iter().enumerate() {
        if l.starts_with("{\"creds\"") || l.contains("\"op\":\"enforce\"") {
            *tally.entry(theirs[i].clone()).or_insert(0usize) += 1;
        }
    }
    println!("oslo outcomes over enforce cases: {tally:?}");
    assert!(
        tally.get("T").copied().unwrap_or(0) > total / 20,
        "too few True outcomes: generator is degenerate"
    );
    assert!(
        tally.get("F").copied().unwrap_or(0) > total / 20,
        "too few False outcomes: generator is degenerate"
    );
    assert!(
        bad.is_empty(),
        "{} disagreements with oslo.policy (seed {seed})",
        bad.len()
    );
}
