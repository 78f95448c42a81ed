"""Render one sample ad per style through the planner and the local engine, and keep each
one's contact sheet (the pictures in docs/images and the README's "What comes out").

    .venv/bin/python -m tools.sample_ads docs/images     # about 30 s on 2 cores
"""

from __future__ import annotations

import dataclasses
import io
import shutil
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

from services.renderer import engine
from services.renderer.engine.report import write_report
from shared.models import GenerationRequest
from shared.providers.local.planner import plan_storyboard

BRIEF = {
    "campaign_id": "glow-launch",
    "prompt": "Glow Serum is a vitamin C face serum for busy people tired of dull skin. "
    "Dermatologist-tested.",
    "platform": "tiktok",
    "duration_s": 15,
    "product": "Glow Serum",
    "key_messages": ["Brightens skin in 7 days", "98% saw smoother skin", "Vegan and cruelty-free"],
    "call_to_action": "Shop Glow Serum",
    "brand": {"colors": ["#ff3366", "#2b2d72", "#ffd23f"], "tone": "confident"},
}
SIZE = (540, 960)


def product_png() -> bytes:
    """A serum bottle cut-out: dropper cap, glass body, label."""
    image = Image.new("RGBA", (600, 900), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((250, 20, 350, 170), 30, fill=(40, 40, 52, 255))
    draw.rounded_rectangle((230, 150, 370, 230), 16, fill=(210, 170, 90, 255))
    draw.rounded_rectangle((140, 220, 460, 880), 90, fill=(244, 160, 60, 255))
    draw.rounded_rectangle((170, 420, 430, 700), 24, fill=(255, 250, 240, 255))
    draw.text((205, 520), "GLOW SERUM", fill=(43, 45, 114, 255))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def render(style: str, folder: Path) -> Path:
    request = GenerationRequest.model_validate({**BRIEF, "style": style})
    storyboard = plan_storyboard(f"sample-{style}", request)
    product = folder / "product.png"
    product.write_bytes(product_png())
    scenes = tuple(
        engine.SceneInput(
            index=scene.index,
            frame_path=None,
            duration_s=scene.duration_s,
            caption=scene.caption,
            beat=scene.beat,
            script=scene.script,
            claim=scene.claim,
            shows_product=scene.beat != "problem",
        )
        for scene in storyboard.scenes
    )
    spec = engine.RenderSpec(
        size=SIZE,
        scenes=scenes,
        seed=f"sample-{style}",
        colors=tuple(BRIEF["brand"]["colors"]),
        call_to_action=str(BRIEF["call_to_action"]),
        product_path=product,
        platform="tiktok",
        style=style,  # type: ignore[arg-type]
    )
    spec = dataclasses.replace(spec, words=tuple(engine.spoken_words(spec)))
    clips = [folder / f"{style}_{n}.mp4" for n in range(1, len(scenes) + 1)]
    for number, clip in enumerate(clips, 1):
        engine.render_clip(spec, number, clip)
    final = folder / f"{style}.mp4"
    engine.compose(spec, clips, final)
    sheet = folder / f"{style}.jpg"
    write_report(spec, final, folder / f"{style}.vtt", sheet, folder / f"{style}.json")
    return sheet


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/images")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        for style in ("bold", "clean", "social"):
            sheet = render(style, Path(work))
            shutil.copyfile(sheet, out / f"contact-sheet-{style}.jpg")
            print(out / f"contact-sheet-{style}.jpg")


if __name__ == "__main__":
    main()
