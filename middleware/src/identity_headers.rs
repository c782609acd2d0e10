//! The one list of identity headers: every request header that a service
//! behind the layers reads as who the caller is, and the layer that removes
//! them all before anything else runs.
//!
//! Two groups, one list ([`IDENTITY_HEADERS`]):
//! 1. [`KEYSTONE_IDENTITY_HEADERS`]: what keystonemiddleware's auth_token sets
//!    (and so removes first): `X-Identity-Status`, the ten identity attributes
//!    (`X-User-Id`, `X-Project-Name`, ...) under `X-` and `X-Service-`, the
//!    roles, `X-Is-Admin-Project`, `X-Service-Catalog`, the deprecated copies
//!    (`X-Role`, `X-User`, `X-Tenant-Id`, `X-Tenant-Name`, `X-Tenant`) and
//!    `OpenStack-System-Scope` (which the reference forgets to remove);
//! 2. [`HEAT_IDENTITY_HEADERS`]: what Heat's request context also takes as
//!    identity from any request: `X-Auth-EC2-Creds` (the caller's EC2 key, which
//!    lets an in-instance key read what its access policy allows) and
//!    `X-Auth-Url` (where Heat sends credentials).
//!
//! [`StripIdentityLayer`] removes every one of them from every request, so a
//! listener starts from nothing a client claimed and each layer behind it sets
//! only what it verified. What it removed is kept aside in the request's
//! extensions ([`ClientSent`]) for the one layer that takes part of it as a
//! credential to check, not as identity: standalone `auth_password`, which
//! reads the user's domain (`X-User-Domain-Id`) and the identity URL it may
//! authenticate at (`X-Auth-Url`, within its allow-list).
//!
//! Each name is also removed when spelt with `_` for `-` (`X_Roles`): a WSGI
//! server behind would read it as the same header (`HTTP_X_ROLES`).
//!
//! `X-Auth-Token`, `X-Auth-User` and `X-Auth-Key` are credentials that the
//! layers verify, not identity: they are not on the list.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use axum::body::Body;
//! use heatgate_middleware::identity_headers::StripIdentityLayer;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! let service = ServiceBuilder::new()
//!     .layer(StripIdentityLayer::new())
//!     .service(service_fn(|request: http::Request<Body>| async move {
//!         // Nothing a client claimed reaches the service.
//!         assert!(request.headers().get("x-roles").is_none());
//!         assert!(request.headers().get("x-auth-ec2-creds").is_none());
//!         assert_eq!(request.headers()["x-auth-token"], "t");
//!         Ok::<_, std::convert::Infallible>(http::Response::new(Body::empty()))
//!     }));
//! let request = http::Request::get("/v1/")
//!     .header("X-Roles", "admin")
//!     .header("X-Auth-EC2-Creds", r#"{"ec2Credentials": {"access": "AK"}}"#)
//!     .header("X-Auth-Token", "t")
//!     .body(Body::empty())
//!     .unwrap();
//! service.oneshot(request).await.unwrap();
//! # }
//! ```

use std::task::{Context, Poll};

use http::{HeaderMap, HeaderName, Request};
use tower::{Layer, Service};

/// What keystonemiddleware's auth_token sets downstream (user and service
/// sets, the deprecated copies), plus `OpenStack-System-Scope`.
pub static KEYSTONE_IDENTITY_HEADERS: [HeaderName; 32] = [
    HeaderName::from_static("x-identity-status"),
    HeaderName::from_static("x-service-identity-status"),
    HeaderName::from_static("x-domain-id"),
    HeaderName::from_static("x-domain-name"),
    HeaderName::from_static("x-project-id"),
    HeaderName::from_static("x-project-name"),
    HeaderName::from_static("x-project-domain-id"),
    HeaderName::from_static("x-project-domain-name"),
    HeaderName::from_static("x-user-id"),
    HeaderName::from_static("x-user-name"),
    HeaderName::from_static("x-user-domain-id"),
    HeaderName::from_static("x-user-domain-name"),
    HeaderName::from_static("x-roles"),
    HeaderName::from_static("x-service-domain-id"),
    HeaderName::from_static("x-service-domain-name"),
    HeaderName::from_static("x-service-project-id"),
    HeaderName::from_static("x-service-project-name"),
    HeaderName::from_static("x-service-project-domain-id"),
    HeaderName::from_static("x-service-project-domain-name"),
    HeaderName::from_static("x-service-user-id"),
    HeaderName::from_static("x-service-user-name"),
    HeaderName::from_static("x-service-user-domain-id"),
    HeaderName::from_static("x-service-user-domain-name"),
    HeaderName::from_static("x-service-roles"),
    HeaderName::from_static("x-is-admin-project"),
    HeaderName::from_static("x-service-catalog"),
    HeaderName::from_static("openstack-system-scope"),
    HeaderName::from_static("x-role"),
    HeaderName::from_static("x-user"),
    HeaderName::from_static("x-tenant-id"),
    HeaderName::from_static("x-tenant-name"),
    HeaderName::from_static("x-tenant"),
];

/// What Heat's request context also reads as identity.
pub static HEAT_IDENTITY_HEADERS: [HeaderName; 2] = [
    HeaderName::from_static("x-auth-ec2-creds"),
    HeaderName::from_static("x-auth-url"),
];

/// Every identity header: [`KEYSTONE_IDENTITY_HEADERS`], then
/// [`HEAT_IDENTITY_HEADERS`].
pub fn identity_headers() -> impl Iterator<Item = &'static HeaderName> {
    KEYSTONE_IDENTITY_HEADERS
        .iter()
        .chain(HEAT_IDENTITY_HEADERS.iter())
}

/// The number of names [`identity_headers`] yields.
pub const IDENTITY_HEADERS: usize = KEYSTONE_IDENTITY_HEADERS.len() + HEAT_IDENTITY_HEADERS.len();

/// Whether `name` (lower case, as `http` keeps names) is one of
/// [`KEYSTONE_IDENTITY_HEADERS`], also when spelt with `_` for `-`
/// (`x_roles`), which a WSGI application behind cannot tell apart.
///
/// ```
/// use heatgate_middleware::identity_headers::is_keystone_identity_header;
/// assert!(is_keystone_identity_header("x-roles"));
/// assert!(is_keystone_identity_header("x-service-project-domain-name"));
/// assert!(is_keystone_identity_header("openstack-system-scope"));
/// assert!(is_keystone_identity_header("x_user_id"));
/// assert!(is_keystone_identity_header("openstack_system_scope"));
/// assert!(!is_keystone_identity_header("x-auth-token"));
/// assert!(!is_keystone_identity_header("x-auth-ec2-creds"));
/// ```
pub fn is_keystone_identity_header(name: &str) -> bool {
    // Most names of a request start with neither: one comparison for them.
    match name.as_bytes().first() {
        Some(b'x' | b'o') => KEYSTONE_IDENTITY_HEADERS
            .iter()
            .any(|h| same_to_wsgi(h.as_str(), name)),
        _ => false,
    }
}

/// Whether `name` reaches a WSGI application as the listed name `listed`: a
/// WSGI server turns `-` into `_` (`X-User-Id` is `HTTP_X_USER_ID`), so
/// `X_User_Id` is the same header to it, and several servers pass such a name
/// on. (nginx drops names with underscores by default for this reason.)
fn same_to_wsgi(listed: &str, name: &str) -> bool {
    listed.len() == name.len()
        && listed
            .bytes()
            .zip(name.bytes())
            .all(|(l, n)| l == n || (l == b'-' && n == b'_'))
}

/// Whether `name` (lower case) is on the whole list ([`identity_headers`]).
///
/// ```
/// use heatgate_middleware::identity_headers::is_identity_header;
/// assert!(is_identity_header("x-auth-ec2-creds"));
/// assert!(is_identity_header("x-auth-url"));
/// assert!(is_identity_header("x-tenant-id"));
/// assert!(!is_identity_header("x-auth-user"));
/// ```
pub fn is_identity_header(name: &str) -> bool {
    is_keystone_identity_header(name)
        || HEAT_IDENTITY_HEADERS
            .iter()
            .any(|h| same_to_wsgi(h.as_str(), name))
}

/// Removes from `headers` every name `remove` picks, and returns what it
/// removed (`None` when nothing was: the common case allocates nothing).
pub(crate) fn remove_where(
    headers: &mut HeaderMap,
    remove: impl Fn(&str) -> bool,
) -> Option<HeaderMap> {
    // One pass to find them (most requests carry none), then remove.
    let mut found: Vec<HeaderName> = Vec::new();
    for name in headers.keys() {
        if remove(name.as_str()) && !found.contains(name) {
            found.push(name.clone());
        }
    }
    if found.is_empty() {
        return None;
    }
    let mut removed = HeaderMap::with_capacity(found.len());
    for name in found {
        if let http::header::Entry::Occupied(entry) = headers.entry(name) {
            let (name, values) = entry.remove_entry_mult();
            for value in values {
                removed.append(name.clone(), value);
            }
        }
    }
    Some(removed)
}

/// The identity headers a client sent, removed by [`StripIdentityLayer`]
/// (present in the request's extensions only when there were some).
///
/// Nothing here is identity: a layer may take a value from it only as a
/// credential it then checks (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct ClientSent(pub HeaderMap);

/// Removes every identity header from `request`, keeping them aside as
/// [`ClientSent`] (see the module docs).
pub fn strip_identity<B>(request: &mut Request<B>) {
    if let Some(removed) = remove_where(request.headers_mut(), is_identity_header) {
        request.extensions_mut().insert(ClientSent(removed));
    }
}

/// Removes every identity header from each request (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct StripIdentityLayer {
    _private: (),
}

impl StripIdentityLayer {
    /// The layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for StripIdentityLayer {
    type Service = StripIdentity<S>;

    fn layer(&self, inner: S) -> Self::Service {
        StripIdentity { inner }
    }
}

/// The service of [`StripIdentityLayer`].
#[derive(Debug, Clone)]
pub struct StripIdentity<S> {
    inner: S,
}

crate::inner_accessors!(StripIdentity);

impl<S, B> Service<Request<B>> for StripIdentity<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        strip_identity(&mut request);
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_has_no_repeats_and_every_name_is_found() {
        let all: Vec<_> = identity_headers().collect();
        assert_eq!(all.len(), IDENTITY_HEADERS);
        for (i, name) in all.iter().enumerate() {
            assert!(!all[..i].contains(name), "{name} twice");
            assert!(is_identity_header(name.as_str()));
        }
        for name in [
            "x-auth-token",
            "x-auth-user",
            "x-auth-key",
            "host",
            "x-forwarded-for",
        ] {
            assert!(!is_identity_header(name), "{name}");
        }
        // What a WSGI server would read as the same header.
        for name in identity_headers() {
            let underscored = name.as_str().replace('-', "_");
            assert!(is_identity_header(&underscored), "{underscored}");
            let mixed = name.as_str().replacen('-', "_", 1);
            assert!(is_identity_header(&mixed), "{mixed}");
        }
        assert!(!is_identity_header("x_auth_token"));
    }

    #[test]
    fn every_value_of_every_name_is_removed_and_kept_aside() {
        let mut request = Request::get("/").body(()).unwrap();
        let headers = request.headers_mut();
        for (i, name) in identity_headers().enumerate() {
            headers.append(name.clone(), http::HeaderValue::from(i));
            headers.append(name.clone(), http::HeaderValue::from_static("again"));
        }
        headers.insert("x-auth-token", http::HeaderValue::from_static("t"));
        strip_identity(&mut request);
        assert_eq!(request.headers().len(), 1);
        let sent = request.extensions().get::<ClientSent>().unwrap();
        assert_eq!(sent.0.len(), 2 * IDENTITY_HEADERS);
        assert_eq!(sent.0.get_all("x-roles").iter().count(), 2);
    }

    #[test]
    fn nothing_to_strip_inserts_nothing() {
        let mut request = Request::get("/")
            .header("x-auth-token", "t")
            .body(())
            .unwrap();
        strip_identity(&mut request);
        assert!(request.extensions().get::<ClientSent>().is_none());
        assert_eq!(request.headers().len(), 1);
    }
}
