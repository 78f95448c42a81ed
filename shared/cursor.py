"""The keyset cursor of every "newest first" list (jobs, assets): an opaque string naming
the last row of the previous page by its `(created_at, id)`, so the next page starts
strictly after it however many rows were added in between.

The format is urlsafe base64 of `"{created_at}|{id}"`; it is part of the public API
(clients keep `next_cursor`s), so it must not change.

Example::

    next_cursor = encode_cursor(last["created_at"], last["id"])
    created_at, row_id = decode_cursor(next_cursor)   # InvalidCursor if not one of ours
"""

from __future__ import annotations

import base64

# Longer than any cursor we make (a timestamp and an id); the assets' list request
# refuses longer ones too.
MAX_CURSOR_CHARS = 200


class InvalidCursor(ValueError):
    """A cursor this codec did not make; `reason` says how it fails ("malformed" or
    "too long"), for the caller's error reply."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"invalid cursor: {reason}")
        self.reason = reason


def encode_cursor(created_at: str, row_id: str) -> str:
    """The cursor naming the row `(created_at, row_id)`."""
    return base64.urlsafe_b64encode(f"{created_at}|{row_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[str, str]:
    """The `(created_at, id)` a cursor names; `InvalidCursor` when it names none."""
    if len(cursor) > MAX_CURSOR_CHARS:
        raise InvalidCursor("too long")
    try:
        created_at, row_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
    except ValueError:
        raise InvalidCursor("malformed") from None
    return created_at, row_id
