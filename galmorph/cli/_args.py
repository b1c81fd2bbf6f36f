"""Argument types shared by the subcommands (argparse ``type=`` callables)."""
import argparse

__all__ = ["positive_int", "tta_arg", "CHECKPOINT_SUFFIXES", "split_checkpoint", "add_progress",
           "add_precision", "add_device", "add_convert", "progress_of", "add_image_dir",
           "under_image_dir", "interval_level", "add_trust", "add_intervals", "add_merger_rule"]

#: A first positional argument ending so is the checkpoint (``galmorph predict best.pt DIR``).
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")


def positive_int(text):
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text!r}")
    return value


def tta_arg(text):
    """argparse type of ``--tta``: ``none``, ``d8`` or a number of rotations N >= 1."""
    low = text.strip().lower()
    if low in ("none", "off", ""):
        return None
    if low == "d8":
        return "d8"
    if low.isdigit() and int(low) >= 1:
        return int(low)
    raise argparse.ArgumentTypeError(f"invalid --tta {text!r}: use none, d8 or a number of "
                                     f"rotations such as 4")


def split_checkpoint(positionals, model=None):
    """``(checkpoint, rest)`` of ``[CHECKPOINT] INPUTS...`` positionals.

    ``--model`` wins; otherwise a first argument ending in ``.pt`` (``.pth``,
    ``.ckpt``) is the checkpoint. Without either, the checkpoint is the default
    model: ``$GALMORPH_MODEL``, the registered default, else the shipped model
    (:func:`galmorph.paths.model_source`).
    """
    from galmorph.paths import resolve_model_path

    rest = list(positionals)
    if model is None and rest and rest[0].lower().endswith(CHECKPOINT_SUFFIXES):
        model = rest.pop(0)
    return resolve_model_path(model), rest


def add_progress(parser):
    """``--progress`` / ``--no-progress``, the same on every subcommand (dest ``progress``).

    Neither given leaves ``None``: bars on a terminal, none in a log or pipe
    (:func:`progress_of`).
    """
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--progress", dest="progress", action="store_true", default=None,
                       help="always show progress bars on stderr (default: only on a terminal)")
    group.add_argument("--no-progress", dest="progress", action="store_false",
                       help="never show progress bars")
    return group


def progress_of(args):
    """The ``progress=`` of the library call: the flag given, else whether stderr is a terminal."""
    from galmorph._util._progress import show_progress

    return show_progress(getattr(args, "progress", None))


def add_precision(parser, default="auto"):
    """``--precision``, its choices taken from :data:`galmorph.runtime.PRECISIONS`."""
    from galmorph._util._precisions import PRECISIONS   # torch-free: --help stays quick

    choices = ("auto",) + tuple(PRECISIONS)
    parser.add_argument("--precision", default=default, choices=choices,
                        help=f"arithmetic: {', '.join(choices)}; auto is bf16 where the CPU or "
                             f"GPU computes it natively, else fp32 (default: {default or 'auto'})")


def add_device(parser, default="auto"):
    """``--device``: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``."""
    parser.add_argument("--device", default=default,
                        help="auto, cpu, cuda or cuda:N; auto is CUDA where present, else the "
                             "CPU (default: auto)")


def add_image_dir(parser, paths, default):
    """``--image-dir DIR``: the folder that relative ``paths`` are resolved against."""
    parser.add_argument("--image-dir", dest="image_dir", metavar="DIR", default=None,
                        help=f"folder that relative {paths} are resolved against "
                             f"(default: {default})")


def under_image_dir(paths, image_dir):
    """``paths`` with the relative ones (globs too) taken inside ``image_dir`` (if given)."""
    import os

    if image_dir is None:
        return list(paths)
    return [p if os.path.isabs(os.path.expanduser(p)) else os.path.join(image_dir, p)
            for p in paths]


def add_convert(parser, default="flag"):
    """``--convert {flag,refuse}``: what to do with images that are not g, r, i colour."""
    from galmorph.data.images import CONVERT_CHOICES

    parser.add_argument("--convert", default=default, choices=CONVERT_CHOICES,
                        help=f"greyscale, RGBA or one-band FITS images: convert them to RGB and "
                             f"say so in the input_note column (flag), or refuse them as bad "
                             f"rows (refuse) (default: {default})")


def interval_level(text):
    """``--intervals`` value: a nominal coverage strictly between 0 and 1."""
    import argparse

    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a nominal coverage between 0 and 1, such "
                                         f"as 0.9, not {text!r}")
    return value


def recall_share(text):
    """``--merger-recall`` value: a share of mergers, above 0 and at most 1."""
    import argparse

    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a share of mergers above 0 and at most 1, "
                                         f"such as 0.7, not {text!r}")
    return value


def add_trust(parser):
    """``--intervals LEVEL`` and ``--merger-rule {prob,paper}`` (galmorph.trust)."""
    add_intervals(parser)
    add_merger_rule(parser)


def add_intervals(parser, default=None):
    """``--intervals LEVEL``: an interval for each answer at this nominal coverage."""
    shown = "none" if default is None else f"{default:g}"
    parser.add_argument("--intervals", type=interval_level, default=default, metavar="LEVEL",
                        help=f"add <answer>_lo and <answer>_hi columns: an interval for each of "
                             f"the 37 answers at this nominal coverage, such as 0.9 "
                             f"(split-conformal, calibrated with the model) (default: {shown})")


def add_merger_rule(parser, default="prob"):
    """``--merger-rule {prob,paper}``: the rule that sets ``is_merger``."""
    from galmorph.schema import PAPER_MERGER_THRESHOLD

    parser.add_argument("--merger-rule", dest="merger_rule", default=default,
                        choices=("prob", "paper"),
                        help=f"is_merger from the calibrated merger_prob and the model's flag "
                             f"threshold (prob), or the paper's p_merger >= --threshold / "
                             f"{PAPER_MERGER_THRESHOLD:g} (paper) (default: {default})")
