"""Merger flags, merger fractions and the angular-separation bias of the merger vote.

The merger answer of Galaxy Zoo 2 is ``Class8.6`` in the Kaggle encoding
(Q8 "Is the odd feature ...?" -> merger). It is a *weighted* fraction: the
share of all volunteers who said "odd" and then "merger", so a galaxy with
``Class8.6 >= 0.54`` has a majority merger vote among everyone who saw it.

A network trained on these votes inherits their biases. One of them depends on
the angular separation of a galaxy from its nearest projected neighbour: a
companion in the cutout raises the merger vote whether or not the two
interact. :func:`separation_bias` measures that relation from the columns
written by :func:`galmorph.astro.separation.measure_separations` (or by
``MorphologyClassifier.predict(..., separations=True)``), and
:func:`galmorph.astro.merger_threshold.propose_merger_threshold` turns it into a
threshold.

Examples
--------
>>> from galmorph.astro.mergers import merger_fraction
>>> result = classifier.predict(table)                       # doctest: +SKIP
>>> frac, (low, high) = merger_fraction(result, seed=1)       # doctest: +SKIP
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.table import Table

from galmorph import schema
from galmorph._stats import bootstrap_mean_err, in_bin
from galmorph.errors import DataError

__all__ = ["DEFAULT_THRESHOLD", "MERGER_COLUMN", "SCAN_THRESHOLDS", "MergerFraction",
           "merger_probability", "merger_flags", "merger_fraction", "merger_threshold_scan",
           "separation_values", "separation_bias"]

#: The merger threshold on ``Class8.6`` picked by eye in the paper.
DEFAULT_THRESHOLD = schema.PAPER_MERGER_THRESHOLD
#: The GZ2 answer whose vote fraction is the merger probability ("Is the odd feature a merger?").
MERGER_COLUMN = schema.MERGER_COLUMN
#: The thresholds a scan tries when none are given: 0.05 to 0.95 in steps of 0.05.
SCAN_THRESHOLDS = np.round(np.arange(0.05, 0.96, 0.05), 2)


def merger_probability(data, column=MERGER_COLUMN):
    """The merger vote fraction of each row as a float array.

    Parameters
    ----------
    data : astropy.table.Table, numpy.ndarray or sequence
        A table holding ``column`` (or ``p_merger``), an ``(N, 37)`` array of
        Kaggle fractions, or a 1-D array of merger probabilities.
    column : str
        Column to read from a table; any name :func:`galmorph.schema.column_index`
        accepts selects the column of an ``(N, 37)`` array.

    Returns
    -------
    numpy.ndarray of float64, shape (N,)
    """
    if hasattr(data, "colnames"):
        name = column if column in data.colnames else None
        if name is None and column == MERGER_COLUMN and "p_merger" in data.colnames:
            name = "p_merger"
        if name is None:
            raise DataError(f"table has no column {column!r} (columns: "
                            f"{', '.join(data.colnames[:12])}); pass column= to name the "
                            f"merger probability, or classify the table first")
        return np.asarray(np.ma.filled(data[name], np.nan), dtype=np.float64)
    arr = np.asarray(data, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[1] == schema.N_ANSWERS:
        return arr[:, schema.column_index(column)]
    if arr.ndim == 1:
        return arr
    raise DataError(f"expected a table, an (N, {schema.N_ANSWERS}) array of Kaggle fractions "
                    f"or a 1-D array of merger probabilities, got shape {arr.shape}")


def merger_flags(data, threshold=DEFAULT_THRESHOLD, column=MERGER_COLUMN):
    """Boolean merger flags: ``p_merger >= threshold``.

    Rows whose probability is NaN (failed predictions) are never flagged.

    Parameters
    ----------
    data : Table, array (N, 37) or array (N,)
        See :func:`merger_probability`.
    threshold : float
        Merger threshold on the weighted ``Class8.6`` fraction; 0.54 as in the paper.

    Returns
    -------
    numpy.ndarray of bool, shape (N,)
    """
    p = merger_probability(data, column)
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(p, nan=-1.0) >= threshold


@dataclass
class MergerFraction:
    """A merger fraction with its bootstrap confidence interval.

    Unpacks as ``fraction, (low, high)``.
    """

    fraction: float
    low: float
    high: float
    n: int
    n_merger: int
    threshold: float
    confidence: float

    def __iter__(self):
        yield self.fraction
        yield (self.low, self.high)

    def __str__(self):
        return (f"merger fraction {self.fraction:.4f} [{self.low:.4f}, {self.high:.4f}] "
                f"({100 * self.confidence:.0f}% bootstrap interval; {self.n_merger} of "
                f"{self.n} galaxies with p_merger >= {self.threshold:g})")


def _bootstrap_fraction(k, n, n_boot, confidence, rng):
    # Resampling n Bernoulli flags with replacement gives Binomial(n, k/n)
    # merger counts, so the bootstrap needs no (n_boot, n) index array.
    if n == 0:
        return np.nan, np.nan, np.nan
    frac = k / n
    if not n_boot:
        return frac, np.nan, np.nan
    draws = rng.binomial(n, frac, size=n_boot) / n
    tail = 50 * (1 - confidence)
    low, high = np.percentile(draws, [tail, 100 - tail])
    return frac, float(low), float(high)


def merger_fraction(data, threshold=DEFAULT_THRESHOLD, column=MERGER_COLUMN, n_boot=1000,
                    confidence=0.68, seed=None):
    """Fraction of galaxies flagged as mergers, with a bootstrap interval.

    Parameters
    ----------
    data : Table, array (N, 37) or array (N,)
        Predictions (see :func:`merger_probability`). Rows with NaN
        probability (failed predictions) are left out of numerator and
        denominator.
    threshold : float
        ``p_merger >= threshold`` flags a merger.
    n_boot : int
        Number of bootstrap resamples.
    confidence : float
        Central probability of the percentile interval (0.68 ~ 1 sigma).
    seed : int or None
        Seed of a local random generator.

    Returns
    -------
    MergerFraction
        Unpacks as ``fraction, (low, high)``.

    Examples
    --------
    >>> import numpy as np
    >>> f, (lo, hi) = merger_fraction(np.array([0.9, 0.1, 0.2, 0.6]), seed=0)
    >>> f
    0.5
    """
    p = merger_probability(data, column)
    ok = np.isfinite(p)
    n, k = int(ok.sum()), int((p[ok] >= threshold).sum())
    rng = np.random.default_rng(seed)
    frac, low, high = _bootstrap_fraction(k, n, n_boot, confidence, rng)
    return MergerFraction(float(frac), low, high, n, k, float(threshold), float(confidence))


def merger_threshold_scan(data, thresholds=None, column=MERGER_COLUMN, n_boot=1000, confidence=0.68,
                          seed=None):
    """Merger fraction as a function of the threshold.

    Parameters
    ----------
    data : Table, array (N, 37) or array (N,)
        Predictions, see :func:`merger_probability`.
    thresholds : array-like, optional
        Thresholds to scan; default 0.05, 0.10, ..., 0.95.

    Returns
    -------
    astropy.table.Table
        Columns ``threshold``, ``n_merger``, ``n``, ``fraction``, ``fraction_low``,
        ``fraction_high`` (bootstrap interval at ``confidence``).
    """
    p = merger_probability(data, column)
    p = p[np.isfinite(p)]
    thresholds = SCAN_THRESHOLDS if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    rng = np.random.default_rng(seed)
    rows = []
    for t in thresholds:
        k = int((p >= t).sum())
        rows.append((float(t), k, len(p), *_bootstrap_fraction(k, len(p), n_boot, confidence,
                                                                 rng)))
    out = Table(rows=rows, names=("threshold", "n_merger", "n", "fraction", "fraction_low",
                                  "fraction_high"),
                dtype=(float, int, int, float, float, float))
    out.meta.update(column=column, confidence=confidence, n_boot=n_boot)
    return out


# ---------------------------------------------------------------------------
# Angular-separation bias
# ---------------------------------------------------------------------------

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
    threshold : float
        Merger threshold for the ``merger_fraction`` columns.
    n_boot, confidence, seed
        Bootstrap settings (percentile interval).

    Returns
    -------
    astropy.table.Table
        One row per separation bin, plus a last row (``sep_low = inf``) for
        galaxies with no neighbour detected in the cutout: ``sep_low``,
        ``sep_high``, ``sep_mean``, ``n``, ``mean_p_merger``, ``mean_p_merger_err``
        (bootstrap standard deviation), ``merger_fraction`` and its
        ``merger_fraction_low`` / ``merger_fraction_high`` interval.
    """
    p = merger_probability(table, column)
    sep = separation_values(table, separation_column)
    ok = np.isfinite(p) & ~np.isnan(sep)
    p, sep = p[ok], sep[ok]
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
            frac, flo, fhi = _bootstrap_fraction(k, n, n_boot, confidence, rng)
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
                    confidence=confidence, n_boot=n_boot,
                    note="last row (sep_low = inf): no neighbour detected in the cutout")
    return out
