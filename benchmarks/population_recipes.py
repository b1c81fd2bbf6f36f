"""Score training recipes on the real population, on the selection and the untouched split
(issue 27).

Each model (a run folder's ``best.pt``, a checkpoint file, or ``shipped``) predicts every
galaxy of gz-kaggle-5k and gz-kaggle-partial-3k once (``galmorph.inference.evaluate``,
``split="all"``, fp32, no TTA). Each galaxy then has a role
(:func:`galmorph.data.populations.split_role`): ``untouched`` (the split nothing chooses
on), ``selection`` (the model's validation galaxies, which chose its epochs) or
``train``; and a population: ``unselected`` (the real population: gz-kaggle-5k IDs <=
115091 and all of gz-kaggle-partial-3k) or ``confident``.

Printed per model and split: the RMSE over the known cells of the unselected galaxies
(the real-population figure), of the confident ones and of all, with 95 % bootstrap
intervals over galaxies, and the per-question RMSE of the unselected galaxies. Then,
against the first model given (the control), the paired bootstrap difference on the
untouched split (the same galaxies resampled for both models). ``--json FILE`` writes
everything.

Run::

    python benchmarks/population_recipes.py runs/control runs/student ... shipped [--json F]
"""
import argparse
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
FOLDERS = ("gz-kaggle-5k", "gz-kaggle-partial-3k")
N_BOOT = 1000


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+",
                   help="run folders, checkpoint files or 'shipped'; the first is the control")
    p.add_argument("--json", default=None, help="also write the figures here")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    return p.parse_args(argv)


def _checkpoint(name):
    """``(label, checkpoint path, selection IDs as text)``."""
    from galmorph.models.checkpoint import load_checkpoint
    from galmorph.paths import shipped_model_path
    from galmorph.rundir import RunDir

    if name == "shipped":
        path = shipped_model_path()
        return "shipped", path, [str(v) for v in load_checkpoint(path).meta["val_ids"]]
    path = Path(name)
    run = RunDir(path) if path.is_dir() else RunDir.of_checkpoint(path)
    path = run.best if path.is_dir() else path
    return run.path.name, path, [str(v) for v in run.val_ids()]


def _per_galaxy(model, rows, cols=slice(None)):
    """``(N, 2)``: each galaxy's summed squared error and known-cell count over ``cols``."""
    pred, labels = model["pred"][rows][:, cols], model["labels"][rows][:, cols]
    known = np.isfinite(labels)
    sq = np.where(known, (pred - np.nan_to_num(labels)) ** 2, 0.0)
    return np.column_stack([sq.sum(1), known.sum(1)])


def score(name, seed):
    from galmorph.data.populations import split_role, unselected_mask
    from galmorph.inference import evaluate
    from galmorph.metrics import rmse, rmse_interval, rmse_report

    label, path, selection = _checkpoint(name)
    result = evaluate(path, [DATA / f for f in FOLDERS], split="all", precision="fp32")
    ids = np.asarray(result.ids).astype(str)
    folder = np.asarray([FOLDERS[i] for i in result.folder])
    role = np.empty(len(ids), dtype="<U9")
    unselected = np.zeros(len(ids), bool)
    for f in FOLDERS:
        rows = folder == f
        role[rows] = split_role(f, ids[rows], selection)
        unselected[rows] = unselected_mask(f, ids[rows])
    pred, labels = result.predictions.astype(np.float64), result.labels
    out = {"model": label, "path": str(path), "ids": ids, "role": role,
           "unselected": unselected, "pred": pred, "labels": labels, "splits": {}}
    for split in ("selection", "untouched"):
        part = {}
        for pop, rows in (("unselected", unselected), ("confident", ~unselected),
                          ("all", np.ones(len(ids), bool))):
            rows = rows & (role == split)
            part[pop] = {"n": int(rows.sum()), "rmse": rmse(pred[rows], labels[rows]),
                         "ci95": list(rmse_interval(pred[rows], labels[rows], n_boot=N_BOOT,
                                                    seed=seed))}
        rows = unselected & (role == split)
        part["unselected_per_question"] = rmse_report(pred[rows], labels[rows])["per_question"]
        out["splits"][split] = part
    return out


def paired(control, other, seed):
    """Paired bootstrap of ``other - control`` on the untouched split: each resample draws
    the same galaxies for both models."""
    from galmorph import schema
    from galmorph._util._stats import bootstrap_means

    assert np.array_equal(control["ids"], other["ids"])
    rng = np.random.default_rng(seed)
    untouched = (control["role"] == "untouched") & (other["role"] == "untouched")
    out = {}
    parts = {"unselected": (control["unselected"], slice(None)),
             "confident": (~control["unselected"], slice(None))}
    for q in (1, 2, 3, 4):
        parts[f"Q{q} unselected"] = (control["unselected"], schema.QUESTION_SLICES[q])
    for key, (pop, cols) in parts.items():
        rows = untouched & pop
        both = np.hstack([_per_galaxy(control, rows, cols), _per_galaxy(other, rows, cols)])
        rm = lambda m: np.sqrt(m[..., 2] / m[..., 3]) - np.sqrt(m[..., 0] / m[..., 1])  # noqa
        boot = rm(bootstrap_means(both, N_BOOT, rng))                   # (N_BOOT,)
        out[key] = {"n": int(rows.sum()), "difference": float(rm(both.mean(0))),
                    "ci95": [float(v) for v in np.quantile(boot, [0.025, 0.975])]}
    return out


def main(argv=None):
    args = parse_args(argv)
    scored = [score(m, args.seed) for m in args.models]
    report = {"models": [{k: s[k] for k in ("model", "path", "splits")} for s in scored],
              "against_control": {s["model"]: paired(scored[0], s, args.seed)
                                  for s in scored[1:]}}
    for s in scored:
        print(f"== {s['model']} ({s['path']})")
        for split, part in s["splits"].items():
            print(f"  {split:9s} " + "  ".join(
                f"{pop} {part[pop]['rmse']:.4f} [{part[pop]['ci95'][0]:.4f}, "
                f"{part[pop]['ci95'][1]:.4f}] (n={part[pop]['n']})"
                for pop in ("unselected", "confident", "all")))
            print("            unselected per question: " + " ".join(
                f"{q} {v:.3f}" for q, v in part["unselected_per_question"].items()))
    for name, diffs in report["against_control"].items():
        print(f"-- {name} - {scored[0]['model']}, untouched split: " + "; ".join(
            f"{k} {d['difference']:+.4f} [{d['ci95'][0]:+.4f}, {d['ci95'][1]:+.4f}]"
            for k, d in diffs.items()))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
