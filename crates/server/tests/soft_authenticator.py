"""A software passkey authenticator for the integration suite.

Acts as browser and authenticator at once: reads WebAuthn options (the JSON
rolegate's `.../start` answers) on stdin and prints the credential JSON a
browser's `credential.toJSON()` would give. Its key, credential id, user
handle and sign counter live in a JSON state file, so a test can copy the
file to clone the authenticator.

    python soft_authenticator.py create STATE ORIGIN < creation-options.json
    python soft_authenticator.py get STATE ORIGIN < request-options.json

Packed into CBOR/COSE by Yubico's fido2 (2.x); flags UP and UV are set (a
passkey verifies its user), attestation "none".
"""

import base64
import hashlib
import json
import os
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fido2.cose import ES256
from fido2.webauthn import (
    AttestationObject,
    AttestedCredentialData,
    AuthenticatorData,
    CollectedClientData,
)

FLAGS = AuthenticatorData.FLAG


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def create(state_path: str, origin: str, options: dict) -> dict:
    pk = options["publicKey"]
    rp_id = pk["rp"]["id"]
    key = ec.generate_private_key(ec.SECP256R1())
    credential_id = os.urandom(32)
    client_data = CollectedClientData.create(
        type="webauthn.create", challenge=unb64(pk["challenge"]), origin=origin
    )
    credential = AttestedCredentialData.create(
        b"\0" * 16, credential_id, ES256.from_cryptography_key(key.public_key())
    )
    auth_data = AuthenticatorData.create(
        hashlib.sha256(rp_id.encode()).digest(),
        FLAGS.UP | FLAGS.UV | FLAGS.AT,
        0,
        credential,
    )
    attestation = AttestationObject.create("none", auth_data, {})
    with open(state_path, "w") as f:
        json.dump(
            {
                "key": key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ).decode(),
                "credential_id": b64(credential_id),
                "user_handle": pk["user"]["id"],
                "rp_id": rp_id,
                "counter": 0,
            },
            f,
        )
    return {
        "id": b64(credential_id),
        "rawId": b64(credential_id),
        "type": "public-key",
        "response": {
            "clientDataJSON": b64(bytes(client_data)),
            "attestationObject": b64(bytes(attestation)),
            "transports": ["internal"],
        },
        "clientExtensionResults": {},
    }


def get(state_path: str, origin: str, options: dict) -> dict:
    pk = options["publicKey"]
    with open(state_path) as f:
        state = json.load(f)
    state["counter"] += 1
    with open(state_path, "w") as f:
        json.dump(state, f)
    key = serialization.load_pem_private_key(state["key"].encode(), password=None)
    client_data = CollectedClientData.create(
        type="webauthn.get", challenge=unb64(pk["challenge"]), origin=origin
    )
    auth_data = AuthenticatorData.create(
        hashlib.sha256(pk.get("rpId", state["rp_id"]).encode()).digest(),
        FLAGS.UP | FLAGS.UV,
        state["counter"],
    )
    signature = key.sign(
        bytes(auth_data) + hashlib.sha256(bytes(client_data)).digest(),
        ec.ECDSA(hashes.SHA256()),
    )
    return {
        "id": state["credential_id"],
        "rawId": state["credential_id"],
        "type": "public-key",
        "response": {
            "clientDataJSON": b64(bytes(client_data)),
            "authenticatorData": b64(bytes(auth_data)),
            "signature": b64(signature),
            "userHandle": state["user_handle"],
        },
        "clientExtensionResults": {},
    }


def main() -> None:
    command, state_path, origin = sys.argv[1:4]
    options = json.load(sys.stdin)
    result = {"create": create, "get": get}[command](state_path, origin, options)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
