//! Shared fixtures for the black-box tests: a private moto emulator on a free
//! loopback port, SDK clients pointed at it, and the real `driftd` binary.
#![allow(dead_code)] // each test binary uses a different part of this module

pub mod cloudwatch;
pub mod driftd;
pub mod ecs;
pub mod kinds;
pub mod proxy;
pub mod secrets;
pub mod sns;
pub mod sqs;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long moto may take to start before a test gives up.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A moto server of this test's own; stopped when dropped.
pub struct Moto {
    child: Child,
    pub port: u16,
    pub endpoint: String,
}

impl Moto {
    /// Starts moto on a free loopback port and waits until it answers.
    pub fn start() -> Moto {
        let moto = repo_root().join(".venv/bin/moto_server");
        assert!(
            moto.exists(),
            "{} is missing: run scripts/install-emulator.sh",
            moto.display()
        );
        // The port is free when we ask; moto binds it a moment later. A clash
        // in between shows up as a start failure below and the test says so.
        let port = free_port();
        let child = Command::new(&moto)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let mut server = Moto {
            child,
            port,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if http(port, "GET", "/moto-api/", "").is_some() {
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("moto_server exited early: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "moto did not start within {START_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Forgets every resource (`POST /moto-api/reset`).
    pub fn reset(&self) {
        http(self.port, "POST", "/moto-api/reset", "").expect("reset moto");
    }

    /// An AWS SDK config for this emulator (dummy credentials, us-east-1).
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_sdk_sns::config::Credentials::new(
                "test", "test", None, None, "tests",
            ))
            .load()
            .await
    }

    /// The `driftd` binary, with the environment that points it at this emulator.
    pub fn driftd(&self) -> Command {
        driftd_at(&self.endpoint)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill(); // it may have exited already; either way we reap it
        let _ = self.child.wait();
    }
}

/// Raw SDK clients for arranging moto and reading back what driftd did.
pub struct Clients {
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub sns: aws_sdk_sns::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub ecs: aws_sdk_ecs::Client,
}

impl Clients {
    /// Clients on this SDK config (moto's, or the recording proxy's).
    pub fn new(config: &aws_config::SdkConfig) -> Clients {
        Clients {
            cloudwatch: aws_sdk_cloudwatch::Client::new(config),
            sns: aws_sdk_sns::Client::new(config),
            secrets: aws_sdk_secretsmanager::Client::new(config),
            ecs: aws_sdk_ecs::Client::new(config),
        }
    }

    /// Clients on moto itself.
    pub async fn of(moto: &Moto) -> Clients {
        Clients::new(&moto.sdk_config().await)
    }
}

/// The output of a finished command, with its text decoded.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn of(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Run {
    /// Fails the test, showing the whole run, unless it exited with `code`;
    /// gives the run back to look at further.
    #[track_caller]
    pub fn expect_code(self, code: i32) -> Run {
        assert_eq!(self.code, code, "{self:?}");
        self
    }

    /// Fails the test, showing the whole run, unless stdout holds `text`.
    #[track_caller]
    pub fn assert_stdout_contains(&self, text: &str) {
        assert!(
            self.stdout.contains(text),
            "stdout lacks {text:?}: {self:?}"
        );
    }

    /// Fails the test, showing the whole run, when stdout holds `text`.
    #[track_caller]
    pub fn assert_stdout_lacks(&self, text: &str) {
        assert!(
            !self.stdout.contains(text),
            "stdout holds {text:?}: {self:?}"
        );
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs a command to completion and captures its output.
pub fn run(cmd: &mut Command) -> Run {
    Run::of(cmd.output().expect("run command"))
}

/// The `driftd` binary with a clean environment: dummy credentials, us-east-1,
/// no colour, and every AWS call sent to `endpoint`.
pub fn driftd_at(endpoint: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_driftd"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1");
    cmd
}

/// Runs `cmd ARGS --desired-state DIR` to completion.
pub fn run_with_dir(mut cmd: Command, args: &[&str], dir: &Path) -> Run {
    run(cmd.args(args).arg("--desired-state").arg(dir))
}

/// A temporary desired-state directory holding these files.
pub fn desired_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in files {
        write_file(dir.path(), name, text);
    }
    dir
}

/// Where `needle` first stands in `text`, as driftd names a place in a file:
/// `line:column`, both from 1.
pub fn place_of(text: &str, needle: &str) -> String {
    text.lines()
        .enumerate()
        .find_map(|(index, line)| Some(format!("{}:{}", index + 1, line.find(needle)? + 1)))
        .unwrap_or_else(|| panic!("{needle:?} is not in\n{text}"))
}

pub fn write_file(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create dir");
    }
    std::fs::write(path, text).expect("write file");
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

/// One HTTP request to a server on loopback (moto, the recording proxy,
/// driftd), waiting at most 30 s: its status and body, or `None` when
/// nothing answers. Every test talks HTTP through this one client.
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<(u16, String)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut builder = ureq::http::Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1:{port}{path}"));
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    // ureq sends no body with GET: give it none.
    let response = if body.is_empty() {
        agent.run(builder.body(()).ok()?)
    } else {
        agent.run(builder.body(body.to_string()).ok()?)
    };
    let mut response = response.ok()?;
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().ok()?;
    Some((status, text))
}

/// `request` for the emulator's control API: the status only.
pub fn http(port: u16, method: &str, path: &str, body: &str) -> Option<u16> {
    request(port, method, path, &[], body).map(|(status, _)| status)
}

/// How long `check` took to hold: polled every 25 ms, for at most `limit`
/// (then the test fails, saying `what`).
pub async fn within<F, Fut>(limit: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if check().await {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
