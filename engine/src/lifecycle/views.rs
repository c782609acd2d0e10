//! What clients read: metadata, attributes, outputs, deployments, and which
//! stack user may read which resource.

use heatgate_keystone::Secret;
use serde_json::{json, Map, Value};

use super::{handle_of, secrets, state, stored_attributes};
use crate::engine::{obj, Engine};
use crate::error::EngineError;
use crate::store::{DeploymentRow, ResourceRow, StackRow};
use crate::template;

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
            for s in engine.store().latest_signals(&stack.id, &res.name).await? {
                let data: Value = s
                    .data
                    .as_deref()
                    .and_then(|d| serde_json::from_str(d).ok())
                    .unwrap_or(Value::Null);
                let v = if aws {
                    json!({"Status": s.status, "Reason": s.reason, "Data": data})
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
        Some(h) => engine.store().latest_signals(&stack.id, &h).await?,
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
    use crate::store::now;

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
}
