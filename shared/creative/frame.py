"""A storyboard frame: the scene's plate with its layers as they settle in the video
(headline revealed, the first page of the spoken words, the end card's logo and button,
the small print and the "AI-generated" label).
Review chrome (the scene number) is the console's to draw, never baked in.

Example::

    jpeg = storyboard_frame(design, script="Brightens skin in 7 days.", product=png_bytes)
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from shared.creative.layers import (
    Layer,
    button_layer,
    caption_page,
    colours_for,
    fine_print_layers,
    headline_layers,
    logo_layer,
)
from shared.creative.layout import CAPTION_MAX_WORDS, SceneDesign, SceneLayout, scene_layout
from shared.creative.plate import decode_product, draw_plate

JPEG_QUALITY = 88


@dataclass(frozen=True)
class SceneLayers:
    """Everything drawn over the plate, in paint order."""

    layout: SceneLayout
    surfaces: list[Layer]
    words: list[Layer]
    end_card: list[Layer]  # logo, button
    fine_print: list[Layer]  # legal lines, the AI label (the video shows them steady)


def scene_layers(design: SceneDesign, logo_path: Path | None = None) -> SceneLayers:
    layout = scene_layout(design)
    colours = colours_for(design.style, design.palette)
    surfaces, words = headline_layers(design, layout, colours)
    end_card: list[Layer] = []
    if design.end_card:
        if logo_path is not None and (logo := logo_layer(logo_path, layout, colours)):
            end_card.append(logo)
        if button := button_layer(design, layout, colours):
            end_card.append(button)
    fine_print = fine_print_layers(layout, colours)
    return SceneLayers(layout, surfaces, [w.layer for w in words], end_card, fine_print)


def compose_frame(
    design: SceneDesign,
    script: str,
    product: Image.Image | None = None,
    picture: Image.Image | None = None,
    logo_path: Path | None = None,
) -> Image.Image:
    layers = scene_layers(design, logo_path)
    frame = draw_plate(design, layers.layout, product, 1.0, picture).convert("RGBA")
    for layer in [*layers.surfaces, *layers.words, *layers.end_card]:
        frame.alpha_composite(layer.image, (layer.x, layer.y))
    words = script.split()[:CAPTION_MAX_WORDS]
    if words:
        colours = colours_for(design.style, design.palette)
        # A still frame shows no word highlighted: only the video draws the highlights.
        page = caption_page(words, layers.layout, colours, design.brand_font, highlights=False)
        frame.alpha_composite(page.base.image, (page.base.x, page.base.y))
    for layer in layers.fine_print:
        frame.alpha_composite(layer.image, (layer.x, layer.y))
    return frame.convert("RGB")


def storyboard_frame(
    design: SceneDesign,
    script: str,
    product: bytes | None = None,
    picture: bytes | None = None,
    logo_path: Path | None = None,
) -> bytes:
    """The frame as JPEG bytes of exactly `design.size`."""
    product_image = decode_product(product) if product is not None else None
    picture_image = Image.open(io.BytesIO(picture)).convert("RGB") if picture else None
    frame = compose_frame(design, script, product_image, picture_image, logo_path)
    out = io.BytesIO()
    frame.save(out, "JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


def plate_jpeg(design: SceneDesign, product: bytes | None, picture: bytes) -> bytes:
    """A model's picture with the product composited: the scene's clip start image."""
    layout = scene_layout(design)
    product_image = decode_product(product) if product is not None else None
    plate = draw_plate(design, layout, product_image, 1.0, Image.open(io.BytesIO(picture)))
    out = io.BytesIO()
    plate.save(out, "JPEG", quality=JPEG_QUALITY)
    return out.getvalue()
