"""Redshift trends: binned mean vote fractions against redshift (the classification bias)."""
from __future__ import annotations

import numpy as np

from galmorph import schema
from galmorph.plots._inputs import save_figure, new_figure

__all__ = ["plot_redshift_trends"]


def plot_redshift_trends(trends, ax=None, answers=None, *, fig=None, filename=None):
    """Binned mean fractions against redshift, with bootstrap error bars.

    Parameters
    ----------
    trends : astropy.table.Table
        Output of :func:`galmorph.astro.redshift.redshift_trends` (optionally
        split in absolute magnitude: one line style per magnitude bin).
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure (no pyplot) otherwise.
    answers : sequence of str, optional
        Subset of the traced answers (Kaggle columns).
    fig : matplotlib.figure.Figure, optional
        Figure to draw on when ``ax`` is not given.
    filename : path-like, optional
        Also save the figure there.

    Returns
    -------
    matplotlib.axes.Axes
        The dotted vertical line marks ``z = 0.085``, above which the paper
        finds the sample dominated by bright ellipticals.
    """
    from galmorph.astro.redshift import Z_SPLIT

    if ax is None:
        ax = new_figure(fig, figsize=(6.0, 4.0)).add_subplot()
    answers = answers or trends.meta.get("answers") or [
        c for c in trends.colnames if c in schema.KAGGLE_COLUMNS]
    split = "mag_low" in trends.colnames
    groups = sorted(set(zip(trends["mag_low"], trends["mag_high"]))) if split else [None]
    styles = ["-", "--", ":", "-."]
    for gi, group in enumerate(groups):
        sel = np.ones(len(trends), bool) if group is None else (
            (trends["mag_low"] == group[0]) & (trends["mag_high"] == group[1]))
        for ai, a in enumerate(answers):
            label = schema.ANSWERS[schema.column_index(a)].label
            if group is not None:
                label += f" ({group[0]:.1f} <= M < {group[1]:.1f})"
            ax.errorbar(trends["z_mean"][sel], trends[a][sel], yerr=trends[f"{a}_err"][sel],
                        ls=styles[gi % len(styles)], marker="o", ms=3, color=f"C{ai}",
                        label=label)
    ax.axvline(Z_SPLIT, color="0.6", lw=0.8, ls=":")
    ax.set_xlabel("redshift z")
    ax.set_ylabel("mean weighted vote fraction")
    ax.legend(fontsize="small")
    save_figure(ax.figure, filename)
    return ax
