//! A recording, fault-injecting proxy between the code under test and moto
//! (`tests/support/aws_proxy.py`): counts AWS calls and injects throttles and
//! silently ignored writes.

use std::fmt;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use serde::Deserialize;

use super::{repo_root, Moto};

/// How long the proxy may take to start before a test gives up.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Operation name prefixes of calls that only read AWS. Every other call,
/// including one the proxy could not name, counts as a write: a test that
/// asserts "no writes" then fails loudly rather than missing a change.
const READ_PREFIXES: &[&str] = &["Describe", "Get", "List", "BatchGet", "Check", "Validate"];

/// One AWS call as the proxy saw it, in the order the answers were sent.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Call {
    /// The SigV4 signing name: `monitoring` (CloudWatch), `sns`,
    /// `secretsmanager`, `ecs`, `application-autoscaling`, `tagging`.
    pub service: Option<String>,
    /// `PutMetricAlarm`, `UpdateService`, ...
    pub operation: Option<String>,
    /// The HTTP status of the answer.
    pub status: u16,
    /// Whether the proxy answered itself instead of moto.
    pub injected: bool,
    /// The fault rule's action when injected: `throttle`, `error` or `drop`.
    pub fault: Option<String>,
    /// When the request arrived, in microseconds of the proxy's monotonic
    /// clock (only differences between calls mean anything).
    pub received_us: u64,
}

impl Call {
    /// The operation name, or `""` when the proxy could not name the call.
    pub fn op(&self) -> &str {
        self.operation.as_deref().unwrap_or("")
    }

    /// Whether this call changes AWS (anything but Describe/Get/List/...).
    pub fn is_write(&self) -> bool {
        !READ_PREFIXES.iter().any(|p| self.op().starts_with(p))
    }

    /// When the request arrived, on the proxy's monotonic clock.
    pub fn received(&self) -> Duration {
        Duration::from_micros(self.received_us)
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let service = self.service.as_deref().unwrap_or("?");
        write!(f, "{service}.{} {}", self.op(), self.status)?;
        if let Some(fault) = &self.fault {
            write!(f, " ({fault}, injected)")?;
        }
        Ok(())
    }
}

/// A proxy of this test's own in front of `moto`; stopped when dropped.
pub struct Proxy {
    child: Child,
    pub port: u16,
    /// Use as `AWS_ENDPOINT_URL` or an SDK endpoint in place of moto's.
    pub endpoint: String,
}

impl Proxy {
    /// Starts the proxy on a free loopback port in front of `moto` and waits
    /// until it answers. Set `DRIFTD_TEST_PROXY_VERBOSE=1` to have it log
    /// every request to stderr.
    pub fn start(moto: &Moto) -> Proxy {
        let python = repo_root().join(".venv/bin/python");
        assert!(
            python.exists(),
            "{} is missing: run scripts/install-emulator.sh",
            python.display()
        );
        let mut cmd = Command::new(&python);
        cmd.arg(repo_root().join("tests/support/aws_proxy.py"))
            .args(["--port", "0", "--upstream", &moto.endpoint]);
        if std::env::var_os("DRIFTD_TEST_PROXY_VERBOSE").is_some() {
            cmd.arg("--verbose");
        }
        // The proxy exits when its stdin closes: we keep the pipe open in
        // `child` until Drop, so it cannot outlive this test even if killed
        // uncleanly.
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start aws_proxy.py");

        // It binds port 0 and prints the port it got; reading on a thread
        // bounds the wait.
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line); // EOF leaves it empty
            let _ = tx.send(line); // the receiver may have given up
        });
        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill(); // cleaning up before the panic below
                let _ = child.wait();
                panic!("aws_proxy.py did not print its port within {START_TIMEOUT:?}");
            }
        };
        let port: u16 = match line.trim().parse() {
            Ok(port) => port,
            Err(_) => {
                let status = child.wait().expect("wait for aws_proxy.py");
                panic!("aws_proxy.py did not start ({status}); it printed {line:?}");
            }
        };
        let proxy = Proxy {
            child,
            port,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        while request(port, "GET", "/__proxy/calls", "").is_none() {
            assert!(
                Instant::now() < deadline,
                "aws_proxy.py did not answer within {START_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        proxy
    }

    /// Every AWS call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        let body = self.control("GET", "/__proxy/calls", "");
        serde_json::from_str(&body).expect("parse the proxy's call log")
    }

    /// Forgets the recorded calls; fault rules stay in force.
    pub fn reset(&self) {
        self.control("POST", "/__proxy/reset", "");
    }

    /// Replaces the fault rules, e.g.
    /// `json!([{"operation": "PutMetricAlarm", "action": "throttle", "every": 2}])`.
    /// Panics with the proxy's explanation when a rule is invalid.
    pub fn faults(&self, rules: serde_json::Value) {
        if let Err(message) = self.try_faults(&rules) {
            panic!("fault rules rejected: {message}");
        }
    }

    /// Like [`Proxy::faults`], but returns the proxy's complaint instead of panicking.
    pub fn try_faults(&self, rules: &serde_json::Value) -> Result<(), String> {
        let (status, body) = request(self.port, "POST", "/__proxy/faults", &rules.to_string())
            .expect("the proxy answers");
        match status {
            200 => Ok(()),
            _ => Err(body),
        }
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.faults(serde_json::json!([]));
    }

    /// The rules in force, each with a `fired` count.
    pub fn rules(&self) -> serde_json::Value {
        let body = self.control("GET", "/__proxy/faults", "");
        serde_json::from_str(&body).expect("parse the proxy's fault rules")
    }

    /// The calls that change AWS (see [`Call::is_write`]), injected ones included.
    pub fn writes(&self) -> Vec<Call> {
        self.calls().into_iter().filter(Call::is_write).collect()
    }

    /// Fails the test, listing them, when any call changed AWS; `what` says
    /// what was to write nothing.
    #[track_caller]
    pub fn assert_no_writes(&self, what: &str) {
        let writes: Vec<String> = self.writes().iter().map(ToString::to_string).collect();
        assert!(writes.is_empty(), "{what} wrote: {writes:?}");
    }

    /// The calls the proxy answered itself.
    pub fn injected(&self) -> Vec<Call> {
        self.calls().into_iter().filter(|c| c.injected).collect()
    }

    /// How many calls of this operation were made, injected ones included.
    pub fn count(&self, operation: &str) -> usize {
        self.calls().iter().filter(|c| c.op() == operation).count()
    }

    /// An AWS SDK config for this proxy, with the SDK's default retries.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        self.sdk_config_with(RetryConfig::standard()).await
    }

    /// An AWS SDK config for this proxy with these retry settings.
    pub async fn sdk_config_with(&self, retry: RetryConfig) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_sdk_sns::config::Credentials::new(
                "test", "test", None, None, "tests",
            ))
            .retry_config(retry)
            .load()
            .await
    }

    /// The `driftd` binary, pointed at this proxy instead of at `moto`.
    pub fn driftd(&self, moto: &Moto) -> Command {
        let mut cmd = moto.driftd();
        cmd.env("AWS_ENDPOINT_URL", &self.endpoint);
        cmd
    }

    fn control(&self, method: &str, path: &str, body: &str) -> String {
        match request(self.port, method, path, body) {
            Some((200, body)) => body,
            Some((status, body)) => panic!("proxy {method} {path}: {status} {body}"),
            None => panic!("proxy {method} {path}: no answer"),
        }
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Proxy({})", self.endpoint)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill(); // it may have exited already; either way we reap it
        let _ = self.child.wait();
    }
}

/// A request to the proxy's control API (JSON bodies).
fn request(port: u16, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    super::request(
        port,
        method,
        path,
        &[("Content-Type", "application/json")],
        body,
    )
}
