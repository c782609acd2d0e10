//! Signal bodies per resource type, with Heat's defaults and checks.

use serde_json::{Map, Value};

use super::create::as_u64;
use super::str_of;
use crate::error::EngineError;

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
}
