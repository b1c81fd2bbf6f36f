"""Throughput and memory of MorphologyClassifier.predict on a long stream of images.

Feeds ``--n`` synthetic 424x424 images (or already-cropped ones with
``--cropped``) from a generator through ``predict`` with an untrained model and
prints rows/s and the peak resident memory, to show that memory stays bounded
by the chunk size rather than growing with the number of rows.

    python benchmarks/classify_stream.py --n 20000 --model cnn
"""
import argparse
import resource
import time

import numpy as np


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=20000, help="rows to classify (default: 20000)")
    p.add_argument("--model", default="cnn", help="model name (default: cnn)")
    p.add_argument("--chunk-size", type=int, default=1024, help="rows per chunk (default: 1024)")
    p.add_argument("--batch-size", type=int, default=256, help="images per batch (default: 256)")
    p.add_argument("--device", default="auto", help="device (default: auto)")
    p.add_argument("--cropped", action="store_true",
                   help="feed already-cropped (3, 80, 80) arrays, skipping crop_and_resize")
    return p.parse_args()


def stream(n, cropped, seed=0):
    rng = np.random.default_rng(seed)
    tiles = [rng.integers(0, 255, (3, 80, 80) if cropped else (424, 424, 3), dtype=np.uint8)
             for _ in range(8)]
    for i in range(n):
        yield tiles[i % len(tiles)]


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    args = parse_args()
    from galmorph.astro.classifier import MorphologyClassifier
    from galmorph.models import build_model

    clf = MorphologyClassifier(build_model(args.model), device=args.device,
                               batch_size=args.batch_size, chunk_size=args.chunk_size,
                               progress=False)
    clf.predict(stream(min(args.n, 64), args.cropped))  # warm-up: model load, first batch
    before = peak_rss_mib()
    t0 = time.perf_counter()
    out = clf.predict(stream(args.n, args.cropped))
    dt = time.perf_counter() - t0
    print(f"model {args.model}, {args.n} rows ({'cropped' if args.cropped else '424x424'}), "
          f"chunk {args.chunk_size}, batch {args.batch_size}")
    print(f"  {args.n / dt:.0f} rows/s ({dt:.1f} s); ok {int(out['predict_ok'].sum())}")
    print(f"  peak RSS {before:.0f} MiB after warm-up, {peak_rss_mib():.0f} MiB after the run "
          f"(all images would take {args.n * (80 * 80 * 3 if args.cropped else 424 * 424 * 3) / 2**20:.0f} MiB)")


if __name__ == "__main__":
    main()
