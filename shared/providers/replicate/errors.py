"""What can go wrong with a Replicate call, as exceptions whose messages are safe to show
a client (`error_message`): the provider's own words, never a token."""

from __future__ import annotations


class ProviderError(Exception):
    """A Replicate call did not give a usable result. `permanent` errors fail the job at
    once; the others were retried already and may succeed on a later delivery."""

    permanent: bool = True

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ProviderRejected(ProviderError):
    """The API refused the request for good: 401 (token), 402 (credit), 404, 422 (input)."""


class ProviderUnavailable(ProviderError):
    """The API kept answering 429/5xx or could not be reached after every retry."""

    permanent = False


class ContentPolicyRefused(ProviderError):
    """The model refused the input or output as sensitive (E005); retrying is pointless."""


class PredictionFailed(ProviderError):
    """The prediction failed on every attempt."""


class PredictionTimedOut(ProviderError):
    """The prediction passed its deadline on every attempt (and was canceled upstream)."""


class PredictionCanceled(ProviderError):
    """Someone else canceled the prediction (the job was canceled)."""


class OutputInvalid(ProviderError):
    """The prediction succeeded but its output is missing, expired or not the media asked
    for (does not decode, wrong length or size)."""


class ScriptInvalid(ProviderError):
    """The script model did not return a usable storyboard, even after a repair and a
    second request."""


def redact(text: str, *secrets: str | None) -> str:
    """`text` with every secret replaced, for messages that quote a provider's answer."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text
