//! KV v1 and KV v2 over HTTP against the real binary (dev server), following
//! Vault's documented API (developer.hashicorp.com/vault/api-docs/secret/kv).

mod common;

use common::{at, expect_status, keys, list_keys, Server, ROOT};
use serde_json::{json, Value};

fn patch(s: &Server, path: &str, body: Value, content_type: &str) -> common::Response {
    let b = serde_json::to_vec(&body).unwrap();
    s.raw(
        "PATCH",
        path,
        &[("X-Vault-Token", ROOT), ("Content-Type", content_type)],
        Some(&b),
    )
}

// ---------------------------------------------------------------- KV v1 ----

#[test]
fn kv_v1_crud_and_list() {
    let s = Server::dev();
    expect_status(
        &s.post("/v1/sys/mounts/kv1", json!({"type": "kv"})),
        204,
        "enable kv v1",
    );
    let mounts = s.get("/v1/sys/mounts").json();
    assert_eq!(at(&mounts, &["data", "kv1/", "type"]), "kv", "{mounts}");

    // create
    expect_status(
        &s.put(
            "/v1/kv1/app",
            json!({"user": "alice", "n": 1, "nested": {"a": [1, 2]}}),
        ),
        204,
        "kv1 write",
    );
    let r = s.get("/v1/kv1/app");
    expect_status(&r, 200, "kv1 read");
    let v = r.json();
    assert_eq!(
        v["data"],
        json!({"user": "alice", "n": 1, "nested": {"a": [1, 2]}}),
        "kv v1 keeps JSON values as written: {v}"
    );
    for k in [
        "request_id",
        "lease_id",
        "renewable",
        "lease_duration",
        "data",
        "wrap_info",
        "warnings",
        "auth",
    ] {
        assert!(v.get(k).is_some(), "no {k} in the read envelope {v}");
    }

    // update replaces the whole value
    expect_status(
        &s.post("/v1/kv1/app", json!({"user": "bob"})),
        204,
        "kv1 overwrite (POST)",
    );
    assert_eq!(s.get("/v1/kv1/app").json()["data"], json!({"user": "bob"}));

    // list: immediate children, folders with a trailing slash, sorted
    for p in ["dir/a", "dir/b", "dir/sub/c", "dir/sub/deeper/d"] {
        expect_status(&s.put(&format!("/v1/kv1/{p}"), json!({"v": p})), 204, p);
    }
    let r = s.list("/v1/kv1/dir");
    expect_status(&r, 200, "LIST kv1/dir");
    assert_eq!(list_keys(&r), ["a", "b", "sub/"]);
    let r = s.list("/v1/kv1/dir/");
    expect_status(&r, 200, "LIST kv1/dir/");
    assert_eq!(list_keys(&r), ["a", "b", "sub/"]);
    let r = s.get("/v1/kv1/dir/?list=true");
    expect_status(&r, 200, "GET kv1/dir/?list=true");
    assert_eq!(list_keys(&r), ["a", "b", "sub/"]);
    assert_eq!(list_keys(&s.list("/v1/kv1/")), ["app", "dir/"]);
    assert_eq!(list_keys(&s.list("/v1/kv1/dir/sub")), ["c", "deeper/"]);
    let r = s.list("/v1/kv1/nothing-here/");
    expect_status(&r, 404, "LIST of an empty folder");
    assert_eq!(r.json(), json!({"errors": []}));

    // delete
    expect_status(&s.delete("/v1/kv1/app"), 204, "kv1 delete");
    let r = s.get("/v1/kv1/app");
    expect_status(&r, 404, "read after delete");
    assert_eq!(r.json(), json!({"errors": []}));
    expect_status(
        &s.delete("/v1/kv1/app"),
        204,
        "deleting a missing key is not an error",
    );
    assert_eq!(list_keys(&s.list("/v1/kv1/")), ["dir/"]);

    // an explicit version 1 mount behaves the same
    expect_status(
        &s.post(
            "/v1/sys/mounts/kv1b",
            json!({"type": "kv", "options": {"version": "1"}}),
        ),
        204,
        "enable kv version 1",
    );
    expect_status(&s.put("/v1/kv1b/x", json!({"a": "b"})), 204, "kv1b write");
    assert_eq!(s.get("/v1/kv1b/x").json()["data"], json!({"a": "b"}));
    // mounts are isolated from each other
    expect_status(&s.get("/v1/kv1/x"), 404, "kv1b's key is not in kv1");
}

#[test]
fn kv_v1_requires_a_token() {
    let s = Server::dev();
    expect_status(
        &s.post("/v1/sys/mounts/kv1", json!({"type": "kv"})),
        204,
        "enable",
    );
    expect_status(&s.put("/v1/kv1/app", json!({"a": "b"})), 204, "write");
    let r = s.call("GET", "/v1/kv1/app", None, None);
    expect_status(&r, 403, "read without a token");
    assert_eq!(r.json(), json!({"errors": ["permission denied"]}));
    let r = s.call(
        "PUT",
        "/v1/kv1/app",
        Some("bogus"),
        Some(&json!({"a": "c"})),
    );
    expect_status(&r, 403, "write with a bad token");
    assert_eq!(s.get("/v1/kv1/app").json()["data"], json!({"a": "b"}));
}

// ---------------------------------------------------------------- KV v2 ----

fn write(s: &Server, path: &str, body: Value) -> Value {
    let r = s.put(path, body);
    expect_status(&r, 200, &format!("write {path}"));
    r.json()
}

#[test]
fn kv_v2_write_read_versions_and_cas() {
    let s = Server::dev();
    let w = write(
        &s,
        "/v1/secret/data/app",
        json!({"data": {"user": "alice"}}),
    );
    assert_eq!(w["data"]["version"], 1, "{w}");
    assert_eq!(w["data"]["destroyed"], false);
    assert_eq!(w["data"]["deletion_time"], "");
    assert!(
        w["data"]["created_time"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{w}"
    );
    let w = write(
        &s,
        "/v1/secret/data/app",
        json!({"data": {"user": "bob", "n": 2}}),
    );
    assert_eq!(w["data"]["version"], 2);

    let r = s.get("/v1/secret/data/app");
    expect_status(&r, 200, "read latest");
    let v = r.json();
    assert_eq!(v["data"]["data"], json!({"user": "bob", "n": 2}));
    assert_eq!(v["data"]["metadata"]["version"], 2);
    assert_eq!(
        keys(&v["data"]["metadata"]),
        [
            "created_time",
            "custom_metadata",
            "deletion_time",
            "destroyed",
            "version"
        ]
    );
    let v1 = s.get("/v1/secret/data/app?version=1").json();
    assert_eq!(v1["data"]["data"], json!({"user": "alice"}));
    assert_eq!(v1["data"]["metadata"]["version"], 1);
    // version=0 means the latest
    assert_eq!(
        s.get("/v1/secret/data/app?version=0").json()["data"]["metadata"]["version"],
        2
    );
    expect_status(
        &s.get("/v1/secret/data/app?version=99"),
        404,
        "a version that never existed",
    );

    // check-and-set
    let r = s.put(
        "/v1/secret/data/app",
        json!({"data": {"x": 1}, "options": {"cas": 0}}),
    );
    expect_status(&r, 400, "cas=0 on an existing key");
    assert_eq!(
        r.errors(),
        ["check-and-set parameter did not match the current version"]
    );
    let r = s.put(
        "/v1/secret/data/app",
        json!({"data": {"x": 1}, "options": {"cas": 1}}),
    );
    expect_status(&r, 400, "stale cas");
    let w = write(
        &s,
        "/v1/secret/data/app",
        json!({"data": {"x": 3}, "options": {"cas": 2}}),
    );
    assert_eq!(w["data"]["version"], 3);
    let w = write(
        &s,
        "/v1/secret/data/new",
        json!({"data": {"x": 1}, "options": {"cas": 0}}),
    );
    assert_eq!(w["data"]["version"], 1, "cas=0 creates a new key");

    // a write without data is refused
    let r = s.put("/v1/secret/data/app", json!({"options": {}}));
    assert!(r.status == 400, "write without data: {r}");
    // nested paths and unicode keys
    write(
        &s,
        "/v1/secret/data/team/a/b/c",
        json!({"data": {"ключ": "значение"}}),
    );
    assert_eq!(
        s.get("/v1/secret/data/team/a/b/c").json()["data"]["data"],
        json!({"ключ": "значение"})
    );
}

#[test]
fn kv_v2_delete_undelete_destroy() {
    let s = Server::dev();
    for i in 1..=3 {
        write(&s, "/v1/secret/data/app", json!({"data": {"v": i}}));
    }
    // delete latest (v3)
    let r = s.delete("/v1/secret/data/app");
    expect_status(&r, 204, "delete latest");
    assert!(r.body.is_empty());
    let r = s.get("/v1/secret/data/app");
    expect_status(&r, 404, "read after delete");
    let v = r.json();
    assert_eq!(v["data"]["data"], Value::Null, "{v}");
    assert_eq!(v["data"]["metadata"]["version"], 3);
    assert_ne!(v["data"]["metadata"]["deletion_time"], "", "{v}");
    assert_eq!(
        s.get("/v1/secret/data/app?version=2").json()["data"]["data"],
        json!({"v": 2})
    );

    // delete specific versions
    expect_status(
        &s.post("/v1/secret/delete/app", json!({"versions": [1]})),
        204,
        "delete v1",
    );
    expect_status(&s.get("/v1/secret/data/app?version=1"), 404, "v1 deleted");
    let r = s.post("/v1/secret/delete/app", json!({}));
    expect_status(&r, 400, "delete/ without versions");

    // undelete
    expect_status(
        &s.post("/v1/secret/undelete/app", json!({"versions": [1, 3]})),
        204,
        "undelete",
    );
    let v = s.get("/v1/secret/data/app").json();
    assert_eq!(v["data"]["data"], json!({"v": 3}));
    assert_eq!(v["data"]["metadata"]["deletion_time"], "");
    assert_eq!(
        s.get("/v1/secret/data/app?version=1").json()["data"]["data"],
        json!({"v": 1})
    );

    // destroy is permanent
    expect_status(
        &s.put("/v1/secret/destroy/app", json!({"versions": [2]})),
        204,
        "destroy v2",
    );
    let r = s.get("/v1/secret/data/app?version=2");
    expect_status(&r, 404, "destroyed version");
    let v = r.json();
    assert_eq!(v["data"]["metadata"]["destroyed"], true, "{v}");
    assert_eq!(v["data"]["data"], Value::Null);
    expect_status(
        &s.post("/v1/secret/undelete/app", json!({"versions": [2]})),
        204,
        "undelete destroyed",
    );
    expect_status(
        &s.get("/v1/secret/data/app?version=2"),
        404,
        "undelete cannot revive a destroyed version",
    );
    let m = s.get("/v1/secret/metadata/app").json();
    assert_eq!(m["data"]["versions"]["2"]["destroyed"], true, "{m}");
    assert_eq!(m["data"]["versions"]["1"]["destroyed"], false);
    assert_eq!(m["data"]["current_version"], 3);

    // deleting the metadata removes every version
    expect_status(&s.delete("/v1/secret/metadata/app"), 204, "delete metadata");
    expect_status(
        &s.get("/v1/secret/metadata/app"),
        404,
        "metadata after delete",
    );
    let r = s.get("/v1/secret/data/app");
    expect_status(&r, 404, "data after metadata delete");
    assert_eq!(r.json(), json!({"errors": []}));
    let w = write(&s, "/v1/secret/data/app", json!({"data": {"fresh": true}}));
    assert_eq!(
        w["data"]["version"], 1,
        "a re-created key starts over at version 1"
    );
}

#[test]
fn kv_v2_metadata() {
    let s = Server::dev();
    write(&s, "/v1/secret/data/app", json!({"data": {"v": 1}}));
    write(&s, "/v1/secret/data/app", json!({"data": {"v": 2}}));
    let r = s.get("/v1/secret/metadata/app");
    expect_status(&r, 200, "read metadata");
    let m = r.json()["data"].clone();
    assert_eq!(m["current_version"], 2);
    assert_eq!(m["oldest_version"], 0);
    assert_eq!(m["max_versions"], 0);
    assert_eq!(m["cas_required"], false);
    assert_eq!(m["delete_version_after"], "0s");
    assert_eq!(m["custom_metadata"], Value::Null);
    assert_eq!(keys(&m["versions"]), ["1", "2"]);
    assert_eq!(
        keys(&m["versions"]["1"]),
        ["created_time", "deletion_time", "destroyed"]
    );

    // write metadata
    expect_status(
        &s.post(
            "/v1/secret/metadata/app",
            json!({"max_versions": 2, "custom_metadata": {"owner": "team-a"}}),
        ),
        204,
        "write metadata",
    );
    let m = s.get("/v1/secret/metadata/app").json()["data"].clone();
    assert_eq!(m["max_versions"], 2);
    assert_eq!(m["custom_metadata"], json!({"owner": "team-a"}));
    // custom_metadata shows up in the data read too
    assert_eq!(
        s.get("/v1/secret/data/app").json()["data"]["metadata"]["custom_metadata"],
        json!({"owner": "team-a"})
    );
    // max_versions prunes the oldest versions
    write(&s, "/v1/secret/data/app", json!({"data": {"v": 3}}));
    let m = s.get("/v1/secret/metadata/app").json()["data"].clone();
    assert_eq!(m["current_version"], 3);
    assert_eq!(keys(&m["versions"]), ["2", "3"], "{m}");
    assert_eq!(m["oldest_version"], 2);
    expect_status(
        &s.get("/v1/secret/data/app?version=1"),
        404,
        "pruned version",
    );

    // metadata for a key that does not exist yet can be written
    expect_status(
        &s.post("/v1/secret/metadata/future", json!({"cas_required": true})),
        204,
        "metadata for a new key",
    );
    let r = s.put("/v1/secret/data/future", json!({"data": {"a": 1}}));
    expect_status(&r, 400, "cas_required on the key demands options.cas");
    write(
        &s,
        "/v1/secret/data/future",
        json!({"data": {"a": 1}, "options": {"cas": 0}}),
    );

    // metadata PATCH (merge-patch)
    let r = patch(
        &s,
        "/v1/secret/metadata/app",
        json!({"custom_metadata": {"env": "prod"}}),
        "application/merge-patch+json",
    );
    expect_status(&r, 204, "patch metadata");
    let m = s.get("/v1/secret/metadata/app").json()["data"].clone();
    assert_eq!(
        m["custom_metadata"],
        json!({"owner": "team-a", "env": "prod"})
    );
    assert_eq!(m["max_versions"], 2, "patch keeps the other fields");
}

#[test]
fn kv_v2_patch() {
    let s = Server::dev();
    write(
        &s,
        "/v1/secret/data/app",
        json!({"data": {"user": "alice", "pw": "x", "deep": {"a": 1, "b": 2}}}),
    );
    let r = patch(
        &s,
        "/v1/secret/data/app",
        json!({"data": {"extra": "y", "pw": null, "deep": {"b": 3}}}),
        "application/merge-patch+json",
    );
    expect_status(&r, 200, "PATCH data");
    assert_eq!(r.json()["data"]["version"], 2);
    assert_eq!(
        s.get("/v1/secret/data/app").json()["data"]["data"],
        json!({"user": "alice", "extra": "y", "deep": {"a": 1, "b": 3}}),
        "JSON merge patch (RFC 7396): null removes, objects merge"
    );
    // PATCH with cas
    let r = patch(
        &s,
        "/v1/secret/data/app",
        json!({"data": {"z": 1}, "options": {"cas": 1}}),
        "application/merge-patch+json",
    );
    expect_status(&r, 400, "PATCH with a stale cas");
    let r = patch(
        &s,
        "/v1/secret/data/app",
        json!({"data": {"z": 1}, "options": {"cas": 2}}),
        "application/merge-patch+json",
    );
    expect_status(&r, 200, "PATCH with the current cas");
    // PATCH of a missing key is a 404
    let r = patch(
        &s,
        "/v1/secret/data/missing",
        json!({"data": {"a": 1}}),
        "application/merge-patch+json",
    );
    expect_status(&r, 404, "PATCH of a missing key");
    // PATCH needs the merge-patch content type (Vault answers 415)
    let r = patch(
        &s,
        "/v1/secret/data/app",
        json!({"data": {"a": 1}}),
        "application/json",
    );
    expect_status(&r, 415, "PATCH with application/json");
    // ... and of a deleted latest version is a 404 too
    expect_status(&s.delete("/v1/secret/data/app"), 204, "delete");
    let r = patch(
        &s,
        "/v1/secret/data/app",
        json!({"data": {"a": 1}}),
        "application/merge-patch+json",
    );
    expect_status(&r, 404, "PATCH of a deleted version");
}

#[test]
fn kv_v2_subkeys() {
    let s = Server::dev();
    write(
        &s,
        "/v1/secret/data/app",
        json!({"data": {"a": {"b": {"c": 1}, "d": 2}, "e": "x", "f": [1, 2]}}),
    );
    let r = s.get("/v1/secret/subkeys/app");
    expect_status(&r, 200, "subkeys");
    let v = r.json();
    assert_eq!(
        v["data"]["subkeys"],
        json!({"a": {"b": {"c": null}, "d": null}, "e": null, "f": null})
    );
    assert_eq!(v["data"]["metadata"]["version"], 1);
    let v = s.get("/v1/secret/subkeys/app?depth=1").json();
    assert_eq!(
        v["data"]["subkeys"],
        json!({"a": null, "e": null, "f": null})
    );
    let v = s.get("/v1/secret/subkeys/app?depth=2").json();
    assert_eq!(
        v["data"]["subkeys"],
        json!({"a": {"b": null, "d": null}, "e": null, "f": null})
    );
    expect_status(
        &s.get("/v1/secret/subkeys/missing"),
        404,
        "subkeys of a missing key",
    );
}

#[test]
fn kv_v2_config() {
    let s = Server::dev();
    let r = s.get("/v1/secret/config");
    expect_status(&r, 200, "read config");
    let c = r.json()["data"].clone();
    assert_eq!(c["max_versions"], 0);
    assert_eq!(c["cas_required"], false);
    assert_eq!(c["delete_version_after"], "0s");

    expect_status(
        &s.post(
            "/v1/secret/config",
            json!({"max_versions": 5, "cas_required": true, "delete_version_after": "1h"}),
        ),
        204,
        "write config",
    );
    let c = s.get("/v1/secret/config").json()["data"].clone();
    assert_eq!(c["max_versions"], 5);
    assert_eq!(c["cas_required"], true);
    assert_eq!(c["delete_version_after"], "1h0m0s");

    let r = s.put("/v1/secret/data/app", json!({"data": {"a": 1}}));
    expect_status(&r, 400, "cas_required on the mount demands options.cas");
    assert_eq!(
        r.errors(),
        ["check-and-set parameter required for this call"]
    );
    write(
        &s,
        "/v1/secret/data/app",
        json!({"data": {"a": 1}, "options": {"cas": 0}}),
    );

    // the mount's max_versions prunes
    expect_status(
        &s.post(
            "/v1/secret/config",
            json!({"max_versions": 2, "cas_required": false, "delete_version_after": "0s"}),
        ),
        204,
        "write config",
    );
    for i in 2..=4 {
        write(&s, "/v1/secret/data/app", json!({"data": {"a": i}}));
    }
    let m = s.get("/v1/secret/metadata/app").json()["data"].clone();
    assert_eq!(keys(&m["versions"]), ["3", "4"], "{m}");
}

#[test]
fn kv_v2_list() {
    let s = Server::dev();
    for p in ["a", "b/c", "b/d/e", "z"] {
        write(
            &s,
            &format!("/v1/secret/data/{p}"),
            json!({"data": {"p": p}}),
        );
    }
    let r = s.list("/v1/secret/metadata/");
    expect_status(&r, 200, "LIST metadata/");
    assert_eq!(list_keys(&r), ["a", "b/", "z"]);
    let r = s.get("/v1/secret/metadata/?list=true");
    expect_status(&r, 200, "GET metadata/?list=true");
    assert_eq!(list_keys(&r), ["a", "b/", "z"]);
    assert_eq!(list_keys(&s.list("/v1/secret/metadata/b")), ["c", "d/"]);
    assert_eq!(list_keys(&s.list("/v1/secret/metadata/b/")), ["c", "d/"]);
    let r = s.list("/v1/secret/metadata/nope/");
    expect_status(&r, 404, "LIST of a missing folder");
    assert_eq!(r.json(), json!({"errors": []}));
    // a soft-deleted key is still listed; one whose metadata is gone is not
    expect_status(&s.delete("/v1/secret/data/a"), 204, "soft delete");
    assert_eq!(list_keys(&s.list("/v1/secret/metadata/")), ["a", "b/", "z"]);
    expect_status(&s.delete("/v1/secret/metadata/a"), 204, "delete metadata");
    assert_eq!(list_keys(&s.list("/v1/secret/metadata/")), ["b/", "z"]);
}

#[test]
fn kv_v2_on_a_new_mount() {
    let s = Server::dev();
    expect_status(
        &s.post(
            "/v1/sys/mounts/kv2",
            json!({"type": "kv", "options": {"version": "2"}}),
        ),
        204,
        "enable kv v2",
    );
    let m = s.get("/v1/sys/mounts/kv2").json();
    assert_eq!(m["data"]["options"]["version"], "2", "{m}");
    let w = write(&s, "/v1/kv2/data/x", json!({"data": {"a": "b"}}));
    assert_eq!(w["data"]["version"], 1);
    assert_eq!(
        s.get("/v1/kv2/data/x").json()["data"]["data"],
        json!({"a": "b"})
    );
    // the kv-v2 type name is an alias
    expect_status(
        &s.post("/v1/sys/mounts/kv2b", json!({"type": "kv-v2"})),
        204,
        "enable kv-v2",
    );
    write(&s, "/v1/kv2b/data/y", json!({"data": {"c": "d"}}));
    assert_eq!(
        s.get("/v1/kv2b/data/y").json()["data"]["data"],
        json!({"c": "d"})
    );
    expect_status(&s.get("/v1/kv2b/data/x"), 404, "mounts are isolated");
    // the CLIs find the mount's version through sys/internal/ui/mounts
    let r = s.get("/v1/sys/internal/ui/mounts/kv2/data/x");
    expect_status(&r, 200, "sys/internal/ui/mounts/kv2");
    let v = r.json();
    assert_eq!(v["data"]["path"], "kv2/", "{v}");
    assert_eq!(v["data"]["type"], "kv");
    assert_eq!(v["data"]["options"]["version"], "2");
}

/// Issue 10: `options.cas` that is not an integer is refused with Vault's
/// message, before anything is written; mismatches and a missing cas (when
/// required) use Vault's texts too.
#[test]
fn kv_v2_cas_parse_errors_and_messages() {
    let s = Server::dev();
    write(&s, "/v1/secret/data/c", json!({"data": {"v": 1}}));
    for cas in [json!("abc"), json!("1.5"), json!([1]), json!({"n": 1})] {
        let r = s.put(
            "/v1/secret/data/c",
            json!({"data": {"v": 2}, "options": {"cas": cas}}),
        );
        expect_status(&r, 400, &format!("cas {cas}"));
        assert_eq!(
            r.errors(),
            ["error parsing check-and-set parameter"],
            "{cas}"
        );
    }
    // Weakly decoded, as Vault does: a numeric string is the number.
    let w = write(
        &s,
        "/v1/secret/data/c",
        json!({"data": {"v": 2}, "options": {"cas": "1"}}),
    );
    assert_eq!(w["data"]["version"], 2);
    for cas in [json!(1), json!(-1), json!(7)] {
        let r = s.put(
            "/v1/secret/data/c",
            json!({"data": {"v": 3}, "options": {"cas": cas}}),
        );
        expect_status(&r, 400, &format!("cas {cas}"));
        assert_eq!(
            r.errors(),
            ["check-and-set parameter did not match the current version"]
        );
    }
    // The same check guards PATCH.
    let r = patch(
        &s,
        "/v1/secret/data/c",
        json!({"data": {"w": 1}, "options": {"cas": "x"}}),
        "application/merge-patch+json",
    );
    expect_status(&r, 400, "patch with a bad cas");
    assert_eq!(r.errors(), ["error parsing check-and-set parameter"]);
    // options that are not an object are a field validation error.
    let r = s.put("/v1/secret/data/c", json!({"data": {}, "options": "cas=1"}));
    expect_status(&r, 400, "options not a map");
    expect_status(
        &s.post("/v1/secret/metadata/c", json!({"cas_required": true})),
        204,
        "cas_required on the key",
    );
    let r = s.put("/v1/secret/data/c", json!({"data": {"v": 3}}));
    expect_status(&r, 400, "cas required");
    assert_eq!(
        r.errors(),
        ["check-and-set parameter required for this call"]
    );
    assert_eq!(
        s.get("/v1/secret/metadata/c").json()["data"]["current_version"],
        2,
        "nothing was written"
    );
}

/// Issue 10: `LIST detailed-metadata/<prefix>` (OpenBao) answers `keys` like
/// `metadata/` and, in `key_info`, each secret's metadata.
#[test]
fn kv_v2_detailed_metadata_list() {
    let s = Server::dev();
    for p in ["a", "b/c", "b/d/e"] {
        write(
            &s,
            &format!("/v1/secret/data/{p}"),
            json!({"data": {"p": p}}),
        );
    }
    write(&s, "/v1/secret/data/a", json!({"data": {"p": "a2"}}));
    expect_status(
        &s.post(
            "/v1/secret/metadata/a",
            json!({"custom_metadata": {"owner": "ops"}}),
        ),
        204,
        "custom metadata",
    );
    let r = s.list("/v1/secret/detailed-metadata/");
    expect_status(&r, 200, "LIST detailed-metadata/");
    let v = r.json();
    assert_eq!(v["data"]["keys"], json!(["a", "b/"]), "{v}");
    let info = &v["data"]["key_info"];
    assert_eq!(keys(info), ["a"], "folders have no key_info: {v}");
    let meta = s.get("/v1/secret/metadata/a").json()["data"].clone();
    assert_eq!(info["a"], meta, "key_info is the metadata read");
    assert_eq!(info["a"]["current_version"], 2);
    assert_eq!(info["a"]["custom_metadata"], json!({"owner": "ops"}));
    // A folder, with and without its slash, and GET ?list=true.
    let v = s.list("/v1/secret/detailed-metadata/b").json();
    assert_eq!(v["data"]["keys"], json!(["c", "d/"]));
    assert_eq!(keys(&v["data"]["key_info"]), ["c"]);
    let r = s.get("/v1/secret/detailed-metadata/b/?list=true");
    expect_status(&r, 200, "GET ?list=true");
    assert_eq!(r.json()["data"]["key_info"]["c"]["current_version"], 1);
    let r = s.list("/v1/secret/detailed-metadata/nope/");
    expect_status(&r, 404, "LIST of a missing folder");
    assert_eq!(r.json(), json!({"errors": []}));
    // Only LIST is served there.
    expect_status(&s.get("/v1/secret/detailed-metadata/a"), 405, "read");
}

/// KV v2 paths are declared through the framework: outside the API the
/// answer is Vault's 404 with a warning, and unknown body keys are warned
/// about.
#[test]
fn kv_v2_invalid_paths_and_unknown_parameters() {
    let s = Server::dev();
    let r = s.get("/v1/secret/foo");
    expect_status(&r, 404, "outside the v2 API");
    let v = r.json();
    assert!(
        v["warnings"][0].as_str().is_some_and(|w| w
            .contains("Invalid path for a versioned K/V secrets engine")
            && w.contains("'vault kv get'")),
        "{v}"
    );
    let v = s.put("/v1/secret/foo", json!({"a": 1})).json();
    assert!(
        v["warnings"][0]
            .as_str()
            .is_some_and(|w| w.contains("'vault kv put'")),
        "{v}"
    );
    let v = write(
        &s,
        "/v1/secret/data/w",
        json!({"data": {"a": 1}, "colour": "x"}),
    );
    assert_eq!(
        v["warnings"],
        json!(["Endpoint ignored these unrecognized parameters: [colour]"]),
        "{v}"
    );
    let r = s.put("/v1/secret/config", json!({"max_versions": "many"}));
    expect_status(&r, 400, "a wrong type");
    assert_eq!(
        r.errors(),
        ["Field validation failed: error converting input for field \"max_versions\": cannot parse '' as int: strconv.ParseInt: parsing \"many\": invalid syntax"]
    );
}

/// Cubbyhole is its own engine on KV v1's storage handlers: a `ttl` is data,
/// not a lease, and any keys are stored without warnings.
#[test]
fn cubbyhole_stores_ttl_as_data() {
    let s = Server::dev();
    let r = s.put(
        "/v1/cubbyhole/app/note",
        json!({"ttl": "not-a-duration", "k": "v"}),
    );
    expect_status(&r, 204, "write with any ttl");
    let r = s.get("/v1/cubbyhole/app/note");
    expect_status(&r, 200, "read");
    let v = r.json();
    assert_eq!(v["lease_duration"], 0, "{v}");
    assert_eq!(v["data"], json!({"ttl": "not-a-duration", "k": "v"}));
    assert_eq!(list_keys(&s.list("/v1/cubbyhole/")), ["app/"]);
    assert_eq!(list_keys(&s.list("/v1/cubbyhole/app")), ["note"]);
    expect_status(&s.put("/v1/cubbyhole/x", json!({})), 400, "no data");
    expect_status(&s.delete("/v1/cubbyhole/app/note"), 204, "delete");
    expect_status(&s.get("/v1/cubbyhole/app/note"), 404, "deleted");
    // KV v1 still reads its ttl as the lease and refuses a bad one.
    expect_status(
        &s.post("/v1/sys/mounts/kv1", json!({"type": "kv"})),
        204,
        "enable kv v1",
    );
    expect_status(
        &s.put("/v1/kv1/t", json!({"ttl": "not-a-duration"})),
        400,
        "kv v1 bad ttl",
    );
    expect_status(
        &s.put("/v1/kv1/t", json!({"ttl": "1h", "a": 1})),
        204,
        "kv v1 ttl",
    );
    assert_eq!(s.get("/v1/kv1/t").json()["lease_duration"], 3600);
}

/// `?help=1` is answered from the declarations of each engine.
#[test]
fn kv_engines_serve_path_help() {
    let s = Server::dev();
    let v = s.get("/v1/secret/data/app?help=1").json();
    let help = v["help"].as_str().unwrap_or_default();
    assert!(help.contains("^data/{path*}$"), "{v}");
    assert!(help.contains("options (map)"), "{help}");
    let v = s.get("/v1/cubbyhole/x?help=1").json();
    assert!(
        v["help"].as_str().is_some_and(|h| h.contains("cubbyhole")),
        "{v}"
    );
}
