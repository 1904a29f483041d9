//! A cluster of real server processes on one DynamoDB table on moto (HA):
//! start, find the active node, call a node, restart one. Shared by the HA
//! tests of every area (tests/ha.rs, transit, identity, PKI, fleet).
//! Needs `AWS_ENDPOINT_URL` (moto), which `make test` / scripts/test.sh set.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::Server;

/// Lease TTL used by every node here.
pub const TTL_SECS: u64 = 3;
pub static SERIAL: Mutex<()> = Mutex::new(());

pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL")
        .expect("AWS_ENDPOINT_URL is not set: run under `make test` (moto not started)")
}

pub fn hcl(table: &str) -> String {
    let ep = endpoint();
    format!(
        r#"
storage "dynamodb" {{
  table        = "{table}"
  endpoint     = "{ep}"
  create_table = "true"
  ha_enabled   = "true"
  lease_ttl    = "{TTL_SECS}s"
}}
seal "awskms" {{
  kms_key_id = "alias/strongroom"
  endpoint   = "{ep}"
}}
listener "tcp" {{
  address     = "127.0.0.1:{{PORT}}"
  tls_disable = true
}}
api_addr = "http://127.0.0.1:{{PORT}}"
"#
    )
}

pub fn unique_table(name: &str) -> String {
    format!("ha-{name}-{}", std::process::id())
}

pub struct Cluster {
    pub table: String,
    pub nodes: Vec<Option<Server>>,
    pub root: String,
}

pub fn health_status(s: &Server) -> u16 {
    s.call("GET", "/v1/sys/health", None, None).status
}

pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return start.elapsed();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

impl Cluster {
    pub fn start(name: &str, n: usize) -> Cluster {
        let table = unique_table(name);
        let mut nodes = Vec::new();
        for _ in 0..n {
            nodes.push(Some(Server::with_hcl(&hcl(&table))));
        }
        let first = nodes[0].as_ref().unwrap();
        // Some node takes the lease while uninitialized; init is forwarded there.
        let mut init = None;
        wait_until("init to succeed", Duration::from_secs(30), || {
            let r = first.call(
                "PUT",
                "/v1/sys/init",
                None,
                Some(&json!({"recovery_shares": 1, "recovery_threshold": 1})),
            );
            if r.status == 200 {
                init = Some(r.json());
                true
            } else {
                false
            }
        });
        let root = init.unwrap()["root_token"].as_str().unwrap().to_string();
        let mut c = Cluster { table, nodes, root };
        c.wait_settled(Duration::from_secs(40));
        c
    }

    pub fn live(&self) -> Vec<&Server> {
        self.nodes.iter().flatten().collect()
    }

    /// Index of the node answering 200 to sys/health, if exactly one does
    /// and every other live node is an unsealed standby (473).
    pub fn active_index(&self) -> Option<usize> {
        let mut active = None;
        for (i, n) in self.nodes.iter().enumerate() {
            let Some(n) = n else { continue };
            match health_status(n) {
                200 if active.is_none() => active = Some(i),
                473 => {}
                _ => return None,
            }
        }
        active
    }

    pub fn wait_settled(&mut self, timeout: Duration) -> (usize, Duration) {
        let mut idx = 0;
        let took = wait_until(
            "one active node and unsealed standbys",
            timeout,
            || match self.active_index() {
                Some(i) => {
                    idx = i;
                    true
                }
                None => false,
            },
        );
        (idx, took)
    }

    pub fn node(&self, i: usize) -> &Server {
        self.nodes[i].as_ref().expect("node is running")
    }

    pub fn standby_index(&self, active: usize) -> usize {
        (0..self.nodes.len())
            .find(|i| *i != active && self.nodes[*i].is_some())
            .expect("a standby")
    }

    pub fn call(
        &self,
        i: usize,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> super::Response {
        self.node(i).call(method, path, Some(&self.root), body)
    }

    pub fn restart(&mut self, i: usize, env: &[(&str, &str)]) {
        self.nodes[i] = Some(Server::with_hcl_env(&hcl(&self.table), env));
    }
}
