//! Heat's native REST API (`/v1/{tenant_id}/...`): each route checks its
//! policy rule against the URL tenant first (Heat's order), then the stack
//! lookup resolves `{stack_name}/{stack_id}` through the owner project or the
//! stack domain project, then the handler answers with Heat's shapes.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::handler::Handler;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use heatgate_middleware::context::Identity;
use heatgate_middleware::policy::{credentials, EnforcerSource, PolicyLayer};
use heatgate_middleware::stack_lookup::{ResolvedStack, StackLookupLayer};
use heatgate_policy::Target;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde_json::{json, Map, Value};

use super::{origin, ApiState};
use crate::engine::{obj, CreateRequest, Engine};
use crate::error::EngineError;
use crate::store::{EventRow, ResourceRow, StackRow};

/// Heat's `max_json_body_size`.
pub const MAX_JSON_BODY_SIZE: usize = 1_048_576;

/// The REST router (no authentication: put auth_token in front).
pub fn router(engine: Engine, policy: Arc<dyn EnforcerSource>) -> Router {
    let state = ApiState {
        engine: engine.clone(),
        policy: policy.clone(),
    };
    let rule = |r: &str| PolicyLayer::rest(policy.clone(), r);
    let lookup = StackLookupLayer::new(Arc::new(engine.clone()) as _).with_admin_check({
        let policy = policy.clone();
        move |identity: &Identity| {
            let enforcer = policy.current();
            enforcer.is_admin(&credentials(identity, &enforcer))
        }
    });
    let stack_route = |r: &str| (rule(r), lookup.clone());

    macro_rules! guarded {
        ($handler:expr, $rule:expr) => {
            $handler.layer(rule($rule))
        };
    }
    macro_rules! stack {
        ($handler:expr, $rule:expr) => {{
            let (policy_layer, lookup_layer) = stack_route($rule);
            $handler.layer(lookup_layer).layer(policy_layer)
        }};
    }

    Router::new()
        .route(
            "/v1/{tenant}/stacks",
            get(guarded!(list_stacks, "stacks:index"))
                .post(guarded!(create_stack, "stacks:create")),
        )
        // Heat's lookup route takes every method: `openstack stack delete NAME`
        // sends DELETE /stacks/NAME and follows the 302 with the same method.
        .route(
            "/v1/{tenant}/stacks/{name}",
            get(stack!(not_found, "stacks:lookup"))
                .post(stack!(not_found, "stacks:lookup"))
                .put(stack!(not_found, "stacks:lookup"))
                .patch(stack!(not_found, "stacks:lookup"))
                .delete(stack!(not_found, "stacks:lookup")),
        )
        // GET /stacks/NAME/{resources|events|...} is a lookup too (the layer
        // redirects it); POST /stacks/NAME/{resources|events|template|actions}
        // as well (`openstack stack check NAME`), any other POST here is 405.
        .route(
            "/v1/{tenant}/stacks/{name}/{id}",
            get(stack!(show_stack, "stacks:show"))
                .post(stack!(method_not_allowed, "stacks:lookup"))
                .delete(stack!(delete_stack, "stacks:delete"))
                .put(stack!(not_implemented, "stacks:update"))
                .patch(stack!(not_implemented, "stacks:update_patch")),
        )
        .route(
            "/v1/{tenant}/stacks/{name}/{id}/resources",
            get(stack!(list_resources, "resource:index")),
        )
        .route(
            "/v1/{tenant}/stacks/{name}/{id}/resources/{resource}",
            get(stack!(show_resource, "resource:show")),
        )
        .route(
            "/v1/{tenant}/stacks/{name}/{id}/resources/{resource}/metadata",
            get(stack!(resource_metadata, "resource:metadata")),
        )
        .route(
            "/v1/{tenant}/stacks/{name}/{id}/resources/{resource}/signal",
            post(stack!(signal_resource, "resource:signal")),
        )
        .route(
            "/v1/{tenant}/stacks/{name}/{id}/outputs",
            get(stack!(list_outputs, "stacks:list_outputs")),
        )
        .route(
            "/v1/{tenant}/stacks/{name}/{id}/outputs/{output}",
            get(stack!(show_output, "stacks:show_output")),
        )
        .route(
            "/v1/{tenant}/stacks/{name}/{id}/template",
            get(stack!(stack_template, "stacks:template")),
        )
        .route(
            "/v1/{tenant}/stacks/{name}/{id}/events",
            get(stack!(list_events, "events:index")),
        )
        .route(
            "/v1/{tenant}/stacks/{name}/{id}/actions",
            post(stack!(stack_action, "actions:action")),
        )
        .route(
            "/v1/{tenant}/build_info",
            get(guarded!(build_info, "build_info:build_info")),
        )
        .route(
            "/v1/{tenant}/software_deployments/metadata/{server}",
            get(guarded!(
                deployment_metadata,
                "software_deployments:metadata"
            )),
        )
        .route(
            "/v1/{tenant}/services",
            get(guarded!(services, "service:index")),
        )
        .layer(DefaultBodyLimit::max(16 * 1024 * 1024))
        .with_state(state)
}

type Res = Result<Response, EngineError>;

fn stack_url(origin: &str, s: &StackRow) -> String {
    format!(
        "{origin}/v1/{}/stacks/{}/{}",
        urlencoding::encode(&s.tenant),
        urlencoding::encode(&s.name),
        urlencoding::encode(&s.id)
    )
}

/// A stack as Heat lists it (`format_stack_db_object`): the description is
/// always empty in a list (Heat does not load templates to list stacks); a
/// stack's own body sets it from the template.
fn stack_summary(origin: &str, s: &StackRow) -> Value {
    json!({
        "id": s.id,
        "stack_name": s.name,
        "description": "",
        "stack_status": s.stack_status(),
        "stack_status_reason": s.status_reason,
        "creation_time": s.created_at,
        "updated_time": s.updated_at,
        "deletion_time": s.deleted_at,
        "stack_owner": s.owner_user_name,
        "stack_user_project_id": s.stack_user_project_id,
        "parent": null,
        "tags": null,
        "project": s.tenant,
        "links": [{"href": stack_url(origin, s), "rel": "self"}],
    })
}

fn json_response(status: StatusCode, v: &Value) -> Response {
    let mut r = Response::new(Body::from(v.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

#[derive(serde::Deserialize)]
struct ListQuery {
    global_tenant: Option<String>,
}

async fn list_stacks(
    State(state): State<ApiState>,
    Path(tenant): Path<String>,
    Query(q): Query<ListQuery>,
    Extension(identity): Extension<Identity>,
    headers: HeaderMap,
) -> Res {
    let global = q
        .global_tenant
        .as_deref()
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes" | "on"));
    let stacks = if global {
        let enforcer = state.policy.current();
        let creds = credentials(&identity, &enforcer);
        let target = Target::new().with("project_id", tenant.clone());
        if !enforcer
            .enforce("stacks:global_index", &target, &creds)
            .unwrap_or(false)
        {
            return Ok(heatgate_middleware::policy::PolicyDenial::Denied {
                rule: "stacks:global_index".into(),
            }
            .response(heatgate_middleware::policy::Api::Rest)
            .into_response());
        }
        state.engine.list_all_stacks().await?
    } else {
        state.engine.list_stacks(&tenant).await?
    };
    let o = origin(&headers);
    let list: Vec<Value> = stacks.iter().map(|s| stack_summary(&o, s)).collect();
    Ok(json_response(StatusCode::OK, &json!({ "stacks": list })))
}

/// Parses a JSON body within Heat's limit.
fn json_body(body: &Bytes) -> Result<Value, EngineError> {
    if body.len() > MAX_JSON_BODY_SIZE {
        return Err(EngineError::bad(
            "RequestLimitExceeded",
            format!(
                "Request limit exceeded: JSON body size ({} bytes) exceeds maximum allowed size ({MAX_JSON_BODY_SIZE} bytes).",
                body.len()
            ),
        ));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body)
        .map_err(|_| EngineError::bad("HTTPBadRequest", "The request body is not valid JSON."))
}

async fn create_stack(
    State(state): State<ApiState>,
    Path(tenant): Path<String>,
    Extension(identity): Extension<Identity>,
    headers: HeaderMap,
    body: Bytes,
) -> Res {
    let caller = state.caller(&identity, &headers);
    let v = json_body(&body)?;
    let m = v.as_object().ok_or_else(|| {
        EngineError::bad("HTTPBadRequest", "The request body must be a JSON object.")
    })?;
    let name = m
        .get("stack_name")
        .and_then(Value::as_str)
        .ok_or_else(|| EngineError::bad("HTTPBadRequest", "No stack name specified"))?
        .to_owned();
    let template = match m.get("template") {
        Some(Value::String(s)) => s.clone(),
        Some(t @ Value::Object(_)) => t.to_string(),
        Some(_) => {
            return Err(EngineError::bad(
                "HTTPBadRequest",
                "The template is not a JSON object or YAML mapping.",
            ))
        }
        None if m.contains_key("template_url") => return Err(EngineError::bad(
            "HTTPBadRequest",
            "Could not retrieve template: template_url is not supported; send the template itself",
        )),
        None => return Err(EngineError::bad("HTTPBadRequest", "No template specified")),
    };
    let mut parameters = Map::new();
    if let Some(env) = m.get("environment") {
        let env = match env {
            Value::String(s) => serde_yaml::from_str::<Value>(s).unwrap_or(Value::Null),
            other => other.clone(),
        };
        if let Some(p) = env.get("parameters").and_then(Value::as_object) {
            parameters.extend(p.clone());
        }
    }
    if let Some(p) = m.get("parameters").and_then(Value::as_object) {
        parameters.extend(p.clone());
    }
    let timeout_mins = m.get("timeout_mins").and_then(Value::as_i64);
    let row = state
        .engine
        .create_stack(
            &caller,
            &tenant,
            CreateRequest {
                name,
                template,
                parameters,
                timeout_mins,
            },
        )
        .await?;
    let url = stack_url(&origin(&headers), &row);
    let mut r = json_response(
        StatusCode::CREATED,
        &json!({"stack": {"id": row.id, "links": [{"href": url, "rel": "self"}]}}),
    );
    if let Ok(v) = HeaderValue::from_str(&url) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

async fn not_found(Path((_, name)): Path<(String, String)>) -> Res {
    Err(EngineError::no_stack(name))
}

/// The answer for a method the route has not (the stack lookup layer has
/// already redirected the lookup forms).
async fn method_not_allowed() -> Response {
    let mut r = StatusCode::METHOD_NOT_ALLOWED.into_response();
    r.headers_mut().insert(
        header::ALLOW,
        HeaderValue::from_static("GET,HEAD,PUT,PATCH,DELETE"),
    );
    r
}

async fn not_implemented() -> Res {
    Err(EngineError::bad(
        "NotSupported",
        "Stack update is not supported by this engine.",
    ))
}

/// The stack's row: as the lookup read it for this request, or read again.
async fn stack_row(state: &ApiState, resolved: &ResolvedStack) -> Result<StackRow, EngineError> {
    if let Some(row) = resolved.stack.found::<StackRow>() {
        return Ok(row.clone());
    }
    state
        .engine
        .store()
        .stack(&resolved.stack.id)
        .await?
        .ok_or_else(|| EngineError::no_stack(&resolved.stack.name))
}

async fn show_stack(
    State(state): State<ApiState>,
    Extension(resolved): Extension<ResolvedStack>,
    headers: HeaderMap,
) -> Res {
    let s = stack_row(&state, &resolved).await?;
    let mut v = stack_summary(&origin(&headers), &s);
    let mut params = match obj(&s.parameters) {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let tpl = crate::template::parse(&s.template).ok();
    if let Some(t) = &tpl {
        for (k, def) in &t.parameters {
            if def.hidden {
                params.insert(k.clone(), json!("******"));
            }
        }
    }
    let mut shown = Map::new();
    for (k, val) in params {
        let text = match val {
            Value::String(s) => s,
            other => other.to_string(),
        };
        shown.insert(k, Value::String(text));
    }
    shown.insert("OS::stack_id".into(), json!(s.id));
    shown.insert("OS::stack_name".into(), json!(s.name));
    shown.insert("OS::project_id".into(), json!(s.tenant));
    v["parameters"] = Value::Object(shown);
    v["outputs"] = Value::Array(state.engine.outputs(&s).await?);
    let description = s.template_description_or_default();
    v["description"] = json!(description);
    v["template_description"] = json!(description);
    v["timeout_mins"] = json!(s.timeout_mins);
    v["disable_rollback"] = json!(true);
    v["capabilities"] = json!([]);
    v["notification_topics"] = json!([]);
    Ok(json_response(StatusCode::OK, &json!({ "stack": v })))
}

async fn delete_stack(
    State(state): State<ApiState>,
    Extension(resolved): Extension<ResolvedStack>,
) -> Res {
    let s = stack_row(&state, &resolved).await?;
    state.engine.delete_stack(&s).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// What the stack's template says of its resources (Heat's `required_by`
/// and `description` of a resource).
struct TemplateFacts {
    template: Option<crate::template::Template>,
    graph: Option<crate::template::DependencyGraph>,
}

impl TemplateFacts {
    fn of(s: &StackRow) -> Self {
        let template = crate::template::parse(&s.template).ok();
        let graph = template.as_ref().and_then(|t| t.dependency_graph().ok());
        TemplateFacts { template, graph }
    }

    fn required_by(&self, name: &str) -> Vec<String> {
        self.graph
            .as_ref()
            .map(|g| g.required_by(name))
            .unwrap_or_default()
    }

    fn description(&self, name: &str) -> String {
        self.template
            .as_ref()
            .and_then(|t| t.resources.get(name))
            .and_then(|d| d.description.clone())
            .unwrap_or_default()
    }
}

fn resource_view(origin: &str, s: &StackRow, r: &ResourceRow, facts: &TemplateFacts) -> Value {
    let url = format!(
        "{}/resources/{}",
        stack_url(origin, s),
        urlencoding::encode(&r.name)
    );
    json!({
        "resource_name": r.name,
        "logical_resource_id": r.name,
        "physical_resource_id": r.physical_id.clone().unwrap_or_default(),
        "resource_type": r.type_name,
        "resource_status": r.resource_status(),
        "resource_status_reason": r.status_reason,
        "creation_time": r.created_at,
        "updated_time": r.updated_at.clone().unwrap_or_else(|| r.created_at.clone()),
        "required_by": facts.required_by(&r.name),
        "links": [
            {"href": url, "rel": "self"},
            {"href": stack_url(origin, s), "rel": "stack"},
        ],
    })
}

/// Heat's list_outputs: keys and descriptions, values not resolved.
async fn list_outputs(
    State(state): State<ApiState>,
    Extension(resolved): Extension<ResolvedStack>,
) -> Res {
    let s = stack_row(&state, &resolved).await?;
    let outputs: Vec<Value> = state
        .engine
        .outputs(&s)
        .await?
        .into_iter()
        .map(|o| json!({"output_key": o["output_key"], "description": o["description"]}))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "outputs": outputs }),
    ))
}

/// Heat's show_output: one output with its value (or `output_error`).
async fn show_output(
    State(state): State<ApiState>,
    Extension(resolved): Extension<ResolvedStack>,
    Path(params): Path<Vec<(String, String)>>,
) -> Res {
    let key = params
        .iter()
        .find(|(k, _)| k == "output")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    let s = stack_row(&state, &resolved).await?;
    let output = state
        .engine
        .outputs(&s)
        .await?
        .into_iter()
        .find(|o| o["output_key"] == key)
        .ok_or_else(|| {
            EngineError::NotFoundText(format!("Specified output key {key} not found."))
        })?;
    Ok(json_response(StatusCode::OK, &json!({ "output": output })))
}

/// The stack's template, as JSON (Heat answers the parsed template).
async fn stack_template(
    State(state): State<ApiState>,
    Extension(resolved): Extension<ResolvedStack>,
) -> Res {
    let s = stack_row(&state, &resolved).await?;
    let template: Value = serde_yaml::from_str(&s.template)
        .map_err(|e| EngineError::bad("InvalidTemplateFormat", e.to_string()))?;
    Ok(json_response(StatusCode::OK, &template))
}

async fn list_resources(
    State(state): State<ApiState>,
    Extension(resolved): Extension<ResolvedStack>,
    headers: HeaderMap,
) -> Res {
    let s = stack_row(&state, &resolved).await?;
    let o = origin(&headers);
    let facts = TemplateFacts::of(&s);
    let list: Vec<Value> = state
        .engine
        .store()
        .resources(&s.id)
        .await?
        .iter()
        .map(|r| resource_view(&o, &s, r, &facts))
        .collect();
    Ok(json_response(StatusCode::OK, &json!({ "resources": list })))
}

async fn authorized_resource(
    state: &ApiState,
    resolved: &ResolvedStack,
    identity: &Identity,
    headers: &HeaderMap,
    resource: &str,
) -> Result<(StackRow, ResourceRow), EngineError> {
    let s = stack_row(state, resolved).await?;
    let caller = state.caller(identity, headers);
    let r = state.engine.resource(&s, resource).await?;
    state
        .engine
        .authorize_stack_user(&caller, &s, resource)
        .await?;
    Ok((s, r))
}

async fn show_resource(
    State(state): State<ApiState>,
    Extension(resolved): Extension<ResolvedStack>,
    Extension(identity): Extension<Identity>,
    Path((_, _, _, resource)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Res {
    let (s, r) = authorized_resource(&state, &resolved, &identity, &headers, &resource).await?;
    let facts = TemplateFacts::of(&s);
    let mut v = resource_view(&origin(&headers), &s, &r, &facts);
    v["attributes"] = state.engine.attributes(&s, &r).await?;
    v["description"] = json!(facts.description(&r.name));
    Ok(json_response(StatusCode::OK, &json!({ "resource": v })))
}

async fn resource_metadata(
    State(state): State<ApiState>,
    Extension(resolved): Extension<ResolvedStack>,
    Extension(identity): Extension<Identity>,
    Path((_, _, _, resource)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Res {
    let (s, r) = authorized_resource(&state, &resolved, &identity, &headers, &resource).await?;
    let md = state.engine.metadata(&s, &r).await?;
    Ok(json_response(StatusCode::OK, &json!({ "metadata": md })))
}

async fn signal_resource(
    State(state): State<ApiState>,
    Extension(resolved): Extension<ResolvedStack>,
    Path((_, _, _, resource)): Path<(String, String, String, String)>,
    body: Bytes,
) -> Res {
    let s = stack_row(&state, &resolved).await?;
    let v = json_body(&body)?;
    state
        .engine
        .signal(&s, &resource, (!v.is_null()).then_some(v), false)
        .await?;
    Ok(json_response(StatusCode::OK, &Value::Null))
}

#[derive(serde::Deserialize)]
struct EventQuery {
    sort_dir: Option<String>,
    marker: Option<String>,
    limit: Option<usize>,
    resource_name: Option<String>,
}

fn event_view(origin: &str, s: &StackRow, e: &EventRow) -> Value {
    let stack = stack_url(origin, s);
    let res = format!(
        "{stack}/resources/{}",
        urlencoding::encode(&e.resource_name)
    );
    json!({
        "id": e.id,
        "event_time": e.created_at,
        "resource_name": e.resource_name,
        "logical_resource_id": e.resource_name,
        "physical_resource_id": e.physical_id.clone().unwrap_or_default(),
        "resource_status": e.resource_status(),
        "resource_status_reason": e.reason,
        "links": [
            {"href": format!("{res}/events/{}", e.id), "rel": "self"},
            {"href": res, "rel": "resource"},
            {"href": stack, "rel": "stack"},
        ],
    })
}

async fn list_events(
    State(state): State<ApiState>,
    Extension(resolved): Extension<ResolvedStack>,
    Query(q): Query<EventQuery>,
    headers: HeaderMap,
) -> Res {
    let s = stack_row(&state, &resolved).await?;
    let mut events = state.engine.store().events(&s.id).await?;
    if let Some(n) = &q.resource_name {
        events.retain(|e| &e.resource_name == n);
    }
    if q.sort_dir.as_deref() == Some("desc") {
        events.reverse();
    }
    if let Some(m) = &q.marker {
        match events.iter().position(|e| &e.id == m) {
            Some(i) => {
                events.drain(..=i);
            }
            None => {
                return Err(EngineError::NotFound {
                    entity: "Event",
                    name: m.clone(),
                })
            }
        }
    }
    if let Some(l) = q.limit {
        events.truncate(l);
    }
    let o = origin(&headers);
    let list: Vec<Value> = events.iter().map(|e| event_view(&o, &s, e)).collect();
    Ok(json_response(StatusCode::OK, &json!({ "events": list })))
}

async fn stack_action(
    State(state): State<ApiState>,
    Extension(resolved): Extension<ResolvedStack>,
    body: Bytes,
) -> Res {
    let s = stack_row(&state, &resolved).await?;
    let v = json_body(&body)?;
    let action = v
        .as_object()
        .filter(|m| m.len() == 1)
        .and_then(|m| m.keys().next().cloned())
        .ok_or_else(|| EngineError::bad("HTTPBadRequest", "Multiple actions specified"))?;
    match action.as_str() {
        "check" => {
            state.engine.check_stack(&s).await?;
            Ok(json_response(StatusCode::OK, &Value::Null))
        }
        other => Err(EngineError::bad(
            "HTTPBadRequest",
            format!("Invalid action {other} specified"),
        )),
    }
}

async fn build_info() -> Response {
    json_response(
        StatusCode::OK,
        &json!({"api": {"revision": env!("CARGO_PKG_VERSION")}, "engine": {"revision": env!("CARGO_PKG_VERSION")}}),
    )
}

async fn deployment_metadata(
    State(state): State<ApiState>,
    Extension(identity): Extension<Identity>,
    Path((_, server)): Path<(String, String)>,
    headers: HeaderMap,
) -> Res {
    let caller = state.caller(&identity, &headers);
    let md = state.engine.deployments_metadata(&caller, &server).await?;
    Ok(json_response(StatusCode::OK, &json!({ "metadata": md })))
}

async fn services() -> Json<Value> {
    Json(json!({"services": [{
        "id": "heatgate-engine", "binary": "heatgate", "engine_id": "heatgate-engine",
        "host": "localhost", "topic": "engine", "report_interval": 60, "status": "up",
    }]}))
}
