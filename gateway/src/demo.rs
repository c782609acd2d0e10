//! `heatgate demo`: the whole story on a local Keystone, with real HTTP calls.
//!
//! It installs and starts a Keystone through `scripts/keystone` (which
//! bootstraps the Heat fixtures as devstack does: the `heat` stack user domain
//! and its admin, the heat service user, `demo` with the member role only),
//! starts `heatgate serve` against it, and walks through the auth model:
//! the owner creates a stack whose resources need stack domain users; the
//! per-stack project and its users appear in Keystone; the pre-signed URL is
//! signalled as cfn-signal does; metadata is read through both paths; a
//! stack user of another stack is refused; the auditor lists what
//! `heat_stack_user` may do; deleting the stacks leaves nothing in Keystone.
//! Each step is printed; a summary table closes the run; the exit code is 1
//! if any step failed.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use heatgate_policy::heat::{self, Profile};
use heatgate_policy::{Credentials, Target};
use serde_json::{json, Value};

/// Arguments of `heatgate demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// The heatgate source tree (where `scripts/keystone` is); found from the
    /// current directory or the binary's location when not given.
    #[arg(long)]
    pub source: Option<PathBuf>,
}

const STORY: &str = r#"heat_template_version: 2018-08-31
description: a server that reports back through a wait condition
resources:
  handle:
    type: OS::Heat::WaitConditionHandle
  wait:
    type: OS::Heat::WaitCondition
    properties:
      handle: {get_resource: handle}
      timeout: 300
  cfn_handle:
    type: AWS::CloudFormation::WaitConditionHandle
  cfn_wait:
    type: AWS::CloudFormation::WaitCondition
    properties:
      Handle: {get_resource: cfn_handle}
      Timeout: 300
  server:
    type: OS::Nova::Server
    metadata:
      config: {files: {/etc/motd: {content: "hello from heat"}}}
    properties:
      image: cirros
      flavor: m1.tiny
  policy:
    type: OS::Heat::AccessPolicy
    properties:
      AllowedResources: [server]
  agent:
    type: AWS::IAM::User
    properties:
      Policies: [{get_resource: policy}]
  agent_key:
    type: AWS::IAM::AccessKey
    properties:
      UserName: {get_resource: agent}
outputs:
  wait_condition_url:
    value: {get_resource: cfn_handle}
  agent_access_key:
    value: {get_resource: agent_key}
  agent_secret_key:
    value: {get_attr: [agent_key, SecretAccessKey]}
"#;

struct Steps {
    results: Vec<(bool, String, String)>,
}

impl Steps {
    fn check(&mut self, name: &str, ok: bool, detail: impl Into<String>) -> bool {
        let detail = detail.into();
        if ok {
            println!("   ok: {name} -> {detail}");
        } else {
            println!("   FAILED: {name}: {detail}");
        }
        self.results.push((ok, name.to_owned(), detail));
        ok
    }

    fn status(&mut self, name: &str, want: u16, got: u16) -> bool {
        self.check(name, want == got, format!("{got}"))
    }
}

fn find_source(given: Option<PathBuf>) -> Option<PathBuf> {
    if let Some(g) = given {
        return g.join("scripts/keystone").exists().then_some(g);
    }
    let mut starts = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        starts.push(cwd);
    }
    if let Ok(exe) = std::env::current_exe() {
        starts.push(exe);
    }
    for start in starts {
        let mut dir: Option<&Path> = Some(start.as_path());
        while let Some(d) = dir {
            if d.join("scripts/keystone").is_file() {
                return Some(d.to_path_buf());
            }
            dir = d.parent();
        }
    }
    None
}

struct Running {
    children: Vec<Child>,
    keystone: Option<(PathBuf, PathBuf)>,
    work: PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some((script, dir)) = &self.keystone {
            let _ = Command::new(script)
                .arg("destroy")
                .arg(dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.work);
    }
}

/// `heatgate demo`.
pub fn run_demo(args: DemoArgs) -> ExitCode {
    let Some(source) = find_source(args.source) else {
        eprintln!("heatgate: demo needs the heatgate source tree (scripts/keystone); run it from there or pass --source DIR");
        return ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("heatgate: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(demo(&source)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("heatgate: demo could not run: {e}");
            ExitCode::FAILURE
        }
    }
}

fn fixture<'a>(f: &'a Value, path: &[&str]) -> Result<&'a str, String> {
    let mut v = f;
    for p in path {
        v = &v[*p];
    }
    v.as_str()
        .ok_or_else(|| format!("fixtures.json has no {}", path.join(".")))
}

async fn demo(source: &Path) -> Result<bool, String> {
    let script = source.join("scripts/keystone");
    let work = std::env::temp_dir().join(format!("heatgate-demo-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let mut running = Running {
        children: Vec::new(),
        keystone: None,
        work: work.clone(),
    };

    println!(
        "== preparing: a real Keystone on loopback (the first run installs it, about 2 minutes)"
    );
    let ok = Command::new(&script)
        .arg("install")
        .status()
        .map_err(|e| format!("scripts/keystone install: {e}"))?;
    if !ok.success() {
        return Err("scripts/keystone install failed".into());
    }
    let out = Command::new(&script)
        .args(["start", &format!("demo-{}", std::process::id())])
        .args(["--owner-pid", &std::process::id().to_string()])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("scripts/keystone start: {e}"))?;
    if !out.status.success() {
        return Err("scripts/keystone start failed".into());
    }
    let kdir = PathBuf::from(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .trim(),
    );
    running.keystone = Some((script.clone(), kdir.clone()));
    let fx: Value = serde_json::from_str(
        &std::fs::read_to_string(kdir.join("fixtures.json")).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let auth_url = fixture(&fx, &["auth_url"])?.to_owned();

    let pw = |name: &str, value: &str| -> Result<PathBuf, String> {
        let p = work.join(name);
        std::fs::write(&p, value).map_err(|e| e.to_string())?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600));
        }
        Ok(p)
    };
    let heat_pw = pw("heat-password", fixture(&fx, &["heat", "password"])?)?;
    let admin_pw = pw(
        "domain-admin-password",
        fixture(&fx, &["heat_domain_admin", "password"])?,
    )?;
    let mut key = [0u8; 24];
    getrandom::getrandom(&mut key).map_err(|e| e.to_string())?;
    let key_file = pw("auth-encryption-key", &hex::encode(key))?;
    let config = format!(
        r#"[keystone_authtoken]
auth_url = "{auth_url}"
username = "{heat}"
password_file = "{heat_pw}"
project_name = "service"
user_domain_id = "default"
project_domain_id = "default"

[heat]
stack_user_domain_id = "{domain}"
stack_domain_admin = "{dadmin}"
stack_domain_admin_password_file = "{admin_pw}"
auth_encryption_key_file = "{key_file}"

[engine]
data_dir = "{data}"
"#,
        heat = fixture(&fx, &["heat", "username"])?,
        heat_pw = heat_pw.display(),
        domain = fixture(&fx, &["heat_domain_id"])?,
        dadmin = fixture(&fx, &["heat_domain_admin", "username"])?,
        admin_pw = admin_pw.display(),
        key_file = key_file.display(),
        data = work.join("data").display(),
    );
    let config_file = work.join("heatgate.toml");
    std::fs::write(&config_file, config).map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let log = std::fs::File::create(work.join("serve.log")).map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--cfn-listen",
            "127.0.0.1:0",
        ])
        .arg("--config")
        .arg(&config_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .map_err(|e| format!("heatgate serve: {e}"))?;
    let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
    running.children.push(child);
    let mut addr = |prefix: &str| -> Result<String, String> {
        let line = lines
            .next()
            .and_then(Result::ok)
            .ok_or("heatgate serve stopped; see its log")?;
        line.strip_prefix(prefix)
            .map(str::to_owned)
            .ok_or_else(|| format!("unexpected line from serve: {line}"))
    };
    let rest = addr("listening on http://")?;
    let cfn = addr("cfn listening on http://")?;
    println!("== Keystone {auth_url}; heatgate serve: REST http://{rest}, CFN http://{cfn}");

    let story = Story {
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?,
        auth_url,
        rest,
        cfn,
        fx,
    };
    let mut steps = Steps {
        results: Vec::new(),
    };
    if let Err(e) = story.walk(&mut steps).await {
        steps.check("the walk-through", false, e);
    }
    println!("\n== summary");
    println!("{:<6} {:<70} result", "", "step");
    for (ok, name, detail) in &steps.results {
        let mark = if *ok { "PASS" } else { "FAIL" };
        let detail: String = detail.chars().take(50).collect();
        println!("{mark:<6} {name:<70} {detail}");
    }
    let failed = steps.results.iter().filter(|r| !r.0).count();
    println!(
        "{} of {} steps passed",
        steps.results.len() - failed,
        steps.results.len()
    );
    let _ = std::io::stdout().flush();
    Ok(failed == 0)
}

struct Story {
    http: reqwest::Client,
    auth_url: String,
    rest: String,
    cfn: String,
    fx: Value,
}

struct Created {
    project: String,
    name: String,
    id: String,
    sdp: String,
    handle_token: String,
    handle_endpoint: String,
    outputs: Vec<Value>,
}

impl Created {
    fn path(&self, tenant: &str, rest: &str) -> String {
        format!("/v1/{tenant}/stacks/{}/{}{rest}", self.name, self.id)
    }
    fn output(&self, key: &str) -> String {
        self.outputs
            .iter()
            .find(|o| o["output_key"] == key)
            .and_then(|o| o["output_value"].as_str())
            .unwrap_or_default()
            .to_owned()
    }
}

impl Story {
    async fn token(&self, user: &str) -> Result<String, String> {
        let u = &self.fx[user];
        let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "id": u["user_id"], "password": u["password"]}}},
            "scope": {"project": {"id": u["project_id"]}}}});
        let r = self
            .http
            .post(format!(
                "{}/auth/tokens",
                self.auth_url.trim_end_matches('/')
            ))
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        r.headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| format!("Keystone refused {user}: {}", r.status()))
    }

    async fn admin_token(&self) -> Result<String, String> {
        let a = &self.fx["admin"];
        let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "id": a["user_id"], "password": a["password"]}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}});
        let r = self
            .http
            .post(format!(
                "{}/auth/tokens",
                self.auth_url.trim_end_matches('/')
            ))
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        r.headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| "Keystone refused the admin".to_owned())
    }

    async fn call(
        &self,
        method: reqwest::Method,
        url: &str,
        token: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value, reqwest::header::HeaderMap), String> {
        let mut b = self.http.request(method, url).header("X-Auth-Token", token);
        if let Some(body) = body {
            b = b.json(&body);
        }
        let r = b.send().await.map_err(|e| e.to_string())?;
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.map_err(|e| e.to_string())?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
            headers,
        ))
    }

    async fn get(&self, url: &str, token: &str) -> Result<(u16, Value), String> {
        let (s, v, _) = self.call(reqwest::Method::GET, url, token, None).await?;
        Ok((s, v))
    }

    async fn keystone_list(&self, what: &str) -> Result<Vec<Value>, String> {
        let admin = self.admin_token().await?;
        let r = self
            .http
            .get(format!("{}/{what}", self.auth_url.trim_end_matches('/')))
            .query(&[(
                "domain_id",
                self.fx["heat_domain_id"].as_str().unwrap_or_default(),
            )])
            .header("X-Auth-Token", admin)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let v: Value = r.json().await.map_err(|e| e.to_string())?;
        Ok(v[what].as_array().cloned().unwrap_or_default())
    }

    async fn wait_for(
        &self,
        path: &str,
        token: &str,
        field: &str,
        want: &str,
    ) -> Result<Value, String> {
        let started = Instant::now();
        loop {
            let (status, v) = self
                .get(&format!("http://{}{path}", self.rest), token)
                .await?;
            let got = v.pointer(field).and_then(Value::as_str).unwrap_or_default();
            if status == 200 && got == want {
                return Ok(v);
            }
            if got.ends_with("FAILED") || started.elapsed() > Duration::from_secs(60) {
                return Err(format!("{path}: {status} {got}"));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn create(&self, steps: &mut Steps, user: &str, name: &str) -> Result<Created, String> {
        let token = self.token(user).await?;
        let project = self.fx[user]["project_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let (status, v, headers) = self
            .call(
                reqwest::Method::POST,
                &format!("http://{}/v1/{project}/stacks", self.rest),
                &token,
                Some(json!({"stack_name": name, "template": STORY})),
            )
            .await?;
        steps.status(
            &format!("{user} (member only) creates stack {name}: 201"),
            201,
            status,
        );
        let id = v["stack"]["id"].as_str().ok_or("no stack id")?.to_owned();
        println!(
            "   Location: {}",
            headers
                .get("location")
                .and_then(|l| l.to_str().ok())
                .unwrap_or_default()
        );
        let mut c = Created {
            project: project.clone(),
            name: name.to_owned(),
            id,
            sdp: String::new(),
            handle_token: String::new(),
            handle_endpoint: String::new(),
            outputs: Vec::new(),
        };
        let handle = self
            .wait_for(
                &c.path(&project, "/resources/handle"),
                &token,
                "/resource/resource_status",
                "CREATE_COMPLETE",
            )
            .await?;
        c.handle_token = handle["resource"]["attributes"]["token"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        c.handle_endpoint = handle["resource"]["attributes"]["endpoint"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        for resource in ["cfn_handle", "agent_key"] {
            self.wait_for(
                &c.path(&project, &format!("/resources/{resource}")),
                &token,
                "/resource/resource_status",
                "CREATE_COMPLETE",
            )
            .await?;
        }
        let (_, shown) = self
            .get(
                &format!("http://{}{}", self.rest, c.path(&project, "")),
                &token,
            )
            .await?;
        c.sdp = shown["stack"]["stack_user_project_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        c.outputs = shown["stack"]["outputs"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        Ok(c)
    }

    async fn walk(&self, steps: &mut Steps) -> Result<(), String> {
        println!(
            "\n1. The stack owner (role member only) creates a stack that needs stack domain users"
        );
        let owner = self.token("demo").await?;
        let st = self.create(steps, "demo", "demo_story").await?;

        println!("\n2. Heat's engine made one project for the stack in the stack user domain, and its users");
        let projects = self.keystone_list("projects").await?;
        let project = projects.iter().find(|p| p["id"] == st.sdp.as_str());
        steps.check(
            "stack domain project \"<owner>-<stack id>\" exists in Keystone",
            project.is_some(),
            project
                .and_then(|p| p["name"].as_str())
                .unwrap_or("missing")
                .to_owned(),
        );
        let users: Vec<String> = self
            .keystone_list("users")
            .await?
            .iter()
            .filter(|u| u["default_project_id"] == st.sdp.as_str())
            .filter_map(|u| u["name"].as_str().map(str::to_owned))
            .collect();
        for u in &users {
            println!("   stack user: {u}");
        }
        steps.check(
            "four stack users with role heat_stack_user",
            users.len() == 4,
            format!("{} users", users.len()),
        );

        println!("\n3. Inside the instance: the pre-signed URL is signalled as cfn-signal does (PUT, SigV2)");
        let url = st.output("wait_condition_url");
        println!("   {}", url.split('?').next().unwrap_or_default());
        let r = self
            .http
            .put(&url)
            .header("Content-Type", "application/json")
            .body(r#"{"Status": "SUCCESS", "Reason": "configured", "UniqueId": "1", "Data": "hello"}"#)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        steps.status(
            "cfn-signal PUT to the pre-signed URL: 200",
            200,
            r.status().as_u16(),
        );
        println!("   and the token handle is signalled with its stack user's token (REST, stack domain path)");
        let (status, _, _) = self
            .call(
                reqwest::Method::POST,
                &st.handle_endpoint,
                &st.handle_token,
                Some(json!({"status": "SUCCESS", "reason": "booted", "data": "ready"})),
            )
            .await?;
        steps.status(
            "handle signal with the stack user's token: 200",
            200,
            status,
        );
        let done = self
            .wait_for(
                &st.path(&st.project, ""),
                &owner,
                "/stack/stack_status",
                "CREATE_COMPLETE",
            )
            .await;
        steps.check(
            "the wait conditions complete: CREATE_COMPLETE",
            done.is_ok(),
            done.map(|_| "CREATE_COMPLETE".to_owned())
                .unwrap_or_else(|e| e),
        );

        println!("\n4. Metadata through both paths");
        let (status, md) = self
            .get(
                &format!(
                    "http://{}{}",
                    self.rest,
                    st.path(&st.project, "/resources/server/metadata")
                ),
                &owner,
            )
            .await?;
        steps.status(
            "owner path: GET .../resources/server/metadata: 200",
            200,
            status,
        );
        println!("   {}", md["metadata"]["config"]);
        let access = st.output("agent_access_key");
        let secret = st.output("agent_secret_key");
        let describe = |resource: &str| {
            signed_get(
                &self.cfn,
                &access,
                &secret,
                &[
                    ("Action", "DescribeStackResource"),
                    ("StackName", &st.name),
                    ("LogicalResourceId", resource),
                    ("Version", "2010-05-15"),
                ],
            )
        };
        let r = self
            .http
            .get(describe("server")?)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        steps.status(
            "stack domain path: the agent's EC2 key, CFN DescribeStackResource server: 200",
            200,
            r.status().as_u16(),
        );
        let r = self
            .http
            .get(describe("handle")?)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        steps.status(
            "the same key for a resource outside its AccessPolicy: 403",
            403,
            r.status().as_u16(),
        );
        let (status, _) = self
            .get(
                &format!(
                    "http://{}{}",
                    self.rest,
                    st.path(&st.sdp, "/resources/server/metadata")
                ),
                &st.handle_token,
            )
            .await?;
        steps.status(
            "a wait-condition handle's user reads no metadata: 403",
            403,
            status,
        );
        let (status, _, headers) = self
            .call(
                reqwest::Method::GET,
                &format!("http://{}/v1/{}/stacks/{}", self.rest, st.sdp, st.name),
                &st.handle_token,
                None,
            )
            .await?;
        steps.status(
            "lookup through the stack domain project: 302 to the owner's path",
            302,
            status,
        );
        println!(
            "   Location: {}",
            headers
                .get("location")
                .and_then(|l| l.to_str().ok())
                .unwrap_or_default()
        );

        println!("\n5. A stack user of another stack is refused");
        let other = self.create(steps, "demo", "other_story").await?;
        let (status, _, _) = self
            .call(
                reqwest::Method::POST,
                &format!(
                    "http://{}{}",
                    self.rest,
                    st.path(&other.sdp, "/resources/handle/signal")
                ),
                &other.handle_token,
                None,
            )
            .await?;
        steps.status("with its own project in the URL: 404", 404, status);
        let (status, _, _) = self
            .call(
                reqwest::Method::POST,
                &st.handle_endpoint,
                &other.handle_token,
                None,
            )
            .await?;
        steps.status(
            "with the other stack's project in the URL: 403",
            403,
            status,
        );

        println!("\n6. The auditor: what heat_stack_user may do under Heat's defaults");
        let allowed = stack_user_rules();
        for rule in &allowed {
            println!("   allowed: {rule}");
        }
        steps.check(
            "heat_stack_user may signal and read metadata, nothing else of stacks",
            allowed.iter().any(|r| r == "resource:signal")
                && allowed.iter().any(|r| r == "resource:metadata")
                && !allowed
                    .iter()
                    .any(|r| r == "stacks:show" || r == "stacks:create"),
            format!("{} rules", allowed.len()),
        );

        println!("\n7. Deleting the stacks removes their users, keypairs, projects and trusts");
        for s in [&st, &other] {
            let (status, _, _) = self
                .call(
                    reqwest::Method::DELETE,
                    &format!("http://{}{}", self.rest, s.path(&s.project, "")),
                    &owner,
                    None,
                )
                .await?;
            steps.status(&format!("DELETE {}: 204", s.name), 204, status);
        }
        let started = Instant::now();
        loop {
            let (status, _) = self
                .get(
                    &format!("http://{}{}", self.rest, other.path(&other.project, "")),
                    &owner,
                )
                .await?;
            let (status2, _) = self
                .get(
                    &format!("http://{}{}", self.rest, st.path(&st.project, "")),
                    &owner,
                )
                .await?;
            if (status, status2) == (404, 404) || started.elapsed() > Duration::from_secs(60) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let projects = self.keystone_list("projects").await?;
        let left = projects
            .iter()
            .filter(|p| p["id"] == st.sdp.as_str() || p["id"] == other.sdp.as_str())
            .count();
        let users = self
            .keystone_list("users")
            .await?
            .iter()
            .filter(|u| {
                u["default_project_id"] == st.sdp.as_str()
                    || u["default_project_id"] == other.sdp.as_str()
            })
            .count();
        steps.check(
            "no stack project or stack user left in Keystone",
            left == 0 && users == 0,
            format!("{left} projects, {users} users left"),
        );
        Ok(())
    }
}

/// The rules of Heat's defaults that a project-scoped `heat_stack_user` passes
/// on its own project.
fn stack_user_rules() -> Vec<String> {
    let enforcer = heat::enforcer(Profile::Modern, false);
    let creds: Credentials = Credentials::builder()
        .user_id("stack-user")
        .project_id("p")
        .roles(["heat_stack_user"])
        .build();
    let target = Target::new().with("project_id", "p");
    let mut out: Vec<String> = enforcer
        .rule_names()
        .filter(|r| r.contains(':') && !r.starts_with("context_is_admin"))
        .filter(|r| enforcer.enforce(r, &target, &creds).unwrap_or(false))
        .map(str::to_owned)
        .collect();
    out.sort();
    out
}

/// A SigV2 signed CFN GET URL (as boto 2 sends them).
fn signed_get(
    cfn: &str,
    access: &str,
    secret: &str,
    params: &[(&str, &str)],
) -> Result<String, String> {
    let ts = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .map_err(|e| e.to_string())?;
    let query = heatgate_middleware::ec2token::signature::sigv2_query(
        "GET",
        cfn,
        "/v1/",
        access,
        secret.as_bytes(),
        params,
        Some(&ts),
    )
    .map_err(|e| e.to_string())?;
    Ok(format!("http://{cfn}/v1/?{query}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_auditor_step_lists_what_a_stack_user_may_do() {
        let rules = stack_user_rules();
        assert!(rules.iter().any(|r| r == "resource:signal"), "{rules:?}");
        assert!(rules.iter().any(|r| r == "resource:metadata"), "{rules:?}");
        assert!(!rules.iter().any(|r| r == "stacks:index"), "{rules:?}");
    }

    #[test]
    fn the_story_template_is_valid() {
        let t = heatgate_engine::template::parse(STORY).unwrap();
        t.validate().unwrap();
    }
}
