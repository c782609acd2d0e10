//! The Keystone admin calls the engine needs (stack domain projects, users,
//! EC2 keypairs, trusts) against a real Keystone.

use std::io::Read;
use std::time::Duration;

use heatgate_keystone::{
    Client, ClientConfig, DomainRef, Error, NewUser, PasswordAuth, ScopeRequest, Secret,
    TrustRequest, UserRef, Validation,
};
use heatgate_tests::Keystone;
use http::Method;

/// A random uuid4, as text.
fn uuid4() -> String {
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .expect("random bytes");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// A client whose service identity is the stack domain admin, scoped to the heat domain.
fn domain_admin_client(keystone: &Keystone) -> Client {
    let f = &keystone.fixtures;
    let mut config = ClientConfig::new(keystone.auth_url());
    config.http_connect_timeout = Duration::from_secs(20);
    config.service_auth = Some(f.heat_domain_admin.auth(ScopeRequest::Domain(DomainRef::Id(
        f.heat_domain_id.clone(),
    ))));
    Client::new(config).unwrap()
}

/// A client whose service identity is the heat service user.
fn heat_client(keystone: &Keystone) -> Client {
    Client::new(keystone.service_client_config()).unwrap()
}

fn demo_trust_request(keystone: &Keystone, roles: &[&str]) -> TrustRequest {
    let f = &keystone.fixtures;
    TrustRequest {
        trustor_user_id: f.demo.user_id.clone(),
        trustee_user_id: f.heat.user_id.clone(),
        project_id: f.demo.project_id.clone().unwrap(),
        impersonation: true,
        role_names: roles.iter().map(|r| r.to_string()).collect(),
        expires_at: None,
    }
}

#[tokio::test]
async fn the_stack_domain_admin_creates_and_deletes_a_stack_project_its_user_and_keypair() {
    let keystone = Keystone::shared();
    let f = &keystone.fixtures;
    let admin = domain_admin_client(keystone);
    let heat_domain = f.heat_domain_id.as_str();

    // "<owner project>-<stack id>" is 69 characters: Keystone takes at most 64.
    let full_name = format!("{}-{}", f.demo.project_id.clone().unwrap(), uuid4());
    assert_eq!(full_name.len(), 69);
    let err = admin
        .create_project(&full_name, heat_domain, "stack project")
        .await
        .unwrap_err();
    assert_eq!(err.rejected_status(), Some(400), "{err}");
    let name = &full_name[..64];
    let project = admin
        .create_project(name, heat_domain, "stack project")
        .await
        .unwrap();
    assert_eq!(project.name, name);
    assert_eq!(project.domain_id, heat_domain);
    // The same name twice in a domain: 409.
    let err = admin
        .create_project(name, heat_domain, "again")
        .await
        .unwrap_err();
    assert_eq!(err.rejected_status(), Some(409), "{err}");
    assert!(admin
        .list_projects(heat_domain)
        .await
        .unwrap()
        .contains(&project));

    let password = Secret::new(uuid4());
    let user = admin
        .create_user(NewUser {
            name: format!("stack-user-{}", uuid4()),
            domain_id: heat_domain.into(),
            password: password.clone(),
            default_project_id: Some(project.id.clone()),
            description: "a stack domain user".into(),
        })
        .await
        .unwrap();
    assert_eq!(user.domain_id, heat_domain);
    assert_eq!(
        user.default_project_id.as_deref(),
        Some(project.id.as_str())
    );
    assert!(admin.list_users(heat_domain).await.unwrap().contains(&user));

    let role = admin.role_id("heat_stack_user").await.unwrap();
    assert_eq!(role.as_ref(), f.roles.get("heat_stack_user"));
    assert_eq!(admin.role_id("no-such-role").await.unwrap(), None);
    let role = role.unwrap();
    admin
        .grant_project_role(&project.id, &user.id, &role)
        .await
        .unwrap();
    admin
        .grant_project_role(&project.id, &user.id, &role)
        .await
        .expect("granting twice is fine");
    // The stack user can now get a token on its project, with only that role.
    let token = admin
        .authenticate(&PasswordAuth {
            user: UserRef::Id(user.id.clone()),
            password: password.clone(),
            scope: ScopeRequest::ProjectId(project.id.clone()),
        })
        .await
        .unwrap();
    assert_eq!(
        token.body.role_names().collect::<Vec<_>>(),
        ["heat_stack_user"]
    );

    // The OS-EC2 API is for project or system scope: a domain-scoped admin is refused.
    let err = admin
        .create_ec2_credential(&user.id, &project.id)
        .await
        .unwrap_err();
    assert_eq!(err.rejected_status(), Some(403), "{err}");
    // /v3/credentials (what Heat uses) is allowed.
    let access = uuid4().replace('-', "");
    let secret = Secret::new(uuid4());
    let keypair = admin
        .create_ec2_keypair(&user.id, &project.id, &access, &secret)
        .await
        .unwrap();
    assert_eq!(keypair.access, access);
    assert_eq!(keypair.secret, secret);
    assert_eq!(keypair.user_id, user.id);
    assert_eq!(keypair.project_id, project.id);
    assert_eq!(keypair.trust_id, None);
    assert_eq!(
        admin.list_ec2_credentials(&user.id).await.unwrap(),
        vec![keypair.clone()]
    );
    // The EC2 token path finds it by sha256(access), with the heat service identity.
    let seen = heat_client(keystone)
        .ec2_credential(&access)
        .await
        .unwrap()
        .expect("the keypair is visible to the heat service user");
    assert_eq!(seen, keypair);
    let err = admin
        .create_ec2_keypair(&user.id, &project.id, &access, &Secret::new("other"))
        .await
        .unwrap_err();
    assert_eq!(err.rejected_status(), Some(409), "{err}");

    assert!(admin.delete_ec2_keypair(&access).await.unwrap());
    assert!(admin
        .list_ec2_credentials(&user.id)
        .await
        .unwrap()
        .is_empty());
    assert!(admin.delete_user(&user.id).await.unwrap());
    assert!(admin.delete_project(&project.id).await.unwrap());
    assert!(!admin
        .list_users(heat_domain)
        .await
        .unwrap()
        .iter()
        .any(|u| u.id == user.id));
    assert!(!admin
        .list_projects(heat_domain)
        .await
        .unwrap()
        .iter()
        .any(|p| p.id == project.id));
    assert!(!admin.delete_ec2_keypair(&access).await.unwrap());
    assert!(!admin.delete_user(&user.id).await.unwrap());
    assert!(!admin.delete_project(&project.id).await.unwrap());
}

#[tokio::test]
async fn deleting_a_user_deletes_its_keypairs() {
    let keystone = Keystone::shared();
    let f = &keystone.fixtures;
    let admin = domain_admin_client(keystone);
    let project = admin
        .create_project(&format!("cascade-{}", uuid4()), &f.heat_domain_id, "")
        .await
        .unwrap();
    let user = admin
        .create_user(NewUser {
            name: format!("cascade-{}", uuid4()),
            domain_id: f.heat_domain_id.clone(),
            password: Secret::new(uuid4()),
            default_project_id: None,
            description: String::new(),
        })
        .await
        .unwrap();
    assert_eq!(user.default_project_id, None);
    let access = uuid4().replace('-', "");
    admin
        .create_ec2_keypair(&user.id, &project.id, &access, &Secret::new(uuid4()))
        .await
        .unwrap();
    assert!(admin.delete_user(&user.id).await.unwrap());
    assert!(admin
        .list_ec2_credentials(&user.id)
        .await
        .unwrap()
        .is_empty());
    assert!(!admin.delete_ec2_keypair(&access).await.unwrap());
    assert!(admin.delete_project(&project.id).await.unwrap());
}

/// Keystone's `admin_required` is `role:admin` whatever the target: an admin
/// role on the heat domain is an admin role everywhere for these APIs. The
/// engine, not Keystone, keeps the stack domain admin in its domain.
#[tokio::test]
async fn a_domain_scoped_admin_is_not_confined_to_its_domain_by_keystone() {
    let keystone = Keystone::shared();
    let admin = domain_admin_client(keystone);
    let project = admin
        .create_project(&format!("escape-{}", uuid4()), "default", "")
        .await
        .expect("Keystone 30 lets a domain admin create a project in another domain");
    assert_eq!(project.domain_id, "default");
    assert!(admin.delete_project(&project.id).await.unwrap());
}

#[tokio::test]
async fn a_trust_from_the_stack_owner_to_heat_impersonates_the_owner_until_deleted() {
    let keystone = Keystone::shared();
    let f = &keystone.fixtures;
    let heat = heat_client(keystone);
    let demo_token = keystone.token(&f.demo.project_auth()).await;

    let trust = heat
        .create_trust(&demo_token, &demo_trust_request(keystone, &["member"]))
        .await
        .unwrap();
    assert_eq!(trust.trustor_user_id, f.demo.user_id);
    assert_eq!(trust.trustee_user_id, f.heat.user_id);
    assert_eq!(trust.project_id, f.demo.project_id);
    assert!(trust.impersonation);
    assert_eq!(trust.roles, ["member"]);
    assert_eq!(trust.expires_at, None);
    assert!(!format!("{trust:?}").contains(trust.id.expose()));

    // heat, the trustee, authenticates with the trust scope.
    let scoped = heat
        .authenticate(&f.heat.auth(ScopeRequest::Trust(trust.id.clone())))
        .await
        .unwrap();
    let body = &scoped.body;
    let on = body.trust.as_ref().expect("a trust-scoped token");
    assert_eq!(on.id, trust.id.expose());
    assert!(on.impersonation);
    assert_eq!(on.trustor_user.as_ref().unwrap().id, f.demo.user_id);
    assert_eq!(on.trustee_user.as_ref().unwrap().id, f.heat.user_id);
    assert_eq!(
        body.user.id, f.demo.user_id,
        "impersonation: the user is demo"
    );
    assert_eq!(
        body.project.as_ref().unwrap().id,
        f.demo.project_id.clone().unwrap()
    );
    // member implies reader.
    let mut roles: Vec<_> = body.role_names().collect();
    roles.sort_unstable();
    assert_eq!(roles, ["member", "reader"]);
    // The same through the client's own service credentials.
    let again = heat.trust_token(&trust.id).await.unwrap();
    assert_eq!(again.body.user.id, f.demo.user_id);

    // The stack domain admin's domain-scoped token may not delete trusts.
    let err = domain_admin_client(keystone)
        .delete_trust(&trust.id)
        .await
        .unwrap_err();
    assert_eq!(err.rejected_status(), Some(403), "{err}");

    // The heat service user (admin on its project) may.
    assert!(heat.delete_trust(&trust.id).await.unwrap());
    assert!(!heat.delete_trust(&trust.id).await.unwrap());
    let err = heat.trust_token(&trust.id).await.unwrap_err();
    assert_eq!(err.rejected_status(), Some(401), "{err}");
    assert!(!format!("{err} {err:?}").contains(trust.id.expose()));
    // Tokens already issued under the trust die with it.
    assert!(matches!(
        heat.validate(scoped.token.expose(), Default::default())
            .await
            .unwrap(),
        Validation::Invalid
    ));
}

#[tokio::test]
async fn what_keystone_requires_of_a_trust() {
    let keystone = Keystone::shared();
    let f = &keystone.fixtures;
    let heat = heat_client(keystone);
    let demo_token = keystone.token(&f.demo.project_auth()).await;

    // At least one role.
    let err = heat
        .create_trust(&demo_token, &demo_trust_request(keystone, &[]))
        .await
        .unwrap_err();
    assert_eq!(err.rejected_status(), Some(403), "{err}");
    // Only roles the trustor has on the project (Keystone says 404 for the role).
    let err = heat
        .create_trust(&demo_token, &demo_trust_request(keystone, &["admin"]))
        .await
        .unwrap_err();
    assert_eq!(err.rejected_status(), Some(404), "{err}");
    // Made with the trustor's own token: the heat service token (admin) is refused.
    let service_token = heat.service_token_value().await.unwrap();
    let err = heat
        .create_trust(&service_token, &demo_trust_request(keystone, &["member"]))
        .await
        .unwrap_err();
    assert_eq!(err.rejected_status(), Some(403), "{err}");
    // An invalid trustor token is a 401 for the caller, not an outage.
    let err = heat
        .create_trust(
            &Secret::new("bogus"),
            &demo_trust_request(keystone, &["member"]),
        )
        .await
        .unwrap_err();
    assert_eq!(err.rejected_status(), Some(401), "{err}");
    assert!(!err.is_unavailable());

    // An expiry is kept, with the fraction of a second dropped.
    let expires = (time::OffsetDateTime::now_utc() + time::Duration::days(365))
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
        ))
        .unwrap();
    let mut request = demo_trust_request(keystone, &["reader"]);
    request.expires_at = Some(expires.clone());
    let trust = heat.create_trust(&demo_token, &request).await.unwrap();
    let kept = format!("{}.000000Z", &expires[..19]);
    assert_eq!(trust.expires_at.as_deref(), Some(kept.as_str()));
    assert_eq!(trust.roles, ["reader"]);
    // Keystone keeps trustor, trustee, project, impersonation and expiry unique
    // (a missing expiry never collides): the same trust twice is 409.
    let err = heat.create_trust(&demo_token, &request).await.unwrap_err();
    assert_eq!(err.rejected_status(), Some(409), "{err}");
    // A trust-scoped token cannot make trusts; the trustor may delete its own
    // trust with its own token.
    let scoped = heat.trust_token(&trust.id).await.unwrap();
    let err = heat
        .create_trust(&scoped.token, &demo_trust_request(keystone, &["reader"]))
        .await
        .unwrap_err();
    assert_eq!(err.rejected_status(), Some(403), "{err}");
    assert!(heat
        .delete_trust_with(&demo_token, &trust.id)
        .await
        .unwrap());
    assert!(!heat
        .delete_trust_with(&demo_token, &trust.id)
        .await
        .unwrap());
    // Deleted trusts are kept (soft deletion): the same one still collides.
    let err = heat.create_trust(&demo_token, &request).await.unwrap_err();
    assert_eq!(err.rejected_status(), Some(409), "{err}");
}

#[tokio::test]
async fn user_calls_carry_the_callers_token_and_never_authenticate_the_service() {
    let keystone = Keystone::shared();
    let f = &keystone.fixtures;
    let client = Client::new(ClientConfig::new(keystone.auth_url())).unwrap();
    let demo_token = keystone.token(&f.demo.project_auth()).await;
    let answer = client
        .user_call(
            &demo_token,
            Method::GET,
            "auth/projects",
            "",
            None,
            "projects",
        )
        .await
        .unwrap();
    assert_eq!(answer.status.as_u16(), 200);
    let projects: serde_json::Value = answer.json("projects").unwrap();
    assert!(projects["projects"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["id"] == f.demo.project_id.clone().unwrap().as_str()));
    // A 401 is an answer, given back as it is.
    let answer = client
        .user_call(
            &Secret::new("bogus"),
            Method::GET,
            "auth/projects",
            "",
            None,
            "projects",
        )
        .await
        .unwrap();
    assert_eq!(answer.status.as_u16(), 401);
    // A token that cannot be a header is refused before any call.
    let calls = client
        .stats()
        .calls
        .load(std::sync::atomic::Ordering::Relaxed);
    let err = client
        .user_call(
            &Secret::new("a\nb"),
            Method::GET,
            "auth/projects",
            "",
            None,
            "projects",
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Rejected { status: 401, .. }), "{err}");
    let stats = client.stats();
    assert_eq!(
        stats.calls.load(std::sync::atomic::Ordering::Relaxed),
        calls
    );
    assert_eq!(
        stats
            .service_authentications
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}

#[tokio::test]
async fn deleting_what_does_not_exist_is_ok_false() {
    let keystone = Keystone::shared();
    let admin = domain_admin_client(keystone);
    let heat = heat_client(keystone);
    let none = "0123456789abcdef0123456789abcdef";
    assert!(!admin.delete_project(none).await.unwrap());
    assert!(!admin.delete_user(none).await.unwrap());
    assert!(!admin
        .delete_ec2_keypair("no-such-access-key")
        .await
        .unwrap());
    assert!(!heat.delete_trust(&Secret::new(none)).await.unwrap());
    // Ids are one path segment: nothing else is reached through them.
    assert!(!admin.delete_project("..").await.unwrap());
    assert!(!admin.delete_user("../projects/x").await.unwrap());
    assert!(admin.list_ec2_credentials(none).await.unwrap().is_empty());
    let err = admin
        .grant_project_role(none, none, none)
        .await
        .unwrap_err();
    assert_eq!(err.rejected_status(), Some(404), "{err}");
}
