//! One listener's accept loop: HTTP/1.1 with keep-alive, optionally over TLS,
//! at most `max_connections` connections at once, and a graceful stop.
//!
//! The connection limit is a semaphore taken *before* `accept`: when every
//! permit is in use the loop stops accepting, so new connections wait in the
//! kernel's accept backlog instead of being accepted and dropped. A permit is
//! released when its connection closes (idle keep-alive connections are
//! closed after 30 s without a request, hyper's header read timeout).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use http::header::{HeaderName, HeaderValue};
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;
use tower::{Service, ServiceExt};

/// In a request's extensions when it arrived on a TLS listener (the proxy
/// then sends `X-Forwarded-Proto: https`). Such a request also carries
/// `X-Forwarded-Proto: https` itself (a client's own value replaced), so the
/// embedded engine's links and pre-signed URLs say https.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArrivedOverTls;

const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// How long a client has to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `stop` turns true; then stops accepting,
/// asks every open connection to finish its current request, and returns
/// once they have all closed. Every request carries `ConnectInfo<SocketAddr>`
/// (and [`ArrivedOverTls`] and `X-Forwarded-Proto: https` when `tls` is set).
pub async fn accept_loop<S>(
    listener: TcpListener,
    app: S,
    tls: Option<TlsAcceptor>,
    max_connections: usize,
    mut stop: watch::Receiver<bool>,
) where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let limit = Arc::new(Semaphore::new(max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    tokio::pin!(stopped);
    loop {
        let permit = tokio::select! {
            biased;
            () = &mut stopped => break,
            permit = limit.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep going.
                    tracing::error!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let tls = tls.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            connection(stream, peer, app, tls, watcher).await;
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

async fn connection<S>(
    stream: TcpStream,
    peer: SocketAddr,
    app: S,
    tls: Option<TlsAcceptor>,
    watcher: Watcher,
) where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let Some(acceptor) = tls else {
        serve_http1(TokioIo::new(stream), peer, app, false, watcher).await;
        return;
    };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => serve_http1(TokioIo::new(stream), peer, app, true, watcher).await,
        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
    }
}

async fn serve_http1<I, S>(io: I, peer: SocketAddr, app: S, secure: bool, watcher: Watcher)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let service = tower::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        if secure {
            request.extensions_mut().insert(ArrivedOverTls);
            request
                .headers_mut()
                .insert(X_FORWARDED_PROTO, HeaderValue::from_static("https"));
        }
        app.clone().oneshot(request.map(Body::new))
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.keep_alive(true).timer(TokioTimer::new());
    let connection = builder.serve_connection(io, TowerToHyperService::new(service));
    if let Err(e) = watcher.watch(connection).await {
        tracing::trace!(%peer, error = %e, "connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::routing::get;
    use axum::Router;

    fn exchange(stream: &mut std::net::TcpStream) -> String {
        stream
            .write_all(b"GET /peer HTTP/1.1\r\nhost: x\r\n\r\n")
            .unwrap();
        let mut buf = [0u8; 1024];
        let n = stream.read(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_limit_holds_connections_in_the_backlog_and_the_peer_is_known() {
        let served = Arc::new(AtomicUsize::new(0));
        let counter = served.clone();
        let app = Router::new().route(
            "/peer",
            get(move |ConnectInfo(peer): ConnectInfo<SocketAddr>| {
                counter.fetch_add(1, Ordering::SeqCst);
                async move { peer.ip().to_string() }
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop_tx, stop_rx) = watch::channel(false);
        let server = tokio::spawn(accept_loop(listener, app, None, 1, stop_rx));
        let outcome = tokio::task::spawn_blocking(move || {
            let mut first = std::net::TcpStream::connect(addr).unwrap();
            let answer = exchange(&mut first);
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
            assert!(answer.ends_with("127.0.0.1"), "{answer}");
            // The second connection waits while the first stays open...
            let mut second = std::net::TcpStream::connect(addr).unwrap();
            second
                .write_all(b"GET /peer HTTP/1.1\r\nhost: x\r\n\r\n")
                .unwrap();
            second
                .set_read_timeout(Some(Duration::from_millis(500)))
                .unwrap();
            let mut buf = [0u8; 1024];
            assert!(second.read(&mut buf).is_err(), "served beyond the limit");
            // ...and is served once it closes.
            drop(first);
            second
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let n = second.read(&mut buf).unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        })
        .await
        .unwrap();
        assert!(outcome.starts_with("HTTP/1.1 200"), "{outcome}");
        assert_eq!(served.load(Ordering::SeqCst), 2);
        stop_tx.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("the loop stops")
            .unwrap();
    }
}
