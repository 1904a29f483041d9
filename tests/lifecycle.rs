//! A non-dev server on `storage "file"`: init, seal/unseal with Shamir key
//! shares, crash (SIGKILL) and restart, durability of acknowledged writes,
//! encryption at rest; config errors; the version command.

mod common;

use std::fs;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

use common::{expect_status, Server};
use serde_json::{json, Value};

struct Keys {
    hex: Vec<String>,
    b64: Vec<String>,
    root: String,
}

fn init(s: &Server, shares: u32, threshold: u32) -> Keys {
    let r = s.call(
        "PUT",
        "/v1/sys/init",
        None,
        Some(&json!({"secret_shares": shares, "secret_threshold": threshold})),
    );
    expect_status(&r, 200, "sys/init");
    let v = r.json();
    let strings = |k: &str| -> Vec<String> {
        v[k].as_array()
            .unwrap_or_else(|| panic!("no {k} in {v}"))
            .iter()
            .map(|x| x.as_str().expect("string").to_string())
            .collect()
    };
    let keys = Keys {
        hex: strings("keys"),
        b64: strings("keys_base64"),
        root: v["root_token"].as_str().expect("root_token").to_string(),
    };
    assert_eq!(keys.hex.len(), shares as usize, "{v}");
    assert_eq!(keys.b64.len(), shares as usize, "{v}");
    assert!(!keys.root.is_empty());
    keys
}

fn seal_status(s: &Server) -> Value {
    let r = s.call("GET", "/v1/sys/seal-status", None, None);
    expect_status(&r, 200, "seal-status");
    r.json()
}

fn unseal(s: &Server, key: &str) -> common::Response {
    s.call("PUT", "/v1/sys/unseal", None, Some(&json!({ "key": key })))
}

/// Unseals with the given key shares (all must be accepted); the last one
/// must unseal.
fn unseal_with(s: &Server, keys: &[&str]) {
    for (i, k) in keys.iter().enumerate() {
        let r = unseal(s, k);
        expect_status(&r, 200, &format!("unseal share {i}"));
        let v = r.json();
        let last = i + 1 == keys.len();
        assert_eq!(v["sealed"], !last, "after share {i}: {v}");
        if !last {
            assert_eq!(v["progress"], i as u64 + 1, "{v}");
        }
    }
    expect_status(
        &s.call("GET", "/v1/sys/health", None, None),
        200,
        "health after unseal",
    );
}

fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .expect("/dev/urandom");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

fn call_t(
    s: &Server,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> common::Response {
    s.call(method, path, Some(token), body.as_ref())
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn init_unseal_crash_restart_and_encryption_at_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = dir.path().join("data");
    let mut s = Server::file(&storage, "");

    // ---- uninitialized
    let r = s.call("GET", "/v1/sys/health", None, None);
    expect_status(&r, 501, "health before init");
    assert_eq!(r.json()["initialized"], false);
    let st = seal_status(&s);
    assert_eq!(st["initialized"], false, "{st}");
    assert_eq!(st["sealed"], true);
    let r = s.call("GET", "/v1/sys/init", None, None);
    expect_status(&r, 200, "GET sys/init");
    assert_eq!(r.json()["initialized"], false);
    let r = unseal(&s, &random_hex(33));
    assert!((400..500).contains(&r.status), "unseal before init: {r}");
    let r = s.call(
        "PUT",
        "/v1/sys/init",
        None,
        Some(&json!({"secret_shares": 3, "secret_threshold": 5})),
    );
    expect_status(&r, 400, "threshold above shares");

    // ---- init
    let keys = init(&s, 5, 3);
    let r = s.call(
        "PUT",
        "/v1/sys/init",
        None,
        Some(&json!({"secret_shares": 5, "secret_threshold": 3})),
    );
    expect_status(&r, 400, "init twice");
    assert_eq!(
        s.call("GET", "/v1/sys/init", None, None).json()["initialized"],
        true
    );

    // ---- sealed
    let r = s.call("GET", "/v1/sys/health", None, None);
    expect_status(&r, 503, "health after init");
    assert_eq!(r.json()["sealed"], true);
    let st = seal_status(&s);
    assert_eq!(
        (st["t"].as_u64(), st["n"].as_u64()),
        (Some(3), Some(5)),
        "{st}"
    );
    assert_eq!(st["progress"], 0);
    assert_eq!(st["initialized"], true);
    expect_status(
        &call_t(&s, "GET", "/v1/sys/mounts", &keys.root, None),
        503,
        "a request while sealed",
    );

    // ---- wrong keys
    let r = unseal(&s, &keys.hex[0]);
    expect_status(&r, 200, "share 0");
    assert_eq!(r.json()["progress"], 1);
    expect_status(&unseal(&s, &keys.hex[1]), 200, "share 1");
    let r = unseal(&s, &random_hex(33));
    expect_status(&r, 400, "a random (valid-looking, 33-byte) third share");
    assert!(!r.errors().is_empty());
    let st = seal_status(&s);
    assert_eq!(st["sealed"], true, "a wrong share must not unseal: {st}");
    assert_eq!(st["progress"], 0, "a failed attempt starts over: {st}");
    expect_status(&unseal(&s, "not-a-key"), 400, "a malformed share");
    expect_status(&unseal(&s, ""), 400, "an empty share");
    assert_eq!(seal_status(&s)["sealed"], true);
    // the same share twice does not count twice
    expect_status(&unseal(&s, &keys.hex[3]), 200, "share 3");
    let r = unseal(&s, &keys.hex[3]);
    assert!(
        r.status == 400 || r.json()["progress"] == 1,
        "a repeated share: {r}"
    );
    // reset
    let r = s.call("PUT", "/v1/sys/unseal", None, Some(&json!({"reset": true})));
    expect_status(&r, 200, "unseal reset");
    assert_eq!(r.json()["progress"], 0);

    // ---- unseal with 3 of 5 (hex and base64 both accepted)
    unseal_with(&s, &[&keys.hex[0], &keys.b64[1], &keys.hex[2]]);

    // ---- write
    let root = keys.root.clone();
    expect_status(
        &call_t(
            &s,
            "POST",
            "/v1/sys/mounts/secret",
            &root,
            Some(json!({"type": "kv", "options": {"version": "2"}})),
        ),
        204,
        "enable kv v2",
    );
    expect_status(
        &call_t(
            &s,
            "POST",
            "/v1/sys/mounts/kv1",
            &root,
            Some(json!({"type": "kv"})),
        ),
        204,
        "enable kv v1",
    );
    let tag = random_hex(8);
    let marker = |i: usize| format!("plaintext-marker-{tag}-{i:04}");
    let mut written: Vec<(String, String)> = Vec::new(); // (read path, value)
    let write = |s: &Server, i: usize, written: &mut Vec<(String, String)>| {
        let value = marker(i);
        if i.is_multiple_of(2) {
            let r = call_t(
                s,
                "PUT",
                &format!("/v1/secret/data/app/{i}"),
                &root,
                Some(json!({"data": {"value": value}})),
            );
            expect_status(&r, 200, "kv2 write");
            written.push((format!("/v1/secret/data/app/{i}"), value));
        } else {
            let r = call_t(
                s,
                "PUT",
                &format!("/v1/kv1/app/{i}"),
                &root,
                Some(json!({"value": value})),
            );
            expect_status(&r, 204, "kv1 write");
            written.push((format!("/v1/kv1/app/{i}"), value));
        }
    };
    let mut next = 0;
    for _ in 0..40 {
        write(&s, next, &mut written);
        next += 1;
    }
    // a key rotation; later writes use the new term
    expect_status(
        &call_t(&s, "PUT", "/v1/sys/rotate", &root, None),
        204,
        "rotate",
    );
    for _ in 0..10 {
        write(&s, next, &mut written);
        next += 1;
    }

    // ---- crash and restart, several times, each unsealed with other shares
    let subsets: [[usize; 3]; 3] = [[2, 3, 4], [4, 0, 2], [1, 3, 4]];
    for (round, subset) in subsets.iter().enumerate() {
        s.kill(); // SIGKILL: no clean shutdown
        s = Server::file(&storage, "");
        let r = s.call("GET", "/v1/sys/health", None, None);
        expect_status(&r, 503, &format!("round {round}: health after restart"));
        let st = seal_status(&s);
        assert_eq!(st["sealed"], true, "{st}");
        assert_eq!(st["initialized"], true, "{st}");
        assert_eq!(
            (st["t"].as_u64(), st["n"].as_u64()),
            (Some(3), Some(5)),
            "{st}"
        );
        let shares: Vec<&str> = subset.iter().map(|&i| keys.hex[i].as_str()).collect();
        unseal_with(&s, &shares);
        for (path, value) in &written {
            let r = call_t(&s, "GET", path, &root, None);
            expect_status(&r, 200, &format!("round {round}: read back {path}"));
            let v = r.json();
            let got = if path.starts_with("/v1/secret/") {
                &v["data"]["data"]["value"]
            } else {
                &v["data"]["value"]
            };
            assert_eq!(got, value.as_str(), "round {round}: {path}");
        }
        let term = call_t(&s, "GET", "/v1/sys/key-status", &root, None).json();
        let t = term["data"]["term"].as_u64().or(term["term"].as_u64());
        assert_eq!(t, Some(2), "the rotation survived the restart: {term}");
        // writes made right before the next crash must survive it too
        for _ in 0..5 {
            write(&s, next, &mut written);
            next += 1;
        }
    }
    s.kill();

    // ---- nothing readable at rest
    let files = files_under(&storage);
    assert!(
        !files.is_empty(),
        "no storage files under {}",
        storage.display()
    );
    let mut total = 0;
    for f in &files {
        let bytes = fs::read(f).expect("read storage file");
        total += bytes.len();
        for (_, value) in &written {
            assert!(
                !contains(&bytes, value.as_bytes()),
                "{} holds the plaintext secret {value}",
                f.display()
            );
        }
        assert!(
            !contains(&bytes, tag.as_bytes()),
            "{} holds the marker tag",
            f.display()
        );
        assert!(
            !contains(&bytes, root.as_bytes()),
            "{} holds the root token in plaintext",
            f.display()
        );
        for k in &keys.hex {
            assert!(
                !contains(&bytes, k.as_bytes()),
                "{} holds an unseal key",
                f.display()
            );
        }
    }
    assert!(total > 0, "storage is empty");
}

#[test]
fn seal_and_unseal_again_without_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Server::file(dir.path(), "");
    let keys = init(&s, 3, 2);
    unseal_with(&s, &[&keys.hex[0], &keys.hex[1]]);
    expect_status(
        &call_t(
            &s,
            "POST",
            "/v1/sys/mounts/kv",
            &keys.root,
            Some(json!({"type": "kv"})),
        ),
        204,
        "enable kv",
    );
    expect_status(
        &call_t(&s, "PUT", "/v1/kv/a", &keys.root, Some(json!({"v": 1}))),
        204,
        "write",
    );
    expect_status(
        &call_t(&s, "PUT", "/v1/sys/seal", &keys.root, None),
        204,
        "seal",
    );
    expect_status(
        &call_t(&s, "GET", "/v1/kv/a", &keys.root, None),
        503,
        "read while sealed",
    );
    unseal_with(&s, &[&keys.hex[2], &keys.hex[0]]);
    let r = call_t(&s, "GET", "/v1/kv/a", &keys.root, None);
    expect_status(&r, 200, "read after unseal");
    assert_eq!(r.json()["data"], json!({"v": 1}));
    expect_status(
        &call_t(&s, "GET", "/v1/kv/a", "bogus", None),
        403,
        "a bad token",
    );
}

#[test]
fn malformed_config_names_the_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("broken.hcl");
    fs::write(
        &path,
        "storage \"file\" {\n  path = \"/tmp/strongroom-never-created\"\n  this is = = not hcl\n}\n",
    )
    .unwrap();
    let arg = format!("-config={}", path.display());
    let mut cmd = common::command();
    cmd.args(["server", &arg]);
    let out = common::run_with_timeout(cmd, Duration::from_secs(30));
    assert!(!out.status.success(), "a malformed config must not start");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("broken.hcl"),
        "the error names the file: {text}"
    );
    assert!(
        text.contains("line 3")
            || text.contains(":3:")
            || text.contains(" 3:")
            || text.contains("3 |"),
        "the error names the line (3): {text}"
    );

    // a missing file is an error too
    let missing = dir.path().join("missing.hcl");
    let mut cmd = common::command();
    cmd.args(["server", &format!("-config={}", missing.display())]);
    let out = common::run_with_timeout(cmd, Duration::from_secs(30));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.hcl"));
}

#[test]
fn version_command_and_flag() {
    let want = format!("Strongroom v{}", env!("CARGO_PKG_VERSION"));
    for args in [&["version"][..], &["-version"][..], &["--version"][..]] {
        let out = common::run_binary(args);
        assert!(out.status.success(), "strongroom {args:?}: {out:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.starts_with(&want),
            "strongroom {args:?} printed {stdout:?}, want {want:?}"
        );
    }
}
