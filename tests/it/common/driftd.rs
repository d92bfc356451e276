//! A running `driftd run` for black-box tests: started on a free port, its
//! JSON logs collected, its HTTP endpoints read; killed when dropped.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long the daemon may take to start serving.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The log line that says where the daemon serves.
const STARTED: &str = "driftd started: serving /metrics /healthz /readyz /status";

pub struct Daemon {
    child: Child,
    addr: SocketAddr,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Daemon {
    /// Starts `cmd run --desired-state DIR --interval INTERVAL ARGS...` and
    /// waits until it serves HTTP.
    pub fn start(mut cmd: Command, dir: &Path, interval: &str, args: &[&str]) -> Daemon {
        cmd.args(["run", "--desired-state"])
            .arg(dir)
            .args([
                "--interval",
                interval,
                "--metrics-addr",
                "127.0.0.1:0",
                "--log-format",
                "json",
            ])
            .args(args)
            .env("RUST_LOG", "warn,driftd=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start driftd run");
        let stderr = child.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        {
            let logs = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if let Ok(v) = serde_json::from_str::<Value>(&line) {
                        if v["message"] == STARTED {
                            // The test may have given up waiting: fine.
                            let _ =
                                addr_tx.send(v["addr"].as_str().unwrap_or_default().to_string());
                        }
                    }
                    logs.lock().unwrap().push(line);
                }
            });
        }
        let mut daemon = Daemon {
            child,
            addr: "127.0.0.1:0".parse().unwrap(),
            logs,
        };
        match addr_rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) => daemon.addr = addr.parse().expect("listening address"),
            Err(_) => panic!("driftd did not start:\n{}", daemon.logs()),
        }
        daemon
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// `GET path`: the status and the body.
    pub fn get(&self, path: &str) -> (u16, String) {
        super::request(self.addr.port(), "GET", path, &[], "").expect("driftd answers")
    }

    /// One resource of `/status`, or `null`.
    pub fn resource(&self, kind: &str, name: &str) -> Value {
        let (code, body) = self.get("/status");
        assert_eq!(code, 200, "{body}");
        let status: Value = serde_json::from_str(&body).expect("status is JSON");
        status["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .find(|r| r["kind"] == kind && r["name"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// The value of one series, e.g. `driftd_drift_flapping{kind="Alarm",name="x"}`.
    pub fn metric(&self, series: &str) -> Option<f64> {
        self.metrics()
            .lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    }

    /// Full passes completed so far.
    pub fn passes(&self) -> u64 {
        self.metric("driftd_pass_duration_seconds_count")
            .map_or(0, |n| n as u64)
    }

    /// Waits until `n` more full passes have completed.
    pub fn wait_passes(&self, n: u64, limit: Duration) {
        let target = self.passes() + n;
        self.wait(limit, &format!("{n} more passes"), || {
            self.passes() >= target
        });
    }

    /// The log lines, parsed.
    pub fn log_events(&self) -> Vec<Value> {
        self.logs
            .lock()
            .unwrap()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }

    /// `/status`, parsed.
    pub fn status(&self) -> Value {
        let (code, body) = self.get("/status");
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).expect("status is JSON")
    }

    /// `/metrics`, as text.
    pub fn metrics(&self) -> String {
        let (code, body) = self.get("/metrics");
        assert_eq!(code, 200, "{body}");
        body
    }

    /// Polls `/readyz` until it answers 200; returns how long that took.
    pub fn wait_ready(&self) -> Duration {
        let started = Instant::now();
        self.wait(START_TIMEOUT, "ready", || self.get("/readyz").0 == 200);
        started.elapsed()
    }

    /// Sends a signal (`TERM`, `KILL`, ...) with kill(1).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill -{name} failed");
    }

    /// Waits at most `limit` for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for driftd") {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Polls `cond` every 100 ms for at most `limit`; panics with the logs after that.
    pub fn wait(&self, limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
        let started = Instant::now();
        while !cond() {
            assert!(
                started.elapsed() < limit,
                "{what}: not within {limit:?}\n--- driftd logs\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Daemon {
    // A failed test's daemon logs are what explains the failure.
    #[allow(clippy::print_stderr)]
    fn drop(&mut self) {
        let _ = self.child.kill(); // it may have exited already; either way we reap it
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- driftd logs\n{}", self.logs());
        }
    }
}
