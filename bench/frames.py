"""Storyboard frames at full size: what the design system spends on one 1080x1920 frame.

Plans the pipeline benchmark's briefs with the local planner (`bench/pipeline.py`'s ten
products, a brand name each) and draws every scene's storyboard frame at the platform's
full size in this process (`shared.creative.frame.storyboard_frame`: plate, headline,
caption panel, end card, JPEG), then prints CPU milliseconds a frame beside the reference
measured in the same run: Pillow alone filling a frame, converting it to RGBA and back and
encoding it as the same JPEG, which every frame pays whatever is drawn on it. The first
`--warm` briefs are drawn before timing (fonts loaded, caches filled as in a running
worker). A figure, not a pass/fail test: no issue sets a target for it. The pipeline's
briefs are drawn in the look their tone picks (`bold`); `--style` draws them in another.

Example::

    .venv/bin/python bench/frames.py
    .venv/bin/python bench/frames.py --briefs 40 --platform instagram_feed --style clean
"""

from __future__ import annotations

import argparse
import io
import statistics
import time

from PIL import Image
from pipeline import brief

from services.storyboard.generation import BrandAssets, frame_size, scene_design
from shared.creative.frame import JPEG_QUALITY, storyboard_frame
from shared.creative.styles import style_of
from shared.models import GenerationRequest
from shared.providers.local.planner import plan_storyboard


def _designs(first: int, count: int, platform: str, style: str | None) -> list[tuple[object, str]]:
    designs = []
    for index in range(first, first + count):
        fields = {**brief(index), "platform": platform}
        if style:
            fields["style"] = style
        request = GenerationRequest.model_validate(fields)
        storyboard = plan_storyboard(f"bench-{index}", request)
        look = storyboard.style or style_of(request)
        for scene in storyboard.scenes:
            design = scene_design(
                f"bench-{index}", request, scene, look, BrandAssets(), frame_size(request, 1)
            )
            designs.append((design, scene.script))
    return designs


def _reference(size: tuple[int, int]) -> None:
    frame = Image.new("RGB", size, (15, 76, 129)).convert("RGBA").convert("RGB")
    frame.save(io.BytesIO(), "JPEG", quality=JPEG_QUALITY)


def _cpu_ms(work: list[object], draw: object) -> list[float]:
    spent = []
    for item in work:
        start = time.process_time()
        draw(item)  # type: ignore[operator]
        spent.append(1000 * (time.process_time() - start))
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--briefs", type=int, default=30)
    parser.add_argument("--warm", type=int, default=5)
    parser.add_argument("--platform", default="tiktok")
    parser.add_argument("--style", choices=("bold", "clean", "social"), default=None)
    args = parser.parse_args()

    for design, script in _designs(0, args.warm, args.platform, args.style):
        storyboard_frame(design, script)  # type: ignore[arg-type]
    designs = _designs(1000, args.briefs, args.platform, args.style)
    size = designs[0][0].size  # type: ignore[attr-defined]
    started = time.perf_counter()
    frames = _cpu_ms(designs, lambda item: storyboard_frame(*item))
    wall = time.perf_counter() - started
    reference = _cpu_ms([size] * len(designs), _reference)

    mean, floor = statistics.fmean(frames), statistics.fmean(reference)
    print(f"storyboard frames: {len(frames)} of {args.briefs} briefs at {size[0]}x{size[1]}")
    p50, most = statistics.median(frames), max(frames)
    print(f"  cpu a frame     {mean:.1f} ms mean, p50 {p50:.1f}, max {most:.1f}")
    print(
        f"  reference       {floor:.1f} ms: a plain frame converted and encoded"
        f" (this run: {mean / floor:.1f}x)"
    )
    print(f"  frames/s        {len(frames) / wall:.1f} on one core")


if __name__ == "__main__":
    main()
