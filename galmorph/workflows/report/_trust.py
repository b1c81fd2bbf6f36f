"""The trust part of a run report: how far to trust an answer, for a calibrated model.

It shows ``evaluate(..., extra=TrustMeasure(...))["trust"]``
(:mod:`galmorph.trust.measure`): the reliability figure
(:func:`galmorph.plots.plot_interval_reliability`), the coverage and mean width at
each nominal level, the coverage per question at 90 % and the merger flags'
recall and precision. Each number carries its place in the evaluate result as
its ``data-key`` (``trust/intervals/0.9/coverage``), as the Evaluation section's do.
"""
from __future__ import annotations

from galmorph import schema
from galmorph.workflows.report._html import number, text
from galmorph.workflows.report.document import (ReportFigure, ReportSection, ReportTable,
                                                ReportText, Row)

__all__ = ["trust_section", "TRUST_TITLE"]

TRUST_TITLE = "How far to trust an answer"
_PER_QUESTION = "0.9"


def _fitted_on(trust):
    fitted = trust.get("calibration_fitted_on") or {}
    what = ", ".join(f"{k} {v}" for k, v in fitted.items())
    return f" (fitted on {what})" if what else ""


def _level_table(intervals):
    rows = [Row([number(float(k), digits=2), number(v["coverage"], f"trust/intervals/{k}/coverage"),
                 number(v["width"], f"trust/intervals/{k}/width"),
                 number(v["n_cells"], f"trust/intervals/{k}/n_cells")])
            for k, v in intervals.items()]
    return ReportTable("interval_coverage", "Nominal against empirical coverage of the "
                       "intervals, over every known cell",
                       ["nominal coverage", "empirical coverage", "mean width", "cells"], rows,
                       numeric=(0, 1, 2, 3))


def _question_table(intervals):
    per_q = intervals[_PER_QUESTION]["per_question"]
    rows = []
    for q in schema.QUESTIONS:
        name, part = f"Q{q.number}", per_q[f"Q{q.number}"]
        key = f"trust/intervals/{_PER_QUESTION}/per_question/{name}"
        rows.append(Row([text(name), text(q.text), number(part["coverage"], f"{key}/coverage"),
                         number(part["width"], f"{key}/width"),
                         number(part["n_cells"], f"{key}/n_cells")],
                        muted=part["coverage"] is None))
    return ReportTable("interval_coverage_per_question", "Coverage of the 90 % intervals per "
                       "question", ["question", "", "coverage", "mean width", "cells"], rows,
                       numeric=(2, 3, 4))


def _merger_table(mergers):
    rows = []
    for name, rule in (("default", f"merger_prob >= {mergers['flag_threshold']:.3f}"),
                       ("paper_rule", f"p_merger >= {schema.PAPER_MERGER_THRESHOLD:g}")):
        s, key = mergers[name], f"trust/mergers/{name}"
        rows.append(Row([text(rule, mono=True), number(s["n_flagged"], f"{key}/n_flagged"),
                         number(s["true_positives"], f"{key}/true_positives"),
                         number(s["recall"], f"{key}/recall"),
                         number(s["precision"], f"{key}/precision")]))
    d = mergers["default"]
    return ReportTable("merger_flags", f"Merger flags against the volunteers' "
                       f"{schema.MERGER_COLUMN} >= {mergers['threshold']:g} ({d['n_mergers']} "
                       f"mergers among {d['n']} galaxies; the sum of merger_prob is "
                       f"{d['sum_merger_prob']:.1f})",
                       ["rule", "flagged", "true mergers flagged", "recall", "precision"], rows,
                       numeric=(1, 2, 3, 4))


def trust_section(evaluation, calibrated=True):
    """The "How far to trust an answer" section, or None for a model without a calibration.

    Parameters
    ----------
    evaluation : dict
        The :func:`~galmorph.inference.evaluation.evaluate` result shown; its
        ``trust`` part is what the section shows.
    calibrated : bool
        Whether the model carries a trust calibration. A calibrated model whose
        ``evaluation`` was made without measuring it gets a section that says so.

    Returns
    -------
    ReportSection or None
    """
    from galmorph.plots import plot_interval_reliability

    trust = evaluation.get("trust")
    if not trust:
        if not calibrated:
            return None
        return ReportSection("trust", TRUST_TITLE, [ReportText(
            "The model carries a trust calibration, but the evaluation shown was made without "
            "measuring it: let the report evaluate the run (no evaluation= given), or pass "
            "the result of 'galmorph evaluate --json', which measures it.", note=True)])
    n = trust["n_galaxies"]
    items = [ReportText(
        f"The model carries a trust calibration{_fitted_on(trust)}: an interval for every "
        f"answer at a stated nominal coverage, and a merger probability. Here they are "
        f"measured on the {n} evaluated galaxies: an interval at nominal coverage p should "
        f"hold the volunteers' fraction in a share p of the known cells.")]
    items.append(ReportText(f"Note: {trust['note']}. Where the evaluated galaxies are the ones "
                            f"the calibration was fitted on, read these as a check of the "
                            f"fit, not of new galaxies.", note=True))
    intervals = trust.get("intervals")
    if intervals:
        fig = plot_interval_reliability(trust)
        items.append(ReportFigure(
            "interval_reliability", fig, "Nominal against empirical coverage of the intervals",
            f"Reliability of the intervals on {n} galaxies: the empirical coverage (the share "
            f"of known cells whose volunteers' fraction falls inside the interval) against "
            f"the nominal coverage asked for, at {', '.join(f'{float(k):.0%}' for k in intervals)}"
            f"; bold over every known cell, faint per question, dashed the diagonal. Read: "
            f"points on the diagonal are honest intervals; below it they are too narrow "
            f"(over-confident), above it too wide.", dpi=80))
        items.append(_level_table(intervals))
        if _PER_QUESTION in intervals:
            items.append(_question_table(intervals))
    else:
        items.append(ReportText("The calibration has no intervals: nothing to measure.",
                                note=True))
    if trust.get("mergers"):
        items.append(_merger_table(trust["mergers"]))
    return ReportSection("trust", TRUST_TITLE, items)
