"""JWT and Kubernetes auth through hvac, as a new user would set them up.

Run by tests/jwt.rs with the venv's python and VAULT_ADDR, VAULT_TOKEN,
JWT_PUBKEY, JWT_TOKEN (signed for role "ci"), K8S_PUBKEY and K8S_TOKEN
(a service-account token of apps/app-sa) set.
Prints "hvac jwt/kubernetes: N passed, 0 failed" and exits 0 on success.
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


env = os.environ
admin = hvac.Client(url=env["VAULT_ADDR"], token=env["VAULT_TOKEN"])

# JWT: enable, configure with a static key, make a role, log in.
admin.sys.enable_auth_method("jwt", path="jwt")
admin.auth.jwt.configure(
    jwt_validation_pubkeys=[env["JWT_PUBKEY"]],
    bound_issuer="https://issuer.example.com",
    path="jwt",
)
admin.auth.jwt.create_role(
    name="ci",
    role_type="jwt",
    user_claim="sub",
    bound_audiences=["bao-ci"],
    allowed_redirect_uris=[],
    claim_mappings={"repository": "repo"},
    token_policies=["ci-read"],
    token_ttl="1h",
    path="jwt",
)
role = admin.auth.jwt.read_role("ci", path="jwt")["data"]
check(role["user_claim"] == "sub", f"role {role}")
user = hvac.Client(url=env["VAULT_ADDR"])
login = user.auth.jwt.jwt_login(role="ci", jwt=env["JWT_TOKEN"], path="jwt")
auth = login["auth"]
check(auth["policies"] == ["ci-read", "default"], f"jwt login {auth}")
check(auth["metadata"] == {"repo": "acme/widgets", "role": "ci"}, f"jwt metadata {auth}")
check(user.is_authenticated(), "the jwt token works")
try:
    user.auth.jwt.jwt_login(role="nope", jwt=env["JWT_TOKEN"], path="jwt")
    check(False, "unknown role accepted")
except hvac.exceptions.InvalidRequest as e:
    check('role "nope" could not be found' in str(e), f"unknown role: {e}")

# Kubernetes: local validation with pem_keys.
admin.sys.enable_auth_method("kubernetes", path="kubernetes")
admin.auth.kubernetes.configure(
    kubernetes_host="https://127.0.0.1:1",
    pem_keys=[env["K8S_PUBKEY"]],
    disable_local_ca_jwt=True,
)
admin.auth.kubernetes.create_role(
    name="app",
    bound_service_account_names=["app-sa"],
    bound_service_account_namespaces=["apps"],
    policies=["app-read"],
)
pod = hvac.Client(url=env["VAULT_ADDR"])
login = pod.auth.kubernetes.login(role="app", jwt=env["K8S_TOKEN"])
auth = login["auth"]
check(auth["policies"] == ["app-read", "default"], f"k8s login {auth}")
check(auth["metadata"]["service_account_name"] == "app-sa", f"k8s metadata {auth}")
check(pod.is_authenticated(), "the kubernetes token works")

print(f"hvac jwt/kubernetes: {passed} passed, 0 failed")
