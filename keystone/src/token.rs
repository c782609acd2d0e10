//! The Keystone v3 token body, as `GET /v3/auth/tokens` and `POST /v3/auth/tokens` return it.

use serde::Deserialize;
use time::OffsetDateTime;

/// A reference to a named object with an id (domain, role).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct NamedRef {
    /// The id.
    pub id: String,
    /// The name, when Keystone sends it.
    #[serde(default)]
    pub name: Option<String>,
}

/// A user or project with its owning domain.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Owned {
    /// The id.
    pub id: String,
    /// The name.
    #[serde(default)]
    pub name: Option<String>,
    /// The owning domain.
    #[serde(default)]
    pub domain: Option<NamedRef>,
}

/// A trust, on a trust-scoped token.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct TrustRef {
    /// The trust id.
    pub id: String,
    /// The trustor.
    #[serde(default)]
    pub trustor_user: Option<IdOnly>,
    /// The trustee.
    #[serde(default)]
    pub trustee_user: Option<IdOnly>,
    /// Whether the token impersonates the trustor.
    #[serde(default)]
    pub impersonation: bool,
}

/// An object of which only the id matters.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct IdOnly {
    /// The id.
    pub id: String,
}

/// System scope.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct SystemScope {
    /// `true` for the whole deployment.
    #[serde(default)]
    pub all: bool,
}

/// An endpoint of the service catalog.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(from = "RawEndpoint")]
pub struct Endpoint {
    /// `public`, `internal` or `admin`.
    pub interface: String,
    /// The URL.
    pub url: String,
    /// The region id (`region_id`, or the legacy `region` when only that is sent).
    pub region_id: Option<String>,
}

/// An endpoint as Keystone sends it: current Keystones send both `region_id`
/// and the legacy `region` (a serde alias would refuse that as a duplicate).
#[derive(Deserialize)]
struct RawEndpoint {
    interface: String,
    url: String,
    #[serde(default)]
    region_id: Option<String>,
    #[serde(default)]
    region: Option<String>,
}

impl From<RawEndpoint> for Endpoint {
    fn from(raw: RawEndpoint) -> Self {
        Self {
            interface: raw.interface,
            url: raw.url,
            region_id: raw.region_id.or(raw.region),
        }
    }
}

/// A service of the catalog.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct CatalogEntry {
    /// The service type (`identity`, `orchestration`, ...).
    #[serde(rename = "type")]
    pub service_type: String,
    /// The service name.
    #[serde(default)]
    pub name: Option<String>,
    /// Its endpoints.
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
}

/// An application credential used to get the token.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ApplicationCredentialRef {
    /// The id.
    pub id: String,
    /// The name.
    #[serde(default)]
    pub name: Option<String>,
    /// Whether it is restricted.
    #[serde(default)]
    pub restricted: Option<bool>,
    /// The access rules restricting what the token may call, when the
    /// credential has any. `None` (absent) means unrestricted; an empty list
    /// means restricted to nothing.
    #[serde(default)]
    pub access_rules: Option<Vec<AccessRule>>,
}

/// One access rule of an application credential: the token may call `method`
/// on a path matching `path` (with `*`, `**` and `{name}` wildcards) of the
/// service of type `service`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct AccessRule {
    /// The rule's id, when Keystone sends it.
    #[serde(default)]
    pub id: Option<String>,
    /// The service type (`orchestration`, `compute`, ...).
    pub service: String,
    /// The HTTP method, compared exactly (`GET`, `POST`, ...).
    pub method: String,
    /// The path pattern.
    pub path: String,
}

/// A validated token body (`{"token": {...}}` unwrapped).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct TokenBody {
    /// Authentication methods (`password`, `token`, `ec2credential`, ...).
    #[serde(default)]
    pub methods: Vec<String>,
    /// The user.
    pub user: Owned,
    /// Audit ids (the token's own first, then its parent's).
    #[serde(default)]
    pub audit_ids: Vec<String>,
    /// Expiry.
    #[serde(with = "keystone_time")]
    pub expires_at: OffsetDateTime,
    /// Issue time.
    #[serde(default, with = "keystone_time::option")]
    pub issued_at: Option<OffsetDateTime>,
    /// Project scope.
    #[serde(default)]
    pub project: Option<Owned>,
    /// Whether the scoped project is a domain.
    #[serde(default)]
    pub is_domain: Option<bool>,
    /// Domain scope.
    #[serde(default)]
    pub domain: Option<NamedRef>,
    /// System scope.
    #[serde(default)]
    pub system: Option<SystemScope>,
    /// Trust scope.
    #[serde(default, rename = "OS-TRUST:trust")]
    pub trust: Option<TrustRef>,
    /// Roles on the scope.
    #[serde(default)]
    pub roles: Vec<NamedRef>,
    /// The catalog, unless validated with `nocatalog`.
    #[serde(default)]
    pub catalog: Option<Vec<CatalogEntry>>,
    /// The application credential, when one was used.
    #[serde(default)]
    pub application_credential: Option<ApplicationCredentialRef>,
    /// Only present when Keystone is configured with an admin project.
    #[serde(default)]
    pub is_admin_project: Option<bool>,
}

impl TokenBody {
    /// Role names, in Keystone's order.
    pub fn role_names(&self) -> impl Iterator<Item = &str> {
        self.roles.iter().filter_map(|r| r.name.as_deref())
    }

    /// Whether the token has expired at `now`.
    pub fn is_expired_at(&self, now: OffsetDateTime) -> bool {
        self.expires_at <= now
    }

    /// Whether the token is system-scoped to the whole deployment.
    pub fn is_system_scoped(&self) -> bool {
        self.system.as_ref().is_some_and(|s| s.all)
    }

    /// The URL of `service_type` for `interface` in this token's catalog.
    pub fn endpoint_url(
        &self,
        service_type: &str,
        interface: &str,
        region: Option<&str>,
    ) -> Option<&str> {
        self.catalog
            .as_deref()?
            .iter()
            .filter(|s| s.service_type == service_type)
            .flat_map(|s| s.endpoints.iter())
            .find(|e| {
                e.interface == interface && region.is_none_or(|r| e.region_id.as_deref() == Some(r))
            })
            .map(|e| e.url.as_str())
    }
}

#[derive(Deserialize)]
pub(crate) struct TokenEnvelope {
    pub(crate) token: TokenBody,
}

/// Keystone's timestamps: "2024-01-02T03:04:05.000000Z" (also accepts any RFC 3339).
pub mod keystone_time {
    use serde::{Deserialize, Deserializer};
    use time::format_description::well_known::Rfc3339;
    use time::OffsetDateTime;

    /// Parses a Keystone timestamp.
    ///
    /// ```
    /// let t = heatgate_keystone::token::keystone_time::parse("2024-01-02T03:04:05.000000Z").unwrap();
    /// assert_eq!(t.unix_timestamp(), 1704164645);
    /// ```
    pub fn parse(s: &str) -> Option<OffsetDateTime> {
        if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
            return Some(t);
        }
        // Some Keystone versions omit the zone designator: treat as UTC.
        let with_zone = format!("{s}Z");
        OffsetDateTime::parse(&with_zone, &Rfc3339).ok()
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s).ok_or_else(|| serde::de::Error::custom("invalid timestamp"))
    }

    pub(crate) mod option {
        use super::*;
        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<OffsetDateTime>, D::Error> {
            match Option::<String>::deserialize(d)? {
                None => Ok(None),
                Some(s) => parse(&s)
                    .map(Some)
                    .ok_or_else(|| serde::de::Error::custom("invalid timestamp")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROJECT_TOKEN: &str = r#"{"token":{"methods":["password"],"user":{"domain":{"id":"default","name":"Default"},"id":"u1","name":"demo","password_expires_at":null},"audit_ids":["a1"],"expires_at":"2030-01-02T03:04:05.000000Z","issued_at":"2030-01-02T02:04:05.000000Z","project":{"domain":{"id":"default","name":"Default"},"id":"p1","name":"demo"},"is_domain":false,"roles":[{"id":"r1","name":"member"},{"id":"r2","name":"reader"}],"catalog":[{"endpoints":[{"id":"e","interface":"public","region_id":"RegionOne","url":"http://k/v3","region":"RegionOne"}],"id":"s","type":"identity","name":"keystone"}]}}"#;

    #[test]
    fn parses_a_project_token() {
        let env: TokenEnvelope = serde_json::from_str(PROJECT_TOKEN).unwrap();
        let t = env.token;
        assert_eq!(t.user.id, "u1");
        assert_eq!(t.project.as_ref().unwrap().id, "p1");
        assert_eq!(t.role_names().collect::<Vec<_>>(), ["member", "reader"]);
        assert_eq!(
            t.endpoint_url("identity", "public", None),
            Some("http://k/v3")
        );
        assert_eq!(t.endpoint_url("identity", "internal", None), None);
        assert!(!t.is_system_scoped());
        assert!(t.is_admin_project.is_none());
    }

    #[test]
    fn endpoint_region_from_either_field() {
        let both: Endpoint = serde_json::from_str(
            r#"{"interface":"public","url":"u","region_id":"R","region":"R"}"#,
        )
        .unwrap();
        assert_eq!(both.region_id.as_deref(), Some("R"));
        let legacy: Endpoint =
            serde_json::from_str(r#"{"interface":"public","url":"u","region":"L"}"#).unwrap();
        assert_eq!(legacy.region_id.as_deref(), Some("L"));
    }

    #[test]
    fn parses_system_and_trust_scopes() {
        let sys = r#"{"methods":["password"],"user":{"id":"u"},"expires_at":"2030-01-02T03:04:05Z","system":{"all":true},"roles":[]}"#;
        let t: TokenBody = serde_json::from_str(sys).unwrap();
        assert!(t.is_system_scoped());
        let trust = r#"{"methods":["password"],"user":{"id":"u"},"expires_at":"2030-01-02T03:04:05Z","OS-TRUST:trust":{"id":"t","trustor_user":{"id":"a"},"trustee_user":{"id":"b"},"impersonation":true},"roles":[]}"#;
        let t: TokenBody = serde_json::from_str(trust).unwrap();
        assert_eq!(t.trust.unwrap().trustor_user.unwrap().id, "a");
    }

    #[test]
    fn parses_application_credential_access_rules() {
        let with = |app_cred: &str| -> TokenBody {
            serde_json::from_str(&format!(
                r#"{{"user":{{"id":"u"}},"expires_at":"2030-01-02T03:04:05Z","application_credential":{app_cred}}}"#
            ))
            .unwrap()
        };
        let t = with(
            r#"{"id":"ac","name":"n","restricted":true,"access_rules":[{"id":"r1","service":"orchestration","method":"GET","path":"/v1/{project_id}/stacks"},{"service":"compute","method":"POST","path":"/v2.1/**"}]}"#,
        );
        let rules = t.application_credential.unwrap().access_rules.unwrap();
        assert_eq!(
            rules,
            [
                AccessRule {
                    id: Some("r1".into()),
                    service: "orchestration".into(),
                    method: "GET".into(),
                    path: "/v1/{project_id}/stacks".into(),
                },
                AccessRule {
                    id: None,
                    service: "compute".into(),
                    method: "POST".into(),
                    path: "/v2.1/**".into(),
                },
            ]
        );
        // Absent and empty are different answers: unrestricted vs. nothing allowed.
        let absent = with(r#"{"id":"ac"}"#);
        assert_eq!(absent.application_credential.unwrap().access_rules, None);
        let empty = with(r#"{"id":"ac","access_rules":[]}"#);
        assert_eq!(
            empty.application_credential.unwrap().access_rules,
            Some(vec![])
        );
    }

    #[test]
    fn rejects_a_bad_timestamp() {
        let bad = r#"{"user":{"id":"u"},"expires_at":"yesterday"}"#;
        assert!(serde_json::from_str::<TokenBody>(bad).is_err());
    }
}
