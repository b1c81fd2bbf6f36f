"""Tests for galmorph.astro.merger_threshold: the close-pair and knee rules, and the
small-sample warning."""
import warnings

import numpy as np
import pytest

from galmorph.astro.merger_threshold import MIN_FLAGGED_AT_THRESHOLD, propose_merger_threshold
from galmorph.astro.mergers import MIN_SAMPLE, SmallSampleWarning


def test_close_pair_rule_lands_between_projections_and_mergers(biased_population):
    table, _ = biased_population(seed=2)
    prop = propose_merger_threshold(table)
    assert prop.method == "close_pairs"
    # Projections (17%, p uniform in 0.25-0.6) outnumber mergers (8%, p >= 0.62) among the
    # flagged until 0.6 - 0.35 * 0.08 / 0.17 = 0.435: the next grid point is 0.45.
    assert prop.threshold == pytest.approx(0.45), prop.rule
    assert "close-pair share" in prop.rule
    # Allowing only 10% contamination pushes it to where projections end (0.6 - 0.018).
    strict = propose_merger_threshold(table, max_close_fraction=0.1)
    assert strict.threshold == pytest.approx(0.6), strict.rule
    scan = prop.scan
    below = scan["close_pair_fraction"][scan["threshold"] < 0.5]
    assert np.nanmax(below) > 0.5


def test_knee_rule_and_fallback(merger_table):
    # Fraction vs threshold drops steeply until 0.3 then flattens: knee near 0.3.
    rng = np.random.default_rng(5)
    p = np.concatenate([rng.uniform(0.0, 0.3, 8000), rng.uniform(0.3, 1.0, 600)])
    prop = propose_merger_threshold(merger_table(p))
    assert prop.method == "knee" and 0.25 <= prop.threshold <= 0.4
    # Separations present but no close pairs at all: inconclusive -> knee, said in words.
    prop2 = propose_merger_threshold(merger_table(p, np.full(p.size, np.inf)))
    assert prop2.method == "knee" and "inconclusive" in prop2.rule
    with pytest.raises(ValueError, match="method"):
        propose_merger_threshold(merger_table(p), method="eyeball")


def test_close_pairs_dominating_to_the_end_fall_back_to_the_knee(merger_table):
    rng = np.random.default_rng(7)
    p = rng.uniform(0, 1, 500)
    sep = np.where(p > 0.3, 0.5, 3.0)  # every high-p galaxy has a close neighbour
    prop = propose_merger_threshold(merger_table(p, sep))
    assert prop.method == "knee" and "dominate the flagged galaxies up to" in prop.rule


def test_small_sample_warns_naming_the_count(merger_table, biased_population):
    p = np.random.default_rng(3).uniform(0, 1, 50)
    with pytest.warns(SmallSampleWarning, match=f"propose_merger_threshold: only 50 galaxies "
                                                f"with a merger probability \\(fewer than "
                                                f"{MIN_SAMPLE}\\).*uncertain") as rec:
        prop = propose_merger_threshold(merger_table(p))
    assert rec[0].filename == __file__            # points at the caller's line
    assert 0.05 <= prop.threshold <= 0.95         # still proposed
    # NaN rows are not counted: 60 rows, 10 failed -> 50.
    with pytest.warns(SmallSampleWarning, match="only 50 galaxies"):
        propose_merger_threshold(merger_table(np.r_[p, np.full(10, np.nan)]))
    # A large sample with enough flagged galaxies does not warn.
    table, _ = biased_population(seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SmallSampleWarning)
        assert propose_merger_threshold(table).threshold == pytest.approx(0.45)


def test_few_flagged_at_the_proposed_threshold_warn(merger_table):
    rng = np.random.default_rng(4)
    p = np.r_[rng.uniform(0, 0.5, 2000), np.full(5, 0.95)]
    with pytest.warns(SmallSampleWarning, match=f"only 5 of 2005 flagged at t = 0.9 \\(fewer "
                                                f"than {MIN_FLAGGED_AT_THRESHOLD}\\)") as rec:
        propose_merger_threshold(merger_table(p), thresholds=[0.9])
    assert "with a merger probability" not in str(rec[0].message)
