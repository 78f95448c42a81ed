"""The three looks of the design system. A style decides how every layer is drawn; the
layout (`layout.py`) decides where.

- `bold`: kinetic type on colour fields: a brand-colour field with big shapes, an
  upper-case condensed headline set on dark strips, emphasised words on accent blocks,
  revealed word by word; captions on a dark pill.
- `clean`: product-first minimal: a light field with a soft halo behind a large product,
  a dark headline revealed line by line, captions on a white card.
- `social`: captions-forward native look: a full-bleed blurred picture, the headline in
  white rounded boxes like the apps' own text tool, big captions with the spoken word
  highlighted.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.models import STYLES, GenerationRequest, Style

_CALM = (
    "calm",
    "clean",
    "elegant",
    "luxur",
    "minimal",
    "premium",
    "professional",
    "serene",
    "serious",
    "sophisticated",
    "trust",
)
_SOCIAL = (
    "authentic",
    "casual",
    "friendly",
    "fun",
    "playful",
    "quirky",
    "social",
    "ugc",
    "witty",
    "young",
)


@dataclass(frozen=True)
class StyleSpec:
    name: Style
    upper: bool  # headline in capitals
    condensed: bool  # headline in the condensed face (more words per line at a size)
    headline_boxes: str  # "strips" | "plain" | "bubbles"
    reveal: str  # "words" | "lines"
    caption_panel: str  # "dark" | "light"
    background: str  # "field" | "light" | "blurred"
    headline_scale: float  # headline size relative to the platform minimum
    product_share: float  # share of the free height the product may take


STYLE_SPECS: dict[Style, StyleSpec] = {
    "bold": StyleSpec("bold", True, True, "strips", "words", "dark", "field", 1.25, 0.9),
    "clean": StyleSpec("clean", False, False, "plain", "lines", "light", "light", 1.0, 1.0),
    "social": StyleSpec("social", False, False, "bubbles", "words", "dark", "blurred", 1.05, 0.85),
}


def style_spec(style: Style) -> StyleSpec:
    return STYLE_SPECS[style]


def style_from_tone(tone: str | None) -> Style:
    """The style a brand's tone suggests when the brief names none."""
    text = (tone or "").lower()
    if any(word in text for word in _CALM):
        return "clean"
    if any(word in text for word in _SOCIAL):
        return "social"
    return "bold"


def style_of(request: GenerationRequest) -> Style:
    return request.style or style_from_tone(request.brand.tone)


def other_styles(first: Style) -> list[Style]:
    """Every style, starting after `first` (variations rotate through them)."""
    start = STYLES.index(first)
    return [STYLES[(start + step) % len(STYLES)] for step in range(1, len(STYLES))]
