"""How the shipped model reads GZ2 release labels, which are not the Kaggle labels it learnt.

galmorph learns the Kaggle challenge's 37 fractions. The GZ2 data release
(gz2_hart16) gives its own fractions, ``weighted_fraction`` and ``debiased``,
which galmorph maps onto the same 37 columns (:func:`galmorph.labels.gz2_to_kaggle`).
This script measures how far apart the two are:

1. It finds the galaxies of ``gz2-1k`` whose JPEG is byte-identical to one in
   ``gz-kaggle-5k`` or ``gz-kaggle-partial-3k`` (the same SDSS cutout, so the same
   galaxy) and prints the RMSE between their Kaggle labels and their release
   labels, over the cells the Kaggle file knows.
2. It scores a model (default: the shipped one) against the release labels of every
   ``gz2-1k`` galaxy whose tree is whole, overall and without the galaxies found in
   step 1, next to the predict-the-mean RMSE of those labels (fitted on the same
   galaxies, so it flatters the baseline), and prints the mean of each Q1 answer
   as predicted and as labelled.

    python benchmarks/gz2_release.py [--data ../shared/data] [--model PATH]
"""
import argparse
import warnings
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
KAGGLE = ("gz-kaggle-5k", "gz-kaggle-partial-3k")
FLAVOURS = ("weighted_fraction", "debiased")


def _rmse(a, b):
    return float(np.sqrt(np.nanmean((np.asarray(a) - np.asarray(b)) ** 2)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder")
    parser.add_argument("--model", default=None, help="checkpoint (default: the shipped model)")
    args = parser.parse_args()

    from astropy.table import Table

    from galmorph import MorphologyClassifier, schema
    from galmorph.data.catalogs import read_gz2, read_kaggle
    from galmorph.models.checkpoint import sha256_of

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the rows that break the tree are counted below
        release = {f: read_gz2(args.data / "gz2-1k", flavour=f, on_error="skip")
                   for f in FLAVOURS}
        kaggle = [read_kaggle(args.data / name) for name in KAGGLE]
    by_digest = {}
    for name, cat in zip(KAGGLE, kaggle):
        for gid, path, row in zip(cat.ids, cat.paths, np.asarray(cat.labels, float)):
            by_digest[sha256_of(path)] = (name, int(gid), row)

    print(f"gz2-1k against the Kaggle labels; data {args.data}")
    print("\n1. the same galaxies in both (byte-identical JPEGs)")
    shared = {}
    for flavour, cat in release.items():
        digests = [sha256_of(p) for p in cat.paths]
        pairs = [(int(i), by_digest[d], row) for i, d, row
                 in zip(cat.ids, digests, np.asarray(cat.labels, float)) if d in by_digest]
        shared[flavour] = {i for i, _, _ in pairs}
        k = np.stack([m[2] for _, m, _ in pairs])
        g = np.stack([row for _, _, row in pairs])
        counts = {name: sum(m[0] == name for _, m, _ in pairs) for name in KAGGLE}
        smooth = schema.column_index("Class1.1")
        where = ", ".join(f"{n} in {name}" for name, n in counts.items())
        print(f"   {flavour:17s} {len(pairs)} galaxies ({where}): "
              f"RMSE Kaggle vs release {_rmse(k, g):.4f}; Class1.1 mean Kaggle "
              f"{k[:, smooth].mean():.3f}, release {g[:, smooth].mean():.3f}, "
              f"r = {np.corrcoef(k[:, smooth], g[:, smooth])[0, 1]:.2f}")

    print(f"\n2. the model ({args.model or 'shipped'}) against the release labels")
    clf = MorphologyClassifier(args.model, progress=False)
    q1 = [schema.column_index(c) for c in ("Class1.1", "Class1.2", "Class1.3")]
    for flavour, cat in release.items():
        out = clf.predict(Table({"path": [str(p) for p in cat.paths]}))
        pred = np.column_stack([np.asarray(out[c], float) for c in schema.KAGGLE_COLUMNS])
        labels = np.asarray(cat.labels, float)
        keep = ~np.isin(np.asarray(cat.ids), list(shared[flavour]))
        mean = _rmse(labels, np.nanmean(labels, axis=0))
        print(f"   {flavour:17s} {len(labels)} galaxies ({len(cat.skipped)} skipped, tree "
              f"broken): RMSE {_rmse(pred, labels):.4f}, mean baseline {mean:.4f}; "
              f"without the {int((~keep).sum())} shared ones {_rmse(pred[keep], labels[keep]):.4f}")
        print("   " + " " * 17 + " Q1 means, model / release: " + ", ".join(
            f"{schema.ANSWER_LABELS[j]} {pred[:, j].mean():.3f} / {labels[:, j].mean():.3f}"
            for j in q1))


if __name__ == "__main__":
    main()
