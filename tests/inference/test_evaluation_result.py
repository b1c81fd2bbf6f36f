"""Tests of galmorph.inference.evaluation_result: the Evaluation that evaluate() returns.

evaluate() itself, which fills one, is tested in test_evaluation.py; here an Evaluation is
built by hand over two small folders, so that no model is needed.
"""
import json
from pathlib import Path

import numpy as np
import pytest

from galmorph.data.cache import PreparedData
from galmorph.inference import Evaluation


@pytest.fixture()
def result():
    rng = np.random.default_rng(0)
    labels = rng.uniform(0, 1, size=(6, 37)).astype(np.float32)
    labels[5, 3:5] = np.nan                                    # a partly known galaxy
    data = PreparedData(images=rng.integers(0, 255, (6, 3, 8, 8), dtype=np.uint8),
                        labels=labels, ids=np.arange(100, 106), meta={}, path=Path("cache"),
                        parts=[{"source": "a", "cache": "ca", "n": 4},
                               {"source": "b", "cache": "cb", "n": 2}])
    rows = np.array([1, 5, 3])
    scores = {"rmse": 0.1234, "n_galaxies": 3, "split": "ids", "model": {"name": "cnn"},
              "subsets": {"folder:b": {"n_galaxies": 1}}}
    return Evaluation(scores, predictions=np.zeros((3, 37), np.float32), rows=rows,
                      labels=labels[rows].astype(np.float64), data=data,
                      baseline_rows=np.array([0, 2, 4]),
                      subset_masks={"folder:b": np.array([False, True, False])})


def test_reads_as_the_dict_of_scores(result):
    assert result["rmse"] == 0.1234 and result.get("trust") is None and "subsets" in result
    assert list(result) == list(result.scores) and len(result) == 5
    assert dict(result) == result.scores and result == result.scores
    with pytest.raises(KeyError):
        result["nothing"]
    with pytest.raises(TypeError):
        result["rmse"] = 0.0                                   # read-only


def test_to_dict_is_a_plain_json_able_copy(result):
    plain = result.to_dict()
    assert type(plain) is dict and plain == result.scores
    assert json.loads(json.dumps(plain)) == plain
    plain["model"]["name"] = "changed"                         # a copy: the result keeps its own
    assert result["model"]["name"] == "cnn"


def test_the_evaluated_galaxies(result):
    np.testing.assert_array_equal(result.ids, [101, 105, 103])
    np.testing.assert_array_equal(result.folder, [0, 1, 0])
    assert result.known.shape == (3, 37) and result.known.sum() == 3 * 37 - 2
    assert not result.known[1, 3:5].any()
    images = result.images
    assert images.shape == (3, 3, 8, 8)
    np.testing.assert_array_equal(images[[0, 2]], result.data.images[[1, 3]])
    np.testing.assert_allclose(result.baseline_labels, result.data.labels[[0, 2, 4]])
    assert result.baseline_labels.dtype == np.float64


def test_repr_is_short(result):
    assert repr(result) == "Evaluation(rmse=0.1234, n_galaxies=3, split='ids', model='cnn')"
