//! Application-credential access rules, enforced as keystonemiddleware
//! 13.0.1 enforces them (`BaseAuthProtocol.validate_allowed_request` and
//! `_path_matches`).
//!
//! A token obtained with an application credential may carry
//! `application_credential.access_rules`: a list of `{service, method, path}`.
//! [`AccessRules::from_token`] compiles them once per validated token (`None`
//! when the token is unrestricted: no application credential, or no
//! `access_rules` key; an empty list is a restriction to nothing). Then, for
//! each request, [`AccessRules::allows`]:
//!
//! 1. refuses when this service has no `service_type` configured (unset or
//!    empty): there is nothing to check the rules against;
//! 2. allows `GET` on a path ending in `/v3/auth/tokens` when the service type
//!    is `identity` (a token may always be validated), before any other check;
//! 3. refuses when the token's catalog has no service of that type (a token
//!    validated without its catalog has an empty one: refused, where the
//!    reference fails with a `KeyError`);
//! 4. allows a request whose service token was confirmed valid (a chain of
//!    service calls, not a user-facing request). The reference exempts any
//!    request that merely *carries* an `X-Service-Token`; the caller tells us
//!    whether it was confirmed, and only then is the request exempt;
//! 5. otherwise allows the request iff some rule has exactly the request's
//!    method (case-sensitive), exactly the configured service type, and a path
//!    pattern matching the request path; else refuses.
//!
//! The request path is webob's `request.path`, which is what the reference
//! matches: the path as received is percent-decoded (as the WSGI server does
//! for `PATH_INFO`), must then be UTF-8 (webob decodes it strictly; else
//! refused), and is percent-encoded again with `urllib.parse.quote(path,
//! safe="/~!$&'()*+,;=:@")`. So `%41` and `A` are the same path, `%2F` is a
//! `/` (it separates segments), and a space or `é` is `%20` or `%C3%A9`: a rule
//! must spell such characters percent-encoded, in upper case, to match them.
//! The path is only decoded when a step needs it (2 and 5), as in the
//! reference.
//!
//! A path pattern is read left to right as the reference's tokenizer reads it:
//! `{...}` (up to the next `}`, whatever it contains) and a `*` not followed
//! by another `*` match one non-empty segment (`[^/]+`); `**` matches anything
//! but a newline (`.*`, possibly empty, across `/`); a `{` with no `}` after
//! it and a stray `}` are skipped; every other character matches itself. So
//! `***` is `**` then `*`. The whole path must match. Two deliberate
//! differences from the reference:
//! - literal characters are literal, as Keystone documents rule paths. The
//!   reference pastes them unescaped into a Python regex: the `.` of
//!   `/v2.1/servers` matches any character there (ours refuses `/v2x1/...`),
//!   and `(`, `[`, `+`, `?`, `|`, `$`, `^` or `\` turn a rule into regex
//!   syntax or a `re.error` (a 500): `/a|/b` allows every path starting with
//!   `/a`, and `/a+` does not allow `/a+`. Here each rule means its text;
//! - the end of the pattern is the end of the path: Python's `$` also accepts
//!   a trailing newline (unreachable through webob's path, which encodes it).
//!
//! Matching simulates the pattern's automaton over the path, one state per
//! pattern piece: time is linear in the path's length times the pattern's, so
//! a rule like `**/**/**/...` cannot make a request slow.

use std::borrow::Cow;

use heatgate_keystone::TokenBody;
use http::Method;

/// The access rules of ONE restricted application-credential token, compiled
/// when the token is validated: the rules with their path matchers, and the
/// service types of the token's catalog. See the module docs for the contract.
///
/// ```
/// use heatgate_middleware::auth_token::{AccessRuleRefusal, AccessRules};
/// use http::Method;
///
/// let body: heatgate_keystone::TokenBody = serde_json::from_str(
///     r#"{"expires_at": "2030-01-01T00:00:00Z", "user": {"id": "u1"},
///         "catalog": [{"type": "orchestration", "endpoints": []}],
///         "application_credential": {"id": "ac1", "access_rules": [
///             {"id": "r1", "service": "orchestration", "method": "GET",
///              "path": "/v1/{project_id}/stacks/**"}]}}"#,
/// )?;
/// let rules = AccessRules::from_token(&body).expect("the token is restricted");
/// let heat = Some("orchestration");
/// assert_eq!(rules.allows(heat, &Method::GET, "/v1/p1/stacks/s/1234", false), Ok(()));
/// assert_eq!(
///     rules.allows(heat, &Method::DELETE, "/v1/p1/stacks/s/1234", false),
///     Err(AccessRuleRefusal::NoMatchingRule)
/// );
/// assert_eq!(
///     rules.allows(None, &Method::GET, "/v1/p1/stacks", false),
///     Err(AccessRuleRefusal::NoServiceType)
/// );
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct AccessRules {
    rules: Box<[CompiledRule]>,
    /// Distinct, sorted.
    catalog_types: Box<[String]>,
}

/// Why [`AccessRules::allows`] refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccessRuleRefusal {
    /// The token is restricted but no `service_type` is configured.
    #[error("the token is restricted by access rules and no service_type is configured to check them against")]
    NoServiceType,
    /// The configured service type is not in the token's catalog.
    #[error("the configured service_type is not a service type of the token's catalog")]
    ServiceNotInCatalog,
    /// No rule allows the request's method and path on this service.
    #[error("no access rule allows this method and path on this service")]
    NoMatchingRule,
    /// The request path is not UTF-8 once percent-decoded.
    #[error("the request path is not UTF-8 once percent-decoded")]
    UndecodablePath,
}

#[derive(Debug, Clone)]
struct CompiledRule {
    service: String,
    method: String,
    path: PathPattern,
}

impl AccessRules {
    /// The token's access rules, compiled; `None` when the token is not
    /// restricted (no application credential, or no `access_rules` key).
    pub fn from_token(body: &TokenBody) -> Option<AccessRules> {
        let rules = body
            .application_credential
            .as_ref()?
            .access_rules
            .as_ref()?;
        let rules = rules
            .iter()
            .map(|rule| CompiledRule {
                service: rule.service.clone(),
                method: rule.method.clone(),
                path: PathPattern::compile(&rule.path),
            })
            .collect();
        let mut catalog_types: Vec<String> = body
            .catalog
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|entry| entry.service_type.clone())
            .collect();
        catalog_types.sort_unstable();
        catalog_types.dedup();
        Some(AccessRules {
            rules,
            catalog_types: catalog_types.into_boxed_slice(),
        })
    }

    /// Whether the token may make this request (the module docs give the
    /// steps). `service_type` is this service's configured type, `raw_path`
    /// the request URI's path as received (percent-encoded), and
    /// `service_token_confirmed` whether the request also carried a service
    /// token that was validated and accepted.
    pub fn allows(
        &self,
        service_type: Option<&str>,
        method: &Method,
        raw_path: &str,
        service_token_confirmed: bool,
    ) -> Result<(), AccessRuleRefusal> {
        // 1. Python's `if not my_service_type`: empty is unset.
        let service_type = service_type
            .filter(|s| !s.is_empty())
            .ok_or(AccessRuleRefusal::NoServiceType)?;
        // Decoded at most once, and only if a step needs it.
        let mut path: Option<Cow<'_, str>> = None;
        // 2. A restricted token can still validate itself.
        if service_type == "identity" && *method == Method::GET {
            let p = path.insert(webob_path(raw_path)?);
            if p.ends_with("/v3/auth/tokens") {
                return Ok(());
            }
        }
        // 3.
        if self
            .catalog_types
            .binary_search_by(|t| t.as_str().cmp(service_type))
            .is_err()
        {
            return Err(AccessRuleRefusal::ServiceNotInCatalog);
        }
        // 4.
        if service_token_confirmed {
            return Ok(());
        }
        // 5.
        let path = match path {
            Some(p) => p,
            None => webob_path(raw_path)?,
        };
        let allowed = self.rules.iter().any(|rule| {
            rule.method == method.as_str()
                && rule.service == service_type
                && rule.path.matches(&path)
        });
        if allowed {
            Ok(())
        } else {
            Err(AccessRuleRefusal::NoMatchingRule)
        }
    }
}

/// Whether `path` matches the access-rule path `pattern` (see the module docs).
// The compiled form serves requests; this one-shot form is for tests.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn path_matches(path: &str, pattern: &str) -> bool {
    PathPattern::compile(pattern).matches(path)
}

/// One piece of a path pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    /// This character.
    Literal(char),
    /// `[^/]+`: `*` or `{name}`.
    Segment,
    /// `.*` (no newline): `**`.
    Anything,
}

/// A compiled path pattern: the reference's tokens, in order.
#[derive(Debug, Clone)]
struct PathPattern {
    pieces: Box<[Piece]>,
}

impl PathPattern {
    /// Tokenizes as the reference's `re.finditer` does with
    /// `(?P<tag>{[^}]*})|(?P<wild>\*(?=$|[^\*]))|(?P<rec_wild>\*\*)|(?P<literal>[^{}\*])`:
    /// the alternatives are tried in that order at each position, and a
    /// position none of them matches (a `{` without a later `}`, or a `}`) is
    /// skipped.
    fn compile(pattern: &str) -> Self {
        let chars: Vec<char> = pattern.chars().collect();
        let mut pieces = Vec::with_capacity(chars.len());
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '{' => match chars[i + 1..].iter().position(|&c| c == '}') {
                    Some(len) => {
                        pieces.push(Piece::Segment);
                        i += len + 2;
                    }
                    None => i += 1,
                },
                '}' => i += 1,
                '*' if chars.get(i + 1) == Some(&'*') => {
                    pieces.push(Piece::Anything);
                    i += 2;
                }
                '*' => {
                    pieces.push(Piece::Segment);
                    i += 1;
                }
                c => {
                    pieces.push(Piece::Literal(c));
                    i += 1;
                }
            }
        }
        PathPattern {
            pieces: pieces.into_boxed_slice(),
        }
    }

    /// Whether the whole of `path` matches. State `k` means "the first `k`
    /// pieces matched what was read"; the repeating part of a `Segment` or
    /// `Anything` piece is a loop on the state after it (only that piece leads
    /// there), and `Anything` may also match nothing (an empty move).
    fn matches(&self, path: &str) -> bool {
        let n = self.pieces.len();
        let mut now = vec![false; n + 1];
        let mut next = vec![false; n + 1];
        now[0] = true;
        self.skip_empty(&mut now);
        for ch in path.chars() {
            next.fill(false);
            let mut alive = false;
            for state in 0..=n {
                if !now[state] {
                    continue;
                }
                // Leave `state` through the piece after it...
                let enter = match self.pieces.get(state) {
                    Some(Piece::Literal(c)) => *c == ch,
                    Some(Piece::Segment) => ch != '/',
                    Some(Piece::Anything) | None => false,
                };
                if enter {
                    next[state + 1] = true;
                    alive = true;
                }
                // ... or stay in it, repeating the piece before it.
                let stay = match state.checked_sub(1).map(|k| self.pieces[k]) {
                    Some(Piece::Segment) => ch != '/',
                    // Python's `.`: anything but a newline.
                    Some(Piece::Anything) => ch != '\n',
                    Some(Piece::Literal(_)) | None => false,
                };
                if stay {
                    next[state] = true;
                    alive = true;
                }
            }
            if !alive {
                return false;
            }
            self.skip_empty(&mut next);
            std::mem::swap(&mut now, &mut next);
        }
        now[n]
    }

    /// Adds the states reachable by letting `Anything` pieces match nothing
    /// (in order, so a run of them is crossed at once).
    fn skip_empty(&self, states: &mut [bool]) {
        for (k, piece) in self.pieces.iter().enumerate() {
            if states[k] && *piece == Piece::Anything {
                states[k + 1] = true;
            }
        }
    }
}

/// `urllib.parse.quote`'s always-safe characters and webob's `PATH_SAFE`.
fn is_path_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"_.-~/!$&'()*+,;=:@".contains(&b)
}

/// webob's `request.path` for a path as received: percent-decoded (`%` not
/// followed by two hex digits stays as it is, as with `urllib.parse.unquote`),
/// strictly UTF-8, then percent-encoded again with upper-case hex.
fn webob_path(raw: &str) -> Result<Cow<'_, str>, AccessRuleRefusal> {
    // Nothing to decode nor to encode: the common case.
    if raw.bytes().all(is_path_safe) {
        return Ok(Cow::Borrowed(raw));
    }
    let raw = raw.as_bytes();
    let mut decoded = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let escaped = match raw.get(i..i + 3) {
            Some([b'%', hi, lo]) => hex_value(*hi).zip(hex_value(*lo)),
            _ => None,
        };
        match escaped {
            Some((hi, lo)) => {
                decoded.push(hi << 4 | lo);
                i += 3;
            }
            None => {
                decoded.push(raw[i]);
                i += 1;
            }
        }
    }
    if std::str::from_utf8(&decoded).is_err() {
        return Err(AccessRuleRefusal::UndecodablePath);
    }
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut quoted = String::with_capacity(decoded.len() * 3);
    for b in decoded {
        if is_path_safe(b) {
            quoted.push(char::from(b));
        } else {
            quoted.push('%');
            quoted.push(char::from(HEX[usize::from(b >> 4)]));
            quoted.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    Ok(Cow::Owned(quoted))
}

fn hex_value(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::{json, Value};

    fn token(access_rules: Value, catalog: Option<&[&str]>) -> TokenBody {
        let mut body = json!({
            "methods": ["application_credential"],
            "expires_at": "2030-01-01T00:00:00Z",
            "user": {"id": "u1"},
            "application_credential": {"id": "ac1", "restricted": true},
        });
        if !access_rules.is_null() {
            body["application_credential"]["access_rules"] = access_rules;
        }
        if let Some(types) = catalog {
            body["catalog"] = types
                .iter()
                .map(|t| json!({"type": t, "endpoints": []}))
                .collect();
        }
        serde_json::from_value(body).unwrap()
    }

    fn rule(service: &str, method: &str, path: &str) -> Value {
        json!({"service": service, "method": method, "path": path})
    }

    fn rules(access_rules: Value, catalog: &[&str]) -> AccessRules {
        AccessRules::from_token(&token(access_rules, Some(catalog))).expect("restricted")
    }

    // keystonemiddleware's client_fixtures: v3_APP_CRED_MATCHING_RULES.
    fn reference_matching_rules() -> AccessRules {
        rules(
            json!([
                rule("compute", "GET", "/v2.1/servers/{server_id}"),
                rule("image", "GET", "/v2/images/*"),
                rule("identity", "GET", "**"),
                rule(
                    "block-storage",
                    "GET",
                    "/v3/{project_id}/types/{volume_type_id}"
                ),
                rule("object-store", "GET", "/v1/*/*/*"),
            ]),
            &[
                "identity",
                "compute",
                "image",
                "block-storage",
                "object-store",
            ],
        )
    }

    const GET: &Method = &Method::GET;

    #[test]
    fn reference_test_app_cred_matching_rules() {
        let r = reference_matching_rules();
        let cases: &[(&str, &str, bool)] = &[
            ("compute", "/v2.1/servers/foobar", true),
            ("compute", "/v2.1/servers/foobar/barfoo", false),
            ("image", "/v2/images/foobar", true),
            ("image", "/v2/images/foobar/barfoo", false),
            ("identity", "/v3/projects/123/users/456/roles/member", true),
            ("block-storage", "/v3/123/types/456", true),
            ("block-storage", "/v3/123/types", false),
            ("block-storage", "/v2/123/types/456", false),
            ("object-store", "/v1/1/2/3", true),
            ("object-store", "/v1/1/2", false),
            ("object-store", "/v2/1/2", false),
            ("object-store", "/info", false),
        ];
        for &(service, path, allowed) in cases {
            let expected = if allowed {
                Ok(())
            } else {
                Err(AccessRuleRefusal::NoMatchingRule)
            };
            assert_eq!(
                r.allows(Some(service), GET, path, false),
                expected,
                "{service} GET {path}"
            );
        }
    }

    #[test]
    fn reference_test_app_cred_access_rules_token() {
        // v3_APP_CRED_ACCESS_RULES, service_type compute.
        let r = rules(
            json!([rule("compute", "GET", "/v2.1/servers")]),
            &["identity", "compute", "image"],
        );
        assert_eq!(
            r.allows(Some("compute"), GET, "/v2.1/servers", false),
            Ok(())
        );
        assert_eq!(
            r.allows(Some("compute"), GET, "/v2.1/servers/someuuid", false),
            Err(AccessRuleRefusal::NoMatchingRule)
        );
    }

    #[test]
    fn reference_test_app_cred_access_rules_service_request() {
        // v3_APP_CRED_ACCESS_RULES, service_type image: no image rule, but a
        // (confirmed) service token exempts the request.
        let r = rules(
            json!([rule("compute", "GET", "/v2.1/servers")]),
            &["identity", "compute", "image"],
        );
        assert_eq!(
            r.allows(Some("image"), GET, "/v2/images", false),
            Err(AccessRuleRefusal::NoMatchingRule)
        );
        assert_eq!(r.allows(Some("image"), GET, "/v2/images", true), Ok(()));
    }

    #[test]
    fn reference_test_app_cred_no_access_rules_token() {
        // v3_APP_CRED_EMPTY_ACCESS_RULES: `[]`, and a catalog without compute,
        // which refuses even with a service token (the catalog is checked first).
        let r = rules(json!([]), &["identity"]);
        for service_token in [false, true] {
            assert_eq!(
                r.allows(Some("compute"), GET, "/v2.1/servers", service_token),
                Err(AccessRuleRefusal::ServiceNotInCatalog)
            );
        }
    }

    #[test]
    fn reference_test_app_cred_token_without_access_rules() {
        assert!(AccessRules::from_token(&token(Value::Null, Some(&["compute"]))).is_none());
        let mut no_app_cred = token(Value::Null, Some(&["compute"]));
        no_app_cred.application_credential = None;
        assert!(AccessRules::from_token(&no_app_cred).is_none());
    }

    #[test]
    fn an_empty_rule_list_refuses_everything() {
        let r = rules(json!([]), &["orchestration"]);
        for method in [Method::GET, Method::POST, Method::DELETE] {
            for path in ["/", "", "/v1/p/stacks", "/v1/p/stacks/s/1"] {
                assert_eq!(
                    r.allows(Some("orchestration"), &method, path, false),
                    Err(AccessRuleRefusal::NoMatchingRule),
                    "{method} {path}"
                );
            }
        }
        // ... but not what a confirmed service token exempts.
        assert_eq!(r.allows(Some("orchestration"), GET, "/v1", true), Ok(()));
    }

    #[test]
    fn the_service_type_must_be_configured() {
        let r = rules(
            json!([rule("orchestration", "GET", "**")]),
            &["orchestration"],
        );
        for unset in [None, Some("")] {
            for service_token in [false, true] {
                assert_eq!(
                    r.allows(unset, GET, "/v1/p/stacks", service_token),
                    Err(AccessRuleRefusal::NoServiceType)
                );
            }
        }
    }

    #[test]
    fn the_service_type_must_be_in_the_catalog() {
        let any = json!([rule("orchestration", "GET", "**")]);
        let r = rules(any.clone(), &["identity", "compute"]);
        for service_token in [false, true] {
            assert_eq!(
                r.allows(Some("orchestration"), GET, "/v1/p/stacks", service_token),
                Err(AccessRuleRefusal::ServiceNotInCatalog)
            );
        }
        // A token validated without its catalog: no type is in it.
        let nocatalog = AccessRules::from_token(&token(any, None)).unwrap();
        assert_eq!(
            nocatalog.allows(Some("orchestration"), GET, "/v1/p/stacks", false),
            Err(AccessRuleRefusal::ServiceNotInCatalog)
        );
    }

    #[test]
    fn a_service_token_exempts_only_when_confirmed() {
        let r = rules(
            json!([rule("orchestration", "GET", "/v1/*/stacks")]),
            &["orchestration"],
        );
        let heat = Some("orchestration");
        assert_eq!(
            r.allows(heat, &Method::POST, "/v1/p/stacks", false),
            Err(AccessRuleRefusal::NoMatchingRule)
        );
        assert_eq!(r.allows(heat, &Method::POST, "/v1/p/stacks", true), Ok(()));
    }

    #[test]
    fn a_token_may_always_be_validated_by_identity() {
        // No rule for it, and identity not even in the catalog: the exemption
        // comes before the catalog check.
        let r = rules(json!([]), &["orchestration"]);
        let identity = Some("identity");
        assert_eq!(r.allows(identity, GET, "/v3/auth/tokens", false), Ok(()));
        assert_eq!(
            r.allows(identity, GET, "/identity/v3/auth/tokens", false),
            Ok(())
        );
        // Decoded first, as webob's path is.
        assert_eq!(r.allows(identity, GET, "/v3/auth/token%73", false), Ok(()));
        for (service, method, path) in [
            ("identity", Method::HEAD, "/v3/auth/tokens"),
            ("identity", Method::POST, "/v3/auth/tokens"),
            ("identity", Method::GET, "/v3/auth/tokens/"),
            ("identity", Method::GET, "/v3/auth/tokens?x"),
            ("compute", Method::GET, "/v3/auth/tokens"),
        ] {
            assert_eq!(
                r.allows(Some(service), &method, path, false),
                Err(AccessRuleRefusal::ServiceNotInCatalog),
                "{service} {method} {path}"
            );
        }
    }

    #[test]
    fn method_and_service_are_compared_exactly() {
        let r = rules(
            json!([
                rule("orchestration", "get", "/a"),
                rule("Orchestration", "GET", "/b"),
                rule("compute", "GET", "/c"),
                rule("orchestration", "PURGE", "/d"),
            ]),
            &["orchestration", "compute"],
        );
        let heat = Some("orchestration");
        for path in ["/a", "/b", "/c"] {
            assert_eq!(
                r.allows(heat, GET, path, false),
                Err(AccessRuleRefusal::NoMatchingRule),
                "{path}"
            );
        }
        let purge = Method::from_bytes(b"PURGE").unwrap();
        assert_eq!(r.allows(heat, &purge, "/d", false), Ok(()));
        assert_eq!(r.allows(Some("compute"), GET, "/c", false), Ok(()));
    }

    #[test]
    fn any_rule_may_allow() {
        let r = rules(
            json!([
                rule("orchestration", "GET", "/v1/*/stacks"),
                rule("orchestration", "POST", "/v1/*/stacks"),
                rule("orchestration", "GET", "/v1/*/stacks/*/*"),
            ]),
            &["orchestration"],
        );
        let heat = Some("orchestration");
        assert_eq!(r.allows(heat, GET, "/v1/p/stacks", false), Ok(()));
        assert_eq!(r.allows(heat, &Method::POST, "/v1/p/stacks", false), Ok(()));
        assert_eq!(r.allows(heat, GET, "/v1/p/stacks/s/1", false), Ok(()));
        assert_eq!(
            r.allows(heat, &Method::POST, "/v1/p/stacks/s/1", false),
            Err(AccessRuleRefusal::NoMatchingRule)
        );
    }

    #[test]
    fn the_path_is_webobs_request_path() {
        let r = rules(
            json!([
                rule("orchestration", "GET", "/v1/*/stacks/*"),
                rule("orchestration", "GET", "/v1/p/x%20y"),
                rule("orchestration", "GET", "/v1/p/caf%C3%A9"),
            ]),
            &["orchestration"],
        );
        let allows = |path| r.allows(Some("orchestration"), GET, path, false);
        assert_eq!(allows("/v1/p/stacks/s"), Ok(()));
        assert_eq!(allows("/v1/%70/stacks/%73"), Ok(()));
        // An encoded slash separates segments.
        assert_eq!(
            allows("/v1/p/stacks/a%2Fb"),
            Err(AccessRuleRefusal::NoMatchingRule)
        );
        assert_eq!(allows("/v1%2Fp/stacks/s"), Ok(()));
        // Characters webob encodes match only their (upper-case) encoding.
        assert_eq!(allows("/v1/p/x%20y"), Ok(()));
        assert_eq!(allows("/v1/p/x y"), Ok(()));
        assert_eq!(allows("/v1/p/caf%c3%a9"), Ok(()));
        assert_eq!(allows("/v1/p/café"), Ok(()));
        // Not UTF-8 once decoded.
        assert_eq!(
            allows("/v1/p/stacks/%FF"),
            Err(AccessRuleRefusal::UndecodablePath)
        );
        assert_eq!(
            allows("/v1/p/stacks/%C3"),
            Err(AccessRuleRefusal::UndecodablePath)
        );
        // ... which does not matter when no step reads the path.
        assert_eq!(r.allows(Some("orchestration"), GET, "/%FF", true), Ok(()));
        assert_eq!(
            r.allows(Some("identity"), GET, "/%FF", true),
            Err(AccessRuleRefusal::UndecodablePath)
        );
    }

    #[test]
    fn webob_path_decodes_then_encodes() {
        // Each answer is webob 1.8.11's `request.path` for a PATH_INFO that
        // eventlet unquoted from the raw path.
        let cases: &[(&str, Option<&str>)] = &[
            ("/v1/a%20b", Some("/v1/a%20b")),
            ("/v1/caf%C3%A9", Some("/v1/caf%C3%A9")),
            ("/v1/caf%c3%a9", Some("/v1/caf%C3%A9")),
            ("/v1/a%2Fb", Some("/v1/a/b")),
            ("/v1/%41", Some("/v1/A")),
            ("/v1/%zz", Some("/v1/%25zz")),
            ("/v1/%2", Some("/v1/%252")),
            ("/v1/%", Some("/v1/%25")),
            ("/v1/~!$&'()*+,;=:@", Some("/v1/~!$&'()*+,;=:@")),
            ("/v1/%7Bx%7D", Some("/v1/%7Bx%7D")),
            ("/v1/{x}", Some("/v1/%7Bx%7D")),
            ("/v1/a%0A", Some("/v1/a%0A")),
            ("/v1/a%2e", Some("/v1/a.")),
            ("/v1/%25", Some("/v1/%25")),
            ("/v1/%2541", Some("/v1/%2541")),
            ("/v1/%FF", None),
            ("", Some("")),
        ];
        for &(raw, expected) in cases {
            assert_eq!(webob_path(raw).ok().as_deref(), expected, "{raw:?}");
        }
        assert!(matches!(webob_path("/v1/p/stacks"), Ok(Cow::Borrowed(_))));
    }

    #[test]
    fn star_is_one_non_empty_segment() {
        assert!(path_matches("/a/b", "/a/*"));
        assert!(path_matches("/a/bcd-e_f", "/a/*"));
        assert!(!path_matches("/a/", "/a/*"));
        assert!(!path_matches("/a", "/a/*"));
        assert!(!path_matches("/a/b/c", "/a/*"));
        assert!(!path_matches("/a/b/", "/a/*"));
        assert!(path_matches("/a/b/c", "/a/*/c"));
        assert!(!path_matches("/a//c", "/a/*/c"));
        assert!(path_matches("x", "*"));
        assert!(!path_matches("", "*"));
        assert!(!path_matches("/", "*"));
        // Within a segment.
        assert!(path_matches("/a/v1.json", "/a/*.json"));
        assert!(!path_matches("/a/.json", "/a/*.json"));
        assert!(path_matches("/a/xy", "/a/x*"));
        assert!(!path_matches("/a/x", "/a/x*"));
        // Adjacent: each takes at least one character.
        assert!(path_matches("/ab", "/*{id}"));
        assert!(!path_matches("/a", "/*{id}"));
    }

    #[test]
    fn double_star_matches_anything_but_a_newline() {
        assert!(path_matches("", "**"));
        assert!(path_matches("/a/b/c", "**"));
        assert!(path_matches("/a/", "/a/**"));
        assert!(path_matches("/a/b/c/", "/a/**"));
        assert!(!path_matches("/a", "/a/**"));
        assert!(path_matches("/a//z", "/a/**/z"));
        assert!(path_matches("/a/b/c/z", "/a/**/z"));
        assert!(!path_matches("/a/z", "/a/**/z"));
        assert!(path_matches("/v1/p/stacks", "/v1/**stacks"));
        // Python's `.` does not match a newline; a segment does.
        assert!(!path_matches("/a/b\nc", "/a/**"));
        assert!(path_matches("/a/b\nc", "/a/*"));
    }

    #[test]
    fn three_and_four_stars() {
        // `***` is `**` then `*`: anything, then a non-empty last part.
        assert!(path_matches("/a/b/c", "/a/***"));
        assert!(path_matches("/a/b", "/a/***"));
        assert!(!path_matches("/a/", "/a/***"));
        assert!(!path_matches("/a/b/", "/a/***"));
        // `****` is `**` twice.
        assert!(path_matches("/a/", "/a/****"));
        assert!(path_matches("/a/b/", "/a/****"));
        // `*****` is `**`, `**`, `*`.
        assert!(!path_matches("/a/b/", "/a/*****"));
        assert!(path_matches("/a/b/c", "/a/*****"));
    }

    #[test]
    fn a_tag_is_one_non_empty_segment() {
        assert!(path_matches("/v1/p1/stacks", "/v1/{project_id}/stacks"));
        assert!(!path_matches("/v1//stacks", "/v1/{project_id}/stacks"));
        assert!(!path_matches("/v1/p/q/stacks", "/v1/{project_id}/stacks"));
        assert!(path_matches("/v1/p/stacks", "/v1/{}/stacks"));
        // A tag runs to the next `}`, whatever it contains.
        assert!(path_matches("/v1/p/stacks", "/v1/{a/b*c}/stacks"));
        assert!(!path_matches("/v1/p/q/stacks", "/v1/{a/b*c}/stacks"));
        assert!(path_matches("/v1/p", "/v1/{{x}"));
        assert!(path_matches("/v1/p-s", "/v1/{id}-s"));
        // The pattern is not a template: the tag's text is not matched.
        assert!(!path_matches("/v1/{id}", "/v1/{id}x"));
    }

    #[test]
    fn stray_braces_are_skipped() {
        assert!(path_matches("/a/b", "/a/{b"));
        assert!(path_matches("/a/b", "/a/}b"));
        assert!(path_matches("/a/b", "/a/b}"));
        assert!(path_matches("/ab", "/a}{b"));
        assert!(!path_matches("/a/{b", "/a/{b"));
        // The `}` closes the first `{`; the second `}` is stray.
        assert!(path_matches("/a/xy", "/a/{b}}y"));
        assert!(path_matches("", "{"));
        assert!(path_matches("", "}"));
    }

    #[test]
    fn literals_are_literal() {
        // The reference's `.` would match any character here.
        assert!(path_matches("/v2.1/servers", "/v2.1/servers"));
        assert!(!path_matches("/v2x1/servers", "/v2.1/servers"));
        // ... and these would be regex syntax (or a `re.error`).
        for literal in [
            "/a(b)", "/a+", "/a?", "/a|/b", "/[ab]", "/a$", "/^a", "/a\\d", "/(",
        ] {
            assert!(path_matches(literal, literal), "{literal}");
        }
        assert!(!path_matches("/ab", "/a(b)"));
        assert!(!path_matches("/aa", "/a+"));
        assert!(!path_matches("/a", "/a?"));
        assert!(!path_matches("/a", "/a|/b"));
        assert!(!path_matches("/a", "/[ab]"));
        assert!(!path_matches("/a", "/a$"));
        // Case-sensitive, and non-ASCII is a character.
        assert!(!path_matches("/A", "/a"));
        assert!(path_matches("/é/x", "/é/*"));
        assert!(path_matches("/x/é", "/x/*"));
    }

    #[test]
    fn the_whole_path_must_match_and_a_trailing_newline_is_not_the_end() {
        assert!(!path_matches("/a/b", "/a"));
        assert!(!path_matches("/a", "/a/b"));
        assert!(!path_matches("x/a", "/a"));
        // Python's `$` accepts "/a\n" here.
        assert!(!path_matches("/a\n", "/a"));
        assert!(!path_matches("/a/b\n", "/a/**"));
        assert!(path_matches("", ""));
        assert!(!path_matches("\n", ""));
        assert!(!path_matches("/", ""));
    }

    #[test]
    fn pathological_patterns_stay_linear() {
        let pattern = "**/".repeat(500) + "*x";
        let path = "a/".repeat(5000) + "b";
        let start = std::time::Instant::now();
        assert!(!path_matches(&path, &pattern));
        assert!(path_matches(&("a/".repeat(600) + "bx"), &pattern));
        let stars = "*".repeat(1001);
        assert!(!path_matches(&"ab".repeat(2000), &(stars + "/")));
        assert!(
            start.elapsed() < std::time::Duration::from_secs(5),
            "took {:?}",
            start.elapsed()
        );
    }
}
