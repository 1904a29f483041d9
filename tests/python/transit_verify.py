"""An independent check of Strongroom's transit signatures and RSA-OAEP.

Run by tests/transit.rs with the venv's python. Reads a JSON list of cases
on stdin: {"type", "public_key", "input" (base64), "signature" (vault:v1:...),
"hash", "scheme" (pss|pkcs1v15), "marshaling" (asn1|jws)}, or {"type":
"oaep", "public_key", "plaintext"}. Verifies every signature with
`cryptography` (the signatures must check, and fail for other input), and
for "oaep" cases encrypts the plaintext with RSA-OAEP (SHA-256) under the
public key. Prints a JSON list: the ciphertexts (base64) of the oaep cases,
in order, and exits 0; raises on any failure.
"""

import base64
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, utils

HASHES = {"sha2-256": hashes.SHA256, "sha2-384": hashes.SHA384, "sha2-512": hashes.SHA512}


def sig_bytes(case):
    body = case["signature"].split(":", 2)[2]
    if case.get("marshaling") == "jws":
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    return base64.b64decode(body)


def verify(case, data):
    sig = sig_bytes(case)
    t = case["type"]
    if t == "ed25519":
        key = ed25519.Ed25519PublicKey.from_public_bytes(base64.b64decode(case["public_key"]))
        key.verify(sig, data)
        return
    key = serialization.load_pem_public_key(case["public_key"].encode())
    h = HASHES[case["hash"]]()
    if t.startswith("ecdsa"):
        if case.get("marshaling") == "jws":
            n = len(sig) // 2
            sig = utils.encode_dss_signature(int.from_bytes(sig[:n], "big"), int.from_bytes(sig[n:], "big"))
        key.verify(sig, data, ec.ECDSA(h))
    elif case["scheme"] == "pss":
        key.verify(sig, data, padding.PSS(mgf=padding.MGF1(h), salt_length=padding.PSS.AUTO), h)
    else:
        key.verify(sig, data, padding.PKCS1v15(), h)


out = []
checked = 0
for case in json.load(sys.stdin):
    if case["type"] == "oaep":
        key = serialization.load_pem_public_key(case["public_key"].encode())
        ct = key.encrypt(
            base64.b64decode(case["plaintext"]),
            padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None),
        )
        out.append(base64.b64encode(ct).decode())
        continue
    data = base64.b64decode(case["input"])
    verify(case, data)
    try:
        verify(case, data + b"x")
        raise AssertionError(f"signature accepted for other input: {case['type']}")
    except InvalidSignature:
        pass
    checked += 1
print(json.dumps({"checked": checked, "oaep": out}))
