"""Where a client's uploaded asset lives in storage (`uploads/{client_id}/{asset_id}.{ext}`)."""

from __future__ import annotations

from shared.storage import LocalStorage

IMAGE_EXTENSIONS = ("png", "jpg", "jpeg", "webp")
FONT_EXTENSIONS = ("ttf", "otf")
AUDIO_EXTENSIONS = ("mp3", "m4a", "aac", "wav", "ogg")


async def find_upload(
    storage: LocalStorage, client_id: str, asset_id: str | None, extensions: tuple[str, ...]
) -> str | None:
    """The storage key of the client's asset, if it was uploaded with one of `extensions`."""
    if not asset_id:
        return None
    for ext in extensions:
        key = f"uploads/{client_id}/{asset_id}.{ext}"
        try:
            if await storage.exists(key):
                return key
        except ValueError:
            return None  # an asset id that cannot be a key names nothing
    return None


# Extensions the assets service stores video clips under (`uploads/{client}/{id}.mp4`).
VIDEO_EXTENSIONS = ("mp4", "mov", "webm")
# Where the gateway streams an upload before the assets service has validated it.
INCOMING_PREFIX = "incoming"


def upload_key(client_id: str, asset_id: str, ext: str) -> str:
    """The key an accepted upload is stored under (what `find_upload` looks for)."""
    return f"uploads/{client_id}/{asset_id}.{ext}"


def thumbnail_key(client_id: str, asset_id: str) -> str:
    return f"uploads/{client_id}/{asset_id}_thumb.jpg"


def incoming_key(upload_id: str) -> str:
    """A not-yet-validated upload: never under `uploads/`, so no job can find it."""
    return f"{INCOMING_PREFIX}/{upload_id}"
