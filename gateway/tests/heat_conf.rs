//! `heatgate serve --heat-conf` and `heatgate proxy --heat-conf` as processes:
//! a devstack-style heat.conf against the real Keystone, warnings for the
//! keys heatgate does not use, and exit 2 with one line for a value that does
//! not fit.

use std::io::Read;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use heatgate_tests::process::Process;
use heatgate_tests::Keystone;

const KEY: &str = "0123456789abcdef0123456789abcdef";

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "heatgate-heat-conf-test-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A heat.conf as devstack writes it, pointing at the test Keystone.
fn devstack_heat_conf(keystone: &Keystone, dir: &Path) -> String {
    let f = &keystone.fixtures;
    format!(
        "[DEFAULT]
debug = True
transport_url = rabbit://stackrabbit:rabbitpw@127.0.0.1:5672/
region_name_for_services = RegionOne
heat_metadata_server_url = http://127.0.0.1:8000
heat_waitcondition_server_url = http://127.0.0.1:8000/v1/waitcondition
stack_domain_admin = {dadmin}
stack_domain_admin_password = {dadmin_pw}
stack_user_domain_id = {domain}
auth_encryption_key = {KEY}
deferred_auth_method = trusts

[database]
connection = sqlite:///{dir}/heat.sqlite

[keystone_authtoken]
memcached_servers = localhost:11211
project_domain_name = Default
project_name = service
user_domain_name = Default
password = {heat_pw}
username = {heat}
auth_url = {auth_url}
auth_type = password
http_connect_timeout = 20

[trustee]
password = {heat_pw}
username = {heat}
user_domain_name = Default
auth_url = {auth_url}
auth_type = password

[clients_keystone]
auth_uri = {auth_url}

[ec2authtoken]
auth_uri = {ec2_url}

[oslo_messaging_notifications]
driver = messagingv2
",
        dadmin = f.heat_domain_admin.username,
        dadmin_pw = f.heat_domain_admin.password,
        domain = f.heat_domain_id,
        dir = dir.display(),
        heat_pw = f.heat.password,
        heat = f.heat.username,
        // devstack names the identity service without its version.
        auth_url = keystone.auth_url().as_str().trim_end_matches("/v3"),
        ec2_url = keystone.auth_url(),
    )
}

struct Serve {
    process: Process,
}

impl Serve {
    fn rest(&self) -> SocketAddr {
        self.process.addrs[0]
    }
}

fn start(args: &[&std::ffi::OsStr]) -> Result<Serve, String> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_heatgate"));
    command
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--cfn-listen",
            "127.0.0.1:0",
        ])
        .args(args)
        .env("RUST_LOG", "info");
    let process = Process::start(command, &["listening on http://"])?;
    Ok(Serve { process })
}

/// Runs heatgate to its end: (exit code, stderr).
fn run(args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_heatgate"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start heatgate");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (child.wait().unwrap().code(), stderr)
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

#[tokio::test]
async fn a_devstack_heat_conf_serves_stacks_and_warns_about_what_it_does_not_use() {
    let keystone = Keystone::shared();
    let dir = scratch("devstack");
    let heat_conf = dir.join("heat.conf");
    let text = devstack_heat_conf(keystone, &dir);
    std::fs::write(&heat_conf, &text).unwrap();
    let s = start(&[os("--heat-conf"), heat_conf.as_os_str()]).unwrap();

    let demo = &keystone.fixtures.demo;
    let token = keystone.token(&demo.project_auth()).await;
    let project = demo.project_id.clone().unwrap();
    let response = reqwest::Client::new()
        .get(format!("http://{}/v1/{project}/stacks", s.rest()))
        .header("X-Auth-Token", token.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["stacks"].is_array(), "{body}");
    assert!(
        dir.join("heat.sqlite").exists(),
        "[database] connection names the engine's SQLite file"
    );

    // A handle makes a stack domain project and user: the heat.conf's stack
    // domain admin, service user (trustee) and encryption key at work.
    let stacks = format!("http://{}/v1/{project}/stacks", s.rest());
    let template = "heat_template_version: 2018-08-31\nresources:\n  handle:\n    type: OS::Heat::WaitConditionHandle\n";
    let http = reqwest::Client::new();
    let response = http
        .post(&stacks)
        .header("X-Auth-Token", token.expose())
        .json(&serde_json::json!({"stack_name": "from-heat-conf", "template": template}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", s.process.log());
    let id = response.json::<serde_json::Value>().await.unwrap()["stack"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let stack = format!("{stacks}/from-heat-conf/{id}");
    let status_of = |http: reqwest::Client, url: String| {
        let token = token.expose().to_owned();
        async move {
            let r = http
                .get(url)
                .header("X-Auth-Token", token)
                .send()
                .await
                .unwrap();
            let code = r.status().as_u16();
            let v: serde_json::Value = r.json().await.unwrap_or_default();
            (
                code,
                v["stack"]["stack_status"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        }
    };
    let started = Instant::now();
    loop {
        let (code, status) = status_of(http.clone(), stack.clone()).await;
        assert_eq!(code, 200);
        if status == "CREATE_COMPLETE" {
            break;
        }
        assert!(
            status == "CREATE_IN_PROGRESS" && started.elapsed() < Duration::from_secs(60),
            "stack {status}; log: {}",
            s.process.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deleted = http
        .delete(&stack)
        .header("X-Auth-Token", token.expose())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(deleted, 204);
    let started = Instant::now();
    while status_of(http.clone(), stack.clone()).await.0 != 404 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "stack not deleted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let log = s.process.log();
    let file = heat_conf.display().to_string();
    let line_of = |needle: &str| {
        text.lines()
            .position(|l| l.starts_with(needle))
            .map(|i| i + 1)
            .unwrap()
    };
    for (section, key) in [
        ("DEFAULT", "transport_url"),
        ("DEFAULT", "debug"),
        ("keystone_authtoken", "memcached_servers"),
        ("clients_keystone", "auth_uri"),
        ("oslo_messaging_notifications", "driver"),
    ] {
        let line = line_of(&format!("{key} ="));
        let want = format!("{file}:{line}: [{section}] {key}: ");
        assert!(
            log.lines().any(|l| l.contains("WARN") && l.contains(&want)),
            "no warning {want:?} in {log}"
        );
    }
    assert!(
        log.contains("[trustee] username: trusts are delegated"),
        "{log}"
    );
    for secret in [
        keystone.fixtures.heat.password.as_str(),
        keystone.fixtures.heat_domain_admin.password.as_str(),
        KEY,
        "rabbitpw",
    ] {
        assert!(!log.contains(secret), "a secret in the log: {log}");
    }
}

#[tokio::test]
async fn the_toml_file_and_the_environment_override_the_heat_conf() {
    let keystone = Keystone::shared();
    let dir = scratch("layers");
    let heat_conf = dir.join("heat.conf");
    // A wrong service password in heat.conf, the right one in a file named
    // by the TOML: the TOML wins, so tokens validate.
    let text = devstack_heat_conf(keystone, &dir).replace(
        &format!("password = {}\nusername", keystone.fixtures.heat.password),
        "password = wrong\nusername",
    );
    std::fs::write(&heat_conf, text).unwrap();
    std::fs::write(dir.join("heat-pw"), &keystone.fixtures.heat.password).unwrap();
    std::fs::set_permissions(dir.join("heat-pw"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let toml = dir.join("heatgate.toml");
    std::fs::write(
        &toml,
        format!(
            "[keystone_authtoken]\npassword_file = \"{}\"\n",
            dir.join("heat-pw").display()
        ),
    )
    .unwrap();
    let s = start(&[
        os("--heat-conf"),
        heat_conf.as_os_str(),
        os("--config"),
        toml.as_os_str(),
    ])
    .unwrap();
    let demo = &keystone.fixtures.demo;
    let token = keystone.token(&demo.project_auth()).await;
    let project = demo.project_id.clone().unwrap();
    let status = reqwest::Client::new()
        .get(format!("http://{}/v1/{project}/stacks", s.rest()))
        .header("X-Auth-Token", token.expose())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    drop(s);

    // The environment over both: a value that does not fit, named by its variable.
    let mut child = Command::new(env!("CARGO_BIN_EXE_heatgate"))
        .args(["serve", "--heat-conf"])
        .arg(&heat_conf)
        .arg("--config")
        .arg(&toml)
        .env(
            "HEATGATE_KEYSTONE_AUTHTOKEN__HTTP_REQUEST_MAX_RETRIES",
            "lots",
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "heatgate: HEATGATE_KEYSTONE_AUTHTOKEN__HTTP_REQUEST_MAX_RETRIES: [keystone_authtoken] http_request_max_retries: "
        ),
        "{stderr}"
    );
}

#[test]
fn an_invalid_value_exits_2_with_one_line_naming_file_line_and_key() {
    let dir = scratch("invalid");
    let heat_conf = dir.join("heat.conf");
    std::fs::write(
        &heat_conf,
        "[DEFAULT]\ndebug = true\n\n[keystone_authtoken]\npassword = s3cret\nhttp_connect_timeout = abc\n",
    )
    .unwrap();
    let file = heat_conf.display().to_string();
    for command in ["serve", "proxy"] {
        let mut args = vec![os(command), os("--heat-conf"), heat_conf.as_os_str()];
        if command == "proxy" {
            args.extend([os("--upstream"), os("http://127.0.0.1:9")]);
        }
        let (code, stderr) = run(&args);
        assert_eq!(code, Some(2), "{command}: {stderr}");
        let errors: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("heatgate: "))
            .collect();
        assert_eq!(
            errors,
            vec![format!(
                "heatgate: {file}:6: [keystone_authtoken] http_connect_timeout: \"abc\" is not a number"
            )],
            "{command}: {stderr}"
        );
        assert!(!stderr.contains("s3cret"), "{stderr}");
    }

    // The database: only SQLite, and the URL (with its password) never shown.
    std::fs::write(
        &heat_conf,
        "[database]\nconnection = mysql+pymysql://heat:dbs3cret@127.0.0.1/heat?charset=utf8\n",
    )
    .unwrap();
    let (code, stderr) = run(&[os("serve"), os("--heat-conf"), heat_conf.as_os_str()]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("heatgate: {file}:2: [database] connection: ")),
        "{stderr}"
    );
    assert!(!stderr.contains("dbs3cret"), "{stderr}");

    // The TOML file on top names its own line.
    let toml = dir.join("heatgate.toml");
    std::fs::write(&toml, "[gateway]\n# threads\nworker_threads = \"many\"\n").unwrap();
    std::fs::write(
        &heat_conf,
        "[DEFAULT]\nstack_domain_admin = heat_domain_admin\n",
    )
    .unwrap();
    let (code, stderr) = run(&[
        os("serve"),
        os("--heat-conf"),
        heat_conf.as_os_str(),
        os("--config"),
        toml.as_os_str(),
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    let want = format!("heatgate: {}:3: [gateway] worker_threads: ", toml.display());
    assert!(
        stderr.lines().any(|l| l.starts_with(&want)),
        "{want:?} in {stderr}"
    );
}
