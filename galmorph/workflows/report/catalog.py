"""The report of a classified catalogue: the answers, the mergers, the redshift trends.

:func:`build_catalog_report` reads a table of the 37 predicted fractions (the
output of ``galmorph classify`` or ``galmorph predict``) and assembles the
label histograms (Fig 1), the correlation matrix (Fig 3), the decision tree
with the mean fractions, the merger analysis of :mod:`galmorph.astro.mergers`,
the redshift trends of :mod:`galmorph.astro.redshift` where the table has a
redshift, prototypes per answer where the images are at hand, and the most unusual
galaxies with their look-alikes where it has embeddings (``_embedding``).
:func:`report_catalog` writes it as one HTML file.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from galmorph import schema
from galmorph.errors import DataError, MissingColumnError
from galmorph.workflows.report._embedding import embedding_section
from galmorph.workflows.report._html import (grid_figure, number, prototype_figure, text,
                                             tree_section, write_report)
from galmorph.workflows.report.document import (Report, ReportFigure, ReportSection, ReportTable,
                                                ReportText, Row)

__all__ = ["build_catalog_report", "report_catalog", "SEPARATION_COLUMNS", "IMAGE_COLUMNS"]

#: Separation columns used for the merger-separation analysis, the first one present.
SEPARATION_COLUMNS = ("sep_r90", "sep_arcsec", "sep_kpc", "sep_px")
#: Columns that may name each row's image file, the first one present.
IMAGE_COLUMNS = ("file", "path", "image", "filename")


def _read(table_or_path):
    """``(table, source, folder)``: the table, what to call it, where its relative paths start."""
    from astropy.table import Table

    if hasattr(table_or_path, "colnames"):
        return table_or_path, table_or_path.meta.get("out") or "the given table", Path.cwd()
    path = Path(table_or_path)
    if not path.is_file():
        raise DataError(f"catalogue {path} is not a file; give the table written by "
                        f"'galmorph classify --out' or 'galmorph predict --out' (ECSV)")
    from galmorph._util._io import table_format

    try:
        table = Table.read(path, format=table_format(path))
    except Exception as err:  # astropy raises many kinds for a foreign file
        raise DataError(f"cannot read catalogue {path} ({type(err).__name__}: {err}); give an "
                        f"ECSV, FITS or CSV table of predictions") from None
    return table, str(path), path.parent


def _fractions(table, source):
    """``(float64 (N, 37) fractions of the usable rows, usable mask)``."""
    missing = [c for c in schema.KAGGLE_COLUMNS if c not in table.colnames]
    if missing:
        more = " ..." if len(missing) > 4 else ""
        raise MissingColumnError(
            f"{source} lacks {len(missing)} of the {schema.N_ANSWERS} GZ2 answer columns "
            f"({', '.join(missing[:4])}{more}); give the output of 'galmorph classify' or "
            f"'galmorph predict', which has Class1.1 ... Class11.6")
    try:
        values = np.column_stack([np.asarray(np.ma.filled(table[c], np.nan), dtype=np.float64)
                                  for c in schema.KAGGLE_COLUMNS])
    except (TypeError, ValueError) as err:
        raise DataError(f"{source}: the answer columns hold values that are not numbers "
                        f"({err})") from None
    ok = np.isfinite(values).all(axis=1)
    if "predict_ok" in table.colnames:
        ok &= np.asarray(table["predict_ok"], dtype=bool)
    if ok.sum() < 2:
        raise DataError(f"{source} has {int(ok.sum())} row(s) with all 37 fractions finite; a "
                        f"report needs at least 2 classified galaxies")
    return values[ok], ok


def _overview_section(table, source, ok, fractions):
    meta = table.meta
    tta = meta.get("tta") or ("none" if "tta" in meta else None)
    rows = [("catalogue", source), ("rows", len(table)),
            ("classified rows reported", int(ok.sum())),
            ("rows left out (failed or non-finite)", int((~ok).sum())),
            ("model", meta.get("model_name") or meta.get("model")),
            ("checkpoint", meta.get("model_path") or meta.get("checkpoint")),
            ("schema", meta.get("schema_version")), ("test-time augmentation", tta),
            ("preprocessing", meta.get("preprocessing"))]
    table_rows = [Row([text(k), text(v, mono=k in ("catalogue", "checkpoint"))])
                  for k, v in rows if v is not None]
    means = fractions.mean(axis=0)                                             # (37,)
    top = []
    for q in schema.QUESTIONS:
        sl = schema.QUESTION_SLICES[q.number]
        j = sl.start + int(np.argmax(means[sl]))
        top.append(Row([text(f"Q{q.number}"), text(q.text), text(schema.ANSWER_LABELS[j]),
                        number(float(means[j]))]))
    return ReportSection("overview", "The catalogue", [
        ReportTable("overview", "What was classified, and by what", ["", ""], table_rows),
        ReportTable("top_answers", "The most common answer of each question (mean weighted "
                    "fraction)", ["Q", "question", "top answer", "mean"], top, numeric=(3,))])


def _labels_section(fractions):
    from galmorph.plots import plot_label_covariance, plot_label_histograms

    fig = grid_figure((1.9 * 7 + 0.6, 1.6 * schema.N_QUESTIONS + 0.8))
    plot_label_histograms(fractions, fig=fig)
    fig.subplots_adjust(left=0.06, right=0.99, bottom=0.5 / fig.get_figheight(),
                        top=1 - 0.8 / fig.get_figheight(), wspace=0.35, hspace=0.55)
    hist = ReportFigure(
        "histograms", fig, "Histograms of the 37 predicted vote fractions, one panel per answer",
        f"Distribution of each predicted weighted vote fraction over the {len(fractions)} "
        f"galaxies (Fig 1), one row per question, counts on a log scale. Read: most answers "
        f"pile up near 0 because few galaxies reach the deep questions; a second peak near 1 "
        f"marks answers the model is sure of for a group of galaxies.", dpi=60)
    corr = ReportFigure(
        "correlation", plot_label_covariance(fractions), "Correlation matrix of the 37 "
        "predicted vote fractions", "Pearson correlation between every pair of answers (Fig 3); "
        "black lines separate the questions, grey cells have no spread. Read: red blocks are "
        "answers that rise together (a disk and its deep questions), blue ones that exclude "
        "each other (smooth against features); off-block structure shows how the tree ties "
        "questions together.", dpi=70)
    return ReportSection("labels", "Vote fractions", [hist, corr])


def _scan_figure(scan, threshold):
    from galmorph.plots import new_figure

    fig = new_figure(figsize=(6.0, 3.8))
    ax = fig.add_subplot()
    ax.fill_between(scan["threshold"], scan["fraction_low"], scan["fraction_high"],
                    color="C0", alpha=0.25, lw=0, label=f"{scan.meta['confidence']:.0%} interval")
    ax.plot(scan["threshold"], scan["fraction"], "o-", ms=3, color="C0",
            label="merger fraction")
    ax.axvline(threshold, color="k", ls=":", lw=1, label=f"threshold {threshold:g}")
    ax.set(xlabel="threshold on p_merger (Class8.6)", ylabel="fraction flagged as mergers",
           yscale="log" if (scan["fraction"] > 0).all() else "linear",
           title="merger fraction against threshold")
    ax.legend(fontsize="small")
    return fig


def _separation_figure(bias, column):
    from galmorph.plots import new_figure

    fig = new_figure(figsize=(9.0, 3.6))
    left, right = fig.subplots(1, 2)
    finite = np.isfinite(bias["sep_low"]) & (bias["n"] > 0)
    x = bias["sep_mean"][finite]
    left.errorbar(x, bias["mean_p_merger"][finite], yerr=bias["mean_p_merger_err"][finite],
                  fmt="o-", ms=4, color="C1", label="binned")
    frac = bias["merger_fraction"][finite]
    right.errorbar(x, frac, yerr=[frac - bias["merger_fraction_low"][finite],
                                  bias["merger_fraction_high"][finite] - frac],
                   fmt="s-", ms=4, color="C3", label="binned")
    alone = ~np.isfinite(bias["sep_low"]) & (bias["n"] > 0)
    for ax, name in ((left, "mean_p_merger"), (right, "merger_fraction")):
        if alone.any():
            ax.axhline(float(bias[name][alone][0]), color="0.4", ls="--", lw=1,
                       label=f"no neighbour ({int(bias['n'][alone][0])})")
        ax.set_xlabel(f"separation to the nearest neighbour ({column})")
        ax.legend(fontsize="small")
    left.set(ylabel="mean p_merger", title="merger probability")
    right.set(ylabel=f"fraction with p_merger >= {bias.meta['threshold']:g}",
              title="merger fraction")
    return fig


def _prior_shift_text(table, seed):
    """The merger fraction re-estimated for a merger-rich selection, as a sentence (none
    where the table does not record the calibration's merger rate)."""
    from galmorph.astro.mergers import MERGER_PRIOR_META, merger_fraction

    prior = table.meta.get(MERGER_PRIOR_META)
    if prior is None:
        return ""
    # 200 resamples: about 0.2 s per 1,000 galaxies (galmorph.astro.mergers).
    ps = merger_fraction(table, method="prior-shift", n_boot=200, seed=seed)
    return (f" That mean holds for a sample of the real population, whose merger rate "
            f"merger_prob was calibrated at ({prior:.2%}); if this catalogue was selected for "
            f"or against mergers, its own rate re-estimated from the same probabilities "
            f"(merger_fraction(method='prior-shift')) is {ps.fraction:.4f}, "
            f"{ps.confidence:.0%} interval {ps.low:.4f} - {ps.high:.4f}.")


def _merger_section(table, fractions, threshold, seed):
    from galmorph.astro.merger_separation import separation_bias
    from galmorph.astro.merger_threshold import propose_merger_threshold
    from galmorph.astro.mergers import merger_fraction, merger_threshold_scan

    p = fractions[:, schema.column_index("merger")]
    found = merger_fraction(p, threshold, seed=seed)
    grid = np.unique(np.r_[np.round(np.arange(0.05, 0.951, 0.05), 2), threshold])
    scan = merger_threshold_scan(p, grid, seed=seed)
    near = np.abs(scan["threshold"] - threshold) <= 0.15 + 1e-9
    rows = [Row([number(float(r["threshold"]), digits=2), number(int(r["n_merger"])),
                 number(float(r["fraction"])), number(float(r["fraction_low"])),
                 number(float(r["fraction_high"]))]) for r in scan[near]]
    items = [ReportText(f"{found.n_merger} of {found.n} galaxies have p_merger (Class8.6) >= "
                        f"{threshold:g}: merger fraction {found.fraction:.4f}, "
                        f"{found.confidence:.0%} Jeffreys interval {found.low:.4f} - "
                        f"{found.high:.4f} (the paper's rule)."),
             ReportFigure("merger_scan", _scan_figure(scan, threshold), "Merger fraction "
                          "against the p_merger threshold, with its interval",
                          f"Fraction of galaxies flagged as mergers for each threshold on the "
                          f"weighted merger fraction, with its bootstrap interval (band); the "
                          f"dotted line is the threshold used ({threshold:g}, the paper's pick "
                          f"by eye is 0.54). Read: a fraction that changes steeply near the "
                          f"threshold means the merger count depends on the choice; a flat "
                          f"stretch means it is robust.", dpi=80),
             ReportTable("merger_scan", f"Threshold scan around {threshold:g}",
                         ["threshold", "mergers", "fraction", "low", "high"], rows,
                         numeric=(0, 1, 2, 3, 4))]
    if "merger_prob" in table.colnames:   # the calibrated estimate (galmorph.trust)
        mp = merger_fraction(table, method="prob", seed=seed)
        items.insert(1, ReportText(
            f"From the calibrated merger_prob (the probability that volunteers give Class8.6 "
            f">= 0.54): merger fraction {mp.fraction:.4f}, {mp.confidence:.0%} interval "
            f"{mp.low:.4f} - {mp.high:.4f}, the mean over {mp.n} galaxies. The paper's cut "
            f"on p_merger undercounts, as a network's fractions regress to the mean."
            + _prior_shift_text(table, seed)))
    column = next((c for c in SEPARATION_COLUMNS if c in table.colnames), None)
    if column is None:
        items.append(ReportText("No companion separations in this table (columns "
                                f"{', '.join(SEPARATION_COLUMNS)}): classify with "
                                f"'galmorph classify --separations' to see how the merger "
                                f"vote depends on a neighbour in the cutout.", note=True))
    else:
        bias = separation_bias(table, separation_column=column, threshold=threshold, seed=seed)
        items.append(ReportFigure(
            "merger_separation", _separation_figure(bias, column), "Merger probability and "
            "merger fraction against the separation to the nearest neighbour",
            "Mean merger probability (left) and merger fraction (right) in bins of the "
            f"projected separation to the nearest detected neighbour ({column}), with bootstrap "
            "errors; the dashed line is the galaxies with no neighbour in the cutout. Read: a "
            "merger vote that rises at small separation is the angular-separation bias -- a "
            "companion in the image raises the vote whether or not the two interact.", dpi=80))
        try:
            proposal = propose_merger_threshold(table, separation_column=column)
            items.append(ReportText(f"Proposed threshold: {proposal.threshold:g} "
                                    f"({proposal.rule})."))
        except DataError as err:
            items.append(ReportText(f"No threshold proposed: {err}", note=True))
    return ReportSection("mergers", "Mergers", items)


def _redshift_section(table, seed):
    from galmorph.astro.redshift import catalog_redshift_trends
    from galmorph.plots import plot_redshift_trends

    try:
        # The computation of classify's meta["redshift_trends"]: the same numbers.
        trends, flags = catalog_redshift_trends(table, seed=seed)
    except DataError as err:
        return ReportSection("redshift", "Redshift trends", [ReportText(
            f"No redshift trends: {err}. Add a redshift column (z) to the catalogue to see "
            f"how the classifications drift with distance.", note=True)])
    ax = plot_redshift_trends(trends)
    ax.set_title(f"mean fractions in {len(trends)} redshift bins")
    rows = [Row([text(k), text(v if not isinstance(v, float) else f"{v:.4g}")])
            for k, v in flags.items() if k != "messages"]
    messages = flags["messages"] or ["no redshift bias flagged"]
    return ReportSection("redshift", "Redshift trends", [
        ReportFigure("redshift", ax.figure, "Mean smooth, features and merger fractions against "
                     "redshift", f"Mean predicted fractions in equal-count redshift bins "
                     f"({trends.meta['z_column']}), with bootstrap errors; the dotted line is "
                     f"z = {flags['z_split']:g}, above which a flux-limited sample is "
                     f"dominated by bright ellipticals. Read: a features/disk fraction that "
                     f"falls with z while smooth rises is the classification bias -- distant "
                     f"disks look smooth -- not evolution.", dpi=80),
        ReportText("Bias flags: " + "; ".join(messages) + ".", note=bool(flags["messages"])),
        ReportTable("redshift_flags", "Redshift-bias flags (redshift_bias_flags)",
                    ["flag", "value"], rows)] + _against_classify(table.meta, trends, flags))


def _against_classify(meta, trends, flags):
    """``[ReportText]`` saying why classify's ``meta["redshift_trends"]`` has another
    features/disk slope than the report (the same computation: only other rows or another
    bootstrap can make them differ); ``[]`` where they agree or there is none."""
    recorded = meta.get("redshift_trends") or {}
    old = recorded.get("flags") or {}
    a, b = old.get("features_slope"), flags["features_slope"]
    if a is None or b is None or np.isclose(a, b, rtol=1e-9, atol=0):
        return []
    why = []
    n_old, n_new = int(sum(n or 0 for n in recorded.get("n") or [])), int(np.sum(trends["n"]))
    if n_old != n_new:
        why.append(f"{n_old} rows with a redshift there, {n_new} here")
    for key in ("n_boot", "seed"):
        if recorded.get(key) != trends.meta[key]:
            why.append(f"bootstrap {key} {recorded.get(key, 'not recorded')} there, "
                       f"{trends.meta[key]} here")
    reason = "; ".join(why) or "the fractions or redshifts were changed after classify"
    return [ReportText(f"classify recorded a features/disk slope of {a:.3f} +- "
                       f"{old.get('features_slope_err') or float('nan'):.3f} per unit z "
                       f"(meta['redshift_trends']); this report finds {b:.3f} +- "
                       f"{flags['features_slope_err']:.3f}. They differ because of: {reason}.",
                       note=True)]


def _image_paths(table, images, folder):
    """Each row's image file (or None), from ``images`` or the first image column."""
    if images is not None and not isinstance(images, str):
        return [str(p) for p in images]
    column = images or next((c for c in IMAGE_COLUMNS if c in table.colnames), None)
    if column is None:
        return None
    if column not in table.colnames:
        raise MissingColumnError(f"catalogue has no image column {column!r} (columns: "
                                 f"{', '.join(table.colnames[:12])}); name the column that "
                                 f"holds each row's image file with --images COLUMN "
                                 f"(images= in Python)")
    paths = []
    for value in table[column]:
        path = Path(str(value))
        path = path if path.is_absolute() or path.is_file() else folder / path
        paths.append(str(path) if path.is_file() else None)
    return paths


def _prototype_section(table, fractions, ok, paths):
    from galmorph.plots import DEFAULT_PROTOTYPE_ANSWERS, plot_predicted_prototypes

    if paths is not None and len(paths) != len(table):
        raise DataError(f"images: {len(paths)} files for {len(table)} rows; give one per row")
    have = None if paths is None else np.array([p is not None for p in paths])[ok]
    if have is None or not have.any():
        return ReportSection("prototypes", "Prototypes", [ReportText(
            "No images at hand: the table has no image column with existing files "
            f"({', '.join(IMAGE_COLUMNS)}); give them with --images COLUMN (images= in "
            "Python) to see the galaxies the model is most confident about.", note=True)])
    shown = [p for p, keep in zip(np.asarray(paths, dtype=object)[ok], have) if keep]
    crop = (table.meta.get("preprocessing") or {}).get("crop")
    fig = prototype_figure(plot_predicted_prototypes, shown, fractions[have],
                           DEFAULT_PROTOTYPE_ANSWERS, crop=crop)
    return ReportSection("prototypes", "Prototypes", [ReportFigure(
        "prototypes", fig, "The catalogue's galaxies the model is most confident about, per "
        "answer", "For each answer (row), the 4 galaxies of the catalogue with "
        "the highest predicted fraction (p=...), highest first" +
        (f", cropped to the central {crop} pixels the model sees" if crop else "") +
        f"; {int(have.sum())} of the rows have an image. Read: whether each answer's most "
        f"confident galaxies look like that answer; odd ones out are the model's confident "
        f"mistakes.", dpi=70)])


def build_catalog_report(table_or_path, *, images=None, threshold=None, seed=0):
    """Assemble the report of a classified catalogue (not yet written).

    Parameters
    ----------
    table_or_path : astropy.table.Table or path-like
        Predictions with the 37 columns ``Class1.1`` ... ``Class11.6``, e.g.
        the ECSV of ``galmorph classify`` or ``galmorph predict``. Rows whose
        prediction failed (``predict_ok`` false, or NaN fractions) are left out.
    images : str or sequence of path-like, optional
        The column holding each row's image file, or the files (one per row).
        Default: the first of :data:`IMAGE_COLUMNS` present; rows whose file
        does not exist are not shown.
    threshold : float, optional
        Merger threshold on ``Class8.6``; default the table's
        ``meta["merger_threshold"]``, else 0.54.
    seed : int
        Seed of the bootstrap intervals.

    Returns
    -------
    Report
        ``report.data`` holds ``n_rows`` and ``n_used``.

    Raises
    ------
    MissingColumnError
        The table lacks some of the 37 answer columns.
    DataError
        The file is missing or unreadable, or fewer than 2 rows are classified.
    """
    from galmorph.astro.mergers import DEFAULT_THRESHOLD

    table, source, folder = _read(table_or_path)
    fractions, ok = _fractions(table, source)
    threshold = float(threshold if threshold is not None else
                      table.meta.get("merger_threshold", DEFAULT_THRESHOLD))
    used = table[ok]
    paths = _image_paths(table, images, folder)
    sections = [_overview_section(table, source, ok, fractions), _labels_section(fractions),
                tree_section(fractions, "the catalogue's predictions"),
                _merger_section(used, fractions, threshold, seed), _redshift_section(used, seed),
                _prototype_section(table, fractions, ok, paths)]
    crop = (table.meta.get("preprocessing") or {}).get("crop")   # embeddings' grids, if any
    embedded = embedding_section(used, None if paths is None else
                                 [p for p, keep in zip(paths, ok) if keep], crop)
    sections += [embedded] if embedded is not None else []
    name = Path(source).name if source != "the given table" else source
    subtitle = [f"{int(ok.sum())} galaxies classified"
                + (f" by {table.meta['model_name']}" if table.meta.get("model_name") else "")]
    return Report(f"galmorph catalogue report: {name}", "catalog", source, subtitle, sections,
                  {"n_rows": len(table), "n_used": int(ok.sum()), "threshold": threshold})


def report_catalog(table_or_path, out=None, images=None, **kwargs):
    """Write the HTML report of a classified catalogue; returns its path.

    Parameters
    ----------
    table_or_path : astropy.table.Table or path-like
        See :func:`build_catalog_report`.
    out : path-like, optional
        The HTML file; default ``<name>-report.html`` beside the catalogue
        (required for a Table). Checked for writing before any work.
    images : str or sequence, optional
        See :func:`build_catalog_report`.
    **kwargs
        ``threshold`` and ``seed`` of :func:`build_catalog_report`.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> report_catalog("result.ecsv")          # doctest: +SKIP
    PosixPath('result-report.html')
    """
    from galmorph._util._io import check_writable
    from galmorph.errors import ParameterError

    if out is None:
        if hasattr(table_or_path, "colnames"):
            raise ParameterError("out= is needed to report a Table (there is no file to write "
                                 "the report beside)")
        path = Path(table_or_path)
        out = path.with_name(f"{path.stem}-report.html")
    out = check_writable(out)
    return write_report(build_catalog_report(table_or_path, images=images, **kwargs), out)
