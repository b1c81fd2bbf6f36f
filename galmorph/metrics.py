"""The Kaggle metric and the same-split baselines, as plain numpy functions.

The score is the Kaggle "Galaxy Zoo - The Galaxy Challenge" metric: the root
mean squared error over all galaxies and all 37 weighted vote fractions.
The baselines (``mean``, ``central_pixel``, ``zeros``) are fitted on the
training part only; :func:`galmorph.inference.evaluation.evaluate` reports them
next to the model.
"""
from __future__ import annotations

import numpy as np

from galmorph._util._stats import bootstrap_means
from galmorph.errors import DataError
from galmorph.schema import KAGGLE_COLUMNS, N_ANSWERS, QUESTION_SLICES, QUESTIONS

__all__ = ["rmse_report", "rmse", "rmse_interval", "central_pixel_colours", "fit_central_pixel",
           "predict_central_pixel", "baseline_rmses", "BASELINES"]

#: Names of the baselines, in the order they are reported.
BASELINES = ("mean", "central_pixel", "zeros")


# ---------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------

def _check_pair(pred, labels):
    pred = np.asarray(pred, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    if pred.shape != labels.shape or pred.ndim != 2 or pred.shape[1] != N_ANSWERS:
        raise ValueError(f"predictions {pred.shape} and labels {labels.shape} must both have "
                         f"shape (N, {N_ANSWERS})")
    if len(pred) == 0:
        raise DataError("no galaxies to evaluate: the split is empty")
    return pred, labels


def _sq_known(pred, labels):
    """Squared errors with unknown cells (NaN labels) as 0, and the known mask; (N, 37) each."""
    known = np.isfinite(labels)
    return np.where(known, (pred - np.where(known, labels, 0.0)) ** 2, 0.0), known


def _root(total, count):
    return float(np.sqrt(total / count)) if count else None


def rmse_report(pred, labels):
    """Kaggle RMSE overall, per answer and per question, over the known cells.

    Parameters
    ----------
    pred, labels : array-like, shape (N, 37)
        Predicted and true weighted vote fractions, Kaggle column order. A
        NaN label marks a question unknown for that galaxy (partial labels):
        those cells are left out of every figure, never counted as zero.

    Returns
    -------
    dict
        ``rmse`` (over all known cells), ``per_answer`` (Kaggle column ->
        RMSE over the galaxies where it is known), ``per_question``
        (``"Q1"`` ... ``"Q11"`` -> RMSE over that question's known cells,
        ``None`` where no galaxy has it) and ``questions`` (``"Q1"`` -> the
        number of galaxies for which it is known, i.e. scored).

    Examples
    --------
    >>> import numpy as np
    >>> rmse_report(np.zeros((2, 37)), np.full((2, 37), 0.5))["rmse"]
    0.5
    """
    pred, labels = _check_pair(pred, labels)
    sq, known = _sq_known(pred, labels)                         # (N, 37)
    if not known.any():
        raise DataError("no known labels to evaluate: every vote fraction is NaN")
    per_question, questions = {}, {}
    for q in QUESTIONS:
        s = QUESTION_SLICES[q.number]
        per_question[f"Q{q.number}"] = _root(sq[:, s].sum(), known[:, s].sum())
        questions[f"Q{q.number}"] = int(known[:, s].all(axis=1).sum())
    return {
        "rmse": _root(sq.sum(), known.sum()),
        "per_answer": {c: _root(sq[:, j].sum(), known[:, j].sum())
                       for j, c in enumerate(KAGGLE_COLUMNS)},
        "per_question": per_question,
        "questions": questions,
    }


def rmse(pred, labels):
    """Kaggle RMSE over the known cells of ``pred`` and ``labels`` (shape (N, 37), NaN
    labels unknown).

    Parameters
    ----------
    pred, labels : array-like, shape (N, 37)
        Predicted and true weighted vote fractions, Kaggle column order. A NaN
        label marks that cell unknown: it is left out, never counted as zero.

    Returns
    -------
    float
        The root mean squared error over the known cells.

    Raises
    ------
    ValueError
        The shapes differ or are not ``(N, 37)``.
    galmorph.errors.DataError
        There are no galaxies, or no known label.
    """
    pred, labels = _check_pair(pred, labels)
    sq, known = _sq_known(pred, labels)
    if not known.any():
        raise DataError("no known labels to evaluate: every vote fraction is NaN")
    return _root(sq.sum(), known.sum())


def rmse_interval(pred, labels, *, level=0.95, n_boot=2000, seed=0):
    """Bootstrap confidence interval of the Kaggle RMSE, resampling galaxies.

    A validation split of a few hundred galaxies (or the ~50 unselected ones
    of a 10 % split of the Kaggle 5k sample) leaves a wide interval; quote it
    before reading a difference between two runs as real. With partial labels
    each resample's RMSE is over its known cells.

    Parameters
    ----------
    pred, labels : array-like, shape (N, 37)
        Predicted and true weighted vote fractions (NaN labels unknown).
    level : float
        Coverage of the interval (default 0.95).
    n_boot : int
        Bootstrap resamples (default 2000).
    seed : int
        Seed of the resampling (default 0), so a report is reproducible.

    Returns
    -------
    tuple of float
        ``(low, high)``: the percentile interval of the RMSE over galaxies
        resampled with replacement.

    Examples
    --------
    >>> import numpy as np
    >>> lo, hi = rmse_interval(np.zeros((50, 37)), np.full((50, 37), 0.1))
    >>> round(lo, 6), round(hi, 6)
    (0.1, 0.1)
    """
    pred, labels = _check_pair(pred, labels)
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level!r}")
    sq, known = _sq_known(pred, labels)
    per_galaxy = np.column_stack([sq.sum(axis=1), known.sum(axis=1)])   # (N, 2)
    means = bootstrap_means(per_galaxy, n_boot, np.random.default_rng(seed))  # (n_boot, 2)
    boot = np.sqrt(means[:, 0] / np.maximum(means[:, 1], 1e-300))
    tail = 50 * (1 - level)
    low, high = np.percentile(boot, [tail, 100 - tail])
    return float(low), float(high)


# ---------------------------------------------------------------------------
# Baselines
# ---------------------------------------------------------------------------

def central_pixel_colours(images, batch_size=4096):
    """Mean colour of the central pixels of each image, in [0, 1].

    Parameters
    ----------
    images : numpy.ndarray, uint8, shape (N, 3, H, W)
        Preprocessed images (array or memory map; read in batches).

    Returns
    -------
    numpy.ndarray, float64, shape (N, 3)
        The mean of the central 2 x 2 pixels (1 x 1 for odd sizes) per channel.
    """
    h, w = images.shape[-2:]
    rows = slice((h - 1) // 2, h // 2 + 1)
    cols = slice((w - 1) // 2, w // 2 + 1)
    out = np.empty((len(images), 3), dtype=np.float64)
    for start in range(0, len(images), batch_size):
        block = np.asarray(images[start:start + batch_size, :, rows, cols], dtype=np.float64)
        out[start:start + batch_size] = block.mean(axis=(2, 3)) / 255.0
    return out


def fit_central_pixel(colours, labels):
    """Least-squares linear regression of the 37 labels on central-pixel colours.

    Parameters
    ----------
    colours : array-like, shape (N, 3)
        From :func:`central_pixel_colours` (training part).
    labels : array-like, shape (N, 37)
        Training labels; each answer is fitted on the galaxies where it is
        known (NaN is unknown), and an answer known nowhere predicts 0.

    Returns
    -------
    numpy.ndarray, shape (4, 37)
        Coefficients: intercept first, then one row per colour channel.
        Predict with ``np.clip(np.c_[np.ones(n), colours] @ coef, 0, 1)``.
    """
    colours = np.asarray(colours, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    design = np.column_stack([np.ones(len(colours)), colours])  # (N, 4)
    known = np.isfinite(labels)
    if known.all():
        coef, *_ = np.linalg.lstsq(design, labels, rcond=None)
        return coef
    coef = np.zeros((4, labels.shape[1]))
    for j in range(labels.shape[1]):
        rows = known[:, j]
        if rows.any():
            coef[:, j] = np.linalg.lstsq(design[rows], labels[rows, j], rcond=None)[0]
    return coef


def predict_central_pixel(coef, colours):
    """Central-pixel baseline predictions, clipped to [0, 1], from :func:`fit_central_pixel`.

    Parameters
    ----------
    coef : numpy.ndarray, shape (4, 37)
        Coefficients from :func:`fit_central_pixel`: intercept first, then one row
        per colour channel.
    colours : array-like, shape (N, 3)
        Central-pixel colours in [0, 1] (:func:`central_pixel_colours`).

    Returns
    -------
    numpy.ndarray, shape (N, 37)
        Predicted weighted vote fractions.
    """
    design = np.column_stack([np.ones(len(colours)), colours])  # (N, 4)
    return np.clip(design @ coef, 0.0, 1.0)


def baseline_rmses(train_labels, train_colours, eval_labels, eval_colours):
    """RMSE of the three baselines on the evaluated galaxies.

    Every baseline is fitted on the known cells of the training part and
    scored on the known cells of the evaluated galaxies, as the model is.

    Parameters
    ----------
    train_labels : array-like, shape (M, 37)
        Labels the baselines are fitted on (the training part; NaN unknown).
    train_colours, eval_colours : array-like, shape (M, 3) and (N, 3)
        Central-pixel colours (:func:`central_pixel_colours`).
    eval_labels : array-like, shape (N, 37)
        Labels of the evaluated galaxies.

    Returns
    -------
    dict
        ``{"mean": rmse, "central_pixel": rmse, "zeros": rmse}``.
    """
    eval_labels = np.asarray(eval_labels, dtype=np.float64)
    train_labels = np.asarray(train_labels, dtype=np.float64)
    known = np.isfinite(train_labels)
    counts = known.sum(axis=0)
    mean = np.where(counts > 0, np.where(known, train_labels, 0).sum(axis=0)
                    / np.maximum(counts, 1), 0.0)                       # (37,)
    coef = fit_central_pixel(train_colours, train_labels)
    n = len(eval_labels)
    return {
        "mean": rmse(np.broadcast_to(mean, (n, N_ANSWERS)), eval_labels),
        "central_pixel": rmse(predict_central_pixel(coef, eval_colours), eval_labels),
        "zeros": rmse(np.zeros((n, N_ANSWERS)), eval_labels),
    }
