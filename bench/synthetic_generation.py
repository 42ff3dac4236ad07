#!/usr/bin/env python
"""How long the synthetic data takes to generate: one process against one per core, interleaved.

    python bench/synthetic_generation.py                   # scale 0.25 (1,300 images), 3 rounds
    python bench/synthetic_generation.py --scale 1 --rounds 1   # the default data set, as a cold cache makes it

Each round generates the same data set (same seed) once with ``workers=1`` and once with every core,
alternating which goes first, into fresh folders; the two outputs are checked to be byte-identical.
Writes bench/results/synthetic_generation.json and .md.
"""

import argparse
import filecmp
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from common import machine, publish
from slimnas.cli import run_cli
from slimnas.data.synthetic import generate
from slimnas.io import write_json


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", type=float, default=0.25)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", default="bench/results")
    a = p.parse_args()
    cores = os.cpu_count() or 1
    times: dict[int, list[float]] = {1: [], cores: []}
    identical = True
    for r in range(a.rounds):
        order = [1, cores] if r % 2 == 0 else [cores, 1]
        with tempfile.TemporaryDirectory() as tmp:
            for workers in order:
                t0 = time.perf_counter()
                generate(Path(tmp) / f"w{workers}", a.scale, a.size, seed=0, progress=False, workers=workers)
                times[workers].append(time.perf_counter() - t0)
            names = sorted(str(f.relative_to(Path(tmp) / "w1")) for f in (Path(tmp) / "w1").rglob("*") if f.is_file())
            identical &= not filecmp.cmpfiles(Path(tmp) / "w1", Path(tmp) / f"w{cores}", names, shallow=False)[1]
            shutil.rmtree(tmp, ignore_errors=True)
        print(f"round {r + 1}: 1 process {times[1][-1]:.1f} s, {cores} processes {times[cores][-1]:.1f} s", flush=True)
    n_images = len(names) - 4  # minus the three CSVs and synthetic.json
    med = {w: statistics.median(t) for w, t in times.items()}
    meta = {**machine(), "cores": cores, "scale": a.scale, "size": a.size, "images": n_images, "rounds": a.rounds,
            "command": f"python bench/synthetic_generation.py --scale {a.scale:g} --rounds {a.rounds}"}
    rows = [{"processes": w, "median_s": round(med[w], 2), "runs_s": [round(t, 2) for t in times[w]],
             "ms_per_image": round(med[w] / n_images * 1e3, 2)} for w in times]
    write_json(Path(a.out) / "synthetic_generation.json",
               {**meta, "rows": rows, "speedup": round(med[1] / med[cores], 2), "byte_identical": identical})
    lines = [f"{n_images} images at {a.size} px (scale {a.scale:g}), {a.rounds} interleaved rounds; "
             f"{meta['machine']}, {cores} cores; {meta['date']}.", "",
             "| processes | median s | runs s | ms / image |", "|---:|---:|---|---:|"]
    lines += [f"| {r['processes']} | {r['median_s']:.1f} | {', '.join(f'{t:.1f}' for t in r['runs_s'])} | "
              f"{r['ms_per_image']:.1f} |" for r in rows]
    lines += ["", f"{cores} processes: **{med[1] / med[cores]:.2f}×** faster than one; outputs byte-identical: "
                  f"{'yes' if identical else 'NO'}."]
    publish(Path(a.out) / "synthetic_generation.md", lines)


if __name__ == "__main__":
    run_cli(main)
