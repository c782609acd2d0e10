//! The proxy's connections to its upstream: a pool of HTTP/1.1 connections to
//! one origin (http, or https through rustls).
//!
//! - A request goes out on the most recently used idle connection, or on a new
//!   one when none is idle; a connection idle for longer than the idle timeout
//!   is closed instead of reused (so that the upstream's own keep-alive
//!   timeout, usually longer, does not close it under a request).
//! - A connection goes back to the pool when its response body has been read
//!   to the end; a response dropped before (the client went away) closes it.
//! - A request that an idle connection could not even start sending (the
//!   upstream closed it meanwhile) is sent again on another connection: it
//!   never reached the upstream. Nothing else is retried.
//! - Requests are sent in origin form (`/path?query`); one without `Host`
//!   gets the upstream's authority.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response, Uri};
use http_body::Body as _;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use tower::Service;

/// At most this many idle connections are kept.
const MAX_IDLE: usize = 1024;
/// How many idle connections a request tries before opening a new one.
const MAX_STALE_TRIES: usize = 3;

/// Why a request got no response from the upstream.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamSendError {
    /// No connection could be made (refused, unresolvable, TLS failure).
    #[error("cannot connect to the upstream")]
    Connect(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The connection failed while the request was sent or answered.
    #[error("the upstream connection failed")]
    Http(#[source] hyper::Error),
}

/// A pool of HTTP/1.1 connections to one upstream origin.
pub struct Upstream {
    connector: HttpsConnector<HttpConnector>,
    /// `scheme://authority/`, what the connector connects to.
    origin: Uri,
    /// `Host` for requests without one.
    host: HeaderValue,
    idle_timeout: Duration,
    idle: Mutex<Vec<Idle>>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("origin", &self.origin)
            .field("idle_timeout", &self.idle_timeout)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for PooledBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledBody")
            .field("body", &self.body)
            .field("pooled", &self.back.is_some())
            .finish()
    }
}

struct Idle {
    sender: SendRequest<Body>,
    since: Instant,
}

impl Upstream {
    /// A pool of connections to `scheme://authority` (https verified with
    /// `tls`, see [`crate::tls::upstream_client_config`]), each made within
    /// `connect_timeout` and closed once idle for `idle_timeout`.
    pub fn new(
        scheme: http::uri::Scheme,
        authority: http::uri::Authority,
        tls: Arc<rustls::ClientConfig>,
        connect_timeout: Duration,
        idle_timeout: Duration,
    ) -> Result<Self, String> {
        let mut tcp = HttpConnector::new();
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(connect_timeout));
        tcp.enforce_http(false);
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(Arc::unwrap_or_clone(tls))
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let default_port = if scheme == http::uri::Scheme::HTTPS {
            443
        } else {
            80
        };
        let host = match authority.port_u16() {
            Some(port) if port != default_port => format!("{}:{port}", authority.host()),
            _ => authority.host().to_owned(),
        };
        let host = HeaderValue::try_from(host).map_err(|e| format!("upstream host: {e}"))?;
        let origin = Uri::builder()
            .scheme(scheme)
            .authority(authority)
            .path_and_query("/")
            .build()
            .map_err(|e| format!("upstream URL: {e}"))?;
        Ok(Self {
            connector,
            origin,
            host,
            idle_timeout,
            idle: Mutex::default(),
        })
    }

    /// Sends `request` (its URI's path and query) to the upstream.
    pub async fn send(
        self: &Arc<Self>,
        mut request: Request<Body>,
    ) -> Result<Response<PooledBody>, UpstreamSendError> {
        let uri = request.uri();
        if uri.scheme().is_some() || uri.authority().is_some() || uri.path().is_empty() {
            let origin_form = uri
                .path_and_query()
                .map_or_else(|| Uri::from_static("/"), |p| Uri::from(p.clone()));
            *request.uri_mut() = origin_form;
        }
        if !request.headers().contains_key(header::HOST) {
            request
                .headers_mut()
                .insert(header::HOST, self.host.clone());
        }
        let mut stale_tries = 0;
        loop {
            let pooled = if stale_tries < MAX_STALE_TRIES {
                self.checkout()
            } else {
                None
            };
            let (mut sender, reused) = match pooled {
                Some(mut sender) => {
                    stale_tries += 1;
                    if sender.ready().await.is_err() {
                        continue;
                    }
                    (sender, true)
                }
                // Boxed: connecting is rare, and its state would otherwise make
                // every request's future (moved at least once) about 1.3 kB larger.
                None => (Box::pin(self.connect()).await?, false),
            };
            match sender.try_send_request(request).await {
                Ok(response) => {
                    return Ok(response.map(|body| PooledBody {
                        body,
                        back: Some((sender, self.clone())),
                    }))
                }
                Err(mut e) => match e.take_message() {
                    // Never written: the pooled connection had closed.
                    Some(again) if reused => request = again,
                    _ => return Err(UpstreamSendError::Http(e.into_error())),
                },
            }
        }
    }

    /// The most recently used idle connection that is still open.
    fn checkout(&self) -> Option<SendRequest<Body>> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(Idle { sender, since }) = idle.pop() {
            if !sender.is_closed() && since.elapsed() < self.idle_timeout {
                return Some(sender);
            }
        }
        None
    }

    fn checkin(&self, sender: SendRequest<Body>) {
        if sender.is_closed() {
            return;
        }
        let now = Instant::now();
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        // The oldest go (closed when dropped) when there are too many or they
        // have been idle too long: requests take the most recent ones, so
        // the oldest would otherwise stay open for as long as traffic flows.
        while idle.first().is_some_and(|oldest| {
            idle.len() >= MAX_IDLE || now.duration_since(oldest.since) >= self.idle_timeout
        }) {
            idle.remove(0);
        }
        idle.push(Idle { sender, since: now });
    }

    async fn connect(&self) -> Result<SendRequest<Body>, UpstreamSendError> {
        let mut connector = self.connector.clone();
        std::future::poll_fn(|cx| connector.poll_ready(cx))
            .await
            .map_err(UpstreamSendError::Connect)?;
        let io = connector
            .call(self.origin.clone())
            .await
            .map_err(UpstreamSendError::Connect)?;
        let (sender, connection) = http1::Builder::new()
            .handshake(io)
            .await
            .map_err(UpstreamSendError::Http)?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "upstream connection closed");
            }
        });
        Ok(sender)
    }
}

/// A response body from the upstream; its connection goes back to the pool
/// once the body has been read to the end.
pub struct PooledBody {
    body: Incoming,
    back: Option<(SendRequest<Body>, Arc<Upstream>)>,
}

impl PooledBody {
    fn give_back(&mut self) {
        if let Some((sender, upstream)) = self.back.take() {
            upstream.checkin(sender);
        }
    }
}

impl http_body::Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        let frame = Pin::new(&mut this.body).poll_frame(cx);
        match &frame {
            Poll::Ready(None) => this.give_back(),
            Poll::Ready(Some(Ok(_))) if this.body.is_end_stream() => this.give_back(),
            // The connection is broken: it is not given back.
            Poll::Ready(Some(Err(_))) => this.back = None,
            _ => {}
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

impl Drop for PooledBody {
    fn drop(&mut self) {
        // An empty body (a 204, a HEAD) may be dropped unpolled.
        if self.body.is_end_stream() {
            self.give_back();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::atomic::{AtomicUsize, Ordering};

    use http_body_util::BodyExt;
    use hyper_util::rt::TokioIo;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn upstream(port: u16, idle_timeout: Duration) -> Arc<Upstream> {
        Arc::new(
            Upstream::new(
                http::uri::Scheme::HTTP,
                format!("127.0.0.1:{port}").parse().unwrap(),
                crate::tls::upstream_client_config(None).unwrap(),
                Duration::from_secs(2),
                idle_timeout,
            )
            .unwrap(),
        )
    }

    /// A loopback listener handing each connection to `handle`, counting
    /// the connections it accepted.
    async fn listen<F, Fut>(handle: F) -> (u16, Arc<AtomicUsize>)
    where
        F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(handle(stream));
            }
        });
        (port, accepted)
    }

    /// An HTTP/1.1 server answering `host|path` to every request.
    async fn server() -> (u16, Arc<AtomicUsize>) {
        listen(|stream| async move {
            let service = hyper::service::service_fn(|r: Request<Incoming>| async move {
                let host = r.headers()[header::HOST].to_str().unwrap().to_owned();
                let body = format!("{host}|{}", r.uri());
                Ok::<_, std::convert::Infallible>(Response::new(body))
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        })
        .await
    }

    async fn get(upstream: &Arc<Upstream>, uri: &str, host: Option<&str>) -> String {
        let mut request = Request::get(uri);
        if let Some(host) = host {
            request = request.header(header::HOST, host);
        }
        let response = upstream
            .send(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(body.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn requests_one_after_another_share_one_connection() {
        let (port, accepted) = server().await;
        let up = upstream(port, Duration::from_secs(30));
        assert_eq!(
            get(&up, "http://ignored:1/a?b=c", Some("client.example")).await,
            "client.example|/a?b=c",
            "origin form, the client's Host"
        );
        for _ in 0..5 {
            assert_eq!(
                get(&up, "/x", None).await,
                format!("127.0.0.1:{port}|/x"),
                "the upstream's authority as Host"
            );
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_unread_response_closes_its_connection_and_idle_ones_expire() {
        let (port, accepted) = server().await;
        let up = upstream(port, Duration::from_millis(200));
        let response = up
            .send(Request::get("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        drop(response);
        get(&up, "/", None).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 2, "not reused unread");
        get(&up, "/", None).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 2, "reused once read");
        tokio::time::sleep(Duration::from_millis(300)).await;
        get(&up, "/", None).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 3, "idle too long");
    }

    /// The upstream closes every connection after one answer, without saying
    /// so: the next request finds the pooled connection closed and goes out
    /// on a new one.
    #[tokio::test]
    async fn a_connection_the_upstream_closed_is_replaced() {
        let (port, accepted) = listen(|mut stream| async move {
            let mut buf = vec![0; 4096];
            let mut seen = Vec::new();
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut buf).await.unwrap();
                if n == 0 {
                    return;
                }
                seen.extend_from_slice(&buf[..n]);
            }
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .await;
            let _ = stream.shutdown().await;
        })
        .await;
        let up = upstream(port, Duration::from_secs(30));
        for _ in 0..3 {
            assert_eq!(get(&up, "/", None).await, "ok");
            // Let the pooled connection see the close.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn nobody_listening_is_a_connect_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let up = upstream(port, Duration::from_secs(30));
        let e = up
            .send(Request::get("/").body(Body::empty()).unwrap())
            .await
            .unwrap_err();
        assert!(matches!(e, UpstreamSendError::Connect(_)), "{e:?}");
    }
}
