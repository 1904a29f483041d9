//! High availability: several real server processes sharing one DynamoDB
//! table on moto, with the lease, fencing, forwarding and failover.
//!
//! Run by `make test` (which starts moto and exports `AWS_ENDPOINT_URL`).
//! The scenarios share moto and measure takeover times, so they run one at
//! a time.

mod common;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::cluster::{health_status, wait_until, Cluster, SERIAL, TTL_SECS};
use common::{expect_status, Server};
use serde_json::{json, Value};

fn enable_kv(c: &Cluster, on: usize) {
    let r = c.call(
        on,
        "POST",
        "/v1/sys/mounts/secret",
        Some(&json!({"type": "kv", "options": {"version": "2"}})),
    );
    expect_status(&r, 204, "enable kv");
}

#[test]
fn writes_through_standbys_are_forwarded_and_reads_are_local() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut c = Cluster::start("fwd", 3);
    let (active, _) = c.wait_settled(Duration::from_secs(10));
    let standby = c.standby_index(active);
    enable_kv(&c, standby); // a mount change through a standby is forwarded too

    // sys/leader agrees everywhere.
    let leader_of =
        |s: &Server| s.call("GET", "/v1/sys/leader", None, None).json()["leader_address"].clone();
    let expected = leader_of(c.node(active));
    for n in c.live() {
        let v = n.call("GET", "/v1/sys/leader", None, None).json();
        assert_eq!(v["ha_enabled"], true);
        assert_eq!(v["leader_address"], expected, "sys/leader disagrees: {v}");
    }

    let w = c.call(
        standby,
        "PUT",
        "/v1/secret/data/app",
        Some(&json!({"data": {"v": "via-standby"}})),
    );
    expect_status(&w, 200, "write through a standby");
    for i in 0..3 {
        let r = c.call(i, "GET", "/v1/secret/data/app", None);
        expect_status(&r, 200, "read on every node");
        assert_eq!(r.json()["data"]["data"]["v"], "via-standby");
    }

    // Reads on a standby do not touch the active node.
    let count = |s: &Server| -> f64 {
        let text = s
            .call(
                "GET",
                "/v1/sys/metrics?format=prometheus",
                Some(&c.root),
                None,
            )
            .text();
        text.lines()
            .filter(|l| l.starts_with("strongroom_http_requests_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let before = count(c.node(active));
    for _ in 0..20 {
        expect_status(
            &c.call(standby, "GET", "/v1/secret/data/app", None),
            200,
            "standby read",
        );
    }
    let after = count(c.node(active));
    assert!(
        after - before <= 2.0,
        "standby reads reached the active node ({before} -> {after})"
    );

    // X-Vault-No-Request-Forwarding: a redirect instead.
    let r = c.node(standby).raw(
        "PUT",
        "/v1/secret/data/redirect",
        &[
            ("X-Vault-Token", c.root.as_str()),
            ("X-Vault-No-Request-Forwarding", "true"),
        ],
        Some(br#"{"data":{"a":1}}"#),
    );
    expect_status(&r, 307, "no-forwarding header");
    assert!(r
        .header("location")
        .unwrap_or("")
        .ends_with("/v1/secret/data/redirect"));

    // A token revoked on the active node stops working on a standby at once.
    let t = c
        .call(
            active,
            "POST",
            "/v1/auth/token/create",
            Some(&json!({"policies": ["default"]})),
        )
        .json()["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    let me = |i: usize| {
        c.node(i)
            .call("GET", "/v1/auth/token/lookup-self", Some(&t), None)
            .status
    };
    assert_eq!(me(standby), 200, "fresh token on a standby");
    expect_status(
        &c.call(
            active,
            "POST",
            "/v1/auth/token/revoke",
            Some(&json!({"token": t})),
        ),
        204,
        "revoke",
    );
    assert_eq!(
        me(standby),
        403,
        "a revoked token must fail on a standby immediately"
    );

    // A tightened policy is honored by a standby for the next request.
    let open = r#"path "secret/data/*" { capabilities = ["read"] }"#;
    expect_status(
        &c.call(
            active,
            "PUT",
            "/v1/sys/policies/acl/reader",
            Some(&json!({"policy": open})),
        ),
        204,
        "policy",
    );
    let t = c
        .call(
            active,
            "POST",
            "/v1/auth/token/create",
            Some(&json!({"policies": ["reader"]})),
        )
        .json()["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    let read = |i: usize| {
        c.node(i)
            .call("GET", "/v1/secret/data/app", Some(&t), None)
            .status
    };
    assert_eq!(read(standby), 200, "allowed read on a standby");
    let closed = r#"path "secret/data/other" { capabilities = ["read"] }"#;
    expect_status(
        &c.call(
            active,
            "PUT",
            "/v1/sys/policies/acl/reader",
            Some(&json!({"policy": closed})),
        ),
        204,
        "tighten",
    );
    assert_eq!(
        read(standby),
        403,
        "a tightened policy must apply on a standby immediately"
    );

    // A rotated key term is picked up by standbys.
    expect_status(
        &c.call(standby, "PUT", "/v1/sys/rotate", None),
        204,
        "rotate (forwarded)",
    );
    let w = c.call(
        active,
        "PUT",
        "/v1/secret/data/after-rotate",
        Some(&json!({"data": {"v": 2}})),
    );
    expect_status(&w, 200, "write with the new term");
    for i in 0..3 {
        let r = c.call(i, "GET", "/v1/secret/data/after-rotate", None);
        expect_status(&r, 200, "read of a new-term value on every node");
    }
    let term =
        |i: usize| c.call(i, "GET", "/v1/sys/key-status", None).json()["data"]["term"].clone();
    assert_eq!(term(standby), term(active), "standbys report the new term");
    drop(c.nodes.drain(..));
}

#[test]
fn kill_sigterm_and_step_down_fail_over() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut c = Cluster::start("failover", 3);
    let (active, _) = c.wait_settled(Duration::from_secs(10));
    enable_kv(&c, active);

    // kill -9 of the active node: a new active within lease_ttl + 2 s.
    c.nodes[active].as_mut().unwrap().kill();
    c.nodes[active] = None;
    let (new_active, took) = c.wait_settled(Duration::from_secs(TTL_SECS + 10));
    println!("takeover after kill -9: {took:?} (lease_ttl {TTL_SECS}s)");
    assert!(
        took <= Duration::from_secs(TTL_SECS + 2),
        "takeover took {took:?}"
    );
    let w = c.call(
        new_active,
        "PUT",
        "/v1/secret/data/after-kill",
        Some(&json!({"data": {"a": 1}})),
    );
    expect_status(&w, 200, "write after failover");
    c.restart(active, &[]);
    c.wait_settled(Duration::from_secs(20));

    // SIGTERM releases the lease: a new active within 2 s.
    let (active, _) = c.wait_settled(Duration::from_secs(10));
    let start = Instant::now();
    c.nodes[active].as_ref().unwrap().signal("TERM");
    assert!(
        c.nodes[active]
            .as_mut()
            .unwrap()
            .wait_exit(Duration::from_secs(10)),
        "SIGTERM exit"
    );
    c.nodes[active] = None;
    let (_, _) = c.wait_settled(Duration::from_secs(10));
    let took = start.elapsed();
    println!("takeover after SIGTERM: {took:?}");
    assert!(
        took <= Duration::from_secs(2),
        "takeover after SIGTERM took {took:?}"
    );
    c.restart(active, &[]);
    c.wait_settled(Duration::from_secs(20));

    // sys/step-down (sent to a standby, so it is forwarded): a new active within 2 s.
    let (active, _) = c.wait_settled(Duration::from_secs(10));
    let standby = c.standby_index(active);
    let start = Instant::now();
    expect_status(
        &c.call(standby, "PUT", "/v1/sys/step-down", None),
        204,
        "step-down",
    );
    let (next, _) = c.wait_settled(Duration::from_secs(10));
    let took = start.elapsed();
    println!("takeover after step-down: {took:?}");
    assert_ne!(next, active, "another node must take over");
    assert!(
        took <= Duration::from_secs(2),
        "takeover after step-down took {took:?}"
    );
    drop(c.nodes.drain(..));
}

#[test]
fn a_paused_active_node_is_fenced() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut c = Cluster::start("pause", 2);
    let (active, _) = c.wait_settled(Duration::from_secs(10));
    enable_kv(&c, active);
    // Restart the active node with a slow write path, make it active again.
    let other = c.standby_index(active);
    c.nodes[active].as_mut().unwrap().kill();
    c.nodes[active] = None;
    c.wait_settled(Duration::from_secs(TTL_SECS + 10));
    c.restart(active, &[("STRONGROOM_TEST_WRITE_DELAY_MS", "2500")]);
    c.wait_settled(Duration::from_secs(20));
    expect_status(
        &c.call(other, "PUT", "/v1/sys/step-down", None),
        204,
        "hand the lease to the slow node",
    );
    let slow = active;
    wait_until(
        "the slow node to be active",
        Duration::from_secs(15),
        || health_status(c.node(slow)) == 200,
    );

    // A write through the slow node: it takes the fence, then waits 2.5 s.
    let port = c.node(slow).port;
    let root = c.root.clone();
    let writer = std::thread::spawn(move || {
        common::http::request(
            port,
            "PUT",
            "/v1/secret/data/fenced",
            &[
                ("X-Vault-Token", root.as_str()),
                ("X-Vault-No-Request-Forwarding", "true"),
            ],
            Some(br#"{"data":{"writer":"deposed"}}"#),
        )
    });
    std::thread::sleep(Duration::from_millis(500));
    c.node(slow).signal("STOP");
    // The other node takes over and writes.
    let took = wait_until(
        "takeover from the paused node",
        Duration::from_secs(TTL_SECS + 10),
        || health_status(c.node(other)) == 200,
    );
    println!("takeover from a paused node: {took:?}");
    expect_status(
        &c.call(
            other,
            "PUT",
            "/v1/secret/data/after-pause",
            Some(&json!({"data": {"writer": "new"}})),
        ),
        200,
        "write on the new active node",
    );
    c.node(slow).signal("CONT");
    let answer = writer.join().expect("writer thread").expect("transport");
    assert_ne!(
        answer.status, 200,
        "the deposed node acknowledged a write: {answer}"
    );
    // It stepped down, and its write does not exist anywhere.
    wait_until(
        "the old node to report standby",
        Duration::from_secs(10),
        || health_status(c.node(slow)) == 473,
    );
    expect_status(
        &c.call(other, "GET", "/v1/secret/data/fenced", None),
        404,
        "fenced write absent",
    );
    expect_status(
        &c.call(slow, "GET", "/v1/secret/data/fenced", None),
        404,
        "fenced write absent (old node)",
    );
    drop(c.nodes.drain(..));
}

#[test]
fn failover_loop_with_concurrent_cas_writers_loses_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut c = Cluster::start("loop", 3);
    let (active, _) = c.wait_settled(Duration::from_secs(10));
    enable_kv(&c, active);
    let ports: Vec<u16> = c.live().iter().map(|s| s.port).collect();
    let ports = std::sync::Arc::new(Mutex::new(ports));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = Vec::new();
    for client in 0..3 {
        let ports = ports.clone();
        let stop = stop.clone();
        let root = c.root.clone();
        clients.push(std::thread::spawn(move || {
            // Each client owns a key and appends versions with check-and-set.
            let key = format!("/v1/secret/data/counter-{client}");
            let mut acked: Vec<(u64, String)> = Vec::new();
            let mut version = 0u64;
            let mut i = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                i += 1;
                let port = {
                    let p = ports.lock().unwrap();
                    p[i % p.len()]
                };
                let value = format!("c{client}-v{}", version + 1);
                let body =
                    json!({"options": {"cas": version}, "data": {"value": value}}).to_string();
                let r = common::http::request(
                    port,
                    "PUT",
                    &key,
                    &[
                        ("X-Vault-Token", root.as_str()),
                        ("Content-Type", "application/json"),
                    ],
                    Some(body.as_bytes()),
                );
                match r {
                    Ok(r) if r.status == 200 => {
                        let v = r.json()["data"]["version"].as_u64().unwrap();
                        assert_eq!(v, version + 1, "cas acknowledged a wrong version");
                        version = v;
                        acked.push((v, value));
                    }
                    Ok(r) if r.status == 400 => {
                        // cas mismatch: our previous write may have landed
                        // without an answer. Re-read the current version.
                        if let Ok(m) = common::http::request(
                            port,
                            "GET",
                            &key.replace("/data/", "/metadata/"),
                            &[("X-Vault-Token", root.as_str())],
                            None,
                        ) {
                            if m.status == 200 {
                                version = m.json()["data"]["current_version"]
                                    .as_u64()
                                    .unwrap_or(version);
                            }
                        }
                    }
                    _ => std::thread::sleep(Duration::from_millis(100)),
                }
            }
            (key, acked)
        }));
    }
    // Three failovers while the clients write.
    for round in 0..3 {
        std::thread::sleep(Duration::from_secs(2));
        let (active, _) = c.wait_settled(Duration::from_secs(TTL_SECS + 15));
        c.nodes[active].as_mut().unwrap().kill();
        c.nodes[active] = None;
        let (_, took) = c.wait_settled(Duration::from_secs(TTL_SECS + 15));
        println!("failover round {round}: new active after {took:?}");
        c.restart(active, &[]);
        *ports.lock().unwrap() = c.live().iter().map(|s| s.port).collect();
    }
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (active, _) = c.wait_settled(Duration::from_secs(20));
    let mut total = 0;
    for h in clients {
        let (key, acked) = h.join().expect("client thread");
        total += acked.len();
        let meta = c
            .call(active, "GET", &key.replace("/data/", "/metadata/"), None)
            .json();
        let current = meta["data"]["current_version"].as_u64().unwrap_or(0);
        let versions = meta["data"]["versions"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            versions.len() as u64,
            current.min(10),
            "versions are unique and contiguous: {meta}"
        );
        for (v, value) in &acked {
            if *v + 10 <= current {
                continue; // trimmed by max_versions
            }
            let r = c.call(active, "GET", &format!("{key}?version={v}"), None);
            expect_status(&r, 200, "acknowledged version");
            assert_eq!(
                &r.json()["data"]["data"]["value"],
                value,
                "acknowledged value of version {v}"
            );
        }
    }
    println!("acknowledged writes across failovers: {total}");
    assert!(total > 0, "no write was acknowledged at all");
    drop(c.nodes.drain(..));
}

#[test]
fn remount_and_tune_are_seen_by_standbys() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut c = Cluster::start("remount", 2);
    let (active, _) = c.wait_settled(Duration::from_secs(10));
    let standby = c.standby_index(active);
    enable_kv(&c, active);
    let w = c.call(
        active,
        "PUT",
        "/v1/secret/data/app",
        Some(&json!({"data": {"v": "1"}})),
    );
    expect_status(&w, 200, "write");
    // the standby has the mount table cached; a remount through it is
    // forwarded, and its next request sees the new table
    let r = c.call(
        standby,
        "POST",
        "/v1/sys/remount",
        Some(&json!({"from": "secret", "to": "moved"})),
    );
    expect_status(&r, 200, "remount through the standby");
    let id = r.json()["data"]["migration_id"]
        .as_str()
        .unwrap()
        .to_string();
    for i in [active, standby] {
        let r = c.call(i, "GET", &format!("/v1/sys/remount/status/{id}"), None);
        expect_status(&r, 200, "status on every node");
        assert_eq!(r.json()["data"]["migration_info"]["status"], "success");
        let r = c.call(i, "GET", "/v1/moved/data/app", None);
        expect_status(&r, 200, "read at the new path on every node");
        assert_eq!(r.json()["data"]["data"]["v"], "1");
        expect_status(
            &c.call(i, "GET", "/v1/secret/data/app", None),
            404,
            "old path",
        );
    }
    let r = c.call(
        active,
        "POST",
        "/v1/sys/mounts/moved/tune",
        Some(&json!({"description": "tuned", "default_lease_ttl": "1h"})),
    );
    expect_status(&r, 204, "tune");
    let t = c
        .call(standby, "GET", "/v1/sys/mounts/moved/tune", None)
        .json();
    assert_eq!(t["data"]["description"], "tuned", "{t}");
    assert_eq!(t["data"]["default_lease_ttl"], 3600, "{t}");
}

#[test]
fn audit_devices_reach_standbys_and_record_what_they_serve() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut c = Cluster::start("audit", 2);
    let (active, _) = c.wait_settled(Duration::from_secs(10));
    let standby = c.standby_index(active);
    enable_kv(&c, active);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    // Enabled through the standby: forwarded to the active node, and the
    // table reaches the standby before its next request.
    let r = c.call(
        standby,
        "PUT",
        "/v1/sys/audit/file",
        Some(&json!({"type": "file", "options": {"file_path": log.display().to_string()}})),
    );
    expect_status(&r, 204, "enable through the standby");
    let l = c.call(standby, "GET", "/v1/sys/audit", None).json();
    assert_eq!(l["data"]["file/"]["type"], "file", "{l}");
    let w = c.call(
        active,
        "PUT",
        "/v1/secret/data/only-standby-reads",
        Some(&json!({"data": {"v": "secret-value-ha"}})),
    );
    expect_status(&w, 200, "write");
    // A read served by the standby itself lands in the log.
    let r = c.call(standby, "GET", "/v1/secret/data/only-standby-reads", None);
    expect_status(&r, 200, "read on the standby");
    // A write through the standby: recorded there (forwarded) and by the
    // active node that ran it (forwarded_from).
    let w = c.call(
        standby,
        "PUT",
        "/v1/secret/data/via-standby",
        Some(&json!({"data": {"v": "x"}})),
    );
    expect_status(&w, 200, "forwarded write");
    let text = std::fs::read_to_string(&log).unwrap();
    let entries: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let read = entries.iter().find(|e| {
        e["type"] == "response"
            && e["request"]["path"] == "secret/data/only-standby-reads"
            && e["request"]["operation"] == "read"
    });
    assert!(
        read.is_some(),
        "the standby's read is not in the log:\n{text}"
    );
    assert!(
        entries.iter().any(|e| e["type"] == "response"
            && e["request"]["path"] == "secret/data/via-standby"
            && e["response"]["forwarded"] == true),
        "no forwarded marker from the standby:\n{text}"
    );
    assert!(
        entries
            .iter()
            .any(|e| e["request"]["path"] == "secret/data/via-standby"
                && e["request"]["forwarded_from"].is_string()),
        "no forwarded_from from the active node:\n{text}"
    );
    assert!(!text.contains("secret-value-ha"));
}
