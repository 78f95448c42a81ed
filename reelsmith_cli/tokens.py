"""Bearer tokens for the CLI: signed locally with `JWT_SECRET` (or the secret `make run`
keeps in `data/.jwt_secret`), or asked of the gateway's development login."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from reelsmith_cli.client import API, EXIT_CLIENT, Api, CliError

DEFAULT_TTL_S = 12 * 3600


@dataclass(frozen=True)
class IssuedToken:
    token: str
    client_id: str
    role: str
    expires_at: int
    source: str  # "local" or "dev-login"

    def as_json(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "client_id": self.client_id,
            "role": self.role,
            "expires_at": self.expires_at,
            "source": self.source,
        }


def local_secret(secret_file: str | None = None) -> str | None:
    """`JWT_SECRET`, else the named file, else `make run`'s `data/.jwt_secret` (found via
    `REELSMITH_DATA_DIR` or the current directory)."""
    if secret_file is None and (secret := os.environ.get("JWT_SECRET")):
        return secret
    candidates = [Path(secret_file)] if secret_file else []
    if secret_file is None:
        data = os.environ.get("REELSMITH_DATA_DIR")
        candidates.append(
            Path(data).expanduser() / ".jwt_secret" if data else Path("data/.jwt_secret")
        )
    for path in candidates:
        try:
            if stored := path.read_text().strip():
                return stored
        except OSError:
            if secret_file is not None:
                raise CliError(EXIT_CLIENT, f"cannot read the secret file {path}") from None
    return None


def issue_local(secret: str, client_id: str, role: str, ttl_s: int) -> IssuedToken:
    expires_at = int(time.time()) + ttl_s
    claims = {"sub": client_id, "role": role, "exp": expires_at}
    token = jwt.encode(claims, secret, algorithm="HS256")
    return IssuedToken(token, client_id, role, expires_at, "local")


def dev_login(api: Api, client_id: str) -> IssuedToken:
    """`POST /api/v2/dev/token` (only when the gateway runs with `DEV_LOGIN=1`)."""
    body = api.json("POST", f"{API}/dev/token", json={"client_id": client_id})
    expires_in = int(body.get("expires_in_s", 0))
    return IssuedToken(
        body["token"], body["client_id"], body["role"], int(time.time()) + expires_in, "dev-login"
    )


def obtain(
    api: Api,
    client_id: str,
    role: str = "client",
    ttl_s: int = DEFAULT_TTL_S,
    secret_file: str | None = None,
    use_dev_login: bool = False,
) -> IssuedToken:
    """A local token when a secret is at hand, else the gateway's development login."""
    if not use_dev_login:
        secret = local_secret(secret_file)
        if secret is not None:
            return issue_local(secret, client_id, role, ttl_s)
    if role != "client":
        raise CliError(
            EXIT_CLIENT, "the development login issues client tokens only; set JWT_SECRET"
        )
    return dev_login(api, client_id)
