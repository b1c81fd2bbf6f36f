"""The similar and anomaly grids: thumbnails found beside the file, and missing ones said."""
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from galmorph.adapt import write_embeddings
from galmorph.workflows.gallery import THUMB, anomaly_gallery, similar_gallery, thumbnails

pytestmark = pytest.mark.realdata


@pytest.fixture
def embedded(gz2_1k, tmp_path):
    """An embedding file beside copies of 5 real galaxies (relative paths), one missing."""
    names = []
    for p in sorted((gz2_1k / "images").glob("*.jpg"))[:5]:
        (tmp_path / p.name).write_bytes(p.read_bytes())
        names.append(p.name)
    names.append("gone.jpg")
    emb = np.random.default_rng(0).normal(size=(6, 8)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    t = Table({"path": names, "embedding": emb, "predict_ok": [True] * 6})
    return write_embeddings(t, tmp_path / "emb.parquet"), names


def test_thumbnails_resolve_relative_paths_and_say_what_is_missing(embedded, monkeypatch,
                                                                  tmp_path_factory):
    path, names = embedded
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    images, missing = thumbnails(Table({"path": names}), source=path)
    assert images.shape == (6, THUMB, THUMB, 3) and images[:5].std() > 5
    assert missing[:5] == [""] * 5 and "gone.jpg" in missing[5]


def test_similar_and_anomaly_galleries_write_table_and_grid(embedded, tmp_path):
    path, names = embedded
    result, png = similar_gallery(path, Path(names[0]).stem, tmp_path / "s", k=3)
    assert len(result) == 3 and png.stat().st_size > 5000
    assert Table.read(tmp_path / "s" / "similar.ecsv")["rank"].tolist() == [1, 2, 3]
    ranked, png = anomaly_gallery(path, tmp_path / "a", top=4)
    assert len(ranked) == 6 and png.is_file()
