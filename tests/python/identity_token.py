"""An identity token verified by a third party with the published JWKS.

Run by tests/identity.rs with the venv's python, VAULT_ADDR and VAULT_TOKEN
(root) set. Uses hvac for the Strongroom calls and PyJWT (with
`cryptography`) for the verification, as a relying party would. Prints
"identity token: N passed, 0 failed".
"""

import json
import os
import urllib.request

import hvac
import jwt

passed = 0


def check(cond, what):
    global passed
    if not cond:
        raise AssertionError(what)
    passed += 1


addr = os.environ["VAULT_ADDR"]
root = hvac.Client(url=addr, token=os.environ["VAULT_TOKEN"])
ident = root.secrets.identity

root.sys.enable_auth_method("userpass")
root.sys.create_or_update_policy(
    name="idtoken", policy='path "identity/oidc/token/*" { capabilities = ["read"] }'
)
root.auth.userpass.create_or_update_user(
    username="wes", password="wes-password-1", policies=["idtoken"]
)
ident.create_or_update_group(name="builders", policies=["default"])

# Keys for every algorithm family, and one role per key.
for name, alg in [("rsa", "RS256"), ("ec", "ES256"), ("ed", "EdDSA")]:
    ident.create_named_key(name=name, algorithm=alg, allowed_client_ids=["*"])
    ident.create_or_update_role(
        name=f"role-{name}",
        key=name,
        template='{"username": "{{identity.entity.aliases.ACC.name}}", "groups": {{identity.entity.groups.names}}}'.replace(
            "ACC", root.sys.list_auth_methods()["data"]["userpass/"]["accessor"]
        ),
        ttl="1h",
    )
check(ident.read_named_key(name="ec")["data"]["algorithm"] == "ES256", "key read")
check(set(ident.list_named_keys()["data"]["keys"]) == {"rsa", "ec", "ed"}, "keys")

user = hvac.Client(url=addr)
login = user.auth.userpass.login(username="wes", password="wes-password-1")
entity_id = login["auth"]["entity_id"]
group = ident.read_group_by_name(name="builders")["data"]
ident.update_group(group_id=group["id"], name="builders", member_entity_ids=[entity_id])

config = json.load(urllib.request.urlopen(f"{addr}/v1/identity/oidc/.well-known/openid-configuration"))
issuer = config["issuer"]
check(issuer.endswith("/v1/identity/oidc"), f"issuer {config}")
jwks = jwt.PyJWKClient(config["jwks_uri"])

for name, alg in [("rsa", "RS256"), ("ec", "ES256"), ("ed", "EdDSA")]:
    role = ident.read_role(name=f"role-{name}")["data"]
    resp = user.secrets.identity.generate_signed_id_token(name=f"role-{name}")
    token = resp["data"]["token"]
    check(resp["data"]["client_id"] == role["client_id"], "client id")
    key = jwks.get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token, key.key, algorithms=[alg], audience=role["client_id"], issuer=issuer
    )
    check(claims["sub"] == entity_id, f"sub {claims}")
    check(claims["username"] == "wes", f"template {claims}")
    check(claims["groups"] == ["builders"], f"groups {claims}")
    check(claims["exp"] - claims["iat"] == 3600, "ttl")
    check(ident.introspect_signed_id_token(token=token)["data"]["active"], "introspect")

# Rotation: the old key stays published, and old tokens still verify.
old = user.secrets.identity.generate_signed_id_token(name="role-rsa")["data"]["token"]
# (hvac's rotate_named_key posts to oidc/key/:name, not .../rotate.)
root.adapter.post("/v1/identity/oidc/key/rsa/rotate", json={"verification_ttl": "1h"})
new = user.secrets.identity.generate_signed_id_token(name="role-rsa")["data"]["token"]
check(jwt.get_unverified_header(old)["kid"] != jwt.get_unverified_header(new)["kid"], "new kid")
fresh = jwt.PyJWKClient(config["jwks_uri"])
for t in (old, new):
    k = fresh.get_signing_key_from_jwt(t)
    jwt.decode(t, k.key, algorithms=["RS256"], audience=jwt.decode(t, options={"verify_signature": False})["aud"])
    check(True, "verified after rotation")
check(not ident.introspect_signed_id_token(token=old[:-4] + "AAAA")["data"]["active"], "tampered")

# A token without an entity cannot get one.
try:
    root.secrets.identity.generate_signed_id_token(name="role-rsa")
    check(False, "root has no entity")
except hvac.exceptions.InvalidRequest:
    check(True, "no entity")

print(f"identity token: {passed} passed, 0 failed")
