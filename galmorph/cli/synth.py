"""``galmorph synth``: write a synthetic GZ2-like data set in the Kaggle layout."""

from galmorph.cli._args import add_progress, positive_int, progress_of

__all__ = ["add_parser", "run"]


def add_parser(subparsers):
    p = subparsers.add_parser(
        "synth",
        help="write synthetic GZ2-like galaxies with simulated votes (Kaggle layout)",
        description="Write N procedural galaxies as 424x424 JPEGs in OUT/images_training_rev1/ "
                    "with simulated Galaxy Zoo 2 vote fractions in "
                    "OUT/training_solutions_rev1.csv, the layout of the Kaggle 'Galaxy Zoo - "
                    "The Galaxy Challenge' training set. The same seed gives identical files "
                    "whatever the number of workers.",
    )
    p.add_argument("out", metavar="OUT", help="output folder (created; must be empty unless "
                                              "--overwrite)")
    p.add_argument("--n", type=positive_int, default=1000,
                   help="number of galaxies (default: 1000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--workers", type=positive_int, default=None,
                   help="worker processes (default: all CPUs available)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a synthetic set already in OUT (default: refuse a non-empty OUT)")
    progress = add_progress(p)
    progress.add_argument("--quiet", dest="progress", action="store_false",
                          help="the same as --no-progress")
    p.set_defaults(func=run)
    return p


def run(args):
    from galmorph._util._io import check_writable
    from galmorph.synth import LABEL_FILE, make_synthetic

    check_writable(args.out, "OUT", folder=True)  # before any galaxy is rendered
    out = make_synthetic(args.out, n=args.n, seed=args.seed, workers=args.workers,
                         progress=progress_of(args), overwrite=args.overwrite)
    print(f"wrote {args.n} synthetic galaxies to {out} ({LABEL_FILE}, seed {args.seed})")
    return 0
