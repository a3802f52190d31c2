"""Authlib, unmodified and with its defaults, against a running portal (issue 26).

Usage: authlib_client.py validate-metadata <url> [member ...]  -> "valid" or "invalid: <reason>";
                                              the members named are left out first
       authlib_client.py validate-openid <url>        -> the same with OpenIDProviderMetadata
       authlib_client.py secret <token_url> <client_id> <secret>
       authlib_client.py private-key-jwt <token_url> <client_id> <private_key.pem>
       authlib_client.py pyjwt-verify <jwks_url> <token> <issuer> <audience>
The token commands print the access token's JSON response, or "error: <text>" and exit 1;
pyjwt-verify prints the verified claims as JSON (PyJWT's PyJWKClient fetches the keys).
"""
import json
import sys

import jwt
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oidc.discovery import OpenIDProviderMetadata


def validate(cls, url, leave_out):
    doc = requests.get(url, timeout=10).json()
    for member in leave_out:
        doc.pop(member, None)
    try:
        cls(doc).validate()
        print("valid")
    except ValueError as e:
        print("invalid: %s" % e)


def token(session, token_url):
    try:
        print(json.dumps(session.fetch_token(token_url, grant_type="client_credentials")))
    except Exception as e:  # noqa: BLE001 - the test reads the message
        print("error: %s" % e)
        sys.exit(1)


def main(argv):
    cmd = argv[1]
    if cmd == "validate-metadata":
        validate(AuthorizationServerMetadata, argv[2], argv[3:])
    elif cmd == "validate-openid":
        validate(OpenIDProviderMetadata, argv[2], argv[3:])
    elif cmd == "secret":
        token(OAuth2Session(argv[3], argv[4]), argv[2])
    elif cmd == "private-key-jwt":
        token_url, client_id = argv[2], argv[3]
        with open(argv[4]) as f:
            key = f.read()
        session = OAuth2Session(client_id, key, token_endpoint_auth_method="private_key_jwt")
        session.register_client_auth_method(PrivateKeyJWT(token_url))
        token(session, token_url)
    elif cmd == "pyjwt-verify":
        jwks_url, token_, issuer, audience = argv[2:6]
        key = jwt.PyJWKClient(jwks_url).get_signing_key_from_jwt(token_)
        claims = jwt.decode(token_, key.key, algorithms=["ES256"], issuer=issuer, audience=audience)
        print(json.dumps(claims))
    else:
        raise SystemExit("unknown command %s" % cmd)


if __name__ == "__main__":
    main(sys.argv)
