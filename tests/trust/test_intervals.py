"""Split-conformal intervals (galmorph.trust.intervals) on simulated predictions."""
import numpy as np
import pytest

from galmorph import schema
from galmorph.trust import (IntervalCalibration, check_intervals, fit_intervals,
                            interval_coverage, predict_intervals)


def _simulated(n, seed, members=5):
    """Tree-consistent fractions: labels and members scatter around the mean, by a scale
    that differs from galaxy to galaxy (so the spread says where the errors are)."""
    import torch

    from galmorph.models.tree import TreeNormalize

    rng = np.random.default_rng(seed)
    tree = TreeNormalize("softmax")
    logits = rng.normal(0, 1, (n, schema.N_ANSWERS))
    scale = rng.uniform(0.05, 0.6, (n, 1))
    frac = lambda z: tree(torch.from_numpy(z).float()).numpy().astype(np.float64)  # noqa
    spread = np.stack([frac(logits + scale * rng.standard_normal(logits.shape))
                       for _ in range(members)], 1)                        # (n, K, 37)
    labels = frac(logits + 2 * scale * rng.standard_normal(logits.shape))
    return spread.mean(1), spread, labels


@pytest.mark.parametrize("level", [0.5, 0.9, 0.95])
def test_coverage_is_nominal_on_new_galaxies(level):
    mean, spread, labels = _simulated(2000, 0)
    cal = fit_intervals(mean, spread, labels)
    new_mean, new_spread, new_labels = _simulated(4000, 1)
    lo, hi = predict_intervals(cal, new_mean, new_spread, level)
    got = interval_coverage(lo, hi, new_labels)
    assert abs(got["coverage"] - level) < 0.03
    assert min(q["coverage"] for q in got["per_question"].values()) > level - 0.06


def test_widths_follow_the_spread():
    mean, spread, labels = _simulated(2000, 2)
    cal = fit_intervals(mean, spread, labels)
    lo, hi = predict_intervals(cal, mean, spread, 0.9)
    std = spread.std(1)
    width = hi - lo
    inner = (lo > 0) & (hi < 1)            # unclipped cells
    r = np.corrcoef(std[inner], width[inner])[0, 1]
    assert r > 0.7


def test_bounds_in_unit_range_and_tree_consistent():
    mean, spread, labels = _simulated(500, 3)
    cal = fit_intervals(mean, spread, labels)
    lo, hi = predict_intervals(cal, mean, spread, 0.95)
    assert (lo >= 0).all() and (hi <= 1).all() and (lo <= hi).all()
    for number in schema.TREE_ORDER:
        parent = schema.PARENT_INDEX[number]
        if parent is None:
            continue
        cols = schema.QUESTION_SLICES[number]
        assert (lo[:, cols] <= hi[:, [parent]] + 1e-7).all()
        assert (hi[:, cols] <= hi[:, [parent]] + 1e-7).all()


def test_partial_labels_and_round_trip():
    mean, spread, labels = _simulated(300, 4)
    labels[::2, schema.QUESTION_SLICES[3]] = np.nan        # Q3 unknown for half
    cal = fit_intervals(mean, spread, labels)
    assert cal.n[schema.QUESTION_SLICES[3]].tolist() == [150, 150]
    again = IntervalCalibration.from_dict(cal.to_dict())
    a = predict_intervals(cal, mean, spread, 0.9)
    b = predict_intervals(again, mean, spread, 0.9)
    np.testing.assert_allclose(a[0], b[0], atol=1e-4)


def test_too_few_galaxies_for_the_level_give_the_whole_range():
    mean, spread, labels = _simulated(5, 5)
    cal = fit_intervals(mean, spread, labels)
    lo, hi = predict_intervals(cal, mean, spread, 0.95)   # needs 39 galaxies per side
    assert (lo == 0).all() and (hi[:, schema.QUESTION_SLICES[1]] == 1).all()


def test_nan_rows_stay_nan():
    mean, spread, labels = _simulated(50, 6)
    cal = fit_intervals(mean, spread, labels)
    mean[3] = np.nan
    lo, hi = predict_intervals(cal, mean, spread, 0.9)
    assert np.isnan(lo[3]).all() and np.isnan(hi[3]).all() and np.isfinite(lo[4]).all()


@pytest.mark.parametrize("bad", [0, 1, 90, -0.1, "0.9", True])
def test_bad_levels_are_refused(bad):
    with pytest.raises(ValueError, match="nominal coverage between 0 and 1"):
        check_intervals(bad)
