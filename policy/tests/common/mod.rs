//! Shared by the differential tests: the oracle process and a seeded PRNG.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;

use heatgate_policy::remote::{body_passes, RemoteCheck, RemoteError, RemoteRequest};

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// The oracle interpreter; panics (never skips) when it is missing.
pub fn oracle_python() -> PathBuf {
    if let Ok(p) = std::env::var("HEATGATE_ORACLE_PYTHON") {
        let p = PathBuf::from(p);
        assert!(
            p.exists(),
            "HEATGATE_ORACLE_PYTHON={} does not exist",
            p.display()
        );
        return p;
    }
    let p = workspace_root().join(".oracles/venv/bin/python");
    assert!(
        p.exists(),
        "the oslo.policy oracle is not installed ({} missing): run `scripts/oracles install` \
         (or set HEATGATE_ORACLE_PYTHON to a python with oslo.policy==6.0.1)",
        p.display()
    );
    p
}

/// Runs a script of the oracle directory over JSON lines, one answer per line.
pub fn run_oracle(script: &str, lines: &[String]) -> Vec<String> {
    let py = oracle_python();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/oracle")
        .join(script);
    let mut child = Command::new(&py)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", py.display()));
    let mut stdin = child.stdin.take().expect("stdin");
    let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let writer = std::thread::spawn(move || {
        stdin.write_all(input.as_bytes()).expect("write to oracle");
    });
    let out = BufReader::new(child.stdout.take().expect("stdout"));
    let answers: Vec<String> = out.lines().map(|l| l.expect("oracle output")).collect();
    writer.join().expect("writer");
    let status = child.wait().expect("oracle exit");
    assert!(status.success(), "oracle exited with {status}");
    assert_eq!(
        answers.len(),
        lines.len(),
        "oracle answered {} of {} lines",
        answers.len(),
        lines.len()
    );
    answers
}

/// splitmix64: small, seedable, good enough for case generation.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// The seed: HEATGATE_POLICY_SEED or a fresh one, printed either way.
pub fn seed() -> u64 {
    let seed = match std::env::var("HEATGATE_POLICY_SEED") {
        Ok(s) => s.parse().expect("HEATGATE_POLICY_SEED must be a u64"),
        Err(_) => {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            (t as u64) ^ u64::from(std::process::id()).rotate_left(32)
        }
    };
    println!("HEATGATE_POLICY_SEED={seed}");
    eprintln!("HEATGATE_POLICY_SEED={seed}");
    seed
}

/// The Rust twin of the oracle's fake `requests.post`.
#[derive(Debug)]
pub struct FakeRemote;

impl RemoteCheck for FakeRemote {
    fn check(&self, req: &RemoteRequest<'_>) -> Result<bool, RemoteError> {
        let url = req.url;
        let last = url.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        if url.contains("/timeout") {
            return Err(RemoteError::Timeout);
        }
        if url.contains("/connerr") {
            return Err(RemoteError::Connection("refused".into()));
        }
        let body = match last {
            "true" => "True",
            "qtrue" => "\"True\"",
            "false" => "False",
            "lower" => "true",
            "qqtrue" => "\"\"True\"\"",
            other => other,
        };
        Ok(body_passes(body))
    }
}

pub fn fake_remote() -> Arc<dyn RemoteCheck> {
    Arc::new(FakeRemote)
}
