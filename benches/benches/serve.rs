//! Criterion benches of one stack list (`GET /v1/{project}/stacks`) through
//! the REST stack of `heatgate serve`, in-process (tower `oneshot`), against a
//! real Keystone (`heatgate_tests::Keystone::shared()`: the instance named by
//! `HEATGATE_TEST_KEYSTONE`, or one started through `scripts/keystone`):
//!
//! - `serve/stack_list/engine_alone`: the engine's REST router (policy, stack
//!   lookup, handler, SQLite) with the demo user's identity injected, as
//!   `enginebench` serves it;
//! - `serve/stack_list/full_stack`: the same router behind what serve puts in
//!   front of it (auth_token with a warm cached token, route labels, health).
//!
//! The difference is what the layers cost. The engine has a data directory of
//! its own (a temporary directory) and one stack of demo's, created through
//! the router before the runs and deleted after them. After the runs the bench
//! checks that no benched request reached Keystone (the token stayed cached).
//!
//! ```text
//! cargo bench -p heatgate-benches --bench serve
//! ```

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::body::Body;
use axum::Router;
use criterion::{criterion_main, BatchSize, Criterion};
use heatgate::config::Config;
use heatgate_benches::serve::{engine_router, identity_of, serve_stack, with_identity};
use heatgate_keystone::Secret;
use heatgate_tests::Keystone;
use http::{Request, StatusCode};
use tower::ServiceExt;

const TEMPLATE: &str = "heat_template_version: 2018-08-31
resources:
  server:
    type: OS::Nova::Server
    metadata: {role: web}
    properties: {image: cirros, flavor: m1.tiny}
";

/// The headers python-heatclient sends with a stack list.
fn list_request(project: &str, token: &str) -> Request<Body> {
    Request::get(format!("/v1/{project}/stacks"))
        .header("host", "127.0.0.1:8004")
        .header("user-agent", "python-heatclient")
        .header("accept", "application/json")
        .header("content-type", "application/json")
        .header("accept-encoding", "gzip, deflate")
        .header("connection", "keep-alive")
        .header("x-auth-token", token)
        .body(Body::empty())
        .expect("a valid request")
}

fn secret_file(dir: &Path, name: &str, value: &str) -> PathBuf {
    let path = dir.join(name);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .expect("a secret file");
    f.write_all(value.as_bytes()).expect("written");
    path
}

/// A `heatgate serve` configuration for the shared Keystone, in `dir`.
fn config(keystone: &Keystone, dir: &Path) -> Config {
    let f = &keystone.fixtures;
    let heat_password = secret_file(dir, "heat-password", &f.heat.password);
    let admin_password = secret_file(dir, "domain-admin-password", &f.heat_domain_admin.password);
    let key = secret_file(
        dir,
        "auth-encryption-key",
        "0123456789abcdef0123456789abcdef",
    );
    let auth_url = f.auth_url.as_str().trim_end_matches('/');
    let toml = format!(
        r#"[keystone_authtoken]
auth_url = "{auth_url}"
username = "{user}"
password_file = "{heat_password}"
project_name = "service"
user_domain_id = "default"
project_domain_id = "default"

[heat]
stack_user_domain_id = "{domain}"
stack_domain_admin = "{admin}"
stack_domain_admin_password_file = "{admin_password}"
auth_encryption_key_file = "{key}"

[engine]
data_dir = "{data}"
"#,
        user = f.heat.username,
        heat_password = heat_password.display(),
        domain = f.heat_domain_id,
        admin = f.heat_domain_admin.username,
        admin_password = admin_password.display(),
        key = key.display(),
        data = dir.join("data").display(),
    );
    let path = dir.join("heatgate.toml");
    std::fs::write(&path, toml).expect("the configuration");
    Config::load(Some(&path), std::iter::empty()).expect("a valid configuration")
}

async fn call(app: &Router, request: Request<Body>) -> (StatusCode, String) {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("a body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn serve(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let keystone = Keystone::shared();
    let project = keystone
        .fixtures
        .demo
        .project_id
        .clone()
        .expect("demo's project");
    let dir = std::env::temp_dir().join(format!("heatgate-serve-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let config = config(keystone, &dir);
    let token: Secret = rt.block_on(keystone.token(&keystone.fixtures.demo.project_auth()));
    let token_text = token.expose().to_owned();

    let (engine_alone, full) = rt.block_on(async {
        let rest = "127.0.0.1:8004".parse().expect("an address");
        let cfn = "127.0.0.1:8000".parse().expect("an address");
        let (_engine, router) = engine_router(&config, rest, cfn).await.expect("the engine");
        let identity = identity_of(&config, &token).await.expect("demo's identity");
        let full = serve_stack(&config, router.clone()).expect("serve's REST stack");
        (with_identity(router, identity), full)
    });

    // One stack of demo's, created through the full stack (this also warms
    // the token cache: the one validation the full stack makes).
    let stack_id = rt.block_on(async {
        let body = serde_json::json!({
            "stack_name": "bench", "template": TEMPLATE, "parameters": {}, "disable_rollback": true,
        });
        let create = Request::post(format!("/v1/{project}/stacks"))
            .header("content-type", "application/json")
            .header("x-auth-token", &token_text)
            .body(Body::from(body.to_string()))
            .expect("a valid request");
        let (status, text) = call(&full, create).await;
        assert_eq!(status, StatusCode::CREATED, "stack create: {text}");
        let created: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        let id = created["stack"]["id"].as_str().expect("an id").to_owned();
        for _ in 0..600 {
            let show = Request::get(format!("/v1/{project}/stacks/bench/{id}"))
                .header("x-auth-token", &token_text)
                .body(Body::empty())
                .expect("a valid request");
            let (status, text) = call(&full, show).await;
            assert_eq!(status, StatusCode::OK, "stack show: {text}");
            if text.contains("CREATE_COMPLETE") {
                return id;
            }
            assert!(!text.contains("FAILED"), "stack create failed: {text}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the stack was not created within 60 s");
    });

    // Both answer the same list.
    let validations = keystone_validations();
    for app in [&engine_alone, &full] {
        let (status, text) = rt.block_on(call(app, list_request(&project, &token_text)));
        assert_eq!(status, StatusCode::OK, "stack list: {text}");
        assert!(text.contains(&stack_id), "the stack is not listed: {text}");
    }

    let mut group = c.benchmark_group("serve/stack_list");
    for (name, app) in [("engine_alone", &engine_alone), ("full_stack", &full)] {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter_batched(
                || list_request(&project, &token_text),
                |request| {
                    let app = app.clone();
                    async move {
                        let response = app.oneshot(request).await.expect("infallible");
                        debug_assert_eq!(response.status(), StatusCode::OK);
                        // The body is read, as a client would.
                        axum::body::to_bytes(response.into_body(), usize::MAX)
                            .await
                            .expect("a body")
                    }
                },
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();

    assert_eq!(
        keystone_validations(),
        validations,
        "a benched request reached Keystone: the token was not cached"
    );
    rt.block_on(async {
        let delete = Request::delete(format!("/v1/{project}/stacks/bench/{stack_id}"))
            .header("x-auth-token", &token_text)
            .body(Body::empty())
            .expect("a valid request");
        let (status, text) = call(&full, delete).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "stack delete: {text}");
        for _ in 0..600 {
            let (_, text) = call(&full, list_request(&project, &token_text)).await;
            if !text.contains(&stack_id) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the stack was not deleted within 60 s");
    });
    let _ = std::fs::remove_dir_all(&dir);
}

/// The token validations the process asked of Keystone so far (the
/// auth_token layer's cache misses, from serve's metrics).
fn keystone_validations() -> u64 {
    heatgate::observability::registry()
        .render()
        .lines()
        .filter(|l| l.starts_with("heatgate_auth_token_cache_misses_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Every bench of this file.
fn benches() {
    let mut c = Criterion::default().configure_from_args();
    serve(&mut c);
}

criterion_main!(benches);
