"""A merger threshold proposed from the data rather than by eye.

The paper flags mergers at ``Class8.6 >= 0.54``, a threshold picked by eye.
:func:`propose_merger_threshold` chooses one from a classified catalogue, either where
close projected pairs stop dominating the flagged galaxies (the angular-separation bias
that :func:`galmorph.astro.merger_separation.separation_bias` measures) or at the knee of the
merger fraction against the threshold (:func:`~galmorph.astro.mergers.merger_threshold_scan`).
On a small sample either rule is a guess, so it warns
(:class:`~galmorph.astro.mergers.SmallSampleWarning`) below
:data:`~galmorph.astro.mergers.MIN_SAMPLE` galaxies or :data:`MIN_FLAGGED_AT_THRESHOLD`
flagged ones.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from astropy.table import Table

# The scan's thresholds and the merger column are the mergers module's; the separation
# reader, merger_separation's.
from galmorph.astro.merger_separation import separation_values
from galmorph.astro.mergers import (MERGER_COLUMN, MIN_SAMPLE, SCAN_THRESHOLDS,
                                    SmallSampleWarning, merger_probability)
from galmorph._util._text import count
from galmorph._util._warnings import caller_stacklevel
from galmorph.errors import DataError

__all__ = ["MIN_FLAGGED_AT_THRESHOLD", "ThresholdProposal", "propose_merger_threshold"]

#: Fewer galaxies flagged at the proposed threshold than this make
#: :func:`propose_merger_threshold` warn: the count then has a Poisson error above
#: 1/sqrt(20) = 22 %, and one threshold step can change it by as much.
MIN_FLAGGED_AT_THRESHOLD = 20


@dataclass
class ThresholdProposal:
    """A proposed merger threshold, the rule that chose it and the scan behind it."""

    threshold: float
    method: str
    rule: str
    scan: Table = field(repr=False)

    def __float__(self):
        return float(self.threshold)


def _knee(thresholds, fractions):
    # Kneedle (Satopaa et al. 2011): normalise both axes to [0, 1] and take the
    # point farthest below the chord joining the ends of the falling curve.
    x = (thresholds - thresholds[0]) / max(thresholds[-1] - thresholds[0], 1e-12)
    span = max(fractions[0] - fractions[-1], 1e-12)
    y = (fractions - fractions[-1]) / span
    return int(np.argmax((1 - x) - y))


def propose_merger_threshold(table, thresholds=None, method="auto", separation_column="sep_r90",
                             close=1.5, max_close_fraction=0.5, min_flagged=5,
                             column=MERGER_COLUMN):
    """Propose a merger threshold from the data rather than by eye.

    Two rules are available:

    ``"close_pairs"``
        For each threshold the flagged galaxies (``p_merger >= t``) are split
        by whether their nearest detected neighbour lies within ``close``
        (in the unit of ``separation_column``; default 1.5 petroR90_r). Chance
        projections with a separate companion inflate the merger vote at
        moderate thresholds; genuine mergers are mostly blended into one source
        or show tidal features with no separate neighbour. The proposed
        threshold is the lowest ``t`` from which on the close-pair share of the
        flagged galaxies stays at or below ``max_close_fraction`` (ignoring
        thresholds with fewer than ``min_flagged`` flagged galaxies). Where the
        flagged sample is never dominated by close pairs the rule is
        inconclusive and the knee is used instead (the ``rule`` text says so).
    ``"knee"``
        The knee of the merger fraction against threshold: the point of the
        falling curve farthest from the chord joining its ends, both axes
        scaled to [0, 1] (Kneedle; Satopaa et al. 2011).

    ``"auto"`` uses ``"close_pairs"`` when the table has ``separation_column``
    and ``"knee"`` otherwise.

    Parameters
    ----------
    table : astropy.table.Table, numpy.ndarray or sequence
        Predictions: anything :func:`merger_probability` accepts. The close-pair rule
        needs a Table with ``separation_column``. Rows with a non-finite merger
        probability (and, for the close-pair rule, an unmeasured separation) are
        left out.
    thresholds : array-like, optional
        Thresholds to scan (sorted first). Default: 0.05, 0.10, ..., 0.95.
    method : {"auto", "close_pairs", "knee"}
        The rule (default "auto").
    separation_column : str
        Column with the separation to the nearest neighbour (default ``"sep_r90"``,
        in petroR90_r units; NaN: not measured, inf: no neighbour detected).
    close : float
        Separation below which a neighbour makes a close pair, in the unit of
        ``separation_column`` (default 1.5).
    max_close_fraction : float
        Largest close-pair share of the flagged galaxies accepted (default 0.5).
    min_flagged : int
        Thresholds with fewer flagged galaxies are ignored by the close-pair rule
        (default 5).
    column : str
        Column of the merger probability, as in :func:`merger_probability` (default
        ``"Class8.6"``).

    Returns
    -------
    ThresholdProposal
        ``threshold``, ``method``, ``rule`` (the rule in words, with the numbers)
        and ``scan``: a Table of ``threshold``, ``n_flagged``, ``fraction`` and,
        for the close-pair rule, ``close_pair_fraction``.

    Warns
    -----
    SmallSampleWarning
        When fewer than :data:`~galmorph.astro.mergers.MIN_SAMPLE` (500) galaxies
        have a merger probability (and, for the close-pair rule, a measured
        separation), or fewer than :data:`MIN_FLAGGED_AT_THRESHOLD` (20) are
        flagged at the proposed threshold; the message names the counts.
    """
    proposal, n = _propose(table, thresholds, method, separation_column, close,
                           max_close_fraction, min_flagged, column)
    scan = proposal.scan
    flagged = int(scan["n_flagged"][np.flatnonzero(scan["threshold"] == proposal.threshold)[0]])
    problems = []
    if n < MIN_SAMPLE:
        problems.append(f"only {count(n, 'galaxy', 'galaxies')} with a merger probability "
                        f"(fewer than {MIN_SAMPLE})")
    if flagged < MIN_FLAGGED_AT_THRESHOLD:
        problems.append(f"only {flagged} of {n} flagged at t = {proposal.threshold:g} (fewer "
                        f"than {MIN_FLAGGED_AT_THRESHOLD})")
    if problems:
        warnings.warn(f"propose_merger_threshold: {' and '.join(problems)}; the proposed "
                      f"threshold is uncertain", SmallSampleWarning,
                      stacklevel=caller_stacklevel())
    return proposal


def _propose(table, thresholds, method, separation_column, close, max_close_fraction,
             min_flagged, column):
    # The rules of propose_merger_threshold; returns (proposal, galaxies used).
    p = merger_probability(table, column)
    thresholds = SCAN_THRESHOLDS if thresholds is None else np.sort(np.asarray(thresholds, float))
    if method == "auto":
        has_sep = hasattr(table, "colnames") and separation_column in table.colnames
        method = "close_pairs" if has_sep else "knee"
    if method not in ("close_pairs", "knee"):
        raise ValueError(f"method must be 'auto', 'close_pairs' or 'knee', not {method!r}")
    ok = np.isfinite(p)
    sep = None
    if method == "close_pairs":
        sep = separation_values(table, separation_column)
        ok &= ~np.isnan(sep)  # not measured: neither a close pair nor an isolated galaxy
        sep = sep[ok]
    p = p[ok]
    if p.size == 0:
        raise DataError("no finite merger probabilities to propose a threshold from")
    flagged = p[None, :] >= thresholds[:, None]  # (T, N)
    n_flagged = flagged.sum(axis=1)
    scan = Table({"threshold": thresholds, "n_flagged": n_flagged,
                  "fraction": n_flagged / p.size})
    knee_t = float(thresholds[_knee(thresholds, scan["fraction"].data)])
    knee_rule = (f"knee of the merger fraction vs threshold curve (Kneedle) over thresholds "
                 f"{thresholds[0]:g}..{thresholds[-1]:g}: t = {knee_t:g}")
    if method == "knee":
        return ThresholdProposal(knee_t, "knee", knee_rule, scan), p.size
    close_pairs = (sep < close)[None, :] & flagged
    with np.errstate(invalid="ignore", divide="ignore"):
        share = close_pairs.sum(axis=1) / n_flagged
    scan["close_pair_fraction"] = share
    usable = n_flagged >= min_flagged
    dominated = usable & (share > max_close_fraction)
    if not dominated.any():
        rule = (f"close-pair rule inconclusive: the flagged galaxies are never dominated "
                f"(> {max_close_fraction:g}) by neighbours within {close:g} "
                f"({separation_column}); fell back to the {knee_rule}")
        return ThresholdProposal(knee_t, "knee", rule, scan), p.size
    last = int(np.flatnonzero(dominated)[-1])
    if last + 1 >= len(thresholds) or not usable[last + 1]:
        rule = (f"close pairs dominate the flagged galaxies up to the highest threshold "
                f"with at least {min_flagged} flagged galaxies ({thresholds[last]:g}); fell "
                f"back to the {knee_rule}")
        return ThresholdProposal(knee_t, "knee", rule, scan), p.size
    t = float(thresholds[last + 1])
    rule = (f"lowest threshold from which on at most {max_close_fraction:g} of the flagged "
            f"galaxies have a neighbour within {close:g} ({separation_column}): t = {t:g} "
            f"(close-pair share {share[last]:.2f} at t = {thresholds[last]:g}, "
            f"{share[last + 1]:.2f} at t = {t:g})")
    return ThresholdProposal(t, "close_pairs", rule, scan), p.size
