"""The evaluation part of a run report: the numbers of ``galmorph evaluate --json`` as tables.

Every number taken from the :func:`~galmorph.inference.evaluation.evaluate`
result carries its place there as the cell's ``data-key``
(``per_answer/Class1.1``), so a browser test can compare the page with
``galmorph evaluate --json``. The per-question and per-answer intervals and
baselines are the report's own, computed from the evaluation's predictions
(:attr:`~galmorph.inference.evaluation_result.Evaluation.predictions`); they
carry no key.
"""
from __future__ import annotations

import numpy as np

from galmorph import schema
from galmorph.workflows.report._html import number, text
from galmorph.workflows.report.document import ReportSection, ReportTable, ReportText, Row

__all__ = ["evaluation_section"]


def _subset_row(name, part):
    lo, hi = part.get("rmse_ci95") or [None, None]
    key = f"subsets/{name}"
    return Row([text(name), number(part["n_galaxies"], f"{key}/n_galaxies"),
                number(part["rmse"], f"{key}/rmse"), number(lo, f"{key}/rmse_ci95/0"),
                number(hi, f"{key}/rmse_ci95/1")], muted=part["rmse"] is None)


def _score_rows(evaluation):
    ci = evaluation.get("rmse_ci95") or [None, None]
    subsets = dict(evaluation.get("subsets", {}))
    # The real population (the unselected galaxies) leads: it is what published figures
    # describe (issue 27); the overall and confident figures follow.
    real = subsets.pop("real population", None)
    rows = [] if real is None else [_subset_row("real population", real)]
    rows.append(Row([text("model" if real is None else "model, all"),
                     number(evaluation["n_galaxies"], "n_galaxies"),
                     number(evaluation["rmse"], "rmse"), number(ci[0], "rmse_ci95/0"),
                     number(ci[1], "rmse_ci95/1")]))
    for name, value in evaluation["baselines"].items():
        rows.append(Row([text(f"baseline: {name}"), number(evaluation["n_galaxies"]),
                         number(value, f"baselines/{name}"), text(""), text("")]))
    rows += [_subset_row(name, part) for name, part in subsets.items()]
    return rows


def _only(labels, columns):
    """``labels`` with every cell outside ``columns`` unknown (NaN)."""
    out = np.full_like(labels, np.nan)
    out[:, columns] = labels[:, columns]
    return out


def _bootstrap(pred, labels, columns):
    from galmorph.metrics import rmse_interval

    part = _only(labels, columns)
    if not np.isfinite(part).any():
        return None
    return rmse_interval(pred, part, n_boot=1000)  # 48 of them: half the default draws


def evaluation_section(evaluation, pred, labels, train_labels):
    """The Evaluation section: scores, per question and per answer, with intervals.

    ``pred`` and ``labels`` (``(N, 37)``, NaN unknown) are the evaluated galaxies;
    ``train_labels`` the rest of the data, which the per-question mean baseline
    is fitted on (as :func:`~galmorph.metrics.baseline_rmses` fits the overall one).
    """
    from galmorph.metrics import rmse_report

    known = np.isfinite(train_labels)
    mean = np.where(known, train_labels, 0).sum(0) / np.maximum(known.sum(0), 1)   # (37,)
    base = rmse_report(np.broadcast_to(mean, labels.shape), labels)
    items = [ReportText(f"Model {evaluation['model']['name']} ({evaluation['model']['checkpoint']})"
                        f" on {evaluation['n_galaxies']} galaxies: {evaluation['split_note']}. "
                        f"Test-time augmentation: {evaluation['tta'] or 'none'}. The Kaggle "
                        f"RMSE is over the known labels only; the baselines are fitted on the "
                        f"galaxies outside the split. The 95 % intervals resample galaxies "
                        f"(bootstrap).")]
    unknown = [q for q, v in evaluation["per_question"].items() if v is None]
    if unknown:
        items.append(ReportText(f"Labels are partial: {', '.join(unknown)} are unknown in this "
                                f"data and not scored; every number below is over the known "
                                f"questions.", note=True))
    items.append(ReportTable("scores", "Kaggle RMSE of the model and the baselines",
                             ["", "galaxies", "RMSE", "95 % low", "95 % high"],
                             _score_rows(evaluation), numeric=(1, 2, 3, 4)))
    counts = evaluation.get("questions") or {}
    rows = []
    for q in schema.QUESTIONS:
        name = f"Q{q.number}"
        value = evaluation["per_question"][name]
        ci = (_bootstrap(pred, labels, schema.QUESTION_SLICES[q.number]) if value is not None
              else None)
        rows.append(Row([text(name), text(q.text), number(counts.get(name), f"questions/{name}"),
                         number(value, f"per_question/{name}"), *_interval_cells(ci),
                         number(base["per_question"][name])], muted=value is None))
    items.append(ReportTable("per_question", "Per question (over its answers' known cells)",
                             ["question", "", "galaxies scored", "RMSE", "95 % low", "95 % high",
                              "mean baseline"], rows, numeric=(2, 3, 4, 5, 6)))
    rows = []
    for j, (column, label) in enumerate(zip(schema.KAGGLE_COLUMNS, schema.ANSWER_LABELS)):
        value = evaluation["per_answer"][column]
        ci = _bootstrap(pred, labels, [j]) if value is not None else None
        rows.append(Row([text(column, mono=True), text(label),
                         number(value, f"per_answer/{column}"), *_interval_cells(ci),
                         number(base["per_answer"][column])], muted=value is None))
    items.append(ReportTable("per_answer", "Per answer", ["column", "answer", "RMSE", "95 % low",
                                                          "95 % high", "mean baseline"], rows,
                             numeric=(2, 3, 4, 5)))
    return ReportSection("evaluation", "Evaluation", items)


def _interval_cells(ci):
    """Two cells, the low and high end of an interval (``-`` where there is none)."""
    return [number(None), number(None)] if ci is None else [number(ci[0]), number(ci[1])]
