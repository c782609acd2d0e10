//! The headers auth_token reads, strips and sets.

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::context::{IdentityData, Scope};
use crate::pyjson::push_py_str;
use heatgate_keystone::token::CatalogEntry;

/// `X-Identity-Status`
pub const IDENTITY_STATUS: HeaderName = HeaderName::from_static("x-identity-status");
/// `X-Service-Identity-Status`
pub const SERVICE_IDENTITY_STATUS: HeaderName =
    HeaderName::from_static("x-service-identity-status");
/// `X-Service-Catalog`
pub const SERVICE_CATALOG: HeaderName = HeaderName::from_static("x-service-catalog");
/// `X-Auth-Token`
pub const AUTH_TOKEN: HeaderName = HeaderName::from_static("x-auth-token");
/// `X-Storage-Token`
pub const STORAGE_TOKEN: HeaderName = HeaderName::from_static("x-storage-token");
/// `X-Service-Token`
pub const SERVICE_TOKEN: HeaderName = HeaderName::from_static("x-service-token");

/// Whether a (lower-case) header name is one a caller could use to claim an identity.
///
/// These are removed from every request before anything else, so only what the
/// layer itself sets reaches the service behind it.
///
/// ```
/// use heatgate_middleware::auth_token::is_spoofable;
/// assert!(is_spoofable("x-roles"));
/// assert!(is_spoofable("x-service-project-domain-name"));
/// assert!(is_spoofable("openstack-system-scope"));
/// assert!(!is_spoofable("x-auth-token"));
/// ```
pub fn is_spoofable(name: &str) -> bool {
    if name == "openstack-system-scope" {
        return true;
    }
    let Some(rest) = name.strip_prefix("x-") else {
        return false;
    };
    matches!(
        rest,
        "service-catalog"
            | "identity-status"
            | "service-identity-status"
            | "is-admin-project"
            | "role"
            | "user"
            | "tenant-id"
            | "tenant-name"
            | "tenant"
            | "roles"
            | "service-roles"
    ) || is_identity_attribute(rest.strip_prefix("service-").unwrap_or(rest))
}

fn is_identity_attribute(name: &str) -> bool {
    matches!(
        name,
        "domain-id"
            | "domain-name"
            | "project-id"
            | "project-name"
            | "project-domain-id"
            | "project-domain-name"
            | "user-id"
            | "user-name"
            | "user-domain-id"
            | "user-domain-name"
    )
}

/// Removes every spoofable header (see [`is_spoofable`]).
pub fn strip_spoofable(headers: &mut HeaderMap) {
    // One pass to find them (most requests carry none), then remove.
    let mut found: [Option<HeaderName>; 8] = Default::default();
    let mut overflow = Vec::new();
    let mut n = 0;
    for name in headers.keys() {
        if is_spoofable(name.as_str()) {
            if n < found.len() {
                found[n] = Some(name.clone());
                n += 1;
            } else {
                overflow.push(name.clone());
            }
        }
    }
    for name in found.into_iter().flatten().chain(overflow) {
        headers.remove(&name);
    }
}

/// Headers describing a validated token, computed once per cached token.
#[derive(Debug, Clone, Default)]
pub struct IdentityHeaders {
    /// `X-*` headers for the user token.
    pub user: Vec<(HeaderName, HeaderValue)>,
    /// `X-Service-*` headers for the same token sent as a service token.
    pub service: Vec<(HeaderName, HeaderValue)>,
    /// `X-Service-Catalog`, when the catalog was fetched.
    pub catalog: Option<HeaderValue>,
}

/// `X-<attribute>` and `X-Service-<attribute>` for each identity attribute, in
/// the order of `IdentityHeaders::new`. Static names: copied into every
/// request without touching a reference count.
static ATTRIBUTE_HEADERS: [(HeaderName, HeaderName); 10] = [
    (
        HeaderName::from_static("x-domain-id"),
        HeaderName::from_static("x-service-domain-id"),
    ),
    (
        HeaderName::from_static("x-domain-name"),
        HeaderName::from_static("x-service-domain-name"),
    ),
    (
        HeaderName::from_static("x-project-id"),
        HeaderName::from_static("x-service-project-id"),
    ),
    (
        HeaderName::from_static("x-project-name"),
        HeaderName::from_static("x-service-project-name"),
    ),
    (
        HeaderName::from_static("x-project-domain-id"),
        HeaderName::from_static("x-service-project-domain-id"),
    ),
    (
        HeaderName::from_static("x-project-domain-name"),
        HeaderName::from_static("x-service-project-domain-name"),
    ),
    (
        HeaderName::from_static("x-user-id"),
        HeaderName::from_static("x-service-user-id"),
    ),
    (
        HeaderName::from_static("x-user-name"),
        HeaderName::from_static("x-service-user-name"),
    ),
    (
        HeaderName::from_static("x-user-domain-id"),
        HeaderName::from_static("x-service-user-domain-id"),
    ),
    (
        HeaderName::from_static("x-user-domain-name"),
        HeaderName::from_static("x-service-user-domain-name"),
    ),
];

fn value(s: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(s).ok()
}

impl IdentityHeaders {
    /// Builds the header sets for `identity` (and `catalog`, v3 form).
    pub fn new(identity: &IdentityData, catalog: Option<&[CatalogEntry]>) -> Self {
        let (project, project_domain) = match &identity.scope {
            Scope::Project {
                id,
                name,
                domain_id,
                domain_name,
            } => (
                Some((id.as_str(), name.as_deref())),
                Some((domain_id.as_deref(), domain_name.as_deref())),
            ),
            _ => (None, None),
        };
        let domain = match &identity.scope {
            Scope::Domain { id, name } => Some((id.as_str(), name.as_deref())),
            _ => None,
        };
        let attrs: [Option<&str>; 10] = [
            domain.map(|d| d.0),
            domain.and_then(|d| d.1),
            project.map(|p| p.0),
            project.and_then(|p| p.1),
            project_domain.and_then(|d| d.0),
            project_domain.and_then(|d| d.1),
            Some(identity.user_id.as_str()),
            identity.user_name.as_deref(),
            identity.user_domain_id.as_deref(),
            identity.user_domain_name.as_deref(),
        ];
        let roles = value(&identity.roles.join(","));
        let mut user = Vec::with_capacity(18);
        let mut service = Vec::with_capacity(11);
        for ((user_name, service_name), v) in ATTRIBUTE_HEADERS.iter().zip(attrs) {
            if let Some(v) = v.and_then(value) {
                user.push((user_name.clone(), v.clone()));
                service.push((service_name.clone(), v));
            }
        }
        if let Some(roles) = roles {
            user.push((HeaderName::from_static("x-roles"), roles.clone()));
            user.push((HeaderName::from_static("x-role"), roles.clone()));
            service.push((HeaderName::from_static("x-service-roles"), roles));
        }
        user.push((
            HeaderName::from_static("x-is-admin-project"),
            HeaderValue::from_static(if identity.is_admin_project {
                "True"
            } else {
                "False"
            }),
        ));
        if identity.is_system_scoped() {
            user.push((
                HeaderName::from_static("openstack-system-scope"),
                HeaderValue::from_static("all"),
            ));
        }
        // Deprecated copies, as keystonemiddleware still sets them.
        if let Some(v) = identity.user_name.as_deref().and_then(value) {
            user.push((HeaderName::from_static("x-user"), v));
        }
        if let Some((id, name)) = project {
            if let Some(v) = value(id) {
                user.push((HeaderName::from_static("x-tenant-id"), v));
            }
            if let Some(v) = name.and_then(value) {
                user.push((HeaderName::from_static("x-tenant-name"), v.clone()));
                user.push((HeaderName::from_static("x-tenant"), v));
            }
        }
        let catalog = catalog.and_then(|c| HeaderValue::from_str(&v2_catalog_json(c)).ok());
        Self {
            user,
            service,
            catalog,
        }
    }
}

/// A region and its `<interface>URL` entries, in first-seen order.
type RegionUrls<'a> = (Option<&'a str>, Vec<(String, &'a str)>);

/// The v3 catalog in keystonemiddleware's v2 form, serialised as Python's
/// `json.dumps` does (", " and ": " separators, non-ASCII escaped).
pub fn v2_catalog_json(catalog: &[CatalogEntry]) -> String {
    let mut out = String::from("[");
    for (i, service) in catalog.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str("{\"type\": ");
        push_py_str(&mut out, &service.service_type);
        if let Some(name) = &service.name {
            out.push_str(", \"name\": ");
            push_py_str(&mut out, name);
        }
        // Group endpoints by region, first-seen order, like the reference.
        let mut regions: Vec<RegionUrls<'_>> = Vec::new();
        for e in &service.endpoints {
            let region = e.region_id.as_deref().filter(|r| !r.is_empty());
            let key = format!("{}URL", e.interface.to_lowercase());
            match regions.iter_mut().find(|(r, _)| *r == region) {
                Some((_, urls)) => match urls.iter_mut().find(|(k, _)| *k == key) {
                    Some(slot) => slot.1 = &e.url,
                    None => urls.push((key, &e.url)),
                },
                None => regions.push((region, vec![(key, &e.url)])),
            }
        }
        out.push_str(", \"endpoints\": [");
        for (j, (region, urls)) in regions.iter().enumerate() {
            if j > 0 {
                out.push_str(", ");
            }
            out.push('{');
            let mut first = true;
            if let Some(r) = region {
                out.push_str("\"region\": ");
                push_py_str(&mut out, r);
                first = false;
            }
            for (k, url) in urls {
                if !first {
                    out.push_str(", ");
                }
                first = false;
                push_py_str(&mut out, k);
                out.push_str(": ");
                push_py_str(&mut out, url);
            }
            out.push('}');
        }
        out.push_str("]}");
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reference_header_is_spoofable() {
        let fixed = [
            "X-Service-Catalog",
            "X-Identity-Status",
            "X-Service-Identity-Status",
            "X-Is-Admin-Project",
            "X-Role",
            "X-User",
            "X-Tenant-Id",
            "X-Tenant-Name",
            "X-Tenant",
            "X-Roles",
            "X-Service-Roles",
            "OpenStack-System-Scope",
        ];
        let attrs = [
            "Domain-Id",
            "Domain-Name",
            "Project-Id",
            "Project-Name",
            "Project-Domain-Id",
            "Project-Domain-Name",
            "User-Id",
            "User-Name",
            "User-Domain-Id",
            "User-Domain-Name",
        ];
        let mut all: Vec<String> = fixed.iter().map(|s| s.to_string()).collect();
        for a in attrs {
            all.push(format!("X-{a}"));
            all.push(format!("X-Service-{a}"));
        }
        let mut headers = HeaderMap::new();
        for h in &all {
            assert!(is_spoofable(&h.to_lowercase()), "{h}");
            headers.append(
                HeaderName::try_from(h.as_str()).unwrap(),
                HeaderValue::from_static("evil"),
            );
            headers.append(
                HeaderName::try_from(h.as_str()).unwrap(),
                HeaderValue::from_static("evil2"),
            );
        }
        headers.insert("x-auth-token", HeaderValue::from_static("t"));
        headers.insert("x-request-id", HeaderValue::from_static("r"));
        strip_spoofable(&mut headers);
        assert_eq!(headers.len(), 2, "{headers:?}");
        for keep in [
            "x-auth-token",
            "x-service-token",
            "x-storage-token",
            "x-forwarded-for",
            "x-project",
        ] {
            assert!(!is_spoofable(keep), "{keep}");
        }
    }

    #[test]
    fn catalog_matches_python_json_dumps() {
        let catalog: Vec<CatalogEntry> = serde_json::from_str(
            r#"[{"type":"identity","name":"keystone","endpoints":[
                {"interface":"public","url":"http://k/v3","region_id":"RegionOne"},
                {"interface":"internal","url":"http://i/v3","region_id":"RegionOne"},
                {"interface":"admin","url":"http://a/v3","region_id":"Two"}]},
               {"type":"x","endpoints":[{"interface":"public","url":"http://\u00e9"}]}]"#,
        )
        .unwrap();
        assert_eq!(
            v2_catalog_json(&catalog),
            r#"[{"type": "identity", "name": "keystone", "endpoints": [{"region": "RegionOne", "publicURL": "http://k/v3", "internalURL": "http://i/v3"}, {"region": "Two", "adminURL": "http://a/v3"}]}, {"type": "x", "endpoints": [{"publicURL": "http://\u00e9"}]}]"#
        );
    }
}
