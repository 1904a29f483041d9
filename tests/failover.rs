//! Failover that clients do not notice, and storage failures that end in a
//! correct answer: real server processes on moto, each reaching DynamoDB
//! through its own fault-injecting proxy (tests/common/faultproxy.rs; KMS
//! goes straight to moto).
//!
//! Run by `make test` (`scripts/test.sh --test failover` starts moto). The
//! scenarios measure gaps and takeover times, so they run one at a time.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::cluster::{
    endpoint, health_status, unique_table, wait_until, Cluster, SERIAL, TTL_SECS,
};
use common::faultproxy::{Fault, FaultProxy};
use common::{expect_status, Server};
use serde_json::{json, Value};

/// A node's configuration: DynamoDB through `storage_endpoint`, KMS direct.
fn hcl_via(table: &str, storage_endpoint: &str, ha: bool) -> String {
    let kms = endpoint();
    format!(
        r#"
storage "dynamodb" {{
  table        = "{table}"
  endpoint     = "{storage_endpoint}"
  create_table = "true"
  ha_enabled   = "{ha}"
  lease_ttl    = "{TTL_SECS}s"
}}
seal "awskms" {{
  kms_key_id = "alias/strongroom"
  endpoint   = "{kms}"
}}
listener "tcp" {{
  address     = "127.0.0.1:{{PORT}}"
  tls_disable = true
}}
api_addr = "http://127.0.0.1:{{PORT}}"
"#
    )
}

/// An HA cluster whose node `i` reaches DynamoDB through `proxies[i]`.
struct Fleet {
    c: Cluster,
    proxies: Vec<FaultProxy>,
}

fn init(node: &Server) -> String {
    let mut root = None;
    wait_until("init to succeed", Duration::from_secs(30), || {
        let r = node.call(
            "PUT",
            "/v1/sys/init",
            None,
            Some(&json!({"recovery_shares": 1, "recovery_threshold": 1})),
        );
        if r.status == 200 {
            root = Some(r.json()["root_token"].as_str().unwrap().to_string());
            true
        } else {
            false
        }
    });
    root.unwrap()
}

fn start_fleet(name: &str, n: usize) -> Fleet {
    let table = unique_table(name);
    let proxies: Vec<FaultProxy> = (0..n).map(|_| FaultProxy::start(&endpoint())).collect();
    let nodes: Vec<Option<Server>> = proxies
        .iter()
        .map(|p| Some(Server::with_hcl(&hcl_via(&table, &p.url(), true))))
        .collect();
    let root = init(nodes[0].as_ref().unwrap());
    let mut c = Cluster { table, nodes, root };
    c.wait_settled(Duration::from_secs(40));
    enable_kv(&c, 0);
    Fleet { c, proxies }
}

/// One node without HA on DynamoDB through a proxy, initialized, with KV v2
/// at `secret/` and KV v1 at `kv/`: only client requests write, so a fault
/// on the next `TransactWriteItems` hits the write under test.
fn single_node(name: &str) -> (Server, FaultProxy, String) {
    let proxy = FaultProxy::start(&endpoint());
    let table = unique_table(name);
    let s = Server::with_hcl(&hcl_via(&table, &proxy.url(), false));
    let root = init(&s);
    wait_until("unsealed", Duration::from_secs(30), || {
        health_status(&s) == 200
    });
    let r = s.call(
        "POST",
        "/v1/sys/mounts/secret",
        Some(&root),
        Some(&json!({"type": "kv", "options": {"version": "2"}})),
    );
    expect_status(&r, 204, "enable kv v2");
    let r = s.call(
        "POST",
        "/v1/sys/mounts/kv",
        Some(&root),
        Some(&json!({"type": "kv"})),
    );
    expect_status(&r, 204, "enable kv v1");
    (s, proxy, root)
}

fn enable_kv(c: &Cluster, on: usize) {
    let r = c.call(
        on,
        "POST",
        "/v1/sys/mounts/secret",
        Some(&json!({"type": "kv", "options": {"version": "2"}})),
    );
    expect_status(&r, 204, "enable kv");
}

/// What a client looping writes through one node saw.
#[derive(Default)]
struct WriterLog {
    /// (sequence number, when acknowledged)
    acked: Vec<(u64, Instant)>,
    /// (sequence number, when, what) for every answer that was not a success
    errors: Vec<(u64, Instant, String)>,
}

/// Loops `PUT secret/data/loop/<n>` through `port` until `stop`.
fn spawn_writer(
    port: u16,
    root: String,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<WriterLog>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let body = json!({"data": {"n": n}}).to_string();
            let r = common::http::request(
                port,
                "PUT",
                &format!("/v1/secret/data/loop/{n}"),
                &[
                    ("X-Vault-Token", root.as_str()),
                    ("Content-Type", "application/json"),
                ],
                Some(body.as_bytes()),
            );
            let now = Instant::now();
            match r {
                Ok(r) if r.status == 200 => log.lock().unwrap().acked.push((n, now)),
                Ok(r) => {
                    log.lock().unwrap().errors.push((n, now, r.to_string()));
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => {
                    log.lock().unwrap().errors.push((n, now, e.to_string()));
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    })
}

/// The longest time without an acknowledged write, from `from` on.
fn longest_gap(log: &WriterLog, from: Instant) -> Duration {
    let mut last = from;
    let mut gap = Duration::ZERO;
    for (_, at) in &log.acked {
        if *at < from {
            continue;
        }
        gap = gap.max(at.duration_since(last));
        last = *at;
    }
    gap
}

/// Every acknowledged write reads back with its value.
fn check_all_acked(c: &Cluster, on: usize, log: &WriterLog) {
    for (n, _) in &log.acked {
        let r = c.call(on, "GET", &format!("/v1/secret/data/loop/{n}"), None);
        expect_status(&r, 200, "an acknowledged write reads back");
        assert_eq!(r.json()["data"]["data"]["n"], *n, "acknowledged value {n}");
    }
}

/// A request with a bounded wait (a black-holed node may never answer).
fn call_within(port: u16, path: &str, timeout: Duration) -> Option<common::Response> {
    let (tx, rx) = std::sync::mpsc::channel();
    let path = path.to_string();
    std::thread::spawn(move || {
        let _ = tx.send(common::http::request(port, "GET", &path, &[], None));
    });
    rx.recv_timeout(timeout).ok().and_then(Result::ok)
}

fn wait_other_active(c: &Cluster, old: usize, timeout: Duration) -> (usize, Duration) {
    let mut idx = old;
    let took = wait_until("another node to become active", timeout, || {
        for (i, n) in c.nodes.iter().enumerate() {
            if i == old {
                continue;
            }
            if let Some(n) = n {
                if health_status(n) == 200 {
                    idx = i;
                    return true;
                }
            }
        }
        false
    });
    (idx, took)
}

#[test]
fn partition_of_the_active_node_is_invisible_through_a_standby() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut f = start_fleet("partition", 3);
    let (active, _) = f.c.wait_settled(Duration::from_secs(10));
    let standby = f.c.standby_index(active);
    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(WriterLog::default()));
    let writer = spawn_writer(
        f.c.node(standby).port,
        f.c.root.clone(),
        stop.clone(),
        log.clone(),
    );
    std::thread::sleep(Duration::from_secs(2));
    let cut = Instant::now();
    f.proxies[active].set(Fault::BlackHole);
    let (new_active, took) = wait_other_active(&f.c, active, Duration::from_secs(TTL_SECS + 15));
    println!("takeover from the black-holed node: {took:?} (lease_ttl {TTL_SECS}s)");
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer");

    // The deposed node no longer names itself (nor claims to be active),
    // although it cannot reach storage.
    let leader = call_within(
        f.c.node(active).port,
        "/v1/sys/leader",
        Duration::from_secs(5),
    )
    .expect("sys/leader on the partitioned node answers");
    let v = leader.json();
    println!("sys/leader on the deposed node: {v}");
    assert_eq!(v["is_self"], false, "{v}");
    assert_ne!(v["leader_address"], f.c.node(active).addr(), "{v}");

    let log = log.lock().unwrap();
    let gap = longest_gap(&log, cut - Duration::from_secs(1));
    let before = log.acked.iter().filter(|(_, t)| *t < cut).count();
    println!(
        "partition: {} writes acknowledged ({before} before the cut), longest gap {gap:?}, {} errors",
        log.acked.len(),
        log.errors.len()
    );
    for (_, at, e) in &log.errors {
        println!(
            "  error {:?} after the cut: {e}",
            at.saturating_duration_since(cut)
        );
    }
    assert!(
        before > 0 && log.acked.len() > before,
        "writes before and after the cut"
    );
    assert!(log.errors.is_empty(), "a client of the standby saw errors");
    assert!(
        gap <= Duration::from_secs(TTL_SECS + 2),
        "longest gap between acknowledged writes {gap:?} > lease_ttl + 2 s"
    );
    check_all_acked(&f.c, new_active, &log);

    // Healed: the old node rejoins as a standby.
    f.proxies[active].clear();
    wait_until(
        "the old node to be a standby",
        Duration::from_secs(20),
        || health_status(f.c.node(active)) == 473,
    );
    drop(f.c.nodes.drain(..));
}

#[test]
fn kill_9_of_the_active_node_is_invisible_through_a_standby() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut f = start_fleet("kill9", 3);
    let (active, _) = f.c.wait_settled(Duration::from_secs(10));
    let standby = f.c.standby_index(active);
    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(WriterLog::default()));
    let writer = spawn_writer(
        f.c.node(standby).port,
        f.c.root.clone(),
        stop.clone(),
        log.clone(),
    );
    std::thread::sleep(Duration::from_secs(2));
    let cut = Instant::now();
    f.c.nodes[active].as_mut().unwrap().kill();
    f.c.nodes[active] = None;
    let (new_active, took) = f.c.wait_settled(Duration::from_secs(TTL_SECS + 15));
    println!("takeover after kill -9: {took:?}");
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer");
    let log = log.lock().unwrap();
    let gap = longest_gap(&log, cut - Duration::from_secs(1));
    println!(
        "kill -9: {} writes acknowledged, longest gap {gap:?}, {} errors",
        log.acked.len(),
        log.errors.len()
    );
    for (_, at, e) in &log.errors {
        println!(
            "  error {:?} after the kill: {e}",
            at.saturating_duration_since(cut)
        );
    }
    // The one request the killed node was running may have applied or not.
    // The standby never re-sends it blindly: it waits for the lease to move
    // and reads the request's marker. Not applied: re-forwarded (no error).
    // Applied: the answer is lost with the process, so the client gets a
    // 503 saying the write landed — and it must have.
    assert!(
        log.errors.len() <= 1,
        "more than the request in flight at the kill failed"
    );
    for (n, at, e) in &log.errors {
        println!("  in-flight write {n} ended with: {e}");
        assert!(e.starts_with("503"), "{e}");
        assert!(
            at.saturating_duration_since(cut) < Duration::from_secs(TTL_SECS + 2),
            "{e}"
        );
        if e.contains("the write landed") {
            let r = f.c.call(
                new_active,
                "GET",
                &format!("/v1/secret/data/loop/{n}"),
                None,
            );
            expect_status(&r, 200, "the write reported as landed");
            assert_eq!(r.json()["data"]["data"]["n"], *n);
        } else {
            assert!(e.contains("the outcome is unknown"), "{e}");
        }
    }
    check_all_acked(&f.c, new_active, &log);
    drop(f.c.nodes.drain(..));
}

#[test]
fn a_paused_active_node_is_invisible_through_a_standby() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut f = start_fleet("stop", 3);
    let (active, _) = f.c.wait_settled(Duration::from_secs(10));
    let standby = f.c.standby_index(active);
    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(WriterLog::default()));
    let writer = spawn_writer(
        f.c.node(standby).port,
        f.c.root.clone(),
        stop.clone(),
        log.clone(),
    );
    std::thread::sleep(Duration::from_secs(2));
    let cut = Instant::now();
    f.c.node(active).signal("STOP");
    let (new_active, took) = wait_other_active(&f.c, active, Duration::from_secs(TTL_SECS + 15));
    println!("takeover from a paused node: {took:?}");
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer");
    f.c.node(active).signal("CONT");
    let log = log.lock().unwrap();
    let gap = longest_gap(&log, cut - Duration::from_secs(1));
    println!(
        "SIGSTOP: {} writes acknowledged, longest gap {gap:?}, {} errors",
        log.acked.len(),
        log.errors.len()
    );
    for (n, _, e) in &log.errors {
        println!("  write {n} ended with: {e}");
        // Only the request the paused node held may end in an error, and
        // only one that says it landed (checked below) or is unknown.
        assert!(
            e.contains("the write landed") || e.contains("the outcome is unknown"),
            "{e}"
        );
        if e.contains("the write landed") {
            let r = f.c.call(
                new_active,
                "GET",
                &format!("/v1/secret/data/loop/{n}"),
                None,
            );
            expect_status(&r, 200, "the write reported as landed");
        }
    }
    assert!(log.errors.len() <= 1, "more than one request failed");
    assert!(
        gap <= Duration::from_secs(TTL_SECS + 2),
        "longest gap between acknowledged writes {gap:?} > lease_ttl + 2 s"
    );
    check_all_acked(&f.c, new_active, &log);
    drop(f.c.nodes.drain(..));
}

#[test]
fn sigterm_exits_within_5s_with_storage_unreachable() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut f = start_fleet("sigterm", 2);
    let (active, _) = f.c.wait_settled(Duration::from_secs(10));
    f.proxies[active].set(Fault::BlackHole);
    // A write in flight on the cut-off node.
    let port = f.c.node(active).port;
    let root = f.c.root.clone();
    std::thread::spawn(move || {
        let _ = common::http::request(
            port,
            "PUT",
            "/v1/secret/data/in-flight",
            &[("X-Vault-Token", root.as_str())],
            Some(br#"{"data":{"a":1}}"#),
        );
    });
    std::thread::sleep(Duration::from_millis(500));
    let start = Instant::now();
    f.c.node(active).signal("TERM");
    let exited = f.c.nodes[active]
        .as_mut()
        .unwrap()
        .wait_exit(Duration::from_secs(5));
    println!(
        "SIGTERM with storage black-holed: exited={exited} after {:?}",
        start.elapsed()
    );
    assert!(exited, "SIGTERM did not end the process within 5 s");
    f.c.nodes[active] = None;
    drop(f.c.nodes.drain(..));
}

/// The ambiguous commit: the transaction applies, its answer is lost, the
/// retry fails its own conditions. Every write must still end correctly.
#[test]
fn lost_answers_of_applied_writes_end_in_success() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (s, proxy, root) = single_node("ambiguous");
    let tx = "TransactWriteItems";
    let lost = |what: &str, method: &str, path: &str, body: Option<Value>, status: u16| {
        let before = proxy.faulted(tx);
        proxy.set_for(tx, Fault::ApplyThenDrop, Some(1));
        let r = s.call(method, path, Some(&root), body.as_ref());
        proxy.clear();
        assert_eq!(
            proxy.faulted(tx),
            before + 1,
            "{what}: the fault was not hit"
        );
        expect_status(&r, status, what);
        r
    };

    // KV v2: a plain write (conditioned on the metadata it read).
    let r = lost(
        "kv v2 write",
        "PUT",
        "/v1/secret/data/amb",
        Some(json!({"data": {"v": 1}})),
        200,
    );
    assert_eq!(r.json()["data"]["version"], 1, "{r}");
    // KV v2 check-and-set.
    let r = lost(
        "kv v2 cas write",
        "PUT",
        "/v1/secret/data/amb",
        Some(json!({"options": {"cas": 1}, "data": {"v": 2}})),
        200,
    );
    assert_eq!(r.json()["data"]["version"], 2, "{r}");
    let m = s
        .call("GET", "/v1/secret/metadata/amb", Some(&root), None)
        .json();
    assert_eq!(
        m["data"]["current_version"], 2,
        "one version per write: {m}"
    );
    let r = s.call("GET", "/v1/secret/data/amb", Some(&root), None);
    assert_eq!(r.json()["data"]["data"]["v"], 2);
    // A create-only write (token creation: conditioned on absence).
    let r = lost(
        "token create",
        "POST",
        "/v1/auth/token/create",
        Some(json!({"policies": ["default"]})),
        200,
    );
    let token = r.json()["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    expect_status(
        &s.call("GET", "/v1/auth/token/lookup-self", Some(&token), None),
        200,
        "the created token works",
    );
    // KV v1: an unconditional put and delete (their retries apply again).
    lost(
        "kv v1 put",
        "PUT",
        "/v1/kv/plain",
        Some(json!({"a": "b"})),
        204,
    );
    let r = s.call("GET", "/v1/kv/plain", Some(&root), None);
    expect_status(&r, 200, "kv v1 read");
    assert_eq!(r.json()["data"]["a"], "b");
    lost("kv v1 delete", "DELETE", "/v1/kv/plain", None, 204);
    expect_status(
        &s.call("GET", "/v1/kv/plain", Some(&root), None),
        404,
        "kv v1 deleted",
    );
    // KV v2 delete of the latest version, and destroy (conditioned).
    assert!(
        s.stderr().contains("whose answer was lost had committed"),
        "the lost answers were resolved by re-reading: {}",
        s.stderr()
    );
    lost("kv v2 delete", "DELETE", "/v1/secret/data/amb", None, 204);
    expect_status(
        &s.call("GET", "/v1/secret/data/amb", Some(&root), None),
        404,
        "kv v2 deleted",
    );
}

#[test]
fn throttling_and_5xx_bursts_are_retried_and_a_long_outage_is_a_clear_error() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (s, proxy, root) = single_node("throttle");
    let tx = "TransactWriteItems";
    for (i, (fault, times)) in [
        (Fault::Throttle, 4),
        (Fault::ThroughputExceeded, 3),
        (Fault::ServerError(500), 2),
        (Fault::ServerError(503), 3),
    ]
    .into_iter()
    .enumerate()
    {
        let before = proxy.faulted(tx);
        proxy.set_for(tx, fault, Some(times));
        let started = Instant::now();
        let r = s.call(
            "PUT",
            &format!("/v1/secret/data/burst-{i}"),
            Some(&root),
            Some(&json!({"data": {"i": i}})),
        );
        proxy.clear();
        println!(
            "{fault:?} x{times}: {} after {:?}",
            r.status,
            started.elapsed()
        );
        expect_status(&r, 200, &format!("write through a {fault:?} burst"));
        assert_eq!(
            proxy.faulted(tx) - before,
            times,
            "{fault:?}: every fault was hit"
        );
        let r = s.call(
            "GET",
            &format!("/v1/secret/data/burst-{i}"),
            Some(&root),
            None,
        );
        assert_eq!(r.json()["data"]["data"]["i"], i);
    }
    // Reads too.
    for op in ["GetItem", "BatchGetItem"] {
        proxy.set_for(op, Fault::Throttle, Some(3));
    }
    let r = s.call("GET", "/v1/secret/data/burst-0", Some(&root), None);
    proxy.clear();
    expect_status(&r, 200, "read through a throttling burst");

    // A long outage: a bounded, clear error, never a hang or a success.
    proxy.set_for(tx, Fault::Throttle, None);
    let started = Instant::now();
    let r = s.call(
        "PUT",
        "/v1/secret/data/outage",
        Some(&root),
        Some(&json!({"data": {"v": 1}})),
    );
    let took = started.elapsed();
    proxy.clear();
    println!(
        "long throttling outage: {} after {took:?}: {}",
        r.status,
        r.text()
    );
    expect_status(&r, 503, "a write during a long outage");
    assert!(took < Duration::from_secs(30), "the error took {took:?}");
    let text = r.text().to_lowercase();
    // (AWS details may be kept out of client answers: only "storage" is
    // promised.)
    assert!(
        text.contains("storage"),
        "the error says what failed: {text}"
    );
    expect_status(
        &s.call("GET", "/v1/secret/data/outage", Some(&root), None),
        404,
        "the failed write did not land",
    );
    // Storage is back: writes work again.
    let r = s.call(
        "PUT",
        "/v1/secret/data/outage",
        Some(&root),
        Some(&json!({"data": {"v": 2}})),
    );
    expect_status(&r, 200, "write after the outage");
}
