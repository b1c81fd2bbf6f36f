"""Argument types shared by the subcommands (argparse ``type=`` callables)."""
import argparse

__all__ = ["positive_int", "tta_arg"]


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
