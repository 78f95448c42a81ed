"""Generation backends behind one interface (`shared.providers.base.GenerationBackend`).

Example::

    backend = await open_backend(settings, bus, pricing.table)   # local or replicate
    try:
        scenes = await backend.plan_script(job_id, request, WorkRef(job_id, client_id))
    finally:
        await backend.close()
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from shared.providers.base import (
    ClipMade,
    ClipSpec,
    FootageBackend,
    FrameSpec,
    GenerationBackend,
    VoiceSpec,
    WorkRef,
)
from shared.settings import Settings

if TYPE_CHECKING:
    from shared.bus import Bus
    from shared.providers.replicate.backend import ReplicateBackend
    from shared.providers.replicate.costs import Prices


class BackendUnavailable(RuntimeError):
    pass


def backend_for(settings: Settings) -> GenerationBackend:
    """The `local` backend (needs nothing); `open_backend` builds any backend."""
    if settings.generation_backend == "local":
        from shared.providers.local.backend import LocalBackend

        return LocalBackend()
    raise BackendUnavailable(
        f"GENERATION_BACKEND={settings.generation_backend!r} needs the bus and the pricing "
        "table: use open_backend"
    )


async def open_backend(
    settings: Settings,
    bus: Bus | None = None,
    prices: Callable[[], Prices] | None = None,
) -> GenerationBackend:
    """The backend `GENERATION_BACKEND` names; `replicate` needs a token, the bus (cost
    events, checkpoints) and billing's pricing table (models per role, prices)."""
    if settings.generation_backend == "local":
        return backend_for(settings)
    return await open_replicate(settings, bus, prices)


async def open_replicate(
    settings: Settings,
    bus: Bus | None,
    prices: Callable[[], Prices] | None,
) -> ReplicateBackend:
    if settings.replicate_api_token is None or not settings.replicate_api_token.get_secret_value():
        raise BackendUnavailable(
            "GENERATION_BACKEND=replicate needs REPLICATE_API_TOKEN (or REPLICATE_API_KEY)"
        )
    if bus is None or prices is None:
        raise BackendUnavailable("the replicate backend needs the bus and the pricing table")
    from shared.providers.replicate.backend import ReplicateBackend

    return await ReplicateBackend.open(settings, bus, prices)


__all__ = [
    "BackendUnavailable",
    "ClipMade",
    "ClipSpec",
    "FootageBackend",
    "FrameSpec",
    "GenerationBackend",
    "VoiceSpec",
    "WorkRef",
    "backend_for",
    "open_backend",
    "open_replicate",
]
