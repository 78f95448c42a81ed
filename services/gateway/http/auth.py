"""Bearer JWT auth. A token is routed by its header's `alg`: HS256 is verified with
`JWT_SECRET` (development, service and CLI tokens), RS*/PS*/ES*/EdDSA by the identity
provider's JWKS (`identity.py`) when `AUTH_JWKS_URL` is set, and anything else (`none`,
HS384, an asymmetric token without a provider) is refused. A verified token is remembered
until it expires, so the polling hot path costs a dict lookup instead of a signature check
and JSON parse per request, whichever kind it is."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import jwt
from aiohttp import web

from services.gateway.http.errors import Unauthorized
from services.gateway.http.jwks import ASYMMETRIC

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


# The request's verified caller, set by the API middleware before any view runs.
PRINCIPAL = web.RequestKey("principal", Principal)


def principal_of(request: web.Request) -> Principal:
    return request[PRINCIPAL]


class TokenIssuer(Protocol):
    """What verifies the asymmetric tokens (`identity.IdentityProvider`)."""

    async def principal(self, token: str, header: dict[str, Any]) -> Principal: ...


def bearer_token(header: str | None) -> str:
    if not header:
        raise Unauthorized("missing bearer token")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("authorization header must be 'Bearer <token>'")
    return token


class TokenVerifier:
    def __init__(self, secret: str, issuer: TokenIssuer | None = None) -> None:
        if not secret:
            raise ValueError("JWT_SECRET is empty")
        self._secret = secret
        self._issuer = issuer
        # By the whole Authorization header: a header seen before is one dict lookup.
        self._verified: dict[str, Principal] = {}

    def known(self, header: str | None) -> Principal | None:
        """The principal of a header verified before and not expired; None otherwise
        (then `verify` it)."""
        principal = self._verified.get(header) if header else None
        if principal is not None and principal.expires_at > time.time():
            return principal
        return None

    async def verify(self, header: str | None) -> Principal:
        principal = self.known(header)
        if principal is not None:
            return principal
        token = bearer_token(header)
        assert header is not None  # bearer_token refused a missing one
        self._verified.pop(header, None)  # expired
        principal = await self._decode(token)
        if len(self._verified) >= CACHE_LIMIT:
            self._verified.clear()
        self._verified[header] = principal
        return principal

    async def _decode(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"invalid token: {exc}", {"reason": "malformed"}) from None
        alg = header.get("alg")
        if alg == "HS256":
            return self._decode_hs256(token)
        if alg in ASYMMETRIC and self._issuer is not None:
            return await self._issuer.principal(token, header)
        raise Unauthorized(
            f"invalid token: algorithm {str(alg)[:16]!r} is not accepted",
            {"reason": "algorithm_not_accepted"},
        )

    def _decode_hs256(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                options={"require": ["exp", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("token expired", {"reason": "expired"}) from None
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"invalid token: {exc}", {"reason": "invalid"}) from None
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
