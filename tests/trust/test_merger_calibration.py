"""merger_prob (galmorph.trust.merger_calibration): a logistic calibration of predicted Class8.6."""
import numpy as np
import pytest

from galmorph.trust import MergerCalibration, fit_merger_prob, merger_prob, merger_scores


def _votes(n, seed):
    """Predicted fractions that regress to the mean of volunteers' ones, as a network does."""
    rng = np.random.default_rng(seed)
    truth = rng.beta(0.5, 15, n)                      # mostly near 0 ...
    merging = rng.random(n) < 0.02                    # ... and 2 % clear mergers
    truth[merging] = rng.uniform(0.4, 0.9, merging.sum())
    pred = np.clip(0.03 + 0.5 * (truth - 0.03) + rng.normal(0, 0.02, n), 0, 1)
    return pred, truth


def test_sum_of_merger_prob_matches_the_count_and_flags_find_mergers():
    pred, truth = _votes(20000, 0)
    cal = fit_merger_prob(pred, truth)
    new_pred, new_truth = _votes(20000, 1)
    prob = merger_prob(cal, new_pred)
    scores = merger_scores(prob >= cal.flag_threshold, prob, new_truth)
    assert scores["n_mergers"] > 50
    assert 0.85 < scores["sum_merger_prob"] / scores["n_mergers"] < 1.15
    paper = merger_scores(new_pred >= 0.54, prob, new_truth)
    assert scores["recall"] > max(0.6, 2 * paper["recall"])
    assert scores["precision"] > 0.35


def test_monotone_nan_and_round_trip():
    pred, truth = _votes(5000, 2)
    cal = fit_merger_prob(pred, truth)
    p = merger_prob(cal, np.array([0.01, 0.1, 0.3, np.nan]))
    assert p[0] < p[1] < p[2] and np.isnan(p[3])
    again = MergerCalibration.from_dict(cal.to_dict())
    np.testing.assert_allclose(merger_prob(again, pred), merger_prob(cal, pred))
    assert cal.fitted_on["n"] == 5000


def test_too_few_mergers_is_refused_naming_the_count():
    pred, truth = _votes(300, 3)
    truth[:] = 0.0
    truth[:4] = 0.9
    with pytest.raises(ValueError, match="these labels have 4 of 300"):
        fit_merger_prob(pred, truth)


def test_scores_skip_unknown_labels_and_masked_flags():
    prob = np.array([0.9, 0.8, 0.1, 0.2])
    flags = np.ma.array([True, True, False, True], mask=[False, False, False, True])
    labels = np.array([0.7, 0.1, np.nan, 0.6])
    s = merger_scores(flags, prob, labels)
    assert (s["n"], s["n_mergers"], s["n_flagged"], s["true_positives"]) == (3, 2, 2, 1)
    assert s["recall"] == 0.5 and s["precision"] == 0.5


def test_the_flag_finds_the_expected_share_of_mergers_set_on_unlabelled_galaxies():
    """The flag threshold is set from merger_prob alone on a population without labels;
    on fresh labelled galaxies of that population it finds about that share of mergers,
    and the expected precision stored with it is about the one met."""
    from galmorph.trust import expected_scores

    pred, truth = _votes(20000, 0)
    population, _ = _votes(20000, 4)                  # the same population, unlabelled
    cal = fit_merger_prob(pred, truth, flag_recall=0.7, population=population,
                          population_name="unlabelled")
    flag = cal.fitted_on["flag"]
    assert flag["rule"] == "expected recall 0.7" and flag["population"] == "unlabelled"
    assert flag["n"] == 20000 and flag["expected_recall"] >= 0.7
    new_pred, new_truth = _votes(20000, 5)
    prob = merger_prob(cal, new_pred)
    s = merger_scores(prob >= cal.flag_threshold, prob, new_truth)
    assert abs(s["recall"] - 0.7) < 0.1, s
    assert abs(s["precision"] - flag["expected_precision"]) < 0.1, (s, flag)
    # A higher recall asked for lowers the threshold.
    assert fit_merger_prob(pred, truth, flag_recall=0.9).flag_threshold < cal.flag_threshold
    e = expected_scores(np.array([0.5, 0.3, 0.1, 0.1, np.nan]), 0.3)
    assert e == {"n": 4, "n_flagged": 2, "expected_mergers": pytest.approx(1.0),
                 "expected_recall": pytest.approx(0.8), "expected_precision": pytest.approx(0.4)}


def test_flag_for_recall_is_the_highest_threshold_reaching_the_recall():
    from galmorph.trust import flag_for_recall

    p = np.array([0.5, 0.3, 0.1, 0.1])                 # shares 0.5, 0.8, 0.9, 1.0
    assert flag_for_recall(p, 0.5) == 0.5
    assert flag_for_recall(p, 0.7) == 0.3
    assert flag_for_recall(p, 0.85) == 0.1 and flag_for_recall(p, 1.0) == 0.1
    for bad in (0, 1.5, -0.1):
        with pytest.raises(ValueError, match="recall must be in"):
            flag_for_recall(p, bad)
    with pytest.raises(ValueError, match="no finite merger_prob"):
        flag_for_recall(np.array([np.nan, 0.0]))
