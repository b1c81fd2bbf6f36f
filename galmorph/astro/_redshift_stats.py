"""The binning and fitting behind :mod:`galmorph.astro.redshift`.

A table's columns read as floats, equal-count bin edges, one row of the trends
table (bin means with bootstrap errors), and the two summaries
:func:`~galmorph.astro.redshift.redshift_bias_flags` draws from a trends table:
the count-weighted mean over bins and the error-weighted slope against z.
"""
from __future__ import annotations

import numpy as np

from galmorph._util._stats import bootstrap_mean_err
from galmorph.errors import DataError

__all__ = ["numeric_column", "bin_edges", "trend_row_names", "trend_row", "weighted_mean",
           "fit_slope"]


def numeric_column(table, name, what):
    """Column ``name`` as float64, masked -> NaN; a :class:`DataError` naming it otherwise."""
    if name not in table.colnames:
        more = " ..." if len(table.colnames) > 12 else ""
        raise DataError(f"table has no {what} column {name!r} (columns: "
                        f"{', '.join(table.colnames[:12])}{more})")
    try:
        return np.asarray(np.ma.filled(table[name], np.nan), dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise DataError(f"{what} column {name!r} holds values that are not numbers ({err}); "
                        f"give numbers, NaN or masked where unknown") from None


def bin_edges(values, bins, n_default=8):
    """Edges as given, or ``bins`` (default ``n_default``) equal-count bins of >= 5 values."""
    finite = values[np.isfinite(values)]
    if bins is None or isinstance(bins, (int, np.integer)):
        n = n_default if bins is None else int(bins)
        n = max(1, min(n, finite.size // 5 or 1))
        edges = np.unique(np.quantile(finite, np.linspace(0, 1, n + 1))) if finite.size else \
            np.array([0.0, 1.0])
        return edges if edges.size > 1 else np.array([edges[0], edges[0] + 1e-9])
    return np.asarray(bins, dtype=np.float64)


def trend_row_names(names, has_mag, split):
    """The column names of :func:`trend_row`'s rows."""
    cols = ["z_low", "z_high", "z_mean", "n"]
    for n in names:
        cols += [n, f"{n}_err"]
    if has_mag:
        cols.append("abs_mag_mean")
    if split:
        cols += ["mag_low", "mag_high"]
    return cols


def trend_row(z, values, absmag, lo, hi, m_lo, m_hi, n_boot, rng):
    """One bin: edges, mean z, count, mean and bootstrap error per answer (NaN when empty)."""
    n = len(z)
    row = [float(lo), float(hi), float(z.mean()) if n else np.nan, n]
    if n:
        means = values.mean(axis=0)
        errs = bootstrap_mean_err(values, n_boot, rng)
    else:
        means = errs = np.full(values.shape[1], np.nan)
    for m, e in zip(means, errs):
        row += [float(m), float(e)]
    if absmag is not None:
        row.append(float(np.nanmean(absmag)) if n and np.isfinite(absmag).any() else np.nan)
    if np.isfinite(m_lo):
        row += [float(m_lo), float(m_hi)]
    return tuple(row)


def weighted_mean(trends, col, sel):
    """Mean of ``col`` over the selected bins, each weighted by its count ``n``."""
    n = np.asarray(trends["n"], float)[sel]
    v = np.asarray(trends[col], float)[sel]
    ok = np.isfinite(v) & (n > 0)
    return float(np.sum(v[ok] * n[ok]) / np.sum(n[ok])) if ok.any() else float("nan")


def fit_slope(trends, col):
    """Slope of ``col`` against ``z_mean`` and its error; NaN with fewer than two bins."""
    # Weighted least squares of the bin means on z_mean; error from the bootstrap errors.
    x = np.asarray(trends["z_mean"], float)
    y = np.asarray(trends[col], float)
    e = np.asarray(trends[f"{col}_err"], float)
    ok = np.isfinite(x) & np.isfinite(y) & (np.asarray(trends["n"]) > 1)
    if ok.sum() < 2 or np.ptp(x[ok]) == 0:
        return float("nan"), float("nan")
    w = 1.0 / np.maximum(e[ok], 1e-4) ** 2
    xm = np.sum(w * x[ok]) / w.sum()
    sxx = np.sum(w * (x[ok] - xm) ** 2)
    slope = np.sum(w * (x[ok] - xm) * y[ok]) / sxx
    return float(slope), float(np.sqrt(1.0 / sxx))
