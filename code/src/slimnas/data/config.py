"""The data YAML: which dataset, how to split, augment and balance it; and the loaders it builds."""

from __future__ import annotations

import copy
import difflib
import functools
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from torch.utils.data import DataLoader, WeightedRandomSampler

from ..settings import from_dict
from ..configs import find_config
from ..errors import ConfigError
from ..io import cache_dir, read_yaml
from .dataset import ImageDataset
from .sources import Source, list_source
from .split import stratified_kfold, stratified_split
from .transforms import DEFAULT_AUGMENT, build_transforms, check_invariances

KINDS = ("synthetic", "dacon_csv", "mvtec", "image_folder")
DEFAULT_DATA = "synthetic"  # the packaged data YAML every command uses when given none
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


@dataclass
class DataConfig:
    kind: str = "synthetic"  # synthetic | dacon_csv | mvtec | image_folder
    root: str | None = None  # synthetic: where to generate (default: the cache dir)
    synthetic: dict = field(default_factory=lambda: {"scale": 1.0, "size": 128, "seed": 0})
    img_size: int = 96
    resize: str = "resize"  # resize | pad
    batch_size: int = 64
    num_workers: int = 0
    val_fraction: float = 0.2
    n_folds: int | None = None  # k-fold instead of a hold-out split
    fold: int = 0
    seed: int = 0
    cache_images: bool = True
    skip_bad_images: bool = False
    augment: list = field(default_factory=lambda: list(DEFAULT_AUGMENT))
    # Label-preserving symmetries (hflip, vflip, rot90): what flip/rotate augmentation and --tta may use.
    # None by default: MVTec labels such as metal_nut-flip or transistor-misplaced are defined by pose.
    invariant_to: list = field(default_factory=list)
    mean: list = field(default_factory=lambda: list(IMAGENET_MEAN))
    std: list = field(default_factory=lambda: list(IMAGENET_STD))
    # Defaults for imbalanced data under macro-F1 (the target task is up to ~100:1): images drawn with weight
    # count ** -sampler_power, 1.0 = every label equally often. Measured (bench/train_recipe.py): unweighted
    # sampling lost ~0.2 macro-F1; power 1.0 and no label smoothing beat 0.5 and 0.1 by ~0.08.
    sampler: str | None = "weighted"  # None | weighted (inverse class frequency ** sampler_power)
    sampler_power: float = 1.0
    loss: str = "ce"  # ce | focal
    label_smoothing: float = 0.0
    focal_gamma: float = 2.0
    class_weights: bool = False  # weight the loss by inverse class frequency ** sampler_power
    source: str = field(default="<data config>", compare=False)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("source")
        return d

    @property
    def preprocessing(self) -> dict:
        """What inference must repeat: stored in checkpoints and ONNX metadata."""
        return {"input_size": self.img_size, "resize": self.resize, "mean": list(self.mean), "std": list(self.std),
                "invariant_to": list(self.invariant_to)}


def folder_layout(folder: Path) -> str:
    """The packaged data YAML whose layout ``folder`` holds: the competition CSV layout or MVTec AD's."""
    if (folder / "train_df.csv").is_file():
        return "dacon_csv"
    if any(folder.glob("*/train/good")):
        return "mvtec"
    raise ConfigError(f"{folder}: a folder given as data must hold train_df.csv (the competition CSV layout) or "
                      f"<category>/train/good/ (MVTec AD); for another layout write a data YAML (docs/data.md)")


def load_data_config(path: str | Path | None = None, **overrides) -> DataConfig:
    """Read and check a data YAML (``None``: the packaged ``synthetic`` YAML, the one every command means by
    "the embedded synthetic data"); ``overrides`` win over the file.

    Everything is checked here, before any image is read or generated, so a mistake costs seconds. A folder
    in one of the two real layouts stands for its shipped YAML with ``root`` set to it.
    """
    if path is not None and Path(path).is_dir():
        return load_data_config(folder_layout(Path(path)), **{"root": str(Path(path).resolve()), **overrides})
    path = find_config(path or DEFAULT_DATA, "data")
    data = read_yaml(path)
    if data is None:
        raise ConfigError(f"{path}: the data YAML is empty; give at least 'kind' (and 'root' for your own images)")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a data YAML must be a mapping of settings, got a {type(data).__name__}")
    if "kind" not in data:
        raise ConfigError(f"{path}: 'kind' is required (one of {', '.join(KINDS)})")
    data = {**data, **{k: v for k, v in overrides.items() if v is not None}}
    cfg = from_dict(DataConfig, data, str(path))
    if cfg.kind not in KINDS:
        close = difflib.get_close_matches(str(cfg.kind), KINDS, 1)
        raise ConfigError(f"{cfg.source}: unknown kind {cfg.kind!r}" + (f"; did you mean {close[0]!r}?" if close else
                                                                       f" (known: {', '.join(KINDS)})"))
    if cfg.kind != "synthetic" and not cfg.root:
        raise ConfigError(f"{cfg.source}: 'root' is required for kind {cfg.kind!r}")
    if cfg.n_folds is None and not 0 < cfg.val_fraction < 1:
        raise ConfigError(f"{cfg.source}: val_fraction must be between 0 and 1 (exclusive), got {cfg.val_fraction}")
    if cfg.n_folds is not None and cfg.n_folds < 2:
        raise ConfigError(f"{cfg.source}: n_folds must be >= 2 (or null for a hold-out split), got {cfg.n_folds}")
    if cfg.n_folds is not None and not 0 <= cfg.fold < cfg.n_folds:
        raise ConfigError(f"{cfg.source}: fold must be in 0..{cfg.n_folds - 1} for n_folds {cfg.n_folds}, got {cfg.fold}")
    if cfg.kind == "synthetic":
        synthetic_options(cfg)
    check_invariances(cfg)
    if cfg.sampler not in (None, "weighted"):
        raise ConfigError(f"{cfg.source}: sampler must be null or 'weighted', got {cfg.sampler!r}")
    if cfg.loss not in ("ce", "focal"):
        raise ConfigError(f"{cfg.source}: loss must be 'ce' or 'focal', got {cfg.loss!r}")
    if cfg.resize not in ("resize", "pad"):
        raise ConfigError(f"{cfg.source}: resize must be 'resize' or 'pad', got {cfg.resize!r}")
    if cfg.img_size < 8 or cfg.batch_size < 1:
        raise ConfigError(f"{cfg.source}: img_size must be >= 8 and batch_size >= 1")
    build_transforms(cfg.augment, cfg.mean, cfg.std, cfg.source)  # fail now, naming the entry
    return cfg


def synthetic_options(cfg: DataConfig) -> dict:
    """The checked ``synthetic:`` options of a synthetic data config, defaults filled in."""
    from .synthetic.defects import DEFAULT_DEFECT_SCALE

    defaults = {"scale": 1.0, "size": 128, "seed": 0, "defect_scale": DEFAULT_DEFECT_SCALE}
    opts = {**defaults, **cfg.synthetic}
    unknown = set(opts) - set(defaults)
    if unknown:
        raise ConfigError(f"{cfg.source}: unknown synthetic option(s) {sorted(unknown)} (known: {', '.join(defaults)})")
    for key, low in (("scale", 0), ("size", 8), ("defect_scale", 0)):
        v = opts[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > low:
            raise ConfigError(f"{cfg.source}: synthetic.{key} must be a number > {low}, got {v!r}")
    return opts


def dataset_path(cfg: DataConfig) -> Path:
    """The folder the data is read from, made or not (a synthetic set lives in the cache, one folder per draw)."""
    if cfg.kind != "synthetic":
        return Path(cfg.root)
    opts = synthetic_options(cfg)
    name = f"synthetic-scale{opts['scale']}-size{opts['size']}-seed{opts['seed']}-defects{opts['defect_scale']}"
    return Path(cfg.root) if cfg.root else cache_dir() / name


def dataset_root(cfg: DataConfig) -> Path:
    """The folder to read; for ``synthetic`` it is generated on first use (see :func:`prepare_data`)."""
    root = dataset_path(cfg)
    if cfg.kind == "synthetic" and not (root / "synthetic.json").is_file():
        from .synthetic import generate

        opts = synthetic_options(cfg)
        print(f"data: generating the synthetic MVTec look-alike into {root} (once; later runs reuse it)", flush=True)
        t0 = time.perf_counter()
        generate(root, float(opts["scale"]), int(opts["size"]), int(opts["seed"]), replace=False,
                 defect_scale=float(opts["defect_scale"]))
        print(f"data: generated in {time.perf_counter() - t0:.1f} s", flush=True)
    return root


def prepare_data(cfg: DataConfig) -> Path:
    """Make the data exist on disk (generate the synthetic set if needed): the step every command runs
    before its own clock starts, so no search or training budget is spent on it."""
    return dataset_root(cfg)


@dataclass
class DataBundle:
    """Everything a trainer needs from the data YAML."""

    cfg: DataConfig
    source: Source
    train: ImageDataset
    val: ImageDataset
    eval_transform: object = None

    @property
    def classes(self) -> list[str]:
        return self.source.classes

    @functools.cached_property
    def _labelled_test(self) -> ImageDataset | None:
        answers = self.source.test_labels
        if not answers:
            return None
        idx = {c: i for i, c in enumerate(self.classes)}
        items = [(path, idx[answers[i]]) for i, path in self.source.test if i in answers]
        return ImageDataset(items, size=self.cfg.img_size, transform=self.eval_transform, resize_mode=self.cfg.resize,
                            cache=self.cfg.cache_images, desc="test images")

    def labelled_test(self) -> ImageDataset | None:
        """The test split with its answers (a synthetic set ships them), else None; decoded once.

        Selection (early stopping, the search) looks at val only, so test F1 is the unbiased number.
        """
        return self._labelled_test

    def class_weights(self) -> torch.Tensor:
        counts = Counter(self.train.labels)
        w = torch.tensor([counts.get(i, 1) for i in range(len(self.classes))], dtype=torch.float) ** -self.cfg.sampler_power
        return w / w.mean()

    def calibration(self) -> ImageDataset:
        """The training images through the evaluation transform, in listing order: what INT8 ranges are fitted on
        and pruning measures its cuts on. Augmented (and sampler-drawn) images would make either change from run
        to run."""
        images = copy.copy(self.train)  # shares the decoded-image cache
        images.transform = self.val.transform
        return images

    def with_val_in_train(self) -> DataBundle:
        """The same data with the val images added to the training set (the final fit); val stays as it is."""
        train = copy.copy(self.train)
        train.items = self.train.items + self.val.items
        if self.train.images is not None:
            train.images = self.train.images + self.val.images
        return replace(self, train=train)

    def loaders(self, batch_size: int | None = None, seed: int | None = None) -> tuple[DataLoader, DataLoader]:
        """(train, val) loaders. ``seed`` is the *training* seed: it orders the batches (and the class-balanced
        draws) and restarts the augmentation's generator, so two training seeds see different batches and
        augmentations while the data seed (``cfg.seed``) fixes only the split. ``None``: the data seed."""
        bs = batch_size or self.cfg.batch_size
        seed = self.cfg.seed if seed is None else seed
        g = torch.Generator().manual_seed(seed)
        if hasattr(self.train.transform, "set_random_seed"):
            self.train.transform.set_random_seed(seed)
        sampler = None
        if self.cfg.sampler == "weighted":
            w = self.class_weights()[torch.tensor(self.train.labels)]
            sampler = WeightedRandomSampler(w.double(), len(w), replacement=True, generator=g)
        common = {"num_workers": self.cfg.num_workers, "persistent_workers": self.cfg.num_workers > 0}
        train = DataLoader(self.train, bs, shuffle=sampler is None, sampler=sampler, generator=g,
                           drop_last=len(self.train) > bs, **common)
        val = DataLoader(self.val, bs, shuffle=False, **common)
        return train, val


def list_data(cfg: DataConfig) -> Source:
    """The dataset's listing (files and labels), without decoding an image. Synthetic data is written in the
    competition CSV layout, so it is listed as one."""
    return list_source(cfg.kind if cfg.kind != "synthetic" else "dacon_csv", dataset_root(cfg), cfg.skip_bad_images)


def test_layout(cfg: DataConfig) -> Path | None:
    """The folder with ``test_df.csv`` + ``test/`` (the competition's unlabelled test split) that the predictor
    reads, when the data has one (synthetic data is written in that layout)."""
    root = dataset_root(cfg)
    return root if cfg.kind in ("synthetic", "dacon_csv") and (root / "test_df.csv").is_file() else None


def split_source(cfg: DataConfig) -> tuple[Source, list[int], list[int]]:
    """The listing and its (train, val) indices, without decoding an image."""
    source = list_data(cfg)
    labels = [y for _, y in source.train]
    if cfg.n_folds:
        return source, *stratified_kfold(labels, cfg.n_folds, cfg.fold, cfg.seed)
    return source, *stratified_split(labels, cfg.val_fraction, cfg.seed)


def build_data(cfg: DataConfig) -> DataBundle:
    """List, split and (optionally) cache the dataset described by ``cfg``."""
    source, train_idx, val_idx = split_source(cfg)
    train_tf, eval_tf = build_transforms(cfg.augment, cfg.mean, cfg.std, cfg.source, cfg.seed)
    common = {"size": cfg.img_size, "resize_mode": cfg.resize, "cache": cfg.cache_images, "skip_bad": cfg.skip_bad_images}
    train = ImageDataset([source.train[i] for i in train_idx], transform=train_tf, desc="train images", **common)
    val = ImageDataset([source.train[i] for i in val_idx], transform=eval_tf, desc="val images", **common)
    return DataBundle(cfg, source, train, val, eval_tf)
