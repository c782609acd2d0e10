//! Test support: real Keystone instances (through `scripts/keystone`), their
//! fixture identities, a recording upstream, fault servers for what a real
//! Keystone cannot be made to do, log capture, heatgate processes and
//! SigV2-signed CFN requests.
//!
//! Every test binary gets a running Keystone: the one named by the
//! `HEATGATE_TEST_KEYSTONE` environment variable (an instance directory, as
//! `scripts/test` exports), or one started here. If Keystone cannot be started
//! the tests FAIL with the reason; they never skip.

pub mod ec2_oracle;
pub mod faults;
pub mod keystone;
pub mod logs;
pub mod process;
pub mod signing;
pub mod upstream;

pub use keystone::{Fixtures, Keystone, User};
pub use upstream::{Recorded, Recorder};

/// The workspace root (where `scripts/` is).
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .to_path_buf()
}
