//! Any policy file text: loading either fails cleanly or yields rules that
//! compile and enforce without panicking.
#![no_main]

use heatgate_policy::ruleset::parse_policy_text;
use heatgate_policy::{Credentials, Enforcer, RuleSet, Target};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(file) = parse_policy_text("fuzz", text) else {
        return;
    };
    let names: Vec<String> = file.rules.iter().map(|(k, _)| k.clone()).collect();
    let enforcer = Enforcer::new(RuleSet {
        files: vec![file],
        ..RuleSet::new()
    });
    let creds = Credentials::builder()
        .project_id("p")
        .roles(["member"])
        .build();
    for n in names.iter().take(16) {
        let _ = enforcer.enforce(n, &Target::new().with("project_id", "p"), &creds);
    }
});
