//! request_id: an OpenStack request id for every request, as
//! oslo.middleware's `request_id` middleware gives one.
//!
//! For every request the layer
//! 1. generates OUR id, `req-<uuid4>` ([`RequestId`]); an id a client sends in
//!    `X-OpenStack-Request-ID` is never taken as ours: it is kept as the
//!    [`GlobalRequestId`] only when it has the exact form `req-<uuid>`
//!    (lowercase hex, oslo's pattern), and dropped otherwise;
//! 2. replaces the request's `X-OpenStack-Request-ID` with our id, so that a
//!    service behind (a proxy's upstream) sees it as its global request id, and
//!    puts both ids into the request's extensions for handlers;
//! 3. runs the inner service inside a `request` tracing span carrying
//!    `request_id` (and `global_request_id`, `method`, `path`), so every log
//!    line of the request names it; the span never records the query, where
//!    pre-signed URLs carry their signatures;
//! 4. answers with `x-openstack-request-id: <our id>` unless the inner service
//!    already set one (oslo keeps an application's own header).
//!
//! Put it outermost, so that the ids cover authentication failures too.
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::Empty;
//! use bytes::Bytes;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//! use heatgate_middleware::request_id::{RequestId, SetRequestIdLayer, X_OPENSTACK_REQUEST_ID};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let app = ServiceBuilder::new()
//!     .layer(SetRequestIdLayer::new())
//!     .service(service_fn(|request: Request<Empty<Bytes>>| async move {
//!         // Handlers (and the logs) know the id.
//!         let id = request.extensions().get::<RequestId>().cloned();
//!         let status = if id.is_some() { StatusCode::OK } else { StatusCode::INTERNAL_SERVER_ERROR };
//!         let mut response = Response::new(Empty::<Bytes>::new());
//!         *response.status_mut() = status;
//!         Ok::<_, Infallible>(response)
//!     }));
//!
//! let request = Request::get("/v1/tenant/stacks")
//!     // Not ours: kept only as the global request id.
//!     .header("x-openstack-request-id", "req-00000000-0000-4000-8000-000000000000")
//!     .body(Empty::new())
//!     .unwrap();
//! let response = app.oneshot(request).await.unwrap();
//! assert_eq!(response.status(), StatusCode::OK);
//! let ours = response.headers()[X_OPENSTACK_REQUEST_ID].to_str().unwrap();
//! assert!(RequestId::parse(ours).is_some());
//! assert_ne!(ours, "req-00000000-0000-4000-8000-000000000000");
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderName, HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};
use tracing::instrument::Instrumented;
use tracing::Instrument;

/// `x-openstack-request-id`: the response header with our id, and the request
/// header with the caller's (or, forwarded upstream, ours).
pub const X_OPENSTACK_REQUEST_ID: HeaderName = HeaderName::from_static("x-openstack-request-id");

/// A request id of oslo's form, `req-` and a lowercase hyphenated uuid.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestId(HeaderValue);

/// The id a caller sent in `X-OpenStack-Request-ID` (valid form only): the id
/// of the request that caused this one, elsewhere.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GlobalRequestId(pub RequestId);

impl RequestId {
    /// A fresh `req-<uuid4>`.
    pub fn generate() -> Self {
        Self(pooled_id())
    }

    /// `text` if it is exactly `req-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`
    /// (lowercase hex), as oslo.middleware accepts a global request id.
    pub fn parse(text: &str) -> Option<Self> {
        let uuid = text.strip_prefix("req-")?.as_bytes();
        let well_formed = uuid.len() == 36
            && uuid.iter().enumerate().all(|(i, b)| match i {
                8 | 13 | 18 | 23 => *b == b'-',
                _ => matches!(b, b'0'..=b'9' | b'a'..=b'f'),
            });
        if !well_formed {
            return None;
        }
        HeaderValue::from_str(text).ok().map(Self)
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        // Built from ASCII only.
        self.0.to_str().unwrap_or_default()
    }

    /// The id as a header value.
    pub fn header_value(&self) -> &HeaderValue {
        &self.0
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Gives every request an OpenStack request id (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct SetRequestIdLayer {
    _private: (),
}

impl SetRequestIdLayer {
    /// The layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for SetRequestIdLayer {
    type Service = SetRequestId<S>;

    fn layer(&self, inner: S) -> SetRequestId<S> {
        SetRequestId { inner }
    }
}

/// The service built by [`SetRequestIdLayer`].
#[derive(Debug, Clone)]
pub struct SetRequestId<S> {
    inner: S,
}

impl<S> SetRequestId<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self { inner }
    }

    /// The layer.
    pub fn layer() -> SetRequestIdLayer {
        SetRequestIdLayer::new()
    }
}

crate::inner_accessors!(SetRequestId);

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SetRequestId<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let id = RequestId::generate();
        // The caller's value (the first, if several) makes way for ours.
        let global = request
            .headers_mut()
            .insert(X_OPENSTACK_REQUEST_ID, id.0.clone())
            .and_then(|v| v.to_str().ok().and_then(RequestId::parse))
            .map(GlobalRequestId);
        let span = tracing::info_span!(
            "request",
            request_id = %id,
            global_request_id = tracing::field::Empty,
            method = %request.method(),
            path = %request.uri().path(),
        );
        if let Some(global) = &global {
            span.record("global_request_id", tracing::field::display(&global.0));
        }
        let extensions = request.extensions_mut();
        extensions.insert(id.clone());
        if let Some(global) = global {
            extensions.insert(global);
        }
        let future = span.in_scope(|| self.inner.call(request));
        ResponseFuture {
            inner: future.instrument(span),
            id: Some(id),
        }
    }
}

pin_project! {
    /// The response future of [`SetRequestId`].
    pub struct ResponseFuture<F> {
        #[pin]
        inner: Instrumented<F>,
        id: Option<RequestId>,
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = std::task::ready!(this.inner.poll(cx))?;
        if let Some(id) = this.id.take() {
            // An id the inner service set stays.
            response
                .headers_mut()
                .entry(X_OPENSTACK_REQUEST_ID)
                .or_insert(id.0);
        }
        Poll::Ready(Ok(response))
    }
}

/// Ids are made [`POOLED_IDS`] at a time, from one `getrandom` system call
/// and into one buffer that they share: a request's id costs no system call
/// (one was a visible part of a proxied request's cost) and no allocation.
/// (An id kept long after its request keeps that buffer, 2.5 kB, alive:
/// copy it with [`RequestId::as_str`] to keep it.)
const POOLED_IDS: usize = 64;

/// `req-` and a hyphenated uuid.
const ID_LEN: usize = 40;

struct IdPool {
    /// `POOLED_IDS` ids, one after the other; each is handed out once.
    text: bytes::Bytes,
    next: usize,
}

thread_local! {
    static ID_POOL: std::cell::RefCell<IdPool> = const {
        std::cell::RefCell::new(IdPool { text: bytes::Bytes::new(), next: 0 })
    };
}

/// A fresh `req-<uuid4>` from this thread's pool, refilled when used up.
fn pooled_id() -> HeaderValue {
    ID_POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.next == pool.text.len() {
            pool.text = fresh_ids();
            pool.next = 0;
        }
        let start = pool.next;
        pool.next += ID_LEN;
        HeaderValue::from_maybe_shared(pool.text.slice(start..start + ID_LEN))
            .expect("ASCII letters, digits and hyphens")
    })
}

/// [`POOLED_IDS`] ids from the operating system's random source (uuid's own
/// generator when it fails).
fn fresh_ids() -> bytes::Bytes {
    let mut random = [0u8; 16 * POOLED_IDS];
    let pooled = getrandom::getrandom(&mut random).is_ok();
    let mut text = vec![0u8; ID_LEN * POOLED_IDS];
    for (id, random) in text.chunks_exact_mut(ID_LEN).zip(random.chunks_exact(16)) {
        let uuid = match <[u8; 16]>::try_from(random) {
            Ok(bytes) if pooled => uuid::Builder::from_random_bytes(bytes).into_uuid(),
            _ => uuid::Uuid::new_v4(),
        };
        id[..4].copy_from_slice(b"req-");
        uuid.hyphenated().encode_lower(&mut id[4..]);
    }
    text.into()
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use axum::body::Body;
    use http::StatusCode;
    use tower::ServiceExt;
    use tower_test::mock;

    use super::*;

    fn echo(
        status: StatusCode,
    ) -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone {
        tower::service_fn(move |request: Request<Body>| async move {
            // The inner service sees our id, in the header and the extensions.
            let ours = request.extensions().get::<RequestId>().cloned().unwrap();
            assert_eq!(
                request.headers()[X_OPENSTACK_REQUEST_ID],
                *ours.header_value()
            );
            let global = request
                .extensions()
                .get::<GlobalRequestId>()
                .map(|g| g.0.to_string())
                .unwrap_or_default();
            tracing::info!("inside the request");
            let mut response = Response::new(Body::from(global));
            *response.status_mut() = status;
            Ok(response)
        })
    }

    async fn body(response: Response<Body>) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn ids_stay_distinct_random_v4_across_pool_refills() {
        // Several refills of this thread's pool, and another thread's pool.
        let mut seen = std::collections::HashSet::new();
        let other = std::thread::spawn(|| {
            (0..POOLED_IDS * 3)
                .map(|_| RequestId::generate())
                .collect::<Vec<_>>()
        });
        let here = (0..POOLED_IDS * 3).map(|_| RequestId::generate());
        for id in here.chain(other.join().unwrap()) {
            let uuid = uuid::Uuid::parse_str(&id.as_str()[4..]).unwrap();
            assert_eq!(uuid.get_version_num(), 4);
            assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122);
            assert!(seen.insert(id), "an id was handed out twice");
        }
        assert_eq!(seen.len(), POOLED_IDS * 6);
    }

    #[test]
    fn ids_have_oslo_form() {
        let id = RequestId::generate();
        assert_eq!(id.as_str().len(), 40);
        assert_eq!(RequestId::parse(id.as_str()), Some(id.clone()));
        assert_ne!(RequestId::generate(), id);
        let uuid = uuid::Uuid::parse_str(&id.as_str()[4..]).unwrap();
        assert_eq!(uuid.get_version_num(), 4);

        for bad in [
            "",
            "req-",
            "0e1b5c7a-4a5c-4a3e-9b1f-0123456789ab",
            "REQ-0e1b5c7a-4a5c-4a3e-9b1f-0123456789ab",
            "req-0E1B5C7A-4A5C-4A3E-9B1F-0123456789AB",
            "req-0e1b5c7a4a5c4a3e9b1f0123456789ab",
            "req-0e1b5c7a-4a5c-4a3e-9b1f-0123456789ab ",
            "req-0e1b5c7a-4a5c-4a3e-9b1f-0123456789abc",
            "req-0e1b5c7a-4a5c-4a3e-9b1f_0123456789ab",
            "req-0e1b5c7a-4a5c-4a3e-9b1f-0123456789a\u{e9}",
            "req-../../etc/passwd-00000000000000000000",
        ] {
            assert_eq!(RequestId::parse(bad), None, "{bad:?}");
        }
        // Any uuid version, as oslo's pattern.
        assert!(RequestId::parse("req-00000000-0000-0000-0000-000000000000").is_some());
    }

    #[tokio::test]
    async fn every_status_carries_a_fresh_id() {
        for status in [
            StatusCode::OK,
            StatusCode::UNAUTHORIZED,
            StatusCode::FORBIDDEN,
            StatusCode::NOT_FOUND,
            StatusCode::SERVICE_UNAVAILABLE,
        ] {
            let svc = SetRequestIdLayer::new().layer(echo(status));
            let a = svc
                .clone()
                .oneshot(Request::get("/").body(Body::empty()).unwrap())
                .await
                .unwrap();
            let b = svc
                .oneshot(Request::get("/").body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(a.status(), status);
            let ida = a.headers()[X_OPENSTACK_REQUEST_ID].to_str().unwrap();
            let idb = b.headers()[X_OPENSTACK_REQUEST_ID].to_str().unwrap();
            assert!(RequestId::parse(ida).is_some(), "{ida}");
            assert_ne!(ida, idb);
        }
    }

    #[tokio::test]
    async fn a_callers_id_is_only_the_global_id_and_only_when_well_formed() {
        let theirs = "req-0e1b5c7a-4a5c-4a3e-9b1f-0123456789ab";
        let svc = SetRequestIdLayer::new().layer(echo(StatusCode::OK));
        let r = svc
            .clone()
            .oneshot(
                Request::get("/")
                    .header("X-OpenStack-Request-ID", theirs)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let ours = r.headers()[X_OPENSTACK_REQUEST_ID]
            .to_str()
            .unwrap()
            .to_owned();
        assert_ne!(ours, theirs, "a caller's id is never ours");
        assert_eq!(body(r).await, theirs, "kept as the global request id");

        for forged in ["req-evil", "req-0e1b5c7a-4a5c-4a3e-9b1f-0123456789ab\t"] {
            let r = svc
                .clone()
                .oneshot(
                    Request::get("/")
                        .header("X-OpenStack-Request-ID", forged)
                        .body(Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap();
            assert_ne!(r.headers()[X_OPENSTACK_REQUEST_ID], forged);
            assert_eq!(body(r).await, "", "{forged:?} is not kept");
        }
    }

    #[tokio::test]
    async fn an_applications_own_id_is_kept() {
        let svc = SetRequestIdLayer::new().layer(tower::service_fn(|_r: Request<Body>| async {
            let mut response = Response::new(Body::empty());
            response.headers_mut().insert(
                X_OPENSTACK_REQUEST_ID,
                HeaderValue::from_static("req-11111111-1111-4111-8111-111111111111"),
            );
            Ok::<_, Infallible>(response)
        }));
        let r = svc
            .oneshot(Request::get("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(
            r.headers().get_all(X_OPENSTACK_REQUEST_ID).iter().count(),
            1
        );
        assert_eq!(
            r.headers()[X_OPENSTACK_REQUEST_ID],
            "req-11111111-1111-4111-8111-111111111111"
        );
    }

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn log_lines_inside_the_request_name_it_and_never_the_query() {
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let theirs = "req-0e1b5c7a-4a5c-4a3e-9b1f-0123456789ab";
        let r = SetRequestIdLayer::new()
            .layer(echo(StatusCode::OK))
            .oneshot(
                Request::get("/v1/waitcondition/arn?Signature=s3cret")
                    .header("X-OpenStack-Request-ID", theirs)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let ours = r.headers()[X_OPENSTACK_REQUEST_ID]
            .to_str()
            .unwrap()
            .to_owned();
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let line = text
            .lines()
            .find(|l| l.contains("inside the request"))
            .unwrap_or_else(|| panic!("no log line: {text}"));
        assert!(line.contains(&format!("request_id={ours}")), "{line}");
        assert!(
            line.contains(&format!("global_request_id={theirs}")),
            "{line}"
        );
        assert!(line.contains("path=/v1/waitcondition/arn"), "{line}");
        assert!(!text.contains("s3cret"), "{text}");
    }

    #[tokio::test]
    async fn readiness_is_the_inner_service_readiness() {
        let (mut service, mut handle) =
            mock::spawn_layer::<Request<Body>, Response<Body>, _>(SetRequestIdLayer::new());
        handle.allow(0);
        assert!(service.poll_ready().is_pending());
        handle.allow(1);
        assert!(matches!(
            service.poll_ready(),
            std::task::Poll::Ready(Ok(()))
        ));
        let call = service.call(Request::get("/").body(Body::empty()).unwrap());
        let (request, send) = handle.next_request().await.unwrap();
        assert!(request.extensions().get::<RequestId>().is_some());
        send.send_response(Response::new(Body::empty()));
        let response = call.await.unwrap();
        assert_eq!(
            response.headers()[X_OPENSTACK_REQUEST_ID],
            *request
                .extensions()
                .get::<RequestId>()
                .unwrap()
                .header_value()
        );
    }
}
