//! Validation of a parsed template, in Heat's order (`Stack.validate`):
//! function arguments, resource types, duplicate names, references and
//! cycles, then each resource in dependency order (functions, deletion
//! policy, properties, the type's own checks), then the outputs.

use std::collections::HashSet;

use indexmap::IndexMap;
use serde_json::{Map, Value};

use super::error::{join, join_index, ErrorKind, TemplateError};
use super::functions::{call, check_args, has_call, references, Func, RefKind, Resolver};
use super::params::pseudo_names;
use super::props::check_properties;
use super::pyfmt::{py_str, str_repr};
use super::registry::resource_type;
use super::{DeletionPolicy, Template};

/// A resolver that knows the parameters only (resources are not created).
struct ParamsOnly<'a>(&'a IndexMap<String, Value>);

impl Resolver for ParamsOnly<'_> {
    fn param(&self, name: &str) -> Option<Value> {
        self.0.get(name).cloned()
    }

    fn resource_ref(&self, _name: &str) -> Option<Value> {
        None
    }

    fn attribute(&self, _resource: &str, _attribute: &str) -> Option<Value> {
        None
    }
}

/// Where a snippet sits, for the checks that differ.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Resource,
    Output,
}

impl Template {
    /// Validate the template without parameter values: parameter
    /// declarations (constraints fit for the type, defaults that meet them),
    /// resource types,
    /// references (`The specified reference "x" (in wait.Properties.handle)
    /// is incorrect.`), cycles, function arguments, attribute names (`The
    /// Referenced Attribute (handle foo) is incorrect.`), unknown and missing
    /// properties (`Unknown Property foo`, `Property handle not assigned`) and
    /// the values written literally (types, allowed values, ranges). Values
    /// computed by functions are checked by
    /// [`Self::validate_with_parameters`] (those that depend on parameters
    /// only) and [`Self::resource_properties`] (all, at creation).
    pub fn validate(&self) -> Result<(), TemplateError> {
        self.check(None)
    }

    /// [`Self::validate`], and the property values that depend on parameters
    /// only, evaluated with `params` (as [`super::resolve_parameters`] gives
    /// them).
    pub fn validate_with_parameters(
        &self,
        params: &IndexMap<String, Value>,
    ) -> Result<(), TemplateError> {
        self.check(Some(params))
    }

    fn check(&self, params: Option<&IndexMap<String, Value>>) -> Result<(), TemplateError> {
        let n = self.names();
        for (name, def) in &self.parameters {
            def.validate_schema(name, self.format)?;
        }
        for (name, def) in &self.resources {
            let base = join(n.resources, name);
            self.check_shapes(&def.properties, &join(&base, n.properties))?;
            self.check_shapes(&def.metadata, &join(&base, n.metadata))?;
        }
        for (name, def) in &self.resources {
            if def.type_name.is_empty() {
                return Err(TemplateError::invalid(
                    join(&join(n.resources, name), n.type_key),
                    format!("Resource \"{name}\" has no type"),
                )
                .without_heat_path());
            }
            if resource_type(&def.type_name).is_none() {
                return Err(TemplateError::invalid(
                    join(&join(n.resources, name), n.type_key),
                    format!("The Resource Type ({}) could not be found.", def.type_name),
                )
                .without_heat_path());
            }
        }
        let param_names = self.param_names(params);
        let dups: Vec<String> = self
            .resources
            .keys()
            .filter(|r| param_names.contains(r.as_str()))
            .map(|r| str_repr(r))
            .collect();
        if !dups.is_empty() {
            return Err(TemplateError::invalid(
                n.resources,
                format!("Duplicate names {{{}}}", dups.join(", ")),
            )
            .without_heat_path());
        }
        let graph = self.dependency_graph()?;
        for name in graph.creation_order() {
            self.check_resource(name, params, &param_names)?;
        }
        for (name, def) in &self.outputs {
            let path = join(&join(n.outputs, name), n.value);
            self.check_shapes(&def.value, &path)?;
            self.check_calls(&def.value, &path, Place::Output, &param_names)?;
        }
        Ok(())
    }

    /// The names `get_param` / `Ref` may use.
    fn param_names(&self, params: Option<&IndexMap<String, Value>>) -> HashSet<String> {
        let mut names: HashSet<String> = self.parameters.keys().cloned().collect();
        match params {
            Some(p) => names.extend(p.keys().cloned()),
            None => {
                let pseudo = pseudo_names(self.format);
                names.extend(
                    pseudo
                        .iter()
                        .filter(|n| **n != "OS::region")
                        .map(|n| n.to_string()),
                );
            }
        }
        names
    }

    /// Whether `v` calls `get_file` (whose content the stack's files give).
    fn uses_files(&self, v: &Value) -> bool {
        if let Some((_, func, args)) = call(self.version, v) {
            return func == Func::GetFile || self.uses_files(args);
        }
        match v {
            Value::Object(m) => m.values().any(|x| self.uses_files(x)),
            Value::Array(a) => a.iter().any(|x| self.uses_files(x)),
            _ => false,
        }
    }

    /// Heat's checks of function arguments when the template is parsed.
    fn check_shapes(&self, v: &Value, path: &str) -> Result<(), TemplateError> {
        if let Some((name, func, args)) = call(self.version, v) {
            let here = join(path, name);
            let opaque = |x: &Value| call(self.version, x).is_some();
            if !matches!(func, Func::Removed | Func::Unsupported) {
                check_args(func, name, args, &opaque)
                    .map_err(|m| TemplateError::invalid(&here, m))?;
            }
            return self.check_shapes(args, &here);
        }
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    self.check_shapes(x, &join(path, k))?;
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    self.check_shapes(x, &join_index(path, i))?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Heat's `function.validate` (removed functions, attribute names) plus
    /// what this engine can tell before evaluation: unknown parameters and
    /// resources, functions it does not evaluate.
    fn check_calls(
        &self,
        v: &Value,
        path: &str,
        place: Place,
        params: &HashSet<String>,
    ) -> Result<(), TemplateError> {
        let Some((name, func, args)) = call(self.version, v) else {
            match v {
                Value::Object(m) => {
                    for (k, x) in m {
                        self.check_calls(x, &join(path, k), place, params)?;
                    }
                }
                Value::Array(a) => {
                    for (i, x) in a.iter().enumerate() {
                        self.check_calls(x, &join_index(path, i), place, params)?;
                    }
                }
                _ => {}
            }
            return Ok(());
        };
        let here = join(path, name);
        let is_call = |x: &Value| call(self.version, x).is_some();
        let not_literal = || {
            TemplateError::new(
                ErrorKind::Unsupported,
                &here,
                format!(
                    "The resource name in \"{name}\" must be written literally for this engine."
                ),
            )
        };
        let missing_resource = |resource: &str| {
            let message =
                format!("The specified reference \"{resource}\" (in unknown) is incorrect.");
            match place {
                Place::Output => TemplateError::invalid(&here, message),
                Place::Resource => {
                    TemplateError::new(ErrorKind::InvalidTemplateReference, &here, message)
                }
            }
        };
        match func {
            Func::Removed => {
                return Err(TemplateError::invalid(
                    &here,
                    super::functions::removed_message(name),
                ))
            }
            Func::Unsupported => {
                return Err(TemplateError::new(
                    ErrorKind::Unsupported,
                    &here,
                    super::functions::unsupported_message(name),
                ))
            }
            Func::GetResource => match args {
                Value::String(s) if self.resources.contains_key(s) => {}
                x if is_call(x) => return Err(not_literal()),
                other => return Err(missing_resource(&py_str(other))),
            },
            Func::GetAttThenSelect | Func::GetAtt | Func::GetAttAll | Func::CfnGetAtt => {
                if let Value::Array(a) = args {
                    match a.first() {
                        Some(x) if is_call(x) => return Err(not_literal()),
                        Some(Value::String(s)) if self.resources.contains_key(s) => {
                            if let (Some(Value::String(attr)), Some(t)) =
                                (a.get(1), resource_type(&self.resources[s].type_name))
                            {
                                if !t.has_attribute(attr) {
                                    return Err(TemplateError::invalid(
                                        &here,
                                        format!(
                                            "The Referenced Attribute ({s} {attr}) is incorrect."
                                        ),
                                    ));
                                }
                            }
                        }
                        Some(other) => return Err(missing_resource(&py_str(other))),
                        None => {}
                    }
                }
            }
            Func::Ref => match args {
                Value::String(s) if self.resources.contains_key(s) || params.contains(s) => {}
                x if is_call(x) => return Err(not_literal()),
                other => return Err(missing_resource(&py_str(other))),
            },
            Func::GetParam => {
                let param = match args {
                    Value::String(s) => Some(s.as_str()),
                    Value::Array(a) => a.first().and_then(Value::as_str),
                    _ => None,
                };
                if let Some(p) = param {
                    if !params.contains(p) {
                        return Err(TemplateError::new(
                            ErrorKind::UserParameterMissing,
                            &here,
                            format!("The Parameter ({p}) was not provided."),
                        ));
                    }
                }
            }
            _ => {}
        }
        self.check_calls(args, &here, place, params)
    }

    fn check_resource(
        &self,
        name: &str,
        params: Option<&IndexMap<String, Value>>,
        param_names: &HashSet<String>,
    ) -> Result<(), TemplateError> {
        let n = self.names();
        let def = &self.resources[name];
        let base = join(n.resources, name);
        let props_path = join(&base, n.properties);
        self.check_calls(&def.properties, &props_path, Place::Resource, param_names)?;
        self.check_calls(
            &def.metadata,
            &join(&base, n.metadata),
            Place::Resource,
            param_names,
        )?;
        let Some(rtype) = resource_type(&def.type_name) else {
            return Ok(());
        };
        if def.deletion_policy == DeletionPolicy::Snapshot && !rtype.snapshot_delete {
            return Err(TemplateError::invalid(
                join(&base, n.deletion_policy),
                "\"Snapshot\" deletion policy not supported",
            ));
        }

        // The values to check: literal ones, and with parameter values those
        // that depend on parameters only; the rest is left for creation time.
        let refers_to_resource = |v: &Value| {
            references(self.version, v)
                .iter()
                .any(|r| r.kind != RefKind::Ref || self.resources.contains_key(&r.resource))
        };
        let evaluable =
            |v: &Value| params.is_some() && !refers_to_resource(v) && !self.uses_files(v);
        let evaluate = |v: &Value, path: &str| -> Result<Value, TemplateError> {
            let Some(p) = params else {
                return Ok(v.clone());
            };
            self.evaluator(&ParamsOnly(p))
                .eval(v, path)
                .map_err(|e| TemplateError::property(path, e.message))
        };
        let data: Map<String, Value> = if call(self.version, &def.properties).is_some() {
            if !evaluable(&def.properties) {
                return Ok(());
            }
            match evaluate(&def.properties, &props_path)? {
                Value::Object(m) => m,
                _ => {
                    return Err(TemplateError::invalid(
                        join(&base, n.properties),
                        format!("Resource {name} {} type must be object", n.properties),
                    ))
                }
            }
        } else {
            let mut data = Map::new();
            for (k, v) in def.properties.as_object().into_iter().flatten() {
                let value = if has_call(self.version, v) && evaluable(v) {
                    evaluate(v, &join(&props_path, k))?
                } else {
                    v.clone()
                };
                data.insert(k.clone(), value);
            }
            data
        };
        let unchecked: HashSet<&str> = def
            .properties
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, v)| has_call(self.version, v) && !evaluable(v))
            .map(|(k, _)| k.as_str())
            .collect();
        let checked = check_properties(&rtype.properties, &data, &props_path, &|k| {
            unchecked.contains(k)
        })?;
        let known = |key: &str| !unchecked.contains(key);

        match rtype.name {
            "OS::Heat::RandomString"
                if ["length", "character_classes", "character_sequences"]
                    .iter()
                    .all(|k| known(k)) =>
            {
                let mins = |key: &str| -> i64 {
                    checked[key]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|item| item.get("min").and_then(Value::as_i64))
                        .sum()
                };
                let length = checked["length"].as_i64().unwrap_or(32);
                if mins("character_sequences") + mins("character_classes") > length {
                    return Err(TemplateError::invalid(
                        props_path,
                        "Length property cannot be smaller than combined character class and character \
                         sequence minimums",
                    )
                    .without_heat_path());
                }
            }
            "OS::Heat::AccessPolicy" if known("AllowedResources") => {
                for r in checked["AllowedResources"].as_array().into_iter().flatten() {
                    let r = py_str(r);
                    if !self.resources.contains_key(&r) {
                        return Err(TemplateError::invalid(
                            join(&props_path, "AllowedResources"),
                            format!("AccessPolicy resource {r} not in stack"),
                        )
                        .without_heat_path());
                    }
                }
            }
            "OS::Heat::SoftwareDeployment" => self.check_deployment_server(name, params)?,
            _ => {}
        }
        Ok(())
    }

    /// Heat's `SoftwareDeployment.validate`: the server it deploys to must
    /// take its user data as `SOFTWARE_CONFIG`.
    fn check_deployment_server(
        &self,
        name: &str,
        params: Option<&IndexMap<String, Value>>,
    ) -> Result<(), TemplateError> {
        let n = self.names();
        let def = &self.resources[name];
        let server = match def.properties.get("server") {
            Some(Value::String(s)) => s.clone(),
            Some(v) => match call(self.version, v) {
                Some((_, Func::GetResource | Func::Ref, Value::String(s))) => s.clone(),
                _ => return Ok(()),
            },
            None => return Ok(()),
        };
        let Some(target) = self.resources.get(&server) else {
            return Ok(());
        };
        if target.type_name != "OS::Nova::Server" {
            return Ok(());
        }
        let format = match target.properties.get("user_data_format") {
            None => Value::from("HEAT_CFNTOOLS"),
            Some(v) if !has_call(self.version, v) => v.clone(),
            Some(v) => match params {
                Some(p) if references(self.version, v).is_empty() => {
                    match self.evaluator(&ParamsOnly(p)).eval(v, "") {
                        Ok(v) => v,
                        Err(_) => return Ok(()),
                    }
                }
                _ => return Ok(()),
            },
        };
        if super::functions::truthy(&format) && format != "SOFTWARE_CONFIG" {
            return Err(TemplateError::invalid(
                join(&join(&join(n.resources, name), n.properties), "server"),
                format!(
                    "Resource {server}'s property user_data_format should be set to SOFTWARE_CONFIG since \
                     there are software deployments on it."
                ),
            )
            .without_heat_path());
        }
        Ok(())
    }
}
