"""``galmorph train``: train a network on a labelled data folder.

Thin shell over :func:`galmorph.training.train`; every flag maps to a
:class:`~galmorph.training.config.TrainConfig` field. Run it under
``torchrun --nproc_per_node N -m galmorph train ...`` for data-parallel training.
"""
import argparse

from galmorph.cli._args import add_device, add_precision, add_progress

__all__ = ["add_parser", "run"]

_EPILOG = """examples:
  galmorph train gz-kaggle-5k --model cnn --out runs/cnn --epochs 20 --batches-per-epoch 100
  galmorph train gz-kaggle-5k --model resnet18-tailored --out runs/rt --time-limit 3600
                                                    # trains for the whole hour
  galmorph train --resume runs/rt --time-limit 1800 # train it on for half an hour
  galmorph train --resume runs/cnn                  # finish its 20 epochs, where it stopped
  torchrun --nproc_per_node 4 -m galmorph train gz-kaggle-5k --model resnet18 --out runs/ddp
"""


# The help of each TrainConfig field's flag. The flag's name (--batch-size for batch_size),
# type and default come from the field itself; a help that states its own default (one that
# depends on the model, or None) keeps it. Fields not here have flags of their own below.
_HELP = {
    "out": "run directory to create (required unless --resume)",
    "model": "network to train",
    "epochs": "total epochs (default: 10; with --time-limit, as many as fit in it: the run "
              "trains until the limit, the learning rate lowered on plateaus of the "
              "validation RMSE, see --plateau-patience)",
    "batches_per_epoch": "batches per epoch; the paper used 100 (default: one pass over the "
                         "training split)",
    "batch_size": "global batch size, shared among torchrun processes (default: the model's, "
                  "cnn 256, resnet18* 64)",
    "val_batch_size": "validation batch size (default: the model's, cnn 128, resnet18* 32)",
    "lr": "Adam learning rate",
    "plateau_factor": "multiply the learning rate by this when the validation RMSE stalls",
    "plateau_patience": "epochs without improvement before lowering the learning rate",
    "min_lr": "lowest learning rate of the schedule",
    "val_fraction": "fraction of galaxies held out for validation",
    "seed": "seed of the split, initialisation, batch order and augmentation",
    "split_seed": "seed of the validation split alone, so that runs with different --seed "
                  "hold out the same galaxies, as an ensemble's members must (default: "
                  "--seed)",
    "time_limit": "stop cleanly at the first batch boundary after this many seconds and "
                  "checkpoint; without --epochs, train until then (the whole budget is used, "
                  "the learning rate lowered on plateaus); continue with --resume (default: "
                  "no limit)",
    "workers": "processes building the preprocessing cache when it is missing (default: every "
               "core)",
    "crop": "central crop side in input pixels (default: the model's, 224)",
    "size": "side of the images the network sees, pixels (default: the model's input size, 80)",
    "cache": "preprocessing cache folder, built when missing and reused otherwise; one data "
             "folder only (default: under the galmorph cache directory)",
    "on_error": "a bad label row or image, or a galaxy also in an earlier data folder: stop "
                "with an error naming it (raise), or skip it (bad rows and images are listed "
                "in the skip report); auto stops too, but skips the rows of a GZ2 release that "
                "break the decision tree by more than its rounding (0.025), with one warning",
    "flavour": "GZ2-release vote fractions used as labels",
    "report": "write the skip report of the data here (CSV for *.csv, else text; default: "
              "none)",
    "population_weights": "weigh the loss toward the real galaxy population, question by "
                          "question: none (plain masked MSE), mask (the confident "
                          "gz-kaggle-5k galaxies do not teach Q1, Q2, Q4, Q7, the questions "
                          "they were selected on), importance (label-shift weights per "
                          "question from the unselected galaxies); see docs/population.rst",
    "pseudo_weight": "loss weight of the galaxies of pseudo-labelled DATA_DIRs (written by "
                     "galmorph pseudo-label; never validated on); 0 leaves them out exactly",
}
_METAVAR = {"out": "RUN_DIR", "split_seed": "SEED", "batches_per_epoch": "N", "batch_size": "N",
            "val_batch_size": "N", "plateau_patience": "EPOCHS", "pseudo_weight": "W",
            "time_limit": "SECONDS", "cache": "DIR",
            "report": "FILE"}
_TYPES = {"int": int, "float": float}


def _field_flag(parser, field, choices):
    """The ``--flag`` of TrainConfig ``field``: its type from the annotation, its default in
    the help. Left out, the flag parses as None: the default, or with --resume the stored
    value."""
    help = _HELP[field.name]
    if "default:" not in help and field.default is not None:
        shown = f"{field.default:g}" if isinstance(field.default, float) else field.default
        help += f" (default: {shown})"
    kind = _TYPES.get(str(field.type).split("|")[0].strip())
    parser.add_argument("--" + field.name.replace("_", "-"), dest=field.name, type=kind,
                        default=None, choices=choices.get(field.name),
                        metavar=_METAVAR.get(field.name), help=help)


def add_parser(subparsers):
    import dataclasses

    from galmorph.data import ON_ERROR
    from galmorph.models import MODEL_NAMES
    from galmorph.schema import GZ2_FLAVOURS
    from galmorph.training.config import TrainConfig

    p = subparsers.add_parser(
        "train", help="train a network on a labelled data folder",
        description="Train a network to predict the 37 GZ2 vote fractions. Writes config.json, "
                    "split.json, metrics.csv, last.pt and best.pt to the run directory; "
                    "--resume continues a stopped or killed run exactly where it stopped.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", nargs="*", metavar="DATA_DIR",
                   help="labelled data folder(s) (Kaggle or GZ2-release layout; labels may "
                        "cover some questions only); several are trained on as one set, each "
                        "with its own cache and one split stratified by folder; folders from "
                        "galmorph pseudo-label train with --pseudo-weight; optional with "
                        "--resume (default: the run's stored data folders)")
    from galmorph.training.population import POPULATION_WEIGHTS

    choices = {"model": MODEL_NAMES, "on_error": ON_ERROR, "flavour": GZ2_FLAVOURS,
               "population_weights": POPULATION_WEIGHTS}
    for field in dataclasses.fields(TrainConfig):
        if field.name in _HELP:
            _field_flag(p, field, choices)
    add_precision(p, default=None)   # None: the stored value on --resume, else auto
    add_device(p, default=None)
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
    p.add_argument("--hold-out-untouched", dest="hold_out_untouched", action="store_true",
                   default=None,
                   help="leave the untouched split of gz-kaggle-5k and gz-kaggle-partial-3k "
                        "(1,007 galaxies chosen by a hash of their IDs, see galmorph.data."
                        "populations) out of training and validation, so that it scores the "
                        "model on galaxies nothing was chosen on (default: off)")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="continue the run in RUN_DIR from its last checkpoint; other flags "
                        "default to the stored ones (--epochs may raise the total)")
    p.add_argument("--set-default", action="store_true", default=None,
                   help="register best.pt as the default model of MorphologyClassifier() and "
                        "galmorph predict (default: off)")
    add_progress(p)
    p.set_defaults(func=run)
    return p


# Flags that are TrainConfig fields of the same name (DATA_DIR, --resume and --model-option
# are passed on their own).
_FIELDS = (*_HELP, "precision", "device", "augment", "set_default", "progress",
           "hold_out_untouched")


def config_from_args(args):
    """The :class:`TrainConfig` the parsed flags ask for (flags left out keep the defaults,
    or with ``--resume`` the stored values); a ParameterError names the flag."""
    from galmorph.training.config import config_for_invocation

    given = {k: getattr(args, k) for k in _FIELDS}
    return config_for_invocation(args.data, resume=args.resume,
                                 model_options=args.model_option, **given)


def run(args):
    config = config_from_args(args)  # flag errors come before the (slow) torch import
    from galmorph.training import train

    train(config)
    return 0
