"""``galmorph train``: train a network on a labelled data folder.

Thin shell over :func:`galmorph.training.train.train`; every flag maps to a
:class:`~galmorph.training.config.TrainConfig` field. Run it under
``torchrun --nproc_per_node N -m galmorph train ...`` for data-parallel training.
"""
import argparse

from galmorph.cli._args import add_device, add_precision, add_progress

__all__ = ["add_parser", "run"]

_EPILOG = """examples:
  galmorph train gz-kaggle-5k --model cnn --out runs/cnn --epochs 20 --batches-per-epoch 100
  galmorph train gz-kaggle-5k --model resnet18-tailored --out runs/rt --time-limit 3600
  galmorph train --resume runs/rt                   # continue where it stopped
  torchrun --nproc_per_node 4 -m galmorph train gz-kaggle-5k --model resnet18 --out runs/ddp
"""


def add_parser(subparsers):
    from galmorph.models import MODEL_NAMES
    from galmorph.training.config import TrainConfig as C

    p = subparsers.add_parser(
        "train", help="train a network on a labelled data folder",
        description="Train a network to predict the 37 GZ2 vote fractions. Writes config.json, "
                    "split.json, metrics.csv, last.pt and best.pt to the run directory; "
                    "--resume continues a stopped or killed run exactly where it stopped.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", nargs="*", metavar="DATA_DIR",
                   help="labelled data folder(s) (Kaggle or GZ2-release layout; labels may "
                        "cover some questions only); several are trained on as one set, each "
                        "with its own cache and one split stratified by folder; optional with "
                        "--resume (default: the run's stored data folders)")
    p.add_argument("--model", choices=MODEL_NAMES, default=None,
                   help=f"network to train (default: {C.model})")
    p.add_argument("--out", metavar="RUN_DIR",
                   help="run directory to create (required unless --resume)")
    p.add_argument("--epochs", type=int, help=f"total epochs (default: {C.epochs})")
    p.add_argument("--batches-per-epoch", type=int, metavar="N",
                   help="batches per epoch; the paper used 100 (default: one pass over the "
                        "training split)")
    p.add_argument("--batch-size", type=int, metavar="N",
                   help="global batch size, shared among torchrun processes (default: the "
                        "model's, cnn 256, resnet18* 64)")
    p.add_argument("--val-batch-size", type=int, metavar="N",
                   help="validation batch size (default: the model's, cnn 128, resnet18* 32)")
    p.add_argument("--lr", type=float, help=f"Adam learning rate (default: {C.lr:g})")
    p.add_argument("--plateau-factor", type=float,
                   help=f"multiply the learning rate by this when the validation RMSE stalls "
                        f"(default: {C.plateau_factor})")
    p.add_argument("--plateau-patience", type=int, metavar="EPOCHS",
                   help=f"epochs without improvement before lowering the learning rate "
                        f"(default: {C.plateau_patience})")
    p.add_argument("--min-lr", type=float,
                   help=f"lowest learning rate of the schedule (default: {C.min_lr:g})")
    p.add_argument("--val-fraction", type=float,
                   help=f"fraction of galaxies held out for validation (default: {C.val_fraction})")
    p.add_argument("--seed", type=int,
                   help=f"seed of the split, initialisation, batch order and augmentation "
                        f"(default: {C.seed})")
    p.add_argument("--time-limit", type=float, metavar="SECONDS",
                   help="stop cleanly at the first batch boundary after this many seconds and "
                        "checkpoint; continue with --resume (default: no limit)")
    add_precision(p, default=None)   # None: the stored value on --resume, else auto
    add_device(p, default=None)
    p.add_argument("--workers", type=int,
                   help="processes building the preprocessing cache when it is missing "
                        "(default: every core)")
    aug = p.add_mutually_exclusive_group()
    aug.add_argument("--augment", dest="augment", action="store_true", default=None,
                     help="random rotations and flips of every training batch (default: on for "
                          "resnet18-tailored, as in the paper, and resnet18-cpu; off for cnn "
                          "and resnet18)")
    aug.add_argument("--no-augment", dest="augment", action="store_false",
                     help="train on the images as they are")
    p.add_argument("--model-option", action="append", default=None, metavar="KEY=VALUE",
                   help="model config override, repeatable, e.g. --model-option dropout=0.3 "
                        "(default: none)")
    p.add_argument("--crop", type=int, help=f"central crop side in input pixels (default: {C.crop})")
    p.add_argument("--size", type=int,
                   help="side of the images the network sees, pixels (default: the model's "
                        "input size, 80)")
    p.add_argument("--cache", metavar="DIR",
                   help="preprocessing cache folder, built when missing and reused otherwise; "
                        "one data folder only (default: under the galmorph cache directory)")
    from galmorph.data.validate import ON_ERROR
    p.add_argument("--on-error", dest="on_error", choices=ON_ERROR,
                   help=f"a bad label row or image: stop with an error naming it, or skip it "
                        f"and list it in the skip report (default: {C.on_error})")
    from galmorph.data.gz2 import FLAVOURS
    p.add_argument("--flavour", choices=FLAVOURS,
                   help=f"GZ2-release vote fractions used as labels (default: {C.flavour})")
    p.add_argument("--report", metavar="FILE",
                   help="write the skip report of the data here (CSV for *.csv, else text; "
                        "default: none)")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="continue the run in RUN_DIR from its last checkpoint; other flags "
                        "default to the stored ones (--epochs may raise the total)")
    p.add_argument("--set-default", action="store_true", default=None,
                   help="register best.pt as the default model of MorphologyClassifier() and "
                        "galmorph predict (default: off)")
    add_progress(p)
    p.set_defaults(func=run)
    return p


_FIELDS = ("data", "model", "out", "epochs", "batches_per_epoch", "batch_size", "val_batch_size",
           "lr", "plateau_factor", "plateau_patience", "min_lr", "val_fraction", "seed",
           "time_limit", "precision", "device", "workers", "augment", "crop", "size", "cache",
           "on_error", "flavour", "report", "set_default", "progress")


def config_from_args(args):
    """The :class:`TrainConfig` the parsed flags ask for (flags left out keep the defaults,
    or with ``--resume`` the stored values); a ParameterError names the flag."""
    from galmorph.training.config import config_for_invocation

    given = {k: getattr(args, k) for k in _FIELDS if k != "data"}
    return config_for_invocation(args.data, resume=args.resume,
                                 model_options=args.model_option, **given)


def run(args):
    config = config_from_args(args)  # flag errors come before the (slow) torch import
    from galmorph.training.train import train

    train(config)
    return 0
