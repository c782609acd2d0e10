//! The EC2 signature code against its references, byte for byte:
//! - keystoneclient's `Ec2Signer` (what Keystone runs) on seeded random
//!   credentials of every version, and Keystone's accept/reject decision
//!   (including the retry without the port);
//! - botocore (SigV4 header and presigned) and boto 2.49 (cfn-get-metadata's
//!   SigV4 with an IP host) requests, read back through the layer's request code;
//! - the AWS SigV4 test suite shipped in the aws-sigv4 crate, and that crate's
//!   own signer, where Keystone's canonicalisation is AWS's.
//!
//! The random tests print their seed; replay with `HEATGATE_SEED=<seed>`.

use heatgate_middleware::ec2token::request::{read_request, Head, Reading};
use heatgate_middleware::ec2token::signature::{
    canonical_request_v4, prepare, quote_unreserved, sign, verify, Ec2Credentials, Ordered,
};
use heatgate_tests::ec2_oracle::{self, Rng};
use serde_json::{json, Value};

const SECRET: &str = "verysecret";

/// The credentials as Keystone receives them (insertion order kept: a
/// `serde_json::Value` would sort the keys, and SigV1 ties depend on the order).
fn creds_json(c: &Ec2Credentials) -> String {
    serde_json::to_string(c).expect("credentials serialise")
}

/// A case for the oracle with raw credentials.
fn case(kind: &str, c: &Ec2Credentials) -> String {
    format!(
        r#"{{"kind": "{kind}", "secret": "{SECRET}", "credentials": {}}}"#,
        creds_json(c)
    )
}

/// The spec's two vectors, through the reference too.
#[test]
fn spec_vectors_match_keystoneclient() {
    let v2 = json!({
        "access": "ak0123456789", "signature": "",
        "host": "heat.example.com:8000", "verb": "PUT",
        "path": "/v1/waitcondition/arn:openstack:heat::p123:stacks/mystack/s-id/resources/wch",
        "params": {"SignatureMethod": "HmacSHA256", "SignatureVersion": "2",
                   "AWSAccessKeyId": "ak0123456789", "Timestamp": "2024-01-02T03:04:05Z"},
        "headers": {}, "body_hash": ""
    });
    let v4 = json!({
        "access": "ak0123456789", "signature": "",
        "host": "heat.example.com:8000", "verb": "POST", "path": "/v1/",
        "params": {"Action": "DescribeStackResource", "StackName": "s",
                   "LogicalResourceId": "r", "Version": "2010-05-15"},
        "headers": {"Host": "heat.example.com:8000", "X-Amz-Date": "20240102T030405Z",
                    "Authorization": "AWS4-HMAC-SHA256 Credential=ak0123456789/20240102/heat/cloudformation/aws4_request, SignedHeaders=host;x-amz-date, Signature=x"},
        "body_hash": "51b56a9a8bec2982d80829c6d5f2ce7cf8ca078257e84de84e488d2f769e1897"
    });
    let results = ec2_oracle::run(&[
        json!({"kind": "generate", "secret": SECRET, "credentials": v2}).to_string(),
        json!({"kind": "generate", "secret": SECRET, "credentials": v4}).to_string(),
    ]);
    assert_eq!(
        results[0]["signature"],
        "9zmU54nt8X4wxPl1OKjXbZ79Qhf/kXo4HtanI2uO7ec="
    );
    assert_eq!(
        results[1]["signature"],
        "358293b9002a39d7c0266ff419c0bea1ec40ba2eaa15a4977580cdddcb259b35"
    );
}

const TEXT: &[char] = &[
    'a', 'b', 'A', 'B', 'z', 'Z', '0', '9', ' ', '-', '_', '.', '~', '/', '+', '=', '&', '%', ':',
    '@', '!', '*', '\'', '(', ';', ',', '?', '#', 'é', 'ß', 'Σ', '中', '😀', '\t',
];
const KEYS: &[&str] = &[
    "Action",
    "action",
    "Timestamp",
    "Version",
    "StackName",
    "a",
    "A",
    "b",
    "B",
    "é",
    "X-Amz-Date",
    "X-Amz-Expires",
    "SignatureMethod",
    "Signature",
];
const HOSTS: &[&str] = &[
    "heat.example.com",
    "Heat.Example.COM",
    "10.0.0.1",
    "[::1]",
    "h",
    "user@h",
];
const VERBS: &[&str] = &["GET", "POST", "PUT", "DELETE", "HEAD", "get", "Post"];
const HEADERS: &[&str] = &[
    "Host",
    "X-Amz-Date",
    "Content-Type",
    "User-Agent",
    "X-Foo",
    "X-Bar",
    "authorization",
];

fn random_value(rng: &mut Rng) -> String {
    let mut v = rng.string(TEXT, 8);
    if rng.chance(20) {
        v = format!("  {v} \t");
    }
    v
}

fn random_host(rng: &mut Rng) -> String {
    let mut host = rng.pick(HOSTS).to_string();
    if rng.chance(60) {
        host.push_str(&format!(":{}", rng.pick(&[80, 8000, 443, 65535])));
    }
    host
}

fn random_credentials(rng: &mut Rng) -> Ec2Credentials {
    let host = random_host(rng);
    let mut c = Ec2Credentials {
        access: "AK".into(),
        signature: "sig".into(),
        host: host.clone(),
        verb: rng.pick(VERBS).to_string(),
        path: format!("/{}", rng.string(TEXT, 10)),
        body_hash: hex_of(rng.next_u64()),
        ..Default::default()
    };
    for _ in 0..rng.below(6) {
        let k = if rng.chance(70) {
            rng.pick(KEYS).to_string()
        } else {
            rng.string(TEXT, 5)
        };
        let v = random_value(rng);
        c.params.insert(k, v);
    }
    for _ in 0..rng.below(5) {
        let name = rng.pick(HEADERS).to_string();
        let value = if name == "User-Agent" && rng.chance(50) {
            rng.pick(&[
                "Boto/2.9.1 Python/2.7",
                "Boto/2.49.0 Python/3",
                "botocore/1.0",
            ])
            .to_string()
        } else if name == "Host" {
            format!("{}{}", if rng.chance(20) { " " } else { "" }, host)
        } else {
            random_value(rng)
        };
        c.headers.insert(name, value);
    }
    let date = *rng.pick(&["20240102", "20240103", ""]);
    let amz_date = format!("{date}T030405Z");
    match rng.below(7) {
        0 => {
            c.params.insert("SignatureVersion".into(), "0".into());
            if rng.chance(80) {
                c.params.insert("Action".into(), random_value(rng));
                c.params
                    .insert("Timestamp".into(), "2024-01-02T03:04:05Z".into());
            }
        }
        1 => c.params.insert("SignatureVersion".into(), "1".into()),
        2 => {
            c.params.insert("SignatureVersion".into(), "2".into());
            if rng.chance(50) {
                c.params.insert(
                    "SignatureMethod".into(),
                    rng.pick(&["HmacSHA1", "HmacSHA256"]).to_string(),
                );
            }
        }
        3 | 4 => {
            let mut names: Vec<String> = (0..rng.below(5))
                .map(|_| rng.pick(HEADERS).to_lowercase())
                .collect();
            if rng.chance(20) {
                names.push("absent".into());
            }
            let scope_parts = *rng.pick(&[3usize, 4, 5, 5, 5, 6]);
            let mut scope = vec![
                "AK".to_string(),
                "20240102".into(),
                "RegionOne".into(),
                "heat".into(),
                "aws4_request".into(),
                "x".into(),
            ];
            scope.truncate(scope_parts);
            let credential = scope.join("/");
            if rng.chance(50) {
                c.headers.insert("X-Amz-Date".into(), amz_date);
            } else if rng.chance(80) {
                c.params.insert("X-Amz-Date".into(), amz_date);
            }
            c.headers.remove("authorization");
            c.headers.insert(
                "Authorization".into(),
                format!(
                    "AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={}, Signature=x",
                    names.join(";")
                ),
            );
        }
        5 => {
            let names: Vec<String> = (0..rng.below(4))
                .map(|_| rng.pick(HEADERS).to_lowercase())
                .collect();
            c.headers.remove("authorization");
            c.params
                .insert("X-Amz-Algorithm".into(), "AWS4-HMAC-SHA256".into());
            c.params.insert(
                "X-Amz-Credential".into(),
                "AK/20240102/RegionOne/heat/aws4_request".into(),
            );
            c.params.insert("X-Amz-Date".into(), amz_date);
            if rng.chance(90) {
                c.params
                    .insert("X-Amz-SignedHeaders".into(), names.join(";"));
            }
        }
        _ => {
            if rng.chance(50) {
                c.params.insert("SignatureVersion".into(), "3".into());
            }
        }
    }
    c
}

fn hex_of(n: u64) -> String {
    format!("{n:016x}{n:016x}{n:016x}{n:016x}")
}

/// keystoneclient's `Ec2Signer.generate` and ours agree on every random input:
/// the same signature, or both refuse.
#[test]
fn differential_generate_against_keystoneclient() {
    let mut rng = Rng::from_env("differential_generate_against_keystoneclient");
    let cases: Vec<Ec2Credentials> = (0..600).map(|_| random_credentials(&mut rng)).collect();
    let inputs: Vec<String> = cases.iter().map(|c| case("generate", c)).collect();
    let results = ec2_oracle::run(&inputs);
    let mut signed = 0;
    for (c, r) in cases.iter().zip(&results) {
        let ours = sign(c, SECRET.as_bytes());
        match (r.get("signature").and_then(Value::as_str), &ours) {
            (Some(theirs), Ok(mine)) => {
                assert_eq!(mine, theirs, "different signature for {}", creds_json(c));
                signed += 1;
            }
            (None, Err(_)) => {}
            _ => panic!(
                "disagreement for {}: reference {r}, ours {ours:?}",
                creds_json(c)
            ),
        }
    }
    eprintln!(
        "{signed} of {} cases signed, the rest refused by both",
        cases.len()
    );
    assert!(
        signed > 250,
        "the generator should mostly make signable requests"
    );
}

/// Keystone's decision (signature, then the host without its port) and ours agree.
#[test]
fn differential_accept_reject_against_keystone_logic() {
    let mut rng = Rng::from_env("differential_accept_reject_against_keystone_logic");
    let mut cases = Vec::new();
    while cases.len() < 400 {
        let mut c = random_credentials(&mut rng);
        if prepare(&c).is_err() {
            continue;
        }
        let mut signer = c.clone();
        match rng.below(5) {
            0 => {}
            1 => {
                signer.host = signer.host.split(':').next().unwrap_or("").to_string();
            }
            2 => {
                signer.host = signer
                    .host
                    .split(':')
                    .next()
                    .unwrap_or("")
                    .to_lowercase()
                    .replace(['[', ']'], "");
            }
            3 => signer.params.insert("Extra".into(), "1".into()),
            _ => signer.body_hash = hex_of(rng.next_u64()),
        }
        let secret = if rng.chance(10) { "other" } else { SECRET };
        c.signature = sign(&signer, secret.as_bytes()).expect("prepared");
        if rng.chance(5) {
            c.signature.clear();
        }
        cases.push(c);
    }
    let inputs: Vec<String> = cases.iter().map(|c| case("check", c)).collect();
    let results = ec2_oracle::run(&inputs);
    let mut accepted = 0;
    for (c, r) in cases.iter().zip(&results) {
        let ours = verify(c, SECRET.as_bytes()).expect("prepared");
        assert_eq!(
            r.get("accepted").and_then(Value::as_bool),
            Some(ours),
            "different decision for {}: reference {r}",
            creds_json(c)
        );
        accepted += usize::from(ours);
    }
    eprintln!("{accepted} of {} accepted by both", cases.len());
    assert!(accepted > 100 && accepted < 380);
}

/// Reads a request the way the layer does and returns the Keystone credentials.
fn through_layer(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Ec2Credentials {
    let parsed = url::Url::parse(url).expect("url");
    let mut path = parsed.path().to_string();
    if let Some(q) = parsed.query() {
        path = format!("{path}?{q}");
    }
    let mut b = http::Request::builder().method(method).uri(path);
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        let host = match parsed.port() {
            Some(p) => format!("{}:{p}", parsed.host_str().unwrap_or("")),
            None => parsed.host_str().unwrap_or("").to_string(),
        };
        b = b.header("host", host);
    }
    for (k, v) in headers {
        b = b.header(k.as_str(), v.as_str());
    }
    let (parts, ()) = b.body(()).expect("request").into_parts();
    let head = Head::read(&parts).expect("head");
    match read_request(&parts, &head, body).expect("readable") {
        Reading::Signed(s) => s.credentials,
        other => panic!("not signed: {other:?}"),
    }
}

fn header_pairs(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .expect("headers")
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap().to_string(),
                p[1].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// botocore's SigV4 (Authorization header and presigned query) on random
/// requests where Keystone's canonicalisation is AWS's: the signature we compute
/// from the request as received is botocore's, byte for byte.
#[test]
fn botocore_sigv4_header_and_presigned() {
    let mut rng = Rng::from_env("botocore_sigv4_header_and_presigned");
    let seg: &[char] = &['a', 'b', 'z', '0', '9', '-', '_', '~'];
    let val: &[char] = &[
        'a', 'Z', '0', ' ', '-', '_', '.', '~', '/', '+', '=', '&', ':', 'é', '中', '%',
    ];
    let mut cases = Vec::new();
    let mut inputs = Vec::new();
    for _ in 0..150 {
        let method = *rng.pick(&["GET", "POST", "PUT", "DELETE"]);
        let presign = method != "POST" && rng.chance(40);
        let host = format!(
            "{}{}",
            rng.pick(&["heat.example.com", "127.0.0.1", "h"]),
            rng.pick(&["", ":8000", ":80"])
        );
        let path: Vec<String> = (0..rng.below(4))
            .map(|_| format!("s{}", rng.string(seg, 6)))
            .collect();
        let mut path = format!("/{}", path.join("/"));
        if path.len() > 1 && rng.chance(30) {
            path.push('/');
        }
        let mut params: Vec<(String, String)> = Vec::new();
        for i in 0..rng.below(5) {
            params.push((format!("P{i}{}", rng.string(seg, 3)), rng.string(val, 8)));
        }
        // botocore encodes parameters itself (RFC 3986, `%20` for a space);
        // it signs a query as it is written, Keystone as it decodes it, so a
        // client writing `+` for a space would fail with Keystone too.
        let encoded = params
            .iter()
            .map(|(k, v)| {
                let mut pair = String::new();
                quote_unreserved(&mut pair, k);
                pair.push('=');
                quote_unreserved(&mut pair, v);
                pair
            })
            .collect::<Vec<_>>()
            .join("&");
        let (url, body, mut headers) = if method == "POST" {
            (
                format!("http://{host}{path}"),
                encoded,
                json!({"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}),
            )
        } else {
            let q = if encoded.is_empty() {
                String::new()
            } else {
                format!("?{encoded}")
            };
            (format!("http://{host}{path}{q}"), String::new(), json!({}))
        };
        if rng.chance(30) {
            headers["X-Custom"] = json!(format!(" v{} ", rng.below(100)));
        }
        let region = *rng.pick(&["RegionOne", "heat", "us-east-1"]);
        let service = *rng.pick(&["cloudformation", "heat", "s"]);
        inputs.push(
            json!({
                "kind": "botocore", "access": "AK", "secret": SECRET, "method": method,
                "url": url, "headers": headers, "body": body, "region": region,
                "service": service, "presign": presign, "expires": 300
            })
            .to_string(),
        );
        cases.push((method, body));
    }
    let results = ec2_oracle::run(&inputs);
    for ((method, body), r) in cases.iter().zip(&results) {
        assert!(r.get("error").is_none(), "botocore failed: {r}");
        let url = r["url"].as_str().unwrap();
        let headers = header_pairs(&r["headers"]);
        let creds = through_layer(method, url, &headers, body.as_bytes());
        let ours = sign(&creds, SECRET.as_bytes()).expect("signable");
        assert_eq!(
            ours, creds.signature,
            "botocore's signature differs for {method} {url} {headers:?}"
        );
        assert!(verify(&creds, SECRET.as_bytes()).unwrap());
        assert!(!verify(&creds, b"other").unwrap());
    }
}

/// boto 2.49 as cfn-get-metadata sends DescribeStackResource: GET, SigV4 in the
/// Authorization header, an IP host with its port, region and service taken
/// from the host's labels.
#[test]
fn boto2_cfn_get_metadata() {
    let inputs: Vec<String> = [
        ("192.168.1.5", 8000),
        ("127.0.0.1", 8000),
        ("heat.example.com", 8000),
    ]
    .iter()
    .map(|(host, port)| {
        json!({"kind": "boto2", "access": "AK", "secret": SECRET, "host": host,
                   "port": port, "stack": "mystack", "resource": "WebServer"})
        .to_string()
    })
    .collect();
    let results = ec2_oracle::run(&inputs);
    for r in &results {
        assert!(r.get("error").is_none(), "boto failed: {r}");
        let headers = header_pairs(&r["headers"]);
        let creds = through_layer("GET", r["url"].as_str().unwrap(), &headers, b"");
        assert_eq!(
            sign(&creds, SECRET.as_bytes()).unwrap(),
            creds.signature,
            "{r}"
        );
        assert!(verify(&creds, SECRET.as_bytes()).unwrap());
    }
    let auth = header_pairs(&results[0]["headers"])
        .into_iter()
        .find(|(k, _)| k == "Authorization")
        .unwrap()
        .1;
    assert!(auth.contains("/168/192/aws4_request"), "{auth}");
}

// ---------------------------------------------------------------------------
// The AWS SigV4 test suite, from the aws-sigv4 crate's package.

/// The test suite inside the aws-sigv4 package of the cargo registry (the
/// version `Cargo.lock` pins).
fn suite_dir() -> std::path::PathBuf {
    let root = heatgate_tests::workspace_root();
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).expect("Cargo.lock");
    let version = lock
        .split("[[package]]")
        .find(|p| p.contains("name = \"aws-sigv4\""))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
        .map(|v| v.trim_end_matches('"').to_string())
        .expect("aws-sigv4 is in Cargo.lock");
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cargo")))
        .expect("CARGO_HOME or HOME");
    let src = cargo_home.join("registry").join("src");
    for index in std::fs::read_dir(&src).expect("registry sources") {
        let dir = index
            .unwrap()
            .path()
            .join(format!("aws-sigv4-{version}"))
            .join("aws-signing-test-suite")
            .join("v4");
        if dir.is_dir() {
            return dir;
        }
    }
    panic!(
        "aws-sigv4 {version} sources not found under {}",
        src.display()
    );
}

struct RawRequest {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn parse_raw(text: &str) -> Option<RawRequest> {
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let request_line = lines.next()?;
    let rest = request_line
        .strip_prefix("GET ")
        .map(|r| ("GET", r))
        .or_else(|| request_line.strip_prefix("POST ").map(|r| ("POST", r)))?;
    let target = rest.1.strip_suffix(" HTTP/1.1")?.to_string();
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with(' ') || line.starts_with('\t') {
            return None; // folded header lines: not HTTP/1.1 any more
        }
        let (k, v) = line.split_once(':')?;
        headers.push((k.to_string(), v.to_string()));
    }
    Some(RawRequest {
        method: rest.0.into(),
        target,
        headers,
        body: body.as_bytes().to_vec(),
    })
}

/// Why Keystone's SigV4 differs from AWS's on a suite case, if it does.
fn keystone_deviation(case: &str, mode: &str) -> Option<&'static str> {
    if case.ends_with("-normalized") {
        return Some("Keystone signs the path as received: no dot-segment or slash normalisation");
    }
    if case == "get-header-value-trim" {
        return Some("Keystone strips header values but does not fold inner whitespace");
    }
    if case.starts_with("post-") && (mode == "query" || case.contains("query")) {
        return Some("Keystone's canonical query string is empty for POST");
    }
    if case == "get-vanilla-query-order-encoded"
        || (case == "get-vanilla-utf8-query" && mode == "query")
    {
        return Some("Keystone sorts the decoded parameter names, AWS the encoded ones");
    }
    None
}

#[test]
fn aws_sigv4_test_suite() {
    let dir = suite_dir();
    let mut matched = Vec::new();
    let mut differ = Vec::new();
    let mut not_applicable = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("suite")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in &names {
        let case = dir.join(name);
        let Ok(context) = std::fs::read_to_string(case.join("context.json")) else {
            not_applicable.push(format!("{name} (no context.json)"));
            continue;
        };
        let context: Value = serde_json::from_str(&context).unwrap();
        let secret = context["credentials"]["secret_access_key"]
            .as_str()
            .unwrap();
        for (mode, file, sig_file, creq_file) in [
            (
                "header",
                "header-signed-request.txt",
                "header-signature.txt",
                "header-canonical-request.txt",
            ),
            (
                "query",
                "query-signed-request.txt",
                "query-signature.txt",
                "query-canonical-request.txt",
            ),
        ] {
            let Ok(text) = std::fs::read_to_string(case.join(file)) else {
                continue;
            };
            let want = std::fs::read_to_string(case.join(sig_file))
                .unwrap()
                .trim()
                .to_string();
            let want_creq = std::fs::read_to_string(case.join(creq_file)).unwrap_or_default();
            let Some(raw) = parse_raw(&text) else {
                not_applicable.push(format!("{name}/{mode}"));
                continue;
            };
            let mut b = http::Request::builder().method(raw.method.as_str());
            b = match raw.target.parse::<http::Uri>() {
                Ok(u) => b.uri(u),
                Err(_) => {
                    not_applicable.push(format!("{name}/{mode}"));
                    continue;
                }
            };
            let mut ok = true;
            for (k, v) in &raw.headers {
                match (
                    http::HeaderName::try_from(k.as_str()),
                    http::HeaderValue::from_str(v),
                ) {
                    (Ok(k), Ok(v)) => b = b.header(k, v),
                    _ => ok = false,
                }
            }
            let req = b.body(());
            if !ok || req.is_err() {
                not_applicable.push(format!("{name}/{mode}"));
                continue;
            }
            let (parts, ()) = req.expect("checked").into_parts();
            let creds = match Head::read(&parts)
                .ok()
                .and_then(|h| read_request(&parts, &h, &raw.body).ok())
            {
                Some(Reading::Signed(s)) => s.credentials,
                _ => {
                    not_applicable.push(format!("{name}/{mode}"));
                    continue;
                }
            };
            let ours = sign(&creds, secret.as_bytes()).ok();
            if ours.as_deref() == Some(want.as_str()) {
                assert_eq!(
                    creds.signature, want,
                    "{name}/{mode}: the signature read back"
                );
                if mode == "header" {
                    let sh = creds
                        .headers
                        .get("Authorization")
                        .unwrap()
                        .split("SignedHeaders=")
                        .nth(1)
                        .unwrap()
                        .split(',')
                        .next()
                        .unwrap()
                        .to_string();
                    assert_eq!(
                        canonical_request_v4(&creds, &sh),
                        want_creq,
                        "{name}: canonical request"
                    );
                }
                matched.push(format!("{name}/{mode}"));
            } else {
                differ.push(format!("{name}/{mode}"));
            }
        }
    }
    eprintln!("matched {}: {matched:?}", matched.len());
    eprintln!("differ {}: {differ:?}", differ.len());
    eprintln!(
        "not applicable {}: {not_applicable:?}",
        not_applicable.len()
    );
    // Every difference is a known Keystone deviation, and every known deviation differs.
    for d in &differ {
        let (case, mode) = d.split_once('/').unwrap();
        assert!(
            keystone_deviation(case, mode).is_some(),
            "{d} differs from AWS without a known Keystone reason"
        );
    }
    for m in &matched {
        let (case, mode) = m.split_once('/').unwrap();
        assert!(
            keystone_deviation(case, mode).is_none(),
            "{m} was expected to differ"
        );
    }
    assert!(
        matched.len() >= 41,
        "most of the suite applies: {matched:?}"
    );
}

/// The aws-sigv4 crate's own signer on random GET requests (header and query
/// signing): the signature we compute from the signed request is the crate's.
#[test]
fn aws_sigv4_crate_signer() {
    use aws_credential_types::Credentials;
    use aws_sigv4::http_request::{
        sign as aws_sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
    };
    use aws_sigv4::sign::v4;
    use std::time::{Duration, SystemTime};

    let mut rng = Rng::from_env("aws_sigv4_crate_signer");
    let seg: &[char] = &['a', 'b', 'z', '0', '9', '-', '_', '~'];
    let identity = Credentials::new("AK", SECRET, None, None, "test").into();
    for _ in 0..200 {
        let host = *rng.pick(&["heat.example.com", "127.0.0.1:8000", "h:1"]);
        let path: Vec<String> = (0..rng.below(3))
            .map(|_| format!("s{}", rng.string(seg, 5)))
            .collect();
        let mut query = String::new();
        for i in 0..rng.below(4) {
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str(&format!("K{i}={}", rng.string(seg, 6)));
        }
        let target = if query.is_empty() {
            format!("/{}", path.join("/"))
        } else {
            format!("/{}?{query}", path.join("/"))
        };
        let uri = format!("http://{host}{target}");
        let mut settings = SigningSettings::default();
        let presign = rng.chance(50);
        if presign {
            settings.signature_location = SignatureLocation::QueryParams;
            settings.expires_in = Some(Duration::from_secs(300));
        }
        let time = SystemTime::UNIX_EPOCH
            + Duration::from_secs(1_700_000_000 + rng.below(1_000_000) as u64);
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("RegionOne")
            .name("cloudformation")
            .time(time)
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let custom = format!("v{}", rng.below(100));
        let headers = [("host", host), ("x-custom", custom.as_str())];
        let signable = SignableRequest::new(
            "GET",
            uri.clone(),
            headers.into_iter(),
            SignableBody::Bytes(b""),
        )
        .unwrap();
        let (instructions, _sig) = aws_sign(signable, &params).unwrap().into_parts();
        let mut request = http::Request::builder()
            .method("GET")
            .uri(target)
            .header("host", host)
            .header("x-custom", custom.as_str())
            .body(())
            .unwrap();
        instructions.apply_to_request_http1x(&mut request);
        let (parts, ()) = request.into_parts();
        let head = Head::read(&parts).unwrap();
        let Reading::Signed(s) = read_request(&parts, &head, b"").unwrap() else {
            panic!("signed")
        };
        let creds = s.credentials;
        assert_eq!(
            sign(&creds, SECRET.as_bytes()).unwrap(),
            creds.signature,
            "{uri} presign={presign}"
        );
        assert!(verify(&creds, SECRET.as_bytes()).unwrap());
    }
}

/// Keystone's `Ordered` semantics are those of a Python dict.
#[test]
fn ordered_is_a_python_dict() {
    let mut m = Ordered::from_pairs([("a", "1"), ("b", "2"), ("a", "3")]);
    assert_eq!(m.iter().collect::<Vec<_>>(), vec![("a", "3"), ("b", "2")]);
    m.remove("a");
    assert_eq!(serde_json::to_string(&m).unwrap(), r#"{"b":"2"}"#);
}
