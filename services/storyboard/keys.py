"""Storage keys this service writes (the layout of docs/architecture.md)."""

from __future__ import annotations


def frame_key(job_id: str, index: int) -> str:
    return f"storyboards/{job_id}/scene_{index}.jpg"


def plate_key(job_id: str, index: int) -> str:
    """A scene's picture without text (a model's picture with the product composited):
    the start image of its clip."""
    return f"storyboards/{job_id}/plates/scene_{index}.jpg"


def manifest_key(job_id: str) -> str:
    """The finished storyboard of a request, so a redelivery re-announces it instead of
    generating (and, with a paid backend, paying for) a second one."""
    return f"storyboards/{job_id}/storyboard.json"
