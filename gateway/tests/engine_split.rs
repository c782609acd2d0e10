//! `heatgate engine` as its own process behind `heatgate proxy` (the
//! gateway), against the real Keystone: the stack story works through the
//! gateway on both APIs, and the engine refuses everything that did not come
//! through it (identity headers, valid tokens and pre-signed URLs alike).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use heatgate_tests::process::{free_port, Process};
use heatgate_tests::Keystone;
use serde_json::{json, Value};

const ENCRYPTION_KEY: &str = "0123456789abcdef0123456789abcdef";
const ASSERTION_KEY: &str = "a key the gateway and the engine share, 32+ bytes";

const TEMPLATE: &str = r#"
heat_template_version: 2018-08-31
resources:
  handle:
    type: OS::Heat::WaitConditionHandle
  wait:
    type: OS::Heat::WaitCondition
    properties:
      handle: {get_resource: handle}
      count: 1
      timeout: 120
  cfn_handle:
    type: AWS::CloudFormation::WaitConditionHandle
  cfn_wait:
    type: AWS::CloudFormation::WaitCondition
    properties:
      Handle: {get_resource: cfn_handle}
      Count: 1
      Timeout: 120
outputs:
  signal_url:
    value: {get_resource: cfn_handle}
"#;

struct Split {
    engine: Process,
    gateway: Process,
}

impl Split {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.gateway.addrs[0])
    }
    fn engine_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.engine.addrs[0])
    }
    fn engine_cfn(&self) -> SocketAddr {
        self.engine.addrs[1]
    }
    fn log(&self) -> String {
        format!(
            "engine: {}\ngateway: {}",
            self.engine.log(),
            self.gateway.log()
        )
    }
}

fn data_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("heatgate-split-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// One configuration for both processes, as an operator would share it.
fn config(
    keystone: &Keystone,
    dir: &Path,
    rest: SocketAddr,
    cfn: SocketAddr,
    engine: &str,
) -> PathBuf {
    let f = &keystone.fixtures;
    let text = format!(
        r#"[gateway]
listen = "{rest}"
cfn_listen = "{cfn}"
worker_threads = 2

[keystone_authtoken]
auth_url = "{auth_url}"
username = "{heat}"
password = "{heat_pw}"
project_name = "service"
user_domain_id = "default"
project_domain_id = "default"
http_connect_timeout = 20

[heat]
stack_user_domain_id = "{domain}"
stack_domain_admin = "{dadmin}"
stack_domain_admin_password = "{dadmin_pw}"
auth_encryption_key = "{ENCRYPTION_KEY}"

[engine]
data_dir = "{dir}"
{engine}
"#,
        auth_url = keystone.auth_url(),
        heat = f.heat.username,
        heat_pw = f.heat.password,
        domain = f.heat_domain_id,
        dadmin = f.heat_domain_admin.username,
        dadmin_pw = f.heat_domain_admin.password,
        dir = dir.display(),
    );
    let file = dir.join("heatgate.toml");
    std::fs::write(&file, text).unwrap();
    file
}

fn heatgate(args: &[&str], config: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_heatgate"));
    c.args(args)
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "info");
    c
}

fn split(keystone: &Keystone, name: &str) -> Split {
    let dir = data_dir(name);
    let (rest, cfn) = (free_port(), free_port());
    let file = config(
        keystone,
        &dir,
        rest,
        cfn,
        &format!("assertion_key = \"{ASSERTION_KEY}\""),
    );
    let engine = Process::start(
        heatgate(
            &[
                "engine",
                "--listen",
                "127.0.0.1:0",
                "--cfn-listen",
                "127.0.0.1:0",
            ],
            &file,
        ),
        &["listening on http://", "cfn listening on http://"],
    )
    .unwrap();
    let upstream = format!("http://{}", engine.addrs[0]);
    let cfn_upstream = format!("http://{}", engine.addrs[1]);
    let gateway = Process::start(
        heatgate(
            &[
                "proxy",
                "--upstream",
                &upstream,
                "--cfn-upstream",
                &cfn_upstream,
            ],
            &file,
        ),
        &["listening on http://", "cfn listening on http://"],
    )
    .unwrap();
    assert_eq!(gateway.addrs, vec![rest, cfn]);
    Split { engine, gateway }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn call(
    method: reqwest::Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut b = http().request(method, url);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    if let Some(body) = body {
        b = b.json(&body);
    }
    let r = b.send().await.unwrap();
    let status = r.status().as_u16();
    let h = r.headers().clone();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
        h,
    )
}

async fn get(url: &str, token: &str) -> (u16, Value) {
    let (s, v, _) = call(reqwest::Method::GET, url, &[("X-Auth-Token", token)], None).await;
    (s, v)
}

async fn wait_for(s: &Split, url: &str, token: &str, done: impl Fn(u16, &Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let (status, v) = get(url, token).await;
        if done(status, &v) {
            return v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "{url}: still {status} {v}; {}",
            s.log()
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

#[tokio::test]
async fn the_stack_story_works_through_the_gateway_and_the_engine_refuses_everything_else() {
    let keystone = Keystone::shared();
    let s = split(keystone, "story");
    let demo = &keystone.fixtures.demo;
    let project = demo.project_id.clone().unwrap();
    let owner = keystone
        .token(&demo.project_auth())
        .await
        .expose()
        .to_owned();

    // Create through the gateway: 201, and the Location points at the gateway.
    let (status, v, headers) = call(
        reqwest::Method::POST,
        &s.url(&format!("/v1/{project}/stacks")),
        &[("X-Auth-Token", &owner)],
        Some(json!({"stack_name": "split", "template": TEMPLATE, "parameters": {}})),
    )
    .await;
    assert_eq!(status, 201, "{v}; {}", s.log());
    let id = v["stack"]["id"].as_str().unwrap().to_owned();
    let location = headers["location"].to_str().unwrap();
    assert_eq!(
        location,
        s.url(&format!("/v1/{project}/stacks/split/{id}")),
        "links go through the gateway"
    );
    let path = format!("/v1/{project}/stacks/split/{id}");

    // The OS handle: its user's token signals on the stack domain path, through
    // the gateway's auth_token and the engine's dual-path lookup.
    let handle = wait_for(
        &s,
        &s.url(&format!("{path}/resources/handle")),
        &owner,
        |st, v| st == 200 && v["resource"]["resource_status"] == "CREATE_COMPLETE",
    )
    .await;
    let handle_token = handle["resource"]["attributes"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let endpoint = handle["resource"]["attributes"]["endpoint"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(endpoint.starts_with(&s.url("/v1/")), "{endpoint}");
    let (status, v, _) = call(
        reqwest::Method::POST,
        &endpoint,
        &[("X-Auth-Token", &handle_token)],
        Some(json!({"status": "SUCCESS", "reason": "up", "data": "d", "id": "1"})),
    )
    .await;
    assert_eq!(status, 200, "{v}; {}", s.log());

    // The AWS handle: the pre-signed URL names the gateway's CFN listener and
    // is PUT there as cfn-signal does (ec2token in the gateway, the stack user's
    // EC2 identity asserted to the engine).
    wait_for(
        &s,
        &s.url(&format!("{path}/resources/cfn_handle")),
        &owner,
        |st, v| st == 200 && v["resource"]["resource_status"] == "CREATE_COMPLETE",
    )
    .await;
    let (_, show) = get(&s.url(&path), &owner).await;
    let signal_url = show["stack"]["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["output_key"] == "signal_url")
        .unwrap()["output_value"]
        .as_str()
        .unwrap()
        .to_owned();
    let cfn_gateway = format!("http://{}/v1/waitcondition/", s.gateway.addrs[1]);
    assert!(signal_url.starts_with(&cfn_gateway), "{signal_url}");

    // The same pre-signed URL sent straight to the engine: refused.
    let direct = signal_url.replace(&s.gateway.addrs[1].to_string(), &s.engine_cfn().to_string());
    let body = r#"{"Status": "SUCCESS", "Reason": "ok", "UniqueId": "i1", "Data": "x"}"#;
    let r = http()
        .put(&direct)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);

    let r = http()
        .put(&signal_url)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    assert_eq!(status, 200, "{}; {}", r.text().await.unwrap(), s.log());

    let done = wait_for(&s, &s.url(&path), &owner, |st, v| {
        st == 200 && v["stack"]["stack_status"] != "CREATE_IN_PROGRESS"
    })
    .await;
    assert_eq!(
        done["stack"]["stack_status"],
        "CREATE_COMPLETE",
        "{done}; {}",
        s.log()
    );

    // The SIGNAL events, in Heat's words.
    let (_, events) = get(&s.url(&format!("{path}/events")), &owner).await;
    let reasons: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource_status"] == "SIGNAL_COMPLETE")
        .filter_map(|e| e["resource_status_reason"].as_str())
        .collect();
    assert!(
        reasons.contains(&"Signal: status:SUCCESS reason:up"),
        "{events}"
    );
    assert!(
        reasons.contains(&"Signal: status:SUCCESS reason:ok"),
        "{events}"
    );

    // The wait conditions' data, as Heat's jsonutils.dumps writes it.
    let (_, wait) = get(&s.url(&format!("{path}/resources/wait")), &owner).await;
    assert_eq!(
        wait["resource"]["attributes"]["data"], r#"{"1": "d"}"#,
        "{wait}"
    );
    let (_, wait) = get(&s.url(&format!("{path}/resources/cfn_wait")), &owner).await;
    assert_eq!(
        wait["resource"]["attributes"]["Data"], r#"{"i1": "x"}"#,
        "{wait}"
    );

    // Outputs and the template, as `openstack stack output list/show` and
    // `openstack stack template show` read them; not for the stack user.
    let (status, v) = get(&s.url(&format!("{path}/outputs")), &owner).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v,
        json!({"outputs": [{"output_key": "signal_url", "description": "No description given"}]})
    );
    let (status, v) = get(&s.url(&format!("{path}/outputs/signal_url")), &owner).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["output"]["output_value"], signal_url.as_str());
    let (status, v) = get(&s.url(&format!("{path}/outputs/nope")), &owner).await;
    assert_eq!(status, 404, "{v}");
    assert_eq!(
        v["error"]["message"],
        "Specified output key nope not found."
    );
    assert_eq!(v["error"]["type"], "NotFound");
    let (status, v) = get(&s.url(&format!("{path}/template")), &owner).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["resources"]["cfn_wait"]["properties"]["Count"], 1);
    for rest in ["/outputs", "/outputs/signal_url", "/template"] {
        let (status, _) = get(&s.url(&format!("{path}{rest}")), &handle_token).await;
        assert_eq!(status, 403, "stack user on {rest}");
    }

    // Straight to the engine: a valid token, spoofed identity headers, or both,
    // are all refused before any route runs.
    for headers in [
        vec![("X-Auth-Token", owner.as_str())],
        vec![
            ("X-Auth-Token", owner.as_str()),
            ("X-Identity-Status", "Confirmed"),
            ("X-User-Id", "admin"),
            ("X-Project-Id", project.as_str()),
            ("X-Roles", "admin,member"),
        ],
        vec![("X-Heatgate-Assertion", "eyJhbGciOiJub25lIn0.e30.")],
    ] {
        let (status, v, _) = call(
            reqwest::Method::GET,
            &s.engine_url(&format!("/v1/{project}/stacks")),
            &headers,
            None,
        )
        .await;
        assert_eq!(status, 401, "{headers:?}: {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("heatgate gateway"),
            "{v}"
        );
    }
    let (status, _, _) = call(
        reqwest::Method::DELETE,
        &s.engine_url(&path),
        &[("X-Auth-Token", &owner)],
        None,
    )
    .await;
    assert_eq!(status, 401);

    // Through the gateway, the same list works, and delete cleans up.
    let (status, list) = get(&s.url(&format!("/v1/{project}/stacks")), &owner).await;
    assert_eq!(status, 200);
    assert!(list["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["id"] == id.as_str()));
    let (status, v, _) = call(
        reqwest::Method::DELETE,
        &s.url(&path),
        &[("X-Auth-Token", &owner)],
        None,
    )
    .await;
    assert_eq!(status, 204, "{v}");
    wait_for(&s, &s.url(&path), &owner, |st, _| st == 404).await;

    // No token or key in either log.
    let log = s.log();
    assert!(!log.contains(&owner) && !log.contains(&handle_token) && !log.contains(ASSERTION_KEY));
}

#[tokio::test]
async fn the_engine_will_not_start_without_a_shared_key_and_the_gateway_checks_it() {
    let keystone = Keystone::shared();
    let dir = data_dir("nokey");
    let (rest, cfn) = (free_port(), free_port());
    for (engine_section, want) in [
        (
            "",
            "[engine] assertion_key (or assertion_key_file) is required",
        ),
        (
            "assertion_key = \"short\"",
            "[engine] assertion_key: the assertion key must be at least 32 bytes long",
        ),
    ] {
        let file = config(keystone, &dir, rest, cfn, engine_section);
        let out = heatgate(&["engine"], &file).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(want), "{stderr}");
        assert!(!stderr.contains("short\""), "{stderr}");
    }
    // The gateway signs paths as the engine sees them: no base path then.
    let file = config(
        keystone,
        &dir,
        rest,
        cfn,
        &format!("assertion_key = \"{ASSERTION_KEY}\""),
    );
    let out = heatgate(&["proxy", "--upstream", "http://127.0.0.1:9/base"], &file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot have a base path"));
}
