"""Intervals for the 37 answers: the members' spread, calibrated by split-conformal prediction.

An ensemble's members disagree more where the model errs (Spearman 0.77 per cell on
held-out galaxies, issue 26), but their spread is far too small to be an interval:
mean +- 2 std covers about a fifth of the labels. Split-conformal prediction
(Vovk, Gammerman & Shafer 2005; Lei et al. 2018, "Distribution-free predictive
inference for regression") turns it into intervals with a stated coverage, using
labelled galaxies the networks did not train on:

1. For each answer ``j`` and calibration galaxy ``i``, the signed score
   ``e_ij = (y_ij - mu_ij) / (s_ij + floor_j)``, where ``mu`` is the ensemble mean,
   ``s`` the members' standard deviation and ``floor_j`` the median of ``s`` over the
   calibration galaxies (so that a galaxy on which the members happen to agree still
   gets an interval of sensible width). The floor is a rule fixed before any coverage
   was measured.
2. For a nominal coverage ``1 - a``, the interval is
   ``mu + (s + floor) * [q_lo, q_hi]``, with ``q_lo`` the ``floor((n+1) a/2)``-th and
   ``q_hi`` the ``ceil((n+1)(1 - a/2))``-th smallest score: each side misses at most
   ``a/2`` of exchangeable new galaxies (the finite-sample guarantee of split conformal).
   Signed scores, not absolute ones, give asymmetric intervals: an answer the model
   puts near 0 errs mostly upwards.
3. The bounds are clipped to [0, 1] and made consistent with the GZ2 tree: a child
   answer's fraction never exceeds its parent's (the weights multiply down the tree),
   so its upper bound, and with it its lower bound, is capped at the parent's upper
   bound.

A single network has no members; with test-time augmentation its views play their
part, and without either the spread is zero and the intervals have one width per
answer (still calibrated, no longer adaptive). The calibration records which.

MAPIE and crepes implement split conformal for scikit-learn estimators; galmorph's
model is a torch network whose spread comes from its own forward pass, with 37
partly-labelled targets, so the ~30 lines of the method are written out here rather
than wrapped in an estimator interface that does not fit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from galmorph import schema

__all__ = ["IntervalCalibration", "fit_intervals", "predict_intervals", "interval_coverage",
           "REPORTED_LEVELS", "spread_kind", "check_intervals"]

#: Nominal coverages that evaluate, the report and the model card check.
REPORTED_LEVELS = (0.5, 0.68, 0.9, 0.95)
_MIN_FLOOR = 1e-3


def spread_kind(n_members, tta):
    """What the spread of a prediction comes from: ``"members"``, ``"tta"`` or ``"none"``.

    Parameters
    ----------
    n_members : int
        Networks in the model (1 for a single network, more for an ensemble).
    tta : None, "d8" or int
        The test-time augmentation of the forward pass, as
        :func:`galmorph.inference.engine.predict_arrays` takes it.

    Returns
    -------
    str
        ``"members"`` for an ensemble (its members' spread, whatever ``tta``),
        ``"tta"`` for a single network with test-time augmentation (its views'),
        ``"none"`` otherwise.
    """
    if n_members > 1:
        return "members"
    return "tta" if tta is not None else "none"


@dataclass
class IntervalCalibration:
    """The fitted conformal calibration of one model (plain data, stored in its checkpoint).

    Attributes
    ----------
    scores : list of numpy.ndarray
        Per answer (Kaggle column order), the sorted signed scores of the calibration
        galaxies where that answer is known.
    floor : numpy.ndarray, shape (37,)
        Added to the spread before scaling (the median spread of each answer).
    spread : str
        ``"members"``, ``"tta"`` or ``"none"``: what the spread was, as fitted.
    fitted_on : dict
        What it was fitted on (data names, number of galaxies), for ``meta``.
    coverage : dict
        Coverage measured on galaxies it was not fitted on, where known.
    """

    scores: list
    floor: np.ndarray
    spread: str = "members"
    fitted_on: dict = field(default_factory=dict)
    coverage: dict = field(default_factory=dict)

    def to_dict(self):
        """Plain lists and numbers, for a checkpoint's ``meta`` and JSON."""
        return {"scores": [np.round(s, 5).tolist() for s in self.scores],
                "floor": [float(f) for f in self.floor], "spread": self.spread,
                "fitted_on": dict(self.fitted_on), "coverage": dict(self.coverage)}

    @classmethod
    def from_dict(cls, data):
        return cls([np.sort(np.asarray(s, dtype=np.float64)) for s in data["scores"]],
                   np.asarray(data["floor"], dtype=np.float64), data.get("spread", "members"),
                   dict(data.get("fitted_on") or {}), dict(data.get("coverage") or {}))

    @property
    def n(self):
        """Calibration galaxies per answer, shape (37,)."""
        return np.array([len(s) for s in self.scores])


def _std(spread):
    # (N, K, 37) -> (N, 37): the members' (or views') standard deviation; 0 for K = 1.
    spread = np.asarray(spread, dtype=np.float64)
    return spread.std(axis=1) if spread.shape[1] > 1 else np.zeros(spread[:, 0].shape)


def fit_intervals(mean, spread, labels, *, spread_source="members", fitted_on=None):
    """Fit the conformal calibration on labelled galaxies the networks did not train on.

    Parameters
    ----------
    mean : array, shape (N, 37)
        The model's fractions.
    spread : array, shape (N, K, 37)
        The K outputs ``mean`` averages (:class:`galmorph.inference.engine.Details`).
    labels : array, shape (N, 37)
        Volunteers' fractions; NaN where an answer is unknown (partial labels).
    spread_source : str
        What the K outputs are (see :func:`spread_kind`).
    fitted_on : dict, optional
        Recorded as is.

    Returns
    -------
    IntervalCalibration
    """
    mean = np.asarray(mean, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    std = _std(spread)
    known = np.isfinite(labels)
    floor = np.array([max(float(np.median(std[:, j])) if len(std) else 0.0, _MIN_FLOOR)
                      for j in range(schema.N_ANSWERS)])
    scores = []
    for j in range(schema.N_ANSWERS):
        k = known[:, j]
        scores.append(np.sort((labels[k, j] - mean[k, j]) / (std[k, j] + floor[j])))
    return IntervalCalibration(scores, floor, spread_source, dict(fitted_on or {}))


def check_intervals(level):
    """``None``, or ``level`` as a float strictly between 0 and 1; else ``ValueError``."""
    if level is None:
        return None
    if isinstance(level, bool) or not isinstance(level, (int, float, np.floating)) \
            or not 0 < float(level) < 1:
        raise ValueError(f"intervals must be a nominal coverage between 0 and 1 (such as 0.9), "
                         f"not {level!r}")
    return float(level)


def _quantiles(scores, level):
    """The conformal (lower, upper) score quantiles of one answer: -inf / +inf where too
    few galaxies calibrate it for that coverage."""
    n, alpha = len(scores), 1.0 - level
    k_lo = math.floor((n + 1) * alpha / 2)
    k_hi = math.ceil((n + 1) * (1 - alpha / 2))
    lo = scores[k_lo - 1] if k_lo >= 1 else -np.inf
    hi = scores[k_hi - 1] if k_hi <= n else np.inf
    return lo, hi


def predict_intervals(calibration, mean, spread, level=0.9):
    """Lower and upper bounds of each answer at nominal coverage ``level``.

    Parameters
    ----------
    calibration : IntervalCalibration or dict
    mean : array, shape (N, 37)
    spread : array, shape (N, K, 37)
    level : float
        Nominal coverage, e.g. 0.9.

    Returns
    -------
    (lo, hi) : numpy.ndarray, float32, shape (N, 37) each
        Inside [0, 1], ``lo <= mean <= hi`` up to the calibration, tree-consistent
        (module docstring). NaN rows of ``mean`` give NaN bounds.
    """
    if isinstance(calibration, dict):
        calibration = IntervalCalibration.from_dict(calibration)
    level = check_intervals(level)
    mean = np.asarray(mean, dtype=np.float64)
    scale = _std(spread) + calibration.floor                            # (N, 37)
    q = np.array([_quantiles(s, level) for s in calibration.scores])    # (37, 2)
    with np.errstate(invalid="ignore"):
        lo = np.clip(mean + scale * q[:, 0], 0.0, 1.0)
        hi = np.clip(mean + scale * q[:, 1], 0.0, 1.0)
    lo[~np.isfinite(mean)] = np.nan
    hi[~np.isfinite(mean)] = np.nan
    for number in schema.TREE_ORDER:
        parent = schema.PARENT_INDEX[number]
        if parent is None:
            continue
        cols = schema.QUESTION_SLICES[number]
        cap = hi[:, parent:parent + 1]
        hi[:, cols] = np.minimum(hi[:, cols], cap)
        lo[:, cols] = np.minimum(lo[:, cols], hi[:, cols])
    return lo.astype(np.float32), hi.astype(np.float32)


def interval_coverage(lo, hi, labels, *, questions=True):
    """Empirical coverage and mean width over the known cells.

    Parameters
    ----------
    lo, hi, labels : array, shape (N, 37)
        Bounds and the volunteers' fractions (NaN: unknown).

    Returns
    -------
    dict
        ``coverage`` and ``width`` over every known cell, ``n_cells``, and with
        ``questions`` a ``per_question`` dict ``{"Q1": {"coverage", "width", "n_cells"}}``.
    """
    labels = np.asarray(labels, dtype=np.float64)
    known = np.isfinite(labels) & np.isfinite(lo)
    with np.errstate(invalid="ignore"):
        inside = (labels >= lo - 1e-6) & (labels <= hi + 1e-6)
    width = np.asarray(hi, np.float64) - np.asarray(lo, np.float64)

    def part(cols):
        k = known[:, cols]
        n = int(k.sum())
        return {"coverage": float(inside[:, cols][k].mean()) if n else float("nan"),
                "width": float(width[:, cols][k].mean()) if n else float("nan"), "n_cells": n}

    out = part(slice(None))
    if questions:
        out["per_question"] = {f"Q{q.number}": part(schema.QUESTION_SLICES[q.number])
                               for q in schema.QUESTIONS}
    return out
