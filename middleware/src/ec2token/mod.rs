//! ec2token: AWS-style signed requests (SigV0, 1, 2 and 4), verified through
//! Keystone's `/v3/ec2tokens` as Heat's `ec2authtoken` middleware does, or
//! locally (`verify = "local"`).
//!
//! For every request the layer
//! 1. removes every identity header a client sent
//!    ([`identity_headers`](crate::identity_headers)): what goes on is only
//!    what this layer verified;
//! 2. finds the signature (param `Signature`, else `X-Amz-Signature`, else the
//!    `Authorization` header) and the access key (`AWSAccessKeyId`, else
//!    `X-Amz-Credential`, else the header's `Credential=`), reading a form body
//!    within `max_body_size`; without them it answers `IncompleteSignature` (400)
//!    or `MissingAuthenticationToken` (403). A request with `X-Auth-User`
//!    (which Heat's ec2token passes on for the auth_token layer behind it) is
//!    handled as [`Unsigned`] says: refused (the default), passed on, or
//!    admitted only with a valid `X-Auth-Token`, as Heat's pipeline would;
//! 3. refuses what Keystone could not compute (400), time stamps older than
//!    15 minutes, too far in the future, or past `Expires` / `X-Amz-Expires`
//!    (403 `AccessDenied`; any year the parser reads, 0 to 9999, is compared
//!    without overflow);
//! 4. asks Keystone (or verifies locally) and answers `InvalidClientTokenId`,
//!    `SignatureDoesNotMatch` or `AccessDenied` (403), or `ServiceUnavailable`
//!    (503) when Keystone cannot be asked; a token of a restricted application
//!    credential is admitted only as its access rules allow (403 `AccessDenied`);
//! 5. removes `X-Auth-Token`, `X-Tenant-Name`, `X-Tenant-Id`, `X-Roles`,
//!    `X-Auth-URL` and `X-Auth-EC2-Creds` from the request and sets them from the
//!    token; puts a typed [`Identity`](crate::context::Identity)
//!    ([`AuthMethod::Ec2Signature`](crate::context::AuthMethod::Ec2Signature),
//!    with the verified access key) into its extensions, and the body it read
//!    back into the request.
//!
//! Beyond Heat: `X-Amz-Signature` is not sent to Keystone as a parameter, so
//! presigned SigV4 URLs work; repeated parameter names are refused (400
//! `InvalidQueryParameter`), since Heat verifies the last value while a service
//! behind may read the first; parameters that are not UTF-8 are refused (400
//! `InvalidQueryParameter`) where Heat fails with a 500; requests Keystone would
//! crash on (a SigV0 request without `Action`, an unknown `SignatureVersion`, a
//! SigV4 credential scope of fewer than four parts, a missing `X-Amz-Date` or
//! one that does not start with the scope's date) are refused here (400
//! `IncompleteSignature`); bodies over `max_body_size` (Heat's 112 KiB) get
//! 400 `RequestLimitExceeded`. Heat's `multi_cloud` / `allowed_auth_uris` are
//! not offered.
//!
//! ## Local mode
//! With `verify = "local"` the credential behind an access key (secret, user,
//! project) is read once with the service identity
//! (`GET /v3/credentials/{sha256(access)}`; Keystone lets a project admin read
//! it) and trusted for `credential_cache_time` (60 s; an unknown key for
//! `negative_cache_time`); signatures are verified here with the code Keystone
//! runs ([`signature`]), the SigV4 signing key derived once per scope; the
//! project-scoped token that `/v3/ec2tokens` issued for the first verified
//! request is reused for `token_cache_time` (300 s) and never within
//! `token_expiry_margin` (120 s) of its expiry. A credential deleted in Keystone
//! stops working within `credential_cache_time`; a user disabled in Keystone
//! within `token_cache_time`. Wrong signatures are refused without a Keystone
//! call (`SignatureDoesNotMatch`; keystone mode says `AccessDenied` unless
//! Keystone runs with `insecure_debug`).
//!
//! Errors are Heat's AWS XML documents ([`Ec2Error`]).
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use heatgate_keystone::{Client, ClientConfig};
//! use heatgate_middleware::context::Identity;
//! use heatgate_middleware::ec2token::{Ec2TokenConfig, Ec2TokenLayer};
//!
//! # fn demo(client_config: ClientConfig) -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::new(client_config)?;
//! let layer = Ec2TokenLayer::new(Ec2TokenConfig::default(), client)?;
//! let app: Router = Router::new()
//!     .route("/v1/", get(|id: Identity| async move { id.user_id.clone() }))
//!     .layer(layer);
//! # Ok(()) }
//! ```
//!
//! A request without a signature is refused without asking Keystone:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use axum::body::Body;
//! use heatgate_keystone::{Client, ClientConfig};
//! use heatgate_middleware::ec2token::{Ec2TokenConfig, Ec2TokenLayer};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! let client = Client::new(ClientConfig::new("http://127.0.0.1:5000/v3".parse().unwrap())).unwrap();
//! let service = ServiceBuilder::new()
//!     .layer(Ec2TokenLayer::new(Ec2TokenConfig::default(), client).unwrap())
//!     .service(service_fn(|_req: http::Request<Body>| async {
//!         Ok::<_, std::convert::Infallible>(http::Response::new(Body::empty()))
//!     }));
//! let request = http::Request::get("/v1/?Action=ListStacks").body(Body::empty()).unwrap();
//! let response = service.oneshot(request).await.unwrap();
//! assert_eq!(response.status(), 400); // IncompleteSignature
//! # }
//! ```
//!
//! The parsers have a fuzz target (`middleware/fuzz`; a campaign:
//! `scripts/fuzz`) whose body is [`fuzz::ec2_request`], so that its seed
//! corpus runs as an ordinary test too.

mod config;
mod error;
pub mod fuzz;
mod local;
pub mod request;
mod service;
pub mod signature;

use std::sync::Arc;

use heatgate_keystone::{Ec2Outcome, Secret, TokenBody};

pub use config::{Ec2TokenConfig, VerifyMode};
pub use error::{xml_body, Ec2Error};
pub use local::LocalStats;
pub use service::{Ec2Token, Ec2TokenLayer, Ec2TokenLayerError, Unsigned, DOWNSTREAM_HEADERS};

/// A verified signed request: the token Keystone issued for it.
#[derive(Debug, Clone)]
pub(crate) struct Verified {
    token: Secret,
    body: Arc<TokenBody>,
}

/// The AWS error for a Keystone refusal. The message is only informative with
/// Keystone's `insecure_debug`; without it Heat's `AccessDenied` stands.
pub(crate) fn keystone_refusal(outcome: &Ec2Outcome) -> Ec2Error {
    match outcome {
        Ec2Outcome::UnknownAccessKey => Ec2Error::UnknownAccessKey,
        Ec2Outcome::Rejected { status: 413, .. } => Ec2Error::TooLarge,
        Ec2Outcome::Rejected {
            message: Some(m), ..
        } if m.starts_with("Invalid EC2 signature")
            || m.starts_with("EC2 signature not supplied") =>
        {
            Ec2Error::SignatureMismatch
        }
        _ => Ec2Error::AccessDenied("keystone refused the signature"),
    }
}
