"""``galmorph demo``: the offline end-to-end demo (synthetic data -> train -> evaluate -> predict)."""


from galmorph.cli._args import add_progress, positive_int, progress_of

__all__ = ["add_parser", "run"]


def add_parser(subparsers):
    from galmorph.workflows.demo import DemoConfig

    d = DemoConfig()
    p = subparsers.add_parser(
        "demo",
        help="offline demo: classify 24 real galaxies, then train on synthetic ones "
             "(under 3 minutes on a CPU)",
        description="Classify the 24 real GZ2 galaxies shipped with galmorph with the shipped "
                    "model and print its answers beside the volunteers'; then write a "
                    "synthetic GZ2-like data set, prepare its cache, train a small network "
                    "within a time budget, evaluate it on held-out synthetic galaxies against "
                    "the predict-the-mean baseline, predict a few of them and print where "
                    "everything was written. No network access and no data of your own "
                    "needed. Re-running in the same folder reuses the data (same --n and "
                    "--seed) and trains a fresh run in the next runs/run-NNN folder.",
    )
    p.add_argument("--full", action="store_true",
                   help="the longer synthetic training: --n 4000 --epochs 12 and no time "
                        "limit, unless given (default: off)")
    p.add_argument("--no-examples", dest="examples", action="store_false",
                   help="skip the real galaxies and the shipped model (default: run them)")
    p.add_argument("--out", default=str(d.out), metavar="DIR",
                   help=f"demo folder (default: ./{d.out})")
    p.add_argument("--n", type=positive_int, default=None,
                   help=f"synthetic galaxies, a fifth held out (default: {d.n}; 4000 with "
                        f"--full)")
    p.add_argument("--epochs", type=positive_int, default=None,
                   help=f"training epochs (default: {d.epochs}; 12 with --full)")
    p.add_argument("--seed", type=int, default=d.seed,
                   help=f"seed of the data, split and training (default: {d.seed})")
    from galmorph.models import MODEL_NAMES
    p.add_argument("--model", default=d.model, choices=MODEL_NAMES,
                   help=f"network (default: {d.model}, the quickest to learn on a CPU)")
    p.add_argument("--size", type=positive_int, default=d.size,
                   help=f"network input side in pixels after the 224-pixel crop "
                        f"(default: {d.size})")
    p.add_argument("--lr", type=float, default=d.lr,
                   help=f"Adam learning rate (default: {d.lr})")
    p.add_argument("--time-limit", dest="time_limit", type=float, default=None, metavar="S",
                   help=f"stop training after S seconds (default: {d.time_limit:g}; none with "
                        f"--full)")
    add_progress(p)
    p.set_defaults(func=run)
    return p


def run(args):
    from galmorph._util._io import check_writable
    from galmorph.workflows.demo import DemoConfig, format_summary, run_demo

    check_writable(args.out, "--out", folder=True)  # before step 1
    given = {k: getattr(args, k) for k in ("n", "epochs", "time_limit")
             if getattr(args, k) is not None}
    make = DemoConfig.full if args.full else DemoConfig
    result = run_demo(make(out=args.out, seed=args.seed, model=args.model, size=args.size,
                           lr=args.lr, examples=args.examples, progress=progress_of(args),
                           **given))
    print(format_summary(result))
    return 0
