"""Throughput of ``galmorph prepare`` against a plain one-process PIL loop, side by side.

Each round builds a fresh cache with :func:`galmorph.data.cache.prepare` (catalog
read, worker pool, memory map, metadata; into a new temporary folder) and runs
a plain PIL loop doing the same decode, crop and resize in this one process
(``Image.open``, ``draft`` for DCT-scaled JPEG decoding, ``resize`` with the
crop as its box, into one array). The two alternate within a round (ABBA
order over rounds), so that other processes sharing the cores slow both alike.
Printed per round and as the median: seconds, images/s, and the ratio
``loop seconds / prepare seconds`` (the goal: at least 1.5 on 2 cores).

``--cli`` also times the command line, ``galmorph prepare`` in a new process
(imports and interpreter start included), against the same loop as a new
process. ``--decode`` adds the old single-process comparison of DCT-scaled
and full decoding.

Run::

    python benchmarks/prepare_throughput.py [DATA_DIR] [--n 5000] [--rounds 3] [--workers 2]
    python benchmarks/prepare_throughput.py --quick      # 1,000 images, 3 rounds: ~1 minute

Rates are per wall-clock second (what a user waits); the CPU seconds used
(this process and its reaped workers) are printed beside them, with the load
average, since other processes distort every figure on a shared machine.
"""
import argparse
import csv
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "gz-kaggle-5k"
CROP, SIZE = 224, 80

# The baseline as a stand-alone program (for --cli): argv = [n, files...] -> seconds.
_LOOP_SRC = r"""
import sys, time
t0 = time.perf_counter()
import numpy as np
from PIL import Image
files = sys.argv[1:]
out = np.empty((len(files), 3, {size}, {size}), dtype=np.uint8)
for i, path in enumerate(files):
    with Image.open(path) as im:
        scale = im.width * {size} / {crop}
        im.draft("RGB", (int(scale) + 1, int(scale) + 1))
        f = im.width / {full}
        box = [v * f for v in ({lo}, {lo}, {hi}, {hi})]
        out[i] = np.asarray(im.convert("RGB").resize(({size}, {size}), Image.BILINEAR,
                                                     box=box)).transpose(2, 0, 1)
print(time.perf_counter() - t0)
"""


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", nargs="?", default=str(DEFAULT_DATA),
                   help=f"Kaggle-layout data folder (default: {DEFAULT_DATA})")
    p.add_argument("--n", type=int, default=None,
                   help="use the first N labelled images (a folder of symbolic links in a "
                        "temporary folder; default: all)")
    p.add_argument("--quick", action="store_true",
                   help="shorthand for --n 1000 (about a minute)")
    p.add_argument("--rounds", type=int, default=3,
                   help="rounds, each timing prepare and the loop once (default: 3)")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes of prepare (default: prepare's own, every core)")
    p.add_argument("--cli", action="store_true",
                   help="also time 'galmorph prepare' and the loop as new processes")
    p.add_argument("--decode", action="store_true",
                   help="also compare DCT-scaled and full decoding in one process")
    return p.parse_args(argv)


def cpu_seconds():
    """CPU seconds (user + system) used so far by this process and its reaped children."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def own_cpu_seconds():
    """CPU seconds used so far by this process alone (prepare's serial part)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_utime + me.ru_stime


def subset(data, n, root):
    """A Kaggle-layout folder of symbolic links to the first ``n`` labelled images."""
    csv_path = data / "training_solutions_rev1.csv"
    with open(csv_path, newline="") as fh:
        rows = list(csv.reader(fh))
    header, rows = rows[0], rows[1:n + 1]
    images = root / "images_training_rev1"
    images.mkdir(parents=True)
    for row in rows:
        name = f"{row[0]}.jpg"
        (images / name).symlink_to(data / "images_training_rev1" / name)
    with open(root / csv_path.name, "w", newline="") as fh:
        csv.writer(fh).writerows([header] + rows)
    return root


def plain_loop(files):
    """The baseline: decode (DCT-scaled), crop and resize every file with PIL, in this process.

    Returns ``uint8 (N, 3, SIZE, SIZE)``.
    """
    from PIL import Image

    out = np.empty((len(files), 3, SIZE, SIZE), dtype=np.uint8)
    for i, path in enumerate(files):
        with Image.open(path) as im:
            full = im.width
            want = int(full * SIZE / CROP) + 1
            im.draft("RGB", (want, want))  # libjpeg decodes at 1/2 scale: 212 px
            f = im.width / full
            lo, hi = (full - CROP) / 2 * f, (full + CROP) / 2 * f
            rgb = im.convert("RGB").resize((SIZE, SIZE), Image.BILINEAR, box=(lo, lo, hi, hi))
            out[i] = np.asarray(rgb).transpose(2, 0, 1)
    return out


def time_loop(files):
    wall, cpu = time.perf_counter(), cpu_seconds()
    pixels = plain_loop(files)
    return time.perf_counter() - wall, cpu_seconds() - cpu, pixels


def time_prepare(data, workers):
    from galmorph.data.cache import prepare

    with tempfile.TemporaryDirectory() as tmp:
        wall, cpu, own = time.perf_counter(), cpu_seconds(), own_cpu_seconds()
        prepared = prepare(data, cache_dir=Path(tmp) / "cache", workers=workers,
                           progress=False)
        wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu  # workers are reaped
        own = own_cpu_seconds() - own
        assert not prepared.reused
        pixels, ids = np.array(prepared.images), prepared.ids
        del prepared
    return wall, (cpu, own), pixels, ids


def time_cli_prepare(data, workers):
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "galmorph", "prepare", str(data), "--cache",
               str(Path(tmp) / "cache"), "--no-progress"]
        if workers:
            cmd += ["--workers", str(workers)]
        wall = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - wall


def time_cli_loop(files):
    src = _LOOP_SRC.format(size=SIZE, crop=CROP, full=424, lo=(424 - CROP) / 2,
                           hi=(424 + CROP) / 2)
    wall = time.perf_counter()
    subprocess.run([sys.executable, "-c", src, *map(str, files)], check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - wall


def load():
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def side_by_side(name, rounds, first, second, cpu=None):
    """Run ``first`` and ``second`` alternately (ABBA); their wall seconds per round.

    ``cpu`` (optional) maps "loop"/"prepare" to the CPU seconds of the last call,
    printed as the cores each side actually got.
    """
    a, b = [], []
    for r in range(rounds):
        order = [(first, a), (second, b)]
        for fn, out in (order if r % 2 == 0 else order[::-1]):
            out.append(fn())
        got = ""
        if cpu:
            got = (f"; cores used: loop {cpu['loop'] / a[-1]:.2f}, prepare "
                   f"{cpu['prepare'] / b[-1]:.2f}")
        print(f"  {name} round {r + 1}: loop {a[-1]:6.2f} s, prepare {b[-1]:6.2f} s, "
              f"ratio {a[-1] / b[-1]:.2f}  (load {load():.1f}{got})", flush=True)
    return a, b


def decode_check(files):
    from galmorph.data.images import crop_and_resize

    for draft in (True, False):
        wall = time.perf_counter()
        for f in files:
            crop_and_resize(f, draft=draft)
        wall = time.perf_counter() - wall
        print(f"  crop_and_resize(draft={draft}): {len(files) / wall:6.0f} images/s")


def main(argv=None):
    args = parse_args(argv)
    data = Path(args.data)
    if not data.is_dir():
        sys.exit(f"data folder {data} not found; pass the gz-kaggle-5k folder")
    n = 1000 if args.quick and args.n is None else args.n
    with tempfile.TemporaryDirectory() as tmp:
        if n is not None:
            data = subset(data, n, Path(tmp) / "data")
        from galmorph.data.catalogs import find_images

        files = find_images(data / "images_training_rev1")
        print(f"data: {data}  {len(files)} images, crop {CROP} -> {SIZE} px; cores: "
              f"{os.cpu_count()}; prepare workers: {args.workers or 'default'}; load average "
              f"at start {load():.2f}")
        if args.decode:
            decode_check(files[:1000])
        # Imports and first-call costs out of the in-process timings.
        plain_loop(files[:5])
        time_prepare(subset(Path(args.data), 5, Path(tmp) / "warm"), 1)

        stats = {}

        cpu = {}

        def loop():
            wall, cpu["loop"], stats["loop"] = time_loop(files)
            stats.setdefault("loop_cpu", []).append(cpu["loop"])
            return wall

        def prep():
            wall, (cpu["prepare"], own), stats["prepare"], stats["ids"] = time_prepare(
                data, args.workers)
            stats.setdefault("prepare_cpu", []).append(cpu["prepare"])
            stats.setdefault("serial_cpu", []).append(own)
            return wall

        print("\nin this process (imports done), fresh cache each round:")
        loops, preps = side_by_side("in-process", args.rounds, loop, prep, cpu)
        order = np.argsort([int(p.stem) for p in files])  # the cache is in CSV (ID) order
        ids = np.array([int(p.stem) for p in files])[order]
        assert np.array_equal(ids, stats["ids"]), "prepare and the loop saw different images"
        diff = np.abs(stats["loop"][order].astype(np.int16) - stats["prepare"])
        lo, pr = statistics.median(loops), statistics.median(preps)
        k = len(files)
        lc, pc, sc = (statistics.median(stats[key]) for key in
                      ("loop_cpu", "prepare_cpu", "serial_cpu"))
        print(f"\n  median: loop {lo:.2f} s ({k / lo:.0f} images/s, {lc:.2f} CPU s), prepare "
              f"{pr:.2f} s ({k / pr:.0f} images/s, {pc:.2f} CPU s of which {sc:.2f} in this "
              f"process)")
        print(f"  ratio prepare / plain loop: {lo / pr:.2f}x (rounds: "
              f"{', '.join(f'{a / b:.2f}' for a, b in zip(loops, preps))})")
        print(f"  pixels, prepare vs loop: mean |diff| {diff.mean():.4f}, max {diff.max()}")
        # What two idle cores would give, from the CPU seconds: the serial part plus
        # the workers' share split over two (an estimate, not a measurement).
        print(f"  from CPU seconds, on 2 idle cores: prepare ~{sc + (pc - sc) / 2:.2f} s, ratio "
              f"~{lc / (sc + (pc - sc) / 2):.2f}x (estimate)")
        if args.cli:
            print("\nnew processes (interpreter start and imports included):")
            cl, cp = side_by_side("cli", args.rounds, lambda: time_cli_loop(files),
                                  lambda: time_cli_prepare(data, args.workers))
            lo, pr = statistics.median(cl), statistics.median(cp)
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "galmorph", "prepare", "--help"], check=True,
                           stdout=subprocess.DEVNULL)
            start = time.perf_counter() - start
            print(f"\n  median: loop {lo:.2f} s, 'galmorph prepare' {pr:.2f} s; ratio "
                  f"{lo / pr:.2f}x")
            print(f"  of which starting the command line ('galmorph prepare --help'): "
                  f"{start:.2f} s")
    print(f"\nload average at end: {load():.2f} (other processes distort these figures)")


if __name__ == "__main__":
    main()
