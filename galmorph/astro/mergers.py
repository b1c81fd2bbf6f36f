"""Merger flags, merger fractions and the angular-separation bias of the merger vote.

The merger answer of Galaxy Zoo 2 is ``Class8.6`` in the Kaggle encoding
(Q8 "Is the odd feature ...?" -> merger). It is a *weighted* fraction: the
share of all volunteers who said "odd" and then "merger", so a galaxy with
``Class8.6 >= 0.54`` has a majority merger vote among everyone who saw it.
That is the paper's rule; a network regresses ``Class8.6`` towards the mean and
rarely crosses 0.54, so counting the rule on predictions undercounts mergers.
Where the predictions carry ``merger_prob`` (the calibrated probability that
volunteers would give the galaxy ``Class8.6 >= 0.54``), :func:`merger_fraction`
estimates the fraction from it instead.

The angular-separation bias of the merger vote (:func:`separation_bias`,
:func:`separation_values`) lives in :mod:`galmorph.astro.merger_separation` and is
importable from here too; the threshold proposed from the data, in
:mod:`galmorph.astro.merger_threshold`.

Examples
--------
>>> from galmorph.astro.mergers import merger_fraction
>>> result = classifier.predict(table)                       # doctest: +SKIP
>>> frac, (low, high) = merger_fraction(result, seed=1)       # doctest: +SKIP
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from astropy.table import Table

from galmorph import schema
from galmorph._util._stats import (jeffreys_interval, prior_shift_interval,
                                   probability_sum_interval)
from galmorph._util._text import count
from galmorph.astro import _merger_votes
from galmorph.astro._merger_votes import SmallSampleWarning, merger_probability
from galmorph.astro._merger_votes import as_float as _as_float
from galmorph.astro.merger_separation import separation_bias, separation_values
from galmorph.errors import DataError, MissingColumnError, ParameterError
from galmorph.trust.merger_calibration import MERGER_PRIOR_META

__all__ = ["DEFAULT_THRESHOLD", "MERGER_COLUMN", "MERGER_PROB_COLUMN", "SCAN_THRESHOLDS",
           "MIN_SAMPLE", "MERGER_PRIOR_META", "SmallSampleWarning", "MergerFraction",
           "merger_probability",
           "merger_flags", "merger_fraction", "merger_threshold_scan", "separation_values",
           "separation_bias"]

#: The merger threshold on ``Class8.6`` picked by eye in the paper.
DEFAULT_THRESHOLD = schema.PAPER_MERGER_THRESHOLD
#: The GZ2 answer whose vote fraction is the merger probability ("Is the odd feature a merger?").
MERGER_COLUMN = schema.MERGER_COLUMN
#: The predictions' calibrated probability that volunteers give ``Class8.6 >= 0.54``.
MERGER_PROB_COLUMN = "merger_prob"
#: The thresholds a scan tries when none are given: 0.05 to 0.95 in steps of 0.05.
SCAN_THRESHOLDS = np.round(np.arange(0.05, 0.96, 0.05), 2)
#: Fewer usable galaxies than this make :func:`separation_bias` and
#: :func:`~galmorph.astro.merger_threshold.propose_merger_threshold` warn. At the GZ2
#: merger rate (about 3 % by the paper's rule) 500 galaxies hold some 15 mergers; fewer
#: leave a handful per threshold step or separation bin, with Poisson errors above 25 %.
MIN_SAMPLE = _merger_votes.MIN_SAMPLE


def merger_flags(data, threshold=DEFAULT_THRESHOLD, column=MERGER_COLUMN):
    """Merger flags ``p >= threshold``, masked where the probability is missing.

    Rows whose probability is NaN, infinite or masked (failed predictions) come
    back *masked*, not ``False``: a failed row is not a non-merger. Counting
    ``flags.sum()`` counts the flagged rows among those with a probability;
    ``flags.count()`` is the number of those rows.

    Parameters
    ----------
    data : Table, array (N, 37) or array (N,)
        See :func:`merger_probability`. A table's ``column`` (default ``Class8.6``,
        else ``p_merger``) is read; ``column="merger_prob"`` flags by the calibrated
        probability, and so does a 1-D array of such probabilities.
    threshold : float
        Threshold, inclusive; 0.54 on the weighted ``Class8.6`` fraction as in the paper.
    column : str
        Column to read, as in :func:`merger_probability`.

    Returns
    -------
    numpy.ma.MaskedArray of bool, shape (N,)
        ``True`` for a merger; the mask is set where the probability is not finite
        (the fill value is ``False``). Put in an astropy Table it becomes a
        ``MaskedColumn``.
    """
    p = merger_probability(data, column)
    ok = np.isfinite(p)
    flags = np.zeros(p.shape, dtype=bool)
    flags[ok] = p[ok] >= threshold
    return np.ma.MaskedArray(flags, mask=~ok, fill_value=False)


@dataclass
class MergerFraction:
    """A merger fraction with its confidence interval.

    Unpacks as ``fraction, (low, high)``.

    Attributes
    ----------
    fraction, low, high : float
        The estimate and its interval (NaN when no row has a probability).
    n : int
        Rows used: those with a finite probability.
    n_merger : int or float
        ``"rule"``: rows with ``p_merger >= threshold``. ``"prob"``: the expected
        number of mergers, the sum of ``merger_prob`` (a float). ``"prior-shift"``:
        the estimated fraction times ``n``.
    threshold : float or None
        The rule's threshold; None for ``"prob"``, which uses none.
    confidence : float
        Central probability of the interval.
    method : str
        ``"rule"`` (Jeffreys interval of the count), ``"prob"`` (bootstrap over
        galaxies and their Bernoulli flags) or ``"prior-shift"`` (the same bootstrap
        of the rate re-estimated for the sample); see :func:`merger_fraction`.
    n_skipped : int
        Rows left out because their probability was NaN or masked (failed predictions).
    """

    fraction: float
    low: float
    high: float
    n: int
    n_merger: float
    threshold: Optional[float]
    confidence: float
    method: str = "rule"
    n_skipped: int = 0

    def __iter__(self):
        yield self.fraction
        yield (self.low, self.high)

    def __str__(self):
        level = f"{100 * self.confidence:.0f}%"
        if self.method == "prior-shift":
            what = (f"{MERGER_PROB_COLUMN} of {count(self.n, 'galaxy', 'galaxies')} re-estimated "
                    f"for the sample's own merger rate (label shift); {level} bootstrap "
                    f"interval")
        elif self.method == "prob":
            what = (f"mean {MERGER_PROB_COLUMN} of {count(self.n, 'galaxy', 'galaxies')}, "
                    f"{self.n_merger:.3g} expected mergers; {level} bootstrap interval over "
                    f"galaxies and their Bernoulli({MERGER_PROB_COLUMN}) flags")
        else:
            what = (f"paper rule: {self.n_merger} of {self.n} galaxies with p_merger >= "
                    f"{self.threshold:g}; {level} Jeffreys interval")
        return (f"merger fraction {self.fraction:.4f} [{self.low:.4f}, {self.high:.4f}] "
                f"({what}; {count(self.n_skipped, 'row')} without a probability skipped)")


def merger_fraction(data, threshold=DEFAULT_THRESHOLD, column=MERGER_COLUMN, n_boot=1000,
                    confidence=0.68, seed=None, method="auto", prior=None):
    """Merger fraction of a sample, with a confidence interval.

    Three estimates are available:

    ``"prob"``
        The mean of ``merger_prob`` (the calibrated probability that volunteers
        would give a galaxy ``Class8.6 >= 0.54``): the expected fraction of
        mergers. Its interval is a bootstrap that includes each galaxy's own
        uncertainty: resample the galaxies with replacement, draw each one's
        merger flag as Bernoulli(``merger_prob``), take the fraction; the
        percentile interval of ``n_boot`` such fractions. The draws are taken in
        one step, as Binomial(n, mean ``merger_prob``) counts, which is the same
        distribution. The ends are never narrower than the Jeffreys interval for
        0 (or n) mergers in n, so that all-small probabilities do not give
        ``[0, 0]``. The interval is conservative: its width adds the spread of the
        probabilities to each galaxy's own Bernoulli uncertainty, so with
        calibrated probabilities it holds the sample's true merger fraction more
        often than ``confidence`` (0.77-0.89 of the time at 0.68 in simulations),
        which leaves some room for an imperfect calibration.
    ``"prior-shift"``
        For a sample whose merger rate is not the real population's: a sample chosen
        *because* it holds mergers (a catalogue of interacting pairs, a merger-rich
        selection), where ``merger_prob``, calibrated on the real population (about
        1 % mergers), is shrunk toward that population's rate and its mean
        undercounts. The sample's rate is re-estimated by maximum likelihood under
        label shift (Saerens, Latinne & Decaestecker 2002;
        :func:`galmorph._util._stats.prior_shift`), from ``merger_prob`` and the rate it
        was calibrated at (``prior``, else the table's ``meta["merger_prob_prior"]``,
        which ``predict`` writes). The interval bootstraps the galaxies, re-estimates
        each resample and draws its count, with the same Jeffreys floor. It assumes
        that mergers look as they did in the calibration galaxies; a sample selected
        on something that changes how they look (redshift, survey depth) breaks it. On
        the real population it gives about the ``"prob"`` estimate with a wider
        interval; it costs about 1 s per 1,000 galaxies at ``n_boot=1000``.
    ``"rule"``
        The paper's rule: the fraction k/n of galaxies with ``p_merger >=
        threshold``, with the Jeffreys interval of k out of n (see
        :func:`galmorph._util._stats.jeffreys_interval`; Brown, Cai & DasGupta 2001):
        0 mergers in 5 gives [0, 0.171] at 68 %, not [0, 0].

    Parameters
    ----------
    data : Table, array (N, 37) or array (N,)
        Predictions. A Table is read for ``merger_prob`` (``"prob"``) or
        ``column`` / ``p_merger`` (``"rule"``, see :func:`merger_probability`).
        A 1-D array holds merger vote fractions (``"rule"``), or merger
        probabilities with ``method="prob"``. Rows whose probability is NaN or
        masked (failed predictions) are left out and counted in ``n_skipped``.
    threshold : float
        ``"rule"`` only: ``p_merger >= threshold`` flags a merger (inclusive).
    column : str
        ``"rule"`` only: the column of the vote fraction (default ``Class8.6``).
    n_boot : int
        ``"prob"`` only: number of bootstrap samples (0: no interval, NaN ends).
    confidence : float
        Central probability of the interval (0.68 ~ 1 sigma).
    seed : int or None
        ``"prob"`` only: seed of a local random generator.
    method : {"auto", "prob", "prior-shift", "rule"}
        ``"auto"`` (default) is ``"prob"`` for a Table with a ``merger_prob``
        column and ``"rule"`` otherwise.
    prior : float, optional
        ``"prior-shift"`` only: the merger rate ``merger_prob`` was calibrated at;
        default the table's ``meta["merger_prob_prior"]``.

    Returns
    -------
    MergerFraction
        Unpacks as ``fraction, (low, high)``; also ``n``, ``n_merger``,
        ``method`` and ``n_skipped``.

    Raises
    ------
    galmorph.errors.MissingColumnError
        ``method="prob"`` on a table without ``merger_prob``.
    galmorph.errors.DataError
        ``merger_prob`` values outside [0, 1], or an input of the wrong shape.

    Examples
    --------
    >>> import numpy as np
    >>> f, (lo, hi) = merger_fraction(np.array([0.9, 0.1, 0.2, 0.6]))
    >>> f
    0.5
    >>> f, (lo, hi) = merger_fraction(np.array([0.2, 0.4]), method="prob", seed=0)
    >>> round(f, 6)
    0.3
    """
    if method not in ("auto", "prob", "prior-shift", "rule"):
        raise ParameterError(f"method must be 'auto', 'prob', 'prior-shift' or 'rule', not "
                             f"{method!r}")
    is_table = hasattr(data, "colnames")
    if method == "auto":
        method = "prob" if is_table and MERGER_PROB_COLUMN in data.colnames else "rule"
    if method == "rule":
        p = merger_probability(data, column)
    elif is_table:
        if MERGER_PROB_COLUMN not in data.colnames:
            raise MissingColumnError(
                f"table has no column {MERGER_PROB_COLUMN!r}, the calibrated merger "
                f"probability (columns: {', '.join(data.colnames[:12])}); classify it with a "
                f"model that writes it, or pass method='rule' for the paper's count of "
                f"p_merger >= {threshold:g}")
        p = _as_float(data[MERGER_PROB_COLUMN])
    else:
        p = _as_float(data)
        if p.ndim != 1:
            raise DataError(f"method='prob' needs a table with {MERGER_PROB_COLUMN!r} or a 1-D "
                            f"array of merger probabilities, got shape {p.shape}")
    ok = np.isfinite(p)
    n, n_skipped = int(ok.sum()), int(p.size - ok.sum())
    if method == "rule":
        k = int((p[ok] >= threshold).sum())
        low, high = jeffreys_interval(k, n, confidence)
        frac = k / n if n else np.nan
        return MergerFraction(float(frac), low, high, n, k, float(threshold), float(confidence),
                              "rule", n_skipped)
    p = p[ok]
    bad = int(((p < 0) | (p > 1)).sum())
    if bad:
        raise DataError(f"{count(bad, 'row')} of {MERGER_PROB_COLUMN!r} lie outside [0, 1] "
                        f"(range {p.min():g}..{p.max():g}); it must be a probability")
    if method == "prior-shift":
        prior = _calibration_prior(data, prior, is_table)
        frac, low, high = prior_shift_interval(p, prior, n_boot, confidence, seed=seed)
        return MergerFraction(frac, low, high, n, float(frac * n), None, float(confidence),
                              "prior-shift", n_skipped)
    frac, low, high = probability_sum_interval(p, n_boot, confidence, seed=seed)
    return MergerFraction(frac, low, high, n, float(p.sum()), None, float(confidence), "prob",
                          n_skipped)


def _calibration_prior(data, prior, is_table):
    """The merger rate ``merger_prob`` was calibrated at: ``prior``, else the table's meta."""
    if prior is None and is_table:
        prior = data.meta.get(MERGER_PRIOR_META)
    if prior is None:
        raise ParameterError(f"method='prior-shift' needs the merger rate merger_prob was "
                             f"calibrated at: pass prior=, or a table whose meta has "
                             f"{MERGER_PRIOR_META!r} (predict writes it)")
    if not 0 < float(prior) < 1:
        raise ParameterError(f"prior must be a rate between 0 and 1, not {prior!r}")
    return float(prior)


def merger_threshold_scan(data, thresholds=None, column=MERGER_COLUMN, n_boot=1000, confidence=0.68,
                          seed=None):
    """Merger fraction by the paper's rule as a function of the threshold.

    Parameters
    ----------
    data : Table, array (N, 37) or array (N,)
        Predictions, see :func:`merger_probability`. Rows with a NaN or masked
        probability are left out (counted in ``meta["n_skipped"]``).
    thresholds : array-like, optional
        Thresholds to scan; default 0.05, 0.10, ..., 0.95.
    column : str
        Column of the vote fraction (default ``Class8.6``, else ``p_merger``).
    n_boot, seed
        Not used: the interval is exact. Kept so that calls written when it was a
        bootstrap keep working.
    confidence : float
        Central probability of the interval (0.68 ~ 1 sigma).

    Returns
    -------
    astropy.table.Table
        Columns ``threshold``, ``n_merger``, ``n``, ``fraction``, ``fraction_low``,
        ``fraction_high``: the Jeffreys interval of ``n_merger`` out of ``n`` at
        ``confidence``, as :func:`merger_fraction` gives with ``method="rule"``.
    """
    p = merger_probability(data, column)
    ok = np.isfinite(p)
    p = p[ok]
    thresholds = SCAN_THRESHOLDS if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    thresholds = np.atleast_1d(thresholds).astype(np.float64)
    k = (p[None, :] >= thresholds[:, None]).sum(axis=1)  # (T,)
    n = np.full(k.shape, p.size)
    low, high = jeffreys_interval(k, n, confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = k / n
    out = Table({"threshold": thresholds, "n_merger": k, "n": n, "fraction": frac,
                 "fraction_low": low, "fraction_high": high})
    out.meta.update(column=column, confidence=confidence, interval="jeffreys",
                    n_skipped=int((~ok).sum()))
    return out
