"""``galmorph pseudo-label``: a teacher's soft labels for unlabelled images, as a training
folder that ``galmorph train`` reads beside labelled ones (see :mod:`galmorph.adapt.teacher`)."""
import sys

from galmorph.cli._args import (add_device, add_precision, add_progress, positive_int,
                               progress_of, tta_arg)

__all__ = ["add_parser", "run"]

_EPILOG = """examples:
  galmorph pseudo-label ../shared/data/gz-kaggle-unlabelled-22k --out pseudo-22k --precision int8
  galmorph pseudo-label runs/teacher/best.pt unlabelled/ --out pseudo --limit 1000
  galmorph train ../shared/data/gz-kaggle-5k pseudo-22k --pseudo-weight 0.5 --out runs/student
"""


def add_parser(subparsers):
    import argparse

    p = subparsers.add_parser(
        "pseudo-label", help="label unlabelled images with a teacher model, for training",
        description="Predict the 37 weighted vote fractions of every image in UNLABELLED_DIR "
                    "with a teacher model and write them to --out as a Kaggle-layout training "
                    "folder: training_solutions_rev1.csv (tree-consistent soft labels, 6 "
                    "decimals, by GalaxyID; a rerun writes the same bytes), "
                    "images_training_rev1/ (links to the images) and teacher.json (which "
                    "teacher, TTA, precision, when). Train on it beside labelled folders with "
                    "galmorph train ... --pseudo-weight W.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", metavar="[CHECKPOINT] UNLABELLED_DIR", nargs="+",
                   help="optionally the teacher checkpoint first (default: $GALMORPH_MODEL, "
                        "the registered default, else the shipped model), then a folder of "
                        "<GalaxyID>.jpg images (or one holding them in images/)")
    p.add_argument("--model", metavar="CHECKPOINT", default=None,
                   help="teacher checkpoint, instead of giving it first (default: as above)")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="pseudo-labelled folder to write (a rerun rewrites it)")
    p.add_argument("--tta", type=tta_arg, default="d8", metavar="none|d8|N",
                   help="the teacher's test-time augmentation (default: d8)")
    p.add_argument("--limit", type=positive_int, default=None, metavar="N",
                   help="label only the first N galaxies by GalaxyID (default: all)")
    p.add_argument("--batch-size", dest="batch_size", type=positive_int, default=256,
                   help="images per forward pass (default: 256)")
    p.add_argument("--workers", type=int, default=None,
                   help="image-decoding processes; 0 decodes in the main process (default: "
                        "CPU count - 1, at most 8)")
    add_device(p)
    add_precision(p)
    add_progress(p)
    p.set_defaults(func=run)
    return p


def run(args):
    positionals = list(args.inputs)
    if len(positionals) > 2 or (len(positionals) == 2 and args.model is not None):
        raise SystemExit("galmorph pseudo-label: error: give one UNLABELLED_DIR (and the "
                         "teacher checkpoint first, or with --model)")
    if len(positionals) == 2:
        model, rest = positionals[0], positionals[1:]
    else:
        model, rest = args.model, positionals
    from galmorph.adapt.teacher import pseudo_label
    from galmorph.paths import resolve_model_path

    out = pseudo_label(rest[0], args.out, model=resolve_model_path(model), tta=args.tta,
                       precision=args.precision, batch_size=args.batch_size,
                       workers=args.workers, limit=args.limit, device=args.device,
                       progress=progress_of(args))
    import json

    record = json.loads((out / "teacher.json").read_text())
    print(f"wrote {record['n_galaxies']} pseudo-labels from {record['teacher']['path']} "
          f"(TTA {record['tta'] or 'none'}, {record['precision']}, {record['seconds']:.0f} s) "
          f"to {out}", file=sys.stderr)
    if record["skipped"]:
        print(f"skipped {len(record['skipped'])} unreadable images (listed in "
              f"{out / 'teacher.json'})", file=sys.stderr)
    return 0
