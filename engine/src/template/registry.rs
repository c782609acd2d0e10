//! The resource types of the minimal engine: their property schemas (as in
//! Heat's resource plugins, with Heat's defaults) and attribute names.

use std::sync::LazyLock;

use serde_json::{json, Number, Value};

use super::constraints::{Constraint, ConstraintKind, SchemaType};

/// A property's data type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PropertyType {
    /// Text (integers and booleans are turned into text).
    String,
    /// An integer (text is parsed).
    Integer,
    /// An integer or a float (text is parsed).
    Number,
    /// `true`/`false` (or the text `"true"`/`"false"`).
    Boolean,
    /// A map.
    Map,
    /// A list.
    List,
    /// Anything.
    Any,
}

impl PropertyType {
    /// Heat's name of the type, as in its messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::String => "String",
            Self::Integer => "Integer",
            Self::Number => "Number",
            Self::Boolean => "Boolean",
            Self::Map => "Map",
            Self::List => "List",
            Self::Any => "Any",
        }
    }

    pub(crate) fn schema_type(self) -> SchemaType {
        match self {
            Self::String => SchemaType::String,
            Self::Integer => SchemaType::Integer,
            Self::Number => SchemaType::Number,
            Self::Boolean => SchemaType::Boolean,
            Self::Map => SchemaType::Map,
            Self::List => SchemaType::List,
            Self::Any => SchemaType::Any,
        }
    }
}

/// The schema of one property.
#[derive(Debug, Clone)]
pub struct PropertySchema {
    /// The property name.
    pub name: &'static str,
    /// The data type.
    pub property_type: PropertyType,
    /// Whether a value must be given.
    pub required: bool,
    /// The default value.
    pub default: Option<Value>,
    /// Constraints on the value.
    pub constraints: Vec<Constraint>,
    /// For a `Map`: the schemas of its keys; for a `List`: the schemas of the
    /// keys of each item (each item a map). Empty: free-form.
    pub schema: Vec<PropertySchema>,
    /// False for properties Heat declares but refuses ("not implemented yet").
    pub implemented: bool,
}

/// A resource type.
#[derive(Debug, Clone)]
pub struct ResourceType {
    /// The type name, e.g. `OS::Heat::WaitCondition`.
    pub name: &'static str,
    /// Heat's class name (as in its dependency messages).
    pub class_name: &'static str,
    /// The properties, in Heat's order.
    pub properties: Vec<PropertySchema>,
    /// The attribute names (`show`, which every resource has, included).
    pub attributes: Vec<&'static str>,
    /// Whether other attribute names are accepted too (a software deployment
    /// exposes its config's outputs).
    pub any_attribute: bool,
    /// Whether the `Snapshot` deletion policy is supported.
    pub snapshot_delete: bool,
}

impl ResourceType {
    /// Whether `name` is an attribute of this type.
    pub fn has_attribute(&self, name: &str) -> bool {
        self.any_attribute || self.attributes.contains(&name)
    }

    /// The schema of property `name`.
    pub fn property(&self, name: &str) -> Option<&PropertySchema> {
        self.properties.iter().find(|p| p.name == name)
    }
}

fn prop(name: &'static str, property_type: PropertyType) -> PropertySchema {
    PropertySchema {
        name,
        property_type,
        required: false,
        default: None,
        constraints: Vec::new(),
        schema: Vec::new(),
        implemented: true,
    }
}

impl PropertySchema {
    fn required(mut self) -> Self {
        self.required = true;
        self
    }

    fn default(mut self, v: Value) -> Self {
        self.default = Some(v);
        self
    }

    fn allowed(mut self, values: &[&str]) -> Self {
        self.constraints.push(Constraint {
            kind: ConstraintKind::AllowedValues(values.iter().map(|v| Value::from(*v)).collect()),
            description: None,
        });
        self
    }

    fn range(mut self, min: Option<i64>, max: Option<i64>) -> Self {
        self.constraints.push(Constraint {
            kind: ConstraintKind::Range {
                min: min.map(Number::from),
                max: max.map(Number::from),
            },
            description: None,
        });
        self
    }

    fn children(mut self, schema: Vec<PropertySchema>) -> Self {
        self.schema = schema;
        self
    }

    fn not_implemented(mut self) -> Self {
        self.implemented = false;
        self
    }
}

const CHARACTER_CLASSES: &[&str] = &[
    "lettersdigits",
    "letters",
    "lowercase",
    "uppercase",
    "digits",
    "hexdigits",
    "octdigits",
];
const HANDLE_SIGNAL_TRANSPORTS: &[&str] = &[
    "CFN_SIGNAL",
    "TEMP_URL_SIGNAL",
    "HEAT_SIGNAL",
    "NO_SIGNAL",
    "ZAQAR_SIGNAL",
    "TOKEN_SIGNAL",
];
const DEPLOYMENT_SIGNAL_TRANSPORTS: &[&str] = &[
    "CFN_SIGNAL",
    "TEMP_URL_SIGNAL",
    "HEAT_SIGNAL",
    "NO_SIGNAL",
    "ZAQAR_SIGNAL",
];
const IO_TYPES: &[&str] = &["String", "Number", "CommaDelimitedList", "Json", "Boolean"];

fn rtype(
    name: &'static str,
    class_name: &'static str,
    properties: Vec<PropertySchema>,
    attributes: &[&'static str],
) -> ResourceType {
    let mut attrs = attributes.to_vec();
    attrs.push("show");
    ResourceType {
        name,
        class_name,
        properties,
        attributes: attrs,
        any_attribute: false,
        snapshot_delete: false,
    }
}

fn build() -> Vec<ResourceType> {
    use PropertyType as T;
    let mut deployment = rtype(
        "OS::Heat::SoftwareDeployment",
        "SoftwareDeployment",
        vec![
            prop("config", T::String),
            prop("server", T::String).required(),
            prop("input_values", T::Map),
            prop("actions", T::List)
                .default(json!(["CREATE", "UPDATE"]))
                .allowed(&["CREATE", "UPDATE", "DELETE", "SUSPEND", "RESUME"]),
            prop("name", T::String),
            prop("signal_transport", T::String)
                .default(json!("CFN_SIGNAL"))
                .allowed(DEPLOYMENT_SIGNAL_TRANSPORTS),
        ],
        &["deploy_stdout", "deploy_stderr", "deploy_status_code"],
    );
    deployment.any_attribute = true;
    let mut server = rtype(
        "OS::Nova::Server",
        "Server",
        vec![
            prop("name", T::String),
            prop("image", T::String),
            prop("block_device_mapping", T::List),
            prop("block_device_mapping_v2", T::List),
            prop("flavor", T::String).required(),
            prop("flavor_update_policy", T::String)
                .default(json!("RESIZE"))
                .allowed(&["RESIZE", "REPLACE"]),
            prop("image_update_policy", T::String)
                .default(json!("REBUILD"))
                .allowed(&["REBUILD", "REPLACE", "REBUILD_PRESERVE_EPHEMERAL"]),
            prop("key_name", T::String),
            prop("admin_user", T::String),
            prop("availability_zone", T::String),
            prop("security_groups", T::List).default(json!([])),
            prop("networks", T::List),
            prop("scheduler_hints", T::Map),
            prop("metadata", T::Map).default(json!({})),
            prop("user_data_format", T::String)
                .default(json!("HEAT_CFNTOOLS"))
                .allowed(&["HEAT_CFNTOOLS", "RAW", "SOFTWARE_CONFIG"]),
            prop("user_data", T::String).default(json!("")),
            prop("reservation_id", T::String),
            prop("config_drive", T::Boolean),
            prop("diskConfig", T::String).allowed(&["AUTO", "MANUAL"]),
            prop("personality", T::Map).default(json!({})),
            prop("admin_pass", T::String),
            prop("software_config_transport", T::String)
                .default(json!("POLL_SERVER_CFN"))
                .allowed(&[
                    "POLL_SERVER_CFN",
                    "POLL_SERVER_HEAT",
                    "POLL_TEMP_URL",
                    "ZAQAR_MESSAGE",
                ]),
            prop("user_data_update_policy", T::String)
                .default(json!("REPLACE"))
                .allowed(&["REPLACE", "IGNORE", "REBUILD"]),
            prop("tags", T::List),
            prop("deployment_swift_data", T::Map).default(json!({})),
        ],
        &[
            "name",
            "addresses",
            "networks",
            "first_address",
            "instance_name",
            "accessIPv4",
            "accessIPv6",
            "console_urls",
            "tags",
            "os_collect_config",
        ],
    );
    server.snapshot_delete = true;
    vec![
        rtype("OS::Heat::None", "NoneResource", vec![], &[]),
        rtype(
            "OS::Heat::RandomString",
            "RandomString",
            vec![
                prop("length", T::Integer)
                    .default(json!(32))
                    .range(Some(1), Some(512)),
                prop("sequence", T::String).allowed(CHARACTER_CLASSES),
                prop("character_classes", T::List)
                    .default(json!([{"class": "lettersdigits", "min": 1}]))
                    .children(vec![
                        prop("class", T::String)
                            .default(json!("lettersdigits"))
                            .allowed(CHARACTER_CLASSES),
                        prop("min", T::Integer)
                            .default(json!(1))
                            .range(Some(1), Some(512)),
                    ]),
                prop("character_sequences", T::List).children(vec![
                    prop("sequence", T::String).required(),
                    prop("min", T::Integer)
                        .default(json!(1))
                        .range(Some(1), Some(512)),
                ]),
                prop("salt", T::String),
            ],
            &["value"],
        ),
        rtype(
            "OS::Heat::WaitConditionHandle",
            "HeatWaitConditionHandle",
            vec![prop("signal_transport", T::String)
                .default(json!("TOKEN_SIGNAL"))
                .allowed(HANDLE_SIGNAL_TRANSPORTS)],
            &["token", "endpoint", "curl_cli", "signal"],
        ),
        rtype(
            "OS::Heat::WaitCondition",
            "HeatWaitCondition",
            vec![
                prop("handle", T::String).required(),
                prop("timeout", T::Number)
                    .required()
                    .range(Some(1), Some(43200)),
                prop("count", T::Integer)
                    .default(json!(1))
                    .range(Some(1), None),
            ],
            &["data"],
        ),
        rtype(
            "AWS::CloudFormation::WaitConditionHandle",
            "WaitConditionHandle",
            vec![],
            &[],
        ),
        rtype(
            "AWS::CloudFormation::WaitCondition",
            "WaitCondition",
            vec![
                prop("Handle", T::String).required(),
                prop("Timeout", T::Integer)
                    .required()
                    .range(Some(1), Some(43200)),
                prop("Count", T::Integer)
                    .default(json!(1))
                    .range(Some(1), None),
            ],
            &["Data"],
        ),
        rtype(
            "OS::Heat::SoftwareConfig",
            "SoftwareConfig",
            vec![
                prop("group", T::String).default(json!("Heat::Ungrouped")),
                prop("config", T::String),
                prop("options", T::Map),
                prop("inputs", T::List).children(vec![
                    prop("name", T::String).required(),
                    prop("description", T::String),
                    prop("type", T::String)
                        .default(json!("String"))
                        .allowed(IO_TYPES),
                    prop("default", T::Any),
                    prop("replace_on_change", T::Boolean).default(json!(false)),
                ]),
                prop("outputs", T::List).children(vec![
                    prop("name", T::String).required(),
                    prop("description", T::String),
                    prop("type", T::String)
                        .default(json!("String"))
                        .allowed(IO_TYPES),
                    prop("error_output", T::Boolean).default(json!(false)),
                ]),
            ],
            &["config"],
        ),
        deployment,
        server,
        rtype(
            "AWS::IAM::User",
            "User",
            vec![
                prop("Path", T::String),
                prop("Groups", T::List),
                prop("LoginProfile", T::Map).children(vec![prop("Password", T::String)]),
                prop("Policies", T::List),
            ],
            &[],
        ),
        rtype(
            "AWS::IAM::AccessKey",
            "AccessKey",
            vec![
                prop("Serial", T::Integer).not_implemented(),
                prop("UserName", T::String).required(),
                prop("Status", T::String)
                    .allowed(&["Active", "Inactive"])
                    .not_implemented(),
            ],
            &["UserName", "SecretAccessKey"],
        ),
        rtype(
            "OS::Heat::AccessPolicy",
            "AccessPolicy",
            vec![prop("AllowedResources", T::List).required()],
            &[],
        ),
    ]
}

static REGISTRY: LazyLock<Vec<ResourceType>> = LazyLock::new(build);

/// The resource type called `name`, if this engine has it.
pub fn resource_type(name: &str) -> Option<&'static ResourceType> {
    REGISTRY.iter().find(|t| t.name == name)
}

/// Every resource type this engine has.
pub fn resource_types() -> &'static [ResourceType] {
    &REGISTRY
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subset() {
        let names: Vec<&str> = resource_types().iter().map(|t| t.name).collect();
        assert_eq!(names.len(), 12);
        for name in [
            "OS::Heat::None",
            "OS::Heat::RandomString",
            "OS::Heat::WaitConditionHandle",
            "OS::Heat::WaitCondition",
            "AWS::CloudFormation::WaitConditionHandle",
            "AWS::CloudFormation::WaitCondition",
            "OS::Heat::SoftwareConfig",
            "OS::Heat::SoftwareDeployment",
            "OS::Nova::Server",
            "AWS::IAM::User",
            "AWS::IAM::AccessKey",
            "OS::Heat::AccessPolicy",
        ] {
            assert!(names.contains(&name), "{name}");
        }
        assert!(resource_type("OS::Heat::Nope").is_none());
        let wch = resource_type("OS::Heat::WaitConditionHandle").unwrap();
        assert_eq!(
            wch.property("signal_transport").unwrap().default,
            Some(json!("TOKEN_SIGNAL"))
        );
        for a in ["token", "endpoint", "curl_cli", "signal", "show"] {
            assert!(wch.has_attribute(a), "{a}");
        }
        assert!(!wch.has_attribute("data"));
        let wc = resource_type("OS::Heat::WaitCondition").unwrap();
        assert!(wc.property("handle").unwrap().required);
        assert!(wc.property("timeout").unwrap().required);
        assert_eq!(wc.property("count").unwrap().default, Some(json!(1)));
        let server = resource_type("OS::Nova::Server").unwrap();
        assert_eq!(
            server
                .property("software_config_transport")
                .unwrap()
                .default,
            Some(json!("POLL_SERVER_CFN"))
        );
        assert!(server.snapshot_delete);
        assert!(resource_type("OS::Heat::SoftwareDeployment")
            .unwrap()
            .has_attribute("result"));
        assert_eq!(
            resource_type("OS::Heat::RandomString")
                .unwrap()
                .property("length")
                .unwrap()
                .default,
            Some(json!(32))
        );
        assert_eq!(PropertyType::Integer.name(), "Integer");
    }
}
