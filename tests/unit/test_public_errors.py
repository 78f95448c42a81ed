"""What a client reads in `error_message`: one line, no traceback, no credential."""

from __future__ import annotations

import pytest

from services.gateway.jobs.public_errors import public_message


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        # A worker's message keeps its first line; the traceback after it is dropped.
        (
            "render failed: clip 3 broke\nTraceback (most recent call last):\n  File x",
            "render failed: clip 3 broke",
        ),
        # A bare traceback shows only the exception it ended with.
        (
            "Traceback (most recent call last):\n  File 'x', line 1\nValueError: boom",
            "ValueError: boom",
        ),
        # Credentials are masked, whatever form they take.
        ("401 for https://x/y?api_key=abc123&n=1", "401 for https://x/y?api_key=[redacted]&n=1"),
        ("sent Authorization: Bearer r8_abcdefghijklmnop", "sent Authorization: Bearer [redacted]"),
        ("token r8_ABCDEFGH12345678 refused", "token [redacted] refused"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln bad", "jwt [redacted] bad"),
        ('{"password": "hunter22"}', '{"password": "[redacted]"}'),
        # Nothing to say: a generic reason rather than an empty one.
        ("", "the job failed"),
        ("   \n  ", "the job failed"),
    ],
)
def test_public_message(raw: str, shown: str) -> None:
    assert public_message(raw) == shown


def test_long_messages_are_cut() -> None:
    shown = public_message("storyboard generation failed: " + "x" * 1000)
    assert len(shown) == 300 and shown.endswith("…")


@pytest.mark.parametrize(
    "text",
    [
        "storyboard generation failed: cannot identify image file (job 0f3a9c2e)",
        "design: too many tokens: 5000 over the limit",
        "render failed: the signal ended the encoder",
    ],
)
def test_innocent_text_is_left_alone(text: str) -> None:
    assert public_message(text) == text


def test_prefixed_credential_names_are_masked() -> None:
    shown = public_message("refused: access_token=abc.def x-api-key: 12345678")
    assert shown == "refused: access_token=[redacted] x-api-key: [redacted]"
