//! Intrinsic functions: which ones each template version has, the resource
//! references they make, their argument checks and their evaluation (Heat's
//! `hot/functions.py` and `cfn/functions.py`).

use indexmap::IndexMap;
use serde_json::{Map, Value};

use super::error::{join, join_index, ErrorKind, TemplateError};
use super::pyfmt::{json_dumps, py_class, py_repr, py_str, py_type, str_repr};
use super::registry::resource_type;
use super::version::{TemplateFormat, Version};
use super::ResourceDef;

/// The functions this engine knows, by behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    GetParam,
    GetResource,
    Ref,
    /// HOT 2013-05-23 `get_attr`.
    GetAttThenSelect,
    /// HOT 2014-10-16 .. 2015-04-30 `get_attr`.
    GetAtt,
    /// HOT 2015-10-15 and later `get_attr` (the attribute may be left out).
    GetAttAll,
    CfnGetAtt,
    Replace,
    ReplaceJson,
    ReplaceStrict,
    ReplaceVeryStrict,
    CfnReplace,
    /// `list_join` before 2015-10-15 and `Fn::Join`.
    Join,
    JoinMultiple,
    Base64,
    Select,
    StrSplit,
    CfnSplit,
    ListConcat,
    ListConcatUnique,
    MapMerge,
    GetFile,
    /// In Heat's table for this version, as removed.
    Removed,
    /// In Heat's table for this version, not implemented by this engine.
    Unsupported,
}

const HOT_REMOVED_2014: [&str; 8] = [
    "Fn::GetAZs",
    "Fn::Join",
    "Fn::Split",
    "Fn::Replace",
    "Fn::Base64",
    "Fn::MemberListToMap",
    "Fn::ResourceFacade",
    "Ref",
];

/// The function `name` in templates of `version`, if Heat has it there.
pub(crate) fn lookup(version: Version, name: &str) -> Option<Func> {
    use Func as F;
    use Version as V;
    if version.format() == TemplateFormat::Cfn {
        return match name {
            "Ref" => Some(F::Ref),
            "Fn::GetAtt" => Some(F::CfnGetAtt),
            "Fn::Join" => Some(F::Join),
            "Fn::Base64" => Some(F::Base64),
            "Fn::Select" => Some(F::Select),
            "Fn::Split" => Some(F::CfnSplit),
            "Fn::Replace" => Some(F::CfnReplace),
            "Fn::FindInMap" | "Fn::GetAZs" | "Fn::MemberListToMap" | "Fn::ResourceFacade" => {
                Some(F::Unsupported)
            }
            "Fn::If" if version == V::Aws20100909 => Some(F::Unsupported),
            _ => None,
        };
    }
    if version == V::Hot20130523 {
        return match name {
            "get_param" => Some(F::GetParam),
            "get_resource" => Some(F::GetResource),
            "Ref" => Some(F::Ref),
            "get_attr" => Some(F::GetAttThenSelect),
            "Fn::Select" => Some(F::Select),
            "Fn::Join" | "list_join" => Some(F::Join),
            "Fn::Split" => Some(F::CfnSplit),
            "str_replace" => Some(F::Replace),
            "Fn::Replace" => Some(F::CfnReplace),
            "Fn::Base64" => Some(F::Base64),
            "get_file" => Some(F::GetFile),
            "Fn::GetAZs" | "Fn::MemberListToMap" | "resource_facade" | "Fn::ResourceFacade" => {
                Some(F::Unsupported)
            }
            _ => None,
        };
    }
    if HOT_REMOVED_2014.contains(&name) {
        return Some(F::Removed);
    }
    let since = |v: Version| version >= v;
    Some(match name {
        "get_param" => F::GetParam,
        "get_resource" => F::GetResource,
        "get_file" => F::GetFile,
        "get_attr" if since(V::Hot20151015) => F::GetAttAll,
        "get_attr" => F::GetAtt,
        "list_join" if since(V::Hot20151015) => F::JoinMultiple,
        "list_join" => F::Join,
        "str_replace" if since(V::Hot20151015) => F::ReplaceJson,
        "str_replace" => F::Replace,
        "Fn::Select" if since(V::Hot20151015) => F::Removed,
        "Fn::Select" => F::Select,
        "resource_facade" => F::Unsupported,
        "digest" | "repeat" if since(V::Hot20150430) => F::Unsupported,
        "str_split" if since(V::Hot20151015) => F::StrSplit,
        "map_merge" if since(V::Hot20160408) => F::MapMerge,
        "yaql" | "map_replace" | "if" if since(V::Hot20161014) => F::Unsupported,
        "filter" if since(V::Hot20170224) => F::Unsupported,
        "str_replace_strict" if since(V::Hot20170224) => F::ReplaceStrict,
        "str_replace_vstrict" if since(V::Hot20170901) => F::ReplaceVeryStrict,
        "list_concat" if since(V::Hot20170901) => F::ListConcat,
        "list_concat_unique" if since(V::Hot20170901) => F::ListConcatUnique,
        "make_url" | "contains" if since(V::Hot20170901) => F::Unsupported,
        _ => return None,
    })
}

/// Which functions a snippet may call: those of one template version, or
/// (for snippets evaluated without their template) those of any version,
/// HOT's newest first, then CFN's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Of(Version),
    Any,
}

impl From<Version> for Dialect {
    fn from(v: Version) -> Self {
        Dialect::Of(v)
    }
}

fn lookup_in(dialect: Dialect, name: &str) -> Option<Func> {
    match dialect {
        Dialect::Of(v) => lookup(v, name),
        Dialect::Any => match lookup(Version::Hot20210416, name) {
            Some(Func::Removed) | None => lookup(Version::Aws20100909, name),
            found => found,
        },
    }
}

/// The function call `v` is, in snippets of `dialect`: a map with one key
/// naming one of its functions.
pub(crate) fn call(dialect: impl Into<Dialect>, v: &Value) -> Option<(&str, Func, &Value)> {
    let Value::Object(m) = v else { return None };
    if m.len() != 1 {
        return None;
    }
    let (name, args) = m.iter().next()?;
    lookup_in(dialect.into(), name).map(|f| (name.as_str(), f, args))
}

/// Whether `v` holds a function call anywhere.
pub(crate) fn has_call(version: Version, v: &Value) -> bool {
    if call(version, v).is_some() {
        return true;
    }
    match v {
        Value::Object(m) => m.values().any(|x| has_call(version, x)),
        Value::Array(a) => a.iter().any(|x| has_call(version, x)),
        _ => false,
    }
}

/// Python's truth value.
pub(crate) fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

/// How a template value refers to a resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RefKind {
    /// `get_resource`.
    GetResource,
    /// CFN `Ref` (a resource, or a parameter when no resource has the name).
    Ref,
    /// `get_attr` / `Fn::GetAtt`, with the attribute name when it is literal
    /// (`None`: computed, or all attributes).
    GetAttr(Option<String>),
    /// `depends_on` / `DependsOn`.
    DependsOn,
}

/// A reference from a template value to a resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// The resource name.
    pub resource: String,
    /// How it is referred to.
    pub kind: RefKind,
    /// Where, relative to the value, in Heat's notation: keys joined by `.`,
    /// list items as `[i]`, the names of enclosing functions included (e.g.
    /// `user_data.str_replace.params.$url`); empty for the value itself.
    pub path: String,
}

/// Append a relative path part (`.key` or `[i]`) to `rel`.
fn rel_key(rel: &str, key: &str) -> String {
    format!("{rel}.{key}")
}

/// A relative path (`.a.b[0]`) as shown (`a.b[0]`).
pub(crate) fn shown(rel: &str) -> &str {
    rel.strip_prefix('.').unwrap_or(rel)
}

/// The resource references in `value` (a template snippet of `version`),
/// in Heat's order (a function's arguments before the function). Resource
/// names given by functions (not literally) are not references here.
pub fn references(version: Version, value: &Value) -> Vec<Reference> {
    let mut out = Vec::new();
    collect_refs(version, value, "", &mut out);
    for r in &mut out {
        r.path = shown(&r.path).to_string();
    }
    out
}

fn collect_refs(version: Version, v: &Value, rel: &str, out: &mut Vec<Reference>) {
    if let Some((name, func, args)) = call(version, v) {
        collect_refs(version, args, &rel_key(rel, name), out);
        let mut push = |resource: &Value, kind: RefKind| {
            if let Value::String(s) = resource {
                out.push(Reference {
                    resource: s.clone(),
                    kind,
                    path: rel.to_string(),
                });
            }
        };
        match func {
            Func::GetResource => push(args, RefKind::GetResource),
            Func::Ref => push(args, RefKind::Ref),
            Func::GetAttThenSelect | Func::GetAtt | Func::GetAttAll | Func::CfnGetAtt => {
                if let Value::Array(a) = args {
                    if let Some(first) = a.first() {
                        let attr = a.get(1).and_then(Value::as_str).map(str::to_string);
                        push(first, RefKind::GetAttr(attr));
                    }
                }
            }
            _ => {}
        }
        return;
    }
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                collect_refs(version, x, &rel_key(rel, k), out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                collect_refs(version, x, &join_index(rel, i), out);
            }
        }
        _ => {}
    }
}

fn incorrect_args(name: &str, example: &str) -> String {
    format!("Incorrect arguments to \"{name}\" should be: {example}")
}

fn join_example(name: &str) -> String {
    format!("\"{name}\" : [ \" \", [ \"str1\", \"str2\"]]")
}

fn join_multiple_example(name: &str) -> String {
    format!("\"{name}\" : [ \" \", [ \"str1\", \"str2\"] ...]")
}

fn str_split_example(name: &str) -> String {
    format!("\"{name}\" : [ \",\", \"apples,pears\", <index>]")
}

/// Heat's checks of a function's arguments when the template is parsed;
/// `opaque` tells nested function calls (which are neither lists nor maps
/// for these checks).
pub(crate) fn check_args(
    func: Func,
    name: &str,
    args: &Value,
    opaque: &dyn Fn(&Value) -> bool,
) -> Result<(), String> {
    let list = |v: &Value| -> Option<usize> {
        match v {
            Value::Array(a) => Some(a.len()),
            _ => None,
        }
    };
    let is_map = |v: &Value| v.is_object() && !opaque(v);
    match func {
        Func::GetAttThenSelect | Func::GetAtt => match list(args) {
            None => Err(format!("Argument to \"{name}\" must be a list")),
            Some(n) if n < 2 => Err(format!(
                "Arguments to \"{name}\" must be of the form [resource_name, attribute, (path), ...]"
            )),
            Some(_) => Ok(()),
        },
        Func::GetAttAll => {
            if !truthy(args) {
                Err(format!(
                    "Arguments to \"{name}\" can be of the next forms: [resource_name] or [resource_name, \
                     attribute, (path), ...]"
                ))
            } else if list(args).is_none() {
                Err(format!("Argument to \"{name}\" must be a list"))
            } else {
                Ok(())
            }
        }
        Func::CfnGetAtt => match list(args) {
            Some(2) => Ok(()),
            _ => Err(format!("Arguments to \"{name}\" must be of the form [resource_name, attribute]")),
        },
        Func::Replace | Func::ReplaceJson | Func::ReplaceStrict | Func::ReplaceVeryStrict => {
            let Value::Object(m) = args else {
                return Err(format!("Arguments to \"{name}\" must be a map"));
            };
            if opaque(args) {
                return Err(format!("Arguments to \"{name}\" must be a map"));
            }
            let (Some(params), Some(_)) = (m.get("params"), m.get("template")) else {
                let example = format!(
                    "{name}:\n              template: This is var1 template var2\n              params:\n                \
                     var1: a\n                var2: string"
                );
                return Err(str_repr(&format!("\"{name}\" syntax should be {example}")));
            };
            if !params.is_object() {
                return Err(format!("\"{name}\" parameters must be a mapping"));
            }
            Ok(())
        }
        Func::CfnReplace => {
            let example = format!(
                "{{\"{name}\": [ {{\"$var1\": \"foo\", \"%var2%\": \"bar\"}}, \"$var1 is %var2%\"]}}"
            );
            match args {
                Value::Array(a) if a.len() == 2 => {
                    if a[0].is_object() {
                        Ok(())
                    } else {
                        Err(format!("\"{name}\" parameters must be a mapping"))
                    }
                }
                _ => Err(incorrect_args(name, &example)),
            }
        }
        Func::Join => match list(args) {
            Some(2) => Ok(()),
            _ => Err(incorrect_args(name, &join_example(name))),
        },
        Func::JoinMultiple => match list(args) {
            Some(n) if n >= 2 => Ok(()),
            _ => Err(incorrect_args(name, &join_multiple_example(name))),
        },
        Func::Select => match list(args) {
            Some(2) => Ok(()),
            _ => Err(format!("Arguments to \"{name}\" must be of the form [index, collection]")),
        },
        Func::StrSplit => {
            if args.is_string() || is_map(args) {
                Err(incorrect_args(name, &str_split_example(name)))
            } else {
                Ok(())
            }
        }
        Func::CfnSplit => match list(args) {
            Some(2) => Ok(()),
            _ => Err(incorrect_args(name, &format!("\"{name}\" : [ \",\", \"str1,str2\"]]"))),
        },
        Func::Ref => match args {
            Value::Array(_) | Value::Object(_) => Err(format!("unhashable type: '{}'", py_type(args))),
            _ => Ok(()),
        },
        Func::GetParam
        | Func::GetResource
        | Func::Base64
        | Func::ListConcat
        | Func::ListConcatUnique
        | Func::MapMerge
        | Func::GetFile => Ok(()),
        Func::Removed => Err(removed_message(name)),
        Func::Unsupported => Err(unsupported_message(name)),
    }
}

pub(crate) fn removed_message(name: &str) -> String {
    format!("The template version is invalid: The function {name} is not supported in this version of HOT.")
}

pub(crate) fn unsupported_message(name: &str) -> String {
    format!("The function \"{name}\" is not supported by this engine.")
}

/// Where the values of functions come from when a template snippet is
/// evaluated: the stack's parameters and its resources as they are now.
pub trait Resolver {
    /// The value of parameter `name` (pseudo parameters included), `None` when
    /// the stack has no such parameter.
    fn param(&self, name: &str) -> Option<Value>;
    /// What `get_resource` / `Ref` of resource `name` gives (its physical id,
    /// or for an AWS wait condition handle its pre-signed URL); `None` while
    /// the resource has not been created, which evaluates to the resource's
    /// name, as Heat's `get_reference_id` gives.
    fn resource_ref(&self, name: &str) -> Option<Value>;
    /// Attribute `attribute` of resource `resource`; `None` while it is not
    /// available (not created yet), which evaluates to `null`.
    fn attribute(&self, resource: &str, attribute: &str) -> Option<Value>;
    /// The content the stack's `files` map holds for `get_file` key `key`.
    fn file(&self, key: &str) -> Option<String> {
        let _ = key;
        None
    }
}

/// Evaluation of snippets of one template (or, without `resources`, of a
/// snippet on its own).
pub(crate) struct Evaluator<'a> {
    pub(crate) dialect: Dialect,
    pub(crate) resources: Option<&'a IndexMap<String, ResourceDef>>,
    pub(crate) resolver: &'a dyn Resolver,
}

/// Evaluate the intrinsic functions in `value`, a snippet taken out of its
/// template, with the stack's current state from `resolver`: the functions
/// of every template version are recognised (HOT's newest meaning first,
/// then CFN's), `Ref` is a parameter when `resolver` has one of that name and
/// a resource otherwise, and resource names and attribute names are not
/// checked. [`Template::evaluate`](super::Template::evaluate) evaluates with
/// the template's own version and checks names; prefer it.
pub fn evaluate(value: &Value, resolver: &dyn Resolver) -> Result<Value, TemplateError> {
    Evaluator {
        dialect: Dialect::Any,
        resources: None,
        resolver,
    }
    .eval(value, "")
}

fn fail(path: &str, message: impl Into<String>) -> TemplateError {
    TemplateError::invalid(path, message)
}

/// Python's `int(x)` of an index or a path component.
fn py_index(v: &Value) -> Option<i64> {
    match v {
        Value::Bool(b) => Some(i64::from(*b)),
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f.trunc() as i64)),
        Value::String(s) => super::constraints::py_int(s).and_then(|v| v.as_i64()),
        _ => None,
    }
}

/// `seq[i]` with Python's negative indices.
fn nth<T>(items: &[T], i: i64) -> Option<&T> {
    let len = i64::try_from(items.len()).ok()?;
    let i = if i < 0 { i + len } else { i };
    usize::try_from(i).ok().and_then(|i| items.get(i))
}

/// One step of a path into a value, as Heat's `get_path_component` (with
/// `int_keys_from_text`: `get_param` turns text keys into list indices).
fn path_step(collection: &Value, key: &Value, int_keys_from_text: bool) -> Option<Value> {
    let key_is_int =
        matches!(key, Value::Bool(_)) || key.as_i64().is_some() || key.as_u64().is_some();
    if !key.is_string() && !key_is_int {
        return None;
    }
    match collection {
        Value::Object(m) => key.as_str().and_then(|k| m.get(k)).cloned(),
        Value::Array(a) => {
            if !key_is_int && !int_keys_from_text {
                return None;
            }
            let i = py_index(key)?;
            nth(a, i).cloned()
        }
        Value::String(s) => {
            if !key_is_int && !int_keys_from_text {
                return None;
            }
            let i = py_index(key)?;
            let chars: Vec<char> = s.chars().collect();
            nth(&chars, i).map(|c| Value::from(c.to_string()))
        }
        _ => None,
    }
}

fn select(mut v: Value, path: &[Value], int_keys_from_text: bool) -> Option<Value> {
    for key in path {
        v = path_step(&v, key, int_keys_from_text)?;
    }
    Some(v)
}

/// Python's `sorted(sorted(keys), key=len, reverse=True)`.
fn replacement_order(keys: &[String]) -> Vec<String> {
    let mut keys = keys.to_vec();
    keys.sort();
    keys.sort_by_key(|k| std::cmp::Reverse(k.chars().count()));
    keys
}

impl Evaluator<'_> {
    /// Evaluate `v`, at template path `path`.
    pub(crate) fn eval(&self, v: &Value, path: &str) -> Result<Value, TemplateError> {
        if let Some((name, func, args)) = call(self.dialect, v) {
            let here = join(path, name);
            let opaque = |x: &Value| call(self.dialect, x).is_some();
            check_args(func, name, args, &opaque).map_err(|m| match func {
                Func::Unsupported => TemplateError::new(ErrorKind::Unsupported, here.clone(), m),
                _ => fail(&here, m),
            })?;
            return self.apply(func, name, args, &here);
        }
        Ok(match v {
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, x) in m {
                    out.insert(k.clone(), self.eval(x, &join(path, k))?);
                }
                Value::Object(out)
            }
            Value::Array(a) => {
                let mut out = Vec::with_capacity(a.len());
                for (i, x) in a.iter().enumerate() {
                    out.push(self.eval(x, &join_index(path, i))?);
                }
                Value::Array(out)
            }
            other => other.clone(),
        })
    }

    fn resource_exists(&self, name: &str, path: &str) -> Result<(), TemplateError> {
        if self.resources.is_none_or(|r| r.contains_key(name)) {
            Ok(())
        } else {
            Err(TemplateError::new(
                ErrorKind::InvalidTemplateReference,
                path,
                format!("The specified reference \"{name}\" (in unknown) is incorrect."),
            ))
        }
    }

    fn reference(&self, name: &str) -> Value {
        self.resolver
            .resource_ref(name)
            .unwrap_or_else(|| Value::from(name))
    }

    fn get_attr(
        &self,
        name: &str,
        args: &[Value],
        all_allowed: bool,
        path: &str,
    ) -> Result<Value, TemplateError> {
        let resource = match args.first() {
            Some(Value::String(s)) => s.clone(),
            Some(other) => py_str(other),
            None => return Err(fail(path, format!("Argument to \"{name}\" must be a list"))),
        };
        self.resource_exists(&resource, path)?;
        let type_info = self
            .resources
            .and_then(|r| resource_type(&r[&resource].type_name));
        let Some(attr) = args.get(1) else {
            if !all_allowed {
                return Err(fail(path, format!("Argument to \"{name}\" must be a list")));
            }
            if self.resolver.resource_ref(&resource).is_none() {
                return Ok(Value::Null);
            }
            let mut out = Map::new();
            for a in type_info
                .iter()
                .flat_map(|t| t.attributes.iter())
                .filter(|a| **a != "show")
            {
                out.insert(
                    (*a).to_string(),
                    self.resolver.attribute(&resource, a).unwrap_or(Value::Null),
                );
            }
            return Ok(Value::Object(out));
        };
        let attr = py_str(attr);
        if type_info.is_some_and(|t| !t.has_attribute(&attr)) {
            return Err(TemplateError::new(
                ErrorKind::InvalidTemplateAttribute,
                path,
                format!("The Referenced Attribute ({resource} {attr}) is incorrect."),
            ));
        }
        Ok(match self.resolver.attribute(&resource, &attr) {
            None => Value::Null,
            Some(v) => select(v, &args[2..], false).unwrap_or(Value::Null),
        })
    }

    fn apply(
        &self,
        func: Func,
        name: &str,
        raw_args: &Value,
        path: &str,
    ) -> Result<Value, TemplateError> {
        let args = self.eval(raw_args, path)?;
        match func {
            Func::GetParam => {
                if !truthy(&args) {
                    return Err(fail(
                        path,
                        format!("Function \"{name}\" must have arguments"),
                    ));
                }
                let (param, rest): (&Value, &[Value]) = match &args {
                    Value::String(_) => (&args, &[]),
                    Value::Array(a) => (&a[0], &a[1..]),
                    _ => {
                        return Err(fail(
                            path,
                            format!("Argument to \"{name}\" must be string or list"),
                        ))
                    }
                };
                let Value::String(param) = param else {
                    return Err(fail(
                        path,
                        format!("Parameter name in \"{name}\" must be string"),
                    ));
                };
                let value = self.resolver.param(param).ok_or_else(|| {
                    TemplateError::new(
                        ErrorKind::UserParameterMissing,
                        path,
                        format!("The Parameter ({param}) was not provided."),
                    )
                })?;
                Ok(select(value, rest, true).unwrap_or_else(|| Value::from("")))
            }
            Func::GetResource => {
                let resource = match &args {
                    Value::String(s) => s.clone(),
                    other => py_str(other),
                };
                self.resource_exists(&resource, path)?;
                Ok(self.reference(&resource))
            }
            Func::Ref => {
                let key = match &args {
                    Value::String(s) => s.clone(),
                    Value::Array(_) | Value::Object(_) => {
                        return Err(fail(path, format!("unhashable type: '{}'", py_type(&args))))
                    }
                    other => py_str(other),
                };
                match self.resources {
                    Some(r) if r.contains_key(&key) => return Ok(self.reference(&key)),
                    Some(_) => {}
                    None => {
                        return Ok(self
                            .resolver
                            .param(&key)
                            .unwrap_or_else(|| self.reference(&key)));
                    }
                }
                self.resolver.param(&key).ok_or_else(|| {
                    TemplateError::new(
                        ErrorKind::InvalidTemplateReference,
                        path,
                        format!("The specified reference \"{key}\" (in unknown) is incorrect."),
                    )
                })
            }
            Func::GetAttThenSelect | Func::GetAtt | Func::GetAttAll | Func::CfnGetAtt => {
                let list = match &args {
                    Value::Array(a) => a.clone(),
                    _ => return Err(fail(path, format!("Argument to \"{name}\" must be a list"))),
                };
                self.get_attr(name, &list, func == Func::GetAttAll, path)
            }
            Func::Replace | Func::ReplaceJson | Func::ReplaceStrict | Func::ReplaceVeryStrict => {
                let (params, template) = match &args {
                    Value::Object(m) => (m.get("params").cloned(), m.get("template").cloned()),
                    _ => (None, None),
                };
                self.replace(
                    func,
                    name,
                    params.unwrap_or(Value::Null),
                    template.unwrap_or(Value::Null),
                    path,
                )
            }
            Func::CfnReplace => {
                let (params, template) = match &args {
                    Value::Array(a) if a.len() == 2 => (a[0].clone(), a[1].clone()),
                    _ => (Value::Null, Value::Null),
                };
                self.replace(func, name, params, template, path)
            }
            Func::Join | Func::JoinMultiple => self.join(func, name, &args, path),
            Func::Base64 => match args {
                Value::String(_) => Ok(args),
                _ => Err(fail(path, format!("\"{name}\" argument must be a string"))),
            },
            Func::Select => self.select_fn(name, &args, path),
            Func::StrSplit => self.str_split(name, &args, path),
            Func::CfnSplit => {
                let (Some(Value::String(delim)), Some(target)) = (raw_args.get(0), args.get(1))
                else {
                    return Err(fail(path, format!("Delimiter for {name} must be string")));
                };
                let Value::String(target) = target else {
                    return Err(fail(
                        path,
                        format!("String to split must be string; got {}", py_class(target)),
                    ));
                };
                if delim.is_empty() {
                    return Err(fail(path, "empty separator"));
                }
                Ok(Value::Array(
                    target.split(delim.as_str()).map(Value::from).collect(),
                ))
            }
            Func::ListConcat | Func::ListConcatUnique => {
                let example =
                    format!("\"{name}\" : [ [ <value 1>, <value 2> ], [ <value 3>, <value 4> ] ]");
                let Value::Array(lists) = &args else {
                    return Err(fail(path, incorrect_args(name, &example)));
                };
                let mut out: Vec<Value> = Vec::new();
                for item in lists {
                    match item {
                        Value::Null => {}
                        Value::Array(a) => out.extend(a.iter().cloned()),
                        other => {
                            return Err(fail(
                                path,
                                format!(
                                    "Incorrect arguments: Items to concat must be lists. {} contains an item \
                                     that is not a list: {}",
                                    json_dumps(&args),
                                    json_dumps(other)
                                ),
                            ))
                        }
                    }
                }
                if func == Func::ListConcatUnique {
                    let mut unique: Vec<Value> = Vec::new();
                    for v in out {
                        if !unique.iter().any(|u| super::pyfmt::py_eq(u, &v)) {
                            unique.push(v);
                        }
                    }
                    out = unique;
                }
                Ok(Value::Array(out))
            }
            Func::MapMerge => {
                let example =
                    format!("\"{name}\" : [ {{ \"key1\": \"val1\" }}, {{ \"key2\": \"val2\" }} ]");
                let items: Vec<Value> = match &args {
                    Value::Array(a) => a.clone(),
                    Value::String(s) => s.chars().map(|c| Value::from(c.to_string())).collect(),
                    _ => return Err(fail(path, incorrect_args(name, &example))),
                };
                let mut out = Map::new();
                for m in items {
                    match m {
                        Value::Null => {}
                        Value::Object(m) => out.extend(m),
                        other => {
                            let r: String = py_repr(&other).chars().take(200).collect();
                            return Err(fail(
                                path,
                                format!(
                                    "Incorrect arguments: Items to merge must be maps. {r} is type {} instead of a dict",
                                    py_class(&other)
                                ),
                            ));
                        }
                    }
                }
                Ok(Value::Object(out))
            }
            Func::GetFile => {
                let Value::String(key) = &args else {
                    return Err(fail(
                        path,
                        format!("Argument to \"{name}\" must be a string"),
                    ));
                };
                self.resolver.file(key).map(Value::from).ok_or_else(|| {
                    fail(
                        path,
                        format!("No content found in the \"files\" section for {name} path: {key}"),
                    )
                })
            }
            Func::Removed => Err(fail(path, removed_message(name))),
            Func::Unsupported => Err(TemplateError::new(
                ErrorKind::Unsupported,
                path,
                unsupported_message(name),
            )),
        }
    }

    fn replace(
        &self,
        func: Func,
        name: &str,
        params: Value,
        template: Value,
        path: &str,
    ) -> Result<Value, TemplateError> {
        let Value::String(template) = template else {
            return Err(fail(path, format!("\"{name}\" template must be a string")));
        };
        let Value::Object(mapping) = params else {
            return Err(fail(path, format!("\"{name}\" params must be a map")));
        };
        let json_values = matches!(
            func,
            Func::ReplaceJson | Func::ReplaceStrict | Func::ReplaceVeryStrict
        );
        let allow_empty = func != Func::ReplaceVeryStrict;
        let empty_error = |param: &str| {
            fail(
                path,
                format!(
                    "{name} has an undefined or empty value for param {param}, must be a defined non-empty value"
                ),
            )
        };
        let keys: Vec<String> = mapping.keys().cloned().collect();
        let order = replacement_order(&keys);
        let mut values = Vec::with_capacity(order.len());
        for key in &order {
            let v = &mapping[key];
            let text = match v {
                Value::Null if allow_empty => String::new(),
                Value::Null => return Err(empty_error(key)),
                Value::String(_) | Value::Number(_) | Value::Bool(_) => py_str(v),
                Value::Array(_) | Value::Object(_) if json_values => {
                    if !allow_empty && !truthy(v) {
                        return Err(empty_error(key));
                    }
                    json_dumps(v)
                }
                _ => {
                    return Err(fail(
                        path,
                        format!(
                        "\"{name}\" params must be strings or numbers, param {key} is not valid"
                    ),
                    ))
                }
            };
            if !allow_empty && text.is_empty() {
                return Err(empty_error(key));
            }
            if key.is_empty() {
                return Err(fail(path, "empty separator"));
            }
            values.push(text);
        }
        let mut found = vec![false; order.len()];
        let out = replace_rec(&template, &order, &values, 0, &mut found);
        if func == Func::ReplaceStrict || func == Func::ReplaceVeryStrict {
            let missing: Vec<String> = order
                .iter()
                .zip(&found)
                .filter(|(_, f)| !**f)
                .map(|(k, _)| k.clone())
                .collect();
            if !missing.is_empty() {
                return Err(fail(
                    path,
                    format!(
                        "The following params were not found in the template: {}",
                        replacement_order(&missing).join(",")
                    ),
                ));
            }
        }
        Ok(Value::from(out))
    }

    fn join(
        &self,
        func: Func,
        name: &str,
        args: &Value,
        path: &str,
    ) -> Result<Value, TemplateError> {
        let Value::Array(a) = args else {
            return Err(fail(path, incorrect_args(name, &join_example(name))));
        };
        let delim = a.first().cloned().unwrap_or(Value::Null);
        let mut strings: Vec<Value> = Vec::new();
        if func == Func::Join {
            match a.get(1) {
                None | Some(Value::Null) => {}
                Some(Value::Array(items)) => strings.extend(items.iter().cloned()),
                Some(_) => return Err(fail(path, format!("\"{name}\" must operate on a list"))),
            }
        } else {
            for jl in &a[1..] {
                if !truthy(jl) {
                    continue;
                }
                match jl {
                    Value::Array(items) => strings.extend(items.iter().cloned()),
                    _ => return Err(fail(path, format!("\"{name}\" must operate on a list"))),
                }
            }
        }
        let Value::String(delim) = delim else {
            return Err(fail(path, format!("\"{name}\" delimiter must be a string")));
        };
        let mut parts = Vec::with_capacity(strings.len());
        for s in &strings {
            parts.push(match s {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                Value::Array(_) | Value::Object(_) if func == Func::JoinMultiple => json_dumps(s),
                other => {
                    let r: String = py_repr(other).chars().take(200).collect();
                    return Err(fail(
                        path,
                        if func == Func::JoinMultiple {
                            format!("Items to join must be string, map or list not {r}")
                        } else {
                            format!("Items to join must be strings not {r}")
                        },
                    ));
                }
            });
        }
        Ok(Value::from(parts.join(&delim)))
    }

    fn select_fn(&self, name: &str, args: &Value, path: &str) -> Result<Value, TemplateError> {
        let (index, strings) = match args {
            Value::Array(a) if a.len() == 2 => (&a[0], a[1].clone()),
            _ => {
                return Err(fail(
                    path,
                    format!("Arguments to \"{name}\" must be of the form [index, collection]"),
                ))
            }
        };
        let strings = match strings {
            Value::String(s) if s.is_empty() => return Ok(Value::from("")),
            Value::String(s) => serde_json::from_str::<Value>(&s)
                .map_err(|e| fail(path, format!("\"{name}\": {e}")))?,
            other => other,
        };
        match &strings {
            Value::Object(m) => match index {
                Value::String(k) => Ok(m.get(k).cloned().unwrap_or_else(|| Value::from(""))),
                _ => Err(fail(path, format!("Index to \"{name}\" must be a string"))),
            },
            Value::Array(items) => match py_index(index) {
                Some(i) => Ok(nth(items, i).cloned().unwrap_or_else(|| Value::from(""))),
                None => Err(fail(
                    path,
                    format!("Index to \"{name}\" must be an integer"),
                )),
            },
            Value::Null => Ok(Value::from("")),
            _ => Err(fail(
                path,
                format!("Arguments to {name} not fully resolved"),
            )),
        }
    }

    fn str_split(&self, name: &str, args: &Value, path: &str) -> Result<Value, TemplateError> {
        let example = str_split_example(name);
        let Value::Array(a) = args else {
            return Err(fail(path, incorrect_args(name, &example)));
        };
        if a.len() < 2 {
            return Err(fail(path, incorrect_args(name, &example)));
        }
        let parts: Vec<String> = match (&a[0], &a[1]) {
            (_, Value::Null) => return Ok(Value::Null),
            (Value::String(d), Value::String(s)) if d.is_empty() => {
                let _ = s;
                return Err(fail(path, "empty separator"));
            }
            (Value::String(d), Value::String(s)) => {
                s.split(d.as_str()).map(str::to_string).collect()
            }
            (Value::Null, Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
            (d, Value::String(_)) => {
                return Err(fail(
                    path,
                    format!("must be str or None, not {}", py_type(d)),
                ))
            }
            (_, other) => {
                return Err(fail(
                    path,
                    format!("'{}' object has no attribute 'split'", py_type(other)),
                ))
            }
        };
        let Some(index) = a.get(2) else {
            return Ok(Value::Array(parts.into_iter().map(Value::from).collect()));
        };
        let Some(i) = py_index(index) else {
            return Err(fail(
                path,
                format!("Incorrect index to \"{name}\" should be: {example}"),
            ));
        };
        nth(&parts, i)
            .map(|s| Value::from(s.as_str()))
            .ok_or_else(|| {
                fail(
                    path,
                    format!(
                        "Incorrect index to \"{name}\" should be between 0 and {}",
                        parts.len() as i64 - 1
                    ),
                )
            })
    }
}

/// Heat's recursive split-and-join replacement: longer keys first, so a key
/// never replaces inside another's replacement.
fn replace_rec(
    s: &str,
    keys: &[String],
    values: &[String],
    i: usize,
    found: &mut [bool],
) -> String {
    if i == keys.len() {
        return s.to_string();
    }
    let pieces: Vec<&str> = s.split(keys[i].as_str()).collect();
    if pieces.len() > 1 {
        found[i] = true;
    }
    pieces
        .iter()
        .map(|p| replace_rec(p, keys, values, i + 1, found))
        .collect::<Vec<_>>()
        .join(&values[i])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_follow_heat() {
        assert_eq!(lookup(Version::Hot20130523, "Ref"), Some(Func::Ref));
        assert_eq!(lookup(Version::Hot20141016, "Ref"), Some(Func::Removed));
        assert_eq!(lookup(Version::Hot20141016, "get_attr"), Some(Func::GetAtt));
        assert_eq!(
            lookup(Version::Hot20151015, "get_attr"),
            Some(Func::GetAttAll)
        );
        assert_eq!(
            lookup(Version::Hot20141016, "Fn::Select"),
            Some(Func::Select)
        );
        assert_eq!(
            lookup(Version::Hot20151015, "Fn::Select"),
            Some(Func::Removed)
        );
        assert_eq!(lookup(Version::Hot20141016, "str_split"), None);
        assert_eq!(
            lookup(Version::Hot20170224, "str_replace_strict"),
            Some(Func::ReplaceStrict)
        );
        assert_eq!(lookup(Version::Hot20161014, "str_replace_strict"), None);
        assert_eq!(
            lookup(Version::Hot20210416, "repeat"),
            Some(Func::Unsupported)
        );
        assert_eq!(lookup(Version::Aws20100909, "get_resource"), None);
        assert_eq!(
            lookup(Version::Aws20100909, "Fn::GetAtt"),
            Some(Func::CfnGetAtt)
        );
        assert_eq!(lookup(Version::Heat20121212, "Fn::If"), None);
        assert_eq!(lookup(Version::Hot20210416, "no_such_function"), None);
    }

    #[test]
    fn references_with_heat_paths() {
        let v = json!({
            "handle": {"get_resource": "h"},
            "user_data": {"str_replace": {"template": "x", "params": {"$u": {"get_attr": ["h", "endpoint"]}}}},
            "list": [{"get_attr": ["s"]}],
            "data": {"Ref": "not-a-function-in-hot-2015"}
        });
        let refs = references(Version::Hot20151015, &v);
        let got: Vec<(&str, &RefKind, &str)> = refs
            .iter()
            .map(|r| (r.resource.as_str(), &r.kind, r.path.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("h", &RefKind::GetResource, "handle"),
                ("s", &RefKind::GetAttr(None), "list[0]"),
                (
                    "h",
                    &RefKind::GetAttr(Some("endpoint".into())),
                    "user_data.str_replace.params.$u"
                ),
            ]
        );
        let refs = references(
            Version::Aws20100909,
            &json!({"Handle": {"Ref": "H"}, "X": {"get_resource": "no"}}),
        );
        assert_eq!(refs.len(), 1);
        assert_eq!(
            (
                refs[0].resource.as_str(),
                &refs[0].kind,
                refs[0].path.as_str()
            ),
            ("H", &RefKind::Ref, "Handle")
        );
    }

    #[test]
    fn replacement_like_heat() {
        let keys = vec!["$a".to_string(), "$ab".to_string(), "b".to_string()];
        assert_eq!(replacement_order(&keys), ["$ab", "$a", "b"]);
        let values = vec!["1".to_string(), "2".to_string(), "3".to_string()];
        let mut found = vec![false; 3];
        // "$ab" first; the "b" of a replacement value is never touched again
        assert_eq!(
            replace_rec(
                "$ab-$a-b",
                &replacement_order(&keys),
                &values,
                0,
                &mut found
            ),
            "1-2-3"
        );
        assert_eq!(found, [true, true, true]);
    }
}
