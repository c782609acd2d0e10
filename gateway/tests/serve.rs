//! `heatgate serve` as a process (gateway + embedded engine) against the real
//! Keystone: stack domain projects and users, signals, the dual-path lookup,
//! deferred auth with trusts, and secrets at rest.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use heatgate_tests::process::Process;
use heatgate_tests::signing::sigv2_query_url;
use heatgate_tests::Keystone;
use serde_json::{json, Value};

const KEY: &str = "0123456789abcdef0123456789abcdef";

/// `heatgate serve` and the data directory it keeps its engine in.
struct Serve {
    process: Process,
    dir: PathBuf,
}

impl Serve {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.process.addrs[0])
    }

    fn cfn_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.process.addrs[1])
    }

    fn log(&self) -> String {
        self.process.log()
    }
}

fn data_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("heatgate-serve-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn config(keystone: &Keystone, dir: &Path, key: &str, extra: &str) -> PathBuf {
    let f = &keystone.fixtures;
    let text = format!(
        r#"[gateway]
worker_threads = 1

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
auth_encryption_key = "{key}"

[engine]
data_dir = "{dir}"
{extra}
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

fn start(file: &Path, dir: &Path) -> Result<Serve, String> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_heatgate"));
    command
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--cfn-listen",
            "127.0.0.1:0",
        ])
        .arg("--config")
        .arg(file)
        .env("RUST_LOG", "debug");
    let process = Process::start(
        command,
        &["listening on http://", "cfn listening on http://"],
    )?;
    Ok(Serve {
        process,
        dir: dir.to_path_buf(),
    })
}

fn serve(keystone: &Keystone, name: &str) -> Serve {
    let dir = data_dir(name);
    let file = config(keystone, &dir, KEY, "");
    start(&file, &dir).unwrap()
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn token_of(keystone: &Keystone, user: &heatgate_tests::User) -> String {
    keystone
        .token(&user.project_auth())
        .await
        .expose()
        .to_owned()
}

async fn call(
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut b = http().request(method, url).header("X-Auth-Token", token);
    if let Some(body) = body {
        b = b.json(&body);
    }
    let r = b.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, v, headers)
}

async fn get(url: &str, token: &str) -> (u16, Value) {
    let (s, v, _) = call(reqwest::Method::GET, url, token, None).await;
    (s, v)
}

/// Creates a stack and returns (name, id).
async fn create(s: &Serve, project: &str, token: &str, name: &str, template: &str) -> String {
    let (status, v, headers) = call(
        reqwest::Method::POST,
        &s.url(&format!("/v1/{project}/stacks")),
        token,
        Some(json!({"stack_name": name, "template": template, "parameters": {}})),
    )
    .await;
    assert_eq!(status, 201, "{v}; log: {}", s.log());
    let id = v["stack"]["id"].as_str().unwrap().to_owned();
    let location = headers["location"].to_str().unwrap();
    assert!(
        location.ends_with(&format!("/v1/{project}/stacks/{name}/{id}")),
        "{location}"
    );
    id
}

/// Polls the stack until its status is not IN_PROGRESS (or `want` is reached).
async fn wait_status(s: &Serve, path: &str, token: &str, want: &str) -> Value {
    let started = Instant::now();
    loop {
        let (status, v) = get(&s.url(path), token).await;
        assert_eq!(status, 200, "{v}");
        let st = v["stack"]["stack_status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if st == want {
            return v;
        }
        assert!(
            !st.ends_with("FAILED") && !st.ends_with("COMPLETE") || st == want,
            "stack is {st}, wanted {want}: {v}; log: {}",
            s.log()
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "stack still {st}, wanted {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_resource(s: &Serve, path: &str, token: &str, want: &str) -> Value {
    let started = Instant::now();
    loop {
        let (status, v) = get(&s.url(path), token).await;
        if status == 200 && v["resource"]["resource_status"] == want {
            return v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "resource not {want}: {status} {v}; log: {}",
            s.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_gone(s: &Serve, path: &str, token: &str) {
    let started = Instant::now();
    loop {
        let (status, v) = get(&s.url(path), token).await;
        if status == 404 {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "stack not deleted: {status} {v}; log: {}",
            s.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An admin GET with a query string.
async fn admin_get(keystone: &Keystone, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
    let admin = keystone.admin_token().await;
    let url = heatgate_keystone::config::v3_url(&keystone.auth_url(), path);
    let r = http()
        .get(url)
        .query(query)
        .header("X-Auth-Token", admin.expose())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Keystone's view of the stack user domain (admin).
async fn domain_projects(keystone: &Keystone) -> Vec<Value> {
    let (status, v) = admin_get(
        keystone,
        "projects",
        &[("domain_id", &keystone.fixtures.heat_domain_id)],
    )
    .await;
    assert_eq!(status, 200, "{v}");
    v["projects"].as_array().cloned().unwrap_or_default()
}

async fn domain_users(keystone: &Keystone) -> Vec<Value> {
    let (status, v) = admin_get(
        keystone,
        "users",
        &[("domain_id", &keystone.fixtures.heat_domain_id)],
    )
    .await;
    assert_eq!(status, 200, "{v}");
    v["users"].as_array().cloned().unwrap_or_default()
}

/// A SigV2 query request to the CFN listener, signed with an EC2 keypair.
fn signed_query(s: &Serve, access: &str, secret: &str, params: &[(&str, &str)]) -> String {
    sigv2_query_url(&s.process.addrs[1].to_string(), access, secret, params)
}

/// Percent-encodes `s` for a URL path segment (a space is `%20`).
fn urlencoding_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

const STORY: &str = r#"
heat_template_version: 2018-08-31
description: the auth model story
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
  server:
    type: OS::Nova::Server
    metadata:
      role: web
    properties:
      image: cirros
      flavor: m1.tiny
  policy:
    type: OS::Heat::AccessPolicy
    properties:
      AllowedResources: [server]
  app_user:
    type: AWS::IAM::User
    properties:
      Policies: [{get_resource: policy}]
  app_key:
    type: AWS::IAM::AccessKey
    properties:
      UserName: {get_resource: app_user}
outputs:
  signal_url:
    value: {get_resource: cfn_handle}
  access:
    value: {get_resource: app_key}
  secret:
    value: {get_attr: [app_key, SecretAccessKey]}
"#;

struct Story {
    project: String,
    owner: String,
    name: String,
    id: String,
    sdp: String,
    handle_token: String,
    handle_endpoint: String,
}

impl Story {
    fn owner_path(&self, rest: &str) -> String {
        format!(
            "/v1/{}/stacks/{}/{}{rest}",
            self.project, self.name, self.id
        )
    }
    fn sdp_path(&self, rest: &str) -> String {
        format!("/v1/{}/stacks/{}/{}{rest}", self.sdp, self.name, self.id)
    }
}

/// Creates the story stack as `user` and reads the handle's token.
async fn story(s: &Serve, keystone: &Keystone, user: &heatgate_tests::User, name: &str) -> Story {
    let owner = token_of(keystone, user).await;
    let project = user.project_id.clone().unwrap();
    let id = create(s, &project, &owner, name, STORY).await;
    let mut st = Story {
        project,
        owner,
        name: name.to_owned(),
        id,
        sdp: String::new(),
        handle_token: String::new(),
        handle_endpoint: String::new(),
    };
    let handle = wait_resource(
        s,
        &st.owner_path("/resources/handle"),
        &st.owner,
        "CREATE_COMPLETE",
    )
    .await;
    st.handle_token = handle["resource"]["attributes"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    st.handle_endpoint = handle["resource"]["attributes"]["endpoint"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, show) = get(&s.url(&st.owner_path("")), &st.owner).await;
    st.sdp = show["stack"]["stack_user_project_id"]
        .as_str()
        .unwrap()
        .to_owned();
    st
}

#[tokio::test]
async fn the_stack_domain_path_signals_reads_what_it_is_bound_to_and_nothing_else() {
    let keystone = Keystone::shared();
    let s = serve(keystone, "dual");
    let demo = &keystone.fixtures.demo;
    let st = story(&s, keystone, demo, "dual").await;

    // The project exists in the stack user domain, named "<owner>-<stack id>" cut to 64.
    let projects = domain_projects(keystone).await;
    let p = projects
        .iter()
        .find(|p| p["id"] == st.sdp.as_str())
        .expect("stack project in Keystone");
    let expected: String = format!("{}-{}", st.project, st.id)
        .chars()
        .take(64)
        .collect();
    assert_eq!(p["name"], expected.as_str());

    // The handle's endpoint is the stack domain path; its token signals it (200, body null).
    assert_eq!(
        st.handle_endpoint,
        s.url(&st.sdp_path("/resources/handle/signal"))
    );
    let (status, body, _) = call(
        reqwest::Method::POST,
        &st.handle_endpoint,
        &st.handle_token,
        Some(json!({"status": "SUCCESS", "reason": "booted", "data": "ok", "id": "i1"})),
    )
    .await;
    assert_eq!((status, body), (200, Value::Null), "{}", s.log());
    let done = wait_status(&s, &st.owner_path(""), &st.owner, "CREATE_COMPLETE").await;
    let outputs = done["stack"]["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), 3);

    // Owner path: metadata of anything.
    let (status, md) = get(
        &s.url(&st.owner_path("/resources/handle/metadata")),
        &st.owner,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(md["metadata"]["i1"]["data"], "ok");
    let (status, md) = get(
        &s.url(&st.owner_path("/resources/server/metadata")),
        &st.owner,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(md["metadata"]["role"], "web");

    // A wait-condition-handle user may signal but read no metadata (403).
    for res in ["handle", "server", "wait"] {
        let (status, v) = get(
            &s.url(&st.sdp_path(&format!("/resources/{res}/metadata"))),
            &st.handle_token,
        )
        .await;
        assert_eq!(status, 403, "{res}: {v}");
    }
    // Every other stack route is denied by policy for a stack user.
    let (status, _) = get(&s.url(&st.sdp_path("")), &st.handle_token).await;
    assert_eq!(status, 403);
    let (status, _) = get(
        &s.url(&format!("/v1/{}/build_info", st.sdp)),
        &st.handle_token,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = get(&s.url(&format!("/v1/{}/stacks", st.sdp)), &st.handle_token).await;
    assert_eq!(status, 403);

    // Lookup through the stack domain project: 302 to the OWNER's path; following it: 403.
    let (status, _, headers) = call(
        reqwest::Method::GET,
        &s.url(&format!("/v1/{}/stacks/{}", st.sdp, st.name)),
        &st.handle_token,
        None,
    )
    .await;
    assert_eq!(status, 302);
    let location = headers["location"].to_str().unwrap().to_owned();
    assert_eq!(location, s.url(&st.owner_path("")));
    let (status, _) = get(&location, &st.handle_token).await;
    assert_eq!(status, 403);
    // The owner's lookup redirects too, keeping the sub-path and query.
    let (status, _, headers) = call(
        reqwest::Method::GET,
        &s.url(&format!(
            "/v1/{}/stacks/{}/resources?x=1",
            st.project, st.name
        )),
        &st.owner,
        None,
    )
    .await;
    assert_eq!(status, 302);
    assert_eq!(
        headers["location"].to_str().unwrap(),
        s.url(&st.owner_path("/resources?x=1"))
    );

    // The list is not dual-path.
    let (status, list) = get(&s.url(&format!("/v1/{}/stacks", st.project)), &st.owner).await;
    assert_eq!(status, 200);
    assert!(list["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["id"] == st.id.as_str()));

    // CFN: the IAM access key reads what its AccessPolicy allows, and nothing else.
    let access = outputs
        .iter()
        .find(|o| o["output_key"] == "access")
        .unwrap()["output_value"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret = outputs
        .iter()
        .find(|o| o["output_key"] == "secret")
        .unwrap()["output_value"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = signed_query(
        &s,
        &access,
        &secret,
        &[
            ("Action", "DescribeStackResource"),
            ("StackName", &st.name),
            ("LogicalResourceId", "server"),
            ("Version", "2010-05-15"),
        ],
    );
    let r = http().get(&url).send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    assert_eq!(status, 200, "{text}; log: {}", s.log());
    assert!(
        text.contains("<LogicalResourceId>server</LogicalResourceId>"),
        "{text}"
    );
    assert!(
        text.contains("&quot;role&quot;: &quot;web&quot;")
            || text.contains("&quot;role&quot;:&quot;web&quot;"),
        "{text}"
    );
    let url = signed_query(
        &s,
        &access,
        &secret,
        &[
            ("Action", "DescribeStackResource"),
            ("StackName", &st.name),
            ("LogicalResourceId", "handle"),
            ("Version", "2010-05-15"),
        ],
    );
    let r = http().get(&url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("<Code>AccessDenied</Code>"));

    // The wait-handle user naming that access key in X-Auth-EC2-Creds (which
    // Heat's context takes as the caller's EC2 credentials) reads nothing
    // more: only a signature ec2token verified names an access key.
    let forged = format!(r#"{{"ec2Credentials": {{"access": "{access}", "signature": "x"}}}}"#);
    for res in ["server", "handle"] {
        let r = http()
            .get(s.url(&st.sdp_path(&format!("/resources/{res}/metadata"))))
            .header("X-Auth-Token", &st.handle_token)
            .header("X-Auth-EC2-Creds", &forged)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 403, "{res}");
    }

    // The CFN listener, unsigned with X-Auth-User: the token decides, as in
    // Heat's pipeline (ec2authtoken, then authtoken), with AWS errors.
    let list = s.cfn_url("/v1/?Action=ListStacks&Version=2010-05-15");
    for (token, want, code) in [
        (None, 403, Some("MissingAuthenticationToken")),
        (Some("forged"), 403, Some("InvalidClientTokenId")),
        (Some(st.owner.as_str()), 200, None),
    ] {
        let mut b = http().get(&list).header("X-Auth-User", "demo");
        if let Some(t) = token {
            b = b.header("X-Auth-Token", t);
        }
        let r = b.send().await.unwrap();
        let status = r.status().as_u16();
        let content_type = r.headers()["content-type"].to_str().unwrap().to_owned();
        let text = r.text().await.unwrap();
        assert_eq!(status, want, "{text}; log: {}", s.log());
        match code {
            Some(code) => {
                assert_eq!(content_type, "application/xml");
                assert!(text.contains(&format!("<Code>{code}</Code>")), "{text}");
            }
            None => assert!(text.contains(&st.name), "{text}"),
        }
    }

    // The pre-signed wait condition URL, PUT as cfn-signal does.
    let signal_url = outputs
        .iter()
        .find(|o| o["output_key"] == "signal_url")
        .unwrap()["output_value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        signal_url.starts_with(&s.cfn_url("/v1/waitcondition/arn%3Aopenstack%3Aheat%3A%3A")),
        "{signal_url}"
    );
    let r = http()
        .put(&signal_url)
        .header("Content-Type", "application/json")
        .body(r#"{"Status": "SUCCESS", "Reason": "done", "UniqueId": "u1", "Data": "d1"}"#)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    assert_eq!(status, 200, "{text}; log: {}", s.log());
    let (_, md) = get(
        &s.url(&st.owner_path("/resources/cfn_handle/metadata")),
        &st.owner,
    )
    .await;
    assert_eq!(md["metadata"]["u1"]["Data"], "d1");
    // A tampered URL is refused by the signature check.
    let r = http()
        .put(signal_url.replace("Signature=", "Signature=A"))
        .body(r#"{"Status": "SUCCESS", "Reason": "x", "UniqueId": "u2", "Data": ""}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
}

#[tokio::test]
async fn a_stack_user_of_another_stack_gets_404_with_its_own_project_and_403_with_the_other() {
    let keystone = Keystone::shared();
    let s = serve(keystone, "other");
    let demo = &keystone.fixtures.demo;
    let first = story(&s, keystone, demo, "first").await;
    let second = story(&s, keystone, demo, "second").await;
    // second's handle user, its own project in the URL, first's stack: 404.
    let path = format!(
        "/v1/{}/stacks/{}/{}/resources/handle/signal",
        second.sdp, first.name, first.id
    );
    let (status, v, _) = call(
        reqwest::Method::POST,
        &s.url(&path),
        &second.handle_token,
        None,
    )
    .await;
    assert_eq!(status, 404, "{v}");
    assert_eq!(v["error"]["type"], "EntityNotFound");
    // With first's stack domain project in the URL: 403 (tenant check).
    let (status, _, _) = call(
        reqwest::Method::POST,
        &s.url(&first.sdp_path("/resources/handle/signal")),
        &second.handle_token,
        None,
    )
    .await;
    assert_eq!(status, 403);
    // The lookup by name from its own project does not find the other stack.
    let (status, _) = get(
        &s.url(&format!("/v1/{}/stacks/{}", second.sdp, first.name)),
        &second.handle_token,
    )
    .await;
    assert_eq!(status, 404);
    // An unrelated user with its own project: 404; with demo's: 403.
    let alt = token_of(keystone, &keystone.fixtures.alt_demo).await;
    let alt_project = keystone.fixtures.alt_demo.project_id.clone().unwrap();
    let (status, _) = get(
        &s.url(&format!(
            "/v1/{alt_project}/stacks/{}/{}",
            first.name, first.id
        )),
        &alt,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = get(&s.url(&first.owner_path("")), &alt).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn stack_delete_leaves_no_project_user_credential_or_trust_in_keystone() {
    let keystone = Keystone::shared();
    let s = serve(keystone, "delete");
    let alt = &keystone.fixtures.alt_demo;
    let trusts_of_alt = || async {
        let (status, trusts) = admin_get(
            keystone,
            "OS-TRUST/trusts",
            &[("trustor_user_id", &alt.user_id)],
        )
        .await;
        assert_eq!(status, 200, "{trusts}");
        trusts["trusts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect::<Vec<String>>()
    };
    let before = trusts_of_alt().await;
    let st = story(&s, keystone, alt, "orphans").await;
    call(
        reqwest::Method::POST,
        &st.handle_endpoint,
        &st.handle_token,
        Some(json!({})),
    )
    .await;
    wait_status(&s, &st.owner_path(""), &st.owner, "CREATE_COMPLETE").await;
    let users_of_stack = |users: &[Value]| {
        users
            .iter()
            .filter(|u| u["default_project_id"] == st.sdp.as_str())
            .count()
    };
    // handle, cfn_handle, server and app_user each have a user.
    assert_eq!(users_of_stack(&domain_users(keystone).await), 4);
    let trust_ids: Vec<String> = trusts_of_alt()
        .await
        .into_iter()
        .filter(|t| !before.contains(t))
        .collect();
    assert_eq!(trust_ids.len(), 1, "the stack made one trust");

    // Deferred work: CHECK runs later with a trust-scoped token against Keystone.
    let (status, _, _) = call(
        reqwest::Method::POST,
        &s.url(&st.owner_path("/actions")),
        &st.owner,
        Some(json!({"check": null})),
    )
    .await;
    assert_eq!(status, 200);
    let checked = wait_status(&s, &st.owner_path(""), &st.owner, "CHECK_COMPLETE").await;
    assert_eq!(
        checked["stack"]["stack_status_reason"],
        "Stack CHECK completed successfully"
    );

    // Secrets never in the database file in clear.
    let db = std::fs::read(s.dir.join("engine.db")).unwrap_or_default();
    let wal = std::fs::read(s.dir.join("engine.db-wal")).unwrap_or_default();
    let (_, shown) = get(&s.url(&st.owner_path("")), &st.owner).await;
    let secret = shown["stack"]["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["output_key"] == "secret")
        .unwrap()["output_value"]
        .as_str()
        .unwrap()
        .to_owned();
    for needle in trust_ids
        .iter()
        .map(String::as_str)
        .chain([secret.as_str()])
    {
        for (file, bytes) in [("db", &db), ("wal", &wal)] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "a secret is in the {file} file in clear"
            );
        }
        assert!(!s.log().contains(needle), "a secret is in the log");
    }
    assert!(!db.is_empty());

    let (status, _, _) = call(
        reqwest::Method::DELETE,
        &s.url(&st.owner_path("")),
        &st.owner,
        None,
    )
    .await;
    assert_eq!(status, 204);
    wait_gone(&s, &st.owner_path(""), &st.owner).await;
    assert!(!domain_projects(keystone)
        .await
        .iter()
        .any(|p| p["id"] == st.sdp.as_str()));
    assert_eq!(users_of_stack(&domain_users(keystone).await), 0);
    let left = trusts_of_alt().await;
    for id in &trust_ids {
        assert!(!left.contains(id), "the trust was not deleted");
    }
}

#[tokio::test]
async fn a_failure_midway_rolls_back_the_stack_users_and_marks_create_failed() {
    let keystone = Keystone::shared();
    let s = serve(keystone, "rollback");
    let demo = &keystone.fixtures.demo;
    let owner = token_of(keystone, demo).await;
    let project = demo.project_id.clone().unwrap();
    let template = r#"
heat_template_version: 2018-08-31
parameters:
  user: {type: string, default: nobody}
resources:
  handle:
    type: OS::Heat::WaitConditionHandle
  key:
    type: AWS::IAM::AccessKey
    depends_on: handle
    properties:
      UserName: {get_param: user}
"#;
    let id = create(&s, &project, &owner, "midway", template).await;
    let path = format!("/v1/{project}/stacks/midway/{id}");
    let v = wait_status(&s, &path, &owner, "CREATE_FAILED").await;
    let reason = v["stack"]["stack_status_reason"].as_str().unwrap();
    assert!(reason.starts_with("Resource CREATE failed:"), "{reason}");
    assert!(reason.contains("nobody"), "{reason}");
    assert_eq!(v["stack"]["stack_user_project_id"], Value::Null);
    let prefix = format!("{project}-{id}");
    let prefix: String = prefix.chars().take(64).collect();
    assert!(!domain_projects(keystone)
        .await
        .iter()
        .any(|p| p["name"] == prefix.as_str()));
    assert!(!domain_users(keystone).await.iter().any(|u| u["name"]
        .as_str()
        .unwrap_or_default()
        .starts_with("midway-handle-")));
    let (_, events) = get(&s.url(&format!("{path}/events")), &owner).await;
    assert!(events["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["resource_name"] == "key" && e["resource_status"] == "CREATE_FAILED"));
}

#[tokio::test]
async fn concurrent_signals_are_all_kept_and_acknowledged_ones_survive_kill_9() {
    let keystone = Keystone::shared();
    let dir = data_dir("signals");
    let file = config(keystone, &dir, KEY, "");
    let mut s = start(&file, &dir).unwrap();
    let demo = &keystone.fixtures.demo;
    let owner = token_of(keystone, demo).await;
    let project = demo.project_id.clone().unwrap();
    let template = r#"
heat_template_version: 2018-08-31
resources:
  handle:
    type: OS::Heat::WaitConditionHandle
  wait:
    type: OS::Heat::WaitCondition
    properties:
      handle: {get_resource: handle}
      count: 100000
      timeout: 600
"#;
    let id = create(&s, &project, &owner, "signals", template).await;
    let path = format!("/v1/{project}/stacks/signals/{id}");
    let handle = wait_resource(
        &s,
        &format!("{path}/resources/handle"),
        &owner,
        "CREATE_COMPLETE",
    )
    .await;
    let token = handle["resource"]["attributes"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let endpoint = handle["resource"]["attributes"]["endpoint"]
        .as_str()
        .unwrap()
        .to_owned();

    // 100 at once.
    let mut tasks = Vec::new();
    for n in 0..100 {
        let (endpoint, token) = (endpoint.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let (status, v, _) = call(
                reqwest::Method::POST,
                &endpoint,
                &token,
                Some(json!({"id": format!("c{n}"), "data": n})),
            )
            .await;
            assert_eq!(status, 200, "{v}");
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let (_, md) = get(&s.url(&format!("{path}/resources/handle/metadata")), &owner).await;
    assert_eq!(md["metadata"].as_object().unwrap().len(), 100);

    // Signals while the process is killed: every acknowledged one survives.
    let acked = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for n in 0..200 {
        let (endpoint, token, acked) = (endpoint.clone(), token.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(n * 3)).await;
            let r = http()
                .post(&endpoint)
                .header("X-Auth-Token", &token)
                .json(&json!({"id": format!("k{n}")}))
                .send()
                .await;
            if let Ok(r) = r {
                if r.status().as_u16() == 200 {
                    acked.lock().unwrap().push(format!("k{n}"));
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(250)).await;
    s.process.kill9();
    for t in tasks {
        t.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        !acked.is_empty(),
        "no signal was acknowledged before the kill"
    );
    let s = start(&file, &dir).unwrap();
    let endpoint2 = format!("{}{path}/resources/handle/metadata", s.url(""));
    let (status, md) = get(&endpoint2, &owner).await;
    assert_eq!(status, 200, "{md}");
    let md = md["metadata"].as_object().unwrap();
    for id in &acked {
        assert!(md.contains_key(id), "acknowledged signal {id} was lost");
    }
    // The interrupted create is reported, as Heat's engine reset does.
    let (_, v) = get(&s.url(&path), &owner).await;
    assert_eq!(v["stack"]["stack_status"], "CREATE_FAILED");
    assert_eq!(
        v["stack"]["stack_status_reason"],
        "Engine went down during stack CREATE"
    );
    let (status, _, _) = call(reqwest::Method::DELETE, &s.url(&path), &owner, None).await;
    assert_eq!(status, 204);
    wait_gone(&s, &path, &owner).await;
}

#[tokio::test]
async fn a_wrong_auth_encryption_key_is_a_clear_startup_error() {
    let keystone = Keystone::shared();
    let dir = data_dir("wrongkey");
    let file = config(keystone, &dir, KEY, "");
    let s = start(&file, &dir).unwrap();
    let demo = &keystone.fixtures.demo;
    let owner = token_of(keystone, demo).await;
    let project = demo.project_id.clone().unwrap();
    let id = create(
        &s,
        &project,
        &owner,
        "keyed",
        "heat_template_version: 2018-08-31\nresources:\n  n: {type: OS::Heat::None}\n",
    )
    .await;
    wait_status(
        &s,
        &format!("/v1/{project}/stacks/keyed/{id}"),
        &owner,
        "CREATE_COMPLETE",
    )
    .await;
    // A second engine on the same database is refused while the first runs.
    let err = start(&file, &dir)
        .err()
        .expect("a second engine on the same database must be refused");
    assert!(err.contains("in use by another engine process"), "{err}");
    drop(s);
    let other = config(keystone, &dir, "fedcba9876543210fedcba9876543210", "");
    let err = start(&other, &dir)
        .err()
        .expect("the engine must refuse the wrong key");
    assert!(err.contains("not configured"), "{err}");
    assert!(!err.contains(KEY) && !err.contains("fedcba9876543210fedcba9876543210"));
    // The right key again: the stack is there.
    let file = config(keystone, &dir, KEY, "");
    let s = start(&file, &dir).unwrap();
    let (status, _) = get(&s.url(&format!("/v1/{project}/stacks/keyed/{id}")), &owner).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn bad_templates_and_parameters_get_400_with_the_reason() {
    let keystone = Keystone::shared();
    let s = serve(keystone, "bad");
    let demo = &keystone.fixtures.demo;
    let owner = token_of(keystone, demo).await;
    let project = demo.project_id.clone().unwrap();
    let url = s.url(&format!("/v1/{project}/stacks"));
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"stack_name": "a", "template": "heat_template_version: 2018-08-31\nresources:\n  x: {type: OS::No::Such}\n"}),
            "The Resource Type (OS::No::Such) could not be found.",
        ),
        (
            json!({"stack_name": "a", "template": "heat_template_version: [\n"}),
            "",
        ),
        (
            json!({"stack_name": "a", "template": "heat_template_version: 2018-08-31\nresources: {}\n", "parameters": {"nope": 1}}),
            "The Parameter (nope) was not defined in template.",
        ),
        (
            json!({"stack_name": "1a", "template": "heat_template_version: 2018-08-31\n"}),
            "Invalid stack name 1a",
        ),
        (
            json!({"stack_name": "big", "template": format!("heat_template_version: 2018-08-31\ndescription: {}\n", "x".repeat(5 * 1024 * 1024))}),
            "exceeds maximum allowed size",
        ),
        (json!({"stack_name": "a"}), "No template specified"),
    ];
    for (body, want) in cases {
        let (status, v, _) = call(reqwest::Method::POST, &url, &owner, Some(body.clone())).await;
        assert_eq!(status, 400, "{v}");
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(want), "{message:?} does not say {want:?}");
        assert!(!message.is_empty());
    }
}

#[tokio::test]
async fn names_with_url_special_characters_round_trip_through_the_arn_and_the_url() {
    let keystone = Keystone::shared();
    let s = serve(keystone, "names");
    let demo = &keystone.fixtures.demo;
    let owner = token_of(keystone, demo).await;
    let project = demo.project_id.clone().unwrap();
    let template = r#"
heat_template_version: 2018-08-31
resources:
  "a b%c:d?e#f":
    type: AWS::CloudFormation::WaitConditionHandle
outputs:
  url:
    value: {get_resource: "a b%c:d?e#f"}
"#;
    let id = create(&s, &project, &owner, "names.x-1", template).await;
    let path = format!("/v1/{project}/stacks/names.x-1/{id}");
    let v = wait_status(&s, &path, &owner, "CREATE_COMPLETE").await;
    let url = v["stack"]["outputs"][0]["output_value"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = http()
        .put(&url)
        .body(r#"{"Status": "SUCCESS", "Reason": "r", "UniqueId": "1", "Data": "x"}"#)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    assert_eq!(
        status,
        200,
        "{}; {url}; log: {}",
        r.text().await.unwrap(),
        s.log()
    );
    let quoted = urlencoding_encode("a b%c:d?e#f");
    let (status, md) = get(
        &s.url(&format!("{path}/resources/{quoted}/metadata")),
        &owner,
    )
    .await;
    assert_eq!(status, 200, "{md}");
    assert_eq!(md["metadata"]["1"]["Data"], "x");
}

#[tokio::test]
async fn password_deferred_auth_stores_the_password_encrypted_and_uses_it_later() {
    let keystone = Keystone::shared();
    let dir = data_dir("password");
    let file = config(keystone, &dir, KEY, "");
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("[gateway]\n", "[gateway]\nflavor = \"standalone\"\n")
        .replace("[heat]\n", "[heat]\ndeferred_auth_method = \"password\"\n");
    std::fs::write(&file, text).unwrap();
    let s = start(&file, &dir).unwrap();
    let demo = &keystone.fixtures.demo;
    let project = demo.project_id.clone().unwrap();
    let template = "heat_template_version: 2018-08-31\nresources:\n  handle: {type: OS::Heat::WaitConditionHandle}\n";
    let r = http()
        .post(s.url(&format!("/v1/{project}/stacks")))
        .header("X-Auth-User", &demo.username)
        .header("X-Auth-Key", &demo.password)
        .json(&json!({"stack_name": "pw", "template": template}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "{}", s.log());
    let id = r.json::<Value>().await.unwrap()["stack"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/{project}/stacks/pw/{id}");
    let with_password = |method: reqwest::Method, url: String| {
        http()
            .request(method, url)
            .header("X-Auth-User", &demo.username)
            .header("X-Auth-Key", &demo.password)
    };
    let started = Instant::now();
    loop {
        let v: Value = with_password(reqwest::Method::GET, s.url(&path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["stack"]["stack_status"] == "CREATE_COMPLETE" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The password is in the database only encrypted.
    let db = std::fs::read(dir.join("engine.db")).unwrap();
    let wal = std::fs::read(dir.join("engine.db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        assert!(!bytes
            .windows(demo.password.len())
            .any(|w| w == demo.password.as_bytes()));
    }
    // CHECK authenticates later with the stored password.
    let r = with_password(reqwest::Method::POST, s.url(&format!("{path}/actions")))
        .json(&json!({"check": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let started = Instant::now();
    loop {
        let v: Value = with_password(reqwest::Method::GET, s.url(&path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["stack"]["stack_status"] == "CHECK_COMPLETE" {
            break;
        }
        assert!(
            v["stack"]["stack_status"] != "CHECK_FAILED"
                && started.elapsed() < Duration::from_secs(60),
            "{v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !s.log().contains(&demo.password),
        "the password is in the log"
    );
    let r = with_password(reqwest::Method::DELETE, s.url(&path))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
}

#[tokio::test]
async fn password_deferred_auth_without_a_password_is_refused_for_stacks_that_need_it() {
    let keystone = Keystone::shared();
    let dir = data_dir("nopassword");
    let file = config(keystone, &dir, KEY, "");
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("[heat]\n", "[heat]\ndeferred_auth_method = \"password\"\n");
    std::fs::write(&file, text).unwrap();
    let s = start(&file, &dir).unwrap();
    let demo = &keystone.fixtures.demo;
    let owner = token_of(keystone, demo).await;
    let project = demo.project_id.clone().unwrap();
    let (status, v, _) = call(
        reqwest::Method::POST,
        &s.url(&format!("/v1/{project}/stacks")),
        &owner,
        Some(json!({"stack_name": "nopw", "template": "heat_template_version: 2018-08-31\nresources:\n  handle: {type: OS::Heat::WaitConditionHandle}\n"})),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(
        v["error"]["message"],
        "Missing required credential: password"
    );
    // A stack without deferred work needs no password.
    create(
        &s,
        &project,
        &owner,
        "plain",
        "heat_template_version: 2018-08-31\nresources:\n  n: {type: OS::Heat::None}\n",
    )
    .await;
}

const NOTHING: &str =
    "heat_template_version: 2018-08-31\nresources:\n  nothing:\n    type: OS::Heat::None\n";

#[tokio::test]
async fn concurrent_creates_of_one_name_make_one_stack_and_leave_one_trust() {
    let keystone = Keystone::shared();
    let s = serve(keystone, "race");
    // A user of its own, so that the trusts counted are this test's only.
    let f = &keystone.fixtures;
    let project = f.demo.project_id.clone().unwrap();
    let name = format!("race-{}", std::process::id());
    let (status, v) = keystone
        .admin_json(
            reqwest::Method::POST,
            "users",
            Some(json!({"user": {"name": name, "domain_id": "default", "password": "race-pw-1"}})),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let user_id = v["user"]["id"].as_str().unwrap().to_owned();
    for role in ["member", "reader"] {
        let (status, v) = keystone
            .admin_json(
                reqwest::Method::PUT,
                &format!("projects/{project}/users/{user_id}/roles/{}", f.roles[role]),
                None,
            )
            .await;
        assert_eq!(status, 204, "{v}");
    }
    let user = heatgate_tests::User {
        user_id: user_id.clone(),
        username: name.clone(),
        password: "race-pw-1".into(),
        domain_id: "default".into(),
        project_id: Some(project.clone()),
        project_name: None,
    };
    let token = token_of(keystone, &user).await;

    let stacks = s.url(&format!("/v1/{project}/stacks"));
    let creates: Vec<_> = (0..8)
        .map(|_| {
            call(
                reqwest::Method::POST,
                &stacks,
                &token,
                Some(json!({"stack_name": "twin", "template": NOTHING, "parameters": {}})),
            )
        })
        .collect();
    let answers = futures_util::future::join_all(creates).await;
    let created = answers
        .iter()
        .filter(|(status, _, _)| *status == 201)
        .count();
    assert_eq!(
        created,
        1,
        "{:?}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );
    for (status, v, _) in &answers {
        if *status != 201 {
            assert_eq!(*status, 409, "{v}");
            assert_eq!(v["error"]["type"], "StackExists", "{v}");
        }
    }
    let (_, list) = get(&s.url(&format!("/v1/{project}/stacks")), &token).await;
    let twins = list["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["stack_name"] == "twin")
        .count();
    assert_eq!(twins, 1, "{list}");
    // Every loser's trust was deleted: the user is the trustor of one.
    let (status, trusts) = admin_get(
        keystone,
        "OS-TRUST/trusts",
        &[("trustor_user_id", user_id.as_str())],
    )
    .await;
    assert_eq!(status, 200, "{trusts}");
    assert_eq!(trusts["trusts"].as_array().unwrap().len(), 1, "{trusts}");
}
