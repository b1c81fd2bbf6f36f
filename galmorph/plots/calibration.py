"""How far to trust an answer: the reliability of a model's intervals."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from galmorph.errors import DataError
from galmorph.plots._inputs import new_figure, save_figure

__all__ = ["plot_interval_reliability"]


def _trust_part(trust_result):
    """The ``trust`` dict of an evaluate result, or the dict itself; DataError without intervals."""
    if isinstance(trust_result, Mapping) and "trust" in trust_result and \
            "intervals" not in trust_result:
        trust_result = trust_result["trust"]   # a whole evaluate() result (an Evaluation)
    if not isinstance(trust_result, dict) or not trust_result.get("intervals"):
        raise DataError("trust_result has no interval coverage to plot: give "
                        "evaluate(...)['trust'] of a model calibrated with 'galmorph "
                        "calibrate' (galmorph.trust.measure.TrustMeasure)")
    return trust_result


def plot_interval_reliability(trust_result, ax=None, *, fig=None, filename=None):
    """Nominal against empirical coverage of the intervals: the reliability diagram.

    Parameters
    ----------
    trust_result : dict
        ``evaluate(..., extra=TrustMeasure(...))["trust"]`` (a
        :meth:`galmorph.trust.measure.TrustMeasure.measure` result), or the
        whole evaluate result holding it.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure (no pyplot) otherwise.
    fig : matplotlib.figure.Figure, optional
        Figure to draw on when ``ax`` is not given.
    filename : path-like, optional
        Also save the figure there.

    Returns
    -------
    matplotlib.figure.Figure
        The bold line (label ``"all known cells"``) is the coverage over every
        known cell at each nominal level (50, 68, 90 and 95 %), the faint lines
        (labelled ``"Q1"`` ... ``"Q11"``) each question's, the dashed
        diagonal perfect calibration. Points below the diagonal are intervals
        that are too narrow.

    Raises
    ------
    DataError
        ``trust_result`` holds no interval coverage (an uncalibrated model).
    """
    trust = _trust_part(trust_result)
    levels = sorted(trust["intervals"], key=float)
    nominal = [float(k) for k in levels]
    if ax is None:
        ax = new_figure(fig, figsize=(4.6, 4.2)).add_subplot()
    questions = trust["intervals"][levels[0]].get("per_question") or {}
    faint = []
    for i, q in enumerate(questions):
        points = [(x, trust["intervals"][k]["per_question"][q]["coverage"])
                  for x, k in zip(nominal, levels)]
        points = [(x, y) for x, y in points if y is not None]
        if points:
            faint += ax.plot(*zip(*points), color=f"C{i % 10}", lw=0.8, alpha=0.35,
                             marker=".", ms=3, label=q)
    overall = [trust["intervals"][k]["coverage"] for k in levels]
    bold = ax.plot(nominal, [float("nan") if y is None else y for y in overall], color="k",
                   lw=2.4, marker="o", ms=5, label="all known cells", zorder=3)
    ax.plot([0, 1], [0, 1], color="0.5", lw=0.9, ls="--", label="perfect calibration", zorder=1)
    seen = [float(y) for line in faint + bold for y in line.get_ydata() if np.isfinite(y)]
    lo = max(0.0, min(min(nominal), *seen) - 0.1)   # a far too narrow interval stays in view
    ax.set_xlim(lo, 1.0)
    ax.set_ylim(lo, 1.0)
    ax.set_aspect("equal")
    ax.set_xlabel("nominal coverage")
    ax.set_ylabel("empirical coverage")
    ax.set_title(f"Interval coverage on {trust.get('n_galaxies', '?')} galaxies",
                 fontsize="medium")
    handles = [h for h in ax.lines if h not in faint]
    ax.legend(handles + faint[:1], [h.get_label() for h in handles]
              + ["each question"] * bool(faint), fontsize="small", loc="upper left")
    return save_figure(ax.figure, filename)
