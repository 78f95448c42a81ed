"""An identity provider's signing keys (a JWKS URL), fetched with aiohttp and kept.

PyJWT's `PyJWKClient` fetches with blocking urllib and starts its refresh cool-down at
every fetch, the first one included, so a key rotated in just after start-up would be
refused for the whole cool-down. Here the set is fetched without blocking the event loop
and parsed by PyJWT (`PyJWKSet`: no JOSE of our own), and three things are kept apart:

- the set is fetched on first use and again once it is `max_age_s` old;
- a `kid` the set does not know fetches it at once (a rotation needs no restart), but at
  most once per `min_refresh_s`, so tokens with made-up kids cannot flood the provider;
- a failed fetch keeps the keys already known and is not tried again for `min_refresh_s`.

Only asymmetric signing keys are kept: a symmetric (`oct`) key, or one whose algorithm
is HS*, is never accepted from a JWKS.

Example::

    keys = JwksKeys("https://idp.example.com/.well-known/jwks.json")
    key = await keys.key("2024-05")        # a PyJWK; key.algorithm_name == "ES256"
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import aiohttp
import orjson
from jwt import PyJWK, PyJWKSet
from jwt.exceptions import PyJWKSetError

from shared.logging import get_logger

log = get_logger(__name__)

ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
MAX_JWKS_BYTES = 1024 * 1024


class UnknownKey(Exception):
    """The set, fetched again if the rate limit allowed it, has no key with this kid."""


class KeysUnavailable(Exception):
    """No key is known because the JWKS could not be fetched."""


class JwksKeys:
    def __init__(
        self,
        url: str,
        *,
        max_age_s: float = 300.0,
        min_refresh_s: float = 30.0,
        timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not url.startswith(("https://", "http://")):
            raise ValueError("AUTH_JWKS_URL must be an http(s) URL")
        self.url = url
        self._max_age_s = max_age_s
        self._min_refresh_s = min_refresh_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._clock = clock
        self._keys: dict[str, PyJWK] = {}
        self._expires = -float("inf")  # when the set is due to be fetched again
        self._last_forced = -float("inf")  # the last fetch asked for by an unknown kid
        self._retry_after = -float("inf")  # no fetch before this after a failure
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> PyJWK:
        """The signing key named `kid`; UnknownKey or KeysUnavailable when there is none."""
        found = self._keys.get(kid)
        if found is not None and self._clock() < self._expires:
            return found
        # One fetch at a time: requests that arrive during it wait and see its result.
        async with self._lock:
            now = self._clock()
            if now >= self._expires and now >= self._retry_after:
                await self._fetch()
            now = self._clock()
            if (
                kid not in self._keys
                and now - self._last_forced >= self._min_refresh_s
                and now >= self._retry_after
            ):
                self._last_forced = now
                await self._fetch()
            found = self._keys.get(kid)
            if found is not None:
                return found
            if not self._keys:
                raise KeysUnavailable("the identity provider's keys could not be fetched")
            raise UnknownKey(kid)

    async def _fetch(self) -> None:
        try:
            keys = await self._download()
        except (aiohttp.ClientError, TimeoutError, ValueError, PyJWKSetError) as exc:
            self._retry_after = self._clock() + self._min_refresh_s
            log.warning(
                "auth.jwks_fetch_failed",
                extra={"url": self.url, "reason": f"{type(exc).__name__}: {exc}"[:300]},
            )
            return
        self._keys = keys
        self._expires = self._clock() + self._max_age_s
        log.info("auth.jwks_fetched", extra={"url": self.url, "kids": sorted(keys)})

    async def _download(self) -> dict[str, PyJWK]:
        async with (
            aiohttp.ClientSession(timeout=self._timeout) as session,
            session.get(self.url, allow_redirects=False) as response,
        ):
            if response.status != 200:
                raise ValueError(f"JWKS answered HTTP {response.status}")
            body = bytearray()
            async for chunk in response.content.iter_chunked(64 * 1024):
                body += chunk
                if len(body) > MAX_JWKS_BYTES:
                    raise ValueError(f"JWKS larger than {MAX_JWKS_BYTES} bytes")
        document = orjson.loads(body)
        if not isinstance(document, dict):
            raise ValueError("JWKS is not a JSON object")
        usable = {
            key.key_id: key
            for key in PyJWKSet.from_dict(document).keys
            if key.key_id
            and key.public_key_use in ("sig", None)
            and key.key_type != "oct"
            and key.algorithm_name in ASYMMETRIC
        }
        if not usable:
            raise ValueError("JWKS holds no asymmetric signing key with a kid")
        return usable
