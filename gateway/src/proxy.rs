//! The reverse proxy to the upstream service (http or https): streaming
//! bodies, hop-by-hop headers removed, `X-Forwarded-For` / `-Proto` / `-Host`
//! set, and upstream failures answered 502 / 504 with a JSON body.

use std::cell::RefCell;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use futures_util::future::BoxFuture;
use heatgate_middleware::body_deadline::BodyTimedOut;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri};

use crate::listen::ArrivedOverTls;
use crate::upstream::Upstream;

static HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Why the upstream did not answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamError {
    /// Refused, reset, or not an HTTP answer.
    #[error("the upstream service could not be reached")]
    Unreachable,
    /// No response headers within the bound.
    #[error("the upstream service did not answer in time")]
    Timeout,
    /// The request body is larger than `[gateway] max_request_body_size`.
    #[error("the request body is larger than {0} bytes")]
    BodyTooLarge(u64),
    /// The request body did not arrive within `[gateway] request_body_timeout`.
    #[error("the request body was not received in time")]
    BodyTimeout,
}

impl UpstreamError {
    fn into_response(self) -> Response<Body> {
        let (status, title) = match self {
            UpstreamError::Unreachable => (StatusCode::BAD_GATEWAY, "Bad Gateway"),
            UpstreamError::Timeout => (StatusCode::GATEWAY_TIMEOUT, "Gateway Timeout"),
            UpstreamError::BodyTooLarge(_) => {
                (StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large")
            }
            UpstreamError::BodyTimeout => (StatusCode::REQUEST_TIMEOUT, "Request Timeout"),
        };
        let body = serde_json::json!({
            "error": {"code": status.as_u16(), "title": title, "message": self.to_string()}
        });
        let mut r = Response::new(Body::from(body.to_string()));
        *r.status_mut() = status;
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        r
    }
}

/// Forwards requests to one upstream base URL.
///
/// Cloned for every request: everything is behind one `Arc`.
#[derive(Clone, Debug)]
pub struct Proxy {
    inner: Arc<ProxyInner>,
}

#[derive(Debug)]
struct ProxyInner {
    upstream: Arc<Upstream>,
    base_path: String,
    timeout: Duration,
    max_body: Option<u64>,
}

impl Proxy {
    /// A proxy to `upstream` (the base path is prefixed to every request); an
    /// https upstream is verified against the webpki roots.
    pub fn new(upstream: &Uri, timeout: Duration) -> Result<Self, String> {
        let tls = crate::tls::upstream_client_config(None).map_err(|e| e.to_string())?;
        Self::with_tls(upstream, timeout, tls)
    }

    /// A proxy to an http or https `upstream`, verifying https upstreams with
    /// `tls` ([`crate::tls::upstream_client_config`]).
    pub fn with_tls(
        upstream: &Uri,
        timeout: Duration,
        tls: Arc<rustls::ClientConfig>,
    ) -> Result<Self, String> {
        let scheme = upstream
            .scheme()
            .cloned()
            .ok_or("the upstream URL needs a scheme")?;
        if scheme != http::uri::Scheme::HTTP && scheme != http::uri::Scheme::HTTPS {
            return Err("only http:// and https:// upstreams are supported".into());
        }
        let authority = upstream
            .authority()
            .cloned()
            .ok_or("the upstream URL needs a host")?;
        let pool = Upstream::new(scheme, authority, tls, timeout, Duration::from_secs(30))?;
        Ok(Self {
            inner: Arc::new(ProxyInner {
                upstream: Arc::new(pool),
                base_path: upstream.path().trim_end_matches('/').to_owned(),
                timeout,
                max_body: None,
            }),
        })
    }

    /// Refuses request bodies larger than `limit` bytes with a 413 (`None`:
    /// no limit).
    pub fn with_body_limit(mut self, limit: Option<u64>) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.max_body = limit,
            None => {
                let old = &self.inner;
                self.inner = Arc::new(ProxyInner {
                    upstream: old.upstream.clone(),
                    base_path: old.base_path.clone(),
                    timeout: old.timeout,
                    max_body: limit,
                });
            }
        }
        self
    }
}

impl ProxyInner {
    /// The upstream's path and query for `uri`: the base path, then the
    /// request's own.
    fn target(&self, uri: &Uri) -> Result<Uri, http::Error> {
        Ok(Uri::from(
            match (self.base_path.is_empty(), uri.path_and_query()) {
                // No base path: the request's own path and query, shared, not copied.
                (true, Some(p)) => p.clone(),
                (_, p) => {
                    let p = p.map_or("/", |p| p.as_str());
                    http::uri::PathAndQuery::try_from(format!("{}{p}", self.base_path))?
                }
            },
        ))
    }

    async fn forward(&self, mut request: Request<Body>) -> Response<Body> {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let proto = forwarded_proto(request.extensions().get::<ArrivedOverTls>().is_some());
        let Ok(target) = self.target(request.uri()) else {
            return UpstreamError::Unreachable.into_response();
        };
        *request.uri_mut() = target;
        if let Some(limit) = self.max_body {
            let declared = request
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|n| n > limit) {
                return UpstreamError::BodyTooLarge(limit).into_response();
            }
            let limit = usize::try_from(limit).unwrap_or(usize::MAX);
            request = request.map(|body| Body::new(http_body_util::Limited::new(body, limit)));
        }
        *request.version_mut() = http::Version::HTTP_11;
        let headers = request.headers_mut();
        remove_hop_by_hop(headers);
        if let Some(ip) = peer {
            let forwarded = match headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
                Some(prior) => {
                    HeaderValue::from_maybe_shared(bytes::Bytes::from(format!("{prior}, {ip}")))
                        .ok()
                }
                None => Some(peer_header(ip)),
            };
            if let Some(v) = forwarded {
                headers.insert(X_FORWARDED_FOR, v);
            }
        }
        headers.insert(X_FORWARDED_PROTO, proto);
        match headers.get(header::HOST).cloned() {
            Some(host) => {
                headers.insert(X_FORWARDED_HOST, host);
            }
            None => {
                headers.remove(X_FORWARDED_HOST);
            }
        }
        // The client's own RFC 7239 `Forwarded` would let it choose the host
        // and scheme of the upstream's redirects (oslo's http_proxy_to_wsgi
        // prefers it to X-Forwarded-*): the X-Forwarded-* set above say it.
        headers.remove(header::FORWARDED);
        let outcome = tokio::time::timeout(self.timeout, self.upstream.send(request)).await;
        match outcome {
            Ok(Ok(response)) => {
                let mut response = response.map(Body::new);
                remove_hop_by_hop(response.headers_mut());
                response
            }
            Ok(Err(e)) => match self.max_body {
                Some(limit) if cut_off(&e) => UpstreamError::BodyTooLarge(limit).into_response(),
                _ if BodyTimedOut::caused(&e) => UpstreamError::BodyTimeout.into_response(),
                _ => {
                    tracing::warn!(error = %e, "upstream request failed");
                    UpstreamError::Unreachable.into_response()
                }
            },
            Err(_) => UpstreamError::Timeout.into_response(),
        }
    }
}

/// Whether the request failed because its body went over the limit.
fn cut_off(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// `ip` as a header value. The last one is kept per thread: a gateway's
/// clients are mostly a few load balancers, and formatting an address is a
/// visible part of a proxied request's cost.
fn peer_header(ip: IpAddr) -> HeaderValue {
    thread_local! {
        static LAST: RefCell<Option<(IpAddr, HeaderValue)>> = const { RefCell::new(None) };
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        match &*last {
            Some((cached, value)) if *cached == ip => value.clone(),
            _ => {
                let value = HeaderValue::from_maybe_shared(bytes::Bytes::from(ip.to_string()))
                    .expect("an IP address is a valid header value");
                *last = Some((ip, value.clone()));
                value
            }
        }
    })
}

/// `X-Forwarded-Proto`: how the client reached this listener.
fn forwarded_proto(over_tls: bool) -> HeaderValue {
    HeaderValue::from_static(if over_tls { "https" } else { "http" })
}

/// Removes the hop-by-hop headers, including those named in `Connection`.
fn remove_hop_by_hop(headers: &mut HeaderMap) {
    // One pass over the names (most messages carry none of them, or only
    // `Connection`), then remove only what is there.
    let mut present = [false; 8];
    let mut any = false;
    for name in headers.keys() {
        // Every hop-by-hop name starts with one of these (the identity headers
        // the layers add, `x-...`, do not).
        if !matches!(
            name.as_str().as_bytes().first(),
            Some(b'c' | b'k' | b'p' | b't' | b'u')
        ) {
            continue;
        }
        if let Some(i) = HOP_BY_HOP.iter().position(|h| h == name) {
            present[i] = true;
            any = true;
        }
    }
    if !any {
        return;
    }
    // `present[0]` is `Connection`: the names it lists go too.
    if present[0] {
        // Usually one `Connection` value: no vector for it.
        let mut values = headers.get_all(header::CONNECTION).iter();
        let first = values.next().cloned();
        let more: Vec<HeaderValue> = values.cloned().collect();
        for value in first.iter().chain(&more) {
            let Ok(value) = value.to_str() else { continue };
            for name in value.split(',').map(str::trim) {
                // A hop-by-hop name is removed below anyway.
                if HOP_BY_HOP
                    .iter()
                    .any(|h| name.eq_ignore_ascii_case(h.as_str()))
                {
                    continue;
                }
                // Looked up without allocating; an invalid name finds nothing.
                headers.remove(name);
            }
        }
    }
    for (name, present) in HOP_BY_HOP.iter().zip(present) {
        if present {
            headers.remove(name);
        }
    }
}

impl tower::Service<Request<Body>> for Proxy {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let inner = self.inner.clone();
        Box::pin(async move { Ok(inner.forward(request).await) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_header_follows_the_address() {
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        for ip in [v4, v4, v6, v4, v6, v6] {
            assert_eq!(peer_header(ip), ip.to_string().as_str());
        }
    }

    #[test]
    fn hop_by_hop_headers_go() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("close, x-secret-hop"),
        );
        h.insert("x-secret-hop", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.insert("x-auth-token", HeaderValue::from_static("t"));
        remove_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-auth-token"));

        // Several `Connection` values, names in any case, hop-by-hop names
        // listed too.
        let mut h = HeaderMap::new();
        h.append(header::CONNECTION, HeaderValue::from_static("Keep-Alive"));
        h.append(
            header::CONNECTION,
            HeaderValue::from_static("X-One ,upgrade"),
        );
        h.append(header::CONNECTION, HeaderValue::from_static("x-two"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert("x-one", HeaderValue::from_static("1"));
        h.insert("x-two", HeaderValue::from_static("2"));
        h.insert("x-three", HeaderValue::from_static("3"));
        remove_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h.contains_key("x-three"));
    }

    #[test]
    fn target_keeps_the_base_path_and_query() {
        let p = Proxy::new(
            &"http://127.0.0.1:9/base/".parse().unwrap(),
            Duration::from_secs(1),
        )
        .unwrap();
        let t = p
            .inner
            .target(&"/v1/p/stacks?a=1&b=%20".parse().unwrap())
            .unwrap();
        assert_eq!(t.to_string(), "/base/v1/p/stacks?a=1&b=%20");
        assert!(Proxy::new(&"https://x".parse().unwrap(), Duration::from_secs(1)).is_ok());
        let e = Proxy::new(&"ftp://x".parse().unwrap(), Duration::from_secs(1)).unwrap_err();
        assert!(e.contains("http:// and https://"), "{e}");
    }

    #[test]
    fn the_forwarded_proto_follows_the_listener() {
        assert_eq!(forwarded_proto(true), "https");
        assert_eq!(forwarded_proto(false), "http");
    }

    #[tokio::test]
    async fn a_declared_body_over_the_limit_is_a_413_before_connecting() {
        // Nothing listens on port 9: a 413 proves the upstream was not tried.
        let p = Proxy::new(
            &"http://127.0.0.1:9".parse().unwrap(),
            Duration::from_secs(2),
        )
        .unwrap()
        .with_body_limit(Some(10));
        let r = p
            .inner
            .forward(
                Request::post("/x")
                    .header(header::CONTENT_LENGTH, "11")
                    .body(Body::from("0123456789a"))
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
    }

    #[tokio::test]
    async fn a_length_limit_anywhere_in_the_chain_is_a_cut_off() {
        use http_body_util::BodyExt;
        let limited = http_body_util::Limited::new(Body::from("0123456789"), 3)
            .collect()
            .await
            .unwrap_err();
        let wrapped = axum::Error::new(limited);
        assert!(cut_off(&wrapped));
        assert!(!cut_off(&std::io::Error::other("reset")));
    }

    #[tokio::test]
    async fn refused_upstream_is_a_502_with_json() {
        // Bind then drop to get a port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let p = Proxy::new(
            &format!("http://127.0.0.1:{port}").parse().unwrap(),
            Duration::from_secs(2),
        )
        .unwrap();
        let r = p
            .inner
            .forward(Request::get("/x").body(Body::empty()).unwrap())
            .await;
        assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
    }
}
