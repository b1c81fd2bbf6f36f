"""Throughput of ``galmorph prepare`` on 424 x 424 JPEGs, in images per second per core.

Measures, on the same files and in the same run:

- ``crop_and_resize`` in one process, with DCT-scaled JPEG decoding (the
  default) and with a full decode (the naive path), and their ratio;
- the whole :func:`galmorph.data.cache.prepare` (catalog, worker pool,
  memory map, metadata) with 1 and 2 workers, into a temporary cache;
- how far the fast path's pixels are from the naive path's (grey levels).

Run::

    python benchmarks/prepare_throughput.py [DATA_DIR] [--workers 1,2] [--limit N]

Rates are given two ways: per wall-clock second (what a user waits) and per
CPU second actually used (``time.process_time`` and ``getrusage`` of this
process and its workers), the "images/s per core" that stays meaningful when
other processes share the cores. Report both with the load average.
"""
import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from galmorph.data.cache import prepare
from galmorph.data.catalogs import find_images
from galmorph.data.images import crop_and_resize

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "gz-kaggle-5k"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", nargs="?", default=str(DEFAULT_DATA),
                   help=f"Kaggle-layout data folder (default: {DEFAULT_DATA})")
    p.add_argument("--workers", default="1,2",
                   help="comma-separated worker counts for prepare() (default: 1,2)")
    p.add_argument("--limit", type=int, default=2000,
                   help="images for the single-process loops (default: 2000)")
    p.add_argument("--repeat", type=int, default=2,
                   help="repetitions of each single-process loop; the best is kept (default: 2)")
    return p.parse_args(argv)


def cpu_seconds():
    """CPU seconds (user + system) used so far by this process and its reaped children."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def loop_rate(files, repeat, **kwargs):
    """Best (wall, CPU) images/s of crop_and_resize over ``files`` in this process."""
    best_wall = best_cpu = np.inf
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        out = [crop_and_resize(f, **kwargs) for f in files]
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return len(files) / best_wall, len(files) / best_cpu, np.stack(out)  # (N, 3, 80, 80)


def prepare_rate(data, workers):
    """Wall and CPU seconds of a fresh prepare() with ``workers`` processes (temp cache)."""
    with tempfile.TemporaryDirectory() as tmp:
        wall, cpu = time.perf_counter(), cpu_seconds()
        prepared = prepare(data, cache_dir=tmp, workers=workers, progress=False)
        wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu  # workers are reaped
        n = len(prepared)
        del prepared
    return n, wall, cpu


def main(argv=None):
    args = parse_args(argv)
    data = Path(args.data)
    if not data.is_dir():
        sys.exit(f"data folder {data} not found; pass the gz-kaggle-5k folder")
    files = find_images(data / "images_training_rev1")[: args.limit]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"data: {data}  ({len(files)} files for the loops)  cores: {os.cpu_count()}  "
          f"load average at start: {load:.2f}")

    crop_and_resize(files[0])  # imports and first-call costs out of the timings
    fast_wall, fast_cpu, fast_px = loop_rate(files, args.repeat)
    naive_wall, naive_cpu, naive_px = loop_rate(files, args.repeat, draft=False)
    diff = np.abs(fast_px.astype(np.int16) - naive_px)
    per_image = diff.reshape(len(files), -1).mean(axis=1)
    print("\nsingle process, crop_and_resize (224 -> 80, bilinear), images/s:")
    print(f"  {'':28s} {'per wall s':>11s} {'per CPU s':>10s}")
    print(f"  {'DCT-scaled decode (default)':28s} {fast_wall:11.0f} {fast_cpu:10.0f}")
    print(f"  {'full decode (naive)':28s} {naive_wall:11.0f} {naive_cpu:10.0f}")
    print(f"  {'speed-up':28s} {fast_wall / naive_wall:10.2f}x {fast_cpu / naive_cpu:9.2f}x")
    print(f"  |fast - naive| grey levels: mean {diff.mean():.3f}, worst image mean "
          f"{per_image.max():.3f}, max {diff.max()}")

    print("\nprepare() end to end (catalog + pool + memory map), fresh cache:")
    for workers in (int(w) for w in args.workers.split(",")):
        n, wall, cpu = prepare_rate(data, workers)
        print(f"  workers={workers}: {n} images in {wall:6.2f} s wall, {cpu:6.2f} CPU s: "
              f"{n / wall:6.0f} images/s, {n / cpu:6.0f} per CPU second "
              f"(wall per worker {n / wall / workers:6.0f})")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nload average at end: {load:.2f} (other processes distort these figures)")


if __name__ == "__main__":
    main()
