//! Checking a resource's properties against its type's schema, as Heat's
//! `Properties.validate` and `Property.get_value` do: unknown and missing
//! properties, type conversion, defaults and constraints.

use serde_json::{Map, Value};

use super::constraints::{py_int, str_to_num, NumError};
use super::error::{join, join_index, TemplateError};
use super::pyfmt::{py_repr, py_str, py_type};
use super::registry::{PropertySchema, PropertyType};

/// Whether to leave a property unchecked, by name (its value holds functions
/// that cannot be resolved yet).
pub(crate) type Unchecked<'a> = &'a dyn Fn(&str) -> bool;

/// Check every property.
const ALL: Unchecked<'static> = &|_| false;

/// Check `data` (the properties, at template path `path`) against `schema`
/// and give every property's value: converted, defaulted, `null` when absent
/// without a default. The properties `unchecked` names are passed through
/// as they are.
pub(crate) fn check_properties(
    schema: &[PropertySchema],
    data: &Map<String, Value>,
    path: &str,
    unchecked: Unchecked<'_>,
) -> Result<Map<String, Value>, TemplateError> {
    for key in data.keys() {
        if !schema.iter().any(|p| p.name == key) {
            return Err(TemplateError::property(
                path,
                format!("Unknown Property {key}"),
            ));
        }
    }
    let mut out = Map::new();
    for prop in schema {
        let here = join(path, prop.name);
        let value = match data.get(prop.name) {
            Some(v) if unchecked(prop.name) => v.clone(),
            Some(v) => get_value(prop, v, &here)?,
            None => match &prop.default {
                Some(d) => get_value(prop, d, &here)?,
                None if prop.required => {
                    return Err(TemplateError::property(
                        path,
                        format!("Property {} not assigned", prop.name),
                    ))
                }
                None => Value::Null,
            },
        };
        if !prop.implemented && data.contains_key(prop.name) {
            return Err(TemplateError::property(
                path,
                format!("Property {} not implemented yet", prop.name),
            ));
        }
        out.insert(prop.name.to_string(), value);
    }
    Ok(out)
}

/// The default when the value is `null` (Heat: `default or <empty>`).
fn or_default(prop: &PropertySchema, empty: Value) -> Value {
    match &prop.default {
        Some(d) if super::functions::truthy(d) => d.clone(),
        _ => empty,
    }
}

/// Heat's `Property.get_value(value, validate=True)`.
fn get_value(prop: &PropertySchema, value: &Value, path: &str) -> Result<Value, TemplateError> {
    let fail = |m: String| TemplateError::property(path, m);
    let converted = match prop.property_type {
        PropertyType::String => {
            let v = if value.is_null() {
                or_default(prop, Value::from(""))
            } else {
                value.clone()
            };
            match v {
                Value::String(_) => v,
                Value::Bool(_) => Value::from(py_str(&v)),
                Value::Number(ref n) if !n.is_f64() => Value::from(py_str(&v)),
                other => {
                    return Err(fail(format!(
                        "Value must be a string; got {}",
                        py_repr(&other)
                    )))
                }
            }
        }
        PropertyType::Integer => {
            let v = if value.is_null() {
                or_default(prop, Value::from(0))
            } else {
                value.clone()
            };
            match &v {
                Value::Bool(b) => Value::from(i64::from(*b)),
                Value::Number(n) if n.is_f64() => Value::from(n.as_f64().unwrap_or(0.0).trunc() as i64),
                Value::Number(_) => v,
                Value::String(s) => {
                    py_int(s).ok_or_else(|| fail(format!("Value '{s}' is not an integer")))?
                }
                other => {
                    return Err(fail(format!(
                        "int() argument must be a string, a bytes-like object or a real number, not '{}'",
                        py_type(other)
                    )))
                }
            }
        }
        PropertyType::Number => {
            let v = if value.is_null() {
                or_default(prop, Value::from(0))
            } else {
                value.clone()
            };
            str_to_num(&v).map_err(|e| fail(NumError::message(e)))?
        }
        PropertyType::Boolean => {
            let v = if value.is_null() {
                or_default(prop, Value::Bool(false))
            } else {
                value.clone()
            };
            match &v {
                Value::Bool(_) => v,
                Value::String(s) => match s.to_lowercase().as_str() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    lower => return Err(fail(format!("\"{lower}\" is not a valid boolean"))),
                },
                other => {
                    return Err(fail(format!(
                        "\"{}\" is not a valid boolean",
                        py_str(other)
                    )))
                }
            }
        }
        PropertyType::Map => {
            let v = if value.is_null() {
                prop.default
                    .clone()
                    .unwrap_or_else(|| Value::Object(Map::new()))
            } else {
                value.clone()
            };
            match v {
                Value::Object(m) if prop.schema.is_empty() => Value::Object(m),
                Value::Object(m) => Value::Object(check_properties(&prop.schema, &m, path, ALL)?),
                other => return Err(fail(format!("\"{}\" is not a map", py_str(&other)))),
            }
        }
        PropertyType::List => {
            let v = if value.is_null() {
                or_default(prop, Value::Array(Vec::new()))
            } else {
                value.clone()
            };
            match v {
                Value::Array(items) if prop.schema.is_empty() => Value::Array(items),
                Value::Array(items) => {
                    let mut out = Vec::with_capacity(items.len());
                    for (i, item) in items.iter().enumerate() {
                        let here = join_index(path, i);
                        out.push(match item {
                            Value::Object(m) => {
                                Value::Object(check_properties(&prop.schema, m, &here, ALL)?)
                            }
                            Value::Null => Value::Object(check_properties(
                                &prop.schema,
                                &Map::new(),
                                &here,
                                ALL,
                            )?),
                            other => {
                                return Err(TemplateError::property(
                                    here,
                                    format!("\"{}\" is not a map", py_str(other)),
                                ))
                            }
                        });
                    }
                    Value::Array(out)
                }
                other => return Err(fail(format!("\"{}\" is not a list", py_repr(&other)))),
            }
        }
        PropertyType::Any => value.clone(),
    };
    let ty = prop.property_type.schema_type();
    for c in &prop.constraints {
        c.check(&converted, ty, prop.property_type.name())
            .map_err(fail)?;
    }
    Ok(converted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::registry::resource_type;
    use serde_json::json;

    fn check(type_name: &str, data: Value) -> Result<Map<String, Value>, String> {
        let t = resource_type(type_name).unwrap();
        let Value::Object(m) = data else { panic!() };
        check_properties(&t.properties, &m, "resources.r.properties", ALL)
            .map_err(|e| e.heat_message())
    }

    #[test]
    fn defaults_and_conversions() {
        let p = check(
            "OS::Heat::WaitCondition",
            json!({"handle": "h", "timeout": "600"}),
        )
        .unwrap();
        assert_eq!(p["timeout"], json!(600));
        assert_eq!(p["count"], json!(1));
        let p = check(
            "OS::Heat::WaitCondition",
            json!({"handle": "h", "timeout": 1.5, "count": "3"}),
        )
        .unwrap();
        assert_eq!(p["timeout"], json!(1.5));
        assert_eq!(p["count"], json!(3));
        let p = check("OS::Heat::RandomString", json!({})).unwrap();
        assert_eq!(p["length"], json!(32));
        assert_eq!(
            p["character_classes"],
            json!([{"class": "lettersdigits", "min": 1}])
        );
        assert_eq!(p["salt"], Value::Null);
        let p = check(
            "OS::Heat::RandomString",
            json!({"character_classes": [{"class": "digits"}]}),
        )
        .unwrap();
        assert_eq!(
            p["character_classes"],
            json!([{"class": "digits", "min": 1}])
        );
        let p = check("OS::Heat::SoftwareDeployment", json!({"server": 5})).unwrap();
        assert_eq!(p["server"], json!("5"));
        assert_eq!(p["signal_transport"], json!("CFN_SIGNAL"));
        assert_eq!(p["actions"], json!(["CREATE", "UPDATE"]));
        let p = check(
            "OS::Nova::Server",
            json!({"flavor": "m1.small", "config_drive": "True"}),
        )
        .unwrap();
        assert_eq!(p["config_drive"], json!(true));
        assert_eq!(p["software_config_transport"], json!("POLL_SERVER_CFN"));
        assert_eq!(p["user_data_format"], json!("HEAT_CFNTOOLS"));
    }

    #[test]
    fn heat_errors() {
        let e = |t: &str, d: Value| check(t, d).unwrap_err();
        assert_eq!(
            e("OS::Heat::WaitCondition", json!({"timeout": 10})),
            "Property error: resources.r.properties: Property handle not assigned"
        );
        assert_eq!(
            e(
                "OS::Heat::WaitCondition",
                json!({"handle": "h", "timeout": 10, "foo": 1})
            ),
            "Property error: resources.r.properties: Unknown Property foo"
        );
        assert_eq!(
            e(
                "OS::Heat::WaitCondition",
                json!({"handle": "h", "timeout": 10, "count": 0})
            ),
            "Property error: resources.r.properties.count: 0 is out of range (min: 1, max: None)"
        );
        assert_eq!(
            e("OS::Heat::WaitCondition", json!({"handle": "h", "timeout": "soon"})),
            "Property error: resources.r.properties.timeout: could not convert string to float: 'soon'"
        );
        assert_eq!(
            e(
                "OS::Heat::WaitCondition",
                json!({"handle": "h", "timeout": 10, "count": "2.5"})
            ),
            "Property error: resources.r.properties.count: Value '2.5' is not an integer"
        );
        assert_eq!(
            e(
                "OS::Heat::WaitCondition",
                json!({"handle": ["h"], "timeout": 10})
            ),
            "Property error: resources.r.properties.handle: Value must be a string; got ['h']"
        );
        assert_eq!(
            e("OS::Heat::WaitConditionHandle", json!({"signal_transport": "SMOKE"})),
            "Property error: resources.r.properties.signal_transport: \"SMOKE\" is not an allowed value \
             [\"CFN_SIGNAL\", \"TEMP_URL_SIGNAL\", \"HEAT_SIGNAL\", \"NO_SIGNAL\", \"ZAQAR_SIGNAL\", \"TOKEN_SIGNAL\"]"
        );
        assert_eq!(
            e(
                "OS::Heat::AccessPolicy",
                json!({"AllowedResources": "wait"})
            ),
            "Property error: resources.r.properties.AllowedResources: \"'wait'\" is not a list"
        );
        assert_eq!(
            e(
                "OS::Nova::Server",
                json!({"flavor": "f", "metadata": ["a"]})
            ),
            "Property error: resources.r.properties.metadata: \"['a']\" is not a map"
        );
        assert_eq!(
            e(
                "OS::Nova::Server",
                json!({"flavor": "f", "config_drive": "maybe"})
            ),
            "Property error: resources.r.properties.config_drive: \"maybe\" is not a valid boolean"
        );
        assert_eq!(
            e("OS::Heat::RandomString", json!({"character_sequences": [{"min": 2}]})),
            "Property error: resources.r.properties.character_sequences[0]: Property sequence not assigned"
        );
        assert_eq!(
            e("OS::Heat::RandomString", json!({"character_classes": [{"class": "emoji"}]})),
            "Property error: resources.r.properties.character_classes[0].class: \"emoji\" is not an allowed \
             value [\"lettersdigits\", \"letters\", \"lowercase\", \"uppercase\", \"digits\", \"hexdigits\", \"octdigits\"]"
        );
        assert_eq!(
            e(
                "OS::Heat::RandomString",
                json!({"character_classes": ["digits"]})
            ),
            "Property error: resources.r.properties.character_classes[0]: \"digits\" is not a map"
        );
        assert_eq!(
            e("AWS::IAM::AccessKey", json!({"UserName": "u", "Serial": 1})),
            "Property error: resources.r.properties: Property Serial not implemented yet"
        );
        assert_eq!(
            e("OS::Heat::RandomString", json!({"length": 0})),
            "Property error: resources.r.properties.length: 0 is out of range (min: 1, max: 512)"
        );
    }

    #[test]
    fn unchecked_values_pass() {
        let t = resource_type("OS::Heat::WaitCondition").unwrap();
        let Value::Object(m) =
            json!({"handle": {"get_resource": "h"}, "timeout": {"get_param": "t"}})
        else {
            panic!()
        };
        let p = check_properties(&t.properties, &m, "p", &|k| k != "count").unwrap();
        assert_eq!(p["timeout"], json!({"get_param": "t"}));
        assert_eq!(p["count"], json!(1));
    }
}
