"""Deep validation of an uploaded file: its signature says what it claims to be, then a
real decode proves it (Pillow for images, PyAV for audio and video, fontTools and
FreeType for fonts). Synchronous and pure apart from reading the file: run it in a thread.

Example::

    found = inspect(Path("upload.bin"), declared_kind="logo", declared_mime="image/png",
                    max_bytes=50 * 1024 * 1024)
    found.kind, found.format.mime_type, found.width, found.preview
"""

from __future__ import annotations

import dataclasses
import hashlib
import warnings
from pathlib import Path

from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw, ImageFont, ImageOps

from services.assets.formats import OGG, SNIFF_BYTES, Format, Refused, describe, sniff
from services.assets.inspection import PREVIEW_PX, Inspection, check_sides, reason
from services.assets.media import inspect_media
from shared.assets import AssetKind

__all__ = ["Inspection", "inspect"]

HASH_CHUNK = 1024 * 1024
REQUIRED_FONT_TABLES = ("cmap", "head", "hhea", "hmtx", "maxp", "name", "post")
PILLOW_FORMAT = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}
FONT_MIME_SUBTYPES = ("font-sfnt", "x-font-ttf", "x-font-otf", "x-font-truetype", "vnd.ms-opentype")


def inspect(
    path: Path, declared_kind: AssetKind | None, declared_mime: str | None, max_bytes: int
) -> Inspection:
    """Accept the file at `path` or raise `Refused` with the reason for the client."""
    size = path.stat().st_size
    if size > max_bytes:
        raise Refused(f"the file is {size} bytes; the limit is {max_bytes}", "payload_too_large")
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    fmt = sniff(head)
    _check_declared_mime(fmt, declared_mime)
    if fmt.family == "image":
        kind = _image_kind(fmt, declared_kind)
        width, height, preview = inspect_image(path, fmt)
        found = Inspection(kind, fmt, size, "", width, height, None, preview)
    elif fmt.family == "font":
        _require_kind(declared_kind, ("font",), f"a {fmt.name.upper()} font")
        found = Inspection("font", fmt, size, "", preview=inspect_font(path, fmt))
    else:
        found = inspect_media(path, fmt, declared_kind, size)
    return dataclasses.replace(found, sha256=file_sha256(path))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- declared types


def _claimed_family(mime: str | None) -> str | None:
    """The family a Content-Type claims; None for no claim (absent, octet-stream, other)."""
    main, _, sub = (mime or "").split(";")[0].strip().lower().partition("/")
    if main in ("image", "audio", "video", "font"):
        return main
    if main == "application" and sub in FONT_MIME_SUBTYPES:
        return "font"
    if main == "application" and sub in ("ogg", "mp4"):
        return "av"
    return None


def _check_declared_mime(fmt: Format, mime: str | None) -> None:
    claimed = _claimed_family(mime)
    if claimed is None:
        return
    # MP4, WebM and Ogg carry audio, video or both: audio/* and video/* both describe them.
    fits = {
        "image": fmt.family == "image",
        "font": fmt.family == "font",
        "audio": fmt.family in ("audio", "av"),
        "video": fmt.family == "av" or fmt is OGG,
        "av": fmt.family in ("audio", "av"),
    }[claimed]
    if not fits:
        raise Refused(
            f"the file was sent as {mime} but its content is {describe(fmt)}; "
            "send it with its real type (or as application/octet-stream)"
        )


def _require_kind(declared: AssetKind | None, allowed: tuple[str, ...], what: str) -> None:
    if declared is not None and declared not in allowed:
        raise Refused(f"kind '{declared}' was declared but the file is {what}")


def _image_kind(fmt: Format, declared: AssetKind | None) -> AssetKind:
    _require_kind(declared, ("image", "logo"), f"a {fmt.name.upper()} image")
    return declared or "image"


# --------------------------------------------------------------------------- images


def inspect_image(path: Path, fmt: Format) -> tuple[int, int, Image.Image | None]:
    """Width, height and a preview of a JPEG/PNG/WebP that decodes completely."""
    only = [PILLOW_FORMAT[fmt.name]]
    with warnings.catch_warnings():
        # Pillow only warns between its limit and twice it; past the limit is refused here.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path, formats=only) as image:
                width, height = image.size
                check_sides(width, height, "image")
                image.verify()
            with Image.open(path, formats=only) as image:
                image.load()
                return width, height, _image_preview(image)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise Refused(f"the image is refused as a decompression bomb: {exc}") from None
        except Refused:
            raise
        # Corrupt files surface from deep inside Pillow as many exception types.
        except Exception as exc:
            raise Refused(
                f"the file is not a readable {fmt.name.upper()} image: {reason(exc)}"
            ) from None


def _image_preview(image: Image.Image) -> Image.Image | None:
    try:
        upright = ImageOps.exif_transpose(image)
        preview = upright.convert("RGBA")
    except (OSError, ValueError):
        return None  # an exotic mode (16-bit grey) is still a valid upload, just no preview
    preview.thumbnail((PREVIEW_PX, PREVIEW_PX))
    return preview


# --------------------------------------------------------------------------- fonts


def inspect_font(path: Path, fmt: Format) -> Image.Image:
    """A sample of a TTF/OTF that fontTools parses completely and FreeType can draw."""
    try:
        with TTFont(path, lazy=False) as font:
            tables = set(font.keys())
            missing = [tag for tag in REQUIRED_FONT_TABLES if tag not in tables]
            if not ({"glyf", "loca"} <= tables or "CFF " in tables or "CFF2" in tables):
                missing.append("glyf/CFF")
            if missing:
                raise Refused(f"the font lacks required tables: {', '.join(missing)}")
            font.ensureDecompiled()
            cmap = font.getBestCmap() or {}
        if not any(ord(ch) in cmap for ch in "AaEe0"):
            raise Refused("the font has no glyphs for basic Latin letters; captions need them")
        face = ImageFont.truetype(str(path), 48)
        face.getbbox("Aa")
        return _font_sample(face)
    except Refused:
        raise
    # fontTools reports a malformed table as whatever its parser tripped on.
    except Exception as exc:
        raise Refused(
            f"the file is not a readable {fmt.name.upper()} font: {reason(exc)}"
        ) from None


def _font_sample(face: ImageFont.FreeTypeFont) -> Image.Image:
    sample = Image.new("RGBA", (PREVIEW_PX, PREVIEW_PX // 2), (255, 255, 255, 255))
    draw = ImageDraw.Draw(sample)
    draw.text((PREVIEW_PX // 2, PREVIEW_PX // 4), "Aa Bb 123", font=face, fill="black", anchor="mm")
    return sample
