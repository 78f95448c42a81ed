"""The plate's background is drawn where it shows: the gradient one column at a time, each
disc inside its own box. Both must give the pixels of drawing the whole frame (what the
design system did before, kept here as the reference)."""

from __future__ import annotations

import random

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from shared.creative.plate import _disc, _gradient, _ramp

SIZES = [(1080, 1920), (1080, 1080), (1920, 1080), (54, 96), (16, 16), (17, 33), (7, 5), (1, 1)]


def _whole_frame_gradient(
    size: tuple[int, int], top: tuple[int, int, int], bottom: tuple[int, int, int]
) -> Image.Image:
    ramp = _ramp(max(1, size[0] // 8), max(1, size[1] // 8))
    small = Image.composite(
        Image.new("RGB", ramp.size, bottom), Image.new("RGB", ramp.size, top), ramp
    )
    return small.resize(size, Image.Resampling.BICUBIC)


def _whole_frame_disc(
    image: Image.Image,
    centre: tuple[float, float],
    radius: float,
    colour: tuple[int, int, int],
    alpha: float,
    blur: float,
) -> None:
    mask = Image.new("L", image.size, 0)
    cx, cy = centre
    ImageDraw.Draw(mask).ellipse(
        (cx - radius, cy - radius, cx + radius, cy + radius), fill=round(255 * alpha)
    )
    if blur:
        mask = mask.filter(ImageFilter.GaussianBlur(blur))
    image.paste(colour, (0, 0), mask)


def _same(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and ImageChops.difference(a, b).getbbox() is None


def test_the_gradient_is_the_whole_frames_interpolation() -> None:
    rng = random.Random(3)
    sizes = SIZES + [(rng.randint(1, 900), rng.randint(1, 900)) for _ in range(40)]
    for size in sizes:
        top = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        bottom = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        assert _same(_gradient(size, top, bottom), _whole_frame_gradient(size, top, bottom)), size


def test_a_disc_paints_the_pixels_a_whole_frame_mask_paints() -> None:
    # Sharp and blurred discs, inside the frame, across its edges and beyond them.
    rng = random.Random(5)
    for _ in range(120):
        width, height = (
            rng.choice(SIZES[:4])
            if rng.random() < 0.3
            else (rng.randint(8, 500), rng.randint(8, 500))
        )
        short = min(width, height)
        centre = (width * rng.uniform(-0.2, 1.2), height * rng.uniform(-0.2, 1.2))
        radius = short * rng.uniform(0.05, 0.7)
        blur = 0.0 if rng.random() < 0.4 else short * rng.uniform(0.01, 0.25)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        alpha = rng.uniform(0.1, 1.0)
        base = Image.new("RGB", (width, height), (rng.randrange(256),) * 3)
        drawn, reference = base.copy(), base.copy()
        _disc(drawn, centre, radius, colour, alpha, blur)
        _whole_frame_disc(reference, centre, radius, colour, alpha, blur)
        assert _same(drawn, reference), (width, height, centre, radius, blur)


def test_a_discs_mask_is_its_box_not_the_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    # The cost this saves: a 1080x1920 plate painted three frame-sized masks.
    masks: list[tuple[int, int]] = []
    new = Image.new

    def recording(mode: str, size: tuple[int, int], *args: object, **kwargs: object) -> Image.Image:
        if mode == "L":
            masks.append(size)
        return new(mode, size, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Image, "new", recording)
    frame = new("RGB", (1080, 1920), (0, 0, 0))
    _disc(frame, (972.0, 345.6), 410.4, (255, 200, 0), 0.55)
    _disc(frame, (540.0, 1190.4), 453.6, (255, 255, 255), 1.0, 129.6)
    assert len(masks) == 2
    assert masks[0][0] * masks[0][1] < 0.2 * 1080 * 1920
    assert all(width < 1080 or height < 1920 for width, height in masks)
    # What a disc does not reach stays as it was.
    assert frame.getpixel((0, 1919)) == (0, 0, 0)
