"""Ways into `/api/` besides the bearer header: the development login (public, and
only when `DEV_LOGIN` is on) and media tokens in the query string.

`<video>`, `<img>` and download links cannot send an `Authorization` header, so the web
console asks for a media token (`POST /api/v2/media-token`) and puts it in their URLs as
`?access_token=`. A media token is signed with a key derived from `JWT_SECRET`, so it is
not a bearer token anywhere else (whether the bearer came from `JWT_SECRET` or from an
identity provider's JWKS: the gateway signs media tokens itself, which is why `JWT_SECRET`
stays required with `AUTH_JWKS_URL`), and it is accepted only on GET/HEAD of the operations
declared `@operation(media_token=True)` (videos, posters, captions, contact sheets,
frames, export files, asset files), for an hour at most.

Example::

    token = issue_media_token(secret, principal)
    url = f"/api/v2/jobs/{job_id}/video?variation=1&access_token={token}"
"""

from __future__ import annotations

import hashlib
import hmac
import time

from aiohttp import web

from services.gateway.appkeys import MEDIA_VERIFIER
from services.gateway.http.auth import Principal, issue_token

MEDIA_TOKEN_TTL_S = 3600
MEDIA_QUERY = "access_token"
_MEDIA_KEY_LABEL = b"reelsmith/media-token/v1"


def media_secret(jwt_secret: str) -> str:
    """The media tokens' signing key: derived, so neither kind of token passes for the other."""
    return hmac.new(jwt_secret.encode(), _MEDIA_KEY_LABEL, hashlib.sha256).hexdigest()


def issue_media_token(jwt_secret: str, principal: Principal) -> tuple[str, int]:
    """A media token for `principal` and its lifetime in seconds (never past the bearer's)."""
    ttl_s = max(1, min(MEDIA_TOKEN_TTL_S, int(principal.expires_at - time.time())))
    token = issue_token(media_secret(jwt_secret), principal.client_id, principal.role, ttl_s)
    return token, ttl_s


async def query_principal(request: web.Request) -> Principal | None:
    """The principal of a media token in the query of a GET, for an operation declared
    `media_token=True` (the caller checks that); None when the request carries none (the
    bearer header then decides). A bad media token is a 401."""
    if request.method not in ("GET", "HEAD") or MEDIA_QUERY not in request.query_string:
        return None
    token = request.query.get(MEDIA_QUERY)
    if token is None or MEDIA_VERIFIER not in request.app:
        return None
    return await request.app[MEDIA_VERIFIER].verify(f"Bearer {token}")
