"""galmorph.plots.calibration: the reliability diagram of a model's intervals."""
import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from galmorph import schema
from galmorph.errors import DataError
from galmorph.inference.engine import Details
from galmorph.plots import plot_interval_reliability
from galmorph.trust import TrustCalibration, TrustMeasure, fit_intervals


def _fractions(rng, n):
    from galmorph.labels import normalize_tree_numpy

    return normalize_tree_numpy(rng.random((n, schema.N_ANSWERS)))          # (n, 37)


@pytest.fixture(scope="module")
def trust():
    """TrustMeasure's result for 3 'members' scattered around tree-consistent labels, with
    the intervals fitted on 300 other galaxies; Q11 unknown in the measured labels."""
    rng = np.random.default_rng(0)

    def sample(n):
        labels = _fractions(rng, n)
        spread = np.clip(labels[:, None] + rng.normal(0, 0.08, (n, 3, schema.N_ANSWERS)),
                         0, 1)                                                # (n, 3, 37)
        return Details(spread.mean(1), spread, np.zeros((n, 0))), labels

    fit, fit_labels = sample(300)
    cal = TrustCalibration(fit_intervals(fit.mean, fit.spread, fit_labels,
                                         fitted_on={"n": 300}))
    details, labels = sample(200)
    labels[:, schema.QUESTION_SLICES[11]] = np.nan
    return TrustMeasure(cal).measure(details, labels)


def _bold(fig):
    ax = fig.axes[0]
    return ax, {line.get_label(): line for line in ax.lines}


def test_reliability_points_are_the_measured_coverage(trust, tmp_path):
    fig = plot_interval_reliability(trust, filename=tmp_path / "reliability.png")
    assert isinstance(fig, Figure)
    ax, lines = _bold(fig)
    bold = lines["all known cells"]
    np.testing.assert_allclose(bold.get_xdata(), [0.5, 0.68, 0.9, 0.95])
    np.testing.assert_allclose(bold.get_ydata(),
                               [trust["intervals"][k]["coverage"] for k in
                                ("0.5", "0.68", "0.9", "0.95")])
    assert bold.get_linewidth() > 2 * lines["Q1"].get_linewidth()
    # One faint line per question with known cells (Q11 is unknown here), and the diagonal.
    assert sorted(k for k in lines if k.startswith("Q")) == sorted(
        f"Q{q}" for q in range(1, 11))
    np.testing.assert_allclose(lines["Q8"].get_ydata(),
                               [trust["intervals"][k]["per_question"]["Q8"]["coverage"]
                                for k in ("0.5", "0.68", "0.9", "0.95")])
    assert lines["Q8"].get_alpha() < 0.5
    np.testing.assert_allclose(lines["perfect calibration"].get_xydata(), [[0, 0], [1, 1]])
    assert ax.get_xlabel() == "nominal coverage" and ax.get_ylabel() == "empirical coverage"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "all known cells", "perfect calibration", "each question"]
    with Image.open(tmp_path / "reliability.png") as im:
        assert np.asarray(im.convert("L")).std() > 1.0        # something was drawn


def test_reliability_takes_an_evaluate_result_and_an_axes(trust):
    fig = Figure()
    ax = fig.add_subplot()
    assert plot_interval_reliability({"rmse": 0.1, "trust": trust}, ax=ax) is fig
    assert len(ax.lines[-2].get_xdata()) == 4                  # the bold line, then the diagonal


def test_reliability_needs_a_calibrated_model(trust):
    for bad in ({"rmse": 0.1}, {"trust": None}, dict(trust, intervals=None), None):
        with pytest.raises(DataError, match="galmorph calibrate"):
            plot_interval_reliability(bad)


def test_reliability_keeps_far_too_narrow_intervals_in_view(trust):
    narrow = {**trust, "intervals": {k: {**v, "coverage": v["coverage"] / 4}
                                     for k, v in trust["intervals"].items()}}
    ax = plot_interval_reliability(narrow).axes[0]
    lowest = min(v["coverage"] for v in narrow["intervals"].values())
    assert ax.get_ylim()[0] <= lowest and ax.get_xlim() == ax.get_ylim()
    assert plot_interval_reliability(trust).axes[0].get_ylim()[0] > 0.2   # not always from 0
