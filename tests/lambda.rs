//! Lambda mode end to end, against moto (run by `make test`, which starts
//! moto and exports `AWS_ENDPOINT_URL`, `AWS_REGION` and test credentials).
//!
//! * An **active node**: the real binary, `server -config=...` on
//!   `storage "dynamodb" { ha_enabled = "true", lease_ttl = "3s" }` (a table of
//!   its own, created by the node) and `seal "awskms"` (the shared
//!   `alias/strongroom` key), listening on a free loopback port and advertising
//!   it as `api_addr`. Initialized with `sys/init` (auto-unseal).
//! * **The function**: `cargo lambda watch` (the venv's cargo-lambda) emulates
//!   the Lambda control plane and Function URLs on a free loopback port;
//!   requests go to `http://127.0.0.1:PORT/lambda-url/strongroom/<path>`.
//!   By default the emulator runs with `--only-lambda-apis` and the test
//!   starts the function process itself: the binary cargo just built for
//!   this test, with the runtime environment the emulator names
//!   (`AWS_LAMBDA_RUNTIME_API=http://127.0.0.1:PORT/.rt/strongroom`, ...) and
//!   `STRONGROOM_CONFIG` holding the HCL text. That keeps the run
//!   deterministic (no rebuild of the tree by the watcher, no reload when a
//!   file changes), lets the test time the cold start from the process start,
//!   and kill every process by PID. `STRONGROOM_LAMBDA_TEST_MODE=watch` lets
//!   `cargo lambda watch --ignore-changes` build and start the function
//!   itself instead (`cargo run` into the default target dir, the first
//!   request waits for it).
//!
//! Checked: a read through the Function URL is served by the function alone
//! (the active node's `strongroom_http_requests_total` does not move); a write
//! is forwarded to the active node and lands; with the active node killed,
//! reads still work and writes get 503 with `Retry-After`, both while the
//! lease still names the dead node and once its heartbeat is stale.
//!
//! A second test logs in with AWS IAM through hvac (`tests/python/iam_login.py`)
//! against an active node, and through the Function URL (forwarded).

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::http::{self, Response};
use serde_json::{json, Value};

/// The function's name in the emulator (`/lambda-url/<name>/...`).
const FUNCTION: &str = "strongroom";
/// HA lease TTL of the active node (the minimum the server accepts is 2s).
const LEASE_TTL_SECS: u64 = 3;

// ---- environment -------------------------------------------------------------

struct Aws {
    endpoint: String,
    region: String,
    access_key: String,
    secret_key: String,
}

/// The local AWS endpoint `make test` provides, or a failure telling how to
/// get one.
fn aws() -> Aws {
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let Some(endpoint) = endpoint else {
        panic!(
            "AWS_ENDPOINT_URL is not set: the Lambda tests need a local AWS endpoint (moto). \
             Run them with `make test` (scripts/test.sh starts moto and exports it)."
        );
    };
    let var = |k: &str, d: &str| {
        std::env::var(k)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| d.to_string())
    };
    Aws {
        endpoint: endpoint.trim().trim_end_matches('/').to_string(),
        region: var("AWS_REGION", "us-east-1"),
        access_key: var("AWS_ACCESS_KEY_ID", "test"),
        secret_key: var("AWS_SECRET_ACCESS_KEY", "test"),
    }
}

fn venv_bin(name: &str) -> PathBuf {
    let p = common::repo_root().join(".venv/bin").join(name);
    assert!(
        p.exists(),
        "{} is missing: the Lambda tests need the pinned test tools in .venv/ (cargo-lambda, boto3, hvac); run make test",
        p.display()
    );
    p
}

/// Runs a Python snippet with the venv's python (boto3 against moto).
fn python(aws: &Aws, code: &str, args: &[&str]) -> String {
    let mut cmd = Command::new(venv_bin("python"));
    common::clean_env(&mut cmd);
    cmd.arg("-c").arg(code).args(args);
    aws_env(&mut cmd, aws);
    let out = common::run_with_timeout(cmd, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "python failed ({}): {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn aws_env(cmd: &mut Command, aws: &Aws) {
    cmd.env("AWS_ENDPOINT_URL", &aws.endpoint)
        .env("AWS_REGION", &aws.region)
        .env("AWS_DEFAULT_REGION", &aws.region)
        .env("AWS_ACCESS_KEY_ID", &aws.access_key)
        .env("AWS_SECRET_ACCESS_KEY", &aws.secret_key);
}

/// Makes sure the KMS key alias exists (idempotent; `make test` bootstraps it
/// too, but the test must not depend on the order).
fn ensure_kms_alias(aws: &Aws, alias: &str) {
    const CODE: &str = r#"
import os, sys, boto3
from botocore.exceptions import ClientError
kms = boto3.client("kms", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
alias = sys.argv[1]
try:
    kms.describe_key(KeyId=alias)
except ClientError as e:
    if e.response["Error"]["Code"] != "NotFoundException":
        raise
    key = kms.create_key(Description="strongroom tests", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    try:
        kms.create_alias(AliasName=alias, TargetKeyId=key)
    except ClientError as e:
        if e.response["Error"]["Code"] != "AlreadyExistsException":
            raise
print("ok")
"#;
    python(aws, CODE, &[alias]);
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{nanos}", std::process::id())
}

// ---- processes ---------------------------------------------------------------

/// A process this test started, with its output in files. On drop it and
/// every descendant it spawned (found through /proc before anything is
/// killed, so none is orphaned first) get SIGKILL, by PID.
struct Proc {
    name: String,
    child: Option<Child>,
    started: Instant,
    dir: tempfile::TempDir,
}

impl Proc {
    fn spawn(name: &str, mut cmd: Command) -> Proc {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = fs::File::create(dir.path().join("stdout")).expect("stdout file");
        let err = fs::File::create(dir.path().join("stderr")).expect("stderr file");
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let started = Instant::now();
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        Proc {
            name: name.to_string(),
            child: Some(child),
            started,
            dir,
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    fn output(&self) -> String {
        let out = fs::read_to_string(self.dir.path().join("stdout")).unwrap_or_default();
        let err = fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default();
        format!("{out}{err}")
    }

    fn tail(&self, lines: usize) -> String {
        let all = self.output();
        let v: Vec<&str> = all.lines().collect();
        v[v.len().saturating_sub(lines)..].join("\n")
    }

    /// `Some(status)` once the process has exited.
    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    fn assert_running(&mut self) {
        if let Some(st) = self.exited() {
            panic!("{} exited with {st}; output:\n{}", self.name, self.tail(60));
        }
    }

    /// SIGKILL to every descendant and the process itself; reaps it.
    fn kill(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let descendants = descendants(child.id());
        for pid in descendants.iter().rev() {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- {} (pid {}) output, last 40 lines ---\n{}\n---",
                self.name,
                self.pid(),
                self.tail(40)
            );
        }
        self.kill();
    }
}

/// All descendants of `root` (children before grandchildren), from /proc.
fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(stat) = fs::read_to_string(e.path().join("stat")) else {
                continue;
            };
            // pid (comm) state ppid ...; comm may hold spaces and parens.
            let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                continue;
            };
            if let Some(ppid) = rest
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse::<u32>().ok())
            {
                parent_of.push((pid, ppid));
            }
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for (pid, ppid) in &parent_of {
            if *ppid == p && !out.contains(pid) {
                out.push(*pid);
                frontier.push(*pid);
            }
        }
    }
    out
}

// ---- the active node ---------------------------------------------------------

struct Active {
    proc_: Proc,
    port: u16,
    token: String,
    /// Holds the node's config file.
    _dir: tempfile::TempDir,
}

/// The storage and seal stanzas both the node and the function use.
fn shared_hcl(aws: &Aws, table: &str, alias: &str, create_table: bool) -> String {
    format!(
        r#"storage "dynamodb" {{
  table        = "{table}"
  endpoint     = "{ep}"
  region       = "{region}"
  access_key   = "{ak}"
  secret_key   = "{sk}"
  create_table = "{create_table}"
  ha_enabled   = "true"
  lease_ttl    = "{LEASE_TTL_SECS}s"
}}

seal "awskms" {{
  kms_key_id = "{alias}"
  endpoint   = "{ep}"
  region     = "{region}"
  access_key = "{ak}"
  secret_key = "{sk}"
}}

disable_mlock = true
"#,
        ep = aws.endpoint,
        region = aws.region,
        ak = aws.access_key,
        sk = aws.secret_key,
    )
}

fn call(
    port: u16,
    method: &str,
    target: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Response {
    let bytes = body.map(|b| serde_json::to_vec(b).expect("json"));
    let mut headers: Vec<(&str, &str)> = Vec::new();
    if let Some(t) = token {
        headers.push(("X-Vault-Token", t));
    }
    if body.is_some() {
        headers.push(("Content-Type", "application/json"));
    }
    http::request(port, method, target, &headers, bytes.as_deref())
        .unwrap_or_else(|e| panic!("{method} 127.0.0.1:{port}{target}: transport error {e}"))
}

/// Starts, initializes (auto-unseal) and waits for the active node; mounts
/// kv v2 at `secret/`.
fn start_active(aws: &Aws, table: &str, alias: &str) -> Active {
    let mut last = String::new();
    for _ in 0..3 {
        let port = common::free_port();
        let hcl = format!(
            "{}\nlistener \"tcp\" {{\n  address     = \"127.0.0.1:{port}\"\n  tls_disable = true\n}}\n\napi_addr = \"http://127.0.0.1:{port}\"\n",
            shared_hcl(aws, table, alias, true)
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("active.hcl");
        fs::write(&path, &hcl).expect("write config");
        let mut cmd = common::command();
        // The environment too: the AWS auth method's default STS endpoint
        // (AWS_ENDPOINT_URL, as the SDKs read it) is moto.
        aws_env(&mut cmd, aws);
        cmd.arg("server")
            .arg(format!("-config={}", path.display()))
            .env("STRONGROOM_LOG", "strongroom=info,warn")
            .env("NO_COLOR", "1");
        let mut p = Proc::spawn("active node", cmd);
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut up = false;
        while Instant::now() < deadline {
            if p.exited().is_some() {
                break;
            }
            if http::request(port, "GET", "/v1/sys/health", &[], None).is_ok() {
                up = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if !up {
            last = p.tail(40);
            continue;
        }
        let init = call(
            port,
            "PUT",
            "/v1/sys/init",
            None,
            Some(&json!({"recovery_shares": 1, "recovery_threshold": 1})),
        );
        assert_eq!(init.status, 200, "sys/init: {init}");
        let token = init.json()["root_token"]
            .as_str()
            .expect("root_token")
            .to_string();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let h = call(port, "GET", "/v1/sys/health", None, None);
            if h.status == 200 {
                break;
            }
            p.assert_running();
            assert!(
                Instant::now() < deadline,
                "the active node never became active+unsealed: {h}\n{}",
                p.tail(40)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let m = call(
            port,
            "POST",
            "/v1/sys/mounts/secret",
            Some(&token),
            Some(&json!({"type": "kv", "options": {"version": "2"}})),
        );
        assert_eq!(m.status, 204, "mount kv v2: {m}");
        return Active {
            proc_: p,
            port,
            token,
            _dir: dir,
        };
    }
    panic!("the active node did not start: {last}");
}

/// Sum of `strongroom_http_requests_total` over all labels.
fn requests_served(port: u16, token: &str) -> u64 {
    let r = call(
        port,
        "GET",
        "/v1/sys/metrics?format=prometheus",
        Some(token),
        None,
    );
    assert_eq!(r.status, 200, "metrics: {r}");
    r.text()
        .lines()
        .filter(|l| l.starts_with("strongroom_http_requests_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

// ---- the function ------------------------------------------------------------

/// `cargo lambda watch` plus (by default) the function process.
struct Function {
    /// Declared first: dropped (killed) before the emulator.
    function: Option<Proc>,
    emulator: Proc,
    port: u16,
    mode_watch: bool,
}

impl Function {
    fn start(aws: &Aws, hcl: &str) -> Function {
        let cargo_lambda = venv_bin("cargo-lambda");
        let mode_watch = std::env::var("STRONGROOM_LAMBDA_TEST_MODE").is_ok_and(|m| m == "watch");
        let mut last = String::new();
        for _ in 0..3 {
            let port = common::free_port();
            let mut cmd = Command::new(&cargo_lambda);
            cmd.current_dir(common::repo_root())
                .args([
                    "lambda",
                    "watch",
                    "--invoke-address",
                    "127.0.0.1",
                    "--invoke-port",
                ])
                .arg(port.to_string())
                .args(["--timeout", "120"])
                .env("NO_COLOR", "1")
                .env("CARGO_TERM_COLOR", "never");
            if mode_watch {
                // cargo-lambda builds and runs the crate's binary itself (debug,
                // default target dir) and passes its environment on.
                cmd.args(["--ignore-changes", "--bin", "strongroom"]);
                function_env(&mut cmd, aws, hcl);
            } else {
                cmd.arg("--only-lambda-apis");
            }
            let mut emulator = Proc::spawn("cargo lambda watch", cmd);
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut ok = false;
            while Instant::now() < deadline {
                if emulator.exited().is_some() {
                    break;
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    ok = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if ok {
                return Function {
                    function: None,
                    emulator,
                    port,
                    mode_watch,
                };
            }
            last = emulator.tail(40);
        }
        panic!("cargo lambda watch did not start: {last}");
    }

    /// Starts the function process (default mode; in watch mode the
    /// emulator starts it on the first invocation).
    fn launch(&mut self, aws: &Aws, hcl: &str) -> Instant {
        if self.mode_watch {
            return Instant::now();
        }
        let mut cmd = Command::new(common::binary());
        common::clean_env(&mut cmd);
        function_env(&mut cmd, aws, hcl);
        cmd.env(
            "AWS_LAMBDA_RUNTIME_API",
            format!("http://127.0.0.1:{}/.rt/{FUNCTION}", self.port),
        )
        .env("AWS_LAMBDA_FUNCTION_NAME", FUNCTION)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512");
        let p = Proc::spawn("function", cmd);
        let started = p.started;
        self.function = Some(p);
        started
    }

    fn check_alive(&mut self) {
        self.emulator.assert_running();
        if let Some(f) = self.function.as_mut() {
            f.assert_running();
        }
    }

    fn logs(&self) -> String {
        let mut s = self.emulator.tail(30);
        if let Some(f) = &self.function {
            s.push_str("\n--- function ---\n");
            s.push_str(&f.tail(30));
        }
        s
    }

    /// A request through the Function URL; fails fast when the function or
    /// the emulator dies (e.g. a build error in watch mode) instead of
    /// waiting for the emulator's timeout.
    fn call(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Response {
        let port = self.port;
        let target = format!("/lambda-url/{FUNCTION}{path}");
        let token = token.map(str::to_string);
        let body = body.cloned();
        let m = method.to_string();
        let t = target.clone();
        let (tx, rx) = mpsc::channel();
        let deadline = Instant::now() + timeout;
        // The HTTP client gives up reading after 60 s; while the function is
        // still being built (watch mode) a read is simply asked again.
        let retry_reads = self.mode_watch && matches!(method, "GET" | "LIST");
        std::thread::spawn(move || {
            let bytes = body.as_ref().map(|b| serde_json::to_vec(b).expect("json"));
            let mut headers: Vec<(&str, &str)> = Vec::new();
            if let Some(t) = token.as_deref() {
                headers.push(("X-Vault-Token", t));
            }
            if body.is_some() {
                headers.push(("Content-Type", "application/json"));
            }
            loop {
                let r = http::request(port, &m, &t, &headers, bytes.as_deref());
                let timed_out = matches!(&r, Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut));
                if retry_reads && timed_out && Instant::now() < deadline {
                    continue;
                }
                let _ = tx.send(r);
                return;
            }
        });
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(Ok(r)) => return r,
                Ok(Err(e)) => panic!("{method} {target}: transport error {e}\n{}", self.logs()),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(e) => panic!("{method} {target}: {e}"),
            }
            self.check_alive();
            let out = self.emulator.output();
            if out.contains("could not compile") || out.contains("ERROR command exited") {
                panic!(
                    "cargo lambda watch could not build/run the function:\n{}",
                    self.logs()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{method} {target}: no answer within {timeout:?}\n{}",
                self.logs()
            );
        }
    }
}

fn function_env(cmd: &mut Command, aws: &Aws, hcl: &str) {
    aws_env(cmd, aws);
    cmd.env("STRONGROOM_CONFIG", hcl)
        .env("STRONGROOM_LOG", "strongroom=info,warn")
        .env("NO_COLOR", "1");
}

fn release_binary_size() -> Option<(PathBuf, u64)> {
    let root = common::repo_root();
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    let candidates = [
        root.join("target/lambda/strongroom/bootstrap"),
        target.join("release/strongroom"),
    ];
    candidates
        .into_iter()
        .find_map(|p: PathBuf| fs::metadata(&p).ok().map(|m| (p, m.len())))
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn assert_503_retry(r: &Response, what: &str) {
    assert_eq!(r.status, 503, "{what}: expected 503, got {r}");
    let retry = r
        .header("Retry-After")
        .unwrap_or_else(|| panic!("{what}: 503 without Retry-After: {:?}", r.headers));
    assert!(
        retry.parse::<u64>().is_ok(),
        "{what}: Retry-After {retry:?} is not a number of seconds"
    );
}

// ---- tests -------------------------------------------------------------------

#[test]
fn lambda_reads_locally_forwards_writes_and_degrades_without_an_active_node() {
    let aws = aws();
    venv_bin("cargo-lambda");
    let alias = "alias/strongroom";
    ensure_kms_alias(&aws, alias);
    let table = unique("strongroom-lambda");

    let mut active = start_active(&aws, &table, alias);
    let token = active.token.clone();
    let w = call(
        active.port,
        "PUT",
        "/v1/secret/data/app/db",
        Some(&token),
        Some(&json!({"data": {"password": "s3cret"}})),
    );
    assert_eq!(w.status, 200, "write on the active node: {w}");

    // The function: same table and key, no listener, no api_addr.
    let hcl = shared_hcl(&aws, &table, alias, false);
    let mut function = Function::start(&aws, &hcl);

    // 1. A read through the Function URL is served by the function alone.
    let before = requests_served(active.port, &token);
    let t0 = function.launch(&aws, &hcl);
    let first_timeout = if function.mode_watch {
        Duration::from_secs(900)
    } else {
        Duration::from_secs(90)
    };
    let r = function.call(
        "GET",
        "/v1/secret/data/app/db",
        Some(&token),
        None,
        first_timeout,
    );
    let cold = t0.elapsed();
    assert_eq!(
        r.status,
        200,
        "read through the Function URL: {r}\n{}",
        function.logs()
    );
    assert_eq!(r.json()["data"]["data"]["password"], "s3cret", "{r}");
    let after = requests_served(active.port, &token);
    // The second scrape sees the first one, and nothing else.
    assert_eq!(
        after - before,
        1,
        "the active node served requests during a read through the function (before {before}, after {after}); its log:\n{}",
        active.proc_.tail(20)
    );
    let own_init = function
        .function
        .as_ref()
        .map(Proc::output)
        .unwrap_or_else(|| function.emulator.output())
        .lines()
        .find(|l| l.contains("lambda init done"))
        .map(str::to_string)
        .unwrap_or_default();
    eprintln!(
        "lambda cold start ({}, process start -> first Function URL response): {:.0} ms; function log: {}",
        common::binary().display(),
        cold.as_secs_f64() * 1000.0,
        own_init.trim()
    );
    match release_binary_size() {
        Some((p, size)) => eprintln!(
            "release binary {}: {size} bytes ({:.1} MiB)",
            p.display(),
            mib(size)
        ),
        None => eprintln!("release binary: not built (make lambda-zip builds it)"),
    }

    // Warm reads: a LIST and a sys read, still local.
    let before = requests_served(active.port, &token);
    let l = function.call(
        "LIST",
        "/v1/secret/metadata/app",
        Some(&token),
        None,
        Duration::from_secs(30),
    );
    assert_eq!(l.status, 200, "list through the function: {l}");
    assert_eq!(l.json()["data"]["keys"], json!(["db"]), "{l}");
    let h = function.call("GET", "/v1/sys/health", None, None, Duration::from_secs(30));
    assert_eq!(
        h.status, 473,
        "the function is an unsealed (performance) standby: {h}"
    );
    let after = requests_served(active.port, &token);
    assert_eq!(
        after - before,
        1,
        "warm reads through the function reached the active node"
    );

    // Transit through the function: encrypt and decrypt only read the key,
    // so the function serves them itself; a rotation on the active node is
    // used by the function's next encrypt.
    let e = call(
        active.port,
        "POST",
        "/v1/sys/mounts/transit",
        Some(&token),
        Some(&json!({"type": "transit"})),
    );
    assert_eq!(e.status, 204, "enable transit: {e}");
    let k = call(
        active.port,
        "POST",
        "/v1/transit/keys/app",
        Some(&token),
        Some(&json!({})),
    );
    assert!(k.status == 200 || k.status == 204, "create a key: {k}");
    let before = requests_served(active.port, &token);
    let enc = function.call(
        "POST",
        "/v1/transit/encrypt/app",
        Some(&token),
        Some(&json!({"plaintext": "aGkK"})),
        Duration::from_secs(30),
    );
    assert_eq!(
        enc.status,
        200,
        "encrypt through the function: {enc}\n{}",
        function.logs()
    );
    let ct = enc.json()["data"]["ciphertext"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(ct.starts_with("vault:v1:"), "{enc}");
    let dec = function.call(
        "POST",
        "/v1/transit/decrypt/app",
        Some(&token),
        Some(&json!({"ciphertext": ct})),
        Duration::from_secs(30),
    );
    assert_eq!(dec.status, 200, "decrypt through the function: {dec}");
    assert_eq!(dec.json()["data"]["plaintext"], "aGkK", "{dec}");
    let after = requests_served(active.port, &token);
    assert_eq!(
        after - before,
        1,
        "transit encrypt/decrypt through the function reached the active node"
    );
    let r = call(
        active.port,
        "POST",
        "/v1/transit/keys/app/rotate",
        Some(&token),
        Some(&json!({})),
    );
    assert!(r.status == 200 || r.status == 204, "rotate: {r}");
    let enc2 = function.call(
        "POST",
        "/v1/transit/encrypt/app",
        Some(&token),
        Some(&json!({"plaintext": "aGkK"})),
        Duration::from_secs(30),
    );
    assert_eq!(enc2.status, 200, "encrypt after the rotation: {enc2}");
    assert!(
        enc2.json()["data"]["ciphertext"]
            .as_str()
            .unwrap_or_default()
            .starts_with("vault:v2:"),
        "the function's next encrypt uses the rotated key: {enc2}"
    );

    // 2. A write through the Function URL is forwarded and lands.
    let before = requests_served(active.port, &token);
    let w = function.call(
        "PUT",
        "/v1/secret/data/app/api",
        Some(&token),
        Some(&json!({"data": {"key": "from-lambda"}})),
        Duration::from_secs(30),
    );
    assert_eq!(
        w.status,
        200,
        "write through the Function URL: {w}\n{}",
        function.logs()
    );
    assert_eq!(w.json()["data"]["version"], 1, "{w}");
    let after = requests_served(active.port, &token);
    assert!(
        after - before >= 2,
        "the write was not forwarded to the active node ({before} -> {after})"
    );
    let r = call(
        active.port,
        "GET",
        "/v1/secret/data/app/api",
        Some(&token),
        None,
    );
    assert_eq!(
        r.status, 200,
        "the forwarded write is readable on the active node: {r}"
    );
    assert_eq!(r.json()["data"]["data"]["key"], "from-lambda");
    // ... and through the function.
    let r = function.call(
        "GET",
        "/v1/secret/data/app/api",
        Some(&token),
        None,
        Duration::from_secs(30),
    );
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.json()["data"]["data"]["key"], "from-lambda");

    // 3. The active node dies (SIGKILL: no lease release).
    active.proc_.kill();
    let killed = Instant::now();
    let r = function.call(
        "GET",
        "/v1/secret/data/app/db",
        Some(&token),
        None,
        Duration::from_secs(30),
    );
    assert_eq!(
        r.status, 200,
        "read through the function with the active node dead: {r}"
    );
    assert_eq!(r.json()["data"]["data"]["password"], "s3cret");
    // The lease still names the dead node: forwarding fails fast.
    let body = json!({"data": {"key": "nope"}});
    let w = function.call(
        "PUT",
        "/v1/secret/data/app/api",
        Some(&token),
        Some(&body),
        Duration::from_secs(30),
    );
    assert_503_retry(&w, "write with the active node just killed");
    // Once the heartbeat is stale (3 x lease_ttl on the wall clock) there is
    // no active node at all.
    let stale = Duration::from_secs(3 * LEASE_TTL_SECS + 2);
    if let Some(rest) = stale.checked_sub(killed.elapsed()) {
        std::thread::sleep(rest);
    }
    let w = function.call(
        "PUT",
        "/v1/secret/data/app/api",
        Some(&token),
        Some(&body),
        Duration::from_secs(30),
    );
    assert_503_retry(&w, "write with a stale lease");
    let r = function.call(
        "GET",
        "/v1/secret/data/app/api",
        Some(&token),
        None,
        Duration::from_secs(30),
    );
    assert_eq!(r.status, 200, "read with a stale lease: {r}");
    assert_eq!(
        r.json()["data"]["data"]["key"],
        "from-lambda",
        "the refused writes changed nothing"
    );
    function.check_alive();
}

#[test]
fn aws_iam_login_through_hvac_on_the_active_node_and_through_the_function() {
    let aws = aws();
    let script = common::repo_root().join("tests/python/iam_login.py");
    if !script.exists() {
        eprintln!("skipped: {} does not exist", script.display());
        return;
    }
    venv_bin("python");
    let alias = "alias/strongroom";
    ensure_kms_alias(&aws, alias);
    let table = unique("strongroom-iam");
    let active = start_active(&aws, &table, alias);
    let token = active.token.clone();
    let port = active.port;

    // moto's answer to GetCallerIdentity for the test credentials.
    let arn = python(
        &aws,
        "import os, boto3; print(boto3.client('sts', endpoint_url=os.environ['AWS_ENDPOINT_URL']).get_caller_identity()['Arn'])",
        &[],
    );
    assert!(arn.starts_with("arn:aws:"), "caller ARN from moto: {arn:?}");
    // Roles bind IAM principal ARNs (moto reports its user under `sts`).
    let arn = arn.replacen(":sts::", ":iam::", 1);

    let r = call(
        port,
        "POST",
        "/v1/sys/auth/aws",
        Some(&token),
        Some(&json!({"type": "aws"})),
    );
    assert_eq!(r.status, 204, "enable auth/aws: {r}");
    // No sts_endpoint: hvac signs for sts.amazonaws.com, which the server
    // accepts only with its default endpoint, taken from AWS_ENDPOINT_URL
    // (moto) as the SDKs do. An sts_endpoint naming moto would make moto's
    // own host the only one a login may be signed for.
    let r = call(
        port,
        "POST",
        "/v1/auth/aws/config/client",
        Some(&token),
        Some(&json!({})),
    );
    assert!(r.status == 204 || r.status == 200, "config/client: {r}");
    let r = call(
        port,
        "POST",
        "/v1/sys/policies/acl/lambda-reader",
        Some(&token),
        Some(&json!({"policy": "path \"secret/data/*\" { capabilities = [\"read\"] }"})),
    );
    assert_eq!(r.status, 204, "policy: {r}");
    let r = call(
        port,
        "POST",
        "/v1/auth/aws/role/lambda-test",
        Some(&token),
        Some(
            &json!({"auth_type": "iam", "bound_iam_principal_arn": [arn], "policies": ["lambda-reader"]}),
        ),
    );
    assert_eq!(r.status, 204, "role: {r}");

    let login = |url: &str| {
        let mut cmd = Command::new(venv_bin("python"));
        common::clean_env(&mut cmd);
        aws_env(&mut cmd, &aws);
        cmd.arg(&script).arg(url).args([
            "--role",
            "lambda-test",
            "--expect-policies",
            "lambda-reader",
        ]);
        let out = common::run_with_timeout(cmd, Duration::from_secs(60));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let (ok, text) = login(&format!("http://127.0.0.1:{port}"));
    assert!(
        ok,
        "IAM login on the active node failed:\n{text}\nnode log:\n{}",
        active.proc_.tail(20)
    );
    assert!(text.contains("iam login ok"), "{text}");

    // Through the Function URL: the login writes (a token), so the function
    // forwards it to the active node.
    let hcl = shared_hcl(&aws, &table, alias, false);
    let mut function = Function::start(&aws, &hcl);
    function.launch(&aws, &hcl);
    let first_timeout = if function.mode_watch {
        Duration::from_secs(900)
    } else {
        Duration::from_secs(90)
    };
    let h = function.call("GET", "/v1/sys/health", None, None, first_timeout);
    assert_eq!(h.status, 473, "{h}");
    let (ok, text) = login(&format!(
        "http://127.0.0.1:{}/lambda-url/{FUNCTION}",
        function.port
    ));
    assert!(
        ok,
        "IAM login through the Function URL failed:\n{text}\n{}",
        function.logs()
    );
    drop(function);
    drop(active);
}
