"""The angular-separation bias of the merger vote.

A network trained on the Galaxy Zoo 2 votes inherits their biases. One of them
depends on the angular separation of a galaxy from its nearest projected
neighbour: a companion in the cutout raises the merger vote whether or not the
two interact. :func:`separation_bias` measures that relation from the columns
written by :func:`galmorph.astro.separation.measure_separations` (or by
``MorphologyClassifier.predict(..., separations=True)``), and
:func:`galmorph.astro.merger_threshold.propose_merger_threshold` turns it into a
threshold. Both names are also importable from :mod:`galmorph.astro.mergers`.

Examples
--------
>>> from galmorph.astro.merger_separation import separation_bias
>>> result = classifier.predict(table, separations=True)     # doctest: +SKIP
>>> bias = separation_bias(result, seed=0)                   # doctest: +SKIP
"""
from __future__ import annotations

import numpy as np
from astropy.table import Table

from galmorph._util._stats import bootstrap_mean_err, in_bin, jeffreys_interval
from galmorph._util._text import count
from galmorph.astro._merger_votes import (DEFAULT_THRESHOLD, MERGER_COLUMN, MIN_SAMPLE,
                                          merger_probability, warn_small)
from galmorph.errors import DataError

__all__ = ["separation_values", "separation_bias"]


def separation_values(table, column):
    """The separation column of ``table`` as float64, NaN where it was not measured.

    Parameters
    ----------
    table : `~astropy.table.Table`
        A table with a separation column, as written by
        :func:`galmorph.astro.separation.measure_separations`.
    column : str
        The column's name, for example ``"sep_r90"``.

    Returns
    -------
    `numpy.ndarray`
        NaN where the row failed, inf where the cutout showed no neighbour.

    Raises
    ------
    galmorph.errors.DataError
        If ``table`` has no such column; the message says how to measure it.
    """
    if column not in table.colnames:
        raise DataError(f"table has no separation column {column!r}; measure separations "
                        f"first with MorphologyClassifier.predict(..., separations=True) or "
                        f"galmorph.astro.separation.measure_separations")
    # NaN = not measured (failed row); inf = no neighbour detected in the cutout.
    return np.asarray(np.ma.filled(table[column], np.nan), dtype=np.float64)


def _default_edges(sep, column):
    finite = sep[np.isfinite(sep)]
    if column == "sep_r90":
        # The 424 px GZ2 cutout spans +-4.24 petroR90 (0.02 petroR90/px), 6.0 to a corner.
        return np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 6.0])
    if finite.size == 0:
        return np.array([0.0, 1.0])
    return np.unique(np.quantile(finite, np.linspace(0, 1, 7)))


def separation_bias(table, bins=None, separation_column="sep_r90", column=MERGER_COLUMN,
                    threshold=DEFAULT_THRESHOLD, n_boot=500, confidence=0.68, seed=None):
    """How the merger probability depends on the separation to the nearest neighbour.

    Parameters
    ----------
    table : astropy.table.Table
        Predictions with ``Class8.6`` (or ``p_merger``) and a separation column
        (``sep_r90`` in petroR90_r units, ``sep_px``, ``sep_arcsec`` or
        ``sep_kpc``), as written by ``predict(..., separations=True)``.
    bins : int or array-like, optional
        Bin edges in the separation column's unit, or a number of equal-count
        bins. Default: 0, 0.5, 1, 1.5, 2, 3, 6 petroR90 for ``sep_r90`` (6 is
        the corner of a GZ2 cutout), six equal-count bins otherwise. Finite
        separations outside the edges are counted in ``meta["n_outside"]``.
    separation_column : str
        The separation column to bin, read by :func:`separation_values`.
    column : str
        The merger vote fraction (default ``Class8.6``, else ``p_merger``), read by
        :func:`~galmorph.astro.mergers.merger_probability`.
    threshold : float
        Merger threshold for the ``merger_fraction`` columns (inclusive).
    n_boot, seed
        Bootstrap of ``mean_p_merger_err``.
    confidence : float
        Central probability of the ``merger_fraction`` interval.

    Returns
    -------
    astropy.table.Table
        One row per separation bin, plus a last row (``sep_low = inf``) for
        galaxies with no neighbour detected in the cutout: ``sep_low``,
        ``sep_high``, ``sep_mean``, ``n``, ``mean_p_merger``, ``mean_p_merger_err``
        (bootstrap standard deviation), ``merger_fraction`` and its
        ``merger_fraction_low`` / ``merger_fraction_high`` interval (Jeffreys, as
        :func:`~galmorph.astro.mergers.merger_fraction` with ``method="rule"``).

    Warns
    -----
    galmorph.astro.mergers.SmallSampleWarning
        When fewer than :data:`~galmorph.astro.mergers.MIN_SAMPLE` (500) galaxies have
        both a merger probability and a measured separation; the message names the count.
    """
    p = merger_probability(table, column)
    sep = separation_values(table, separation_column)
    ok = np.isfinite(p) & ~np.isnan(sep)
    p, sep = p[ok], sep[ok]
    if p.size < MIN_SAMPLE:
        warn_small(f"separation_bias: only {count(p.size, 'galaxy', 'galaxies')} with a merger "
                    f"probability and a measured {separation_column} (fewer than {MIN_SAMPLE}); "
                    f"the trend with separation is uncertain")
    if isinstance(bins, (int, np.integer)):
        finite = sep[np.isfinite(sep)]
        edges = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1))) if finite.size \
            else np.array([0.0, 1.0])
    else:
        edges = _default_edges(sep, separation_column) if bins is None else np.asarray(bins, float)
    rng = np.random.default_rng(seed)
    rows = []
    groups = [(lo, hi, in_bin(sep, lo, hi, hi == edges[-1]))
              for lo, hi in zip(edges[:-1], edges[1:])]
    groups.append((np.inf, np.inf, np.isinf(sep)))
    for lo, hi, sel in groups:
        pb = p[sel]
        n = len(pb)
        if n:
            err = bootstrap_mean_err(pb, n_boot, rng)
            k = int((pb >= threshold).sum())
            frac, (flo, fhi) = k / n, jeffreys_interval(k, n, confidence)
            sep_mean = float(np.mean(sep[sel])) if np.isfinite(lo) else np.inf
            rows.append((lo, hi, sep_mean, n, float(pb.mean()), float(err), frac, flo, fhi))
        else:
            rows.append((lo, hi, np.nan, 0, np.nan, np.nan, np.nan, np.nan, np.nan))
    out = Table(rows=rows, names=("sep_low", "sep_high", "sep_mean", "n", "mean_p_merger",
                                  "mean_p_merger_err", "merger_fraction", "merger_fraction_low",
                                  "merger_fraction_high"),
                dtype=(float, float, float, int, float, float, float, float, float))
    finite = sep[np.isfinite(sep)]
    out.meta["n_outside"] = int(((finite < edges[0]) | (finite > edges[-1])).sum())
    out.meta.update(separation_column=separation_column, threshold=threshold,
                    confidence=confidence, n_boot=n_boot, interval="jeffreys",
                    note="last row (sep_low = inf): no neighbour detected in the cutout")
    return out
