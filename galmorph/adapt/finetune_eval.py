"""Scoring a finetuned model on labelled galaxies, with metrics fit for each task.

Binary: ROC AUC, average precision, and precision and recall at probability 0.5,
beside the base rate. Multiclass: accuracy, beside always answering the
commonest class. Regression: RMSE, beside predicting the training mean. Every
score has a 95 % bootstrap interval (galaxies resampled with replacement), so a
difference between two models on 20 held-out galaxies is not read as real.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from galmorph.errors import DataError
from galmorph.rundir import RunDir

__all__ = ["evaluate_finetuned", "format_finetuned", "score_head"]

_LEVEL = 0.95


def _interval(stat, arrays, n_boot, rng):
    """``[lo, hi]``: the central 95 % of ``stat`` over bootstrap resamples of the rows."""
    n = len(arrays[0])
    values = []
    for _ in range(int(n_boot)):
        idx = rng.integers(0, n, n)
        v = stat(*(a[idx] for a in arrays))
        if np.isfinite(v):
            values.append(v)
    if not values:
        return [float("nan"), float("nan")]
    lo, hi = np.quantile(values, [(1 - _LEVEL) / 2, (1 + _LEVEL) / 2])
    return [float(lo), float(hi)]


def _auc(y, p):
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan")


def _ap(y, p):
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y, p)) if y.sum() > 0 else float("nan")


def _precision(y, p):
    flagged = p >= 0.5
    return float(y[flagged].mean()) if flagged.any() else float("nan")


def _recall(y, p):
    return float((p[y == 1] >= 0.5).mean()) if (y == 1).any() else float("nan")


def _rmse(y, p):
    return float(np.sqrt(np.mean((y - p) ** 2)))


def score_head(head, y, p, *, n_boot=1000, seed=0, train_mean=None):
    """The scores of one head on the galaxies whose label is known.

    Parameters
    ----------
    head : dict
        The head spec.
    y : numpy.ndarray, shape (N,)
        Class index or value (NaN: unknown, left out).
    p : numpy.ndarray, shape (N, width)
        The head's outputs: probabilities or values.
    n_boot : int
        Bootstrap resamples of the intervals.
    seed : int
    train_mean : float, optional
        The regression baseline (default the head's stored training mean).

    Returns
    -------
    dict
        ``{"task", "n", <metric>: value, <metric>_interval: [lo, hi], ...}``.
    """
    rng = np.random.default_rng(seed)
    known = np.isfinite(y)
    y, p = y[known], p[known]
    out = {"label": head["label"], "task": head["task"], "n": int(len(y))}
    if not len(y):
        return out
    if head["task"] == "binary":
        y, p = y.astype(int), p[:, 0]
        metrics = {"roc_auc": _auc, "average_precision": _ap, "precision": _precision,
                   "recall": _recall}
        out["base_rate"] = float(y.mean())
        out["positive_class"] = head["classes"][1]
    elif head["task"] == "multiclass":
        y, p = y.astype(int), p.argmax(1)
        metrics = {"accuracy": lambda a, b: float((a == b).mean())}
        out["majority_baseline"] = float(np.bincount(y).max() / len(y))
    else:
        p = p[:, 0]
        metrics = {"rmse": _rmse}
        base = head.get("mean") if train_mean is None else train_mean
        out["mean_baseline_rmse"] = _rmse(y, np.full_like(y, base))
    for name, stat in metrics.items():
        out[name] = stat(y, p)
        out[f"{name}_interval"] = _interval(stat, (y, p), n_boot, rng)
    return out


def _val_rows(ckpt, table_path, split):
    """Table rows of the run's held-out galaxies, or None (all) with the reason."""
    if split == "all":
        return None, "all labelled galaxies (split='all')"
    meta = ckpt.meta or {}
    run_dir = meta.get("run_dir")
    trained_on = (meta.get("finetune") or {}).get("labels_table")
    run = RunDir(run_dir or "")
    if run_dir is None or not run.split_file.is_file():
        return None, "all labelled galaxies: the model's run folder has no split.json"
    if trained_on is None or Path(trained_on).resolve() != Path(table_path).resolve():
        return None, "all labelled galaxies: another table than the one it was trained on"
    return np.asarray(run.split()["val_ids"], dtype=np.int64), \
        f"the {run_dir} run's held-out galaxies"


def evaluate_finetuned(model, labels=None, *, split="validation", image_dir=None, tta=None,
                       device="auto", precision="fp32", batch_size=256, n_boot=1000, seed=0,
                       progress=False):
    """Score a finetuned checkpoint on a table of labels.

    Parameters
    ----------
    model : path-like or Checkpoint
        A checkpoint written by :func:`galmorph.adapt.finetune.finetune`.
    labels : path-like, optional
        The table (default: the one it was trained on, from its run's config).
    split : {"validation", "all"}
        The run's held-out rows of the table it was trained on (else all rows,
        said in ``"galaxies"``), or every labelled row.
    image_dir : path-like, optional
        Folder that relative image paths are resolved against (default: as trained).
    tta, device, precision, batch_size, progress
        As :func:`galmorph.inference.engine.predict_arrays`.
    n_boot : int
        Bootstrap resamples of each interval (default 1000).
    seed : int

    Returns
    -------
    dict
        ``{"model", "labels_table", "galaxies", "n", "heads": [score_head dicts]}``.

    Raises
    ------
    galmorph.errors.CheckpointError
        The checkpoint is not a finetuned model.
    galmorph.errors.DataError
        The table is unusable (named with its rows and columns).
    """
    from galmorph.adapt._label_table import read_label_table
    from galmorph.adapt._finetune_parts import _prepare
    from galmorph.adapt.finetune import FinetuneConfig
    from galmorph.errors import CheckpointError
    from galmorph.inference.engine import predict_arrays
    from galmorph.inference.heads import head_values
    from galmorph.models.checkpoint import Checkpoint, load_checkpoint

    ckpt = model if isinstance(model, Checkpoint) else load_checkpoint(model)
    if ckpt.name != "finetuned":
        raise CheckpointError(f"{ckpt.path} is a {ckpt.name!r} model, not a finetuned one; "
                              f"score it with 'galmorph evaluate' on a data folder")
    heads = ckpt.model.label_heads
    trained = (ckpt.meta or {}).get("train_config") or {}
    labels = labels or trained.get("labels")
    if labels is None:
        raise DataError(f"{ckpt.path} does not say which table it was trained on; give LABELS")
    image_dir = image_dir if image_dir is not None else (
        trained.get("image_dir") if labels == trained.get("labels") else None)
    table = read_label_table(labels, [h["label"] for h in heads.heads], image_dir=image_dir,
                             heads=heads.heads)
    rows, galaxies = _val_rows(ckpt, table.path, split)
    keep = np.ones(len(table), bool) if rows is None else np.isin(table.rows, rows)
    if not keep.any():
        raise DataError(f"none of the held-out galaxies of {ckpt.path} has a label in "
                        f"{table.path}; pass split='all'")
    table.rows, table.targets = table.rows[keep], table.targets[keep]
    table.paths = [p for p, k in zip(table.paths, keep) if k]
    config = FinetuneConfig(cache=None, workers=None)
    data = _prepare(table, config, ckpt.preprocessing, progress)
    details = predict_arrays(ckpt.model, data.images, batch_size=batch_size, tta=tta,
                             device=device, precision=precision, progress=progress,
                             details=True)
    values = head_values(heads, len(data), np.arange(len(data)), details)     # (N, K)
    targets = table.targets[np.searchsorted(table.rows, data.ids)]
    scores, col = [], 0
    for j, (head, width) in enumerate(zip(heads.heads, heads.widths)):
        scores.append(score_head(head, targets[:, j], values[:, col:col + width],
                                 n_boot=n_boot, seed=seed))
        col += width
    return {"model": str(ckpt.path), "labels_table": str(table.path), "galaxies": galaxies,
            "n": int(len(data)), "heads": scores}


def format_finetuned(result):
    """The result of :func:`evaluate_finetuned` as a text table."""
    lines = [f"{result['model']} on {result['n']} galaxies of {result['labels_table']} "
             f"({result['galaxies']}); 95 % bootstrap intervals"]
    for h in result["heads"]:
        lines.append(f"  {h['label']} ({h['task']}, {h['n']} labelled)")
        for key in ("roc_auc", "average_precision", "precision", "recall", "accuracy", "rmse"):
            if key in h:
                lo, hi = h[f"{key}_interval"]
                lines.append(f"    {key:<18} {h[key]:.3f}  [{lo:.3f}, {hi:.3f}]")
        for key in ("base_rate", "majority_baseline", "mean_baseline_rmse"):
            if key in h:
                lines.append(f"    {key:<18} {h[key]:.3f}")
    return "\n".join(lines)
