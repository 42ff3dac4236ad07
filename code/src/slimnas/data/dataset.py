"""A map-style dataset of (image, label) with an optional in-memory cache of resized images."""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from ..errors import DataError
from .images import load_image, resize


class ImageDataset(Dataset):
    """Items ``(path, label)``; images are resized to ``size`` then passed through ``transform``.

    With ``cache`` every image is decoded once up front (threads: PIL releases the GIL), which is what
    makes CPU training on small images fast. With ``skip_bad`` unreadable images are dropped with a
    warning; otherwise the first one raises :class:`DataError` naming the file.
    """

    def __init__(self, items: list[tuple[Path, int]], size: int, transform, resize_mode: str = "resize",
                 cache: bool = True, skip_bad: bool = False, desc: str = "images"):
        self.items, self.size, self.transform, self.resize_mode = list(items), size, transform, resize_mode
        self.images: list[np.ndarray] | None = None
        if cache or skip_bad:
            self._decode_all(cache, skip_bad, desc)

    def _load(self, path: Path) -> np.ndarray:
        return resize(load_image(path), self.size, self.resize_mode)

    def _decode_all(self, cache: bool, skip_bad: bool, desc: str) -> None:
        def safe(path):
            try:
                return self._load(path)
            except DataError as e:
                if not skip_bad:
                    raise
                warnings.warn(f"skipping unreadable image: {e}", stacklevel=2)
                return None

        with ThreadPoolExecutor(4) as pool:
            arrays = list(tqdm(pool.map(safe, [p for p, _ in self.items]), total=len(self.items),
                               desc=f"loading {desc}", leave=False, disable=len(self.items) < 500))
        keep = [i for i, a in enumerate(arrays) if a is not None]
        self.items = [self.items[i] for i in keep]
        self.images = [arrays[i] for i in keep] if cache else None

    @property
    def labels(self) -> list[int]:
        return [y for _, y in self.items]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        image = self.images[i] if self.images is not None else self._load(self.items[i][0])
        return self.transform(image=image)["image"], self.items[i][1]
