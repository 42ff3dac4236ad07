"""Surface defects, one drawer per MVTec state name that looks the same on any surface.

A drawer is ``fn(canvas, rng, where) -> None``: ``where`` is a boolean mask of the surface the defect
may start on (the object, or a named part of it). Sizes are fractions of ``unit(size)``: the canvas side times
the defect scale (``defect_scale()``), so the task can be made harder or easier. Object-specific states (a missing
wire, a flipped nut) are drawn by the scene itself, see ``scenes.py``.
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Callable

import numpy as np

from .draw import Canvas, blob, random_walk

Drawer = Callable[[Canvas, np.random.Generator, np.ndarray], None]
DEFECTS: dict[str, Drawer] = {}

# Default 1.5: at 1.0 many defects were a pixel wide at the 96 px training size and a small CNN
# trained for 30 epochs stayed near 0.5 macro-F1; see README "Measured".
DEFAULT_DEFECT_SCALE = 1.5
_SCALE = contextvars.ContextVar("defect_scale", default=DEFAULT_DEFECT_SCALE)


@contextlib.contextmanager
def defect_scale(scale: float):
    """Draw defects ``scale`` times their base size inside this block (a harder or easier task)."""
    if not scale > 0:
        raise ValueError(f"defect_scale must be > 0, got {scale}")
    token = _SCALE.set(float(scale))
    try:
        yield
    finally:
        _SCALE.reset(token)


def unit(size: int) -> float:
    """The length defects are measured in: the canvas side times the current defect scale."""
    return size * _SCALE.get()


_VIVID = [(0.85, 0.15, 0.1), (0.1, 0.3, 0.85), (0.9, 0.75, 0.1), (0.15, 0.65, 0.2), (0.7, 0.2, 0.75)]


def defect(*names: str):
    def wrap(fn: Drawer) -> Drawer:
        for n in names:
            DEFECTS[n] = fn
        return fn
    return wrap


def pick(rng: np.random.Generator, where: np.ndarray) -> tuple[float, float]:
    """A random pixel of the mask ``where`` (its centre if the mask is empty)."""
    ys, xs = np.nonzero(where > 0.5)
    if len(xs) == 0:
        return where.shape[1] / 2, where.shape[0] / 2
    i = rng.integers(len(xs))
    return float(xs[i]), float(ys[i])


def _contrast(cv: Canvas, p, amount: float = 0.45) -> np.ndarray:
    """A colour that stands out from the surface at ``p``: darker on light surfaces, lighter on dark."""
    local = cv.img[int(p[1]), int(p[0])]
    return np.clip(local - amount, 0, 1) if local.mean() > 0.45 else np.clip(local + amount, 0, 1)


@defect("scratch", "scratch_head", "scratch_neck")
def scratch(cv, rng, where):
    S, p = unit(cv.size), pick(rng, where)
    pts = random_walk(rng, p, rng.uniform(0.10, 0.18) * S, 6, rng.uniform(0, 2 * np.pi), 0.08)
    cv.paint(cv.polyline(pts, 0.014 * S, blur=0.5), _contrast(cv, p, 0.45), 0.9)


@defect("crack")
def crack(cv, rng, where):
    S, p = unit(cv.size), pick(rng, where)
    a = rng.uniform(0, 2 * np.pi)
    m = cv.polyline(random_walk(rng, p, rng.uniform(0.12, 0.2) * S, 9, a, 0.45), 0.016 * S)
    m = np.maximum(m, cv.polyline(random_walk(rng, p, rng.uniform(0.05, 0.1) * S, 5, a + 1.2, 0.5), 0.012 * S))
    cv.paint(m, (0.05, 0.04, 0.04), 0.9)


@defect("hole")
def hole(cv, rng, where):
    S, p = unit(cv.size), pick(rng, where)
    r = rng.uniform(0.03, 0.045) * S
    cv.paint(cv.ellipse(p, r * 1.35, blur=1.5), _contrast(cv, p, 0.2), 0.6)
    cv.paint(cv.polygon(blob(rng, p, r, 0.15), blur=0.8), (0.03, 0.03, 0.03), 0.95)


@defect("color")
def color(cv, rng, where):
    S, p = unit(cv.size), pick(rng, where)
    m = cv.polygon(blob(rng, p, rng.uniform(0.05, 0.08) * S, 0.25), blur=0.012 * S)
    cv.paint(m, _VIVID[rng.integers(len(_VIVID))], rng.uniform(0.6, 0.75))


@defect("contamination")
def contamination(cv, rng, where):
    S, p = unit(cv.size), pick(rng, where)
    tint = rng.choice([0.1, 0.35, 0.6])
    cv.paint(cv.polygon(blob(rng, p, rng.uniform(0.025, 0.045) * S, 0.5), blur=0.6), (tint, tint * 0.8, tint * 0.5), 0.9)


@defect("metal_contamination")
def metal_contamination(cv, rng, where):
    S, p = unit(cv.size), pick(rng, where)
    r = rng.uniform(0.02, 0.035) * S
    cv.paint(cv.polygon(blob(rng, p, r, 0.4), blur=0.5), (0.55, 0.57, 0.6), 1.0)
    cv.paint(cv.ellipse((p[0] - r / 3, p[1] - r / 3), r / 3, blur=1.0), (0.97, 0.97, 0.97), 0.9)


@defect("thread")
def thread(cv, rng, where):
    S, p = unit(cv.size), pick(rng, where)
    pts = random_walk(rng, p, rng.uniform(0.2, 0.32) * S, 14, rng.uniform(0, 2 * np.pi), 0.35)
    cv.paint(cv.polyline(pts, 0.012 * S, blur=0.4), _VIVID[rng.integers(len(_VIVID))], 0.9)


@defect("cut", "cut_lead")
def cut(cv, rng, where):
    S, p = unit(cv.size), pick(rng, where)
    a, length = rng.uniform(0, np.pi), rng.uniform(0.1, 0.16) * S
    d = np.array([np.cos(a), np.sin(a)]) * length / 2
    n = np.array([-d[1], d[0]]) / (length / 2) * 0.008 * S
    pts = np.stack([p - d, p + d])
    cv.paint(cv.polyline(pts + n, 0.006 * S, blur=0.5), _contrast(cv, p, -0.25), 0.7)
    cv.paint(cv.polyline(pts, 0.014 * S, blur=0.4), (0.06, 0.05, 0.05), 0.9)


@defect("glue")
def glue(cv, rng, where):
    S, p = unit(cv.size), pick(rng, where)
    r = rng.uniform(0.05, 0.08) * S
    cv.paint(cv.polygon(blob(rng, p, r, 0.3), blur=0.01 * S), (0.92, 0.9, 0.8), 0.45)
    cv.paint(cv.ellipse((p[0] + r / 3, p[1] - r / 4), r / 4, blur=1.5), (1, 1, 1), 0.5)


@defect("poke", "poke_insulation")
def poke(cv, rng, where):
    S = unit(cv.size)
    for _ in range(rng.integers(1, 4)):
        p = pick(rng, where)
        r = rng.uniform(0.018, 0.026) * S
        dent = _contrast(cv, p, 0.5)  # dark on light surfaces, light on dark ones
        cv.paint(cv.ellipse(p, r * 1.6, blur=1.0), _contrast(cv, p, -0.2), 0.5)
        cv.paint(cv.ellipse(p, r, blur=0.6), dent, 0.9)


@defect("fold")
def fold(cv, rng, where):
    S, p = unit(cv.size), pick(rng, where)
    pts = random_walk(rng, p, rng.uniform(0.3, 0.45) * S, 8, rng.uniform(0, 2 * np.pi), 0.12)
    off = np.array([0.012 * S, 0.012 * S])
    cv.shade(cv.polyline(pts, 0.02 * S, blur=0.01 * S), 1.45)
    cv.shade(cv.polyline(pts + off, 0.02 * S, blur=0.01 * S), 0.55)


@defect("rough")
def rough(cv, rng, where):
    S, p = unit(cv.size), pick(rng, where)
    m = cv.polygon(blob(rng, p, rng.uniform(0.06, 0.09) * S, 0.25), blur=2)
    grain = rng.normal(0, 0.22, (cv.size, cv.size, 1)).astype(np.float32)
    cv.img = np.clip(cv.img + grain * m[..., None], 0, 1)


@defect("oil", "liquid")
def oil(cv, rng, where):
    S, p = unit(cv.size), pick(rng, where)
    r = rng.uniform(0.06, 0.09) * S
    m = cv.ellipse(p, r, r * rng.uniform(0.5, 0.9), rng.uniform(0, np.pi), blur=0.015 * S)
    cv.shade(m, rng.uniform(0.45, 0.6))


@defect("gray_stroke")
def gray_stroke(cv, rng, where):
    S, p = unit(cv.size), pick(rng, where)
    pts = random_walk(rng, p, rng.uniform(0.18, 0.28) * S, 5, rng.uniform(0, 2 * np.pi), 0.1)
    cv.paint(cv.polyline(pts, 0.03 * S, blur=0.006 * S), (0.42, 0.42, 0.44), 0.75)


@defect("glue_strip")
def glue_strip(cv, rng, where):
    S, p = unit(cv.size), pick(rng, where)
    pts = random_walk(rng, p, rng.uniform(0.3, 0.45) * S, 4, rng.uniform(0, 2 * np.pi), 0.05)
    cv.paint(cv.polyline(pts, 0.045 * S, blur=0.008 * S), (0.95, 0.93, 0.85), 0.45)


@defect("print", "faulty_imprint")
def print_marks(cv, rng, where):
    S, p = unit(cv.size), pick(rng, where)
    col = (0.95, 0.95, 0.92) if cv.img[int(p[1]), int(p[0])].mean() < 0.45 else (0.1, 0.1, 0.15)
    m = np.zeros((cv.size, cv.size), np.float32)
    for k in range(rng.integers(2, 4)):  # a few glyph-like strokes in a row
        q = np.array(p) + [k * 0.035 * S, 0]
        glyph = q + rng.uniform(-0.02, 0.02, (3, 2)) * S
        m = np.maximum(m, cv.polyline(glyph, 0.012 * S))
    cv.paint(m, col, 0.9)
