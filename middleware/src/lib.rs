//! heatgate-middleware: OpenStack Heat's authentication and authorization as
//! composable Tower layers, drop-in for any hyper or axum service.
//!
//! - [`auth_token`]: Keystone token validation (keystonemiddleware's contract),
//!   with a bounded cache, request coalescing and a JWS pre-check;
//! - [`auth_password`]: standalone user/password authentication (Heat's
//!   `auth_password`), with an allow-list of identity URLs;
//! - [`stack_lookup`]: Heat's dual-path stack resolution (owner project or
//!   stack domain project);
//! - [`context`]: the typed [`Identity`](context::Identity) and its axum extractor;
//! - [`identity_assertion`]: the gateway -> engine trust (a short-lived signed
//!   assertion of the verified identity, bound to the request);
//! - [`identity_headers`]: the one list of identity headers, and the layer
//!   that removes them all from every request before anything else runs;
//! - [`refusal`]: Heat's JSON fault, written in one place;
//! - [`body_deadline`]: a deadline for a request's whole body (slow clients);
//! - [`request_id`]: oslo.middleware's `x-openstack-request-id`, in the
//!   response, the request's extensions and its tracing span.
#![deny(unsafe_code)]

pub mod auth_password;
pub mod auth_token;
pub mod body_deadline;
pub mod context;
pub mod ec2token;
pub mod identity_assertion;
pub mod identity_headers;
pub mod policy;
pub mod pyjson;
pub mod refusal;
pub mod request_id;
pub mod stack_lookup;
pub mod webob;

/// `get_ref`, `get_mut` and `into_inner` of a service whose inner service is
/// its field `inner`, as every tower-http service has them.
macro_rules! inner_accessors {
    ($service:ident) => {
        impl<S> $service<S> {
            /// The inner service.
            pub fn get_ref(&self) -> &S {
                &self.inner
            }

            /// The inner service, mutably.
            pub fn get_mut(&mut self) -> &mut S {
                &mut self.inner
            }

            /// Unwraps the inner service.
            pub fn into_inner(self) -> S {
                self.inner
            }
        }
    };
}
pub(crate) use inner_accessors;

/// Takes the inner service that `poll_ready` made ready, leaving a fresh clone
/// in its place (tower-service's "be careful when cloning inner services": a
/// clone is not ready, so the ready one must serve this call).
pub(crate) fn take_ready<S: Clone>(inner: &mut S) -> S {
    let clone = inner.clone();
    std::mem::replace(inner, clone)
}

/// The boxed error type of bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The README's examples, compiled (and run unless marked `no_run`) by
/// `cargo test --doc`, so the README cannot drift from the code.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme {}
