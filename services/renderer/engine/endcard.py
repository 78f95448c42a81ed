"""The end card: brand-coloured background, the logo large, the scene's line as a headline
and the call to action on a big button. Drawn larger than the frame (x1.25) so the gentle
zoom over it samples down, keeping text and logo edges crisp."""

from __future__ import annotations

import math
import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from services.renderer.engine.captions import brand_colours
from services.renderer.engine.logo import fit_logo, has_transparency, ink_luminance, load_logo
from services.renderer.engine.text import FontLoader, fit_text, line_pitch, text_width
from shared.providers.local.frames import blend_ellipse
from shared.providers.local.palette import (
    BLACK,
    RGB,
    WHITE,
    contrast_ratio,
    mix,
    readable_text_color,
    relative_luminance,
)

SUPERSAMPLE = 1.25


def end_card_size(frame_size: tuple[int, int]) -> tuple[int, int]:
    w, h = (round(v * SUPERSAMPLE / 2) * 2 for v in frame_size)
    return w, h


def draw_end_card(
    frame_size: tuple[int, int],
    palette: tuple[RGB, ...],
    headline: str,
    call_to_action: str,
    logo_path: Path | None,
    load: FontLoader,
    chooser: random.Random,
) -> Image.Image:
    width, height = end_card_size(frame_size)
    unit = min(width, height) / 100
    colours = brand_colours(palette)
    base = colours.primary
    # Avoid a button in the background's own colour: take the accent unless it is too close.
    button = colours.accent
    if contrast_ratio(button, base) < 1.6 and math.dist(button, base) < 120:
        button = max(palette, key=lambda c: math.dist(c, base))
        if math.dist(button, base) < 120:
            button = readable_text_color(base)
    image = _background(width, height, base, button, chooser)

    logo = load_logo(logo_path) if logo_path is not None else None
    centre_x = width / 2
    if logo is not None:
        fitted = fit_logo(logo, (round(width * 0.56), round(height * 0.2)))
        x = round(centre_x - fitted.width / 2)
        y = round(height * 0.3 - fitted.height / 2)
        under = mix(base, BLACK, 0.1)
        if not has_transparency(fitted) or _low_contrast(fitted, under):
            _plate(image, (x, y, x + fitted.width, y + fitted.height), fitted, unit)
        image.alpha_composite(fitted, (x, y))
        headline_y = 0.5
    else:
        headline_y = 0.4

    if headline.strip() and headline.strip().lower() != call_to_action.strip().lower():
        box = (round(width * 0.8), round(height * (0.14 if logo is not None else 0.22)))
        wide = width > height * 1.2
        font, lines = fit_text(
            headline, box, round(unit * (6 if wide else 7.5)), round(unit * 4), load
        )
        ink = readable_text_color(mix(base, BLACK, 0.1))
        _draw_lines(image, font, lines, centre_x, height * headline_y, ink)

    _button(image, call_to_action, button, (centre_x, height * 0.69), unit, load)
    return image.convert("RGB")


def _background(
    width: int, height: int, base: RGB, accent: RGB, chooser: random.Random
) -> Image.Image:
    # Gradient and glow on a small canvas, blurred and scaled up (smooth, no banding);
    # then a few crisp accent shapes in the storyboard's style, placed per variation.
    small_w, small_h = max(8, width // 8), max(8, height // 8)
    light = relative_luminance(base) > 0.45
    shade = mix(base, BLACK, 0.35) if light else mix(base, BLACK, 0.45)
    glow = mix(base, WHITE, 0.28)
    gradient = Image.linear_gradient("L").resize((small_w, small_h))
    canvas = Image.composite(
        Image.new("RGB", (small_w, small_h), shade),
        Image.new("RGB", (small_w, small_h), base),
        gradient,
    )
    short = min(small_w, small_h)
    halo = Image.new("L", (small_w, small_h), 0)
    cx, cy, r = small_w * chooser.uniform(0.35, 0.65), small_h * 0.32, short * 0.75
    ImageDraw.Draw(halo).ellipse((cx - r, cy - r, cx + r, cy + r), fill=150)
    halo = halo.filter(ImageFilter.GaussianBlur(short / 5))
    canvas.paste(glow, (0, 0), halo)
    image = canvas.resize((width, height), Image.Resampling.BICUBIC).convert("RGBA")
    mirror = chooser.random() < 0.5
    unit = min(width, height) / 100
    shapes = (
        (0.92, 0.1, 0.3 * 100, "ring", accent, 0.6),
        (0.06, 0.92, 0.36 * 100, "disc", accent, 0.85),
        (0.86, 0.86, 0.05 * 100, "disc", WHITE, 0.8),
        (0.14, 0.18, 0.025 * 100, "disc", WHITE, 0.85),
    )
    for fx, fy, radius, kind, colour, alpha in shapes:
        fx = 1 - fx if mirror else fx
        x, y = fx * width, (fy + chooser.uniform(-0.03, 0.03)) * height
        r = radius * unit * chooser.uniform(0.9, 1.1)
        ring = max(2, round(unit * 1.2)) if kind == "ring" else 0
        blend_ellipse(image, (x - r, y - r, x + r, y + r), colour, alpha, ring)
    return image


def _low_contrast(logo: Image.Image, under: RGB) -> bool:
    lum = ink_luminance(logo)
    return (max(lum, relative_luminance(under)) + 0.05) / (
        min(lum, relative_luminance(under)) + 0.05
    ) < 2.0


def _plate(
    image: Image.Image, box: tuple[int, int, int, int], logo: Image.Image, unit: float
) -> None:
    pad = round(unit * 3)
    colour = (24, 24, 28) if ink_luminance(logo) > 0.45 else (255, 255, 255)
    x0, y0, x1, y1 = box
    ImageDraw.Draw(image, "RGBA").rounded_rectangle(
        (x0 - pad, y0 - pad, x1 + pad, y1 + pad), radius=round(unit * 3), fill=(*colour, 235)
    )


def _draw_lines(
    image: Image.Image,
    font: ImageFont.FreeTypeFont,
    lines: list[str],
    centre_x: float,
    centre_y: float,
    ink: RGB,
) -> None:
    pitch = line_pitch(font)
    ascent, descent = font.getmetrics()
    block = (len(lines) - 1) * pitch + ascent + descent
    top = centre_y - block / 2
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        x = round(centre_x - text_width(font, line) / 2)
        draw.text((x, round(top + i * pitch)), line, font=font, fill=ink)


def _button(
    image: Image.Image,
    label: str,
    colour: RGB,
    centre: tuple[float, float],
    unit: float,
    load: FontLoader,
) -> None:
    width, height = image.size
    wide = width > height * 1.2  # landscape: less height to share, keep the button modest
    pad_x, pad_y = round(unit * (5 if wide else 7)), round(unit * (2.8 if wide else 3.6))
    font_max = round(unit * (6.5 if wide else 8.5))
    arrow = round(font_max * 0.42)
    gap = round(font_max * 0.4)
    box = (round(width * (0.6 if wide else 0.84)) - 2 * pad_x - arrow - gap, round(height * 0.14))
    font, lines = fit_text(label or "Shop now", box, font_max, round(unit * 4.5), load)
    if not lines:
        return
    ascent, descent = font.getmetrics()
    text_w = max(text_width(font, line) for line in lines)
    block_h = (len(lines) - 1) * line_pitch(font) + ascent + descent
    button_w = text_w + gap + arrow + 2 * pad_x
    button_h = block_h + 2 * pad_y
    x0 = round(centre[0] - button_w / 2)
    y0 = round(centre[1] - button_h / 2)
    radius = button_h // 2 if len(lines) == 1 else round(unit * 5)
    # Soft drop shadow (drawn on a patch around the button only), then a halo, the button.
    offset, blur = round(unit * 1.2), unit * 1.6
    margin = round(blur * 3) + offset
    patch_box = (x0 - margin, y0 - margin, x0 + button_w + margin, y0 + button_h + margin)
    shadow = Image.new("L", (patch_box[2] - patch_box[0], patch_box[3] - patch_box[1]), 0)
    ImageDraw.Draw(shadow).rounded_rectangle(
        (margin, margin + offset, margin + button_w, margin + button_h + offset),
        radius=radius,
        fill=110,
    )
    shadow = shadow.filter(ImageFilter.GaussianBlur(blur))
    image.paste((0, 0, 0, 255), patch_box, shadow)
    halo = round(unit * 1.3)
    draw = ImageDraw.Draw(image, "RGBA")
    draw.rounded_rectangle(
        (x0 - halo, y0 - halo, x0 + button_w + halo, y0 + button_h + halo),
        radius=radius + halo,
        fill=(*mix(colour, WHITE, 0.5), 120),
    )
    draw.rounded_rectangle((x0, y0, x0 + button_w, y0 + button_h), radius=radius, fill=colour)
    ink = readable_text_color(colour)
    pitch = line_pitch(font)
    for i, line in enumerate(lines):
        x = x0 + pad_x + (text_w - text_width(font, line)) / 2
        draw.text((round(x), y0 + pad_y + i * pitch), line, font=font, fill=ink)
    ax = x0 + pad_x + text_w + gap
    cy = y0 + button_h / 2
    half = arrow * 0.6
    draw.polygon([(ax, cy - half), (ax + arrow, cy), (ax, cy + half)], fill=ink)
