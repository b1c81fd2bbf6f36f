"""How many labels does a new question need? ``galmorph finetune`` against training from scratch.

Two tasks on real shared galaxies, each scored on held-out galaxies with 95 %
bootstrap intervals:

- ``ring``: a rare binary label, ``Class8.1 >= --ring-threshold`` (the ring answer
  of the odd-feature question) in gz-kaggle-5k, scored by ROC AUC on the shipped
  model's own validation galaxies (never trained on by the network);
- ``gz2``: the GZ2 release's weighted fractions of gz2-1k (mapped to the 37 Kaggle
  answers) as 37 regression heads, scored by the RMSE over every known cell on
  held-out gz2-1k galaxies, beside the shipped model's own 37 outputs.

For N labelled galaxies (50, 100, 300, 1,000, as many as exist) three ways, each
with the same ``--budget`` of seconds: a linear probe on the shipped model
(``--unfreeze none``), finetuning its last stage (``--unfreeze last``) and
training a fresh ``resnet18-cpu`` from scratch (``--unfreeze all``).

    python benchmarks/finetune_efficiency.py --quick     # N=50, 100 test galaxies, 20 s
    python benchmarks/finetune_efficiency.py --budget 600  # the BENCHMARKS.md table
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
METHODS = {"probe": ("none", None), "last": ("last", None), "scratch": ("all", "scratch")}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="N=50 only, 100 test galaxies, a 20 s budget (a check that it runs)")
    p.add_argument("--sizes", type=int, nargs="+", default=[50, 100, 300, 1000],
                   help="labelled galaxies per run (default: 50 100 300 1000)")
    p.add_argument("--budget", type=float, default=600.0,
                   help="seconds of training per run, every method (default: 600)")
    p.add_argument("--n-test", type=int, default=300,
                   help="held-out galaxies per task (default: 300)")
    p.add_argument("--tasks", nargs="+", default=["ring", "gz2"], choices=["ring", "gz2"])
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    p.add_argument("--ring-threshold", type=float, default=0.1,
                   help="ring when Class8.1 is at least this (default: 0.1)")
    p.add_argument("--data", type=Path, default=SHARED, help="the shared data folder")
    p.add_argument("--work", type=Path, default=None, help="work folder (default: a temp one)")
    args = p.parse_args(argv)
    if args.quick:
        args.sizes, args.budget, args.n_test = [50], 20.0, 100
    return args


def _table(rows, paths, columns, path):
    import pandas as pd

    frame = pd.DataFrame({"path": [str(p) for p in paths]})
    for name, values in columns.items():
        frame[name] = values[rows]
    frame.to_csv(path, index=False)
    return path


def ring_task(args, work):
    """(pool table maker, test table, label names) of the ring task."""
    from galmorph.data.catalogs import open_catalog
    from galmorph.models.checkpoint import load_checkpoint
    from galmorph.paths import shipped_model_path

    catalog = open_catalog(args.data / "gz-kaggle-5k")
    from galmorph.schema import KAGGLE_COLUMNS

    ring = catalog.labels[:, KAGGLE_COLUMNS.index("Class8.1")] >= args.ring_threshold
    held = set(load_checkpoint(shipped_model_path()).meta.get("val_ids") or [])
    is_test = np.isin(catalog.ids, list(held))
    rng = np.random.default_rng(0)
    test = rng.permutation(np.flatnonzero(is_test))[:args.n_test]
    pool = rng.permutation(np.flatnonzero(~is_test))
    columns = {"ring": ring}
    make = lambda n, path: _table(pool[:n], [catalog.paths[i] for i in pool[:n]], columns, path)
    test_path = _table(test, [catalog.paths[i] for i in test], columns, work / "ring-test.csv")
    return make, test_path, ["ring"], len(pool), float(ring[test].mean())


def gz2_task(args, work):
    from galmorph.data.catalogs import open_catalog
    from galmorph.schema import KAGGLE_COLUMNS

    catalog = open_catalog(args.data / "gz2-1k")
    rng = np.random.default_rng(1)
    order = rng.permutation(len(catalog))
    test, pool = order[:args.n_test], order[args.n_test:]
    columns = {c: catalog.labels[:, j] for j, c in enumerate(KAGGLE_COLUMNS)}
    make = lambda n, path: _table(pool[:n], [catalog.paths[i] for i in pool[:n]], columns, path)
    test_path = _table(test, [catalog.paths[i] for i in test], columns, work / "gz2-test.csv")
    return make, test_path, list(KAGGLE_COLUMNS), len(pool), None


def predict_test(best, test_path, labels):
    """(targets (N, L), outputs (N, K), heads) of a finetuned checkpoint on the test table."""
    from galmorph.adapt._label_table import read_label_table
    from galmorph.adapt.finetune import FinetuneConfig, _prepare
    from galmorph.inference.engine import predict_arrays
    from galmorph.inference.heads import head_values
    from galmorph.models.checkpoint import load_checkpoint

    ckpt = load_checkpoint(best)
    heads = ckpt.model.label_heads
    table = read_label_table(test_path, labels, heads=heads.heads)
    data = _prepare(table, FinetuneConfig(), ckpt.preprocessing, False)
    details = predict_arrays(ckpt.model, data.images, details=True, precision="fp32")
    return table.targets, head_values(heads, len(data), np.arange(len(data)), details), \
        details.mean


def score(task, targets, outputs, n_boot=1000):
    """(value, lo, hi): ROC AUC for ring, RMSE over the known cells for gz2."""
    from galmorph.adapt.finetune_eval import _auc, _interval

    rng = np.random.default_rng(0)
    if task == "ring":
        y, p = targets[:, 0], outputs[:, 0]
        return (_auc(y, p), *_interval(_auc, (y, p), n_boot, rng))

    def rmse(y, p):
        known = np.isfinite(y)
        return float(np.sqrt(np.mean((y[known] - p[known]) ** 2)))
    return (rmse(targets, outputs), *_interval(rmse, (targets, outputs), n_boot, rng))


def main(argv=None):
    args = parse_args(argv)
    from galmorph.adapt.finetune import FinetuneConfig, finetune
    from galmorph.models import build_model, save_checkpoint

    work = args.work or Path(tempfile.mkdtemp(prefix="galmorph-finetune-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    scratch = work / "scratch.pt"
    save_checkpoint(scratch, build_model("resnet18-cpu"), preprocessing={"crop": 224, "size": 80})
    print(f"# finetune_efficiency: budget {args.budget:g} s per run, {time.strftime('%Y-%m-%d')}")
    print("| task | N | method | metric on held-out galaxies (95 % interval) | seconds |")
    print("|---|---|---|---|---|")
    for task in args.tasks:
        make, test_path, labels, n_pool, base_rate = (ring_task if task == "ring" else
                                                      gz2_task)(args, work)
        shown_base = False
        for n in sorted({min(s, n_pool) for s in args.sizes}):     # as many as exist
            table = make(n, work / f"{task}-{n}.csv")
            for method in args.methods:
                unfreeze, source = METHODS[method]
                out = work / f"{task}-{n}-{method}"
                t0 = time.monotonic()
                finetune(FinetuneConfig(labels=table, label=labels, out=out, task="auto" if
                                        task == "ring" else "regression",
                                        source=scratch if source else None, unfreeze=unfreeze,
                                        time_limit=args.budget, progress=False,
                                        epochs=None if unfreeze != "none" else 25))
                seconds = time.monotonic() - t0
                if not (out / "best.pt").is_file():      # the budget ended inside epoch 1
                    print(f"| {task} | {n} | {method} | no epoch finished within the budget | "
                          f"{seconds:.0f} |", flush=True)
                    continue
                targets, outputs, gz2 = predict_test(out / "best.pt", test_path, labels)
                value, lo, hi = score(task, targets, outputs)
                name = "ROC AUC" if task == "ring" else "RMSE"
                print(f"| {task} | {n} | {method} | {name} {value:.3f} [{lo:.3f}, {hi:.3f}] | "
                      f"{seconds:.0f} |", flush=True)
                if task == "gz2" and not shown_base:
                    value, lo, hi = score(task, targets, gz2)
                    print(f"| gz2 | 0 | shipped model's 37 outputs | RMSE {value:.3f} "
                          f"[{lo:.3f}, {hi:.3f}] | - |", flush=True)
                    shown_base = True
        if base_rate is not None:
            print(f"| ring | - | base rate of the test galaxies | {base_rate:.3f} | - |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
