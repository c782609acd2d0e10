//! Templates: Heat's template subset for the minimal engine — parsing
//! (HOT YAML/JSON and CFN JSON), the model, validation with Heat's messages
//! and paths, parameter values, intrinsic functions and the order in which
//! resources are created.
//!
//! A stack create goes: [`parse`] the text; [`resolve_parameters`] with the
//! user's values; [`Template::validate_with_parameters`] (or
//! [`Template::validate`] without values); [`Template::creation_order`];
//! then, for each resource as it is created,
//! [`Template::resource_properties`] with a [`Resolver`] over the stack's
//! parameters and the resources created so far; outputs with
//! [`Template::output_value`].
//!
//! Every error is a [`TemplateError`]: Heat's exception type, the place in the
//! template (`resources.wait.properties.count` in HOT,
//! `Resources.Wait.Properties.Count` in CFN) and Heat's message.
//!
//! Limits of the subset, all reported as errors rather than ignored:
//! `conditions`, resource `condition`/`external_id`, and the functions this
//! engine does not evaluate (`repeat`, `if`, `yaql`, `digest`, `map_replace`,
//! `filter`, `make_url`, `contains`, `resource_facade`, `Fn::FindInMap`,
//! `Fn::GetAZs`, `Fn::MemberListToMap`, `Fn::ResourceFacade`, `Fn::If`).
//! YAML is read as YAML 1.2 (`yes`/`no`/`on`/`off` are strings, not booleans
//! as for Heat's YAML 1.1 loader); an `allowed_pattern` may not use
//! back-references, look-around or inline flags; custom constraints (e.g.
//! `nova.flavor`) are accepted and not checked.

mod constraints;
mod deps;
mod error;
mod functions;
mod load;
mod params;
mod props;
pub(crate) mod pyfmt;
mod regex;
mod registry;
mod validate;
mod version;

#[cfg(test)]
mod tests;

use indexmap::IndexMap;
use serde_json::{Map, Value};

pub use constraints::{AllowedPattern, Constraint, ConstraintKind};
pub use deps::DependencyGraph;
pub use error::{ErrorKind, TemplateError};
pub use functions::{evaluate, references, RefKind, Reference, Resolver};
pub use load::MAX_TEMPLATE_SIZE;
pub use params::{
    resolve_parameters, ParamType, ParameterDef, PseudoParameters, HEAT_DEFAULT_REGION,
};
pub use registry::{resource_type, resource_types, PropertySchema, PropertyType, ResourceType};
pub use version::{TemplateFormat, Version};

use error::join;
use functions::{call, Evaluator};
use load::Doc;
use pyfmt::py_str;

/// What happens to a resource's physical resource when the stack deletes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DeletionPolicy {
    /// Deleted with the stack (the default).
    #[default]
    Delete,
    /// Left in place.
    Retain,
    /// Snapshotted, then deleted.
    Snapshot,
}

/// A resource of the template.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceDef {
    /// The resource type, e.g. `OS::Heat::WaitConditionHandle`.
    pub type_name: String,
    /// The properties as written (an object, or a function call giving one).
    pub properties: Value,
    /// The metadata as written (an object, or a function call giving one).
    pub metadata: Value,
    /// The explicit dependencies (`depends_on` / `DependsOn`).
    pub depends_on: Vec<String>,
    /// The deletion policy.
    pub deletion_policy: DeletionPolicy,
    /// The update policy as written, if any.
    pub update_policy: Option<Value>,
    /// The resource's description, if any.
    pub description: Option<String>,
}

impl ResourceDef {
    /// The engine's description of the resource type (`None` for a type the
    /// engine lacks, which [`Template::validate`] reports).
    pub fn resource_type(&self) -> Option<&'static ResourceType> {
        registry::resource_type(&self.type_name)
    }
}

/// An output of the template.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputDef {
    /// The value as written.
    pub value: Value,
    /// The description, if any.
    pub description: Option<String>,
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// HOT or CFN.
    pub format: TemplateFormat,
    /// The version.
    pub version: Version,
    /// The version as written (e.g. `wallaby` for [`Version::Hot20210416`]).
    pub version_label: String,
    /// The description, if any.
    pub description: Option<String>,
    /// The parameters, in template order.
    pub parameters: IndexMap<String, ParameterDef>,
    /// The resources, in template order.
    pub resources: IndexMap<String, ResourceDef>,
    /// The outputs, in template order.
    pub outputs: IndexMap<String, OutputDef>,
    /// The whole template as JSON (what Heat returns as the stack's template).
    pub raw: Value,
}

/// Section and key names of the two formats.
struct Names {
    description: &'static str,
    parameters: &'static str,
    resources: &'static str,
    outputs: &'static str,
    type_key: &'static str,
    properties: &'static str,
    metadata: &'static str,
    depends_on: &'static str,
    deletion_policy: &'static str,
    update_policy: &'static str,
    rsrc_description: &'static str,
    value: &'static str,
}

const HOT_NAMES: Names = Names {
    description: "description",
    parameters: "parameters",
    resources: "resources",
    outputs: "outputs",
    type_key: "type",
    properties: "properties",
    metadata: "metadata",
    depends_on: "depends_on",
    deletion_policy: "deletion_policy",
    update_policy: "update_policy",
    rsrc_description: "description",
    value: "value",
};

const CFN_NAMES: Names = Names {
    description: "Description",
    parameters: "Parameters",
    resources: "Resources",
    outputs: "Outputs",
    type_key: "Type",
    properties: "Properties",
    metadata: "Metadata",
    depends_on: "DependsOn",
    deletion_policy: "DeletionPolicy",
    update_policy: "UpdatePolicy",
    rsrc_description: "Description",
    value: "Value",
};

fn names(format: TemplateFormat) -> &'static Names {
    match format {
        TemplateFormat::Hot => &HOT_NAMES,
        TemplateFormat::Cfn => &CFN_NAMES,
    }
}

/// Parse a template the way Heat's API does (`template_format.parse`, then
/// the template's structure): JSON when the text is JSON, YAML otherwise; at
/// most [`MAX_TEMPLATE_SIZE`] bytes; a mapping with a known version
/// (`heat_template_version` 2013-05-23 to 2021-04-16 or a release name,
/// `AWSTemplateFormatVersion: 2010-09-09`, `HeatTemplateFormatVersion:
/// 2012-12-12`); well-formed sections, parameter declarations, resources and
/// outputs. What the resources say (types, properties, references) is checked
/// by [`Template::validate`].
///
/// ```
/// use heatgate_engine::template::{parse, TemplateFormat};
///
/// let text = r#"
/// heat_template_version: 2013-05-23
/// resources:
///   handle:
///     type: OS::Heat::WaitConditionHandle
///   wait:
///     type: OS::Heat::WaitCondition
///     properties:
///       handle: {get_resource: handle}
///       timeout: 600
/// "#;
/// let t = parse(text).unwrap();
/// assert_eq!(t.format, TemplateFormat::Hot);
/// assert_eq!(t.version_label, "2013-05-23");
/// t.validate().unwrap();
/// assert_eq!(t.creation_order().unwrap(), ["handle", "wait"]);
///
/// let e = parse("heat_template_version: 2013-05-23\nresources: {w: {type: OS::Heat::WaitCondition}}\n")
///     .unwrap()
///     .validate()
///     .unwrap_err();
/// assert_eq!(e.to_string(), "resources.w.properties: Property handle not assigned");
/// ```
pub fn parse(text: &str) -> Result<Template, TemplateError> {
    let map = load::parse_text(text)?;
    let (version, version_label) = version::detect(&map)?;
    let format = version.format();
    let n = names(format);

    let parameters = parse_parameters(version, map.get(n.parameters))?;
    check_sections(version, &map)?;
    let resources = parse_resources(version, map.get(n.resources))?;
    let outputs = parse_outputs(version, map.get(n.outputs))?;
    let description = match map.get(n.description) {
        None | Some(Doc::Null) => None,
        Some(Doc::Str(s)) => Some(s.clone()),
        Some(other) => Some(py_str(&other.to_json()?)),
    };
    let raw = Doc::Map(map).to_json()?;
    Ok(Template {
        format,
        version,
        version_label,
        description,
        parameters,
        resources,
        outputs,
        raw,
    })
}

fn check_sections(version: Version, map: &IndexMap<String, Doc>) -> Result<(), TemplateError> {
    let (known, conditions): (&[&str], &str) = match version.format() {
        TemplateFormat::Hot => (
            &[
                "heat_template_version",
                "description",
                "parameter_groups",
                "parameters",
                "resources",
                "outputs",
            ],
            if version.hot_since(Version::Hot20161014) {
                "conditions"
            } else {
                ""
            },
        ),
        TemplateFormat::Cfn => (
            &[
                "AWSTemplateFormatVersion",
                "HeatTemplateFormatVersion",
                "Description",
                "Mappings",
                "Parameters",
                "Resources",
                "Outputs",
            ],
            if version == Version::Aws20100909 {
                "Conditions"
            } else {
                ""
            },
        ),
    };
    for key in map.keys() {
        if !conditions.is_empty() && key == conditions {
            return Err(TemplateError::new(
                ErrorKind::Unsupported,
                key.as_str(),
                format!("The {key} section is not supported by this engine."),
            ));
        }
        if !known.contains(&key.as_str()) {
            return Err(TemplateError::new(
                ErrorKind::InvalidTemplateSection,
                key.as_str(),
                format!("The template section is invalid: {key}"),
            ));
        }
    }
    Ok(())
}

fn section_map<'a>(
    name: &str,
    doc: Option<&'a Doc>,
    entity: &str,
) -> Result<Option<&'a IndexMap<String, Doc>>, TemplateError> {
    match doc {
        None | Some(Doc::Null) => Ok(None),
        Some(Doc::Map(m)) => Ok(Some(m)),
        Some(other) => Err(TemplateError::invalid(
            name,
            format!(
                "\"{name}\" must contain a map of {entity} maps. Found a [<class '{}'>] instead",
                other.py_type()
            ),
        )
        .without_heat_path()),
    }
}

fn parse_parameters(
    version: Version,
    doc: Option<&Doc>,
) -> Result<IndexMap<String, ParameterDef>, TemplateError> {
    let n = names(version.format());
    let mut out = IndexMap::new();
    if let Some(map) = section_map(n.parameters, doc, "parameter")? {
        for (name, def) in map {
            let p = params::parse_parameter(version, name, def)
                .map_err(|e| e.at(join(n.parameters, name)))?;
            out.insert(name.clone(), p);
        }
    }
    Ok(out)
}

fn hot_resource_keys(version: Version) -> &'static [&'static str] {
    if version.hot_since(Version::Hot20161014) {
        &[
            "type",
            "properties",
            "metadata",
            "depends_on",
            "deletion_policy",
            "update_policy",
            "description",
            "external_id",
            "condition",
        ]
    } else {
        &[
            "type",
            "properties",
            "metadata",
            "depends_on",
            "deletion_policy",
            "update_policy",
            "description",
        ]
    }
}

fn parse_resources(
    version: Version,
    doc: Option<&Doc>,
) -> Result<IndexMap<String, ResourceDef>, TemplateError> {
    let format = version.format();
    let n = names(format);
    let Some(map) = section_map(n.resources, doc, "resource")? else {
        return Ok(IndexMap::new());
    };
    let invalid = |path: String, msg: String| TemplateError::invalid(path, msg).without_heat_path();

    // Heat checks HOT resource definitions in name order, then the type of
    // every resource, then each definition's fields in template order.
    if format == TemplateFormat::Hot {
        let mut sorted: Vec<(&String, &Doc)> = map.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        let missing_type = "Each resource must contain a type key.".to_string();
        for (name, attrs) in sorted {
            let path = join(n.resources, name);
            if !attrs.truthy() {
                return Err(invalid(path, missing_type));
            }
            let Doc::Map(attrs) = attrs else {
                return Err(invalid(
                    path,
                    format!(
                        "\"resources\" must contain a map of resource maps. Found a [<class '{}'>] instead",
                        attrs.py_type()
                    ),
                ));
            };
            for key in attrs.keys() {
                if !hot_resource_keys(version).contains(&key.as_str()) {
                    return Err(invalid(
                        join(&path, key),
                        format!("\"{key}\" is not a valid keyword inside a resource definition"),
                    ));
                }
            }
            if !attrs.contains_key("type") {
                return Err(invalid(path, missing_type));
            }
        }
    }
    for (name, attrs) in map {
        let path = join(n.resources, name);
        match attrs {
            Doc::Map(m) if m.get(n.type_key).is_some_and(Doc::truthy) => {}
            Doc::Map(_) | Doc::Null => {
                return Err(invalid(
                    join(&path, n.type_key),
                    "Each Resource must contain a Type key.".into(),
                ))
            }
            other if !other.truthy() => {
                return Err(invalid(
                    path,
                    "Each Resource must contain a Type key.".into(),
                ))
            }
            other => {
                return Err(invalid(
                    path,
                    format!(
                        "Resources must contain Resource. Found a [<class '{}'>] instead",
                        other.py_type()
                    ),
                ))
            }
        }
    }

    let mut out = IndexMap::new();
    for (name, attrs) in map {
        let path = join(n.resources, name);
        let Doc::Map(attrs) = attrs else { continue };
        for key in ["condition", "external_id"] {
            let key = if format == TemplateFormat::Hot {
                key.to_string()
            } else {
                "Condition".to_string()
            };
            if attrs.contains_key(&key) {
                return Err(TemplateError::new(
                    ErrorKind::Unsupported,
                    join(&path, &key),
                    format!("The resource keyword \"{key}\" is not supported by this engine."),
                ));
            }
        }
        let type_error = |key: &str, typename: &str| {
            invalid(
                join(&path, key),
                format!("Resource {name} {key} type must be {typename}"),
            )
        };
        let type_name = match &attrs[n.type_key] {
            Doc::Str(s) => s.clone(),
            _ => return Err(type_error(n.type_key, "string")),
        };
        let object_field = |key: &str| -> Result<Value, TemplateError> {
            match attrs.get(key) {
                None => Ok(Value::Object(Map::new())),
                Some(d) => {
                    let v = d.to_json()?;
                    if v.is_object() {
                        Ok(v)
                    } else {
                        Err(type_error(key, "object"))
                    }
                }
            }
        };
        let properties = object_field(n.properties)?;
        let metadata = object_field(n.metadata)?;
        let depends_on = match attrs.get(n.depends_on) {
            None => Vec::new(),
            Some(Doc::Str(s)) => vec![s.clone()],
            Some(Doc::Seq(items)) => {
                let mut deps = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Doc::Str(s) => deps.push(s.clone()),
                        _ => {
                            return Err(invalid(
                                join(&path, n.depends_on),
                                format!(
                                    "Resource {name} {} must be a list of strings",
                                    n.depends_on
                                ),
                            ))
                        }
                    }
                }
                deps
            }
            Some(_) => return Err(type_error(n.depends_on, "list or string")),
        };
        let deletion_policy = match attrs.get(n.deletion_policy) {
            None | Some(Doc::Null) => DeletionPolicy::Delete,
            Some(Doc::Str(s)) => {
                let lower_ok = version.hot_since(Version::Hot20161014);
                match s.as_str() {
                    "Delete" => DeletionPolicy::Delete,
                    "Retain" => DeletionPolicy::Retain,
                    "Snapshot" => DeletionPolicy::Snapshot,
                    "delete" if lower_ok => DeletionPolicy::Delete,
                    "retain" if lower_ok => DeletionPolicy::Retain,
                    "snapshot" if lower_ok => DeletionPolicy::Snapshot,
                    other => {
                        return Err(invalid(
                            join(&path, n.deletion_policy),
                            format!("Invalid deletion policy \"{other}\""),
                        ))
                    }
                }
            }
            Some(d) if d.to_json().is_ok_and(|v| call(version, &v).is_some()) => {
                return Err(TemplateError::new(
                    ErrorKind::Unsupported,
                    join(&path, n.deletion_policy),
                    "A deletion policy given by a function is not supported by this engine.",
                ))
            }
            Some(_) => return Err(type_error(n.deletion_policy, "string")),
        };
        let update_policy = match attrs.get(n.update_policy) {
            None => None,
            Some(d) => match d.to_json()? {
                v @ Value::Object(_) => Some(v),
                _ => return Err(type_error(n.update_policy, "object")),
            },
        };
        let description = match attrs.get(n.rsrc_description) {
            None => None,
            Some(Doc::Str(s)) => Some(s.clone()),
            Some(_) => return Err(type_error(n.rsrc_description, "string")),
        };
        out.insert(
            name.clone(),
            ResourceDef {
                type_name,
                properties,
                metadata,
                depends_on,
                deletion_policy,
                update_policy,
                description,
            },
        );
    }
    Ok(out)
}

fn parse_outputs(
    version: Version,
    doc: Option<&Doc>,
) -> Result<IndexMap<String, OutputDef>, TemplateError> {
    let format = version.format();
    let n = names(format);
    let Some(map) = section_map(n.outputs, doc, "output")? else {
        return Ok(IndexMap::new());
    };
    let mut out = IndexMap::new();
    if format == TemplateFormat::Hot {
        let allowed: &[&str] = if version.hot_since(Version::Hot20161014) {
            &["description", "value", "condition"]
        } else {
            &["description", "value"]
        };
        let mut sorted: Vec<(&String, &Doc)> = map.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        for (name, attrs) in sorted {
            let path = join(n.outputs, name);
            let missing = || {
                TemplateError::invalid(path.clone(), "Each output must contain a value key.")
                    .without_heat_path()
            };
            if !attrs.truthy() {
                return Err(missing());
            }
            let Doc::Map(attrs) = attrs else {
                return Err(TemplateError::invalid(
                    path.clone(),
                    format!(
                        "\"outputs\" must contain a map of output maps. Found a [<class '{}'>] instead",
                        attrs.py_type()
                    ),
                )
                .without_heat_path());
            };
            for key in attrs.keys() {
                if !allowed.contains(&key.as_str()) {
                    return Err(TemplateError::invalid(
                        join(&path, key),
                        format!("\"{key}\" is not a valid keyword inside a output definition"),
                    )
                    .without_heat_path());
                }
            }
            if !attrs.contains_key("value") {
                return Err(missing());
            }
        }
    }
    for (name, attrs) in map {
        let path = join(n.outputs, name);
        let error = |message: String| {
            TemplateError::invalid(path.clone(), message).with_heat_error("Output validation error")
        };
        let attrs = match attrs {
            Doc::Map(m) => m,
            other => {
                return Err(error(format!(
                    "Output definitions must be a map. Found a {} instead",
                    other.py_type()
                )));
            }
        };
        let Some(value) = attrs.get(n.value) else {
            return Err(error(format!(
                "Each output definition must contain a {} key.",
                n.value
            )));
        };
        let cond = if format == TemplateFormat::Hot {
            "condition"
        } else {
            "Condition"
        };
        if attrs.contains_key(cond) {
            return Err(TemplateError::new(
                ErrorKind::Unsupported,
                join(&path, cond),
                format!("The output keyword \"{cond}\" is not supported by this engine."),
            ));
        }
        let description = match attrs.get(n.description) {
            None | Some(Doc::Null) => None,
            Some(Doc::Str(s)) => Some(s.clone()),
            Some(other) => Some(py_str(&other.to_json()?)),
        };
        out.insert(
            name.clone(),
            OutputDef {
                value: value.to_json()?,
                description,
            },
        );
    }
    Ok(out)
}

impl Template {
    /// HOT or CFN.
    pub fn format(&self) -> TemplateFormat {
        self.format
    }

    /// The template's name for a section or resource key (`resources` /
    /// `Resources`, `properties` / `Properties`, ...).
    fn names(&self) -> &'static Names {
        names(self.format)
    }

    /// The resource references in `value` (a snippet of this template).
    pub fn references(&self, value: &Value) -> Vec<Reference> {
        functions::references(self.version, value)
    }

    /// Evaluate the intrinsic functions in `value` (a snippet of this
    /// template) with the stack's current state from `resolver`. Error paths
    /// are relative to `value`.
    pub fn evaluate(&self, value: &Value, resolver: &dyn Resolver) -> Result<Value, TemplateError> {
        self.evaluator(resolver).eval(value, "")
    }

    fn evaluator<'a>(&'a self, resolver: &'a dyn Resolver) -> Evaluator<'a> {
        Evaluator {
            dialect: self.version.into(),
            resources: Some(&self.resources),
            resolver,
        }
    }

    /// The properties of resource `name`, evaluated with `resolver` and
    /// checked against the resource type: every property of the type, with
    /// defaults applied, values converted to the property's type (`null` for
    /// an absent property without default). Errors are Heat's `Property
    /// error`s at `resources.<name>.properties...`.
    pub fn resource_properties(
        &self,
        name: &str,
        resolver: &dyn Resolver,
    ) -> Result<Map<String, Value>, TemplateError> {
        let n = self.names();
        let def = self.resources.get(name).ok_or_else(|| {
            TemplateError::new(
                ErrorKind::InvalidTemplateReference,
                join(n.resources, name),
                format!("The specified reference \"{name}\" (in unknown) is incorrect."),
            )
        })?;
        let path = join(&join(n.resources, name), n.properties);
        let rtype = def.resource_type().ok_or_else(|| {
            TemplateError::invalid(
                join(&join(n.resources, name), n.type_key),
                format!("The Resource Type ({}) could not be found.", def.type_name),
            )
            .without_heat_path()
        })?;
        let evaluated = self.evaluator(resolver).eval(&def.properties, &path)?;
        let Value::Object(data) = evaluated else {
            return Err(TemplateError::invalid(
                path,
                format!("Resource {name} {} type must be object", n.properties),
            ));
        };
        props::check_properties(&rtype.properties, &data, &path, &|_| false)
    }

    /// The metadata of resource `name`, evaluated with `resolver`.
    pub fn resource_metadata(
        &self,
        name: &str,
        resolver: &dyn Resolver,
    ) -> Result<Value, TemplateError> {
        let n = self.names();
        let Some(def) = self.resources.get(name) else {
            return Ok(Value::Object(Map::new()));
        };
        self.evaluator(resolver)
            .eval(&def.metadata, &join(&join(n.resources, name), n.metadata))
    }

    /// The value of output `name`, evaluated with `resolver` (`null` values
    /// for resources not created yet, as Heat shows them).
    pub fn output_value(
        &self,
        name: &str,
        resolver: &dyn Resolver,
    ) -> Result<Value, TemplateError> {
        let n = self.names();
        let Some(def) = self.outputs.get(name) else {
            return Ok(Value::Null);
        };
        self.evaluator(resolver)
            .eval(&def.value, &join(&join(n.outputs, name), n.value))
    }
}
