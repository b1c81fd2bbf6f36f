"""Tests of galmorph.labels: known questions, the tree checks and the conversions."""
import numpy as np
import pandas as pd
import pytest

from galmorph import schema
from galmorph.labels import (check_labels, conditional_to_weighted, gz2_to_kaggle, known_mask,
                             known_questions, normalize_tree_numpy, partial_questions,
                             weighted_to_conditional)
from galmorph.schema import KAGGLE_COLUMNS, QUESTION_SLICES


def test_normalisation_of_random_logits_always_passes(seed=0):
    rng = np.random.default_rng(seed)
    raw = rng.normal(scale=3, size=(2000, 37))
    raw[::7] = 0.0  # all-zero outputs must give a valid (uniform) tree too
    raw[1::7] = -1.0
    out = normalize_tree_numpy(raw)
    assert check_labels(out, atol=1e-12).ok


def test_weighted_conditional_round_trip_is_exact():
    rng = np.random.default_rng(1)
    cond = normalize_tree_numpy(rng.random((500, 37)))
    cond = weighted_to_conditional(cond)
    weighted = conditional_to_weighted(cond)
    np.testing.assert_allclose(weighted_to_conditional(weighted), cond, atol=1e-14)
    np.testing.assert_allclose(conditional_to_weighted(weighted_to_conditional(weighted)),
                               weighted, atol=1e-15)


def test_check_labels_reports_row_and_question():
    good = normalize_tree_numpy(np.random.default_rng(2).random((5, 37)))
    bad = good.copy()
    bad[3, QUESTION_SLICES[8]] *= 2  # Q8 now sums to twice Class6.1
    bad[1, 0] = np.nan
    check = check_labels(bad)
    assert not check and check.bad_rows == [1, 3]
    assert [(v.row, v.question) for v in check.violations] == [(3, 8)]
    text = check.summary(ids=[10, 11, 12, 13, 14])
    assert "GalaxyID 13" in text and "Q8" in text and "Class6.1" in text and "NaN" in text


def test_check_labels_rejects_wrong_shape():
    with pytest.raises(ValueError, match=r"\(N, 37\)"):
        check_labels(np.zeros((3, 36)))


def test_real_kaggle_labels_satisfy_the_tree(kaggle_5k):
    df = pd.read_csv(kaggle_5k / "training_solutions_rev1.csv")
    assert list(df.columns[1:]) == list(KAGGLE_COLUMNS)
    assert check_labels(df[list(KAGGLE_COLUMNS)].to_numpy(), atol=1e-4).ok


def test_gz2_release_columns_map_onto_kaggle(gz2_1k):
    table = pd.read_csv(gz2_1k / "gz2_labels_1k.csv")
    weighted = gz2_to_kaggle(table, "weighted_fraction")
    check = check_labels(weighted)
    # A few per cent of release rows have a reached question that nobody answered (or
    # rounded sums a little off); all others pass.
    assert len(check.bad_rows) < 0.03 * len(table)
    # Q1 is a root: its weighted fractions are the release's own.
    np.testing.assert_allclose(weighted[:, 0], table["t01_smooth_or_features_a01_smooth_weighted_fraction"])
    with pytest.raises(KeyError, match="fraction"):
        gz2_to_kaggle(table, "fraction")  # this column subset only has fractions for Q1


# ---------------------------------------------------------------------------
# Partial labels: a question is known (all numbers) or unknown (all NaN)
# ---------------------------------------------------------------------------

def _partial_row():
    row = normalize_tree_numpy(np.random.default_rng(0).random((1, 37)))[0]
    row[QUESTION_SLICES[3]] = np.nan       # bar unknown
    row[QUESTION_SLICES[11]] = np.nan      # arms unknown
    return row


def test_unknown_questions_pass_and_are_masked():
    row = _partial_row()
    assert check_labels(row).ok
    known = known_questions(row)[0]
    assert known.tolist() == [q.number not in (3, 11) for q in schema.QUESTIONS]
    mask = known_mask(row)[0]
    assert not mask[QUESTION_SLICES[3]].any() and mask[QUESTION_SLICES[4]].all()
    assert mask.sum() == 37 - 2 - 6


def test_partly_present_question_names_row_and_column():
    row = _partial_row()
    row[schema.column_index("Class2.1")] = np.nan
    check = check_labels(np.stack([_partial_row(), row]))
    assert not check.ok and check.bad_rows == [1]
    assert check.non_finite == [(1, schema.column_index("Class2.1"))]
    assert partial_questions(row) == [(0, 2, ["Class2.1"])]
    assert "row 1: Class2.1 is NaN" in check.summary()


def test_a_known_child_of_an_unknown_parent_is_not_checked_against_it():
    row = _partial_row()
    row[QUESTION_SLICES[2]] = np.nan       # Q2 unknown: Q3-Q5 have no known parent
    row[QUESTION_SLICES[5]] = [0.9] * 4    # would break "sums to Class2.2"
    assert check_labels(row).ok
    row[QUESTION_SLICES[1]] = [0.5, 0.4, 0.3]   # a known root must still sum to 1
    broken = [v.question for v in check_labels(row).violations]
    assert 1 in broken and 5 not in broken


def test_summary_counts_what_it_hides():
    labels = normalize_tree_numpy(np.random.default_rng(1).random((10, 37)))
    labels[:, 0] = np.nan                  # 10 rows, Q1 partly present in each
    text = check_labels(labels).summary(limit=5)
    assert text.count("is NaN or infinite") == 5
    assert "... and 5 further problems" in text
    labels = normalize_tree_numpy(np.random.default_rng(1).random((4, 37)))
    labels[:, 0] = np.nan
    assert "further problems" not in check_labels(labels).summary(limit=5)


def test_missing_gz2_columns_are_a_galmorph_error_and_a_key_error():
    from galmorph.errors import GalmorphError

    with pytest.raises(KeyError) as info:
        gz2_to_kaggle({"t01_smooth_or_features_a01_smooth_fraction": [0.5]}, "fraction")
    assert isinstance(info.value, GalmorphError)
    assert str(info.value).startswith("GZ2 table lacks 36 column(s)")   # not quoted
