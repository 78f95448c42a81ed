"""The one keyset cursor (`shared.cursor`) of the job and asset lists: a round trip, the
cursors clients already hold, and what is refused."""

from __future__ import annotations

import base64

import pytest

from shared.cursor import MAX_CURSOR_CHARS, InvalidCursor, decode_cursor, encode_cursor

CREATED_AT = "2026-05-01T12:00:00.123Z"
ROW_ID = "3f2b8c1d9e7a4b6c8d0e1f2a3b4c5d6e"


def test_a_cursor_names_the_row_it_was_made_from() -> None:
    # Encoded, then decoded: the same (created_at, id), in a URL-safe string.
    cursor = encode_cursor(CREATED_AT, ROW_ID)
    assert decode_cursor(cursor) == (CREATED_AT, ROW_ID)
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=")
    # An id holding the separator survives: only the first `|` splits.
    assert decode_cursor(encode_cursor(CREATED_AT, "a|b")) == (CREATED_AT, "a|b")


def test_cursors_made_before_the_codec_was_shared_still_work() -> None:
    # The format is urlsafe base64 of "created_at|id", byte for byte as the gateway and
    # the assets service wrote it, so a `next_cursor` a client kept still pages on.
    old = base64.urlsafe_b64encode(f"{CREATED_AT}|{ROW_ID}".encode()).decode()
    assert encode_cursor(CREATED_AT, ROW_ID) == old
    assert old == "MjAyNi0wNS0wMVQxMjowMDowMC4xMjNafDNmMmI4YzFkOWU3YTRiNmM4ZDBlMWYyYTNiNGM1ZDZl"
    assert decode_cursor(old) == (CREATED_AT, ROW_ID)


@pytest.mark.parametrize(
    "cursor",
    [
        "%%%",  # nothing base64 in it
        "abc",  # bad padding
        base64.urlsafe_b64encode(b"no separator").decode(),
        base64.urlsafe_b64encode(b"\xff\xfe|x").decode(),  # not UTF-8
        "\ud800",  # cannot even be encoded
    ],
)
def test_a_cursor_we_did_not_make_is_malformed(cursor: str) -> None:
    with pytest.raises(InvalidCursor) as refused:
        decode_cursor(cursor)
    assert refused.value.reason == "malformed"
    # Callers that only know ValueError still catch it.
    assert isinstance(refused.value, ValueError)


def test_an_overlong_cursor_is_refused_before_decoding() -> None:
    # Longer than any cursor we make: refused as too long, even if it would decode.
    long_id = "x" * MAX_CURSOR_CHARS
    with pytest.raises(InvalidCursor) as refused:
        decode_cursor(encode_cursor(CREATED_AT, long_id))
    assert refused.value.reason == "too long"
    # A cursor of exactly the limit is still read; four characters more are not.
    at_limit = encode_cursor(CREATED_AT, "y" * 125)
    assert len(at_limit) == MAX_CURSOR_CHARS == 200
    assert decode_cursor(at_limit) == (CREATED_AT, "y" * 125)
    with pytest.raises(InvalidCursor, match="too long"):
        decode_cursor(encode_cursor(CREATED_AT, "y" * 128))
