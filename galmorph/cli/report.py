"""``galmorph report``: one self-contained HTML page of a training run or a classified catalogue."""

from galmorph.cli._args import add_device, add_precision, add_progress, progress_of

__all__ = ["add_parser", "run"]


def add_parser(subparsers):
    p = subparsers.add_parser(
        "report",
        help="an HTML report of a training run or a classified catalogue, with the paper's "
             "figures",
        description="Write one self-contained HTML file (figures embedded, opens offline). "
                    "For a run folder of 'galmorph train': the resolved config and data, "
                    "learning curves, the evaluation table of 'galmorph evaluate' (per "
                    "question and answer, with intervals, against the baselines), predicted "
                    "against true, true and predicted prototypes, first-layer kernels, the "
                    "GZ2 decision tree and where the files are. For a table written by "
                    "'galmorph classify' or 'galmorph predict': label histograms and "
                    "correlations, the decision tree, the merger analysis, redshift trends "
                    "(with a redshift column) and prototypes (with an image column).",
    )
    p.add_argument("path", metavar="RUN_DIR|CATALOG",
                   help="a run folder (holding metrics.csv and best.pt) or a table of "
                        "predictions (ECSV, FITS or CSV with Class1.1 ... Class11.6)")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="the HTML file (default: RUN_DIR/report.html, or "
                        "<catalogue name>-report.html beside the catalogue)")
    p.add_argument("--data", nargs="+", default=None, metavar="DIR",
                   help="run reports: labelled data folder(s) or 'galmorph prepare' caches "
                        "to evaluate on (default: the data the run was trained on)")
    p.add_argument("--images", default=None, metavar="COLUMN",
                   help="catalogue reports: the column holding each row's image file, for "
                        "the prototypes (default: the first of file, path, image, filename)")
    p.add_argument("--threshold", type=float, default=None, metavar="P",
                   help="catalogue reports: merger threshold on Class8.6 (default: the "
                        "catalogue's merger_threshold, else 0.54)")
    p.add_argument("--seed", type=int, default=0,
                   help="catalogue reports: seed of the bootstrap intervals (default: 0)")
    p.add_argument("--batch-size", dest="batch_size", type=int, default=256,
                   help="run reports: images per forward pass (default: 256)")
    add_device(p)
    add_precision(p)
    add_progress(p)
    p.set_defaults(func=run)
    return p


def run(args):
    from pathlib import Path

    from galmorph._util._io import check_writable
    from galmorph.errors import DataError, ParameterError
    from galmorph.workflows.report import default_output, make_report

    path = Path(args.path)
    if not path.exists():
        raise DataError(f"{path} does not exist; give a run folder of 'galmorph train' or a "
                        f"table written by 'galmorph classify' / 'galmorph predict'")
    is_run = path.is_dir()
    wrong = ([f for f, v in (("--images", args.images), ("--threshold", args.threshold))
              if v is not None] if is_run else (["--data"] if args.data else []))
    if wrong:
        applies, kind = ("catalogues", "a run folder") if is_run else ("run folders",
                                                                     "a catalogue")
        raise ParameterError(f"{' and '.join(wrong)}: for {applies} only, and {path} is {kind}; "
                             f"see 'galmorph report --help'")
    out = check_writable(args.out or default_output(path), "--out")  # before any work
    if is_run:
        data = None if not args.data else args.data[0] if len(args.data) == 1 else args.data
        written = make_report(path, out, data=data, batch_size=args.batch_size,
                              device=args.device, precision=args.precision,
                              progress=progress_of(args))
    else:
        written = make_report(path, out, images=args.images, threshold=args.threshold,
                              seed=args.seed)
    print(written)
    return 0
