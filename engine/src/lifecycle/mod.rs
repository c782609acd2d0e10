//! What happens to a stack after the API answered: resources created in
//! dependency order (stack domain users and keypairs in Keystone, wait
//! conditions waiting for their signals), rollback of the Keystone side on
//! failure, delete, and CHECK (deferred work with a trust-scoped token).
//!
//! Also the per-type views: references, attributes, metadata, and which stack
//! user may read which resource.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use crate::engine::{obj, Engine};
use crate::error::EngineError;
use crate::store::{ResourceRow, StackRow};
use crate::template::{Resolver, Template};

mod check;
mod create;
mod delete;
mod signal;
mod views;

pub(crate) use check::check;
pub(crate) use create::create;
pub(crate) use delete::delete;
pub(crate) use signal::parse_signal;
pub(crate) use views::{access_allowed, attributes, deployment_view, metadata, outputs};

const USER_TYPES: &[&str] = &[
    "OS::Heat::WaitConditionHandle",
    "AWS::CloudFormation::WaitConditionHandle",
    "AWS::IAM::User",
];

/// Whether a resource of this template needs a stack domain user.
pub(super) fn needs_user(type_name: &str, props: &Value) -> bool {
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
pub(super) fn physical_name(stack: &str, resource: &str) -> String {
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
    pub(super) params: Map<String, Value>,
    pub(super) refs: HashMap<String, Value>,
    pub(super) attrs: HashMap<String, Map<String, Value>>,
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

pub(super) fn secrets(
    engine: &Engine,
    res: &ResourceRow,
) -> Result<Map<String, Value>, EngineError> {
    match &res.data_enc {
        None => Ok(Map::new()),
        Some(sealed) => {
            let clear = engine.open(sealed)?;
            Ok(serde_json::from_str(clear.expose()).unwrap_or_default())
        }
    }
}

pub(super) fn seal_map(
    engine: &Engine,
    data: &Map<String, Value>,
) -> Result<Option<String>, EngineError> {
    if data.is_empty() {
        return Ok(None);
    }
    Ok(Some(engine.seal(&Value::Object(data.clone()).to_string())?))
}

pub(super) fn str_of(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_owned)
}

/// The Ref value of a resource.
pub(super) fn reference(res: &ResourceRow, data: &Map<String, Value>) -> Value {
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
pub(super) fn stored_attributes(
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
            // Heat: str(jsonutils.dumps({id: data})), ids in order of arrival.
            let data: Vec<Value> = signals
                .iter()
                .map(|s| {
                    s.data
                        .as_deref()
                        .and_then(|d| serde_json::from_str(d).ok())
                        .unwrap_or(Value::Null)
                })
                .collect();
            let text = crate::pyjson::dumps_pairs(
                signals
                    .iter()
                    .map(|s| s.signal_id.as_str())
                    .zip(data.iter()),
            );
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
            Some(h) => engine.store().latest_signals(&stack.id, &h).await?,
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
pub(super) fn handle_of(res: &ResourceRow) -> Option<String> {
    if !res.type_name.ends_with("WaitCondition") {
        return None;
    }
    str_of(obj(&res.attributes).get("handle_name"))
}

/// The resource named by a raw `handle` / `Handle` property: `{get_resource: X}`,
/// `{Ref: X}`, or a value equal to some handle's reference.
pub(super) fn handle_name(raw: &Value, st: &State) -> Option<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn physical_names_fit_keystone() {
        let n = physical_name(&"s".repeat(80), "r");
        assert_eq!(n.chars().count(), 64);
        assert!(physical_name("web", "h").starts_with("web-h-"));
    }
}
