//! `heatgate proxy` as a process, in front of a recording upstream, against a real Keystone.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use heatgate_tests::process::Process;
use heatgate_tests::{Keystone, Recorder};

struct Gateway {
    process: Process,
    _dir: PathBuf,
}

impl Gateway {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr())
    }

    fn addr(&self) -> SocketAddr {
        self.process.addrs[0]
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        self.process.sigterm();
        self.process
            .wait_timeout(Duration::from_secs(20))
            .expect("the gateway did not stop on SIGTERM")
    }

    fn log(&self) -> String {
        self.process.log()
    }
}

fn config_file(name: &str, text: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("heatgate-proxy-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("heatgate.toml");
    std::fs::write(&file, text).unwrap();
    file
}

fn keystone_section(keystone: &Keystone) -> String {
    let heat = &keystone.fixtures.heat;
    format!(
        "[keystone_authtoken]\nauth_url = \"{}\"\nusername = \"{}\"\npassword = \"{}\"\nproject_name = \"service\"\nuser_domain_id = \"default\"\nproject_domain_id = \"default\"\nhttp_connect_timeout = 5\n",
        keystone.auth_url(),
        heat.username,
        heat.password
    )
}

fn start(name: &str, upstream: &str, config: &str) -> Gateway {
    start_with(name, upstream, config, &[]).0
}

/// Starts the gateway with `extra` arguments; with extra arguments, also
/// returns the second stdout line (the CFN listener's).
fn start_with(name: &str, upstream: &str, config: &str, extra: &[&str]) -> (Gateway, Vec<String>) {
    let file = config_file(name, config);
    let mut command = Command::new(env!("CARGO_BIN_EXE_heatgate"));
    command
        .args(["proxy", "--upstream", upstream, "--listen", "127.0.0.1:0"])
        .args(extra)
        .arg("--config")
        .arg(&file)
        .env("RUST_LOG", "trace")
        .env("HEATGATE_GATEWAY__WORKER_THREADS", "1");
    let prefixes: &[&str] = if extra.is_empty() {
        &["listening on http://"]
    } else {
        &["listening on http://", "cfn listening on http://"]
    };
    let process =
        Process::start(command, prefixes).unwrap_or_else(|e| panic!("no listening line: {e}"));
    let more = process.lines[1..].to_vec();
    let gateway = Gateway {
        process,
        _dir: file.parent().unwrap().to_path_buf(),
    };
    (gateway, more)
}

async fn demo_token(keystone: &Keystone) -> String {
    keystone
        .token(&keystone.fixtures.demo.project_auth())
        .await
        .expose()
        .to_owned()
}

#[tokio::test]
async fn the_proxy_authenticates_forwards_and_strips() {
    let keystone = Keystone::shared();
    let upstream = Recorder::start().await;
    let gw = start("main", &upstream.url(), &keystone_section(keystone));
    let http = reqwest::Client::new();

    // No token: keystonemiddleware's 401, nothing forwarded.
    let r = http.get(gw.url("/v1/x")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(
        r.headers()["www-authenticate"].to_str().unwrap(),
        format!("Keystone uri=\"{}\"", keystone.auth_url())
    );
    assert!(r.text().await.unwrap().contains("requires authentication"));
    assert!(upstream.requests().is_empty());

    // A valid token: forwarded with the identity, spoofing and hop-by-hop removed.
    let token = demo_token(keystone).await;
    let r = http
        .get(gw.url("/v1/p/stacks?sort_dir=asc&x=%20y"))
        .header("x-auth-token", &token)
        .header("x-roles", "admin")
        .header("x-forwarded-for", "10.9.8.7")
        .header("x-forwarded-host", "evil.example")
        .header("forwarded", "host=evil.example;proto=https")
        .header("connection", "x-hop")
        .header("x-hop", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let seen = upstream.last().unwrap();
    assert_eq!(seen.uri.to_string(), "/v1/p/stacks?sort_dir=asc&x=%20y");
    let h = |n: &str| seen.headers.get(n).map(|v| v.to_str().unwrap().to_owned());
    let mut roles: Vec<String> = h("x-roles")
        .unwrap()
        .split(',')
        .map(str::to_owned)
        .collect();
    roles.sort();
    assert_eq!(roles, ["member", "reader"]);
    assert_eq!(h("x-identity-status").as_deref(), Some("Confirmed"));
    assert_eq!(
        h("x-user-id").as_deref(),
        Some(keystone.fixtures.demo.user_id.as_str())
    );
    assert_eq!(h("x-forwarded-for").as_deref(), Some("10.9.8.7, 127.0.0.1"));
    assert_eq!(h("x-forwarded-proto").as_deref(), Some("http"));
    assert_eq!(h("x-forwarded-host"), Some(gw.addr().to_string()));
    assert_eq!(
        h("host"),
        Some(gw.addr().to_string()),
        "the Host clients used is kept"
    );
    assert!(
        h("forwarded").is_none(),
        "a client's Forwarded would choose the upstream's redirects"
    );
    assert!(h("x-hop").is_none());
    assert!(h("connection").is_none() || h("connection").as_deref() == Some("keep-alive"));

    // Bodies stream both ways, byte for byte.
    let big: Vec<u8> = (0..8 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let r = http
        .post(gw.url("/v1/p/upload"))
        .header("x-auth-token", &token)
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(upstream.last().unwrap().body.as_ref(), big.as_slice());

    // A 401 from upstream gets WWW-Authenticate.
    let r = http
        .get(gw.url("/v1/x"))
        .header("x-auth-token", &token)
        .header("x-test-status", "401")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.headers().contains_key("www-authenticate"));

    // curl, as a user would (async: the upstream runs on this test's runtime).
    let out = tokio::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H"])
        .arg(format!("X-Auth-Token: {token}"))
        .arg(gw.url("/v1/curl"))
        .output()
        .await
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200");

    assert!(!gw.log().contains(&token), "a token reached the log");
    assert!(
        !gw.log().contains(&keystone.fixtures.heat.password),
        "a password reached the log"
    );
}

#[tokio::test]
async fn upstream_refused_is_502_and_silent_upstream_is_504() {
    let keystone = Keystone::shared();
    let token = demo_token(keystone).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let gw = start(
        "refused",
        &format!("http://{closed}"),
        &keystone_section(keystone),
    );
    let r = reqwest::Client::new()
        .get(gw.url("/v1/x"))
        .header("x-auth-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 502);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], 502);

    let hang = heatgate_tests::faults::hanging_listener().await;
    let config = format!(
        "[gateway]\nupstream_timeout = 1\n{}",
        keystone_section(keystone)
    );
    let gw = start("hang", &format!("http://{hang}"), &config);
    let started = Instant::now();
    let r = reqwest::Client::new()
        .get(gw.url("/v1/x"))
        .header("x-auth-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 504);
    assert!(started.elapsed() < Duration::from_secs(5));
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], 504);
}

#[tokio::test]
async fn sigterm_drains_in_flight_requests() {
    let keystone = Keystone::shared();
    let token = demo_token(keystone).await;
    // A slow upstream: answers after 1.5 s.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let slow = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let app = axum::Router::new().fallback(|| async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            "slow but sure"
        });
        axum::serve(listener, app).await.unwrap();
    });
    let mut gw = start(
        "drain",
        &format!("http://{slow}"),
        &keystone_section(keystone),
    );
    let url = gw.url("/v1/slow");
    let request = tokio::spawn(async move {
        let r = reqwest::Client::new()
            .get(url)
            .header("x-auth-token", token)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    });
    tokio::time::sleep(Duration::from_millis(600)).await;
    let status = tokio::task::spawn_blocking(move || {
        let s = gw.terminate();
        (s, gw)
    })
    .await
    .unwrap();
    assert!(status.0.success(), "exit status {:?}", status.0);
    assert_eq!(request.await.unwrap(), (200, "slow but sure".to_owned()));
    assert!(status.1.log().contains("draining"));
}

#[tokio::test]
async fn standalone_flavor_takes_user_and_password() {
    let keystone = Keystone::shared();
    let upstream = Recorder::start().await;
    let config = format!(
        "[gateway]\nflavor = \"standalone\"\n{}",
        keystone_section(keystone)
    );
    let gw = start("standalone", &upstream.url(), &config);
    let demo = &keystone.fixtures.demo;
    let project = demo.project_id.clone().unwrap();
    let http = reqwest::Client::new();
    let r = http
        .get(gw.url(&format!("/v1/{project}/stacks")))
        .header("x-auth-user", &demo.username)
        .header("x-auth-key", &demo.password)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let seen = upstream.last().unwrap();
    assert_eq!(seen.headers["x-identity-status"], "Confirmed");
    assert_eq!(seen.headers["x-user-id"].to_str().unwrap(), demo.user_id);
    assert_eq!(seen.headers["x-project-id"].to_str().unwrap(), project);
    assert!(
        seen.headers.contains_key("x-auth-token"),
        "the new token goes downstream"
    );

    for (what, password, url) in [
        ("wrong password", "wrong", None),
        (
            "foreign X-Auth-Url",
            demo.password.as_str(),
            Some("http://127.0.0.2:5000/v3"),
        ),
    ] {
        let mut b = http
            .get(gw.url(&format!("/v1/{project}/stacks")))
            .header("x-auth-user", &demo.username)
            .header("x-auth-key", password)
            .header("accept", "application/json");
        if let Some(u) = url {
            b = b.header("x-auth-url", u);
        }
        let r = b.send().await.unwrap();
        assert_eq!(r.status().as_u16(), 401, "{what}");
        assert_eq!(
            r.headers()["www-authenticate"].to_str().unwrap(),
            format!("Keystone uri='{}'", keystone.auth_url()),
            "{what}"
        );
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["title"], "Unauthorized", "{what}");
    }
    // No project in the path.
    let r = http
        .get(gw.url("/v1/"))
        .header("x-auth-user", "demo")
        .header("x-auth-key", "x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(!gw.log().contains(&demo.password));
}

#[test]
fn configuration_errors_exit_2_with_one_line() {
    let file = config_file("bad", "[gateway]\nworker_threads = \"lots\"\n");
    let out = Command::new(env!("CARGO_BIN_EXE_heatgate"))
        .args(["proxy", "--upstream", "http://127.0.0.1:9", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("worker_threads"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let out = Command::new(env!("CARGO_BIN_EXE_heatgate"))
        .args(["proxy"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "usage error");

    let file = config_file("nokeystone", "[gateway]\n");
    let out = Command::new(env!("CARGO_BIN_EXE_heatgate"))
        .args(["proxy", "--upstream", "http://127.0.0.1:9", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("auth_url"));
}

#[tokio::test]
async fn malformed_token_bytes_are_refused_never_500() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let keystone = Keystone::shared();
    let upstream = Recorder::start().await;
    let gw = start("bytes", &upstream.url(), &keystone_section(keystone));
    let valid = demo_token(keystone).await;
    let long = "A".repeat(10 * 1024);
    let cases: Vec<(&str, Vec<u8>, &[u16])> = vec![
        // Control characters never reach the layer: the HTTP parser refuses the request.
        (
            "control character",
            b"X-Auth-Token: abc\x01def\r\n".to_vec(),
            &[400],
        ),
        (
            "10 kB token",
            format!("X-Auth-Token: {long}\r\n").into_bytes(),
            &[401],
        ),
        (
            "non-UTF-8 bytes",
            b"X-Auth-Token: g\xff\xfe\x80\r\n".to_vec(),
            &[401],
        ),
        (
            "conflicting repeats",
            format!("X-Auth-Token: {valid}\r\nX-Auth-Token: other\r\n").into_bytes(),
            &[401],
        ),
    ];
    for (what, header, allowed) in cases {
        let mut socket = tokio::net::TcpStream::connect(gw.addr()).await.unwrap();
        let mut request = b"GET /v1/x HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n".to_vec();
        request.extend_from_slice(&header);
        request.extend_from_slice(b"\r\n");
        socket.write_all(&request).await.unwrap();
        let mut answer = Vec::new();
        socket.read_to_end(&mut answer).await.unwrap();
        let status: u16 = String::from_utf8_lossy(&answer[..12.min(answer.len())])
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        assert!(allowed.contains(&status), "{what}: answered {status}");
    }
    assert!(
        upstream.requests().is_empty(),
        "a malformed request reached the upstream"
    );
}

/// A Heat-style pre-signed SigV2 URL, computed independently (Python stdlib),
/// PUT as cfn-signal does (empty Content-Type, JSON body) through the CFN listener.
#[tokio::test]
async fn the_cfn_listener_checks_ec2_signatures() {
    let keystone = Keystone::shared();
    let f = &keystone.fixtures;
    let project = f.demo.project_id.clone().unwrap();
    let (status, cred) = keystone
        .admin_json(
            http::Method::POST,
            &format!("users/{}/credentials/OS-EC2", f.demo.user_id),
            Some(serde_json::json!({"tenant_id": project})),
        )
        .await;
    assert_eq!(status, 201, "{cred}");
    let access = cred["credential"]["access"].as_str().unwrap().to_owned();
    let secret = cred["credential"]["secret"].as_str().unwrap().to_owned();

    let rest = Recorder::start().await;
    let cfn = Recorder::start().await;
    let (gw, lines) = start_with(
        "cfn",
        &rest.url(),
        &keystone_section(keystone),
        &["--cfn-upstream", &cfn.url(), "--cfn-listen", "127.0.0.1:0"],
    );
    let cfn_addr = lines[0]
        .strip_prefix("cfn listening on http://")
        .expect("cfn listener line")
        .to_owned();
    let arn = format!("arn:openstack:heat::{project}:stacks/mystack/s-id/resources/wch");
    let presign = r#"
import base64, hashlib, hmac, sys, time, urllib.parse
host, path, access, secret = sys.argv[1:5]
params = {"SignatureMethod": "HmacSHA256", "SignatureVersion": "2", "AWSAccessKeyId": access,
          "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
qs = "&".join(urllib.parse.quote(k, safe="") + "=" + urllib.parse.quote(params[k], safe="-_~") for k in sorted(params))
sig = base64.b64encode(hmac.new(secret.encode(), ("PUT\n%s\n%s\n%s" % (host, path, qs)).encode(), hashlib.sha256).digest()).decode()
print("http://%s%s?%s&Signature=%s" % (host, urllib.parse.quote(path), qs, urllib.parse.quote(sig, safe="")))
"#;
    let path = format!("/v1/waitcondition/{arn}");
    let out = tokio::process::Command::new("python3")
        .args(["-c", presign, &cfn_addr, &path, &access, &secret])
        .output()
        .await
        .unwrap();
    let url = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(
        url.starts_with("http://"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body = r#"{"Status":"SUCCESS","Reason":"done","UniqueId":"1","Data":"x"}"#;
    let curl = |url: String| async move {
        let out = tokio::process::Command::new("curl")
            .args([
                "-s",
                "-o",
                "-",
                "-w",
                "\n%{http_code}",
                "-X",
                "PUT",
                "-H",
                "Content-Type:",
                "--data-binary",
                body,
            ])
            .arg(url)
            .output()
            .await
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let answer = curl(url.clone()).await;
    assert!(answer.ends_with("200"), "{answer}");
    let seen = cfn
        .last()
        .expect("the signed request reached the CFN upstream");
    assert_eq!(
        seen.body.as_ref(),
        body.as_bytes(),
        "the body arrives intact"
    );
    assert_eq!(seen.headers["x-tenant-id"].to_str().unwrap(), project);
    assert!(seen.headers.contains_key("x-auth-token"));
    assert!(seen.headers["x-roles"].to_str().unwrap().contains("member"));
    assert!(rest.requests().is_empty());

    // A tampered signature: AWS XML, nothing forwarded.
    cfn.clear();
    let tampered = url.replace("Signature=", "Signature=AAAA");
    let answer = curl(tampered).await;
    assert!(answer.ends_with("403"), "{answer}");
    assert!(
        answer.contains("<Code>SignatureDoesNotMatch</Code>")
            || answer.contains("<Code>AccessDenied</Code>"),
        "{answer}"
    );
    assert!(cfn.requests().is_empty());
    assert!(!gw.log().contains(&secret), "an EC2 secret reached the log");
}
