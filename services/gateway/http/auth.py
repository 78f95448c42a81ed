"""Bearer JWT auth (HS256). A verified token is remembered until it expires, so the
polling hot path costs a dict lookup instead of an HMAC and JSON parse per request."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import jwt

from services.gateway.http.errors import Unauthorized

Role = Literal["client", "admin"]
CACHE_LIMIT = 10_000


@dataclass(frozen=True)
class Principal:
    client_id: str
    role: Role
    expires_at: float

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class TokenVerifier:
    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("JWT_SECRET is empty")
        self._secret = secret
        self._verified: dict[str, Principal] = {}

    def verify(self, header: str | None) -> Principal:
        if not header:
            raise Unauthorized("missing bearer token")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("authorization header must be 'Bearer <token>'")
        principal = self._verified.get(token)
        if principal is not None:
            if principal.expires_at > time.time():
                return principal
            del self._verified[token]
        principal = self._decode(token.strip())
        if len(self._verified) >= CACHE_LIMIT:
            self._verified.clear()
        self._verified[token] = principal
        return principal

    def _decode(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                options={"require": ["exp", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("token expired") from None
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"invalid token: {exc}") from None
        sub, role = claims.get("sub"), claims.get("role", "client")
        if not isinstance(sub, str) or not sub:
            raise Unauthorized("invalid token: sub must be a non-empty string")
        if role not in ("client", "admin"):
            raise Unauthorized("invalid token: role must be 'client' or 'admin'")
        return Principal(client_id=sub, role=role, expires_at=float(claims["exp"]))


def issue_token(secret: str, client_id: str, role: Role = "client", ttl_s: int = 3600) -> str:
    """A signed token, for the dev launcher, the CLI and tests."""
    claims = {"sub": client_id, "role": role, "exp": int(time.time()) + ttl_s}
    return jwt.encode(claims, secret, algorithm="HS256")
