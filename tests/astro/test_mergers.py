"""Tests for galmorph.astro.mergers: flags, merger fractions (rule and probability),
scans. The separation bias it re-exports is tested in test_merger_separation.py."""
import numpy as np
import pytest
from astropy.table import MaskedColumn, Table
from scipy.stats import beta

from galmorph import schema
from galmorph.astro import merger_separation, mergers
from galmorph.astro.mergers import merger_flags, merger_fraction, merger_threshold_scan
from galmorph.errors import DataError, MissingColumnError, ParameterError


def test_flags_from_table_array_and_vector_agree(merger_table):
    p = np.array([0.1, 0.54, 0.539, 0.9, np.nan])
    full = np.zeros((5, schema.N_ANSWERS))
    full[:, schema.column_index("Class8.6")] = p
    expected = [False, True, False, True, None]  # inclusive threshold; NaN masked, not False
    for flags in (merger_flags(merger_table(p)), merger_flags(full), merger_flags(p)):
        assert isinstance(flags, np.ma.MaskedArray) and flags.dtype == bool
        assert flags.tolist() == expected
        assert np.ma.getmaskarray(flags).tolist() == [False, False, False, False, True]
    assert merger_flags(p, threshold=0.05).tolist() == [True, True, True, True, None]


def test_flags_mask_masked_rows_and_count_only_known_ones():
    t = Table({"Class8.6": MaskedColumn([0.9, 0.9, 0.1, np.inf], mask=[False, True, False, False])})
    flags = merger_flags(t)
    assert flags.tolist() == [True, None, False, None]
    assert flags.sum() == 1 and flags.count() == 2
    assert flags.filled().tolist() == [True, False, False, False]  # fill value False
    # Put in a table, the flags stay masked.
    out = Table({"is_merger": flags})
    assert isinstance(out["is_merger"], MaskedColumn) and out["is_merger"].mask.tolist() == \
        [False, True, False, True]
    # By the calibrated probability: a table's merger_prob, or a 1-D array of it.
    t["merger_prob"] = [0.7, 0.2, np.nan, 0.5]
    assert merger_flags(t, 0.5, column="merger_prob").tolist() == [True, False, None, True]


def test_flags_read_p_merger_when_class_column_absent():
    t = Table({"p_merger": [0.2, 0.8]})
    assert merger_flags(t).tolist() == [False, True]


def test_missing_column_is_named():
    with pytest.raises(DataError, match="no column 'Class8.6'.*objid"):
        merger_fraction(Table({"objid": [1, 2]}))
    with pytest.raises(DataError, match="shape"):
        merger_flags(np.zeros((3, 5)))


def test_fraction_value_unpacking_and_nan_rows():
    p = np.array([0.9, 0.1, 0.2, 0.6, np.nan, np.nan])
    res = merger_fraction(p, seed=0)
    frac, (low, high) = res
    assert frac == 0.5 and res.n == 4 and res.n_merger == 2
    assert res.method == "rule" and res.n_skipped == 2 and res.threshold == 0.54
    assert low <= frac <= high
    assert "2 of 4" in str(res) and "Jeffreys" in str(res) and "2 rows" in str(res)


def test_rule_interval_is_jeffreys_and_not_empty_at_zero():
    # 0 of 5: low 0 and the 84% quantile of Beta(0.5, 5.5) -- not [0, 0].
    res = merger_fraction(np.zeros(5))
    assert res.fraction == 0 and res.low == 0
    assert res.high == pytest.approx(0.171112452186027, abs=1e-12)
    assert res.high > 0.1
    # 5 of 5: high 1 and the 16% quantile of Beta(5.5, 0.5).
    res = merger_fraction(np.ones(5))
    assert res.high == 1 and res.low == pytest.approx(1 - 0.171112452186027, abs=1e-12)
    # 3 of 10 at 95%: the equal-tailed quantiles of Beta(3.5, 7.5).
    p = np.r_[np.full(3, 0.9), np.full(7, 0.1)]
    res = merger_fraction(p, confidence=0.95)
    np.testing.assert_allclose([res.low, res.high], beta.ppf([0.025, 0.975], 3.5, 7.5),
                               rtol=1e-10)
    # No seed needed: the interval is exact.
    assert tuple(merger_fraction(p, seed=1)) == tuple(merger_fraction(p, seed=2))


def test_prob_method_is_the_mean_with_a_bootstrap_interval():
    prob = np.array([0.05, 0.1, 0.8, 0.3, 0.6, 0.15])
    t = Table({"Class8.6": [0.0, 0.1, 0.6, 0.2, 0.3, 0.0], "merger_prob": prob})
    res = merger_fraction(t, seed=0)        # auto: the table has merger_prob
    assert res.method == "prob" and res.threshold is None
    assert res.fraction == pytest.approx(prob.mean()) and res.n_merger == pytest.approx(2.0)
    assert res.low < res.fraction < res.high
    assert "merger_prob" in str(res) and "bootstrap" in str(res)
    # The same probabilities as an array, and the paper rule on the same table.
    assert tuple(merger_fraction(prob, method="prob", seed=0)) == tuple(res)
    rule = merger_fraction(t, method="rule")
    assert rule.method == "rule" and rule.n_merger == 1 and rule.fraction == pytest.approx(1 / 6)
    # A 1-D array keeps meaning vote fractions under "auto".
    assert merger_fraction(prob).method == "rule"


def test_prob_bootstrap_equals_resampling_rows_then_bernoulli_flags():
    rng = np.random.default_rng(3)
    prob = rng.beta(0.4, 2.0, size=200)
    res = merger_fraction(prob, method="prob", n_boot=20000, confidence=0.9, seed=0)
    # The slow way: resample the rows, then draw each one's flag.
    idx = rng.integers(0, prob.size, size=(4000, prob.size))
    slow = (rng.random(idx.shape) < prob[idx]).mean(axis=1)
    lo, hi = np.percentile(slow, [5, 95])
    assert abs(res.low - lo) <= 0.011 and abs(res.high - hi) <= 0.011
    # It is wider than a bootstrap of the mean alone, which ignores each galaxy's coin.
    means = prob[idx].mean(axis=1)
    assert res.high - res.low > np.subtract(*np.percentile(means, [95, 5])) * 1.2


def test_prob_interval_holds_the_true_merger_fraction_at_least_at_the_nominal_rate():
    # Calibrated probabilities: each galaxy is a merger with probability p_i. The
    # interval holds the sample's true merger fraction at least 68% of the time; it is
    # conservative (it adds the spread of the p_i to each galaxy's coin), but not vacuous.
    rng = np.random.default_rng(11)
    covered = 0
    for k in range(300):
        prob = rng.beta(0.3, 2.7, size=300)
        truth = (rng.random(prob.size) < prob).mean()
        res = merger_fraction(prob, method="prob", n_boot=400, confidence=0.68, seed=k)
        covered += res.low <= truth <= res.high
    assert 0.64 <= covered / 300 <= 0.92


def test_prob_interval_does_not_collapse_when_every_draw_is_zero():
    prob = np.full(5, 1e-6)
    res = merger_fraction(prob, method="prob", seed=0)
    assert res.low == 0 and res.high == pytest.approx(beta.ppf(0.84, 0.5, 5.5))
    assert merger_fraction(np.full(5, 1 - 1e-6), method="prob", seed=0).high == 1
    assert np.isnan(merger_fraction(prob, method="prob", n_boot=0).high)


def test_masked_and_nan_rows_are_skipped_and_counted():
    t = Table({"merger_prob": MaskedColumn([0.2, 0.4, 0.9, np.nan, 0.6],
                                           mask=[False, False, True, False, False]),
               "p_merger": MaskedColumn([0.1, 0.7, 0.9, 0.3, np.nan],
                                        mask=[False, False, False, True, False])})
    res = merger_fraction(t, seed=0)
    assert res.n == 3 and res.n_skipped == 2 and res.fraction == pytest.approx(0.4)
    assert "2 rows without a probability skipped" in str(res)
    rule = merger_fraction(t, method="rule")
    assert (rule.n, rule.n_merger, rule.n_skipped) == (3, 2, 2)
    arr = np.ma.masked_array([0.9, 0.9, 0.1], mask=[True, False, False])
    assert (merger_fraction(arr).n, merger_fraction(arr).n_skipped) == (2, 1)
    assert merger_flags(arr).tolist() == [None, True, False]


def test_prob_method_errors_name_the_column():
    with pytest.raises(MissingColumnError, match="no column 'merger_prob'.*Class8.6.*method='rule'"):
        merger_fraction(Table({"Class8.6": [0.1, 0.2]}), method="prob")
    with pytest.raises(DataError, match="1 row of 'merger_prob' lie outside"):
        merger_fraction(Table({"merger_prob": [0.1, 1.5]}))
    with pytest.raises(DataError, match="1-D"):
        merger_fraction(np.zeros((3, schema.N_ANSWERS)), method="prob")
    with pytest.raises(ParameterError, match="'auto', 'prob', 'prior-shift' or 'rule'"):
        merger_fraction(np.zeros(3), method="mean")


def test_bootstrap_interval_covers_truth_at_nominal_rate():
    # 300 simulated surveys of 400 galaxies with a true merger fraction of 0.15:
    # the 68% interval must contain 0.15 in about 68% of them.
    rng = np.random.default_rng(42)
    truth, covered = 0.15, 0
    for k in range(300):
        is_merger = rng.random(400) < truth
        p = np.where(is_merger, rng.uniform(0.6, 1.0, 400), rng.uniform(0.0, 0.5, 400))
        f, (lo, hi) = merger_fraction(p, n_boot=400, confidence=0.68, seed=k)
        covered += lo <= truth <= hi
    assert 0.58 <= covered / 300 <= 0.78
    # A wider interval covers more often, a deterministic check of the confidence knob.
    wide = merger_fraction(p, confidence=0.95, seed=1)
    narrow = merger_fraction(p, confidence=0.68, seed=1)
    assert wide.high - wide.low > narrow.high - narrow.low


def test_seed_makes_bootstrap_reproducible():
    p = np.random.default_rng(0).random(200)
    assert tuple(merger_fraction(p, seed=3)) == tuple(merger_fraction(p, seed=3))


def _calibrated_probs(n, rate, prior, seed):
    """A sample with merger rate ``rate`` whose probabilities are calibrated at ``prior``:
    a score ~ N(0, 1) for non-mergers and N(3, 1) for mergers, turned into the posterior
    at the calibration population's rate (the images of mergers look the same in both)."""
    rng = np.random.default_rng(seed)
    merging = rng.random(n) < rate
    score = rng.normal(3.0 * merging, 1.0)
    odds = prior / (1 - prior) * np.exp(3.0 * score - 4.5)      # likelihood ratio N(3)/N(0)
    return odds / (1 + odds), merging.mean()


def test_prior_shift_recovers_a_selected_samples_merger_rate():
    """A merger-rich selection (10 % where the probabilities were calibrated at 1 %): the
    mean of merger_prob undercounts and its interval misses; the prior-shift estimate
    holds the true fraction, in most of 20 samples at 68 %."""
    held = 0
    for seed in range(20):
        p, true = _calibrated_probs(1000, 0.10, 0.01, seed)
        plain = merger_fraction(p, method="prob", confidence=0.68, seed=0)
        shifted = merger_fraction(p, method="prior-shift", prior=0.01, n_boot=300,
                                  confidence=0.68, seed=0)
        assert plain.high < true
        assert shifted.method == "prior-shift" and abs(shifted.fraction - true) < 0.03
        held += shifted.low <= true <= shifted.high
    assert held >= 13, held


def test_prior_shift_on_the_calibration_population_is_about_the_mean():
    p, true = _calibrated_probs(5000, 0.01, 0.01, 1)
    plain = merger_fraction(p, method="prob", confidence=0.95, seed=0)
    shifted = merger_fraction(p, method="prior-shift", prior=0.01, confidence=0.95, seed=0)
    assert abs(shifted.fraction - plain.fraction) < 0.004
    assert shifted.low <= true <= shifted.high
    assert shifted.high - shifted.low >= 0.9 * (plain.high - plain.low)


def test_prior_shift_reads_the_prior_from_the_table_and_names_it_when_missing():
    p, _ = _calibrated_probs(500, 0.05, 0.01, 2)
    t = Table({"merger_prob": p})
    with pytest.raises(ParameterError, match="merger_prob_prior"):
        merger_fraction(t, method="prior-shift")
    t.meta["merger_prob_prior"] = 0.01
    got = merger_fraction(t, method="prior-shift", n_boot=50, seed=0)
    assert got.fraction == merger_fraction(p, method="prior-shift", prior=0.01,
                                           n_boot=50, seed=0).fraction
    assert "re-estimated" in str(got)
    with pytest.raises(ParameterError, match="between 0 and 1"):
        merger_fraction(t, method="prior-shift", prior=1.5)
    # No merger at all: an honest interval, not [0, 0].
    none = merger_fraction(np.full(20, 1e-4), method="prior-shift", prior=0.01, seed=0)
    assert none.low == 0 and none.high > 0.04      # 0 of 20: Jeffreys 0.048 at 68 %


def test_threshold_scan_is_monotone_with_intervals(merger_table):
    p = np.random.default_rng(1).beta(0.5, 3, size=2000)
    scan = merger_threshold_scan(merger_table(p), thresholds=[0.1, 0.3, 0.54, 0.8], seed=0)
    assert scan.colnames == ["threshold", "n_merger", "n", "fraction", "fraction_low",
                             "fraction_high"]
    assert np.all(np.diff(scan["fraction"]) <= 0)
    assert np.all(scan["fraction_low"] <= scan["fraction"])
    assert np.all(scan["fraction"] <= scan["fraction_high"])
    assert scan["n_merger"][2] == int((p >= 0.54).sum())
    # The scan's interval is merger_fraction's (Jeffreys); beyond every p it is not [0, 0].
    at = merger_fraction(p, 0.54)
    assert (scan["fraction_low"][2], scan["fraction_high"][2]) == (at.low, at.high)
    top = merger_threshold_scan(p[:5], thresholds=[1.0])
    assert top["fraction"][0] == 0 and top["fraction_high"][0] > 0.1


def test_the_separation_bias_is_importable_from_here_as_before():
    # Scripts import it from galmorph.astro.mergers; it lives in merger_separation.
    for name in ("separation_bias", "separation_values"):
        assert name in mergers.__all__
        assert getattr(mergers, name) is getattr(merger_separation, name)
