"""The assets a brief names, checked before the job is written: unknown ids (or another
client's) are refused with 422, and a brief with no brand colours takes its logo's."""

from __future__ import annotations

from aiohttp import web

from services.gateway.appkeys import BUS
from services.gateway.clients.assets import find_assets
from services.gateway.http.errors import Unprocessable
from shared.models import GenerationRequest, StoryboardEdit

LOGO_PALETTE_SIZE = 3


def named_assets(generation: GenerationRequest) -> dict[str, list[str]]:
    """Every asset id in the brief, with the fields that name it."""
    named: dict[str, list[str]] = {}
    for n, asset_id in enumerate(generation.assets):
        named.setdefault(asset_id, []).append(f"assets.{n}")
    for field, brand_asset in (
        ("brand.logo_asset_id", generation.brand.logo_asset_id),
        ("brand.font_asset_id", generation.brand.font_asset_id),
    ):
        if brand_asset:
            named.setdefault(brand_asset, []).append(field)
    return named


async def resolve_assets(
    request: web.Request, generation: GenerationRequest, client_id: str
) -> GenerationRequest:
    named = named_assets(generation)
    if not named:
        return generation  # nothing to check: no call, so a brief is accepted without NATS
    found, missing = await find_assets(request.app[BUS], client_id, list(named))
    if missing:
        details = [
            {"field": field, "message": f"asset {asset_id} not found", "type": "unknown_asset"}
            for asset_id in missing
            for field in named[asset_id]
        ]
        raise Unprocessable(f"unknown assets: {', '.join(sorted(missing))}", details)
    logo = next((a for a in found if a.id == generation.brand.logo_asset_id), None)
    if generation.brand.colors or logo is None or not logo.dominant_colors:
        return generation
    brand = generation.brand.model_copy(update={"colors": logo.dominant_colors[:LOGO_PALETTE_SIZE]})
    return generation.model_copy(update={"brand": brand})


async def check_scene_clips(request: web.Request, edit: StoryboardEdit, client_id: str) -> None:
    """Scene clips named in an edit must be the client's own uploaded videos."""
    wanted = {
        change.clip_asset_id: n
        for n, change in enumerate(edit.scenes)
        if change.clip_asset_id is not None
    }
    if not wanted:
        return
    found, missing = await find_assets(request.app[BUS], client_id, list(wanted))
    not_video = [asset.id for asset in found if asset.kind != "video"]
    details = [
        {
            "field": f"scenes.{wanted[asset_id]}.clip_asset_id",
            "message": f"asset {asset_id} "
            + ("is not a video" if asset_id in not_video else "not found"),
            "type": "invalid_clip",
        }
        for asset_id in [*missing, *not_video]
    ]
    if details:
        raise Unprocessable("scene clips must be your uploaded videos", details)
