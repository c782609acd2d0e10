//! Request ids, metrics, the health check and JSON logs of `heatgate proxy`
//! and `heatgate serve` as processes, against the real Keystone.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use heatgate_tests::process::Process;
use heatgate_tests::{Keystone, Recorder};
use serde_json::Value;

const REQUEST_ID: &str = "x-openstack-request-id";

/// A running `heatgate` with its listeners, by the names it printed.
struct Gateway {
    process: Process,
    listeners: BTreeMap<String, SocketAddr>,
    _dir: PathBuf,
}

impl Gateway {
    fn url(&self, listener: &str, path: &str) -> String {
        format!("http://{}{path}", self.listeners[listener])
    }

    fn log(&self) -> String {
        self.process.log()
    }

    /// The log lines so far, once they include one naming `needle`.
    fn log_with(&self, needle: &str) -> String {
        let started = Instant::now();
        loop {
            let log = self.log();
            if log.contains(needle) || started.elapsed() > Duration::from_secs(5) {
                return log;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "heatgate-observability-test-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn keystone_section(auth_url: &str, keystone: &Keystone) -> String {
    let heat = &keystone.fixtures.heat;
    format!(
        "[keystone_authtoken]\nauth_url = \"{auth_url}\"\nusername = \"{}\"\npassword = \"{}\"\nproject_name = \"service\"\nuser_domain_id = \"default\"\nproject_domain_id = \"default\"\nhttp_connect_timeout = 5\nhttp_request_max_retries = 0\n",
        heat.username, heat.password
    )
}

/// Starts `heatgate <args> --config <dir>/heatgate.toml` and reads the
/// `listening on` lines of the `listeners` it must print, in order.
fn start(dir: &Path, args: &[&str], config: &str, listeners: &[&str]) -> Gateway {
    let file = dir.join("heatgate.toml");
    std::fs::write(&file, config).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_heatgate"));
    command
        .args(args)
        .arg("--config")
        .arg(&file)
        .env("RUST_LOG", "info")
        .env("HEATGATE_GATEWAY__WORKER_THREADS", "1");
    let prefixes: Vec<String> = listeners
        .iter()
        .map(|name| match *name {
            "rest" => "listening on http://".to_owned(),
            name => format!("{name} listening on http://"),
        })
        .collect();
    let prefixes: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    let process =
        Process::start(command, &prefixes).unwrap_or_else(|e| panic!("no listening line: {e}"));
    let found = listeners
        .iter()
        .map(|name| (*name).to_owned())
        .zip(process.addrs.iter().copied())
        .collect();
    Gateway {
        process,
        listeners: found,
        _dir: dir.to_path_buf(),
    }
}

async fn token_of(keystone: &Keystone, user: &heatgate_tests::User) -> String {
    keystone
        .token(&user.project_auth())
        .await
        .expose()
        .to_owned()
}

/// Our request id on `response` (checked to be `req-<uuid4>`).
fn request_id(response: &reqwest::Response) -> String {
    let id = response
        .headers()
        .get(REQUEST_ID)
        .unwrap_or_else(|| panic!("no request id on a {}", response.status()))
        .to_str()
        .unwrap()
        .to_owned();
    let uuid = id.strip_prefix("req-").unwrap_or_else(|| panic!("{id}"));
    assert_eq!(uuid.len(), 36, "{id}");
    assert_eq!(&uuid[14..15], "4", "a version 4 uuid: {id}");
    assert!(
        uuid.chars()
            .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c)),
        "{id}"
    );
    id
}

/// The exposition, as (name, labels) -> value; checks HELP and TYPE lines.
async fn metrics(gw: &Gateway) -> (String, Vec<(String, BTreeMap<String, String>, f64)>) {
    let r = reqwest::get(gw.url("metrics", "/metrics")).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = r.text().await.unwrap();
    let mut typed = Vec::new();
    let mut samples = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap();
            let next = lines.next().unwrap_or_default();
            assert!(
                next.starts_with(&format!("# TYPE {name} ")),
                "HELP without TYPE: {line}\n{next}"
            );
            typed.push(name.to_owned());
            continue;
        }
        assert!(!line.starts_with('#'), "a TYPE without HELP: {line}");
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let labels = rest
                    .strip_suffix('}')
                    .unwrap()
                    .split("\",")
                    .map(|kv| {
                        let (k, v) = kv.split_once("=\"").unwrap();
                        (k.to_owned(), v.trim_end_matches('"').to_owned())
                    })
                    .collect();
                (name.to_owned(), labels)
            }
            None => (series.to_owned(), BTreeMap::new()),
        };
        assert!(
            typed.iter().any(|t| name.starts_with(t.as_str())),
            "{name} has no TYPE"
        );
        samples.push((name, labels, value.parse().unwrap()));
    }
    (text, samples)
}

/// The value of the sample `name` whose labels include `labels` (0 if none).
fn value(
    samples: &[(String, BTreeMap<String, String>, f64)],
    name: &str,
    labels: &[(&str, &str)],
) -> f64 {
    samples
        .iter()
        .filter(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(v))
        })
        .map(|s| s.2)
        .sum()
}

#[tokio::test]
async fn the_proxy_gives_request_ids_counts_requests_and_logs_json() {
    let keystone = Keystone::shared();
    let upstream = Recorder::start().await;
    let dir = dir("proxy");
    let config = format!(
        "[gateway]\nmetrics_listen = \"127.0.0.1:0\"\nlog_format = \"json\"\n{}",
        keystone_section(keystone.auth_url().as_str(), keystone)
    );
    let gw = start(
        &dir,
        &[
            "proxy",
            "--upstream",
            &upstream.url(),
            "--listen",
            "127.0.0.1:0",
        ],
        &config,
        &["rest", "metrics"],
    );
    let http = reqwest::Client::new();
    let token = token_of(keystone, &keystone.fixtures.demo).await;
    let theirs = "req-0e1b5c7a-4a5c-4a3e-9b1f-0123456789ab";

    // 401: refused by auth_token, with an id all the same.
    let r = http
        .get(gw.url("rest", "/v1/p/stacks"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let unauthenticated = request_id(&r);
    assert!(upstream.requests().is_empty());

    // 200: a caller's id is not ours; ours goes upstream.
    let r = http
        .get(gw.url("rest", "/v1/p/stacks?limit=1"))
        .header("x-auth-token", &token)
        .header("X-OpenStack-Request-ID", theirs)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let ours = request_id(&r);
    assert_ne!(ours, theirs);
    assert_ne!(ours, unauthenticated);
    let seen = upstream.last().unwrap();
    assert_eq!(seen.headers[REQUEST_ID].to_str().unwrap(), ours);
    assert_eq!(seen.headers.get_all(REQUEST_ID).iter().count(), 1);

    // 403 and 404 from upstream; the same token again (cached).
    for status in [403u16, 404] {
        let r = http
            .get(gw.url("rest", "/v1/p/stacks/s1/5f4e"))
            .header("x-auth-token", &token)
            .header("x-test-status", status.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status);
        let id = request_id(&r);
        assert_eq!(
            upstream.last().unwrap().headers[REQUEST_ID]
                .to_str()
                .unwrap(),
            id
        );
    }

    // The health check needs no token, on both listeners.
    for listener in ["rest", "metrics"] {
        let r = http
            .get(gw.url(listener, "/healthcheck"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{listener}");
        request_id(&r);
        assert_eq!(r.text().await.unwrap(), "OK");
        let r = http
            .head(gw.url(listener, "/healthcheck"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{listener}");
    }
    assert!(
        upstream
            .requests()
            .iter()
            .all(|r| r.uri.path() != "/healthcheck"),
        "the health check is the gateway's"
    );

    let (text, samples) = metrics(&gw).await;
    let requests = |route: &str, class: &str| {
        value(
            &samples,
            "heatgate_http_requests_total",
            &[
                ("listener", "rest"),
                ("method", "GET"),
                ("route", route),
                ("status_class", class),
            ],
        )
    };
    assert_eq!(requests("upstream", "2xx"), 1.0, "{text}");
    assert_eq!(requests("upstream", "4xx"), 3.0, "{text}");
    assert_eq!(requests("/healthcheck", "2xx"), 1.0, "{text}");
    assert_eq!(
        value(
            &samples,
            "heatgate_http_requests_total",
            &[
                ("listener", "rest"),
                ("method", "HEAD"),
                ("route", "/healthcheck")
            ]
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        value(
            &samples,
            "heatgate_http_request_duration_seconds_count",
            &[
                ("listener", "rest"),
                ("method", "GET"),
                ("route", "upstream")
            ]
        ),
        4.0,
        "{text}"
    );
    assert_eq!(
        value(
            &samples,
            "heatgate_http_request_duration_seconds_bucket",
            &[("listener", "rest"), ("route", "upstream"), ("le", "+Inf")]
        ),
        4.0,
        "{text}"
    );
    assert!(
        !text.contains("/v1/p/"),
        "a raw path in the metrics: {text}"
    );
    assert_eq!(
        value(&samples, "heatgate_auth_token_cache_misses_total", &[]),
        1.0,
        "{text}"
    );
    assert_eq!(
        value(&samples, "heatgate_auth_token_cache_hits_total", &[]),
        2.0,
        "{text}"
    );
    assert_eq!(
        value(&samples, "heatgate_auth_token_coalesced_total", &[]),
        0.0,
        "{text}"
    );
    let keystone_calls = value(
        &samples,
        "heatgate_keystone_requests_total",
        &[("client", "auth_token")],
    );
    assert!(
        keystone_calls >= 2.0,
        "service token and one validation: {text}"
    );
    assert_eq!(
        value(
            &samples,
            "heatgate_keystone_request_duration_seconds_count",
            &[("client", "auth_token")]
        ),
        keystone_calls
    );
    assert!(
        value(
            &samples,
            "heatgate_keystone_request_duration_seconds_sum",
            &[("client", "auth_token")]
        ) > 0.0
    );
    assert_eq!(
        value(
            &samples,
            "heatgate_keystone_token_validations_total",
            &[("client", "auth_token")]
        ),
        1.0
    );
    assert!(
        value(
            &samples,
            "heatgate_keystone_requests_total",
            &[("client", "healthcheck")]
        ) >= 1.0
    );

    // Every log line is one JSON object; the request's lines carry its ids.
    let log = gw.log_with(&ours);
    let mut of_ours = Vec::new();
    for line in log.lines() {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(v["level"].is_string() && v["fields"].is_object(), "{line}");
        let in_request = v["spans"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(std::iter::once(&v["span"]))
            .find(|s| s["request_id"] == ours.as_str())
            .cloned();
        if let Some(span) = in_request {
            assert_eq!(span["global_request_id"], theirs, "{line}");
            assert_eq!(span["path"], "/v1/p/stacks", "no query in the logs: {line}");
            of_ours.push(v);
        }
    }
    assert!(
        of_ours
            .iter()
            .any(|v| v["fields"]["message"] == "answered" && v["fields"]["status"] == 200),
        "no access log line of {ours}: {log}"
    );
    assert!(log.contains(&unauthenticated), "{log}");
    assert!(!log.contains(&token), "a token reached the log");
    assert!(
        !log.contains(&keystone.fixtures.heat.password),
        "a password reached the log"
    );
}

#[tokio::test]
async fn the_health_check_fails_when_keystone_is_unreachable() {
    let keystone = Keystone::shared();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let upstream = Recorder::start().await;
    let dir = dir("down");
    let config = format!(
        "[gateway]\nmetrics_listen = \"127.0.0.1:0\"\n{}",
        keystone_section(&format!("http://{closed}/v3"), keystone)
    );
    let gw = start(
        &dir,
        &[
            "proxy",
            "--upstream",
            &upstream.url(),
            "--listen",
            "127.0.0.1:0",
        ],
        &config,
        &["rest", "metrics"],
    );
    let http = reqwest::Client::new();
    for listener in ["rest", "metrics"] {
        let r = http
            .get(gw.url(listener, "/healthcheck"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 503, "{listener}");
        request_id(&r);
        let reason = r.text().await.unwrap();
        assert_eq!(reason, "keystone is unreachable");
        assert!(
            !reason.contains(&closed.to_string()),
            "no address to strangers"
        );
        let r = http
            .head(gw.url(listener, "/healthcheck"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 503, "{listener}");
    }
    // Probed once for all of these (the verdict is kept for 2 s).
    let (text, samples) = metrics(&gw).await;
    let probes = value(
        &samples,
        "heatgate_keystone_requests_total",
        &[("client", "healthcheck")],
    );
    assert_eq!(probes, 1.0, "{text}");
    assert_eq!(
        value(
            &samples,
            "heatgate_keystone_request_failures_total",
            &[("client", "healthcheck")]
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        value(
            &samples,
            "heatgate_http_requests_total",
            &[
                ("listener", "rest"),
                ("route", "/healthcheck"),
                ("status_class", "5xx")
            ]
        ),
        2.0,
        "{text}"
    );

    // A token cannot be checked: 503 (never 401), with an id; text logs name it.
    let r = http
        .get(gw.url("rest", "/v1/p/stacks"))
        .header("x-auth-token", "gAAAAABsome-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    let id = request_id(&r);
    let log = gw.log_with(&id);
    assert!(
        log.lines()
            .any(|l| l.contains(&format!("request_id={id}")) && l.contains("answered")),
        "{log}"
    );
    assert!(
        !log.contains("gAAAAABsome-token"),
        "a token reached the log"
    );
}

fn serve_config(keystone: &Keystone, dir: &Path) -> String {
    let f = &keystone.fixtures;
    let policy = dir.join("policy.yaml");
    std::fs::write(&policy, "\"stacks:delete\": \"role:admin\"\n").unwrap();
    format!(
        r#"[gateway]
metrics_listen = "127.0.0.1:0"

[keystone_authtoken]
auth_url = "{auth_url}"
username = "{heat}"
password = "{heat_pw}"
project_name = "service"
user_domain_id = "default"
project_domain_id = "default"
http_connect_timeout = 20

[oslo_policy]
policy_file = "{policy}"

[heat]
stack_user_domain_id = "{domain}"
stack_domain_admin = "{dadmin}"
stack_domain_admin_password = "{dadmin_pw}"
auth_encryption_key = "0123456789abcdef0123456789abcdef"

[engine]
data_dir = "{dir}"
"#,
        auth_url = keystone.auth_url(),
        heat = f.heat.username,
        heat_pw = f.heat.password,
        policy = policy.display(),
        domain = f.heat_domain_id,
        dadmin = f.heat_domain_admin.username,
        dadmin_pw = f.heat_domain_admin.password,
        dir = dir.display(),
    )
}

#[tokio::test]
async fn serve_counts_routes_and_policy_denials_by_rule() {
    let keystone = Keystone::shared();
    let dir = dir("serve");
    let gw = start(
        &dir,
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--cfn-listen",
            "127.0.0.1:0",
        ],
        &serve_config(keystone, &dir),
        &["rest", "cfn", "metrics"],
    );
    let demo = &keystone.fixtures.demo;
    let project = demo.project_id.clone().unwrap();
    let token = token_of(keystone, demo).await;
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: String, token: Option<&str>| {
        let mut b = http.request(method, gw.url("rest", &path));
        if let Some(t) = token {
            b = b.header("x-auth-token", t);
        }
        b.send()
    };
    let mut ids = Vec::new();
    for (method, path, token, want) in [
        (
            reqwest::Method::GET,
            format!("/v1/{project}/stacks"),
            None,
            401,
        ),
        (
            reqwest::Method::GET,
            format!("/v1/{project}/stacks"),
            Some(&token),
            200,
        ),
        (
            reqwest::Method::GET,
            format!("/v1/{project}/stacks"),
            Some(&token),
            200,
        ),
        (
            reqwest::Method::DELETE,
            format!("/v1/{project}/stacks/s1/0f6a"),
            Some(&token),
            403,
        ),
        (
            reqwest::Method::GET,
            format!("/v1/{project}/stacks?global_tenant=true"),
            Some(&token),
            403,
        ),
        (
            reqwest::Method::GET,
            format!("/v1/{project}/nothing/here"),
            Some(&token),
            404,
        ),
    ] {
        let r = call(method.clone(), path.clone(), token.map(String::as_str))
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), want, "{method} {path}: {}", gw.log());
        ids.push(request_id(&r));
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 6, "one id per request");

    let r = http
        .get(gw.url("rest", "/healthcheck"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await.unwrap(), "OK");
    let r = http
        .get(gw.url("cfn", "/healthcheck"))
        .send()
        .await
        .unwrap();
    assert_ne!(
        r.status().as_u16(),
        200,
        "the CFN listener has no health check"
    );
    request_id(&r);

    let (text, samples) = metrics(&gw).await;
    let requests = |method: &str, route: &str, class: &str| {
        value(
            &samples,
            "heatgate_http_requests_total",
            &[
                ("listener", "rest"),
                ("method", method),
                ("route", route),
                ("status_class", class),
            ],
        )
    };
    let stacks = "/v1/{tenant}/stacks";
    assert_eq!(requests("GET", stacks, "4xx"), 1.0, "global_index: {text}");
    assert_eq!(requests("GET", stacks, "2xx"), 2.0, "{text}");
    assert_eq!(
        requests("DELETE", "/v1/{tenant}/stacks/{name}/{id}", "4xx"),
        1.0,
        "{text}"
    );
    // Answered before any route: the 401 (authentication runs in front of
    // the router) and the route that does not exist.
    assert_eq!(requests("GET", "unmatched", "4xx"), 2.0, "{text}");
    assert_eq!(requests("GET", "/healthcheck", "2xx"), 1.0, "{text}");
    assert_eq!(
        value(
            &samples,
            "heatgate_http_requests_total",
            &[("listener", "cfn")]
        ),
        1.0,
        "{text}"
    );
    assert!(
        !text.contains(&project),
        "a tenant id in the metrics: {text}"
    );
    for rule in ["stacks:delete", "stacks:global_index"] {
        assert_eq!(
            value(&samples, "heatgate_policy_denials_total", &[("rule", rule)]),
            1.0,
            "{rule}: {text}"
        );
    }
    assert_eq!(
        value(
            &samples,
            "heatgate_policy_denials_total",
            &[("rule", "stacks:index")]
        ),
        0.0
    );
    // One validation, then the cache: the second, third and fourth calls hit.
    assert_eq!(
        value(&samples, "heatgate_auth_token_cache_misses_total", &[]),
        1.0,
        "{text}"
    );
    assert_eq!(
        value(&samples, "heatgate_auth_token_cache_hits_total", &[]),
        4.0,
        "{text}"
    );
    assert!(
        value(
            &samples,
            "heatgate_keystone_requests_total",
            &[("client", "auth_token")]
        ) > 0.0,
        "{text}"
    );
    assert!(!gw.log().contains(&token), "a token reached the log");
}
