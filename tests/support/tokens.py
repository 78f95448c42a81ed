"""Bearer tokens that must all be refused: every way a JWT can be wrong or forged."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import warnings
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.system import SECRET

WRONG_SECRET = "another-secret-that-is-long-enough-for-hs256"


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {"sub": "client-a", "role": "client", "iat": now, "exp": now + 600}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_signed(header: dict[str, Any], payload: dict[str, Any], key: bytes) -> str:
    """An HMAC-SHA256-signed token built by hand, so any header and any key bytes can be
    used (PyJWT refuses to HMAC with a PEM key: exactly the confusion attack)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def bad_authorizations() -> dict[str, str | None]:
    """Authorization header values (None: no header) that must each answer 401."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = int(time.time())
    valid = claims()
    return {
        "missing": None,
        "empty": "",
        "not bearer": "Basic " + base64.b64encode(b"client-a:secret").decode(),
        "bearer without token": "Bearer ",
        "malformed": "Bearer not.a.jwt",
        "garbage segments": "Bearer " + ".".join(_b64(b"\xff\xfe" * 8) for _ in range(3)),
        "truncated signature": "Bearer " + jwt.encode(valid, SECRET, "HS256")[:-6],
        "expired": "Bearer " + jwt.encode(claims(exp=now - 30), SECRET, "HS256"),
        "not yet valid (nbf)": "Bearer " + jwt.encode(claims(nbf=now + 600), SECRET, "HS256"),
        "wrong key": "Bearer " + jwt.encode(valid, WRONG_SECRET, "HS256"),
        "alg none": "Bearer " + jwt.encode(valid, None, algorithm="none"),
        "alg none, secret's signature kept": "Bearer "
        + _with_header(jwt.encode(valid, SECRET, "HS256"), {"alg": "none", "typ": "JWT"}),
        "RS256 with a generated key": "Bearer " + jwt.encode(valid, private, "RS256"),
        "HS256 keyed with the RSA public key": "Bearer "
        + hand_signed({"alg": "HS256", "typ": "JWT"}, valid, public_pem),
        "RS256 header over an HMAC of the secret": "Bearer "
        + hand_signed({"alg": "RS256", "typ": "JWT"}, valid, SECRET.encode()),
        "HS512 with the right secret": "Bearer " + _hs512(valid),
        "no exp": "Bearer " + jwt.encode(claims(exp=None), SECRET, "HS256"),
        "no sub": "Bearer " + jwt.encode(claims(sub=None), SECRET, "HS256"),
        "sub not a string": "Bearer " + jwt.encode(claims(sub=42), SECRET, "HS256"),
        "unknown role": "Bearer " + jwt.encode(claims(role="superuser"), SECRET, "HS256"),
    }


def _hs512(payload: dict[str, Any]) -> str:
    # PyJWT warns that the test secret is short for SHA-512; the token is refused anyway.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return jwt.encode(payload, SECRET, "HS512")


def _with_header(token: str, header: dict[str, Any]) -> str:
    _, payload, signature = token.split(".")
    return f"{_b64(json.dumps(header).encode())}.{payload}.{signature}"
