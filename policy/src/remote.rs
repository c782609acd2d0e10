//! `http:` / `https:` checks: the crate does no I/O itself; a [`RemoteCheck`]
//! implementation performs the POST.
//!
//! oslo.policy POSTs `rule`, `target` and `credentials` to the URL (the match
//! text with `%(key)s` filled from the target) and passes only if the response
//! body, with surrounding double quotes stripped, is exactly `True`. A timeout
//! or connection failure is an error, not a denial.
//!
//! ```
//! use std::sync::Arc;
//! use heatgate_policy::remote::{body_passes, RemoteCheck, RemoteError, RemoteRequest};
//! use heatgate_policy::{Credentials, Enforcer, RuleSet, Target};
//!
//! /// Answers like a policy server that allows one project.
//! #[derive(Debug)]
//! struct OneProject;
//! impl RemoteCheck for OneProject {
//!     fn check(&self, req: &RemoteRequest<'_>) -> Result<bool, RemoteError> {
//!         let body = if req.url.ends_with("/p1") { "\"True\"" } else { "False" };
//!         Ok(body_passes(body))
//!     }
//! }
//!
//! let rules = RuleSet::new().with_rules("t", [("r", "http://policy.local/allow/%(project_id)s")]);
//! let enforcer = Enforcer::with_remote(rules, Arc::new(OneProject));
//! let creds = Credentials::builder().build();
//! assert!(enforcer.enforce("r", &Target::new().with("project_id", "p1"), &creds).unwrap());
//! assert!(!enforcer.enforce("r", &Target::new().with("project_id", "p2"), &creds).unwrap());
//! // Without a remote checker the answer is an error, never a silent deny.
//! let plain = Enforcer::new(RuleSet::new().with_rules("t", [("r", "http://x/%(project_id)s")]));
//! assert!(plain.enforce("r", &Target::new().with("project_id", "p1"), &creds).is_err());
//! ```

use crate::creds::{Credentials, Target};

/// One remote check call.
#[derive(Debug)]
pub struct RemoteRequest<'a> {
    /// `http` or `https`.
    pub scheme: &'a str,
    /// The URL after `%`-substitution (`http://host/path`).
    pub url: &'a str,
    /// The rule being enforced (oslo's `current_rule`).
    pub rule: Option<&'a str>,
    /// The target.
    pub target: &'a Target,
    /// The credentials.
    pub credentials: &'a Credentials,
}

/// Why a remote check could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteError {
    /// No [`RemoteCheck`] is configured on the enforcer.
    #[error("no remote checker is configured for {0}")]
    NotConfigured(String),
    /// The request timed out (oslo: `RuntimeError('Timeout in REST API call')`).
    #[error("Timeout in REST API call")]
    Timeout,
    /// The connection failed or the response was unreadable.
    #[error("remote check failed: {0}")]
    Connection(String),
}

/// Performs remote checks. Implementations must bound their time.
pub trait RemoteCheck: Send + Sync + std::fmt::Debug {
    /// POSTs the request and says whether the body passes ([`body_passes`]).
    fn check(&self, req: &RemoteRequest<'_>) -> Result<bool, RemoteError>;
}

/// oslo's rule: `body.lstrip('"').rstrip('"') == "True"`.
pub fn body_passes(body: &str) -> bool {
    body.trim_start_matches('"').trim_end_matches('"') == "True"
}

/// The JSON body oslo sends (`application/json` content type).
pub fn json_payload(req: &RemoteRequest<'_>) -> String {
    let target = crate::py::PyValue::Dict(req.target.pairs().to_vec());
    let body = serde_json::json!({
        "rule": req.rule,
        "target": target,
        "credentials": req.credentials.to_value(),
    });
    body.to_string()
}

#[cfg(feature = "remote-blocking")]
pub mod blocking {
    //! A minimal blocking `http:` client over `std::net` (feature
    //! `remote-blocking`). `https:` needs a TLS-capable implementation of
    //! [`RemoteCheck`](super::RemoteCheck) supplied by the caller.

    use std::io::{Read, Write};
    use std::net::{TcpStream, ToSocketAddrs};
    use std::time::Duration;

    use super::{body_passes, json_payload, RemoteCheck, RemoteError, RemoteRequest};

    /// POSTs JSON over plain HTTP/1.1 with a bounded timeout.
    #[derive(Debug, Clone)]
    pub struct BlockingHttp {
        /// Connect, read and write timeout (oslo's `remote_timeout`, default 60 s).
        pub timeout: Duration,
    }

    impl Default for BlockingHttp {
        fn default() -> Self {
            BlockingHttp {
                timeout: Duration::from_secs(60),
            }
        }
    }

    impl RemoteCheck for BlockingHttp {
        fn check(&self, req: &RemoteRequest<'_>) -> Result<bool, RemoteError> {
            if req.scheme != "http" {
                return Err(RemoteError::NotConfigured(format!(
                    "{} (only http is built in)",
                    req.url
                )));
            }
            let rest = req
                .url
                .strip_prefix("http://")
                .ok_or_else(|| RemoteError::Connection(format!("bad URL {}", req.url)))?;
            let (hostport, path) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, "/"),
            };
            let addr = if hostport.contains(':') {
                hostport.to_string()
            } else {
                format!("{hostport}:80")
            };
            let sock = addr
                .to_socket_addrs()
                .map_err(|e| RemoteError::Connection(e.to_string()))?
                .next()
                .ok_or_else(|| RemoteError::Connection(format!("cannot resolve {addr}")))?;
            let mut s = TcpStream::connect_timeout(&sock, self.timeout).map_err(|e| map_io(&e))?;
            s.set_read_timeout(Some(self.timeout))
                .map_err(|e| map_io(&e))?;
            s.set_write_timeout(Some(self.timeout))
                .map_err(|e| map_io(&e))?;
            let body = json_payload(req);
            let head = format!(
                "POST {path} HTTP/1.1\r\nHost: {hostport}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            s.write_all(head.as_bytes())
                .and_then(|_| s.write_all(body.as_bytes()))
                .map_err(|e| map_io(&e))?;
            let mut resp = Vec::new();
            s.read_to_end(&mut resp).map_err(|e| map_io(&e))?;
            let text = String::from_utf8_lossy(&resp);
            let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
            Ok(body_passes(body))
        }
    }

    fn map_io(e: &std::io::Error) -> RemoteError {
        match e.kind() {
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => RemoteError::Timeout,
            _ => RemoteError::Connection(e.to_string()),
        }
    }

    #[cfg(test)]
    mod tests {
        use std::io::{Read, Write};
        use std::net::TcpListener;
        use std::sync::Arc;

        use super::BlockingHttp;
        use crate::{Credentials, Enforcer, RuleSet, Target};

        /// A one-shot local policy server answering `body`.
        fn serve(body: &'static str) -> u16 {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = l.local_addr().unwrap().port();
            std::thread::spawn(move || {
                if let Ok((mut s, _)) = l.accept() {
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf);
                    let _ = write!(
                        s,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                }
            });
            port
        }

        #[test]
        fn posts_to_a_local_server() {
            for (body, want) in [("\"True\"", true), ("False", false)] {
                let port = serve(body);
                let rules = RuleSet::new().with_rules(
                    "t",
                    [("r", format!("http://127.0.0.1:{port}/%(project_id)s"))],
                );
                let e = Enforcer::with_remote(rules, Arc::new(BlockingHttp::default()));
                let creds = Credentials::builder().build();
                assert_eq!(
                    e.enforce("r", &Target::new().with("project_id", "p"), &creds)
                        .unwrap(),
                    want
                );
            }
            // Nothing listening: an error, not a denial.
            let closed = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let rules =
                RuleSet::new().with_rules("t", [("r", format!("http://127.0.0.1:{closed}/x"))]);
            let e = Enforcer::with_remote(rules, Arc::new(BlockingHttp::default()));
            assert!(e
                .enforce("r", &Target::new(), &Credentials::builder().build())
                .is_err());
        }
    }
}
