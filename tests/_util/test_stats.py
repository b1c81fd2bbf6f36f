"""Tests of galmorph._util._stats: the bootstrap shared by metrics, mergers and redshift tables."""
import numpy as np
import pytest

from galmorph._util import _stats
from galmorph._util._stats import bootstrap_mean_err, bootstrap_means


def test_bootstrap_means_match_one_draw_of_all_indices(monkeypatch):
    values = np.random.default_rng(0).normal(size=(40, 3))              # (N, K)
    idx = np.random.default_rng(5).integers(0, 40, size=(100, 40))
    expected = values[idx].mean(axis=1)                                  # (100, 3)
    np.testing.assert_array_equal(bootstrap_means(values, 100, np.random.default_rng(5)),
                                  expected)
    monkeypatch.setattr(_stats, "BLOCK_VALUES", 40 * 3 * 9)             # blocks of 9 resamples
    np.testing.assert_array_equal(bootstrap_means(values, 100, np.random.default_rng(5)),
                                  expected)
    err = bootstrap_mean_err(values, 100, np.random.default_rng(5))
    np.testing.assert_allclose(err, expected.std(axis=0))


def test_bootstrap_mean_err_without_resamples_is_nan():
    assert np.isnan(bootstrap_mean_err(np.ones((5, 2)), 0, np.random.default_rng(0))).all()
    assert bootstrap_means(np.ones(5), 3, np.random.default_rng(0)) == pytest.approx([1, 1, 1])
