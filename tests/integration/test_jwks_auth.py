"""Bearer tokens from an identity provider (a real JWKS on loopback): RS256 and ES256 are
accepted beside HS256 development tokens; a rotated key works without a restart; an
unknown kid fetches the key set again at most once per AUTH_JWKS_MIN_REFRESH_S; every way
such a token can be wrong is a 401 naming the problem; claims map to client and role."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import pytest_asyncio

from services.gateway.app import init_app
from services.gateway.http.auth import Principal, TokenVerifier
from tests.support.jwks import AUDIENCE, JwksServer, generate, jwks_server
from tests.support.nats_server import NatsServer
from tests.support.system import SECRET, System, gateway_alone, settings_for
from tests.support.waiting import eventually

BRIEF = {
    "campaign_id": "spring",
    "prompt": "Introducing Glow Serum. Brightens skin in 7 days.",
    "platform": "tiktok",
    "duration_s": 10,
}


@pytest_asyncio.fixture
async def idp() -> AsyncIterator[JwksServer]:
    """The identity provider, publishing one ES256 key."""
    async with jwks_server() as server:
        server.add_key("ES256")
        yield server


def gateway(nats_server: NatsServer, root: Path, idp: JwksServer, **overrides: Any) -> Any:
    """The gateway alone (no workers: nothing here needs a storyboard) trusting `idp`."""
    return gateway_alone(
        nats_server.url,
        root,
        **idp.settings(**overrides),
    )


@pytest_asyncio.fixture
async def idp_system(
    nats_server: NatsServer, tmp_path: Path, idp: JwksServer
) -> AsyncIterator[System]:
    async with gateway(nats_server, tmp_path, idp) as system:
        yield system


async def call(
    system: System, token: str, method: str = "GET", path: str = "/api/v2/jobs", **kwargs: Any
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with system.http.request(method, system.base_url + path, headers=headers, **kwargs) as r:
        return r.status, await r.json()


async def whoami(system: System, token: str) -> tuple[str, str]:
    """The client id and role the gateway made of a token (a media token says both)."""
    status, body = await call(system, token, "POST", "/api/v2/media-token")
    assert status == 200, body
    return body["client_id"], body["role"]


async def test_rs256_es256_and_hs256_tokens_work_side_by_side(
    idp_system: System, idp: JwksServer
) -> None:
    system = idp_system
    es_kid = idp.keys[0].kid
    rs_kid = idp.add_key("RS256")
    # A key published without `alg` gets the one its type and curve imply (ES256).
    bare_kid = idp.add_key("ES256", publish_alg=False)
    # Client A creates a job with an ES256 token from the provider ...
    status, job = await call(system, idp.mint("client-a", kid=es_kid), "POST", json=BRIEF)
    assert status == 202, job
    # ... and sees it with an RS256 one, a bare-key one and a development HS256 token.
    path = f"/api/v2/jobs/{job['id']}"
    for token in (
        idp.mint("client-a", kid=rs_kid),
        idp.mint("client-a", kid=bare_kid),
        system.token("client-a"),
    ):
        status, body = await call(system, token, path=path)
        assert status == 200 and body["id"] == job["id"], body
    # Another client of the provider does not see it.
    status, body = await call(system, idp.mint("client-b", kid=rs_kid), path=path)
    assert status == 404
    # Media tokens are the gateway's own (derived from JWT_SECRET), whoever signed the bearer.
    status, issued = await call(system, idp.mint("client-a"), "POST", "/api/v2/media-token")
    assert status == 200 and issued["token_type"] == "media"
    assert jwt.decode(issued["token"], options={"verify_signature": False})["sub"] == "client-a"


async def test_a_rotated_key_works_without_a_restart(idp_system: System, idp: JwksServer) -> None:
    system = idp_system
    old = idp.keys[0].kid
    assert (await call(system, idp.mint(kid=old)))[0] == 200
    assert idp.fetches == 1
    # The provider rotates: a new key, the old one withdrawn.
    new = idp.rotate("ES256")
    # Ten requests at once with tokens of the new key: one fetch between them, all pass.
    tokens = [idp.mint(f"client-{n}", kid=new) for n in range(10)]
    answers = await asyncio.gather(*(call(system, token) for token in tokens))
    assert [status for status, _ in answers] == [200] * 10
    assert idp.fetches == 2
    # A fresh token of the withdrawn key is refused: the set no longer has it.
    status, body = await call(system, idp.mint("client-a", kid=old))
    assert status == 401 and body["error"]["details"]["reason"] == "unknown_key"


async def test_unknown_kids_fetch_the_set_at_most_once_per_interval(
    nats_server: NatsServer, tmp_path: Path, idp: JwksServer
) -> None:
    async with gateway(nats_server, tmp_path, idp, auth_jwks_min_refresh_s=1.0) as system:
        signer = idp.keys[0]
        assert (await call(system, idp.mint()))[0] == 200
        assert idp.fetches == 1

        def forged(kid: str) -> str:
            return jwt.encode(
                {"sub": "x", "iss": idp.issuer, "aud": AUDIENCE, "exp": int(time.time()) + 60},
                signer.private,
                "ES256",
                headers={"kid": kid},
            )

        # The first unknown kid fetches the set again (a rotation may have happened) ...
        status, body = await call(system, forged("made-up-1"))
        assert status == 401 and body["error"]["details"]["reason"] == "unknown_key"
        assert idp.fetches == 2
        # ... but a flood of made-up kids right after fetches nothing more.
        answers = await asyncio.gather(*(call(system, forged(f"made-up-{n}")) for n in range(30)))
        assert {status for status, _ in answers} == {401}
        assert idp.fetches == 2
        # A key published during the interval is found once the interval has passed.
        late = idp.add_key("ES256")
        token = idp.mint(kid=late)
        status, _ = await call(system, token)
        assert status == 401 and idp.fetches == 2
        await eventually(lambda: call(system, token), lambda answer: answer[0] == 200)
        assert idp.fetches == 3


def refusals(idp: JwksServer) -> dict[str, tuple[str, str]]:
    """Tokens that must each be a 401: case -> (token, the reason the answer gives)."""
    key = idp.keys[0]
    rsa_key = generate("RS256")
    impostor = generate("ES256")
    now = int(time.time())
    return {
        "wrong issuer": (idp.mint(iss="https://evil.example/"), "wrong_issuer"),
        "wrong audience": (idp.mint(aud="another-api"), "wrong_audience"),
        "unknown kid": (
            jwt.encode(
                {"sub": "a", "exp": now + 60}, key.private, "ES256", headers={"kid": "nope"}
            ),
            "unknown_key",
        ),
        # RS256 in the header, the kid of an ES256 key: refused before any signature check.
        "algorithm mismatch": (idp.mint(private=rsa_key, alg="RS256"), "algorithm_mismatch"),
        "expired": (idp.mint(exp=now - 600), "expired"),
        "bad signature": (idp.mint(private=impostor), "bad_signature"),
        "not yet valid": (idp.mint(nbf=now + 600), "not_yet_valid"),
        "no issuer": (idp.mint(iss=None), "missing_claim"),
        "no kid": (jwt.encode({"sub": "a", "exp": now + 60}, key.private, "ES256"), "no_kid"),
        "client id not usable": (idp.mint("auth0|1234"), "bad_client_id"),
        "alg none": (
            jwt.encode({"sub": "a", "exp": now + 60}, None, "none", headers={"kid": key.kid}),
            "algorithm_not_accepted",
        ),
        "HS384 naming the key": (
            jwt.encode(
                {"sub": "a", "exp": now + 60}, SECRET + "x" * 24, "HS384", headers={"kid": key.kid}
            ),
            "algorithm_not_accepted",
        ),
    }


async def test_every_refusal_is_a_401_naming_the_problem(
    idp_system: System, idp: JwksServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    cases = refusals(idp)
    for case, (token, reason) in cases.items():
        status, body = await call(idp_system, token)
        # 401, the error shape, the reason; never the token itself.
        assert status == 401, (case, body)
        error = body["error"]
        assert error["code"] == "unauthorized" and error["message"], case
        assert error["details"]["reason"] == reason, (case, error)
        signature = token.split(".")[2]
        assert token not in str(body) and (not signature or signature not in str(body)), case
    # Nor is any of them in a log line.
    logged = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert logged and not [case for case, (token, _) in cases.items() if token in logged]


async def test_claims_map_to_client_and_role(idp_system: System, idp: JwksServer) -> None:
    system = idp_system
    # Defaults: `sub` is the client; `role` "admin", or a list holding it, is an admin.
    assert await whoami(system, idp.mint("acme")) == ("acme", "client")
    assert await whoami(system, idp.mint("acme", role="admin")) == ("acme", "admin")
    assert await whoami(system, idp.mint("acme", role=["viewer", "admin"])) == ("acme", "admin")
    assert await whoami(system, idp.mint("acme", role="editor")) == ("acme", "client")
    assert await whoami(system, idp.mint("acme", role=["viewer"])) == ("acme", "client")


async def test_custom_and_nested_claims(
    nats_server: NatsServer, tmp_path: Path, idp: JwksServer
) -> None:
    # Keycloak-like nesting for the role, a namespaced claim (dots in its name) for the client.
    async with gateway(
        nats_server,
        tmp_path,
        idp,
        auth_client_id_claim="https://reelsmith.example/tenant",
        auth_role_claim="realm_access.roles",
    ) as system:
        token = idp.mint(
            "user-123",
            **{
                "https://reelsmith.example/tenant": "acme",
                "realm_access": {"roles": ["offline_access", "admin"]},
            },
        )
        assert await whoami(system, token) == ("acme", "admin")
        # The admin sees another client's job; a plain member of the tenant is a client.
        status, job = await call(system, system.token("client-z"), "POST", json=BRIEF)
        assert status == 202
        assert (await call(system, token, path=f"/api/v2/jobs/{job['id']}"))[0] == 200
        member = idp.mint(
            "user-456",
            **{"https://reelsmith.example/tenant": "acme", "realm_access": {"roles": ["user"]}},
        )
        assert await whoami(system, member) == ("acme", "client")
        # No client claim at all: refused, naming the claim.
        status, body = await call(system, idp.mint("user-789"))
        assert status == 401 and "https://reelsmith.example/tenant" in body["error"]["message"]


async def test_keys_unreachable_is_a_503_and_known_keys_outlive_a_failed_refresh(
    nats_server: NatsServer, tmp_path: Path, idp: JwksServer
) -> None:
    async with gateway(
        nats_server,
        tmp_path,
        idp,
        auth_jwks_max_age_s=0.2,
        auth_jwks_min_refresh_s=0.2,
    ) as system:
        # The provider is down before the first token: 503, the token is not to blame.
        idp.failing = True
        status, body = await call(system, idp.mint())
        assert status == 503 and body["error"]["code"] == "unavailable"
        # Back up: tokens pass once the retry interval is over.
        idp.failing = False
        await eventually(lambda: call(system, idp.mint()), lambda answer: answer[0] == 200)
        # Down again: once the set is due for a refresh, that fails, yet its keys still serve.
        idp.failing = True
        failed = idp.failed
        answers = await eventually(
            lambda: call(system, idp.mint(jti=str(time.monotonic_ns()))),
            lambda answer: idp.failed > failed or answer[0] != 200,
        )
        assert answers[0] == 200 and idp.failed > failed


class CountingIssuer:
    def __init__(self) -> None:
        self.calls = 0

    async def principal(self, token: str, header: dict[str, Any]) -> Principal:
        self.calls += 1
        return Principal("client-a", "client", time.time() + 60)


async def test_verified_tokens_of_both_kinds_are_remembered() -> None:
    # The polling hot path: a token seen before is a dict lookup, whichever kind it is.
    issuer = CountingIssuer()
    verifier = TokenVerifier(SECRET, issuer)
    es256 = jwt.encode({"sub": "a", "exp": int(time.time()) + 60}, generate("ES256"), "ES256")
    for _ in range(3):
        assert (await verifier.verify(f"Bearer {es256}")).client_id == "client-a"
    assert issuer.calls == 1
    hs256 = jwt.encode({"sub": "b", "exp": int(time.time()) + 60}, SECRET, "HS256")
    assert verifier.known(f"Bearer {hs256}") is None  # not verified yet
    first = await verifier.verify(f"Bearer {hs256}")
    assert first.client_id == "b" and await verifier.verify(f"Bearer {hs256}") is first
    assert verifier.known(f"Bearer {hs256}") is first and verifier.known(None) is None
    assert issuer.calls == 1


async def test_a_remembered_token_is_not_known_past_its_expiry() -> None:
    verifier = TokenVerifier(SECRET)
    soon = time.time() + 60
    header = f"Bearer {jwt.encode({'sub': 'a', 'exp': int(soon)}, SECRET, 'HS256')}"
    principal = await verifier.verify(header)
    assert verifier.known(header) is principal
    # Past the remembered expiry (set back here rather than waited for): unknown to the
    # poll lane, and `verify` checks the token again.
    verifier._verified[header] = Principal("a", "client", time.time() - 1)
    assert verifier.known(header) is None
    again = await verifier.verify(header)
    assert again is not principal and again.expires_at == int(soon)
    assert verifier.known(header) is again


@pytest.mark.parametrize("missing", ["auth_issuer", "auth_audience"])
def test_a_provider_without_issuer_or_audience_stops_the_gateway(
    tmp_path: Path, missing: str
) -> None:
    values = {
        "auth_jwks_url": "https://idp.example/jwks.json",
        "auth_issuer": "https://idp.example/",
        "auth_audience": "reelsmith-api",
        missing: None,
    }
    settings = settings_for("nats://127.0.0.1:1", tmp_path, **values)
    with pytest.raises(ValueError, match=missing.upper()):
        init_app(settings)
