//! The engine: stacks and their resources, stack domain users, signals,
//! deferred auth, and the lookups the API needs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use heatgate_keystone::{Client, Secret, TrustRequest};
use heatgate_middleware::context::Identity;
use heatgate_middleware::stack_lookup::{LookupError, StackDirectory, StackRecord};
use serde_json::{json, Map, Value};
use tokio::sync::{Notify, OnceCell};

use crate::config::{DeferredAuth, EngineConfig};
use crate::crypt::Keyring;
use crate::error::EngineError;
use crate::stack_users::StackDomain;
use crate::store::{now, NewEvent, ResourceRow, StackRow, Store};
use crate::template;

/// Who is asking: the verified identity, reduced to what the engine uses.
#[derive(Debug, Clone)]
pub struct Caller {
    /// User id.
    pub user_id: String,
    /// User name.
    pub user_name: Option<String>,
    /// The token's project.
    pub project_id: String,
    /// Role names.
    pub roles: Vec<String>,
    /// The caller's token (to create the trust on their behalf).
    pub token: Secret,
    /// The EC2 access key, for requests signed with a keypair.
    pub ec2_access: Option<String>,
    /// `X-Auth-Key`, for `deferred_auth_method = password`.
    pub password: Option<Secret>,
    /// Whether the caller is an admin (`context_is_admin`).
    pub is_admin: bool,
}

impl Caller {
    /// From a verified identity.
    pub fn from_identity(identity: &Identity) -> Self {
        Caller {
            user_id: identity.user_id.clone(),
            user_name: identity.user_name.clone(),
            project_id: identity.project_id().unwrap_or_default().to_owned(),
            roles: identity.roles.clone(),
            token: identity.auth_token.clone(),
            ec2_access: None,
            password: None,
            is_admin: identity.has_role("admin"),
        }
    }

    /// Whether the caller holds `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// What POST /stacks carries.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    /// stack_name.
    pub name: String,
    /// The template text (JSON or YAML).
    pub template: String,
    /// parameters.
    pub parameters: Map<String, Value>,
    /// timeout_mins.
    pub timeout_mins: Option<i64>,
}

/// Heat's stack name rule.
pub fn valid_stack_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && name.len() <= 255
}

pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) keyring: Keyring,
    pub(crate) config: EngineConfig,
    pub(crate) domain: StackDomain,
    pub(crate) service: Client,
    service_user_id: OnceCell<String>,
    waiters: Mutex<HashMap<(String, String), Arc<Notify>>>,
}

/// The engine (cheap to clone).
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

impl Engine {
    /// Opens the database and builds the Keystone clients. Stacks a previous
    /// process left IN_PROGRESS are marked FAILED ("Engine went down during
    /// stack CREATE", as Heat's engine reset does).
    pub async fn start(config: EngineConfig) -> Result<Self, EngineError> {
        if let Some(dir) = config.database.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                EngineError::bad(
                    "ConfigError",
                    format!("cannot create {}: {e}", dir.display()),
                )
            })?;
        }
        let store = Store::open(&config.database).await?;
        Self::with_store(config, store).await
    }

    /// Like [`Engine::start`] with a store already open.
    pub async fn with_store(config: EngineConfig, store: Store) -> Result<Self, EngineError> {
        let keyring = Keyring::new(&config.auth_encryption_key, &config.retired_encryption_keys)?;
        let domain = StackDomain::new(&config)?;
        let service = Client::new(config.service.clone())?;
        let engine = Engine {
            inner: Arc::new(Inner {
                store,
                keyring,
                config,
                domain,
                service,
                service_user_id: OnceCell::new(),
                waiters: Mutex::new(HashMap::new()),
            }),
        };
        engine.check_key().await?;
        for stack in engine.inner.store.stacks_in_progress().await? {
            let reason = format!("Engine went down during stack {}", stack.action);
            tracing::warn!(stack = %stack.id, "{reason}");
            engine
                .inner
                .store
                .finish_stack(&stack.id, &stack.action, "FAILED", &reason)
                .await?;
        }
        Ok(engine)
    }

    /// Refuses to start with a key that cannot open what is stored.
    async fn check_key(&self) -> Result<(), EngineError> {
        let row: Option<(Option<String>,)> = sqlx::query_as(
            "SELECT trust_id_enc FROM stacks WHERE trust_id_enc IS NOT NULL LIMIT 1",
        )
        .fetch_optional(self.inner.store.pool())
        .await
        .map_err(crate::store::StoreError::from)?;
        if let Some((Some(sealed),)) = row {
            self.inner.keyring.decrypt(&sealed)?;
        }
        Ok(())
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    pub(crate) fn seal(&self, value: &str) -> Result<String, EngineError> {
        Ok(self.inner.keyring.encrypt(value.as_bytes())?)
    }

    pub(crate) fn open(&self, sealed: &str) -> Result<Secret, EngineError> {
        let bytes = self.inner.keyring.decrypt(sealed)?;
        Ok(Secret::new(String::from_utf8_lossy(&bytes).into_owned()))
    }

    pub(crate) fn waiter(&self, stack_id: &str, resource: &str) -> Arc<Notify> {
        let mut map = self.inner.waiters.lock().unwrap_or_else(|p| p.into_inner());
        map.entry((stack_id.to_owned(), resource.to_owned()))
            .or_default()
            .clone()
    }

    /// Wakes every resource of `stack_id` waiting for signals (so it looks
    /// at the stack again: deleted, or another resource failed).
    pub(crate) fn wake_waiters(&self, stack_id: &str) {
        let waiters: Vec<_> = {
            let map = self.inner.waiters.lock().unwrap_or_else(|p| p.into_inner());
            map.iter()
                .filter(|((s, _), _)| s == stack_id)
                .map(|(_, n)| n.clone())
                .collect()
        };
        for w in waiters {
            w.notify_waiters();
        }
    }

    pub(crate) fn forget_waiters(&self, stack_id: &str) {
        let mut map = self.inner.waiters.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|(s, _), _| s != stack_id);
    }

    async fn service_user_id(&self) -> Result<String, EngineError> {
        self.inner
            .service_user_id
            .get_or_try_init(|| async {
                Ok::<_, EngineError>(self.inner.service.service_identity().await?.user.id)
            })
            .await
            .cloned()
    }

    // ---- lookups ------------------------------------------------------------

    /// A stack by id, if the caller may see it (Heat's `_get_stack`: owner
    /// project, stack domain project, or admin).
    pub async fn visible_stack(&self, caller: &Caller, id: &str) -> Result<StackRow, EngineError> {
        let stack = self
            .inner
            .store
            .stack(id)
            .await?
            .ok_or_else(|| EngineError::no_stack(id))?;
        let p = caller.project_id.as_str();
        if caller.is_admin || stack.tenant == p || stack.stack_user_project_id.as_deref() == Some(p)
        {
            Ok(stack)
        } else {
            Err(EngineError::no_stack(id))
        }
    }

    /// A stack by name, id or ARN as the CFN API's StackName (dual path).
    pub async fn find_stack(&self, caller: &Caller, key: &str) -> Result<StackRow, EngineError> {
        if let Some((_, name, id, _)) = heatgate_middleware::stack_lookup::parse_arn(key) {
            let s = self.visible_stack(caller, &id).await?;
            if s.name != name {
                return Err(EngineError::no_stack(key));
            }
            return Ok(s);
        }
        if uuid::Uuid::parse_str(key).is_ok() {
            return self.visible_stack(caller, key).await;
        }
        self.inner
            .store
            .stack_by_name(key, &caller.project_id)
            .await?
            .ok_or_else(|| EngineError::no_stack(key))
    }

    /// The live stacks of a project (not dual-path).
    pub async fn list_stacks(&self, tenant: &str) -> Result<Vec<StackRow>, EngineError> {
        Ok(self.inner.store.stacks_of_tenant(tenant).await?)
    }

    /// Every live stack (global index).
    pub async fn list_all_stacks(&self) -> Result<Vec<StackRow>, EngineError> {
        Ok(self.inner.store.all_stacks().await?)
    }

    /// A resource of a stack.
    pub async fn resource(&self, stack: &StackRow, name: &str) -> Result<ResourceRow, EngineError> {
        self.inner
            .store
            .resource(&stack.id, name)
            .await?
            .ok_or_else(|| EngineError::NotFound {
                entity: "Resource",
                name: name.to_owned(),
            })
    }

    // ---- create -------------------------------------------------------------

    /// Validates and stores a new stack, sets up deferred auth, and starts
    /// creating its resources in the background. Returns the stack row
    /// (CREATE_IN_PROGRESS).
    pub async fn create_stack(
        &self,
        caller: &Caller,
        tenant: &str,
        req: CreateRequest,
    ) -> Result<StackRow, EngineError> {
        if !valid_stack_name(&req.name) {
            return Err(EngineError::bad(
                "StackValidationFailed",
                format!(
                    "Invalid stack name {} must contain only alphanumeric or \"_-.\" characters, must start with alpha and must be 255 characters or less.",
                    req.name
                ),
            ));
        }
        let tpl = template::parse(&req.template).map_err(template_error)?;
        let stack_id = uuid::Uuid::new_v4().to_string();
        let pseudo = template::PseudoParameters {
            stack_name: req.name.clone(),
            stack_id: stack_id.clone(),
            project_id: tenant.to_owned(),
            region: "RegionOne".to_owned(),
        };
        let params =
            template::resolve_parameters(&tpl, &req.parameters, &pseudo).map_err(template_error)?;
        tpl.validate_with_parameters(&params)
            .map_err(template_error)?;
        tpl.creation_order().map_err(template_error)?;
        if self.inner.store.name_taken(tenant, &req.name).await? {
            return Err(EngineError::StackExists(req.name));
        }
        let method = self.inner.config.deferred_auth_method;
        let mut password_enc = None;
        if method == DeferredAuth::Password && crate::lifecycle::requires_deferred_auth(&tpl) {
            if caller.user_name.is_none() {
                return Err(EngineError::bad(
                    "MissingCredentialError",
                    "Missing required credential: username",
                ));
            }
            let Some(pw) = &caller.password else {
                return Err(EngineError::bad(
                    "MissingCredentialError",
                    "Missing required credential: password",
                ));
            };
            password_enc = Some(self.seal(pw.expose())?);
        }
        let row = StackRow {
            id: stack_id.clone(),
            name: req.name.clone(),
            tenant: tenant.to_owned(),
            owner_user_id: caller.user_id.clone(),
            owner_user_name: caller.user_name.clone(),
            stack_user_project_id: None,
            action: "CREATE".into(),
            status: "IN_PROGRESS".into(),
            status_reason: "Stack CREATE started".into(),
            template: req.template.clone(),
            parameters: Value::Object(params.into_iter().collect()).to_string(),
            timeout_mins: req.timeout_mins,
            deferred_auth_method: method.as_str().into(),
            trust_id_enc: None,
            password_enc,
            created_at: now(),
            updated_at: None,
            deleted_at: None,
            description: tpl.description.clone(),
        };
        if method == DeferredAuth::Trusts {
            let trust = self.create_trust(caller, tenant).await?;
            let mut row = row;
            row.trust_id_enc = Some(self.seal(trust.expose())?);
            return self.store_and_start(row).await;
        }
        self.store_and_start(row).await
    }

    async fn store_and_start(&self, row: StackRow) -> Result<StackRow, EngineError> {
        if let Err(e) = self.inner.store.insert_stack(&row).await {
            if let Some(sealed) = &row.trust_id_enc {
                self.delete_trust(sealed).await;
            }
            // Another create of the same name won the race past `name_taken`.
            if e.is_unique_violation() {
                return Err(EngineError::StackExists(row.name));
            }
            return Err(e.into());
        }
        self.inner
            .store
            .add_event(
                &row.id,
                &row.name,
                "OS::Heat::Stack",
                Some(&row.id),
                "CREATE",
                "IN_PROGRESS",
                "Stack CREATE started",
            )
            .await?;
        let engine = self.clone();
        let id = row.id.clone();
        tokio::spawn(async move { crate::lifecycle::create(engine, id).await });
        Ok(row)
    }

    async fn create_trust(&self, caller: &Caller, tenant: &str) -> Result<Secret, EngineError> {
        let trustee = self.service_user_id().await?;
        let roles = if self.inner.config.trusts_delegated_roles.is_empty() {
            caller.roles.clone()
        } else {
            self.inner.config.trusts_delegated_roles.clone()
        };
        let trust = self
            .inner
            .service
            .create_trust(
                &caller.token,
                &TrustRequest {
                    trustor_user_id: caller.user_id.clone(),
                    trustee_user_id: trustee,
                    project_id: tenant.to_owned(),
                    impersonation: true,
                    role_names: roles,
                    expires_at: None,
                },
            )
            .await
            .map_err(|e| match e.rejected_status() {
                Some(403) | Some(400) => EngineError::Forbidden,
                _ => EngineError::Keystone(e),
            })?;
        Ok(trust.id)
    }

    pub(crate) async fn delete_trust(&self, sealed: &str) {
        let Ok(id) = self.open(sealed) else {
            tracing::error!("the stored trust id cannot be decrypted; it is left in Keystone");
            return;
        };
        if let Err(e) = self.inner.service.delete_trust(&id).await {
            tracing::warn!(error = %e, "the trust could not be deleted");
        }
    }

    /// A token for deferred work: trust-scoped (the heat service user acting
    /// for the owner) or, in password mode, the owner's own.
    pub async fn deferred_token(&self, stack: &StackRow) -> Result<Secret, EngineError> {
        match stack.deferred_auth_method.as_str() {
            "trusts" => {
                let sealed = stack.trust_id_enc.as_deref().ok_or_else(|| {
                    EngineError::bad("AuthorizationFailure", "The stack has no trust.")
                })?;
                let trust = self.open(sealed)?;
                Ok(self.inner.service.trust_token(&trust).await?.token)
            }
            _ => {
                let sealed = stack.password_enc.as_deref().ok_or_else(|| {
                    EngineError::bad("AuthorizationFailure", "The stack has no stored password.")
                })?;
                let password = self.open(sealed)?;
                let auth = heatgate_keystone::PasswordAuth {
                    user: heatgate_keystone::UserRef::Id(stack.owner_user_id.clone()),
                    password,
                    scope: heatgate_keystone::ScopeRequest::ProjectId(stack.tenant.clone()),
                };
                Ok(self.inner.service.authenticate(&auth).await?.token)
            }
        }
    }

    // ---- delete and actions -------------------------------------------------

    /// Starts deleting a stack (DELETE_IN_PROGRESS, then gone).
    pub async fn delete_stack(&self, stack: &StackRow) -> Result<(), EngineError> {
        if stack.action == "DELETE" && stack.status == "IN_PROGRESS" {
            return Ok(());
        }
        self.inner
            .store
            .set_stack_status(&stack.id, "DELETE", "IN_PROGRESS", "Stack DELETE started")
            .await?;
        self.inner
            .store
            .add_event(
                &stack.id,
                &stack.name,
                "OS::Heat::Stack",
                Some(&stack.id),
                "DELETE",
                "IN_PROGRESS",
                "Stack DELETE started",
            )
            .await?;
        // Wake anything waiting on this stack so it stops.
        self.wake_waiters(&stack.id);
        let engine = self.clone();
        let id = stack.id.clone();
        tokio::spawn(async move { crate::lifecycle::delete(engine, id).await });
        Ok(())
    }

    /// `POST .../actions {"check": null}`: checked later by the engine with
    /// deferred auth (a trust-scoped token used against Keystone).
    pub async fn check_stack(&self, stack: &StackRow) -> Result<(), EngineError> {
        if stack.status == "IN_PROGRESS" {
            return Err(EngineError::Conflict(format!(
                "Stack {} already has an action ({}) in progress.",
                stack.name, stack.action
            )));
        }
        self.inner
            .store
            .set_stack_status(&stack.id, "CHECK", "IN_PROGRESS", "Stack CHECK started")
            .await?;
        self.inner
            .store
            .add_event(
                &stack.id,
                &stack.name,
                "OS::Heat::Stack",
                Some(&stack.id),
                "CHECK",
                "IN_PROGRESS",
                "Stack CHECK started",
            )
            .await?;
        let engine = self.clone();
        let id = stack.id.clone();
        tokio::spawn(async move { crate::lifecycle::check(engine, id).await });
        Ok(())
    }

    // ---- signals ------------------------------------------------------------

    /// A signal to a resource (REST signal route, CFN waitcondition/signal).
    /// Returns once the signal is durably stored.
    pub async fn signal(
        &self,
        stack: &StackRow,
        resource_name: &str,
        body: Option<Value>,
        cfn_waitcondition: bool,
    ) -> Result<(), EngineError> {
        let res = self.resource(stack, resource_name).await?;
        let (id, status, reason, data) =
            crate::lifecycle::parse_signal(&res.type_name, body, cfn_waitcondition)?;
        let details = data.clone();
        let data = data.map(|d| d.to_string());
        // The signal and its event in one transaction; a client retrying the
        // same signal (same id, same content) is answered the same and
        // recorded once.
        let (_, recorded) = self
            .inner
            .store
            .record_signal(
                &stack.id,
                resource_name,
                id.as_deref(),
                &status,
                reason.as_deref(),
                data.as_deref(),
                |row| {
                    Some(NewEvent {
                        resource_name: resource_name.to_owned(),
                        resource_type: res.type_name.clone(),
                        physical_id: res.physical_id.clone(),
                        action: "SIGNAL".into(),
                        status: "COMPLETE".into(),
                        reason: signal_event_reason(&res, row, details.as_ref()),
                    })
                },
            )
            .await?;
        if recorded {
            self.waiter(&stack.id, resource_name).notify_waiters();
        }
        Ok(())
    }

    // ---- access of stack users ----------------------------------------------

    /// Heat's `_authorize_stack_user`: a caller with the stack user role may
    /// read a resource only if its user id or EC2 access key is bound to it.
    pub async fn authorize_stack_user(
        &self,
        caller: &Caller,
        stack: &StackRow,
        resource_name: &str,
    ) -> Result<(), EngineError> {
        if !caller.has_role(&self.inner.config.heat_stack_user_role) {
            return Ok(());
        }
        let resources = self.inner.store.resources(&stack.id).await?;
        let mut creds = vec![caller.user_id.as_str()];
        if let Some(a) = &caller.ec2_access {
            creds.push(a.as_str());
        }
        if creds
            .iter()
            .any(|c| crate::lifecycle::access_allowed(&resources, c, resource_name))
        {
            Ok(())
        } else {
            tracing::warn!(
                resource = resource_name,
                "access denied to resource for a stack user"
            );
            Err(EngineError::Forbidden)
        }
    }

    // ---- views --------------------------------------------------------------

    /// The resource's metadata as clients read it.
    pub async fn metadata(
        &self,
        stack: &StackRow,
        res: &ResourceRow,
    ) -> Result<Value, EngineError> {
        crate::lifecycle::metadata(self, stack, res).await
    }

    /// The resource's attributes (for resource show).
    pub async fn attributes(
        &self,
        stack: &StackRow,
        res: &ResourceRow,
    ) -> Result<Value, EngineError> {
        crate::lifecycle::attributes(self, stack, res).await
    }

    /// The stack's outputs.
    pub async fn outputs(&self, stack: &StackRow) -> Result<Vec<Value>, EngineError> {
        crate::lifecycle::outputs(self, stack).await
    }

    /// Software deployments visible to the caller's project for a server
    /// (Heat's metadata_software_deployments), as server metadata lists them.
    pub async fn deployments_metadata(
        &self,
        caller: &Caller,
        server_id: &str,
    ) -> Result<Vec<Value>, EngineError> {
        let project = (!caller.is_admin).then_some(caller.project_id.as_str());
        let rows = self
            .inner
            .store
            .deployments_for(project, Some(server_id))
            .await?;
        let mut out = Vec::new();
        for d in rows {
            out.push(crate::lifecycle::deployment_view(self, &d).await?);
        }
        Ok(out)
    }
}

impl StackDirectory for Engine {
    fn by_id<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<StackRecord>, LookupError>> {
        Box::pin(async move {
            let s = self
                .inner
                .store
                .stack(id)
                .await
                .map_err(|e| LookupError(e.to_string()))?;
            Ok(s.map(record))
        })
    }

    fn by_name<'a>(
        &'a self,
        name: &'a str,
        project: &'a str,
    ) -> BoxFuture<'a, Result<Option<StackRecord>, LookupError>> {
        Box::pin(async move {
            let s = self
                .inner
                .store
                .stack_by_name(name, project)
                .await
                .map_err(|e| LookupError(e.to_string()))?;
            Ok(s.map(record))
        })
    }
}

/// The SIGNAL event's reason, as Heat words it per resource type.
fn signal_event_reason(
    res: &ResourceRow,
    signal: &crate::store::SignalRow,
    details: Option<&Value>,
) -> String {
    match res.type_name.as_str() {
        "OS::Heat::WaitConditionHandle" | "AWS::CloudFormation::WaitConditionHandle" => {
            format!("Signal: status:{} reason:{}", signal.status, signal.reason)
        }
        "OS::Heat::SoftwareDeployment" => {
            let id = res.physical_id.as_deref().unwrap_or_default();
            // Heat: `if status_code and str(status_code) != '0'`.
            let code = details
                .and_then(|d| d.get("deploy_status_code"))
                .filter(|c| match c {
                    Value::Null => false,
                    Value::Bool(b) => *b,
                    Value::Number(n) => n.as_f64() != Some(0.0),
                    Value::String(s) => !s.is_empty() && s != "0",
                    Value::Array(a) => !a.is_empty(),
                    Value::Object(o) => !o.is_empty(),
                });
            match code {
                Some(c) => format!(
                    "Signal: deployment {id} failed ({})",
                    c.as_str().map_or_else(|| c.to_string(), str::to_owned)
                ),
                None => format!("Signal: deployment {id} succeeded"),
            }
        }
        // Heat's get_string_details for resources without a signal outcome.
        _ => match details {
            None | Some(Value::Null) => "No signal details provided".into(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => "Unknown".into(),
        },
    }
}

/// The lookup's record, carrying the whole row on to the handler.
fn record(s: StackRow) -> StackRecord {
    StackRecord {
        id: s.id.clone(),
        name: s.name.clone(),
        tenant: s.tenant.clone(),
        stack_user_project_id: s.stack_user_project_id.clone(),
        found: Some(Arc::new(s)),
    }
}

/// A template error as Heat answers it (400, Heat's exception name and text).
pub(crate) fn template_error(e: template::TemplateError) -> EngineError {
    EngineError::bad(e.kind.heat_type(), e.heat_message())
}

/// A JSON object of strings, for views.
pub(crate) fn obj(v: &str) -> Value {
    serde_json::from_str(v).unwrap_or_else(|_| json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_names_follow_heats_rule() {
        assert!(valid_stack_name("web"));
        assert!(valid_stack_name("a_b.c-1"));
        assert!(!valid_stack_name("1web"));
        assert!(!valid_stack_name("we b"));
        assert!(!valid_stack_name(""));
        assert!(!valid_stack_name(&"a".repeat(256)));
    }
}
