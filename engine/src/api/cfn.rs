//! The CloudFormation-compatible query API (`?Action=...`, AWS XML answers)
//! and the pre-signed wait condition / signal endpoints.
//!
//! Each action resolves `StackName` (a name, an id or an ARN) through the
//! caller's project, which may be the owner's or the stack domain project,
//! then checks `cloudformation:<Action>` with that project as the target (so
//! Heat's modern defaults work here too; Heat itself denies every CFN action
//! under them). Errors are AWS XML documents with their real HTTP status.
//! `PUT /v1/waitcondition/{arn}` and `POST /v1/signal/{arn}` have no policy
//! rule, as in Heat: the signature (checked by ec2token in front) and the dual
//! path decide.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::response::Response;
use axum::routing::{any, post, put};
use axum::{Extension, Router};
use heatgate_middleware::context::Identity;
use heatgate_middleware::policy::{credentials, Api, PolicyDenial};
use heatgate_middleware::stack_lookup::parse_arn;
use heatgate_policy::Target;
use http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use serde_json::{json, Value};

use super::ApiState;
use crate::engine::{obj, Caller, CreateRequest, Engine};
use crate::error::EngineError;
use crate::presign::stack_arn;
use crate::store::StackRow;

/// The CFN router (no authentication: put ec2token in front).
pub fn router(
    engine: Engine,
    policy: std::sync::Arc<dyn heatgate_middleware::policy::EnforcerSource>,
) -> Router {
    let state = ApiState { engine, policy };
    Router::new()
        .route("/", any(dispatch))
        .route("/v1", any(dispatch))
        .route("/v1/", any(dispatch))
        .route("/v1/waitcondition/{*arn}", put(waitcondition))
        .route("/v1/signal/{*arn}", post(signal))
        .layer(axum::extract::DefaultBodyLimit::max(16 * 1024 * 1024))
        .with_state(state)
}

// ---- XML ------------------------------------------------------------------------

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Keys whose values Heat's XML serializer writes as JSON text (the AWS API
/// defines them as JSON inside XML).
const JSON_ONLY_KEYS: &[&str] = &["TemplateBody", "Metadata"];

/// Python's truth value of a JSON value (`if value:` in Heat's serializer).
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

/// Heat's XMLResponseSerializer: objects become elements, lists `<member>`s,
/// `Metadata` and `TemplateBody` JSON text; null fields are left out.
pub fn to_xml(name: &str, v: &Value) -> String {
    match v {
        Value::Object(m) => {
            // Absent values are left out, as AWS does: an empty element would
            // not parse as a timestamp or an integer in botocore (Heat writes
            // "None", which does not either).
            let inner: String = m
                .iter()
                .filter(|(k, v)| !v.is_null() || JSON_ONLY_KEYS.contains(&k.as_str()))
                .map(|(k, v)| {
                    if JSON_ONLY_KEYS.contains(&k.as_str()) {
                        if truthy(v) {
                            format!("<{k}>{}</{k}>", escape(&crate::pyjson::dumps(v)))
                        } else {
                            format!("<{k}/>")
                        }
                    } else {
                        to_xml(k, v)
                    }
                })
                .collect();
            format!("<{name}>{inner}</{name}>")
        }
        Value::Array(a) => {
            let inner: String = a.iter().map(|v| to_xml("member", v)).collect();
            format!("<{name}>{inner}</{name}>")
        }
        Value::Null => format!("<{name}/>"),
        Value::String(s) => format!("<{name}>{}</{name}>", escape(s)),
        other => format!("<{name}>{}</{name}>", escape(&other.to_string())),
    }
}

/// How answers are serialized: Heat answers JSON when the request has
/// `ContentType=JSON` (boto 2's CloudFormation client, so cfn-get-metadata,
/// asks for it), XML otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Xml,
    Json,
}

fn answer(action: &str, result: Value, format: Format) -> Response {
    let mut inner = serde_json::Map::new();
    inner.insert(format!("{action}Result"), result);
    let (body, content_type) = match format {
        Format::Xml => (
            to_xml(&format!("{action}Response"), &Value::Object(inner)),
            "application/xml",
        ),
        Format::Json => {
            let mut doc = serde_json::Map::new();
            doc.insert(format!("{action}Response"), Value::Object(inner));
            (
                crate::pyjson::dumps(&Value::Object(doc)),
                "application/json",
            )
        }
    };
    let mut r = Response::new(Body::from(body));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

fn xml_element<'a>(doc: &'a str, name: &str) -> Option<&'a str> {
    let start = doc.find(&format!("<{name}>"))? + name.len() + 2;
    let len = doc[start..].find(&format!("</{name}>"))?;
    Some(&doc[start..start + len])
}

/// An AWS XML error document re-serialized as Heat's JSON error
/// (`{"ErrorResponse": {"Error": {"Type", "Code", "Message"}}}`), same status.
async fn json_error(r: Response) -> Response {
    let (mut parts, body) = r.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let doc = String::from_utf8_lossy(&bytes);
    let field = |n: &str| xml_element(&doc, n).map(xml_unescape).unwrap_or_default();
    let Some(code) = xml_element(&doc, "Code").map(xml_unescape) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let v = json!({"ErrorResponse": {"Error": {
        "Type": field("Type"), "Code": code, "Message": field("Message"),
    }}});
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(crate::pyjson::dumps(&v)))
}

fn xml_error(status: StatusCode, code: &str, message: &str) -> Response {
    let mut r = Response::new(Body::from(heatgate_middleware::ec2token::xml_body(
        if status.is_server_error() {
            "Receiver"
        } else {
            "Sender"
        },
        code,
        message,
    )));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    r
}

// ---- dispatch ----------------------------------------------------------------------

type Params = Vec<(String, String)>;

fn params(uri: &Uri, headers: &HeaderMap, method: &Method, body: &Bytes) -> Params {
    let mut p: Params = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if *method == Method::POST && form {
        p.extend(url::form_urlencoded::parse(body).into_owned());
    }
    p
}

fn get<'a>(p: &'a Params, key: &str) -> Option<&'a str> {
    p.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The project a CFN policy check targets: the one the caller reached the
/// stack through (its own, when that is the owner's or the stack domain
/// project), else the owner's.
fn target_project(caller: &Caller, stack: &StackRow) -> String {
    if stack.tenant == caller.project_id
        || stack.stack_user_project_id.as_deref() == Some(caller.project_id.as_str())
    {
        caller.project_id.clone()
    } else {
        stack.tenant.clone()
    }
}

fn authorize(
    state: &ApiState,
    identity: &Identity,
    action: &str,
    project: &str,
) -> Result<(), Box<Response>> {
    let enforcer = state.policy.current();
    let creds = credentials(identity, &enforcer);
    let rule = format!("cloudformation:{action}");
    let target = Target::new().with("project_id", project.to_owned());
    match enforcer.enforce(&rule, &target, &creds) {
        Ok(true) => Ok(()),
        Ok(false) | Err(heatgate_policy::EnforceError::InvalidScope { .. }) => {
            tracing::info!(rule = %rule, user_id = %identity.user_id, "policy denied");
            Err(Box::new(
                PolicyDenial::Denied { rule: rule.into() }
                    .response(Api::Cfn)
                    .map(Body::new),
            ))
        }
        Err(e) => Err(Box::new(
            PolicyDenial::Error(e).response(Api::Cfn).map(Body::new),
        )),
    }
}

async fn dispatch(
    State(state): State<ApiState>,
    Extension(identity): Extension<Identity>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = params(&uri, &headers, &method, &body);
    let format = if get(&p, "ContentType") == Some("JSON") {
        Format::Json
    } else {
        Format::Xml
    };
    let r = dispatch_action(&state, &identity, &headers, &p, format).await;
    if format == Format::Json && !r.status().is_success() {
        json_error(r).await
    } else {
        r
    }
}

async fn dispatch_action(
    state: &ApiState,
    identity: &Identity,
    headers: &HeaderMap,
    p: &Params,
    format: Format,
) -> Response {
    let caller = state.caller(identity, headers);
    let Some(action) = get(p, "Action").map(str::to_owned) else {
        return xml_error(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            "The action or operation requested is invalid",
        );
    };
    let outcome = match action.as_str() {
        "ListStacks" => list_stacks(state, identity, &caller).await,
        "DescribeStacks" => describe_stacks(state, identity, &caller, p).await,
        "DescribeStackResource" => describe_resource(state, identity, &caller, p).await,
        "DescribeStackResources" => describe_resources(state, identity, &caller, p).await,
        "ListStackResources" => list_resources(state, identity, &caller, p).await,
        "DescribeStackEvents" => describe_events(state, identity, &caller, p).await,
        "CreateStack" => create_stack(state, identity, &caller, p).await,
        "DeleteStack" => delete_stack(state, identity, &caller, p).await,
        _ => Err(Denied::Response(Box::new(xml_error(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            "The action or operation requested is invalid",
        )))),
    };
    match outcome {
        Ok(result) => answer(&action, result, format),
        Err(Denied::Response(r)) => *r,
        Err(Denied::Engine(e)) => e.cfn_response().map(Body::new),
    }
}

enum Denied {
    Response(Box<Response>),
    Engine(EngineError),
}

impl From<EngineError> for Denied {
    fn from(e: EngineError) -> Self {
        Denied::Engine(e)
    }
}

type Out = Result<Value, Denied>;

fn check(state: &ApiState, identity: &Identity, action: &str, project: &str) -> Result<(), Denied> {
    authorize(state, identity, action, project).map_err(Denied::Response)
}

async fn stack_param(state: &ApiState, caller: &Caller, p: &Params) -> Result<StackRow, Denied> {
    let name = get(p, "StackName").ok_or_else(|| {
        Denied::Response(Box::new(xml_error(
            StatusCode::BAD_REQUEST,
            "MissingParameter",
            "The request must contain the parameter StackName",
        )))
    })?;
    Ok(state.engine.find_stack(caller, name).await?)
}

fn arn_of(s: &StackRow) -> String {
    stack_arn(&s.tenant, &s.name, &s.id)
}

fn cfn_status(s: &StackRow) -> String {
    s.stack_status()
}

async fn list_stacks(state: &ApiState, identity: &Identity, caller: &Caller) -> Out {
    check(state, identity, "ListStacks", &caller.project_id)?;
    let stacks = state.engine.list_stacks(&caller.project_id).await?;
    let members: Vec<Value> = stacks
        .iter()
        .map(|s| {
            json!({
                "StackId": arn_of(s),
                "StackName": s.name,
                "CreationTime": s.created_at,
                "LastUpdatedTime": s.updated_at,
                "StackStatus": cfn_status(s),
                "StackStatusReason": s.status_reason,
            })
        })
        .collect();
    Ok(json!({ "StackSummaries": members }))
}

async fn describe_stacks(
    state: &ApiState,
    identity: &Identity,
    caller: &Caller,
    p: &Params,
) -> Out {
    let stacks = match get(p, "StackName") {
        Some(_) => {
            let s = stack_param(state, caller, p).await?;
            check(
                state,
                identity,
                "DescribeStacks",
                &target_project(caller, &s),
            )?;
            vec![s]
        }
        None => {
            check(state, identity, "DescribeStacks", &caller.project_id)?;
            state.engine.list_stacks(&caller.project_id).await?
        }
    };
    let mut members = Vec::new();
    for s in &stacks {
        let outputs: Vec<Value> = state
            .engine
            .outputs(s)
            .await?
            .into_iter()
            .map(|o| {
                json!({
                    "OutputKey": o["output_key"],
                    "OutputValue": match &o["output_value"] { Value::String(s) => Value::String(s.clone()), Value::Null => Value::Null, other => Value::String(other.to_string()) },
                    "Description": o["description"],
                })
            })
            .collect();
        let params: Vec<Value> = match obj(&s.parameters) {
            Value::Object(m) => m
                .into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    json!({"ParameterKey": k, "ParameterValue": v})
                })
                .collect(),
            _ => Vec::new(),
        };
        members.push(json!({
            "StackId": arn_of(s),
            "StackName": s.name,
            "CreationTime": s.created_at,
            "LastUpdatedTime": s.updated_at,
            "StackStatus": cfn_status(s),
            "StackStatusReason": s.status_reason,
            "Description": s.template_description_or_default(),
            "DisableRollback": "true",
            "TimeoutInMinutes": s.timeout_mins,
            "NotificationARNs": [],
            "Capabilities": [],
            "Outputs": outputs,
            "Parameters": params,
        }));
    }
    Ok(json!({ "Stacks": members }))
}

fn resource_member(s: &StackRow, r: &crate::store::ResourceRow) -> Value {
    json!({
        "StackId": arn_of(s),
        "StackName": s.name,
        "LogicalResourceId": r.name,
        "PhysicalResourceId": r.physical_id.clone().unwrap_or_default(),
        "ResourceType": r.type_name,
        "ResourceStatus": r.resource_status(),
        "ResourceStatusReason": r.status_reason,
        "Timestamp": r.updated_at.clone().unwrap_or_else(|| r.created_at.clone()),
    })
}

async fn describe_resource(
    state: &ApiState,
    identity: &Identity,
    caller: &Caller,
    p: &Params,
) -> Out {
    let s = stack_param(state, caller, p).await?;
    check(
        state,
        identity,
        "DescribeStackResource",
        &target_project(caller, &s),
    )?;
    let name = get(p, "LogicalResourceId").ok_or_else(|| {
        Denied::Response(Box::new(xml_error(
            StatusCode::BAD_REQUEST,
            "MissingParameter",
            "The request must contain the parameter LogicalResourceId",
        )))
    })?;
    let r = state.engine.resource(&s, name).await?;
    state.engine.authorize_stack_user(caller, &s, name).await?;
    let md = state.engine.metadata(&s, &r).await?;
    let mut m = resource_member(&s, &r);
    m["Description"] = json!("");
    m["LastUpdatedTimestamp"] = m["Timestamp"].clone();
    m["Metadata"] = md;
    if let Some(o) = m.as_object_mut() {
        o.remove("Timestamp");
    }
    Ok(json!({ "StackResourceDetail": m }))
}

async fn describe_resources(
    state: &ApiState,
    identity: &Identity,
    caller: &Caller,
    p: &Params,
) -> Out {
    let s = stack_param(state, caller, p).await?;
    check(
        state,
        identity,
        "DescribeStackResources",
        &target_project(caller, &s),
    )?;
    let only = get(p, "LogicalResourceId");
    let mut members = Vec::new();
    for r in state
        .engine
        .store()
        .resources(&s.id)
        .await
        .map_err(EngineError::from)?
    {
        if only.is_some_and(|n| n != r.name) {
            continue;
        }
        let mut m = resource_member(&s, &r);
        m["Description"] = json!("");
        members.push(m);
    }
    Ok(json!({ "StackResources": members }))
}

async fn list_resources(state: &ApiState, identity: &Identity, caller: &Caller, p: &Params) -> Out {
    let s = stack_param(state, caller, p).await?;
    check(
        state,
        identity,
        "ListStackResources",
        &target_project(caller, &s),
    )?;
    let members: Vec<Value> = state
        .engine
        .store()
        .resources(&s.id)
        .await
        .map_err(EngineError::from)?
        .iter()
        .map(|r| {
            json!({
                "LogicalResourceId": r.name,
                "PhysicalResourceId": r.physical_id.clone().unwrap_or_default(),
                "ResourceType": r.type_name,
                "ResourceStatus": r.resource_status(),
                "ResourceStatusReason": r.status_reason,
                "LastUpdatedTimestamp": r.updated_at.clone().unwrap_or_else(|| r.created_at.clone()),
            })
        })
        .collect();
    Ok(json!({ "StackResourceSummaries": members }))
}

async fn describe_events(
    state: &ApiState,
    identity: &Identity,
    caller: &Caller,
    p: &Params,
) -> Out {
    let s = stack_param(state, caller, p).await?;
    check(
        state,
        identity,
        "DescribeStackEvents",
        &target_project(caller, &s),
    )?;
    let members: Vec<Value> = state
        .engine
        .store()
        .events(&s.id)
        .await
        .map_err(EngineError::from)?
        .iter()
        .map(|e| {
            json!({
                "EventId": e.id,
                "StackId": arn_of(&s),
                "StackName": s.name,
                "LogicalResourceId": e.resource_name,
                "PhysicalResourceId": e.physical_id.clone().unwrap_or_default(),
                "ResourceType": e.resource_type,
                "ResourceStatus": e.resource_status(),
                "ResourceStatusReason": e.reason,
                "Timestamp": e.created_at,
            })
        })
        .collect();
    Ok(json!({ "StackEvents": members }))
}

async fn create_stack(state: &ApiState, identity: &Identity, caller: &Caller, p: &Params) -> Out {
    check(state, identity, "CreateStack", &caller.project_id)?;
    let name = get(p, "StackName").unwrap_or_default().to_owned();
    let template = get(p, "TemplateBody")
        .ok_or_else(|| EngineError::bad("InvalidParameterValue", "TemplateBody is required"))?
        .to_owned();
    let mut parameters = serde_json::Map::new();
    for n in 1.. {
        let Some(k) = get(p, &format!("Parameters.member.{n}.ParameterKey")) else {
            break;
        };
        let v = get(p, &format!("Parameters.member.{n}.ParameterValue")).unwrap_or_default();
        parameters.insert(k.to_owned(), Value::String(v.to_owned()));
    }
    let timeout_mins = get(p, "TimeoutInMinutes").and_then(|t| t.parse().ok());
    let row = state
        .engine
        .create_stack(
            caller,
            &caller.project_id,
            CreateRequest {
                name,
                template,
                parameters,
                timeout_mins,
            },
        )
        .await?;
    Ok(json!({ "StackId": arn_of(&row) }))
}

async fn delete_stack(state: &ApiState, identity: &Identity, caller: &Caller, p: &Params) -> Out {
    let s = stack_param(state, caller, p).await?;
    check(state, identity, "DeleteStack", &target_project(caller, &s))?;
    if s.tenant != caller.project_id && !caller.is_admin {
        return Err(EngineError::Forbidden.into());
    }
    state.engine.delete_stack(&s).await?;
    Ok(json!(""))
}

// ---- pre-signed endpoints -------------------------------------------------------

/// The ARN from the raw path after `prefix` (decoded once: the ARN keeps its
/// own escapes), and the resource it names.
fn resource_from_path(uri: &Uri, prefix: &str) -> Option<(String, String)> {
    let raw = uri.path().strip_prefix(prefix)?;
    let arn = urlencoding::decode(raw).ok()?.into_owned();
    let (_, _, id, tail) = parse_arn(&arn)?;
    let res = tail.strip_prefix("/resources/")?;
    if res.is_empty() || res.contains('/') {
        return None;
    }
    let res = urlencoding::decode(res).ok()?.into_owned();
    Some((id, res))
}

async fn signalled(
    state: &ApiState,
    identity: &Identity,
    headers: &HeaderMap,
    uri: &Uri,
    prefix: &str,
    body: &Bytes,
    waitcondition: bool,
) -> Result<(crate::store::StackRow, String), EngineError> {
    let caller = state.caller(identity, headers);
    let (id, resource) = resource_from_path(uri, prefix)
        .ok_or_else(|| EngineError::bad("InvalidParameterValue", "Invalid ARN"))?;
    let stack = state.engine.visible_stack(&caller, &id).await?;
    let v: Option<Value> = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        Some(
            serde_json::from_slice(body)
                .map_err(|_| EngineError::bad("ValueError", "Metadata format invalid"))?,
        )
    };
    state
        .engine
        .signal(&stack, &resource, v, waitcondition)
        .await?;
    Ok((stack, resource))
}

async fn waitcondition(
    State(state): State<ApiState>,
    Extension(identity): Extension<Identity>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    match signalled(
        &state,
        &identity,
        &headers,
        &uri,
        "/v1/waitcondition/",
        &body,
        true,
    )
    .await
    {
        Ok((stack, resource)) => {
            let md = match state.engine.resource(&stack, &resource).await {
                Ok(r) => state
                    .engine
                    .metadata(&stack, &r)
                    .await
                    .unwrap_or(Value::Null),
                Err(_) => Value::Null,
            };
            let mut r = Response::new(Body::from(
                json!({"resource": resource, "metadata": md}).to_string(),
            ));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            r
        }
        Err(e) => e.cfn_response().map(Body::new),
    }
}

async fn signal(
    State(state): State<ApiState>,
    Extension(identity): Extension<Identity>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    match signalled(
        &state,
        &identity,
        &headers,
        &uri,
        "/v1/signal/",
        &body,
        false,
    )
    .await
    {
        Ok(_) => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::OK;
            r
        }
        Err(e) => e.cfn_response().map(Body::new),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_is_heats_shape_with_members_and_escapes() {
        let v = json!({"A": [{"B": "x<y"}, {"B": null}], "C": 3});
        assert_eq!(
            to_xml("R", &v),
            "<R><A><member><B>x&lt;y</B></member><member></member></A><C>3</C></R>"
        );
    }

    #[test]
    fn metadata_is_json_text_inside_xml_as_heat_writes_it() {
        let v = json!({"Metadata": {"role": "web", "n": [1, "é"]}, "TemplateBody": {}});
        assert_eq!(
            to_xml("R", &v),
            "<R><Metadata>{&quot;n&quot;: [1, &quot;\\u00e9&quot;], &quot;role&quot;: &quot;web&quot;}</Metadata><TemplateBody/></R>"
        );
    }

    #[test]
    fn json_answers_are_heats_json_serializer() {
        let r = answer(
            "DescribeStackResource",
            json!({"StackResourceDetail": {"Metadata": {"a": "b"}}}),
            Format::Json,
        );
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
    }

    #[tokio::test]
    async fn errors_become_json_errors_with_their_status() {
        let r = json_error(xml_error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "User is not authorized to perform action",
        ))
        .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            json!({"ErrorResponse": {"Error": {"Type": "Sender", "Code": "AccessDenied",
                "Message": "User is not authorized to perform action"}}})
        );
    }

    #[test]
    fn the_arn_and_resource_come_from_the_raw_path() {
        let uri: Uri =
            "/v1/waitcondition/arn%3Aopenstack%3Aheat%3A%3Ap1%3Astacks/web/abc/resources/a%252Fb"
                .parse()
                .unwrap();
        assert_eq!(
            resource_from_path(&uri, "/v1/waitcondition/"),
            Some(("abc".into(), "a/b".into()))
        );
    }
}
