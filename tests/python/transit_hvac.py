"""Transit through hvac against a running server (tests/transit.rs runs it
with the venv's python, VAULT_ADDR and VAULT_TOKEN set). Prints
"hvac transit: N passed" and exits 0; raises otherwise."""

import base64
import os

import hvac
import hvac.exceptions

passed = 0


def check(cond, what):
    global passed
    if not cond:
        raise AssertionError(what)
    passed += 1


c = hvac.Client(url=os.environ["VAULT_ADDR"], token=os.environ["VAULT_TOKEN"])
c.sys.enable_secrets_engine("transit", path="transit")
t = c.secrets.transit
t.create_key(name="app")
pt = base64.b64encode(b"hi there").decode()
ct = t.encrypt_data(name="app", plaintext=pt)["data"]["ciphertext"]
check(ct.startswith("vault:v1:"), f"ciphertext {ct}")
check(t.decrypt_data(name="app", ciphertext=ct)["data"]["plaintext"] == pt, "decrypt")
t.rotate_key(name="app")
key = t.read_key(name="app")["data"]
check(key["latest_version"] == 2 and key["type"] == "aes256-gcm96", f"read {key}")
re = t.rewrap_data(name="app", ciphertext=ct)["data"]["ciphertext"]
check(re.startswith("vault:v2:"), f"rewrap {re}")
batch = t.encrypt_data(name="app", batch_input=[{"plaintext": pt}, {"plaintext": pt, "reference": "b"}])
check(len(batch["data"]["batch_results"]) == 2, f"batch {batch}")
t.create_key(name="signer", key_type="ed25519")
sig = t.sign_data(name="signer", hash_input=pt)["data"]["signature"]
check(t.verify_signed_data(name="signer", hash_input=pt, signature=sig)["data"]["valid"], "verify")
mac = t.generate_hmac(name="app", hash_input=pt)["data"]["hmac"]
check(t.verify_signed_data(name="app", hash_input=pt, hmac=mac)["data"]["valid"], "verify hmac")
check(len(t.generate_random_bytes(n_bytes=16, output_format="hex")["data"]["random_bytes"]) == 32, "random")
import hashlib  # noqa: E402

check(t.hash_data(hash_input=pt, algorithm="sha2-256", output_format="hex")["data"]["sum"]
      == hashlib.sha256(b"hi there").hexdigest(), "hash")
dk = t.generate_data_key(name="app", key_type="plaintext")["data"]
check(t.decrypt_data(name="app", ciphertext=dk["ciphertext"])["data"]["plaintext"] == dk["plaintext"], "datakey")
try:
    t.decrypt_data(name="app", ciphertext="garbage")
    check(False, "garbage must fail")
except hvac.exceptions.InvalidRequest as e:
    check("invalid ciphertext: no prefix" in str(e), f"error text {e}")
keys = t.list_keys()["data"]["keys"]
check(keys == ["app", "signer"], f"list {keys}")
print(f"hvac transit: {passed} passed")
