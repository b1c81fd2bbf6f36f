"""The report of a training run: what was trained on what, how it learned, how well it does.

:func:`build_run_report` evaluates the run's best checkpoint on its validation
split with :func:`galmorph.inference.evaluation.evaluate` -- the numbers of
``galmorph evaluate --json`` -- and draws the figures and the per-question
intervals from the predictions of that same evaluation (an
:class:`~galmorph.inference.evaluation_result.Evaluation`), assembling the
paper's figures (Figs 2 and 4-10 of the proof-of-concept paper) with
:mod:`galmorph.plots`.
For a checkpoint that carries a trust calibration, the evaluation measures it
too (:class:`galmorph.trust.measure.TrustMeasure`) and the report shows its
interval coverage in "How far to trust an answer".
:func:`report_run` writes it as one HTML file (``RUN_DIR/report.html``).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from galmorph import schema
from galmorph.errors import DataError
from galmorph.labels import known_questions
from galmorph.rundir import RunDir
from galmorph.workflows.report._eval import evaluation_section
from galmorph.workflows.report._html import (grid_figure, number, prototype_figure, text,
                                             tree_section, write_report)
from galmorph.workflows.report._trust import trust_section
from galmorph.workflows.report.document import (Report, ReportFigure, ReportSection, ReportTable,
                                                ReportText, Row)

__all__ = ["build_run_report", "report_run"]

_RUN_FILES = (("best.pt", "checkpoint with the lowest validation RMSE: give it to predict, "
                          "classify or evaluate"),
              ("last.pt", "checkpoint of the last epoch: 'galmorph train --resume' goes on "
                          "from it"),
              ("metrics.csv", "one row per epoch: RMSEs, learning rate, speed"),
              ("config.json", "the resolved training settings"),
              ("split.json", "the validation galaxies (by ID)"),
              ("evaluation.json", "a saved 'galmorph evaluate --json' result"))


def _check_run(run_dir):
    """The run folder, its config and its best checkpoint, or a DataError saying what lacks."""
    rundir = RunDir(run_dir)
    run = rundir.path
    if not run.is_dir():
        raise DataError(f"{run} is not a folder; give a run folder written by 'galmorph train "
                        f"--out RUN_DIR'")
    if not rundir.metrics_file.is_file():
        raise DataError(f"{run} has no metrics.csv: it is not a galmorph run folder, or its "
                        f"run has not finished an epoch yet; give the --out folder of "
                        f"'galmorph train'")
    checkpoint = rundir.checkpoint()
    if not checkpoint.is_file():
        raise DataError(f"{run} has metrics.csv but no best.pt or last.pt checkpoint to "
                        f"evaluate")
    return run, rundir.config(), checkpoint


def _value(v):
    return json.dumps(v) if isinstance(v, (list, dict)) else str(v)


def _config_section(config, prepared, index):
    cells = [[text(k, mono=True), text(_value(v), mono=isinstance(v, (str, list)))]
             for k, v in config.items()]
    half = -(-len(cells) // 2)  # two settings per row, read down the left pair first
    rows = [Row(left + (cells[half + i] if half + i < len(cells) else [text(""), text("")]))
            for i, left in enumerate(cells[:half])]
    parts = prepared.parts or [{"source": prepared.meta.get("source"), "cache": prepared.path,
                                "n": len(prepared)}]
    in_split = np.zeros(len(prepared), bool)
    in_split[index] = True
    data_rows, start = [], 0
    for part in parts:
        stop = start + int(part["n"])
        data_rows.append(Row([text(part["source"], mono=True), text(part["cache"], mono=True),
                              number(stop - start), number(int(in_split[start:stop].sum()))]))
        start = stop
    return ReportSection("config", "Configuration and data", [
        ReportTable("data", "Data: each folder, its preprocessing cache and its galaxies",
                    ["data folder", "cache", "galaxies", "in the evaluated split"], data_rows,
                    numeric=(2, 3)),
        ReportTable("config", "The resolved training settings (config.json)",
                    ["setting", "value", "setting", "value"], rows)])


def _curves_section(run, config, evaluation, metrics):
    from galmorph.plots import PAPER_VAL_RMSE, plot_loss_curves

    baseline = evaluation["baselines"]["mean"]
    paper = config.get("model") if config.get("model") in PAPER_VAL_RMSE else None
    fig = plot_loss_curves(run, baseline=baseline, paper=paper)
    best = int(np.argmin(metrics["val_rmse"]))
    verdict = ("below the baseline: the network learned" if metrics["val_rmse"][best] < baseline
               else "not below the baseline yet: train longer or on more galaxies")
    caption = (f"Training (dashed) and validation (solid) RMSE per epoch, and the learning rate "
               f"(faint steps, right axis, log scale). Read: validation RMSE below the grey "
               f"mean-baseline line ({baseline:.4f}) means the network learned more than the "
               f"average answer; a widening gap between training and validation means it "
               f"over-fits; learning-rate drops mark plateaus. Best validation RMSE "
               f"{metrics['val_rmse'][best]:.4f} at epoch {int(metrics['epoch'][best])} of "
               f"{len(metrics['epoch'])}, {verdict}"
               + (f"; dotted: the paper's {paper} result." if paper else "."))
    return ReportSection("curves", "Learning curves", [ReportFigure(
        "loss", fig, "Training and validation RMSE and learning rate against epoch", caption)])


def _shown_part(labels):
    """Question indices (0..10) to plot and the rows known for all of them (partial labels);
    ``([], None)`` where fewer than 2 rows know any question."""
    known = known_questions(labels)                                    # (N, 11)
    questions = [k for k in range(schema.N_QUESTIONS) if known[:, k].any()]
    while questions:
        rows = known[:, questions].all(axis=1)
        if rows.sum() >= 2:
            return questions, rows
        questions.remove(min(questions, key=lambda k: known[:, k].sum()))
    return [], None


def _predicted_section(pred, labels):
    from galmorph.plots import plot_predicted_vs_true

    questions, rows = _shown_part(labels)
    if not questions:
        return ReportSection("predicted", "Predicted against true", [ReportText(
            "Fewer than 2 evaluated galaxies have known labels: nothing to plot.", note=True)])
    answers = [f"Q{schema.QUESTIONS[k].number}" for k in questions]
    truth = np.where(np.isfinite(labels[rows]), labels[rows], 0.0)  # unshown cells only
    n_rows = len(questions)
    n_cols = max(len(schema.QUESTIONS[k].answers) for k in questions)
    fig = grid_figure((2.1 * n_cols + 0.6, 2.2 * n_rows + 0.6))
    plot_predicted_vs_true(pred[rows], truth, answers, hexbin_above=0, fig=fig)
    fig.subplots_adjust(left=0.55 / fig.get_figwidth(), right=0.99, wspace=0.35, hspace=0.6,
                        bottom=0.5 / fig.get_figheight(), top=1 - 0.45 / fig.get_figheight())
    shown = "all 37 answers" if len(questions) == schema.N_QUESTIONS else \
        f"the answers of the known questions ({', '.join(answers)})"
    caption = (f"Predicted against true weighted vote fraction for {shown}, one panel per "
               f"answer and one row per question, on {int(rows.sum())} evaluated galaxies; "
               f"colour is the number of galaxies per cell (log scale), the black line is "
               f"perfect agreement and each title gives the answer's RMSE. Read: cells "
               f"hugging the line are answers the model gets right; a cloud flattened "
               f"towards the mean means it hedges; cells below the line at high true values "
               f"mean it under-predicts the clear cases.")
    return ReportSection("predicted", "Predicted against true", [ReportFigure(
        "predicted_vs_true", fig, f"Density of predicted against true fraction for {shown}",
        caption, dpi=60)])


def _prototype_section(images, pred, labels):
    from galmorph.plots import DEFAULT_PROTOTYPE_ANSWERS, plot_predicted_prototypes, \
        plot_prototypes

    known = np.isfinite(labels)
    answers = [a for a in DEFAULT_PROTOTYPE_ANSWERS
               if known[:, schema.column_index(a)].sum() >= 4]
    items = []
    if answers:
        ranked = np.where(known, labels, -1.0)  # unknown cells rank last
        fig = prototype_figure(plot_prototypes, images, ranked, answers)
        items.append(ReportFigure(
            "prototypes", fig, "Evaluated galaxies with the highest true vote fraction per answer",
            "True prototypes (Fig 2): for each answer (row), the evaluated galaxies with the "
            "highest volunteer vote fraction, highest first, as the network sees them "
            "(cropped and resized); the fraction is above each. Read: what the volunteers "
            "mean by each answer in this data.", dpi=70))
    truth = labels if known.all() else None
    fig = prototype_figure(plot_predicted_prototypes, images, pred, DEFAULT_PROTOTYPE_ANSWERS,
                           labels=truth)
    items.append(ReportFigure(
        "predicted_prototypes", fig, "Evaluated galaxies the model is most confident about per "
        "answer", "Predicted prototypes (Fig 10): for each answer, the evaluated galaxies with "
        "the highest predicted fraction, as p=predicted" + (" (true)" if truth is not None
                                                            else "") +
        ". Read: whether the model's most confident galaxies look like the true prototypes "
        "above; a confident prediction with a low true fraction is a confident mistake.",
        dpi=70))
    return ReportSection("prototypes", "Prototypes", items)


def _kernels_section(checkpoint):
    from galmorph.plots import first_conv, plot_conv_kernels

    conv = first_conv(checkpoint)
    fig = plot_conv_kernels(checkpoint, ncols=16)
    k = conv.kernel_size[0]
    return ReportSection("kernels", "First-layer kernels", [ReportFigure(
        "kernels", fig, f"The {conv.out_channels} first-layer convolution kernels as RGB tiles",
        f"The {conv.out_channels} {k}x{k} kernels of the first convolution (Fig 4), each "
        f"channel's weights as red, green and blue, scaled per kernel. Read: smooth colour "
        f"blobs and oriented edges mean the network learned image features; speckled noise "
        f"means the first layer has barely moved from its initialisation (too little "
        f"training).")])


def _files_section(run, checkpoint, out):
    rows = [Row([text(run / name, mono=True), text(what),
                 number((run / name).stat().st_size // 1024)])
            for name, what in _RUN_FILES if (run / name).is_file()]
    tables = sorted(p for ext in ("*.ecsv", "*.fits", "*.csv") for p in run.glob(ext)
                    if p.name != "metrics.csv")
    rows += [Row([text(p, mono=True), text("predictions"), number(p.stat().st_size // 1024)])
             for p in tables]
    items = [ReportTable("files", "Where the checkpoint, the predictions and the run's files "
                         "are", ["file", "what", "KiB"], rows, numeric=(2,))]
    if not tables:
        items.append(ReportText(f"No predictions are saved in the run folder. Write them with "
                                f"'galmorph predict {checkpoint} IMAGES --out "
                                f"{run / 'predictions.ecsv'}'.", note=True))
    items.append(ReportText(f"This report: {out}."))
    return ReportSection("files", "Files", items)


def _evaluated(checkpoint, calibration, data, evaluation, **predict):
    """``(the Evaluation the figures use, the scores shown)``, from one inference pass at
    most: none where ``evaluation`` is an Evaluation already."""
    from galmorph.inference.evaluation import evaluate
    from galmorph.inference.evaluation_result import Evaluation
    from galmorph.trust.measure import TrustMeasure

    if isinstance(evaluation, Evaluation):
        return evaluation, evaluation.to_dict()
    if evaluation is None:
        result = evaluate(checkpoint, data, extra=TrustMeasure(calibration) if calibration
                          else None, **predict)
        return result, result.to_dict()
    # A plain dict (a saved evaluation.json) is shown as given; the figures need predictions.
    split = "all" if evaluation.get("split") == "all" else "validation"
    return evaluate(checkpoint, data, split=split, **predict), dict(evaluation)


def build_run_report(run_dir, data=None, *, evaluation=None, out=None, device="auto",
                     precision="auto", batch_size=256, progress=False):
    """Assemble the report of a training run (not yet written).

    Parameters
    ----------
    run_dir : path-like
        A run folder of ``galmorph train`` (``metrics.csv``, ``config.json``,
        ``best.pt``, ``split.json``).
    data : path-like, list or PreparedData, optional
        Labelled data folder(s) or caches to evaluate on, or the opened
        :class:`~galmorph.data.cache.PreparedData`; default the run's own (or
        its cache, where the images have moved). Not read when ``evaluation``
        is an :class:`~galmorph.inference.evaluation_result.Evaluation`, which
        holds its data.
    evaluation : Evaluation or dict, optional
        An :func:`~galmorph.inference.evaluation.evaluate` result of the run's
        checkpoint to show instead of evaluating again (with its ``trust``
        part, for a calibrated checkpoint). The figures use its predictions;
        a plain dict (a saved ``evaluation.json``) has none, so the run is
        evaluated once more for them, without measuring the calibration.
    out : path-like, optional
        Where the report will be written (named in its Files section).
    device, precision, batch_size, progress
        Passed to :func:`~galmorph.inference.evaluation.evaluate`.

    Returns
    -------
    Report
        ``report.data`` holds ``evaluation`` (the scores shown, a dict),
        ``rows`` (the evaluated rows of the data), and their ``predictions``
        and ``labels`` (``float64 (n, 37)``, NaN where unknown), which the
        figures show.
    """
    from galmorph.models.checkpoint import load_checkpoint
    from galmorph.plots import read_metrics_csv

    run, config, checkpoint = _check_run(run_dir)
    metrics = read_metrics_csv(run)
    ckpt = load_checkpoint(checkpoint)
    calibration = (ckpt.meta or {}).get("trust")
    result, evaluation = _evaluated(ckpt, calibration, data, evaluation, batch_size=batch_size,
                                    device=device, precision=precision, progress=progress)
    prepared, index, images = result.data, result.rows, result.images
    pred = result.predictions.astype(np.float64)                               # (n, 37)
    labels = result.labels                                                     # (n, 37)
    sections = [_config_section(config, prepared, index),
                _curves_section(run, config, evaluation, metrics),
                evaluation_section(evaluation, pred, labels, result.baseline_labels)]
    again = result["rmse"]  # the evaluation shown, unless it was given as a plain dict
    if abs(again - evaluation["rmse"]) > 1e-6 * max(1.0, again):
        sections[-1].items.insert(1, ReportText(
            f"The figures use a new evaluation of these {len(index)} galaxies whose RMSE "
            f"({again:.4f}) differs from the evaluation shown; the evaluation "
            f"table is the reference.", note=True))
    trust = trust_section(evaluation, calibrated=bool(calibration))
    sections += [trust] if trust is not None else []
    sections += [_predicted_section(pred, labels), _prototype_section(images, pred, labels),
                 _kernels_section(ckpt), tree_section(labels, "the evaluated galaxies' "
                                                      "volunteer votes"),
                 _files_section(run, checkpoint, out or run / "report.html")]
    subtitle = [f"{config.get('model')} trained for {len(metrics['epoch'])} epochs on "
                f"{len(prepared)} galaxies; validation RMSE {evaluation['rmse']:.4f} against "
                f"{evaluation['baselines']['mean']:.4f} for predicting the mean."]
    return Report(f"galmorph run report: {run.name}", "run", str(run.resolve()), subtitle,
                  sections, {"evaluation": evaluation, "rows": index, "predictions": pred,
                             "labels": labels})


def report_run(run_dir, data=None, out=None, **kwargs):
    """Write the HTML report of a training run; returns its path.

    Parameters
    ----------
    run_dir : path-like
        The run folder (see :func:`build_run_report`).
    data : path-like or list, optional
        Labelled data to evaluate on; default the run's own.
    out : path-like, optional
        The HTML file; default ``run_dir/report.html``. Checked for writing
        before any work; written atomically at the end.
    **kwargs
        Passed to :func:`build_run_report` (``evaluation``, ``device``, ...).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    DataError
        ``run_dir`` is not a run folder (no ``metrics.csv``, no checkpoint) or
        its data cannot be found.
    galmorph._util._io.OutputError
        ``out`` cannot be written.

    Examples
    --------
    >>> report_run("runs/gz2")          # doctest: +SKIP
    PosixPath('runs/gz2/report.html')
    """
    from galmorph._util._io import check_writable

    out = Path(run_dir) / "report.html" if out is None else Path(out)
    _check_run(run_dir)
    check_writable(out)
    return write_report(build_run_report(run_dir, data, out=out, **kwargs), out)
