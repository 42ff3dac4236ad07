"""The 15 MVTec categories, drawn procedurally: five textures and ten objects.

A scene is ``fn(rng, S, state) -> Canvas``. It draws a good sample with random pose, colour and
lighting, then the defect named by ``state``: surface defects come from ``defects.DEFECTS`` placed on
the right part of the object; structural ones (a missing wire, a flipped nut, split teeth) are drawn
by the scene itself. ``combined`` is two different defects of the category at once.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from PIL import ImageFont

from .defects import DEFECTS, pick, unit
from .draw import Canvas, blob, rotate_points, smooth_noise

Scene = Callable[[np.random.Generator, int, str], Canvas]
SCENES: dict[str, Scene] = {}


def scene(name: str):
    def wrap(fn: Scene) -> Scene:
        SCENES[name] = fn
        return fn
    return wrap


def surface(cv: Canvas, rng, state: str, where: np.ndarray, structural=(), draw_structural=None) -> None:
    """Draw ``state`` on ``where``; ``combined`` draws two different defects from the category."""
    if state == "combined":
        options = ["scratch", "crack", "hole", "contamination", "color", "cut", *structural]
        for s in rng.choice(options, 2, replace=False):
            surface(cv, rng, str(s), where, structural, draw_structural)
    elif state in DEFECTS and state not in structural:
        DEFECTS[state](cv, rng, where)
    elif draw_structural is not None:
        draw_structural(state)


def _jitter(rng, S: float, amount: float = 0.04) -> np.ndarray:
    return np.array([S / 2, S / 2]) + rng.uniform(-amount, amount, 2) * S


def _tint(rng, color, amount: float = 0.05) -> np.ndarray:
    return np.clip(np.asarray(color) * rng.uniform(1 - amount, 1 + amount, 3), 0, 1)


def _background(rng, S: int, color, amp: float = 0.04) -> Canvas:
    cv = Canvas(S)
    cv.img[:] = _tint(rng, color, 0.03)
    cv.img *= (1 - amp + 2 * amp * smooth_noise(rng, S, S / 4, 2))[..., None]
    return cv


def _font(px: float) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=max(6, int(px)))


def _text(cv: Canvas, xy, text: str, px: float) -> np.ndarray:
    font = _font(px)
    return cv.mask(lambda d: d.text(tuple(map(float, xy)), text, fill=255, font=font, anchor="mm"))


# --------------------------------------------------------------------------------- textures


def _texture(rng, S, state, value: np.ndarray, color, structural=(), draw_structural=None) -> Canvas:
    cv = Canvas(S)
    cv.img = np.clip(value[..., None] * _tint(rng, color, 0.06)[None, None], 0, 1).astype(np.float32)
    surface(cv, rng, state, np.ones((S, S), np.float32) * _inner(S), structural, draw_structural)
    return cv


def _inner(S: int, margin: float = 0.15) -> np.ndarray:
    """Defects start away from the border so augmentation crops keep them."""
    m = np.zeros((S, S), np.float32)
    a, b = int(S * margin), int(S * (1 - margin))
    m[a:b, a:b] = 1
    return m


def _coords(rng, S, rotate: float = 0.15):
    y, x = np.mgrid[0:S, 0:S].astype(np.float32)
    a = rng.uniform(-rotate, rotate)
    return x * np.cos(a) - y * np.sin(a), x * np.sin(a) + y * np.cos(a)


@scene("carpet")
def carpet(rng, S, state):
    x, y = _coords(rng, S)
    p = S * rng.uniform(0.045, 0.055)
    weave = 0.5 + 0.5 * np.sin(2 * np.pi * x / p) * np.sin(2 * np.pi * y / p)
    v = 0.45 + 0.2 * weave + 0.25 * smooth_noise(rng, S, S / 12)
    return _texture(rng, S, state, v, (0.78, 0.7, 0.62))


@scene("grid")
def grid(rng, S, state):
    x, y = _coords(rng, S, 0.4)
    if state == "bent":  # wires pushed aside by a local displacement field
        cx, cy = pick(rng, _inner(S, 0.3))
        bump = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * (0.05 * unit(S)) ** 2))
        x = x + 0.06 * unit(S) * bump
    p, w = S * rng.uniform(0.085, 0.1), S * 0.018
    d = lambda t: np.abs(np.mod(t, p) - p / 2)  # noqa: E731
    wires = np.clip(1.2 - np.minimum(d(x), d(y)) / w, 0, 1)
    if state == "broken":
        wires *= 1 - Canvas(S).polygon(blob(rng, pick(rng, _inner(S, 0.3)), 0.05 * unit(S), 0.2), blur=1)
    v = 0.18 + 0.55 * wires + 0.08 * smooth_noise(rng, S, S / 10)
    return _texture(rng, S, state, v, (0.8, 0.8, 0.78), structural=("bent", "broken"))


@scene("leather")
def leather(rng, S, state):
    fine = smooth_noise(rng, S, S / 40, 2)
    v = 0.5 + 0.25 * fine + 0.15 * smooth_noise(rng, S, S / 6)
    return _texture(rng, S, state, v, (0.72, 0.42, 0.25))


@scene("tile")
def tile(rng, S, state):
    n = smooth_noise(rng, S, S / 30, 2)
    speck = (n > 0.62).astype(np.float32) * -0.35 + (n < 0.36).astype(np.float32) * 0.15
    v = 0.72 + speck + 0.08 * smooth_noise(rng, S, S / 5)
    return _texture(rng, S, state, v, (0.85, 0.85, 0.82))


@scene("wood")
def wood(rng, S, state):
    x, y = _coords(rng, S, 0.08)
    warp = smooth_noise(rng, S, S / 3) * S * 0.25
    v = 0.55 + 0.15 * np.sin(2 * np.pi * (x + warp) / (S * rng.uniform(0.07, 0.1))) + 0.1 * smooth_noise(rng, S, S / 20)
    return _texture(rng, S, state, v, (0.78, 0.55, 0.33))


# --------------------------------------------------------------------------------- objects


@scene("bottle")
def bottle(rng, S, state):
    cv = _background(rng, S, (0.04, 0.04, 0.04))
    c = _jitter(rng, S, 0.02)
    cv.paint(cv.ellipse(c, 0.44 * S, blur=2), _tint(rng, (0.36, 0.3, 0.22)))
    cv.paint(cv.ellipse(c, 0.3 * S, blur=2), _tint(rng, (0.55, 0.5, 0.4)))
    rim = cv.ellipse(c, 0.3 * S) - cv.ellipse(c, 0.21 * S)
    cv.paint(cv.ellipse(c, 0.21 * S, blur=1), _tint(rng, (0.12, 0.1, 0.08)))
    cv.paint(cv.ellipse(c, 0.12 * S, blur=4), (0.22, 0.2, 0.17))
    if state in ("broken_large", "broken_small"):
        span = rng.uniform(0.7, 1.1) if state == "broken_large" else rng.uniform(0.25, 0.4)
        a0 = rng.uniform(0, 2 * np.pi)
        t = np.linspace(a0, a0 + span, 12)
        r_out, r_in = 0.33 * S, (0.17 if state == "broken_large" else 0.23) * S
        wedge = np.concatenate([np.stack([np.cos(t), np.sin(t)], 1) * r_out,
                                np.stack([np.cos(t[::-1]), np.sin(t[::-1])], 1) * r_in]) + c
        jag = cv.polygon(wedge + rng.normal(0, 0.008 * S, wedge.shape))
        cv.paint(jag, (0.07, 0.06, 0.05), 0.95)
        cv.paint(jag * rim, (0.85, 0.85, 0.8), 0.5)
    else:
        surface(cv, rng, state, cv.ellipse(c, 0.18 * S))
    return cv


_WIRE_COLORS = [(0.2, 0.55, 0.25), (0.2, 0.35, 0.75), (0.5, 0.45, 0.4)]


@scene("cable")
def cable(rng, S, state):
    cv = _background(rng, S, (0.6, 0.6, 0.58))
    c = _jitter(rng, S, 0.02)
    cv.paint(cv.ellipse(c, 0.46 * S, blur=1), _tint(rng, (0.25, 0.25, 0.27)))
    rot = rng.uniform(-0.12, 0.12)
    wires = [c + 0.21 * S * np.array([np.cos(a), np.sin(a)]) for a in rot + np.pi / 2 + np.arange(3) * 2 * np.pi / 3]
    structural = ("bent_wire", "cable_swap", "cut_inner_insulation", "cut_outer_insulation", "missing_cable",
                  "missing_wire", "poke_insulation")
    todo = set(rng.choice(structural, 2, replace=False)) if state == "combined" else {state}
    colors = list(_WIRE_COLORS)
    if "cable_swap" in todo:
        i, j = rng.choice(3, 2, replace=False)
        colors[j] = colors[i]
    broken = rng.integers(3)
    for k, w in enumerate(wires):
        if "missing_cable" in todo and k == broken:
            cv.paint(cv.ellipse(w, 0.15 * S, blur=1.5), (0.08, 0.08, 0.08))
            continue
        cv.paint(cv.ellipse(w, 0.15 * S, blur=1), _tint(rng, colors[k]))
        if "cut_inner_insulation" in todo and k == broken:
            a = rng.uniform(0, 2 * np.pi)
            t = np.linspace(a, a + 0.9, 8)
            arc = np.concatenate([[w], w + 0.15 * S * np.stack([np.cos(t), np.sin(t)], 1)])
            cv.paint(cv.polygon(arc), (0.85, 0.82, 0.75), 0.9)
        if "missing_wire" in todo and k == broken:
            cv.paint(cv.ellipse(w, 0.075 * S, blur=1), (0.07, 0.06, 0.05))
            continue
        core = w
        if "bent_wire" in todo and k == broken:
            a = rng.uniform(0, 2 * np.pi)
            core = w + 0.06 * S * np.array([np.cos(a), np.sin(a)])
            cv.paint(cv.ellipse(core, 0.1 * S, 0.06 * S, a, blur=1), (0.8, 0.5, 0.25))
        cv.paint(cv.ellipse(core, 0.075 * S, blur=1), _tint(rng, (0.78, 0.5, 0.28)))
        for j in range(7):  # copper strands
            q = core + 0.045 * S * np.array([np.cos(j * 0.9), np.sin(j * 0.9)]) * (j > 0)
            cv.paint(cv.ellipse(q, 0.022 * S, blur=0.5), (0.9, 0.62, 0.35), 0.6)
        if "poke_insulation" in todo and k == broken:
            ring = cv.ellipse(w, 0.14 * S) - cv.ellipse(w, 0.09 * S)
            DEFECTS["poke"](cv, rng, ring)
    if "cut_outer_insulation" in todo:
        a = rng.uniform(0, 2 * np.pi)
        t = np.linspace(a, a + 0.35, 6)
        notch = np.concatenate([np.stack([np.cos(t), np.sin(t)], 1) * 0.47 * S,
                                np.stack([np.cos(t[::-1]), np.sin(t[::-1])], 1) * 0.38 * S]) + c
        cv.paint(cv.polygon(notch + rng.normal(0, 0.006 * S, notch.shape)), (0.75, 0.72, 0.65), 0.9)
    return cv


@scene("capsule")
def capsule(rng, S, state):
    cv = _background(rng, S, (0.88, 0.88, 0.86), 0.02)
    c = _jitter(rng, S, 0.03)
    L, H = 0.68 * S, (0.2 if state == "squeeze" else 0.27) * S
    body = _stadium(cv, c, L, H, rng.uniform(-0.06, 0.06), pinch=0.35 if state == "squeeze" else 0.0)
    left = body * (np.arange(S)[None, :] < c[0]).astype(np.float32)
    cv.paint(body, _tint(rng, (0.85, 0.45, 0.12)))
    cv.paint(left, _tint(rng, (0.12, 0.12, 0.13)))
    cv.paint(cv.ellipse(c + [0, -0.07 * S], 0.3 * S, 0.025 * S, blur=2) * body, (1, 1, 1), 0.35)
    txt = _text(cv, c + [-0.17 * S, 0.01 * S], "500", 0.11 * S)
    if state == "faulty_imprint":  # the print is smeared and partly missing
        txt = np.roll(txt, rng.integers(-6, 7), axis=1) * (1 - cv.ellipse(c + [-0.17 * S + rng.uniform(-8, 8), 0], 0.05 * S))
    cv.paint(txt * left, (0.92, 0.92, 0.9), 0.95)
    if state not in ("squeeze", "faulty_imprint"):
        surface(cv, rng, state, body * _erode_x(body))
    return cv


def _stadium(cv: Canvas, c, L: float, H: float, angle: float, pinch: float = 0.0) -> np.ndarray:
    """A capsule outline; ``pinch`` narrows its waist (a squeezed capsule)."""
    t = np.linspace(-np.pi / 2, np.pi / 2, 16)
    right = np.stack([L / 2 - H / 2 + H / 2 * np.cos(t), H / 2 * np.sin(t)], 1)
    xs = np.linspace(L / 2 - H / 2, -(L / 2 - H / 2), 12)
    top = np.stack([xs, H / 2 * (1 - pinch * np.exp(-(xs / (0.15 * L)) ** 2))], 1)
    pts = np.concatenate([right, top, -right, -top])
    return cv.polygon(rotate_points(pts + c, angle, c), blur=1)


def _erode_x(mask: np.ndarray) -> np.ndarray:
    """Shrink a mask a little so defects start inside the object, not on its edge."""
    k = max(2, mask.shape[0] // 40)
    return np.minimum.reduce([np.roll(mask, s, a) for s in (-k, k) for a in (0, 1)])


@scene("hazelnut")
def hazelnut(rng, S, state):
    cv = _background(rng, S, (0.07, 0.07, 0.08))
    c, a = _jitter(rng, S, 0.04), rng.uniform(0, 2 * np.pi)
    nut = cv.ellipse(c, 0.31 * S, 0.36 * S, a, blur=1.5)
    grain = smooth_noise(rng, S, S / 14)
    tex = np.clip(_tint(rng, (0.6, 0.38, 0.2), 0.08)[None, None] * (0.7 + 0.5 * grain)[..., None], 0, 1)
    cv.texture(nut, tex)
    tip = c + rotate_points([[0, -0.3 * S]], a, (0, 0))[0]
    cv.paint(cv.ellipse(tip, 0.06 * S, blur=3), (0.85, 0.75, 0.6), 0.7)
    surface(cv, rng, state, _erode_x(nut))
    return cv


@scene("metal_nut")
def metal_nut(rng, S, state):
    cv = _background(rng, S, (0.05, 0.05, 0.05))
    c, a = _jitter(rng, S, 0.03), rng.uniform(0, 2 * np.pi)
    flip = state == "flip"
    body_col = _tint(rng, (0.7, 0.72, 0.75) if flip else (0.48, 0.5, 0.53))
    bent = rng.integers(4) if state == "bent" else -1
    mask = cv.ellipse(c, 0.27 * S)
    for k in range(4):  # four tabs with one slanted side: the slant's direction shows which face is up
        s = -1 if flip else 1
        tab = np.array([[-0.09, -0.25], [0.09, -0.25], [0.09 + s * 0.06, -0.41], [-0.09 + s * 0.0, -0.41]]) * S
        if k == bent:
            tab[2:] += np.array([s * 0.07, 0.04]) * S
        mask = np.maximum(mask, cv.polygon(rotate_points(tab, a + k * np.pi / 2, (0, 0)) + c, blur=1))
    cv.paint(mask, body_col)
    cv.paint(cv.ellipse(c, 0.2 * S, blur=2) * (0 if flip else 1), (0.35, 0.36, 0.38), 0.6)
    cv.paint(cv.ellipse(c, 0.11 * S, blur=1), (0.05, 0.05, 0.05))
    if state not in ("flip", "bent"):
        surface(cv, rng, state, _erode_x(mask) * (1 - cv.ellipse(c, 0.14 * S)))
    return cv


@scene("pill")
def pill(rng, S, state):
    cv = _background(rng, S, (0.16, 0.12, 0.1))
    c = _jitter(rng, S, 0.03)
    body = cv.ellipse(c, 0.37 * S, 0.19 * S, rng.uniform(-0.05, 0.05), blur=1.5)
    other = state == "pill_type"
    cv.paint(body, _tint(rng, (0.93, 0.86, 0.7) if other else (0.92, 0.92, 0.9), 0.03))
    speck_col = (0.55, 0.45, 0.2) if other else (0.75, 0.25, 0.2)
    n = smooth_noise(rng, S, S / 45, 1)
    speck = (n > (0.7 if other else 0.74)).astype(np.float32) * body
    cv.paint(speck, speck_col, 0.7)
    txt = _text(cv, c, "FF", 0.12 * S)
    if state == "faulty_imprint":
        txt = txt * (1 - cv.ellipse(c + [rng.uniform(-0.04, 0.04) * S, 0], 0.04 * S)) + \
            np.roll(txt, rng.integers(6, 12), axis=0) * 0.6
    cv.paint(np.clip(txt, 0, 1), (0.55, 0.15, 0.12), 0.9)
    if state not in ("pill_type", "faulty_imprint"):
        surface(cv, rng, state, _erode_x(body))
    return cv


@scene("screw")
def screw(rng, S, state):
    cv = _background(rng, S, (0.82, 0.82, 0.8), 0.03)
    c, a = _jitter(rng, S, 0.05), rng.uniform(0, 2 * np.pi)
    place = lambda pts: rotate_points(np.asarray(pts) * S, a, (0, 0)) + c  # noqa: E731
    metal = _tint(rng, (0.38, 0.38, 0.4))
    tip_len = 0.05 if state == "manipulated_front" else 0.12
    shaft = cv.polygon(place([[-0.15, -0.04], [0.25, -0.04], [0.25 + tip_len, 0.0], [0.25, 0.04], [-0.15, 0.04]]))
    cv.paint(shaft, metal)
    for k in range(13):  # thread ridges
        x0 = -0.1 + k * 0.03
        cv.paint(cv.polyline(place([[x0, -0.045], [x0 + 0.015, 0.045]]), 0.008 * S), (0.62, 0.62, 0.64), 0.8)
    head_c = place([[-0.2, 0]])[0]
    head = cv.ellipse(head_c, 0.09 * S, blur=1)
    cv.paint(head, metal * 1.1)
    cv.paint(cv.polyline(place([[-0.2, -0.05], [-0.2, 0.05]]), 0.02 * S), (0.15, 0.15, 0.16))
    regions = {
        "scratch_head": head * (1 - cv.ellipse(head_c, 0.04 * S)),
        "scratch_neck": cv.polygon(place([[-0.14, -0.03], [-0.06, -0.03], [-0.06, 0.03], [-0.14, 0.03]])),
        "thread_side": cv.polygon(place([[-0.02, -0.05], [0.14, -0.05], [0.14, -0.03], [-0.02, -0.03]])),
        "thread_top": cv.polygon(place([[0.18, -0.04], [0.27, -0.04], [0.27, 0.04], [0.18, 0.04]])),
    }
    if state in ("scratch_head", "scratch_neck"):
        DEFECTS["scratch"](cv, rng, regions[state])
    elif state in ("thread_side", "thread_top"):  # damaged thread: a bite out of the shaft edge
        x, y = pick(rng, regions[state])
        cv.paint(cv.polygon(blob(rng, (x, y), 0.035 * unit(S), 0.3), blur=1), cv.img[2, 2], 1.0)
        cv.paint(cv.polygon(blob(rng, (x, y), 0.018 * unit(S), 0.3)), (0.7, 0.7, 0.72), 0.6)
    elif state == "manipulated_front":
        p = place([[0.27, 0.0]])[0]
        cv.paint(cv.polygon(blob(rng, p, 0.035 * unit(S), 0.6), blur=1), metal * 0.6, 0.9)
    return cv


@scene("toothbrush")
def toothbrush(rng, S, state):
    cv = _background(rng, S, (0.9, 0.9, 0.9), 0.02)
    c = _jitter(rng, S, 0.03)
    plastic = [(0.75, 0.1, 0.15), (0.1, 0.3, 0.75), (0.2, 0.6, 0.3)][rng.integers(3)]
    cv.paint(cv.ellipse(c, 0.2 * S, 0.44 * S, blur=1), _tint(rng, plastic))
    bristle = _tint(rng, (0.95, 0.95, 0.95) if rng.random() < 0.5 else (0.5, 0.75, 0.95))
    bad = set(rng.choice(36, rng.integers(2, 5), replace=False)) if state == "defective" else set()
    for k in range(36):
        i, j = divmod(k, 4)
        p = c + np.array([(j - 1.5) * 0.085, (i - 4) * 0.085]) * S
        if k in bad:
            if rng.random() < 0.4:
                continue  # missing tuft
            p = p + rng.normal(0, 0.03, 2) * S
            cv.paint(cv.polygon(blob(rng, p, 0.05 * S, 0.6)), bristle * 0.85, 0.9)
        else:
            cv.paint(cv.ellipse(p, 0.035 * S, blur=0.8), bristle, 0.95)
            cv.paint(cv.ellipse(p, 0.02 * S, blur=1.5), bristle * 0.8, 0.5)
    return cv


@scene("transistor")
def transistor(rng, S, state):
    cv = _background(rng, S, (0.72, 0.7, 0.6), 0.05)
    c = _jitter(rng, S, 0.02)
    a = 0.0
    if state == "misplaced":
        if rng.random() < 0.3:
            return cv  # the part is missing altogether
        a, c = rng.choice([-1, 1]) * rng.uniform(0.25, 0.6), c + rng.uniform(-0.1, 0.1, 2) * S
    place = lambda pts: rotate_points(np.asarray(pts) * S + c, a, c)  # noqa: E731
    leads = [[[x, 0.1], [x, 0.45]] for x in (-0.12, 0.0, 0.12)]
    k = rng.integers(3)
    if state == "bent_lead":
        leads[k] = [[leads[k][0][0], 0.1], [leads[k][0][0], 0.22], [leads[k][0][0] + rng.choice([-1, 1]) * 0.14, 0.4]]
    if state == "cut_lead":
        leads[k][1] = [leads[k][0][0], rng.uniform(0.17, 0.25)]
    for lead in leads:
        cv.paint(cv.polyline(place(lead), 0.035 * S), (0.75, 0.75, 0.78))
    cv.paint(cv.polygon(place([[-0.18, -0.35], [0.18, -0.35], [0.18, -0.12], [-0.18, -0.12]]), blur=1), (0.6, 0.6, 0.62))
    cv.paint(cv.ellipse(place([[0, -0.24]])[0], 0.05 * S, blur=1), (0.35, 0.35, 0.36))
    case = cv.polygon(place([[-0.22, -0.14], [0.22, -0.14], [0.22, 0.12], [-0.22, 0.12]]), blur=1)
    cv.paint(case, _tint(rng, (0.1, 0.1, 0.11)))
    if state == "damaged_case":
        x, y = pick(rng, _erode_x(case))
        cv.paint(cv.polygon(blob(rng, (x, y), 0.05 * unit(S), 0.5), blur=1), (0.5, 0.48, 0.45), 0.9)
    return cv


@scene("zipper")
def zipper(rng, S, state):
    cv = Canvas(S)
    y, x = np.mgrid[0:S, 0:S].astype(np.float32)
    weave = 0.5 + 0.5 * np.sin(2 * np.pi * x / (0.02 * S)) * np.sin(2 * np.pi * y / (0.02 * S))
    v = 0.25 + 0.1 * weave + 0.1 * smooth_noise(rng, S, S / 10)
    cv.img = (v[..., None] * _tint(rng, (1.0, 1.0, 1.05))[None, None]).astype(np.float32)
    cx = S / 2 + rng.uniform(-0.03, 0.03) * S
    structural = ("broken_teeth", "split_teeth", "squeezed_teeth", "fabric_border", "fabric_interior", "rough")
    todo = set(rng.choice(structural, 2, replace=False)) if state == "combined" else {state}
    y0 = rng.uniform(0.3, 0.6) * S
    teeth_col = _tint(rng, (0.7, 0.7, 0.72))
    yy, pitch = 0.02 * S, 0.045 * S
    while yy < S:
        for side in (-1, 1):
            py = yy + (pitch / 2 if side > 0 else 0)
            gap = 0.05 * S * np.exp(-((py - y0) / (0.12 * S)) ** 2) if "split_teeth" in todo else 0
            if "broken_teeth" in todo and side < 0 and abs(py - y0) < 0.06 * S:
                continue
            x0 = cx + side * gap - (0.07 * S if side < 0 else 0)
            cv.paint(cv.polygon([[x0, py], [x0 + 0.07 * S, py], [x0 + 0.07 * S, py + 0.026 * S], [x0, py + 0.026 * S]]),
                     teeth_col, 0.95)
        near = "squeezed_teeth" in todo and abs(yy - y0) < 0.1 * S
        yy += pitch * (0.6 if near else 1.0)
    band = np.exp(-((x - cx) / (0.07 * S)) ** 2)
    if "rough" in todo:
        DEFECTS["rough"](cv, rng, (band > 0.5) * _inner(S, 0.2))
    if "fabric_border" in todo:
        DEFECTS[rng.choice(["hole", "thread", "color"])](cv, rng, (np.abs(x - cx) < 0.14 * S) * (band < 0.4) * _inner(S))
    if "fabric_interior" in todo:
        DEFECTS[rng.choice(["hole", "thread", "color"])](cv, rng, (np.abs(x - cx) > 0.28 * S) * _inner(S, 0.12))
    return cv
