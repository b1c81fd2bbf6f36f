"""Time galmorph.data.catalogs.open_catalog on the real data folders.

Prints the wall time of a full read (table, checks, image lookup) with and
without the image-header check, and the header check alone per 1,000 images,
so the claim "5,000 header checks well under 2 s" can be checked anywhere.
Reads ../shared/data by default; the best of ``--repeats`` runs is reported
(the first run also warms the file-system cache).

    python benchmarks/catalog_read.py --repeats 3
"""
import argparse
import time
import warnings
from pathlib import Path

from galmorph.data.catalogs import open_catalog
from galmorph.data._files import check_image_headers

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def best_of(repeats, fn):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA,
                        help=f"folder holding gz-kaggle-5k and gz2-1k (default {DATA})")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (default 3)")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # the GZ2 sample's skipped rows are expected
    cases = [("gz-kaggle-5k", {}), ("gz-kaggle-5k", {"split": "test"}),
             ("gz2-1k", {"on_error": "skip"})]
    for name, kw in cases:
        folder = args.data / name
        if not folder.is_dir():
            print(f"{folder}: absent, skipped")
            continue
        full, cat = best_of(args.repeats, lambda: open_catalog(folder, **kw))
        bare, _ = best_of(args.repeats, lambda: open_catalog(folder, check_images=False, **kw))
        headers, _ = best_of(args.repeats,
                             lambda: check_image_headers(cat.paths, cat.ids, (424, 424), "RGB"))
        label = f"{name} {' '.join(f'{k}={v}' for k, v in kw.items())}".strip()
        print(f"{label:34s} n={len(cat):5d}  read {full:6.3f} s  without header check "
              f"{bare:6.3f} s  header check {headers / len(cat) * 1e3:6.3f} s per 1,000 images")


if __name__ == "__main__":
    main()
