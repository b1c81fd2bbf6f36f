"""``galmorph prepare``: crop and resize a data folder once into a memory-mapped cache."""


from galmorph.cli._args import add_progress, positive_int, progress_of

__all__ = ["add_parser", "run"]


def add_parser(subparsers):
    p = subparsers.add_parser(
        "prepare",
        help="crop and resize every image of a data folder into a reusable cache",
        description="Crop the central CROP x CROP pixels of every image of DATA_DIR, resize "
                    "them to SIZE x SIZE and store them, with labels and IDs, in a "
                    "memory-mapped cache folder. An up-to-date cache is reused; an "
                    "interrupted run resumes where it stopped.",
    )
    p.add_argument("data_dir", metavar="DATA_DIR",
                   help="data folder (Kaggle layout, GZ2 release layout or a folder of images)")
    p.add_argument("--cache", metavar="DIR", default=None,
                   help="cache folder (default: under the galmorph user cache directory, "
                        "named after DATA_DIR and a hash of it and the settings)")
    from galmorph.models import DEFAULT_PREPROCESSING as PREP   # registry data, torch-free

    p.add_argument("--crop", type=positive_int, default=PREP["crop"],
                   help=f"side of the central square kept, in input pixels (default: "
                        f"{PREP['crop']}, as the models)")
    p.add_argument("--size", type=positive_int, default=PREP["size"],
                   help=f"side of the cached images, in pixels (default: {PREP['size']}, as "
                        f"the models)")
    p.add_argument("--workers", type=positive_int, default=None,
                   help="worker processes (default: every core)")
    from galmorph.data import ON_ERROR
    from galmorph.schema import DEFAULT_FLAVOUR, GZ2_FLAVOURS

    p.add_argument("--flavour", default=DEFAULT_FLAVOUR, choices=GZ2_FLAVOURS,
                   help=f"GZ2-release vote fractions used as labels (GZ2 layout only; "
                        f"default: {DEFAULT_FLAVOUR})")
    p.add_argument("--on-error", dest="on_error", default="auto", choices=ON_ERROR,
                   help="bad label row or unreadable image: stop with an error (raise) or "
                        "leave it out and list it in the report (skip); auto stops too, but "
                        "skips the rows of a GZ2 release that break the decision tree by more "
                        "than its rounding (0.025), with one warning (default: auto)")
    p.add_argument("--report", metavar="FILE", default=None,
                   help="write a CSV (item,reason) of every row and image left out "
                        "(default: none)")
    add_progress(p)
    p.set_defaults(func=run)
    return p


def run(args):
    from galmorph.data.cache import prepare

    data = prepare(args.data_dir, cache_dir=args.cache, crop=args.crop, size=args.size,
                   workers=args.workers, on_error=args.on_error, flavour=args.flavour,
                   progress=progress_of(args), report=args.report)
    state = "reused (up to date)" if data.reused else "built"
    shape = "x".join(str(s) for s in data.images.shape)
    print(f"cache {state}: {data.path}")
    print(f"{len(data)} images ({shape} uint8), labels: "
          f"{'yes' if data.labels is not None else 'none'}, "
          f"skipped: {len(data.meta.get('skipped', []))}")
    if args.report:
        print(f"report: {args.report}")
    return 0
