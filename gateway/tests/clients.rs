//! End-to-end with the clients people use, installed from PyPI (pinned by
//! scripts/oracles-clients-requirements.txt into .oracles/clients-venv):
//! the `openstack` CLI with python-heatclient, heat-cfntools' `cfn-signal`
//! and cfn-get-metadata's boto 2.49 call, and botocore — against
//! `heatgate serve` and a real Keystone of the test's own whose catalog
//! points the orchestration and cloudformation services at heatgate.
//!
//! Every client runs as the demo user (role member only) or with the EC2
//! keys a stack hands out, and every check is on what the client got back
//! (statuses, fields, metadata), not only its exit code.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use heatgate_tests::process::Process;
use heatgate_tests::Keystone;
use serde_json::{json, Value};

const KEY: &str = "0123456789abcdef0123456789abcdef";
/// The region scripts/keystone bootstraps.
const REGION: &str = "RegionOne";

// ---- heatgate serve (as in serve.rs) ----------------------------------------------

struct Serve {
    process: Process,
}

impl Serve {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.rest())
    }

    fn rest(&self) -> SocketAddr {
        self.process.addrs[0]
    }

    fn cfn(&self) -> SocketAddr {
        self.process.addrs[1]
    }

    fn log(&self) -> String {
        self.process.log()
    }
}

fn data_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "heatgate-clients-test-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn config(keystone: &Keystone, dir: &Path) -> PathBuf {
    let f = &keystone.fixtures;
    let text = format!(
        r#"[gateway]
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
auth_encryption_key = "{KEY}"

[engine]
data_dir = "{dir}"
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

fn start(file: &Path) -> Serve {
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
        .env("RUST_LOG", "info");
    let process = Process::start(
        command,
        &["listening on http://", "cfn listening on http://"],
    )
    .unwrap_or_else(|e| panic!("no listening line: {e}"));
    Serve { process }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn get(url: &str, token: &str) -> (u16, Value) {
    let r = http()
        .get(url)
        .header("X-Auth-Token", token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

// ---- the world: a private Keystone whose catalog points at heatgate ---------------

struct World {
    keystone: Keystone,
    serve: Serve,
    dir: PathBuf,
    bin: PathBuf,
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The clients' venv (installed, pinned, on first use; a failure fails the test).
fn clients_bin() -> PathBuf {
    let script = heatgate_tests::workspace_root()
        .join("scripts")
        .join("oracles");
    let out = Command::new(&script)
        .arg("clients")
        .output()
        .expect("run scripts/oracles clients");
    assert!(
        out.status.success(),
        "the clients venv could not be installed (scripts/oracles clients):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

async fn register(keystone: &Keystone, kind: &str, name: &str, url: &str) {
    let (status, v) = keystone
        .admin_json(
            http::Method::POST,
            "services",
            Some(json!({"service": {"type": kind, "name": name, "enabled": true}})),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let service = v["service"]["id"].as_str().unwrap().to_owned();
    let (status, v) = keystone
        .admin_json(
            http::Method::POST,
            "endpoints",
            Some(json!({"endpoint": {
                "service_id": service, "interface": "public", "url": url,
                "region_id": REGION, "enabled": true,
            }})),
        )
        .await;
    assert_eq!(status, 201, "{v}");
}

async fn world(name: &str) -> World {
    let bin = clients_bin();
    let keystone = Keystone::private(&format!("clients-{name}"), &[]);
    let dir = data_dir(name);
    let serve = start(&config(&keystone, &dir));
    register(
        &keystone,
        "orchestration",
        "heat",
        &format!("http://{}/v1/%(tenant_id)s", serve.rest()),
    )
    .await;
    register(
        &keystone,
        "cloudformation",
        "heat-cfn",
        &format!("http://{}/v1", serve.cfn()),
    )
    .await;
    World {
        keystone,
        serve,
        dir,
        bin,
    }
}

/// What a client process gave back.
#[derive(Debug)]
struct Ran {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

impl From<Output> for Ran {
    fn from(o: Output) -> Self {
        Ran {
            ok: o.status.success(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl World {
    fn demo(&self) -> &heatgate_tests::User {
        &self.keystone.fixtures.demo
    }

    /// A client process of the venv with the demo user's OS_* environment
    /// (and none inherited).
    fn command(&self, program: &str) -> tokio::process::Command {
        let demo = self.demo();
        let mut c = tokio::process::Command::new(self.bin.join(program));
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("OS_") {
                c.env_remove(k);
            }
        }
        c.env("OS_AUTH_URL", self.keystone.auth_url().as_str())
            .env("OS_AUTH_TYPE", "password")
            .env("OS_IDENTITY_API_VERSION", "3")
            .env("OS_USERNAME", &demo.username)
            .env("OS_PASSWORD", &demo.password)
            .env("OS_USER_DOMAIN_ID", "default")
            .env("OS_PROJECT_NAME", demo.project_name.as_deref().unwrap())
            .env("OS_PROJECT_DOMAIN_ID", "default")
            .env("OS_REGION_NAME", REGION)
            .env("OS_INTERFACE", "public")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        c
    }

    async fn run(&self, mut c: tokio::process::Command) -> Ran {
        let out = tokio::time::timeout(Duration::from_secs(90), c.output())
            .await
            .unwrap_or_else(|_| panic!("{c:?} did not finish in 90 s; log: {}", self.serve.log()))
            .expect("run a client");
        out.into()
    }

    /// `openstack ARGS` as the demo user.
    async fn openstack(&self, args: &[&str]) -> Ran {
        let mut c = self.command("openstack");
        c.args(args);
        self.run(c).await
    }

    /// `openstack ARGS -f json`, which must succeed.
    async fn openstack_json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-f", "json"]);
        let r = self.openstack(&all).await;
        assert!(
            r.ok,
            "openstack {args:?} failed: {r:?}; log: {}",
            self.serve.log()
        );
        r.json()
    }

    /// The venv's python running `code` with `args`.
    async fn python(&self, code: &str, args: &[&str]) -> Ran {
        let mut c = self.command("python");
        c.arg("-c").arg(code).args(args);
        self.run(c).await
    }

    fn template(&self, name: &str, text: &str) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    }

    async fn demo_token(&self) -> String {
        self.keystone
            .token(&self.demo().project_auth())
            .await
            .expose()
            .to_owned()
    }
}

/// Retries `f` until it gives `Some` (60 s at most: the machine may be busy).
async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "gave up waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn output<'a>(stack: &'a Value, key: &str) -> &'a Value {
    &stack["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["output_key"] == key)
        .unwrap_or_else(|| panic!("no output {key}: {stack}"))["output_value"]
}

// ---- the native API through the openstack CLI ------------------------------------

const WEB: &str = r#"
heat_template_version: 2018-08-31
description: a server that signals when it is up
parameters:
  flavor:
    type: string
    default: m1.tiny
resources:
  handle:
    type: OS::Heat::WaitConditionHandle
  wait:
    type: OS::Heat::WaitCondition
    properties:
      handle: {get_resource: handle}
      count: 1
      timeout: 120
  server:
    type: OS::Nova::Server
    metadata:
      role: web
    properties:
      image: cirros
      flavor: {get_param: flavor}
outputs:
  wait_data:
    description: what the server said
    value: {get_attr: [wait, data]}
"#;

/// A stack that completes by itself (its handle still makes a stack domain
/// project and user).
const PLAIN: &str = r#"
heat_template_version: 2018-08-31
description: completes by itself
resources:
  handle:
    type: OS::Heat::WaitConditionHandle
  random:
    type: OS::Heat::RandomString
    properties:
      length: 12
outputs:
  random:
    value: {get_attr: [random, value]}
"#;

#[tokio::test]
async fn the_openstack_cli_signals_a_stack_during_create_wait_and_reads_it_as_a_member() {
    let started = Instant::now();
    let w = world("cli-signal").await;
    let project = w.demo().project_id.clone().unwrap();
    let web = w.template("web.yaml", WEB);
    let token = w.demo_token().await;
    let stacks = w.serve.url(&format!("/v1/{project}/stacks"));
    signalled_stack(&w, &project, &web, &stacks, &token).await;
    eprintln!("openstack CLI signal test: {:?}", started.elapsed());
}

#[tokio::test]
async fn the_openstack_cli_creates_and_deletes_a_stack_with_wait_as_a_member() {
    let started = Instant::now();
    let w = world("cli-delete").await;
    let plain = w.template("plain.yaml", PLAIN);
    stack_that_is_deleted(&w, &plain).await;
    eprintln!("openstack CLI delete test: {:?}", started.elapsed());
}

/// create --wait with a signal during the wait, then everything a member reads.
async fn signalled_stack(w: &World, project: &str, template: &str, stacks: &str, t: &str) {
    // `stack create --wait` blocks until the wait condition is signalled.
    let mut create = w.command("openstack");
    create.args([
        "stack",
        "create",
        "--wait",
        "-t",
        template,
        "--parameter",
        "flavor=m1.small",
        "web",
    ]);
    let create = tokio::spawn(async move { create.output().await });

    // Meanwhile, as the instance would: the handle's curl_cli, read through
    // `stack resource show` once the handle exists, with a signal body appended.
    eventually("the handle", move || async move {
        let (_, list) = get(stacks, t).await;
        let id = list["stacks"]
            .as_array()?
            .iter()
            .find(|s| s["stack_name"] == "web")?["id"]
            .as_str()?
            .to_owned();
        let (_, r) = get(&format!("{stacks}/web/{id}/resources/handle"), t).await;
        (r["resource"]["resource_status"] == "CREATE_COMPLETE").then_some(())
    })
    .await;
    let handle = w
        .openstack_json(&["stack", "resource", "show", "web", "handle"])
        .await;
    assert_eq!(handle["resource_type"], "OS::Heat::WaitConditionHandle");
    assert_eq!(handle["required_by"], json!(["wait"]));
    let curl = handle["attributes"]["curl_cli"]
        .as_str()
        .unwrap()
        .to_owned();
    let endpoint = handle["attributes"]["endpoint"].as_str().unwrap();
    assert!(
        curl.starts_with("curl -i -X POST -H 'X-Auth-Token: "),
        "{curl}"
    );
    assert!(curl.ends_with(endpoint), "{curl}");
    assert!(
        endpoint.starts_with(&w.serve.url("/v1/")) && !endpoint.contains(project),
        "the endpoint is the stack domain project's path: {endpoint}"
    );
    let signal = Command::new("bash")
        .arg("-c")
        .arg(format!(
            r#"{curl} --silent --data-binary '{{"status": "SUCCESS", "reason": "booted", "data": "up", "id": "1"}}'"#
        ))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&signal.stdout);
    assert!(said.starts_with("HTTP/1.1 200"), "{said}");

    let created: Ran = tokio::time::timeout(Duration::from_secs(90), create)
        .await
        .expect("stack create --wait did not return")
        .unwrap()
        .unwrap()
        .into();
    assert!(created.ok, "{created:?}; log: {}", w.serve.log());
    for line in [
        "[web]: CREATE_IN_PROGRESS  Stack CREATE started",
        "[web.handle]: SIGNAL_COMPLETE",
        "[web.wait]: CREATE_COMPLETE",
        "[web]: CREATE_COMPLETE  Stack CREATE completed successfully",
    ] {
        assert!(
            created.stdout.contains(line),
            "no {line:?} in: {}",
            created.stdout
        );
    }
    assert!(
        created
            .stdout
            .lines()
            .any(|l| l.contains("stack_status ") && l.contains("CREATE_COMPLETE")),
        "{}",
        created.stdout
    );

    // Everything a member reads, all at once: stack list, stack show (by
    // name, through the lookup redirect), resource list, resource metadata,
    // event list.
    let (list, show, resources, handle_md, server_md, events) = tokio::join!(
        w.openstack_json(&["stack", "list"]),
        w.openstack_json(&["stack", "show", "web"]),
        w.openstack_json(&["stack", "resource", "list", "web"]),
        w.openstack_json(&["stack", "resource", "metadata", "web", "handle"]),
        w.openstack_json(&["stack", "resource", "metadata", "web", "server"]),
        w.openstack_json(&["stack", "event", "list", "web"]),
    );
    let row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Stack Name"] == "web")
        .unwrap_or_else(|| panic!("{list}"))
        .clone();
    assert_eq!(row["Stack Status"], "CREATE_COMPLETE");
    assert_eq!(row["Project"], project);
    let id = row["ID"].as_str().unwrap().to_owned();

    assert_eq!(show["id"], id.as_str());
    assert_eq!(show["stack_status"], "CREATE_COMPLETE");
    assert_eq!(
        show["stack_status_reason"],
        "Stack CREATE completed successfully"
    );
    assert_eq!(show["description"], "a server that signals when it is up");
    assert_eq!(show["stack_owner"], "demo");
    assert_eq!(show["parameters"]["flavor"], "m1.small");
    assert_eq!(show["parameters"]["OS::stack_name"], "web");
    assert_eq!(show["parameters"]["OS::stack_id"], id.as_str());
    assert!(show["stack_user_project_id"].is_string(), "{show}");
    let data: Value = serde_json::from_str(output(&show, "wait_data").as_str().unwrap()).unwrap();
    assert_eq!(data, json!({"1": "up"}));

    // The resources and their metadata.
    let mut seen: Vec<(String, String, String)> = resources
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["resource_name"].as_str().unwrap().to_owned(),
                r["resource_type"].as_str().unwrap().to_owned(),
                r["resource_status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    seen.sort();
    let complete = |n: &str, t: &str| (n.to_owned(), t.to_owned(), "CREATE_COMPLETE".to_owned());
    assert_eq!(
        seen,
        vec![
            complete("handle", "OS::Heat::WaitConditionHandle"),
            complete("server", "OS::Nova::Server"),
            complete("wait", "OS::Heat::WaitCondition"),
        ]
    );
    assert_eq!(
        handle_md,
        json!({"1": {"status": "SUCCESS", "reason": "booted", "data": "up"}})
    );
    assert_eq!(server_md["role"], "web");

    // The events: the whole story, oldest first.
    let story: Vec<String> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["resource_name"].as_str().unwrap(),
                e["resource_status"].as_str().unwrap()
            )
        })
        .collect();
    let at = |s: &str| {
        story
            .iter()
            .position(|x| x == s)
            .unwrap_or_else(|| panic!("no event {s:?} in {story:?}"))
    };
    assert_eq!(at("web CREATE_IN_PROGRESS"), 0);
    assert!(at("handle CREATE_COMPLETE") < at("wait CREATE_IN_PROGRESS"));
    assert!(at("handle SIGNAL_COMPLETE") < at("wait CREATE_COMPLETE"));
    assert_eq!(at("web CREATE_COMPLETE"), story.len() - 1);

    // What `openstack stack check web` sends: POST /stacks/web/actions, a
    // lookup redirected (302, the method kept by keystoneauth) to the stack.
    let r = http()
        .post(format!("{stacks}/web/actions"))
        .header("X-Auth-Token", t)
        .json(&json!({"check": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 302);
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        format!("{stacks}/web/{id}/actions")
    );
}

/// create --wait, show, delete --wait, and the stack is gone for every
/// command and its stack domain project from Keystone.
async fn stack_that_is_deleted(w: &World, template: &str) {
    let created = w
        .openstack(&["stack", "create", "--wait", "-t", template, "plain"])
        .await;
    assert!(created.ok, "{created:?}; log: {}", w.serve.log());
    assert!(
        created
            .stdout
            .contains("[plain]: CREATE_COMPLETE  Stack CREATE completed successfully"),
        "{}",
        created.stdout
    );
    let show = w.openstack_json(&["stack", "show", "plain"]).await;
    assert_eq!(show["stack_status"], "CREATE_COMPLETE");
    assert_eq!(show["description"], "completes by itself");
    assert_eq!(output(&show, "random").as_str().unwrap().len(), 12);
    let id = show["id"].as_str().unwrap().to_owned();
    let sdp = show["stack_user_project_id"].as_str().unwrap().to_owned();
    let project = format!("projects/{sdp}");
    let (status, _) = w
        .keystone
        .admin_json(http::Method::GET, &project, None)
        .await;
    assert_eq!(status, 200, "the stack domain project exists");

    let deleted = w
        .openstack(&["stack", "delete", "--yes", "--wait", "plain"])
        .await;
    assert!(deleted.ok, "{deleted:?}; log: {}", w.serve.log());
    assert!(
        deleted
            .stdout
            .contains("[plain]: DELETE_IN_PROGRESS  Stack DELETE started"),
        "{}",
        deleted.stdout
    );
    let (list, gone) = tokio::join!(
        w.openstack_json(&["stack", "list"]),
        w.openstack(&["stack", "show", "plain"]),
    );
    assert!(
        !list
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["ID"] == id.as_str()),
        "{list}"
    );
    assert!(!gone.ok);
    assert!(gone.stderr.contains("Stack not found: plain"), "{gone:?}");
    let (status, _) = w
        .keystone
        .admin_json(http::Method::GET, &project, None)
        .await;
    assert_eq!(status, 404, "the stack domain project is deleted");
}

// ---- the CFN API through heat-cfntools, boto 2.49 and botocore ---------------------

const TOOLS: &str = r#"{
  "AWSTemplateFormatVersion": "2010-09-09",
  "Description": "an instance configured with heat-cfntools",
  "Resources": {
    "Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"},
    "Wait": {"Type": "AWS::CloudFormation::WaitCondition",
             "Properties": {"Handle": {"Ref": "Handle"}, "Timeout": "120", "Count": "1"}},
    "Instance": {"Type": "OS::Nova::Server",
                 "Metadata": {"AWS::CloudFormation::Init": {"config": {"files": {
                     "/etc/motd": {"content": "hello from heat", "mode": "000644"}}}}},
                 "Properties": {"image": "cirros", "flavor": "m1.tiny"}},
    "Policy": {"Type": "OS::Heat::AccessPolicy",
               "Properties": {"AllowedResources": ["Instance"]}},
    "User": {"Type": "AWS::IAM::User", "Properties": {"Policies": [{"Ref": "Policy"}]}},
    "Key": {"Type": "AWS::IAM::AccessKey", "Properties": {"UserName": {"Ref": "User"}}}
  },
  "Outputs": {
    "SignalURL": {"Value": {"Ref": "Handle"}},
    "AccessKey": {"Value": {"Ref": "Key"}},
    "SecretKey": {"Value": {"Fn::GetAtt": ["Key", "SecretAccessKey"]}},
    "WaitData": {"Value": {"Fn::GetAtt": ["Wait", "Data"]}}
  }
}"#;

/// cfn-signal itself, run from the venv. It logs to /var/log/cfn-signal.log
/// through logging.basicConfig(filename=...): the log goes to stderr instead.
/// Always with -i: without it cfn-signal asks the Nova metadata service.
const CFN_SIGNAL: &str = r#"
import logging, runpy, sys, os
basic = logging.basicConfig
def to_stderr(**kw):
    kw.pop("filename", None)
    basic(**kw)
logging.basicConfig = to_stderr
script = os.path.join(os.path.dirname(sys.executable), "cfn-signal")
sys.argv = [script] + sys.argv[1:]
runpy.run_path(script, run_name="__main__")
"#;

/// What cfn-get-metadata does (heat_cfntools.cfntools.cfn_helper.Metadata.
/// remote_metadata: boto 2.49's CloudFormationConnection.describe_stack_resource,
/// SigV4, ContentType=JSON), with two shims for a machine that is not an
/// instance: the boto configuration cfn_helper forces (/var/lib/heat-cfntools/
/// cfn-boto-cfg, which names the endpoint) is a temporary file loaded before
/// cfn_helper is imported, and the port (from /var/lib/heat-cfntools/
/// cfn-metadata-server) is given. "sigv2" makes boto sign with its query
/// SignatureVersion 2 handler instead.
const GET_METADATA: &str = r#"
import json, os, sys, tempfile
host, port, stack, resource, access, secret, signing = sys.argv[1:8]
cfg = tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False)
cfg.write("[Boto]\ndebug = 0\nis_secure = 0\ncfn_region_name = heat\n"
          "cfn_region_endpoint = %s\n" % host)
cfg.close()
os.environ["BOTO_CONFIG"] = cfg.name
import boto  # reads BOTO_CONFIG now
from heat_cfntools.cfntools import cfn_helper
os.unlink(cfg.name)
cfn_helper.metadata_server_port = lambda *a, **k: int(port)
if signing == "sigv2":
    from boto.cloudformation import connection
    connection.CloudFormationConnection._required_auth_capability = lambda self: ["sign-v2"]
md = cfn_helper.Metadata(stack, resource, access_key=access, secret_key=secret)
try:
    print(json.dumps({"metadata": md.remote_metadata()}))
except boto.exception.BotoServerError as e:
    print(json.dumps({"status": e.status, "body": e.body.decode() if isinstance(e.body, bytes) else e.body}))
"#;

/// botocore's CloudFormation client (SigV4), ListStacks and DescribeStackResource.
const BOTOCORE: &str = r#"
import json, sys
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError
endpoint, access, secret, stack, resource = sys.argv[1:6]
client = botocore.session.get_session().create_client(
    "cloudformation", region_name="heat", endpoint_url=endpoint,
    aws_access_key_id=access, aws_secret_access_key=secret,
    config=Config(retries={"max_attempts": 1}))
out = {}
for name, call in (("list", lambda: client.list_stacks()),
                   ("resource", lambda: client.describe_stack_resource(
                       StackName=stack, LogicalResourceId=resource))):
    try:
        r = call()
        r.pop("ResponseMetadata", None)
        out[name] = r
    except ClientError as e:
        out[name] = {"error": e.response["Error"],
                     "status": e.response["ResponseMetadata"]["HTTPStatusCode"]}
print(json.dumps(out, default=str))
"#;

#[tokio::test]
async fn cfn_signal_cfn_get_metadata_and_botocore_work_against_the_cfn_api() {
    let started = Instant::now();
    let w = world("cfn").await;
    let project = w.demo().project_id.clone().unwrap();
    let template = w.template("tools.json", TOOLS);
    let created = w
        .openstack_json(&["stack", "create", "-t", &template, "tools"])
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let path = w.serve.url(&format!("/v1/{project}/stacks/tools/{id}"));
    let token = w.demo_token().await;

    // The outputs are there once the handle and the access key exist.
    let (p, t) = (&path, &token);
    let stack = eventually("the handle URL and the access key", move || async move {
        let (status, v) = get(p, t).await;
        assert_eq!(status, 200, "{v}");
        let outputs = v["stack"]["outputs"].as_array()?;
        let ready = |k: &str| {
            outputs
                .iter()
                .any(|o| o["output_key"] == k && o["output_value"].is_string())
        };
        (ready("SignalURL") && ready("AccessKey") && ready("SecretKey"))
            .then_some(v["stack"].clone())
    })
    .await;
    let url = output(&stack, "SignalURL").as_str().unwrap().to_owned();
    let access = output(&stack, "AccessKey").as_str().unwrap().to_owned();
    let secret = output(&stack, "SecretKey").as_str().unwrap().to_owned();
    assert!(
        url.starts_with(&format!(
            "http://{}/v1/waitcondition/arn%3Aopenstack%3Aheat%3A%3A{project}%3Astacks/tools/{id}/resources/Handle?",
            w.serve.cfn()
        )),
        "{url}"
    );

    // cfn-signal with a tampered signature: curl gets 403 (cfn-signal still
    // exits 0, it only reports curl's status), nothing is recorded.
    let forged = url.replace("Signature=", "Signature=x");
    let r = w
        .python(CFN_SIGNAL, &["-i", "forged", "-d", "no", &forged])
        .await;
    assert!(r.ok, "{r:?}");
    // cfn-signal on the pre-signed URL, as the instance does.
    let r = w
        .python(
            CFN_SIGNAL,
            &["-i", "web1", "-r", "all good", "-d", "configured", &url],
        )
        .await;
    assert!(r.ok, "{r:?}; log: {}", w.serve.log());
    let wr = &w;
    eventually("CREATE_COMPLETE", move || async move {
        let (_, v) = get(p, t).await;
        let st = v["stack"]["stack_status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(!st.ends_with("FAILED"), "{v}; log: {}", wr.serve.log());
        (st == "CREATE_COMPLETE").then_some(())
    })
    .await;
    let host = w.serve.cfn().ip().to_string();
    let port = w.serve.cfn().port().to_string();
    let endpoint = format!("http://{}/v1", w.serve.cfn());
    let get_metadata = |resource: &'static str, signing: &'static str| {
        let args = [
            host.clone(),
            port.clone(),
            "tools".to_owned(),
            resource.to_owned(),
            access.clone(),
            secret.clone(),
            signing.to_owned(),
        ];
        let w = &w;
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            w.python(GET_METADATA, &args).await
        }
    };
    // The clients side by side (each is a Python process that mostly starts up).
    let (md, data, sigv4, sigv2, refused, ec2) = tokio::join!(
        w.openstack_json(&["stack", "resource", "metadata", "tools", "Handle"]),
        w.openstack_json(&["stack", "output", "show", "tools", "WaitData"]),
        get_metadata("Instance", "sigv4"),
        get_metadata("Instance", "sigv2"),
        get_metadata("Handle", "sigv4"),
        w.openstack_json(&["ec2", "credentials", "create"]),
    );
    // Only the genuine signal, under its UniqueId (Heat keeps Status, Reason
    // and Data there).
    assert_eq!(
        md.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["web1"],
        "{md}"
    );
    // Heat pops UniqueId from the entry: it is the key, not a field.
    assert_eq!(
        md["web1"],
        json!({"Status": "SUCCESS", "Reason": "all good", "Data": "configured"})
    );
    let data: Value = serde_json::from_str(data["output_value"].as_str().unwrap()).unwrap();
    assert_eq!(data, json!({"web1": "configured"}));

    // cfn-get-metadata's call with the IAM access key: the resource its
    // AccessPolicy allows, in both signature versions; any other is refused.
    let init = json!({"config": {"files": {"/etc/motd": {"content": "hello from heat", "mode": "000644"}}}});
    for (signing, r) in [("sigv4", sigv4), ("sigv2", sigv2)] {
        assert!(r.ok, "{signing}: {r:?}; log: {}", w.serve.log());
        let v = r.json();
        assert_eq!(
            v["metadata"]["AWS::CloudFormation::Init"], init,
            "{signing}: {v}"
        );
    }
    let v = refused.json();
    assert_eq!(v["status"], 403, "{v}");
    let body: Value = serde_json::from_str(v["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["ErrorResponse"]["Error"]["Code"], "AccessDenied");

    // botocore, as the stack owner with EC2 credentials the CLI made, and
    // with the stack's IAM key.
    let as_owner = [
        endpoint.as_str(),
        ec2["access"].as_str().unwrap(),
        ec2["secret"].as_str().unwrap(),
        "tools",
        "Instance",
    ];
    let as_key = [
        endpoint.as_str(),
        access.as_str(),
        secret.as_str(),
        "tools",
        "Instance",
    ];
    let (r, by_key) = tokio::join!(w.python(BOTOCORE, &as_owner), w.python(BOTOCORE, &as_key));
    assert!(r.ok, "{r:?}");
    let v = r.json();
    let summaries = v["list"]["StackSummaries"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"));
    let arn = format!("arn:openstack:heat::{project}:stacks/tools/{id}");
    let summary = summaries
        .iter()
        .find(|s| s["StackId"] == arn.as_str())
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(summary["StackName"], "tools");
    assert_eq!(summary["StackStatus"], "CREATE_COMPLETE");
    // Heat lists stacks without loading their templates: no description.
    assert!(summary.get("TemplateDescription").is_none(), "{summary}");
    let detail = &v["resource"]["StackResourceDetail"];
    assert_eq!(detail["StackId"], arn.as_str());
    assert_eq!(detail["LogicalResourceId"], "Instance");
    assert_eq!(detail["ResourceType"], "OS::Nova::Server");
    assert_eq!(detail["ResourceStatus"], "CREATE_COMPLETE");
    let md: Value = serde_json::from_str(detail["Metadata"].as_str().unwrap()).unwrap();
    assert_eq!(md["AWS::CloudFormation::Init"], init);

    // botocore with the stack's IAM key: its resource yes, the list no.
    let r = by_key;
    let v = r.json();
    assert_eq!(v["list"]["status"], 403, "{v}");
    assert_eq!(v["list"]["error"]["Code"], "AccessDenied");
    assert_eq!(
        v["resource"]["StackResourceDetail"]["LogicalResourceId"],
        "Instance"
    );
    eprintln!("cfn clients test: {:?}", started.elapsed());
}
