//! Servers for faults a real Keystone cannot be made to produce: a peer that
//! accepts and never answers, and a Keystone front that passes password
//! authentication through to a real Keystone but garbles token validation.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Accepts connections and never answers (holds them open).
pub async fn hanging_listener() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    addr
}

/// How the front garbles validations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Garble {
    /// 200 with a body that is not JSON.
    NotJson,
    /// 200 with a Content-Length larger than what is sent, then close.
    Truncated,
    /// 200 with JSON of the wrong shape.
    WrongShape,
}

/// A front for `keystone` (host:port): `POST /v3/auth/tokens` is relayed to the
/// real Keystone; every `GET /v3/auth/tokens` is answered garbled.
pub async fn garbling_keystone(keystone: SocketAddr, garble: Garble) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                loop {
                    let Some(request) = read_request(&mut socket).await else {
                        return;
                    };
                    let head = String::from_utf8_lossy(&request).to_string();
                    if head.starts_with("GET /v3/auth/tokens") {
                        let answer: &[u8] = match garble {
                            Garble::NotJson => b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n<html>oops</ht>",
                            Garble::Truncated => b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"token\": {\"user",
                            Garble::WrongShape => b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{\"token\": [1, 2]}",
                        };
                        let _ = socket.write_all(answer).await;
                        if garble == Garble::Truncated {
                            return;
                        }
                        continue;
                    }
                    // Relay anything else to the real Keystone on a fresh connection.
                    let Ok(mut upstream) = tokio::net::TcpStream::connect(keystone).await else {
                        return;
                    };
                    let relayed = String::from_utf8_lossy(&request)
                        .replacen("Connection: keep-alive", "Connection: close", 1)
                        .replacen("connection: keep-alive", "connection: close", 1);
                    let mut relayed = relayed.into_bytes();
                    if !String::from_utf8_lossy(&relayed)
                        .to_ascii_lowercase()
                        .contains("connection: close")
                    {
                        // Ask the real Keystone to close after answering.
                        let pos = relayed.windows(2).position(|w| w == b"\r\n").unwrap_or(0) + 2;
                        relayed.splice(pos..pos, b"Connection: close\r\n".iter().copied());
                    }
                    if upstream.write_all(&relayed).await.is_err() {
                        return;
                    }
                    let mut answer = Vec::new();
                    let _ = tokio::time::timeout(
                        Duration::from_secs(30),
                        upstream.read_to_end(&mut answer),
                    )
                    .await;
                    let _ = socket.write_all(&answer).await;
                    return;
                }
            });
        }
    });
    addr
}

/// Reads one HTTP/1.1 request (head and Content-Length body).
async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + length {
                let n = socket.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Some(buf);
        }
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}
