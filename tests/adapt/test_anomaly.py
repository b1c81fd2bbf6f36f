"""rank_anomalies on real galaxies: a planted blank frame is the most unusual."""
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from galmorph.adapt import rank_anomalies
from galmorph.errors import ParameterError


@pytest.mark.realdata
def test_planted_blank_image_is_the_top_anomaly(galaxy_embeddings, twin_images):
    ranked = rank_anomalies(galaxy_embeddings)
    assert Path(ranked["path"][0]).name == twin_images[2].name, ranked["path", "anomaly_score"]
    assert list(ranked["anomaly_rank"]) == list(range(1, len(galaxy_embeddings) + 1))
    assert np.all(np.diff(ranked["anomaly_score"]) <= 0)
    # Clearly apart: above every real galaxy by more than the spread among them.
    real = ranked["anomaly_score"][1:]
    assert ranked["anomaly_score"][0] - real.max() > 0.5 * real.std()
    assert "embedding" not in ranked.colnames and ranked.meta["anomaly_method"] == "knn"


@pytest.mark.realdata
def test_isolation_forest_is_seeded(galaxy_embeddings):
    a = rank_anomalies(galaxy_embeddings, method="isolation-forest", seed=3)
    b = rank_anomalies(galaxy_embeddings, method="isolation-forest", seed=3)
    assert list(a["path"]) == list(b["path"])
    np.testing.assert_array_equal(a["anomaly_score"], b["anomaly_score"])


def test_knn_on_a_known_geometry_and_failed_rows():
    # Four points close together and one far off; a failed row is left out and counted.
    emb = np.array([[1, 0], [0.99, 0.14], [0.98, 0.2], [0.995, 0.1], [0, 1], [np.nan, np.nan]],
                   np.float32)
    t = Table({"id": np.arange(6), "embedding": emb})
    ranked = rank_anomalies(t, k=2)
    assert ranked["id"][0] == 4 and len(ranked) == 5 and ranked.meta["n_left_out"] == 1


def test_bad_arguments_are_named():
    t = Table({"embedding": np.eye(3, dtype=np.float32)})
    with pytest.raises(ParameterError, match="method must be one of knn, isolation-forest"):
        rank_anomalies(t, method="lof")
    with pytest.raises(ParameterError, match="k must be"):
        rank_anomalies(t, k=0)
    with pytest.raises(ParameterError, match="hold 1 usable galaxy"):
        rank_anomalies(t[:1])
