"""The ``galmorph`` command line.

Each subcommand lives in its own module here with two functions:
``add_parser(subparsers)``, which declares its flags (each with a help text
and a stated default), and ``run(args)``, which calls the public API and
returns an exit code. The CLI does no work of its own.
"""
import argparse
import sys
from importlib import import_module

from galmorph import __version__
from galmorph.errors import GalmorphError

__all__ = ["main", "console_main", "build_parser"]

#: Subcommands in the order ``galmorph --help`` lists them.
COMMANDS = ("classify", "predict", "models", "demo", "synth", "prepare", "train", "pseudo-label",
            "finetune", "evaluate", "calibrate", "embed", "similar", "anomalies", "report")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="galmorph",
        description="Galaxy Zoo 2 morphology with convolutional networks: make or prepare "
                    "data, train, evaluate, predict and classify sky positions.",
    )
    parser.add_argument("--version", action="version", version=f"galmorph {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        import_module(f"galmorph.cli.{name.replace('-', '_')}").add_parser(sub)
    return parser


def main(argv=None):
    """Entry point of the ``galmorph`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except GalmorphError as err:
        # Expected failures (bad data, bad checkpoint, ...) get one clear line, no traceback.
        print(f"galmorph {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"galmorph {args.command}: interrupted", file=sys.stderr)
        return 130


def _one_line_warnings(argv):
    """Show Python warnings as one ``galmorph CMD: warning: ...`` line, without source lines."""
    import warnings

    prefix = f"galmorph {_command(argv)}".rstrip()

    def show(message, category, filename, lineno, file=None, line=None):
        text = " ".join(str(message).split())          # one line, whatever the message holds
        kind = "" if category is UserWarning else f" ({category.__name__})"
        print(f"{prefix}: warning{kind}: {text}", file=sys.stderr if file is None else file)

    warnings.showwarning = show


def console_main(argv=None):
    """The ``galmorph`` console script: :func:`main` with warnings as one line each.

    Only the console script replaces :func:`warnings.showwarning`; :func:`main`
    called from Python (or a test) leaves the caller's warning handling alone.
    """
    _one_line_warnings(argv)
    try:
        code = main(argv)
        late = _hold_sigint()
    except KeyboardInterrupt:  # outside main's own handler: starting up, or as main returned
        print(f"galmorph {_command(argv)}: interrupted", file=sys.stderr)
        return 130
    if late:
        # A Ctrl-C as the command finished: what it wrote is complete, but the user asked
        # to stop, and a script must see that, not a success.
        print(f"galmorph {_command(argv)}: interrupted as it finished (its output is "
              f"complete)", file=sys.stderr)
        return 130
    return code


def _hold_sigint():
    """Block SIGINT until the process exits; True if one came in and waits, pending.

    Between the last line of Python and the interpreter's exit, a SIGINT would set
    the interpreter's flag and never be acted on: the process would exit 0, having
    been interrupted. Blocked, it waits instead, and is seen here.
    """
    import signal

    from galmorph._util._workers import can_hold_sigint

    if not can_hold_sigint():
        return False
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    return signal.SIGINT in signal.sigpending()


def _command(argv):
    words = [a for a in (sys.argv[1:] if argv is None else argv) if not a.startswith("-")]
    return words[0] if words else ""
