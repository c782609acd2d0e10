//! The client's error type, classified by who is at fault.

use std::time::Duration;

/// An error talking to Keystone.
///
/// [`Error::is_unavailable`] tells the layers whether to answer 503 (Keystone,
/// or our connection to it, failed) rather than blaming the caller.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Keystone could not be reached (connection refused, reset, DNS, TLS).
    #[error("keystone unreachable at {endpoint}: {reason}")]
    Unreachable {
        /// The endpoint (no credentials in it).
        endpoint: String,
        /// A description of the transport error.
        reason: String,
    },
    /// A whole call took longer than the configured bound.
    #[error("keystone call to {endpoint} timed out after {after:?}")]
    Timeout {
        /// The endpoint.
        endpoint: String,
        /// The bound that elapsed.
        after: Duration,
    },
    /// Every one of the client's calls to Keystone was in use for the whole
    /// wait (`max_concurrent_calls`): Keystone is not keeping up.
    #[error("all {limit} calls to keystone stayed in use for {waited:?}")]
    Busy {
        /// The bound on calls at once.
        limit: usize,
        /// How long this call waited for one of them.
        waited: Duration,
    },
    /// Keystone answered with a server error.
    #[error("keystone answered {status} for {what}")]
    ServerError {
        /// The HTTP status.
        status: u16,
        /// What was asked.
        what: &'static str,
    },
    /// Keystone's answer could not be understood (not JSON, truncated, wrong shape).
    #[error("keystone sent an invalid response for {what}: {reason}")]
    InvalidResponse {
        /// What was asked.
        what: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// The service credentials were rejected (even after re-authenticating).
    #[error("keystone rejected the service credentials ({status})")]
    ServiceAuthRejected {
        /// The HTTP status Keystone answered.
        status: u16,
    },
    /// Keystone answered a client error that the caller must handle.
    #[error("keystone answered {status} for {what}")]
    Rejected {
        /// The HTTP status (4xx).
        status: u16,
        /// What was asked.
        what: &'static str,
        /// Keystone's error message, when it sent one.
        message: Option<String>,
    },
    /// No usable endpoint (catalog without the wanted interface, bad URL).
    #[error("keystone endpoint configuration: {0}")]
    Config(String),
}

impl Error {
    /// True when the fault is Keystone's or the network's: callers must answer
    /// 503 and never admit nor blame the client.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Error::Unreachable { .. }
                | Error::Timeout { .. }
                | Error::Busy { .. }
                | Error::ServerError { .. }
                | Error::InvalidResponse { .. }
                | Error::ServiceAuthRejected { .. }
                | Error::Config(_)
        )
    }

    /// The HTTP status of a [`Error::Rejected`] answer.
    pub fn rejected_status(&self) -> Option<u16> {
        match self {
            Error::Rejected { status, .. } => Some(*status),
            _ => None,
        }
    }
}
