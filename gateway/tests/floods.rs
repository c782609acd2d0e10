//! Slow clients and floods against `heatgate proxy` (a real process, a real
//! Keystone):
//! - a body that trickles in one byte a second is cut off at `[gateway]
//!   request_body_timeout` and answered 408, on the CFN listener (where
//!   ec2token reads the body before anything is authenticated, so no
//!   credential is needed to try) and on the REST listener (where the body
//!   streams to the upstream);
//! - a bad token or signature repeated, one request after another or all at
//!   once, costs Keystone one call (`invalid_token_cache_time`,
//!   `[ec2authtoken] negative_cache_time`), counted through the metrics.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

mod support;

use heatgate_tests::process::Process;
use heatgate_tests::{Keystone, Recorder};
use support::keystone_section;

fn proxy(keystone: &Keystone, rest: &Recorder, cfn: &Recorder) -> Process {
    proxy_with(keystone, rest, cfn, "")
}

/// The proxy with both listeners, a 2 s body deadline and `gateway` added to
/// its `[gateway]` section.
fn proxy_with(keystone: &Keystone, rest: &Recorder, cfn: &Recorder, gateway: &str) -> Process {
    let config = format!(
        "[gateway]\nrequest_body_timeout = 2\n{gateway}\n\n{}",
        keystone_section(keystone, "")
    );
    support::proxy(&format!("floods-{}", gateway.len()), rest, cfn, &config)
}

/// The value of the sample `name{labels}` in the proxy's metrics (0 when
/// absent).
async fn metric(gw: &Process, sample: &str) -> f64 {
    let text = reqwest::get(gw.url(2, "/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn a_repeated_bad_token_or_signature_costs_keystone_one_call() {
    let keystone = Keystone::shared();
    let (rest, cfn) = (Recorder::start().await, Recorder::start().await);
    let gw = proxy_with(keystone, &rest, &cfn, "metrics_listen = \"127.0.0.1:0\"");
    let http = reqwest::Client::new();
    let project = keystone.fixtures.demo.project_id.clone().unwrap();
    let url = gw.url(0, &format!("/v1/{project}/stacks"));
    let validations = "heatgate_keystone_token_validations_total{client=\"auth_token\"}";

    // One after another.
    for _ in 0..20 {
        let r = http
            .get(&url)
            .header("x-auth-token", "gAAAAA-never-issued-1")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401);
    }
    assert_eq!(metric(&gw, validations).await, 1.0, "{}", gw.log());
    let hits = "heatgate_auth_token_invalid_cache_hits_total";
    assert_eq!(metric(&gw, hits).await, 19.0);

    // All at once: one call too (shared, then remembered).
    let burst: Vec<_> = (0..20)
        .map(|_| {
            http.get(&url)
                .header("x-auth-token", "gAAAAA-never-issued-2")
                .send()
        })
        .collect();
    for r in futures_util::future::join_all(burst).await {
        assert_eq!(r.unwrap().status().as_u16(), 401);
    }
    assert_eq!(metric(&gw, validations).await, 2.0);
    assert!(rest.requests().is_empty());

    // A signed request with an access key Keystone does not know, ten times
    // (any signature: the key itself is refused): one ec2tokens call.
    let calls = "heatgate_keystone_requests_total{client=\"ec2token\"}";
    let host = gw.addrs[1].to_string();
    for _ in 0..10 {
        let target = heatgate_tests::signing::sigv2_query_url(
            &host,
            "0123456789abcdef-unknown",
            "secret",
            &[("Action", "ListStacks"), ("Version", "2010-05-15")],
        );
        let r = http.get(&target).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 403);
        assert!(r.text().await.unwrap().contains("InvalidClientTokenId"));
    }
    // The service user's authentication, then one ec2tokens call.
    assert_eq!(metric(&gw, calls).await, 2.0, "{}", gw.log());
    assert!(cfn.requests().is_empty());

    // A signed URL replayed with another Host is refused, and its refusal is
    // remembered for that request only: the URL itself keeps working.
    let demo = &keystone.fixtures.demo;
    let keypair = heatgate_keystone::Client::new(keystone.service_client_config())
        .unwrap()
        .create_ec2_credential(&demo.user_id, demo.project_id.as_deref().unwrap())
        .await
        .unwrap();
    let signed = heatgate_tests::signing::sigv2_query_url(
        &host,
        &keypair.access,
        keypair.secret.expose(),
        &[("Action", "ListStacks"), ("Version", "2010-05-15")],
    );
    for _ in 0..3 {
        let r = http
            .get(&signed)
            .header("host", "elsewhere.example:8000")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 403);
    }
    let r = http.get(&signed).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", gw.log());
    assert_eq!(cfn.requests().len(), 1);
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

/// Trickles a body after `head` to `addr` and checks that the listener cut
/// it off with a 408 within a few seconds; returns the answer.
async fn cut_off(gw: &Process, addr: SocketAddr, head: String) -> String {
    let (answer, after) =
        tokio::task::spawn_blocking(move || trickle(addr, &head, Duration::from_secs(20)))
            .await
            .unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "{answer:?}; log: {}",
        gw.log()
    );
    assert!(after < Duration::from_secs(8), "answered after {after:?}");
    answer
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
    let answer = cut_off(&gw, cfn_addr, head).await;
    assert!(answer.contains("<Code>RequestTimeout</Code>"), "{answer}");
    assert!(cfn.requests().is_empty());

    // REST: a valid token; the body streams to the upstream until the cut.
    let head = format!(
        "PUT /v1/{project}/stacks/s/1 HTTP/1.1\r\nHost: {rest_addr}\r\nX-Auth-Token: {token}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{{"
    );
    cut_off(&gw, rest_addr, head).await;

    // And both listeners still serve.
    let r = reqwest::Client::new()
        .get(format!("http://{rest_addr}/v1/{project}/stacks"))
        .header("x-auth-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}
