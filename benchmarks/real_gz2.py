"""Train the three models on the real Kaggle 5k galaxies within a wall-clock budget.

For each of ``cnn``, ``resnet18`` and ``resnet18-tailored`` this trains a run
for ``--budget`` seconds on ``gz-kaggle-5k`` (crop 224, resize 80, 10 %
held out), evaluates its best checkpoint on the held-out galaxies and reports
the validation RMSE (with a 95 % bootstrap interval over galaxies) next to
the predict-the-training-mean and central-pixel baselines -- overall and
separately for the unselected part of the sample (``GalaxyID <= 115091``;
the rest are confidently classified galaxies and easier; a 10 % split holds
about 50 of them, hence the wide interval).

It then prints an ablation of the tailored model: each row removes one
ingredient and trains for ``--ablation-budget`` seconds --

- ``tree normalisation``: sigmoid outputs instead of outputs normalised down
  the GZ2 tree;
- ``augmentation``: no random rotations/flips of the training batches;
- ``bf16``: float32 instead of bfloat16 autocast, so fewer epochs fit in the
  same wall-clock budget (on a machine without native bf16 both rows run fp32);
- ``TTA``: the full model evaluated without the d8 test-time augmentation
  (no extra training).

Run::

    python benchmarks/real_gz2.py [DATA] [--budget 1800] [--ablation-budget 1800]
        [--models cnn,resnet18,resnet18-tailored] [--no-ablation] [--out DIR]

The defaults take about 3.5 hours of CPU; the CPU is shared, so a quick smoke
run is ``--budget 60 --ablation-budget 60 --batches-per-epoch 10``. Figures
depend on the load of the machine: report them with the load average printed.
"""
import argparse
import os
import tempfile
import time
from pathlib import Path

from galmorph.data.populations import UNSELECTED_ID_MAX

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "gz-kaggle-5k"
MODELS = ("cnn", "resnet18", "resnet18-tailored")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", nargs="?", default=str(DEFAULT_DATA),
                   help=f"labelled Kaggle-layout folder (default: {DEFAULT_DATA})")
    p.add_argument("--budget", type=float, default=1800.0,
                   help="training wall-clock seconds per model (default: 1800)")
    p.add_argument("--ablation-budget", type=float, default=None,
                   help="training seconds per ablation row (default: --budget)")
    p.add_argument("--models", default=",".join(MODELS),
                   help=f"comma-separated models (default: {','.join(MODELS)})")
    p.add_argument("--no-ablation", dest="ablation", action="store_false",
                   help="skip the ablation table (default: run it)")
    p.add_argument("--batches-per-epoch", type=int, default=100,
                   help="batches between validations, the paper's 'epoch' (default: 100)")
    p.add_argument("--tta", default="d8", help="TTA of the final evaluation (default: d8)")
    p.add_argument("--seed", type=int, default=0, help="seed of split and training (default: 0)")
    p.add_argument("--out", default=None,
                   help="folder for the runs (default: a temporary folder, deleted)")
    return p.parse_args(argv)


def train_for(args, out, model, precision="auto", **options):
    """Train one run within the budget; returns (run_dir, epochs done, seconds)."""
    import csv

    from galmorph.training import TrainConfig, train

    augment = options.pop("augment", None)
    budget = options.pop("budget")
    start = time.perf_counter()
    run = train(TrainConfig(data=args.data, out=str(out), model=model, model_options=options,
                            epochs=100_000, batches_per_epoch=args.batches_per_epoch,
                            time_limit=budget, precision=precision, augment=augment,
                            seed=args.seed, val_fraction=0.1, progress=False))
    with open(run / "metrics.csv") as fh:
        epochs = sum(1 for _ in csv.DictReader(fh))
    return run, epochs, time.perf_counter() - start


def score(run, args, tta):
    from galmorph.inference.evaluation import evaluate

    if not (run / "best.pt").is_file():
        return None  # the budget ended before the first validation
    return evaluate(run / "best.pt", args.data, split="validation", tta=tta,
                    id_max=UNSELECTED_ID_MAX)


def _fmt(value):
    return "--" if value is None else f"{value:.4f}"


def _fmt_ci(scored):
    """RMSE with its 95 % bootstrap interval over galaxies (evaluate's rmse_ci95)."""
    ci = scored.get("rmse_ci95")
    return _fmt(scored["rmse"]) + ("" if not ci else f" ({ci[0]:.3f}-{ci[1]:.3f})")


def model_table(args, root, runs):
    key = f"id<={UNSELECTED_ID_MAX}"
    lines = [f"### Models, {args.budget:.0f} s of training each, validation RMSE "
             f"(TTA {args.tta})", "",
             "| model | epochs | RMSE | mean baseline | central-pixel baseline | "
             f"RMSE (ID <= {UNSELECTED_ID_MAX}) | mean baseline (ID <= {UNSELECTED_ID_MAX}) |",
             "|---|---|---|---|---|---|---|"]
    for model in args.models.split(","):
        run, epochs, _ = train_for(args, root / model, model, budget=args.budget)
        runs[model] = (run, epochs)
        r = score(run, args, args.tta)
        if r is None:
            lines.append(f"| {model} | {epochs} | no validation within the budget | | | | |")
            continue
        part = r["subsets"][key]
        lines.append(f"| {model} | {epochs} | {_fmt_ci(r)} | "
                     f"{_fmt(r['baselines']['mean'])} | {_fmt(r['baselines']['central_pixel'])} "
                     f"| {_fmt_ci(part)} | {_fmt(part['baselines'].get('mean'))} |")
        print(f"  {model}: {epochs} epochs, RMSE {_fmt(r['rmse'])}", flush=True)
    return lines


def ablation_table(args, root, runs):
    budget = args.ablation_budget or args.budget
    rows = [("full (tree, augmentation, bf16, TTA d8)", {}, "auto", "d8"),
            ("without tree normalisation (sigmoid)", {"output": "sigmoid"}, "auto", "d8"),
            ("without augmentation", {"augment": False}, "auto", "d8"),
            ("without bf16 (fp32: fewer epochs)", {}, "fp32", "d8")]
    lines = [f"### Ablation of resnet18-tailored, {budget:.0f} s of training per row", "",
             "| variant | epochs | RMSE | RMSE (ID <= 115091) |", "|---|---|---|---|"]
    full_run = None
    for i, (name, options, precision, tta) in enumerate(rows):
        if i == 0 and budget == args.budget and "resnet18-tailored" in runs:
            run, epochs = runs["resnet18-tailored"]  # the model table's run is the full model
        else:
            run, epochs, _ = train_for(args, root / f"ablation-{i}", "resnet18-tailored",
                                       precision=precision, budget=budget, **options)
        full_run = full_run or (run, epochs)
        r = score(run, args, tta)
        lines.append(_ablation_row(name, epochs, r))
        print(f"  {name}: {epochs} epochs", flush=True)
    # TTA costs no training: the full run scored without it.
    run, epochs = full_run
    lines.append(_ablation_row("without TTA (full run, no d8 averaging)", epochs,
                               score(run, args, None)))
    return lines


def _ablation_row(name, epochs, r):
    if r is None:
        return f"| {name} | {epochs} | no validation within the budget | |"
    part = r["subsets"][f"id<={UNSELECTED_ID_MAX}"]
    return f"| {name} | {epochs} | {_fmt_ci(r)} | {_fmt_ci(part)} |"


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.out) if args.out else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        runs = {}
        lines = model_table(args, root, runs)
        if args.ablation:
            lines += [""] + ablation_table(args, root, runs)
    load = os.getloadavg()
    print()
    print("\n".join(lines))
    print()
    print(f"data: {args.data}; total {time.perf_counter() - start:.0f} s; load average "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores (shared CPU: "
          f"other processes reduce the epochs that fit in each budget)")


if __name__ == "__main__":
    main()
