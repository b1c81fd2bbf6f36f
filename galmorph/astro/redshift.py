"""Redshift-bias diagnostics of morphological classifications.

Morphology measured from images depends on redshift even where the galaxy
population does not: at larger distance spiral arms and bars are harder to
see, so the *features or disk* fraction (``Class1.2``) falls with z and the
*smooth* fraction (``Class1.1``) rises. A flux-limited sample adds a second
effect: beyond z ~ 0.085 only luminous galaxies remain, and those are mostly
bright ellipticals (Willett et al. 2013, Sect. 3; Hart et al. 2016). Both
biases are inherited by any network trained on the votes.

:func:`redshift_trends` bins the predicted fractions in redshift (optionally
also in absolute magnitude), :func:`redshift_bias_flags` flags the two
effects, :func:`summarize_redshift_trends` packs them into a JSON-able dict
for ``Table.meta`` and :func:`plot_redshift_trends` draws the trends.
:func:`catalog_redshift_trends` is the one computation of both that the
classifier's ``meta["redshift_trends"]`` and the catalogue report show, so
that the two agree on the same rows.

:func:`record_redshift_trends` is the form the classifier runs after the last
row is classified: it never raises. An end-of-run diagnostic that fails (a
redshift column of text, a cosmology that cannot compute distances) is
recorded by :func:`record_diagnostics_error` in ``meta["diagnostics_error"]``
with one :class:`DiagnosticsWarning`, and the predictions are returned.

Absolute magnitudes are ``M = m - DM(z)`` with the distance modulus of the
chosen cosmology (default Planck18) and **no K-correction**: at z < 0.25 in
the r band the K-correction is below ~0.3 mag, small next to the range of
luminosities binned here, but do not use these magnitudes for photometry.
"""
from __future__ import annotations

import json
import warnings

import numpy as np
from astropy.table import Table

from galmorph import schema
from galmorph._util._stats import in_bin
from galmorph._util._jsonable import jsonable
from galmorph._util._tables import find_column
from galmorph._util._warnings import caller_stacklevel
from galmorph.astro._redshift_stats import (bin_edges, fit_slope, numeric_column, trend_row,
                                            trend_row_names, weighted_mean)
from galmorph.errors import DataError

__all__ = ["Z_SPLIT", "TREND_ANSWERS", "MAG_NAMES", "absolute_magnitude", "redshift_trends",
           "redshift_bias_flags", "summarize_redshift_trends", "catalog_redshift_trends",
           "CATALOG_N_BOOT", "DiagnosticsWarning", "record_diagnostics_error",
           "record_redshift_trends"]

#: Redshift above which the GZ2 sample is dominated by bright ellipticals.
Z_SPLIT = 0.085
#: The answers whose trends :func:`redshift_trends` bins by default: smooth, featured, merger.
TREND_ANSWERS = ("Class1.1", "Class1.2", schema.MERGER_COLUMN)
#: Bootstrap resamples of :func:`catalog_redshift_trends` (classify's meta and the report).
CATALOG_N_BOOT = 200
_Z_NAMES = ("z", "redshift", "zspec", "z_spec", "specz")
MAG_NAMES = ("petroMag_r", "petromag_r", "mag_r", "r_mag", "rmag", "modelMag_r",
              "cmodelMag_r", "PETROMAG_R")


def absolute_magnitude(mag, z, cosmology=None):
    """Absolute magnitude from apparent magnitude and redshift, without K-correction.

    Parameters
    ----------
    mag : array-like
        Apparent magnitudes (e.g. SDSS ``petroMag_r``).
    z : array-like
        Redshifts (> 0; others give NaN).
    cosmology : astropy.cosmology.Cosmology, optional
        Default Planck18.

    Returns
    -------
    numpy.ndarray
        ``mag - cosmology.distmod(z)``.
    """
    if cosmology is None:
        from astropy.cosmology import Planck18 as cosmology
    mag = np.asarray(mag, dtype=np.float64)
    z = np.asarray(z, dtype=np.float64)
    out = np.full(np.broadcast(mag, z).shape, np.nan)
    good = np.isfinite(z) & (z > 0) & np.isfinite(mag)
    if good.any():
        out[good] = mag[good] - cosmology.distmod(z[good]).value
    return out


def redshift_trends(table, answers=TREND_ANSWERS, bins=None, z_column="z",
                    abs_mag_bins=None, mag_column=None, n_boot=200, seed=None, cosmology=None):
    """Binned mean vote fractions against redshift, with bootstrap errors.

    Parameters
    ----------
    table : astropy.table.Table
        Predictions (the 37 Kaggle columns) with a redshift column.
    answers : sequence of str
        Answers to trace (Kaggle columns or labels such as ``"merger"``);
        default smooth, features or disk, merger.
    bins : int or array-like, optional
        Redshift bin edges, or a number of equal-count bins (default 8, fewer
        for small tables so that a bin holds at least 5 galaxies).
    z_column : str
        Redshift column; ``"z"`` also finds ``redshift`` if ``z`` is absent.
    abs_mag_bins : int or array-like, optional
        Also split by absolute magnitude (edges, or a number of equal-count
        bins), computed from ``mag_column`` and z without K-correction.
    mag_column : str, optional
        Apparent magnitude column; default the first of ``petroMag_r``,
        ``mag_r``, ``r_mag``, ... present. With it every bin also reports the
        mean absolute magnitude ``abs_mag_mean``.
    n_boot : int
        Bootstrap resamples for the errors (standard deviation of the bin mean).
    seed : int or None
        Seed of a local random generator.

    Returns
    -------
    astropy.table.Table
        One row per (magnitude bin, redshift bin): ``z_low``, ``z_high``,
        ``z_mean``, ``n``, for each answer its mean (column named as the
        answer, e.g. ``Class1.2``) and ``<answer>_err``; with magnitudes
        ``abs_mag_mean`` and, when split, ``mag_low`` / ``mag_high``.
        Rows with NaN fractions (failed predictions) or NaN z are left out.
    """
    if z_column == "z" and z_column not in table.colnames:
        z_column = find_column(table, _Z_NAMES) or z_column  # Z, redshift, ...
    z = numeric_column(table, z_column, "redshift")
    names = [schema.KAGGLE_COLUMNS[schema.column_index(a)] for a in answers]
    values = np.column_stack([numeric_column(table, n, "answer") for n in names])  # (N, A)
    if mag_column is None:
        mag_column = find_column(table, MAG_NAMES)
    absmag = None
    if mag_column is not None:
        absmag = absolute_magnitude(numeric_column(table, mag_column, "magnitude"), z, cosmology)
    elif abs_mag_bins is not None:
        raise DataError("abs_mag_bins needs apparent magnitudes: pass mag_column= naming one "
                        f"(none of {', '.join(MAG_NAMES[:4])} ... found)")
    ok = np.isfinite(z) & np.all(np.isfinite(values), axis=1)
    if not ok.any():
        raise DataError(f"no row has both a finite redshift ({z_column!r}) and finite fractions")
    z, values = z[ok], values[ok]
    absmag = None if absmag is None else absmag[ok]
    z_edges = bin_edges(z, bins)
    mag_groups = [(np.nan, np.nan, np.ones(z.size, bool))]
    if abs_mag_bins is not None:
        m_edges = bin_edges(absmag, abs_mag_bins, 3)
        mag_groups = [(lo, hi, in_bin(absmag, lo, hi, hi == m_edges[-1]))
                      for lo, hi in zip(m_edges[:-1], m_edges[1:])]
    rng = np.random.default_rng(seed)
    rows = []
    for m_lo, m_hi, m_sel in mag_groups:
        for lo, hi in zip(z_edges[:-1], z_edges[1:]):
            sel = m_sel & in_bin(z, lo, hi, hi == z_edges[-1])
            rows.append(trend_row(z[sel], values[sel], None if absmag is None else absmag[sel],
                                  lo, hi, m_lo, m_hi, n_boot, rng))
    columns = trend_row_names(names, absmag is not None, abs_mag_bins is not None)
    out = Table(rows=rows, names=columns if rows else None)
    out.meta.update(z_column=z_column, answers=names, mag_column=mag_column,
                    n_boot=n_boot, k_correction="none")
    for n in names:
        out[n].description = "mean " + schema.describe_column(n)
    return out


def redshift_bias_flags(trends, z_split=Z_SPLIT, min_significance=2.0, min_mag_offset=0.5):
    """Flag the redshift biases the paper describes.

    Parameters
    ----------
    trends : astropy.table.Table
        Output of :func:`redshift_trends` with ``Class1.1`` and ``Class1.2``.
    z_split : float
        Boundary of the high-z regime (0.085).
    min_significance : float
        A slope counts when it differs from zero by this many standard errors.
    min_mag_offset : float
        High-z galaxies count as more luminous when their mean absolute
        magnitude is brighter by at least this many magnitudes.

    Returns
    -------
    dict (JSON-able)
        ``features_decline`` (the Class1.2 slope against z is negative and
        significant), ``features_slope`` and ``features_slope_err``,
        ``smooth_low_z`` / ``smooth_high_z`` (mean Class1.1 below and above
        ``z_split``), ``smooth_rises``, ``abs_mag_low_z`` / ``abs_mag_high_z``
        and ``high_z_brighter`` (None without magnitudes),
        ``high_z_bright_ellipticals`` (smooth-dominated *and* brighter at high
        z; None without magnitudes) and ``messages`` in words.
    """
    for col in ("Class1.1", "Class1.2"):
        if col not in trends.colnames:
            raise DataError(f"trends table lacks {col!r}; call redshift_trends with "
                            f"answers including 'Class1.1' and 'Class1.2'")
    slope, err = fit_slope(trends, "Class1.2")
    high = np.asarray(trends["z_mean"], float) > z_split
    smooth_lo = weighted_mean(trends, "Class1.1", ~high)
    smooth_hi = weighted_mean(trends, "Class1.1", high)
    flags = {
        "z_split": z_split,
        "features_slope": slope, "features_slope_err": err,
        "features_decline": bool(np.isfinite(slope) and slope < -min_significance * err),
        "smooth_low_z": smooth_lo, "smooth_high_z": smooth_hi,
        "smooth_rises": bool(np.isfinite(smooth_hi) and np.isfinite(smooth_lo)
                             and smooth_hi > smooth_lo),
        "abs_mag_low_z": None, "abs_mag_high_z": None,
        "high_z_brighter": None, "high_z_bright_ellipticals": None,
    }
    msgs = []
    if flags["features_decline"]:
        msgs.append(f"features/disk fraction falls with redshift (slope {slope:.2f} +- {err:.2f} "
                    f"per unit z)")
    if "abs_mag_mean" in trends.colnames:
        m_lo = weighted_mean(trends, "abs_mag_mean", ~high)
        m_hi = weighted_mean(trends, "abs_mag_mean", high)
        brighter = bool(np.isfinite(m_lo) and np.isfinite(m_hi) and m_lo - m_hi >= min_mag_offset)
        flags.update(abs_mag_low_z=m_lo, abs_mag_high_z=m_hi, high_z_brighter=brighter,
                     high_z_bright_ellipticals=bool(brighter and flags["smooth_rises"]
                                                    and smooth_hi > 0.5))
        if flags["high_z_bright_ellipticals"]:
            msgs.append(f"z > {z_split:g} is dominated by bright ellipticals (smooth fraction "
                        f"{smooth_hi:.2f} vs {smooth_lo:.2f}; mean M {m_hi:.2f} vs {m_lo:.2f})")
    elif flags["smooth_rises"]:
        msgs.append(f"smooth fraction is higher at z > {z_split:g} ({smooth_hi:.2f} vs "
                    f"{smooth_lo:.2f}); give magnitudes to test the luminosity bias")
    flags["messages"] = msgs
    return jsonable(flags)


def summarize_redshift_trends(table, **kwargs):
    """A JSON-able summary of :func:`redshift_trends` and :func:`redshift_bias_flags`.

    Parameters
    ----------
    table : astropy.table.Table
        Predictions with a redshift column.
    **kwargs
        Passed to :func:`redshift_trends`.

    Returns
    -------
    dict
        ``z_edges``, ``n`` per bin, ``z_mean``, ``means`` (answer -> list),
        ``errors``, ``flags``, and the bootstrap's ``n_boot`` and ``seed``; NaN
        becomes None so ``json.dumps`` works.
    """
    kwargs.setdefault("answers", TREND_ANSWERS)
    trends = redshift_trends(table, **kwargs)
    flags = (redshift_bias_flags(trends)
             if {"Class1.1", "Class1.2"} <= set(trends.meta["answers"]) else None)
    return _summary(trends, flags, kwargs.get("seed"))


def _summary(trends, flags, seed):
    answers = trends.meta["answers"]
    summary = {
        "z_column": trends.meta["z_column"],
        "z_edges": list(np.unique(np.concatenate([trends["z_low"], trends["z_high"]]))),
        "n": list(trends["n"]),
        "z_mean": list(trends["z_mean"]),
        "means": {a: list(trends[a]) for a in answers},
        "errors": {a: list(trends[f"{a}_err"]) for a in answers},
        "flags": flags,
        "n_boot": trends.meta["n_boot"], "seed": seed,
    }
    summary = jsonable(summary)
    json.dumps(summary)  # fail here, not when the table is written
    return summary


def catalog_redshift_trends(table, z=None, *, seed=0, n_boot=CATALOG_N_BOOT, cosmology=None):
    """The redshift trends and bias flags of a classified catalogue, computed one way.

    The one computation behind the classifier's ``meta["redshift_trends"]``
    (``galmorph classify``) and the redshift section of the catalogue report
    (``galmorph report``): the same rows and seed give the same numbers in both.
    Rows with NaN fractions (failed predictions) or NaN z are left out, so
    passing the failed rows too changes nothing.

    Parameters
    ----------
    table : astropy.table.Table
        Predictions: the 37 Kaggle columns; a :data:`MAG_NAMES` column is used
        for absolute magnitudes.
    z : array-like, optional
        Redshift per row; default the table's ``z`` (or ``redshift``, ``zspec``,
        ...) column.
    seed : int or None
        Seed of the bootstrap errors, which weight the features/disk slope.
    n_boot : int
        Bootstrap resamples (default :data:`CATALOG_N_BOOT`).
    cosmology : astropy.cosmology.Cosmology, optional
        For the absolute magnitudes (default Planck18).

    Returns
    -------
    trends : astropy.table.Table
        :func:`redshift_trends` of smooth, features or disk and merger, with
        ``meta["seed"]``.
    flags : dict
        :func:`redshift_bias_flags` of ``trends``.

    Raises
    ------
    DataError
        No redshift column, redshifts that are not numbers, or no row with both
        a finite redshift and finite fractions.
    """
    z_column = "z"
    if z is None:
        z_column = find_column(table, _Z_NAMES)
        if z_column is None:
            raise DataError(f"the table has no redshift column (none of {', '.join(_Z_NAMES)})")
        z = table[z_column]
    data = Table({z_column: z, **{c: table[c] for c in schema.KAGGLE_COLUMNS}})
    mag = find_column(table, MAG_NAMES)
    if mag is not None:
        data[mag] = table[mag]
    trends = redshift_trends(data, z_column=z_column, n_boot=n_boot, seed=seed,
                             cosmology=cosmology)
    trends.meta["seed"] = seed
    return trends, redshift_bias_flags(trends)


class DiagnosticsWarning(UserWarning):
    """An optional end-of-run diagnostic failed; the predictions made are kept."""


def record_diagnostics_error(table, step, error):
    """Record in ``table.meta["diagnostics_error"]`` that ``step`` failed with ``error``.

    The first record on a table issues one :class:`DiagnosticsWarning`; later
    ones are appended (``"; "``-separated) without warning again.

    Parameters
    ----------
    table : astropy.table.Table
        The predictions; only ``table.meta`` is changed.
    step : str
        Name of the diagnostic that failed, e.g. ``"redshift_trends"``.
    error : BaseException or str
        The failure; an exception is recorded as ``"TypeName: message"``.
    """
    if isinstance(error, BaseException):
        error = f"{type(error).__name__}: {error}"
    message = f"{step}: {error}"
    previous = table.meta.get("diagnostics_error")
    table.meta["diagnostics_error"] = f"{previous}; {message}" if previous else message
    if not previous:
        warnings.warn(f"{message}. {_predictions_kept(table)}; this diagnostic is left out "
                      f"(see meta['diagnostics_error'])", DiagnosticsWarning,
                      stacklevel=caller_stacklevel())


def _predictions_kept(table):
    """What became of the predictions, in words, for the warning of a failed diagnostic."""
    if "predict_ok" not in table.colnames:
        return "The predictions are complete"
    n = len(table)
    n_ok = int(np.count_nonzero(np.asarray(table["predict_ok"], dtype=bool)))
    if n_ok == 0:
        return (f"No predictions were made: none of the {n} rows could be classified (see "
                f"predict_error)")
    if n_ok < n:
        return f"The predictions of the {n_ok} of {n} rows that could be classified are kept"
    return "The predictions are complete"


def record_redshift_trends(table, z, *, cosmology=None, n_boot=CATALOG_N_BOOT, seed=0):
    """Put the summary of :func:`catalog_redshift_trends` into ``table.meta``; never raises.

    Parameters
    ----------
    table : astropy.table.Table
        Predictions (the 37 Kaggle columns; a :data:`MAG_NAMES` column is used).
    z : array-like
        Redshift per row.
    cosmology, n_boot, seed
        Passed to :func:`catalog_redshift_trends`: the catalogue report computes
        the same numbers from the same rows with the same seed.

    Returns
    -------
    dict or None
        The summary (as :func:`summarize_redshift_trends` makes it), also in
        ``table.meta["redshift_trends"]``; None where any
        ``Exception`` was raised, recorded by :func:`record_diagnostics_error`.
    """
    try:
        trends, flags = catalog_redshift_trends(table, z, seed=seed, n_boot=n_boot,
                                                cosmology=cosmology)
        summary = _summary(trends, flags, seed)
    except Exception as err:  # noqa: BLE001 -- see Returns
        record_diagnostics_error(table, "redshift_trends", err)
        return None
    table.meta["redshift_trends"] = summary
    return summary
