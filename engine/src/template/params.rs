//! Parameters: their declarations (HOT `parameters`, CFN `Parameters`) and
//! the values a stack gets (Heat's `parameters.py`).

use indexmap::IndexMap;
use serde_json::{Map, Number, Value};

use super::constraints::{
    bool_from_string, str_to_num, AllowedPattern, Constraint, ConstraintKind, NumError, SchemaType,
};
use super::error::{join, ErrorKind, TemplateError};
use super::load::Doc;
use super::pyfmt::{py_repr, py_str};
use super::regex::Pattern;
use super::version::{TemplateFormat, Version};
use super::Template;

/// The type of a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamType {
    /// `string` / `String`.
    String,
    /// `number` / `Number`: an integer or a float.
    Number,
    /// `json` / `Json`: a map or a list.
    Json,
    /// `comma_delimited_list` / `CommaDelimitedList`: a list of strings.
    CommaDelimitedList,
    /// `boolean` / `Boolean`.
    Boolean,
}

impl ParamType {
    /// The type's name in a template of `format`.
    pub fn name(self, format: TemplateFormat) -> &'static str {
        match (format, self) {
            (TemplateFormat::Hot, Self::String) => "string",
            (TemplateFormat::Hot, Self::Number) => "number",
            (TemplateFormat::Hot, Self::Json) => "json",
            (TemplateFormat::Hot, Self::CommaDelimitedList) => "comma_delimited_list",
            (TemplateFormat::Hot, Self::Boolean) => "boolean",
            (TemplateFormat::Cfn, Self::String) => "String",
            (TemplateFormat::Cfn, Self::Number) => "Number",
            (TemplateFormat::Cfn, Self::Json) => "Json",
            (TemplateFormat::Cfn, Self::CommaDelimitedList) => "CommaDelimitedList",
            (TemplateFormat::Cfn, Self::Boolean) => "Boolean",
        }
    }

    fn from_name(format: TemplateFormat, name: &str) -> Option<Self> {
        [
            Self::String,
            Self::Number,
            Self::Json,
            Self::CommaDelimitedList,
            Self::Boolean,
        ]
        .into_iter()
        .find(|t| t.name(format) == name)
    }

    pub(crate) fn schema_type(self) -> SchemaType {
        match self {
            Self::String => SchemaType::String,
            Self::Number => SchemaType::Number,
            Self::Json => SchemaType::Map,
            Self::CommaDelimitedList => SchemaType::List,
            Self::Boolean => SchemaType::Boolean,
        }
    }
}

/// A parameter declaration.
#[derive(Debug, Clone, PartialEq)]
pub struct ParameterDef {
    /// The type.
    pub param_type: ParamType,
    /// The default value, as written.
    pub default: Option<Value>,
    /// The description.
    pub description: Option<String>,
    /// The label.
    pub label: Option<String>,
    /// `hidden` (HOT) / `NoEcho` (CFN): the value is shown as `******`.
    pub hidden: bool,
    /// `immutable` (HOT): the value may not change on update.
    pub immutable: bool,
    /// The constraints, in the template's order (CFN: range, length, allowed
    /// values, allowed pattern).
    pub constraints: Vec<Constraint>,
}

/// The values of the pseudo parameters, which the stack gives: `OS::stack_name`,
/// `OS::stack_id`, `OS::project_id` (HOT); `AWS::StackName`, `AWS::StackId`
/// (the stack's ARN, made from the name, id and project), `AWS::Region`
/// (CFN).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PseudoParameters {
    /// The stack name.
    pub stack_name: String,
    /// The stack id.
    pub stack_id: String,
    /// The owner project (tenant) id.
    pub project_id: String,
    /// `AWS::Region`; empty gives Heat's fixed value,
    /// [`HEAT_DEFAULT_REGION`].
    pub region: String,
}

impl PseudoParameters {
    /// Heat's stack ARN, `arn:openstack:heat::<tenant>:stacks/<name>/<id>`,
    /// each part URL-quoted.
    pub fn stack_arn(&self) -> String {
        format!(
            "arn:openstack:heat::{}:stacks/{}/{}",
            urlencoding::encode(&self.project_id),
            urlencoding::encode(&self.stack_name),
            urlencoding::encode(&self.stack_id)
        )
    }
}

/// The region Heat always answers for `AWS::Region`.
pub const HEAT_DEFAULT_REGION: &str = "ap-southeast-1";

fn schema_error(message: impl Into<String>) -> TemplateError {
    TemplateError::new(ErrorKind::InvalidSchema, "", message)
}

fn json(doc: &Doc) -> Result<Value, TemplateError> {
    doc.to_json()
}

/// Heat's `Schema.get_num` on a constraint bound.
fn get_num(doc: Option<&Doc>) -> Result<Option<Number>, TemplateError> {
    let Some(doc) = doc else { return Ok(None) };
    if *doc == Doc::Null {
        return Ok(None);
    }
    match str_to_num(&json(doc)?) {
        Ok(Value::Number(n)) => Ok(Some(n)),
        Ok(Value::Bool(b)) => Ok(Some(Number::from(u8::from(b)))),
        Ok(_) => Ok(None),
        Err(e) => Err(schema_error(e.message())),
    }
}

fn bounds(
    kind: &str,
    min: Option<Number>,
    max: Option<Number>,
) -> Result<ConstraintKind, TemplateError> {
    if min.is_none() && max.is_none() {
        return Err(schema_error(format!(
            "A {kind} constraint must have a min value and/or a max value specified."
        )));
    }
    if kind == "length"
        && [&min, &max]
            .iter()
            .any(|n| n.as_ref().is_some_and(Number::is_f64))
    {
        return Err(schema_error("min/max length must be integral"));
    }
    Ok(if kind == "length" {
        ConstraintKind::Length { min, max }
    } else {
        ConstraintKind::Range { min, max }
    })
}

fn check_keys(
    map: &IndexMap<String, Doc>,
    allowed: &[&str],
    entity: &str,
) -> Result<(), TemplateError> {
    for key in map.keys() {
        if !allowed.contains(&key.as_str()) {
            return Err(schema_error(format!("Invalid key '{key}' for {entity}")));
        }
    }
    Ok(())
}

fn as_map<'a>(doc: &'a Doc, entity: &str) -> Result<&'a IndexMap<String, Doc>, TemplateError> {
    match doc {
        Doc::Map(m) => Ok(m),
        _ => Err(schema_error(format!(
            "Invalid {entity}, expected a mapping"
        ))),
    }
}

fn allowed_values(doc: &Doc) -> Result<ConstraintKind, TemplateError> {
    match doc {
        Doc::Seq(items) => Ok(ConstraintKind::AllowedValues(
            items.iter().map(Doc::to_json).collect::<Result<_, _>>()?,
        )),
        _ => Err(schema_error("AllowedValues must be a list")),
    }
}

fn allowed_pattern(doc: &Doc) -> Result<ConstraintKind, TemplateError> {
    match doc {
        Doc::Str(s) => Pattern::new(s)
            .map(|p| ConstraintKind::AllowedPattern(AllowedPattern(p)))
            .map_err(|e| {
                schema_error(format!(
                    "Invalid allowed_pattern {}: {e}",
                    py_repr(&Value::from(s.as_str()))
                ))
            }),
        _ => Err(schema_error("AllowedPattern must be a string")),
    }
}

fn text(doc: Option<&Doc>) -> Result<Option<String>, TemplateError> {
    Ok(match doc {
        None | Some(Doc::Null) => None,
        Some(Doc::Str(s)) => Some(s.clone()),
        Some(other) => Some(py_str(&other.to_json()?)),
    })
}

const HOT_KEYS: [&str; 8] = [
    "type",
    "description",
    "default",
    "schema",
    "constraints",
    "hidden",
    "label",
    "immutable",
];
const CFN_KEYS: [&str; 12] = [
    "Type",
    "Default",
    "NoEcho",
    "AllowedValues",
    "AllowedPattern",
    "MaxLength",
    "MinLength",
    "MaxValue",
    "MinValue",
    "Description",
    "ConstraintDescription",
    "Label",
];

/// Heat's `Schema.from_dict` for one parameter declaration.
pub(crate) fn parse_parameter(
    version: Version,
    name: &str,
    doc: &Doc,
) -> Result<ParameterDef, TemplateError> {
    let format = version.format();
    let entity = format!("parameter ({name})");
    let map = as_map(doc, &entity)?;
    let type_key = if format == TemplateFormat::Hot {
        "type"
    } else {
        "Type"
    };
    if format == TemplateFormat::Hot {
        let mut keys = HOT_KEYS.to_vec();
        if version.hot_since(Version::Hot20180302) {
            keys.push("tags");
        }
        check_keys(map, &keys, &entity)?;
    } else {
        check_keys(map, &CFN_KEYS, &entity)?;
    }
    let Some(type_doc) = map.get(type_key) else {
        return Err(schema_error(format!(
            "Missing parameter type for parameter: {name}"
        )));
    };
    if let Some(tags) = map.get("tags") {
        if !matches!(tags, Doc::Seq(_)) {
            return Err(schema_error(format!(
                "Tags property should be a list for parameter: {name}"
            )));
        }
    }
    let param_type = match type_doc {
        Doc::Str(s) => ParamType::from_name(format, s),
        _ => None,
    }
    .ok_or_else(|| {
        schema_error(format!(
            "Invalid type ({})",
            py_str(&type_doc.to_json().unwrap_or(Value::Null))
        ))
    })?;
    let mut constraints = Vec::new();
    let default;
    let description;
    let hidden;
    let mut immutable = false;
    if format == TemplateFormat::Hot {
        default = map
            .get("default")
            .map(json)
            .transpose()?
            .filter(|v| !v.is_null());
        description = text(map.get("description"))?;
        hidden = map.get("hidden").is_some_and(Doc::truthy);
        immutable = map.get("immutable").is_some_and(Doc::truthy);
        match map.get("constraints") {
            None | Some(Doc::Null) => {}
            Some(Doc::Seq(items)) => {
                for item in items {
                    constraints.push(hot_constraint(version, item)?);
                }
            }
            Some(_) => {
                return Err(schema_error(format!(
                    "Invalid parameter constraints for parameter {name}, expected a list"
                )))
            }
        }
    } else {
        default = map
            .get("Default")
            .map(json)
            .transpose()?
            .filter(|v| !v.is_null());
        description = text(map.get("Description"))?;
        hidden = match map.get("NoEcho") {
            None => false,
            Some(d) => py_str(&d.to_json()?).to_lowercase() == "true",
        };
        let desc = text(map.get("ConstraintDescription"))?;
        let mut push = |kind| {
            constraints.push(Constraint {
                kind,
                description: desc.clone(),
            })
        };
        if map.contains_key("MinValue") || map.contains_key("MaxValue") {
            push(bounds(
                "range",
                get_num(map.get("MinValue"))?,
                get_num(map.get("MaxValue"))?,
            )?);
        }
        if map.contains_key("MinLength") || map.contains_key("MaxLength") {
            push(bounds(
                "length",
                get_num(map.get("MinLength"))?,
                get_num(map.get("MaxLength"))?,
            )?);
        }
        if let Some(d) = map.get("AllowedValues") {
            push(allowed_values(d)?);
        }
        if let Some(d) = map.get("AllowedPattern") {
            push(allowed_pattern(d)?);
        }
    }
    Ok(ParameterDef {
        param_type,
        default,
        description,
        label: text(map.get(if format == TemplateFormat::Hot {
            "label"
        } else {
            "Label"
        }))?,
        hidden,
        immutable,
        constraints,
    })
}

fn hot_constraint(version: Version, doc: &Doc) -> Result<Constraint, TemplateError> {
    let map = match doc {
        Doc::Map(m) => m,
        _ => {
            return Err(schema_error(
                "Invalid parameter constraints, expected a mapping",
            ))
        }
    };
    check_keys(
        map,
        &[
            "description",
            "length",
            "range",
            "modulo",
            "allowed_values",
            "allowed_pattern",
            "custom_constraint",
        ],
        "parameter constraints",
    )?;
    let description = text(map.get("description"))?;
    let kind = if let Some(d) = map.get("range") {
        let m = as_map(d, "range constraint")?;
        check_keys(m, &["min", "max"], "range constraint")?;
        bounds("range", get_num(m.get("min"))?, get_num(m.get("max"))?)?
    } else if let Some(d) = map.get("length") {
        let m = as_map(d, "length constraint")?;
        check_keys(m, &["min", "max"], "length constraint")?;
        bounds("length", get_num(m.get("min"))?, get_num(m.get("max"))?)?
    } else if let (Some(d), true) = (map.get("modulo"), version.hot_since(Version::Hot20170224)) {
        let m = as_map(d, "modulo constraint")?;
        check_keys(m, &["step", "offset"], "modulo constraint")?;
        match (get_num(m.get("step"))?, get_num(m.get("offset"))?) {
            (Some(step), Some(offset)) => {
                let (s, o) = (step.as_f64().unwrap_or(0.0), offset.as_f64().unwrap_or(0.0));
                if s.fract() != 0.0 || o.fract() != 0.0 {
                    return Err(schema_error("step/offset must be integer"));
                }
                if s == 0.0 {
                    return Err(schema_error("step cannot be 0."));
                }
                if o.abs() >= s.abs() {
                    return Err(schema_error(
                        "offset must be smaller (by absolute value) than step.",
                    ));
                }
                if s * o < 0.0 {
                    return Err(schema_error(
                        "step and offset must be both positive or both negative.",
                    ));
                }
                ConstraintKind::Modulo { step, offset }
            }
            _ => {
                return Err(schema_error(
                    "A modulo constraint must have a step value and an offset value specified.",
                ))
            }
        }
    } else if let Some(d) = map.get("allowed_values") {
        allowed_values(d)?
    } else if let Some(d) = map.get("allowed_pattern") {
        allowed_pattern(d)?
    } else if let Some(d) = map.get("custom_constraint") {
        ConstraintKind::Custom(py_str(&d.to_json()?))
    } else {
        return Err(schema_error("No constraint expressed"));
    };
    Ok(Constraint { kind, description })
}

/// Heat's `Parameter.validate` message for a bad value.
fn invalid(name: &str, message: impl std::fmt::Display) -> TemplateError {
    TemplateError::invalid(
        join("parameters", name),
        format!("Parameter '{name}' is invalid: {message}"),
    )
    .without_heat_path()
}

/// Heat's `Parameter.validate` message for a bad declaration.
fn invalid_schema(name: &str, message: impl std::fmt::Display) -> TemplateError {
    TemplateError::new(
        ErrorKind::InvalidSchema,
        join("parameters", name),
        format!("Parameter '{name}' is invalid: {message}"),
    )
}

impl ParameterDef {
    /// The value as Heat shows it in a stack's parameters: `******` when
    /// the parameter is hidden.
    pub fn display_value(&self, value: &Value) -> Value {
        if self.hidden {
            Value::from("******")
        } else {
            value.clone()
        }
    }

    fn type_label(&self, format: TemplateFormat) -> &'static str {
        self.param_type.name(format)
    }

    /// Heat's `Schema.validate`: constraints allowed for the type, and a
    /// default that meets them.
    pub(crate) fn validate_schema(
        &self,
        name: &str,
        format: TemplateFormat,
    ) -> Result<(), TemplateError> {
        let ty = self.param_type.schema_type();
        let label = self.type_label(format);
        for c in &self.constraints {
            if !c.valid_for(ty) {
                return Err(invalid_schema(
                    name,
                    format!("{} constraint invalid for {label}", c.class_name()),
                ));
            }
        }
        if let Some(default) = &self.default {
            let value = match (self.param_type, default) {
                (ParamType::CommaDelimitedList, Value::String(s)) => {
                    Value::Array(s.split(',').map(Value::from).collect())
                }
                (ParamType::CommaDelimitedList, Value::Array(items)) => {
                    Value::Array(items.iter().map(|v| Value::from(py_str(v))).collect())
                }
                (ParamType::CommaDelimitedList, other) => {
                    return Err(invalid_schema(
                        name,
                        format!(
                            "Default must be a comma-delimited list string: '{}' object has no attribute 'split'",
                            super::pyfmt::py_type(other)
                        ),
                    ))
                }
                (_, v) => v.clone(),
            };
            for c in self
                .constraints
                .iter()
                .filter(|c| !matches!(c.kind, ConstraintKind::Custom(_)))
            {
                if let Err(e) = c.check(&value, ty, label) {
                    return Err(invalid_schema(
                        name,
                        format!("Invalid default {} ({e})", py_str(default)),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Heat's `Parameter._validate` and `value()` for a given (or default)
    /// value: the typed value.
    fn typed_value(
        &self,
        name: &str,
        format: TemplateFormat,
        raw: &Value,
    ) -> Result<Value, TemplateError> {
        let ty = self.param_type.schema_type();
        let label = self.type_label(format);
        let check = |v: &Value| -> Result<(), TemplateError> {
            for c in &self.constraints {
                c.check(v, ty, label).map_err(|e| invalid(name, e))?;
            }
            Ok(())
        };
        match self.param_type {
            ParamType::String => {
                let s = Value::String(py_str(raw));
                check(&s)?;
                Ok(s)
            }
            ParamType::Number => {
                let n = str_to_num(raw).map_err(|e| invalid(name, NumError::message(e)))?;
                check(raw)?;
                Ok(n)
            }
            ParamType::Boolean => {
                let b = bool_from_string(raw).map_err(|e| invalid(name, e))?;
                check(raw)?;
                Ok(Value::Bool(b))
            }
            ParamType::CommaDelimitedList => {
                let list = match raw {
                    Value::Array(items) => Value::Array(items.iter().map(|v| Value::from(py_str(v))).collect()),
                    Value::String(s) if s.is_empty() => Value::Array(Vec::new()),
                    Value::String(s) => Value::Array(s.split(',').map(Value::from).collect()),
                    other => {
                        return Err(invalid(
                            name,
                            format!(
                                "Value must be a comma-delimited list string: '{}' object has no attribute 'split'",
                                super::pyfmt::py_type(other)
                            ),
                        ))
                    }
                };
                check(&list)?;
                Ok(list)
            }
            ParamType::Json => {
                let parsed = match raw {
                    Value::String(s) if s.is_empty() => raw.clone(),
                    Value::String(s) => serde_json::from_str::<Value>(s)
                        .map_err(|e| invalid(name, format!("Value must be valid JSON: {e}")))?,
                    other => other.clone(),
                };
                check(&parsed)?;
                Ok(parsed)
            }
        }
    }
}

fn pseudo(template: &Template, p: &PseudoParameters) -> Vec<(&'static str, Value)> {
    match template.format() {
        TemplateFormat::Hot => {
            let mut out = vec![
                ("OS::stack_id", Value::from(p.stack_id.as_str())),
                ("OS::project_id", Value::from(p.project_id.as_str())),
            ];
            if !p.stack_name.is_empty() {
                out.push(("OS::stack_name", Value::from(p.stack_name.as_str())));
            }
            out
        }
        TemplateFormat::Cfn => {
            let mut out = vec![("AWS::StackId", Value::from(p.stack_arn()))];
            if !p.stack_name.is_empty() {
                out.push(("AWS::StackName", Value::from(p.stack_name.as_str())));
                let region = if p.region.is_empty() {
                    HEAT_DEFAULT_REGION
                } else {
                    p.region.as_str()
                };
                out.push(("AWS::Region", Value::from(region)));
            }
            out
        }
    }
}

/// The names of the pseudo parameters of `format`.
pub(crate) fn pseudo_names(format: TemplateFormat) -> &'static [&'static str] {
    match format {
        TemplateFormat::Hot => &[
            "OS::stack_id",
            "OS::stack_name",
            "OS::region",
            "OS::project_id",
        ],
        TemplateFormat::Cfn => &["AWS::StackId", "AWS::StackName", "AWS::Region"],
    }
}

/// The parameter values of a stack, as Heat's `Parameters.validate` and
/// `Parameters[...]` give them: `given` are the user's values (by name), the
/// pseudo parameters come from `pseudo`. Returns every value by name, pseudo
/// parameters first, then the template's in template order, typed (`Number`
/// as a JSON number, `CommaDelimitedList` as a list of strings, `Json`
/// parsed, `Boolean` as a bool, `String` as text).
///
/// Errors (Heat's texts): a given name the template lacks — `The Parameter
/// (x) was not defined in template.`; no value and no default — `The
/// Parameter (x) was not provided.`; a bad value — `Parameter 'x' is invalid:
/// ...` with the constraint's message (e.g. `"m1.huge" is not an allowed
/// value ["m1.small", "m1.large"]`, `could not convert string to float:
/// 'abc'`, `length (3) is out of range (min: 8, max: None)`).
pub fn resolve_parameters(
    template: &Template,
    given: &Map<String, Value>,
    pseudo_values: &PseudoParameters,
) -> Result<IndexMap<String, Value>, TemplateError> {
    let format = template.format();
    for name in given.keys() {
        if !template.parameters.contains_key(name) {
            return Err(TemplateError::new(
                ErrorKind::UnknownUserParameter,
                join("parameters", name),
                format!("The Parameter ({name}) was not defined in template."),
            ));
        }
    }
    let mut out = IndexMap::new();
    for (name, value) in pseudo(template, pseudo_values) {
        out.insert(name.to_string(), value);
    }
    for (name, def) in &template.parameters {
        def.validate_schema(name, format)?;
        let raw = match given
            .get(name)
            .filter(|v| !v.is_null())
            .or(def.default.as_ref())
        {
            Some(v) => v,
            None => {
                return Err(TemplateError::new(
                    ErrorKind::UserParameterMissing,
                    join("parameters", name),
                    format!("The Parameter ({name}) was not provided."),
                ))
            }
        };
        let value = def.typed_value(name, format, raw)?;
        out.insert(name.clone(), value);
    }
    Ok(out)
}
