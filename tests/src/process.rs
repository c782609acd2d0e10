//! A `heatgate` process started by a test: its stderr captured, the
//! addresses it prints (`listening on http://...`, `cfn listening on ...`)
//! parsed, killed when dropped.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a process that printed no listening line gets to exit on its own
/// before it is killed (its stderr then says why it stopped).
const EXIT_GRACE: Duration = Duration::from_secs(30);

/// A running `heatgate` subcommand.
#[derive(Debug)]
pub struct Process {
    child: Child,
    /// The addresses it printed, in the order asked for.
    pub addrs: Vec<SocketAddr>,
    /// The stdout lines those addresses came from, trimmed
    /// (`listening on https://127.0.0.1:4242`), in the same order.
    pub lines: Vec<String>,
    stderr: Arc<Mutex<String>>,
}

impl Process {
    /// Runs `command` (its stdout and stderr are taken here) and waits for one
    /// stdout line per prefix, each followed by an address
    /// (`["listening on http://", "cfn listening on http://"]`). An `https://`
    /// line matches an `http://` prefix too ([`Process::lines`] keeps what was
    /// printed). If the process exits or prints something else first, the
    /// error carries its stderr.
    pub fn start(mut command: Command, prefixes: &[&str]) -> Result<Process, String> {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {command:?}: {e}"))?;
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let err = child.stderr.take().expect("piped stderr");
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap_or_else(|p| p.into_inner());
                s.push_str(&line);
                s.push('\n');
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut addrs = Vec::new();
        let mut lines = Vec::new();
        for prefix in prefixes {
            let mut line = String::new();
            let _ = stdout.read_line(&mut line);
            let line = line.trim().to_owned();
            let addr = line
                .replace("https://", "http://")
                .strip_prefix(prefix)
                .and_then(|a| a.parse().ok());
            match addr {
                Some(addr) => {
                    addrs.push(addr);
                    lines.push(line);
                }
                None => {
                    let status = match wait_timeout(&mut child, EXIT_GRACE) {
                        Some(status) => Some(status),
                        None => {
                            let _ = child.kill();
                            child.wait().ok()
                        }
                    };
                    // The process is gone: its stderr is complete once read.
                    let _ = reader.join();
                    let log = stderr.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    return Err(format!(
                        "expected {prefix:?}, got {line:?} ({status:?}); stderr: {log}"
                    ));
                }
            }
        }
        // Keep draining stdout so the process never blocks on a full pipe.
        std::thread::spawn(move || for _ in stdout.lines().map_while(Result::ok) {});
        Ok(Process {
            child,
            addrs,
            lines,
            stderr,
        })
    }

    /// Everything it wrote on stderr so far.
    pub fn log(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Its process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// `scheme://addr{path}` for the `listener`-th address, with the scheme
    /// it printed (`http` or `https`).
    pub fn url(&self, listener: usize, path: &str) -> String {
        let scheme = if self.lines[listener].contains("https://") {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}{path}", self.addrs[listener])
    }

    /// Kills it with SIGKILL (no chance to clean up) and reaps it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends it SIGTERM (a graceful stop) without waiting.
    pub fn sigterm(&self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.id().to_string())
            .status();
    }

    /// Its exit status once it has exited, or `None` if it is still running
    /// after `within`.
    pub fn wait_timeout(&mut self, within: Duration) -> Option<ExitStatus> {
        wait_timeout(&mut self.child, within)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_timeout(child: &mut Child, within: Duration) -> Option<ExitStatus> {
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if started.elapsed() >= within {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A loopback port nobody listens on right now (for a process that must know
/// another's address before that one starts).
pub fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
}
