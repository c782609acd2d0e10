//! Whole-template tests: real template texts, Heat's exact messages and paths.

use std::collections::HashMap;

use indexmap::IndexMap;
use serde_json::{json, Map, Value};

use super::*;

/// A stack's state for evaluation.
#[derive(Default)]
struct State {
    params: Map<String, Value>,
    refs: HashMap<String, Value>,
    attrs: HashMap<(String, String), Value>,
    files: HashMap<String, String>,
}

impl Resolver for State {
    fn param(&self, name: &str) -> Option<Value> {
        self.params.get(name).cloned()
    }
    fn resource_ref(&self, name: &str) -> Option<Value> {
        self.refs.get(name).cloned()
    }
    fn attribute(&self, resource: &str, attribute: &str) -> Option<Value> {
        self.attrs
            .get(&(resource.to_string(), attribute.to_string()))
            .cloned()
    }
    fn file(&self, key: &str) -> Option<String> {
        self.files.get(key).cloned()
    }
}

fn state(params: Value) -> State {
    State {
        params: params.as_object().cloned().unwrap_or_default(),
        ..State::default()
    }
}

/// The error `text` gives at parse or validation, as Display and as Heat says it.
fn error_of(text: &str) -> (String, String) {
    let e = match parse(text) {
        Err(e) => e,
        Ok(t) => t.validate().expect_err("the template should be refused"),
    };
    (e.to_string(), e.heat_message())
}

fn heat_error(text: &str) -> String {
    error_of(text).1
}

const WAIT_HOT: &str = r#"
heat_template_version: 2013-05-23
description: A wait condition and the server that signals it
parameters:
  flavor:
    type: string
    default: m1.small
    constraints:
      - allowed_values: [m1.small, m1.large]
        description: small or large
  count:
    type: number
    default: 1
resources:
  server:
    type: OS::Nova::Server
    properties:
      flavor: {get_param: flavor}
      image: cirros
      user_data:
        str_replace:
          template: |
            #!/bin/sh
            $curl --data-binary '{"status": "SUCCESS"}'
          params:
            $curl: {get_attr: [handle, curl_cli]}
  handle:
    type: OS::Heat::WaitConditionHandle
  wait:
    type: OS::Heat::WaitCondition
    depends_on: server
    properties:
      handle: {get_resource: handle}
      count: {get_param: count}
      timeout: 600
outputs:
  data:
    description: what the server sent
    value: {get_attr: [wait, data]}
"#;

const WAIT_CFN: &str = r#"{
  "AWSTemplateFormatVersion": "2010-09-09",
  "Description": "CFN wait condition, IAM user and key",
  "Parameters": {
    "KeyName": {"Type": "String", "Default": "default", "MinLength": "1", "MaxLength": "64"},
    "Size": {"Type": "Number", "Default": "2", "MinValue": 1, "MaxValue": 10}
  },
  "Resources": {
    "Wait": {
      "Type": "AWS::CloudFormation::WaitCondition",
      "Properties": {"Handle": {"Ref": "Handle"}, "Timeout": "300", "Count": {"Ref": "Size"}}
    },
    "Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"},
    "Policy": {"Type": "OS::Heat::AccessPolicy", "Properties": {"AllowedResources": ["Wait", "Handle"]}},
    "User": {"Type": "AWS::IAM::User", "Properties": {"Policies": [{"Ref": "Policy"}]}},
    "Key": {"Type": "AWS::IAM::AccessKey", "Properties": {"UserName": {"Ref": "User"}}}
  },
  "Outputs": {
    "Url": {"Value": {"Fn::Join": ["", ["url=", {"Ref": "Handle"}]]}, "Description": "the handle"},
    "Secret": {"Value": {"Fn::GetAtt": ["Key", "SecretAccessKey"]}}
  }
}"#;

#[test]
fn hot_model() {
    let t = parse(WAIT_HOT).unwrap();
    assert_eq!(t.format, TemplateFormat::Hot);
    assert_eq!(t.version, Version::Hot20130523);
    assert_eq!(t.version_label, "2013-05-23");
    assert_eq!(t.raw["heat_template_version"], json!("2013-05-23"));
    assert_eq!(
        t.description.as_deref(),
        Some("A wait condition and the server that signals it")
    );
    assert_eq!(t.parameters.keys().collect::<Vec<_>>(), ["flavor", "count"]);
    let flavor = &t.parameters["flavor"];
    assert_eq!(flavor.param_type, ParamType::String);
    assert_eq!(flavor.default, Some(json!("m1.small")));
    assert_eq!(
        flavor.constraints,
        [Constraint {
            kind: ConstraintKind::AllowedValues(vec![json!("m1.small"), json!("m1.large")]),
            description: Some("small or large".into())
        }]
    );
    assert_eq!(
        t.resources.keys().collect::<Vec<_>>(),
        ["server", "handle", "wait"]
    );
    let wait = &t.resources["wait"];
    assert_eq!(wait.type_name, "OS::Heat::WaitCondition");
    assert_eq!(wait.depends_on, ["server"]);
    assert_eq!(wait.properties["handle"], json!({"get_resource": "handle"}));
    assert_eq!(wait.metadata, json!({}));
    assert_eq!(wait.deletion_policy, DeletionPolicy::Delete);
    assert_eq!(
        wait.resource_type().unwrap().class_name,
        "HeatWaitCondition"
    );
    assert_eq!(
        t.outputs["data"].value,
        json!({"get_attr": ["wait", "data"]})
    );
    assert_eq!(
        t.outputs["data"].description.as_deref(),
        Some("what the server sent")
    );
    t.validate().unwrap();
    assert_eq!(t.creation_order().unwrap(), ["handle", "server", "wait"]);
    assert_eq!(t.deletion_order().unwrap(), ["wait", "server", "handle"]);
    let g = t.dependency_graph().unwrap();
    assert_eq!(g.requires("wait"), ["handle", "server"]);
    assert_eq!(g.required_by("handle"), ["server", "wait"]);
}

#[test]
fn cfn_model() {
    let t = parse(WAIT_CFN).unwrap();
    assert_eq!(t.format, TemplateFormat::Cfn);
    assert_eq!(t.version, Version::Aws20100909);
    assert_eq!(
        t.description.as_deref(),
        Some("CFN wait condition, IAM user and key")
    );
    assert_eq!(
        t.resources.keys().collect::<Vec<_>>(),
        ["Wait", "Handle", "Policy", "User", "Key"]
    );
    assert_eq!(
        t.parameters["KeyName"].constraints[0].kind,
        ConstraintKind::Length {
            min: Some(1.into()),
            max: Some(64.into())
        }
    );
    t.validate().unwrap();
    // Ref of a parameter adds no edge; Policies are names, not references,
    // except when written as Ref.
    assert_eq!(
        t.creation_order().unwrap(),
        ["Handle", "Wait", "Policy", "User", "Key"]
    );
    let refs = t.references(&t.resources["Wait"].properties);
    assert_eq!(refs.len(), 2);
    assert!(refs.contains(&Reference {
        resource: "Handle".into(),
        kind: RefKind::Ref,
        path: "Handle".into()
    }));
    assert!(refs.contains(&Reference {
        resource: "Size".into(),
        kind: RefKind::Ref,
        path: "Count".into()
    }));
}

#[test]
fn yaml_and_json_of_a_hot_template_agree() {
    let yaml = parse(WAIT_HOT).unwrap();
    let json_text = serde_json::to_string(&yaml.raw).unwrap();
    let from_json = parse(&json_text).unwrap();
    assert_eq!(from_json.resources, yaml.resources);
    assert_eq!(from_json.parameters, yaml.parameters);
}

#[test]
fn five_megabytes_are_refused_before_parsing() {
    let mut text = String::from("heat_template_version: 2013-05-23\nresources:\n");
    let mut i = 0;
    while text.len() < 5 * 1024 * 1024 {
        text.push_str(&format!("  r{i}:\n    type: OS::Heat::None\n"));
        i += 1;
    }
    let e = parse(&text).unwrap_err();
    assert_eq!(e.kind, ErrorKind::RequestLimitExceeded);
    assert_eq!(e.path, "");
    assert_eq!(
        e.message,
        format!(
            "Template size ({} bytes) exceeds maximum allowed size (524288 bytes).",
            text.len()
        )
    );
    assert_eq!(
        e.heat_message(),
        format!(
            "Request limit exceeded: Template size ({} bytes) exceeds maximum allowed size (524288 bytes).",
            text.len()
        )
    );
}

#[test]
fn a_template_just_under_the_limit_is_fine() {
    let mut text = String::from("heat_template_version: 2013-05-23\nresources:\n");
    let mut i = 0;
    while text.len() < MAX_TEMPLATE_SIZE - 200 {
        let prev = if i == 0 {
            String::new()
        } else {
            format!("    depends_on: r{}\n", i - 1)
        };
        text.push_str(&format!("  r{i}:\n    type: OS::Heat::None\n{prev}"));
        i += 1;
    }
    let t = parse(&text).unwrap();
    t.validate().unwrap();
    let order = t.creation_order().unwrap();
    assert_eq!(order.len(), i);
    assert_eq!(order[0], "r0");
    assert_eq!(order[i - 1], format!("r{}", i - 1));
}

#[test]
fn url_special_characters_in_names() {
    let text = r#"{
      "heat_template_version": "2021-04-16",
      "parameters": {"p/ä?&=#%": {"type": "string", "default": "x y"}},
      "resources": {
        "my handle/1?a=b&c#d%20": {"type": "OS::Heat::WaitConditionHandle"},
        "wait.condition[0]": {
          "type": "OS::Heat::WaitCondition",
          "properties": {"handle": {"get_resource": "my handle/1?a=b&c#d%20"}, "timeout": 10,
                         "count": {"get_param": "p/ä?&=#%"}}
        },
        "bad": {"type": "OS::Heat::WaitCondition",
                "properties": {"handle": {"get_resource": "no such/handle?"}, "timeout": 10}}
      }
    }"#;
    let t = parse(text).unwrap();
    let e = t.validate().unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidTemplateReference);
    assert_eq!(e.path, "resources.bad.properties.handle");
    assert_eq!(
        e.message,
        "The specified reference \"no such/handle?\" (in bad.Properties.handle) is incorrect."
    );
    assert_eq!(e.heat_message(), e.message);

    let mut t = t;
    t.resources.shift_remove("bad");
    t.validate().unwrap();
    assert_eq!(
        t.creation_order().unwrap(),
        ["my handle/1?a=b&c#d%20", "wait.condition[0]"]
    );
    let params = resolve_parameters(
        &t,
        &Map::new(),
        &PseudoParameters {
            stack_name: "st/ack?".into(),
            stack_id: "id#1".into(),
            project_id: "p&q".into(),
            region: String::new(),
        },
    )
    .unwrap();
    assert_eq!(params["p/ä?&=#%"], json!("x y"));
    // a parameter-derived value that is not a number
    let e = t.validate_with_parameters(&params).unwrap_err();
    assert_eq!(e.path, "resources.wait.condition[0].properties.count");
    assert_eq!(
        e.heat_message(),
        "Property error: resources.wait.condition[0].properties.count: Value 'x y' is not an integer"
    );
    let st = State {
        params: params.clone().into_iter().collect(),
        refs: HashMap::from([("my handle/1?a=b&c#d%20".to_string(), json!("abc-123"))]),
        ..State::default()
    };
    let wait = &t.resources["wait.condition[0]"].properties;
    assert_eq!(t.evaluate(&wait["handle"], &st).unwrap(), json!("abc-123"));

    let cfn = parse(r#"{"AWSTemplateFormatVersion": "2010-09-09", "Resources": {}}"#).unwrap();
    let pseudo = PseudoParameters {
        stack_name: "st/ack?".into(),
        stack_id: "id#1".into(),
        project_id: "p&q".into(),
        region: String::new(),
    };
    let params = resolve_parameters(&cfn, &Map::new(), &pseudo).unwrap();
    assert_eq!(
        params["AWS::StackId"],
        json!("arn:openstack:heat::p%26q:stacks/st%2Fack%3F/id%231")
    );
    assert_eq!(params["AWS::StackName"], json!("st/ack?"));
    assert_eq!(params["AWS::Region"], json!("ap-southeast-1"));
}

#[test]
fn version_and_section_errors() {
    assert_eq!(
        error_of("description: no version\n"),
        (
            "Template format version not found.".to_string(),
            "Template not in valid format: Template format version not found.".to_string()
        )
    );
    assert_eq!(
        error_of("- a list\n").0,
        "The template is not a JSON object or YAML mapping."
    );
    assert_eq!(
        heat_error("heat_template_version: 2099-01-01\n"),
        "The template version is invalid: \"heat_template_version: 2099-01-01\". \"heat_template_version\" \
         should be one of: 2013-05-23, 2014-10-16, 2015-04-30, 2015-10-15, 2016-04-08, 2016-10-14, \
         2017-02-24, 2017-09-01, 2018-03-02, 2018-08-31, 2021-04-16, newton, ocata, pike, queens, rocky, \
         wallaby"
    );
    assert_eq!(
        heat_error("heat_template_version: 2013-05-23\nresource:\n  a: {type: OS::Heat::None}\n"),
        "The template section is invalid: resource"
    );
    let (shown, heat) = error_of("heat_template_version: 2013-05-23\nResources: {}\n");
    assert_eq!(
        shown,
        "Resources: The template section is invalid: Resources"
    );
    assert_eq!(heat, "The template section is invalid: Resources");
    assert_eq!(
        heat_error(r#"{"AWSTemplateFormatVersion": "2010-09-09", "resources": {}}"#),
        "The template section is invalid: resources"
    );
    let e = parse("heat_template_version: wallaby\nconditions: {}\n").unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unsupported);
    assert_eq!(
        e.to_string(),
        "conditions: The conditions section is not supported by this engine."
    );
    // conditions did not exist in 2013
    assert_eq!(
        heat_error("heat_template_version: 2013-05-23\nconditions: {}\n"),
        "The template section is invalid: conditions"
    );
}

#[test]
fn resource_definition_errors() {
    let hot = |body: &str| {
        heat_error(&format!(
            "heat_template_version: 2013-05-23\nresources:\n{body}"
        ))
    };
    assert_eq!(hot("  a:\n"), "Each resource must contain a type key.");
    assert_eq!(
        hot("  a: {properties: {}}\n"),
        "Each resource must contain a type key."
    );
    assert_eq!(
        hot(
            "  b: {type: OS::Heat::None, Properties: {}}\n  a: {type: OS::Heat::None, wibble: 1}\n"
        ),
        "\"wibble\" is not a valid keyword inside a resource definition"
    );
    assert_eq!(
        hot("  a: just text\n"),
        "\"resources\" must contain a map of resource maps. Found a [<class 'str'>] instead"
    );
    assert_eq!(
        hot("  a: {type: ''}\n"),
        "Each Resource must contain a Type key."
    );
    assert_eq!(
        hot("  resource: {type: 123}\n"),
        "Resource resource type type must be string"
    );
    assert_eq!(
        hot("  a: {type: OS::Heat::None, properties: [1]}\n"),
        "Resource a properties type must be object"
    );
    assert_eq!(
        hot("  a: {type: OS::Heat::None, properties: }\n"),
        "Resource a properties type must be object"
    );
    assert_eq!(
        hot("  a: {type: OS::Heat::None, metadata: x}\n"),
        "Resource a metadata type must be object"
    );
    assert_eq!(
        hot("  a: {type: OS::Heat::None, depends_on: {b: 1}}\n"),
        "Resource a depends_on type must be list or string"
    );
    assert_eq!(
        hot("  a: {type: OS::Heat::None, depends_on: [1]}\n"),
        "Resource a depends_on must be a list of strings"
    );
    assert_eq!(
        hot("  a: {type: OS::Heat::None, deletion_policy: Keep}\n"),
        "Invalid deletion policy \"Keep\""
    );
    assert_eq!(
        hot("  a: {type: OS::Heat::None, deletion_policy: delete}\n"),
        "Invalid deletion policy \"delete\"",
        "lower case arrived in 2016-10-14"
    );
    let t = parse("heat_template_version: newton\nresources:\n  a: {type: OS::Heat::None, deletion_policy: retain}\n")
        .unwrap();
    assert_eq!(t.resources["a"].deletion_policy, DeletionPolicy::Retain);
    let e = parse(
        "heat_template_version: newton\nresources:\n  a: {type: OS::Heat::None, condition: c}\n",
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unsupported);
    assert_eq!(e.path, "resources.a.condition");
    assert_eq!(
        hot("  a: {type: OS::Heat::None, deletion_policy: Snapshot}\n"),
        "resources.a.deletion_policy: \"Snapshot\" deletion policy not supported"
    );
    parse("heat_template_version: 2013-05-23\nresources:\n  s: {type: OS::Nova::Server, deletion_policy: Snapshot, properties: {flavor: f}}\n")
        .unwrap()
        .validate()
        .unwrap();

    let cfn = |resources: &str| {
        heat_error(&format!(
            r#"{{"AWSTemplateFormatVersion": "2010-09-09", "Resources": {resources}}}"#
        ))
    };
    assert_eq!(
        cfn(r#"{"A": {"Properties": {}}}"#),
        "Each Resource must contain a Type key."
    );
    assert_eq!(
        cfn(r#"{"A": "text"}"#),
        "Resources must contain Resource. Found a [<class 'str'>] instead"
    );
    assert_eq!(
        cfn(r#"{"Resource": {"Type": ["Wrong", "Type"]}}"#),
        "Resource Resource Type type must be string"
    );
    assert_eq!(
        cfn(r#"{"A": {"Type": "OS::Heat::None", "DependsOn": 5}}"#),
        "Resource A DependsOn type must be list or string"
    );
    // unknown keys are allowed in CFN resources, as Heat always did
    parse(r#"{"AWSTemplateFormatVersion": "2010-09-09", "Resources": {"A": {"Type": "OS::Heat::None", "Wibble": 1}}}"#)
        .unwrap()
        .validate()
        .unwrap();
}

#[test]
fn output_definition_errors() {
    let hot = |body: &str| {
        heat_error(&format!(
            "heat_template_version: 2013-05-23\noutputs:\n{body}"
        ))
    };
    assert_eq!(
        hot("  o: {description: d}\n"),
        "Each output must contain a value key."
    );
    assert_eq!(hot("  o:\n"), "Each output must contain a value key.");
    assert_eq!(
        hot("  o: {value: 1, Value: 2}\n"),
        "\"Value\" is not a valid keyword inside a output definition"
    );
    let cfn = |outputs: &str| {
        heat_error(&format!(
            r#"{{"AWSTemplateFormatVersion": "2010-09-09", "Outputs": {outputs}}}"#
        ))
    };
    assert_eq!(
        cfn(r#"{"O": "text"}"#),
        "Output validation error: Outputs.O: Output definitions must be a map. Found a str instead"
    );
    assert_eq!(
        cfn(r#"{"O": {"Description": "d"}}"#),
        "Output validation error: Outputs.O: Each output definition must contain a Value key."
    );
}

#[test]
fn resource_types_and_properties() {
    let hot = |body: &str| {
        error_of(&format!(
            "heat_template_version: 2013-05-23\nresources:\n{body}"
        ))
    };
    assert_eq!(
        hot("  a: {type: OS::Heat::Nope}\n"),
        (
            "resources.a.type: The Resource Type (OS::Heat::Nope) could not be found.".to_string(),
            "The Resource Type (OS::Heat::Nope) could not be found.".to_string()
        )
    );
    assert_eq!(
        hot("  wait: {type: OS::Heat::WaitCondition, properties: {timeout: 10}}\n"),
        (
            "resources.wait.properties: Property handle not assigned".to_string(),
            "Property error: resources.wait.properties: Property handle not assigned".to_string()
        )
    );
    assert_eq!(
        hot("  h: {type: OS::Heat::WaitConditionHandle}\n  wait:\n    type: OS::Heat::WaitCondition\n    properties: {handle: {get_resource: h}, timeout: 10, foo: 1}\n").1,
        "Property error: resources.wait.properties: Unknown Property foo"
    );
    assert_eq!(
        hot("  h: {type: OS::Heat::WaitConditionHandle}\n  wait:\n    type: OS::Heat::WaitCondition\n    properties: {handle: {get_resource: h}, timeout: 10, count: 0}\n"),
        (
            "resources.wait.properties.count: 0 is out of range (min: 1, max: None)".to_string(),
            "Property error: resources.wait.properties.count: 0 is out of range (min: 1, max: None)".to_string()
        )
    );
    assert_eq!(
        hot("  h: {type: OS::Heat::WaitConditionHandle, properties: {signal_transport: SMOKE}}\n").0,
        "resources.h.properties.signal_transport: \"SMOKE\" is not an allowed value [\"CFN_SIGNAL\", \
         \"TEMP_URL_SIGNAL\", \"HEAT_SIGNAL\", \"NO_SIGNAL\", \"ZAQAR_SIGNAL\", \"TOKEN_SIGNAL\"]"
    );
    assert_eq!(
        hot("  r: {type: OS::Heat::RandomString, properties: {length: 2, character_classes: [{class: digits, min: 2}], character_sequences: [{sequence: ab}]}}\n").1,
        "Length property cannot be smaller than combined character class and character sequence minimums"
    );
    assert_eq!(
        hot("  p: {type: OS::Heat::AccessPolicy, properties: {AllowedResources: [p, ghost]}}\n"),
        (
            "resources.p.properties.AllowedResources: AccessPolicy resource ghost not in stack"
                .to_string(),
            "AccessPolicy resource ghost not in stack".to_string()
        )
    );
    assert_eq!(
        hot("  k: {type: AWS::IAM::AccessKey, properties: {UserName: u, Status: Active}}\n").1,
        "Property error: resources.k.properties: Property Status not implemented yet"
    );

    let cfn = heat_error(
        r#"{"AWSTemplateFormatVersion": "2010-09-09", "Resources": {
            "Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"},
            "Wait": {"Type": "AWS::CloudFormation::WaitCondition", "Properties": {"Handle": {"Ref": "Handle"}}}}}"#,
    );
    assert_eq!(
        cfn,
        "Property error: Resources.Wait.Properties: Property Timeout not assigned"
    );
    let cfn = error_of(
        r#"{"AWSTemplateFormatVersion": "2010-09-09", "Resources": {
            "Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"},
            "Wait": {"Type": "AWS::CloudFormation::WaitCondition",
                     "Properties": {"Handle": {"Ref": "Handle"}, "Timeout": "1.5", "Count": 1}}}}"#,
    );
    assert_eq!(
        cfn.0,
        "Resources.Wait.Properties.Timeout: Value '1.5' is not an integer"
    );
}

#[test]
fn software_deployments_need_software_config_servers() {
    let text = |format: &str| {
        format!(
            "heat_template_version: 2015-10-15\nresources:\n  config: {{type: OS::Heat::SoftwareConfig, properties: {{config: 'echo hi'}}}}\n  server:\n    type: OS::Nova::Server\n    properties: {{flavor: m1.small, image: cirros{format}}}\n  deployment:\n    type: OS::Heat::SoftwareDeployment\n    properties: {{config: {{get_resource: config}}, server: {{get_resource: server}}}}\n"
        )
    };
    assert_eq!(
        error_of(&text("")),
        (
            "resources.deployment.properties.server: Resource server's property user_data_format should be set \
             to SOFTWARE_CONFIG since there are software deployments on it."
                .to_string(),
            "Resource server's property user_data_format should be set to SOFTWARE_CONFIG since there are \
             software deployments on it."
                .to_string()
        )
    );
    let t = parse(&text(", user_data_format: SOFTWARE_CONFIG")).unwrap();
    t.validate().unwrap();
    assert_eq!(
        t.creation_order().unwrap(),
        ["config", "server", "deployment"]
    );
}

#[test]
fn references_and_attributes() {
    let hot = |body: &str| {
        error_of(&format!(
            "heat_template_version: 2015-10-15\nresources:\n{body}"
        ))
    };
    let (shown, heat) = hot("  wait:\n    type: OS::Heat::WaitCondition\n    properties: {handle: {get_resource: x}, timeout: 5}\n");
    assert_eq!(shown, "resources.wait.properties.handle: The specified reference \"x\" (in wait.Properties.handle) is incorrect.");
    assert_eq!(
        heat,
        "The specified reference \"x\" (in wait.Properties.handle) is incorrect."
    );
    assert_eq!(
        hot("  a: {type: OS::Heat::None, depends_on: [ghost]}\n").1,
        "The specified reference \"ghost\" (in a) is incorrect."
    );
    assert_eq!(
        hot("  a: {type: OS::Heat::None, metadata: {list: [1, {get_attr: [ghost, x]}]}}\n").1,
        "The specified reference \"ghost\" (in a.Metadata.list[1]) is incorrect."
    );
    assert_eq!(
        hot("  h: {type: OS::Heat::WaitConditionHandle}\n  a: {type: OS::Heat::None, metadata: {k: {get_attr: [h, nope]}}}\n").1,
        "resources.a.metadata.k.get_attr: The Referenced Attribute (h nope) is incorrect."
    );
    let outputs = |body: &str| {
        error_of(&format!(
            "heat_template_version: 2015-10-15\nresources:\n  h: {{type: OS::Heat::WaitConditionHandle}}\noutputs:\n{body}"
        ))
        .1
    };
    assert_eq!(
        outputs("  o: {value: {get_attr: [ghost, x]}}\n"),
        "outputs.o.value.get_attr: The specified reference \"ghost\" (in unknown) is incorrect."
    );
    assert_eq!(
        outputs("  o: {value: {get_attr: [h, data]}}\n"),
        "outputs.o.value.get_attr: The Referenced Attribute (h data) is incorrect."
    );
    // since 2015-10-15, get_attr with the resource alone gives all attributes
    parse("heat_template_version: 2015-10-15\nresources:\n  h: {type: OS::Heat::WaitConditionHandle}\noutputs:\n  all: {value: {get_attr: [h]}}\n")
        .unwrap()
        .validate()
        .unwrap();
    assert_eq!(
        outputs("  o: {value: {get_attr: ''}}\n"),
        "outputs.o.value.get_attr: Arguments to \"get_attr\" can be of the next forms: [resource_name] or \
         [resource_name, attribute, (path), ...]"
    );
    assert_eq!(
        outputs("  o: {value: {get_param: nope}}\n"),
        "The Parameter (nope) was not provided."
    );
    // 2014-10-16: get_attr needs an attribute
    assert_eq!(
        error_of("heat_template_version: 2014-10-16\nresources:\n  h: {type: OS::Heat::WaitConditionHandle}\noutputs:\n  string: {value: {get_attr: [h]}}\n").1,
        "outputs.string.value.get_attr: Arguments to \"get_attr\" must be of the form [resource_name, attribute, (path), ...]"
    );
    // CFN Ref of neither a resource nor a parameter
    assert_eq!(
        error_of(r#"{"AWSTemplateFormatVersion": "2010-09-09", "Resources": {
            "Wait": {"Type": "AWS::CloudFormation::WaitCondition", "Properties": {"Handle": {"Ref": "x"}, "Timeout": 5}}}}"#),
        (
            "Resources.Wait.Properties.Handle.Ref: The specified reference \"x\" (in unknown) is incorrect.".to_string(),
            "The specified reference \"x\" (in unknown) is incorrect.".to_string()
        )
    );
    // CFN Fn::GetAtt of a missing resource
    assert_eq!(
        error_of(
            r#"{"AWSTemplateFormatVersion": "2010-09-09", "Resources": {
            "Wait": {"Type": "AWS::CloudFormation::WaitCondition",
                     "Properties": {"Handle": {"Fn::GetAtt": ["x", "y"]}, "Timeout": 5}}}}"#
        )
        .1,
        "The specified reference \"x\" (in Wait.Properties.Handle) is incorrect."
    );
}

#[test]
fn duplicate_names() {
    assert_eq!(
        heat_error("heat_template_version: 2013-05-23\nparameters: {a: {type: string}}\nresources: {a: {type: OS::Heat::None}}\n"),
        "Duplicate names {'a'}"
    );
}

#[test]
fn circular_dependencies() {
    let text = "heat_template_version: 2013-05-23\nresources:\n  \
        h: {type: OS::Heat::WaitConditionHandle}\n  \
        a: {type: OS::Heat::WaitCondition, properties: {handle: {get_resource: h}, timeout: {get_attr: [b, data]}}}\n  \
        b: {type: OS::Heat::WaitCondition, properties: {handle: {get_resource: h}, timeout: 5}, depends_on: [c]}\n  \
        c: {type: OS::Heat::None, metadata: {x: {get_resource: a}}}\n  \
        d: {type: OS::Heat::None, depends_on: a}\n";
    let t = parse(text).unwrap();
    let e = t.creation_order().unwrap_err();
    assert_eq!(e.kind, ErrorKind::CircularDependency);
    assert_eq!(e.kind.heat_type(), "CircularDependencyException");
    assert_eq!(
        e.message,
        "Circular Dependency Found: {HeatWaitCondition \"a\": {HeatWaitCondition \"b\"}, \
         HeatWaitCondition \"b\": {NoneResource \"c\"}, NoneResource \"c\": {HeatWaitCondition \"a\"}, \
         NoneResource \"d\": {HeatWaitCondition \"a\"}}"
    );
    assert_eq!(t.validate().unwrap_err(), e);
    let selfish = parse("heat_template_version: 2013-05-23\nresources:\n  a: {type: OS::Heat::None, depends_on: a}\n").unwrap();
    assert_eq!(
        selfish.creation_order().unwrap_err().message,
        "Circular Dependency Found: {NoneResource \"a\": {NoneResource \"a\"}}"
    );
}

#[test]
fn creation_order_is_stable() {
    let t = parse(
        "heat_template_version: 2013-05-23\nresources:\n  \
         z: {type: OS::Heat::None}\n  \
         y: {type: OS::Heat::None, depends_on: [x]}\n  \
         x: {type: OS::Heat::None}\n  \
         w: {type: OS::Heat::None, metadata: {a: {get_resource: y}, b: {get_attr: [z, show]}}}\n  \
         v: {type: OS::Heat::None}\n",
    )
    .unwrap();
    t.validate().unwrap();
    assert_eq!(t.creation_order().unwrap(), ["z", "x", "y", "w", "v"]);
    assert_eq!(t.deletion_order().unwrap(), ["v", "w", "y", "x", "z"]);
    // outputs add no edges
    let t = parse(
        "heat_template_version: 2013-05-23\nresources:\n  b: {type: OS::Heat::None}\n  a: {type: OS::Heat::None}\noutputs:\n  o: {value: [{get_resource: a}, {get_resource: b}]}\n",
    )
    .unwrap();
    assert_eq!(t.creation_order().unwrap(), ["b", "a"]);
}

#[test]
fn parameters() {
    let t = parse(
        r#"
heat_template_version: 2017-02-24
parameters:
  name: {type: string, constraints: [{length: {min: 3, max: 8}}, {allowed_pattern: "[a-z][a-z0-9-]*"}]}
  size: {type: number, default: 2, constraints: [{range: {min: 1, max: 10}}, {modulo: {step: 2, offset: 0}}]}
  zones: {type: comma_delimited_list, default: "a,b"}
  extra: {type: json, default: {k: [1, 2]}}
  debug: {type: boolean, default: "yes"}
  secret: {type: string, hidden: true, default: s3cr3t}
"#,
    )
    .unwrap();
    let pseudo = PseudoParameters {
        stack_name: "mystack".into(),
        stack_id: "sid".into(),
        project_id: "pid".into(),
        region: "RegionOne".into(),
    };
    let given = |v: Value| v.as_object().cloned().unwrap();
    let p = resolve_parameters(&t, &given(json!({"name": "web-1", "size": "4"})), &pseudo).unwrap();
    assert_eq!(
        p.keys().collect::<Vec<_>>(),
        [
            "OS::stack_id",
            "OS::project_id",
            "OS::stack_name",
            "name",
            "size",
            "zones",
            "extra",
            "debug",
            "secret"
        ]
    );
    assert_eq!(p["OS::stack_name"], json!("mystack"));
    assert_eq!(p["name"], json!("web-1"));
    assert_eq!(p["size"], json!(4));
    assert_eq!(p["zones"], json!(["a", "b"]));
    assert_eq!(p["extra"], json!({"k": [1, 2]}));
    assert_eq!(p["debug"], json!(true));
    assert!(t.parameters["secret"].hidden);
    assert_eq!(
        t.parameters["secret"].display_value(&p["secret"]),
        json!("******")
    );
    let p = resolve_parameters(
        &t,
        &given(
            json!({"name": "abc", "zones": "x, y", "extra": "[1]", "debug": false, "size": 6.0}),
        ),
        &pseudo,
    )
    .unwrap();
    assert_eq!(p["zones"], json!(["x", " y"]));
    assert_eq!(p["extra"], json!([1]));
    assert_eq!(p["debug"], json!(false));
    assert_eq!(p["size"], json!(6.0));

    let err = |v: Value| {
        let e = resolve_parameters(&t, &given(v), &pseudo).unwrap_err();
        (e.kind, e.path.clone(), e.heat_message())
    };
    assert_eq!(
        err(json!({"name": "abc", "nope": 1})),
        (
            ErrorKind::UnknownUserParameter,
            "parameters.nope".into(),
            "The Parameter (nope) was not defined in template.".into()
        )
    );
    assert_eq!(
        err(json!({})),
        (
            ErrorKind::UserParameterMissing,
            "parameters.name".into(),
            "The Parameter (name) was not provided.".into()
        )
    );
    assert_eq!(
        err(json!({"name": null})).2,
        "The Parameter (name) was not provided."
    );
    assert_eq!(
        err(json!({"name": "ab"})).2,
        "Parameter 'name' is invalid: length (2) is out of range (min: 3, max: 8)"
    );
    assert_eq!(
        err(json!({"name": "Web"})).2,
        "Parameter 'name' is invalid: \"Web\" does not match pattern \"[a-z][a-z0-9-]*\""
    );
    assert_eq!(
        err(json!({"name": "abc", "size": "big"})).2,
        "Parameter 'size' is invalid: could not convert string to float: 'big'"
    );
    assert_eq!(
        err(json!({"name": "abc", "size": 12})).2,
        "Parameter 'size' is invalid: 12 is out of range (min: 1, max: 10)"
    );
    assert_eq!(
        err(json!({"name": "abc", "size": 3})).2,
        "Parameter 'size' is invalid: 3 is not a multiple of 2 with an offset of 0"
    );
    assert_eq!(
        err(json!({"name": "abc", "debug": "maybe"})).2,
        "Parameter 'debug' is invalid: Unrecognized value 'maybe', acceptable values are: '0', '1', 'f', \
         'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'"
    );
    assert!(err(json!({"name": "abc", "extra": "{not json"}))
        .2
        .starts_with("Parameter 'extra' is invalid: Value must be valid JSON: "));
    assert_eq!(
        err(json!({"name": "ab"})).0,
        ErrorKind::StackValidationFailed
    );
    assert_eq!(err(json!({"name": "ab"})).1, "parameters.name");
}

#[test]
fn parameter_declarations() {
    let decl = |body: &str| {
        heat_error(&format!(
            "heat_template_version: 2017-02-24\nparameters:\n{body}"
        ))
    };
    let resolve = |body: &str| {
        let t = parse(&format!(
            "heat_template_version: 2017-02-24\nparameters:\n{body}"
        ))
        .unwrap();
        resolve_parameters(&t, &Map::new(), &PseudoParameters::default())
            .map_err(|e| e.heat_message())
    };
    assert_eq!(decl("  a: {type: strin}\n"), "Invalid type (strin)");
    assert_eq!(
        decl("  a: {default: 1}\n"),
        "Missing parameter type for parameter: a"
    );
    assert_eq!(
        decl("  a: {type: string, wibble: 1}\n"),
        "Invalid key 'wibble' for parameter (a)"
    );
    assert_eq!(
        decl("  a: text\n"),
        "Invalid parameter (a), expected a mapping"
    );
    assert_eq!(
        decl("  a: {type: string, constraints: {length: {min: 1}}}\n"),
        "Invalid parameter constraints for parameter a, expected a list"
    );
    assert_eq!(
        decl("  a: {type: string, constraints: [{size: 1}]}\n"),
        "Invalid key 'size' for parameter constraints"
    );
    assert_eq!(
        decl("  a: {type: string, constraints: [{description: d}]}\n"),
        "No constraint expressed"
    );
    assert_eq!(
        decl("  a: {type: number, constraints: [{range: {}}]}\n"),
        "A range constraint must have a min value and/or a max value specified."
    );
    assert_eq!(
        decl("  a: {type: string, constraints: [{length: {min: 1.5}}]}\n"),
        "min/max length must be integral"
    );
    assert_eq!(
        decl("  a: {type: number, constraints: [{modulo: {step: 2, offset: 3}}]}\n"),
        "offset must be smaller (by absolute value) than step."
    );
    assert!(
        decl("  a: {type: string, constraints: [{allowed_pattern: '[a-'}]}\n")
            .starts_with("Invalid allowed_pattern '[a-': ")
    );
    assert_eq!(
        resolve("  a: {type: string, default: x, constraints: [{range: {min: 1}}]}\n").unwrap_err(),
        "Parameter 'a' is invalid: Range constraint invalid for string"
    );
    assert_eq!(
        resolve("  a: {type: string, default: m1.huge, constraints: [{allowed_values: [m1.small]}]}\n").unwrap_err(),
        "Parameter 'a' is invalid: Invalid default m1.huge (\"m1.huge\" is not an allowed value [\"m1.small\"])"
    );
    assert_eq!(
        resolve("  a: {type: number, default: 2, constraints: [{modulo: {step: 2, offset: 1}, description: Value must be an odd number}]}\n")
            .unwrap_err(),
        "Parameter 'a' is invalid: Invalid default 2 (Value must be an odd number)"
    );
    assert_eq!(
        decl("  a: {type: string, default: m1.huge, constraints: [{allowed_values: [m1.small]}]}\n"),
        "Parameter 'a' is invalid: Invalid default m1.huge (\"m1.huge\" is not an allowed value [\"m1.small\"])",
        "validate checks the declarations too"
    );
    // modulo arrived in 2017-02-24
    assert_eq!(
        heat_error("heat_template_version: 2016-10-14\nparameters:\n  a: {type: number, constraints: [{modulo: {step: 2, offset: 1}}]}\n"),
        "No constraint expressed"
    );

    // CFN declarations
    let t = parse(
        r#"{"AWSTemplateFormatVersion": "2010-09-09", "Parameters": {
            "Password": {"Type": "String", "NoEcho": "true", "MinLength": "8",
                         "ConstraintDescription": "at least 8 characters"},
            "Flavor": {"Type": "String", "AllowedValues": ["m1.small", "m1.large"], "Default": "m1.small"},
            "Ids": {"Type": "CommaDelimitedList", "Default": ""}}}"#,
    )
    .unwrap();
    assert!(t.parameters["Password"].hidden);
    let given = json!({"Password": "short"}).as_object().cloned().unwrap();
    let e = resolve_parameters(&t, &given, &PseudoParameters::default()).unwrap_err();
    assert_eq!(
        e.heat_message(),
        "Parameter 'Password' is invalid: at least 8 characters"
    );
    let given = json!({"Password": "long enough", "Flavor": "m1.huge"})
        .as_object()
        .cloned()
        .unwrap();
    let e = resolve_parameters(&t, &given, &PseudoParameters::default()).unwrap_err();
    assert_eq!(
        e.heat_message(),
        "Parameter 'Flavor' is invalid: \"m1.huge\" is not an allowed value [\"m1.small\", \"m1.large\"]"
    );
    let given = json!({"Password": "long enough"})
        .as_object()
        .cloned()
        .unwrap();
    let p = resolve_parameters(&t, &given, &PseudoParameters::default()).unwrap();
    assert_eq!(p["Ids"], json!([]));
    assert_eq!(p["AWS::StackId"], json!("arn:openstack:heat:::stacks//"));
    assert!(
        !p.contains_key("AWS::StackName"),
        "Heat leaves the name out when the stack has none"
    );
    assert_eq!(
        heat_error(
            r#"{"AWSTemplateFormatVersion": "2010-09-09", "Parameters": {"A": {"Type": "String", "MinLength": "x"}}}"#
        ),
        "could not convert string to float: 'x'"
    );
}

#[test]
fn evaluation_hot() {
    let t = parse(WAIT_HOT).unwrap();
    let mut st = state(json!({"flavor": "m1.large", "count": 2, "OS::stack_name": "s"}));
    // before the resources exist: references give names, attributes null
    let server = t.resource_properties("server", &st).unwrap();
    assert_eq!(server["flavor"], json!("m1.large"));
    assert_eq!(
        server["user_data"],
        json!("#!/bin/sh\n --data-binary '{\"status\": \"SUCCESS\"}'\n")
    );
    assert_eq!(
        server["software_config_transport"],
        json!("POLL_SERVER_CFN")
    );
    assert_eq!(server["metadata"], json!({}));
    let wait = t.resource_properties("wait", &st).unwrap();
    assert_eq!(
        wait,
        json!({"handle": "handle", "timeout": 600, "count": 2})
            .as_object()
            .cloned()
            .unwrap()
    );
    assert_eq!(t.output_value("data", &st).unwrap(), Value::Null);
    // as they get created
    st.refs.insert("handle".into(), json!("2b4c"));
    st.attrs.insert(
        ("handle".into(), "curl_cli".into()),
        json!("curl -i -X POST"),
    );
    st.attrs
        .insert(("wait".into(), "data".into()), json!({"1": "done"}));
    let server = t.resource_properties("server", &st).unwrap();
    assert_eq!(
        server["user_data"],
        json!("#!/bin/sh\ncurl -i -X POST --data-binary '{\"status\": \"SUCCESS\"}'\n")
    );
    assert_eq!(
        t.resource_properties("wait", &st).unwrap()["handle"],
        json!("2b4c")
    );
    assert_eq!(t.output_value("data", &st).unwrap(), json!({"1": "done"}));
    // a bad parameter value found at creation
    let st = state(json!({"flavor": "m1.large", "count": "0"}));
    assert_eq!(
        t.resource_properties("wait", &st)
            .unwrap_err()
            .heat_message(),
        "Property error: resources.wait.properties.count: 0 is out of range (min: 1, max: None)"
    );
    let st = state(json!({"flavor": "m1.large"}));
    let e = t.resource_properties("wait", &st).unwrap_err();
    assert_eq!(e.kind, ErrorKind::UserParameterMissing);
    assert_eq!(
        e.to_string(),
        "resources.wait.properties.count.get_param: The Parameter (count) was not provided."
    );
}

fn eval(version: &str, snippet: Value, st: &State) -> Result<Value, String> {
    let t = parse(&format!(
        "heat_template_version: {version}\nresources:\n  h: {{type: OS::Heat::WaitConditionHandle}}\n  s: {{type: OS::Nova::Server, properties: {{flavor: f}}}}\n"
    ))
    .unwrap();
    t.evaluate(&snippet, st).map_err(|e| e.heat_message())
}

#[test]
fn evaluation_functions() {
    let mut st = state(json!({"list": ["a", "b"], "map": {"k": {"n": [1, 2]}}, "s": "x"}));
    st.refs.insert("h".into(), json!("h-id"));
    st.attrs.insert(
        ("s".into(), "networks".into()),
        json!({"private": ["10.0.0.5", "fd00::5"]}),
    );
    st.attrs.insert(("h".into(), "token".into()), json!("tok"));
    st.files.insert("script.sh".into(), "#!/bin/sh\n".into());
    let w = "wallaby";
    // get_param with paths (a failed path gives "")
    assert_eq!(
        eval(w, json!({"get_param": ["map", "k", "n", 1]}), &st),
        Ok(json!(2))
    );
    assert_eq!(
        eval(w, json!({"get_param": ["list", "1"]}), &st),
        Ok(json!("b"))
    );
    assert_eq!(
        eval(w, json!({"get_param": ["list", -1]}), &st),
        Ok(json!("b"))
    );
    assert_eq!(
        eval(w, json!({"get_param": ["map", "nope"]}), &st),
        Ok(json!(""))
    );
    assert_eq!(
        eval(w, json!({"get_param": []}), &st),
        Err("get_param: Function \"get_param\" must have arguments".into())
    );
    assert_eq!(
        eval(w, json!({"get_param": {"a": 1}}), &st),
        Err("get_param: Argument to \"get_param\" must be string or list".into())
    );
    // get_attr with paths, and all attributes
    assert_eq!(
        eval(w, json!({"get_attr": ["s", "networks", "private", 0]}), &st),
        Ok(json!("10.0.0.5"))
    );
    assert_eq!(
        eval(w, json!({"get_attr": ["s", "networks", "public", 0]}), &st),
        Ok(Value::Null)
    );
    assert_eq!(
        eval(w, json!({"get_attr": ["s", "first_address"]}), &st),
        Ok(Value::Null)
    );
    let all = eval(w, json!({"get_attr": ["h"]}), &st).unwrap();
    assert_eq!(all["token"], json!("tok"));
    assert_eq!(all["endpoint"], Value::Null);
    assert!(all.get("show").is_none());
    assert_eq!(
        eval(w, json!({"get_attr": ["s"]}), &st),
        Ok(Value::Null),
        "s is not created yet"
    );
    assert_eq!(
        eval(w, json!({"get_attr": ["h", "nope"]}), &st),
        Err("The Referenced Attribute (h nope) is incorrect.".into())
    );
    assert_eq!(
        eval(w, json!({"get_resource": "ghost"}), &st),
        Err("The specified reference \"ghost\" (in unknown) is incorrect.".into())
    );
    assert_eq!(eval(w, json!({"get_resource": "s"}), &st), Ok(json!("s")));
    // str_replace: longest keys first, JSON for lists and maps, None as ""
    assert_eq!(
        eval(
            w,
            json!({"str_replace": {"template": "$a $ab $b", "params": {"$a": 1, "$ab": ["x"], "$b": null}}}),
            &st
        ),
        Ok(json!("1 [\"x\"] "))
    );
    assert_eq!(
        eval(
            "2013-05-23",
            json!({"str_replace": {"template": "$a", "params": {"$a": ["x"]}}}),
            &st
        ),
        Err(
            "str_replace: \"str_replace\" params must be strings or numbers, param $a is not valid"
                .into()
        )
    );
    assert_eq!(
        eval(w, json!({"str_replace": {"template": "x"}}), &st),
        Err("str_replace: '\"str_replace\" syntax should be str_replace:\\n              template: This is var1 \
             template var2\\n              params:\\n                var1: a\\n                var2: string'"
            .into())
    );
    assert_eq!(
        eval(
            w,
            json!({"str_replace_strict": {"template": "$a", "params": {"$a": 1, "$b": 2, "$cc": 3}}}),
            &st
        ),
        Err(
            "str_replace_strict: The following params were not found in the template: $cc,$b"
                .into()
        )
    );
    assert_eq!(
        eval(w, json!({"str_replace_vstrict": {"template": "$a", "params": {"$a": ""}}}), &st),
        Err("str_replace_vstrict: str_replace_vstrict has an undefined or empty value for param $a, must be a \
             defined non-empty value"
            .into())
    );
    // list_join
    assert_eq!(
        eval(w, json!({"list_join": [",", ["a", null], [{"k": 1}]]}), &st),
        Ok(json!("a,,{\"k\": 1}"))
    );
    assert_eq!(
        eval("2013-05-23", json!({"list_join": [",", ["a", 1]]}), &st),
        Err("list_join: Items to join must be strings not 1".into())
    );
    assert_eq!(
        eval(w, json!({"list_join": ","}), &st),
        Err("list_join: Incorrect arguments to \"list_join\" should be: \"list_join\" : [ \" \", [ \"str1\", \"str2\"] ...]".into())
    );
    // others
    assert_eq!(
        eval(w, json!({"str_split": [",", "a,b,c", 1]}), &st),
        Ok(json!("b"))
    );
    assert_eq!(
        eval(w, json!({"str_split": [",", "a,b", 5]}), &st),
        Err("str_split: Incorrect index to \"str_split\" should be between 0 and 1".into())
    );
    assert_eq!(
        eval(
            w,
            json!({"map_merge": [{"a": 1}, null, {"a": 2, "b": 3}]}),
            &st
        ),
        Ok(json!({"a": 2, "b": 3}))
    );
    assert_eq!(
        eval(
            w,
            json!({"list_concat_unique": [[1, 2], [2, 3], null]}),
            &st
        ),
        Ok(json!([1, 2, 3]))
    );
    assert_eq!(
        eval(w, json!({"get_file": "script.sh"}), &st),
        Ok(json!("#!/bin/sh\n"))
    );
    assert_eq!(
        eval(w, json!({"get_file": "nope.sh"}), &st),
        Err(
            "get_file: No content found in the \"files\" section for get_file path: nope.sh".into()
        )
    );
    // removed and unsupported functions; unknown single-key maps are data
    assert_eq!(
        eval(w, json!({"Ref": "h"}), &st),
        Err("Ref: The template version is invalid: The function Ref is not supported in this version of HOT.".into())
    );
    assert_eq!(
        eval("2013-05-23", json!({"Ref": "h"}), &st),
        Ok(json!("h-id"))
    );
    assert_eq!(
        eval(w, json!({"repeat": {}}), &st),
        Err("repeat: The function \"repeat\" is not supported by this engine.".into())
    );
    assert_eq!(
        eval(w, json!({"not_a_function": [1]}), &st),
        Ok(json!({"not_a_function": [1]}))
    );
    assert_eq!(
        eval("2014-10-16", json!({"str_split": [",", "a"]}), &st),
        Ok(json!({"str_split": [",", "a"]}))
    );
}

#[test]
fn evaluation_cfn() {
    let t = parse(WAIT_CFN).unwrap();
    let mut st = state(json!({"KeyName": "k", "Size": 2, "AWS::StackName": "s"}));
    let wait = t.resource_properties("Wait", &st).unwrap();
    assert_eq!(
        wait,
        json!({"Handle": "Handle", "Timeout": 300, "Count": 2})
            .as_object()
            .cloned()
            .unwrap()
    );
    st.refs.insert(
        "Handle".into(),
        json!("https://cfn/v1/waitcondition/arn%3A..."),
    );
    st.attrs
        .insert(("Key".into(), "SecretAccessKey".into()), json!("secret"));
    assert_eq!(
        t.output_value("Url", &st).unwrap(),
        json!("url=https://cfn/v1/waitcondition/arn%3A...")
    );
    assert_eq!(t.output_value("Secret", &st).unwrap(), json!("secret"));
    let ev = |v: Value| t.evaluate(&v, &st).map_err(|e| e.heat_message());
    assert_eq!(ev(json!({"Ref": "KeyName"})), Ok(json!("k")));
    assert_eq!(ev(json!({"Ref": "AWS::StackName"})), Ok(json!("s")));
    assert_eq!(
        ev(json!({"Ref": "nope"})),
        Err("The specified reference \"nope\" (in unknown) is incorrect.".into())
    );
    assert_eq!(
        ev(json!({"Fn::Base64": "#!/bin/sh"})),
        Ok(json!("#!/bin/sh"))
    );
    assert_eq!(
        ev(json!({"Fn::Base64": ["x"]})),
        Err("Fn::Base64: \"Fn::Base64\" argument must be a string".into())
    );
    assert_eq!(ev(json!({"Fn::Select": ["1", ["a", "b"]]})), Ok(json!("b")));
    assert_eq!(ev(json!({"Fn::Select": [5, ["a", "b"]]})), Ok(json!("")));
    assert_eq!(
        ev(json!({"Fn::Split": [",", "a,b"]})),
        Ok(json!(["a", "b"]))
    );
    assert_eq!(
        ev(json!({"Fn::Replace": [{"$x": {"Ref": "KeyName"}}, "key=$x"]})),
        Ok(json!("key=k"))
    );
    assert_eq!(
        ev(json!({"Fn::GetAtt": ["Key"]})),
        Err("Fn::GetAtt: Arguments to \"Fn::GetAtt\" must be of the form [resource_name, attribute]".into())
    );
    assert_eq!(
        ev(json!({"get_resource": "Handle"})),
        Ok(json!({"get_resource": "Handle"})),
        "not a CFN function"
    );
    let e = t
        .evaluate(&json!({"Fn::FindInMap": ["m", "k", "v"]}), &st)
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unsupported);
}

#[test]
fn validation_with_parameter_values() {
    let t = parse(
        "heat_template_version: 2013-05-23\nparameters:\n  timeout: {type: string, default: soon}\n  transport: {type: string}\nresources:\n  \
         h: {type: OS::Heat::WaitConditionHandle, properties: {signal_transport: {get_param: transport}}}\n  \
         w: {type: OS::Heat::WaitCondition, properties: {handle: {get_resource: h}, timeout: {get_param: timeout}}}\n",
    )
    .unwrap();
    // without values, computed properties are left for later
    t.validate().unwrap();
    let pseudo = PseudoParameters::default();
    let given = json!({"transport": "SMOKE"}).as_object().cloned().unwrap();
    let params = resolve_parameters(&t, &given, &pseudo).unwrap();
    assert_eq!(
        t.validate_with_parameters(&params).unwrap_err().heat_message(),
        "Property error: resources.h.properties.signal_transport: \"SMOKE\" is not an allowed value \
         [\"CFN_SIGNAL\", \"TEMP_URL_SIGNAL\", \"HEAT_SIGNAL\", \"NO_SIGNAL\", \"ZAQAR_SIGNAL\", \"TOKEN_SIGNAL\"]"
    );
    let given = json!({"transport": "NO_SIGNAL"})
        .as_object()
        .cloned()
        .unwrap();
    let params = resolve_parameters(&t, &given, &pseudo).unwrap();
    assert_eq!(
        t.validate_with_parameters(&params)
            .unwrap_err()
            .heat_message(),
        "Property error: resources.w.properties.timeout: could not convert string to float: 'soon'"
    );
    let given = json!({"transport": "NO_SIGNAL", "timeout": "30"})
        .as_object()
        .cloned()
        .unwrap();
    let params = resolve_parameters(&t, &given, &pseudo).unwrap();
    t.validate_with_parameters(&params).unwrap();
    // unknown parameters are found without values too
    assert_eq!(
        error_of("heat_template_version: 2013-05-23\nresources:\n  h: {type: OS::Heat::WaitConditionHandle, properties: {signal_transport: {get_param: nope}}}\n"),
        (
            "resources.h.properties.signal_transport.get_param: The Parameter (nope) was not provided.".to_string(),
            "The Parameter (nope) was not provided.".to_string()
        )
    );
    // get_file content comes with the stack's files, at creation
    let t = parse("heat_template_version: 2013-05-23\nresources:\n  c: {type: OS::Heat::SoftwareConfig, properties: {config: {get_file: script.sh}}}\n").unwrap();
    let params = resolve_parameters(&t, &Map::new(), &pseudo).unwrap();
    t.validate_with_parameters(&params).unwrap();
    // pseudo parameters are known
    parse("heat_template_version: 2013-05-23\nresources:\n  h: {type: OS::Heat::None, metadata: {n: {get_param: OS::stack_name}}}\n")
        .unwrap()
        .validate()
        .unwrap();
}

#[test]
fn function_argument_errors_at_validation() {
    let hot = |version: &str, body: &str| {
        heat_error(&format!(
            "heat_template_version: {version}\nresources:\n{body}"
        ))
    };
    assert_eq!(
        hot("2015-10-15", "  a: {type: OS::Heat::None, metadata: {x: {list_join: {a: 1}}}}\n"),
        "resources.a.metadata.x.list_join: Incorrect arguments to \"list_join\" should be: \"list_join\" : \
         [ \" \", [ \"str1\", \"str2\"] ...]"
    );
    assert_eq!(
        hot(
            "2015-10-15",
            "  a: {type: OS::Heat::None, metadata: {x: {str_replace: {get_param: p}}}}\n"
        ),
        "resources.a.metadata.x.str_replace: Arguments to \"str_replace\" must be a map"
    );
    assert_eq!(
        hot("2015-10-15", "  a: {type: OS::Heat::None, metadata: {x: {Ref: a}}}\n"),
        "resources.a.metadata.x.Ref: The template version is invalid: The function Ref is not supported in \
         this version of HOT."
    );
    assert_eq!(
        hot("2015-10-15", "  a: {type: OS::Heat::None, metadata: {x: {Fn::Select: [0, [1]]}}}\n"),
        "resources.a.metadata.x.Fn::Select: The template version is invalid: The function Fn::Select is not \
         supported in this version of HOT."
    );
    let e = parse("heat_template_version: pike\nresources:\n  a: {type: OS::Heat::None, metadata: {x: {if: [c, 1, 2]}}}\n")
        .unwrap()
        .validate()
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unsupported);
    assert_eq!(
        e.to_string(),
        "resources.a.metadata.x.if: The function \"if\" is not supported by this engine."
    );
    let e = parse("heat_template_version: 2013-05-23\nparameters: {r: {type: string}}\nresources:\n  a: {type: OS::Heat::None, metadata: {x: {get_resource: {get_param: r}}}}\n")
        .unwrap()
        .validate()
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unsupported);
    assert_eq!(e.path, "resources.a.metadata.x.get_resource");
}

#[test]
fn free_evaluate_knows_every_dialect() {
    let mut st = state(json!({"p": "v"}));
    st.refs.insert("r".into(), json!("r-id"));
    assert_eq!(
        evaluate(&json!({"get_param": "p"}), &st).unwrap(),
        json!("v")
    );
    assert_eq!(evaluate(&json!({"Ref": "p"}), &st).unwrap(), json!("v"));
    assert_eq!(evaluate(&json!({"Ref": "r"}), &st).unwrap(), json!("r-id"));
    assert_eq!(
        evaluate(&json!({"get_resource": "other"}), &st).unwrap(),
        json!("other")
    );
    assert_eq!(
        evaluate(
            &json!({"Fn::Join": ["-", [{"get_resource": "r"}, "x"]]}),
            &st
        )
        .unwrap(),
        json!("r-id-x")
    );
    assert_eq!(
        evaluate(&json!({"Fn::GetAtt": ["r", "anything"]}), &st).unwrap(),
        Value::Null
    );
    assert_eq!(
        evaluate(&json!([{"k": {"get_param": "p"}}]), &st).unwrap(),
        json!([{"k": "v"}])
    );
}

#[test]
fn the_dependency_graph_of_references_in_properties_and_metadata_only() {
    let t = parse(
        "heat_template_version: 2013-05-23\nresources:\n  a: {type: OS::Heat::None}\n  b: {type: OS::Heat::None, metadata: {x: {get_attr: [a, show]}}}\noutputs:\n  o: {value: {get_resource: b}}\n",
    )
    .unwrap();
    let g = t.dependency_graph().unwrap();
    assert_eq!(g.creation_order(), ["a", "b"]);
    assert_eq!(g.requires("b"), ["a"]);
    assert!(g.requires("a").is_empty());
    assert!(g.required_by("b").is_empty());
    let no_values: IndexMap<String, Value> = IndexMap::new();
    t.validate_with_parameters(&no_values).unwrap();
}
