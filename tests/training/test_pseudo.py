"""Tests of galmorph.training.pseudo: pseudo-labelled rows in the split."""
import json

import numpy as np
import pytest

from galmorph.errors import DataError
from galmorph.training.batches import make_split
from galmorph.training.pseudo import keep_pseudo, read_teacher, split_labelled


def _split(rows):
    return make_split(len(rows), 0.25, 0)


def test_pseudo_rows_train_but_never_validate():
    pseudo = np.r_[np.zeros(20, bool), np.ones(12, bool)]
    train, val = split_labelled(_split, pseudo, 0.5)
    assert not pseudo[val].any() and len(val) == 5
    assert set(np.flatnonzero(pseudo)) <= set(train)
    # The labelled rows split exactly as without the pseudo-labelled folder.
    alone_train, alone_val = make_split(20, 0.25, 0)
    assert np.array_equal(val, alone_val)
    assert np.array_equal(train[~pseudo[train]], alone_train)


def test_weight_zero_leaves_pseudo_rows_out_and_held_rows_stay_out():
    pseudo = np.r_[np.zeros(20, bool), np.ones(12, bool)]
    held = np.zeros(32, bool)
    held[[0, 1, 2]] = True
    train, val = split_labelled(_split, pseudo, 0.0, held)
    assert not pseudo[train].any() and not held[train].any() and not held[val].any()
    resumed = keep_pseudo(np.setdiff1d(np.arange(32), val), pseudo, 0.0, held)
    assert np.array_equal(resumed, train)


def test_only_pseudo_labels_is_a_clear_error():
    with pytest.raises(DataError, match="every data folder holds pseudo-labels"):
        split_labelled(_split, np.ones(10, bool), 1.0)


def test_read_teacher_names_the_problem(tmp_path):
    with pytest.raises(DataError, match="holds no teacher.json"):
        read_teacher(tmp_path)
    (tmp_path / "teacher.json").write_text("[1, 2]")
    with pytest.raises(DataError, match="not a JSON object"):
        read_teacher(tmp_path)
    (tmp_path / "teacher.json").write_text(json.dumps({"tta": "d8"}))
    assert read_teacher(tmp_path)["tta"] == "d8"
