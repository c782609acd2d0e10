//! The Python references of the EC2 signature tests: keystoneclient's
//! `Ec2Signer` (what Keystone runs), botocore and boto 2.49 (clients), in
//! `.oracles/ec2-venv`, pinned by `scripts/oracles-ec2-requirements.txt`.
//!
//! The venv is created on first use (under a lock, so parallel test binaries
//! share one install); when that fails the test FAILS with the reason and the
//! command to run by hand. It never skips.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

fn venv() -> PathBuf {
    crate::workspace_root().join(".oracles").join("ec2-venv")
}

fn requirements() -> PathBuf {
    crate::workspace_root()
        .join("scripts")
        .join("oracles-ec2-requirements.txt")
}

/// The oracle script.
pub fn script() -> PathBuf {
    crate::workspace_root()
        .join("tests")
        .join("oracle")
        .join("ec2_oracle.py")
}

const INSTALL: &str = r#"set -euo pipefail
venv="$1"; reqs="$2"; marker="$venv/.requirements"
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
if [[ -x "$venv/bin/python" && -f "$marker" ]] && cmp -s "$marker" "$reqs"; then exit 0; fi
py=""
for p in python3.11 python3.12 python3.13 python3; do
  if command -v "$p" >/dev/null 2>&1; then py="$(command -v "$p")"; break; fi
done
[[ -n "$py" ]] || { echo "no python3 found" >&2; exit 1; }
rm -rf "$venv"
"$py" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r "$reqs"
"$venv/bin/python" -c "import keystoneclient.contrib.ec2.utils, botocore.auth, boto.cloudformation.connection"
cp "$reqs" "$marker"
"#;

/// The oracle interpreter, installing the venv if needed. Panics (the test
/// fails) when it cannot be had.
pub fn python() -> PathBuf {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let result = PYTHON.get_or_init(|| {
        let out = Command::new("bash")
            .arg("-c")
            .arg(INSTALL)
            .arg("install-ec2-oracles")
            .arg(venv())
            .arg(requirements())
            .output()
            .map_err(|e| format!("cannot run bash: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(venv().join("bin").join("python"))
    });
    match result {
        Ok(p) => p.clone(),
        Err(e) => panic!(
            "the EC2 oracle venv (.oracles/ec2-venv) is missing and could not be installed:\n{e}\n\
             Install it by hand: python3 -m venv .oracles/ec2-venv && \
             .oracles/ec2-venv/bin/pip install --no-deps -r scripts/oracles-ec2-requirements.txt \
             && cp scripts/oracles-ec2-requirements.txt .oracles/ec2-venv/.requirements"
        ),
    }
}

/// Runs `cases` (each one JSON object, as text, so the order of keys is kept)
/// through the oracle and returns one result per case.
pub fn run(cases: &[String]) -> Vec<Value> {
    use std::io::Write as _;
    let mut child = Command::new(python())
        .arg(script())
        .env("PYTHONUTF8", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the EC2 oracle: {e}"));
    let input = format!("{{\"cases\": [{}]}}", cases.join(",")).into_bytes();
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("oracle output");
    writer.join().expect("writer");
    assert!(
        out.status.success(),
        "the EC2 oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("oracle JSON");
    let results = doc["results"].as_array().expect("results").clone();
    assert_eq!(results.len(), cases.len(), "one result per case");
    results
}

/// A small deterministic generator (xorshift64*), so failures replay from a seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (0 is replaced).
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// The seed from `HEATGATE_SEED`, else from the clock; printed so a failure can be replayed.
    pub fn from_env(test: &str) -> Self {
        let seed = std::env::var("HEATGATE_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        eprintln!("{test}: seed {seed} (replay with HEATGATE_SEED={seed})");
        Self::new(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    /// One element of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A string of `0..=max` characters from `alphabet`.
    pub fn string(&mut self, alphabet: &[char], max: usize) -> String {
        let n = self.below(max + 1);
        (0..n).map(|_| *self.pick(alphabet)).collect()
    }
}
