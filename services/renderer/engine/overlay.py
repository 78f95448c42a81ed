"""Static RGBA graphics (caption cards, the logo watermark) composited onto yuv420p frames.

An overlay is converted once to Y/U/V planes plus alpha at luma and chroma resolution (the
same swscale BT.709 conversion as the frames, so colours match) and then blended per frame
over its bounding box only, in 8.8 fixed point: about 0.3 ms for a 1080-wide caption card.
"""

from __future__ import annotations

import numpy as np
from av.video.reformatter import ColorRange, Colorspace
from PIL import Image

from services.renderer.engine.scaler import frame_from_image, yuv420_planes


def _alpha256(alpha: np.ndarray) -> np.ndarray:
    a = alpha.astype(np.uint16)
    return a + (a >> 7)  # 0..255 -> 0..256, so 255 means fully opaque


class Overlay:
    """An RGBA image placed at (x, y) on frames of `frame_size`; blended with `apply`."""

    def __init__(self, image: Image.Image, x: int, y: int, frame_size: tuple[int, int]) -> None:
        rgba = image.convert("RGBA")
        # Even position and size keep the 2x2 chroma blocks of overlay and frame aligned.
        left, top = x - x % 2, y - y % 2
        width = rgba.width + (x - left)
        height = rgba.height + (y - top)
        width += width % 2
        height += height % 2
        canvas = Image.new("RGBA", (width, height), (0, 0, 0, 0))
        canvas.paste(rgba, (x - left, y - top))
        # Clip to the frame.
        fw, fh = frame_size
        cx0, cy0 = max(0, -left), max(0, -top)
        cx1, cy1 = min(width, fw - left), min(height, fh - top)
        if cx1 <= cx0 or cy1 <= cy0:
            self.empty = True
            return
        self.empty = False
        canvas = canvas.crop((cx0, cy0, cx1, cy1))
        self.x, self.y = left + cx0, top + cy0
        self.width, self.height = canvas.size
        self.frame_size = frame_size

        yuv = frame_from_image(canvas.convert("RGB")).reformat(
            format="yuv444p",
            dst_colorspace=Colorspace.ITU709,
            dst_color_range=ColorRange.MPEG,
            threads=1,
        )
        planes = yuv.to_ndarray()  # (3, h, w)
        alpha = np.asarray(canvas.getchannel("A"), dtype=np.float32)
        # Chroma at half resolution: 2x2 means weighted by alpha (premultiplied), so
        # transparent pixels do not bleed their colour into the edges.
        a4 = alpha.reshape(self.height // 2, 2, self.width // 2, 2)
        alpha_c = a4.mean(axis=(1, 3))
        weight = np.maximum(a4.sum(axis=(1, 3)), 1e-6)
        chroma = []
        for plane in planes[1:]:
            p4 = plane.astype(np.float32).reshape(self.height // 2, 2, self.width // 2, 2)
            chroma.append(np.clip((p4 * a4).sum(axis=(1, 3)) / weight + 0.5, 0, 255))
        self.fg = (
            planes[0].astype(np.uint16),
            chroma[0].astype(np.uint16),
            chroma[1].astype(np.uint16),
        )
        self.alpha = (
            _alpha256(alpha.astype(np.uint8)),
            _alpha256(np.clip(alpha_c + 0.5, 0, 255).astype(np.uint8)),
        )
        self._pre = tuple(fg * self.alpha[0 if i == 0 else 1] for i, fg in enumerate(self.fg))
        self._inv = (256 - self.alpha[0], 256 - self.alpha[1])

    def region(self, plane_index: int, dy: int = 0) -> tuple[slice, slice]:
        shift = 0 if plane_index == 0 else 1
        y, x = (self.y + dy) >> shift, self.x >> shift
        return slice(y, y + (self.height >> shift)), slice(x, x + (self.width >> shift))

    def apply(
        self,
        buffer: np.ndarray,
        factor: np.ndarray | None = None,
        factor_c: np.ndarray | None = None,
        dy: int = 0,
    ) -> None:
        """Blend onto a yuv420p `buffer` in place. `factor`/`factor_c` (0..256, shapes that
        broadcast to the overlay at luma/chroma resolution) scale its opacity; `dy` moves it
        down by that many pixels (rounded to even, kept inside the frame)."""
        if self.empty:
            return
        dy = max(-self.y, min(self.frame_size[1] - self.y - self.height, dy)) // 2 * 2
        planes = yuv420_planes(buffer, *self.frame_size)
        for i, plane in enumerate(planes):
            rows, cols = self.region(i, dy)
            target = plane[rows, cols]
            if factor is None:
                pre, inv = self._pre[i], self._inv[0 if i == 0 else 1]
            else:
                scale = factor if i == 0 or factor_c is None else factor_c
                base = self.alpha[0 if i == 0 else 1].astype(np.uint32)
                alpha = ((base * scale.astype(np.uint32)) >> 8).astype(np.uint16)
                pre, inv = self.fg[i] * alpha, 256 - alpha
            target[:] = ((target * inv + pre + 128) >> 8).astype(np.uint8)
