"""Tests for galmorph.astro.mergers: flags, bootstrap fractions, scans, separation bias."""
import numpy as np
import pytest
from astropy.table import Table

from galmorph import schema
from galmorph.astro.mergers import (merger_flags, merger_fraction, merger_threshold_scan,
                                    separation_bias, separation_values)
from galmorph.errors import DataError


def test_flags_from_table_array_and_vector_agree(merger_table):
    p = np.array([0.1, 0.54, 0.539, 0.9, np.nan])
    full = np.zeros((5, schema.N_ANSWERS))
    full[:, schema.column_index("Class8.6")] = p
    expected = [False, True, False, True, False]  # inclusive threshold; NaN never flagged
    assert merger_flags(merger_table(p)).tolist() == expected
    assert merger_flags(full).tolist() == expected
    assert merger_flags(p).tolist() == expected
    assert merger_flags(p, threshold=0.05).tolist() == [True, True, True, True, False]


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
    assert low <= frac <= high
    assert "2 of 4" in str(res)


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


def test_threshold_scan_is_monotone_with_intervals(merger_table):
    p = np.random.default_rng(1).beta(0.5, 3, size=2000)
    scan = merger_threshold_scan(merger_table(p), thresholds=[0.1, 0.3, 0.54, 0.8], seed=0)
    assert scan.colnames == ["threshold", "n_merger", "n", "fraction", "fraction_low",
                             "fraction_high"]
    assert np.all(np.diff(scan["fraction"]) <= 0)
    assert np.all(scan["fraction_low"] <= scan["fraction"])
    assert np.all(scan["fraction"] <= scan["fraction_high"])
    assert scan["n_merger"][2] == int((p >= 0.54).sum())


def test_separation_bias_finds_raised_votes_at_small_separation(biased_population):
    table, kind = biased_population()
    bias = separation_bias(table, seed=0, n_boot=100)
    assert bias["n"].sum() == len(table) and bias.meta["n_outside"] == 0
    narrow = separation_bias(table, bins=[0.0, 1.0, 2.0], n_boot=0)
    assert narrow.meta["n_outside"] == int(((table["sep_r90"] > 2)
                                            & np.isfinite(table["sep_r90"])).sum())
    assert narrow["n"].sum() + narrow.meta["n_outside"] == len(table)
    close = bias[(bias["sep_high"] <= 1.5) & (bias["n"] > 0)]
    far = bias[(bias["sep_low"] >= 1.5) & np.isfinite(bias["sep_low"]) & (bias["n"] > 0)]
    assert close["mean_p_merger"].min() > far["mean_p_merger"].max() + 0.1
    assert np.all(bias["mean_p_merger_err"][bias["n"] > 1] > 0)
    last = bias[-1]
    assert np.isinf(last["sep_low"]) and last["n"] == int(np.isinf(table["sep_r90"]).sum())
    # Errors are honest: the bin mean is within a few bootstrap errors of the truth.
    sel = (table["sep_r90"] >= 0.5) & (table["sep_r90"] < 1.0)
    row = bias[bias["sep_low"] == 0.5][0]
    assert abs(row["mean_p_merger"] - np.mean(table["Class8.6"][sel])) < 1e-12


def test_separation_bias_needs_separations(merger_table):
    with pytest.raises(DataError, match="separation column 'sep_r90'.*separations=True"):
        separation_bias(merger_table([0.1, 0.2]))




def test_separation_values_fill_masked_rows_with_nan_and_keep_inf():
    t = Table({"sep_r90": np.ma.masked_array([0.5, 9.0, np.inf], mask=[False, True, False])})
    sep = separation_values(t, "sep_r90")
    assert sep.dtype == np.float64 and sep[0] == 0.5 and np.isnan(sep[1]) and np.isinf(sep[2])
    with pytest.raises(DataError, match="no separation column 'sep_arcsec'"):
        separation_values(t, "sep_arcsec")
