"""``galmorph classify``: placeholder until its issue lands."""

__all__ = ["add_parser", "run"]


def add_parser(subparsers):
    p = subparsers.add_parser("classify", help="(not yet implemented)")
    p.set_defaults(func=run)
    return p


def run(args):
    raise SystemExit("galmorph classify is not implemented yet")
