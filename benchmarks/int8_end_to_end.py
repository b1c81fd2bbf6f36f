"""int8 against fp32 end to end, as a user runs them: a script and a fresh ``galmorph predict``.

Two measurements, each interleaving fp32 and int8 over ``--rounds`` rounds in one run
(best round kept for the in-process one, median for the fresh processes):

- ``classifier``: ``MorphologyClassifier(precision=P).predict(table)`` on ``--n`` JPEGs
  of a Kaggle-layout folder (default 1,753 of gz-kaggle-5k), in this process, loading
  included (a new classifier each time), with the RMSE of each over the known labels
  and the largest change between them;
- ``fresh process``: ``galmorph predict FILES --precision P`` on ``--small`` of them
  (default 50), as a new process each time: start-up, model load, decoding and writing
  included.

int8's quantized model is put in the disk cache first (its one-off cost is printed), as
the first int8 run on a machine does; ``GALMORPH_CACHE_DIR`` points at a fresh folder.
The galaxies are from gz-kaggle-5k, most of which the shipped model trained on, so the
RMSE itself is optimistic; what matters is how much int8 changes it.

Run::

    python benchmarks/int8_end_to_end.py [DATA] [--n 1753] [--small 50] [--rounds 3]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "gz-kaggle-5k"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", nargs="?", default=str(DEFAULT_DATA),
                   help="Kaggle-layout folder (default: ../shared/data/gz-kaggle-5k)")
    p.add_argument("--n", type=int, default=1753, help="images for the classifier (default 1753)")
    p.add_argument("--small", type=int, default=50,
                   help="images for the fresh-process runs (default 50)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    os.environ["GALMORPH_CACHE_DIR"] = tempfile.mkdtemp(prefix="galmorph-int8-bench-")
    from astropy.table import Table

    from galmorph import MorphologyClassifier, schema
    from galmorph.data.catalogs import open_catalog
    from galmorph.metrics import rmse
    from galmorph.models.checkpoint import load_checkpoint
    from galmorph.inference.quantize import quantize_model
    from galmorph.paths import shipped_model_path

    catalog = open_catalog(args.data)
    order = np.argsort(np.asarray(catalog.ids))[:args.n]
    files = [str(catalog.paths[i]) for i in order]
    labels = np.asarray(catalog.labels, dtype=np.float64)[order]             # (n, 37)
    start = time.perf_counter()
    quantize_model(load_checkpoint(shipped_model_path()))                     # fills the cache
    print(f"one-off: quantizing the shipped model and keeping it on disk took "
          f"{time.perf_counter() - start:.1f} s")

    best, preds = {}, {}
    for r in range(args.rounds):
        for precision in ("fp32", "int8"):
            start = time.perf_counter()
            out = MorphologyClassifier(precision=precision, device="cpu",
                                       progress=False).predict(Table({"path": files}))
            seconds = time.perf_counter() - start
            assert out.meta["precision"] == precision and out["predict_ok"].all()
            best[precision] = min(best.get(precision, np.inf), seconds)
            preds[precision] = np.stack([np.asarray(out[c]) for c in schema.KAGGLE_COLUMNS], 1)
            print(f"  round {r + 1}: classifier {precision} {seconds:.2f} s", flush=True)
    print(f"\nclassifier, {len(files)} JPEGs, one process, best of {args.rounds}:")
    for p in ("fp32", "int8"):
        print(f"  {p}: {best[p]:.2f} s ({len(files) / best[p]:.0f} images/s), RMSE "
              f"{rmse(preds[p], labels):.5f}")
    print(f"  int8 / fp32 speed: {best['fp32'] / best['int8']:.2f}x; RMSE change "
          f"{rmse(preds['int8'], labels) - rmse(preds['fp32'], labels):+.5f}; largest "
          f"change of one answer {np.abs(preds['int8'] - preds['fp32']).max():.3f}")

    small = files[:args.small]
    times = {"fp32": [], "int8": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for precision in ("fp32", "int8"):
                cmd = [sys.executable, "-m", "galmorph", "predict", *small, "--precision",
                       precision, "--device", "cpu", "--no-progress",
                       "--out", str(Path(tmp) / f"{precision}.ecsv")]
                start = time.perf_counter()
                subprocess.run(cmd, check=True, capture_output=True)
                times[precision].append(time.perf_counter() - start)
                print(f"  round {r + 1}: fresh process {precision} {times[precision][-1]:.2f} s",
                      flush=True)
    med = {p: statistics.median(t) for p, t in times.items()}
    print(f"\ngalmorph predict, {len(small)} JPEGs, a fresh process each, median of "
          f"{args.rounds}: fp32 {med['fp32']:.2f} s, int8 {med['int8']:.2f} s; int8 / fp32 "
          f"speed {med['fp32'] / med['int8']:.2f}x")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
