"""A model's trust calibration: intervals, merger probabilities and the OOD flag, together.

:class:`TrustCalibration` is stored in a checkpoint's ``meta["trust"]`` as plain data
(:func:`galmorph.trust.fit.calibrate` writes it; ``galmorph calibrate`` and
``tools/ship_model.py`` call that). :func:`trust_columns` turns one forward pass
(:class:`galmorph.inference.engine.Details`) and the model's inputs into the
columns the classifier adds: ``merger_prob``, ``ood_score``, ``is_ood``, the reason
for each flag, and, when asked, ``<answer>_lo`` / ``<answer>_hi``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from galmorph import schema
from galmorph.errors import CheckpointError
from galmorph.trust.intervals import IntervalCalibration, predict_intervals
from galmorph.trust.merger_calibration import MergerCalibration, merger_prob
from galmorph.trust.ood import STATISTICS, OODCalibration, score_ood

__all__ = ["TrustCalibration", "TrustColumns", "trust_columns", "empty_trust", "TRUST_VERSION"]

#: Bump when the stored form changes incompatibly.
TRUST_VERSION = 1


@dataclass
class TrustCalibration:
    """What a model needs to say how far to trust each answer.

    Attributes
    ----------
    intervals : IntervalCalibration or None
    mergers : MergerCalibration or None
    ood : OODCalibration or None
    measured : dict
        Figures measured on galaxies none of it was fitted on (coverage, merger
        recall and precision, flag rates), for ``meta`` and the model card.
    where : str
        The model it belongs to (a checkpoint's path), named in errors; not stored.
    """

    intervals: IntervalCalibration | None = None
    mergers: MergerCalibration | None = None
    ood: OODCalibration | None = None
    measured: dict = field(default_factory=dict)
    where: str = field(default="the model", compare=False)

    def to_dict(self):
        return {"version": TRUST_VERSION,
                "intervals": None if self.intervals is None else self.intervals.to_dict(),
                "mergers": None if self.mergers is None else self.mergers.to_dict(),
                "ood": None if self.ood is None else self.ood.to_dict(),
                "measured": dict(self.measured)}

    @classmethod
    def from_dict(cls, data, where="checkpoint"):
        """The calibration stored as ``data`` (what :meth:`to_dict` wrote).

        Parameters
        ----------
        data : dict or None
            A checkpoint's ``meta["trust"]``; empty or None gives a calibration with
            no part fitted.
        where : str
            What ``data`` came from (a checkpoint's path), named in the error.

        Returns
        -------
        TrustCalibration

        Raises
        ------
        galmorph.errors.CheckpointError
            ``data`` is of a newer version than this galmorph reads.
        """
        if not data:
            return cls(where=where)
        if int(data.get("version", 0)) > TRUST_VERSION:
            raise CheckpointError(f"{where}: its trust calibration is version "
                                  f"{data.get('version')}, newer than this galmorph reads "
                                  f"({TRUST_VERSION}); upgrade galmorph")
        part = lambda k, c: None if data.get(k) is None else c.from_dict(data[k])  # noqa: E731
        return cls(part("intervals", IntervalCalibration), part("mergers", MergerCalibration),
                   part("ood", OODCalibration), dict(data.get("measured") or {}), where)

    def require_intervals(self):
        """Raise :class:`~galmorph.errors.CheckpointError` naming the model unless it has
        an interval calibration (intervals were asked for)."""
        if self.intervals is None:
            raise CheckpointError(f"{self.where} has no interval calibration: calibrate it on "
                                  f"labelled galaxies it did not train on (galmorph calibrate "
                                  f"MODEL DATA --out NEW.pt), or predict without intervals")

    def summary(self):
        """A short plain dict for a prediction's ``meta``: what was fitted on what, and the
        coverage measured."""
        out = {}
        if self.intervals is not None:
            out["intervals"] = {"fitted_on": self.intervals.fitted_on,
                                "spread": self.intervals.spread,
                                "coverage": self.intervals.coverage}
        if self.mergers is not None:
            out["merger_prob"] = {"fitted_on": self.mergers.fitted_on,
                                  "flag_threshold": round(self.mergers.flag_threshold, 4)}
        if self.ood is not None:
            out["ood"] = {"fitted_on": self.ood.fitted_on,
                          "threshold": round(self.ood.threshold, 3)}
        return out


@dataclass
class TrustColumns:
    """Per-galaxy trust outputs for a batch of rows (NaN where not computed)."""

    merger_prob: np.ndarray
    ood_score: np.ndarray
    is_ood: np.ndarray
    ood_reason: np.ndarray
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None

    def fill(self, rows, other):
        """Copy ``other`` (for the rows ``rows`` only) into these columns, in place.

        Parameters
        ----------
        rows : index array, bool array (N,) or slice
            The rows of these columns to write; ``other`` holds exactly those rows.
        other : TrustColumns
            The computed columns of those rows. Columns that are None here (``lo`` /
            ``hi`` without intervals) are left alone.
        """
        for f in fields(self):
            mine = getattr(self, f.name)
            if mine is not None:
                mine[rows] = getattr(other, f.name)

    @classmethod
    def concat(cls, parts):
        parts = list(parts)
        return cls(**{f.name: None if getattr(parts[0], f.name) is None
                      else np.concatenate([getattr(p, f.name) for p in parts])
                      for f in fields(cls)})


def empty_trust(n, intervals=None):
    """:class:`TrustColumns` of ``n`` rows not computed (failed rows keep these).

    Parameters
    ----------
    n : int
        Number of rows.
    intervals : float or None
        The nominal coverage asked for: with one, ``lo`` and ``hi`` are there too.

    Returns
    -------
    TrustColumns
        ``merger_prob`` and ``ood_score`` NaN (float32, shape (n,)), ``is_ood`` False,
        ``ood_reason`` ``""``, and ``lo`` / ``hi`` NaN of shape (n, 37) with
        ``intervals``, else None.
    """
    nan = lambda *shape: np.full(shape, np.nan, np.float32)  # noqa: E731
    bounds = None if intervals is None else nan(n, schema.N_ANSWERS)
    return TrustColumns(nan(n), nan(n), np.zeros(n, bool), np.array([""] * n, dtype=object),
                        bounds, None if bounds is None else bounds.copy())


def trust_columns(calibration, details, images, *, intervals=None):
    """Trust outputs of one forward pass.

    Parameters
    ----------
    calibration : TrustCalibration
    details : galmorph.inference.engine.Details
        ``mean`` (N, 37), ``spread`` (N, K, 37), ``features`` (N, F).
    images : uint8 array (N, 3, S, S)
        The model's inputs.
    intervals : float or None
        Nominal coverage of ``lo`` / ``hi``; None for none.

    Returns
    -------
    TrustColumns
        ``merger_prob`` is NaN without a merger calibration; ``ood_score`` uses the
        image statistics alone where the calibration has no feature model, and is
        NaN (never flagged) without an OOD calibration.
    """
    n = len(details.mean)
    j = schema.column_index(schema.MERGER_COLUMN)
    prob = (merger_prob(calibration.mergers, details.mean[:, j])
            if calibration.mergers is not None else np.full(n, np.nan, np.float32))
    if calibration.ood is not None and n:
        score, worst = score_ood(calibration.ood, images, details.features, details.spread)
        flag = score > calibration.ood.threshold
        reason = np.array([STATISTICS[w][1] if f else "" for w, f in zip(worst, flag)],
                          dtype=object)
    else:
        score, flag = np.full(n, np.nan, np.float32), np.zeros(n, bool)
        reason = np.array([""] * n, dtype=object)
    lo = hi = None
    if intervals is not None:
        calibration.require_intervals()
        lo, hi = predict_intervals(calibration.intervals, details.mean, details.spread,
                                   intervals)
    return TrustColumns(prob, score, flag, reason, lo, hi)
