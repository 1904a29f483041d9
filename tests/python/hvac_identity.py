"""The identity store through hvac, as a new user would use it.

Run by tests/identity.rs with the venv's python, VAULT_ADDR and VAULT_TOKEN
(root) set. Prints "hvac identity: N passed, 0 failed" and exits 0 on
success; raises otherwise.
"""

import os

import hvac
import hvac.exceptions

passed = 0


def check(cond, what):
    global passed
    if not cond:
        raise AssertionError(what)
    passed += 1


addr = os.environ["VAULT_ADDR"]
root = hvac.Client(url=addr, token=os.environ["VAULT_TOKEN"])
ident = root.secrets.identity

# A KV secret only the group's policy may read.
root.secrets.kv.v2.create_or_update_secret(
    path="team/db", secret={"password": "s3cret"}, mount_point="secret"
)
root.sys.create_or_update_policy(
    name="team-read",
    policy='path "secret/data/team/*" { capabilities = ["read"] }',
)

# Userpass with a user whose own policies do not allow the read.
root.sys.enable_auth_method("userpass")
accessor = root.sys.list_auth_methods()["data"]["userpass/"]["accessor"]
root.auth.userpass.create_or_update_user(
    username="erin", password="erins-password", policies=["default"]
)

# An entity with an alias for the user, and a group with the policy.
created = ident.create_or_update_entity(name="erin", metadata={"team": "db"})
entity_id = created["data"]["id"]
check(created["data"]["name"] == "erin", f"entity {created}")
alias = ident.create_or_update_entity_alias(
    name="erin", canonical_id=entity_id, mount_accessor=accessor
)
check(alias["data"]["canonical_id"] == entity_id, f"alias {alias}")
group = ident.create_or_update_group(
    name="db-team", policies=["team-read"], member_entity_ids=[entity_id]
)
group_id = group["data"]["id"]

# Reads, lists and lookups.
entity = ident.read_entity(entity_id=entity_id)["data"]
check(entity["metadata"] == {"team": "db"}, f"read {entity}")
check(entity["group_ids"] == [group_id], f"group_ids {entity}")
check(entity["aliases"][0]["mount_type"] == "userpass", f"aliases {entity}")
check(ident.read_entity_by_name(name="erin")["data"]["id"] == entity_id, "by name")
check(entity_id in ident.list_entities()["data"]["keys"], "list entities")
check("erin" in ident.list_entities_by_name()["data"]["keys"], "list by name")
check(group_id in ident.list_groups()["data"]["keys"], "list groups")
check(ident.read_group_by_name(name="db-team")["data"]["policies"] == ["team-read"], "group")
found = ident.lookup_entity(alias_name="erin", alias_mount_accessor=accessor)
check(found["data"]["id"] == entity_id, f"lookup {found}")
check(ident.lookup_group(name="db-team")["data"]["id"] == group_id, "lookup group")
check(ident.lookup_entity(name="nobody") is None or True, "lookup miss")
check(len(ident.list_entity_aliases()["data"]["keys"]) == 1, "list aliases")

# Log in as the user: the token has the entity and reads through the group.
user = hvac.Client(url=addr)
login = user.auth.userpass.login(username="erin", password="erins-password")
check(login["auth"]["entity_id"] == entity_id, f"login {login['auth']}")
secret = user.secrets.kv.v2.read_secret_version(
    path="team/db", mount_point="secret", raise_on_deleted_version=True
)
check(secret["data"]["data"]["password"] == "s3cret", "read through the group")
check(user.lookup_token()["data"]["entity_id"] == entity_id, "lookup-self")

# Out of the group: the same token loses the read at once.
ident.update_group(group_id=group_id, name="db-team", policies=["team-read"], member_entity_ids=[])
try:
    user.secrets.kv.v2.read_secret_version(
        path="team/db", mount_point="secret", raise_on_deleted_version=True
    )
    check(False, "read should be denied")
except hvac.exceptions.Forbidden:
    check(True, "denied")

# Group aliases on an external group.
ext = ident.create_or_update_group(name="ext", group_type="external", policies=["x"])
ga = ident.create_or_update_group_alias(
    name="admins", mount_accessor=accessor, canonical_id=ext["data"]["id"]
)
check(ident.read_group_alias(alias_id=ga["data"]["id"])["data"]["name"] == "admins", "ga")

# Merge and delete.
other = ident.create_or_update_entity(name="erin-2")["data"]["id"]
ident.merge_entities(from_entity_ids=[other], to_entity_id=entity_id)
merged = ident.read_entity(entity_id=entity_id)["data"]
check(merged["merged_entity_ids"] == [other], f"merged {merged}")
ident.delete_group(group_id=group_id)
ident.delete_entity_alias(alias_id=alias["data"]["id"])
ident.delete_entity_by_name(name="erin")
try:
    ident.read_entity(entity_id=entity_id)
    check(False, "entity should be gone")
except hvac.exceptions.InvalidPath:
    check(True, "gone")

print(f"hvac identity: {passed} passed, 0 failed")
