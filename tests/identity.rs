//! The identity store against the real binary: entities, aliases, groups
//! (internal, external, nested), lookups, merge; logins that create and
//! reuse entities; group policies applied to existing tokens at once, also
//! through a standby (HA on moto); hvac's `secrets.identity` calls.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{at, expect_status, list_keys, Server, ROOT};
use serde_json::{json, Value};

fn data(resp: &common::http::Response) -> Value {
    resp.json()["data"].clone()
}

fn userpass_accessor(s: &Server) -> String {
    let r = s.get("/v1/sys/auth");
    expect_status(&r, 200, "sys/auth");
    at(&r.json(), &["data", "userpass/", "accessor"])
        .as_str()
        .expect("accessor")
        .to_string()
}

fn enable_userpass(s: &Server) -> String {
    expect_status(
        &s.post("/v1/sys/auth/userpass", json!({"type": "userpass"})),
        204,
        "enable userpass",
    );
    userpass_accessor(s)
}

fn login(s: &Server, user: &str, password: &str) -> Value {
    let r = s.call(
        "POST",
        &format!("/v1/auth/userpass/login/{user}"),
        None,
        Some(&json!({"password": password})),
    );
    expect_status(&r, 200, "login");
    r.json()["auth"].clone()
}

#[test]
fn identity_is_mounted_and_cannot_be_removed() {
    let s = Server::dev();
    let mounts = s.get("/v1/sys/mounts").json();
    assert_eq!(at(&mounts, &["data", "identity/", "type"]), "identity");
    let r = s.delete("/v1/sys/mounts/identity");
    expect_status(&r, 400, "disable identity");
    assert!(r.text().contains("cannot unmount"), "{}", r.text());
    let r = s.post(
        "/v1/sys/remount",
        json!({"from": "identity", "to": "ident2"}),
    );
    expect_status(&r, 400, "remount identity");
    assert_eq!(r.json()["errors"][0], "cannot remount \"identity/\"");
}

#[test]
fn entity_crud_list_and_lookup_match_vault() {
    let s = Server::dev();
    let r = s.post(
        "/v1/identity/entity",
        json!({"name":"alice","metadata":{"team":"eng","region":"eu-west"},"policies":["default","eng-read"]}),
    );
    expect_status(&r, 200, "create");
    let d = data(&r);
    assert_eq!(d["aliases"], Value::Null);
    assert_eq!(d["name"], "alice");
    let id = d["id"].as_str().unwrap().to_string();

    let e = data(&s.get(&format!("/v1/identity/entity/id/{id}")));
    assert_eq!(e["metadata"], json!({"region":"eu-west","team":"eng"}));
    assert_eq!(e["policies"], json!(["default", "eng-read"]));
    assert_eq!(e["aliases"], json!([]));
    assert_eq!(e["group_ids"], json!([]));
    assert_eq!(e["merged_entity_ids"], Value::Null);
    assert_eq!(e["namespace_id"], "root");
    assert_eq!(data(&s.get("/v1/identity/entity/name/alice"))["id"], id);
    let missing = s.get("/v1/identity/entity/id/00000000-0000-0000-0000-000000000000");
    expect_status(&missing, 404, "missing");
    assert_eq!(missing.json(), json!({"errors": []}));

    let l = s.list("/v1/identity/entity/id");
    assert_eq!(list_keys(&l), vec![id.clone()]);
    assert_eq!(data(&l)["key_info"][&id]["name"], "alice");
    assert_eq!(
        list_keys(&s.list("/v1/identity/entity/name")),
        vec!["alice"]
    );

    // Update by id, by name, and a create with an existing name: 204.
    let r = s.post(
        &format!("/v1/identity/entity/id/{id}"),
        json!({"metadata":{"team":"platform"},"policies":["default","platform"]}),
    );
    expect_status(&r, 204, "update by id");
    expect_status(
        &s.post(
            "/v1/identity/entity",
            json!({"name":"alice","disabled":false}),
        ),
        204,
        "create same name",
    );
    expect_status(
        &s.post(
            "/v1/identity/entity/name/alice",
            json!({"metadata":{"team":"platform","oncall":"yes"}}),
        ),
        204,
        "update by name",
    );
    let e = data(&s.get(&format!("/v1/identity/entity/id/{id}")));
    assert_eq!(e["metadata"], json!({"oncall":"yes","team":"platform"}));
    assert_eq!(e["policies"], json!(["default", "platform"]));

    let bad = s.post(
        "/v1/identity/entity",
        json!({"name":"mallory","metadata":"not-a-map"}),
    );
    expect_status(&bad, 400, "wrong type");
    assert_eq!(
        bad.json()["errors"][0],
        "Field validation failed: error converting input for field \"metadata\": invalid key pair at index 0 in field \"metadata\""
    );

    // Lookups.
    let found = s.post("/v1/identity/lookup/entity", json!({"name":"alice"}));
    assert_eq!(data(&found)["id"], id);
    expect_status(
        &s.post("/v1/identity/lookup/entity", json!({"name":"nobody"})),
        204,
        "lookup missing",
    );
    let none = s.post("/v1/identity/lookup/entity", json!({}));
    expect_status(&none, 400, "no criteria");
    assert_eq!(none.json()["errors"][0], "query parameter not supplied");

    // Delete, twice.
    expect_status(
        &s.delete(&format!("/v1/identity/entity/id/{id}")),
        204,
        "delete",
    );
    expect_status(
        &s.delete(&format!("/v1/identity/entity/id/{id}")),
        204,
        "again",
    );
    expect_status(&s.get(&format!("/v1/identity/entity/id/{id}")), 404, "gone");
    expect_status(&s.list("/v1/identity/entity/id"), 404, "empty list");
}

#[test]
fn aliases_are_unique_per_mount_and_validated() {
    let s = Server::dev();
    let acc = enable_userpass(&s);
    let id = data(&s.post("/v1/identity/entity", json!({"name":"alice"})))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = s.post(
        "/v1/identity/entity-alias",
        json!({"name":"alice","canonical_id":id,"mount_accessor":acc,"custom_metadata":{"source":"t"}}),
    );
    expect_status(&r, 200, "alias");
    let alias_id = data(&r)["id"].as_str().unwrap().to_string();
    assert_eq!(data(&r)["canonical_id"], id);

    let a = data(&s.get(&format!("/v1/identity/entity-alias/id/{alias_id}")));
    assert_eq!(a["mount_path"], "auth/userpass/");
    assert_eq!(a["mount_type"], "userpass");
    assert_eq!(a["custom_metadata"], json!({"source":"t"}));
    assert_eq!(
        list_keys(&s.list("/v1/identity/entity-alias/id")),
        vec![alias_id.clone()]
    );

    let r = s.post(
        "/v1/identity/entity-alias",
        json!({"name":"alice2","canonical_id":id}),
    );
    expect_status(&r, 400, "missing accessor");
    assert_eq!(
        r.json()["errors"][0],
        "'id' or 'mount_accessor' and 'name' must be provided"
    );
    let r = s.post(
        "/v1/identity/entity-alias",
        json!({"name":"a3","canonical_id":id,"mount_accessor":"auth_userpass_00000000"}),
    );
    expect_status(&r, 400, "unknown accessor");
    assert_eq!(
        r.json()["errors"][0],
        "invalid mount accessor \"auth_userpass_00000000\""
    );
    // The same alias again for the same entity updates it (Vault: 200).
    let again = s.post(
        "/v1/identity/entity-alias",
        json!({"name":"alice","canonical_id":id,"mount_accessor":acc}),
    );
    expect_status(&again, 200, "same alias");
    assert_eq!(data(&again)["id"], alias_id);
    // The same (mount, name) for another entity is refused.
    let bob = data(&s.post("/v1/identity/entity", json!({"name":"bob"})))["id"].clone();
    let dup = s.post(
        "/v1/identity/entity-alias",
        json!({"name":"alice","canonical_id":bob,"mount_accessor":acc}),
    );
    expect_status(&dup, 400, "duplicate alias");
    // A second alias of one entity on one mount is refused too.
    let second = s.post(
        "/v1/identity/entity-alias",
        json!({"name":"alice-other","canonical_id":id,"mount_accessor":acc}),
    );
    expect_status(&second, 400, "second alias on mount");

    let e = data(&s.get(&format!("/v1/identity/entity/id/{id}")));
    assert_eq!(e["aliases"][0]["id"], alias_id);
    let by_alias = s.post(
        "/v1/identity/lookup/entity",
        json!({"alias_name":"alice","alias_mount_accessor":acc}),
    );
    assert_eq!(data(&by_alias)["id"], id);

    // Disabling the mount deletes its aliases.
    expect_status(&s.delete("/v1/sys/auth/userpass"), 204, "disable");
    let e = data(&s.get(&format!("/v1/identity/entity/id/{id}")));
    assert_eq!(e["aliases"], json!([]));
    expect_status(
        &s.get(&format!("/v1/identity/entity-alias/id/{alias_id}")),
        404,
        "alias gone",
    );
}

#[test]
fn groups_internal_external_nested_and_bad_input() {
    let s = Server::dev();
    let acc = enable_userpass(&s);
    let alice = data(&s.post("/v1/identity/entity", json!({"name":"alice"})))["id"].clone();
    let r = s.post(
        "/v1/identity/group",
        json!({"name":"engineering","type":"internal","policies":["eng-read"],"member_entity_ids":[alice],"metadata":{"owner":"alice"}}),
    );
    expect_status(&r, 200, "group");
    let eng = data(&r)["id"].as_str().unwrap().to_string();
    let g = data(&s.get("/v1/identity/group/name/engineering"));
    assert_eq!(g["member_entity_ids"], json!([alice]));
    assert_eq!(g["member_group_ids"], Value::Null);
    assert_eq!(g["alias"], json!({}));
    assert_eq!(g["modify_index"], 1);
    assert_eq!(g["type"], "internal");
    let l = s.list("/v1/identity/group/id");
    assert_eq!(data(&l)["key_info"][&eng]["num_member_entities"], 1);
    assert_eq!(
        list_keys(&s.list("/v1/identity/group/name")),
        vec!["engineering"]
    );

    // Nested: all ⊃ engineering.
    let all = data(&s.post(
        "/v1/identity/group",
        json!({"name":"all","policies":["base"],"member_group_ids":[eng]}),
    ))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let e = data(&s.get(&format!(
        "/v1/identity/entity/id/{}",
        alice.as_str().unwrap()
    )));
    assert_eq!(e["direct_group_ids"], json!([eng]));
    assert_eq!(e["inherited_group_ids"], json!([all]));
    assert_eq!(
        data(&s.get(&format!("/v1/identity/group/id/{eng}")))["parent_group_ids"],
        json!([all])
    );
    // A cycle, a self-membership and an unknown member are refused.
    let cyc = s.post(
        &format!("/v1/identity/group/id/{eng}"),
        json!({"member_group_ids":[all]}),
    );
    expect_status(&cyc, 400, "cycle");
    assert!(cyc.text().contains("cyclic relationship"), "{}", cyc.text());
    expect_status(
        &s.post(
            &format!("/v1/identity/group/id/{eng}"),
            json!({"member_group_ids":[eng]}),
        ),
        400,
        "self",
    );
    let ghost = s.post(
        "/v1/identity/group",
        json!({"name":"ghosts","member_entity_ids":["11111111-2222-3333-4444-555555555555"]}),
    );
    // OpenBao answers this one 500 (capture 235); bad input is a 400 here,
    // with OpenBao's text.
    expect_status(&ghost, 400, "unknown member");
    assert_eq!(
        ghost.json()["errors"][0],
        "1 error occurred:\n\t* invalid entity ID \"11111111-2222-3333-4444-555555555555\"\n\n"
    );
    let bad_type = s.post(
        "/v1/identity/group",
        json!({"name":"odd","type":"sideways"}),
    );
    expect_status(&bad_type, 400, "bad type");
    assert_eq!(
        bad_type.json()["errors"][0],
        "invalid group type \"sideways\""
    );

    // External group with an alias.
    let ext = data(&s.post(
        "/v1/identity/group",
        json!({"name":"ext-admins","type":"external","policies":["admin"]}),
    ))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let members = s.post(
        "/v1/identity/group",
        json!({"name":"bad-ext","type":"external","member_entity_ids":[alice]}),
    );
    expect_status(&members, 400, "external with members");
    assert_eq!(
        members.json()["errors"][0],
        "member entities can't be set manually for external groups"
    );
    let ga = s.post(
        "/v1/identity/group-alias",
        json!({"name":"admins","mount_accessor":acc,"canonical_id":ext}),
    );
    expect_status(&ga, 200, "group alias");
    let ga_id = data(&ga)["id"].as_str().unwrap().to_string();
    let read = data(&s.get(&format!("/v1/identity/group-alias/id/{ga_id}")));
    assert_eq!(read["mount_path"], "auth/userpass/");
    assert_eq!(read["canonical_id"], ext);
    let g = data(&s.get(&format!("/v1/identity/group/id/{ext}")));
    assert_eq!(g["alias"]["id"], ga_id);
    assert_eq!(g["modify_index"], 2);
    assert_eq!(
        list_keys(&s.list("/v1/identity/group-alias/id")),
        vec![ga_id]
    );
    let miss = s.post(
        "/v1/identity/group-alias",
        json!({"name":"x","canonical_id":ext}),
    );
    expect_status(&miss, 400, "missing accessor");
    assert_eq!(miss.json()["errors"][0], "missing mount_accessor");
    let lg = s.post("/v1/identity/lookup/group", json!({"name":"engineering"}));
    assert_eq!(data(&lg)["id"], eng);

    // Deletes by id and by name; the parent loses its member group.
    expect_status(
        &s.delete(&format!("/v1/identity/group/id/{eng}")),
        204,
        "del id",
    );
    expect_status(
        &s.delete("/v1/identity/group/name/ext-admins"),
        204,
        "del name",
    );
    expect_status(&s.get(&format!("/v1/identity/group/id/{eng}")), 404, "gone");
    assert_eq!(
        data(&s.get(&format!("/v1/identity/group/id/{all}")))["member_group_ids"],
        Value::Null
    );
}

#[test]
fn merge_moves_aliases_and_batch_delete() {
    let s = Server::dev();
    let acc = enable_userpass(&s);
    let bob = data(&s.post(
        "/v1/identity/entity",
        json!({"name":"bob","policies":["default"]}),
    ))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let carol = data(&s.post("/v1/identity/entity", json!({"name":"carol"})))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let alias = data(&s.post(
        "/v1/identity/entity-alias",
        json!({"name":"carol","canonical_id":carol,"mount_accessor":acc}),
    ))["id"]
        .clone();
    let r = s.post(
        "/v1/identity/entity/merge",
        json!({"from_entity_ids":[carol]}),
    );
    expect_status(&r, 400, "missing to");
    assert_eq!(r.json()["errors"][0], "missing entity id to merge to");
    let r = s.post(
        "/v1/identity/entity/merge",
        json!({"from_entity_ids":["11111111-2222-3333-4444-555555555555"],"to_entity_id":bob}),
    );
    expect_status(&r, 400, "unknown from");
    assert_eq!(r.json()["errors"][0], "entity id to merge from is invalid");
    expect_status(
        &s.post(
            "/v1/identity/entity/merge",
            json!({"from_entity_ids":[carol],"to_entity_id":bob}),
        ),
        204,
        "merge",
    );
    expect_status(
        &s.get(&format!("/v1/identity/entity/id/{carol}")),
        404,
        "merged away",
    );
    let e = data(&s.get(&format!("/v1/identity/entity/id/{bob}")));
    assert_eq!(e["merged_entity_ids"], json!([carol]));
    assert_eq!(e["aliases"][0]["id"], alias);
    assert_eq!(e["aliases"][0]["canonical_id"], bob);

    let dave = data(&s.post("/v1/identity/entity", json!({"name":"dave"})))["id"].clone();
    expect_status(
        &s.post(
            "/v1/identity/entity/batch-delete",
            json!({"entity_ids":[bob, dave]}),
        ),
        204,
        "batch delete",
    );
    expect_status(&s.list("/v1/identity/entity/id"), 404, "none left");
}

#[test]
fn userpass_login_creates_then_reuses_an_entity_and_group_policy_applies() {
    let s = Server::dev();
    let acc = enable_userpass(&s);
    expect_status(
        &s.put(
            "/v1/sys/policies/acl/team-read",
            json!({"policy": "path \"secret/data/team\" { capabilities = [\"read\"] }"}),
        ),
        204,
        "policy",
    );
    expect_status(
        &s.post("/v1/secret/data/team", json!({"data": {"k": "v"}})),
        200,
        "secret",
    );
    expect_status(
        &s.post(
            "/v1/auth/userpass/users/dave",
            json!({"password":"pw-dave-1","token_policies":["default"]}),
        ),
        204,
        "user",
    );
    let auth = login(&s, "dave", "pw-dave-1");
    let entity = auth["entity_id"].as_str().unwrap().to_string();
    assert!(!entity.is_empty(), "{auth}");
    let token = auth["client_token"].as_str().unwrap().to_string();
    let again = login(&s, "dave", "pw-dave-1");
    assert_eq!(
        again["entity_id"],
        entity.as_str(),
        "a second login reuses it"
    );

    let e = data(&s.get(&format!("/v1/identity/entity/id/{entity}")));
    assert_eq!(e["aliases"][0]["name"], "dave");
    assert_eq!(e["aliases"][0]["mount_accessor"], acc.as_str());
    assert!(e["name"].as_str().unwrap().starts_with("entity_"), "{e}");
    assert_eq!(list_keys(&s.list("/v1/identity/entity/id")).len(), 1);

    let look = s.call("GET", "/v1/auth/token/lookup-self", Some(&token), None);
    assert_eq!(data(&look)["entity_id"], entity.as_str());

    let read = |t: &str| s.call("GET", "/v1/secret/data/team", Some(t), None).status;
    assert_eq!(read(&token), 403, "no group yet");
    let caps = s.post(
        "/v1/sys/capabilities",
        json!({"token": token, "paths": ["secret/data/team"]}),
    );
    assert_eq!(data(&caps)["capabilities"], json!(["deny"]));

    // The group's policy reaches the existing token on its next request.
    let g = data(&s.post(
        "/v1/identity/group",
        json!({"name":"team","policies":["team-read"],"member_entity_ids":[entity]}),
    ))["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(read(&token), 200, "group grants the read");
    let look = s.call("GET", "/v1/auth/token/lookup-self", Some(&token), None);
    assert_eq!(data(&look)["identity_policies"], json!(["team-read"]));
    let caps = s.post(
        "/v1/sys/capabilities",
        json!({"token": token, "paths": ["secret/data/team"]}),
    );
    assert_eq!(data(&caps)["capabilities"], json!(["read"]));

    // Nested: move the policy to a parent group.
    expect_status(
        &s.post(
            &format!("/v1/identity/group/id/{g}"),
            json!({"policies": []}),
        ),
        200,
        "drop policy",
    );
    assert_eq!(read(&token), 403);
    expect_status(
        &s.post(
            "/v1/identity/group",
            json!({"name":"parent","policies":["team-read"],"member_group_ids":[g]}),
        ),
        200,
        "parent",
    );
    assert_eq!(read(&token), 200, "inherited through the parent group");

    // A disabled entity's tokens are refused at once.
    expect_status(
        &s.post(
            &format!("/v1/identity/entity/id/{entity}"),
            json!({"disabled": true}),
        ),
        204,
        "disable",
    );
    assert_eq!(read(&token), 403);
    let look = s.call("GET", "/v1/auth/token/lookup-self", Some(&token), None);
    assert_eq!(look.status, 403, "every request of a disabled entity");
    expect_status(
        &s.post(
            &format!("/v1/identity/entity/id/{entity}"),
            json!({"disabled": false}),
        ),
        204,
        "enable",
    );
    assert_eq!(read(&token), 200);
}

#[test]
fn approle_login_has_an_entity_named_by_role_id() {
    let s = Server::dev();
    expect_status(
        &s.post("/v1/sys/auth/approle", json!({"type": "approle"})),
        204,
        "enable",
    );
    expect_status(
        &s.post(
            "/v1/auth/approle/role/app",
            json!({"token_policies": ["default"]}),
        ),
        204,
        "role",
    );
    let role_id = data(&s.get("/v1/auth/approle/role/app/role-id"))["role_id"]
        .as_str()
        .unwrap()
        .to_string();
    let secret_id = data(&s.post("/v1/auth/approle/role/app/secret-id", json!({})))["secret_id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = s.call(
        "POST",
        "/v1/auth/approle/login",
        None,
        Some(&json!({"role_id": role_id, "secret_id": secret_id})),
    );
    expect_status(&r, 200, "login");
    let entity = r.json()["auth"]["entity_id"].as_str().unwrap().to_string();
    let e = data(&s.get(&format!("/v1/identity/entity/id/{entity}")));
    assert_eq!(e["aliases"][0]["name"], role_id.as_str());
    assert_eq!(e["aliases"][0]["metadata"]["role_name"], "app");
    assert_eq!(e["aliases"][0]["mount_type"], "approle");
}

fn venv_bin(name: &str) -> PathBuf {
    let p = common::repo_root().join(".venv/bin").join(name);
    assert!(
        p.is_file(),
        "{} is missing: run `make test` to create .venv/",
        p.display()
    );
    p
}

fn run_python(s: &Server, script: &str) -> String {
    let home = tempfile::tempdir().expect("tempdir");
    let mut cmd = std::process::Command::new(venv_bin("python"));
    common::clean_env(&mut cmd);
    cmd.env("HOME", home.path())
        .env("VAULT_ADDR", s.addr())
        .env("VAULT_TOKEN", ROOT)
        .arg(common::repo_root().join("tests/python").join(script));
    let out = common::run_with_timeout(cmd, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{script} failed ({}):\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(" 0 failed"), "{stdout}");
    stdout
}

#[test]
fn hvac_identity_as_a_new_user_would() {
    let s = Server::dev();
    run_python(&s, "hvac_identity.py");
}

/// DynamoDB requests a node has sent so far.
fn dynamodb_requests(s: &Server, token: &str) -> f64 {
    s.call(
        "GET",
        "/v1/sys/metrics?format=prometheus",
        Some(token),
        None,
    )
    .text()
    .lines()
    .filter(|l| l.starts_with("strongroom_aws_requests_total") && l.contains("dynamodb"))
    .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
    .sum()
}

#[test]
fn ha_group_change_reaches_an_existing_token_on_a_standby() {
    use common::cluster::{Cluster, SERIAL};
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut c = Cluster::start("identity", 2);
    let (active, _) = c.wait_settled(Duration::from_secs(20));
    let standby = c.standby_index(active);
    let ok = |r: common::http::Response, status: u16, what: &str| {
        expect_status(&r, status, what);
        r
    };
    ok(
        c.call(
            active,
            "POST",
            "/v1/sys/mounts/secret",
            Some(&json!({"type": "kv", "options": {"version": "2"}})),
        ),
        204,
        "kv",
    );
    ok(
        c.call(
            active,
            "POST",
            "/v1/sys/auth/userpass",
            Some(&json!({"type": "userpass"})),
        ),
        204,
        "userpass",
    );
    ok(
        c.call(
            active,
            "PUT",
            "/v1/sys/policies/acl/team-read",
            Some(&json!({"policy": "path \"secret/data/team\" { capabilities = [\"read\"] }"})),
        ),
        204,
        "policy",
    );
    ok(
        c.call(
            active,
            "POST",
            "/v1/secret/data/team",
            Some(&json!({"data": {"k": "v"}})),
        ),
        200,
        "secret",
    );
    ok(
        c.call(
            active,
            "POST",
            "/v1/auth/userpass/users/hana",
            Some(&json!({"password": "pw-hana-1"})),
        ),
        204,
        "user",
    );
    // The login through the standby is forwarded (it writes the entity).
    let login = ok(
        c.node(standby).call(
            "POST",
            "/v1/auth/userpass/login/hana",
            None,
            Some(&json!({"password": "pw-hana-1"})),
        ),
        200,
        "login via standby",
    );
    let auth = login.json()["auth"].clone();
    let token = auth["client_token"].as_str().unwrap().to_string();
    let entity = auth["entity_id"].as_str().unwrap().to_string();
    assert!(!entity.is_empty(), "{auth}");
    let read = |i: usize| {
        c.node(i)
            .call("GET", "/v1/secret/data/team", Some(&token), None)
            .status
    };
    assert_eq!(read(standby), 403);
    assert_eq!(read(active), 403);

    // A group change on the active node: the standby's next request sees it.
    let g = ok(
        c.call(
            active,
            "POST",
            "/v1/identity/group",
            Some(
                &json!({"name": "team", "policies": ["team-read"], "member_entity_ids": [entity]}),
            ),
        ),
        200,
        "group",
    );
    assert_eq!(
        read(standby),
        200,
        "the standby applies the new group at once"
    );
    assert_eq!(read(active), 200);

    // Warm reads with the entity token cost the standby no more DynamoDB
    // requests than reads with a token that has no entity.
    let plain = c.call(
        active,
        "POST",
        "/v1/auth/token/create",
        Some(&json!({"policies": ["team-read"]})),
    );
    let plain = plain.json()["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    let node = c.node(standby);
    for t in [&plain, &token] {
        expect_status(
            &node.call("GET", "/v1/secret/data/team", Some(t), None),
            200,
            "warm up",
        );
    }
    let measure = |t: &str| {
        let before = dynamodb_requests(node, &c.root);
        for _ in 0..20 {
            expect_status(
                &node.call("GET", "/v1/secret/data/team", Some(t), None),
                200,
                "read",
            );
        }
        dynamodb_requests(node, &c.root) - before
    };
    let without = measure(&plain);
    let with = measure(&token);
    assert!(
        with <= without + 4.0,
        "entity token reads cost more DynamoDB requests: {with} vs {without}"
    );

    // Out of the group through the standby (forwarded): refused everywhere.
    let gid = g.json()["data"]["id"].as_str().unwrap().to_string();
    ok(
        c.call(
            standby,
            "POST",
            &format!("/v1/identity/group/id/{gid}"),
            Some(&json!({"member_entity_ids": []})),
        ),
        200,
        "remove member via standby",
    );
    assert_eq!(read(standby), 403);
    assert_eq!(read(active), 403);
}

#[test]
fn token_roles_with_entity_aliases_and_aws_identity_config() {
    let s = Server::dev();
    expect_status(
        &s.put(
            "/v1/sys/policies/acl/creator",
            json!({"policy": "path \"auth/token/create\" { capabilities = [\"update\"] }"}),
        ),
        204,
        "policy",
    );
    expect_status(
        &s.post(
            "/v1/auth/token/roles/svc",
            json!({"allowed_policies": ["creator"], "allowed_entity_aliases": ["svc-*"]}),
        ),
        204,
        "role",
    );
    assert_eq!(
        data(&s.get("/v1/auth/token/roles/svc"))["allowed_entity_aliases"],
        json!(["svc-*"])
    );
    let r = s.post(
        "/v1/auth/token/create/svc",
        json!({"entity_alias": "svc-billing"}),
    );
    expect_status(&r, 200, "create with alias");
    let entity = r.json()["auth"]["entity_id"].as_str().unwrap().to_string();
    assert!(!entity.is_empty());
    let again = s.post(
        "/v1/auth/token/create/svc",
        json!({"entity_alias": "svc-billing"}),
    );
    assert_eq!(again.json()["auth"]["entity_id"], entity.as_str(), "reused");
    let e = data(&s.get(&format!("/v1/identity/entity/id/{entity}")));
    assert_eq!(e["aliases"][0]["name"], "svc-billing");
    assert_eq!(e["aliases"][0]["mount_type"], "token");
    let bad = s.post(
        "/v1/auth/token/create/svc",
        json!({"entity_alias": "other"}),
    );
    expect_status(&bad, 400, "not allowed");
    assert_eq!(bad.json()["errors"][0], "invalid 'entity_alias' value");
    let no_role = s.post("/v1/auth/token/create", json!({"entity_alias": "svc-x"}));
    expect_status(&no_role, 400, "no role");
    // A child token shares its parent's entity.
    let parent = again.json()["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    let child = s.call(
        "POST",
        "/v1/auth/token/create",
        Some(&parent),
        Some(&json!({})),
    );
    expect_status(&child, 200, "child");
    assert_eq!(child.json()["auth"]["entity_id"], entity.as_str());

    // auth/aws/config/identity.
    expect_status(
        &s.post("/v1/sys/auth/aws", json!({"type": "aws"})),
        204,
        "aws",
    );
    let d = data(&s.get("/v1/auth/aws/config/identity"));
    assert_eq!(d["iam_alias"], "role_id");
    assert_eq!(d["iam_metadata"], json!(["account_id", "auth_type"]));
    expect_status(
        &s.post(
            "/v1/auth/aws/config/identity",
            json!({"iam_alias": "full_arn", "iam_metadata": ["default", "client_arn"]}),
        ),
        204,
        "config identity",
    );
    let d = data(&s.get("/v1/auth/aws/config/identity"));
    assert_eq!(d["iam_alias"], "full_arn");
    assert_eq!(
        d["iam_metadata"],
        json!(["account_id", "auth_type", "client_arn"])
    );
    let bad = s.post("/v1/auth/aws/config/identity", json!({"iam_alias": "nope"}));
    expect_status(&bad, 400, "bad alias");
    assert_eq!(
        bad.json()["errors"][0],
        "iam_alias of \"nope\" not in set of allowed values"
    );
}

#[test]
fn audit_entries_carry_the_entity_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("audit.log");
    let s = Server::dev();
    expect_status(
        &s.post(
            "/v1/sys/audit/file",
            json!({"type": "file", "options": {"file_path": log.to_str().unwrap()}}),
        ),
        204,
        "audit",
    );
    enable_userpass(&s);
    expect_status(
        &s.post(
            "/v1/auth/userpass/users/ivy",
            json!({"password": "pw-ivy-1"}),
        ),
        204,
        "user",
    );
    let auth = login(&s, "ivy", "pw-ivy-1");
    let entity = auth["entity_id"].as_str().unwrap().to_string();
    let token = auth["client_token"].as_str().unwrap().to_string();
    let _ = s.call("GET", "/v1/auth/token/lookup-self", Some(&token), None);
    let text = std::fs::read_to_string(&log).expect("audit log");
    let found = text.lines().any(|l| {
        serde_json::from_str::<Value>(l)
            .map(|v| v["type"] == "request" && v["auth"]["entity_id"] == entity.as_str())
            .unwrap_or(false)
    });
    assert!(
        found,
        "no request entry with auth.entity_id {entity}:\n{text}"
    );
}

#[test]
fn identity_tokens_verify_with_the_published_jwks() {
    let s = Server::dev();
    run_python(&s, "identity_token.py");
    // The discovery document and the key set need no token.
    let r = s.call("GET", "/v1/identity/oidc/.well-known/keys", None, None);
    expect_status(&r, 200, "jwks");
    assert!(r.json()["keys"].as_array().is_some_and(|k| !k.is_empty()));
}
