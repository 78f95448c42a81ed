"""What a file is, by its first bytes: the accepted formats, and the common ones that are
refused with a message naming them (a GIF is "GIF is not accepted", not "unknown")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Family = Literal["image", "font", "audio", "av"]
RefusalCode = Literal["unsupported_media_type", "payload_too_large"]
SNIFF_BYTES = 512


@dataclass(frozen=True)
class Format:
    name: str
    family: Family  # "av": a container that may hold video, audio or both
    ext: str
    mime_type: str


JPEG = Format("jpeg", "image", "jpg", "image/jpeg")
PNG = Format("png", "image", "png", "image/png")
WEBP = Format("webp", "image", "webp", "image/webp")
TTF = Format("ttf", "font", "ttf", "font/ttf")
OTF = Format("otf", "font", "otf", "font/otf")
MP3 = Format("mp3", "audio", "mp3", "audio/mpeg")
AAC = Format("aac", "audio", "aac", "audio/aac")
WAV = Format("wav", "audio", "wav", "audio/wav")
OGG = Format("ogg", "audio", "ogg", "audio/ogg")
MP4 = Format("mp4", "av", "mp4", "video/mp4")
MOV = Format("mov", "av", "mov", "video/quicktime")
WEBM = Format("webm", "av", "webm", "video/webm")

# An MP4 whose only streams are audio is stored as what it is: AAC in an M4A.
M4A = Format("m4a", "audio", "m4a", "audio/mp4")

ACCEPTED = "JPEG, PNG, WebP images; MP4, MOV, WebM video; MP3, AAC, WAV, Ogg audio; TTF, OTF fonts"

_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis")
_REFUSED_PREFIXES: tuple[tuple[bytes, str], ...] = (
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"%PDF", "PDF"),
    (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"wOFF", "WOFF (upload the TTF or OTF font)"),
    (b"wOF2", "WOFF2 (upload the TTF or OTF font)"),
    (b"ttcf", "a TrueType collection (upload a single TTF or OTF font)"),
    (b"fLaC", "FLAC"),
    (b"\x00\x00\x01\x00", "an icon (ICO)"),
    (b"8BPS", "a Photoshop document"),
    (b"\x7fELF", "an executable"),
    (b"MZ", "an executable"),
)


class Refused(Exception):
    """The upload is not something we accept; `message` says why, for the client."""

    def __init__(self, message: str, code: RefusalCode = "unsupported_media_type") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def sniff(head: bytes) -> Format:
    """The accepted format whose signature `head` starts with, else `Refused`."""
    if not head:
        raise Refused("the file is empty")
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return WAV
    if head[:4] in (b"\x00\x01\x00\x00", b"true"):
        return TTF
    if head[:4] == b"OTTO":
        return OTF
    if head.startswith(b"OggS"):
        return OGG
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        if b"webm" in head[:64]:
            return WEBM
        raise Refused(f"Matroska (MKV) is not accepted; accepted: {ACCEPTED}")
    if head[4:8] == b"ftyp":
        return _iso(head)
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip"):
        return MOV  # QuickTime files from before `ftyp` existed start with an atom
    if head.startswith(b"ID3"):
        return MP3  # an ID3 tag can also front raw AAC: the demuxer's probe decides
    if head[0] == 0xFF and len(head) > 1 and head[1] & 0xE0 == 0xE0:
        # Both are 11-bit frame syncs; ADTS says layer 0, MPEG audio never does.
        return AAC if head[1] & 0x06 == 0 else MP3
    raise Refused(_unknown(head))


def _iso(head: bytes) -> Format:
    brand = head[8:12]
    if brand in _HEIF_BRANDS:
        raise Refused(f"HEIC/AVIF images are not accepted; accepted: {ACCEPTED}")
    return MOV if brand == b"qt  " else MP4


def _unknown(head: bytes) -> str:
    for prefix, name in _REFUSED_PREFIXES:
        if head.startswith(prefix):
            return f"{name} is not accepted; accepted: {ACCEPTED}"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return f"AVI is not accepted; accepted: {ACCEPTED}"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<svg", b"<!doctype svg")) or (
        text.startswith(b"<?xml") and b"<svg" in text
    ):
        return (
            "SVG is not accepted: SVG can carry scripts and external references and this "
            "service does not sanitise it; upload the logo as PNG or WebP instead"
        )
    if text.startswith((b"<!doctype html", b"<html")):
        return f"HTML is not accepted; accepted: {ACCEPTED}"
    return f"the file is not a recognised media file; accepted: {ACCEPTED}"


def describe(fmt: Format) -> str:
    family = {"image": "image", "font": "font", "audio": "audio", "av": "video"}[fmt.family]
    return f"a {fmt.name.upper()} {family}"
