"""Process-level fixtures (see tests/support/stack_fixtures.py)."""

from tests.support.stack_fixtures import http, own_nats, stack

__all__ = ["http", "own_nats", "stack"]
