//! The fuzz target's committed seeds, run as an ordinary test: every seed of
//! `middleware/fuzz/corpus/ec2_request` (year 9999 and year 0 time stamps,
//! offsets, SigV2 and SigV4 in query, header and form) goes through the
//! target's checks on every build, without a nightly toolchain. A campaign
//! at scale is `scripts/fuzz`.

use heatgate_middleware::ec2token::fuzz::ec2_request;

#[test]
fn every_committed_seed_passes_the_fuzz_target_s_checks() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/ec2_request");
    let mut seeds: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("seed-"))
        })
        .collect();
    seeds.sort();
    assert!(
        seeds.len() >= 40,
        "{} seeds in {}",
        seeds.len(),
        dir.display()
    );
    for seed in &seeds {
        let data = std::fs::read(seed).unwrap();
        let outcome = std::panic::catch_unwind(|| ec2_request(&data));
        assert!(outcome.is_ok(), "{} panicked", seed.display());
    }
}
