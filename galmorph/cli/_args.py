"""Argument types shared by the subcommands (argparse ``type=`` callables)."""
import argparse

__all__ = ["positive_int", "tta_arg", "CHECKPOINT_SUFFIXES", "split_checkpoint"]

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
