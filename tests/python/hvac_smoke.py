"""KV v2 and sys calls through hvac against a running server.

Run by tests/cli.rs with the venv's python, VAULT_ADDR and VAULT_TOKEN set.
Prints "hvac: N passed, 0 failed" and exits 0 on success; raises otherwise.
"""

import os
import sys

import hvac
import hvac.exceptions

passed = 0


def check(cond, what):
    global passed
    if not cond:
        raise AssertionError(what)
    passed += 1


client = hvac.Client(url=os.environ["VAULT_ADDR"], token=os.environ["VAULT_TOKEN"])
check(client.sys.is_initialized(), "initialized")
check(not client.sys.is_sealed(), "unsealed")
health = client.sys.read_health_status(method="GET")
check(health["initialized"] and not health["sealed"], f"health {health}")

kv = client.secrets.kv.v2
w = kv.create_or_update_secret(path="hvac/app", secret={"user": "alice"}, mount_point="secret")
check(w["data"]["version"] == 1, f"first write {w}")
w = kv.create_or_update_secret(path="hvac/app", secret={"user": "bob"}, cas=1, mount_point="secret")
check(w["data"]["version"] == 2, f"cas write {w}")
try:
    kv.create_or_update_secret(path="hvac/app", secret={"user": "eve"}, cas=1, mount_point="secret")
    check(False, "a stale cas must fail")
except hvac.exceptions.InvalidRequest:
    check(True, "stale cas")

r = kv.read_secret_version(path="hvac/app", mount_point="secret", raise_on_deleted_version=True)
check(r["data"]["data"] == {"user": "bob"}, f"read {r}")
r = kv.read_secret_version(path="hvac/app", version=1, mount_point="secret", raise_on_deleted_version=True)
check(r["data"]["data"] == {"user": "alice"}, f"read v1 {r}")

p = kv.patch(path="hvac/app", secret={"extra": "x"}, mount_point="secret")
check(p["data"]["version"] == 3, f"patch {p}")
r = kv.read_secret_version(path="hvac/app", mount_point="secret", raise_on_deleted_version=True)
check(r["data"]["data"] == {"user": "bob", "extra": "x"}, f"after patch {r}")

m = kv.read_secret_metadata(path="hvac/app", mount_point="secret")
check(m["data"]["current_version"] == 3, f"metadata {m}")
check(sorted(m["data"]["versions"]) == ["1", "2", "3"], f"versions {m}")
kv.update_metadata(path="hvac/app", max_versions=10, custom_metadata={"owner": "hvac"}, mount_point="secret")
m = kv.read_secret_metadata(path="hvac/app", mount_point="secret")
check(m["data"]["max_versions"] == 10 and m["data"]["custom_metadata"] == {"owner": "hvac"}, f"metadata {m}")

lst = kv.list_secrets(path="hvac", mount_point="secret")
check(lst["data"]["keys"] == ["app"], f"list {lst}")

kv.delete_latest_version_of_secret(path="hvac/app", mount_point="secret")
try:
    kv.read_secret_version(path="hvac/app", mount_point="secret", raise_on_deleted_version=True)
    check(False, "reading a deleted version must fail")
except hvac.exceptions.InvalidPath:
    check(True, "deleted")
kv.undelete_secret_versions(path="hvac/app", versions=[3], mount_point="secret")
r = kv.read_secret_version(path="hvac/app", mount_point="secret", raise_on_deleted_version=True)
check(r["data"]["metadata"]["version"] == 3, f"undeleted {r}")
kv.destroy_secret_versions(path="hvac/app", versions=[1], mount_point="secret")
m = kv.read_secret_metadata(path="hvac/app", mount_point="secret")
check(m["data"]["versions"]["1"]["destroyed"] is True, f"destroyed {m}")
# hvac 2.4 has no subkeys helper: the raw adapter
s = client.adapter.get("/v1/secret/subkeys/hvac/app")
check(s["data"]["subkeys"] == {"user": None, "extra": None}, f"subkeys {s}")
c = kv.read_configuration(mount_point="secret")
check(c["data"]["max_versions"] == 0, f"config {c}")
kv.delete_metadata_and_all_versions(path="hvac/app", mount_point="secret")
try:
    kv.read_secret_metadata(path="hvac/app", mount_point="secret")
    check(False, "metadata is gone")
except hvac.exceptions.InvalidPath:
    check(True, "metadata gone")

# mounts
client.sys.enable_secrets_engine("kv", path="hvac-kv1", options={"version": "1"})
check("hvac-kv1/" in client.sys.list_mounted_secrets_engines()["data"], "mount listed")
client.secrets.kv.v1.create_or_update_secret(path="x", secret={"a": "b"}, mount_point="hvac-kv1")
r = client.secrets.kv.v1.read_secret(path="x", mount_point="hvac-kv1")
check(r["data"] == {"a": "b"}, f"kv v1 read {r}")
client.sys.disable_secrets_engine(path="hvac-kv1")
check("hvac-kv1/" not in client.sys.list_mounted_secrets_engines()["data"], "mount gone")

# leases: hvac lists a prefix without its trailing slash
leased = client.auth.token.create(policies=["default"], ttl="10m")["auth"]
keys = client.sys.list_leases("auth/token/create")["data"]["keys"]
check(len(keys) >= 1 and all("/" not in k for k in keys), f"lease keys {keys}")
ids = [client.sys.read_lease("auth/token/create/" + k)["data"]["id"] for k in keys]
check(all(i.startswith("auth/token/create/") for i in ids), f"lease ids {ids}")
capped = client.auth.token.create(policies=["default"], ttl="5h", explicit_max_ttl="1h")
check(
    capped["warnings"]
    == ['TTL of "5h0m0s" exceeded the effective max_ttl of "1h0m0s"; TTL value is capped accordingly'],
    f"cap warning {capped['warnings']}",
)

bad = hvac.Client(url=os.environ["VAULT_ADDR"], token="bogus")
try:
    bad.secrets.kv.v2.read_secret_version(path="x", mount_point="secret")
    check(False, "a bogus token is refused")
except hvac.exceptions.Forbidden:
    check(True, "forbidden")

print(f"hvac: {passed} passed, 0 failed")
sys.exit(0)
