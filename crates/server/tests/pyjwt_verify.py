"""Verifies a rolegate access token the way a Python service would: PyJWT's
PyJWKClient, configured only from the issuer's OpenID discovery document.
Usage: python pyjwt_verify.py ISSUER AUDIENCE TOKEN — prints the claims as
JSON, or exits non-zero with the error."""

import json
import sys
import urllib.request

import jwt


def main():
    issuer, audience, token = sys.argv[1:4]
    with urllib.request.urlopen(issuer.rstrip("/") + "/.well-known/openid-configuration") as r:
        discovery = json.load(r)
    assert discovery["issuer"] == issuer, discovery
    client = jwt.PyJWKClient(discovery["jwks_uri"])
    key = client.get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        key.key,
        algorithms=discovery["id_token_signing_alg_values_supported"],
        audience=audience,
        issuer=issuer,
    )
    print(json.dumps(claims))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # the test prints why
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
