"""``galmorph anomalies``: the most unusual galaxies of an embedding file.

Examples::

    galmorph anomalies --embeddings emb.parquet --out anomalies/
    galmorph anomalies --embeddings emb.parquet --method isolation-forest --seed 0 --out a/

``--out`` gets ``anomalies.ecsv`` (every galaxy with ``anomaly_rank`` and
``anomaly_score``, most unusual first) and ``anomalies.png`` (the top ``--top``).
"""
from __future__ import annotations

import sys

from galmorph.cli._args import positive_int

__all__ = ["add_parser", "run"]


def add_parser(subparsers):
    p = subparsers.add_parser(
        "anomalies", help="rank the galaxies of an embedding file, most unusual first",
        description="Score each galaxy of an embedding file (galmorph embed) by how unlike "
                    "the others it is to the network, and write the ranking and a grid of "
                    "the most unusual.")
    p.add_argument("--embeddings", required=True, metavar="FILE",
                   help="embedding file written by galmorph embed (.parquet, .ecsv, .fits, "
                        ".npy, or a folder of Parquet files)")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="folder for anomalies.ecsv and anomalies.png (made if need be)")
    p.add_argument("--top", type=positive_int, default=24,
                   help="galaxies in the grid (default: 24)")
    p.add_argument("--method", default="knn", choices=("knn", "isolation-forest"),
                   help="knn: mean distance to the k nearest galaxies' features (exact, "
                        "quadratic in N); isolation-forest: scikit-learn's, near-linear, "
                        "for surveys (default: knn)")
    p.add_argument("-k", type=positive_int, default=10,
                   help="neighbours averaged by knn (default: 10)")
    p.add_argument("--seed", type=int, default=0,
                   help="random seed of the isolation forest (default: 0)")
    p.add_argument("--image-dir", default=None, metavar="DIR",
                   help="folder of the file's relative image paths, for the thumbnails "
                        "(default: beside the embedding file, then the working directory)")
    p.set_defaults(func=run)
    return p


def run(args):
    from pathlib import Path

    from galmorph.workflows.gallery import anomaly_gallery

    ranked, png = anomaly_gallery(args.embeddings, args.out, top=args.top, method=args.method,
                                  k=args.k, seed=args.seed, image_dir=args.image_dir)
    keep = [c for c in ranked.colnames if c not in ("predict_ok", "predict_error",
                                                   "input_note", "feature_norm")][:5]
    print("\n".join(ranked[keep][:args.top].pformat(max_lines=-1, max_width=-1)))
    print(f"wrote {Path(args.out) / 'anomalies.ecsv'} and {png}", file=sys.stderr)
    return 0
