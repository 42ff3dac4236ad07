#!/usr/bin/env python
"""A second dataset, built unlike the synthetic default: crops of real photographs with painted defects.

    python bench/photo_data.py --out data/photo          # ~1,100 train / ~300 test images, 31 labels, 96 px

Issue 26 asks for data no design decision saw, made differently from the generator every default was tuned
beside: other surfaces, other defect kinds, another label count and resolution. Here

- the surfaces are **real photographs** shipped inside scikit-image and scikit-learn (brick, grass, gravel, coffee,
  a cat's fur, a retina, a stained tissue section, a city view): no procedural scene, no download;
- each image is a random crop of its category's photograph (anywhere on a texture, near the centre of an object),
  turned, lit and noised a little, at **96 px**;
- the defects are painted with **other kinds** than the synthetic generator's scratches, cracks and holes: a dent
  (the surface pushed in and shaded), a blurred patch, a burn, a tear, a misplaced piece of the same photo, a cluster
  of spots, a glare and a smear;
- **31 labels** (8 categories: good + 2-3 defects each), imbalanced as the real task is: 80-150 good training images
  per category, 3-12 of each defect.

It writes the competition CSV layout (train_df.csv + train/, test_df.csv + test/, test_labels.csv), so the road runs on
it exactly as on a user's own data: ``python demo.py --data data/photo --budget 600 --epochs 40``. The dataset is
defined by ``--seed`` alone (categories' defect kinds and every image); nothing in slimnas was chosen on it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from slimnas.cli import run_cli
from slimnas.io import write_csv, write_json

SIZE = 96
PAINT = 2 * SIZE  # painted at twice the size, then downsampled: anti-aliased edges
# category -> (where its photograph comes from, texture: crops anywhere | object: crops near the centre)
CATEGORIES = {
    "brick": ("skimage:brick", "texture"), "grass": ("skimage:grass", "texture"),
    "gravel": ("skimage:gravel", "texture"), "coffee": ("skimage:coffee", "object"),
    "fur": ("skimage:chelsea", "texture"), "retina": ("skimage:retina", "object"),
    "tissue": ("skimage:immunohistochemistry", "texture"), "city": ("sklearn:china.jpg", "texture"),
}
DEFECT_COUNTS = [3, 3, 3, 3, 3, 3, 3, 2]  # defects per category (shuffled by seed): 8 good + 23 defects = 31 labels


def photo(source: str) -> np.ndarray:
    """The category's photograph as float RGB in [0, 1]."""
    lib, name = source.split(":")
    if lib == "skimage":
        import skimage.data

        img = getattr(skimage.data, name)()
    else:
        from sklearn.datasets import load_sample_image

        img = load_sample_image(name)
    img = np.asarray(img, dtype=np.float32) / 255.0
    return np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img[..., :3]


def crop(img: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """A random ``PAINT``-px view of the photograph: turned a little, lit and noised a little."""
    h, w = img.shape[:2]
    side = min(h, w) * (rng.uniform(0.3, 0.55) if kind == "texture" else rng.uniform(0.75, 0.9))
    if kind == "texture":  # the turned crop's corners stay inside the photograph
        m = side / np.sqrt(2)
        cy, cx = rng.uniform(m, h - m), rng.uniform(m, w - m)
    else:
        cy, cx = h / 2 + rng.normal(0, 0.03) * h, w / 2 + rng.normal(0, 0.03) * w
    pil = Image.fromarray((img * 255).astype(np.uint8))
    angle = rng.uniform(0, 360) if kind == "texture" else rng.uniform(-8, 8)
    pil = pil.rotate(angle, resample=Image.BILINEAR, center=(cx, cy))
    box = (int(cx - side / 2), int(cy - side / 2), int(cx + side / 2), int(cy + side / 2))
    out = np.asarray(pil.crop(box).resize((PAINT, PAINT), Image.BILINEAR), dtype=np.float32) / 255.0
    out = (out - 0.5) * rng.uniform(0.85, 1.15) + 0.5 + rng.uniform(-0.07, 0.07)
    return out + rng.normal(0, 0.015, out.shape).astype(np.float32)


def blob(rng: np.random.Generator, radius: tuple[float, float] = (0.07, 0.15)) -> tuple[np.ndarray, float, float, float]:
    """A soft elliptic mask somewhere in the central 80 %, and its centre and radius in pixels."""
    r = rng.uniform(*radius) * PAINT
    cy, cx = rng.uniform(0.15, 0.85, 2) * PAINT
    yy, xx = np.mgrid[:PAINT, :PAINT]
    a, t = rng.uniform(0.6, 1.4), rng.uniform(0, np.pi)
    u, v = (xx - cx) * np.cos(t) + (yy - cy) * np.sin(t), -(xx - cx) * np.sin(t) + (yy - cy) * np.cos(t)
    d = np.sqrt((u / (r * a)) ** 2 + (v * a / r) ** 2)
    return np.clip(1.5 - d, 0, 1)[..., None].astype(np.float32), cy, cx, r


def stroke(rng: np.random.Generator, width: int, jagged: bool) -> np.ndarray:
    """A mask of one line across part of the image: a smooth bend, or a jagged walk."""
    p = rng.uniform(0.2, 0.8, 2) * PAINT
    heading, length = rng.uniform(0, 2 * np.pi), rng.uniform(0.25, 0.5) * PAINT
    points = [tuple(p)]
    for _ in range(12):
        heading += rng.normal(0, 0.6 if jagged else 0.12)
        p = p + length / 12 * np.array([np.cos(heading), np.sin(heading)])
        points.append(tuple(p))
    mask = Image.new("L", (PAINT, PAINT))
    ImageDraw.Draw(mask).line(points, fill=255, width=width, joint="curve")
    return (np.asarray(mask, dtype=np.float32) / 255.0)[..., None]


def dent(img, rng):  # the surface pushed in: pixels pulled towards a centre, one side shaded, the other lit
    m, cy, cx, r = blob(rng, (0.08, 0.14))
    yy, xx = np.mgrid[:PAINT, :PAINT].astype(np.float32)
    pull = 0.45 * m[..., 0]
    warped = np.stack([ndimage.map_coordinates(img[..., c], [yy + (cy - yy) * pull, xx + (cx - xx) * pull], order=1,
                                               mode="reflect") for c in range(3)], axis=2)
    shade = ((xx - cx) + (yy - cy)) / max(r, 1) * 0.18 * m[..., 0]
    return warped * (1 - shade[..., None])


def blur(img, rng):  # out of focus in one patch
    m, *_ = blob(rng, (0.1, 0.18))
    return img * (1 - m) + ndimage.gaussian_filter(img, sigma=(5, 5, 0)) * m


def burn(img, rng):  # darkened and browned towards its centre
    m, *_ = blob(rng, (0.07, 0.13))
    return img * (1 - 0.75 * m) + np.array([0.25, 0.12, 0.03], np.float32) * 0.75 * m * m


def tear(img, rng):  # a jagged gap that shows a pale backing
    m = ndimage.gaussian_filter(stroke(rng, int(rng.integers(3, 6)), jagged=True), sigma=(0.7, 0.7, 0))
    return img * (1 - m) + 0.92 * m


def swap(img, rng):  # a square piece of the same photograph set in the wrong place, turned
    s = int(rng.uniform(0.18, 0.28) * PAINT)
    (y0, x0), (y1, x1) = rng.integers(int(0.1 * PAINT), int(0.9 * PAINT) - s, (2, 2))
    out = img.copy()
    out[y1:y1 + s, x1:x1 + s] = np.rot90(img[y0:y0 + s, x0:x0 + s], int(rng.integers(1, 4)))
    return out


def spots(img, rng):  # a cluster of small dark or coloured dots
    out, (cy, cx) = img.copy(), rng.uniform(0.2, 0.8, 2) * PAINT
    color = np.array(rng.choice([[0.05, 0.05, 0.05], [0.55, 0.1, 0.1], [0.1, 0.35, 0.1]]), np.float32)
    yy, xx = np.mgrid[:PAINT, :PAINT]
    for _ in range(int(rng.integers(6, 14))):
        y, x, r = cy + rng.normal(0, 12), cx + rng.normal(0, 12), rng.uniform(2, 4.5)
        m = np.clip(r + 0.5 - np.hypot(yy - y, xx - x), 0, 1)[..., None]
        out = out * (1 - m) + color * m
    return out


def glare(img, rng):  # a specular highlight
    m, *_ = blob(rng, (0.06, 0.12))
    return img + 0.8 * m * m


def smear(img, rng):  # a dirty streak where the surface was dragged along one direction
    m = ndimage.gaussian_filter(stroke(rng, int(rng.integers(8, 14)), jagged=False), sigma=(2, 2, 0))
    angle = rng.uniform(0, 180)
    dragged = ndimage.uniform_filter1d(ndimage.rotate(img, angle, axes=(1, 0), reshape=False, mode="reflect"), 31, axis=1)
    dragged = ndimage.rotate(dragged, -angle, axes=(1, 0), reshape=False, mode="reflect")
    return img * (1 - m) + 0.75 * dragged * m


DEFECTS = {f.__name__: f for f in (dent, blur, burn, tear, swap, spots, glare, smear)}


def labels(seed: int) -> dict[str, list[str]]:
    """Category -> its states (``good`` first): each category's defect kinds, drawn by ``seed``."""
    rng = np.random.default_rng([seed, 0])
    counts = rng.permutation(DEFECT_COUNTS)
    return {c: ["good", *sorted(rng.choice(list(DEFECTS), n, replace=False))] for c, n in zip(CATEGORIES, counts)}


def counts(seed: int) -> dict[str, tuple[int, int]]:
    """Label -> (train, test) images: 80-150 good per category for training, 3-12 of each defect."""
    rng, out = np.random.default_rng([seed, 1]), {}
    for category, states in labels(seed).items():
        for state in states:
            train = int(rng.integers(80, 151)) if state == "good" else int(rng.integers(3, 13))
            out[f"{category}-{state}"] = (train, max(2, int(round(train * rng.uniform(0.2, 0.35)))))
    return out


def render(label: str, rng: np.random.Generator, photos: dict[str, np.ndarray]) -> Image.Image:
    category, state = label.split("-", 1)
    source, kind = CATEGORIES[category]
    img = crop(photos[source], kind, rng)
    if state != "good":
        img = DEFECTS[state](img, rng)
    pil = Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8))
    return pil.resize((SIZE, SIZE), Image.LANCZOS)


def generate(out: Path, seed: int = 0) -> Path:
    """Write the dataset to ``out`` (built beside it and renamed: complete or absent)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        photos = {source: photo(source) for source, _ in CATEGORIES.values()}
        per_label = counts(seed)
        jobs = [(split, label, k) for label, (n_train, n_test) in per_label.items()
                for split, n in (("train", n_train), ("test", n_test)) for k in range(n)]
        rows = {"train": [], "test": []}
        for split in rows:
            (tmp / split).mkdir()
        for j in np.random.default_rng([seed, 2]).permutation(len(jobs)):  # shuffled file order
            split, label, k = jobs[j]
            index = len(rows[split])
            rows[split].append((index, f"{index:05d}.png", *label.split("-", 1), label))
            rng = np.random.default_rng([seed, 3, split == "test", list(per_label).index(label), k])
            render(label, rng, photos).save(tmp / split / f"{index:05d}.png")
        write_csv(tmp / "train_df.csv", ["index", "file_name", "class", "state", "label"], rows["train"])
        write_csv(tmp / "test_df.csv", ["index", "file_name"], [r[:2] for r in rows["test"]])
        write_csv(tmp / "test_labels.csv", ["index", "label"], [(r[0], r[4]) for r in rows["test"]])
        write_json(tmp / "photo_data.json", {"seed": seed, "size": SIZE, "labels": len(per_label),
                                             "train": len(rows["train"]), "test": len(rows["test"])})
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # an interrupted run leaves nothing half-made
        raise
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="data/photo", help="dataset folder (replaced)")
    p.add_argument("--seed", type=int, default=0, help="draws each category's defect kinds and every image")
    a = p.parse_args()
    path = generate(Path(a.out), a.seed)
    info = (path / "photo_data.json").read_text().strip()
    print(f"{path}: {info}")


if __name__ == "__main__":
    run_cli(main)
