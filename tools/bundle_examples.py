"""Pick the example GZ2 galaxies that ship in ``galmorph/data/examples`` (run once).

Chooses galaxies of ``../shared/data/gz2-1k`` that span the GZ2 tree -- smooth
(round, in-between, cigar), edge-on, barred, spiral, merger, ring, irregular
and star/artifact -- taking in each class the ones the volunteers agreed on
most (among equals, those classified by the most volunteers), copies their
JPEGs byte for byte and writes ``examples.csv`` with their GZ2 identifiers,
class and the 37 labels (the release's ``weighted_fraction`` columns in the
Kaggle encoding). Rows that break the GZ2 tree are
never chosen, nor galaxies whose JPEG is byte-identical to one under an
``--exclude`` folder: the same SDSS cutout in the Kaggle data the shipped model
was trained and validated on (35 of gz2-1k's galaxies are).

    python tools/bundle_examples.py ../shared/data/gz2-1k galmorph/data/examples \\
        --exclude ../shared/data/gz-kaggle-5k --exclude ../shared/data/gz-kaggle-partial-3k
"""
import argparse
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from galmorph import schema
from galmorph.labels import check_labels, gz2_to_kaggle
from galmorph.models.checkpoint import sha256_of

#: (what it shows, rule on gz2_class, column to rank by, how many)
PICKS = [
    ("smooth, round", lambda c: c == "Er", "t07_rounded_a16_completely_round", 3),
    ("smooth, in between", lambda c: c == "Ei", "t07_rounded_a17_in_between", 2),
    ("smooth, cigar-shaped", lambda c: c == "Ec", "t07_rounded_a18_cigar_shaped", 2),
    ("edge-on disk, no bulge", lambda c: c == "Sen", "t02_edgeon_a04_yes", 2),
    ("edge-on disk, round bulge", lambda c: c == "Ser", "t02_edgeon_a04_yes", 1),
    ("barred spiral", lambda c: c.startswith("SB") and "(" not in c, "t03_bar_a06_bar", 3),
    ("spiral", lambda c: c[:2] in ("Sc", "Sb") and "(" not in c, "t04_spiral_a08_spiral", 3),
    ("merger", lambda c: c.endswith("(m)"), "t08_odd_feature_a24_merger", 3),
    ("ring", lambda c: c.endswith("(r)"), "t08_odd_feature_a19_ring", 2),
    ("irregular or disturbed", lambda c: c.endswith("(i)") or c.endswith("(d)"),
     "t08_odd_feature_a22_irregular", 1),
    ("star or artifact", lambda c: c == "A", "t01_smooth_or_features_a03_star_or_artifact", 2),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="the gz2-1k folder")
    parser.add_argument("out", type=Path, help="galmorph/data/examples")
    parser.add_argument("--exclude", type=Path, action="append", default=[], metavar="DIR",
                        help="leave out galaxies whose JPEG is byte-identical to an image "
                             "under DIR (the training data); repeat for several folders")
    args = parser.parse_args()
    table = pd.read_csv(args.source / "gz2_labels_1k.csv", dtype={"dr7objid": str})
    labels = gz2_to_kaggle(table, "weighted_fraction")           # (N, 37)
    ok = np.ones(len(table), dtype=bool)
    ok[check_labels(labels).bad_rows] = False
    seen = {sha256_of(p) for folder in args.exclude for p in folder.rglob("*.jpg")}
    shared = table["asset_id"].map(
        lambda a: sha256_of(args.source / "images" / f"{int(a)}.jpg") in seen).to_numpy()
    ok &= ~shared
    if args.exclude:
        print(f"left out {int(shared.sum())} galaxies also under "
              f"{', '.join(map(str, args.exclude))}")
    chosen, rows = set(), []
    for shows, rule, column, n in PICKS:
        pool = table[ok & table["gz2_class"].map(rule) & ~table.index.isin(chosen)]
        pool = pool.sort_values([f"{column}_weighted_fraction", "total_classifications"],
                                ascending=False, kind="stable").head(n)
        for i in pool.index:
            chosen.add(i)
            rows.append({"asset_id": int(table.at[i, "asset_id"]),
                         "dr7objid": table.at[i, "dr7objid"],
                         "gz2_class": table.at[i, "gz2_class"], "shows": shows,
                         "file": f"{int(table.at[i, 'asset_id'])}.jpg",
                         **{c: round(float(v), 6) for c, v in zip(schema.KAGGLE_COLUMNS,
                                                                  labels[i])}})
    args.out.mkdir(parents=True, exist_ok=True)
    for row in rows:
        shutil.copyfile(args.source / "images" / row["file"], args.out / row["file"])
    for stale in sorted(set(args.out.glob("*.jpg")) - {args.out / r["file"] for r in rows}):
        stale.unlink()
        print(f"removed {stale}, no longer chosen")
    pd.DataFrame(rows).to_csv(args.out / "examples.csv", index=False)
    size = sum((args.out / r["file"]).stat().st_size for r in rows)
    print(f"{len(rows)} galaxies, {size / 1e3:.0f} kB of JPEGs -> {args.out}")


if __name__ == "__main__":
    main()
