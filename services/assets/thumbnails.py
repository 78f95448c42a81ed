"""Thumbnails: a JPEG no larger than 320 px a side, from the preview validation made
(an image, a video frame, a font sample), on white where the preview is transparent."""

from __future__ import annotations

import io

from PIL import Image

THUMB_PX = 320
QUALITY = 85


def thumbnail_jpeg(preview: Image.Image) -> bytes:
    image = preview.convert("RGBA")
    image.thumbnail((THUMB_PX, THUMB_PX), Image.Resampling.LANCZOS)
    flat = Image.new("RGB", image.size, (255, 255, 255))
    flat.paste(image, mask=image.getchannel("A"))
    out = io.BytesIO()
    flat.save(out, "JPEG", quality=QUALITY, optimize=True)
    return out.getvalue()
