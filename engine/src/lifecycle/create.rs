//! Creating a stack's resources: independent ones concurrently, each when
//! what it requires is complete; stack domain users, keypairs and pre-signed
//! URLs per type; wait conditions and deployments waiting for their signals;
//! the Keystone side rolled back on failure.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::delete::{rollback_keystone, short_keystone};
use super::{
    handle_name, handle_of, needs_user, physical_name, reference, seal_map, secrets, state,
    stored_attributes, str_of,
};
use crate::engine::{obj, Engine};
use crate::error::EngineError;
use crate::presign::{presigned_url, resource_arn, Presign};
use crate::store::{now, DeploymentRow, ResourceRow, StackRow};
use crate::template::{self, Template};

// ---- create -------------------------------------------------------------------

/// What one resource's creation produced (Keystone ids to roll back on failure).
#[derive(Default)]
struct Created {
    users: Vec<String>,
    keypairs: Vec<String>,
}

/// The background creation of a stack.
pub(crate) async fn create(engine: Engine, stack_id: String) {
    let result = create_inner(&engine, &stack_id).await;
    let store = engine.store();
    let Ok(Some(stack)) = store.stack(&stack_id).await else {
        return;
    };
    match result {
        Ok(()) => {
            if store
                .finish_stack(
                    &stack_id,
                    "CREATE",
                    "COMPLETE",
                    "Stack CREATE completed successfully",
                )
                .await
                .unwrap_or(false)
            {
                let _ = store
                    .add_event(
                        &stack_id,
                        &stack.name,
                        "OS::Heat::Stack",
                        Some(&stack_id),
                        "CREATE",
                        "COMPLETE",
                        "Stack CREATE completed successfully",
                    )
                    .await;
            }
        }
        Err(reason) => {
            if stack.action == "DELETE" {
                return;
            }
            tracing::warn!(stack = %stack_id, %reason, "stack create failed; rolling back its stack domain users");
            rollback_keystone(&engine, &stack).await;
            if store
                .finish_stack(&stack_id, "CREATE", "FAILED", &reason)
                .await
                .unwrap_or(false)
            {
                let _ = store
                    .add_event(
                        &stack_id,
                        &stack.name,
                        "OS::Heat::Stack",
                        Some(&stack_id),
                        "CREATE",
                        "FAILED",
                        &reason,
                    )
                    .await;
            }
        }
    }
    engine.forget_waiters(&stack_id);
}

async fn create_inner(engine: &Engine, stack_id: &str) -> Result<(), String> {
    let store = engine.store();
    let stack = store
        .stack(stack_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the stack vanished")?;
    let tpl = Arc::new(template::parse(&stack.template).map_err(|e| e.heat_message())?);
    let graph = tpl.dependency_graph().map_err(|e| e.heat_message())?;
    let mut st = state(engine, &stack).await.map_err(|e| e.to_string())?;
    // One project per stack, made before the first resource that needs a user.
    let project = match &stack.stack_user_project_id {
        Some(p) => Some(p.clone()),
        None if needs_stack_project(&tpl) => {
            let p = engine
                .inner
                .domain
                .create_project(&stack.tenant, &stack.id)
                .await
                .map_err(|e| format!("Resource CREATE failed: {}", short_keystone(&e)))?;
            store
                .set_stack_user_project(stack_id, &p)
                .await
                .map_err(|e| e.to_string())?;
            Some(p)
        }
        None => None,
    };
    let stack = Arc::new(StackRow {
        stack_user_project_id: project,
        ..stack
    });
    // Independent resources are created concurrently, as Heat does: each
    // starts when everything it requires is complete.
    let cancelled = Arc::new(AtomicBool::new(false));
    let mut done: HashSet<String> = HashSet::new();
    let mut started: HashSet<String> = HashSet::new();
    let mut running = tokio::task::JoinSet::new();
    let mut failure: Option<String> = None;
    loop {
        if failure.is_none() {
            for name in graph.creation_order() {
                if started.contains(name) || !graph.requires(name).iter().all(|r| done.contains(r))
                {
                    continue;
                }
                started.insert(name.clone());
                let def = &tpl.resources[name];
                let evaluated = tpl
                    .resource_properties(name, &st)
                    .map_err(|e| format!("Resource CREATE failed: {}", e.heat_message()))
                    .and_then(|props| {
                        let metadata = tpl
                            .resource_metadata(name, &st)
                            .map_err(|e| format!("Resource CREATE failed: {}", e.heat_message()))?;
                        Ok((Value::Object(props), metadata))
                    });
                let (props, metadata) = match evaluated {
                    Ok(v) => v,
                    Err(reason) => {
                        failure = Some(reason);
                        break;
                    }
                };
                let handle = def
                    .properties
                    .get("handle")
                    .or_else(|| def.properties.get("Handle"))
                    .and_then(|raw| handle_name(raw, &st));
                let job = Job {
                    engine: engine.clone(),
                    stack: stack.clone(),
                    name: name.clone(),
                    type_name: def.type_name.clone(),
                    props,
                    metadata,
                    handle,
                    cancelled: cancelled.clone(),
                };
                running.spawn(async move {
                    let name = job.name.clone();
                    (name, job.run().await)
                });
            }
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        match joined {
            Ok((name, Ok(stored))) => {
                let data = secrets(engine, &stored).map_err(|e| e.to_string())?;
                let signals = match handle_of(&stored) {
                    Some(h) => store
                        .latest_signals(stack_id, &h)
                        .await
                        .map_err(|e| e.to_string())?,
                    None => Vec::new(),
                };
                st.refs.insert(name.clone(), reference(&stored, &data));
                st.attrs.insert(
                    name.clone(),
                    stored_attributes(engine, &stack, &stored, &data, &signals),
                );
                done.insert(name);
            }
            Ok((_, Err(reason))) => {
                if failure.is_none() {
                    failure = Some(reason);
                }
                stop_waiting(engine, stack_id, &cancelled);
            }
            Err(e) => {
                failure.get_or_insert_with(|| format!("Resource CREATE failed: {e}"));
                stop_waiting(engine, stack_id, &cancelled);
            }
        }
        if failure.is_some() {
            stop_waiting(engine, stack_id, &cancelled);
        }
    }
    match failure {
        Some(reason) => Err(reason),
        None => Ok(()),
    }
}

/// Tells the resources still waiting for signals to give up (another
/// resource failed), and wakes them.
fn stop_waiting(engine: &Engine, stack_id: &str, cancelled: &AtomicBool) {
    cancelled.store(true, Ordering::SeqCst);
    engine.wake_waiters(stack_id);
}

/// Whether any resource of the template needs a stack domain user (so the
/// stack needs its project).
fn needs_stack_project(tpl: &Template) -> bool {
    tpl.resources.values().any(|r| {
        let props = match &r.properties {
            Value::Object(m) => Value::Object(
                m.iter()
                    .filter(|(_, v)| v.is_string())
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            _ => json!({}),
        };
        needs_user(&r.type_name, &props)
    })
}

/// One resource being created.
struct Job {
    engine: Engine,
    stack: Arc<StackRow>,
    name: String,
    type_name: String,
    props: Value,
    metadata: Value,
    handle: Option<String>,
    cancelled: Arc<AtomicBool>,
}

impl Job {
    async fn run(self) -> Result<ResourceRow, String> {
        let engine = &self.engine;
        let store = engine.store();
        let stack = &*self.stack;
        let (stack_id, name, type_name) = (&stack.id, &self.name, &self.type_name);
        let mut row = ResourceRow {
            stack_id: stack_id.clone(),
            name: name.clone(),
            type_name: type_name.clone(),
            action: "CREATE".into(),
            status: "IN_PROGRESS".into(),
            status_reason: "state changed".into(),
            physical_id: None,
            properties: public_properties(type_name, &self.props).to_string(),
            metadata: if self.metadata.is_null() {
                "{}".into()
            } else {
                self.metadata.to_string()
            },
            attributes: "{}".into(),
            user_id: None,
            access_key: None,
            data_enc: None,
            created_at: now(),
            updated_at: None,
        };
        store
            .upsert_resource(&row)
            .await
            .map_err(|e| e.to_string())?;
        let _ = store
            .add_event(
                stack_id,
                name,
                type_name,
                None,
                "CREATE",
                "IN_PROGRESS",
                "state changed",
            )
            .await;
        let mut created = Created::default();
        let outcome = create_one(
            engine,
            stack,
            stack.stack_user_project_id.as_deref(),
            &mut row,
            &self.props,
            self.handle.as_deref(),
            &mut created,
        )
        .await;
        // Save what exists in Keystone before anything else can fail.
        store
            .upsert_resource(&row)
            .await
            .map_err(|e| e.to_string())?;
        if let Err(e) = outcome {
            for access in &created.keypairs {
                let _ = engine.inner.domain.delete_keypair(access).await;
            }
            for user in &created.users {
                let _ = engine.inner.domain.delete_user(user).await;
            }
            let reason = match e {
                Failure::Engine(e) => fail_reason(name, type_name, &e),
                Failure::Resource(r) => format!("Resource CREATE failed: {r}"),
            };
            let short = reason
                .trim_start_matches("Resource CREATE failed: ")
                .to_owned();
            let _ = store
                .set_resource_status(stack_id, name, "CREATE", "FAILED", &short)
                .await;
            let _ = store
                .add_event(
                    stack_id,
                    name,
                    type_name,
                    row.physical_id.as_deref(),
                    "CREATE",
                    "FAILED",
                    &short,
                )
                .await;
            return Err(reason);
        }
        if row.status == "IN_PROGRESS" {
            if let Err(r) = wait_if_needed(engine, stack, &row, &self.cancelled).await {
                let _ = store
                    .set_resource_status(stack_id, name, "CREATE", "FAILED", &r)
                    .await;
                let _ = store
                    .add_event(
                        stack_id,
                        name,
                        type_name,
                        row.physical_id.as_deref(),
                        "CREATE",
                        "FAILED",
                        &r,
                    )
                    .await;
                return Err(format!("Resource CREATE failed: {r}"));
            }
        }
        store
            .set_resource_status(stack_id, name, "CREATE", "COMPLETE", "state changed")
            .await
            .map_err(|e| e.to_string())?;
        let _ = store
            .add_event(
                stack_id,
                name,
                type_name,
                row.physical_id.as_deref(),
                "CREATE",
                "COMPLETE",
                "state changed",
            )
            .await;
        store
            .resource(stack_id, name)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "the resource vanished".to_owned())
    }
}

fn fail_reason(resource: &str, type_name: &str, e: &EngineError) -> String {
    let what = match e {
        EngineError::Keystone(k) => match k.rejected_status() {
            Some(status) => format!("Keystone refused the request ({status})"),
            None => "The identity service is unavailable".to_owned(),
        },
        other => other.to_string(),
    };
    format!("Resource CREATE failed: {type_name} \"{resource}\": {what}")
}

enum Failure {
    Engine(EngineError),
    Resource(String),
}

impl From<EngineError> for Failure {
    fn from(e: EngineError) -> Self {
        Failure::Engine(e)
    }
}

/// Properties stored in clear: everything but values that are secrets.
fn public_properties(type_name: &str, props: &Value) -> Value {
    let mut p = props.clone();
    if type_name == "OS::Nova::Server" {
        if let Some(m) = p.as_object_mut() {
            m.remove("admin_pass");
        }
    }
    p
}

#[allow(clippy::too_many_arguments)]
async fn create_one(
    engine: &Engine,
    stack: &StackRow,
    project: Option<&str>,
    row: &mut ResourceRow,
    props: &Value,
    handle: Option<&str>,
    created: &mut Created,
) -> Result<(), Failure> {
    let domain = &engine.inner.domain;
    let mut data = Map::new();
    let mut attrs = Map::new();
    let project_or =
        || project.ok_or_else(|| Failure::Resource("the stack has no stack domain project".into()));
    match row.type_name.as_str() {
        "OS::Heat::None" | "OS::Heat::AccessPolicy" => {
            row.physical_id = Some(uuid::Uuid::new_v4().to_string());
        }
        "OS::Heat::RandomString" => {
            let length = props.get("length").and_then(Value::as_u64).unwrap_or(32) as usize;
            data.insert("value".into(), Value::String(random_string(length)));
            row.physical_id = Some(physical_name(&stack.name, &row.name));
        }
        "OS::Heat::WaitConditionHandle" => {
            let p = project_or()?;
            let user = domain
                .create_user(&physical_name(&stack.name, &row.name), p)
                .await?;
            created.users.push(user.user_id.clone());
            row.user_id = Some(user.user_id.clone());
            row.physical_id = Some(user.user_id.clone());
            let token = domain.user_token(&user.user_id, &user.password, p).await?;
            data.insert(
                "password".into(),
                Value::String(user.password.expose().into()),
            );
            data.insert("token".into(), Value::String(token.expose().into()));
            let endpoint = format!(
                "{}/{}/stacks/{}/{}/resources/{}/signal",
                engine.config().public_url.as_str().trim_end_matches('/'),
                urlencoding::encode(p),
                urlencoding::encode(&stack.name),
                urlencoding::encode(&stack.id),
                urlencoding::encode(&row.name),
            );
            attrs.insert("endpoint".into(), Value::String(endpoint));
        }
        "AWS::CloudFormation::WaitConditionHandle" => {
            let p = project_or()?;
            let (user, kp) = user_with_keypair(engine, stack, &row.name, p, created).await?;
            row.user_id = Some(user.clone());
            row.physical_id = Some(user);
            row.access_key = Some(kp.access.clone());
            let url = signal_url(
                stack,
                &row.name,
                &kp,
                &engine.config().waitcondition_url(),
                "PUT",
            )?;
            data.insert("secret".into(), Value::String(kp.secret.expose().into()));
            data.insert("url".into(), Value::String(url));
        }
        "OS::Heat::WaitCondition" | "AWS::CloudFormation::WaitCondition" => {
            let handle = handle.ok_or_else(|| {
                Failure::Resource(
                    "the wait condition's handle is not a handle of this stack".into(),
                )
            })?;
            attrs.insert("handle_name".into(), Value::String(handle.to_owned()));
            row.physical_id = Some(physical_name(&stack.name, &row.name));
            row.attributes = Value::Object(attrs).to_string();
            row.data_enc = None;
            // Stays IN_PROGRESS: the caller waits for the signals.
            return Ok(());
        }
        "OS::Nova::Server" => {
            let server_id = uuid::Uuid::new_v4().to_string();
            row.physical_id = Some(server_id);
            let name = props
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| physical_name(&stack.name, &row.name));
            attrs.insert("name".into(), Value::String(name));
            attrs.insert("first_address".into(), Value::String(String::new()));
            attrs.insert("networks".into(), json!({}));
            if needs_user(&row.type_name, props) {
                let p = project_or()?;
                let (user, kp) = user_with_keypair(engine, stack, &row.name, p, created).await?;
                row.user_id = Some(user);
                row.access_key = Some(kp.access.clone());
                data.insert("secret".into(), Value::String(kp.secret.expose().into()));
            }
        }
        "OS::Heat::SoftwareConfig" => {
            let id = uuid::Uuid::new_v4().to_string();
            let config = json!({
                "group": props.get("group").cloned().unwrap_or(json!("Heat::Ungrouped")),
                "config": props.get("config").cloned().unwrap_or(json!("")),
                "inputs": props.get("inputs").cloned().unwrap_or(json!([])),
                "outputs": props.get("outputs").cloned().unwrap_or(json!([])),
                "options": props.get("options").cloned().unwrap_or(json!({})),
            });
            engine
                .store()
                .insert_config(&crate::store::ConfigRow {
                    id: id.clone(),
                    tenant: stack.tenant.clone(),
                    name: physical_name(&stack.name, &row.name),
                    config: config.to_string(),
                    created_at: now(),
                })
                .await
                .map_err(EngineError::from)?;
            attrs.insert("config".into(), config["config"].clone());
            row.physical_id = Some(id);
        }
        "OS::Heat::SoftwareDeployment" => {
            let server = str_of(props.get("server")).unwrap_or_default();
            let config = str_of(props.get("config")).unwrap_or_default();
            let id = uuid::Uuid::new_v4().to_string();
            let mut inputs = props.get("input_values").cloned().unwrap_or(json!({}));
            if needs_user(&row.type_name, props) {
                let p = project_or()?;
                let (user, kp) = user_with_keypair(engine, stack, &row.name, p, created).await?;
                row.user_id = Some(user);
                row.access_key = Some(kp.access.clone());
                let url = signal_url(stack, &row.name, &kp, &engine.config().signal_url(), "POST")?;
                data.insert("secret".into(), Value::String(kp.secret.expose().into()));
                data.insert("url".into(), Value::String(url));
            }
            if let Some(m) = inputs.as_object_mut() {
                m.insert("deploy_server_id".into(), Value::String(server.clone()));
                m.insert("deploy_action".into(), json!("CREATE"));
                m.insert(
                    "deploy_stack_id".into(),
                    json!(format!("{}/{}", stack.name, stack.id)),
                );
                m.insert(
                    "deploy_resource_name".into(),
                    Value::String(row.name.clone()),
                );
                m.insert(
                    "deploy_signal_transport".into(),
                    props
                        .get("signal_transport")
                        .cloned()
                        .unwrap_or(json!("CFN_SIGNAL")),
                );
            }
            engine
                .store()
                .insert_deployment(&DeploymentRow {
                    id: id.clone(),
                    tenant: stack.tenant.clone(),
                    stack_user_project_id: project.map(str::to_owned),
                    server_id: server,
                    config_id: config,
                    action: "CREATE".into(),
                    status: "IN_PROGRESS".into(),
                    status_reason: "Deploy data available".into(),
                    input_values: inputs.to_string(),
                    output_values: "{}".into(),
                    created_at: now(),
                    updated_at: None,
                })
                .await
                .map_err(EngineError::from)?;
            row.physical_id = Some(id);
            row.attributes = Value::Object(attrs).to_string();
            row.data_enc = seal_map(engine, &data)?;
            // Stays IN_PROGRESS until the server signals.
            return Ok(());
        }
        "AWS::IAM::User" => {
            let p = project_or()?;
            let name = physical_name(&stack.name, &row.name);
            let user = domain.create_user(&name, p).await?;
            created.users.push(user.user_id.clone());
            row.user_id = Some(user.user_id.clone());
            row.physical_id = Some(user.user_id);
            attrs.insert("UserName".into(), Value::String(user.name));
            data.insert(
                "password".into(),
                Value::String(user.password.expose().into()),
            );
        }
        "AWS::IAM::AccessKey" => {
            let user_name = str_of(props.get("UserName")).unwrap_or_default();
            let resources = engine
                .store()
                .resources(&stack.id)
                .await
                .map_err(EngineError::from)?;
            let owner = resources
                .iter()
                .find(|r| {
                    r.type_name == "AWS::IAM::User"
                        && str_of(obj(&r.attributes).get("UserName")).as_deref()
                            == Some(user_name.as_str())
                })
                .and_then(|r| r.user_id.clone())
                .ok_or_else(|| Failure::Resource(format!("could not find user {user_name}")))?;
            let p = project_or()?;
            let kp = domain.create_keypair(&owner, p).await?;
            created.keypairs.push(kp.access.clone());
            row.user_id = Some(owner);
            row.access_key = Some(kp.access.clone());
            row.physical_id = Some(kp.access.clone());
            attrs.insert("UserName".into(), Value::String(user_name));
            data.insert("secret".into(), Value::String(kp.secret.expose().into()));
        }
        other => {
            return Err(Failure::Resource(format!(
                "The Resource Type ({other}) could not be found."
            )))
        }
    }
    row.attributes = Value::Object(attrs).to_string();
    row.data_enc = seal_map(engine, &data)?;
    Ok(())
}

/// The never-expiring pre-signed URL (ARN form) through which a resource is
/// signalled with its stack user's keypair, as Heat's signal responders hand out.
fn signal_url(
    stack: &StackRow,
    resource: &str,
    kp: &crate::stack_users::Keypair,
    base: &str,
    method: &str,
) -> Result<String, Failure> {
    let arn = resource_arn(&stack.tenant, &stack.name, &stack.id, resource);
    presigned_url(&Presign {
        base,
        method,
        arn: &arn,
        access: &kp.access,
        secret: kp.secret.expose().as_bytes(),
        timestamp: None,
    })
    .map_err(|e| Failure::Resource(e.to_string()))
}

async fn user_with_keypair(
    engine: &Engine,
    stack: &StackRow,
    resource: &str,
    project: &str,
    created: &mut Created,
) -> Result<(String, crate::stack_users::Keypair), EngineError> {
    let domain = &engine.inner.domain;
    let user = domain
        .create_user(&physical_name(&stack.name, resource), project)
        .await?;
    created.users.push(user.user_id.clone());
    let kp = domain.create_keypair(&user.user_id, project).await?;
    created.keypairs.push(kp.access.clone());
    Ok((user.user_id, kp))
}

fn random_string(length: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = vec![0u8; length.clamp(1, 512)];
    getrandom::getrandom(&mut bytes).expect("the OS gives randomness");
    bytes
        .iter()
        .map(|b| CHARS[(*b as usize) % CHARS.len()] as char)
        .collect()
}

/// Waits for a wait condition's signals or a deployment's signal.
async fn wait_if_needed(
    engine: &Engine,
    stack: &StackRow,
    row: &ResourceRow,
    cancelled: &AtomicBool,
) -> Result<(), String> {
    let props = obj(&row.properties);
    let store = engine.store();
    let (watched, count, timeout) = match row.type_name.as_str() {
        "OS::Heat::WaitCondition" | "AWS::CloudFormation::WaitCondition" => {
            let aws = row.type_name.starts_with("AWS");
            let count = props
                .get(if aws { "Count" } else { "count" })
                .and_then(as_u64)
                .unwrap_or(1);
            let timeout = props
                .get(if aws { "Timeout" } else { "timeout" })
                .and_then(as_u64)
                .unwrap_or(3600);
            let handle = handle_of(row).ok_or("the wait condition has no handle")?;
            (handle, count, timeout)
        }
        "OS::Heat::SoftwareDeployment" => {
            let mins = stack.timeout_mins.unwrap_or(60).max(1) as u64;
            (row.name.clone(), 1, mins.saturating_mul(60))
        }
        _ => return Ok(()),
    };
    // A template's timeout can be any number: one past what the clock can
    // hold waits for thirty years (never), rather than overflowing.
    let now = tokio::time::Instant::now();
    let deadline = now
        .checked_add(Duration::from_secs(timeout))
        .unwrap_or(now + Duration::from_secs(30 * 365 * 86_400));
    let notify = engine.waiter(&stack.id, &watched);
    loop {
        let notified = notify.notified();
        if cancelled.load(Ordering::SeqCst) {
            return Err("Stack create was cancelled".into());
        }
        match store.stack(&stack.id).await {
            Ok(Some(s)) if s.action == "CREATE" => {}
            _ => return Err("Stack create was cancelled".into()),
        }
        let signals = store
            .latest_signals(&stack.id, &watched)
            .await
            .map_err(|e| e.to_string())?;
        if row.type_name == "OS::Heat::SoftwareDeployment" {
            if let Some(s) = signals.iter().max_by_key(|s| s.seq) {
                let outputs = s.data.clone().unwrap_or_else(|| "{}".into());
                let failed = s.status == "FAILURE";
                let _ = store
                    .update_deployment(
                        row.physical_id.as_deref().unwrap_or_default(),
                        if failed { "FAILED" } else { "COMPLETE" },
                        &s.reason,
                        &outputs,
                    )
                    .await;
                if failed {
                    return Err(format!("Error: resources.{}: {}", row.name, s.reason));
                }
                return Ok(());
            }
        } else {
            let failures: Vec<&str> = signals
                .iter()
                .filter(|s| s.status == "FAILURE")
                .map(|s| s.reason.as_str())
                .collect();
            if !failures.is_empty() {
                return Err(format!(
                    "WaitConditionFailure: resources.{}: {}",
                    row.name,
                    failures.join(";")
                ));
            }
            let ok = signals.iter().filter(|s| s.status == "SUCCESS").count() as u64;
            if ok >= count {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "WaitConditionTimeout: resources.{}: {ok} of {count} received",
                    row.name
                ));
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("Timed out waiting for resources.{}", row.name));
        }
        let _ = tokio::time::timeout_at(
            deadline.min(tokio::time::Instant::now() + Duration::from_secs(2)),
            notified,
        )
        .await;
    }
}

pub(super) fn as_u64(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_f64().map(|f| f as u64))
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}
