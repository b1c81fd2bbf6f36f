"""The flags of the classifier's settings, built from :class:`ClassifierSettings`.

As ``galmorph train`` builds its flags from ``TrainConfig``: each flag's name
(``--batch-size`` for ``batch_size``), default and destination come from the
field of :class:`~galmorph.astro.settings.ClassifierSettings`; its help, type and
metavar are kept here. ``galmorph classify`` and ``galmorph embed`` add the flags of
the settings they take (:func:`add_classifier_flags`) and turn the parsed flags back
into settings (:func:`settings_from_args`), which they pass on whole.
"""
import argparse
import dataclasses

from galmorph._util._choices import CUTOUT_BACKENDS   # torch-free: --help stays quick
from galmorph.astro.settings import ClassifierSettings
from galmorph.cli._args import (add_convert, add_device, add_intervals, add_merger_rule,
                               add_precision, add_progress, positive_int, progress_of,
                               tta_arg)
from galmorph.schema import MERGER_COLUMN

__all__ = ["add_classifier_flags", "settings_from_args", "CUTOUT_SETTINGS"]

#: The settings of the cutout service: which one, its cache, time-outs, retries, threads.
CUTOUT_SETTINGS = ("backend", "cache_dir", "timeout", "retries", "workers")

# The help of each setting's flag. A help that states its default where it matters
# says "{default}"; the others get " (default: ...)" appended from the field.
_HELP = {
    "model": "checkpoint (default: $GALMORPH_MODEL, else the registered default)",
    "tta": "test-time augmentation: 'd8' or a number of rotations",
    "merger_threshold": "the paper's merger threshold on p_merger = {column}, for "
                        "--merger-rule paper and the paper-rule count",
    "batch_size": "images per batch",
    "backend": "cutout service",
    "cache_dir": "cutout cache folder (default: the galmorph user cache)",
    "timeout": "time limit of each cutout request, seconds",
    "retries": "further attempts at a cutout after a time-out, HTTP 5xx or dropped "
               "connection (default: {default}); a host that does not resolve or refuses the "
               "connection is not retried and fails the remaining rows at once",
    "workers": "cutouts fetched at the same time (default: {default}; 4-8 speed up large "
               "catalogues)",
}
#: Flag names that are not the field's (``--merger-threshold`` would be).
_FLAG = {"merger_threshold": "--threshold"}
_CHOICES = {"backend": CUTOUT_BACKENDS}
_METAVAR = {"tta": "none|d8|N", "merger_threshold": "THRESHOLD", "timeout": "SECONDS",
            "retries": "N", "workers": "N"}


def _positive_float(text):
    """argparse type of ``--timeout``: a number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text!r}")
    return value


def _retries_arg(text):
    """argparse type of ``--retries``: an integer >= 0."""
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, not {text!r}")
    return int(text)


_TYPE = {"tta": tta_arg, "merger_threshold": float, "batch_size": positive_int,
         "timeout": _positive_float, "retries": _retries_arg, "workers": positive_int}
# Settings whose flags other subcommands share (galmorph.cli._args): added there, with the
# default of the field.
_SHARED = {"device": add_device, "precision": add_precision, "convert": add_convert,
           "intervals": add_intervals, "merger_rule": add_merger_rule}


def _shown(value):
    """A default as the help says it: ``none``, ``30`` for 30.0, else as it is."""
    if value is None:
        return "none"
    return f"{value:g}" if isinstance(value, float) else str(value)


def add_classifier_flags(parser, names, helps=None):
    """Add the flag of each :class:`ClassifierSettings` field in ``names``, in that order.

    Parameters
    ----------
    parser : argparse.ArgumentParser
    names : sequence of str
        Field names; ``"progress"`` adds ``--progress`` / ``--no-progress``.
    helps : dict, optional
        Help texts that replace this module's for this subcommand, by field name.
    """
    defaults = {f.name: f.default for f in dataclasses.fields(ClassifierSettings)}
    for name in names:
        default = defaults[name]   # a KeyError here is a name that is no setting
        if name == "progress":
            add_progress(parser)   # unset: bars on a terminal only (progress_of)
        elif name in _SHARED:
            _SHARED[name](parser, default=default)
        else:
            text = {**_HELP, **(helps or {})}[name]
            if "default:" not in text:
                text += " (default: {default})"
            parser.add_argument(_FLAG.get(name, "--" + name.replace("_", "-")), dest=name,
                                type=_TYPE.get(name), default=default,
                                choices=_CHOICES.get(name), metavar=_METAVAR.get(name),
                                help=text.format(default=_shown(default), column=MERGER_COLUMN))


def settings_from_args(args, **fixed):
    """The :class:`ClassifierSettings` that the parsed flags ask for.

    Each setting whose flag was added takes the flag's value (``progress``: the flag
    given, else whether stderr is a terminal); the others keep their defaults, and
    ``fixed`` (such as ``embedding=True``) sets some outright.
    """
    given = {name: getattr(args, name) for name in ClassifierSettings.names()
             if hasattr(args, name)}
    if "progress" in given:
        given["progress"] = progress_of(args)
    return ClassifierSettings(**{**given, **fixed})
