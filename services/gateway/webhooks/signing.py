"""Standard Webhooks signatures (https://www.standardwebhooks.com): a per-client secret
`whsec_<base64 key>` and `webhook-signature: v1,<base64 HMAC-SHA256(key, "id.ts.body")>`.

Example::

    key = new_secret()
    headers = signed_headers([key], "msg_1", 1767225600, b'{"type":"completed"}')
    # {"webhook-id": "msg_1", "webhook-timestamp": "1767225600", "webhook-signature": "v1,..."}
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable

PREFIX = "whsec_"
KEY_BYTES = 32


def new_secret() -> str:
    # Standard base64 (never "_"), so receivers that split the secret on "_" find one part.
    return PREFIX + base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(PREFIX))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(
    secrets_in_use: Iterable[str], msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The three headers; several secrets (during a rotation) give space-separated
    signatures, any one of which a receiver accepts."""
    signatures = " ".join(signature(s, msg_id, timestamp, body) for s in secrets_in_use)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signatures,
    }
