"""Type for frames and video: faces, sizes by cap height, line groups, fitting, emphasis.

Sizes are set by cap height (the height of a capital letter), the measure that decides
whether a line reads on a phone: every headline's cap height is at least 3.5% of the
frame height on 9:16 (`MIN_CAP_SHARE`), 3% on square and wide frames.

Example::

    fitted = fit_headline("Brightens skin in 7 days", 870, 92, 140, "condensed", None)
    fitted.lines                 # (("Brightens", "skin"), ("in", "7", "days"))
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from PIL import ImageFont

Font = ImageFont.FreeTypeFont

FACE_FILES = {
    "bold": Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    "condensed": Path("/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf"),
}
MAX_WORDS_PER_LINE = 7
MAX_LINES = 3  # a headline longer than this overflows its box at the minimum size
MIN_CAP_SHARE = {"portrait": 0.035, "other": 0.03}

_NUMBER = re.compile(r"^[#$€£+\-~]?\d[\d.,:/]*(%|x|\+|k|m)?$", re.IGNORECASE)
_UNITS = frozenset(
    [
        "%",
        "percent",
        "x",
        "times",
        "second",
        "seconds",
        "sec",
        "minute",
        "minutes",
        "min",
        "hour",
        "hours",
        "hr",
        "hrs",
        "day",
        "days",
        "week",
        "weeks",
        "month",
        "months",
        "year",
        "years",
        "night",
        "nights",
        "spf",
        "mg",
        "ml",
        "g",
        "kg",
    ]
)
# Words that carry a claim's promise: shown in the accent colour like numbers.
POWER_WORDS = frozenset(
    [
        "free",
        "zero",
        "no",
        "never",
        "only",
        "new",
        "first",
        "vegan",
        "organic",
        "natural",
        "certified",
        "clinically",
        "dermatologist",
        "proven",
        "guaranteed",
        "instantly",
        "instant",
        "faster",
        "fastest",
        "all-day",
        "non-toxic",
        "cruelty-free",
        "sugar-free",
        "fragrance-free",
        "plastic-free",
        "off",
        "save",
    ]
)

_fonts = threading.local()
# Widths measured so far (`text_width`): plain dict operations, safe across the drawing
# threads under the GIL; about 200 bytes an entry.
_widths: dict[tuple[object, ...], int] = {}
WIDTHS_KEPT = 20_000


Rendered = tuple[Any, tuple[int, int]]  # Pillow's mask (an ImagingCore) and its offset


class RenderedTexts:
    """Texts rendered so far, keyed by face, size and how they were set; shared by the
    drawing threads like `_widths` (a mask is read-only once made). Bounded by the masks'
    bytes: when full it starts again, and the recurring texts come back within a frame."""

    def __init__(self, bytes_kept: int) -> None:
        self.bytes_kept = bytes_kept
        self.masks: dict[tuple[object, ...], Rendered] = {}
        self.bytes = 0

    def get(self, key: tuple[object, ...]) -> Rendered | None:
        return self.masks.get(key)

    def put(self, key: tuple[object, ...], rendered: Rendered) -> None:
        width, height = rendered[0].size
        if self.bytes + width * height > self.bytes_kept:
            self.masks.clear()
            self.bytes = 0
        self.masks[key] = rendered
        self.bytes += width * height


MASK_BYTES_KEPT = 32 << 20
_rendered = RenderedTexts(MASK_BYTES_KEPT)


class RememberedFont(ImageFont.FreeTypeFont):
    """A face that renders each text once per process. Rendering (FreeType loading and
    hinting every glyph, then rasterising it) is the costliest step of drawing a small
    frame and holds the GIL throughout; the same texts recur in every frame and job (the
    call to action, "Ready?", the small print, the label, a brand's name and product
    words), and a video draws each caption word twice (on the panel, then highlighted).
    The mask does not depend on the ink in the modes we draw in; colour glyphs ("RGBA"),
    whose masks ImageDraw changes in place, are rendered anew each time."""

    def getmask2(
        self,
        text: str | bytes,
        mode: str = "",
        direction: str | None = None,
        features: list[str] | None = None,
        language: str | None = None,
        stroke_width: float = 0,
        anchor: str | None = None,
        ink: int = 0,
        start: tuple[float, float] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> Rendered:
        if mode == "RGBA" or args:
            return super().getmask2(
                text, mode, direction, features, language, stroke_width, anchor, ink, start,
                *args, **kwargs,
            )  # fmt: skip
        key = (
            self.path, self.index, self.size, self.layout_engine, text, mode, direction,
            tuple(features or ()), language, stroke_width, anchor, start,
            tuple(sorted(kwargs.items())),
        )  # fmt: skip
        rendered = _rendered.get(key)
        if rendered is None:
            rendered = super().getmask2(
                text, mode, direction, features, language, stroke_width, anchor, ink, start,
                **kwargs,
            )  # fmt: skip
            _rendered.put(key, rendered)
        return rendered


def _load(face: str, brand: str | None, size: int) -> Font:
    if brand:
        try:
            return RememberedFont(brand, size)
        except OSError:
            pass  # an unreadable brand font falls back to ours: a render never fails on it
    path = FACE_FILES.get(face, FACE_FILES["bold"])
    if path.is_file():
        return RememberedFont(str(path), size)
    font = ImageFont.load_default(size=size)
    if not isinstance(font, ImageFont.FreeTypeFont):
        raise RuntimeError("Pillow was built without FreeType; scalable fonts are required")
    return font


def load_font(size: int, face: str = "bold", brand: str | None = None) -> Font:
    """The face at a pixel size: the brand font file when given, else ours. One cache per
    thread: a FreeType face must not be used by two threads drawing at once."""
    cache: dict[tuple[str, str | None, int], Font] | None = getattr(_fonts, "cache", None)
    if cache is None:
        cache = _fonts.cache = {}
    key = (face, brand, max(1, size))
    font = cache.get(key)
    if font is None:
        font = cache[key] = _load(face, brand, key[2])
    return font


@lru_cache(maxsize=256)
def _cap_ratio(face: str, brand: str | None) -> float:
    font = load_font(200, face, brand)
    top, bottom = font.getbbox("H")[1], font.getbbox("H")[3]
    return max(0.3, (bottom - top) / 200)


def cap_height(font_px: int, face: str = "bold", brand: str | None = None) -> float:
    return font_px * _cap_ratio(face, brand)


def size_for_cap(cap_px: float, face: str = "bold", brand: str | None = None) -> int:
    """The smallest pixel size whose capitals are at least `cap_px` tall."""
    return max(1, int(-(-cap_px // _cap_ratio(face, brand))) + 1)


def min_headline_cap(size: tuple[int, int]) -> float:
    width, height = size
    share = MIN_CAP_SHARE["portrait" if height > width else "other"]
    return height * share


def text_width(font: Font, text: str) -> int:
    """The ink width of `text` set in `font`. Remembered per process (a text layout in
    FreeType and HarfBuzz is the costliest step of drawing a frame): fitting a headline
    measures the same lines at each size it tries, and across scenes and jobs the call to
    action, the small print, the label and the caption sizes recur. Fonts are fixed files
    (ours, or an upload, which never changes under its key; `load_font` assumes the same)."""
    if not text:
        return 0
    key = (font.path, font.index, font.size, font.layout_engine, text)
    width = _widths.get(key)
    if width is None:
        width = _measure(font, text)
        if len(_widths) >= WIDTHS_KEPT:
            _widths.clear()  # bounded; the hot entries come back within a frame or two
        _widths[key] = width
    return width


def _measure(font: Font, text: str) -> int:
    left, _, right, _ = font.getbbox(text)
    return int(right - min(0, left))


def line_height(font: Font) -> int:
    ascent, descent = font.getmetrics()
    return ascent + descent


def is_emphasised(words: Sequence[str], index: int) -> bool:
    """Numbers (and the unit after one) and promise words carry the accent colour."""
    word = words[index].strip(".,;:!?\"'()").lower()
    if _NUMBER.match(word) or word in POWER_WORDS or word.endswith("-free"):
        return True
    if index and word in _UNITS:
        return bool(_NUMBER.match(words[index - 1].strip(".,;:!?\"'()")))
    return False


def line_groups(text: str, max_words: int = MAX_WORDS_PER_LINE) -> list[list[str]]:
    """Words in groups of at most `max_words`, broken after punctuation where possible
    and evened out, so a long message reads as short lines of one idea each."""
    # Split on spaces only: a no-break space glues a number to its unit.
    words = [word for word in text.replace("\n", " ").split(" ") if word]
    if not words:
        return []
    groups: list[list[str]] = []
    current: list[str] = []
    count = 0
    for word in words:
        size = len(word.split("\u00a0"))  # a glued number and unit count as two words
        if current and count + size > max_words:
            groups.append(current)
            current, count = [], 0
        current.append(word)
        count += size
        if count >= max_words or (word[-1] in ",;:.!?—" and count >= 3):
            groups.append(current)
            current, count = [], 0
    if current:
        groups.append(current)
    return groups


@dataclass(frozen=True)
class FittedText:
    font_px: int
    face: str
    brand: str | None
    lines: tuple[tuple[str, ...], ...]
    widths: tuple[int, ...]
    pitch: int  # distance between line tops

    @property
    def font(self) -> Font:
        return load_font(self.font_px, self.face, self.brand)

    @property
    def width(self) -> int:
        return max(self.widths, default=0)

    @property
    def height(self) -> int:
        if not self.lines:
            return 0
        return (len(self.lines) - 1) * self.pitch + line_height(self.font)


def _glued(words: Sequence[str]) -> list[str]:
    """Words with a number and its unit ("7 days", "24 hours") kept as one unit."""
    units: list[str] = []
    for index, word in enumerate(words):
        if units and index and is_emphasised(words, index) and not is_emphasised([word], 0):
            units[-1] = f"{units[-1]}\u00a0{word}"
        else:
            units.append(word)
    return units


def _balanced(units: list[str], font: Font, width: int) -> list[list[str]] | None:
    """Line breaks that fit `width` with the evenest lines (least squared slack, the
    last line free), or None when some unit is wider than a line."""
    count = len(units)
    best: list[tuple[float, int]] = [(0.0, 0)] + [(float("inf"), 0)] * count
    for end in range(1, count + 1):
        for start in range(end - 1, -1, -1):
            line = " ".join(units[start:end])
            measured = text_width(font, line.replace("\u00a0", " "))
            if measured > width and end - start > 1:
                break
            if measured > width:
                continue
            slack = 0.0 if end == count else float(width - measured) ** 2
            cost = best[start][0] + slack + width * width  # fewer lines first
            if cost < best[end][0]:
                best[end] = (cost, start)
    if best[count][0] == float("inf"):
        return None
    lines: list[list[str]] = []
    end = count
    while end > 0:
        start = best[end][1]
        lines.append(units[start:end])
        end = start
    return lines[::-1]


def _wrap(words: Sequence[str], font: Font, width: int, max_words: int) -> list[list[str]]:
    lines: list[list[str]] = []
    # Glued first, so a line group never ends between a number and its unit.
    for group in line_groups(" ".join(_glued(list(words))), max_words):
        units = group
        broken = _balanced(units, font, width)
        if broken is None:  # a unit wider than the line: one unit per line, the caller shrinks
            broken = [[unit] for unit in units]
        lines.extend([word for unit in line for word in unit.split("\u00a0")] for line in broken)
    return lines


def _hyphen_parts(word: str) -> list[str]:
    """'Dermatologist-tested' as ['Dermatologist-', 'tested'] (a word without one: itself)."""
    head, dash, tail = word.partition("-")
    if not dash or not head or not tail:
        return [word]
    return [f"{head}-", *_hyphen_parts(tail)]


def _fits(lines: list[list[str]], font: Font, width: int) -> bool:
    return all(text_width(font, " ".join(line)) <= width for line in lines)


def _sizes(largest: int, smallest: int) -> list[int]:
    """The sizes a text is tried at, largest first, about 4% apart."""
    sizes = []
    size = largest
    while size >= smallest:
        sizes.append(size)
        size -= max(1, size // 24)
    return sizes


def _largest_fitting(
    sizes: list[int],
    words: list[str],
    width: int,
    face: str,
    brand: str | None,
    max_lines: int,
    max_words: int,
) -> tuple[int, list[list[str]]] | None:
    """The largest of `sizes` at which the words wrap into at most `max_lines` lines of
    `width`, and those lines. The largest is tried first (most texts fit there), then
    the rest by bisection: a smaller size never needs more lines, so about four tries
    find it among a dozen sizes where trying each in turn measured every line at each."""

    def wrapped(size: int) -> list[list[str]] | None:
        font = load_font(size, face, brand)
        lines = _wrap(words, font, width, max_words)
        return lines if len(lines) <= max_lines and _fits(lines, font, width) else None

    if not sizes:
        return None
    if (lines := wrapped(sizes[0])) is not None:
        return sizes[0], lines
    best: tuple[int, list[list[str]]] | None = None
    low, high = 1, len(sizes) - 1  # the answer's index is in [low, high], if any
    while low <= high:
        middle = (low + high) // 2
        if (lines := wrapped(sizes[middle])) is not None:
            best = sizes[middle], lines
            high = middle - 1
        else:
            low = middle + 1
    return best


def fit_text(
    text: str,
    width: int,
    min_px: int,
    max_px: int,
    face: str = "bold",
    brand: str | None = None,
    max_lines: int = MAX_LINES,
    max_words: int = MAX_WORDS_PER_LINE,
    leading: float = 1.08,
) -> FittedText:
    """The largest size in [min_px, max_px] at which `text` wraps into at most `max_lines`
    lines of `width`. At `min_px` the text takes the lines it needs: words are never cut
    and the size never goes below the minimum, except for a single word wider than the
    line (it is set just small enough to fit)."""
    words = text.split()
    found = _largest_fitting(
        _sizes(max(min_px, max_px), min_px), words, width, face, brand, max_lines, max_words
    )
    if found is not None:
        size, lines = found
    else:
        size = min_px
        font = load_font(size, face, brand)
        lines = _wrap(words, font, width, max_words)
        if not _fits(lines, font, width):
            # A compound wider than the line breaks after its hyphen before anything shrinks.
            words = [part for word in words for part in _hyphen_parts(word)]
            lines = _wrap(words, font, width, max_words)
        while not _fits(lines, font, width) and size > 8:
            size -= 1
            font = load_font(size, face, brand)
            lines = _wrap(words, font, width, max_words)
    font = load_font(size, face, brand)
    widths = tuple(text_width(font, " ".join(line)) for line in lines)
    pitch = round(line_height(font) * leading)
    return FittedText(size, face, brand, tuple(tuple(line) for line in lines), widths, pitch)


def fits_readably(fitted: FittedText, min_px: int, max_lines: int = MAX_LINES) -> bool:
    """Whether `fit_text` could set the text as the design means it: at `min_px` (the
    smallest readable size) or larger, in at most `max_lines` lines. It breaks one of
    those only when the text does not fit at the minimum: it then takes more lines than
    its box holds, or shrinks a word wider than the line below the minimum.

    Example::

        fitted = fit_text("Brightens skin in 7 days", 870, 92, 140, "condensed")
        fits_readably(fitted, 92)            # True
    """
    return fitted.font_px >= min_px and len(fitted.lines) <= max_lines
