"""What a client may read about a failure: one human-readable line, no stack trace, no
credential. Workers write their own reasons; the gateway still cleans them before they
reach `error_message`, because an exception's text can quote anything (a URL with a key,
an Authorization header, a token).

Example::

    public_message("render failed: 401 for https://x?api_key=abc\\nTraceback ...")
    # -> "render failed: 401 for https://x?api_key=[redacted]"
"""

from __future__ import annotations

import re

MAX_CHARS = 300
REDACTED = "[redacted]"
_SECRETS = (
    # Bearer / Token authorization values.
    re.compile(r"(?i)\b(bearer|token|basic)\s+[A-Za-z0-9._~+/=-]{8,}"),
    # key=value pairs whose name says they are a credential.
    re.compile(
        r"(?i)\b((?:\w+[_-])?(?:api[_-]?key|token|secret|password|passwd|signature|sig)\b)"
        r"(['\"]?\s*[=:]\s*)(['\"]?)[^\s'\"&,;]+"
    ),
    # JSON Web Tokens and Replicate API tokens.
    re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
    re.compile(r"\br8_[A-Za-z0-9]{8,}"),
)


def public_message(text: str | None, fallback: str = "the job failed") -> str:
    """`text` cut to its first line (of a bare traceback: the exception's), credentials
    masked, at most 300 characters."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    traceback = next((n for n, line in enumerate(lines) if line.startswith("Traceback")), None)
    # Text before a traceback says what failed; a bare traceback ends with the exception.
    if traceback == 0:
        lines = lines[-1:]
    first = lines[0] if lines else ""
    for pattern in _SECRETS:
        first = pattern.sub(_mask, first)
    if len(first) > MAX_CHARS:
        first = first[: MAX_CHARS - 1].rstrip() + "…"
    return first or fallback


def _mask(match: re.Match[str]) -> str:
    groups = match.groups()
    if len(groups) == 3:  # name=value: keep the name, hide the value
        return f"{groups[0]}{groups[1]}{groups[2]}{REDACTED}"
    if len(groups) == 1:  # "Bearer xyz": keep the scheme
        return f"{groups[0]} {REDACTED}"
    return REDACTED
