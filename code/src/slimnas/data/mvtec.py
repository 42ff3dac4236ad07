"""Facts of the MVTec AD "anomaly classes" task: the per-label image counts of MVTec AD's test split and of
the public competition built on it (Bergmann et al., "MVTec AD", CVPR 2019; the competition's train_df.csv).

``TEST_COUNTS[category][state]`` is the MVTec AD test count; the competition's train set has
``TRAIN_GOOD[category]`` good images and ``ceil(n_test / 2)`` images of each defect label.
"""

from __future__ import annotations

import math

TRAIN_GOOD = {
    "bottle": 209, "cable": 224, "capsule": 219, "carpet": 280, "grid": 264, "hazelnut": 391,
    "leather": 245, "metal_nut": 220, "pill": 267, "screw": 320, "tile": 230, "toothbrush": 60,
    "transistor": 213, "wood": 247, "zipper": 240,
}

TEST_COUNTS = {
    "bottle": {"good": 20, "broken_large": 20, "broken_small": 22, "contamination": 21},
    "cable": {"good": 58, "bent_wire": 13, "cable_swap": 12, "combined": 11, "cut_inner_insulation": 14,
              "cut_outer_insulation": 10, "missing_cable": 12, "missing_wire": 10, "poke_insulation": 10},
    "capsule": {"good": 23, "crack": 23, "faulty_imprint": 22, "poke": 21, "scratch": 23, "squeeze": 20},
    "carpet": {"good": 28, "color": 19, "cut": 17, "hole": 17, "metal_contamination": 17, "thread": 19},
    "grid": {"good": 21, "bent": 12, "broken": 12, "glue": 11, "metal_contamination": 11, "thread": 11},
    "hazelnut": {"good": 40, "crack": 18, "cut": 17, "hole": 18, "print": 17},
    "leather": {"good": 32, "color": 19, "cut": 19, "fold": 17, "glue": 19, "poke": 18},
    "metal_nut": {"good": 22, "bent": 25, "color": 22, "flip": 23, "scratch": 23},
    "pill": {"good": 26, "color": 25, "combined": 17, "contamination": 21, "crack": 26, "faulty_imprint": 19,
             "pill_type": 9, "scratch": 24},
    "screw": {"good": 41, "manipulated_front": 24, "scratch_head": 24, "scratch_neck": 25, "thread_side": 23,
              "thread_top": 23},
    "tile": {"good": 33, "crack": 17, "glue_strip": 18, "gray_stroke": 16, "oil": 18, "rough": 15},
    "toothbrush": {"good": 12, "defective": 30},
    "transistor": {"good": 60, "bent_lead": 10, "cut_lead": 10, "damaged_case": 10, "misplaced": 10},
    "wood": {"good": 19, "color": 8, "combined": 11, "hole": 10, "liquid": 10, "scratch": 21},
    "zipper": {"good": 32, "broken_teeth": 19, "combined": 16, "fabric_border": 17, "fabric_interior": 16,
               "rough": 17, "split_teeth": 18, "squeezed_teeth": 16},
}


def label_of(category: str, state: str) -> str:
    return f"{category}-{state}"


def all_labels() -> list[str]:
    """The 88 labels, sorted: index 0 is ``bottle-broken_large``, 87 ``zipper-squeezed_teeth``."""
    return sorted(label_of(c, s) for c, states in TEST_COUNTS.items() for s in states)


def competition_counts(split: str = "train") -> dict[str, int]:
    """Images per label: the competition's train split, or the held-out rest (``"test"``)."""
    counts = {}
    for c, states in TEST_COUNTS.items():
        for s, n_test in states.items():
            if s == "good":
                counts[label_of(c, s)] = TRAIN_GOOD[c] if split == "train" else n_test
            else:
                n_train = math.ceil(n_test / 2)
                counts[label_of(c, s)] = n_train if split == "train" else n_test - n_train
    return dict(sorted(counts.items()))
