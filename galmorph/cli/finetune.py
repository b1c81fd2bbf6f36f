"""``galmorph finetune``: teach a trained network labels of your own from a table.

Thin shell over :func:`galmorph.adapt.finetune.finetune`; every flag maps to a
:class:`~galmorph.adapt.finetune.FinetuneConfig` field.
"""
import argparse

from galmorph.cli._args import add_device, add_progress, positive_int

__all__ = ["add_parser", "run"]

_EPILOG = """examples:
  galmorph finetune rings.csv --label ring --out runs/ring     # a linear probe: minutes
  galmorph finetune rings.csv --label ring --out runs/ring-last --unfreeze last --time-limit 1800
  galmorph finetune --resume runs/ring-last --time-limit 1800  # train it on
  galmorph evaluate runs/ring/best.pt                          # AUC etc. on the held-out rows
"""


def add_parser(subparsers):
    p = subparsers.add_parser(
        "finetune", help="train new heads for labels of your own on a trained network",
        description="Train heads that predict your own label columns (binary, multiclass or "
                    "regression) from a trained network's features, with the training "
                    "machinery of 'galmorph train': the image cache, augmentation, a held-out "
                    "split, --time-limit and --resume. RUN_DIR/best.pt is a normal galmorph "
                    "checkpoint; MorphologyClassifier and 'galmorph classify' add a column "
                    "named after each label.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("labels", nargs="?", metavar="LABELS",
                   help="table of labels (CSV, ECSV, FITS or Parquet) with a 'path' column of "
                        "images, relative to the table's folder, and the label columns; rows "
                        "missing a label are skipped for it (optional with --resume)")
    p.add_argument("--label", action="append", default=None, metavar="COLUMN",
                   help="a label column to learn, repeatable; each gets its own head and "
                        "output column (required unless --resume)")
    p.add_argument("--out", metavar="RUN_DIR", default=None,
                   help="run directory to create (required unless --resume)")
    p.add_argument("--task", default=None, choices=("auto", "binary", "multiclass",
                                                    "regression"),
                   help="what the labels are: auto reads each column (true/false or two "
                        "values: binary; a few texts: multiclass; numbers: regression) "
                        "(default: auto)")
    p.add_argument("--from", dest="source", metavar="MODEL", default=None,
                   help="checkpoint of the trained network (default: $GALMORPH_MODEL, the "
                        "registered default, else the model shipped with galmorph)")
    p.add_argument("--unfreeze", default=None, choices=("none", "last", "all"),
                   help="what trains besides the heads: none (a linear probe on features "
                        "extracted once, quick on a CPU; the 37 GZ2 answers stay the "
                        "network's), last (also the last residual stage of each network) or "
                        "all (default: none)")
    p.add_argument("--time-limit", dest="time_limit", type=float, default=None,
                   metavar="SECONDS",
                   help="stop cleanly after this many seconds and checkpoint; continue with "
                        "--resume (default: no limit)")
    p.add_argument("--epochs", type=positive_int, default=None, metavar="N",
                   help="total epochs (default: 25 for a probe, else 10, or with --time-limit "
                        "as many as fit)")
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate of the heads; trained network layers get a tenth "
                        "(default: 0.01 for a probe, else 0.001)")
    p.add_argument("--batch-size", dest="batch_size", type=positive_int, default=None,
                   metavar="N", help="galaxies per step (default: 256 for a probe, else 32)")
    p.add_argument("--val-fraction", dest="val_fraction", type=float, default=None,
                   help="fraction of the labelled galaxies held out (default: 0.2)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the split, batch order and augmentation (default: 0)")
    aug = p.add_mutually_exclusive_group()
    aug.add_argument("--augment", dest="augment", action="store_true", default=None,
                     help="flips and rotations (a probe: the features of all 8 orientations, "
                          "8 times the extraction) (default: on unless --unfreeze none)")
    aug.add_argument("--no-augment", dest="augment", action="store_false",
                     help="train on the images as they are")
    p.add_argument("--image-dir", dest="image_dir", metavar="DIR", default=None,
                   help="folder that relative image paths in LABELS are resolved against "
                        "(default: the folder of LABELS)")
    p.add_argument("--cache", metavar="DIR", default=None,
                   help="image cache folder (default: under the galmorph cache directory)")
    p.add_argument("--resume", metavar="RUN_DIR", default=None,
                   help="continue the run in RUN_DIR from its last checkpoint; other flags "
                        "default to the stored ones")
    p.add_argument("--set-default", dest="set_default", action="store_true", default=None,
                   help="register best.pt as the default model (default: off)")
    add_device(p, default=None)
    add_progress(p)
    p.set_defaults(func=run)
    return p


_FIELDS = ("task", "source", "unfreeze", "time_limit", "epochs", "lr", "batch_size",
           "val_fraction", "seed", "augment", "image_dir", "cache", "set_default", "device",
           "progress")


def config_from_args(args):
    """The :class:`FinetuneConfig` of the parsed flags; a ParameterError names the flag."""
    from galmorph.adapt.finetune import FinetuneConfig
    from galmorph.errors import ParameterError

    given = {k: getattr(args, k) for k in _FIELDS if getattr(args, k) is not None}
    if args.labels is not None:
        given["labels"] = args.labels
    if args.label:
        given["label"] = tuple(args.label)
    if args.resume:
        if args.out is not None and str(args.out) != str(args.resume):
            raise ParameterError(f"--out {args.out} and --resume {args.resume} name different "
                                 f"run directories; give only --resume")
        return FinetuneConfig.from_run(args.resume, **given)
    missing = [flag for flag, value in (("LABELS", args.labels), ("--label COLUMN", args.label),
                                        ("--out RUN_DIR", args.out)) if not value]
    if missing:
        raise ParameterError(f"{' and '.join(missing)} required (or --resume RUN_DIR to "
                             f"continue a run)")
    return FinetuneConfig(out=args.out, **given)


def run(args):
    config = config_from_args(args)
    from galmorph.adapt.finetune import finetune

    finetune(config)
    return 0
