"""Tests of galmorph.metrics: the Kaggle RMSE and the baselines on known arrays."""
import numpy as np
import pytest

from galmorph.errors import DataError
from galmorph.schema import KAGGLE_COLUMNS, N_ANSWERS
from galmorph.inference import evaluation as evaluate_module
from galmorph._util import _stats
from galmorph.metrics import (BASELINES, baseline_rmses, central_pixel_colours,
                                       fit_central_pixel, predict_central_pixel, rmse,
                                       rmse_interval, rmse_report)


def test_rmse_report_hand_computed():
    labels = np.zeros((2, N_ANSWERS))
    pred = np.zeros((2, N_ANSWERS))
    pred[0, 0] = 0.6          # Class1.1, Q1
    pred[1, 3] = 0.8          # Class2.1, Q2
    out = rmse_report(pred, labels)
    # 0.36 + 0.64 = 1.0 over 74 values.
    assert out["rmse"] == pytest.approx(np.sqrt(1.0 / 74))
    assert out["per_answer"]["Class1.1"] == pytest.approx(np.sqrt(0.36 / 2))
    assert out["per_answer"]["Class2.1"] == pytest.approx(np.sqrt(0.64 / 2))
    assert out["per_answer"]["Class1.2"] == 0.0
    assert out["per_question"]["Q1"] == pytest.approx(np.sqrt(0.36 / 6))   # 2 x 3 answers
    assert out["per_question"]["Q2"] == pytest.approx(np.sqrt(0.64 / 4))   # 2 x 2 answers
    assert out["per_question"]["Q11"] == 0.0
    assert list(out["per_answer"]) == list(KAGGLE_COLUMNS)
    assert len(out["per_question"]) == 11


def test_rmse_report_rejects_mismatched_or_empty():
    with pytest.raises(ValueError, match=r"\(3, 37\).*\(2, 37\)"):
        rmse_report(np.zeros((3, 37)), np.zeros((2, 37)))
    with pytest.raises(DataError, match="empty"):
        rmse_report(np.zeros((0, 37)), np.zeros((0, 37)))


def test_central_pixel_colours_reads_the_central_two_by_two():
    images = np.zeros((2, 3, 6, 6), dtype=np.uint8)
    images[0, 0, 2:4, 2:4] = 255          # red centre
    images[0, 1, 2, 2] = 204              # one green pixel of the four
    images[1, 2, 0, 0] = 255              # a corner: not central
    colours = central_pixel_colours(images, batch_size=1)
    np.testing.assert_allclose(colours, [[1.0, 0.2, 0.0], [0.0, 0.0, 0.0]])


def test_baselines_on_constructed_data():
    rng = np.random.default_rng(0)
    colours = rng.uniform(0, 1, size=(50, 3))
    coef = np.zeros((4, N_ANSWERS))
    coef[0] = 0.1
    coef[1:, :3] = [[0.2, 0.0, 0.1], [0.0, 0.3, 0.1], [0.1, 0.1, 0.1]]
    labels = np.column_stack([np.ones(50), colours]) @ coef      # exactly linear, in [0, 1]
    np.testing.assert_allclose(fit_central_pixel(colours, labels), coef, atol=1e-10)
    train, test = slice(0, 40), slice(40, 50)
    out = baseline_rmses(labels[train], colours[train], labels[test], colours[test])
    assert out["central_pixel"] == pytest.approx(0.0, abs=1e-10)
    mean = labels[train].mean(axis=0)
    assert out["mean"] == pytest.approx(np.sqrt(((labels[test] - mean) ** 2).mean()))
    assert out["zeros"] == pytest.approx(np.sqrt((labels[test] ** 2).mean()))
    assert list(out) == ["mean", "central_pixel", "zeros"]


def test_rmse_and_central_pixel_prediction():
    labels = np.full((4, N_ANSWERS), 0.5)
    assert rmse(labels + 0.1, labels) == pytest.approx(0.1)
    coef = np.zeros((4, N_ANSWERS))
    coef[0] = 2.0                                    # clipped to 1
    coef[1, 0] = -5.0                                # clipped to 0 where red is bright
    pred = predict_central_pixel(coef, np.array([[0.0, 0, 0], [1.0, 0, 0]]))
    assert pred[0, 0] == 1.0 and pred[1, 0] == 0.0 and pred[1, 1] == 1.0


def test_evaluate_re_exports_the_same_functions():
    # Code written against galmorph.inference.evaluation keeps working.
    assert evaluate_module.rmse_report is rmse_report
    assert evaluate_module.baseline_rmses is baseline_rmses
    assert evaluate_module.BASELINES == BASELINES == ("mean", "central_pixel", "zeros")


def test_rmse_interval_brackets_the_rmse_and_narrows_with_more_galaxies():
    rng = np.random.default_rng(1)

    def width(n):
        labels = rng.uniform(0, 1, size=(n, N_ANSWERS))
        pred = labels + rng.normal(0, 0.1, size=labels.shape) * rng.uniform(0.2, 2, (n, 1))
        low, high = rmse_interval(pred, labels, seed=3)
        assert low < rmse(pred, labels) < high
        assert rmse_interval(pred, labels, seed=3) == (low, high)   # reproducible
        assert rmse_interval(pred, labels, level=0.5, seed=3)[1] < high
        return high - low

    narrow, wide = width(2000), width(50)
    # The width falls roughly as 1 / sqrt(N): 40x the galaxies, ~6x narrower.
    assert 3 < wide / narrow < 12


def test_rmse_interval_rejects_a_bad_level():
    with pytest.raises(ValueError, match="level"):
        rmse_interval(np.zeros((3, N_ANSWERS)), np.zeros((3, N_ANSWERS)), level=95)


def test_rmse_interval_does_not_depend_on_the_resampling_block(monkeypatch):
    # Large surveys are resampled in blocks; the draws, and so the interval, stay the same.
    rng = np.random.default_rng(2)
    labels = rng.uniform(0, 1, size=(300, N_ANSWERS))
    pred = labels + rng.normal(0, 0.1, size=labels.shape)
    whole = rmse_interval(pred, labels, n_boot=500)
    monkeypatch.setattr(_stats, "BLOCK_VALUES", 300 * 7)    # blocks of 7 resamples
    assert rmse_interval(pred, labels, n_boot=500) == whole


# ---------------------------------------------------------------------------
# Partial labels: unknown cells (NaN) are left out, never counted as zero
# ---------------------------------------------------------------------------

def _partial(seed=0, n=40):
    from galmorph.schema import QUESTION_SLICES

    rng = np.random.default_rng(seed)
    labels = rng.random((n, N_ANSWERS))
    pred = rng.random((n, N_ANSWERS))
    labels[: n // 2, QUESTION_SLICES[3]] = np.nan           # Q3 unknown for half
    labels[:, QUESTION_SLICES[11]] = np.nan                 # Q11 unknown for all
    return pred, labels


def test_rmse_counts_only_known_cells():
    pred, labels = _partial()
    known = np.isfinite(labels)
    expected = np.sqrt(((pred - labels)[known] ** 2).mean())
    assert rmse(pred, labels) == pytest.approx(expected, rel=1e-12)
    report = rmse_report(pred, labels)
    assert report["rmse"] == pytest.approx(expected, rel=1e-12)
    assert report["per_question"]["Q11"] is None and report["per_answer"]["Class11.1"] is None
    assert report["questions"]["Q3"] == 20 and report["questions"]["Q11"] == 0
    assert report["questions"]["Q1"] == 40
    q3 = (pred - labels)[20:, 5:7]                          # Class3.1, Class3.2
    assert report["per_question"]["Q3"] == pytest.approx(np.sqrt((q3 ** 2).mean()))
    # Zero-filling the unknown cells would give another (wrong) figure.
    assert rmse(pred, np.nan_to_num(labels)) != pytest.approx(expected, rel=1e-3)


def test_interval_and_baselines_skip_unknown_cells():
    pred, labels = _partial()
    lo, hi = rmse_interval(pred, labels)
    assert lo < rmse(pred, labels) < hi
    full = rmse_interval(pred, np.nan_to_num(labels, nan=0.5))
    assert (lo, hi) != full
    colours = np.random.default_rng(2).random((40, 3))
    base = baseline_rmses(labels, colours, labels, colours)
    known = np.isfinite(labels)
    mean = np.nanmean(labels, axis=0)
    mean = np.where(np.isnan(mean), 0.0, mean)
    expected = np.sqrt(((np.broadcast_to(mean, labels.shape) - labels)[known] ** 2).mean())
    assert base["mean"] == pytest.approx(expected, rel=1e-12)
    assert np.isfinite(list(base.values())).all()


def test_all_unknown_is_an_error():
    with pytest.raises(DataError, match="no known labels"):
        rmse(np.zeros((3, N_ANSWERS)), np.full((3, N_ANSWERS), np.nan))
