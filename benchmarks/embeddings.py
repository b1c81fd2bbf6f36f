"""Embeddings of the shipped model: rotation invariance and cost (docs/embeddings.rst).

For the first ``--n`` galaxies of gz2-1k and their copies turned by 90 degrees and
mirrored (lossless PNG), with and without d8 TTA, in fp32 and int8: the median cosine
distance of each copy to its original and of each original to its nearest other galaxy,
and how often a copy's nearest neighbour (among all originals) is its original. Then the
seconds to embed ``--n-time`` galaxies from their JPEG files, one process, per precision.

    python benchmarks/embeddings.py                  # n=200, n-time=1000 (about 5 min, 2 cores)
    python benchmarks/embeddings.py --n 20 --n-time 50
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=200, help="galaxies in the invariance check")
    p.add_argument("--n-time", type=int, default=1000, help="galaxies in the timing")
    p.add_argument("--data", type=Path, default=SHARED / "gz2-1k" / "images")
    return p.parse_args(argv)


def turned_copies(paths, folder):
    """Each image turned by 90 degrees and mirrored, as PNG (no new compression)."""
    from PIL import Image

    copies = []
    for path in paths:
        image = np.asarray(Image.open(path).convert("RGB"))
        copy = folder / f"{path.stem}_turned.png"
        Image.fromarray(np.ascontiguousarray(np.fliplr(np.rot90(image)))).save(copy)
        copies.append(copy)
    return copies


def invariance(emb_orig, emb_copy):
    """(median copy-original distance, median nearest-other distance, share found first)."""
    cos = 1.0 - emb_copy @ emb_orig.T                    # (copies, originals)
    to_own = np.diag(cos)
    others = 1.0 - emb_orig @ emb_orig.T
    np.fill_diagonal(others, np.inf)
    return (float(np.median(to_own)), float(np.median(others.min(axis=1))),
            float(np.mean(cos.argmin(axis=1) == np.arange(len(cos)))))


def main(argv=None):
    args = parse_args(argv)
    from galmorph import MorphologyClassifier

    paths = sorted(args.data.glob("*.jpg"))
    if not paths:
        sys.exit(f"no JPEGs in {args.data} (the shared gz2-1k images)")
    print(f"# embeddings: shipped model, gz2-1k, {time.strftime('%Y-%m-%d')}")
    print("| precision, TTA | copy to original (median) | to nearest other (median) | "
          "copy's nearest is its original |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        originals = paths[:args.n]
        copies = turned_copies(originals, Path(tmp))
        for precision in ("fp32", "int8"):
            for tta in (None, "d8"):
                clf = MorphologyClassifier(precision=precision, tta=tta, device="cpu",
                                           progress=False)
                emb = np.asarray(clf.embed([str(p) for p in originals + copies])["embedding"])
                own, other, found = invariance(emb[:len(originals)], emb[len(originals):])
                print(f"| {precision}, {tta or 'no TTA'} | {own:.4f} | {other:.4f} | "
                      f"{100 * found:.1f} % of {len(originals)} |", flush=True)
    print()
    print(f"| precision | seconds to embed {args.n_time} JPEGs (model loaded) | galaxies/s |")
    print("|---|---|---|")
    timed = [str(p) for p in paths[:args.n_time]]
    for precision in ("fp32", "int8"):
        clf = MorphologyClassifier(precision=precision, device="cpu", progress=False).load()
        clf.embed(timed[:16])                             # warm-up (int8: quantized here)
        start = time.perf_counter()
        clf.embed(timed)
        seconds = time.perf_counter() - start
        print(f"| {precision} | {seconds:.1f} | {len(timed) / seconds:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
