//! Any rule text: parsing never panics, printing is stable, and compiling and
//! enforcing the parsed rule never panics.
#![no_main]

use heatgate_policy::{parse_rule, Credentials, Enforcer, RuleSet, Target};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = parse_rule(text);
    // str(check) is itself a rule that parses to the same tree (oslo's printer
    // output round-trips unless the tree holds quoted or colon-less atoms).
    let printed = parsed.check.to_string();
    let again = parse_rule(&printed);
    if parsed.issues.is_empty() {
        assert_eq!(again.check.to_string(), printed, "round trip of {text:?}");
    }
    let enforcer =
        Enforcer::new(RuleSet::new().with_rules("fuzz", [("r", text), ("s", "rule:r or rule:s")]));
    let creds = Credentials::builder()
        .project_id("p")
        .roles(["admin"])
        .build();
    let target = Target::new().with("project_id", "p");
    let _ = enforcer.enforce("r", &target, &creds);
    let _ = enforcer.enforce("s", &target, &creds);
});
