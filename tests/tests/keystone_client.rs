//! The Keystone client against a real Keystone.

use heatgate_keystone::{Client, Error, ScopeRequest, Secret, ValidateOptions, Validation};
use heatgate_tests::Keystone;

#[tokio::test]
async fn password_authentication_and_validation() {
    let keystone = Keystone::shared();
    let client = Client::new(keystone.service_client_config()).unwrap();
    let demo = &keystone.fixtures.demo;
    let a = client.authenticate(&demo.project_auth()).await.unwrap();
    assert_eq!(a.body.user.id, demo.user_id);
    assert!(a.body.catalog.is_some());
    match client
        .validate(a.token.expose(), ValidateOptions::default())
        .await
        .unwrap()
    {
        Validation::Valid(body) => {
            assert_eq!(body.project.unwrap().id, demo.project_id.clone().unwrap());
            assert!(body.catalog.is_none(), "nocatalog by default");
        }
        Validation::Invalid => panic!("a fresh token is valid"),
    }
    let with_catalog = ValidateOptions {
        include_catalog: true,
        ..Default::default()
    };
    let Validation::Valid(body) = client
        .validate(a.token.expose(), with_catalog)
        .await
        .unwrap()
    else {
        panic!("valid")
    };
    assert!(body.catalog.is_some());
    assert!(matches!(
        client
            .validate("bogus", ValidateOptions::default())
            .await
            .unwrap(),
        Validation::Invalid
    ));
    // A wrong password is the caller's problem, not an outage.
    let mut wrong = demo.project_auth();
    wrong.password = Secret::new("wrong");
    let err = client.authenticate(&wrong).await.unwrap_err();
    assert_eq!(err.rejected_status(), Some(401));
    assert!(!err.is_unavailable());
    assert!(!err.to_string().contains("wrong"));
}

#[tokio::test]
async fn a_revoked_service_token_is_replaced_once() {
    let keystone = Keystone::shared();
    let client = Client::new(keystone.service_client_config()).unwrap();
    let user = keystone.token(&keystone.fixtures.demo.project_auth()).await;
    assert!(matches!(
        client
            .validate(user.expose(), ValidateOptions::default())
            .await
            .unwrap(),
        Validation::Valid(_)
    ));
    let service = client.service_token_value().await.unwrap();
    keystone.revoke(&service).await;
    // Keystone now answers 401 for the service token: the client re-authenticates once and succeeds.
    assert!(matches!(
        client
            .validate(user.expose(), ValidateOptions::default())
            .await
            .unwrap(),
        Validation::Valid(_)
    ));
    assert_eq!(
        client
            .stats()
            .service_authentications
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    assert_ne!(
        client.service_token_value().await.unwrap().expose(),
        service.expose()
    );
}

#[tokio::test]
async fn wrong_service_credentials_are_an_outage_not_a_401() {
    let keystone = Keystone::shared();
    let mut config = keystone.service_client_config();
    if let Some(auth) = config.service_auth.as_mut() {
        auth.password = Secret::new("not-the-password");
    }
    let client = Client::new(config).unwrap();
    let err = client
        .validate("whatever", ValidateOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::ServiceAuthRejected { status: 401 }),
        "{err}"
    );
    assert!(err.is_unavailable());
}

#[tokio::test]
async fn scopes_the_client_can_ask_for() {
    let keystone = Keystone::shared();
    let client = Client::new(keystone.service_client_config()).unwrap();
    let f = &keystone.fixtures;
    let system = client
        .authenticate(&f.sysreader.auth(ScopeRequest::System))
        .await
        .unwrap();
    assert!(system.body.is_system_scoped());
    // (A user with a default project gets it as the scope; demo_noroles has none.)
    let unscoped = client
        .authenticate(&f.demo_noroles.auth(ScopeRequest::Unscoped))
        .await
        .unwrap();
    assert!(unscoped.body.project.is_none() && unscoped.body.roles.is_empty());
}
