//! What the tests of `heatgate proxy` with both listeners share: its
//! configuration and the process.

use std::path::PathBuf;
use std::process::Command;

use heatgate_tests::process::Process;
use heatgate_tests::{Keystone, Recorder};

/// `[keystone_authtoken]` for the heat service user of `keystone`, with
/// `extra` lines.
pub(crate) fn keystone_section(keystone: &Keystone, extra: &str) -> String {
    let heat = &keystone.fixtures.heat;
    format!(
        "[keystone_authtoken]\nauth_url = \"{}\"\nusername = \"{}\"\npassword = \"{}\"\nproject_name = \"service\"\nuser_domain_id = \"default\"\nproject_domain_id = \"default\"\nhttp_connect_timeout = 10\n{extra}\n",
        keystone.auth_url(),
        heat.username,
        heat.password
    )
}

/// Writes `text` as `heatgate.toml` in a directory of this test process
/// named after `name`.
pub(crate) fn config_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("heatgate-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("heatgate.toml");
    std::fs::write(&file, text).unwrap();
    file
}

/// `heatgate proxy` with both listeners in front of `rest` and `cfn`,
/// configured with `config` (and its metrics listener, third in
/// [`Process::addrs`], when `config` sets `metrics_listen`).
pub(crate) fn proxy(name: &str, rest: &Recorder, cfn: &Recorder, config: &str) -> Process {
    let file = config_file(name, config);
    let mut command = Command::new(env!("CARGO_BIN_EXE_heatgate"));
    command
        .args([
            "proxy",
            "--upstream",
            &rest.url(),
            "--cfn-upstream",
            &cfn.url(),
        ])
        .args(["--listen", "127.0.0.1:0", "--cfn-listen", "127.0.0.1:0"])
        .arg("--config")
        .arg(&file)
        .env("RUST_LOG", "info");
    let mut lines = vec!["listening on http://", "cfn listening on http://"];
    if config.contains("metrics_listen") {
        lines.push("metrics listening on http://");
    }
    Process::start(command, &lines).unwrap_or_else(|e| panic!("the proxy did not start: {e}"))
}
