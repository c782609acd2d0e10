//! What happens to a stack after the API answered: resources created in
//! dependency order (stack domain users and keypairs in Keystone, wait
//! conditions waiting for their signals), rollback of the Keystone side on
//! failure, delete, and CHECK (deferred work with a trust-scoped token).
//!
//! Also the per-type views: references, attributes, metadata, and which stack
//! user may read which resource.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use heatgate_keystone::Secret;
use serde_json::{json, Map, Value};

use crate::engine::{obj, Engine};
use crate::error::EngineError;
use crate::presign::{presigned_url, resource_arn, Presign};
use crate::store::{now, DeploymentRow, ResourceRow, StackRow};
use crate::template::{self, Resolver, Template};

/// Types whose creation makes a stack domain user.
const USER_TYPES: &[&str] = &[
    "OS::Heat::WaitConditionHandle",
    "AWS::CloudFormation::WaitConditionHandle",
    "AWS::IAM::User",
];

/// Whether a resource of this template needs a stack domain user.
fn needs_user(type_name: &str, props: &Value) -> bool {
    if USER_TYPES.contains(&type_name) {
        return true;
    }
    match type_name {
        "OS::Nova::Server" => matches!(
            props
                .get("software_config_transport")
                .and_then(Value::as_str)
                .unwrap_or("POLL_SERVER_CFN"),
            "POLL_SERVER_CFN" | "POLL_SERVER_HEAT"
        ),
        "OS::Heat::SoftwareDeployment" => matches!(
            props
                .get("signal_transport")
                .and_then(Value::as_str)
                .unwrap_or("CFN_SIGNAL"),
            "CFN_SIGNAL" | "HEAT_SIGNAL" | "TOKEN_SIGNAL"
        ),
        _ => false,
    }
}

/// Heat's `requires_deferred_auth`: resources that act later on the owner's
/// behalf (signals, wait conditions, deployments).
pub(crate) fn requires_deferred_auth(tpl: &Template) -> bool {
    tpl.resources
        .values()
        .any(|r| needs_user(&r.type_name, &r.properties) || r.type_name.ends_with("WaitCondition"))
}

/// Heat's physical resource name: `<stack>-<resource>-<12 random>`, at most 64.
fn physical_name(stack: &str, resource: &str) -> String {
    let short = crate::stack_users::random_hex(6);
    let keep = 64usize.saturating_sub(short.len() + 1);
    let mut base = format!("{stack}-{resource}");
    if base.chars().count() > keep {
        base = base.chars().take(keep).collect();
    }
    format!("{base}-{short}")
}

// ---- the evaluation state ---------------------------------------------------

/// Parameters, references and attributes of the resources created so far.
pub(crate) struct State {
    params: Map<String, Value>,
    refs: HashMap<String, Value>,
    attrs: HashMap<String, Map<String, Value>>,
}

impl Resolver for State {
    fn param(&self, name: &str) -> Option<Value> {
        self.params.get(name).cloned()
    }
    fn resource_ref(&self, name: &str) -> Option<Value> {
        self.refs.get(name).cloned()
    }
    fn attribute(&self, resource: &str, attribute: &str) -> Option<Value> {
        self.attrs.get(resource)?.get(attribute).cloned()
    }
}

fn secrets(engine: &Engine, res: &ResourceRow) -> Result<Map<String, Value>, EngineError> {
    match &res.data_enc {
        None => Ok(Map::new()),
        Some(sealed) => {
            let clear = engine.open(sealed)?;
            Ok(serde_json::from_str(clear.expose()).unwrap_or_default())
        }
    }
}

fn seal_map(engine: &Engine, data: &Map<String, Value>) -> Result<Option<String>, EngineError> {
    if data.is_empty() {
        return Ok(None);
    }
    Ok(Some(engine.seal(&Value::Object(data.clone()).to_string())?))
}

fn str_of(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_owned)
}

/// The Ref value of a resource.
fn reference(res: &ResourceRow, data: &Map<String, Value>) -> Value {
    let props = obj(&res.properties);
    match res.type_name.as_str() {
        "OS::Heat::RandomString" => data.get("value").cloned().unwrap_or(Value::Null),
        "AWS::CloudFormation::WaitConditionHandle" => {
            data.get("url").cloned().unwrap_or(Value::Null)
        }
        "AWS::IAM::User" => obj(&res.attributes)
            .get("UserName")
            .cloned()
            .unwrap_or(Value::Null),
        "AWS::IAM::AccessKey" => res
            .access_key
            .clone()
            .map(Value::String)
            .unwrap_or(Value::Null),
        "OS::Heat::AccessPolicy" => Value::String(res.name.clone()),
        _ => {
            let _ = props;
            res.physical_id
                .clone()
                .map(Value::String)
                .unwrap_or(Value::Null)
        }
    }
}

/// Attributes computable from the stored row and its sealed data.
fn stored_attributes(
    engine: &Engine,
    stack: &StackRow,
    res: &ResourceRow,
    data: &Map<String, Value>,
    signals: &[crate::store::SignalRow],
) -> Map<String, Value> {
    let mut a = match obj(&res.attributes) {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    match res.type_name.as_str() {
        "OS::Heat::RandomString" => {
            if let Some(v) = data.get("value") {
                a.insert("value".into(), v.clone());
            }
        }
        "OS::Heat::WaitConditionHandle" => {
            if let Some(t) = data.get("token") {
                a.insert("token".into(), t.clone());
                let endpoint = str_of(a.get("endpoint")).unwrap_or_default();
                a.insert(
                    "curl_cli".into(),
                    Value::String(format!(
                        "curl -i -X POST -H 'X-Auth-Token: {}' -H 'Content-Type: application/json' -H 'Accept: application/json' {endpoint}",
                        t.as_str().unwrap_or_default()
                    )),
                );
                a.insert("signal".into(), json!({"url": endpoint, "token": t}));
            }
        }
        "AWS::IAM::AccessKey" => {
            if let Some(s) = data.get("secret") {
                a.insert("SecretAccessKey".into(), s.clone());
            }
        }
        "OS::Heat::WaitCondition" | "AWS::CloudFormation::WaitCondition" => {
            let mut d = Map::new();
            for s in signals {
                let v = s
                    .data
                    .as_deref()
                    .and_then(|d| serde_json::from_str(d).ok())
                    .unwrap_or(Value::Null);
                d.insert(s.signal_id.clone(), v);
            }
            let text = Value::Object(d).to_string();
            let key = if res.type_name.starts_with("AWS") {
                "Data"
            } else {
                "data"
            };
            a.insert(key.into(), Value::String(text));
        }
        _ => {}
    }
    let _ = (engine, stack);
    a
}

/// The evaluation state of a stack as stored.
pub(crate) async fn state(engine: &Engine, stack: &StackRow) -> Result<State, EngineError> {
    let params = match obj(&stack.parameters) {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let mut st = State {
        params,
        refs: HashMap::new(),
        attrs: HashMap::new(),
    };
    let resources = engine.store().resources(&stack.id).await?;
    for res in &resources {
        let data = secrets(engine, res)?;
        let signals = match handle_of(res) {
            Some(h) => engine.store().signals(&stack.id, &h).await?,
            None => Vec::new(),
        };
        st.refs.insert(res.name.clone(), reference(res, &data));
        st.attrs.insert(
            res.name.clone(),
            stored_attributes(engine, stack, res, &data, &signals),
        );
    }
    Ok(st)
}

/// The handle a wait condition waits on (stored as its `handle_name` attribute).
fn handle_of(res: &ResourceRow) -> Option<String> {
    if !res.type_name.ends_with("WaitCondition") {
        return None;
    }
    str_of(obj(&res.attributes).get("handle_name"))
}

/// The resource named by a raw `handle` / `Handle` property: `{get_resource: X}`,
/// `{Ref: X}`, or a value equal to some handle's reference.
fn handle_name(raw: &Value, st: &State) -> Option<String> {
    if let Some(m) = raw.as_object() {
        for key in ["get_resource", "Ref"] {
            if let Some(n) = m.get(key).and_then(Value::as_str) {
                return Some(n.to_owned());
            }
        }
    }
    st.refs
        .iter()
        .find(|(_, v)| *v == raw && !v.is_null())
        .map(|(k, _)| k.clone())
}

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
                        .signals(stack_id, &h)
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
    let waiters: Vec<_> = {
        let map = engine.inner_waiters();
        map.iter()
            .filter(|((s, _), _)| s == stack_id)
            .map(|(_, n)| n.clone())
            .collect()
    };
    for w in waiters {
        w.notify_waiters();
    }
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
            let arn = resource_arn(&stack.tenant, &stack.name, &stack.id, &row.name);
            let url = presigned_url(&Presign {
                base: &engine.config().waitcondition_url(),
                method: "PUT",
                arn: &arn,
                access: &kp.access,
                secret: kp.secret.expose().as_bytes(),
                timestamp: None,
            })
            .map_err(|e| Failure::Resource(e.to_string()))?;
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
                let arn = resource_arn(&stack.tenant, &stack.name, &stack.id, &row.name);
                let url = presigned_url(&Presign {
                    base: &engine.config().signal_url(),
                    method: "POST",
                    arn: &arn,
                    access: &kp.access,
                    secret: kp.secret.expose().as_bytes(),
                    timestamp: None,
                })
                .map_err(|e| Failure::Resource(e.to_string()))?;
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
            (row.name.clone(), 1, mins * 60)
        }
        _ => return Ok(()),
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
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
            .signals(&stack.id, &watched)
            .await
            .map_err(|e| e.to_string())?;
        if row.type_name == "OS::Heat::SoftwareDeployment" {
            if let Some(s) = signals.last() {
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

fn as_u64(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_f64().map(|f| f as u64))
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

// ---- delete and rollback --------------------------------------------------------

/// Deletes what a stack created in Keystone: keypairs, users, the project.
/// Returns the first failure (after trying everything).
async fn delete_keystone(engine: &Engine, stack: &StackRow) -> Result<(), EngineError> {
    let domain = &engine.inner.domain;
    let store = engine.store();
    let mut first: Option<EngineError> = None;
    let mut resources = store.resources(&stack.id).await?;
    resources.reverse();
    for r in &resources {
        if let Some(access) = &r.access_key {
            if let Err(e) = domain.delete_keypair(access).await {
                first.get_or_insert(e);
            }
        }
    }
    for r in &resources {
        if r.type_name == "AWS::IAM::AccessKey" {
            continue;
        }
        if let Some(user) = &r.user_id {
            if let Err(e) = domain.delete_user(user).await {
                first.get_or_insert(e);
            }
        }
    }
    if first.is_none() {
        if let Some(p) = &stack.stack_user_project_id {
            if let Err(e) = domain.delete_project(p).await {
                first.get_or_insert(e);
            }
        }
    }
    match first {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

async fn rollback_keystone(engine: &Engine, stack: &StackRow) {
    let Ok(Some(stack)) = engine.store().stack(&stack.id).await else {
        return;
    };
    if let Err(e) = delete_keystone(engine, &stack).await {
        tracing::error!(stack = %stack.id, error = %e, "rollback of the stack domain users failed");
        return;
    }
    let _ =
        sqlx::query("UPDATE resources SET user_id = NULL, access_key = NULL WHERE stack_id = ?")
            .bind(&stack.id)
            .execute(engine.store().pool())
            .await;
    let _ = sqlx::query("UPDATE stacks SET stack_user_project_id = NULL WHERE id = ?")
        .bind(&stack.id)
        .execute(engine.store().pool())
        .await;
}

/// The background deletion of a stack.
pub(crate) async fn delete(engine: Engine, stack_id: String) {
    let store = engine.store();
    let Ok(Some(stack)) = store.stack(&stack_id).await else {
        return;
    };
    // Let a create task that is waiting see the DELETE and stop.
    tokio::time::sleep(Duration::from_millis(50)).await;
    if let Err(e) = delete_keystone(&engine, &stack).await {
        let reason = format!("Resource DELETE failed: {}", short_keystone(&e));
        tracing::error!(stack = %stack_id, error = %e, "stack delete failed");
        let _ = store
            .finish_stack(&stack_id, "DELETE", "FAILED", &reason)
            .await;
        let _ = store
            .add_event(
                &stack_id,
                &stack.name,
                "OS::Heat::Stack",
                Some(&stack_id),
                "DELETE",
                "FAILED",
                &reason,
            )
            .await;
        return;
    }
    for r in store.resources(&stack_id).await.unwrap_or_default() {
        match r.type_name.as_str() {
            "OS::Heat::SoftwareConfig" => {
                if let Some(id) = &r.physical_id {
                    let _ = store.delete_config(id).await;
                }
            }
            "OS::Nova::Server" => {
                if let Some(id) = &r.physical_id {
                    let _ = store.delete_deployments_of_server(id).await;
                }
            }
            _ => {}
        }
        let _ = store
            .set_resource_status(&stack_id, &r.name, "DELETE", "COMPLETE", "state changed")
            .await;
        let _ = store
            .add_event(
                &stack_id,
                &r.name,
                &r.type_name,
                r.physical_id.as_deref(),
                "DELETE",
                "COMPLETE",
                "state changed",
            )
            .await;
    }
    let _ = sqlx::query("DELETE FROM software_deployments WHERE tenant = ? AND id IN (SELECT physical_id FROM resources WHERE stack_id = ?)")
        .bind(&stack.tenant)
        .bind(&stack_id)
        .execute(store.pool())
        .await;
    if let Some(sealed) = &stack.trust_id_enc {
        engine.delete_trust(sealed).await;
    }
    let _ = store
        .add_event(
            &stack_id,
            &stack.name,
            "OS::Heat::Stack",
            Some(&stack_id),
            "DELETE",
            "COMPLETE",
            "Stack DELETE completed successfully",
        )
        .await;
    if let Err(e) = store.mark_stack_deleted(&stack_id).await {
        tracing::error!(stack = %stack_id, error = %e, "could not mark the stack deleted");
    }
    engine.forget_waiters(&stack_id);
}

fn short_keystone(e: &EngineError) -> String {
    match e {
        EngineError::Keystone(k) if k.is_unavailable() => {
            "The identity service is unavailable".into()
        }
        EngineError::Keystone(k) => match k.rejected_status() {
            Some(s) => format!("Keystone refused the request ({s})"),
            None => "Keystone failed".into(),
        },
        other => other.to_string(),
    }
}

// ---- check (deferred work) --------------------------------------------------------

/// CHECK, run later by the engine: a token from deferred auth (trust-scoped
/// for the heat service user, or the owner's password), used against Keystone
/// to confirm the owner's project is still reachable with it, then every stack
/// domain user is confirmed to exist.
pub(crate) async fn check(engine: Engine, stack_id: String) {
    let store = engine.store();
    let Ok(Some(stack)) = store.stack(&stack_id).await else {
        return;
    };
    let outcome = check_inner(&engine, &stack).await;
    let (status, reason) = match outcome {
        Ok(()) => ("COMPLETE", "Stack CHECK completed successfully".to_owned()),
        Err(r) => ("FAILED", r),
    };
    if store
        .finish_stack(&stack_id, "CHECK", status, &reason)
        .await
        .unwrap_or(false)
    {
        let _ = store
            .add_event(
                &stack_id,
                &stack.name,
                "OS::Heat::Stack",
                Some(&stack_id),
                "CHECK",
                status,
                &reason,
            )
            .await;
    }
}

async fn check_inner(engine: &Engine, stack: &StackRow) -> Result<(), String> {
    let token = engine.deferred_token(stack).await.map_err(|e| {
        format!(
            "Stack CHECK failed: deferred authentication: {}",
            short_keystone(&e)
        )
    })?;
    let answer = engine
        .inner
        .service
        .user_call(
            &token,
            http::Method::GET,
            &format!("projects/{}", urlencoding::encode(&stack.tenant)),
            "",
            None,
            "project lookup",
        )
        .await
        .map_err(|e| {
            format!(
                "Stack CHECK failed: {}",
                short_keystone(&EngineError::from(e))
            )
        })?;
    if !answer.status.is_success() {
        return Err(format!(
            "Stack CHECK failed: the deferred token cannot read project {} ({})",
            stack.tenant, answer.status
        ));
    }
    for r in engine
        .store()
        .resources(&stack.id)
        .await
        .map_err(|e| e.to_string())?
    {
        let mut status = "COMPLETE";
        let mut reason = "state changed".to_owned();
        if let Some(user) = &r.user_id {
            match engine.inner.domain.user_exists(user).await {
                Ok(true) => {}
                Ok(false) => {
                    status = "FAILED";
                    reason = format!("the stack user of {} no longer exists", r.name);
                }
                Err(e) => {
                    status = "FAILED";
                    reason = short_keystone(&e);
                }
            }
        }
        let _ = engine
            .store()
            .add_event(
                &stack.id,
                &r.name,
                &r.type_name,
                r.physical_id.as_deref(),
                "CHECK",
                status,
                &reason,
            )
            .await;
        if status == "FAILED" {
            return Err(format!("Resource CHECK failed: {reason}"));
        }
    }
    Ok(())
}

// ---- signals ----------------------------------------------------------------------

/// Parses a signal body for a resource type: `(id, status, reason, data)`.
#[allow(clippy::type_complexity)]
pub(crate) fn parse_signal(
    type_name: &str,
    body: Option<Value>,
    cfn_waitcondition: bool,
) -> Result<(Option<String>, String, Option<String>, Option<Value>), EngineError> {
    let invalid = || EngineError::bad("ValueError", "Metadata format invalid");
    let body = body.unwrap_or(Value::Null);
    match type_name {
        "AWS::CloudFormation::WaitConditionHandle" => {
            let m = body.as_object().ok_or_else(invalid)?;
            let mut keys: Vec<&str> = m.keys().map(String::as_str).collect();
            keys.sort_unstable();
            if keys != ["Data", "Reason", "Status", "UniqueId"] {
                return Err(invalid());
            }
            let status = str_of(m.get("Status")).ok_or_else(invalid)?;
            if status != "SUCCESS" && status != "FAILURE" {
                return Err(invalid());
            }
            let id = m.get("UniqueId").map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            Ok((id, status, str_of(m.get("Reason")), m.get("Data").cloned()))
        }
        "OS::Heat::WaitConditionHandle" => {
            let m = match &body {
                Value::Object(m) => m.clone(),
                Value::Null => Map::new(),
                _ => return Err(invalid()),
            };
            let status = str_of(m.get("status")).unwrap_or_else(|| "SUCCESS".into());
            if status != "SUCCESS" && status != "FAILURE" {
                return Err(invalid());
            }
            let id = m.get("id").filter(|v| !v.is_null()).map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            Ok((id, status, str_of(m.get("reason")), m.get("data").cloned()))
        }
        "OS::Heat::SoftwareDeployment" => {
            let code = body.get("deploy_status_code").and_then(as_u64).unwrap_or(0);
            let status = if code == 0 { "SUCCESS" } else { "FAILURE" };
            let reason = if code == 0 {
                "Outputs received".to_owned()
            } else {
                format!("Deployment exited with non-zero status code: {code}")
            };
            Ok((None, status.into(), Some(reason), Some(body)))
        }
        _ if cfn_waitcondition => Err(invalid()),
        _ => Ok((None, "SUCCESS".into(), None, Some(body))),
    }
}

// ---- views ------------------------------------------------------------------------

/// Which resources a credential (user id or EC2 access key) may read, per
/// Heat's `access_allowed`: a server's own stack user reads that server; an
/// IAM user (or its access key) reads its AccessPolicy's AllowedResources.
pub(crate) fn access_allowed(
    resources: &[ResourceRow],
    credential: &str,
    resource_name: &str,
) -> bool {
    let allowed_of_user = |user: &ResourceRow| -> bool {
        let policies = obj(&user.properties)
            .get("Policies")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        policies.iter().filter_map(Value::as_str).any(|policy| {
            resources
                .iter()
                .find(|r| r.name == policy && r.type_name == "OS::Heat::AccessPolicy")
                .map(|p| {
                    obj(&p.properties)
                        .get("AllowedResources")
                        .and_then(Value::as_array)
                        .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(resource_name)))
                })
                .unwrap_or(false)
        })
    };
    resources.iter().any(|r| match r.type_name.as_str() {
        "OS::Nova::Server" => {
            (r.user_id.as_deref() == Some(credential)
                || r.access_key.as_deref() == Some(credential))
                && r.name == resource_name
        }
        "AWS::IAM::User" => r.user_id.as_deref() == Some(credential) && allowed_of_user(r),
        "AWS::IAM::AccessKey" => {
            r.access_key.as_deref() == Some(credential)
                && resources
                    .iter()
                    .find(|u| u.type_name == "AWS::IAM::User" && u.user_id == r.user_id)
                    .is_some_and(allowed_of_user)
        }
        _ => false,
    })
}

/// The metadata clients read: the template's Metadata, the signals of a
/// handle, a server's deployments and polling credentials.
pub(crate) async fn metadata(
    engine: &Engine,
    stack: &StackRow,
    res: &ResourceRow,
) -> Result<Value, EngineError> {
    let mut md = obj(&res.metadata);
    match res.type_name.as_str() {
        "OS::Heat::WaitConditionHandle" | "AWS::CloudFormation::WaitConditionHandle" => {
            let aws = res.type_name.starts_with("AWS");
            let mut m = Map::new();
            for s in engine.store().signals(&stack.id, &res.name).await? {
                let data: Value = s
                    .data
                    .as_deref()
                    .and_then(|d| serde_json::from_str(d).ok())
                    .unwrap_or(Value::Null);
                let v = if aws {
                    json!({"Status": s.status, "Reason": s.reason, "Data": data, "UniqueId": s.signal_id})
                } else {
                    json!({"status": s.status, "reason": s.reason, "data": data})
                };
                m.insert(s.signal_id.clone(), v);
            }
            md = Value::Object(m);
        }
        "OS::Nova::Server" => {
            let mut m = match md {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            if let (Some(access), Some(server)) = (&res.access_key, &res.physical_id) {
                let data = secrets(engine, res)?;
                m.insert(
                    "os-collect-config".into(),
                    json!({"cfn": {
                        "metadata_url": format!("{}/", engine.config().cfn_public_url.as_str().trim_end_matches('/')),
                        "access_key_id": access,
                        "secret_access_key": data.get("secret").cloned().unwrap_or(Value::Null),
                        "stack_name": stack.name,
                        "path": format!("{}.Metadata", res.name),
                    }}),
                );
                let mut deployments = Vec::new();
                for d in engine.store().deployments_for(None, Some(server)).await? {
                    deployments.push(deployment_view(engine, &d).await?);
                }
                m.insert("deployments".into(), Value::Array(deployments));
            }
            md = Value::Object(m);
        }
        _ => {}
    }
    Ok(md)
}

/// A deployment as server metadata lists it (Heat's format).
pub(crate) async fn deployment_view(
    engine: &Engine,
    d: &DeploymentRow,
) -> Result<Value, EngineError> {
    let config = match engine.store().config(&d.config_id).await? {
        Some(c) => obj(&c.config),
        None => json!({}),
    };
    let mut inputs: Vec<Value> = Vec::new();
    if let Value::Object(m) = obj(&d.input_values) {
        for (k, v) in m {
            inputs.push(json!({"name": k, "value": v, "type": "String"}));
        }
    }
    // The deployment's signal URL, if it has one.
    let found: Option<(String, String)> = sqlx::query_as(
        "SELECT stack_id, name FROM resources WHERE physical_id = ? AND type_name = 'OS::Heat::SoftwareDeployment'",
    )
    .bind(&d.id)
    .fetch_optional(engine.store().pool())
    .await
    .map_err(crate::store::StoreError::from)?;
    if let Some((stack_id, name)) = found {
        if let Some(r) = engine.store().resource(&stack_id, &name).await? {
            if let Some(url) = secrets(engine, &r)?.get("url") {
                inputs.push(json!({"name": "deploy_signal_id", "value": url, "type": "String"}));
                inputs
                    .push(json!({"name": "deploy_signal_verb", "value": "POST", "type": "String"}));
            }
        }
    }
    Ok(json!({
        "id": d.id,
        "name": d.id,
        "group": config.get("group").cloned().unwrap_or(json!("Heat::Ungrouped")),
        "config": config.get("config").cloned().unwrap_or(json!("")),
        "inputs": inputs,
        "outputs": config.get("outputs").cloned().unwrap_or(json!([])),
        "options": config.get("options").cloned().unwrap_or(json!({})),
        "creation_time": d.created_at,
        "updated_time": d.updated_at,
    }))
}

/// A resource's attributes for resource show (a TOKEN_SIGNAL handle's token is
/// issued afresh, as Heat issues it when the attribute is read).
pub(crate) async fn attributes(
    engine: &Engine,
    stack: &StackRow,
    res: &ResourceRow,
) -> Result<Value, EngineError> {
    let mut data = secrets(engine, res)?;
    if res.type_name == "OS::Heat::WaitConditionHandle" {
        if let (Some(user), Some(pw), Some(project)) = (
            &res.user_id,
            data.get("password").and_then(Value::as_str),
            &stack.stack_user_project_id,
        ) {
            let token = engine
                .inner
                .domain
                .user_token(user, &Secret::new(pw), project)
                .await?;
            data.insert("token".into(), Value::String(token.expose().into()));
        }
    }
    let signals = match handle_of(res) {
        Some(h) => engine.store().signals(&stack.id, &h).await?,
        None => Vec::new(),
    };
    let mut a = stored_attributes(engine, stack, res, &data, &signals);
    a.remove("handle_name");
    if res.type_name == "OS::Heat::SoftwareDeployment" {
        if let Some(d) = engine
            .store()
            .deployment(res.physical_id.as_deref().unwrap_or_default())
            .await?
        {
            let out = obj(&d.output_values);
            for k in ["deploy_stdout", "deploy_stderr", "deploy_status_code"] {
                a.insert(k.into(), out.get(k).cloned().unwrap_or(Value::Null));
            }
        }
    }
    Ok(Value::Object(a))
}

/// The stack's outputs, evaluated against what exists now.
pub(crate) async fn outputs(engine: &Engine, stack: &StackRow) -> Result<Vec<Value>, EngineError> {
    let Ok(tpl) = template::parse(&stack.template) else {
        return Ok(Vec::new());
    };
    let st = state(engine, stack).await?;
    let mut out = Vec::new();
    for (key, def) in &tpl.outputs {
        let mut o = json!({
            "output_key": key,
            "description": def.description.clone().unwrap_or_else(|| "No description given".into()),
        });
        match tpl.output_value(key, &st) {
            Ok(v) => o["output_value"] = v,
            Err(e) => {
                o["output_value"] = Value::Null;
                o["output_error"] = Value::String(e.heat_message());
            }
        }
        out.push(o);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, type_name: &str, props: Value) -> ResourceRow {
        ResourceRow {
            stack_id: "s".into(),
            name: name.into(),
            type_name: type_name.into(),
            action: "CREATE".into(),
            status: "COMPLETE".into(),
            status_reason: String::new(),
            physical_id: None,
            properties: props.to_string(),
            metadata: "{}".into(),
            attributes: "{}".into(),
            user_id: None,
            access_key: None,
            data_enc: None,
            created_at: now(),
            updated_at: None,
        }
    }

    #[test]
    fn stack_users_read_only_what_they_are_bound_to() {
        let mut server = row("web", "OS::Nova::Server", json!({}));
        server.user_id = Some("u-server".into());
        server.access_key = Some("ak-server".into());
        let mut user = row("app", "AWS::IAM::User", json!({"Policies": ["pol"]}));
        user.user_id = Some("u-iam".into());
        let mut key = row("key", "AWS::IAM::AccessKey", json!({"UserName": "x"}));
        key.user_id = Some("u-iam".into());
        key.access_key = Some("ak-iam".into());
        let pol = row(
            "pol",
            "OS::Heat::AccessPolicy",
            json!({"AllowedResources": ["db"]}),
        );
        let mut handle = row("h", "OS::Heat::WaitConditionHandle", json!({}));
        handle.user_id = Some("u-handle".into());
        let all = vec![server, user, key, pol, handle];
        assert!(access_allowed(&all, "u-server", "web"));
        assert!(access_allowed(&all, "ak-server", "web"));
        assert!(!access_allowed(&all, "u-server", "db"));
        assert!(access_allowed(&all, "u-iam", "db"));
        assert!(access_allowed(&all, "ak-iam", "db"));
        assert!(!access_allowed(&all, "ak-iam", "web"));
        assert!(!access_allowed(&all, "u-handle", "h"));
        assert!(!access_allowed(&all, "u-handle", "web"));
    }

    #[test]
    fn signal_bodies_get_heats_defaults_and_checks() {
        let (id, status, reason, data) =
            parse_signal("OS::Heat::WaitConditionHandle", None, false).unwrap();
        assert_eq!(
            (id, status.as_str(), reason, data),
            (None, "SUCCESS", None, None)
        );
        let (id, status, ..) = parse_signal(
            "OS::Heat::WaitConditionHandle",
            Some(json!({"status": "FAILURE", "id": 7})),
            false,
        )
        .unwrap();
        assert_eq!((id.as_deref(), status.as_str()), (Some("7"), "FAILURE"));
        assert!(parse_signal(
            "OS::Heat::WaitConditionHandle",
            Some(json!({"status": "MAYBE"})),
            false
        )
        .is_err());
        let cfn = json!({"Status": "SUCCESS", "Reason": "r", "UniqueId": "i1", "Data": "d"});
        let (id, status, reason, data) =
            parse_signal("AWS::CloudFormation::WaitConditionHandle", Some(cfn), true).unwrap();
        assert_eq!(
            (id.as_deref(), status.as_str(), reason.as_deref(), data),
            (Some("i1"), "SUCCESS", Some("r"), Some(json!("d")))
        );
        assert!(parse_signal(
            "AWS::CloudFormation::WaitConditionHandle",
            Some(json!({"Status": "SUCCESS"})),
            true
        )
        .is_err());
        assert!(parse_signal("OS::Heat::None", None, true).is_err());
    }

    #[test]
    fn physical_names_fit_keystone() {
        let n = physical_name(&"s".repeat(80), "r");
        assert_eq!(n.chars().count(), 64);
        assert!(physical_name("web", "h").starts_with("web-h-"));
    }
}
