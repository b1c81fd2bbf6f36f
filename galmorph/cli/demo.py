"""``galmorph demo``: the offline end-to-end demo (synthetic data -> train -> evaluate -> predict)."""


from galmorph.cli._args import positive_int

__all__ = ["add_parser", "run"]


def add_parser(subparsers):
    from galmorph.training.demo import DemoConfig

    d = DemoConfig()
    p = subparsers.add_parser(
        "demo",
        help="offline end-to-end demo on synthetic galaxies (a few minutes on a CPU)",
        description="Write a synthetic GZ2-like data set, prepare its cache, train a small "
                    "network, evaluate it on held-out synthetic galaxies against the "
                    "predict-the-mean baseline, predict a few of them and print where "
                    "everything was written. No network access and no real data needed. "
                    "Re-running in the same folder reuses the data (same --n and --seed) and "
                    "trains a fresh run in the next runs/run-NNN folder.",
    )
    p.add_argument("--out", default=str(d.out), metavar="DIR",
                   help=f"demo folder (default: ./{d.out})")
    p.add_argument("--n", type=positive_int, default=d.n,
                   help=f"synthetic galaxies, a fifth held out (default: {d.n})")
    p.add_argument("--epochs", type=positive_int, default=d.epochs,
                   help=f"training epochs (default: {d.epochs})")
    p.add_argument("--seed", type=int, default=d.seed,
                   help=f"seed of the data, split and training (default: {d.seed})")
    p.add_argument("--model", default=d.model, choices=("cnn", "resnet18", "resnet18-tailored"),
                   help=f"network (default: {d.model}, the quickest to learn on a CPU)")
    p.add_argument("--size", type=positive_int, default=d.size,
                   help=f"network input side in pixels after the 224-pixel crop "
                        f"(default: {d.size})")
    p.add_argument("--lr", type=float, default=d.lr,
                   help=f"Adam learning rate (default: {d.lr})")
    p.add_argument("--time-limit", dest="time_limit", type=float, default=None, metavar="S",
                   help="stop training after S seconds (default: no limit)")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="hide progress bars (default: shown)")
    p.set_defaults(func=run)
    return p


def run(args):
    from galmorph.training.demo import DemoConfig, format_summary, run_demo

    result = run_demo(DemoConfig(out=args.out, n=args.n, epochs=args.epochs, seed=args.seed,
                                 model=args.model, size=args.size, lr=args.lr,
                                 time_limit=args.time_limit, progress=args.progress))
    print(format_summary(result))
    return 0
