//! `heatgate proxy` with TLS and limits, as a process against the real
//! Keystone: an HTTPS listener (certificates made at test time), an https
//! upstream verified with `upstream_cafile`, secret files refused when group
//! or others can read them, and `max_connections`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use heatgate_tests::process::Process;
use heatgate_tests::{Keystone, Recorder};

/// A CA and a server certificate it signed, for `localhost` and 127.0.0.1,
/// written as PEM files (the key readable by its owner only).
struct Pki {
    dir: PathBuf,
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

impl Pki {
    fn new(name: &str) -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
        let dir =
            std::env::temp_dir().join(format!("heatgate-tls-test-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "heatgate test CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut leaf =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        leaf.distinguished_name
            .push(DnType::CommonName, "localhost");
        let cert = leaf.signed_by(&key, &ca_cert, &ca_key).unwrap();
        let pki = Pki {
            dir,
            ca_pem: ca_cert.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        };
        std::fs::write(pki.path("ca.pem"), &pki.ca_pem).unwrap();
        std::fs::write(pki.path("cert.pem"), &pki.cert_pem).unwrap();
        write_private(&pki.path("key.pem"), &pki.key_pem, 0o600);
        pki
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// `[gateway]` lines for an HTTPS listener.
    fn listener_options(&self) -> String {
        format!(
            "cert_file = \"{}\"\nkey_file = \"{}\"\n",
            self.path("cert.pem").display(),
            self.path("key.pem").display()
        )
    }

    fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).unwrap())
            .build()
            .unwrap()
    }
}

fn write_private(path: &Path, text: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
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

async fn demo_token(keystone: &Keystone) -> String {
    keystone
        .token(&keystone.fixtures.demo.project_auth())
        .await
        .expose()
        .to_owned()
}

struct Gateway {
    process: Process,
}

impl Gateway {
    /// The lines printed on stdout (`listening on https://...`, ...).
    fn lines(&self) -> &[String] {
        &self.process.lines
    }

    /// The REST listener's address.
    fn addr(&self) -> SocketAddr {
        self.process.addrs[0]
    }

    /// `heatgate proxy` with `config`, waiting for `lines` stdout lines.
    fn start(dir: &Path, upstream: &str, config: &str, extra: &[&str], lines: usize) -> Gateway {
        let mut args = vec!["proxy", "--upstream", upstream, "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        Gateway::launch(dir, config, &args, lines)
    }

    /// `heatgate <args> --config FILE` with `config` in FILE, waiting for
    /// `lines` stdout lines: the REST, CFN and metrics listeners' (in the
    /// order heatgate prints them; each test checks their schemes).
    fn launch(dir: &Path, config: &str, args: &[&str], lines: usize) -> Gateway {
        let file = dir.join("heatgate.toml");
        std::fs::write(&file, config).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_heatgate"));
        command
            .args(args)
            .arg("--config")
            .arg(&file)
            .env("RUST_LOG", "debug")
            .env("HEATGATE_GATEWAY__WORKER_THREADS", "1");
        let prefixes = [
            "listening on http://",
            "cfn listening on http://",
            "metrics listening on http://",
        ];
        let process = Process::start(command, &prefixes[..lines])
            .unwrap_or_else(|e| panic!("no listening line: {e}"));
        Gateway { process }
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        self.process.sigterm();
        self.process
            .wait_timeout(Duration::from_secs(20))
            .expect("the gateway did not stop on SIGTERM")
    }
}

// Two workers: the recording upstream runs on this runtime while curl blocks one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listeners_speak_https_only() {
    let keystone = Keystone::shared();
    let upstream = Recorder::start().await;
    let pki = Pki::new("listener");
    let config = format!(
        "[gateway]\n{}cfn_listen = \"127.0.0.1:0\"\nmetrics_listen = \"127.0.0.1:0\"\n{}",
        pki.listener_options(),
        keystone_section(keystone)
    );
    let mut gw = Gateway::start(
        &pki.dir,
        &upstream.url(),
        &config,
        &["--cfn-upstream", &upstream.url()],
        3,
    );
    // REST and CFN over TLS; metrics stays plain HTTP.
    assert!(
        gw.lines()[0].starts_with("listening on https://"),
        "{:?}",
        gw.lines()
    );
    assert!(
        gw.lines()[1].starts_with("cfn listening on https://"),
        "{:?}",
        gw.lines()
    );
    assert!(
        gw.lines()[2].starts_with("metrics listening on http://"),
        "{:?}",
        gw.lines()
    );
    let url = |path: &str| gw.process.url(0, path);
    let http = pki.client();

    // No token: 401 over TLS, nothing forwarded.
    let r = http.get(url("/v1/x")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(upstream.requests().is_empty());

    // A token from the real Keystone: forwarded, marked https.
    let token = demo_token(keystone).await;
    let r = http
        .get(url("/v1/p/stacks"))
        .header("x-auth-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let seen = upstream.last().unwrap();
    let h = |n: &str| seen.headers.get(n).map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(h("x-forwarded-proto").as_deref(), Some("https"));
    assert_eq!(h("x-forwarded-for").as_deref(), Some("127.0.0.1"));
    assert_eq!(h("x-identity-status").as_deref(), Some("Confirmed"));
    assert_eq!(
        h("x-user-id").as_deref(),
        Some(keystone.fixtures.demo.user_id.as_str())
    );

    // Keep-alive: the same client's requests reuse one TLS connection.
    for _ in 0..3 {
        let r = http.get(url("/v1/x")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 401);
    }

    // curl with the CA file.
    let port = gw.addr().port();
    let curl = |extra: &[&str]| {
        let out = Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(pki.path("ca.pem"))
            .args(extra)
            .arg("--resolve")
            .arg(format!("localhost:{port}:127.0.0.1"))
            .arg(format!("https://localhost:{port}/v1/p/stacks"))
            .output()
            .expect("curl is installed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(curl(&[]), "401");
    let header = format!("X-Auth-Token: {token}");
    assert_eq!(curl(&["-H", &header]), "200");

    // A client that does not trust the CA, and plain HTTP, get nowhere.
    let before = upstream.requests().len();
    assert!(reqwest::Client::new()
        .get(url("/v1/x"))
        .send()
        .await
        .is_err());
    let plain = reqwest::Client::new()
        .get(format!("http://{}/v1/p/stacks", gw.addr()))
        .header("x-auth-token", &token)
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP answered: {plain:?}");
    assert_eq!(upstream.requests().len(), before);

    // The metrics listener is plain HTTP.
    let metrics = gw.lines()[2].rsplit("://").next().unwrap().to_owned();
    let r = reqwest::get(format!("http://{metrics}/metrics"))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);

    assert!(gw.terminate().success());
    assert!(!gw.process.log().contains(&token));
}

/// A TLS upstream (the test's certificate) echoing the headers it received as
/// JSON; counts the requests.
async fn tls_echo(pki: &Pki) -> (SocketAddr, Arc<AtomicUsize>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = vec![CertificateDer::from_pem_slice(pki.cert_pem.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(pki.key_pem.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let counter = counter.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service =
                    hyper::service::service_fn(move |r: http::Request<hyper::body::Incoming>| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        let echo: serde_json::Map<String, serde_json::Value> = r
                            .headers()
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").into()))
                            .collect();
                        let body = serde_json::Value::Object(echo).to_string();
                        async move {
                            Ok::<_, std::convert::Infallible>(http::Response::new(
                                http_body_util::Full::new(bytes::Bytes::from(body)),
                            ))
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (addr, count)
}

#[tokio::test]
async fn https_upstreams_are_verified_with_the_upstream_cafile() {
    let keystone = Keystone::shared();
    let pki = Pki::new("upstream");
    let (upstream, count) = tls_echo(&pki).await;
    let upstream_url = format!("https://localhost:{}", upstream.port());
    let config = format!(
        "[gateway]\nupstream_cafile = \"{}\"\n{}",
        pki.path("ca.pem").display(),
        keystone_section(keystone)
    );
    let gw = Gateway::start(&pki.dir, &upstream_url, &config, &[], 1);
    assert!(
        gw.lines()[0].starts_with("listening on http://"),
        "{:?}",
        gw.lines()
    );
    let token = demo_token(keystone).await;
    let r = reqwest::Client::new()
        .get(format!("http://{}/v1/p/stacks", gw.addr()))
        .header("x-auth-token", &token)
        .header("x-user-id", "spoofed")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let echo: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        echo["x-user-id"].as_str(),
        Some(keystone.fixtures.demo.user_id.as_str())
    );
    assert_eq!(echo["x-identity-status"].as_str(), Some("Confirmed"));
    assert_eq!(echo["x-forwarded-proto"].as_str(), Some("http"));
    assert_eq!(count.load(Ordering::SeqCst), 1);
    drop(gw);

    // Without the CA file the upstream's certificate is not trusted: 502,
    // and nothing reached it.
    let dir = pki.path("untrusted");
    std::fs::create_dir_all(&dir).unwrap();
    let gw = Gateway::start(&dir, &upstream_url, &keystone_section(keystone), &[], 1);
    let r = reqwest::Client::new()
        .get(format!("http://{}/v1/p/stacks", gw.addr()))
        .header("x-auth-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 502);
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

/// Runs `heatgate proxy` with `config`; it must exit 2 with one line on stderr.
fn exits_2(dir: &Path, config: &str) -> String {
    let file = dir.join("heatgate.toml");
    std::fs::write(&file, config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_heatgate"))
        .args([
            "proxy",
            "--upstream",
            "http://127.0.0.1:9",
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--config")
        .arg(&file)
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    err
}

#[test]
fn secret_files_readable_by_others_and_bad_tls_files_exit_2() {
    let pki = Pki::new("secrets");
    let keystone = "[keystone_authtoken]\nauth_url = \"http://127.0.0.1:9/v3\"\nusername = \"heat\"\nproject_name = \"service\"\n";

    // A group-readable password file: refused by name, never printed.
    let secret = "Pw-Not-For-Logs-7731";
    let pw = pki.path("heat-password");
    write_private(&pw, secret, 0o640);
    let config = format!("{keystone}password_file = \"{}\"\n", pw.display());
    let err = exits_2(&pki.dir, &config);
    assert!(err.contains("[keystone_authtoken] password_file"), "{err}");
    assert!(err.contains("0640") && err.contains("chmod 600"), "{err}");
    assert!(!err.contains(secret), "{err}");
    // World-readable too.
    write_private(&pw, secret, 0o604);
    assert!(exits_2(&pki.dir, &config).contains("chmod 600"));

    // A TLS key readable by others.
    let key = pki.path("open-key.pem");
    write_private(&key, &pki.key_pem, 0o644);
    let config = format!(
        "[gateway]\ncert_file = \"{}\"\nkey_file = \"{}\"\n{keystone}password = \"x\"\n",
        pki.path("cert.pem").display(),
        key.display()
    );
    let err = exits_2(&pki.dir, &config);
    assert!(
        err.contains("[gateway] key_file") && err.contains("chmod 600"),
        "{err}"
    );
    assert!(!err.contains("PRIVATE KEY"), "{err}");
    let body = pki.key_pem.lines().nth(1).unwrap();
    assert!(!err.contains(body), "{err}");

    // Only one of cert_file and key_file.
    let config = format!(
        "[gateway]\ncert_file = \"{}\"\n{keystone}password = \"x\"\n",
        pki.path("cert.pem").display()
    );
    let err = exits_2(&pki.dir, &config);
    assert!(
        err.contains("cert_file") && err.contains("key_file"),
        "{err}"
    );

    // A key that is not a key.
    let not_key = pki.path("not-a-key.pem");
    write_private(&not_key, &pki.cert_pem, 0o600);
    let config = format!(
        "[gateway]\ncert_file = \"{}\"\nkey_file = \"{}\"\n{keystone}password = \"x\"\n",
        pki.path("cert.pem").display(),
        not_key.display()
    );
    assert!(exits_2(&pki.dir, &config).contains("[gateway] key_file"));

    // CA files that cannot be read: the upstream's and Keystone's.
    let missing = pki.path("missing-ca.pem");
    let config = format!(
        "[gateway]\nupstream_cafile = \"{}\"\n{keystone}password = \"x\"\n",
        missing.display()
    );
    let err = exits_2(&pki.dir, &config);
    assert!(err.contains("[gateway] upstream_cafile"), "{err}");
    let config = format!(
        "{keystone}password = \"x\"\ncafile = \"{}\"\n",
        missing.display()
    );
    let err = exits_2(&pki.dir, &config);
    assert!(
        err.contains("cafile") && err.contains("missing-ca.pem"),
        "{err}"
    );

    // max_connections must allow a connection.
    let config = format!("[gateway]\nmax_connections = 0\n{keystone}password = \"x\"\n");
    assert!(exits_2(&pki.dir, &config).contains("max_connections"));
}

/// Sends one request without a token on `stream`.
fn request(stream: &mut TcpStream) {
    stream
        .write_all(b"GET /v1/x HTTP/1.1\r\nhost: gw\r\n\r\n")
        .unwrap();
}

/// The status line of the next whole response on `stream`, if one starts
/// arriving `within`; its body is read too, so the connection can be reused.
fn status_line(stream: &mut TcpStream, within: Duration) -> Option<String> {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ if head.is_empty() => return None,
            other => panic!("response cut short: {other:?}"),
        }
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .expect("a content-length");
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).unwrap();
    Some(head.lines().next().unwrap_or_default().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_connections_holds_the_rest_in_the_backlog() {
    let keystone = Keystone::shared();
    let upstream = Recorder::start().await;
    let pki = Pki::new("limit");
    let config = format!(
        "[gateway]\nmax_connections = 2\n{}",
        keystone_section(keystone)
    );
    let gw = Gateway::start(&pki.dir, &upstream.url(), &config, &[], 1);
    let addr = gw.addr();
    tokio::task::spawn_blocking(move || {
        // Two idle keep-alive connections take both slots.
        let mut a = TcpStream::connect(addr).unwrap();
        let mut b = TcpStream::connect(addr).unwrap();
        for s in [&mut a, &mut b] {
            request(s);
            let line = status_line(s, Duration::from_secs(10)).unwrap();
            assert!(line.starts_with("HTTP/1.1 401"), "{line}");
        }
        // A third connection is not refused, but waits unanswered...
        let mut c = TcpStream::connect(addr).unwrap();
        request(&mut c);
        assert_eq!(status_line(&mut c, Duration::from_millis(1500)), None);
        // ...until one of the two closes.
        drop(a);
        let line = status_line(&mut c, Duration::from_secs(10)).expect("served after a close");
        assert!(line.starts_with("HTTP/1.1 401"), "{line}");
        // b and c now hold the slots: a fourth waits too, then gets its turn.
        let mut d = TcpStream::connect(addr).unwrap();
        request(&mut d);
        assert_eq!(status_line(&mut d, Duration::from_millis(1500)), None);
        // The keep-alive connections still work meanwhile.
        request(&mut b);
        let line = status_line(&mut b, Duration::from_secs(10)).unwrap();
        assert!(line.starts_with("HTTP/1.1 401"), "{line}");
        drop(c);
        let line = status_line(&mut d, Duration::from_secs(10)).expect("served after a close");
        assert!(line.starts_with("HTTP/1.1 401"), "{line}");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn request_bodies_over_max_request_body_size_are_413() {
    let keystone = Keystone::shared();
    let upstream = Recorder::start().await;
    let pki = Pki::new("body");
    let config = format!(
        "[gateway]\nmax_request_body_size = 4096\n{}",
        keystone_section(keystone)
    );
    let gw = Gateway::start(&pki.dir, &upstream.url(), &config, &[], 1);
    let token = demo_token(keystone).await;
    let http = reqwest::Client::new();
    let post = |body: reqwest::Body| {
        http.post(format!("http://{}/v1/p/upload", gw.addr()))
            .header("x-auth-token", &token)
            .body(body)
            .send()
    };

    // At the limit: forwarded whole.
    let r = post(vec![7u8; 4096].into()).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(upstream.last().unwrap().body.len(), 4096);
    upstream.clear();

    // A declared length over it: 413 with JSON, nothing forwarded.
    let r = post(vec![7u8; 4097].into()).await.unwrap();
    assert_eq!(r.status().as_u16(), 413);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], 413);
    assert!(upstream.requests().is_empty());

    // A chunked body (no declared length) that grows over it: cut off, 413.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(gw.addr()).await.unwrap();
    let head = format!(
        "POST /v1/p/upload HTTP/1.1\r\nhost: gw\r\nx-auth-token: {token}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    for _ in 0..8 {
        let chunk = format!("400\r\n{}\r\n", "7".repeat(1024));
        if tcp.write_all(chunk.as_bytes()).await.is_err() {
            break; // answered and closed before the end: fine
        }
    }
    let _ = tcp.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), tcp.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(upstream
        .requests()
        .iter()
        .all(|seen| seen.body.len() <= 4096));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_speaks_https_and_its_links_say_so() {
    let keystone = Keystone::shared();
    let pki = Pki::new("serve");
    let f = &keystone.fixtures;
    let mut key = [0u8; 16];
    getrandom::getrandom(&mut key).unwrap();
    let config = format!(
        "[gateway]\n{tls}\n{keystone}\n[heat]\nstack_user_domain_id = \"{domain}\"\nstack_domain_admin = \"{admin}\"\nstack_domain_admin_password = \"{admin_pw}\"\nauth_encryption_key = \"{key}\"\n\n[engine]\ndata_dir = \"{dir}\"\n",
        tls = pki.listener_options(),
        keystone = keystone_section(keystone),
        domain = f.heat_domain_id,
        admin = f.heat_domain_admin.username,
        admin_pw = f.heat_domain_admin.password,
        key = hex::encode(key),
        dir = pki.dir.display(),
    );
    let args = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--cfn-listen",
        "127.0.0.1:0",
    ];
    let mut gw = Gateway::launch(&pki.dir, &config, &args, 2);
    assert!(
        gw.lines()[0].starts_with("listening on https://"),
        "{:?}",
        gw.lines()
    );
    assert!(
        gw.lines()[1].starts_with("cfn listening on https://"),
        "{:?}",
        gw.lines()
    );
    let rest = gw.addr();
    let cfn = gw.lines()[1].rsplit("://").next().unwrap().to_owned();
    let http = pki.client();
    let token = demo_token(keystone).await;
    let project = f.demo.project_id.clone().unwrap();

    // A stack created over HTTPS: its Location is an https URL of this listener.
    let template = "heat_template_version: 2018-08-31\nresources:\n  h:\n    type: OS::Heat::WaitConditionHandle\n";
    let r = http
        .post(format!("https://{rest}/v1/{project}/stacks"))
        .header("x-auth-token", &token)
        .json(&serde_json::json!({"stack_name": "tls-links", "template": template}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("https://{rest}/v1/{project}/stacks/tls-links/")),
        "{location}"
    );
    let r = http
        .get(format!("https://{rest}/v1/{project}/stacks"))
        .header("x-auth-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);

    // The CFN listener answers over TLS (an unsigned request is refused there).
    let r = http
        .get(format!("https://{cfn}/v1/?Action=ListStacks"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());

    // Delete, then wait until the stack is gone so nothing stays in Keystone.
    let r = http
        .delete(&location)
        .header("x-auth-token", &token)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let started = Instant::now();
    loop {
        let r = http
            .get(&location)
            .header("x-auth-token", &token)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body: serde_json::Value = r.json().await.unwrap_or_default();
        if status == 404 || body["stack"]["stack_status"] == "DELETE_COMPLETE" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(gw.terminate().success());
}
