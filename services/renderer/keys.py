"""Storage keys this service writes (the layout of docs/architecture.md)."""

from __future__ import annotations


def variation_prefix(job_id: str, variation: int) -> str:
    return f"videos/{job_id}" if variation == 1 else f"videos/{job_id}/v{variation}"


def clip_key(job_id: str, variation: int, scene: int) -> str:
    return f"{variation_prefix(job_id, variation)}/clips/scene_{scene}.mp4"


def final_key(job_id: str, variation: int) -> str:
    return f"{variation_prefix(job_id, variation)}/final.mp4"


def poster_key(job_id: str, variation: int) -> str:
    return f"{variation_prefix(job_id, variation)}/poster.jpg"


def export_key(job_id: str, aspect: str, variation: int, export_id: str) -> str:
    return f"videos/{job_id}/exports/{aspect.replace(':', 'x')}_v{variation}_{export_id}.mp4"


def manifest_key(job_id: str) -> str:
    """The finished render of a request, so a redelivery re-announces it."""
    return f"videos/{job_id}/render.json"


def source_clip_key(job_id: str, variation: int, scene: int) -> str:
    """A scene's footage from the clip model, before the engine adds captions and logo
    (kept: a redelivered render reuses it instead of paying for it again)."""
    return f"{variation_prefix(job_id, variation)}/clips/source/scene_{scene}.mp4"


def voice_key(job_id: str) -> str:
    """The voice-over of the script (the extension is the model's format)."""
    return f"videos/{job_id}/voice.mp3"


def captions_key(job_id: str, variation: int) -> str:
    """WebVTT captions of a variation; the SRT copy sits beside it (`captions.srt`)."""
    return f"{variation_prefix(job_id, variation)}/captions.vtt"


def contact_sheet_key(job_id: str, variation: int) -> str:
    return f"{variation_prefix(job_id, variation)}/contact_sheet.jpg"


def layout_key(job_id: str, variation: int) -> str:
    """Where the engine put every text box, the logo and the product, scene by scene: read
    back by quality checks against the rendered pixels."""
    return f"{variation_prefix(job_id, variation)}/layout.json"


def placed_voice_key(job_id: str, variation: int) -> str:
    """The voice-over cut and placed on a variation's scene cuts (what the video plays)."""
    return f"{variation_prefix(job_id, variation)}/voice_placed.wav"


def render_qc_key(job_id: str, variation: int, n: int) -> str:
    """The n-th thumbnail of a variation's QC findings (a small JPEG of the frame)."""
    return f"videos/{job_id}/qc/v{variation}_{n}.jpg"


def export_qc_key(job_id: str, aspect: str, variation: int, export_id: str, n: int) -> str:
    """The n-th thumbnail of an export's QC findings (named after the export's file)."""
    return f"videos/{job_id}/qc/{aspect.replace(':', 'x')}_v{variation}_{export_id}_{n}.jpg"
