"""Throughput of ``galmorph prepare`` on 424 x 424 JPEGs, in images per second per core.

Measures, on the same files and in the same run:

- ``crop_and_resize`` in one process, with DCT-scaled JPEG decoding (the
  default) and with a full decode (the naive path), and their ratio;
- the whole :func:`galmorph.data.cache.prepare` (catalog, worker pool,
  memory map, metadata) with 1 and 2 workers, into a temporary cache;
- how far the fast path's pixels are from the naive path's (grey levels).

Run::

    python benchmarks/prepare_throughput.py [DATA_DIR] [--workers 1,2] [--limit N]

Timings depend on what else the machine runs; report them with the load.
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from galmorph.data.cache import prepare
from galmorph.data.images import crop_and_resize, find_images

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


def loop_rate(files, repeat, **kwargs):
    """Best images/s of crop_and_resize over ``files`` in this process."""
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        out = [crop_and_resize(f, **kwargs) for f in files]
        best = min(best, time.perf_counter() - start)
    return len(files) / best, np.stack(out)  # (N, 3, 80, 80)


def prepare_rate(data, workers):
    """images/s of a fresh prepare() with ``workers`` processes (cache in a temp folder)."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        prepared = prepare(data, cache_dir=tmp, workers=workers, progress=False)
        seconds = time.perf_counter() - start
        n = len(prepared)
        del prepared
    return n / seconds, n, seconds


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
    fast, fast_px = loop_rate(files, args.repeat)
    naive, naive_px = loop_rate(files, args.repeat, draft=False)
    diff = np.abs(fast_px.astype(np.int16) - naive_px)
    per_image = diff.reshape(len(files), -1).mean(axis=1)
    print("\nsingle process, crop_and_resize (224 -> 80, bilinear):")
    print(f"  DCT-scaled decode (default) {fast:8.0f} images/s per core")
    print(f"  full decode (naive)         {naive:8.0f} images/s per core")
    print(f"  speed-up                    {fast / naive:8.2f} x")
    print(f"  |fast - naive| grey levels: mean {diff.mean():.3f}, worst image mean "
          f"{per_image.max():.3f}, max {diff.max()}")

    print("\nprepare() end to end (catalog + pool + memory map), fresh cache:")
    for workers in (int(w) for w in args.workers.split(",")):
        rate, n, seconds = prepare_rate(data, workers)
        print(f"  workers={workers}: {n} images in {seconds:6.2f} s = {rate:7.0f} images/s, "
              f"{rate / workers:7.0f} per core")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nload average at end: {load:.2f} (other processes distort these figures)")


if __name__ == "__main__":
    main()
