//! `heatgate demo`, the README's main job, runs to the end with every step
//! passing (it starts its own Keystone through scripts/keystone).

use std::process::Command;

#[test]
fn the_demo_walks_the_whole_story_and_every_step_passes() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let out = Command::new(env!("CARGO_BIN_EXE_heatgate"))
        .args(["demo", "--source"])
        .arg(&root)
        .output()
        .expect("run heatgate demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    let (passed, total) = last
        .split_once(" of ")
        .map(|(a, b)| {
            (
                a.to_owned(),
                b.split_whitespace().next().unwrap_or("").to_owned(),
            )
        })
        .unwrap();
    assert_eq!(passed, total, "{stdout}");
    assert!(total.parse::<u32>().unwrap() >= 18, "{stdout}");
    assert!(!stdout.contains("FAIL "), "{stdout}");
}
