"""Bearer tokens from an identity provider: RS*/PS*/ES*/EdDSA, verified against its JWKS
(`jwks.py`), with its issuer and audience, mapped to a `Principal` by configurable claims.

The algorithm is the key's, never the token's: a token whose header `alg` differs from
the algorithm of the key its `kid` names is refused before any signature check (HS* and
`none` never reach this module; `auth.py` routes by `alg`).

Claims: the client id is `AUTH_CLIENT_ID_CLAIM` (default `sub`) and must be a valid client
id (letters, digits, `-_.`, at most 128: it names storage folders); the role is
`AUTH_ROLE_CLAIM` (default `role`): the string "admin", or a list containing "admin",
makes an admin, anything else (or nothing) a client. A claim is looked up by its whole
name first (namespaced claims such as `https://example.com/roles` contain dots), then as
a dotted path into nested objects (`realm_access.roles`).

Example::

    provider = IdentityProvider.from_settings(settings)   # None without AUTH_JWKS_URL
    principal = await provider.principal(token, header)  # or Unauthorized
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import jwt

from services.gateway.http.auth import Principal, Role
from services.gateway.http.errors import Unauthorized, Unavailable
from services.gateway.http.jwks import JwksKeys, KeysUnavailable, UnknownKey
from shared.assets import CLIENT_ID_PATTERN
from shared.settings import Settings

_CLIENT_ID = re.compile(CLIENT_ID_PATTERN)
ADMIN = "admin"


def refused(reason: str, message: str) -> Unauthorized:
    """A 401 whose `details.reason` says which check failed (never the token itself)."""
    return Unauthorized(message, {"reason": reason})


def claim(claims: dict[str, Any], path: str) -> Any:
    """The claim named `path`, else the value at its dotted path; None when absent."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def role_of(value: Any) -> Role:
    if value == ADMIN or (isinstance(value, list) and ADMIN in value):
        return "admin"
    return "client"


@dataclass(frozen=True)
class ClaimMapping:
    client_id: str = "sub"
    role: str = "role"

    def principal(self, claims: dict[str, Any]) -> Principal:
        client_id = claim(claims, self.client_id)
        if not isinstance(client_id, str) or not _CLIENT_ID.match(client_id):
            raise refused(
                "bad_client_id",
                f"invalid token: claim {self.client_id!r} must be a client id "
                "(letters, digits, '-_.', at most 128)",
            )
        role = role_of(claim(claims, self.role))
        return Principal(client_id=client_id, role=role, expires_at=float(claims["exp"]))


class IdentityProvider:
    def __init__(
        self,
        keys: JwksKeys,
        issuer: str,
        audience: str,
        mapping: ClaimMapping = ClaimMapping(),
        leeway_s: float = 30.0,
    ) -> None:
        self.keys = keys
        self._issuer = issuer
        self._audience = audience
        self._mapping = mapping
        self._leeway_s = leeway_s

    @classmethod
    def from_settings(cls, settings: Settings) -> IdentityProvider | None:
        if not settings.auth_jwks_url:
            return None
        missing = [
            name
            for name, value in (
                ("AUTH_ISSUER", settings.auth_issuer),
                ("AUTH_AUDIENCE", settings.auth_audience),
            )
            if not value
        ]
        if missing:
            raise ValueError(
                f"AUTH_JWKS_URL is set but {' and '.join(missing)} is not: tokens of the "
                "identity provider are checked against both"
            )
        keys = JwksKeys(
            settings.auth_jwks_url,
            max_age_s=settings.auth_jwks_max_age_s,
            min_refresh_s=settings.auth_jwks_min_refresh_s,
            timeout_s=settings.auth_jwks_timeout_s,
        )
        mapping = ClaimMapping(settings.auth_client_id_claim, settings.auth_role_claim)
        assert settings.auth_issuer and settings.auth_audience
        return cls(
            keys, settings.auth_issuer, settings.auth_audience, mapping, settings.auth_leeway_s
        )

    async def principal(self, token: str, header: dict[str, Any]) -> Principal:
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise refused("no_kid", "invalid token: its header names no signing key (kid)")
        try:
            key = await self.keys.key(kid)
        except UnknownKey:
            raise refused(
                "unknown_key", f"invalid token: unknown signing key {kid[:64]!r}"
            ) from None
        except KeysUnavailable:
            raise Unavailable("the identity provider's signing keys cannot be fetched") from None
        alg = header.get("alg")
        if alg != key.algorithm_name:
            raise refused(
                "algorithm_mismatch",
                f"invalid token: algorithm {str(alg)[:16]!r} does not match its key's "
                f"({key.algorithm_name})",
            )
        return self._mapping.principal(self._decode(token, key))

    def _decode(self, token: str, key: jwt.PyJWK) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[key.algorithm_name],
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway_s,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise refused("expired", "token expired") from None
        except jwt.InvalidIssuerError:
            raise refused("wrong_issuer", "invalid token: wrong issuer") from None
        except jwt.InvalidAudienceError:
            raise refused("wrong_audience", "invalid token: wrong audience") from None
        except jwt.InvalidSignatureError:
            raise refused("bad_signature", "invalid token: bad signature") from None
        except jwt.ImmatureSignatureError:
            raise refused("not_yet_valid", "invalid token: not yet valid") from None
        except jwt.MissingRequiredClaimError as exc:
            raise refused("missing_claim", f"invalid token: no {exc.claim!r} claim") from None
        except jwt.InvalidTokenError as exc:
            raise refused("invalid", f"invalid token: {exc}") from None
