"""A tiny identity provider for tests: a JWKS on a loopback port serving keys generated
with `cryptography`, which mints tokens signed by them and counts how often its key set
is fetched.

Example::

    async with jwks_server() as idp:
        kid = idp.add_key("ES256")
        token = idp.mint("client-a", kid=kid)
        idp.rotate("ES256")                  # a new key; the old one is gone
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

AUDIENCE = "reelsmith-api"
PATH = "/.well-known/jwks.json"


@dataclass
class SigningKey:
    kid: str
    alg: str
    private: Any
    # Published without `alg`: the gateway must infer it from kty and crv.
    publish_alg: bool = True

    def jwk(self) -> dict[str, Any]:
        public = self.private.public_key()
        codec = ECAlgorithm if self.alg.startswith("ES") else RSAAlgorithm
        data: dict[str, Any] = codec.to_jwk(public, as_dict=True)  # type: ignore[attr-defined]
        data.update(kid=self.kid, use="sig")
        if self.publish_alg:
            data["alg"] = self.alg
        return data


def generate(alg: str) -> Any:
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "ES384":
        return ec.generate_private_key(ec.SECP384R1())
    if alg.startswith(("RS", "PS")):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(alg)


@dataclass
class JwksServer:
    base_url: str = ""
    keys: list[SigningKey] = field(default_factory=list)  # published
    withdrawn: list[SigningKey] = field(default_factory=list)  # still minted with
    fetches: int = 0
    # While set, the key set is answered with a 503 (counted in `failed`).
    failing: bool = False
    failed: int = 0

    @property
    def url(self) -> str:
        return self.base_url + PATH

    @property
    def issuer(self) -> str:
        return self.base_url + "/"

    def add_key(self, alg: str = "ES256", publish_alg: bool = True) -> str:
        """A new key in the published set; its kid."""
        key = SigningKey(f"{alg.lower()}-{uuid.uuid4().hex[:8]}", alg, generate(alg), publish_alg)
        self.keys.append(key)
        return key.kid

    def rotate(self, alg: str = "ES256") -> str:
        """Publish only a new key from now on (the old ones are withdrawn); its kid."""
        self.withdrawn += self.keys
        self.keys.clear()
        return self.add_key(alg)

    def key(self, kid: str) -> SigningKey:
        return next(key for key in self.keys + self.withdrawn if key.kid == kid)

    def mint(
        self,
        client_id: str = "client-a",
        *,
        kid: str | None = None,
        private: Any = None,
        alg: str | None = None,
        ttl_s: int = 600,
        **claims: Any,
    ) -> str:
        """A token signed by the key `kid` (default: the newest), with `iss`, `aud`,
        `sub`, `iat` and `exp` unless `claims` override them (None drops a claim)."""
        key = self.key(kid) if kid else self.keys[-1]
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": client_id,
            "iat": now,
            "exp": now + ttl_s,
        }
        payload.update(claims)
        payload = {name: value for name, value in payload.items() if value is not None}
        return jwt.encode(
            payload, private or key.private, algorithm=alg or key.alg, headers={"kid": key.kid}
        )

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """The gateway settings that trust this provider."""
        return {
            "auth_jwks_url": self.url,
            "auth_issuer": self.issuer,
            "auth_audience": AUDIENCE,
            **overrides,
        }

    async def _serve(self, request: web.Request) -> web.Response:
        self.fetches += 1
        if self.failing:
            self.failed += 1
            return web.json_response({"error": "down"}, status=503)
        return web.json_response({"keys": [key.jwk() for key in self.keys]})


@contextlib.asynccontextmanager
async def jwks_server() -> AsyncIterator[JwksServer]:
    """The provider on a random loopback port, for the length of the block."""
    server = JwksServer()
    app = web.Application()
    app.router.add_get(PATH, server._serve)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    server.base_url = f"http://127.0.0.1:{port}"
    try:
        yield server
    finally:
        await runner.cleanup()
