"""Figures of the vote-fraction labels: histograms and the answer correlations."""
from __future__ import annotations

import numpy as np

from galmorph import schema
from galmorph.plots._inputs import answer_title, as_fractions, new_figure, question_grid, \
    resolve_answers, save_figure

__all__ = ["plot_label_histograms", "plot_label_covariance"]


def plot_label_histograms(labels, answers=None, *, bins=20, log=True, fig=None, filename=None):
    """Histograms of the weighted vote fractions, one panel per answer.

    Panels are laid out one row per question (Q1 on top), titled with the
    Kaggle column and the answer's label; the first panel of each row names
    the question.

    Parameters
    ----------
    labels : array-like (N, 37), astropy Table or DataFrame
        Weighted vote fractions in Kaggle column order, or a table with the
        columns ``Class1.1`` ... ``Class11.6`` (e.g. ``PreparedData.labels``
        or a :class:`~galmorph.astro.classifier.MorphologyClassifier` result).
    answers : sequence, optional
        Answers to show: Kaggle columns (``"Class8.6"``), labels
        (``"merger"``), column indices or whole questions (``"Q8"``).
        Default: all 37.
    bins : int
        Number of bins over [0, 1].
    log : bool
        Logarithmic counts (most fractions pile up near 0).
    fig : matplotlib.figure.Figure, optional
        Figure to draw into (empty); a new one sized to the grid otherwise.
    filename : path-like, optional
        Save the figure there as well.

    Returns
    -------
    matplotlib.figure.Figure
        With one axes per answer asked for.

    Examples
    --------
    >>> from galmorph.data.cache import open_prepared                  # doctest: +SKIP
    >>> data = open_prepared("~/.cache/galmorph/prepared/...")         # doctest: +SKIP
    >>> plot_label_histograms(data.labels, ["Q1", "merger"]).savefig("h.png")  # doctest: +SKIP
    """
    from matplotlib.ticker import NullFormatter

    values = as_fractions(labels)                                  # (N, 37)
    indices = resolve_answers(answers)
    fig, axes = question_grid(fig, indices)
    edges = np.linspace(0.0, 1.0, int(bins) + 1)
    seen = set()
    for i, ax in axes.items():
        ax.hist(np.clip(values[:, i], 0.0, 1.0), bins=edges, color="C0", log=log)
        ax.set_title(answer_title(i), fontsize="small")
        ax.set_xlim(0, 1)
        ax.tick_params(labelsize="x-small")
        if log:  # decade labels only; minor log labels crowd a small panel
            ax.yaxis.set_minor_formatter(NullFormatter())
        q = schema.ANSWERS[i].question
        if q not in seen:  # the row's first panel names the question
            seen.add(q)
            ax.set_ylabel(f"Q{q} galaxies", fontsize="small")
    fig.suptitle(f"weighted vote fractions of {len(values)} galaxies")
    fig.supxlabel("weighted vote fraction")
    return save_figure(fig, filename)


def _matrix(values, kind):
    """Covariance or Pearson correlation of the 37 columns (NaN for constant columns)."""
    centred = values - values.mean(axis=0)
    cov = centred.T @ centred / max(len(values) - 1, 1)           # (37, 37)
    if kind == "covariance":
        return cov
    std = np.sqrt(np.diag(cov))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = cov / np.outer(std, std)
    corr[(std == 0)[:, None] | (std == 0)[None, :]] = np.nan      # undefined, shown grey
    return np.clip(corr, -1.0, 1.0)


def plot_label_covariance(labels, kind="correlation", *, ax=None, filename=None):
    """The 37 x 37 correlation (or covariance) matrix of the vote fractions.

    Lines mark the question blocks of the GZ2 tree; ticks name the Kaggle
    columns. Answers with no spread (e.g. a question no galaxy reached) have
    an undefined correlation and are drawn grey.

    Parameters
    ----------
    labels : array-like (N, 37), astropy Table or DataFrame
        Weighted vote fractions (N >= 2).
    kind : {"correlation", "covariance"}
    ax : matplotlib.axes.Axes, optional
    filename : path-like, optional

    Returns
    -------
    matplotlib.figure.Figure
        The matrix drawn is ``fig.axes[0].images[0].get_array()``.

    Examples
    --------
    >>> import numpy as np
    >>> from galmorph.labels import normalize_tree_numpy
    >>> labels = normalize_tree_numpy(np.random.default_rng(0).random((50, 37)))
    >>> fig = plot_label_covariance(labels)
    >>> fig.axes[0].images[0].get_array().shape
    (37, 37)
    """
    if kind not in ("correlation", "covariance"):
        raise ValueError(f"kind must be 'correlation' or 'covariance', not {kind!r}")
    values = as_fractions(labels)
    if len(values) < 2:
        raise ValueError(f"a {kind} needs at least 2 galaxies, got {len(values)}")
    matrix = _matrix(values, kind)
    fig = new_figure(ax=ax, figsize=(8.5, 7.5))
    ax = ax or fig.add_subplot()
    import matplotlib

    cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="0.7")
    limit = 1.0 if kind == "correlation" else max(float(np.abs(matrix).max()), 1e-12)
    image = ax.imshow(np.ma.masked_invalid(matrix), cmap=cmap, vmin=-limit, vmax=limit,
                      interpolation="nearest")
    for number, sl in schema.QUESTION_SLICES.items():
        if sl.start:
            ax.axhline(sl.start - 0.5, color="k", lw=0.7)
            ax.axvline(sl.start - 0.5, color="k", lw=0.7)
    ticks = np.arange(schema.N_ANSWERS)
    ax.set_xticks(ticks, schema.KAGGLE_COLUMNS, rotation=90, fontsize=6)
    ax.set_yticks(ticks, [f"{c} {lab}" for c, lab in
                          zip(schema.KAGGLE_COLUMNS, schema.ANSWER_LABELS)], fontsize=6)
    fig.colorbar(image, ax=ax, shrink=0.8, label=kind)
    ax.set_title(f"{kind} of the 37 vote fractions ({len(values)} galaxies)")
    return save_figure(fig, filename)
