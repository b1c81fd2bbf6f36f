"""MorphologyClassifier.embed: the inputs predict takes, the embedding and status columns."""
import warnings

import numpy as np
import pytest
import torch
from astropy.table import Table

from galmorph import MorphologyClassifier
from galmorph.models import build_model, save_checkpoint


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model("cnn", channels=(4, 4, 4), hidden=16, input_size=32)
    return save_checkpoint(tmp_path_factory.mktemp("m") / "tiny.pt", model,
                           preprocessing={"crop": 224, "size": 32})


def test_embed_a_table_of_paths_keeps_columns_and_fails_rows_alone(tiny, gz2_1k, one_thread):
    paths = [str(p) for p in sorted((gz2_1k / "images").glob("*.jpg"))[:3]]
    t = Table({"objid": [7, 8, 9, 10], "path": paths + [str(gz2_1k / "nope.jpg")]})
    clf = MorphologyClassifier(tiny, device="cpu", precision="fp32", progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        out = clf.embed(t)
    assert out.colnames == ["objid", "path", "embedding", "feature_norm", "predict_ok",
                            "predict_error", "input_note"]
    emb = np.asarray(out["embedding"])
    assert emb.dtype == np.float32 and emb.shape == (4, out.meta["embedding_dim"])
    np.testing.assert_allclose(np.linalg.norm(emb[:3], axis=1), 1.0, rtol=1e-5)
    assert np.isnan(emb[3]).all() and not out["predict_ok"][3]
    assert "nope.jpg does not exist" in out["predict_error"][3]
    assert "merger_rule" not in out.meta and out.meta["model_path"] == str(tiny)
    assert clf.embedding is False   # the classifier is not changed


def test_predict_with_embedding_is_the_same_forward_pass(tiny, gz2_1k, one_thread):
    images = [str(p) for p in sorted((gz2_1k / "images").glob("*.jpg"))[:2]]
    clf = MorphologyClassifier(tiny, device="cpu", precision="fp32", progress=False)
    alone = clf.embed(images)
    both = MorphologyClassifier(tiny, device="cpu", precision="fp32", progress=False,
                                embedding=True).predict(images)
    assert "Class1.1" in both.colnames and "embedding" in both.colnames
    np.testing.assert_allclose(both["embedding"], alone["embedding"], atol=1e-6)
    assert "embedding" not in clf.predict(images).colnames   # only when asked


def test_arrays_and_an_input_embedding_column_kept(tiny, one_thread):
    x = np.random.default_rng(0).integers(0, 255, (2, 424, 424, 3), dtype=np.uint8)
    clf = MorphologyClassifier(tiny, device="cpu", precision="fp32", progress=False)
    out = clf.embed(x)
    assert out["embedding"].shape[0] == 2 and out["predict_ok"].all()
    with pytest.warns(UserWarning, match="1 of 1 rows"):
        x_table = clf.embed(Table({"id": [1], "ra": [np.nan], "dec": [0.0],
                                   "embedding": np.zeros((1, 3))}))
    assert "embedding_input" in x_table.colnames and not x_table["predict_ok"][0]
    assert x_table["embedding"].shape == (1, 0)   # no row had an image: no width known
