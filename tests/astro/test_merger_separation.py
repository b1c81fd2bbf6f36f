"""Tests for galmorph.astro.merger_separation: the merger vote against the separation to
the nearest neighbour, and reading the separation column."""
import warnings

import numpy as np
import pytest
from astropy.table import Table

from galmorph.astro.merger_separation import separation_bias, separation_values
from galmorph.astro.mergers import MIN_SAMPLE, SmallSampleWarning
from galmorph.errors import DataError


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


def test_separation_bias_warns_on_a_small_sample(biased_population):
    table, _ = biased_population(n=60)
    table["Class8.6"][:10] = np.nan               # failed rows are not counted
    with pytest.warns(SmallSampleWarning, match=f"only 50 galaxies .*fewer than {MIN_SAMPLE}") \
            as rec:
        bias = separation_bias(table, n_boot=0)
    assert rec[0].filename == __file__            # points at the caller's line
    assert bias["n"].sum() == 50
    # Bins with no merger get an interval that is not [0, 0].
    empty = bias[(bias["n"] > 0) & (bias["merger_fraction"] == 0)]
    assert len(empty) and np.all(empty["merger_fraction_high"] > 0)
    large, _ = biased_population(n=3000)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SmallSampleWarning)
        separation_bias(large, n_boot=0)


def test_separation_values_fill_masked_rows_with_nan_and_keep_inf():
    t = Table({"sep_r90": np.ma.masked_array([0.5, 9.0, np.inf], mask=[False, True, False])})
    sep = separation_values(t, "sep_r90")
    assert sep.dtype == np.float64 and sep[0] == 0.5 and np.isnan(sep[1]) and np.isinf(sep[2])
    with pytest.raises(DataError, match="no separation column 'sep_arcsec'"):
        separation_values(t, "sep_arcsec")
