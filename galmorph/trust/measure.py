"""How far a model's trust calibration holds on labelled galaxies: what ``evaluate`` reports.

:class:`TrustMeasure` is the ``extra`` that
:func:`galmorph.inference.evaluation.evaluate` calls with the one forward pass of
the evaluated galaxies (``galmorph evaluate`` passes one for a checkpoint that
carries a calibration). For each nominal coverage in
:data:`~galmorph.trust.intervals.REPORTED_LEVELS` it measures the empirical
coverage and mean width of the intervals, over every known cell and per
question, and, where the model has a merger calibration and the labels know
``Class8.6``, the recall and precision of the default merger flag and of the
paper's rule. :func:`format_trust` writes that as text; the run report draws it
(:func:`galmorph.plots.calibration.plot_interval_reliability`).

Coverage on the galaxies the calibration was fitted on is in-sample, and
optimistic: the result names what the calibration was fitted on
(``calibration_fitted_on``), and the coverage that counts is the one on other
galaxies (issue 26's targets: 0.87-0.93 at 90 %, at least 0.83 per question).
"""
from __future__ import annotations

import numpy as np

from galmorph import schema
from galmorph._util._jsonable import jsonable
from galmorph.trust.calibration import TrustCalibration
from galmorph.trust.intervals import REPORTED_LEVELS, interval_coverage, predict_intervals
from galmorph.trust.merger_calibration import merger_prob, merger_scores

__all__ = ["TrustMeasure", "format_trust", "IN_SAMPLE_NOTE"]

#: Said of every measured coverage.
IN_SAMPLE_NOTE = ("coverage on the galaxies the intervals were fitted on "
                  "(calibration_fitted_on) is in-sample and optimistic; it is honest only "
                  "on galaxies neither training nor calibration used")

_MERGER = schema.column_index(schema.MERGER_COLUMN)


class TrustMeasure:
    """Measure a trust calibration on evaluated galaxies (``evaluate(..., extra=...)``).

    Parameters
    ----------
    calibration : TrustCalibration or dict
        The model's calibration, or its stored form (``checkpoint.meta["trust"]``).
    levels : sequence of float
        Nominal coverages to measure (default :data:`REPORTED_LEVELS`).

    Examples
    --------
    >>> from galmorph.inference.evaluation import evaluate
    >>> from galmorph.models.checkpoint import load_checkpoint
    >>> ckpt = load_checkpoint("calibrated.pt")                      # doctest: +SKIP
    >>> r = evaluate(ckpt, "gz2-1k", split="all",
    ...              extra=TrustMeasure(ckpt.meta["trust"]))         # doctest: +SKIP
    >>> r["trust"]["intervals"]["0.9"]["coverage"]                   # doctest: +SKIP
    0.903
    """

    def __init__(self, calibration, levels=REPORTED_LEVELS):
        self.calibration = calibration
        self.levels = tuple(levels)

    def measure(self, details, labels):
        """Coverage, widths and merger scores of one forward pass.

        Parameters
        ----------
        details : galmorph.inference.engine.Details
            ``mean`` (N, 37) and ``spread`` (N, K, 37) of the evaluated galaxies.
        labels : array, shape (N, 37)
            Their volunteers' fractions, NaN where unknown.

        Returns
        -------
        dict
            JSON-able (NaN as None): ``n_galaxies``; ``levels``; ``intervals``, per
            level (key ``"0.9"``) the :func:`interval_coverage` of that level
            (``coverage``, ``width``, ``n_cells``, ``per_question``), or None
            without an interval calibration; ``spread_outputs`` (K, the outputs
            the evaluated spread is over) and ``calibration_spread`` (what the
            calibration's was: ``"members"``, ``"tta"`` or ``"none"``);
            ``calibration_fitted_on``; ``mergers``, ``{"default": ...,
            "paper_rule": ..., "flag_threshold": ..., "threshold": ...}`` with
            :func:`merger_scores` of the default flag (``merger_prob >=
            flag_threshold``) and of the paper's ``p_merger >= 0.54``, or None
            without a merger calibration or known ``Class8.6``; ``note``.
        """
        cal = self.calibration
        if not isinstance(cal, TrustCalibration):
            cal = TrustCalibration.from_dict(cal)
        mean = np.asarray(details.mean, dtype=np.float64)                 # (N, 37)
        spread = np.asarray(details.spread)                                # (N, K, 37)
        labels = np.asarray(labels, dtype=np.float64)                      # (N, 37)
        out = {"n_galaxies": int(len(mean)), "levels": list(self.levels), "intervals": None,
               "spread_outputs": spread.shape[1],
               "calibration_spread": None, "calibration_fitted_on": None, "mergers": None,
               "note": IN_SAMPLE_NOTE}
        if cal.intervals is not None:
            out["calibration_spread"] = cal.intervals.spread
            out["calibration_fitted_on"] = dict(cal.intervals.fitted_on)
            out["intervals"] = {}
            for level in self.levels:
                lo, hi = predict_intervals(cal.intervals, mean, spread, level)
                out["intervals"][f"{level:g}"] = interval_coverage(lo, hi, labels)
        if cal.mergers is not None and np.isfinite(labels[:, _MERGER]).any():
            p = mean[:, _MERGER]
            prob = merger_prob(cal.mergers, p)
            truth = labels[:, _MERGER]
            out["mergers"] = {
                "flag_threshold": cal.mergers.flag_threshold, "threshold": cal.mergers.threshold,
                "default": merger_scores(prob >= cal.mergers.flag_threshold, prob, truth,
                                         cal.mergers.threshold),
                "paper_rule": merger_scores(p >= schema.PAPER_MERGER_THRESHOLD, prob, truth,
                                            cal.mergers.threshold)}
        return jsonable(out)


def _short(text, width):
    return text if len(text) <= width else text[:width - 3].rsplit(" ", 1)[0] + "..."


def _num(value, fmt="8.3f"):
    return f"{'-':>{len(format(0.0, fmt))}s}" if value is None else format(value, fmt)


def format_trust(trust, per_question_level=0.9):
    """A text table of ``evaluate(...)["trust"]`` (a :meth:`TrustMeasure.measure` result).

    Parameters
    ----------
    trust : dict or None
        The measured part of an evaluate result; None or empty gives ``""``.
    per_question_level : float
        The nominal coverage whose per-question coverage is listed (default 0.9).

    Returns
    -------
    str
        Nominal against empirical coverage and mean width over every known cell,
        then the coverage (and width, cells) per question at
        ``per_question_level``, then the merger flags' recall and precision where
        measured.
    """
    if not trust:
        return ""
    lines = [f"how far to trust an answer: {trust['n_galaxies']} galaxies"]
    fitted = trust.get("calibration_fitted_on")
    if fitted:
        lines.append("calibrated on  " + ", ".join(f"{k} {v}" for k, v in fitted.items()))
    lines.append(f"note           {trust['note']}")
    fitted_spread = trust.get("calibration_spread")
    if fitted_spread and (fitted_spread == "none") != (trust["spread_outputs"] == 1):
        lines.append(f"note           the intervals were calibrated with spread "
                     f"{fitted_spread!r} but evaluated over {trust['spread_outputs']} "
                     f"output(s) (TTA?): their widths may not hold their nominal coverage")
    intervals = trust.get("intervals")
    if intervals is None:
        lines.append("intervals      none: the model has no interval calibration")
    else:
        lines += ["", f"{'intervals: nominal':20s}{'coverage':>10s}{'width':>10s}{'cells':>10s}"]
        lines += [f"{float(k):18.0%}  {_num(v['coverage'], '10.3f')}"
                  f"{_num(v['width'], '10.3f')}{v['n_cells']:10d}" for k, v in intervals.items()]
        key = f"{per_question_level:g}"
        if key in intervals:
            lines += ["", f"{f'per question at {per_question_level:.0%}':66s}"
                          f"{'coverage':>8s}{'width':>8s}{'cells':>8s}"]
            for q in schema.QUESTIONS:
                part = intervals[key]["per_question"][f"Q{q.number}"]
                lines.append(f"  Q{q.number:<4d}{_short(q.text, 58):58s}{_num(part['coverage'])}"
                             f"{_num(part['width'])}{part['n_cells']:8d}")
    mergers = trust.get("mergers")
    if mergers:
        truth = f"mergers ({schema.MERGER_COLUMN} >= {mergers['threshold']:g})"
        lines += ["", f"{truth:30s}{'flagged':>8s}{'recall':>8s}{'precision':>10s}"]
        for name, label in (("default", f"merger_prob >= {mergers['flag_threshold']:.3f}"),
                            ("paper_rule", f"p_merger >= {schema.PAPER_MERGER_THRESHOLD:g}")):
            s = mergers[name]
            lines.append(f"  {label:28s}{s['n_flagged']:8d}{_num(s['recall'])}"
                         f"{_num(s['precision'], '10.3f')}")
        d = mergers["default"]
        lines.append(f"  {d['n_mergers']} mergers among {d['n']} galaxies; sum of merger_prob "
                     f"{d['sum_merger_prob']:.1f}")
    return "\n".join(lines)
