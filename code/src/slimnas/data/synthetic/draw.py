"""A tiny float canvas for procedural images: masks drawn with PIL, paint blended with numpy.

Everything is drawn at 2× the output size and box-filtered down, so thin lines stay anti-aliased.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

Point = tuple[float, float]


class Canvas:
    """An H×W×3 float image in [0, 1] with helpers that draw masks and blend colours through them."""

    def __init__(self, size: int, background=(0.0, 0.0, 0.0)):
        self.size = size
        self.img = np.empty((size, size, 3), np.float32)
        self.img[:] = background

    # masks -------------------------------------------------------------------------------------------
    def mask(self, draw_fn, blur: float = 0.0) -> np.ndarray:
        """Rasterise ``draw_fn(ImageDraw)`` (fill=255) into a float mask, optionally softened."""
        m = Image.new("L", (self.size, self.size), 0)
        draw_fn(ImageDraw.Draw(m))
        if blur > 0:
            m = m.filter(ImageFilter.GaussianBlur(blur))
        return np.asarray(m, np.float32) / 255.0

    def ellipse(self, c: Point, rx: float, ry: float | None = None, angle: float = 0.0, blur: float = 0.0):
        ry = rx if ry is None else ry
        t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        return self.polygon(_rotate(np.stack([rx * np.cos(t), ry * np.sin(t)], 1), angle) + c, blur)

    def polygon(self, pts, blur: float = 0.0):
        pts = [tuple(map(float, p)) for p in pts]
        return self.mask(lambda d: d.polygon(pts, fill=255), blur)

    def polyline(self, pts, width: float, blur: float = 0.0):
        pts = [tuple(map(float, p)) for p in pts]
        w = max(1, int(round(width)))
        return self.mask(lambda d: d.line(pts, fill=255, width=w, joint="curve"), blur)

    # paint -------------------------------------------------------------------------------------------
    def paint(self, mask: np.ndarray, color, alpha: float = 1.0) -> None:
        box = _support(mask)
        a = (mask[box] * alpha)[..., None]
        img = self.img[box]  # a view: blending only where the mask is on is the same image, ~4x faster
        img *= 1 - a
        img += a * np.asarray(color, np.float32)

    def shade(self, mask: np.ndarray, factor: float) -> None:
        """Multiply brightness inside ``mask`` (factor < 1 darkens)."""
        box = _support(mask)
        self.img[box] *= (1 + (factor - 1) * mask[box])[..., None]

    def texture(self, mask: np.ndarray, tex: np.ndarray) -> None:
        """Replace the image by ``tex`` (H×W×3) where ``mask`` is on."""
        a = mask[..., None]
        self.img = self.img * (1 - a) + tex * a

    def to_pil(self, out_size: int, rng: np.random.Generator, noise: float = 0.012) -> Image.Image:
        """Add global lighting and sensor noise, downsample, quantise."""
        h = self.size
        gy, gx = np.mgrid[0:h, 0:h].astype(np.float32) / h - 0.5
        ang = rng.uniform(0, 2 * np.pi)
        light = rng.uniform(0.88, 1.12) + rng.uniform(0, 0.12) * (np.cos(ang) * gx + np.sin(ang) * gy)
        img = self.img * light[..., None] * rng.uniform(0.96, 1.04, 3).astype(np.float32)
        img = np.clip(img, 0, 1)
        pil = Image.fromarray((img * 255 + 0.5).astype(np.uint8)).resize((out_size, out_size), Image.BOX)
        arr = np.asarray(pil, np.float32) + rng.normal(0, noise * 255, (out_size, out_size, 3))
        return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def _support(mask: np.ndarray) -> tuple[slice, slice]:
    """The bounding box of a mask's non-zero pixels (an empty slice when it is all zero)."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if not len(rows):
        return slice(0, 0), slice(0, 0)
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def _rotate(pts: np.ndarray, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return pts @ np.array([[c, s], [-s, c]], np.float32)


def rotate_points(pts, angle: float, center: Point) -> np.ndarray:
    return _rotate(np.asarray(pts, np.float32) - center, angle) + center


def smooth_noise(rng: np.random.Generator, size: int, scale: float, octaves: int = 3) -> np.ndarray:
    """Fractal value noise in [0, 1]: sums of upsampled random grids (fast, no dependencies)."""
    out = np.zeros((size, size), np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        cells = max(2, int(size / scale * 2**o))
        grid = Image.fromarray((rng.random((cells, cells)) * 255).astype(np.uint8))
        out += amp * np.asarray(grid.resize((size, size), Image.BICUBIC), np.float32) / 255.0
        total += amp
        amp *= 0.5
    return out / total


def random_walk(rng: np.random.Generator, start: Point, length: float, steps: int, angle: float,
                jitter: float) -> np.ndarray:
    """A jagged polyline (cracks, threads): a heading that wanders by ``jitter`` radians a step."""
    pts = [np.asarray(start, np.float32)]
    step = length / steps
    for _ in range(steps):
        angle += rng.normal(0, jitter)
        pts.append(pts[-1] + step * np.array([np.cos(angle), np.sin(angle)], np.float32))
    return np.stack(pts)


def blob(rng: np.random.Generator, center: Point, radius: float, irregularity: float = 0.35, n: int = 14):
    """An irregular star-convex polygon around ``center``."""
    t = np.sort(rng.uniform(0, 2 * np.pi, n))
    r = radius * np.clip(1 + rng.normal(0, irregularity, n), 0.3, 1.8)
    return np.stack([center[0] + r * np.cos(t), center[1] + r * np.sin(t)], 1)
