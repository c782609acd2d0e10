//! Slow clients against `heatgate proxy` (a real process, a real Keystone):
//! a body that trickles in one byte a second is cut off at `[gateway]
//! request_body_timeout` and answered 408, on the CFN listener (where
//! ec2token reads the body before anything is authenticated, so no credential
//! is needed to try) and on the REST listener (where the body streams to the
//! upstream).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use heatgate_tests::process::Process;
use heatgate_tests::{Keystone, Recorder};

fn proxy(keystone: &Keystone, rest: &Recorder, cfn: &Recorder) -> Process {
    let heat = &keystone.fixtures.heat;
    let dir = std::env::temp_dir().join(format!("heatgate-slow-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("heatgate.toml");
    std::fs::write(
        &file,
        format!(
            "[gateway]\nrequest_body_timeout = 2\n\n[keystone_authtoken]\nauth_url = \"{}\"\nusername = \"{}\"\npassword = \"{}\"\nproject_name = \"service\"\nuser_domain_id = \"default\"\nproject_domain_id = \"default\"\n",
            keystone.auth_url(),
            heat.username,
            heat.password
        ),
    )
    .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_heatgate"));
    command
        .args([
            "proxy",
            "--upstream",
            &rest.url(),
            "--cfn-upstream",
            &cfn.url(),
        ])
        .args(["--listen", "127.0.0.1:0", "--cfn-listen", "127.0.0.1:0"])
        .arg("--config")
        .arg(&file);
    Process::start(
        command,
        &["listening on http://", "cfn listening on http://"],
    )
    .unwrap()
}

/// Sends `head` (declaring a 100,000-byte body), then one byte a second
/// until the server answers or `give_up` passes; returns the answer's status
/// line and text, and when it came.
fn trickle(addr: SocketAddr, head: &str, give_up: Duration) -> (String, Duration) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(1000)))
        .unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    while started.elapsed() < give_up {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&buffer[..n]);
                if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                    // The head is in; read what follows until the close.
                    stream
                        .set_read_timeout(Some(Duration::from_millis(300)))
                        .unwrap();
                    while let Ok(n) = stream.read(&mut buffer) {
                        if n == 0 {
                            break;
                        }
                        answer.extend_from_slice(&buffer[..n]);
                    }
                    break;
                }
            }
            Err(_) => {
                // Nothing yet: one more byte of the body.
                if stream.write_all(b"a").is_err() {
                    break;
                }
            }
        }
    }
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn a_trickling_body_is_cut_off_and_answered_408_on_both_listeners() {
    let keystone = Keystone::shared();
    let (rest, cfn) = (Recorder::start().await, Recorder::start().await);
    let gw = proxy(keystone, &rest, &cfn);
    let token = keystone
        .token(&keystone.fixtures.demo.project_auth())
        .await
        .expose()
        .to_owned();
    let project = keystone.fixtures.demo.project_id.clone().unwrap();
    let (cfn_addr, rest_addr) = (gw.addrs[1], gw.addrs[0]);

    // CFN: no credential at all; ec2token waits for the form body.
    let head = format!(
        "POST /v1/ HTTP/1.1\r\nHost: {cfn_addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\nAction=ListStacks&"
    );
    let (answer, after) =
        tokio::task::spawn_blocking(move || trickle(cfn_addr, &head, Duration::from_secs(20)))
            .await
            .unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "{answer:?}; log: {}",
        gw.log()
    );
    assert!(answer.contains("<Code>RequestTimeout</Code>"), "{answer}");
    assert!(after < Duration::from_secs(8), "answered after {after:?}");
    assert!(cfn.requests().is_empty());

    // REST: a valid token; the body streams to the upstream until the cut.
    let head = format!(
        "PUT /v1/{project}/stacks/s/1 HTTP/1.1\r\nHost: {rest_addr}\r\nX-Auth-Token: {token}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{{"
    );
    let (answer, after) =
        tokio::task::spawn_blocking(move || trickle(rest_addr, &head, Duration::from_secs(20)))
            .await
            .unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "{answer:?}; log: {}",
        gw.log()
    );
    assert!(after < Duration::from_secs(8), "answered after {after:?}");

    // And both listeners still serve.
    let r = reqwest::Client::new()
        .get(format!("http://{rest_addr}/v1/{project}/stacks"))
        .header("x-auth-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}
