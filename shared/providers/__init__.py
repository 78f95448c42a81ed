"""Generation backends behind one interface (`shared.providers.base.GenerationBackend`)."""

from __future__ import annotations

from shared.providers.base import FrameSpec, GenerationBackend
from shared.settings import Settings


class BackendUnavailable(RuntimeError):
    pass


def backend_for(settings: Settings) -> GenerationBackend:
    """The backend `GENERATION_BACKEND` names."""
    if settings.generation_backend == "local":
        from shared.providers.local.backend import LocalBackend

        return LocalBackend()
    raise BackendUnavailable(
        f"GENERATION_BACKEND={settings.generation_backend!r} is not available in this build; "
        "use 'local'"
    )


__all__ = ["BackendUnavailable", "FrameSpec", "GenerationBackend", "backend_for"]
