//! A `heatgate` process started by a test: its stderr captured, the
//! addresses it prints (`listening on http://...`, `cfn listening on ...`)
//! parsed, killed when dropped.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A running `heatgate` subcommand.
#[derive(Debug)]
pub struct Process {
    child: Child,
    /// The addresses it printed, in the order asked for.
    pub addrs: Vec<SocketAddr>,
    stderr: Arc<Mutex<String>>,
}

impl Process {
    /// Runs `command` (its stdout and stderr are taken here) and waits for one
    /// stdout line per prefix, each followed by an address
    /// (`["listening on http://", "cfn listening on http://"]`). An `https://`
    /// line matches an `http://` prefix too. If the process exits or prints
    /// something else first, the error carries its stderr.
    pub fn start(mut command: Command, prefixes: &[&str]) -> Result<Process, String> {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {command:?}: {e}"))?;
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let err = child.stderr.take().expect("piped stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap_or_else(|p| p.into_inner());
                s.push_str(&line);
                s.push('\n');
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut addrs = Vec::new();
        for prefix in prefixes {
            let mut line = String::new();
            let _ = stdout.read_line(&mut line);
            let line = line.trim().replace("https://", "http://");
            match line.strip_prefix(prefix).and_then(|a| a.parse().ok()) {
                Some(addr) => addrs.push(addr),
                None => {
                    let status = child.wait().ok();
                    std::thread::sleep(Duration::from_millis(100));
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
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nobody listens on right now (for a process that must know
/// another's address before that one starts).
pub fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
}
