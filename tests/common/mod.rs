//! Shared helpers for the whole-binary integration tests: start the real
//! `strongroom` binary on a free loopback port, wait for it, talk HTTP to it,
//! and kill it (by PID, via the `Child`) when the handle drops.
#![allow(dead_code)]

pub mod capture;
pub mod cluster;
pub mod faultproxy;
pub mod http;
pub mod jose;
pub mod mockhttp;

use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub use self::http::Response;

/// The dev root token every dev server here is started with.
pub const ROOT: &str = "root";

/// How long a server may take to answer its first `/v1/sys/health`.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The binary under test, built by cargo for the integration tests;
/// `STRONGROOM_TEST_BINARY` points the tests at another build (the release
/// binary, to measure the Lambda cold start the README reports).
pub fn binary() -> PathBuf {
    match std::env::var_os("STRONGROOM_TEST_BINARY") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_strongroom")),
    }
}

/// The repository root (where Cargo.toml is).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A free loopback port: bind 127.0.0.1:0, read the port, let it go.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// A command for the binary with a clean environment: no VAULT_*/BAO_*
/// variables from the caller's shell leak into the server or client.
pub fn command() -> Command {
    let mut cmd = Command::new(binary());
    clean_env(&mut cmd);
    cmd
}

/// Clears the environment except what a process needs to run.
pub fn clean_env(cmd: &mut Command) {
    cmd.env_clear();
    for key in [
        "PATH",
        "LANG",
        "LC_ALL",
        "TMPDIR",
        "RUST_BACKTRACE",
        // The local AWS endpoint (moto) that `make test` starts.
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    ] {
        if let Ok(v) = std::env::var(key) {
            cmd.env(key, v);
        }
    }
    // Never reach for the EC2 metadata service from a test.
    cmd.env("AWS_EC2_METADATA_DISABLED", "true");
    cmd.env("HOME", std::env::temp_dir());
}

/// Runs the binary with `args` to completion (with a timeout) and returns
/// its output.
pub fn run_binary(args: &[&str]) -> Output {
    let mut cmd = command();
    cmd.args(args);
    run_with_timeout(cmd, Duration::from_secs(60))
}

/// Runs a command to completion, killing it after `timeout`.
pub fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_path = dir.path().join("stdout");
    let err_path = dir.path().join("stderr");
    cmd.stdin(Stdio::null())
        .stdout(fs::File::create(&out_path).expect("stdout file"))
        .stderr(fs::File::create(&err_path).expect("stderr file"));
    let desc = format!("{cmd:?}");
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {desc}: {e}"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{desc} did not finish within {timeout:?}; stderr: {}",
                fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: fs::read(&out_path).unwrap_or_default(),
        stderr: fs::read(&err_path).unwrap_or_default(),
    }
}

/// A running server. Killed (SIGKILL, by PID) and reaped on drop.
pub struct Server {
    child: Option<Child>,
    pub port: u16,
    /// Holds the server's stdout/stderr files (and the generated config).
    logs: tempfile::TempDir,
    pub config_path: Option<PathBuf>,
}

impl Server {
    /// `strongroom server -dev -dev-root-token-id=root -dev-listen-address=127.0.0.1:PORT`.
    pub fn dev() -> Server {
        Self::start_retrying(
            |port| {
                vec![
                    "server".into(),
                    "-dev".into(),
                    format!("-dev-root-token-id={ROOT}"),
                    format!("-dev-listen-address=127.0.0.1:{port}"),
                ]
            },
            |_| String::new(),
        )
    }

    /// A non-dev server on `storage "file"` at `storage_dir`; `extra_listener`
    /// is added inside the `listener "tcp"` block (e.g. `max_request_size = 1024`).
    pub fn file(storage_dir: &Path, extra_listener: &str) -> Server {
        let storage = storage_dir.display().to_string();
        let extra = extra_listener.to_string();
        Self::start_retrying(
            |_| Vec::new(),
            move |port| {
                format!(
                    "storage \"file\" {{\n  path = \"{storage}\"\n}}\n\nlistener \"tcp\" {{\n  address     = \"127.0.0.1:{port}\"\n  tls_disable = true\n  {extra}\n}}\n\napi_addr = \"http://127.0.0.1:{port}\"\ndisable_mlock = true\n"
                )
            },
        )
    }

    /// A non-dev server started from the given HCL (where `{PORT}` is
    /// replaced by the chosen port).
    pub fn with_hcl(hcl_template: &str) -> Server {
        Self::with_hcl_env(hcl_template, &[])
    }

    /// Like [`Server::with_hcl`], with extra environment variables.
    pub fn with_hcl_env(hcl_template: &str, env: &[(&str, &str)]) -> Server {
        let t = hcl_template.to_string();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Self::start_retrying_env(
            |_| Vec::new(),
            move |port| t.replace("{PORT}", &port.to_string()),
            &env,
        )
    }

    /// Starts a server, retrying with another port when the chosen one was
    /// taken between choosing and binding. `args(port)` gives the arguments
    /// (empty: a config file from `hcl(port)` is used).
    fn start_retrying(args: impl Fn(u16) -> Vec<String>, hcl: impl Fn(u16) -> String) -> Server {
        Self::start_retrying_env(args, hcl, &[])
    }

    fn start_retrying_env(
        args: impl Fn(u16) -> Vec<String>,
        hcl: impl Fn(u16) -> String,
        env: &[(String, String)],
    ) -> Server {
        let mut last_err = String::new();
        for _ in 0..3 {
            let port = free_port();
            let logs = tempfile::tempdir().expect("tempdir");
            let mut argv = args(port);
            let mut config_path = None;
            if argv.is_empty() {
                let path = logs.path().join("strongroom.hcl");
                fs::write(&path, hcl(port)).expect("write config");
                argv = vec!["server".into(), format!("-config={}", path.display())];
                config_path = Some(path);
            }
            match Self::spawn(&argv, port, logs, config_path, env) {
                Ok(s) => return s,
                Err(e) => last_err = e,
            }
        }
        panic!("the server did not start: {last_err}");
    }

    fn spawn(
        argv: &[String],
        port: u16,
        logs: tempfile::TempDir,
        config_path: Option<PathBuf>,
        env: &[(String, String)],
    ) -> Result<Server, String> {
        let out = fs::File::create(logs.path().join("stdout")).expect("stdout file");
        let err = fs::File::create(logs.path().join("stderr")).expect("stderr file");
        let mut cmd = command();
        cmd.args(argv)
            .env("STRONGROOM_LOG", "strongroom=info,warn")
            .env("NO_COLOR", "1")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = cmd
            .spawn()
            .map_err(|e| format!("spawning {}: {e}", binary().display()))?;
        let mut server = Server {
            child: Some(child),
            port,
            logs,
            config_path,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = server.child_mut().try_wait() {
                let msg = format!(
                    "server {argv:?} exited early with {status}; stderr:\n{}\nstdout:\n{}",
                    server.stderr(),
                    server.stdout()
                );
                server.child = None;
                return Err(msg);
            }
            if http::request(port, "GET", "/v1/sys/health", &[], None).is_ok() {
                return Ok(server);
            }
            if Instant::now() > deadline {
                let msg = format!(
                    "server {argv:?} did not answer /v1/sys/health within {START_TIMEOUT:?}; stderr:\n{}",
                    server.stderr()
                );
                server.kill();
                return Err(msg);
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn child_mut(&mut self) -> &mut Child {
        self.child.as_mut().expect("server is running")
    }

    /// The server's PID.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server is running").id()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(self.logs.path().join("stderr")).unwrap_or_default()
    }

    pub fn stdout(&self) -> String {
        fs::read_to_string(self.logs.path().join("stdout")).unwrap_or_default()
    }

    /// SIGKILL (`Child::kill`) and reap. Idempotent.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends a signal (`STOP`, `CONT`, `TERM`, ...) to the server process.
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args(["-s", sig, &self.pid().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -s {sig} failed");
    }

    /// Waits (bounded) for the process to exit by itself, e.g. after SIGTERM.
    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            match self.child.as_mut().map(|c| c.try_wait()) {
                Some(Ok(Some(_))) | None => {
                    self.child = None;
                    return true;
                }
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        false
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Sends a request; panics on transport errors (with the server's stderr).
    pub fn raw(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Response {
        http::request(self.port, method, target, headers, body).unwrap_or_else(|e| {
            panic!(
                "{method} {target}: transport error {e}; server stderr:\n{}",
                self.stderr()
            )
        })
    }

    /// A request with an optional token and an optional JSON body.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Response {
        let body_bytes = body.map(|b| serde_json::to_vec(b).expect("json"));
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(t) = token {
            headers.push(("X-Vault-Token", t));
        }
        if body.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        self.raw(method, path, &headers, body_bytes.as_deref())
    }

    /// GET with the root token.
    pub fn get(&self, path: &str) -> Response {
        self.call("GET", path, Some(ROOT), None)
    }

    /// PUT with the root token and a JSON body.
    pub fn put(&self, path: &str, body: Value) -> Response {
        self.call("PUT", path, Some(ROOT), Some(&body))
    }

    /// POST with the root token and a JSON body.
    pub fn post(&self, path: &str, body: Value) -> Response {
        self.call("POST", path, Some(ROOT), Some(&body))
    }

    /// DELETE with the root token.
    pub fn delete(&self, path: &str) -> Response {
        self.call("DELETE", path, Some(ROOT), None)
    }

    /// LIST with the root token.
    pub fn list(&self, path: &str) -> Response {
        self.call("LIST", path, Some(ROOT), None)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let err = self.stderr();
            let tail: String = err
                .lines()
                .rev()
                .take(40)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            let _ = writeln!(
                std::io::stderr(),
                "--- server on port {} stderr (last 40 lines) ---\n{tail}\n---",
                self.port
            );
        }
        self.kill();
    }
}

/// Asserts the status code, printing the whole response on failure.
#[track_caller]
pub fn expect_status(resp: &Response, status: u16, what: &str) {
    assert_eq!(
        resp.status,
        status,
        "{what}: expected {status}, got {} with body {:?}",
        resp.status,
        resp.text()
    );
}

/// `value[a][b]...` for a path of object keys.
pub fn at<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    let mut cur = v;
    for k in path {
        cur = cur
            .get(*k)
            .unwrap_or_else(|| panic!("no {k:?} (path {path:?}) in {v}"));
    }
    cur
}

/// Sorted keys of a JSON object (empty for non-objects).
pub fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

/// `data.keys` of a list response, as strings.
pub fn list_keys(resp: &Response) -> Vec<String> {
    let v = resp.json();
    at(&v, &["data", "keys"])
        .as_array()
        .unwrap_or_else(|| panic!("data.keys is not an array in {v}"))
        .iter()
        .map(|k| k.as_str().expect("string key").to_string())
        .collect()
}
