//! One listener's accept loop: HTTP/1.1 with keep-alive, optionally over TLS,
//! at most `max_connections` connections at once, and a graceful stop.
//!
//! The connection limit is a semaphore taken *before* `accept`: when every
//! permit is in use the loop stops accepting, so new connections wait in the
//! kernel's accept backlog instead of being accepted and dropped. A permit is
//! released when its connection closes.
//!
//! A connection on which no request has started for a whole [`IDLE_PERIOD`]
//! (30 s) is closed at the end of that period: between 30 and 60 s after its
//! last request started, or 30 s after it connected when it has sent no
//! complete request head. That also bounds a client that never completes a
//! request head. A request still in progress then is finished first (and the
//! connection closed after it). One timer per connection, re-armed once a
//! period, instead of hyper's header read timeout, which arms and disarms a
//! timer for every request.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use futures_util::task::AtomicWaker;
use http::header::{HeaderName, HeaderValue};
use http::{Extensions, Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;
use tower::util::Oneshot;
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

/// A connection on which no request started for this long is closed.
pub const IDLE_PERIOD: Duration = Duration::from_secs(30);

/// What a listener serves: a service of axum bodies that never fails (its
/// errors are responses), cloned for every request.
pub trait Served:
    Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future: Send + 'static>
    + Clone
    + Send
    + 'static
{
}

impl<S> Served for S
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
}

/// Serves `app` on `listener` until `stop` turns true; then stops accepting,
/// asks every open connection to finish its current request (one that has
/// not sent a complete request head yet is closed at once), and returns
/// once they have all closed. Every request carries `ConnectInfo<SocketAddr>`
/// (and [`ArrivedOverTls`] and `X-Forwarded-Proto: https` when `tls` is set).
pub async fn accept_loop<S>(
    listener: TcpListener,
    app: S,
    tls: Option<TlsAcceptor>,
    max_connections: usize,
    stop: watch::Receiver<bool>,
) where
    S: Served,
{
    accept_loop_with(listener, app, tls, max_connections, stop, IDLE_PERIOD).await;
}

/// [`accept_loop`] with another idle period (tests).
async fn accept_loop_with<S>(
    listener: TcpListener,
    app: S,
    tls: Option<TlsAcceptor>,
    max_connections: usize,
    stop: watch::Receiver<bool>,
    idle_period: Duration,
) where
    S: Served,
{
    // Semaphores count in u32.
    let max_connections = u32::try_from(max_connections.max(1)).unwrap_or(u32::MAX);
    let limit = Arc::new(Semaphore::new(max_connections as usize));
    let mut stopping = stop.clone();
    let stopped = async move {
        let _ = stopping.wait_for(|s| *s).await;
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
        let stop = stop.clone();
        tokio::spawn(async move {
            connection(stream, peer, app, tls, stop, idle_period).await;
            drop(permit);
        });
    }
    drop(listener);
    // Every connection has closed once every permit is back.
    let _ = limit.acquire_many(max_connections).await;
}

async fn connection<S>(
    stream: TcpStream,
    peer: SocketAddr,
    app: S,
    tls: Option<TlsAcceptor>,
    stop: watch::Receiver<bool>,
    idle_period: Duration,
) where
    S: Served,
{
    let Some(acceptor) = tls else {
        serve_http1(TokioIo::new(stream), peer, app, false, stop, idle_period).await;
        return;
    };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => {
            serve_http1(TokioIo::new(stream), peer, app, true, stop, idle_period).await;
        }
        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
    }
}

async fn serve_http1<I, S>(
    io: I,
    peer: SocketAddr,
    app: S,
    secure: bool,
    mut stop: watch::Receiver<bool>,
    idle_period: Duration,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: Served,
{
    let started = Arc::new(AtomicU64::new(0));
    let service = PerConnection {
        app,
        extensions: connection_extensions(peer, secure),
        secure,
        started: started.clone(),
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    // No timer: the idle period below bounds the wait for a request head.
    builder.keep_alive(true).header_read_timeout(None);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let idle = tokio::time::sleep(idle_period);
    tokio::pin!(idle);
    let stopped = stop.wait_for(|s| *s);
    tokio::pin!(stopped);
    let mut seen = 0;
    let mut closing = false;
    // The stop and the idle timer wake the task through `control`, so they
    // are polled only when one of them fired, not on every wake-up of the
    // connection (two or more a request).
    let control = Arc::new(Control::default());
    let control_waker = std::task::Waker::from(control.clone());
    std::future::poll_fn(|cx| loop {
        if let Poll::Ready(outcome) = connection.as_mut().poll(cx) {
            if let Err(e) = outcome {
                tracing::trace!(%peer, error = %e, "connection ended with an error");
            }
            return Poll::Ready(());
        }
        control.task.register(cx.waker());
        if closing || !control.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        let mut control_cx = Context::from_waker(&control_waker);
        if stopped.as_mut().poll(&mut control_cx).is_ready() {
            if started.load(Ordering::Relaxed) == 0 {
                // No complete request head yet: nothing to finish, and
                // hyper would wait for one.
                return Poll::Ready(());
            }
            // Finishes the request in progress, if any, then closes.
            closing = true;
            connection.as_mut().graceful_shutdown();
            continue;
        }
        if idle.as_mut().poll(&mut control_cx).is_ready() {
            let now = started.load(Ordering::Relaxed);
            if now == 0 {
                // Not one request head in a whole period: nothing is in
                // progress, and hyper would wait for the first head even
                // after a graceful shutdown.
                tracing::trace!(%peer, "no request in the idle period: closed");
                return Poll::Ready(());
            }
            if now == seen {
                // Closes now when waiting for the next request (even with
                // part of its head read); a request still in progress is
                // finished first.
                closing = true;
                connection.as_mut().graceful_shutdown();
                continue;
            }
            seen = now;
            idle.as_mut()
                .reset(tokio::time::Instant::now() + idle_period);
            // A timer that fired forgot its waker: polled again, the new
            // deadline will wake `control`.
            let _ = idle.as_mut().poll(&mut control_cx);
        }
        return Poll::Pending;
    })
    .await;
}

/// The waker of a connection's stop and idle timer: notes that one of them
/// fired, then wakes the connection's task.
struct Control {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Default for Control {
    fn default() -> Self {
        Self {
            // Both are polled once at first, to register.
            woken: AtomicBool::new(true),
            task: AtomicWaker::new(),
        }
    }
}

impl std::task::Wake for Control {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

/// One connection's requests, each into a clone of `app` (tower's readiness
/// contract: one `poll_ready` per `call`) with what the connection knows.
/// hyper calls it by reference, so nothing else is cloned per request.
struct PerConnection<S> {
    app: S,
    /// Every request's extensions to start with (see `connection_extensions`).
    extensions: Extensions,
    secure: bool,
    /// Requests started, for the idle period.
    started: Arc<AtomicU64>,
}

/// What every request of a connection from `peer` carries in its extensions:
/// `ConnectInfo` (and [`ArrivedOverTls`] when `secure`). The map is made with
/// room for what the layers add (the request ids, the authentication status
/// and identity): a clone keeps that room, so a request's map is allocated
/// once, not grown again as they are inserted.
fn connection_extensions(peer: SocketAddr, secure: bool) -> Extensions {
    #[derive(Clone, Copy)]
    struct Room<const N: usize>;
    let mut extensions = Extensions::new();
    extensions.insert(Room::<1>);
    extensions.insert(Room::<2>);
    extensions.insert(Room::<3>);
    extensions.insert(Room::<4>);
    extensions.remove::<Room<1>>();
    extensions.remove::<Room<2>>();
    extensions.remove::<Room<3>>();
    extensions.remove::<Room<4>>();
    extensions.insert(ConnectInfo(peer));
    if secure {
        extensions.insert(ArrivedOverTls);
    }
    extensions
}

impl<S> hyper::service::Service<Request<Incoming>> for PerConnection<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Oneshot<S, Request<Body>>;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        self.started.fetch_add(1, Ordering::Relaxed);
        // (hyper's own extensions, if any, are kept.)
        request.extensions_mut().extend(self.extensions.clone());
        if self.secure {
            request
                .headers_mut()
                .insert(X_FORWARDED_PROTO, HeaderValue::from_static("https"));
        }
        self.app.clone().oneshot(request.map(Body::new))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::routing::get;
    use axum::Router;

    /// `GET path` on `stream`, and what one read gets back.
    fn exchange(stream: &mut std::net::TcpStream, path: &str) -> String {
        stream
            .write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
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
            let answer = exchange(&mut first, "/peer");
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

    /// A server of `GET /` ("ok" after `delay`) with the given idle period.
    async fn server(
        idle_period: Duration,
        delay: Duration,
    ) -> (SocketAddr, watch::Sender<bool>, tokio::task::JoinHandle<()>) {
        let app = Router::new().route(
            "/",
            get(move || async move {
                tokio::time::sleep(delay).await;
                "ok"
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop_tx, stop_rx) = watch::channel(false);
        let server = tokio::spawn(accept_loop_with(
            listener,
            app,
            None,
            16,
            stop_rx,
            idle_period,
        ));
        (addr, stop_tx, server)
    }

    /// Whether the server closed `stream` within `within` (EOF or reset).
    fn closed_within(stream: &mut std::net::TcpStream, within: Duration) -> bool {
        stream.set_read_timeout(Some(within)).unwrap();
        let mut buf = [0u8; 64];
        match stream.read(&mut buf) {
            Ok(0) => true,
            Ok(n) => panic!("unexpected bytes: {:?}", String::from_utf8_lossy(&buf[..n])),
            Err(e) => !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        }
    }

    fn get_ok(stream: &mut std::net::TcpStream) {
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let answer = exchange(stream, "/");
        assert!(
            answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok"),
            "{answer}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_connection_idle_for_a_whole_period_is_closed_and_a_busy_one_is_not() {
        let period = Duration::from_millis(400);
        let (addr, stop, server) = server(period, Duration::ZERO).await;
        tokio::task::spawn_blocking(move || {
            // Idle after one request: open for the rest of the period at
            // least, closed within two periods.
            let mut idle = std::net::TcpStream::connect(addr).unwrap();
            get_ok(&mut idle);
            let asked = std::time::Instant::now();
            assert!(!closed_within(&mut idle, Duration::from_millis(150)));
            assert!(closed_within(&mut idle, 3 * period), "still open");
            let after = asked.elapsed();
            assert!(after < 2 * period + Duration::from_millis(300), "{after:?}");

            // A request every quarter period, for three periods: never closed.
            let mut busy = std::net::TcpStream::connect(addr).unwrap();
            for _ in 0..12 {
                get_ok(&mut busy);
                std::thread::sleep(period / 4);
            }

            // A client that never completes its (first or next) request
            // head is closed too.
            let mut slow = std::net::TcpStream::connect(addr).unwrap();
            slow.write_all(b"GET / HTTP/1.1\r\nho").unwrap();
            let mut slow_next = std::net::TcpStream::connect(addr).unwrap();
            get_ok(&mut slow_next);
            slow_next.write_all(b"GET / HTTP/1.1\r\nho").unwrap();
            assert!(closed_within(&mut slow, 3 * period), "still open");
            assert!(closed_within(&mut slow_next, 3 * period), "still open");
        })
        .await
        .unwrap();
        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("the loop stops")
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stopping_finishes_the_request_in_progress_then_closes() {
        let (addr, stop, server) = server(IDLE_PERIOD, Duration::from_millis(500)).await;
        let client = tokio::task::spawn_blocking(move || {
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            get_ok(&mut stream);
            // The connection closes after its answer: keep-alive ends.
            assert!(closed_within(&mut stream, Duration::from_secs(5)));
        });
        // A connection that has sent nothing (or part of a head) holds
        // nothing up: it is closed at once.
        let mut silent = std::net::TcpStream::connect(addr).unwrap();
        let mut partial = std::net::TcpStream::connect(addr).unwrap();
        partial.write_all(b"GET / HTTP/1.1\r\nho").unwrap();
        // The stop arrives while the request waits in its handler.
        tokio::time::sleep(Duration::from_millis(200)).await;
        stop.send(true).unwrap();
        assert!(!server.is_finished());
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("the loop stops once the connection closed")
            .unwrap();
        client.await.unwrap();
        let closed = tokio::task::spawn_blocking(move || {
            closed_within(&mut silent, Duration::from_secs(1))
                && closed_within(&mut partial, Duration::from_secs(1))
        });
        assert!(closed.await.unwrap());
        // And nothing listens any more.
        assert!(std::net::TcpStream::connect(addr).is_err());
    }
}
