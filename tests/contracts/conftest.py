"""Fixtures of the contract tests: the gateway app and its OpenAPI document, built once."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from services.gateway.contract.document import build_document
from tests.contracts.openapi_support import gateway_app


@pytest.fixture(scope="session")
def app(tmp_path_factory: pytest.TempPathFactory) -> web.Application:
    """The real gateway application with every route registered (not started)."""
    return gateway_app(tmp_path_factory.mktemp("gateway"))


@pytest.fixture(scope="session")
def openapi(app: web.Application) -> dict[str, Any]:
    """The OpenAPI document generated from that application."""
    return build_document(app)
