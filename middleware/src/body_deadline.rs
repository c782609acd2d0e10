//! A deadline for a request's whole body: a body that has not arrived in full
//! within the limit (counted from when the request's head was read) ends in a
//! [`BodyTimedOut`] error instead of holding its connection, and whatever
//! reads it answers accordingly (ec2token and the proxy: 408).
//!
//! A per-read timeout is not enough: a client that sends one byte every few
//! seconds never trips one, and ec2token reads the body before anything is
//! authenticated, so such a client needs no credentials to hold a connection
//! (and enough of them, every connection a listener serves).
//!
//! Requests without a body (`GET`, `Content-Length: 0`) are passed on as they
//! are: no timer, no allocation.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::time::Duration;
//!
//! use axum::body::Body;
//! use heatgate_middleware::body_deadline::{BodyDeadlineLayer, BodyTimedOut};
//! use http_body_util::BodyExt;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! let service = ServiceBuilder::new()
//!     .layer(BodyDeadlineLayer::new(Duration::from_millis(50)))
//!     .service(service_fn(|request: http::Request<Body>| async move {
//!         let read = request.into_body().collect().await;
//!         let timed_out = read.err().is_some_and(|e| BodyTimedOut::caused(&e));
//!         Ok::<_, std::convert::Infallible>(http::Response::new(Body::from(timed_out.to_string())))
//!     }));
//! // A body that never ends.
//! let never = futures_util::stream::pending::<Result<bytes::Bytes, std::io::Error>>();
//! let never = Body::from_stream(never);
//! let response = service.oneshot(http::Request::post("/").body(never).unwrap()).await.unwrap();
//! let text = response.into_body().collect().await.unwrap().to_bytes();
//! assert_eq!(text, "true");
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::Request;
use http_body::{Body as HttpBody, Frame, SizeHint};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::BoxError;

/// The body did not arrive in full within the deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyTimedOut(pub Duration);

impl BodyTimedOut {
    /// Whether `error`, or any error it was caused by, is a [`BodyTimedOut`].
    pub fn caused(error: &(dyn std::error::Error + 'static)) -> bool {
        let mut cause = Some(error);
        while let Some(e) = cause {
            if e.is::<BodyTimedOut>() {
                return true;
            }
            cause = e.source();
        }
        false
    }
}

/// Puts a deadline on each request's body (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct BodyDeadlineLayer {
    limit: Duration,
}

impl BodyDeadlineLayer {
    /// Bodies must arrive in full within `limit`.
    pub fn new(limit: Duration) -> Self {
        Self { limit }
    }
}

impl<S> Layer<S> for BodyDeadlineLayer {
    type Service = BodyDeadline<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BodyDeadline {
            inner,
            limit: self.limit,
        }
    }
}

/// The service of [`BodyDeadlineLayer`].
#[derive(Debug, Clone)]
pub struct BodyDeadline<S> {
    inner: S,
    limit: Duration,
}

crate::inner_accessors!(BodyDeadline);

impl<S> Service<Request<Body>> for BodyDeadline<S>
where
    S: Service<Request<Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        if request.body().is_end_stream() {
            return self.inner.call(request);
        }
        let limit = self.limit;
        let request = request.map(|body| {
            Body::new(DeadlineBody {
                inner: body,
                sleep: tokio::time::sleep(limit),
                limit,
            })
        });
        self.inner.call(request)
    }
}

pin_project! {
    /// A body that fails with [`BodyTimedOut`] once its deadline passes.
    struct DeadlineBody<B> {
        #[pin]
        inner: B,
        #[pin]
        sleep: tokio::time::Sleep,
        limit: Duration,
    }
}

impl<B> HttpBody for DeadlineBody<B>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        if let Poll::Ready(frame) = this.inner.poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        match this.sleep.poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimedOut(*this.limit))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    fn echo() -> impl Service<
        Request<Body>,
        Response = Result<Bytes, BoxError>,
        Error = std::convert::Infallible,
        Future = impl Send,
    > + Clone {
        tower::service_fn(|request: Request<Body>| async move {
            Ok(request
                .into_body()
                .collect()
                .await
                .map(|c| c.to_bytes())
                .map_err(|e| -> BoxError { e.into() }))
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickling_body_is_cut_at_the_deadline_and_a_prompt_one_is_not() {
        let service = BodyDeadlineLayer::new(Duration::from_secs(10)).layer(echo());
        // One byte a second, forever.
        let trickle = futures_util::stream::unfold((), |()| async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Some((Ok::<_, std::io::Error>(Bytes::from_static(b"x")), ()))
        });
        let started = tokio::time::Instant::now();
        let read = service
            .clone()
            .oneshot(Request::post("/").body(Body::from_stream(trickle)).unwrap())
            .await
            .unwrap();
        let error = read.unwrap_err();
        assert!(BodyTimedOut::caused(&*error), "{error}");
        assert_eq!(started.elapsed(), Duration::from_secs(10));

        let read = service
            .clone()
            .oneshot(Request::post("/").body(Body::from("whole")).unwrap())
            .await
            .unwrap();
        assert_eq!(read.unwrap(), "whole");
        let read = service
            .oneshot(Request::get("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(read.unwrap(), "");
    }
}
