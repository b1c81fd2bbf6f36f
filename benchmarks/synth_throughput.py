"""Throughput of the synthetic data set generator (``galmorph synth``).

Prints galaxies per second of :func:`galmorph.synth.make_synthetic` for
each worker count (wall clock, and CPU seconds per galaxy, which shared
machines distort less), and the per-galaxy cost of each stage in one process::

    python benchmarks/synth_throughput.py --n 400 --workers 1 2
"""
import argparse
import io
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from galmorph.synth import galaxy_rng, make_synthetic, synth_labels
from galmorph.synth._render import render


def _cpu_seconds():
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def throughput(n, workers, seed):
    """(galaxies/s wall clock, CPU ms per galaxy) of one make_synthetic run."""
    with tempfile.TemporaryDirectory() as tmp:
        cpu, wall = _cpu_seconds(), time.perf_counter()
        make_synthetic(Path(tmp) / "set", n=n, seed=seed, workers=workers, progress=False)
        wall = time.perf_counter() - wall
        cpu = _cpu_seconds() - cpu
    return n / wall, 1000 * cpu / n


def stages(n, seed):
    """Median milliseconds per galaxy of labels, rendering and JPEG encoding."""
    times = {"truth + votes": [], "render": [], "jpeg": []}
    for i in range(n):
        t0 = time.perf_counter()
        _, truth = synth_labels(seed, i)
        t1 = time.perf_counter()
        image = render(truth, galaxy_rng(seed, i)[1])
        t2 = time.perf_counter()
        Image.fromarray(image).save(io.BytesIO(), format="JPEG", quality=90)
        t3 = time.perf_counter()
        for key, dt in zip(times, (t1 - t0, t2 - t1, t3 - t2)):
            times[key].append(1000 * dt)
    return {k: float(np.median(v)) for k, v in times.items()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=400, help="galaxies per run (default: 400)")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                   help="worker counts to time (default: 1 2)")
    p.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    args = p.parse_args(argv)
    print(f"galmorph synth throughput, {args.n} galaxies per run")
    for w in args.workers:
        rate, cpu_ms = throughput(args.n, w, args.seed)
        print(f"  workers={w}: {rate:7.1f} galaxies/s wall clock, {cpu_ms:5.1f} CPU ms/galaxy")
    per = stages(min(args.n, 200), args.seed)
    total = sum(per.values())
    print("per galaxy, one process (median ms): "
          + ", ".join(f"{k} {v:.1f}" for k, v in per.items())
          + f"; total {total:.1f} ms -> {1000 / total:.0f} galaxies/s per free core")


if __name__ == "__main__":
    main()
