"""Reading images into RGB uint8 arrays, and the deterministic resize that training and the runtime share.

Only PIL and numpy are used here: training (``slimnas.data``) and the deploy-only runtime share this file, so
the device preprocesses exactly as training did.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import DataError


def to_rgb(img: Image.Image) -> Image.Image:
    """RGB from any mode: 16-bit and float are rescaled (PIL's own conversion would clip them to white)."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        img = Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode == "P":
        img = img.convert("RGBA")
    return img.convert("RGB")


MAX_PIXELS = 100_000_000  # 10k x 10k: larger is a decompression bomb or a mistake, never an inspection image


def load_image(path: str | Path) -> Image.Image:
    """Open and fully decode an image as RGB, upright by its EXIF orientation.

    A missing, unreadable or oversized file (a decompression bomb) raises ``DataError`` naming it; the
    size is checked from the header, before any pixel is decoded.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if img.width * img.height > MAX_PIXELS:
                    raise DataError(f"{path}: image too large ({img.width}x{img.height} pixels, more than "
                                    f"{MAX_PIXELS:,}); refusing to decode it")
                img.load()
                return to_rgb(ImageOps.exif_transpose(img))
    except FileNotFoundError:
        raise DataError(f"{path}: image file not found") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise DataError(f"{path}: image too large, refused as a possible decompression bomb ({e})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(f"{path}: cannot decode image ({e})") from None


def resize(img: Image.Image, size: int, mode: str = "resize") -> np.ndarray:
    """Square ``size``×``size`` uint8 RGB: ``resize`` stretches, ``pad`` keeps the aspect ratio and pads black."""
    if mode == "resize":
        return np.asarray(img.resize((size, size), Image.BILINEAR))
    if mode == "pad":
        scale = size / max(img.size)
        w, h = max(1, round(img.width * scale)), max(1, round(img.height * scale))
        canvas = Image.new("RGB", (size, size))
        canvas.paste(img.resize((w, h), Image.BILINEAR), ((size - w) // 2, (size - h) // 2))
        return np.asarray(canvas)
    raise ValueError(f"unknown resize mode {mode!r}; use 'resize' or 'pad'")


def normalize(batch: np.ndarray, mean, std) -> np.ndarray:
    """uint8 N×H×W×3 → float32 N×3×H×W, ``(x/255 - mean) / std``."""
    x = batch.astype(np.float32) / 255.0
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
